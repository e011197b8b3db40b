/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ghost set: a key seen twice is a refetch, distinct keys are not;
 * it remembers about as many keys as it has slots and forgets the oldest
 * first; it never grows; clear forgets all; and its size follows the
 * node's capacity within its bounds.
 */
#include <check.h>
#include <stdint.h>

#include "cachenode/ghost.h"
#include "common/blockkey.h"
#include "test/helper_check.h"

static sl_blockkey_t key(uint64_t i)
{
	return sl_blockkey_make("ds", 7, "f", "v1", i);
}

START_TEST(test_refetch)
{
	cn_ghost_t *g = cn_ghost_new(0);

	ck_assert_uint_eq(cn_ghost_slots(g), CN_GHOST_MIN);
	for (uint64_t i = 0; i < 1000; i++)
		ck_assert_int_eq(cn_ghost_seen(g, key(i)), 0);
	for (uint64_t i = 0; i < 1000; i++)
		ck_assert_int_eq(cn_ghost_seen(g, key(i)), 1);
	/* Another version of the file is another block. */
	ck_assert_int_eq(
		cn_ghost_seen(g, sl_blockkey_make("ds", 7, "f", "v2", 0)), 0);
	cn_ghost_clear(g);
	ck_assert_int_eq(cn_ghost_seen(g, key(1)), 0);
	cn_ghost_destroy(&g);
	ck_assert_ptr_null(g);
	cn_ghost_destroy(&g);
}
END_TEST

/* A working set of half the slots is remembered (all but a few per cent
 * that overflowed their buckets); after twice the slots more keys the
 * first half is forgotten, the last kept. */
START_TEST(test_bounded_fifo)
{
	cn_ghost_t *g = cn_ghost_new(CN_GHOST_MIN);
	uint64_t n = cn_ghost_slots(g), kept = 0, bytes = cn_ghost_bytes(g);

	for (uint64_t i = 0; i < n / 2; i++)
		cn_ghost_seen(g, key(i));
	for (uint64_t i = 0; i < n / 2; i++)
		kept += cn_ghost_seen(g, key(i));
	/* (Each lost key, seen again, takes another's slot: a few %.) */
	ck_assert_uint_gt(kept, n / 2 * 90 / 100);
	for (uint64_t i = n; i < 3 * n; i++)
		cn_ghost_seen(g, key(i));
	/* The newest first: looking a key up remembers it. */
	kept = 0;
	for (uint64_t i = 3 * n - n / 4; i < 3 * n; i++)
		kept += cn_ghost_seen(g, key(i));
	ck_assert_uint_gt(kept, n / 4 * 95 / 100);
	kept = 0;
	for (uint64_t i = 0; i < n / 2; i++)
		kept += cn_ghost_seen(g, key(i));
	ck_assert_uint_lt(kept, n / 100);
	ck_assert_uint_eq(cn_ghost_bytes(g), bytes);
	ck_assert_uint_eq(bytes, n * 8 + n / 8);
	cn_ghost_destroy(&g);
}
END_TEST

START_TEST(test_sizing)
{
	cn_ghost_t *g;

	/* 1 GiB in 4 MiB blocks: 256 blocks, 1,024 keys: the minimum. */
	ck_assert_uint_eq(cn_ghost_entries_for(1ull << 30, 4u << 20), 1024);
	ck_assert_uint_eq(cn_ghost_entries_for(16ull << 30, 64u << 10),
			  1ull << 20);
	ck_assert_uint_eq(cn_ghost_entries_for(3ull << 40, 4096),
			  CN_GHOST_MAX / 2);
	ck_assert_uint_eq(cn_ghost_entries_for(1ull << 30, 0),
			  CN_GHOST_MAX / 2);
	g = cn_ghost_new(300000);
	ck_assert_uint_eq(cn_ghost_slots(g), 1u << 20);
	cn_ghost_destroy(&g);
	g = cn_ghost_new(UINT64_MAX);
	ck_assert_uint_eq(cn_ghost_slots(g), CN_GHOST_MAX);
	cn_ghost_destroy(&g);
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE("cn_ghost",
			    {.name = "ghost",
			     .tests = TH_TESTS(test_refetch, test_bounded_fifo,
					       test_sizing)});

	return th_check_run(s, NULL);
}
