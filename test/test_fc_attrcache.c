/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for fuse/attrcache: what was put comes back whole (versions
 * of every length), a put replaces, a drop forgets, and the bound holds,
 * the least recently used going first.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fuse/attrcache.h"
#include "proto/proto.h"
#include "test/helper_check.h"

static fc_attr_t attr(uint64_t size, const char *version)
{
	fc_attr_t a;

	memset(&a, 0, sizeof(a));
	a.type = PR_TYPE_FILE;
	a.mode = 0640;
	a.size = size;
	a.mtime_ns = -5;
	a.fetched_ms = 77;
	snprintf(a.version, sizeof(a.version), "%s", version);
	return a;
}

START_TEST(test_put_get)
{
	fc_acache_t *c = fc_acache_new(10);
	char v[129];
	fc_attr_t a = attr(3, "s3-m1"), got;

	ck_assert_int_eq(fc_acache_get(c, 5, &got), -ENOENT);
	fc_acache_put(c, 5, &a);
	ck_assert_int_eq(fc_acache_get(c, 5, &got), 0);
	ck_assert_uint_eq(got.type, PR_TYPE_FILE);
	ck_assert_uint_eq(got.mode, 0640);
	ck_assert_uint_eq(got.size, 3);
	ck_assert_int_eq(got.mtime_ns, -5);
	ck_assert_uint_eq(got.fetched_ms, 77);
	ck_assert_str_eq(got.version, "s3-m1");
	/* Replaced, with a longer and then an empty version. */
	memset(v, 'v', 128);
	v[128] = '\0';
	a = attr(4, v);
	fc_acache_put(c, 5, &a);
	ck_assert_int_eq(fc_acache_get(c, 5, &got), 0);
	ck_assert_str_eq(got.version, v);
	ck_assert_uint_eq(got.size, 4);
	a = attr(0, "");
	fc_acache_put(c, 5, &a);
	ck_assert_int_eq(fc_acache_get(c, 5, &got), 0);
	ck_assert_str_eq(got.version, "");
	ck_assert_uint_eq(fc_acache_count(c), 1);
	fc_acache_drop(c, 5);
	fc_acache_drop(c, 6);
	ck_assert_int_eq(fc_acache_get(c, 5, &got), -ENOENT);
	ck_assert_uint_eq(fc_acache_count(c), 0);
	ck_assert_uint_eq(fc_acache_bytes(c) > 0, 1); /* the table itself */
	fc_acache_destroy(&c);
	ck_assert_ptr_null(c);
	fc_acache_destroy(NULL);
}
END_TEST

START_TEST(test_bound)
{
	fc_acache_t *c = fc_acache_new(100);
	fc_attr_t a = attr(1, "x"), got;

	for (uint64_t i = 0; i < 100; i++)
		fc_acache_put(c, i, &a);
	/* 0 is used again: 1 is now the least recently used. */
	ck_assert_int_eq(fc_acache_get(c, 0, &got), 0);
	fc_acache_put(c, 1000, &a);
	ck_assert_uint_eq(fc_acache_count(c), 100);
	ck_assert_int_eq(fc_acache_get(c, 0, &got), 0);
	ck_assert_int_eq(fc_acache_get(c, 1, &got), -ENOENT);
	for (uint64_t i = 2000; i < 5000; i++)
		fc_acache_put(c, i, &a);
	ck_assert_uint_eq(fc_acache_count(c), 100);
	ck_assert_int_eq(fc_acache_get(c, 4999, &got), 0);
	ck_assert_int_eq(fc_acache_get(c, 0, &got), -ENOENT);
	fc_acache_destroy(&c);
}
END_TEST

static Suite *acache_suite(void)
{
	return TH_SUITE(
		"fc_attrcache",
		{.name = "core", .tests = TH_TESTS(test_put_get, test_bound)});
}

int main(void)
{
	return th_check_run(acache_suite(), NULL);
}
