/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for fuse/dircache: a listed name answers a lookup with its
 * attributes, a whole listing also answers "no such name" and a partial one
 * does not, the second unanswered lookup in an unlisted directory (and only
 * that one) is asked to list it, a newer listing overtakes an older one,
 * entries go stale after the TTL, a forgotten directory answers nothing
 * (not even from a fill begun before), datasets are kept apart, and the entry
 * bound holds, dropping whole directories and refusing one that would take
 * more than half.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fuse/dircache.h"
#include "proto/proto.h"
#include "test/helper_check.h"

static fc_attr_t attr(uint64_t size)
{
	fc_attr_t a;

	memset(&a, 0, sizeof(a));
	a.type = PR_TYPE_FILE;
	a.mode = 0444;
	a.size = size;
	a.mtime_ns = 1234567890123;
	snprintf(a.version, sizeof(a.version), "s%llu-m1",
		 (unsigned long long)size);
	return a;
}

/* List n files f0..f(n-1) of size i into (ds, dir). */
static void fill(fc_dcache_t *d, int ds, const char *dir, int n, int whole,
		 uint64_t now)
{
	uint64_t gen = fc_dcache_fill_begin(d, ds, dir, now);

	for (int i = 0; i < n; i++) {
		char name[16];
		fc_attr_t a = attr((uint64_t)i);

		snprintf(name, sizeof(name), "f%d", i);
		fc_dcache_fill_add(d, ds, dir, gen, name, &a);
	}
	fc_dcache_fill_end(d, ds, dir, gen, whole);
}

START_TEST(test_hit_and_absent)
{
	fc_dcache_t *d = fc_dcache_new(1000);
	fc_attr_t a;
	int f;

	fill(d, 0, "train/c1", 5, 1, 100);
	ck_assert_int_eq(
		fc_dcache_lookup(d, 0, "train/c1", "f3", 200, 0, &a, &f), 1);
	ck_assert_uint_eq(a.type, PR_TYPE_FILE);
	ck_assert_uint_eq(a.size, 3);
	ck_assert_uint_eq(a.mode, 0444);
	ck_assert_int_eq(a.mtime_ns, 1234567890123);
	ck_assert_str_eq(a.version, "s3-m1");
	ck_assert_uint_eq(a.fetched_ms, 100);
	/* Whole: a name not listed does not exist. */
	ck_assert_int_eq(
		fc_dcache_lookup(d, 0, "train/c1", "nope", 200, 0, &a, &f), 0);
	/* Another dataset, another directory. */
	ck_assert_int_eq(
		fc_dcache_lookup(d, 1, "train/c1", "f3", 200, 0, &a, &f),
		-EAGAIN);
	ck_assert_int_eq(f, 0);
	/* Partial: it cannot tell. */
	fill(d, 0, "train/c2", 5, 0, 100);
	ck_assert_int_eq(
		fc_dcache_lookup(d, 0, "train/c2", "f1", 200, 0, &a, &f), 1);
	ck_assert_int_eq(
		fc_dcache_lookup(d, 0, "train/c2", "nope", 200, 0, &a, &f),
		-EAGAIN);
	fc_dcache_destroy(&d);
	ck_assert_ptr_null(d);
	fc_dcache_destroy(&d);
}
END_TEST

START_TEST(test_list_on_second_miss)
{
	fc_dcache_t *d = fc_dcache_new(1000);
	fc_attr_t a;
	int f;

	ck_assert_int_eq(fc_dcache_lookup(d, 0, "x", "a", 0, 0, &a, &f),
			 -EAGAIN);
	ck_assert_int_eq(f, 0); /* one stat is just a stat */
	ck_assert_int_eq(fc_dcache_lookup(d, 0, "x", "b", 1, 0, &a, &f),
			 -EAGAIN);
	ck_assert_int_eq(f, 1); /* this caller lists it */
	ck_assert_int_eq(fc_dcache_lookup(d, 0, "x", "c", 2, 0, &a, &f),
			 -EAGAIN);
	ck_assert_int_eq(f, 0); /* claimed already */
	fill(d, 0, "x", 3, 1, 3);
	ck_assert_int_eq(fc_dcache_lookup(d, 0, "x", "f2", 4, 0, &a, &f), 1);
	/* A partial listing from readdir still gets one lookup-driven
	 * listing, and only one. */
	fill(d, 0, "y", 3, 0, 5);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(fc_dcache_lookup(d, 0, "y", "z", 6, 0, &a, &f),
				 -EAGAIN);
		ck_assert_int_eq(f, i == 1);
	}
	fc_dcache_destroy(&d);
}
END_TEST

/* A forgotten directory answers nothing, a fill begun before the forget
 * adds nothing, and other directories keep theirs. */
