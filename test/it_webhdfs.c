/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration: the webhdfs backend module (sluice_backend_webhdfs.so,
 * dlopen()ed from $SLUICE_BUILD) against test/webhdfs/fixture.py, a
 * WebHDFS server written from the published specification (no HDFS runs
 * here).  main() builds an HDFS namespace in a temporary directory and
 * starts the fixture's processes on free loopback ports: an active and a
 * standby namenode (nn1, nn2) over three datanodes (dn1, dn2, and dn3,
 * which the killed-datanode tests use), and a secure namenode and
 * datanode (delegation tokens; SPNEGO refused).  Then two cache nodes and
 * sluice-fuse mount five webhdfs datasets over them.  Every process is
 * killed by PID at the end, and dies with the test anyway
 * (PR_SET_PDEATHSIG).
 *
 * Module, called directly: stat of files, directories, the root and
 * nothing; listings (nested, 1,200 entries in server pages of 100 and
 * caller pages of several sizes, HDFS's signed-byte order, the LISTSTATUS
 * fallback, a file listed); odd names; reads at block boundaries, at and
 * past the end, of an empty file (no request), of a file rewritten
 * between stat and read (-ESTALE, also when only its fileId changed);
 * RemoteException mapping; 500s retried, with back-off, and given up;
 * every hostile body and redirect the fixture has; a datanode that sends
 * too much, too little or dies mid-read; standby failover both ways;
 * simple auth and delegation tokens (credentials only to the namenode,
 * the token never in a message), kerberos without a ticket; a namenode
 * that never answers and one that refuses connections (bounded by the
 * timeout); 16 threads reading at once over reused connections.
 *
 * Through the mount: a tree of odd names, block-boundary sizes and a
 * directory of many listing pages read back byte-equal; a PyTorch
 * DataLoader epoch (scripts/loader.py --verify) with no mismatch; a file
 * rewritten on the server served fresh after metadata_ttl; the wrong user
 * gets EACCES within the timeout; standby failover; a datanode killed
 * mid-read; and the delegation token in no line of the nodes' logs.
 */
#include <check.h>
#include <curl/curl.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <utime.h>

#include "common/util.h"
#include "sluice/backend.h"
#include "test/helper_backend.h"
#include "test/helper_check.h"
#include "test/helper_proc.h"

#define BLOCK	    (256u * 1024)
#define BIG_SIZE    (5u * 1024 * 1024 + 123)
#define N_MANY	    1200
#define LS_LIMIT    100
#define TOKEN	    "SLUICEtestDelegationToken_0123456789-abcdefghijklmnopqrstuv"
#define WRONG_TOKEN "SLUICEtestDelegationToken_nope"
#define FUSE_MAGIC  0x65735546

typedef struct fx {
	const char *name;
	pid_t pid;
	int port;
} fx_t;

/* Set up once in main() before any test forks; read-only afterwards. */
static struct {
	char src[PATH_MAX];
	char *tmp;
	char root[PATH_MAX]; /* the fixture's HDFS namespace */
	char token_file[PATH_MAX], wrong_token_file[PATH_MAX];
	fx_t nn1, nn2, dn1, dn2, dn3, nns, dns;
	void *dl;
	const sb_ops_t *ops;
	/* the mount */
	char mnt[PATH_MAX], conf[PATH_MAX], build[PATH_MAX];
	pid_t node[2], fuse;
	int node_m[2];	    /* their metrics ports */
	char no_mount[256]; /* why there is none */
} g = {
	.nn1 = {"nn1"},
	.nn2 = {"nn2"},
	.dn1 = {"dn1"},
	.dn2 = {"dn2"},
	.dn3 = {"dn3"},
	.nns = {"nn-secure"},
	.dns = {"dn-secure"},
};

static const char *const odd_names[] = {
	"with space.bin",	 "plus+sign.bin",
	"ünïcødé-名前.bin",	 "percent%41literal%.bin",
	"a%2Fb-not-a-slash.bin", "amp&eq=semi;comma,.bin",
	"q?hash#tilde~.bin",	 "paren(a)'b'!*.bin",
	"dollar$at@colon:.bin",	 "-leading-dash",
	"trailing.dot.",
};

/* Sizes at the edges of BLOCK-sized blocks. */
static const size_t edge_sizes[] = {
	0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, 3 * BLOCK + 7, 4 * BLOCK,
};

/* ---- bytes ----------------------------------------------------------- */

/* Deterministic bytes for file seed: what the server holds, and what a
 * reader must get back. */
static void fill(unsigned char *buf, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 12345;

	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345;
		buf[i] = (unsigned char)(x >> 16);
	}
}

/* Create root/rel (and its folders) holding size bytes of seed. */
static void put(const char *rel, size_t size, uint32_t seed)
{
	unsigned char *buf = malloc(size ? size : 1);

	fill(buf, size, seed);
	SL_ASSERT(th_write_file_at(g.root, rel, buf, size) == 0);
	free(buf);
}

/* The server's copy of rel (caller frees), asserted to exist. */
static unsigned char *server_file(const char *rel, size_t *len)
{
	char path[PATH_MAX];
	unsigned char *d;

	th_xsnprintf(path, sizeof(path), "%s/%s", g.root, rel);
	d = (unsigned char *)th_read_file(path, len);
	ck_assert_msg(d != NULL, "no server file %s", path);
	return d;
}

/* Replace rel on the server the way HDFS's create-with-overwrite does: a
 * new inode (so a new fileId), same size; its mtime set to mtime (s). */
static void rewrite(const char *rel, size_t size, uint32_t seed, time_t mtime)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	unsigned char *buf = malloc(size ? size : 1);
	struct utimbuf ut = {mtime, mtime};

	th_xsnprintf(path, sizeof(path), "%s/%s", g.root, rel);
	th_xsnprintf(tmp, sizeof(tmp), "%s.rewrite", path);
	fill(buf, size, seed);
	SL_ASSERT(th_write_file(tmp, buf, size) == 0);
	if (mtime)
		SL_ASSERT(utime(tmp, &ut) == 0);
	SL_ASSERT(rename(tmp, path) == 0);
	free(buf);
}

/* ---- the fixture ----------------------------------------------------- */

/* Start fx: fixture.py ROLE --root ROOT --port-file ... with extra (a
 * NULL-terminated list).  Returns 0 once its port is known, or -1. */
static int fx_start(fx_t *fx, const char *role, const char *const *extra)
{
	char py[PATH_MAX], pf[PATH_MAX], log[PATH_MAX];
	const char *argv[32];
	int n = 0;

	th_xsnprintf(py, sizeof(py), "%s/test/webhdfs/fixture.py", g.src);
	th_xsnprintf(pf, sizeof(pf), "%s/%s.port", g.tmp, fx->name);
	th_xsnprintf(log, sizeof(log), "%s/%s.log", g.tmp, fx->name);
	argv[n++] = "/usr/bin/python3";
	argv[n++] = py;
	argv[n++] = role;
	argv[n++] = "--root";
	argv[n++] = g.root;
	argv[n++] = "--port-file";
	argv[n++] = pf;
	while (extra && *extra && n < 31)
		argv[n++] = *extra++;
	argv[n] = NULL;
	unlink(pf);
	fx->port = 0;
	fx->pid = th_proc_spawn((char *const *)argv, log);
	for (int t = 0; fx->pid > 0 && t < 1500; t++) {
		char *s = th_read_file(pf, NULL);

		fx->port = s ? atoi(s) : 0;
		free(s);
		if (fx->port > 0)
			return 0;
		if (!th_proc_alive(fx->pid))
			break;
		usleep(20000);
	}
	fprintf(stderr, "it_webhdfs: %s did not start (see %s)\n", fx->name,
		log);
	th_proc_kill(fx->pid);
	fx->pid = 0;
	return -1;
}

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
	char **body = ud;
	size_t have = *body ? strlen(*body) : 0;

	*body = realloc(*body, have + size * n + 1);
	memcpy(*body + have, p, size * n);
	(*body)[have + size * n] = '\0';
	return size * n;
}

/* METHOD /__fixture/WHAT on fx; the HTTP status, the body in *body
 * (caller frees; may be NULL to drop it). */
static long fx_call(const fx_t *fx, const char *method, const char *what,
		    char **body)
{
	char url[512];
	char *got = NULL;
	long status = -1;
	CURL *e = curl_easy_init();

	th_xsnprintf(url, sizeof(url), "http://127.0.0.1:%d/__fixture/%s",
		     fx->port, what);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &got);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(e);
	if (body)
		*body = got;
	else
		free(got);
	return status;
}

/* POST WHAT to fx, asserting it took it. */
static void fx_ctl(const fx_t *fx, const char *what)
{
	long s = fx_call(fx, "POST", what, NULL);

	ck_assert_msg(s == 200, "%s: control %s: %ld", fx->name, what, s);
}

/* Counter key of fx's stats ("op_OPEN"; "users.alice" for a user). */
static long fx_count(const fx_t *fx, const char *key)
{
	char *body = NULL;
	json_t *doc, *v;
	const char *dot = strchr(key, '.');
	long n = -1;

	if (fx_call(fx, "GET", "stats", &body) != 200)
		goto out;
	doc = json_loads(body, 0, NULL);
	v = doc;
	if (dot) {
		char first[64];

		th_xsnprintf(first, sizeof(first), "%.*s", (int)(dot - key),
			     key);
		v = json_object_get(v, first);
		key = dot + 1;
	}
	v = json_object_get(v, key);
	n = json_is_integer(v) ? (long)json_integer_value(v) : 0;
	json_decref(doc);
out:
	free(body);
	return n;
}

/* Every fixture back to its start: no faults, counters at 0, nn1 active,
 * nn2 standby, dn1 and dn2 live.  0, or -1 when one did not take it (no
 * ck_assert here: main() calls it before any test runs). */
static int fx_reset_all(void)
{
	static const struct {
		const fx_t *fx;
		const char *what;
	} steps[] = {
		{&g.nn1, "reset"},
		{&g.nn2, "reset"},
		{&g.dn1, "reset"},
		{&g.dn2, "reset"},
		{&g.nns, "reset"},
		{&g.dns, "reset"},
		{&g.nn1, "state?standby=0&batch=1"},
		{&g.nn2, "state?standby=1&batch=1"},
		{&g.nn1, "datanodes?live=0,1"},
		{&g.nn2, "datanodes?live=0,1"},
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(steps); i++)
		if (fx_call(steps[i].fx, "POST", steps[i].what, NULL) != 200)
			return -1;
	return 0;
}

