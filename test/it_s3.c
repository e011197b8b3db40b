/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration: the s3 backend module (sluice_backend_s3.so, dlopen()ed from
 * $SLUICE_BUILD) against a real S3 server.  main() installs s3rver from
 * test/s3/package-lock.json (`npm ci`, once), starts it on a free loopback
 * port with a temporary data directory (`node --openssl-legacy-provider`,
 * or it cannot page listings), and puts test/s3/sigv4_proxy.py in front
 * of it: every request of the module is checked there against botocore's
 * SigV4 signer and refused with 403 SignatureDoesNotMatch when they differ,
 * as real S3 would.  The objects are uploaded with boto3 (test/s3/s3tool.py)
 * through the same proxy.  Every process is killed by PID at the end, and
 * dies with the test anyway (PR_SET_PDEATHSIG).
 *
 * Covered: stat of files, directories (a prefix holding only deeper
 * folders included), the root and nothing; nested listings; a prefix of
 * 1,500 keys listed in pages of 100, 1,000 and all at once (S3 paging with
 * continuation tokens); names with spaces, '+', '%', unicode and URL
 * delimiters; an empty object; ranged reads and the end of an object; an
 * object overwritten between two reads (-ESTALE through If-Match, and
 * through the ETag check when the server ignores If-Match); wrong secret,
 * unknown key id, no credentials (-EACCES naming S3's error code, and no
 * secret in any message); session tokens; credentials from the
 * environment; the wrong region; virtual-hosted addressing; 503 SlowDown,
 * 500, connection resets and a hung reply (retried); the proxy or s3rver
 * stopped (-EIO within the bound while another dataset keeps reading, and
 * reads work again after a restart); an endpoint that never answers
 * (-EIO within the timeout); 16 threads reading at once over reused
 * connections.  End to end: an ImageNet-like dataset (scripts/
 * gen_dataset.py) uploaded to s3rver, two sluice-cachenode processes with
 * the s3 backend, sluice-fuse mounting them, and one PyTorch DataLoader
 * epoch (scripts/loader.py --verify) over the mount with no mismatch.
 */
#include <arpa/inet.h>
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "sluice/backend.h"
#include "test/helper_proc.h"
#include "test/helper_backend.h"
#include "test/helper_fuse.h"
#include "test/helper_check.h"

#define BUCKET	     "sluice-test"
#define KEY_ID	     "AKIASLUICETEST000001"
#define SECRET	     "sluice/Test+Secret=abcdefghijklmnopqrstuvwxyz01"
#define WRONG_SECRET "sluice/Wrong+Secret=abcdefghijklmnopqrstuvwxyz0"
#define SESSION_ID   "ASIASLUICESESSION001"
#define SESSION_SEC  "session/Secret+0123456789abcdefghijklmnopq"
#define TOKEN	     "FwoGZXIvYXdzEXAMPLE/session+token=="
#define N_MANY	     1500
#define BIG_SIZE     (5u * 1024 * 1024 + 123)
#define MUT_SIZE     (2u * 1024 * 1024)
#define BLOCK	     (256u * 1024)

/* Set up once in main() before any test forks; read-only afterwards. */
static struct {
	char *src;   /* the repository (cwd) */
	char *tmp;   /* this run's temporary tree */
	char *data;  /* s3rver's data directory */
	char *local; /* the uploaded files, as local files */
	char *creds; /* a shared-credentials file */
	int s3_port, proxy_port;
	pid_t s3_pid, proxy_pid;
	void *dl;
	const sb_ops_t *ops;
} g;

static const char *const odd_names[] = {
	"with space.bin",	  "plus+sign.bin",	    "ünïcødé-名前.bin",
	"percent%41literal%.bin", "amp&eq=semi;comma,.bin", "q?hash#tilde~.bin",
	"paren(a)'b'!*.bin",	  "dollar$at@colon:.bin",
};

/* ---- processes ------------------------------------------------------- */

static char *xasprintf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	return s;
}

/* Wait for a port file written by a server that started; the port, or
 * -1 when pid died or time ran out. */
static int wait_port_file(const char *path, pid_t pid, int timeout_ms)
{
	uint64_t deadline = sl_now_ms() + (uint64_t)timeout_ms;

	while (sl_now_ms() < deadline) {
		char *s = th_read_file(path, NULL);
		int port = s ? atoi(s) : 0;

		free(s);
		if (port > 0)
			return port;
		if (!th_proc_alive(pid))
			return -1;
		usleep(20000);
	}
	return -1;
}

/* Start argv (logging to log) as a server that writes the port it
 * listens on to the file pf; sets *port.  Returns the pid, or -1 (and
 * *port -1) when it did not start or died or said nothing in time. */
static pid_t spawn_ported(const char *const *argv, const char *pf,
			  const char *log, int *port)
{
	pid_t pid;

	unlink(pf);
	pid = th_proc_spawn((char *const *)argv, log);
	*port = pid > 0 ? wait_port_file(pf, pid, 30000) : -1;
	if (*port < 0 && pid > 0) {
		th_proc_kill(pid);
		pid = -1;
	}
	return pid;
}

/* s3rver on data (port 0: any); sets *port.  Returns the pid or -1. */
static pid_t start_s3rver(const char *data, int *port, const char *tag)
{
	char *pf = xasprintf("%s/%s.port", g.tmp, tag);
	char *log = xasprintf("%s/%s.log", g.tmp, tag);
	char *js = xasprintf("%s/test/s3/run_s3rver.js", g.src);
	char *ps = xasprintf("%d", *port);
	const char *argv[] = {"/usr/bin/env",
			      "node",
			      "--openssl-legacy-provider",
			      js,
			      data,
			      "127.0.0.1",
			      ps,
			      pf,
			      NULL};
	pid_t pid = spawn_ported(argv, pf, log, port);

	free(pf);
	free(log);
	free(js);
	free(ps);
	return pid;
}

/* The signature-checking proxy in front of 127.0.0.1:upstream, listening
 * on *port (0: any).  Returns the pid or -1. */
