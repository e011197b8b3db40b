/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration tests for sluice-fuse's supervisor and its workers: real
 * nodes, a real mount, real readers, a worker killed with SIGKILL under
 * them.  A PyTorch DataLoader epoch (4 workers) during which the worker is
 * killed five times completes with every byte right and no error; a file
 * opened before a crash reads on after it, inode numbers stay, and a big
 * directory listed across the crash is complete; a read the dead worker
 * had taken is resent to the next one, or -- as on kernels without
 * FUSE_NOTIFY_RESEND -- answered with EIO, never left hanging; an upgrade
 * during an epoch costs no error and runs the binary now on disk; a worker
 * that crashes at once on every start makes the supervisor give up (the
 * mount answers EIO, the log says why) until an upgrade brings a good
 * one; and a killed supervisor's mount goes with it under -o
 * auto_unmount.  Needs root and /dev/fuse; every process and mount is
 * registered and cleaned up (helper_fuse.h).
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "test/helper_check.h"
#include "test/helper_fuse.h"
#include "test/helper_proc.h"

#define BLOCK	(64 * 1024)
#define N_DIRS	20
#define PER_DIR 300  /* 6,000 files for the loader */
#define BIG_DIR 3000 /* entries: six LIST pages */
#define N_KILLS 5

static const char *src_dir(void)
{
	return getenv("SLUICE_SRC") ? getenv("SLUICE_SRC") : ".";
}

/* N_DIRS x PER_DIR files of 1 to 64 KB under c's source. */
static void make_images(th_cluster_t *c)
{
	char p[PATH_MAX];
	uint64_t seed = 1;

	th_xsnprintf(p, sizeof(p), "%s/train", c->src);
	mkdir(p, 0755);
	for (int d = 0; d < N_DIRS; d++) {
		th_xsnprintf(p, sizeof(p), "%s/train/c%02d", c->src, d);
		mkdir(p, 0755);
		for (int i = 0; i < PER_DIR; i++, seed++) {
			th_xsnprintf(p, sizeof(p), "%s/train/c%02d/%04d.jpg",
				     c->src, d, i);
			th_make_file(
				p,
				1 + (size_t)(seed * 2654435761u % (64 * 1024)),
				seed, 0644);
		}
	}
}

/* Start the DataLoader over c's train/ (epochs, 4 workers, a 20 ms
 * training step per batch of 16: an epoch of about 8 s) in the
 * background, its output into log. */
static pid_t loader_start(th_cluster_t *c, int epochs, const char *log)
{
	char script[PATH_MAX], mnt[PATH_MAX], src[PATH_MAX], ep[16];
	const char *argv[] = {"/usr/bin/timeout",
			      "600",
			      "/usr/bin/python3",
			      script,
			      mnt,
			      src,
			      ep,
			      "4",
			      "20",
			      NULL};

	ck_assert_msg(access("/usr/bin/python3", X_OK) == 0, "no python3");
	th_xsnprintf(script, sizeof(script), "%s/test/it_fuse_loader.py",
		     src_dir());
	th_xsnprintf(mnt, sizeof(mnt), "%s/train", c->data);
	th_xsnprintf(src, sizeof(src), "%s/train", c->src);
	th_xsnprintf(ep, sizeof(ep), "%d", epochs);
	return th_fuse_spawn(argv, log);
}

/* The loader's verdict: it exited 0 having read every file of every
 * epoch right, and said nothing of a dead mount. */
static void loader_check(pid_t pid, const char *log, int epochs)
{
	char want[64];
	int st = th_wait_exit(pid, 600000);
	char *out = th_read_file(log, NULL);

	fprintf(stderr, "%s", out ? out : "");
	th_xsnprintf(want, sizeof(want), "epochs=%d ", epochs);
	ck_assert_msg(out && strstr(out, want) && strstr(out, "files=6000") &&
			      strstr(out, "mismatches=0"),
		      "DataLoader failed: %s", out ? out : "");
	ck_assert_msg(!strstr(out, "not connected") &&
			      !strstr(out, "Input/output error") &&
			      !strstr(out, "Error"),
		      "DataLoader saw errors: %s", out);
	ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "DataLoader exit status %d", st);
	free(out);
}

/* Wait until the client has a worker other than not (serving: its log
 * says so n times), within 20 s; its pid. */