static void fx_all_reset(void)
{
	ck_assert_msg(fx_reset_all() == 0, "a fixture did not reset");
}

/* ---- the module ------------------------------------------------------ */

/* th_backend_open_kv through the module under test, in blocks of BLOCK. */
static int ds_try(void **st, char *err, const char *uri, const char *const *kv,
		  const char *const *more)
{
	return th_backend_open_kv(g.ops, BLOCK, uri, kv, more, st, err);
}

/* The dataset /ds on nn1 as alice, with short retries, plus more keys;
 * asserted to open. */
static void *ds_open(const char *const *more)
{
	char uri[128], err[SB_ERR_MAX];
	const char *kv[] = {"user",	  "alice", "timeout", "10s",
			    "retry_base", "20ms",  NULL};
	void *st;
	int rc;

	th_xsnprintf(uri, sizeof(uri), "webhdfs://127.0.0.1:%d/ds", g.nn1.port);
	rc = ds_try(&st, err, uri, kv, more);
	ck_assert_msg(rc == 0, "open: %d %s", rc, err);
	return st;
}

/* The whole of dataset path through the module, in reads of bs (caller
 * frees): a read shorter than bs ends the file. */
static unsigned char *module_file(void *st, const char *path, const char *ver,
				  size_t bs, size_t *len)
{
	unsigned char *out = NULL;
	char err[SB_ERR_MAX];
	ssize_t got;

	*len = 0;
	do {
		out = realloc(out, *len + bs);
		got = g.ops->read(st, path, ver, *len, out + *len, bs, err,
				  sizeof(err));
		ck_assert_msg(got >= 0 && (size_t)got <= bs,
			      "read %s at %zu: %zd %s", path, *len, got, err);
		*len += (size_t)got;
	} while ((size_t)got == bs);
	return out;
}

/* Read server file rel ("ds/PATH") through the module in reads of bs, and
 * assert the bytes are the server's. */
static void read_back(void *st, const char *rel, const char *ver, size_t bs)
{
	size_t have, want_len;
	unsigned char *want = server_file(rel, &want_len);
	unsigned char *got = module_file(st, rel + 3, ver, bs, &have);

	ck_assert_msg(have == want_len, "%s: %zu bytes, the server has %zu",
		      rel, have, want_len);
	ck_assert_msg(memcmp(got, want, have) == 0, "%s: the bytes differ",
		      rel);
	free(got);
	free(want);
}

/* A whole listing, and how many calls it took. */
typedef struct listing {
	sb_dirent_t *e;
	size_t n;
	int calls;
} listing_t;

/* List dir in calls of at most max entries, following the cursors to the
 * end, into *l (free l->e). */
static void list_dir(void *st, const char *dir, size_t max, listing_t *l)
{
	char cur[SB_CURSOR_MAX + 1] = "", err[SB_ERR_MAX];

	memset(l, 0, sizeof(*l));
	for (;;) {
		char next[SB_CURSOR_MAX + 1];
		size_t got = 0;
		int rc;

		l->e = realloc(l->e, (l->n + max) * sizeof(*l->e));
		rc = g.ops->list(st, dir, cur, l->e + l->n, max, &got, next,
				 err, sizeof(err));
		ck_assert_msg(rc == 0 && got <= max, "list '%s' (%s): %d %s",
			      dir, cur, rc, err);
		l->n += got;
		ck_assert_msg(++l->calls < 5000, "the listing never ends");
		if (!next[0])
			break;
		memcpy(cur, next, sizeof(cur));
	}
}

/* The names of the server's directory rel, sorted with cmp. */
static char **server_names(const char *rel, size_t *n)
{
	char path[PATH_MAX];
	DIR *d;
	struct dirent *de;
	char **v = NULL;

	th_xsnprintf(path, sizeof(path), "%s/%s", g.root, rel);
	d = opendir(path);
	ck_assert_ptr_nonnull(d);
	*n = 0;
	while ((de = readdir(d))) {
		/* The mount shows no symlinks, and no "." or "..". */
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    de->d_type == DT_LNK)
			continue;
		v = realloc(v, (*n + 1) * sizeof(*v));
		v[(*n)++] = strdup(de->d_name);
	}
	closedir(d);
	return v;
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* HDFS's order: bytes as signed values. */
static int signed_cmp(const char *a, const char *b)
{
	for (; *a && *a == *b; a++, b++)
		continue;
	return (signed char)*a - (signed char)*b;
}

static int signed_cmp_p(const void *a, const void *b)
{
	return signed_cmp(*(char *const *)a, *(char *const *)b);
}

/* The module's listing of dir (in calls of max) is exactly the server's
 * directory in HDFS's order, and each entry agrees with a stat. */
static void expect_listing(void *st, const char *dir, size_t max)
{
	char rel[PATH_MAX], path[PATH_MAX], err[SB_ERR_MAX];
	listing_t l;
	size_t want;
	char **names;

	list_dir(st, dir, max, &l);
	th_xsnprintf(rel, sizeof(rel), "ds%s%s", *dir ? "/" : "", dir);
	names = server_names(rel, &want);
	qsort(names, want, sizeof(*names), signed_cmp_p);
	ck_assert_msg(l.n == want, "'%s': %zu entries, the server has %zu", dir,
		      l.n, want);
	for (size_t i = 0; i < want; i++) {
		const sb_dirent_t *d = &l.e[i];
		sb_stat_t s;

		ck_assert_msg(strcmp(d->name, names[i]) == 0,
			      "'%s': entry %zu is '%s', not '%s'", dir, i,
			      d->name, names[i]);
		th_xsnprintf(path, sizeof(path), "%s%s%s", dir, *dir ? "/" : "",
			     d->name);
		ck_assert_int_eq(g.ops->stat(st, path, &s, err, sizeof(err)),
				 0);
		ck_assert_msg(d->st.type == s.type && d->st.size == s.size &&
				      strcmp(d->st.version, s.version) == 0 &&
				      d->st.mode == s.mode,
			      "'%s': the listing and stat disagree", path);
		ck_assert_uint_eq(s.mode, s.type == SB_TYPE_DIR ? 0555 : 0444);
	}
	free_names(names, want);
	free(l.e);
}

/* l is many/: f0000.bin .. f1199.bin, of i % 97 bytes. */
static void expect_many(const listing_t *l)
{
	char want[32];

	ck_assert_uint_eq(l->n, N_MANY);
	for (int i = 0; i < N_MANY; i++) {
		th_xsnprintf(want, sizeof(want), "f%04d.bin", i);
		ck_assert_str_eq(l->e[i].name, want);
		ck_assert_uint_eq(l->e[i].st.size, (uint64_t)(i % 97));
	}
}

static void make_tree(void)
{
	char name[128];

	put("ds/nested/a/b/deep.bin", 10000, 1);
	put("ds/nested/a/top.bin", 3000, 2);
	put("ds/nested/c.txt", 77, 3);
	put("ds/empty.bin", 0, 4);
	put("ds/big.bin", BIG_SIZE, 5);
	for (int i = 0; i < 4; i++) {
		th_xsnprintf(name, sizeof(name), "ds/mutable%d.bin", i);
		put(name, 2 * BLOCK, 10 + (uint32_t)i);
	}
	for (size_t i = 0; i < SL_ARRAY_SIZE(odd_names); i++) {
		th_xsnprintf(name, sizeof(name), "ds/odd/%s", odd_names[i]);
		put(name, 1000 + i, 100 + (uint32_t)i);
	}
	for (size_t i = 0; i < SL_ARRAY_SIZE(edge_sizes); i++) {
		th_xsnprintf(name, sizeof(name), "ds/sizes/s%zu.bin",
			     edge_sizes[i]);
		put(name, edge_sizes[i], 200 + (uint32_t)i);
	}
	for (int i = 0; i < N_MANY; i++) {
		th_xsnprintf(name, sizeof(name), "ds/many/f%04d.bin", i);
		put(name, (size_t)(i % 97), 1000 + (uint32_t)i);
	}
	/* HDFS's order puts UTF-8 (negative bytes) before ASCII. */
	for (const char *const *s =
		     (const char *const[]){"a", "Z", "\xc3\xa9", "\xc3\xbc",
					   "~", "0", "aa", NULL};
	     *s; s++) {
		th_xsnprintf(name, sizeof(name), "ds/order/%s", *s);
		put(name, 5, 300);
	}
	th_xsnprintf(name, sizeof(name), "%s/ds/nested/link", g.root);
	SL_ASSERT(symlink("c.txt", name) == 0);
	put("ttl/file.bin", 3 * BLOCK + 11, 400);
	put("ttl/victim.bin", 2 * BLOCK, 402); /* read by one test only */
}

/* ---- tests: metadata ------------------------------------------------- */

START_TEST(test_stat)
{
	void *st = ds_open(NULL);
	char err[SB_ERR_MAX], path[PATH_MAX], want[64];
	struct stat ls;
	sb_stat_t s;
	long reqs;
	int rc;

	rc = g.ops->stat(st, "nested/c.txt", &s, err, sizeof(err));
	ck_assert_msg(rc == 0, "stat: %d %s", rc, err);
	th_xsnprintf(path, sizeof(path), "%s/ds/nested/c.txt", g.root);
	ck_assert_int_eq(stat(path, &ls), 0);
	ck_assert_int_eq(s.type, SB_TYPE_FILE);
	ck_assert_uint_eq(s.size, 77);
	ck_assert_uint_eq(s.mode, 0444);
	ck_assert_int_eq(s.mtime_ns / 1000000,
			 ls.st_mtim.tv_sec * 1000LL +
				 ls.st_mtim.tv_nsec / 1000000);
	/* The version: modificationTime, length and fileId. */
	th_xsnprintf(want, sizeof(want), "m%lld-l77-i%llu",
		     (long long)(s.mtime_ns / 1000000),
		     (unsigned long long)ls.st_ino + 16384);
	ck_assert_str_eq(s.version, want);
	for (const char *const *d =
		     (const char *const[]){"", "nested", "nested/a", NULL};
	     *d; d++) {
		rc = g.ops->stat(st, *d, &s, err, sizeof(err));
		ck_assert_msg(rc == 0, "stat '%s': %d %s", *d, rc, err);
		ck_assert_int_eq(s.type, SB_TYPE_DIR);
		ck_assert_uint_eq(s.mode, 0555);
		ck_assert_str_eq(s.version, "");
	}
	rc = g.ops->stat(st, "nested/nope", &s, err, sizeof(err));
	ck_assert_int_eq(rc, -ENOENT);
	ck_assert_msg(strstr(err, "FileNotFoundException") &&
			      strstr(err, "/ds/nested/nope"),
		      "message: %s", err);
	/* Refused before any request: escapes and control bytes. */
	reqs = fx_count(&g.nn1, "requests");
	for (const char *const *p =
		     (const char *const[]){
			     "../x", "nested//c.txt", "nested/./c.txt",
			     "a\r\nb", "tab\there", "nul\x7f", "/abs", NULL};
	     *p; p++) {
		rc = g.ops->stat(st, *p, &s, err, sizeof(err));
		ck_assert_msg(rc == -EINVAL, "stat '%s': %d %s", *p, rc, err);
	}
	ck_assert_int_eq(fx_count(&g.nn1, "requests"), reqs);
	g.ops->close(st);
}
END_TEST

