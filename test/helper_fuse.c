/* SPDX-License-Identifier: Apache-2.0 */
/* The FUSE integration tests' shared helpers (see helper_fuse.h). */
#include "test/helper_fuse.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "test/helper_client.h"
#include "test/helper_proc.h"

#define MAX_PROCS  256
#define MAX_MOUNTS 32

/* ---- process and mount registry (shared with Check's forked tests) ------- */

struct registry {
	_Atomic int n_procs;
	pid_t procs[MAX_PROCS];
	_Atomic int n_mounts;
	char mounts[MAX_MOUNTS][PATH_MAX];
};

static struct registry *reg;
static char work[PATH_MAX];  /* this run's scratch directory */
static char build[PATH_MAX]; /* where the binaries are */
static pid_t main_pid;
static char fusermount[PATH_MAX] = "/usr/bin/fusermount3";

static void reg_proc(pid_t pid)
{
	int i = atomic_fetch_add(&reg->n_procs, 1);

	if (i < MAX_PROCS)
		reg->procs[i] = pid;
}

static void reg_mount(const char *path)
{
	int i = atomic_fetch_add(&reg->n_mounts, 1);

	if (i < MAX_MOUNTS)
		snprintf(reg->mounts[i], PATH_MAX, "%s", path);
}

/* Run argv (async-signal-safe enough for the cleanup handler). */
static int run_quiet(const char *const argv[])
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		int fd = open("/dev/null", O_RDWR);

		dup2(fd, 1);
		dup2(fd, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (pid < 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void cleanup_all(void)
{
	int n;

	if (!reg || getpid() != main_pid)
		return;
	n = SL_MIN(atomic_load(&reg->n_procs), MAX_PROCS);
	for (int i = 0; i < n; i++)
		if (reg->procs[i] > 0)
			kill(reg->procs[i], SIGKILL);
	n = SL_MIN(atomic_load(&reg->n_mounts), MAX_MOUNTS);
	for (int i = 0; i < n; i++) {
		const char *argv[] = {fusermount, "-uz", reg->mounts[i], NULL};

		run_quiet(argv);
	}
	for (int i = 0; i < SL_MIN(atomic_load(&reg->n_procs), MAX_PROCS); i++)
		if (reg->procs[i] > 0)
			waitpid(reg->procs[i], NULL, WNOHANG);
}

static void on_fatal(int sig)
{
	cleanup_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---- small helpers ------------------------------------------------------- */

void th_msleep(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void th_put_file(const char *path, const void *data, size_t len)
{
	SL_ASSERT(th_write_file(path, data, len) == 0);
}

/* Deterministic file contents: xorshift bytes from a seed. */
void th_fill_bytes(uint8_t *p, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

void th_make_file(const char *path, size_t len, uint64_t seed, mode_t mode)
{
	uint8_t *buf = sl_xmalloc(len ? len : 1);

	th_fill_bytes(buf, len, seed);
	th_put_file(path, buf, len);
	chmod(path, mode);
	free(buf);
}

/* Start argv (stdout and stderr appended to log) and register it for the
 * final cleanup; it dies with the thread that started it. */
pid_t th_fuse_spawn(const char *const argv[], const char *log)
{
	pid_t pid = th_proc_spawn((char *const *)argv, log);

	SL_ASSERT(pid > 0);
	reg_proc(pid);
	return pid;
}

/* Wait up to ms for pid (our child) to exit; its wait status, or -1. */
int th_wait_exit(pid_t pid, unsigned ms)
{
	int st;

	return th_proc_wait(pid, (int)ms, &st) == 0 ? st : -1;
}

/* Run argv within 30 s, output discarded: its exit status or < 0. */
int th_run(const char *const argv[])
{
	return th_run_capture((char *const *)argv, 30000, NULL);
}

int th_is_mounted(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096], mp[PATH_MAX];
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 &&
		    strcmp(mp, path) == 0)
			found = 1;
	fclose(f);
	return found;
}

/* Processes other than us whose command line mentions s. */
int th_procs_mentioning(const char *s)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d))) {
		char path[300], buf[8192];
		int fd;
		ssize_t len;

		if (de->d_name[0] < '0' || de->d_name[0] > '9' ||
		    atoi(de->d_name) == getpid())
			continue;
		th_xsnprintf(path, sizeof(path), "/proc/%s/cmdline",
			     de->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len <= 0)
			continue; /* a zombie has no command line */
		for (ssize_t i = 0; i < len; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[len] = '\0';
		if (strstr(buf, s))
			n++;
	}
	if (d)
		closedir(d);
	return n;
}

int th_file_contains(const char *path, const char *s)
{
	size_t len;
	char *buf = th_read_file(path, &len);
	int found = buf && strstr(buf, s);

	free(buf);
	return found;
}

/* Run a shell command within 5 minutes; its stdout (caller frees). */
char *th_capture(const char *cmd)
{
	const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	char *out = NULL;

	th_run_capture((char *const *)argv, 300000, &out);
	return out ? out : sl_xstrdup("");
}

/* ---- a cluster: nodes, config, client ------------------------------------ */

