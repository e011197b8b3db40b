/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metadata cache: values come back as stored, expire after their TTL
 * (never with TTL 0), the byte and entry bounds hold with least recently
 * used entries leaving first, purges by dataset tag and by path group (a
 * purge by group visits only its own entries, however large the cache),
 * and keys that never collide with block keys.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "cachenode/metacache.h"
#include "test/helper_check.h"

static sl_blockkey_t k(const char *path)
{
	return cn_metacache_key(CN_META_STAT, "ds", path, NULL, 0);
}

static sl_blockkey_t g(const char *path)
{
	return sl_metakey_make("ds", path);
}

START_TEST(test_put_get_ttl)
{
	cn_metacache_t *mc = cn_metacache_new(1 << 20, 1000, NULL);
	const char *v;
	size_t len;

	cn_metacache_put(mc, k("a"), g("a"), 1, 0, 1000, "forever", 7);
	cn_metacache_put(mc, k("b"), g("b"), 1, 500, 1000, "brief", 5);
	v = cn_metacache_get(mc, k("a"), 1000000000, &len);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(len, 7);
	ck_assert_mem_eq(v, "forever", 7);
	ck_assert_ptr_nonnull(cn_metacache_get(mc, k("b"), 1499, &len));
	ck_assert_ptr_null(cn_metacache_get(mc, k("b"), 1500, &len));
	ck_assert_uint_eq(cn_metacache_count(mc), 1);
	/* Replacing a key keeps one entry. */
	cn_metacache_put(mc, k("a"), g("a"), 1, 0, 0, "new", 3);
	v = cn_metacache_get(mc, k("a"), 0, &len);
	ck_assert_uint_eq(len, 3);
	ck_assert_mem_eq(v, "new", 3);
	ck_assert_uint_eq(cn_metacache_count(mc), 1);
	cn_metacache_destroy(&mc);
	ck_assert_ptr_null(mc);
}
END_TEST

START_TEST(test_bounds_lru)
{
	cn_metrics_t m;
	cn_metacache_t *mc;
	char val[100] = {0}, name[16];
	size_t len;

	cn_metrics_init(&m);
	mc = cn_metacache_new(1 << 20, 10, &m);
	for (int i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		cn_metacache_put(mc, k(name), g(name), 1, 0, 0, val, 100);
	}
	ck_assert_ptr_nonnull(cn_metacache_get(mc, k("f0"), 0, &len));
	cn_metacache_put(mc, k("f10"), g("f10"), 1, 0, 0, val, 100);
	ck_assert_uint_eq(cn_metacache_count(mc), 10);
	/* f0 was used, so f1 went. */
	ck_assert_ptr_nonnull(cn_metacache_get(mc, k("f0"), 0, &len));
	ck_assert_ptr_null(cn_metacache_get(mc, k("f1"), 0, &len));
	ck_assert_uint_eq(atomic_load(&m.meta_entries), 10);
	ck_assert_uint_eq(atomic_load(&m.meta_bytes), cn_metacache_bytes(mc));
	/* The byte bound. */
	cn_metacache_set_limits(mc, 4 * (cn_metacache_bytes(mc) / 10), 1000);
	ck_assert_uint_eq(cn_metacache_count(mc), 4);
	/* A value over an eighth of the bound is not cached. */
	{
		static char huge[100000];

		cn_metacache_put(mc, k("huge"), g("huge"), 1, 0, 0, huge,
				 sizeof(huge));
		ck_assert_ptr_null(cn_metacache_get(mc, k("huge"), 0, &len));
	}
	cn_metacache_destroy(&mc);
	ck_assert_uint_eq(atomic_load(&m.meta_bytes), 0);
	ck_assert_uint_eq(atomic_load(&m.ram_used), 0);
}
END_TEST

START_TEST(test_purges)
{
	cn_metacache_t *mc = cn_metacache_new(1 << 20, 1000, NULL);
	sl_blockkey_t page = cn_metacache_key(CN_META_LIST, "ds", "dir", "", 8);
	size_t len;

	cn_metacache_put(mc, k("dir/a"), g("dir/a"), 1, 0, 0, "a", 1);
	cn_metacache_put(mc, page, g("dir"), 1, 0, 0, "page", 4);
	cn_metacache_put(mc, k("x"), g("x"), 2, 0, 0, "x", 1);
	ck_assert_uint_eq(cn_metacache_purge_group(mc, g("dir")), 1);
	ck_assert_ptr_null(cn_metacache_get(mc, page, 0, &len));
	ck_assert_ptr_nonnull(cn_metacache_get(mc, k("dir/a"), 0, &len));
	ck_assert_uint_eq(cn_metacache_purge_tag(mc, 1), 1);
	ck_assert_uint_eq(cn_metacache_count(mc), 1);
	ck_assert_ptr_nonnull(cn_metacache_get(mc, k("x"), 0, &len));
	cn_metacache_destroy(&mc);
}
END_TEST

/*
 * A READ of an absent path purges two groups on the event thread; with
 * 100,000 entries cached that must not look at 100,000 entries.
 */
