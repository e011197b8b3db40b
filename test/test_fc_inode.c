/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for fuse/inode: numbers derived from (dataset, path) and stable
 * across tables (a restarted client), the collision rule (linear probing,
 * skipping 0 and 1), lookup counting, FORGET freeing entries, and references
 * keeping a forgotten entry alive until put.
 */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuse/inode.h"
#include "proto/proto.h"
#include "test/helper_check.h"

static fc_attr_t file_attr(uint64_t size)
{
	fc_attr_t a;

	memset(&a, 0, sizeof(a));
	a.type = PR_TYPE_FILE;
	a.mode = 0644;
	a.size = size;
	strcpy(a.version, "v1");
	return a;
}

START_TEST(test_root)
{
	fc_inode_table_t *t = fc_inode_table_new(NULL);
	fc_inode_t *ip = fc_inode_get(t, FC_INO_ROOT);

	ck_assert_ptr_nonnull(ip);
	ck_assert_int_eq(ip->dataset, -1);
	ck_assert_str_eq(ip->path, "");
	fc_inode_put(t, ip);
	fc_inode_forget(t, FC_INO_ROOT, 100);
	ck_assert_ptr_nonnull(ip = fc_inode_get(t, FC_INO_ROOT));
	fc_inode_put(t, ip);
	ck_assert_uint_eq(fc_inode_count(t), 1);
	fc_inode_table_destroy(&t);
	ck_assert_ptr_null(t);
	fc_inode_table_destroy(NULL);
}
END_TEST

START_TEST(test_stable_numbers)
{
	fc_inode_table_t *a = fc_inode_table_new(NULL);
	fc_inode_table_t *b = fc_inode_table_new(NULL);
	fc_attr_t at = file_attr(1);
	char path[64];
	uint64_t ia[200];

	for (int i = 0; i < 200; i++) {
		snprintf(path, sizeof(path), "d%d/f%d", i % 7, i);
		ia[i] = fc_inode_lookup(a, 0, "imagenet", path, &at);
		ck_assert_uint_gt(ia[i], FC_INO_ROOT);
		ck_assert_uint_eq(ia[i], fc_inode_hash("imagenet", path));
	}
	/* Another table (a restarted client), other order: same numbers. */
	for (int i = 199; i >= 0; i--) {
		snprintf(path, sizeof(path), "d%d/f%d", i % 7, i);
		ck_assert_uint_eq(fc_inode_lookup(b, 0, "imagenet", path, &at),
				  ia[i]);
	}
	/* Looking up again returns the same number and counts. */
	ck_assert_uint_eq(fc_inode_lookup(a, 0, "imagenet", "d0/f0", &at),
			  ia[0]);
	ck_assert_uint_eq(fc_inode_nlookup(a, ia[0]), 2);
	/* Same path in another dataset: another number. */
	ck_assert_uint_ne(fc_inode_lookup(a, 1, "coco", "d0/f0", &at), ia[0]);
	/* Length prefixes: ("ab","c") differs from ("a","bc"). */
	ck_assert_uint_ne(fc_inode_hash("ab", "c"), fc_inode_hash("a", "bc"));
	fc_inode_table_destroy(&a);
	fc_inode_table_destroy(&b);
}
END_TEST

/* A hash with few values, to force collisions. */
static uint64_t weak_hash(const char *dataset, const char *path)
{
	(void)dataset;
	return strlen(path) % 2 ? 41 : UINT64_MAX;
}

START_TEST(test_collisions)
{
	fc_inode_table_t *t = fc_inode_table_new(weak_hash);
	fc_attr_t at = file_attr(1);
	uint64_t x, y, z, w;

	/* "a", "c", "e": hash 41: linear probing gives 41, 42, 43. */
	x = fc_inode_lookup(t, 0, "ds", "a", &at);
	y = fc_inode_lookup(t, 0, "ds", "c", &at);
	z = fc_inode_lookup(t, 0, "ds", "e", &at);
	ck_assert_uint_eq(x, 41);
	ck_assert_uint_eq(y, 42);
	ck_assert_uint_eq(z, 43);
	/* The same names again: the same numbers (found by name). */
	ck_assert_uint_eq(fc_inode_lookup(t, 0, "ds", "c", &at), 42);
	/* Free 42; a new colliding name takes the first free slot. */
	fc_inode_forget(t, y, 2);
	ck_assert_uint_eq(fc_inode_nlookup(t, 42), 0);
	ck_assert_uint_eq(fc_inode_lookup(t, 0, "ds", "g", &at), 42);
	/* Wrap-around skips 0 and 1: UINT64_MAX, then 2, 3. */
	w = fc_inode_lookup(t, 0, "ds", "bb", &at);
	ck_assert_uint_eq(w, UINT64_MAX);
	ck_assert_uint_eq(fc_inode_lookup(t, 0, "ds", "dd", &at), 2);
	ck_assert_uint_eq(fc_inode_lookup(t, 0, "ds", "ff", &at), 3);
	/* Each entry resolves to its own path. */
	{
		fc_inode_t *ip = fc_inode_get(t, 2);

		ck_assert_str_eq(ip->path, "dd");
		fc_inode_put(t, ip);
		ip = fc_inode_get(t, 43);
		ck_assert_str_eq(ip->path, "e");
		fc_inode_put(t, ip);
	}
	fc_inode_table_destroy(&t);
}
END_TEST