START_TEST(test_forget)
{
	fc_dcache_t *d = fc_dcache_new(1000);
	fc_attr_t a = attr(9);
	uint64_t gen;
	int f;

	fill(d, 0, "a", 5, 1, 10);
	fill(d, 0, "b", 5, 1, 10);
	ck_assert_uint_eq(fc_dcache_count(d), 12);
	fc_dcache_forget(d, 0, "a");
	ck_assert_uint_eq(fc_dcache_count(d), 6);
	ck_assert_int_eq(fc_dcache_lookup(d, 0, "a", "f1", 20, 0, &a, &f),
			 -EAGAIN);
	ck_assert_int_eq(fc_dcache_lookup(d, 0, "a", "nope", 20, 0, &a, &f),
			 -EAGAIN);
	ck_assert_int_eq(fc_dcache_lookup(d, 0, "b", "f1", 20, 0, &a, &f), 1);
	gen = fc_dcache_fill_begin(d, 0, "c", 30);
	fc_dcache_fill_add(d, 0, "c", gen, "early", &a);
	fc_dcache_forget(d, 0, "c");
	fc_dcache_fill_add(d, 0, "c", gen, "late", &a);
	fc_dcache_fill_end(d, 0, "c", gen, 1);
	ck_assert_int_eq(fc_dcache_lookup(d, 0, "c", "late", 40, 0, &a, &f),
			 -EAGAIN);
	ck_assert_int_eq(fc_dcache_lookup(d, 0, "c", "x", 40, 0, &a, &f),
			 -EAGAIN);
	fc_dcache_forget(d, 1, "nothing-here");
	fc_dcache_destroy(&d);
}
END_TEST

START_TEST(test_generations_and_ttl)
{
	fc_dcache_t *d = fc_dcache_new(1000);
	fc_attr_t a = attr(7);
	uint64_t g1, g2;
	int f;

	g1 = fc_dcache_fill_begin(d, 0, "x", 0);
	fc_dcache_fill_add(d, 0, "x", g1, "old", &a);
	g2 = fc_dcache_fill_begin(d, 0, "x", 10);
	ck_assert_uint_ne(g1, g2);
	fc_dcache_fill_add(d, 0, "x", g1, "late", &a); /* overtaken */
	fc_dcache_fill_end(d, 0, "x", g1, 1);
	fc_dcache_fill_add(d, 0, "x", g2, "new", &a);
	fc_dcache_fill_end(d, 0, "x", g2, 1);
	ck_assert_int_eq(fc_dcache_lookup(d, 0, "x", "new", 20, 0, &a, &f), 1);
	ck_assert_int_eq(fc_dcache_lookup(d, 0, "x", "old", 20, 0, &a, &f), 0);
	ck_assert_int_eq(fc_dcache_lookup(d, 0, "x", "late", 20, 0, &a, &f), 0);
	/* A TTL of 100 ms: still good at 109, forgotten at 110. */
	ck_assert_int_eq(fc_dcache_lookup(d, 0, "x", "new", 109, 100, &a, &f),
			 1);
	ck_assert_int_eq(fc_dcache_lookup(d, 0, "x", "new", 110, 100, &a, &f),
			 -EAGAIN);
	ck_assert_int_eq(fc_dcache_lookup(d, 0, "x", "new", 111, 100, &a, &f),
			 -EAGAIN);
	ck_assert_int_eq(f, 1); /* and may be listed again */
	fc_dcache_destroy(&d);
}
END_TEST

START_TEST(test_bound)
{
	fc_dcache_t *d = fc_dcache_new(20);
	fc_attr_t a;
	int f;

	/* 11 of 20 is more than half: none of it is kept. */
	fill(d, 0, "big", 11, 1, 0);
	ck_assert_int_eq(fc_dcache_lookup(d, 0, "big", "f1", 1, 0, &a, &f),
			 -EAGAIN);
	ck_assert_uint_le(fc_dcache_count(d), 20);
	/* Directories of 4 (plus their record): the oldest make room. */
	for (int i = 0; i < 10; i++) {
		char dir[16];

		snprintf(dir, sizeof(dir), "d%d", i);
		fill(d, 0, dir, 4, 1, (uint64_t)i);
		ck_assert_uint_le(fc_dcache_count(d), 20);
	}
	ck_assert_int_eq(fc_dcache_lookup(d, 0, "d9", "f3", 20, 0, &a, &f), 1);
	ck_assert_int_eq(fc_dcache_lookup(d, 0, "d8", "f3", 20, 0, &a, &f), 1);
	ck_assert_int_eq(fc_dcache_lookup(d, 0, "d0", "f3", 20, 0, &a, &f),
			 -EAGAIN);
	ck_assert_uint_le(fc_dcache_count(d), 20);
	fc_dcache_destroy(&d);
}
END_TEST

static Suite *dircache_suite(void)
{
	return TH_SUITE(
		"fc_dircache",
		{.name = "core",
		 .tests = TH_TESTS(test_hit_and_absent,
				   test_list_on_second_miss, test_forget,
				   test_generations_and_ttl, test_bound)});
}

int main(void)
{
	return th_check_run(dircache_suite(), NULL);
}
