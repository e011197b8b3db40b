/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The backend module loader: the real posix module loads from the build
 * directory; modules built here on the fly with the wrong ABI version,
 * without the ops symbol, with an incomplete or too short table or under
 * another name are refused with a message that says why; one built
 * against a shorter table (an older header) loads and serves, and the op
 * it lacks answers -EOPNOTSUPP; one built against a longer table loads; a
 * missing module names the path it looked for; built-in tables; opening a
 * dataset passes the module's own configuration errors through.
 */
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachenode/backend.h"
#include "common/config.h"
#include "test/helper_backend.h"
#include "test/helper_proc.h"
#include "test/helper_check.h"

static char *tmp;

static void setup(void)
{
	tmp = th_tmpdir("cn-backend");
	ck_assert_ptr_nonnull(tmp);
}

static void teardown(void)
{
	th_rmtree(tmp);
	free(tmp);
	tmp = NULL;
}

/* Build tmp/sluice_backend_NAME.so from src with the system compiler. */
static void build_module(const char *name, const char *src)
{
	char cpath[512], cmd[2048], *out = NULL;
	const char *cc = getenv("CC");
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", cmd, NULL};
	int rc;

	snprintf(cpath, sizeof(cpath), "%s/%s.c", tmp, name);
	ck_assert_int_eq(th_write_file(cpath, src, strlen(src)), 0);
	snprintf(
		cmd, sizeof(cmd),
		"%s -shared -fPIC -Iinclude -o %s/sluice_backend_%s.so %s 2>&1",
		cc && *cc ? cc : "cc", tmp, name, cpath);
	rc = th_run_capture(argv, 60000, &out);
	ck_assert_msg(rc == 0, "cc failed (%d): %s", rc, out ? out : "");
	free(out);
}

#define STR_(x) #x
#define STR(x)	STR_(x)
#define ABI	STR(SB_ABI_VERSION)

/* A table laid out like sb_ops_t, without the project's headers. */
#define FAKE_TABLE(abi, name, fn)                                              \
	"#include <stdint.h>\n"                                                \
	"static int f(void) { return 0; }\n"                                   \
	"struct ops { uint32_t abi, size; const char *name; void *fns[5]; "    \
	"};\n"                                                                 \
	"const struct ops sluice_backend_ops = { " abi                         \
	", sizeof(struct ops), "                                               \
	"\"" name "\", { " fn ", " fn ", " fn ", " fn ", " fn " } };\n"

START_TEST(test_loads_posix_from_build_dir)
{
	char err[SB_ERR_MAX] = "";
	cn_backends_t *r = cn_backends_new(th_build_dir());
	const sb_ops_t *ops = cn_backends_get(r, "posix", err, sizeof(err));

	ck_assert_msg(ops != NULL, "%s", err);
	ck_assert_uint_eq(ops->abi_version, SB_ABI_VERSION);
	ck_assert_str_eq(ops->name, "posix");
	/* Loaded once, then cached. */
	ck_assert_ptr_eq(cn_backends_get(r, "posix", err, sizeof(err)), ops);
	cn_backends_destroy(&r);
	ck_assert_ptr_null(r);
}
END_TEST

START_TEST(test_wrong_abi_refused)
{
	char err[SB_ERR_MAX] = "";
	cn_backends_t *r;

	build_module("badabi", FAKE_TABLE("99", "badabi", "(void *)f"));
	r = cn_backends_new(tmp);
	ck_assert_ptr_null(cn_backends_get(r, "badabi", err, sizeof(err)));
	ck_assert_msg(strstr(err, "ABI version 99") && strstr(err, "needs 2") &&
			      strstr(err, "sluice_backend_badabi.so"),
		      "unclear message: %s", err);
	cn_backends_destroy(&r);
}
END_TEST

