/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The posix backend module, loaded from the build directory like the node
 * loads it, in both confinement modes (openat2 and the O_NOFOLLOW walk):
 * reads and stats of real files, versions and -ESTALE, and above all that
 * nothing resolves outside the dataset root: "..", absolute paths, empty
 * components, symlinks pointing out (absolute, relative, to a directory),
 * a NUL inside a path, FIFOs.  Then LIST paging over a directory larger
 * than a page, and open()'s configuration errors.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "cachenode/backend.h"
#include "common/util.h"
#include "common/path.h"
#include "test/helper_proc.h"
#include "test/helper_check.h"

static char *tmp; /* tmp/root is the dataset, tmp/outside is not */
static char root[512];
static cn_backends_t *reg;
static const sb_ops_t *ops;
static void *st;
static char err[SB_ERR_MAX];
static uint8_t big[100000];

static void mk(const char *rel, const void *data, size_t len)
{
	char p[1024];

	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	ck_assert_int_eq(th_write_file(p, data, len), 0);
}

static void mkd(const char *rel)
{
	char p[1024];

	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	ck_assert_int_eq(mkdir(p, 0755), 0);
}

static void ln(const char *target, const char *rel)
{
	char p[1024];

	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	ck_assert_int_eq(symlink(target, p), 0);
}

static int open_ds(const char *uri, const sb_param_t *params, size_t n,
		   void **state)
{
	sb_dataset_t ds = {
		.name = "t",
		.uri = uri,
		.config_path = "test.conf",
		.block_size = 65536,
		.n_params = n,
		.params = params,
	};

	return ops->open(&ds, state, err, sizeof(err));
}

/* _i = 0: openat2 (auto); _i = 1: confine = walk. */
static void setup_mode(int walk)
{
	char uri[600];
	sb_param_t p = {"confine", "walk", 7};

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31 + 7);
	tmp = th_tmpdir("cn-posix");
	ck_assert_ptr_nonnull(tmp);
	snprintf(root, sizeof(root), "%s/root", tmp);
	mkd("root");
	mkd("outside");
	mk("outside/secret.txt", "secret", 6);
	mk("root/a.txt", "hello world", 11);
	mkd("root/sub");
	mkd("root/sub/deep");
	mk("root/sub/b.bin", big, sizeof(big));
	mk("root/sub/deep/c.txt", "c", 1);
	mk("root/empty", "", 0);
	ln("sub/b.bin", "root/link_in");
	ln("/etc/passwd", "root/link_abs");
	ln("..", "root/link_up");
	ln("../outside/secret.txt", "root/link_rel_out");
	ln("/etc", "root/link_dir_out");
	{
		char p[1024];

		snprintf(p, sizeof(p), "%s/root/fifo", tmp);
		ck_assert_int_eq(mkfifo(p, 0644), 0);
	}
	reg = cn_backends_new(th_build_dir());
	ops = cn_backends_get(reg, "posix", err, sizeof(err));
	ck_assert_msg(ops != NULL, "%s", err);
	snprintf(uri, sizeof(uri), "file://%s/", root);
	ck_assert_int_eq(open_ds(uri, walk ? &p : NULL, walk ? 1 : 0, &st), 0);
}

static void teardown(void)
{
	if (st)
		ops->close(st);
	st = NULL;
	cn_backends_destroy(&reg);
	th_rmtree(tmp);
	free(tmp);
	tmp = NULL;
}

static ssize_t rd(const char *path, const char *version, uint64_t off,
		  void *buf, size_t len)
{
	return ops->read(st, path, version, off, buf, len, err, sizeof(err));
}

static int stat_of(const char *path, sb_stat_t *s)
{
	return ops->stat(st, path, s, err, sizeof(err));
}