static pid_t next_worker(th_cluster_t *c, pid_t not, int n)
{
	char line[64];

	for (int t = 0; t < 2000; t++) {
		pid_t w = th_client_worker(c, 0);
		char *log = th_read_file(c->fclog, NULL);
		const char *p = log;
		int seen = 0;

		while (p && (p = strstr(p, " serves ")) != NULL) {
			seen++;
			p++;
		}
		free(log);
		if (w > 0 && w != not &&seen >= n) {
			th_xsnprintf(line, sizeof(line), "worker %d serves",
				     (int)w);
			if (th_file_contains(c->fclog, line))
				return w;
		}
		th_msleep(10);
	}
	ck_abort_msg("no new worker serves");
	return -1;
}

/* ---- crashes under a DataLoader ------------------------------------------ */

START_TEST(test_crash_epoch)
{
	th_cluster_t c;
	const char *args[] = {"-v", NULL};
	char log[PATH_MAX];
	pid_t loader, w = -1;
	int st;

	th_cluster_init(&c, "crash-epoch", 2);
	make_images(&c);
	th_cluster_up(&c, "block_cache = 32M\n", args);
	th_xsnprintf(log, sizeof(log), "%s/loader.log", c.dir);
	loader = loader_start(&c, 1, log);
	/* Once the epoch reads (past its start-up and its own reading of
	 * the source), a kill every 700 ms or so. */
	for (int t = 0; t < 3000 && th_cluster_ok(&c, "READ") < 200; t++)
		th_msleep(10);
	for (int k = 0; k < N_KILLS; k++) {
		w = next_worker(&c, w, k + 1);
		th_msleep(700); /* served a while: not a crash loop */
		{
			pid_t r = waitpid(loader, &st, WNOHANG);

			ck_assert_msg(r == 0,
				      "the epoch ended before kill %d (%d %s "
				      "%x)",
				      k + 1, (int)r, strerror(errno), st);
		}
		kill(w, SIGKILL);
	}
	next_worker(&c, w, N_KILLS + 1);
	loader_check(loader, log, 1);
	ck_assert(th_file_contains(c.fclog, "the kernel resends the requests"));
	ck_assert_int_eq(th_client_stop(&c), 0);
	th_cluster_stop(&c);
}
END_TEST

/* ---- what spans a crash ----------------------------------------------------
 */

struct dent_set {
	char seen[BIG_DIR];
	int others;
};

/* Read up to max entries of the directory fd with small getdents64
 * calls into s; returns how many, 0 at its end. */
static int list_some(int fd, struct dent_set *s, int max)
{
	char buf[1024];
	int got = 0;

	while (got < max) {
		long n = syscall(SYS_getdents64, fd, buf, sizeof(buf));

		ck_assert_int_ge(n, 0);
		if (n == 0)
			break;
		for (long off = 0; off < n;) {
			struct dirent64 *de = (void *)(buf + off);

			if (de->d_name[0] == 'e') {
				int i = atoi(de->d_name + 1);

				ck_assert_int_lt(i, BIG_DIR);
				ck_assert_int_eq(s->seen[i], 0);
				s->seen[i] = 1;
			} else if (de->d_name[0] != '.') {
				s->others++;
			}
			off += de->d_reclen;
			got++;
		}
	}
	return got;
}

/*
 * A dataset with a TTL, so that opens and directory handles go through
 * the client: a file opened and half read before a crash reads on after
 * it, the inode numbers stat shows stay the same, and a directory of six
 * LIST pages listed across the crash shows every entry once.
 */