START_TEST(test_missing_module_and_symbol)
{
	char err[SB_ERR_MAX] = "";
	cn_backends_t *r;

	build_module("nosym", "int unrelated = 1;\n");
	build_module("partial", FAKE_TABLE(ABI, "partial", "0"));
	build_module("alias", FAKE_TABLE(ABI, "other", "(void *)f"));
	r = cn_backends_new(tmp);
	ck_assert_ptr_null(cn_backends_get(r, "nosuch", err, sizeof(err)));
	ck_assert_msg(strstr(err, "no module") &&
			      strstr(err, "sluice_backend_nosuch.so") &&
			      strstr(err, tmp),
		      "unclear message: %s", err);
	ck_assert_ptr_null(cn_backends_get(r, "nosym", err, sizeof(err)));
	ck_assert_msg(strstr(err, "does not export sluice_backend_ops"),
		      "unclear message: %s", err);
	ck_assert_ptr_null(cn_backends_get(r, "partial", err, sizeof(err)));
	ck_assert_msg(strstr(err, "incomplete"), "unclear message: %s", err);
	ck_assert_ptr_null(cn_backends_get(r, "alias", err, sizeof(err)));
	ck_assert_msg(strstr(err, "calls itself 'other'"),
		      "unclear message: %s", err);
	/* A name can never become a path. */
	ck_assert_ptr_null(cn_backends_get(r, "../x", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "[a-z0-9_]"));
	ck_assert_ptr_null(cn_backends_get(r, "", err, sizeof(err)));
	cn_backends_destroy(&r);
}
END_TEST

/*
 * A module built against an older sluice/backend.h, whose sb_ops_t ended
 * after read: it has no list, and says how long its table is.
 */
static const char older_src[] =
	"#include <string.h>\n"
	"#include \"sluice/backend.h\"\n"
	"struct older_ops {\n"
	"	uint32_t abi_version, ops_size;\n"
	"	const char *name;\n"
	"	int (*open)(const sb_dataset_t *, void **, char *, size_t);\n"
	"	void (*close)(void *);\n"
	"	int (*stat)(void *, const char *, sb_stat_t *, char *, "
	"size_t);\n"
	"	ssize_t (*read)(void *, const char *, const char *, uint64_t,\n"
	"			void *, size_t, char *, size_t);\n"
	"};\n"
	"static int o(const sb_dataset_t *d, void **st, char *e, size_t n)\n"
	"{ *st = 0; return 0; }\n"
	"static void c(void *st) { }\n"
	"static int s(void *st, const char *p, sb_stat_t *out, char *e,\n"
	"	     size_t n)\n"
	"{ memset(out, 0, sizeof(*out)); out->type = SB_TYPE_FILE;\n"
	"  out->mode = 0644; out->size = 5; strcpy(out->version, \"old\");\n"
	"  return 0; }\n"
	"static ssize_t r(void *st, const char *p, const char *v, uint64_t "
	"off,\n"
	"		 void *buf, size_t len, char *e, size_t n)\n"
	"{ size_t k = len < 5 ? len : 5; memcpy(buf, \"hello\", k);\n"
	"  return (ssize_t)k; }\n"
	"const struct older_ops sluice_backend_ops = {\n"
	"	SB_ABI_VERSION, sizeof(struct older_ops), \"older\", o, c, s, "
	"r };\n";

START_TEST(test_shorter_table_loads_and_serves)
{
	char err[SB_ERR_MAX] = "", next[SB_CURSOR_MAX + 1] = "x", buf[16];
	cn_backends_t *r;
	const sb_ops_t *ops;
	sl_config_t *c;
	cn_dataset_t *d;
	sb_dirent_t ents[4];
	sb_stat_t st;
	size_t n = 9;
	int rc;

	build_module("older", older_src);
	r = cn_backends_new(tmp);
	ops = cn_backends_get(r, "older", err, sizeof(err));
	ck_assert_msg(ops != NULL, "%s", err);
	ck_assert_uint_eq(ops->ops_size, offsetof(sb_ops_t, list));
	ck_assert_ptr_null(ops->list);

	c = sl_config_parse("[node n1]\naddr = tcp://127.0.0.1:1\n"
			    "[dataset old]\nbackend = older\nuri = x://\n",
			    "test.conf", err, sizeof(err));
	ck_assert_msg(c != NULL, "%s", err);
	d = cn_dataset_open(r, sl_config_dataset(c, "old"), &cn_policy_lru,
			    c->path, 1, &rc, err, sizeof(err));
	ck_assert_msg(d != NULL, "%s", err);
	ck_assert_int_eq(cn_dataset_stat(d, "f", &st, err, sizeof(err)), 0);
	ck_assert_uint_eq(st.size, 5);
	ck_assert_str_eq(st.version, "old");
	ck_assert_int_eq(cn_dataset_read(d, "f", "old", 0, buf, sizeof(buf),
					 err, sizeof(err)),
			 5);
	ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
	/* The op its table lacks. */
	ck_assert_int_eq(
		cn_dataset_list(d, "", "", ents, 4, &n, next, err, sizeof(err)),
		-EOPNOTSUPP);
	ck_assert_uint_eq(n, 0);
	ck_assert_str_eq(next, "");
	ck_assert_msg(strstr(err, "older"), "unclear message: %s", err);
	cn_dataset_unref(&d);
	sl_config_destroy(&c);
	cn_backends_destroy(&r);
}
END_TEST