START_TEST(test_list_nested)
{
	void *st = ds_open(NULL);
	char err[SB_ERR_MAX], next[SB_CURSOR_MAX + 1];
	sb_dirent_t e[4];
	size_t n;

	expect_listing(st, "", 64);
	expect_listing(st, "nested", 64);
	expect_listing(st, "nested/a", 1);
	expect_listing(st, "sizes", 3);
	ck_assert_int_eq(g.ops->list(st, "nested/c.txt", "", e, 4, &n, next,
				     err, sizeof(err)),
			 -ENOTDIR);
	ck_assert_int_eq(
		g.ops->list(st, "nope", "", e, 4, &n, next, err, sizeof(err)),
		-ENOENT);
	for (const char *const *c =
		     (const char *const[]){"garbage", "1:", "1:a/b", "1:..",
					   "1:x\ny", "2:x", NULL};
	     *c; c++)
		ck_assert_int_eq(g.ops->list(st, "", *c, e, 4, &n, next, err,
					     sizeof(err)),
				 -EINVAL);
	g.ops->close(st);
}
END_TEST

START_TEST(test_list_paging)
{
	void *st = ds_open(NULL);
	static const size_t sizes[] = {100, 333, 512, 5000};
	const char *order[] = {"\xc3\xa9", "\xc3\xbc", "0", "Z",
			       "a",	   "aa",       "~"};
	listing_t l;

	for (size_t k = 0; k < SL_ARRAY_SIZE(sizes); k++) {
		long pages0 = fx_count(&g.nn1, "op_LISTSTATUS_BATCH");

		list_dir(st, "many", sizes[k], &l);
		expect_many(&l);
		ck_assert_int_eq(l.calls, (N_MANY + sizes[k] - 1) / sizes[k]);
		/* Server pages of LS_LIMIT, each asked for once when the
		 * caller's pages are whole multiples of it. */
		if (sizes[k] % LS_LIMIT == 0 || sizes[k] > N_MANY)
			ck_assert_int_eq(
				fx_count(&g.nn1, "op_LISTSTATUS_BATCH") -
					pages0,
				N_MANY / LS_LIMIT);
		free(l.e);
	}
	/* HDFS's order through pages of one: UTF-8 first. */
	list_dir(st, "order", 1, &l);
	ck_assert_uint_eq(l.n, SL_ARRAY_SIZE(order));
	for (size_t i = 0; i < l.n; i++)
		ck_assert_str_eq(l.e[i].name, order[i]);
	free(l.e);
	g.ops->close(st);
}
END_TEST

START_TEST(test_list_fallback)
{
	listing_t l;
	void *st;

	/* Hadoop before 2.8: no LISTSTATUS_BATCH. */
	fx_all_reset();
	fx_ctl(&g.nn1, "state?batch=0");
	st = ds_open(NULL);
	list_dir(st, "many", 500, &l);
	expect_many(&l);
	ck_assert_int_eq(l.calls, 3);
	free(l.e);
	/* Asked once, then never again for this dataset. */
	ck_assert_int_eq(fx_count(&g.nn1, "op_LISTSTATUS_BATCH"), 1);
	ck_assert_int_eq(fx_count(&g.nn1, "op_LISTSTATUS"), 3);
	expect_listing(st, "order", 2);
	g.ops->close(st);
	fx_all_reset();
}
END_TEST

START_TEST(test_odd_names)
{
	void *st = ds_open(NULL);
	char path[PATH_MAX], rel[PATH_MAX], err[SB_ERR_MAX];

	for (size_t i = 0; i < SL_ARRAY_SIZE(odd_names); i++) {
		sb_stat_t s;
		int rc;

		th_xsnprintf(path, sizeof(path), "odd/%s", odd_names[i]);
		th_xsnprintf(rel, sizeof(rel), "ds/%s", path);
		rc = g.ops->stat(st, path, &s, err, sizeof(err));
		ck_assert_msg(rc == 0, "stat '%s': %d %s", path, rc, err);
		ck_assert_uint_eq(s.size, 1000 + i);
		read_back(st, rel, s.version, 333);
	}
	expect_listing(st, "odd", 4);
	g.ops->close(st);
}
END_TEST

/* ---- tests: reads ---------------------------------------------------- */

START_TEST(test_read_ranges)
{
	void *st = ds_open(NULL);
	char err[SB_ERR_MAX], rel[64], buf[4096];
	sb_stat_t s;
	long opens;
	ssize_t n;

	ck_assert_int_eq(g.ops->stat(st, "big.bin", &s, err, sizeof(err)), 0);
	ck_assert_uint_eq(s.size, BIG_SIZE);
	read_back(st, "ds/big.bin", s.version, BLOCK);
	read_back(st, "ds/big.bin", s.version, 1u << 20);
	read_back(st, "ds/big.bin", NULL, 3u << 20); /* no version */
	for (size_t i = 0; i < SL_ARRAY_SIZE(edge_sizes); i++) {
		th_xsnprintf(rel, sizeof(rel), "sizes/s%zu.bin", edge_sizes[i]);
		ck_assert_int_eq(g.ops->stat(st, rel, &s, err, sizeof(err)), 0);
		ck_assert_uint_eq(s.size, edge_sizes[i]);
		th_xsnprintf(rel, sizeof(rel), "ds/sizes/s%zu.bin",
			     edge_sizes[i]);
		read_back(st, rel, s.version, BLOCK);
	}
	/* At and past the end, and the empty file: no request at all. */
	ck_assert_int_eq(g.ops->stat(st, "big.bin", &s, err, sizeof(err)), 0);
	opens = fx_count(&g.nn1, "op_OPEN");
	n = g.ops->read(st, "big.bin", s.version, BIG_SIZE, buf, sizeof(buf),
			err, sizeof(err));
	ck_assert_msg(n == 0, "read at the end: %zd %s", n, err);
	n = g.ops->read(st, "big.bin", s.version, BIG_SIZE + 5000, buf,
			sizeof(buf), err, sizeof(err));
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(g.ops->stat(st, "empty.bin", &s, err, sizeof(err)), 0);
	n = g.ops->read(st, "empty.bin", s.version, 0, buf, sizeof(buf), err,
			sizeof(err));
	ck_assert_int_eq(n, 0);
	ck_assert_int_eq(fx_count(&g.nn1, "op_OPEN"), opens);
	/* Versions that are not the file's, or not versions at all. */
	n = g.ops->read(st, "big.bin", "m1-l5242995-i3", 0, buf, sizeof(buf),
			err, sizeof(err));
	ck_assert_msg(n == -ESTALE && strstr(err, "changed"), "read: %zd %s", n,
		      err);
	n = g.ops->read(st, "big.bin", "\"etag\"\n", 0, buf, sizeof(buf), err,
			sizeof(err));
	ck_assert_int_eq(n, -ESTALE);
	ck_assert_msg(!strchr(err, '\n'), "a raw newline in: %s", err);
	n = g.ops->read(st, "nested/none.bin", NULL, 0, buf, sizeof(buf), err,
			sizeof(err));
	ck_assert_int_eq(n, -ENOENT);
	n = g.ops->read(st, "nested", NULL, 0, buf, sizeof(buf), err,
			sizeof(err));
	ck_assert_int_eq(n, -EISDIR);
	n = g.ops->read(st, "", NULL, 0, buf, sizeof(buf), err, sizeof(err));
	ck_assert_int_eq(n, -EISDIR);
	g.ops->close(st);
}
END_TEST

/*
 * rel is replaced on the server between a stat and a read (new inode, so
 * a new fileId; same size; same mtime when keep_mtime): the read of the
 * old version must be -ESTALE, never new bytes under the old version,
 * and a fresh stat finds a new version with the new bytes.
 */
static void rewrite_between(void *st, const char *path, int keep_mtime,
			    size_t new_size, uint32_t seed)
{
	char err[SB_ERR_MAX], rel[64];
	unsigned char *buf = malloc(BLOCK), *old, *want;
	sb_stat_t s1, s2;
	size_t len;
	ssize_t n;

	th_xsnprintf(rel, sizeof(rel), "ds/%s", path);
	old = server_file(rel, &len);
	ck_assert_int_eq(g.ops->stat(st, path, &s1, err, sizeof(err)), 0);
	n = g.ops->read(st, path, s1.version, 0, buf, BLOCK, err, sizeof(err));
	ck_assert_int_eq(n, BLOCK);
	ck_assert(memcmp(buf, old, BLOCK) == 0);
	rewrite(rel, new_size, seed,
		keep_mtime ? (time_t)(s1.mtime_ns / 1000000000) : 0);
	n = g.ops->read(st, path, s1.version, BLOCK, buf, BLOCK, err,
			sizeof(err));
	ck_assert_msg(n == -ESTALE && strstr(err, "changed"),
		      "read of a rewritten file: %zd %s", n, err);
	ck_assert_int_eq(g.ops->stat(st, path, &s2, err, sizeof(err)), 0);
	ck_assert_str_ne(s1.version, s2.version);
	want = server_file(rel, &len);
	ck_assert_uint_eq(len, new_size);
	read_back(st, rel, s2.version, BLOCK);
	free(want);
	free(old);
	free(buf);
}