START_TEST(test_spans_crash)
{
	th_cluster_t c;
	const char *args[] = {"-v", NULL};
	char p[PATH_MAX], dir[PATH_MAX];
	size_t len = 40 * BLOCK + 17;
	uint8_t *want = sl_xmalloc(len), *buf = sl_xmalloc(len);
	struct dent_set *set = sl_xcalloc(1, sizeof(*set));
	ino_t inos[50];
	struct stat st;
	pid_t w;
	int fd, dfd, n;

	th_cluster_init(&c, "spans", 1);
	c.ds_extra = "metadata_ttl = 60s\n";
	th_xsnprintf(dir, sizeof(dir), "%s/big", c.src);
	mkdir(dir, 0755);
	for (int i = 0; i < BIG_DIR; i++) {
		th_xsnprintf(p, sizeof(p), "%s/e%d", dir, i);
		th_put_file(p, "x", i % 3);
	}
	th_xsnprintf(p, sizeof(p), "%s/long.bin", c.src);
	th_fill_bytes(want, len, 99);
	th_put_file(p, want, len);
	th_cluster_up(&c, NULL, args);
	w = next_worker(&c, -1, 1);

	th_xsnprintf(p, sizeof(p), "%s/long.bin", c.data);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM), 0);
	ck_assert_int_eq(pread(fd, buf, 20 * BLOCK, 0), 20 * BLOCK);
	th_xsnprintf(p, sizeof(p), "%s/big", c.data);
	dfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	n = list_some(dfd, set, 1200);
	ck_assert_int_ge(n, 1200);
	for (int i = 0; i < 50; i++) {
		th_xsnprintf(p, sizeof(p), "%s/big/e%d", c.data, i * 7);
		ck_assert_int_eq(stat(p, &st), 0);
		inos[i] = st.st_ino;
	}

	kill(w, SIGKILL);
	next_worker(&c, w, 2);

	/* The same handles, served by the new worker. */
	ck_assert_int_eq(pread(fd, buf + 20 * BLOCK, len, 20 * BLOCK),
			 (ssize_t)(len - 20 * BLOCK));
	ck_assert(memcmp(buf, want, len) == 0);
	while (list_some(dfd, set, 1 << 30) > 0)
		;
	for (int i = 0; i < BIG_DIR; i++)
		ck_assert_msg(set->seen[i], "e%d missing from the listing", i);
	ck_assert_int_eq(set->others, 0);
	for (int i = 0; i < 50; i++) {
		th_xsnprintf(p, sizeof(p), "%s/big/e%d", c.data, i * 7);
		ck_assert_int_eq(stat(p, &st), 0);
		ck_assert_uint_eq(st.st_ino, inos[i]);
	}
	close(fd);
	close(dfd);
	ck_assert(th_file_contains(c.fclog, "took over its inode table"));
	ck_assert_int_eq(th_client_stop(&c), 0);
	th_cluster_stop(&c);
	free(want);
	free(buf);
	free(set);
}
END_TEST

/* A read in flight when its worker dies, with its node stopped. */
struct inflight {
	const char *path;
	const uint8_t *want;
	ssize_t got;
	int err;
	int same;
};

/* O_DIRECT: one READ request, which the kernel does not retry itself as
 * it would a failed read-ahead. */
static void *read_one(void *arg)
{
	struct inflight *r = arg;
	void *buf = NULL;
	int fd = open(r->path, O_RDONLY | O_DIRECT | O_CLOEXEC);

	SL_ASSERT(posix_memalign(&buf, 4096, BLOCK) == 0);
	r->got = fd < 0 ? -1 : pread(fd, buf, BLOCK, 0);
	r->err = r->got < 0 ? errno : 0;
	r->same = r->got == BLOCK && memcmp(buf, r->want, BLOCK) == 0;
	if (fd >= 0)
		close(fd);
	free(buf);
	return NULL;
}

/*
 * The node stopped (SIGSTOP), a read waits in the worker; the worker is
 * killed.  With FUSE_NOTIFY_RESEND the kernel gives the read to the next
 * worker, which gets the bytes once the node goes on; told to behave as
 * on a kernel without it (SLUICE_FUSE_RESEND=0), the supervisor answers
 * the read with EIO at once.  Either way the caller does not hang.
 */
static void inflight_case(int resend)
{
	th_cluster_t c;
	const char *args[] = {"-v", NULL};
	char p[PATH_MAX];
	uint8_t *want = sl_xmalloc(BLOCK);
	struct inflight r;
	pthread_t th;
	uint64_t t0;
	pid_t w;

	th_cluster_init(&c, resend ? "inflight-resend" : "inflight-eio", 1);
	th_xsnprintf(p, sizeof(p), "%s/one.bin", c.src);
	th_fill_bytes(want, BLOCK, 5);
	th_put_file(p, want, BLOCK);
	if (!resend)
		setenv("SLUICE_FUSE_RESEND", "0", 1);
	th_cluster_up(&c, "request_timeout = 20s\n", args);
	unsetenv("SLUICE_FUSE_RESEND");
	w = next_worker(&c, -1, 1);
	th_xsnprintf(p, sizeof(p), "%s/one.bin", c.data);
	ck_assert_int_eq(access(p, R_OK), 0); /* looked up: only the read
					       * waits on the node */
	kill(c.node[0], SIGSTOP);
	memset(&r, 0, sizeof(r));
	r.path = p;
	r.want = want;
	pthread_create(&th, NULL, read_one, &r);
	th_msleep(500); /* it waits in the worker now */
	t0 = sl_now_ms();
	kill(w, SIGKILL);
	next_worker(&c, w, 2);
	if (resend) {
		th_msleep(300);
		kill(c.node[0], SIGCONT);
		pthread_join(th, NULL);
		ck_assert_msg(r.same, "resent read: %zd (%s)", r.got,
			      strerror(r.err));
	} else {
		pthread_join(th, NULL);
		kill(c.node[0], SIGCONT);
		ck_assert_int_eq(r.got, -1);
		ck_assert_int_eq(r.err, EIO);
		ck_assert_uint_lt(sl_now_ms() - t0, 5000);
		ck_assert(th_file_contains(c.fclog, "with EIO"));
	}
	/* And the mount serves on. */
	read_one(&r);
	ck_assert(r.same);
	ck_assert_int_eq(th_client_stop(&c), 0);
	th_cluster_stop(&c);
	free(want);
}