START_TEST(test_purge_group_work)
{
	enum { N = 100000 };
	cn_metacache_t *mc = cn_metacache_new(256u << 20, 2 * N, NULL);
	char name[32];
	uint64_t v0;
	size_t len;

	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "d%d/f%d", i % 100, i);
		cn_metacache_put(mc, k(name), g(name), 1, 0, 0, "st", 2);
	}
	for (int i = 0; i < 3; i++) {
		sl_blockkey_t page = cn_metacache_key(CN_META_LIST, "ds", "dir",
						      "", (uint32_t)i + 1);

		cn_metacache_put(mc, page, g("dir"), 1, 0, 0, "page", 4);
	}
	ck_assert_uint_eq(cn_metacache_count(mc), N + 3);
	v0 = cn_metacache_visits(mc);
	/* Absent: nothing to drop, nothing looked at. */
	ck_assert_uint_eq(cn_metacache_purge_group(mc, g("nope")), 0);
	ck_assert_uint_eq(cn_metacache_purge_group(mc, g("")), 0);
	ck_assert_uint_eq(cn_metacache_visits(mc) - v0, 0);
	/* A group of three: three looked at. */
	ck_assert_uint_eq(cn_metacache_purge_group(mc, g("dir")), 3);
	ck_assert_uint_eq(cn_metacache_visits(mc) - v0, 3);
	ck_assert_uint_eq(cn_metacache_count(mc), N);
	ck_assert_ptr_nonnull(cn_metacache_get(mc, k("d7/f7"), 0, &len));
	/* The group can fill again after it emptied. */
	cn_metacache_put(mc, k("dir"), g("dir"), 1, 0, 0, "d", 1);
	ck_assert_uint_eq(cn_metacache_purge_group(mc, g("dir")), 1);
	ck_assert_ptr_null(cn_metacache_get(mc, k("dir"), 0, &len));
	cn_metacache_destroy(&mc);
}
END_TEST

/* Entries leaving by LRU, replacement or expiry leave their group too. */
START_TEST(test_group_follows_entries)
{
	cn_metacache_t *mc = cn_metacache_new(1 << 20, 2, NULL);
	size_t len;

	cn_metacache_put(mc, k("a"), g("grp"), 1, 0, 0, "a", 1);
	cn_metacache_put(mc, k("b"), g("grp"), 1, 0, 0, "b", 1);
	cn_metacache_put(mc, k("c"), g("other"), 1, 0, 0, "c", 1); /* a out */
	ck_assert_ptr_null(cn_metacache_get(mc, k("a"), 0, &len));
	cn_metacache_set_limits(mc, 1 << 20, 100);
	cn_metacache_put(mc, k("b"), g("other"), 1, 0, 0, "B", 1); /* moved */
	ck_assert_uint_eq(cn_metacache_purge_group(mc, g("grp")), 0);
	cn_metacache_put(mc, k("e"), g("grp"), 1, 100, 0, "e", 1);
	ck_assert_ptr_null(cn_metacache_get(mc, k("e"), 100, &len)); /* gone */
	ck_assert_uint_eq(cn_metacache_purge_group(mc, g("grp")), 0);
	ck_assert_uint_eq(cn_metacache_purge_group(mc, g("other")), 2);
	ck_assert_uint_eq(cn_metacache_count(mc), 0);
	ck_assert_uint_eq(cn_metacache_bytes(mc), 0);
	cn_metacache_destroy(&mc);
}
END_TEST

START_TEST(test_keys_distinct)
{
	sl_blockkey_t a = cn_metacache_key(CN_META_STAT, "ds", "p", NULL, 0);
	sl_blockkey_t b = cn_metacache_key(CN_META_LIST, "ds", "p", "", 0);
	sl_blockkey_t c = cn_metacache_key(CN_META_LIST, "ds", "p", "", 1);
	sl_blockkey_t d = cn_metacache_key(CN_META_LIST, "ds", "p", "x", 1);
	sl_blockkey_t e = cn_metacache_key(CN_META_STAT, "dsp", "", NULL, 0);

	ck_assert(!sl_blockkey_eq(a, b));
	ck_assert(!sl_blockkey_eq(b, c));
	ck_assert(!sl_blockkey_eq(c, d));
	ck_assert(!sl_blockkey_eq(a, e));
	ck_assert(!sl_blockkey_eq(a, sl_metakey_make("ds", "p")));
	ck_assert(!sl_blockkey_eq(a, sl_blockkey_make("ds", 1, "p", "", 0)));
	ck_assert(sl_blockkey_eq(
		a, cn_metacache_key(CN_META_STAT, "ds", "p", NULL, 0)));
}
END_TEST

int main(void)
{
	Suite *s =
		TH_SUITE("cn_metacache",
			 {.name = "metacache",
			  .tests = TH_TESTS(test_put_get_ttl, test_bounds_lru,
					    test_purges, test_purge_group_work,
					    test_group_follows_entries,
					    test_keys_distinct)});

	return th_check_run(s, NULL);
}