START_TEST(test_rewrite_stale)
{
	const char *noverify[] = {"verify_reads", "no", NULL};
	void *st = ds_open(NULL);

	/* Only the fileId tells: same size, same mtime (to the second). */
	rewrite_between(st, "mutable0.bin", 1, 2 * BLOCK, 77);
	/* A new mtime. */
	rewrite_between(st, "mutable1.bin", 0, 2 * BLOCK, 78);
	g.ops->close(st);
	/* Without the check after each read, a shorter file still cannot
	 * pass: the datanode's short reply is checked. */
	st = ds_open(noverify);
	rewrite_between(st, "mutable2.bin", 0, BLOCK + 100, 79);
	g.ops->close(st);
}
END_TEST

/* ---- tests: errors --------------------------------------------------- */

START_TEST(test_remote_errors)
{
	const char *mallory[] = {"user", "mallory", NULL};
	const char *few[] = {"retries", "2", "retry_base", "50ms", NULL};
	char err[SB_ERR_MAX], uri[128], buf[64];
	void *st;
	sb_stat_t s;
	uint64_t t0;
	int rc;

	/* The wrong user: AccessControlException, final at once. */
	fx_all_reset();
	th_xsnprintf(uri, sizeof(uri), "webhdfs://127.0.0.1:%d/ds", g.nn1.port);
	ck_assert_int_eq(ds_try(&st, err, uri, mallory, NULL), 0);
	t0 = sl_now_ms();
	rc = g.ops->stat(st, "nested/c.txt", &s, err, sizeof(err));
	ck_assert_msg(rc == -EACCES && strstr(err, "AccessControlException") &&
			      strstr(err, "user=mallory"),
		      "stat: %d %s", rc, err);
	rc = (int)g.ops->read(st, "nested/c.txt", "m1-l77", 0, buf, sizeof(buf),
			      err, sizeof(err));
	ck_assert_int_eq(rc, -EACCES);
	/* One request each: refusals are not retried. */
	ck_assert_int_eq(fx_count(&g.nn1, "access_denied"), 2);
	ck_assert_uint_lt(sl_now_ms() - t0, 3000);
	g.ops->close(st);

	st = ds_open(few);
	/* 500s are retried. */
	fx_ctl(&g.nn1, "fault?kind=status&status=500&exception="
		       "RuntimeException&count=2");
	ck_assert_int_eq(g.ops->stat(st, "nested/c.txt", &s, err, sizeof(err)),
			 0);
	ck_assert_int_eq(fx_count(&g.nn1, "faults"), 2);
	/* Until they are too many: -EIO naming the cause and the count. */
	fx_ctl(&g.nn1, "fault?kind=status&status=503&exception="
		       "RetriableException&message=safe+mode&count=100");
	t0 = sl_now_ms();
	rc = g.ops->stat(st, "nested/c.txt", &s, err, sizeof(err));
	ck_assert_msg(rc == -EIO &&
			      strstr(err, "RetriableException: safe mode") &&
			      strstr(err, "gave up after 3 attempts"),
		      "stat: %d %s", rc, err);
	/* Back-off: at least 25 + 50 ms. */
	ck_assert_uint_ge(sl_now_ms() - t0, 75);
	fx_ctl(&g.nn1, "reset");
	/* Other exceptions: -EIO with the server's message, no retry. */
	fx_ctl(&g.nn1, "fault?kind=status&status=403&exception=IOException&"
		       "message=disk+on+fire&count=5");
	rc = g.ops->stat(st, "nested/c.txt", &s, err, sizeof(err));
	ck_assert_msg(rc == -EIO && strstr(err, "IOException: disk on fire"),
		      "stat: %d %s", rc, err);
	ck_assert_int_eq(fx_count(&g.nn1, "faults"), 1);
	fx_ctl(&g.nn1, "reset");
	fx_ctl(&g.nn1,
	       "fault?kind=status&status=401&exception="
	       "SecurityException&message=Failed+to+obtain+user&count=1");
	rc = g.ops->stat(st, "nested/c.txt", &s, err, sizeof(err));
	ck_assert_msg(rc == -EACCES && strstr(err, "SecurityException"),
		      "stat: %d %s", rc, err);
	/* A body that a proxy might send: 502 without a RemoteException,
	 * retried like any 5xx. */
	fx_ctl(&g.nn1, "fault?kind=errorbody&count=1");
	ck_assert_int_eq(g.ops->stat(st, "nested/c.txt", &s, err, sizeof(err)),
			 0);
	g.ops->close(st);
	fx_all_reset();
}
END_TEST

/* The call fails with -EIO and a message holding why. */
static void expect_eio(int rc, const char *err, const char *why)
{
	ck_assert_msg(rc == -EIO, "%d (%s), expected -EIO with '%s'", rc, err,
		      why);
	ck_assert_msg(strstr(err, why), "message '%s' lacks '%s'", err, why);
}

START_TEST(test_hostile_bodies)
{
	static const struct {
		const char *body, *why;
	} stat_cases[] = {
		{"garbage", "not JSON"},
		{"array", "not a JSON object"},
		{"empty", "not JSON"},
		{"wrongtype", "FileStatus is not an object"},
		{"negative", "no valid length"},
		{"float", "no valid length"},
		{"bigint", "not JSON"},
		{"badtype", "type 'BLOCKDEVICE'"},
		{"badperm", "no valid permission"},
		{"nofield", "no valid modificationTime"},
		{"truncated", "not JSON"},
		{"dupkey", "not JSON"},
		{"huge", "over 65536 bytes"},
		{"deep", "not JSON"},
	};
	static const struct {
		const char *body, *why;
	} list_cases[] = {
		{"unsorted", "out of order"},
		{"ignorestart", "out of order"},
		{"emptymore", "an empty page, yet 5 entries remain"},
		{"noremaining", "no valid remainingEntries"},
		{"huge", "a reply over 4194304 bytes"},
		{"wrongtype", "DirectoryListing is of another type"},
	};
	void *st = ds_open(NULL);
	char err[SB_ERR_MAX], q[128], next[SB_CURSOR_MAX + 1];
	sb_dirent_t e[64];
	sb_stat_t s;
	size_t n;
	int rc;

	for (size_t i = 0; i < SL_ARRAY_SIZE(stat_cases); i++) {
		th_xsnprintf(q, sizeof(q),
			     "fault?kind=body&op=GETFILESTATUS&body=%s",
			     stat_cases[i].body);
		fx_ctl(&g.nn1, q);
		rc = g.ops->stat(st, "nested/c.txt", &s, err, sizeof(err));
		expect_eio(rc, err, stat_cases[i].why);
	}
	for (size_t i = 0; i < SL_ARRAY_SIZE(list_cases); i++) {
		th_xsnprintf(q, sizeof(q),
			     "fault?kind=body&op=LISTSTATUS_BATCH&body=%s",
			     list_cases[i].body);
		fx_ctl(&g.nn1, q);
		/* From the middle, so that startAfter is in play. */
		rc = g.ops->list(st, "many", "1:f0100.bin", e, 64, &n, next,
				 err, sizeof(err));
		expect_eio(rc, err, list_cases[i].why);
		ck_assert_uint_eq(n, 0);
	}
	/* Names the mount cannot hold are left out, and so are symlinks;
	 * the good ones stay. */
	fx_ctl(&g.nn1, "fault?kind=body&op=LISTSTATUS_BATCH&body=badnames");
	rc = g.ops->list(st, "nested", "", e, 64, &n, next, err, sizeof(err));
	ck_assert_msg(rc == 0, "list: %d %s", rc, err);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(e[0].name, "a");
	ck_assert_str_eq(e[1].name, "c.txt");
	/* The real listing has the symlink; it is not shown either. */
	rc = g.ops->list(st, "nested", "", e, 64, &n, next, err, sizeof(err));
	ck_assert_uint_eq(n, 2);
	g.ops->close(st);
	fx_all_reset();
}
END_TEST

START_TEST(test_hostile_redirects)
{
	static const struct {
		const char *redirect, *why;
	} cases[] = {
		{"file", "'file:///etc/passwd', not an http(s):// URL"},
		{"ftp", "not an http(s):// URL"},
		{"relative", "not an http(s):// URL"},
		{"none", "a redirect without a Location"},
		{"long", "a redirect to a URL of over 8192 bytes"},
	};
	static const struct {
		const char *fault, *why;
	} dn_cases[] = {
		/* A datanode that redirects to itself, forever. */
		{"fault?kind=redirect&count=50", "more than 4 redirects"},
		/* Lengths that disagree with the bytes: more than asked... */
		{"fault?kind=long&count=10",
		 "sent more than the 262144 bytes asked for"},
		/* ...and half, with a Content-Length that says so, of a file
		 * that did not change. */
		{"fault?kind=lie&count=10",
		 "the datanode sent 131072 of the 262144 bytes"},
	};
	const char *quick[] = {"retries", "1", NULL};
	void *st = ds_open(quick);
	char err[SB_ERR_MAX], q[128], ver[SB_VERSION_MAX + 1];
	unsigned char *buf = malloc(BLOCK), *want;
	size_t len;
	sb_stat_t s;
	ssize_t n;

	want = server_file("ds/big.bin", &len);
	ck_assert_int_eq(g.ops->stat(st, "big.bin", &s, err, sizeof(err)), 0);
	th_xsnprintf(ver, sizeof(ver), "%s", s.version);
	for (size_t i = 0; i < SL_ARRAY_SIZE(cases); i++) {
		th_xsnprintf(q, sizeof(q),
			     "fault?kind=redirect&op=OPEN&redirect=%s",
			     cases[i].redirect);
		fx_ctl(&g.nn1, q);
		n = g.ops->read(st, "big.bin", ver, 0, buf, BLOCK, err,
				sizeof(err));
		expect_eio((int)n, err, cases[i].why);
	}
	/* Endless redirects: the namenode to itself. */
	fx_ctl(&g.nn1, "fault?kind=redirect&op=OPEN&redirect=loop&count=50");
	n = g.ops->read(st, "big.bin", ver, 0, buf, BLOCK, err, sizeof(err));
	expect_eio((int)n, err, "more than 4 redirects");
	fx_ctl(&g.nn1, "reset");
	for (size_t i = 0; i < SL_ARRAY_SIZE(dn_cases); i++) {
		/* Both datanodes misbehave alike, whichever is chosen. */
		fx_ctl(&g.dn1, dn_cases[i].fault);
		fx_ctl(&g.dn2, dn_cases[i].fault);
		n = g.ops->read(st, "big.bin", ver, 0, buf, BLOCK, err,
				sizeof(err));
		expect_eio((int)n, err, dn_cases[i].why);
		fx_ctl(&g.dn1, "reset");
		fx_ctl(&g.dn2, "reset");
	}
	/* Half of a promised Content-Length, then the connection closes: a
	 * datanode dying, retried through a fresh OPEN, which the namenode
	 * sends to the other datanode. */
	fx_ctl(&g.nn1, "reset");
	fx_ctl(&g.nn1, "datanodes?next=0");
	fx_ctl(&g.dn1, "fault?kind=short&count=1");
	n = g.ops->read(st, "big.bin", ver, BLOCK, buf, BLOCK, err,
			sizeof(err));
	ck_assert_msg(n == BLOCK, "read: %zd %s", n, err);
	ck_assert(memcmp(buf, want + BLOCK, BLOCK) == 0);
	ck_assert_int_eq(
		fx_count(&g.dn1, "faults") + fx_count(&g.dn2, "faults"), 1);
	ck_assert_int_eq(fx_count(&g.nn1, "op_OPEN"), 2);
	free(want);
	free(buf);
	g.ops->close(st);
	fx_all_reset();
}
END_TEST

