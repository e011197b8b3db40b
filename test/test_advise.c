/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scaling advice: figures taken by their metric names (a node with a
 * disk counts its disk, one without its RAM), the working set as distinct
 * fetched bytes but never less than what is held, the node count rounded
 * up with headroom, rates over a window that survive a node's restart,
 * and the recommendation's words for each case.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/advise.h"
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

/* a, printed (as JSON when json), says want. */
static void says(const sl_advise_t *a, int json, const char *want)
{
	char *t = print(a, json);

	ck_assert_msg(strstr(t, want), "no \"%s\" in:\n%s", want, t);
	free(t);
}

START_TEST(test_figures)
{
	sl_advise_node_t n[2] = {{0}};
	sl_advise_t a;

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
	says(&a, 0, "enough: the 2 nodes hold");
	sl_advise_compute(n, NULL, 2, 0, 50, &a);
	ck_assert_uint_eq(a.nodes_needed, 3);
	says(&a, 1, "\"nodes_needed\": 3,");
	says(&a, 1, "\"recommendation\": \"add 1 node: 3");
}
END_TEST

START_TEST(test_small_and_window)
{
	sl_advise_node_t now[3] = {{0}}, before[3] = {{0}};
	sl_advise_t a;

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
	says(&a, 0,
	     "1 node of this size would hold the hot "
	     "working set; 3 are serving");
	/* Refetches with spare nodes: not a reason to shrink. */
	now[0].refetched = 1;
	sl_advise_compute(now, NULL, 3, 0, 10, &a);
	says(&a, 0, "enough");
	sl_advise_compute(now, NULL, 0, 0, 10, &a);
	ck_assert_uint_eq(a.nodes_needed, 1);
	says(&a, 0, "no node reported");
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE(
		"advise",
		{.name = "advise",
		 .tests = TH_TESTS(test_figures, test_small_and_window)});

	return th_check_run(s, NULL);
}