START_TEST(test_stat_and_read)
{
	sb_stat_t s;
	char buf[200000], want[64];

	setup_mode(_i);
	ck_assert_int_eq(stat_of("", &s), 0);
	ck_assert_int_eq(s.type, SB_TYPE_DIR);
	ck_assert_str_eq(s.version, "");
	ck_assert_int_eq(stat_of("a.txt", &s), 0);
	ck_assert_int_eq(s.type, SB_TYPE_FILE);
	ck_assert_uint_eq(s.size, 11);
	snprintf(want, sizeof(want), "s11-m%lld", (long long)s.mtime_ns);
	ck_assert_str_eq(s.version, want);
	ck_assert_int_eq(rd("a.txt", s.version, 0, buf, 100), 11);
	ck_assert_mem_eq(buf, "hello world", 11);
	ck_assert_int_eq(rd("a.txt", s.version, 6, buf, 3), 3);
	ck_assert_mem_eq(buf, "wor", 3);
	ck_assert_int_eq(rd("a.txt", "", 11, buf, 10), 0);
	ck_assert_int_eq(rd("a.txt", "", 1000, buf, 10), 0);
	ck_assert_int_eq(rd("empty", "", 0, buf, 10), 0);
	ck_assert_int_eq(rd("sub/b.bin", "", 0, buf, sizeof(buf)),
			 (ssize_t)sizeof(big));
	ck_assert_mem_eq(buf, big, sizeof(big));
	ck_assert_int_eq(rd("sub/b.bin", "", 65536, buf, 65536),
			 (ssize_t)sizeof(big) - 65536);
	ck_assert_mem_eq(buf, big + 65536, sizeof(big) - 65536);
	ck_assert_int_eq(stat_of("sub/deep/c.txt", &s), 0);
	ck_assert_int_eq(stat_of("nope", &s), -ENOENT);
	ck_assert_int_eq(rd("nope", "", 0, buf, 1), -ENOENT);
	ck_assert_int_eq(rd("sub", "", 0, buf, 1), -EISDIR);
	ck_assert_int_eq(rd("a.txt/x", "", 0, buf, 1), -ENOTDIR);
}
END_TEST

START_TEST(test_version_changes_are_stale)
{
	sb_stat_t s, s2;
	char buf[64], p[1024];
	struct timeval tv[2] = {{1000000000, 0}, {1000000000, 0}};

	setup_mode(_i);
	ck_assert_int_eq(stat_of("a.txt", &s), 0);
	ck_assert_int_eq(rd("a.txt", "s11-m1", 0, buf, 5), -ESTALE);
	ck_assert_ptr_nonnull(strstr(err, "changed"));
	/* Same size, another mtime: another version. */
	snprintf(p, sizeof(p), "%s/a.txt", root);
	ck_assert_int_eq(utimes(p, tv), 0);
	ck_assert_int_eq(rd("a.txt", s.version, 0, buf, 5), -ESTALE);
	ck_assert_int_eq(stat_of("a.txt", &s2), 0);
	ck_assert_str_ne(s.version, s2.version);
	ck_assert_int_eq(rd("a.txt", s2.version, 0, buf, 5), 5);
}
END_TEST

/* A version that could break out of a header or a message is refused
 * before the file is opened, and its bytes are not echoed back. */
START_TEST(test_bad_versions_refused)
{
	static const char *const bad[] = {"s11-m1\r\nX-Evil: 1",
					  "s11\n",
					  "\"s11\"",
					  "a b",
					  "\x1b[31m",
					  "\x7f",
					  "\xc3\xa9"};
	char buf[64];

	setup_mode(_i);
	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
		ck_assert_int_eq(rd("a.txt", bad[i], 0, buf, 5), -EINVAL);
		ck_assert_str_eq(err, "malformed version");
	}
	ck_assert_int_eq(rd("nope", "a\rb", 0, buf, 5), -EINVAL);
}
END_TEST