static pid_t start_proxy(int upstream, int *port, const char *tag)
{
	char *pf = xasprintf("%s/%s.port", g.tmp, tag);
	char *log = xasprintf("%s/%s.log", g.tmp, tag);
	char *py = xasprintf("%s/test/s3/sigv4_proxy.py", g.src);
	char *up = xasprintf("127.0.0.1:%d", upstream);
	char *listen = xasprintf("127.0.0.1:%d", *port);
	const char *argv[] = {"/usr/bin/python3",
			      py,
			      "--upstream",
			      up,
			      "--listen",
			      listen,
			      "--key",
			      KEY_ID ":" SECRET,
			      "--key",
			      SESSION_ID ":" SESSION_SEC ":" TOKEN,
			      "--port-file",
			      pf,
			      NULL};
	pid_t pid = spawn_ported(argv, pf, log, port);

	free(pf);
	free(log);
	free(py);
	free(up);
	free(listen);
	return pid;
}

/* Run the boto3 helper through the proxy; its exit status. */
static int s3tool(const char *cmd, const char *a, const char *b, const char *c)
{
	char *py = xasprintf("%s/test/s3/s3tool.py", g.src);
	char *ep = xasprintf("http://127.0.0.1:%d", g.proxy_port);
	const char *argv[] = {
		"/usr/bin/python3", py, "--endpoint", ep, cmd, a, b, c, NULL};
	int rc;

	setenv("AWS_ACCESS_KEY_ID", KEY_ID, 1);
	setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
	rc = th_run_capture((char *const *)argv, 300000, NULL);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	free(py);
	free(ep);
	return rc;
}

/* One HTTP/1.0 request to the proxy's control interface; the status, with
 * the body in out[cap]. */
static int proxy_ctl(int port, const char *method, const char *path, char *out,
		     size_t cap)
{
	struct sockaddr_in a = {0};
	char req[512], buf[8192];
	size_t n = 0;
	int fd, status = -1;
	char *body;
	ssize_t r;

	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		goto out;
	snprintf(req, sizeof(req),
		 "%s /__proxy/%s HTTP/1.0\r\nHost: 127.0.0.1\r\n"
		 "Content-Length: 0\r\n\r\n",
		 method, path);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		goto out;
	while (n < sizeof(buf) - 1 &&
	       (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	if (sscanf(buf, "HTTP/%*s %d", &status) != 1)
		status = -1;
	body = strstr(buf, "\r\n\r\n");
	if (out && cap)
		snprintf(out, cap, "%s", body ? body + 4 : "");
out:
	if (fd >= 0)
		close(fd);
	return status;
}

static void ctl(const char *method, const char *path)
{
	ck_assert_int_eq(proxy_ctl(g.proxy_port, method, path, NULL, 0), 200);
}

static long proxy_stat(int port, const char *name)
{
	char body[2048], key[64];
	const char *p;

	if (proxy_ctl(port, "GET", "stats", body, sizeof(body)) != 200)
		return -1;
	snprintf(key, sizeof(key), "\"%s\": ", name);
	p = strstr(body, key);
	return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* ---- the module ------------------------------------------------------ */

/* th_backend_open_kv through the module under test, in blocks of BLOCK. */
static int open_kv(void **st, char *err, const char *uri, const char *const *kv,
		   const char *const *more)
{
	return th_backend_open_kv(g.ops, BLOCK, uri, kv, more, st, err);
}

/* A dataset on the shared proxy (port; 0 = g.proxy_port) with the
 * credentials file's profile, plus extra keys; asserts it opens. */
static void *open_ds(int port, const char *profile, const char *const *extra)
{
	char ep[64], err[SB_ERR_MAX];
	void *st;
	int rc;

	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d",
		 port ? port : g.proxy_port);
	{
		const char *kv[] = {"endpoint", ep,	 "credentials", g.creds,
				    "profile",	profile, "timeout",	"10s",
				    "retries",	"4",	 "retry_base",	"20ms",
				    NULL};

		rc = open_kv(&st, err, "s3://" BUCKET "/ds/", kv, extra);
	}
	ck_assert_msg(rc == 0, "open: %d %s", rc, err);
	return st;
}

static char *local_file(const char *path, size_t *len)
{
	char *p = xasprintf("%s/%s", g.local, path);
	char *d = th_read_file(p, len);

	ck_assert_msg(d != NULL, "no local file %s", p);
	free(p);
	return d;
}

/* Read all of path (version ver) in blocks of bs; asserts it equals the
 * local file. */
static void check_whole(void *st, const char *path, const char *ver, size_t bs)
{
	size_t len, off = 0;
	char *want = local_file(path, &len);
	char *buf = malloc(bs), err[SB_ERR_MAX];

	for (;;) {
		ssize_t n = g.ops->read(st, path, ver, off, buf, bs, err,
					sizeof(err));

		ck_assert_msg(n >= 0, "read %s at %zu: %zd %s", path, off, n,
			      err);
		ck_assert_msg(off + (size_t)n <= len, "read past the end");
		ck_assert_msg(memcmp(buf, want + off, (size_t)n) == 0,
			      "%s: bytes differ at %zu", path, off);
		off += (size_t)n;
		if ((size_t)n < bs)
			break;
	}
	ck_assert_uint_eq(off, len);
	free(buf);
	free(want);
}

static void no_secret(const char *err)
{
	ck_assert_msg(!strstr(err, SECRET) && !strstr(err, WRONG_SECRET) &&
			      !strstr(err, SESSION_SEC) &&
			      !strstr(err, TOKEN) && !strstr(err, "Secret"),
		      "a secret in the message: %s", err);
}

/* ---- data ------------------------------------------------------------ */

static void pattern(char *buf, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (char)(x >> 24);
	}
}

static void put_local(const char *rel, size_t size, uint64_t seed)
{
	char *buf = malloc(size ? size : 1);

	pattern(buf, size, seed);
	SL_ASSERT(th_write_file_at(g.local, rel, buf, size) == 0);
	free(buf);
}

static void make_tree(void)
{
	char name[64];

	put_local("nested/a/b/deep.bin", 10000, 1);
	put_local("nested/a/top.bin", 3000, 2);
	put_local("nested/c.txt", 77, 3);
	/* train/ holds only deeper folders: s3rver forgets such a prefix
	 * in a delimited listing; the proxy supplies it. */
	put_local("train/n01/img0.jpg", 111000, 4);
	put_local("train/n01/img1.jpg", 98000, 5);
	put_local("train/n02/img0.jpg", 120000, 6);
	put_local("empty.bin", 0, 7);
	put_local("big.bin", BIG_SIZE, 8);
	put_local("mutable.bin", MUT_SIZE, 9);
	put_local("mutable2.bin", MUT_SIZE, 10);
	for (size_t i = 0; i < SL_ARRAY_SIZE(odd_names); i++) {
		snprintf(name, sizeof(name), "odd/%s", odd_names[i]);
		put_local(name, 1000 + i, 100 + i);
	}
	for (int i = 0; i < N_MANY; i++) {
		snprintf(name, sizeof(name), "many/f%04d.bin", i);
		put_local(name, (size_t)(i % 97), 1000 + (uint64_t)i);
	}
}

static void write_creds(void)
{
	static const char text[] = "# Written by it_s3.c\n"
				   "[default]\n"
				   "aws_access_key_id = " KEY_ID "\n"
				   "aws_secret_access_key = " SECRET "\n"
				   "\n"
				   "[wrong]\n"
				   "aws_access_key_id = " KEY_ID "\n"
				   "aws_secret_access_key = " WRONG_SECRET "\n"
				   "[unknown]\n"
				   "aws_access_key_id = AKIANOBODYKNOWSME000\n"
				   "aws_secret_access_key = " SECRET "\n"
				   "[profile session]\n"
				   "aws_access_key_id=" SESSION_ID "\n"
				   "aws_secret_access_key=" SESSION_SEC "\n"
				   "aws_session_token=" TOKEN "\n"
				   "[session-notoken]\n"
				   "aws_access_key_id = " SESSION_ID "\n"
				   "aws_secret_access_key = " SESSION_SEC "\n";

	g.creds = xasprintf("%s/credentials", g.tmp);
	SL_ASSERT(th_write_file(g.creds, text, sizeof(text) - 1) == 0);
}

/* ---- tests: metadata ------------------------------------------------- */

START_TEST(test_stat)
{
	void *st = open_ds(0, "default", NULL);
	char err[SB_ERR_MAX];
	sb_stat_t s;
	int64_t now = (int64_t)time(NULL) * 1000000000;
	int rc;

	rc = g.ops->stat(st, "nested/c.txt", &s, err, sizeof(err));
	ck_assert_msg(rc == 0, "stat: %d %s", rc, err);
	ck_assert_int_eq(s.type, SB_TYPE_FILE);
	ck_assert_uint_eq(s.size, 77);
	ck_assert_uint_eq(s.mode, 0444);
	ck_assert_uint_eq(strlen(s.version), 32); /* an MD5 ETag */
	ck_assert_msg(!strchr(s.version, '"'), "quotes kept: %s", s.version);
	ck_assert_msg(s.mtime_ns > now - 3600000000000LL &&
			      s.mtime_ns < now + 3600000000000LL,
		      "mtime %lld", (long long)s.mtime_ns);

	for (const char *const *d =
		     (const char *const[]){"", "nested", "nested/a",
					   "nested/a/b", "train", NULL};
	     *d; d++) {
		rc = g.ops->stat(st, *d, &s, err, sizeof(err));
		ck_assert_msg(rc == 0, "stat '%s': %d %s", *d, rc, err);
		ck_assert_int_eq(s.type, SB_TYPE_DIR);
		ck_assert_uint_eq(s.mode, 0555);
		ck_assert_str_eq(s.version, "");
	}
	rc = g.ops->stat(st, "nested/nope", &s, err, sizeof(err));
	ck_assert_int_eq(rc, -ENOENT);
	ck_assert_msg(strstr(err, "nested/nope"), "message: %s", err);
	rc = g.ops->stat(st, "nest", &s, err, sizeof(err));
	ck_assert_int_eq(rc, -ENOENT); /* a prefix of a name is nothing */
	/* Outside the dataset: refused before any request. */
	rc = g.ops->stat(st, "../other/secret.bin", &s, err, sizeof(err));
	ck_assert_int_eq(rc, -EINVAL);
	rc = g.ops->stat(st, "nested//c.txt", &s, err, sizeof(err));
	ck_assert_int_eq(rc, -EINVAL);
	g.ops->close(st);
}
END_TEST

/* List dir completely in pages of max; returns the entries (caller
 * frees) and their count in *n, and the number of calls in *calls. */
static sb_dirent_t *list_all(void *st, const char *dir, size_t max, size_t *n,
			     int *calls)
{
	char cursor[SB_CURSOR_MAX + 1] = "", next[SB_CURSOR_MAX + 1];
	char err[SB_ERR_MAX];
	sb_dirent_t *all = NULL, *page = calloc(max, sizeof(*page));
	size_t got;

	*n = 0;
	*calls = 0;
	do {
		int rc = g.ops->list(st, dir, cursor, page, max, &got, next,
				     err, sizeof(err));

		ck_assert_msg(rc == 0, "list '%s': %d %s", dir, rc, err);
		ck_assert_uint_le(got, max);
		ck_assert_msg(++*calls < 10000, "list never ends");
		all = realloc(all, (*n + got + 1) * sizeof(*all));
		memcpy(all + *n, page, got * sizeof(*page));
		*n += got;
		memcpy(cursor, next, sizeof(cursor));
	} while (cursor[0]);
	free(page);
	return all;
}

static const sb_dirent_t *find_ent(const sb_dirent_t *e, size_t n,
				   const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(e[i].name, name) == 0)
			return &e[i];
	return NULL;
}