START_TEST(test_inflight_resent)
{
	inflight_case(1);
}
END_TEST

START_TEST(test_inflight_eio)
{
	inflight_case(0);
}
END_TEST

/* ---- upgrades and bad binaries ------------------------------------------- */

/* Copy the built sluice-fuse to path (a fresh inode each time, as a
 * package upgrade's rename makes). */
static void install_binary(const char *path)
{
	char from[PATH_MAX], tmp[PATH_MAX];
	size_t len;
	char *bin;

	th_xsnprintf(from, sizeof(from), "%s/sluice-fuse", th_fuse_build());
	th_xsnprintf(tmp, sizeof(tmp), "%s.new", path);
	bin = th_read_file(from, &len);
	ck_assert_ptr_nonnull(bin);
	th_put_file(tmp, bin, len);
	chmod(tmp, 0755);
	ck_assert_int_eq(rename(tmp, path), 0);
	free(bin);
}

/* Start c's client from binary bin instead of the build's. */
static void client_from(th_cluster_t *c, const char *bin)
{
	const char *argv[] = {bin, "-f", "-v", "-c", c->conf, c->mnt, NULL};

	th_cluster_conf(c, NULL);
	for (int i = 0; i < c->n_nodes; i++)
		th_cluster_node_start(c, i);
	c->client = th_fuse_spawn(argv, c->fclog);
	for (int t = 0; t < 1000 && !th_is_mounted(c->mnt); t++)
		th_msleep(20);
	ck_assert(th_is_mounted(c->mnt));
}

static char *upgrade(th_cluster_t *c, const char *bin)
{
	char cmd[3 * PATH_MAX];

	th_xsnprintf(cmd, sizeof(cmd), "'%s' --upgrade '%s' 2>&1; echo rc=$?",
		     bin, c->mnt);
	return th_capture(cmd);
}

/* exe of pid is path as it is on disk now (not a replaced file). */
static int runs(pid_t pid, const char *path)
{
	char link[64], target[PATH_MAX];
	ssize_t n;

	th_xsnprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return 0;
	target[n] = '\0';
	return strcmp(target, path) == 0;
}

START_TEST(test_upgrade_epoch)
{
	th_cluster_t c;
	char log[PATH_MAX], bin[PATH_MAX], *out;
	pid_t loader, w, w2;

	th_cluster_init(&c, "upgrade", 2);
	make_images(&c);
	th_xsnprintf(bin, sizeof(bin), "%s/sluice-fuse", c.dir);
	install_binary(bin);
	client_from(&c, bin);
	w = next_worker(&c, -1, 1);
	th_xsnprintf(log, sizeof(log), "%s/loader.log", c.dir);
	loader = loader_start(&c, 1, log);
	for (int t = 0; t < 3000 && th_cluster_ok(&c, "READ") < 200; t++)
		th_msleep(10);
	for (int k = 0; k < 3; k++) {
		int st;

		th_msleep(700);
		ck_assert_msg(waitpid(loader, &st, WNOHANG) == 0,
			      "the epoch ended before upgrade %d", k + 1);
		/* A new binary on disk; the worker still runs the old one. */
		install_binary(bin);
		ck_assert(!runs(w, bin));
		out = upgrade(&c, bin);
		ck_assert_msg(strstr(out, "ok: worker ") && strstr(out, "rc=0"),
			      "upgrade: %s", out);
		free(out);
		w2 = th_client_worker(&c, 1000);
		ck_assert_int_ne(w2, w);
		ck_assert(runs(w2, bin));
		w = w2;
	}
	loader_check(loader, log, 1);
	ck_assert(th_file_contains(c.fclog, "hands over"));
	ck_assert(!th_file_contains(c.fclog, "worker died"));
	/* Not a mount: a clear answer. */
	th_xsnprintf(log, sizeof(log), "'%s' --upgrade '%s' 2>&1; echo rc=$?",
		     bin, c.dir);
	out = th_capture(log);
	ck_assert_msg(strstr(out, "no sluice mount there") &&
			      strstr(out, "rc=1"),
		      "%s", out);
	free(out);
	ck_assert_int_eq(th_client_stop(&c), 0);
	th_cluster_stop(&c);
}
END_TEST

