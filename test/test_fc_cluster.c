/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client's cluster maps (fuse/cluster.c) built from HELLO replies and
 * merged as the I/O thread does: a map keeps the datasets of the one
 * before it at their indices (a dataset gone is kept, marked); another
 * ring is taken only with a greater generation, so nodes not reloaded
 * yet never take a client back; a dataset's layout is taken only when
 * served since later; a map from etcd's members replaces the ring when
 * newer and changes nothing when it is the same ring.  A map whose nodes
 * weigh more than a ring may hold (SL_RING_MAX_WEIGHT), from a HELLO or
 * from etcd, is refused before a point is allocated: a 10 KB HELLO of
 * 1,024 nodes of weight 100 once made the client build 100 million ring
 * points.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/members.h"
#include "common/util.h"
#include "fuse/cluster.h"
#include "proto/proto.h"
#include "test/helper_check.h"

static pr_hello_node_t nodes[4] = {
	{{"a", 1}, {"tcp://h:1", 9}, 1},
	{{"b", 1}, {"tcp://h:2", 9}, 1},
	{{"c", 1}, {"tcp://h:3", 9}, 1},
	{{"d", 1}, {"tcp://h:4", 9}, 1},
};

/* A map of the first n nodes at gen; datasets x (layout lx since sx) and
 * y, or only y when lx is 0. */
static fc_cluster_t *map(const fc_cluster_t *prev, uint32_t n, uint64_t gen,
			 uint32_t lx, uint64_t sx)
{
	pr_hello_dataset_t d[2] = {
		{{"x", 1}, {"posix", 5}, 65536, lx, sx, {"lru", 3}, 0},
		{{"y", 1}, {"posix", 5}, 4096, 7, 1, {"lru", 3}, 0},
	};
	pr_hello_t h = {.cluster = {"c", 1},
			.node = {"a", 1},
			.generation = gen,
			.n_nodes = n,
			.nodes = nodes,
			.n_datasets = lx ? 2 : 1,
			.datasets = lx ? d : d + 1};
	char err[256];
	fc_cluster_t *cl = fc_cluster_from_hello(&h, prev, err, sizeof(err));

	ck_assert_msg(cl, "%s", err);
	return cl;
}

static char names[1024][16];
static pr_hello_node_t many[1024];

/* A HELLO of n nodes of weight each, one dataset. */
static pr_hello_t hello(uint32_t n, uint32_t weight)
{
	static pr_hello_dataset_t ds = {
		.name = {"d1", 2},
		.backend = {"posix", 5},
		.block_size = 1 << 20,
		.layout = 1,
		.policy = {"lru", 3},
	};
	pr_hello_t h = {
		.cluster = {"c", 1},
		.node = {"n0", 2},
		.n_nodes = n,
		.nodes = many,
		.n_datasets = 1,
		.datasets = &ds,
	};

	for (uint32_t i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "n%u", i);
		many[i] = (pr_hello_node_t){pr_str(names[i]),
					    pr_str("tcp://127.0.0.1:7000"),
					    weight};
	}
	return h;
}

START_TEST(test_map_from_hello)
{
	pr_hello_t h = hello(3, 2);
	char err[256] = "";
	fc_cluster_t *cl = fc_cluster_from_hello(&h, NULL, err, sizeof(err));

	ck_assert_msg(cl, "%s", err);
	ck_assert_uint_eq(cl->n_nodes, 3);
	ck_assert_uint_eq(cl->nodes[1].weight, 2);
	ck_assert_uint_eq(sl_ring_members(cl->ring), 3);
	ck_assert_int_eq(fc_cluster_dataset(cl, "d1", 2), 0);
	fc_cluster_unref(&cl);
	ck_assert_ptr_null(cl);
}
END_TEST

START_TEST(test_ring_too_heavy)
{
	pr_hello_t h = hello(1024, 100);
	char err[256] = "";
	fc_cluster_t *cl = fc_cluster_from_hello(&h, NULL, err, sizeof(err));

	ck_assert_ptr_null(cl);
	ck_assert_msg(strstr(err, "total weight 102400") &&
			      strstr(err, "limit of 2048"),
		      "%s", err);
	/* The limit itself is fine. */
	h = hello(1024, 2);
	cl = fc_cluster_from_hello(&h, NULL, err, sizeof(err));
	ck_assert_msg(cl, "%s", err);
	fc_cluster_unref(&cl);
}
END_TEST

START_TEST(test_indices_kept)
{
	fc_cluster_t *a = map(NULL, 3, 10, 5, 100);
	fc_cluster_t *b = map(a, 3, 10, 0, 0); /* x gone */
	fc_cluster_t *c = map(b, 3, 10, 6, 200);

	ck_assert_str_eq(a->datasets[0].name, "x");
	ck_assert_str_eq(b->datasets[0].name, "x");
	ck_assert_int_eq(b->datasets[0].gone, 1);
	ck_assert_str_eq(b->datasets[1].name, "y");
	ck_assert_int_eq(b->datasets[1].gone, 0);
	ck_assert_int_eq(c->datasets[0].gone, 0);
	ck_assert_uint_eq(c->datasets[0].layout, 6);
	ck_assert_int_eq(fc_cluster_dataset(c, "y", 1), 1);
	fc_cluster_unref(&a);
	fc_cluster_unref(&b);
	fc_cluster_unref(&c);
}
END_TEST

