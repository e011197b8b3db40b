/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The intrusive hash table of common/keymap.h: what was inserted is found
 * and nothing else, through many doublings; removal leaves the others;
 * elements sharing a key are all reachable; foreach may remove (and free)
 * the element it visits; 64-bit keys spread over the buckets.
 */
#include <check.h>
#include <stdlib.h>

#include "common/keymap.h"
#include "test/helper_check.h"

typedef struct item {
	sl_knode_t node;
	int v;
} item_t;

static sl_blockkey_t key_of(int i)
{
	return sl_blockkey_make("ds", 1, "path", "v1", (uint64_t)i);
}

START_TEST(test_find_insert_remove)
{
	enum { N = 20000 };
	item_t *it = calloc(N, sizeof(*it));
	sl_keymap_t m;

	sl_keymap_init(&m);
	ck_assert_ptr_null(sl_keymap_find(&m, key_of(0)));
	ck_assert_uint_eq(sl_keymap_bytes(&m), 0);
	for (int i = 0; i < N; i++) {
		it[i].node.key = key_of(i);
		it[i].v = i;
		sl_keymap_insert(&m, &it[i].node);
	}
	ck_assert_uint_eq(m.count, N);
	ck_assert_uint_ge(m.nbuckets, N);
	for (int i = 0; i < N; i++) {
		sl_knode_t *n = sl_keymap_find(&m, key_of(i));

		ck_assert_ptr_eq(n, &it[i].node);
		ck_assert_ptr_null(sl_keymap_find_next(&m, n));
	}
	ck_assert_ptr_null(sl_keymap_find(&m, key_of(N)));
	for (int i = 0; i < N; i += 2)
		sl_keymap_remove(&m, &it[i].node);
	ck_assert_uint_eq(m.count, N / 2);
	for (int i = 0; i < N; i++)
		ck_assert_ptr_eq(sl_keymap_find(&m, key_of(i)),
				 i % 2 ? &it[i].node : NULL);
	sl_keymap_fini(&m);
	ck_assert_uint_eq(m.count, 0);
	free(it);
}
END_TEST

START_TEST(test_duplicate_keys)
{
	item_t it[3];
	sl_keymap_t m;
	int seen = 0;

	sl_keymap_init(&m);
	for (int i = 0; i < 3; i++) {
		it[i].node.key = sl_keymap_key64(42);
		it[i].v = i;
		sl_keymap_insert(&m, &it[i].node);
	}
	for (sl_knode_t *n = sl_keymap_find(&m, sl_keymap_key64(42)); n;
	     n = sl_keymap_find_next(&m, n))
		seen |= 1 << sl_container_of(n, item_t, node)->v;
	ck_assert_int_eq(seen, 7);
	sl_keymap_remove(&m, &it[1].node);
	seen = 0;
	for (sl_knode_t *n = sl_keymap_find(&m, sl_keymap_key64(42)); n;
	     n = sl_keymap_find_next(&m, n))
		seen |= 1 << sl_container_of(n, item_t, node)->v;
	ck_assert_int_eq(seen, 5);
	ck_assert_ptr_null(sl_keymap_find(&m, sl_keymap_key64(43)));
	sl_keymap_fini(&m);
}
END_TEST

static void drop_odd(sl_knode_t *n, void *arg)
{
	sl_keymap_t *m = arg;
	item_t *it = sl_container_of(n, item_t, node);

	if (it->v % 2) {
		sl_keymap_remove(m, n);
		free(it);
	}
}

static void count(sl_knode_t *n, void *arg)
{
	(void)n;
	(*(int *)arg)++;
}

static void drop_all(sl_knode_t *n, void *arg)
{
	sl_keymap_remove(arg, n);
	free(sl_container_of(n, item_t, node));
}

START_TEST(test_foreach_removes)
{
	sl_keymap_t m;
	int n = 0;

	sl_keymap_init(&m);
	sl_keymap_reserve(&m, 1000);
	ck_assert_uint_ge(sl_keymap_bytes(&m), 1000 * sizeof(void *));
	for (int i = 0; i < 1000; i++) {
		item_t *it = calloc(1, sizeof(*it));

		it->v = i;
		it->node.key = sl_keymap_key64((uint64_t)i);
		sl_keymap_insert(&m, &it->node);
	}
	sl_keymap_foreach(&m, drop_odd, &m);
	ck_assert_uint_eq(m.count, 500);
	sl_keymap_foreach(&m, count, &n);
	ck_assert_int_eq(n, 500);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(sl_keymap_find(&m, sl_keymap_key64(i)) != NULL,
				 i % 2 == 0);
	sl_keymap_foreach(&m, drop_all, &m);
	ck_assert_uint_eq(m.count, 0);
	sl_keymap_fini(&m);
}
END_TEST

/* Sequential 64-bit keys (request ids, inode numbers) must not pile up. */
START_TEST(test_key64_spread)
{
	enum { N = 4096 };
	item_t *it = calloc(N, sizeof(*it));
	sl_keymap_t m;
	size_t longest = 0;

	sl_keymap_init(&m);
	for (int i = 0; i < N; i++) {
		it[i].node.key = sl_keymap_key64((uint64_t)i + 1);
		sl_keymap_insert(&m, &it[i].node);
	}
	for (size_t b = 0; b < m.nbuckets; b++) {
		size_t len = 0;

		for (sl_knode_t *n = m.buckets[b]; n; n = n->next)
			len++;
		if (len > longest)
			longest = len;
	}
	ck_assert_uint_le(longest, 2);
	sl_keymap_fini(&m);
	free(it);
}
END_TEST

static Suite *keymap_suite(void)
{
	return TH_SUITE(
		"keymap",
		{.name = "keymap",
		 .tests = TH_TESTS(test_find_insert_remove, test_duplicate_keys,
				   test_foreach_removes, test_key64_spread)});
}

int main(void)
{
	return th_check_run(keymap_suite(), NULL);
}