void th_cluster_conf(th_cluster_t *c, const char *client_extra)
{
	char buf[8192];
	size_t n = 0;

	n += (size_t)snprintf(buf + n, sizeof(buf) - n,
			      "[cluster]\nname = itfuse\nmodule_dir = %s\n\n",
			      build);
	for (int i = 0; i < c->n_nodes; i++) {
		n += (size_t)snprintf(buf + n, sizeof(buf) - n,
				      "[node n%d]\naddr = tcp://127.0.0.1:%d\n"
				      "ram_capacity = 256M\nworkers = 4\n",
				      i, c->port[i]);
		if (c->mport[i])
			n += (size_t)snprintf(buf + n, sizeof(buf) - n,
					      "metrics_addr = 127.0.0.1:%d\n",
					      c->mport[i]);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\n");
	}
	n += (size_t)snprintf(buf + n, sizeof(buf) - n,
			      "[dataset ds]\nbackend = posix\nuri = file://%s\n"
			      "block_size = %s\n%s\n%s\n[client]\n%s",
			      c->src, c->block_size ? c->block_size : "64K",
			      c->ds_extra ? c->ds_extra : "",
			      c->sections ? c->sections : "",
			      client_extra ? client_extra : "");
	SL_ASSERT(n < sizeof(buf));
	th_put_file(c->conf, buf, n);
}

void th_cluster_init(th_cluster_t *c, const char *name, int n_nodes)
{
	memset(c, 0, sizeof(*c));
	th_xsnprintf(c->dir, sizeof(c->dir), "%s/%s", work, name);
	th_xsnprintf(c->conf, sizeof(c->conf), "%s/cluster.conf", c->dir);
	th_xsnprintf(c->src, sizeof(c->src), "%s/src", c->dir);
	th_xsnprintf(c->mnt, sizeof(c->mnt), "%s/mnt", c->dir);
	th_xsnprintf(c->data, sizeof(c->data), "%s/ds", c->mnt);
	th_xsnprintf(c->fclog, sizeof(c->fclog), "%s/fuse.log", c->dir);
	mkdir(c->dir, 0755);
	mkdir(c->src, 0755);
	mkdir(c->mnt, 0755);
	reg_mount(c->mnt);
	c->n_nodes = n_nodes;
	for (int i = 0; i < n_nodes; i++)
		c->port[i] = th_free_port();
}

void th_cluster_client(const th_cluster_t *c, th_cluster_t *b, const char *name)
{
	*b = *c;
	b->client = 0;
	th_xsnprintf(b->dir, sizeof(b->dir), "%s/%s", c->dir, name);
	th_xsnprintf(b->mnt, sizeof(b->mnt), "%s/mnt", b->dir);
	th_xsnprintf(b->data, sizeof(b->data), "%s/ds", b->mnt);
	th_xsnprintf(b->fclog, sizeof(b->fclog), "%s/fuse.log", b->dir);
	mkdir(b->dir, 0755);
	mkdir(b->mnt, 0755);
	reg_mount(b->mnt);
}

void th_cluster_node_start(th_cluster_t *c, int i)
{
	char bin[PATH_MAX], name[16], log[PATH_MAX];

	th_xsnprintf(bin, sizeof(bin), "%s/sluice-cachenode", build);
	th_xsnprintf(name, sizeof(name), "n%d", i);
	th_xsnprintf(log, sizeof(log), "%s/node%d.log", c->dir, i);
	{
		const char *argv[] = {bin, "-c", c->conf, "--node", name, NULL};

		c->node[i] = th_fuse_spawn(argv, log);
	}
	SL_ASSERT(th_wait_port(c->port[i], 20000) == 0);
}

void th_cluster_node_kill(th_cluster_t *c, int i)
{
	if (c->node[i] <= 0)
		return;
	kill(c->node[i], SIGKILL);
	waitpid(c->node[i], NULL, 0);
	c->node[i] = 0;
}

/* Start the client in the foreground with extra arguments; 0 once
 * mounted, -1 if it exited or did not mount within 20 s. */