/* The listing of dir is exactly names (NULL-terminated) with these types
 * ('f' or 'd'), and each file's entry agrees with stat. */
static void expect_listing(void *st, const char *dir, const char *types,
			   const char *const *names)
{
	size_t n, want = strlen(types);
	int calls;
	sb_dirent_t *e = list_all(st, dir, 64, &n, &calls);
	char err[SB_ERR_MAX], path[512];

	ck_assert_msg(n == want, "'%s': %zu entries, expected %zu", dir, n,
		      want);
	for (size_t i = 0; i < want; i++) {
		const sb_dirent_t *d = find_ent(e, n, names[i]);
		sb_stat_t s;

		ck_assert_msg(d, "'%s' lacks '%s'", dir, names[i]);
		ck_assert_int_eq(d->st.type,
				 types[i] == 'f' ? SB_TYPE_FILE : SB_TYPE_DIR);
		if (types[i] != 'f')
			continue;
		snprintf(path, sizeof(path), "%s%s%s", dir, *dir ? "/" : "",
			 names[i]);
		ck_assert_int_eq(g.ops->stat(st, path, &s, err, sizeof(err)),
				 0);
		ck_assert_uint_eq(d->st.size, s.size);
		ck_assert_str_eq(d->st.version, s.version);
		ck_assert_uint_eq(d->st.mode, 0444);
		ck_assert_msg(llabs(d->st.mtime_ns - s.mtime_ns) < 2000000000LL,
			      "mtime of %s", path);
	}
	for (size_t i = 1; i < n; i++)
		ck_assert_msg(strcmp(e[i - 1].name, e[i].name) < 0,
			      "'%s' is not in byte order", dir);
	free(e);
}