/* Tables too short for the required ops are refused; a longer one (a
 * module built against a newer header) loads, its extra ops unused. */
START_TEST(test_table_sizes)
{
	static const char tiny_src[] =
		"#include <stdint.h>\n"
		"static int f(void) { return 0; }\n"
		"struct ops { uint32_t abi, size; const char *name;\n"
		"	void *fns[3]; };\n"
		"const struct ops sluice_backend_ops = { " ABI ", "
		"sizeof(struct ops), \"tiny\", { (void *)f, (void *)f, "
		"(void *)f } };\n";
	static const char newer_src[] =
		"#include <stdint.h>\n"
		"static int f(void) { return 0; }\n"
		"struct ops { uint32_t abi, size; const char *name;\n"
		"	void *fns[9]; };\n"
		"const struct ops sluice_backend_ops = { " ABI ", "
		"sizeof(struct ops), \"newer\", { (void *)f, (void *)f, "
		"(void *)f, (void *)f, (void *)f, (void *)f, (void *)f, "
		"(void *)f, (void *)f } };\n";
	char err[SB_ERR_MAX] = "";
	const sb_ops_t *ops;
	cn_backends_t *r;

	build_module("tiny", tiny_src);
	build_module("newer", newer_src);
	r = cn_backends_new(tmp);
	ck_assert_ptr_null(cn_backends_get(r, "tiny", err, sizeof(err)));
	ck_assert_msg(strstr(err, "shorter than") &&
			      strstr(err, "sluice_backend_tiny.so"),
		      "unclear message: %s", err);
	ops = cn_backends_get(r, "newer", err, sizeof(err));
	ck_assert_msg(ops != NULL, "%s", err);
	ck_assert_uint_gt(ops->ops_size, sizeof(sb_ops_t));
	ck_assert_ptr_nonnull(ops->list);
	cn_backends_destroy(&r);
}
END_TEST

static int fake_stat(void *state, const char *path, sb_stat_t *st, char *err,
		     size_t errlen)
{
	TH_UNUSED(state, path, st);
	snprintf(err, errlen, "nothing here");
	return -ENOENT;
}

static ssize_t fake_read(void *state, const char *path, const char *version,
			 uint64_t offset, void *buf, size_t len, char *err,
			 size_t errlen)
{
	TH_UNUSED(state, path, version, offset, buf, len, err, errlen);
	return 0;
}

static const sb_ops_t fake_ops = {
	.abi_version = SB_ABI_VERSION,
	.ops_size = sizeof(sb_ops_t),
	.name = "posix", /* shadows the module of that name */
	.open = th_backend_open_stateless,
	.close = th_backend_close_stateless,
	.stat = fake_stat,
	.list = th_backend_list_empty,
	.read = fake_read,
};