START_TEST(test_bad_paths_refused)
{
	static const char *const bad[] = {
		"..",
		"../outside/secret.txt",
		"sub/../a.txt",
		"sub/..",
		"/etc/passwd",
		"/",
		"a//b",
		"./a.txt",
		"sub/",
		"sub/./b.bin",
		".",
		"sub/deep/../../..",
	};
	char buf[64], longp[5000], longc[300];
	sb_stat_t s;
	sb_dirent_t ents[4];
	size_t n;
	char next[SB_CURSOR_MAX + 1];

	setup_mode(_i);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(rd(bad[i], "", 0, buf, 1) == -EINVAL,
			      "read '%s' not refused", bad[i]);
		ck_assert_msg(stat_of(bad[i], &s) == -EINVAL,
			      "stat '%s' not refused", bad[i]);
		ck_assert_msg(ops->list(st, bad[i], "", ents, 4, &n, next, err,
					sizeof(err)) == -EINVAL,
			      "list '%s' not refused", bad[i]);
	}
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = '\0';
	ck_assert_int_eq(rd(longp, "", 0, buf, 1), -ENAMETOOLONG);
	memset(longc, 'b', sizeof(longc) - 1);
	longc[sizeof(longc) - 1] = '\0';
	ck_assert_int_eq(stat_of(longc, &s), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_symlink_escapes_refused)
{
	static const char *const out[] = {
		"link_abs",
		"link_up",
		"link_up/outside/secret.txt",
		"link_rel_out",
		"link_dir_out/passwd",
		"link_dir_out",
	};
	char buf[200000];
	sb_stat_t s;

	setup_mode(_i);
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++) {
		ck_assert_msg(rd(out[i], "", 0, buf, sizeof(buf)) == -EACCES,
			      "read '%s' escaped (%s)", out[i], err);
		ck_assert_msg(stat_of(out[i], &s) == -EACCES,
			      "stat '%s' escaped (%s)", out[i], err);
	}
	/* Inside the root: followed with openat2, refused by the walk. */
	if (_i == 0) {
		ck_assert_int_eq(rd("link_in", "", 0, buf, sizeof(buf)),
				 (ssize_t)sizeof(big));
		ck_assert_mem_eq(buf, big, sizeof(big));
		ck_assert_int_eq(stat_of("link_in", &s), 0);
		ck_assert_uint_eq(s.size, sizeof(big));
	} else {
		ck_assert_int_eq(rd("link_in", "", 0, buf, 1), -EACCES);
	}
}
END_TEST

START_TEST(test_nul_and_fifo)
{
	static const char nul_path[] = "a.txt\0/../../outside/secret.txt";
	char buf[64];
	sb_stat_t s;

	setup_mode(_i);
	/* The byte-range check sees the NUL and refuses the path... */
	ck_assert_int_eq(sl_path_check(nul_path, sizeof(nul_path) - 1),
			 -EINVAL);
	/* ...and a module, which gets C strings, cannot see past it. */
	ck_assert_int_eq(rd(nul_path, "", 0, buf, sizeof(buf)), 11);
	ck_assert_mem_eq(buf, "hello world", 11);
	/* A FIFO is neither read nor waited on. */
	ck_assert_int_eq(stat_of("fifo", &s), -EACCES);
	ck_assert_int_eq(rd("fifo", "", 0, buf, 1), -EACCES);
}
END_TEST