START_TEST(test_merge_rules)
{
	fc_cluster_t *cur = map(NULL, 3, 10, 5, 100), *cand, *m;

	/* Another ring, newer: taken, the datasets kept. */
	cand = map(cur, 4, 20, 5, 100);
	m = fc_cluster_merge(cur, cand);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->n_nodes, 4);
	ck_assert_uint_eq(m->generation, 20);
	ck_assert_uint_eq(m->ring_version, cand->ring_version);
	fc_cluster_unref(&cand);

	/* Back to 3 nodes, but older (a node not reloaded yet): nothing. */
	cand = map(m, 3, 15, 5, 100);
	ck_assert_ptr_null(fc_cluster_merge(m, cand));
	fc_cluster_unref(&cand);
	/* The same ring at a greater generation: nothing either. */
	cand = map(m, 4, 99, 5, 100);
	ck_assert_ptr_null(fc_cluster_merge(m, cand));
	fc_cluster_unref(&cand);

	/* A layout served since later: taken, the ring kept. */
	cand = map(m, 3, 15, 6, 200);
	fc_cluster_unref(&cur);
	cur = fc_cluster_merge(m, cand);
	ck_assert_ptr_nonnull(cur);
	ck_assert_uint_eq(cur->datasets[0].layout, 6);
	ck_assert_uint_eq(cur->datasets[0].layout_since_ms, 200);
	ck_assert_uint_eq(cur->n_nodes, 4);
	ck_assert_uint_eq(cur->generation, 20);
	fc_cluster_unref(&cand);
	/* The old layout again, from a node that has not reloaded: kept. */
	cand = map(cur, 4, 20, 5, 100);
	ck_assert_ptr_null(fc_cluster_merge(cur, cand));
	fc_cluster_unref(&cand);
	fc_cluster_unref(&m);
	fc_cluster_unref(&cur);
}
END_TEST

START_TEST(test_members_ring)
{
	fc_cluster_t *cur = map(NULL, 2, 10, 5, 100), *m;
	sl_member_t mem[3];
	sl_members_set_t set = {.generation = 9, .count = 2, .members = mem};

	memset(mem, 0, sizeof(mem));
	for (int i = 0; i < 3; i++) {
		snprintf(mem[i].name, sizeof(mem[i].name), "%c", 'a' + i);
		snprintf(mem[i].addr, sizeof(mem[i].addr), "tcp://h:%d", i + 1);
		mem[i].weight = 1;
	}
	/* Older: nothing.  Newer, same ring: nothing. */
	ck_assert_ptr_null(fc_cluster_with_members(cur, &set));
	set.generation = 11;
	ck_assert_ptr_null(fc_cluster_with_members(cur, &set));
	/* Newer, three members: the ring of three, the datasets kept. */
	set.count = 3;
	m = fc_cluster_with_members(cur, &set);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->n_nodes, 3);
	ck_assert_uint_eq(m->generation, 11);
	ck_assert_str_eq(m->source, "etcd");
	ck_assert_uint_eq(m->n_datasets, 2);
	ck_assert_uint_eq(m->datasets[0].layout, 5);
	/* No member at all: the ring stays. */
	set.count = 0;
	set.generation = 12;
	ck_assert_ptr_null(fc_cluster_with_members(m, &set));
	fc_cluster_unref(&m);
	fc_cluster_unref(&cur);
}
END_TEST

/* etcd lists members that weigh more than a ring may: the ring stays
 * (the view of a registry anyone with its credentials can write). */
START_TEST(test_members_too_heavy)
{
	enum { N = 21 }; /* 21 x 100 > 2048 */
	fc_cluster_t *cur = map(NULL, 2, 10, 5, 100), *m;
	sl_member_t *mem = sl_xcalloc(N, sizeof(*mem));
	sl_members_set_t set = {.generation = 11, .count = N, .members = mem};

	for (int i = 0; i < N; i++) {
		snprintf(mem[i].name, sizeof(mem[i].name), "n%d", i);
		snprintf(mem[i].addr, sizeof(mem[i].addr), "tcp://h:%d", i + 1);
		mem[i].weight = 100;
	}
	ck_assert_ptr_null(fc_cluster_with_members(cur, &set));
	/* One fewer fits (2,000). */
	set.count = N - 1;
	m = fc_cluster_with_members(cur, &set);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->n_nodes, N - 1);
	fc_cluster_unref(&m);
	fc_cluster_unref(&cur);
	free(mem);
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE(
		"fc_cluster",
		{.name = "maps",
		 .tests = TH_TESTS(test_map_from_hello, test_ring_too_heavy,
				   test_indices_kept, test_merge_rules,
				   test_members_ring, test_members_too_heavy)});

	sl_log_init("test_fc_cluster", SL_LOG_ERR);
	return th_check_run(s, NULL);
}