/* ---- tests: authentication ------------------------------------------- */

START_TEST(test_simple_auth)
{
	void *st = ds_open(NULL);

	fx_all_reset();
	read_back(st, "ds/nested/a/top.bin", NULL, 1000);
	/* user.name reached the namenode from us, and the datanode from the
	 * namenode's redirect, which we followed as it was: nothing added,
	 * no Authorization header anywhere. */
	ck_assert_int_gt(fx_count(&g.nn1, "users.alice"), 0);
	ck_assert_int_eq(fx_count(&g.nn1, "users.dr.who"), 0);
	ck_assert_int_gt(fx_count(&g.dn1, "users.alice") +
				 fx_count(&g.dn2, "users.alice"),
			 0);
	ck_assert_int_eq(fx_count(&g.nn1, "dup_params"), 0);
	ck_assert_int_eq(fx_count(&g.dn1, "dup_params") +
				 fx_count(&g.dn2, "dup_params"),
			 0);
	ck_assert_int_eq(fx_count(&g.nn1, "auth_headers") +
				 fx_count(&g.dn1, "auth_headers") +
				 fx_count(&g.dn2, "auth_headers"),
			 0);
	g.ops->close(st);
}
END_TEST

/* A dataset on the secure namenode with the key, value pairs of kv. */
static int secure_open(void **st, char *err, const char *const *kv)
{
	char uri[128];

	th_xsnprintf(uri, sizeof(uri), "webhdfs://127.0.0.1:%d/ds", g.nns.port);
	return ds_try(st, err, uri, kv, NULL);
}

START_TEST(test_delegation_token)
{
	const char *good[] = {"delegation_token_file", g.token_file, NULL};
	const char *bad[] = {"delegation_token_file", g.wrong_token_file, NULL};
	char err[SB_ERR_MAX], next[SB_CURSOR_MAX + 1], buf[16];
	sb_dirent_t e[8];
	sb_stat_t s;
	size_t n;
	void *st;
	int rc;

	ck_assert_int_eq(secure_open(&st, err, good), 0);
	read_back(st, "ds/big.bin", NULL, 1u << 20);
	ck_assert_int_eq(
		g.ops->list(st, "nested", "", e, 8, &n, next, err, sizeof(err)),
		0);
	ck_assert_uint_eq(n, 2);
	/* The datanode got the token from the namenode's Location, once
	 * per request: we added none. */
	ck_assert_int_gt(fx_count(&g.dns, "tokens_seen"), 0);
	ck_assert_int_eq(fx_count(&g.dns, "tokens_seen"),
			 fx_count(&g.dns, "requests"));
	ck_assert_int_eq(fx_count(&g.dns, "dup_params"), 0);
	ck_assert_int_eq(fx_count(&g.nns, "bad_tokens"), 0);
	/* A server that quotes the token back: it never leaves the
	 * module. */
	fx_ctl(&g.nns, "fault?kind=status&status=403&exception=IOException&"
		       "message=bad+token+" TOKEN "+here&count=1");
	rc = g.ops->stat(st, "nested/c.txt", &s, err, sizeof(err));
	ck_assert_msg(rc == -EIO && strstr(err, "bad token") &&
			      !strstr(err, TOKEN) && !strstr(err, "0123456789"),
		      "stat: %d %s", rc, err);
	g.ops->close(st);

	ck_assert_int_eq(secure_open(&st, err, bad), 0);
	rc = g.ops->stat(st, "nested/c.txt", &s, err, sizeof(err));
	ck_assert_msg(rc == -EACCES && strstr(err, "InvalidToken") &&
			      !strstr(err, WRONG_TOKEN),
		      "stat: %d %s", rc, err);
	rc = (int)g.ops->read(st, "nested/c.txt", NULL, 0, buf, sizeof(buf),
			      err, sizeof(err));
	ck_assert_int_eq(rc, -EACCES);
	g.ops->close(st);
	fx_all_reset();
}
END_TEST

START_TEST(test_kerberos)
{
	const char *krb[] = {"kerberos", "yes", NULL};
	const char *none[] = {NULL};
	char err[SB_ERR_MAX];
	uint64_t t0;
	sb_stat_t s;
	void *st;
	int rc;

	/* No KDC here: the key is taken, SPNEGO is offered, and the refusal
	 * of a secure namenode says what to do. */
	fx_all_reset();
	ck_assert_int_eq(secure_open(&st, err, krb), 0);
	t0 = sl_now_ms();
	rc = g.ops->stat(st, "nested/c.txt", &s, err, sizeof(err));
	ck_assert_msg(rc == -EACCES && strstr(err, "401") &&
			      strstr(err, "kinit"),
		      "stat: %d %s", rc, err);
	ck_assert_uint_lt(sl_now_ms() - t0, 3000);
	ck_assert_int_eq(fx_count(&g.nns, "unauthenticated"), 1);
	g.ops->close(st);
	/* Nothing at all: the same 401, without the hint. */
	ck_assert_int_eq(secure_open(&st, err, none), 0);
	rc = g.ops->stat(st, "nested/c.txt", &s, err, sizeof(err));
	ck_assert_msg(rc == -EACCES && strstr(err, "401") &&
			      !strstr(err, "kinit"),
		      "stat: %d %s", rc, err);
	g.ops->close(st);
	ck_assert_int_eq(fx_count(&g.nns, "unauthenticated"), 2);
	fx_all_reset();
}
END_TEST

/* ---- tests: failures ------------------------------------------------- */

/* A dataset on the HA pair, nn2 (standby) listed first. */
static void *ha_open(const char *const *more)
{
	char nns[128], err[SB_ERR_MAX];
	const char *kv[] = {"namenodes",  nns,	     "user",
			    "alice",	  "timeout", "10s",
			    "retry_base", "20ms",    NULL};
	void *st;

	th_xsnprintf(nns, sizeof(nns), "127.0.0.1:%d, 127.0.0.1:%d", g.nn2.port,
		     g.nn1.port);
	ck_assert_int_eq(ds_try(&st, err, "webhdfs://hdfs-ha/ds", kv, more), 0);
	return st;
}

START_TEST(test_standby_failover)
{
	const char *few[] = {"retries", "2", NULL};
	char err[SB_ERR_MAX];
	sb_stat_t s;
	void *st = ha_open(NULL);
	int rc;

	fx_all_reset();
	/* nn2 is standby: the first call goes on to nn1... */
	ck_assert_int_eq(g.ops->stat(st, "nested/c.txt", &s, err, sizeof(err)),
			 0);
	ck_assert_int_eq(fx_count(&g.nn2, "standby_refusals"), 1);
	/* ...and the next ones straight to nn1. */
	read_back(st, "ds/nested/a/top.bin", NULL, 1000);
	ck_assert_int_eq(g.ops->stat(st, "nested/c.txt", &s, err, sizeof(err)),
			 0);
	ck_assert_int_eq(fx_count(&g.nn2, "standby_refusals"), 1);
	/* A failover: nn1 standby, nn2 active. */
	fx_ctl(&g.nn1, "state?standby=1");
	fx_ctl(&g.nn2, "state?standby=0");
	read_back(st, "ds/nested/a/top.bin", NULL, 1000);
	ck_assert_int_eq(fx_count(&g.nn1, "standby_refusals"), 1);
	ck_assert_int_gt(fx_count(&g.nn2, "op_OPEN"), 0);
	g.ops->close(st);
	/* Both standby (a failover in progress that does not end): -EIO
	 * naming the cause, within the bound. */
	fx_ctl(&g.nn1, "reset");
	fx_ctl(&g.nn2, "reset");
	fx_ctl(&g.nn2, "state?standby=1");
	st = ha_open(few);
	rc = g.ops->stat(st, "nested/c.txt", &s, err, sizeof(err));
	ck_assert_msg(rc == -EIO && strstr(err, "StandbyException") &&
			      strstr(err, "gave up after 3 attempts"),
		      "stat: %d %s", rc, err);
	ck_assert_int_eq(fx_count(&g.nn1, "standby_refusals") +
				 fx_count(&g.nn2, "standby_refusals"),
			 6);
	g.ops->close(st);
	fx_all_reset();
}
END_TEST

typedef struct reading {
	void *st;
	const char *path, *version;
	uint64_t offset;
	size_t len;
	unsigned char *buf;
	ssize_t n;
	char err[SB_ERR_MAX];
} reading_t;

static void *reading_main(void *arg)
{
	reading_t *r = arg;

	r->n = g.ops->read(r->st, r->path, r->version, r->offset, r->buf,
			   r->len, r->err, sizeof(r->err));
	return NULL;
}

/* Wait up to ms for path to exist: 0 or -1. */
static int wait_file(const char *path, int ms)
{
	for (int t = 0; t < ms / 10; t++) {
		if (access(path, F_OK) == 0)
			return 0;
		usleep(10000);
	}
	return -1;
}

/*
 * dn3 starts, in this test's process, on the port the namenodes were
 * told at start, and becomes their next choice; its next OPEN sends
 * `after` bytes, writes marker and hangs.  (Started here rather than in
 * main(), so that this process can kill and reap it.)
 */
static void dn3_arm(size_t after, const char *marker)
{
	char q[PATH_MAX + 64], listen[32];
	const char *extra[] = {"--listen", listen, NULL};

	th_xsnprintf(listen, sizeof(listen), "127.0.0.1:%d", g.dn3.port);
	ck_assert_int_eq(fx_start(&g.dn3, "datanode", extra), 0);
	unlink(marker);
	th_xsnprintf(q, sizeof(q), "stall?after=%zu&marker=%s", after, marker);
	fx_ctl(&g.dn3, q);
	fx_ctl(&g.nn1, "datanodes?live=0,1,2&next=2");
}