START_TEST(test_list_nested)
{
	void *st = open_ds(0, "default", NULL);
	char err[SB_ERR_MAX], next[SB_CURSOR_MAX + 1];
	sb_dirent_t e[4];
	size_t n;

	expect_listing(st, "", "ffffdddd",
		       (const char *const[]){"big.bin", "empty.bin",
					     "mutable.bin", "mutable2.bin",
					     "many", "nested", "odd", "train",
					     NULL});
	expect_listing(st, "nested", "df",
		       (const char *const[]){"a", "c.txt", NULL});
	expect_listing(st, "nested/a", "df",
		       (const char *const[]){"b", "top.bin", NULL});
	expect_listing(st, "nested/a/b", "f",
		       (const char *const[]){"deep.bin", NULL});
	expect_listing(st, "train", "dd",
		       (const char *const[]){"n01", "n02", NULL});
	expect_listing(st, "train/n01", "ff",
		       (const char *const[]){"img0.jpg", "img1.jpg", NULL});
	ck_assert_int_eq(g.ops->list(st, "nested/c.txt", "", e, 4, &n, next,
				     err, sizeof(err)),
			 -ENOTDIR);
	ck_assert_int_eq(
		g.ops->list(st, "nope", "", e, 4, &n, next, err, sizeof(err)),
		-ENOENT);
	ck_assert_int_eq(g.ops->list(st, "", "garbage", e, 4, &n, next, err,
				     sizeof(err)),
			 -EINVAL);
	g.ops->close(st);
}
END_TEST

START_TEST(test_list_paging)
{
	void *st = open_ds(0, "default", NULL);
	static const size_t pages[] = {100, 999, 1000, 4000};
	char want[32];

	for (size_t k = 0; k < SL_ARRAY_SIZE(pages); k++) {
		size_t n;
		int calls;
		long tokens0 = proxy_stat(g.proxy_port, "list_tokens");
		sb_dirent_t *e = list_all(st, "many", pages[k], &n, &calls);

		ck_assert_uint_eq(n, N_MANY);
		ck_assert_int_eq(calls, (N_MANY + pages[k] - 1) / pages[k]);
		for (int i = 0; i < N_MANY; i++) {
			snprintf(want, sizeof(want), "f%04d.bin", i);
			ck_assert_str_eq(e[i].name, want);
			ck_assert_uint_eq(e[i].st.size, (uint64_t)(i % 97));
		}
		/* Past 1,000 keys only continuation tokens get there. */
		ck_assert_msg(proxy_stat(g.proxy_port, "list_tokens") > tokens0,
			      "no continuation token was used");
		free(e);
	}
	g.ops->close(st);
}
END_TEST

START_TEST(test_odd_names)
{
	void *st = open_ds(0, "default", NULL);
	size_t n = SL_ARRAY_SIZE(odd_names);
	char types[16], path[128], err[SB_ERR_MAX];
	const char *names[16];

	for (size_t i = 0; i < n; i++) {
		sb_stat_t s;
		int rc;

		snprintf(path, sizeof(path), "odd/%s", odd_names[i]);
		rc = g.ops->stat(st, path, &s, err, sizeof(err));
		ck_assert_msg(rc == 0, "stat '%s': %d %s", path, rc, err);
		ck_assert_uint_eq(s.size, 1000 + i);
		check_whole(st, path, s.version, 4096);
		types[i] = 'f';
		names[i] = odd_names[i];
	}
	types[n] = '\0';
	names[n] = NULL;
	expect_listing(st, "odd", types, names);
	g.ops->close(st);
}
END_TEST

/* ---- tests: reads ---------------------------------------------------- */

START_TEST(test_read_ranges)
{
	void *st = open_ds(0, "default", NULL);
	char err[SB_ERR_MAX], buf[4096];
	sb_stat_t s;
	ssize_t n;

	ck_assert_int_eq(g.ops->stat(st, "big.bin", &s, err, sizeof(err)), 0);
	ck_assert_uint_eq(s.size, BIG_SIZE);
	check_whole(st, "big.bin", s.version, BLOCK);
	check_whole(st, "big.bin", s.version, 1u << 20);
	check_whole(st, "big.bin", "", 3u << 20); /* no version: no check */
	check_whole(st, "nested/a/b/deep.bin", NULL, 4096);
	/* At and past the end. */
	n = g.ops->read(st, "big.bin", s.version, BIG_SIZE, buf, sizeof(buf),
			err, sizeof(err));
	ck_assert_msg(n == 0, "read at the end: %zd %s", n, err);
	n = g.ops->read(st, "big.bin", s.version, BIG_SIZE + 5000, buf,
			sizeof(buf), err, sizeof(err));
	ck_assert_msg(n == 0, "read past the end: %zd %s", n, err);
	/* The empty object. */
	ck_assert_int_eq(g.ops->stat(st, "empty.bin", &s, err, sizeof(err)), 0);
	ck_assert_uint_eq(s.size, 0);
	ck_assert_str_ne(s.version, "");
	n = g.ops->read(st, "empty.bin", s.version, 0, buf, sizeof(buf), err,
			sizeof(err));
	ck_assert_msg(n == 0, "read of an empty object: %zd %s", n, err);
	/* A version that is not the object's. */
	n = g.ops->read(st, "big.bin", "0123456789abcdef0123456789abcdef", 0,
			buf, sizeof(buf), err, sizeof(err));
	ck_assert_int_eq(n, -ESTALE);
	n = g.ops->read(st, "nested/none.bin", NULL, 0, buf, sizeof(buf), err,
			sizeof(err));
	ck_assert_int_eq(n, -ENOENT);
	ck_assert_msg(strstr(err, "NoSuchKey"), "message: %s", err);
	g.ops->close(st);
}
END_TEST

/*
 * path is overwritten between two reads: the second read, still asking for
 * the first version, must fail with -ESTALE (never return the new bytes
 * as the old version); a fresh stat sees a new version and its bytes.
 */