START_TEST(test_builtin_wins)
{
	char err[SB_ERR_MAX];
	cn_backends_t *r = cn_backends_new(th_build_dir());
	sb_ops_t bad = fake_ops;
	const sb_ops_t *got;

	ck_assert_int_eq(cn_backends_add_builtin(r, &fake_ops), 0);
	got = cn_backends_get(r, "posix", err, sizeof(err));
	ck_assert_ptr_nonnull(got);
	ck_assert_ptr_eq(got->stat, fake_stat);
	ck_assert_ptr_eq(got->read, fake_read);
	bad.abi_version = 99;
	ck_assert_int_eq(cn_backends_add_builtin(r, &bad), -EINVAL);
	bad = fake_ops;
	bad.read = NULL;
	ck_assert_int_eq(cn_backends_add_builtin(r, &bad), -EINVAL);
	/* A table too short to hold read. */
	bad = fake_ops;
	bad.ops_size = offsetof(sb_ops_t, read);
	ck_assert_int_eq(cn_backends_add_builtin(r, &bad), -EINVAL);
	cn_backends_destroy(&r);
}
END_TEST

static sl_config_t *parse(const char *text)
{
	char err[256];
	sl_config_t *c = sl_config_parse(text, "test.conf", err, sizeof(err));

	ck_assert_msg(c != NULL, "%s", err);
	return c;
}

START_TEST(test_dataset_open_errors)
{
	char text[1024], err[512];
	cn_backends_t *r = cn_backends_new(th_build_dir());
	sl_config_t *c;
	cn_dataset_t *d;
	int rc;

	snprintf(text, sizeof(text),
		 "[cluster]\nname = t\n[node n1]\naddr = tcp://127.0.0.1:1\n"
		 "[dataset good]\nbackend = posix\nuri = file://%s\n"
		 "[dataset bogus]\nbackend = posix\nuri = file://%s\n"
		 "colour = blue\n"
		 "[dataset s3ish]\nbackend = posix\nuri = s3://bucket/\n"
		 "[dataset gone]\nbackend = posix\nuri = file://%s/nope\n"
		 "[dataset nomod]\nbackend = hdfs9\nuri = x\n",
		 tmp, tmp, tmp);
	c = parse(text);
	d = cn_dataset_open(r, sl_config_dataset(c, "good"), &cn_policy_lru,
			    c->path, 1, &rc, err, sizeof(err));
	ck_assert_msg(d != NULL, "%s", err);
	ck_assert_str_eq(d->name, "good");
	ck_assert_uint_eq(d->id, 1);
	ck_assert(cn_dataset_same(d, sl_config_dataset(c, "good")));
	ck_assert(!cn_dataset_same(d, sl_config_dataset(c, "bogus")));
	cn_dataset_unref(&d);
	ck_assert_ptr_null(d);

	ck_assert_ptr_null(cn_dataset_open(r, sl_config_dataset(c, "bogus"),
					   &cn_policy_lru, c->path, 2, &rc, err,
					   sizeof(err)));
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_msg(strstr(err, "test.conf:11:") && strstr(err, "colour"),
		      "message does not name the line: %s", err);
	ck_assert_ptr_null(cn_dataset_open(r, sl_config_dataset(c, "s3ish"),
					   &cn_policy_lru, c->path, 3, &rc, err,
					   sizeof(err)));
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "file:///"));
	ck_assert_ptr_null(cn_dataset_open(r, sl_config_dataset(c, "gone"),
					   &cn_policy_lru, c->path, 4, &rc, err,
					   sizeof(err)));
	ck_assert_int_eq(rc, -ENOENT);
	ck_assert_ptr_null(cn_dataset_open(r, sl_config_dataset(c, "nomod"),
					   &cn_policy_lru, c->path, 5, &rc, err,
					   sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "sluice_backend_hdfs9.so"));
	sl_config_destroy(&c);
	cn_backends_destroy(&r);
}
END_TEST

START_TEST(test_default_dir)
{
	char *d = cn_backends_default_dir();

	/* build/test holds no modules, so the installed location wins. */
	ck_assert_str_eq(d, SL_MODULE_DIR);
	free(d);
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE(
		"cn_backend",
		{.name = "loader",
		 .tests = TH_TESTS(test_loads_posix_from_build_dir,
				   test_wrong_abi_refused,
				   test_missing_module_and_symbol,
				   test_shorter_table_loads_and_serves,
				   test_table_sizes, test_builtin_wins,
				   test_dataset_open_errors, test_default_dir),
		 .timeout = 120,
		 .setup = setup,
		 .teardown = teardown});

	return th_check_run(s,
			    &(th_check_opts_t){.tmp_tag = "test-cn-backend"});
}
