/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration tests of a cluster that changes under a mount: real cache
 * nodes (test/helper_cluster.h), a real FUSE mount, real readers.
 *
 *   layout   a SIGHUP changes the dataset's block size (64K -> 128K)
 *            while mounted: every file read afterwards, including ones
 *            read before whose pages are dropped, equals the store's, and
 *            the client swapped in the nodes' new map without a remount.
 *
 * Needs root and /dev/fuse.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "test/helper_check.h"
#include "test/helper_cluster.h"
#include "test/helper_proc.h"

static char work[PATH_MAX];

/* ---- layout ------------------------------------------------------------ */

#define LAYOUT_FILES 40

/*
 * The reproduction: 3 nodes serve ds with 64K blocks to a mount;
 * the config says 128K and every node gets SIGHUP.  A client that kept
 * its 64K map would ask for block N and get the bytes of block N at 128K
 * (the first difference at byte 65,537 of the file); the nodes refuse a
 * READ made under the old layout (-EREMCHG), the client fetches their map
 * and reads again.
 */
START_TEST(test_layout_change)
{
	th_cluster_t c;
	const char *verbose[] = {"-v", NULL};
	int bad = 0;

	ck_assert_int_eq(th_cl_init(&c, work, "layout"), 0);
	ck_assert_int_eq(th_cl_make_files(&c, LAYOUT_FILES, 150000, 700000, 7),
			 0);
	sl_strlcpy(c.client_keys, "request_timeout = 1s\n",
		   sizeof(c.client_keys));
	for (int i = 0; i < 3; i++)
		th_cl_add_node(&c, NULL, NULL, 1);
	ck_assert_int_eq(th_cl_write_conf(&c), 0);
	for (int i = 0; i < c.n; i++)
		ck_assert_int_eq(th_cl_node_start(&c, i, NULL), 0);
	ck_assert_int_eq(th_cl_mount(&c, verbose), 0);

	for (int i = 0; i < LAYOUT_FILES / 2; i++)
		bad += !th_cl_same_file(&c, i, 0);
	ck_assert_int_eq(bad, 0);

	sl_strlcpy(c.block_size, "128K", sizeof(c.block_size));
	ck_assert_int_eq(th_cl_write_conf(&c), 0);
	for (int i = 0; i < c.n; i++)
		ck_assert_int_eq(th_cl_node_signal(&c, i, SIGHUP), 0);
	for (int i = 0; i < c.n; i++)
		ck_assert_int_eq(
			th_wait_in_file(c.node[i].log, "reloaded", 1, 10000),
			0);

	/* Files never read, then the first ones again from the mount. */
	for (int i = LAYOUT_FILES / 2; i < LAYOUT_FILES; i++)
		bad += !th_cl_same_file(&c, i, 0);
	for (int i = 0; i < LAYOUT_FILES / 2; i++)
		bad += !th_cl_same_file(&c, i, 1);
	ck_assert_int_eq(bad, 0);
	ck_assert_int_ge(th_count_in_file(c.fclog, "cluster map from"), 1);
	ck_assert_int_ge(th_count_in_file(c.fclog, "block size 131072"), 1);
	ck_assert_int_eq(th_cl_unmount(&c), 0);
	th_cl_fini(&c);
}
END_TEST

static Suite *cluster_suite(void)
{
	Suite *s = suite_create("it_cluster");
	TCase *tl = tcase_create("layout");

	tcase_set_timeout(tl, 120);
	tcase_add_test(tl, test_layout_change);
	suite_add_tcase(s, tl);
	return s;
}

int main(void)
{
	char *tmp;
	int rc;

	if (!th_have_fuse())
		return th_check_skip_suite("it_cluster",
					   "needs root and /dev/fuse");
	tmp = th_tmpdir("it-cluster");
	SL_ASSERT(tmp);
	sl_strlcpy(work, tmp, sizeof(work));
	free(tmp);
	rc = th_check_run(cluster_suite(), NULL);
	if (rc == 0 && !getenv("SLUICE_KEEP_TMP"))
		th_rmtree(work);
	else
		fprintf(stderr, "it_cluster: logs kept in %s\n", work);
	return rc;
}