START_TEST(test_crash_loop)
{
	th_cluster_t c;
	char bin[PATH_MAX], p[PATH_MAX], *out;
	const char crash[] = "#!/bin/sh\nkill -SEGV $$\n";
	int st;
	pid_t w;

	th_cluster_init(&c, "crashloop", 1);
	th_xsnprintf(p, sizeof(p), "%s/hello.txt", c.src);
	th_put_file(p, "hello\n", 6);
	th_xsnprintf(bin, sizeof(bin), "%s/sluice-fuse", c.dir);
	install_binary(bin);
	client_from(&c, bin);
	w = next_worker(&c, -1, 1);
	/* A bad upgrade on disk, then the worker dies: every start crashes. */
	th_xsnprintf(p, sizeof(p), "%s.new", bin);
	th_put_file(p, crash, sizeof(crash) - 1);
	chmod(p, 0755);
	ck_assert_int_eq(rename(p, bin), 0);
	kill(w, SIGKILL);
	for (int t = 0; t < 500 && !th_file_contains(c.fclog, "giving up"); t++)
		th_msleep(20);
	ck_assert(th_file_contains(c.fclog, "giving up on workers: 5 in a row "
					    "died"));
	ck_assert(th_file_contains(c.fclog, "Segmentation fault"));
	ck_assert(waitpid(c.client, &st, WNOHANG) == 0); /* still there */
	ck_assert(th_is_mounted(c.mnt));
	/* EIO, promptly, not a hang. */
	th_xsnprintf(p, sizeof(p), "%s/hello.txt", c.data);
	{
		pid_t pid = fork();

		if (pid == 0) {
			struct stat sb;

			_exit(stat(p, &sb) == 0 ? 0 : errno);
		}
		st = th_wait_exit(pid, 5000);
		if (st < 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		ck_assert_msg(st >= 0, "stat hung on a mount that gave up");
		ck_assert_int_eq(WEXITSTATUS(st), EIO);
	}
	/* A good binary again: an upgrade brings it back. */
	install_binary(bin);
	out = upgrade(&c, bin);
	ck_assert_msg(strstr(out, "ok: worker ") && strstr(out, "rc=0"),
		      "upgrade after giving up: %s", out);
	free(out);
	out = th_read_file(p, NULL);
	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, "hello\n");
	free(out);
	ck_assert_int_eq(th_client_stop(&c), 0);
	th_cluster_stop(&c);
}
END_TEST

/* The supervisor killed: the worker goes with it, the mount too under
 * -o auto_unmount (without it: ENOTCONN until fusermount -u, it_fuse). */
START_TEST(test_killed_supervisor)
{
	th_cluster_t c;
	const char *args[] = {"-o", "auto_unmount", NULL};
	char p[PATH_MAX];
	pid_t w;

	th_cluster_init(&c, "supervisor", 1);
	th_xsnprintf(p, sizeof(p), "%s/hello.txt", c.src);
	th_put_file(p, "hello\n", 6);
	th_cluster_up(&c, NULL, args);
	w = th_client_worker(&c, 2000);
	ck_assert_int_gt(w, 0);
	kill(c.client, SIGKILL);
	waitpid(c.client, NULL, 0);
	c.client = 0;
	for (int t = 0; t < 500 && (th_is_mounted(c.mnt) || !th_pid_gone(w));
	     t++)
		th_msleep(10);
	ck_assert(th_pid_gone(w));
	ck_assert(!th_is_mounted(c.mnt));
	th_cluster_stop(&c);
}
END_TEST

static Suite *restart_suite(void)
{
	return TH_SUITE(
		"it_restart",
		{.name = "crash",
		 .tests = TH_TESTS(test_crash_epoch, test_spans_crash,
				   test_inflight_resent, test_inflight_eio),
		 .timeout = 600},
		{.name = "upgrade",
		 .tests = TH_TESTS(test_upgrade_epoch, test_crash_loop,
				   test_killed_supervisor),
		 .timeout = 600});
}

int main(void)
{
	int rc;

	if (!th_have_fuse())
		return th_check_skip_suite("it_restart",
					   "needs root and /dev/fuse");
	if (th_fuse_setup("it-restart") < 0)
		return 1;
	rc = th_check_run(restart_suite(), NULL);
	th_fuse_teardown(rc);
	return rc;
}
