/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Request handling of a real node run in this process, with built-in test
 * backends: STAT and LIST describe an entry the same way, whatever file
 * type bits a backend leaves in st_mode (the wire carries permission bits
 * and a type, nothing else); a module without list answers LIST
 * -EOPNOTSUPP and serves the rest; a module's error that is no errno
 * (below -4095) is answered EIO, never left unanswered.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cachenode/server.h"
#include "common/log.h"
#include "common/util.h"
#include "test/helper_backend.h"
#include "test/helper_check.h"
#include "test/helper_client.h"
#include "test/helper_node.h"

/* ---- A backend that returns whole st_mode values ------------------------ */

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
	TH_UNUSED(state, err, errlen);
	return m_fill(path, st);
}

static int m_list(void *state, const char *dir, const char *cursor,
		  sb_dirent_t *ents, size_t max, size_t *n, char *next,
		  char *err, size_t errlen)
{
	static const char *const names[] = {"d", "f"};

	TH_UNUSED(state, cursor, err, errlen);
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
	TH_UNUSED(state, path, version, err, errlen);
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
	.open = th_backend_open_stateless,
	.close = th_backend_close_stateless,
	.stat = m_stat,
	.list = m_list,
	.read = m_read,
};

/* ---- A backend whose errors are no errno values -------------------------- */

static int w_stat(void *state, const char *path, sb_stat_t *st, char *err,
		  size_t errlen)
{
	TH_UNUSED(state, st, err, errlen);
	return strcmp(path, "big") == 0 ? -100000 : INT_MIN;
}

/* "big": -5000; "wrap": a value whose low 32 bits read -2 (ENOENT). */
static ssize_t w_read(void *state, const char *path, const char *version,
		      uint64_t offset, void *buf, size_t len, char *err,
		      size_t errlen)
{
	TH_UNUSED(state, version, offset, buf, len, err, errlen);
	return strcmp(path, "big") == 0 ? -5000 : -(((ssize_t)1 << 33) + 2);
}

static int w_list(void *state, const char *dir, const char *cursor,
		  sb_dirent_t *ents, size_t max, size_t *n, char *next,
		  char *err, size_t errlen)
{
	TH_UNUSED(state, dir, cursor, ents, max, next, err, errlen);
	*n = 0;
	return -PR_ERRNO_MAX - 1;
}

static const sb_ops_t wild_ops = {
	.abi_version = SB_ABI_VERSION,
	.ops_size = sizeof(sb_ops_t),
	.name = "wild",
	.open = th_backend_open_stateless,
	.close = th_backend_close_stateless,
	.stat = w_stat,
	.list = w_list,
	.read = w_read,
};

/* ---- A backend whose cursors hold any bytes ----------------------------- */

/* Page i's cursor (page 0's is ""); webhdfs puts file names in them. */
static const char *const cursors[] = {"", "1:a name \"q\"\r\n\xc3\xa9 100%",
				      "2:\x01\\"};

static int p_list(void *state, const char *dir, const char *cursor,
		  sb_dirent_t *ents, size_t max, size_t *n, char *next,
		  char *err, size_t errlen)
{
	TH_UNUSED(state, dir, max);
	for (size_t i = 0; i < SL_ARRAY_SIZE(cursors); i++) {
		if (strcmp(cursor, cursors[i]) != 0)
			continue;
		snprintf(ents[0].name, sizeof(ents[0].name), "p%zu", i);
		m_fill("f", &ents[0].st);
		*n = 1;
		strcpy(next,
		       i + 1 < SL_ARRAY_SIZE(cursors) ? cursors[i + 1] : "");
		return 0;
	}
	snprintf(err, errlen, "not my cursor");
	return -EINVAL;
}

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

/*
 * The header encoder refuses a status below -4095, so a module's -5000
 * once left the request unanswered (the client timed out), and a 64-bit
 * error cut to an int could pass for ENOENT.
 */
START_TEST(test_backend_status_not_errno)
{
	static const char *const paths[] = {"big", "wrap"};
	uint8_t buf[64];
	th_stat_t st;
	pr_list_reply_t lr;
	th_reply_t keep;

	start(&wild_ops, "[dataset ds]\nbackend = wild\nuri = w://\n");
	th_client_set_timeout(cli, 3000);
	for (size_t i = 0; i < SL_ARRAY_SIZE(paths); i++) {
		ck_assert_int_eq(th_client_read(cli, "ds", paths[i], "v1", 0, 0,
						0, buf, sizeof(buf)),
				 -EIO);
		ck_assert_int_eq(th_client_stat(cli, "ds", paths[i], &st),
				 -EIO);
	}
	ck_assert_int_eq(th_client_list(cli, "ds", "", "", 16, &lr, &keep),
			 -EIO);
	th_reply_free(&keep);
}
END_TEST

/* A backend's cursor with blanks, quotes, CR, LF, UTF-8, '%' and control
 * bytes pages as it should: the node carries it encoded (the wire's
 * cursors are visible ASCII) and hands the module its own bytes back. */
START_TEST(test_cursor_bytes)
{
	sb_ops_t pager = mode_ops;
	char cursor[PR_MAX_CURSOR + 1] = "";
	pr_list_reply_t lr;
	th_reply_t keep;
	int pages = 0;

	pager.name = "pager";
	pager.list = p_list;
	start(&pager, "[dataset ds]\nbackend = pager\nuri = p://\n");
	do {
		char want[16];

		ck_assert_int_eq(
			th_client_list(cli, "ds", "", cursor, 16, &lr, &keep),
			0);
		ck_assert_uint_eq(lr.n_entries, 1);
		snprintf(want, sizeof(want), "p%d", pages);
		ck_assert(pr_str_eq(lr.entries[0].name, want));
		pr_str_copy(cursor, sizeof(cursor), lr.next_cursor);
		pr_list_reply_free(&lr);
		th_reply_free(&keep);
		pages++;
	} while (cursor[0] && pages < 10);
	ck_assert_int_eq(pages, 3);
	/* A wire cursor with an escape the node never makes. */
	ck_assert_int_eq(th_client_list(cli, "ds", "", "1:%41", 16, &lr, &keep),
			 -EINVAL);
	th_reply_free(&keep);
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE("cn_requests",
			    {.name = "requests",
			     .tests = TH_TESTS(test_stat_and_list_agree_on_mode,
					       test_list_not_provided,
					       test_backend_status_not_errno,
					       test_cursor_bytes),
			     .timeout = 60,
			     .teardown = teardown});

	sl_log_init("test_cn_requests", SL_LOG_WARNING);
	return th_check_run(s, NULL);
}
