/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Process helpers for tests (see helper_proc.h).  Every wait polls waitpid
 * with WNOHANG against a deadline, so no test can hang on a child.
 */
#include "test/helper_proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

pid_t th_proc_spawn(char *const argv[], const char *log_path)
{
	pid_t parent = getpid();
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -errno;
	if (pid > 0)
		return pid;
	/* Child: die with the test, whatever happens to it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	if (log_path) {
		fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			  0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
	}
	/* A fresh signal state: the test may block or ignore some. */
	{
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
	}
	execv(argv[0], argv);
	_exit(127);
}

int th_proc_wait(pid_t pid, int timeout_ms, int *status)
{
	uint64_t deadline = sl_now_ms() + (uint64_t)timeout_ms;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid) {
			if (status)
				*status = st;
			return 0;
		}
		if (r < 0 && errno != EINTR)
			return -errno;
		if (sl_now_ms() >= deadline)
			return -ETIMEDOUT;
		usleep(5000);
	}
}

int th_proc_stop(pid_t pid, int sig, int timeout_ms, int *status)
{
	int rc;

	if (pid <= 0)
		return -EINVAL;
	kill(pid, sig);
	rc = th_proc_wait(pid, timeout_ms, status);
	if (rc == -ETIMEDOUT) {
		kill(pid, SIGKILL);
		th_proc_wait(pid, 5000, NULL);
	}
	return rc;
}

void th_proc_kill(pid_t pid)
{
	if (pid <= 0)
		return;
	if (kill(pid, SIGKILL) == 0)
		th_proc_wait(pid, 5000, NULL);
}

int th_proc_alive(pid_t pid)
{
	int st;

	if (pid <= 0)
		return 0;
	if (waitpid(pid, &st, WNOHANG) != 0)
		return 0; /* exited (and now reaped), or not our child */
	return kill(pid, 0) == 0;
}

long th_proc_status_kb(pid_t pid, const char *field)
{
	char path[64], line[256];
	size_t fl = strlen(field);
	long v = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
			v = strtol(line + fl + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

int th_run_capture(char *const argv[], int timeout_ms, char **out)
{
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int pfd[2], st = 0, rc;
	uint64_t deadline = sl_now_ms() + (uint64_t)timeout_ms;
	pid_t pid;

	if (out)
		*out = NULL;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		close(pfd[0]);
		close(pfd[1]);
		return rc;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(pfd[1], STDOUT_FILENO);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			cap = cap ? 2 * cap : 16384;
			buf = sl_xrealloc(buf, cap);
		}
		n = read(pfd[0], buf + len, cap - len - 1);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0)
			break;
		if (errno != EAGAIN && errno != EINTR)
			break;
		if (sl_now_ms() >= deadline)
			break;
		usleep(2000);
	}
	close(pfd[0]);
	rc = th_proc_wait(
		pid, (int)(deadline > sl_now_ms() ? deadline - sl_now_ms() : 1),
		&st);
	if (rc == -ETIMEDOUT) {
		kill(pid, SIGKILL);
		th_proc_wait(pid, 5000, NULL);
		free(buf);
		return -ETIMEDOUT;
	}
	if (!buf)
		buf = sl_xcalloc(1, 1);
	buf[len] = '\0';
	if (out)
		*out = buf;
	else
		free(buf);
	if (rc < 0)
		return rc;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * Why not bind port 0 and take the kernel's choice: that port comes from
 * the ephemeral range, which every outgoing connection draws from too.  A
 * test that picks a port and binds it later (a fixture started in a later
 * case, a node restarted on its old port) then races every connect(): a
 * client's socket, or the TIME_WAIT it leaves for a minute, on that port
 * makes the bind fail with EADDRINUSE.  Ports below the ephemeral range
 * are never given to connect(), so only another test's bind can take one;
 * a random start keeps parallel test runs apart.
 */
static int port_is_free(int port)
{
	struct sockaddr_in a = {0};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;

	if (fd < 0)
		return -errno;
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	rc = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 ? 1 : 0;
	close(fd);
	return rc;
}

static int ephemeral_low(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	int low = 32768, high;

	if (f) {
		if (fscanf(f, "%d %d", &low, &high) != 2)
			low = 32768;
		fclose(f);
	}
	return low;
}

/*
 * Callers take several ports before binding any (a cluster's nodes), so a
 * port handed out is not handed out again by this process.
 */
static int given_before(int port)
{
	static int given[256];
	static size_t n;

	for (size_t i = 0; i < SL_MIN(n, SL_ARRAY_SIZE(given)); i++)
		if (given[i] == port)
			return 1;
	given[n++ % SL_ARRAY_SIZE(given)] = port;
	return 0;
}

