/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scaling advice: figures taken by their metric names (a node with a
 * disk counts its disk, one without its RAM), the working set as distinct
 * fetched bytes but never less than what is held, the node count rounded
 * up with headroom, rates over a window that survive a node's restart,
 * and the recommendation's words for each case; per dataset, each
 * dataset's own series against the nodes' whole capacity, adding up to
 * the cluster's, a dataset with no demand at 0 B/s and held bytes only.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/advise.h"
#include "common/util.h"
#include "test/helper_check.h"

#define MiB (1ull << 20)

static void add(sl_advise_node_t *n, const char *name, uint64_t v)
{
	sl_advise_node_add(n, name, strlen(name), v);
}

static char *print(const sl_advise_t *a, int json)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_int_eq(sl_advise_print(f, a, json), 0);
	fclose(f);
	return text;
}

START_TEST(test_figures)
{
	sl_advise_node_t n[2] = {{0}};
	sl_advise_t a;
	char *t;

	add(&n[0], "sluice_ram_capacity_bytes", 8 * MiB);
	add(&n[0], "sluice_ram_used_bytes", 6 * MiB);
	add(&n[0], "sluice_backend_read_bytes_total", 40 * MiB);
	add(&n[0], "sluice_backend_refetched_bytes_total", 20 * MiB);
	add(&n[0], "sluice_requests_total{op=\"READ\",status=\"ok\"}", 5);
	add(&n[0], "sluice_ram", 99); /* a prefix is not the name */
	/* A node with a disk: the disk is what it caches (inclusive). */
	add(&n[1], "sluice_ram_capacity_bytes", 8 * MiB);
	add(&n[1], "sluice_disk_capacity_bytes", 24 * MiB);
	add(&n[1], "sluice_disk_used_bytes", 2 * MiB);
	add(&n[1], "sluice_backend_read_bytes_total", 4 * MiB);
	ck_assert_uint_eq(n[0].ram_capacity, 8 * MiB);
	sl_advise_compute(n, NULL, 2, 0, 10, &a);
	ck_assert_uint_eq(a.capacity, 32 * MiB);
	ck_assert_uint_eq(a.used, 8 * MiB);
	ck_assert_uint_eq(a.node_size, 16 * MiB);
	ck_assert(a.used_ratio == 0.25);
	ck_assert_uint_eq(a.working_set, 24 * MiB);
	ck_assert(a.refetch_ratio > 0.45 && a.refetch_ratio < 0.46);
	/* 24 MiB + 10% = 26.4 MiB over 16 MiB nodes. */
	ck_assert_uint_eq(a.nodes_needed, 2);
	t = print(&a, 0);
	ck_assert_msg(strstr(t, "enough: the 2 nodes hold"), "%s", t);
	free(t);
	sl_advise_compute(n, NULL, 2, 0, 50, &a);
	ck_assert_uint_eq(a.nodes_needed, 3);
	t = print(&a, 1);
	ck_assert_msg(strstr(t, "\"nodes_needed\": 3,") &&
			      strstr(t, "\"recommendation\": \"add 1 node: 3"),
		      "%s", t);
	free(t);
}
END_TEST

START_TEST(test_small_and_window)
{
	sl_advise_node_t now[3] = {{0}}, before[3] = {{0}};
	sl_advise_t a;
	char *t;

	for (int i = 0; i < 3; i++) {
		now[i].ram_capacity = 64 * MiB;
		now[i].fetched = 10 * MiB;
		before[i].fetched = 4 * MiB;
	}
	/* Node 2 restarted: its counters went back, it adds nothing. */
	before[2].fetched = 50 * MiB;
	now[1].ram_used = 30 * MiB; /* held from a former life: the floor */
	sl_advise_compute(now, before, 3, 2.0, 10, &a);
	ck_assert_uint_eq(a.working_set, 30 * MiB);
	ck_assert_uint_eq(a.nodes_needed, 1);
	ck_assert(a.demand_bps == 6.0 * MiB);
	ck_assert(a.refetch_bps == 0);
	t = print(&a, 0);
	ck_assert_msg(strstr(t, "1 node of this size would hold the hot "
				"working set; 3 are serving"),
		      "%s", t);
	free(t);
	/* Refetches with spare nodes: not a reason to shrink. */
	now[0].refetched = 1;
	sl_advise_compute(now, NULL, 3, 0, 10, &a);
	t = print(&a, 0);
	ck_assert_msg(strstr(t, "enough"), "%s", t);
	free(t);
	sl_advise_compute(now, NULL, 0, 0, 10, &a);
	ck_assert_uint_eq(a.nodes_needed, 1);
	t = print(&a, 0);
	ck_assert_msg(strstr(t, "no node reported"), "%s", t);
	free(t);
}
END_TEST