START_TEST(test_list_pages)
{
	char next[SB_CURSOR_MAX + 1], cursor[SB_CURSOR_MAX + 1] = "";
	static sb_dirent_t ents[1024];
	char seen[3000] = {0};
	size_t n, total = 0, pages = 0;
	char name[64];
	int found_link_in = 0, found_a = 0;

	setup_mode(_i);
	/* The root: links out and the FIFO are skipped. */
	do {
		ck_assert_int_eq(ops->list(st, "", cursor, ents, 2, &n, next,
					   err, sizeof(err)),
				 0);
		ck_assert_uint_le(n, 2);
		for (size_t i = 0; i < n; i++) {
			ck_assert_str_ne(ents[i].name, "link_abs");
			ck_assert_str_ne(ents[i].name, "link_up");
			ck_assert_str_ne(ents[i].name, "link_rel_out");
			ck_assert_str_ne(ents[i].name, "link_dir_out");
			ck_assert_str_ne(ents[i].name, "fifo");
			ck_assert_str_ne(ents[i].name, ".");
			ck_assert_str_ne(ents[i].name, "..");
			found_link_in |= !strcmp(ents[i].name, "link_in");
			if (!strcmp(ents[i].name, "a.txt")) {
				found_a = 1;
				ck_assert_uint_eq(ents[i].st.size, 11);
				ck_assert_int_eq(ents[i].st.type, SB_TYPE_FILE);
			}
			if (!strcmp(ents[i].name, "sub"))
				ck_assert_int_eq(ents[i].st.type, SB_TYPE_DIR);
		}
		total += n;
		strcpy(cursor, next);
	} while (*cursor && ++pages < 100);
	ck_assert(found_a);
	ck_assert_int_eq(found_link_in, _i == 0);
	ck_assert_uint_eq(total, _i == 0 ? 4 : 3); /* a, sub, empty, link */

	/* A directory of 2500 files over pages of 1024: each once. */
	{
		char p[1024];

		snprintf(p, sizeof(p), "%s/many", root);
		ck_assert_int_eq(mkdir(p, 0755), 0);
		for (int i = 0; i < 2500; i++) {
			snprintf(p, sizeof(p), "%s/many/f%04d", root, i);
			ck_assert_int_eq(th_write_file(p, "x", 1), 0);
		}
	}
	cursor[0] = '\0';
	total = pages = 0;
	do {
		ck_assert_int_eq(ops->list(st, "many", cursor, ents, 1024, &n,
					   next, err, sizeof(err)),
				 0);
		for (size_t i = 0; i < n; i++) {
			int k = atoi(ents[i].name + 1);

			snprintf(name, sizeof(name), "f%04d", k);
			ck_assert_str_eq(ents[i].name, name);
			ck_assert_int_eq(seen[k], 0);
			seen[k] = 1;
		}
		total += n;
		pages++;
		strcpy(cursor, next);
	} while (*cursor && pages < 100);
	ck_assert_uint_eq(total, 2500);
	ck_assert_uint_eq(pages, 3);

	ck_assert_int_eq(ops->list(st, "", "garbage", ents, 4, &n, next, err,
				   sizeof(err)),
			 -EINVAL);
	ck_assert_int_eq(
		ops->list(st, "a.txt", "", ents, 4, &n, next, err, sizeof(err)),
		-ENOTDIR);
	ck_assert_int_eq(
		ops->list(st, "nope", "", ents, 4, &n, next, err, sizeof(err)),
		-ENOENT);
}
END_TEST

START_TEST(test_open_errors)
{
	sb_param_t unknown = {"colour", "blue", 12};
	sb_param_t badval = {"confine", "maybe", 13};
	void *s2 = NULL;
	char uri[600];

	setup_mode(0);
	ck_assert_int_eq(open_ds("s3://bucket/x", NULL, 0, &s2), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "file:///"));
	ck_assert_int_eq(open_ds("file://relative/path", NULL, 0, &s2),
			 -EINVAL);
	snprintf(uri, sizeof(uri), "file://%s", root);
	ck_assert_int_eq(open_ds(uri, &unknown, 1, &s2), -EINVAL);
	ck_assert_msg(strstr(err, "test.conf:12:") && strstr(err, "colour"),
		      "%s", err);
	ck_assert_int_eq(open_ds(uri, &badval, 1, &s2), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "test.conf:13:"));
	snprintf(uri, sizeof(uri), "file://%s/missing", root);
	ck_assert_int_eq(open_ds(uri, NULL, 0, &s2), -ENOENT);
	snprintf(uri, sizeof(uri), "file://%s/a.txt", root);
	ck_assert_int_eq(open_ds(uri, NULL, 0, &s2), -ENOTDIR);
	ck_assert_ptr_null(s2);
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE(
		"cn_posix",
		{.name = "posix",
		 .looped = TH_TESTS(
			 test_stat_and_read, test_version_changes_are_stale,
			 test_bad_paths_refused, test_bad_versions_refused,
			 test_symlink_escapes_refused, test_nul_and_fifo,
			 test_list_pages),
		 .tests = TH_TESTS(test_open_errors),
		 .teardown = teardown,
		 .loops = 2});

	return th_check_run(s, &(th_check_opts_t){.tmp_tag = "test-cn-posix"});
}