int th_free_port(void)
{
	static unsigned seed;
	int low = ephemeral_low(), span = low - 10000;
	struct sockaddr_in a = {0};
	socklen_t al = sizeof(a);
	int fd, port;

	if (!seed)
		seed = (unsigned)getpid() ^ (unsigned)sl_now_ms() ^ 1u;
	/* 10000..low-1, when the range leaves room below it. */
	for (int i = 0; span > 1000 && i < 200; i++) {
		port = 10000 + (int)(rand_r(&seed) % (unsigned)span);
		if (port_is_free(port) == 1 && !given_before(port))
			return port;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
		port = -errno;
		close(fd);
		return port;
	}
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

int th_wait_port(int port, int timeout_ms)
{
	uint64_t deadline = sl_now_ms() + (uint64_t)timeout_ms;
	struct sockaddr_in a = {0};

	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int ok = fd >= 0 &&
			 connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

		if (fd >= 0)
			close(fd);
		if (ok)
			return 0;
		if (sl_now_ms() >= deadline)
			return -ETIMEDOUT;
		usleep(10000);
	}
}

char *th_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (!base || !*base)
		base = "/tmp";
	path = sl_xmalloc(strlen(base) + strlen(tag) + 32);
	sprintf(path, "%s/sluice-%s-XXXXXX", base, tag);
	if (!mkdtemp(path)) {
		free(path);
		return NULL;
	}
	return path;
}

static int rm_one(const char *path, const struct stat *sb, int type,
		  struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

void th_rmtree(const char *path)
{
	if (path && *path)
		nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void th_tmpdir_done(char **tmp)
{
	if (!*tmp)
		return;
	if (getenv("SLUICE_KEEP_TMP"))
		fprintf(stderr, "kept %s\n", *tmp);
	else
		th_rmtree(*tmp);
	free(*tmp);
	*tmp = NULL;
}

int th_fmt(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int th_write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t done = 0;
	int rc = 0;

	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t n = write(fd, (const char *)data + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		done += (size_t)n;
	}
	close(fd);
	return rc;
}

int th_flip_bits(const char *path, off_t off, uint8_t mask)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	uint8_t c;
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (pread(fd, &c, 1, off) != 1) {
		rc = -EIO;
		goto out;
	}
	c ^= mask;
	if (pwrite(fd, &c, 1, off) != 1)
		rc = -EIO;
out:
	close(fd);
	return rc;
}

int th_write_file_at(const char *root, const char *rel, const void *data,
		     size_t len)
{
	char path[PATH_MAX];
	int rc = th_fmt(path, sizeof(path), "%s/%s", root, rel);

	if (rc < 0)
		return rc;
	/* A folder that is there is fine; any other failure fails the write. */
	for (char *s = path + strlen(root) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		mkdir(path, 0755);
		*s = '/';
	}
	return th_write_file(path, data, len);
}

char *th_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0, got;

	if (!f)
		return NULL;
	do {
		if (cap - n < 4096) {
			cap = cap ? 2 * cap : 8192;
			buf = sl_xrealloc(buf, cap + 1);
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0);
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

int th_gen_dataset(const char *src_root, const char *dir)
{
	char gen[PATH_MAX];
	const char *argv[] = {"/usr/bin/python3",
			      gen,
			      dir,
			      "--files",
			      "400",
			      "--classes",
			      "8",
			      "--shards",
			      "1",
			      "--shard-size",
			      "12M",
			      NULL};

	if (th_fmt(gen, sizeof(gen), "%s/scripts/gen_dataset.py", src_root) < 0)
		return -ENAMETOOLONG;
	return th_run_capture((char *const *)argv, 300000, NULL);
}

int th_loader_verify(const char *src_root, const char *root, const char *src,
		     char **out)
{
	char loader[PATH_MAX];
	const char *argv[] = {
		"/usr/bin/python3", loader, root,	 "--verify", src,
		"--epochs",	    "1",    "--workers", "4",	     NULL};
	int rc;

	*out = NULL;
	if (th_fmt(loader, sizeof(loader), "%s/scripts/loader.py", src_root) <
	    0)
		return -1;
	rc = th_run_capture((char *const *)argv, 600000, out);
	/* 400 images and the shard, all read, none differs. */
	if (rc != 0 || !*out ||
	    !strstr(*out, "verify: 401 samples per epoch, 0 mismatches"))
		return -1;
	return 0;
}

const char *th_build_dir(void)
{
	const char *b = getenv("SLUICE_BUILD");

	return b && *b ? b : "build";
}