static void dsadd(sl_advise_node_t *n, const char *ds, const char *name,
		  uint64_t v)
{
	sl_advise_dataset_add(n, ds, name, strlen(name), v);
}

/* One STATS item of a node. */
typedef struct stat_item {
	int node; /* -1: every node */
	const char *name;
	uint64_t v;
} stat_item_t;

#define DS(d, rest) "sluice_dataset_" rest "{dataset=\"" d "\""

/* Node 0: RAM only; node 1: a disk.  d1 is read every epoch and does not
 * fit; d2 was loaded earlier and is not read now. */
static const stat_item_t stats_now[] = {
	{-1, "sluice_ram_capacity_bytes", 8 * MiB},
	{1, "sluice_disk_capacity_bytes", 24 * MiB},
	{0, "sluice_ram_used_bytes", 7 * MiB},
	{0, DS("d1", "cached_bytes") ",tier=\"ram\"}", 5 * MiB},
	{0, DS("d2", "cached_bytes") ",tier=\"ram\"}", 2 * MiB},
	{1, "sluice_disk_used_bytes", 20 * MiB},
	/* Node 1 counts its disk: its RAM share of d1 is not used. */
	{1, DS("d1", "cached_bytes") ",tier=\"ram\"}", 8 * MiB},
	{1, DS("d1", "cached_bytes") ",tier=\"disk\"}", 16 * MiB},
	{1, DS("d2", "cached_bytes") ",tier=\"disk\"}", 4 * MiB},
	{-1, "sluice_backend_read_bytes_total", 50 * MiB},
	{-1, DS("d1", "backend_read_bytes_total") "}", 46 * MiB},
	{-1, DS("d2", "backend_read_bytes_total") "}", 4 * MiB},
	{-1, "sluice_backend_refetched_bytes_total", 30 * MiB},
	{-1, DS("d1", "backend_refetched_bytes_total") "}", 30 * MiB},
};

/* Ten seconds earlier: d2 had fetched all it has now. */
static const stat_item_t stats_before[] = {
	{-1, "sluice_ram_capacity_bytes", 8 * MiB},
	{-1, "sluice_backend_read_bytes_total", 30 * MiB},
	{-1, DS("d1", "backend_read_bytes_total") "}", 26 * MiB},
	{-1, DS("d2", "backend_read_bytes_total") "}", 4 * MiB},
};

/* Two nodes' STATS, as the CLI feeds them, to the cluster's figures
 * node[] and to each dataset's, d1[] and d2[]. */
static void feed(const stat_item_t *it, size_t n, sl_advise_node_t *node,
		 sl_advise_node_t *d1, sl_advise_node_t *d2)
{
	for (size_t k = 0; k < n; k++)
		for (int i = 0; i < 2; i++) {
			if (it[k].node >= 0 && it[k].node != i)
				continue;
			add(&node[i], it[k].name, it[k].v);
			dsadd(&d1[i], "d1", it[k].name, it[k].v);
			dsadd(&d2[i], "d2", it[k].name, it[k].v);
		}
}