static void overwrite_between_reads(void *st, const char *path, uint64_t seed)
{
	char err[SB_ERR_MAX], *buf = malloc(BLOCK), *lp;
	char *newer = malloc(MUT_SIZE);
	size_t len;
	char *old = local_file(path, &len);
	sb_stat_t s1, s2;
	ssize_t n;

	ck_assert_int_eq(g.ops->stat(st, path, &s1, err, sizeof(err)), 0);
	n = g.ops->read(st, path, s1.version, 0, buf, BLOCK, err, sizeof(err));
	ck_assert_int_eq(n, BLOCK);
	ck_assert(memcmp(buf, old, BLOCK) == 0);

	pattern(newer, MUT_SIZE, seed);
	lp = xasprintf("%s/%s.new", g.tmp, path);
	SL_ASSERT(th_write_file(lp, newer, MUT_SIZE) == 0);
	{
		char *key = xasprintf("ds/%s", path);

		ck_assert_int_eq(s3tool("put", BUCKET, key, lp), 0);
		free(key);
	}
	n = g.ops->read(st, path, s1.version, BLOCK, buf, BLOCK, err,
			sizeof(err));
	ck_assert_msg(n == -ESTALE, "read of a changed object: %zd %s", n, err);
	ck_assert_msg(strstr(err, "changed"), "message: %s", err);

	ck_assert_int_eq(g.ops->stat(st, path, &s2, err, sizeof(err)), 0);
	ck_assert_str_ne(s1.version, s2.version);
	for (size_t off = 0; off < MUT_SIZE; off += BLOCK) {
		n = g.ops->read(st, path, s2.version, off, buf, BLOCK, err,
				sizeof(err));
		ck_assert_int_eq(n, BLOCK);
		ck_assert_msg(memcmp(buf, newer + off, BLOCK) == 0,
			      "new bytes differ at %zu", off);
	}
	free(lp);
	free(old);
	free(newer);
	free(buf);
}

START_TEST(test_overwrite_if_match)
{
	void *st = open_ds(0, "default", NULL);
	long pf;

	ctl("POST", "reset");
	overwrite_between_reads(st, "mutable.bin", 77);
	/* The server refused through If-Match. */
	pf = proxy_stat(g.proxy_port, "precondition_failed");
	ck_assert_msg(pf >= 1, "If-Match was not sent (%ld)", pf);
	g.ops->close(st);
}
END_TEST

START_TEST(test_overwrite_etag_check)
{
	void *st = open_ds(0, "default", NULL);

	/* Like s3rver itself: If-Match ignored.  The ETag check must catch
	 * it. */
	ctl("POST", "reset");
	ctl("POST", "if-match?mode=ignore");
	overwrite_between_reads(st, "mutable2.bin", 78);
	ck_assert_int_eq(proxy_stat(g.proxy_port, "precondition_failed"), 0);
	ctl("POST", "reset");
	g.ops->close(st);
}
END_TEST

/* ---- tests: credentials ---------------------------------------------- */

static void expect_refused(void *st, const char *code)
{
	char err[SB_ERR_MAX], next[SB_CURSOR_MAX + 1], buf[16];
	sb_dirent_t e[2];
	sb_stat_t s;
	size_t n;
	int rc;

	rc = g.ops->stat(st, "nested/c.txt", &s, err, sizeof(err));
	ck_assert_msg(rc == -EACCES, "stat: %d %s", rc, err);
	ck_assert_msg(strstr(err, code) && strstr(err, "403"), "stat: %s", err);
	no_secret(err);
	rc = (int)g.ops->read(st, "nested/c.txt", NULL, 0, buf, sizeof(buf),
			      err, sizeof(err));
	ck_assert_msg(rc == -EACCES && strstr(err, code), "read: %d %s", rc,
		      err);
	no_secret(err);
	rc = g.ops->list(st, "nested", "", e, 2, &n, next, err, sizeof(err));
	ck_assert_msg(rc == -EACCES && strstr(err, code), "list: %d %s", rc,
		      err);
	no_secret(err);
	rc = g.ops->stat(st, "", &s, err, sizeof(err));
	ck_assert_msg(rc == -EACCES && strstr(err, code), "stat root: %d %s",
		      rc, err);
}

START_TEST(test_wrong_credentials)
{
	void *st = open_ds(0, "wrong", NULL);
	uint64_t t0 = sl_now_ms();

	expect_refused(st, "SignatureDoesNotMatch");
	/* Refusals are final: no retries, no back-off. */
	ck_assert_uint_lt(sl_now_ms() - t0, 2000);
	g.ops->close(st);
	st = open_ds(0, "unknown", NULL);
	expect_refused(st, "InvalidAccessKeyId");
	g.ops->close(st);
	st = open_ds(0, "session-notoken", NULL);
	expect_refused(st, "InvalidToken");
	g.ops->close(st);
}
END_TEST

START_TEST(test_anonymous_refused)
{
	char ep[64], err[SB_ERR_MAX];
	const char *kv[] = {"endpoint", ep, "anonymous", "true", NULL};
	void *st;

	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", g.proxy_port);
	ck_assert_int_eq(open_kv(&st, err, "s3://" BUCKET "/ds/", kv, NULL), 0);
	expect_refused(st, "AccessDenied");
	g.ops->close(st);
}
END_TEST

START_TEST(test_session_token)
{
	void *st = open_ds(0, "session", NULL);

	check_whole(st, "nested/a/top.bin", NULL, 1000);
	g.ops->close(st);
}
END_TEST

START_TEST(test_env_credentials)
{
	char ep[64], err[SB_ERR_MAX];
	const char *kv[] = {"endpoint", ep, NULL};
	void *st;
	int rc;

	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", g.proxy_port);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	rc = open_kv(&st, err, "s3://" BUCKET "/ds/", kv, NULL);
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_msg(strstr(err, "no credentials"), "message: %s", err);

	setenv("AWS_ACCESS_KEY_ID", SESSION_ID, 1);
	setenv("AWS_SECRET_ACCESS_KEY", SESSION_SEC, 1);
	setenv("AWS_SESSION_TOKEN", TOKEN, 1);
	rc = open_kv(&st, err, "s3://" BUCKET "/ds/", kv, NULL);
	ck_assert_msg(rc == 0, "open: %s", err);
	check_whole(st, "nested/c.txt", NULL, 4096);
	g.ops->close(st);
}
END_TEST

START_TEST(test_wrong_region)
{
	const char *kv[] = {"region", "eu-west-3", NULL};
	void *st = open_ds(0, "default", kv);
	char err[SB_ERR_MAX];
	sb_stat_t s;
	int rc;

	rc = g.ops->stat(st, "nested/c.txt", &s, err, sizeof(err));
	ck_assert_int_eq(rc, -EACCES);
	ck_assert_msg(strstr(err, "set region = us-east-1"), "message: %s",
		      err);
	g.ops->close(st);
}
END_TEST

