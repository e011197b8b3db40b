/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request handling of a real node run in this process, with built-in test
 * backends: STAT and LIST describe an entry the same way, whatever file
 * type bits a backend leaves in st_mode (the wire carries permission bits
 * and a type, nothing else); a module without list answers LIST
 * -EOPNOTSUPP and serves the rest.
 */
#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cachenode/server.h"
#include "common/log.h"
#include "common/util.h"
#include "test/helper_check.h"
#include "test/helper_client.h"
#include "test/helper_node.h"

/* ---- A backend that returns whole st_mode values ------------------------ */

static int m_open(const sb_dataset_t *ds, void **state, char *err,
		  size_t errlen)
{
	(void)ds;
	(void)err;
	(void)errlen;
	*state = NULL;
	return 0;
}

static void m_close(void *state)
{
	(void)state;
}

/* "" and "d" are directories (S_IFDIR | 0755), "f" a file (S_IFREG | 0644). */
static int m_fill(const char *path, sb_stat_t *st)
{
	memset(st, 0, sizeof(*st));
	if (!strcmp(path, "") || !strcmp(path, "d")) {
		st->type = SB_TYPE_DIR;
		st->mode = S_IFDIR | 0755;
		return 0;
	}
	if (strcmp(path, "f") != 0)
		return -ENOENT;
	st->type = SB_TYPE_FILE;
	st->mode = S_IFREG | 0644;
	st->size = 10;
	st->mtime_ns = 1000000000;
	strcpy(st->version, "v1");
	return 0;
}

static int m_stat(void *state, const char *path, sb_stat_t *st, char *err,
		  size_t errlen)
{
	(void)state;
	(void)err;
	(void)errlen;
	return m_fill(path, st);
}

static int m_list(void *state, const char *dir, const char *cursor,
		  sb_dirent_t *ents, size_t max, size_t *n, char *next,
		  char *err, size_t errlen)
{
	static const char *const names[] = {"d", "f"};

	(void)state;
	(void)cursor;
	(void)err;
	(void)errlen;
	*n = 0;
	next[0] = '\0';
	if (strcmp(dir, "") != 0)
		return -ENOTDIR;
	for (size_t i = 0; i < SL_ARRAY_SIZE(names) && i < max; i++) {
		strcpy(ents[i].name, names[i]);
		m_fill(names[i], &ents[i].st);
		(*n)++;
	}
	return 0;
}

static ssize_t m_read(void *state, const char *path, const char *version,
		      uint64_t offset, void *buf, size_t len, char *err,
		      size_t errlen)
{
	(void)state;
	(void)path;
	(void)version;
	(void)err;
	(void)errlen;
	if (offset >= 10)
		return 0;
	len = SL_MIN(len, 10 - offset);
	memset(buf, 'x', len);
	return (ssize_t)len;
}

static const sb_ops_t mode_ops = {
	.abi_version = SB_ABI_VERSION,
	.ops_size = sizeof(sb_ops_t),
	.name = "modes",
	.open = m_open,
	.close = m_close,
	.stat = m_stat,
	.list = m_list,
	.read = m_read,
};

/* ---- The node ------------------------------------------------------------ */

static th_node_t node;
static th_client_t *cli;

static void start(const sb_ops_t *ops, const char *datasets)
{
	const sb_ops_t *builtins[] = {ops};
	cn_server_opts_t opts = {.builtins = builtins, .n_builtins = 1};
	char err[512];

	ck_assert_msg(th_node_start(&node, "ram_capacity = 64M\nworkers = 2\n",
				    datasets, &opts, err, sizeof(err)) == 0,
		      "%s", err);
	cli = th_client_new(node.endpoint, 10000);
	ck_assert_ptr_nonnull(cli);
}

static void teardown(void)
{
	th_client_destroy(&cli);
	th_node_stop(&node);
}

static void assert_stat(const char *path, uint8_t type, uint32_t mode)
{
	th_stat_t st;
	int rc = th_client_stat(cli, "ds", path, &st);

	ck_assert_msg(rc == 0, "STAT %s: %d (%s)", path, rc,
		      th_client_errmsg(cli));
	ck_assert_uint_eq(st.type, type);
	ck_assert_uint_eq(st.mode, mode);
}

/*
 * STAT once sent st_mode as the backend gave it, which the encoder
 * refuses (EIO), while LIST masked it: a module returning S_IFREG | 0644
 * could be listed but not stat'ed.
 */
START_TEST(test_stat_and_list_agree_on_mode)
{
	pr_list_reply_t lr;
	th_reply_t keep;

	start(&mode_ops, "[dataset ds]\nbackend = modes\nuri = m://\n");
	assert_stat("f", PR_TYPE_FILE, 0644);
	assert_stat("d", PR_TYPE_DIR, 0755);
	assert_stat("", PR_TYPE_DIR, 0755);
	ck_assert_int_eq(th_client_list(cli, "ds", "", "", 16, &lr, &keep), 0);
	ck_assert_uint_eq(lr.n_entries, 2);
	ck_assert_uint_eq(lr.entries[0].st.type, PR_TYPE_DIR);
	ck_assert_uint_eq(lr.entries[0].st.mode, 0755);
	ck_assert_uint_eq(lr.entries[1].st.type, PR_TYPE_FILE);
	ck_assert_uint_eq(lr.entries[1].st.mode, 0644);
	ck_assert_uint_eq(lr.entries[1].st.size, 10);
	pr_list_reply_free(&lr);
	th_reply_free(&keep);
	/* Now from the metadata cache, which the listing filled. */
	assert_stat("f", PR_TYPE_FILE, 0644);
}
END_TEST

/* A module whose table ends before list: LIST answers -EOPNOTSUPP (even
 * though list's slot here is set: only ops_size bytes count), the rest
 * serves. */
START_TEST(test_list_not_provided)
{
	sb_ops_t older = mode_ops;
	pr_list_reply_t lr;
	th_reply_t keep;

	older.name = "older";
	older.ops_size = offsetof(sb_ops_t, list);
	start(&older, "[dataset ds]\nbackend = older\nuri = m://\n");
	assert_stat("f", PR_TYPE_FILE, 0644);
	ck_assert_int_eq(th_client_list(cli, "ds", "", "", 16, &lr, &keep),
			 -EOPNOTSUPP);
	ck_assert_msg(strstr(th_client_errmsg(cli), "cannot list"), "%s",
		      th_client_errmsg(cli));
	th_reply_free(&keep);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cn_requests");
	TCase *tc = tcase_create("requests");

	sl_log_init("test_cn_requests", SL_LOG_WARNING);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_stat_and_list_agree_on_mode);
	tcase_add_test(tc, test_list_not_provided);
	suite_add_tcase(s, tc);
	return th_check_run(s, NULL);
}