START_TEST(test_forget_frees)
{
	fc_inode_table_t *t = fc_inode_table_new(NULL);
	fc_attr_t at = file_attr(7);
	char path[64];
	uint64_t ino[5000];

	for (int i = 0; i < 5000; i++) {
		snprintf(path, sizeof(path), "train/%d.jpg", i);
		ino[i] = fc_inode_lookup(t, 0, "ds", path, &at);
		fc_inode_lookup(t, 0, "ds", path, &at);
	}
	ck_assert_uint_eq(fc_inode_count(t), 5001);
	for (int i = 0; i < 5000; i++)
		fc_inode_forget(t, ino[i], 1);
	ck_assert_uint_eq(fc_inode_count(t), 5001);
	for (int i = 0; i < 5000; i++)
		fc_inode_forget(t, ino[i], 1);
	ck_assert_uint_eq(fc_inode_count(t), 1);
	ck_assert_ptr_null(fc_inode_get(t, ino[0]));
	/* Unknown numbers are ignored. */
	fc_inode_forget(t, 12345, 1);
	fc_inode_table_destroy(&t);
}
END_TEST

START_TEST(test_ref_outlives_forget)
{
	fc_inode_table_t *t = fc_inode_table_new(NULL);
	fc_attr_t at = file_attr(9), got;
	uint64_t ino = fc_inode_lookup(t, 0, "ds", "x/y", &at);
	fc_inode_t *ip = fc_inode_get(t, ino);

	fc_inode_forget(t, ino, 1);
	/* Still referenced: path and attributes remain valid. */
	ck_assert_str_eq(ip->path, "x/y");
	fc_inode_attr(t, ip, &got);
	ck_assert_uint_eq(got.size, 9);
	at.size = 10;
	fc_inode_set_attr(t, ip, &at);
	fc_inode_attr(t, ip, &got);
	ck_assert_uint_eq(got.size, 10);
	ck_assert_uint_eq(fc_inode_count(t), 2);
	fc_inode_put(t, ip);
	ck_assert_uint_eq(fc_inode_count(t), 1);
	fc_inode_table_destroy(&t);
}
END_TEST

struct race {
	fc_inode_table_t *t;
	int id;
};

static void *racer(void *arg)
{
	struct race *r = arg;
	fc_attr_t at = file_attr(1);
	char path[64];

	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 50; i++) {
			uint64_t ino;
			fc_inode_t *ip;

			snprintf(path, sizeof(path), "f%d", i);
			ino = fc_inode_lookup(r->t, 0, "ds", path, &at);
			ip = fc_inode_get(r->t, ino);
			ck_assert_ptr_nonnull(ip);
			ck_assert_str_eq(ip->path, path);
			fc_inode_forget(r->t, ino, 1);
			fc_inode_put(r->t, ip);
		}
	}
	return NULL;
}

START_TEST(test_threads)
{
	fc_inode_table_t *t = fc_inode_table_new(NULL);
	pthread_t th[4];
	struct race r[4];

	for (int i = 0; i < 4; i++) {
		r[i].t = t;
		r[i].id = i;
		pthread_create(&th[i], NULL, racer, &r[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	ck_assert_uint_eq(fc_inode_count(t), 1);
	fc_inode_table_destroy(&t);
}
END_TEST

static Suite *inode_suite(void)
{
	Suite *s = suite_create("fc_inode");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_root);
	tcase_add_test(tc, test_stable_numbers);
	tcase_add_test(tc, test_collisions);
	tcase_add_test(tc, test_forget_frees);
	tcase_add_test(tc, test_ref_outlives_forget);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return th_check_run(inode_suite(), NULL);
}