START_TEST(test_virtual_hosted)
{
	char ep[64], err[SB_ERR_MAX];
	const char *kv[] = {"endpoint",	   ep,	    "path_style", "false",
			    "credentials", g.creds, NULL};
	char path[128];
	sb_stat_t s;
	void *st;

	/* curl resolves BUCKET.localhost to loopback itself. */
	snprintf(ep, sizeof(ep), "http://localhost:%d", g.proxy_port);
	ck_assert_int_eq(open_kv(&st, err, "s3://" BUCKET "/ds", kv, NULL), 0);
	snprintf(path, sizeof(path), "odd/%s", odd_names[2]);
	ck_assert_int_eq(g.ops->stat(st, path, &s, err, sizeof(err)), 0);
	check_whole(st, path, s.version, 512);
	expect_listing(st, "nested", "df",
		       (const char *const[]){"a", "c.txt", NULL});
	g.ops->close(st);
}
END_TEST

/* ---- tests: failures and retries ------------------------------------- */

START_TEST(test_retry_slowdown)
{
	const char *few[] = {"retries", "2", "retry_base", "50ms", NULL};
	void *st = open_ds(0, "default", NULL);
	char err[SB_ERR_MAX], buf[100];
	uint64_t t0;
	ssize_t n;

	ctl("POST", "reset");
	ctl("POST", "fault?kind=status&status=503&code=SlowDown&count=3");
	check_whole(st, "nested/c.txt", NULL, 4096);
	ck_assert_int_eq(proxy_stat(g.proxy_port, "faults"), 3);
	ctl("POST", "fault?kind=status&status=500&code=InternalError&count=2");
	check_whole(st, "nested/c.txt", NULL, 4096);
	g.ops->close(st);

	/* More than the bound: -EIO naming the code, after 3 attempts. */
	st = open_ds(0, "default", few);
	ctl("POST", "reset");
	ctl("POST", "fault?kind=status&status=503&code=SlowDown&count=100");
	t0 = sl_now_ms();
	n = g.ops->read(st, "nested/c.txt", NULL, 0, buf, sizeof(buf), err,
			sizeof(err));
	ck_assert_int_eq(n, -EIO);
	ck_assert_msg(strstr(err, "SlowDown") &&
			      strstr(err, "gave up after 3 attempts"),
		      "message: %s", err);
	ck_assert_int_eq(proxy_stat(g.proxy_port, "faults"), 3);
	/* Back-off: at least 25 + 50 ms, well under the timeout. */
	ck_assert_uint_ge(sl_now_ms() - t0, 75);
	ck_assert_uint_lt(sl_now_ms() - t0, 5000);
	ctl("POST", "reset");
	g.ops->close(st);
}
END_TEST

START_TEST(test_retry_reset_and_hang)
{
	const char *quick[] = {"timeout", "4s", NULL};
	void *st = open_ds(0, "default", NULL);
	uint64_t t0;

	ctl("POST", "reset");
	ctl("POST", "fault?kind=reset&count=2");
	check_whole(st, "nested/a/top.bin", NULL, 4096);
	ck_assert_int_eq(proxy_stat(g.proxy_port, "faults"), 2);
	g.ops->close(st);

	/* A reply that never comes is cut (a third of the timeout without
	 * a byte) and the request retried. */
	st = open_ds(0, "default", quick);
	ctl("POST", "fault?kind=hang&ms=20000&count=1");
	t0 = sl_now_ms();
	check_whole(st, "nested/a/top.bin", NULL, 4096);
	ck_assert_uint_lt(sl_now_ms() - t0, 4000);
	ctl("POST", "reset");
	g.ops->close(st);
}
END_TEST

typedef struct reader {
	void *st;
	_Atomic int stop;
	_Atomic long ok, failed;
} reader_t;

/* Reads from another dataset while one fails. */
static void *reader_main(void *arg)
{
	reader_t *r = arg;
	char buf[4096], err[SB_ERR_MAX];

	while (!r->stop) {
		ssize_t n = g.ops->read(r->st, "nested/a/top.bin", NULL, 0, buf,
					sizeof(buf), err, sizeof(err));

		if (n == 3000)
			r->ok++;
		else
			r->failed++;
		usleep(5000);
	}
	return NULL;
}

/* A read of st must fail with -EIO, naming why, within the bound. */
static void expect_eio(void *st, const char *why, uint64_t bound_ms)
{
	char err[SB_ERR_MAX], buf[64];
	uint64_t t0 = sl_now_ms(), dt;
	ssize_t n = g.ops->read(st, "nested/c.txt", NULL, 0, buf, sizeof(buf),
				err, sizeof(err));

	dt = sl_now_ms() - t0;
	ck_assert_msg(n == -EIO, "read: %zd %s", n, err);
	ck_assert_msg(strstr(err, why), "message: %s", err);
	ck_assert_msg(dt <= bound_ms, "took %llu ms, bound %llu ms",
		      (unsigned long long)dt, (unsigned long long)bound_ms);
	no_secret(err);
}

/* Server pid stops: reads of st fail with -EIO naming why, in time,
 * while reader r goes on reading its own dataset. */
static void expect_outage(pid_t pid, void *st, reader_t *r, const char *why)
{
	long ok0;

	th_proc_stop(pid, SIGTERM, 5000, NULL);
	ok0 = r->ok;
	expect_eio(st, why, 3500);
	ck_assert_msg(r->ok >= ok0 + 3, "the other dataset stalled: %ld reads",
		      (long)(r->ok - ok0));
}