START_TEST(test_datanode_killed)
{
	char marker[PATH_MAX], err[SB_ERR_MAX];
	void *st = ds_open(NULL);
	reading_t r = {
		.st = st, .path = "big.bin", .offset = BLOCK, .len = 4u << 20};
	unsigned char *want;
	size_t len;
	pthread_t th;
	sb_stat_t s;

	want = server_file("ds/big.bin", &len);
	ck_assert_int_eq(g.ops->stat(st, "big.bin", &s, err, sizeof(err)), 0);
	r.version = s.version;
	r.buf = malloc(r.len);
	th_xsnprintf(marker, sizeof(marker), "%s/dn3.stalled", g.tmp);
	dn3_arm(300000, marker);
	pthread_create(&th, NULL, reading_main, &r);
	ck_assert_msg(wait_file(marker, 10000) == 0, "dn3 never stalled");
	/* Mid-read, after 300,000 of 4 MiB. */
	th_proc_kill(g.dn3.pid);
	g.dn3.pid = 0;
	pthread_join(th, NULL);
	ck_assert_msg(r.n == (ssize_t)r.len, "read: %zd %s", r.n, r.err);
	ck_assert(memcmp(r.buf, want + BLOCK, r.len) == 0);
	/* A fresh OPEN got the bytes from another datanode. */
	ck_assert_int_ge(fx_count(&g.nn1, "op_OPEN"), 2);
	free(r.buf);
	free(want);
	g.ops->close(st);
	fx_all_reset();
}
END_TEST

START_TEST(test_timeouts)
{
	const char *kv[] = {"timeout", "1500ms", "retries", "5", NULL};
	const char *hang[] = {"timeout", "3s", NULL};
	char uri[128], err[SB_ERR_MAX];
	int closed = th_free_port(), rc;
	uint64_t t0, dt;
	sb_stat_t s;
	void *st;

	/* A namenode that takes the request and never answers. */
	fx_all_reset();
	fx_ctl(&g.nn1, "fault?kind=hang&ms=30000&count=20");
	st = ds_open(kv);
	t0 = sl_now_ms();
	rc = g.ops->stat(st, "nested/c.txt", &s, err, sizeof(err));
	dt = sl_now_ms() - t0;
	expect_eio(rc, err, "namenode 127.0.0.1:");
	ck_assert_msg(dt >= 1000 && dt <= 3000, "took %llu ms",
		      (unsigned long long)dt);
	g.ops->close(st);
	fx_all_reset();
	/* One that refuses connections: retried, then -EIO. */
	th_xsnprintf(uri, sizeof(uri), "webhdfs://127.0.0.1:%d/ds", closed);
	ck_assert_int_eq(ds_try(&st, err, uri, kv, NULL), 0);
	t0 = sl_now_ms();
	rc = g.ops->stat(st, "nested/c.txt", &s, err, sizeof(err));
	expect_eio(rc, err, "gave up after");
	ck_assert_uint_le(sl_now_ms() - t0, 3000);
	g.ops->close(st);
	/* A datanode whose reply hangs is cut after a third of the timeout
	 * and the read retried. */
	st = ds_open(hang);
	fx_ctl(&g.nn1, "datanodes?next=0");
	fx_ctl(&g.dn1, "fault?kind=hang&ms=20000&count=1");
	t0 = sl_now_ms();
	read_back(st, "ds/nested/a/top.bin", NULL, 4096);
	ck_assert_uint_lt(sl_now_ms() - t0, 3000);
	g.ops->close(st);
	fx_all_reset();
}
END_TEST

/* ---- tests: concurrency ---------------------------------------------- */

/* Block reads of big.bin shared by many threads: each takes the next job
 * until none is left. */
typedef struct jobs {
	void *st;
	const char *version;
	const unsigned char *want;
	size_t nblocks, total;
	_Atomic size_t next;
	_Atomic int bad;
	char err[SB_ERR_MAX]; /* the first failure's */
} jobs_t;

static void *jobs_main(void *arg)
{
	jobs_t *j = arg;
	unsigned char *buf = malloc(BLOCK);
	char err[SB_ERR_MAX];

	for (size_t k = atomic_fetch_add(&j->next, 1); k < j->total;
	     k = atomic_fetch_add(&j->next, 1)) {
		/* Blocks in a scattered order, each one several times. */
		size_t b = (k * 7) % j->nblocks;
		size_t want = SL_MIN(BLOCK, BIG_SIZE - b * BLOCK);
		ssize_t n = g.ops->read(j->st, "big.bin", j->version, b * BLOCK,
					buf, BLOCK, err, sizeof(err));

		if (n != (ssize_t)want ||
		    memcmp(buf, j->want + b * BLOCK, want) != 0) {
			if (atomic_fetch_add(&j->bad, 1) == 0)
				th_xsnprintf(j->err, sizeof(j->err),
					     "block %zu: %zd %s", b, n, err);
		}
	}
	free(buf);
	return NULL;
}

START_TEST(test_concurrent_reads)
{
	const char *noverify[] = {"verify_reads", "no", NULL};
	jobs_t j = {.st = ds_open(noverify)};
	char err[SB_ERR_MAX];
	pthread_t th[16];
	size_t len;
	sb_stat_t s;
	long nn_conns, dn_conns;

	j.want = server_file("ds/big.bin", &len);
	j.nblocks = (BIG_SIZE + BLOCK - 1) / BLOCK;
	j.total = 16 * j.nblocks;
	ck_assert_int_eq(g.ops->stat(j.st, "big.bin", &s, err, sizeof(err)), 0);
	j.version = s.version;
	fx_all_reset();
	fx_ctl(&g.dn1, "state?delay=30");
	fx_ctl(&g.dn2, "state?delay=30");
	for (size_t i = 0; i < SL_ARRAY_SIZE(th); i++)
		pthread_create(&th[i], NULL, jobs_main, &j);
	for (size_t i = 0; i < SL_ARRAY_SIZE(th); i++)
		pthread_join(th[i], NULL);
	ck_assert_msg(j.bad == 0, "%d reads failed; %s", j.bad, j.err);
	ck_assert_int_eq(fx_count(&g.nn1, "op_OPEN"), (long)j.total);
	/* Many at once, over connections that were kept: one to the
	 * namenode and one to each datanode per thread, at most. */
	ck_assert_int_ge(fx_count(&g.dn1, "max_inflight") +
				 fx_count(&g.dn2, "max_inflight"),
			 12);
	nn_conns = fx_count(&g.nn1, "connections");
	dn_conns = fx_count(&g.dn1, "connections") +
		   fx_count(&g.dn2, "connections");
	ck_assert_msg(nn_conns <= 16 && dn_conns <= 32,
		      "%ld namenode and %ld datanode connections for %zu reads",
		      nn_conns, dn_conns, j.total);
	free((void *)j.want);
	g.ops->close(j.st);
	fx_all_reset();
}
END_TEST

START_TEST(test_open_keys)
{
	char err[SB_ERR_MAX], uri[128];
	const char *krb[] = {"kerberos", "yes", "ca_file", "/etc/hostname",
			     NULL};
	void *st;

	/* Each key the README documents is taken; the unit tests of conf.c
	 * cover the refusals.  ca_file needs swebhdfs://. */
	th_xsnprintf(uri, sizeof(uri), "swebhdfs://127.0.0.1:%d/ds",
		     g.nns.port);
	ck_assert_int_eq(ds_try(&st, err, uri, krb, NULL), 0);
	g.ops->close(st);
	th_xsnprintf(uri, sizeof(uri), "webhdfs://127.0.0.1:%d/ds", g.nns.port);
	ck_assert_int_eq(ds_try(&st, err, uri, krb, NULL), -EINVAL);
	ck_assert_msg(strstr(err, "it.ini:21: [dataset t] ca_file: only with "
				  "swebhdfs://"),
		      "message: %s", err);
}
END_TEST

/* ---- through the mount ----------------------------------------------- */

/* Skip an e2e test where there is no mount; 1 when skipped. */
static int no_mount(const char *test)
{
	if (!g.no_mount[0])
		return 0;
	th_check_skip_case("it_webhdfs", test, g.no_mount);
	return 1;
}

/* All of path into a buffer (caller frees): NULL with errno set. */
static unsigned char *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned char *buf = NULL;
	size_t cap = 0;
	ssize_t r;

	*len = 0;
	if (fd < 0)
		return NULL;
	do {
		if (*len + 65536 > cap) {
			cap = (cap + 65536) * 2;
			buf = realloc(buf, cap);
		}
		r = read(fd, buf + *len, 65536);
		if (r > 0)
			*len += (size_t)r;
	} while (r > 0);
	if (r < 0) {
		int e = errno;

		free(buf);
		close(fd);
		errno = e;
		return NULL;
	}
	close(fd);
	return buf ? buf : malloc(1);
}

/* The mount's dir (under dataset ds) and the server's rel are the same
 * tree: the same names, types and sizes, byte-equal files.  Counts the
 * files compared into *files. */
static void compare_tree(const char *mdir, const char *sdir, size_t *files)
{
	DIR *d = opendir(sdir);
	struct dirent *de;
	size_t nm = 0, ns = 0;

	ck_assert_msg(d != NULL, "opendir %s", sdir);
	while ((de = readdir(d))) {
		char mp[PATH_MAX], sp[PATH_MAX];
		struct stat ms, ss;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    de->d_type == DT_LNK)
			continue;
		ns++;
		th_xsnprintf(mp, sizeof(mp), "%s/%s", mdir, de->d_name);
		th_xsnprintf(sp, sizeof(sp), "%s/%s", sdir, de->d_name);
		ck_assert_int_eq(lstat(sp, &ss), 0);
		ck_assert_msg(lstat(mp, &ms) == 0, "%s: %s", mp,
			      strerror(errno));
		if (S_ISDIR(ss.st_mode)) {
			ck_assert_msg(S_ISDIR(ms.st_mode), "%s: no directory",
				      mp);
			compare_tree(mp, sp, files);
			continue;
		}
		ck_assert_msg(S_ISREG(ms.st_mode), "%s: no file", mp);
		ck_assert_msg(ms.st_size == ss.st_size,
			      "%s: %lld bytes, not %lld", mp,
			      (long long)ms.st_size, (long long)ss.st_size);
		{
			size_t ml, sl;
			unsigned char *mb = slurp(mp, &ml);
			unsigned char *sb = slurp(sp, &sl);

			ck_assert_msg(mb != NULL, "read %s: %s", mp,
				      strerror(errno));
			ck_assert_msg(ml == sl && memcmp(mb, sb, sl) == 0,
				      "%s differs from the server's", mp);
			free(mb);
			free(sb);
		}
		++*files;
	}
	closedir(d);
	/* Nothing in the mount that the server lacks. */
	d = opendir(mdir);
	ck_assert_msg(d != NULL, "opendir %s: %s", mdir, strerror(errno));
	while ((de = readdir(d)))
		nm += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	ck_assert_msg(nm == ns, "%s: %zu entries, the server has %zu", mdir, nm,
		      ns);
}

