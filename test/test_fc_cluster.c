/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client's cluster map from a decoded HELLO: a valid one gives the
 * nodes, datasets and the ring; one whose nodes weigh more than a ring may
 * hold (SL_RING_MAX_WEIGHT) is refused with a message, before a point is
 * allocated: a 10 KB HELLO of 1,024 nodes of weight 100 once made the
 * client build 100 million ring points.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "fuse/cluster.h"
#include "proto/proto.h"
#include "test/helper_check.h"

static char names[1024][16];
static pr_hello_node_t nodes[1024];

static pr_hello_t hello(uint32_t n, uint32_t weight)
{
	static pr_hello_dataset_t ds = {
		.name = {"d1", 2},
		.backend = {"posix", 5},
		.block_size = 1 << 20,
		.policy = {"lru", 3},
	};
	pr_hello_t h = {
		.cluster = {"c", 1},
		.node = {"n0", 2},
		.n_nodes = n,
		.nodes = nodes,
		.n_datasets = 1,
		.datasets = &ds,
	};

	for (uint32_t i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "n%u", i);
		nodes[i] = (pr_hello_node_t){pr_str(names[i]),
					     pr_str("tcp://127.0.0.1:7000"),
					     weight};
	}
	return h;
}

START_TEST(test_map_from_hello)
{
	pr_hello_t h = hello(3, 2);
	char err[256] = "";
	fc_cluster_t *cl = fc_cluster_from_hello(&h, err, sizeof(err));

	ck_assert_msg(cl, "%s", err);
	ck_assert_uint_eq(cl->n_nodes, 3);
	ck_assert_uint_eq(cl->nodes[1].weight, 2);
	ck_assert_uint_eq(sl_ring_members(cl->ring), 3);
	ck_assert_int_eq(fc_cluster_dataset(cl, "d1", 2), 0);
	fc_cluster_destroy(&cl);
	ck_assert_ptr_null(cl);
}
END_TEST

START_TEST(test_ring_too_heavy)
{
	pr_hello_t h = hello(1024, 100);
	char err[256] = "";
	fc_cluster_t *cl = fc_cluster_from_hello(&h, err, sizeof(err));

	ck_assert_ptr_null(cl);
	ck_assert_msg(strstr(err, "total weight 102400") &&
			      strstr(err, "limit of 2048"),
		      "%s", err);
	/* The limit itself is fine. */
	h = hello(1024, 2);
	cl = fc_cluster_from_hello(&h, err, sizeof(err));
	ck_assert_msg(cl, "%s", err);
	fc_cluster_destroy(&cl);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("fc_cluster");
	TCase *tc = tcase_create("cluster");

	tcase_add_test(tc, test_map_from_hello);
	tcase_add_test(tc, test_ring_too_heavy);
	suite_add_tcase(s, tc);
	return th_check_run(s, NULL);
}