START_TEST(test_server_stopped)
{
	const char *bound[] = {"timeout",    "3s",    "retries", "3",
			       "retry_base", "200ms", NULL};
	int s3p = 0, pp = 0, s3p2, pp2;
	pid_t s3pid = start_s3rver(g.data, &s3p, "s3rver-b");
	pid_t ppid = s3pid > 0 ? start_proxy(s3p, &pp, "proxy-b") : -1;
	reader_t r = {.st = open_ds(0, "default", NULL)};
	pthread_t th;
	void *st;

	ck_assert_msg(s3pid > 0 && ppid > 0, "second server did not start");
	st = open_ds(pp, "default", bound);
	check_whole(st, "nested/c.txt", NULL, 4096);
	pthread_create(&th, NULL, reader_main, &r);

	/* The endpoint goes away: refused connections, retried, -EIO; the
	 * other dataset reads on meanwhile. */
	expect_outage(ppid, st, &r, "gave up after 4 attempts");
	/* And comes back on the same port: the same dataset reads again. */
	pp2 = pp;
	ppid = start_proxy(s3p, &pp2, "proxy-b");
	ck_assert_msg(ppid > 0 && pp2 == pp, "proxy did not restart");
	check_whole(st, "nested/c.txt", NULL, 4096);

	/* s3rver behind it goes away: 503 from the proxy, retried, -EIO. */
	expect_outage(s3pid, st, &r, "503 ServiceUnavailable");
	s3p2 = s3p;
	s3pid = start_s3rver(g.data, &s3p2, "s3rver-b");
	ck_assert_msg(s3pid > 0 && s3p2 == s3p, "s3rver did not restart");
	check_whole(st, "nested/c.txt", NULL, 4096);

	r.stop = 1;
	pthread_join(th, NULL);
	ck_assert_msg(r.failed == 0, "the other dataset: %ld reads, %ld failed",
		      (long)r.ok, (long)r.failed);
	g.ops->close(st);
	g.ops->close(r.st);
	th_proc_stop(ppid, SIGTERM, 5000, NULL);
	th_proc_stop(s3pid, SIGTERM, 5000, NULL);
}
END_TEST

START_TEST(test_dead_endpoint)
{
	struct sockaddr_in a = {0};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char ep[64], err[SB_ERR_MAX];
	const char *kv[] = {"endpoint", ep,	   "credentials",
			    g.creds,	"timeout", "1500ms",
			    "retries",	"5",	   NULL};
	void *st;

	/* Accepts connections (the kernel does) and never answers. */
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(fd, 64), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d", ntohs(a.sin_port));
	ck_assert_int_eq(open_kv(&st, err, "s3://" BUCKET "/ds/", kv, NULL), 0);
	expect_eio(st, "nested/c.txt", 2200);
	g.ops->close(st);
	close(fd);
}
END_TEST

/* ---- tests: concurrency ---------------------------------------------- */

typedef struct worker {
	void *st;
	int id;
	const char *want;
	const char *version;
	int bad;
	char err[SB_ERR_MAX];
} worker_t;

static void *worker_main(void *arg)
{
	worker_t *w = arg;
	size_t nblocks = (BIG_SIZE + BLOCK - 1) / BLOCK;
	char *buf = malloc(BLOCK);

	for (size_t k = 0; k < nblocks && !w->bad; k++) {
		size_t b = (k + (size_t)w->id * 5) % nblocks;
		size_t want = SL_MIN(BLOCK, BIG_SIZE - b * BLOCK);
		ssize_t n = g.ops->read(w->st, "big.bin", w->version, b * BLOCK,
					buf, BLOCK, w->err, sizeof(w->err));

		if (n != (ssize_t)want ||
		    memcmp(buf, w->want + b * BLOCK, want))
			w->bad = 1;
	}
	free(buf);
	return NULL;
}