START_TEST(test_mount_tree)
{
	char mdir[PATH_MAX], sdir[PATH_MAX];
	size_t files = 0;

	if (no_mount("mount_tree"))
		return;
	fx_all_reset();
	th_xsnprintf(mdir, sizeof(mdir), "%s/hd", g.mnt);
	th_xsnprintf(sdir, sizeof(sdir), "%s/ds", g.root);
	compare_tree(mdir, sdir, &files);
	ck_assert_uint_ge(files, N_MANY + SL_ARRAY_SIZE(odd_names) +
					 SL_ARRAY_SIZE(edge_sizes));
	/* many/ took server pages of LS_LIMIT. */
	ck_assert_int_ge(fx_count(&g.nn1, "op_LISTSTATUS_BATCH"),
			 N_MANY / LS_LIMIT);
}
END_TEST

START_TEST(test_mount_dataloader)
{
	char root[PATH_MAX], src[PATH_MAX];
	char *out;
	int rc;

	if (no_mount("mount_dataloader"))
		return;
	th_xsnprintf(root, sizeof(root), "%s/imagenet", g.mnt);
	th_xsnprintf(src, sizeof(src), "%s/imagenet", g.root);
	rc = th_loader_verify(g.src, root, src, &out);
	fprintf(stderr, "it_webhdfs: dataloader: %s", out ? out : "\n");
	ck_assert_msg(rc == 0, "loader: %s", out ? out : "");
	free(out);
}
END_TEST

START_TEST(test_mount_rewrite_ttl)
{
	char path[PATH_MAX];
	unsigned char *got, *want;
	size_t len, wl;
	struct stat ss;

	if (no_mount("mount_rewrite_ttl"))
		return;
	th_xsnprintf(path, sizeof(path), "%s/ttl/file.bin", g.mnt);
	want = server_file("ttl/file.bin", &wl);
	got = slurp(path, &len);
	ck_assert_msg(got && len == wl && !memcmp(got, want, wl),
		      "first read differs");
	free(got);
	free(want);
	/* Rewritten on the server: a new file, same size, same mtime. */
	th_xsnprintf(path, sizeof(path), "%s/ttl/file.bin", g.root);
	ck_assert_int_eq(stat(path, &ss), 0);
	rewrite("ttl/file.bin", wl, 401, ss.st_mtime);
	want = server_file("ttl/file.bin", &wl);
	usleep(1600 * 1000); /* metadata_ttl = 1s */
	th_xsnprintf(path, sizeof(path), "%s/ttl/file.bin", g.mnt);
	got = slurp(path, &len);
	ck_assert_msg(got && len == wl && !memcmp(got, want, wl),
		      "after metadata_ttl the old bytes are still served");
	free(got);
	free(want);
}
END_TEST

START_TEST(test_mount_wrong_user)
{
	char path[PATH_MAX];
	uint64_t t0 = sl_now_ms();
	struct stat s;
	DIR *d;

	if (no_mount("mount_wrong_user"))
		return;
	th_xsnprintf(path, sizeof(path), "%s/wrong/nested/c.txt", g.mnt);
	ck_assert_int_eq(stat(path, &s), -1);
	ck_assert_msg(errno == EACCES, "stat: %s", strerror(errno));
	ck_assert_int_eq(open(path, O_RDONLY), -1);
	ck_assert_msg(errno == EACCES, "open: %s", strerror(errno));
	th_xsnprintf(path, sizeof(path), "%s/wrong", g.mnt);
	d = opendir(path);
	if (d) {
		errno = 0;
		ck_assert_ptr_null(readdir(d));
		closedir(d);
	}
	ck_assert_msg(errno == EACCES, "list: %s", strerror(errno));
	/* Refusals are answers, within the dataset's timeout (5s). */
	ck_assert_uint_lt(sl_now_ms() - t0, 5000);
}
END_TEST

/* The mount's copy of ds/rel equals the server's. */
static void mount_equal(const char *dataset, const char *rel)
{
	char mp[PATH_MAX], srel[PATH_MAX];
	unsigned char *got, *want;
	size_t len, wl;

	th_xsnprintf(mp, sizeof(mp), "%s/%s/%s", g.mnt, dataset, rel);
	th_xsnprintf(srel, sizeof(srel), "ds/%s", rel);
	want = server_file(srel, &wl);
	got = slurp(mp, &len);
	ck_assert_msg(got != NULL, "read %s: %s", mp, strerror(errno));
	ck_assert_msg(len == wl && memcmp(got, want, wl) == 0,
		      "%s differs from the server's", mp);
	free(got);
	free(want);
}

START_TEST(test_mount_failover)
{
	if (no_mount("mount_failover"))
		return;
	fx_all_reset();
	/* nn2, listed first, is standby. */
	mount_equal("ha", "nested/a/top.bin");
	ck_assert_int_gt(fx_count(&g.nn2, "standby_refusals"), 0);
	ck_assert_int_gt(fx_count(&g.nn1, "op_OPEN"), 0);
	/* A failover while the mount is in use. */
	fx_ctl(&g.nn1, "state?standby=1");
	fx_ctl(&g.nn2, "state?standby=0");
	mount_equal("ha", "nested/a/b/deep.bin");
	mount_equal("ha", "odd/with space.bin");
	ck_assert_int_gt(fx_count(&g.nn1, "standby_refusals"), 0);
	ck_assert_int_gt(fx_count(&g.nn2, "op_OPEN"), 0);
	fx_all_reset();
}
END_TEST

typedef struct mread {
	char path[PATH_MAX];
	unsigned char *got;
	size_t len;
	int err;
} mread_t;

static void *mread_main(void *arg)
{
	mread_t *m = arg;

	m->got = slurp(m->path, &m->len);
	m->err = m->got ? 0 : errno;
	return NULL;
}

START_TEST(test_mount_datanode_killed)
{
	char marker[PATH_MAX];
	mread_t m = {0};
	unsigned char *want;
	size_t wl;
	pthread_t th;

	if (no_mount("mount_datanode_killed"))
		return;
	fx_all_reset();
	want = server_file("ttl/victim.bin", &wl);
	th_xsnprintf(marker, sizeof(marker), "%s/dn3-mount.stalled", g.tmp);
	dn3_arm(100000, marker);
	th_xsnprintf(m.path, sizeof(m.path), "%s/ttl/victim.bin", g.mnt);
	pthread_create(&th, NULL, mread_main, &m);
	ck_assert_msg(wait_file(marker, 10000) == 0, "dn3 never stalled");
	th_proc_kill(g.dn3.pid);
	g.dn3.pid = 0;
	pthread_join(th, NULL);
	ck_assert_msg(m.got != NULL, "read: %s", strerror(m.err));
	ck_assert_msg(m.len == wl && memcmp(m.got, want, wl) == 0,
		      "the bytes differ after the datanode died");
	free(m.got);
	free(want);
	fx_all_reset();
}
END_TEST

/* 1 when the n bytes at p hold s. */
static int holds(const char *p, size_t n, const char *s)
{
	return p && memmem(p, n, s, strlen(s)) != NULL;
}

START_TEST(test_mount_token_secret)
{
	char path[PATH_MAX], url[64], *text, *metrics = NULL;
	const char *logs[] = {"node-n1.log", "node-n2.log", "fuse.log"};
	int logged = 0;
	size_t len;
	struct stat s;
	CURL *e;

	if (no_mount("mount_token_secret"))
		return;
	fx_all_reset();
	mount_equal("sec", "big.bin");
	mount_equal("sec", "nested/c.txt");
	/* And an error whose message quotes the token. */
	fx_ctl(&g.nns, "fault?kind=status&status=403&exception=IOException&"
		       "message=token+" TOKEN "+refused&count=20");
	th_xsnprintf(path, sizeof(path), "%s/sec/nested/a/top.bin", g.mnt);
	ck_assert_int_eq(stat(path, &s), -1);
	ck_assert_int_eq(errno, EIO);
	fx_all_reset();
	for (size_t i = 0; i < SL_ARRAY_SIZE(logs); i++) {
		th_xsnprintf(path, sizeof(path), "%s/%s", g.tmp, logs[i]);
		text = th_read_file(path, &len);
		ck_assert_msg(text != NULL, "no log %s", path);
		ck_assert_msg(!holds(text, len, TOKEN) &&
				      !holds(text, len, "0123456789-abcdef"),
			      "the token is in %s", path);
		/* The error was logged, blotted out. */
		logged += holds(text, len, "IOException: token ****");
		free(text);
	}
	ck_assert_msg(logged > 0, "the refusal is in no log");
	/* Nor in the metrics. */
	e = curl_easy_init();
	th_xsnprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics",
		     g.node_m[0]);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &metrics);
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	ck_assert_int_eq(curl_easy_perform(e), CURLE_OK);
	curl_easy_cleanup(e);
	ck_assert_msg(metrics && strstr(metrics, "sluice_"), "no metrics");
	ck_assert_msg(!strstr(metrics, TOKEN), "the token is in the metrics");
	free(metrics);
}
END_TEST

/* ---- main ------------------------------------------------------------ */

static int mounted(const char *path)
{
	struct statfs f;

	return statfs(path, &f) == 0 && f.f_type == FUSE_MAGIC;
}