START_TEST(test_per_dataset)
{
	sl_advise_node_t now[2] = {{0}}, before[2] = {{0}};
	sl_advise_node_t d1[2] = {{0}}, d1b[2] = {{0}};
	sl_advise_node_t d2[2] = {{0}}, d2b[2] = {{0}};
	const char *names[] = {"d1", "d2"};
	sl_advise_t total, per[2];
	char *t = NULL;
	size_t len = 0;
	FILE *f;

	feed(stats_now, SL_ARRAY_SIZE(stats_now), now, d1, d2);
	feed(stats_before, SL_ARRAY_SIZE(stats_before), before, d1b, d2b);
	/* Another dataset's series, or a name that only starts like one,
	 * is nobody's. */
	dsadd(&d2[0], "d",
	      "sluice_dataset_cached_bytes{dataset=\"d2\",tier="
	      "\"ram\"}",
	      99);
	dsadd(&d2[0], "d2",
	      "sluice_dataset_backend_read_bytes_total{dataset=\"d2\"}x", 99);
	ck_assert_uint_eq(d2[0].ram_used, 2 * MiB);
	ck_assert_uint_eq(d2[0].fetched, 4 * MiB);
	ck_assert_uint_eq(d1[1].disk_capacity, 24 * MiB);
	ck_assert_uint_eq(d1[1].ram_used, 8 * MiB);
	ck_assert_uint_eq(d2[1].refetched, 0);

	sl_advise_compute(now, before, 2, 10, 0, &total);
	sl_advise_compute(d1, d1b, 2, 10, 0, &per[0]);
	sl_advise_compute(d2, d2b, 2, 10, 0, &per[1]);
	/* Against the whole of each node: 8 + 24 MiB. */
	ck_assert_uint_eq(per[0].capacity, 32 * MiB);
	ck_assert_uint_eq(per[0].used, 21 * MiB);
	ck_assert_uint_eq(per[1].used, 6 * MiB);
	ck_assert_uint_eq(per[0].used + per[1].used, total.used);
	ck_assert_uint_eq(per[0].fetched + per[1].fetched, total.fetched);
	ck_assert_uint_eq(per[0].refetched + per[1].refetched, total.refetched);
	ck_assert(per[0].demand_bps + per[1].demand_bps == total.demand_bps);
	ck_assert(per[0].refetch_bps == 6.0 * MiB);
	/* d1: 92 MiB fetched, 60 of them again: 32 distinct. */
	ck_assert_uint_eq(per[0].working_set, 32 * MiB);
	ck_assert(per[0].node_share == 2.0);
	ck_assert_uint_eq(per[0].nodes_needed, 2);
	/* d2: no demand in the window; its working set is the 8 MiB it
	 * fetched once (it holds 6 of them). */
	ck_assert(per[1].demand_bps == 0);
	ck_assert(per[1].refetch_bps == 0);
	ck_assert(per[1].refetch_ratio == 0);
	ck_assert_uint_eq(per[1].working_set, 8 * MiB);
	ck_assert(per[1].node_share == 0.5);
	ck_assert_uint_eq(per[0].working_set + per[1].working_set,
			  total.working_set);

	f = open_memstream(&t, &len);
	ck_assert_int_eq(sl_advise_print_datasets(f, &total, names, per, 2, 1),
			 0);
	fclose(f);
	ck_assert_msg(strstr(t, "\"datasets\": [{\"name\": \"d1\", \"nodes\": "
				"2,") &&
			      strstr(t, "{\"name\": \"d2\",") &&
			      strstr(t, "\"node_share\": 0.5000,") &&
			      strstr(t, "\"recommendation\": \"add 1 node: 3"),
		      "%s", t);
	free(t);
	t = NULL;
	f = open_memstream(&t, &len);
	ck_assert_int_eq(sl_advise_print_datasets(f, &total, names, per, 2, 0),
			 0);
	fclose(f);
	ck_assert_msg(strstr(t, "\nd2 ") && strstr(t, "\n(cluster) ") &&
			      strstr(t, " 0.50\n"),
		      "%s", t);
	free(t);
	/* A dataset nobody has read: nothing, and no node's worth. */
	memset(d2, 0, sizeof(d2));
	for (int i = 0; i < 2; i++)
		dsadd(&d2[i], "d2", "sluice_ram_capacity_bytes", 8 * MiB);
	sl_advise_compute(d2, NULL, 2, 0, 10, &per[1]);
	ck_assert_uint_eq(per[1].working_set, 0);
	ck_assert(per[1].node_share == 0);
	ck_assert(per[1].used_ratio == 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("advise");
	TCase *tc = tcase_create("advise");

	tcase_add_test(tc, test_figures);
	tcase_add_test(tc, test_small_and_window);
	tcase_add_test(tc, test_per_dataset);
	suite_add_tcase(s, tc);
	return th_check_run(s, NULL);
}