int th_client_start(th_cluster_t *c, const char *const extra[])
{
	char bin[PATH_MAX];
	const char *argv[32];
	int n = 0;

	th_xsnprintf(bin, sizeof(bin), "%s/sluice-fuse", build);
	argv[n++] = bin;
	argv[n++] = "-f";
	argv[n++] = "-c";
	argv[n++] = c->conf;
	argv[n++] = c->mnt;
	for (int i = 0; extra && extra[i]; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	c->client = th_fuse_spawn(argv, c->fclog);
	for (int t = 0; t < 1000; t++) {
		if (th_is_mounted(c->mnt))
			return 0;
		if (waitpid(c->client, NULL, WNOHANG) == c->client) {
			c->client = 0;
			return -1;
		}
		th_msleep(20);
	}
	return -1;
}

/* Write c's config, start every node and mount with args (or fail the
 * test, showing the client's log). */
void th_cluster_up(th_cluster_t *c, const char *client_extra,
		   const char *const args[])
{
	size_t len;
	char *log;

	th_cluster_conf(c, client_extra);
	for (int i = 0; i < c->n_nodes; i++)
		th_cluster_node_start(c, i);
	if (th_client_start(c, args) == 0)
		return;
	log = th_read_file(c->fclog, &len);
	ck_abort_msg("sluice-fuse did not mount:\n%s", log ? log : "");
}

/* fusermount3 -u, then the client must exit 0 on its own. */
int th_client_stop(th_cluster_t *c)
{
	const char *argv[] = {fusermount, "-u", c->mnt, NULL};
	int st, rc = th_run(argv);

	if (c->client <= 0)
		return rc;
	st = th_wait_exit(c->client, 15000);
	if (st < 0) {
		kill(c->client, SIGKILL);
		waitpid(c->client, NULL, 0);
	}
	c->client = 0;
	if (rc != 0 || st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -1;
	return 0;
}

void th_cluster_stop(th_cluster_t *c)
{
	const char *argv[] = {fusermount, "-uz", c->mnt, NULL};

	if (c->client > 0)
		th_client_stop(c);
	if (th_is_mounted(c->mnt))
		th_run(argv);
	for (int i = 0; i < c->n_nodes; i++)
		th_cluster_node_kill(c, i);
}

/* A node's counter (its STATS), or -1. */
int64_t th_node_value(int port, const char *name)
{
	char addr[64];
	th_client_t *cl;
	uint64_t v = 0;
	int rc;

	th_xsnprintf(addr, sizeof(addr), "tcp://127.0.0.1:%d", port);
	cl = th_client_new(addr, 5000);
	if (!cl)
		return -1;
	rc = th_client_stat_value(cl, name, &v);
	th_client_destroy(&cl);
	return rc == 0 ? (int64_t)v : -1;
}

/* Requests of op ("READ") a node answered with success, or -1. */
int64_t th_node_ok(int port, const char *op)
{
	char name[128];

	th_xsnprintf(name, sizeof(name),
		     "sluice_requests_total{op=\"%s\",status=\"ok\"}", op);
	return th_node_value(port, name);
}

int64_t th_cluster_ok(th_cluster_t *c, const char *op)
{
	int64_t sum = 0;

	for (int i = 0; i < c->n_nodes; i++)
		sum += SL_MAX(th_node_ok(c->port[i], op), 0);
	return sum;
}

int th_compare_file(const char *src, const char *mnt)
{
	size_t la, lb;
	char *a = th_read_file(src, &la), *b = th_read_file(mnt, &lb);
	int same = a && b && la == lb && memcmp(a, b, la) == 0;

	free(a);
	free(b);
	return same;
}

void th_expect_errno(int rc, int want, const char *what)
{
	ck_assert_msg(rc < 0 && errno == want, "%s: rc %d errno %s, want %s",
		      what, rc, strerror(errno), strerror(want));
}

/* mnt's line of /proc/self/mounts ("" if none). */

pid_t th_client_worker(th_cluster_t *c, unsigned ms)
{
	char path[64], *s;
	pid_t pid = -1;

	th_xsnprintf(path, sizeof(path), "/proc/%d/task/%d/children",
		     (int)c->client, (int)c->client);
	for (unsigned t = 0; t <= ms / 10 && pid <= 0; t++) {
		s = th_read_file(path, NULL);
		pid = s ? (pid_t)atoi(s) : -1;
		free(s);
		if (pid <= 0)
			th_msleep(10);
	}
	return pid > 0 ? pid : -1;
}

int th_pid_gone(pid_t pid)
{
	char path[64];
	long threads;

	/* A zombie whose threads all went (a leader can be a zombie while
	 * its threads still exit, holding its files). */
	th_xsnprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if (!th_file_contains(path, "State:\tZ") &&
	    !th_file_contains(path, "State:\tX"))
		return access(path, F_OK) != 0;
	threads = th_proc_status_kb(pid, "Threads");
	return threads <= 1;
}

int th_fuse_setup(const char *tag)
{
	char *tmp;

	if (!realpath(th_build_dir(), build)) {
		fprintf(stderr, "%s: no build directory %s\n", tag,
			th_build_dir());
		return -1;
	}
	if (access(fusermount, X_OK) != 0)
		th_xsnprintf(fusermount, sizeof(fusermount),
			     "/bin/fusermount3");
	tmp = th_tmpdir(tag);
	SL_ASSERT(tmp);
	th_xsnprintf(work, sizeof(work), "%s", tmp);
	free(tmp);
	reg = mmap(NULL, sizeof(*reg), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	SL_ASSERT(reg != MAP_FAILED);
	main_pid = getpid();
	atexit(cleanup_all);
	signal(SIGTERM, on_fatal);
	signal(SIGINT, on_fatal);
	signal(SIGHUP, on_fatal);
	return 0;
}

void th_fuse_teardown(int rc)
{
	cleanup_all();
	if (rc == 0)
		th_rmtree(work);
	else
		fprintf(stderr, "logs kept in %s\n", work);
}

const char *th_fuse_work(void)
{
	return work;
}

const char *th_fuse_build(void)
{
	return build;
}

const char *th_fusermount(void)
{
	return fusermount;
}