/* Two cache nodes and sluice-fuse at g.mnt over six datasets. */
static int start_mount(void)
{
	char *text = NULL, log[PATH_MAX], bin[PATH_MAX], nn_pair[96];
	size_t len;
	FILE *f = open_memstream(&text, &len);
	int port[2] = {th_free_port(), th_free_port()};

	g.node_m[0] = th_free_port();
	g.node_m[1] = th_free_port();
	th_xsnprintf(nn_pair, sizeof(nn_pair), "127.0.0.1:%d,127.0.0.1:%d",
		     g.nn2.port, g.nn1.port);
	fprintf(f, "[cluster]\nname = it-webhdfs\nmodule_dir = %s\n", g.build);
	for (int i = 0; i < 2; i++)
		fprintf(f,
			"\n[node n%d]\naddr = tcp://127.0.0.1:%d\n"
			"metrics_addr = 127.0.0.1:%d\n"
			"ram_capacity = 256M\nworkers = 8\n",
			i + 1, port[i], g.node_m[i]);
	/* lru: a node counts an auto dataset by itself at start, and these
	 * tests count every request the namenodes see. */
	fprintf(f,
		"\n[dataset hd]\nbackend = webhdfs\n"
		"policy = lru\n"
		"uri = webhdfs://127.0.0.1:%d/ds\nuser = alice\n"
		"block_size = 256K\nretry_base = 20ms\n",
		g.nn1.port);
	fprintf(f,
		"\n[dataset ttl]\nbackend = webhdfs\n"
		"policy = lru\n"
		"uri = webhdfs://127.0.0.1:%d/ttl/\nuser = alice\n"
		"block_size = 256K\nmetadata_ttl = 1s\n",
		g.nn1.port);
	fprintf(f,
		"\n[dataset wrong]\nbackend = webhdfs\n"
		"policy = lru\n"
		"uri = webhdfs://127.0.0.1:%d/ds\nuser = mallory\n"
		"timeout = 5s\n",
		g.nn1.port);
	fprintf(f,
		"\n[dataset ha]\nbackend = webhdfs\n"
		"policy = lru\n"
		"uri = webhdfs://hdfs-ha/ds\nnamenodes = %s\n"
		"user = alice\nblock_size = 256K\nretry_base = 20ms\n",
		nn_pair);
	fprintf(f,
		"\n[dataset imagenet]\nbackend = webhdfs\n"
		"policy = lru\n"
		"uri = webhdfs://127.0.0.1:%d/imagenet\nuser = alice\n"
		"block_size = 1M\n",
		g.nn1.port);
	fprintf(f,
		"\n[dataset sec]\nbackend = webhdfs\n"
		"policy = lru\n"
		"uri = webhdfs://127.0.0.1:%d/ds\n"
		"delegation_token_file = %s\nblock_size = 1M\n"
		"retries = 1\nretry_base = 10ms\n",
		g.nns.port, g.token_file);
	fprintf(f, "\n[client]\nblock_cache = 64M\n");
	fclose(f);
	th_xsnprintf(g.conf, sizeof(g.conf), "%s/cluster.conf", g.tmp);
	SL_ASSERT(th_write_file(g.conf, text, len) == 0);
	free(text);
	th_xsnprintf(bin, sizeof(bin), "%s/sluice-cachenode", g.build);
	for (int i = 0; i < 2; i++) {
		char node[8];
		const char *argv[] = {bin,  "-c",  g.conf, "--node",
				      node, "-vv", NULL};

		th_xsnprintf(node, sizeof(node), "n%d", i + 1);
		th_xsnprintf(log, sizeof(log), "%s/node-n%d.log", g.tmp, i + 1);
		g.node[i] = th_proc_spawn((char *const *)argv, log);
		if (g.node[i] <= 0 || th_wait_port(port[i], 20000) < 0) {
			th_xsnprintf(g.no_mount, sizeof(g.no_mount),
				     "cache node n%d did not start (see %s)",
				     i + 1, log);
			return -1;
		}
	}
	th_xsnprintf(g.mnt, sizeof(g.mnt), "%s/mnt", g.tmp);
	mkdir(g.mnt, 0755);
	th_xsnprintf(bin, sizeof(bin), "%s/sluice-fuse", g.build);
	th_xsnprintf(log, sizeof(log), "%s/fuse.log", g.tmp);
	{
		const char *argv[] = {
			bin, "-f", "-c", g.conf, g.mnt, "-o", "ro,auto_unmount",
			NULL};

		g.fuse = th_proc_spawn((char *const *)argv, log);
	}
	for (int t = 0; t < 1000 && !mounted(g.mnt); t++)
		usleep(20000);
	if (!mounted(g.mnt)) {
		th_xsnprintf(g.no_mount, sizeof(g.no_mount),
			     "sluice-fuse did not mount (see %s)", log);
		return -1;
	}
	return 0;
}

static void stop_all(void)
{
	fx_t *all[] = {&g.nn1, &g.nn2, &g.dn1, &g.dn2, &g.dn3, &g.nns, &g.dns};

	if (g.mnt[0] && mounted(g.mnt))
		umount2(g.mnt, MNT_DETACH);
	th_proc_stop(g.fuse, SIGTERM, 10000, NULL);
	for (int i = 0; i < 2; i++)
		th_proc_stop(g.node[i], SIGTERM, 10000, NULL);
	for (size_t i = 0; i < SL_ARRAY_SIZE(all); i++)
		th_proc_stop(all[i]->pid, SIGTERM, 5000, NULL);
	if (g.tmp && !getenv("SLUICE_KEEP_TMP"))
		th_rmtree(g.tmp);
}

static int setup_all(void)
{
	char so[PATH_MAX], dns[128], dn_s[32], ls[16];
	char data[PATH_MAX];

	if (!getcwd(g.src, sizeof(g.src)))
		return -1;
	if (getenv("SLUICE_SRC"))
		th_xsnprintf(g.src, sizeof(g.src), "%s", getenv("SLUICE_SRC"));
	if (!realpath(th_build_dir(), g.build))
		return -1;
	th_xsnprintf(so, sizeof(so), "%s/sluice_backend_webhdfs.so", g.build);
	g.dl = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	g.ops = g.dl ? dlsym(g.dl, SB_OPS_SYMBOL) : NULL;
	if (!g.ops) {
		fprintf(stderr, "it_webhdfs: cannot load the module: %s\n",
			dlerror());
		return -1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	g.tmp = th_tmpdir("it-webhdfs");
	th_xsnprintf(g.root, sizeof(g.root), "%s/hdfs", g.tmp);
	mkdir(g.root, 0755);
	make_tree();
	th_xsnprintf(g.token_file, sizeof(g.token_file), "%s/token", g.tmp);
	th_xsnprintf(g.wrong_token_file, sizeof(g.wrong_token_file),
		     "%s/wrong-token", g.tmp);
	SL_ASSERT(th_write_file(g.token_file, TOKEN "\n", strlen(TOKEN) + 1) ==
		  0);
	SL_ASSERT(th_write_file(g.wrong_token_file, WRONG_TOKEN,
				strlen(WRONG_TOKEN)) == 0);
	/* The DataLoader's dataset, as the demo makes it. */
	th_xsnprintf(data, sizeof(data), "%s/imagenet", g.root);
	if (th_gen_dataset(g.src, data) != 0) {
		fprintf(stderr, "it_webhdfs: gen_dataset.py failed\n");
		return -1;
	}
	th_xsnprintf(ls, sizeof(ls), "%d", LS_LIMIT);
	if (fx_start(&g.dn1, "datanode", NULL) < 0 ||
	    fx_start(&g.dn2, "datanode", NULL) < 0)
		return -1;
	g.dn3.port = th_free_port(); /* dn3 runs only in its tests */
	th_xsnprintf(dns, sizeof(dns), "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d",
		     g.dn1.port, g.dn2.port, g.dn3.port);
	{
		const char *nn[] = {"--datanodes", dns, "--users", "alice",
				    "--ls-limit",  ls,	NULL};
		const char *standby[] = {"--datanodes", dns,	      "--users",
					 "alice",	"--ls-limit", ls,
					 "--standby",	NULL};
		const char *sdn[] = {"--secure", "--token", TOKEN, NULL};

		if (fx_start(&g.nn1, "namenode", nn) < 0 ||
		    fx_start(&g.nn2, "namenode", standby) < 0 ||
		    fx_start(&g.dns, "datanode", sdn) < 0)
			return -1;
		th_xsnprintf(dn_s, sizeof(dn_s), "127.0.0.1:%d", g.dns.port);
		{
			const char *snn[] = {"--datanodes",
					     dn_s,
					     "--secure",
					     "--token",
					     TOKEN,
					     "--ls-limit",
					     ls,
					     NULL};

			if (fx_start(&g.nns, "namenode", snn) < 0)
				return -1;
		}
	}
	if (fx_reset_all() < 0) {
		fprintf(stderr, "it_webhdfs: a fixture does not answer\n");
		return -1;
	}
	if (!th_have_fuse())
		th_xsnprintf(g.no_mount, sizeof(g.no_mount),
			     "no FUSE here (root and /dev/fuse needed)");
	else if (start_mount() < 0)
		fprintf(stderr, "it_webhdfs: %s\n", g.no_mount);
	return 0;
}

int main(void)
{
	Suite *s = TH_SUITE(
		"it_webhdfs",
		{.name = "metadata",
		 .tests =
			 TH_TESTS(test_stat, test_list_nested, test_list_paging,
				  test_list_fallback, test_odd_names),
		 .timeout = 120},
		{.name = "reads",
		 .tests = TH_TESTS(test_read_ranges, test_rewrite_stale,
				   test_concurrent_reads),
		 .timeout = 120},
		{.name = "errors",
		 .tests = TH_TESTS(test_remote_errors, test_hostile_bodies,
				   test_hostile_redirects),
		 .timeout = 120},
		{.name = "authentication",
		 .tests = TH_TESTS(test_simple_auth, test_delegation_token,
				   test_kerberos, test_open_keys),
		 .timeout = 60},
		{.name = "failures",
		 .tests = TH_TESTS(test_standby_failover, test_datanode_killed,
				   test_timeouts),
		 .timeout = 120},
		{.name = "mount",
		 .tests = TH_TESTS(test_mount_tree, test_mount_dataloader,
				   test_mount_rewrite_ttl,
				   test_mount_wrong_user, test_mount_failover,
				   test_mount_datanode_killed,
				   test_mount_token_secret),
		 .timeout = 600});
	uint64_t t0 = sl_now_ms();
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if (setup_all() < 0) {
		stop_all();
		return 1;
	}
	fprintf(stderr, "it_webhdfs: fixture and mount ready in %llu ms\n",
		(unsigned long long)(sl_now_ms() - t0));
	rc = th_check_run(s, NULL);
	stop_all();
	return rc;
}