START_TEST(test_concurrent_reads)
{
	void *st = open_ds(0, "default", NULL);
	worker_t w[16];
	pthread_t th[16];
	char err[SB_ERR_MAX];
	size_t len;
	char *want = local_file("big.bin", &len);
	sb_stat_t s;
	long gets, conns, maxin;

	ck_assert_int_eq(g.ops->stat(st, "big.bin", &s, err, sizeof(err)), 0);
	ctl("POST", "reset");
	ctl("POST", "delay?ms=30");
	for (int i = 0; i < 16; i++) {
		w[i] = (worker_t){
			.st = st, .id = i, .want = want, .version = s.version};
		pthread_create(&th[i], NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < 16; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(!w[i].bad, "worker %d: %s", i, w[i].err);
	}
	gets = proxy_stat(g.proxy_port, "gets");
	conns = proxy_stat(g.proxy_port, "connections");
	maxin = proxy_stat(g.proxy_port, "max_inflight");
	ctl("POST", "reset");
	/* All 16 at once, over connections that were kept and reused. */
	ck_assert_int_eq(gets, 16 * ((BIG_SIZE + BLOCK - 1) / BLOCK));
	ck_assert_msg(maxin >= 12, "at most %ld requests in flight", maxin);
	ck_assert_msg(conns <= 16 + 8, "%ld connections for %ld requests",
		      conns, gets);
	free(want);
	g.ops->close(st);
}
END_TEST

/* ---- end to end: nodes, the FUSE client, a DataLoader ---------------- */

static void unmount(const char *path)
{
	const char *argv[] = {"/bin/fusermount3", "-uz", path, NULL};

	if (th_is_mounted(path))
		th_run_capture((char *const *)argv, 20000, NULL);
}

/* Spawn build/NAME with args; its log is g.tmp/LOG. */
static pid_t spawn_bin(const char *build, const char *name, const char *log,
		       const char *const *args)
{
	const char *argv[16];
	char *bin = xasprintf("%s/%s", build, name);
	char *lp = xasprintf("%s/%s", g.tmp, log);
	int n = 0;
	pid_t pid;

	argv[n++] = bin;
	while (*args && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	pid = th_proc_spawn((char *const *)argv, lp);
	free(bin);
	free(lp);
	return pid;
}

START_TEST(test_e2e_dataloader)
{
	char *src = xasprintf("%s/e2e-src", g.tmp);
	char *mnt = xasprintf("%s/mnt", g.tmp);
	char *conf = xasprintf("%s/cluster.conf", g.tmp);
	char *root = xasprintf("%s/imagenet", mnt);
	char build[PATH_MAX], *text, *out;
	int port[2] = {th_free_port(), th_free_port()};
	pid_t node[2], client;
	int rc;

	ck_assert_ptr_nonnull(realpath(th_build_dir(), build));
	ck_assert_int_eq(th_gen_dataset(g.src, src), 0);
	ck_assert_int_eq(s3tool("put-tree", BUCKET, "e2e/imagenet/", src), 0);
	text = xasprintf("[cluster]\nname = it-s3\nmodule_dir = %s\n\n"
			 "[node n1]\naddr = tcp://127.0.0.1:%d\n"
			 "ram_capacity = 256M\nworkers = 8\n\n"
			 "[node n2]\naddr = tcp://127.0.0.1:%d\n"
			 "ram_capacity = 256M\nworkers = 8\n\n"
			 "[dataset imagenet]\nbackend = s3\n"
			 "uri = s3://" BUCKET "/e2e/imagenet/\n"
			 "endpoint = http://127.0.0.1:%d\n"
			 "credentials = %s\nblock_size = 1M\n\n"
			 "[client]\nblock_cache = 64M\n",
			 build, port[0], port[1], g.proxy_port, g.creds);
	SL_ASSERT(th_write_file(conf, text, strlen(text)) == 0);
	free(text);
	mkdir(mnt, 0755);
	node[0] = spawn_bin(
		build, "sluice-cachenode", "node-n1.log",
		(const char *const[]){"-c", conf, "--node", "n1", NULL});
	node[1] = spawn_bin(
		build, "sluice-cachenode", "node-n2.log",
		(const char *const[]){"-c", conf, "--node", "n2", NULL});
	for (int i = 0; i < 2; i++)
		ck_assert_msg(node[i] > 0 && th_wait_port(port[i], 20000) == 0,
			      "node %d did not listen (logs in %s)", i + 1,
			      g.tmp);
	client = spawn_bin(build, "sluice-fuse", "fuse.log",
			   (const char *const[]){"-f", "-c", conf, mnt, "-o",
						 "ro,auto_unmount", NULL});
	ck_assert_int_gt(client, 0);
	for (int t = 0; t < 1000 && !th_is_mounted(mnt); t++)
		usleep(20000);
	ck_assert_msg(th_is_mounted(mnt),
		      "sluice-fuse did not mount (logs in %s)", g.tmp);

	rc = th_loader_verify(g.src, root, src, &out);
	fprintf(stderr, "it_s3: e2e: %s", out ? out : "(no output)\n");
	ck_assert_msg(rc == 0, "loader: %s", out ? out : "");

	free(out);
	unmount(mnt);
	th_proc_stop(client, SIGTERM, 10000, NULL);
	for (int i = 0; i < 2; i++)
		th_proc_stop(node[i], SIGTERM, 10000, NULL);
	free(src);
	free(mnt);
	free(conf);
	free(root);
}
END_TEST

/* ---- main ------------------------------------------------------------ */

static void cleanup(void)
{
	char *mnt = g.tmp ? xasprintf("%s/mnt", g.tmp) : NULL;

	/* Never walk into a mount while removing the tree. */
	if (mnt)
		unmount(mnt);
	free(mnt);
	th_proc_stop(g.proxy_pid, SIGTERM, 5000, NULL);
	th_proc_stop(g.s3_pid, SIGTERM, 5000, NULL);
	g.proxy_pid = g.s3_pid = 0;
	if (g.tmp && !getenv("SLUICE_KEEP_TMP"))
		th_rmtree(g.tmp);
}

/* npm ci in test/s3 when s3rver is not installed yet. */
static int install_s3rver(void)
{
	char *mod =
		xasprintf("%s/test/s3/node_modules/s3rver/package.json", g.src);
	char *cmd = xasprintf("cd '%s/test/s3' && npm ci --no-audit --no-fund "
			      "--loglevel=error >&2",
			      g.src);
	const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	int rc = 0;

	if (access(mod, F_OK) != 0) {
		fprintf(stderr, "it_s3: installing s3rver (npm ci)\n");
		rc = th_run_capture((char *const *)argv, 600000, NULL);
	}
	free(mod);
	free(cmd);
	return rc;
}

static int setup_all(void)
{
	char cwd[PATH_MAX], *so;
	const char *why = NULL;

	if (!getcwd(cwd, sizeof(cwd)))
		return -1;
	g.src = sl_xstrdup(getenv("SLUICE_SRC") ? getenv("SLUICE_SRC") : cwd);
	so = xasprintf("%s/sluice_backend_s3.so", th_build_dir());
	g.dl = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	g.ops = g.dl ? dlsym(g.dl, SB_OPS_SYMBOL) : NULL;
	free(so);
	if (!g.ops) {
		fprintf(stderr, "it_s3: cannot load the module: %s\n",
			dlerror());
		return -1;
	}
	g.tmp = th_tmpdir("it-s3");
	g.data = xasprintf("%s/s3rver-data", g.tmp);
	g.local = xasprintf("%s/local", g.tmp);
	mkdir(g.data, 0755);
	mkdir(g.local, 0755);
	write_creds();
	make_tree();
	if (install_s3rver() != 0)
		why = "npm ci in test/s3 failed";
	else if ((g.s3_pid = start_s3rver(g.data, &g.s3_port, "s3rver")) <= 0)
		why = "s3rver did not start";
	else if ((g.proxy_pid =
			  start_proxy(g.s3_port, &g.proxy_port, "proxy")) <= 0)
		why = "sigv4_proxy.py did not start";
	else if (s3tool("mb", BUCKET, NULL, NULL) != 0)
		why = "s3tool mb failed";
	else if (s3tool("put-tree", BUCKET, "ds/", g.local) != 0)
		why = "s3tool put-tree failed";
	else if (s3tool("put", BUCKET, "other/secret.bin", g.creds) != 0)
		why = "s3tool put failed";
	if (why) {
		fprintf(stderr, "it_s3: %s (logs in %s)\n", why, g.tmp);
		return -1;
	}
	return 0;
}

int main(void)
{
	Suite *s = TH_SUITE(
		"it_s3",
		{.name = "metadata",
		 .tests = TH_TESTS(test_stat, test_list_nested,
				   test_list_paging, test_odd_names),
		 .timeout = 120},
		{.name = "reads",
		 .tests = TH_TESTS(test_read_ranges, test_overwrite_if_match,
				   test_overwrite_etag_check,
				   test_concurrent_reads),
		 .timeout = 120},
		{.name = "credentials",
		 .tests = TH_TESTS(test_wrong_credentials,
				   test_anonymous_refused, test_session_token,
				   test_env_credentials, test_wrong_region,
				   test_virtual_hosted),
		 .timeout = 60},
		{.name = "failures",
		 .tests = TH_TESTS(test_retry_slowdown,
				   test_retry_reset_and_hang,
				   test_server_stopped, test_dead_endpoint),
		 .timeout = 120},
		{.name = "e2e",
		 .tests = TH_TESTS(test_e2e_dataloader),
		 .timeout = 900});
	int rc;
	uint64_t t0 = sl_now_ms();

	signal(SIGPIPE, SIG_IGN);
	if (setup_all() < 0) {
		cleanup();
		return 1;
	}
	fprintf(stderr,
		"it_s3: s3rver on :%d, proxy on :%d, ready in %llu ms\n",
		g.s3_port, g.proxy_port,
		(unsigned long long)(sl_now_ms() - t0));
	rc = th_check_run(s, NULL);
	cleanup();
	return rc;
}
