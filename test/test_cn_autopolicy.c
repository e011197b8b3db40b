/* SPDX-License-Identifier: Apache-2.0 */
/*
 * policy = auto: the decision (unknown size is lru; a dataset that fits
 * is lru, one larger than the capacity pin; several share the capacity
 * smallest first; the hysteresis band keeps a pinned dataset pinned until
 * it falls below 90%), and the RAM tier's re-tag when the choice flips
 * (no block lost or counted twice, a pinned dataset's blocks never
 * evicted by an lru dataset's misses, and evicted again once back under
 * lru).  The disk tier's half is test_cn_disktier's test_auto_flip.
 * And a real node in this process counts an auto dataset by itself and
 * re-decides when its ring changes: alone it owns all of a 12 MiB dataset
 * and pins it; two nodes join and its share fits, lru; they leave, pin
 * again.
 */
#include <check.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cachenode/autopolicy.h"
#include "cachenode/ramtier.h"
#include "common/util.h"
#include "test/helper_check.h"
#include "test/helper_client.h"
#include "test/helper_node.h"
#include "test/helper_proc.h"

#define MIB (1ull << 20)

/* One dataset alone on a node of cap bytes: out. */
static cn_auto_out_t one(int known, uint64_t owned, int pinned, uint64_t cap)
{
	cn_auto_in_t in = {known, owned, pinned};
	cn_auto_out_t out;

	memset(&out, 0xff, sizeof(out));
	cn_autopolicy_choose(&in, 1, cap, &out);
	return out;
}

START_TEST(test_one_dataset)
{
	cn_auto_out_t o;

	o = one(0, 0, 0, 100 * MIB);
	ck_assert_int_eq(o.pin, 0);
	ck_assert_int_eq(o.why, CN_AUTO_UNKNOWN);
	ck_assert_str_eq(cn_autopolicy_why(o.why), "unknown");
	/* Unknown stays lru even when it was pinned (a reload reopened it). */
	ck_assert_int_eq(one(0, 0, 1, 100 * MIB).pin, 0);

	o = one(1, 60 * MIB, 0, 100 * MIB);
	ck_assert_int_eq(o.pin, 0);
	ck_assert_int_eq(o.why, CN_AUTO_FITS);
	ck_assert_uint_eq(o.usable, 100 * MIB);
	o = one(1, 100 * MIB, 0, 100 * MIB); /* exactly full: fits */
	ck_assert_int_eq(o.pin, 0);

	o = one(1, 190 * MIB, 0, 100 * MIB);
	ck_assert_int_eq(o.pin, 1);
	ck_assert_int_eq(o.why, CN_AUTO_LARGER);
	ck_assert_str_eq(cn_autopolicy_why(o.why), "larger");
	ck_assert_uint_eq(o.usable, 100 * MIB);

	/* No capacity at all: anything known pins. */
	ck_assert_int_eq(one(1, 1, 0, 0).pin, 1);
	ck_assert_uint_eq(one(1, 1, 0, 0).usable, 0);
}
END_TEST

/* Around the boundary: pin above 100%, back to lru only below 90%. */
START_TEST(test_hysteresis)
{
	uint64_t cap = 100 * MIB;

	ck_assert_int_eq(one(1, 95 * MIB, 0, cap).pin, 0);
	ck_assert_int_eq(one(1, 101 * MIB, 0, cap).pin, 1);
	ck_assert_int_eq(one(1, 101 * MIB, 1, cap).why, CN_AUTO_LARGER);
	/* Pinned, now at 95% (a node joined, or files went): stays pin. */
	ck_assert_int_eq(one(1, 95 * MIB, 1, cap).pin, 1);
	ck_assert_int_eq(one(1, 95 * MIB, 1, cap).why, CN_AUTO_HOLDS);
	ck_assert_str_eq(cn_autopolicy_why(CN_AUTO_HOLDS), "holds");
	ck_assert_int_eq(one(1, 90 * MIB, 1, cap).pin, 1);
	/* Below 90%: lru again. */
	ck_assert_int_eq(one(1, 89 * MIB, 1, cap).pin, 0);
	ck_assert_int_eq(one(1, 89 * MIB, 1, cap).why, CN_AUTO_FITS);
}
END_TEST

/* Several auto datasets share the capacity smallest first, whatever the
 * order they are given in; one of unknown size takes nothing. */
START_TEST(test_shared_smallest_first)
{
	cn_auto_in_t in[4] = {
		{1, 150 * MIB, 0}, /* big: pin */
		{1, 30 * MIB, 0},  /* small: fits */
		{0, 0, 0},	   /* unknown */
		{1, 50 * MIB, 0},  /* 30 + 50 fit in 100 */
	};
	cn_auto_out_t out[4];

	cn_autopolicy_choose(in, 4, 100 * MIB, out);
	ck_assert_int_eq(out[1].pin, 0);
	ck_assert_uint_eq(out[1].usable, 100 * MIB);
	ck_assert_int_eq(out[3].pin, 0);
	ck_assert_uint_eq(out[3].usable, 70 * MIB);
	ck_assert_int_eq(out[2].pin, 0);
	ck_assert_int_eq(out[2].why, CN_AUTO_UNKNOWN);
	ck_assert_int_eq(out[0].pin, 1);
	ck_assert_int_eq(out[0].why, CN_AUTO_LARGER);
	ck_assert_uint_eq(out[0].usable, 20 * MIB);

	/* Two that fit apart but not together: the larger one pins. */
	in[0] = (cn_auto_in_t){1, 60 * MIB, 0};
	in[1] = (cn_auto_in_t){1, 60 * MIB, 0};
	cn_autopolicy_choose(in, 2, 100 * MIB, out);
	ck_assert_int_eq(out[0].pin, 0); /* equal: the first given first */
	ck_assert_int_eq(out[1].pin, 1);
	ck_assert_uint_eq(out[1].usable, 40 * MIB);

	/* Sizes that would wrap a 64-bit sum saturate instead. */
	in[0] = (cn_auto_in_t){1, UINT64_MAX - 5, 0};
	in[1] = (cn_auto_in_t){1, UINT64_MAX - 5, 0};
	cn_autopolicy_choose(in, 2, 100 * MIB, out);
	ck_assert_int_eq(out[0].pin, 1);
	ck_assert_int_eq(out[1].pin, 1);
	cn_autopolicy_choose(in, 0, 100 * MIB, out); /* none: nothing */
}
END_TEST

/* ---- The RAM tier's re-tag ----------------------------------------------- */

#define BLK   (64u << 10)
#define TAG_A 1
#define TAG_B 2

static sl_blockkey_t key_of(uint32_t tag, uint64_t i)
{
	return sl_blockkey_make(tag == TAG_A ? "a" : "b", tag, "f", "v", i);
}

/* A block of dataset tag cached under pol; 1 when admitted. */
static int fill(cn_ramtier_t *t, const cn_policy_ops_t *pol, uint32_t tag,
		uint64_t i)
{
	int err, in;
	cn_block_t *b = cn_ramtier_alloc(t, pol, tag, BLK, &err);

	ck_assert_ptr_nonnull(b);
	memset(cn_block_data(b), (int)i, BLK);
	in = cn_ramtier_insert(t, key_of(tag, i), b);
	cn_block_unref(b);
	return in;
}

static int cached(cn_ramtier_t *t, uint32_t tag, uint64_t i)
{
	cn_block_t *b = cn_ramtier_get(t, key_of(tag, i));

	if (b)
		cn_block_unref(b);
	return b != NULL;
}

/* Blocks of tag 0..n-1 cached. */
static size_t count(cn_ramtier_t *t, uint32_t tag, uint64_t n)
{
	size_t c = 0;

	for (uint64_t i = 0; i < n; i++)
		c += (size_t)cached(t, tag, i);
	return c;
}

START_TEST(test_retag_lru_pin_lru)
{
	uint64_t c = cn_ramtier_charge(BLK);
	cn_metrics_t m;
	cn_ramtier_t *t;
	uint64_t used;

	cn_metrics_init(&m);
	t = cn_ramtier_new(8 * c, 4 * c, &m);
	for (uint64_t i = 0; i < 4; i++) {
		ck_assert_int_eq(fill(t, &cn_policy_lru, TAG_A, i), 1);
		ck_assert_int_eq(fill(t, &cn_policy_lru, TAG_B, i), 1);
	}
	used = cn_ramtier_used(t);
	ck_assert_uint_eq(used, 8 * c);

	/* A flips to pin: its 4 blocks move, nothing else changes. */
	ck_assert_uint_eq(cn_ramtier_retag(t, TAG_A, &cn_policy_pin), 4);
	ck_assert_uint_eq(cn_ramtier_retag(t, TAG_A, &cn_policy_pin), 0);
	ck_assert_uint_eq(cn_ramtier_count(t), 8);
	ck_assert_uint_eq(cn_ramtier_used(t), used);
	ck_assert_uint_eq(atomic_load(&m.ram_blocks), 8);
	/* B's misses evict only B's blocks, however many they are. */
	for (uint64_t i = 4; i < 20; i++)
		ck_assert_int_eq(fill(t, &cn_policy_lru, TAG_B, i), 1);
	ck_assert_uint_eq(count(t, TAG_A, 4), 4);
	ck_assert_uint_eq(count(t, TAG_B, 20), 4);
	ck_assert_uint_eq(atomic_load(&m.evictions), 16);
	/* A's own new blocks are pin's: no room, served transient. */
	ck_assert_int_eq(fill(t, &cn_policy_pin, TAG_A, 4), 0);
	ck_assert_uint_eq(cn_ramtier_count(t), 8);

	/* Back to lru: A's blocks are evictable again, by B's misses. */
	ck_assert_uint_eq(cn_ramtier_retag(t, TAG_A, &cn_policy_lru), 4);
	ck_assert_uint_eq(cn_ramtier_used(t), used);
	for (uint64_t i = 20; i < 28; i++)
		ck_assert_int_eq(fill(t, &cn_policy_lru, TAG_B, i), 1);
	ck_assert_uint_eq(count(t, TAG_A, 4), 0);
	ck_assert_uint_eq(count(t, TAG_B, 28), 8);
	ck_assert_uint_eq(cn_ramtier_count(t), 8);
	ck_assert_uint_eq(cn_ramtier_used(t), 8 * c);
	cn_ramtier_destroy(&t);
	ck_assert_uint_eq(atomic_load(&m.ram_used), 0);
}
END_TEST

/* A block filled while its dataset flipped enters under the new policy. */
START_TEST(test_block_set_policy_before_insert)
{
	uint64_t c = cn_ramtier_charge(BLK);
	cn_ramtier_t *t = cn_ramtier_new(2 * c, 2 * c, NULL);
	cn_block_t *b;
	int err;

	ck_assert_int_eq(fill(t, &cn_policy_lru, TAG_A, 0), 1);
	b = cn_ramtier_alloc(t, &cn_policy_lru, TAG_A, BLK, &err);
	ck_assert_ptr_nonnull(b);
	cn_block_set_policy(b, &cn_policy_pin);
	ck_assert_ptr_eq(cn_block_policy(b), &cn_policy_pin);
	ck_assert_int_eq(cn_ramtier_insert(t, key_of(TAG_A, 1), b), 1);
	cn_block_unref(b);
	ck_assert_uint_eq(cn_ramtier_retag(t, TAG_A, &cn_policy_pin), 1);
	/* Both pinned: an lru miss of B finds no victim. */
	ck_assert_int_eq(fill(t, &cn_policy_lru, TAG_B, 0), 0);
	ck_assert_uint_eq(count(t, TAG_A, 2), 2);
	cn_ramtier_destroy(&t);
}
END_TEST

/* A pinned dataset's quota: it admits up to its share, leaves the rest
 * to an lru dataset's misses, gives back its excess when the share
 * shrinks, and has no bound once the quota is lifted. */
START_TEST(test_quota)
{
	uint64_t c = cn_ramtier_charge(BLK);
	cn_metrics_t m;
	cn_ramtier_t *t;

	cn_metrics_init(&m);
	t = cn_ramtier_new(8 * c, 8 * c, &m);
	cn_ramtier_set_quota(t, TAG_A, 5 * c);
	for (uint64_t i = 0; i < 8; i++)
		ck_assert_int_eq(fill(t, &cn_policy_pin, TAG_A, i), i < 5);
	ck_assert_uint_eq(count(t, TAG_A, 8), 5);
	/* B finds the 3 blocks of room A left it, and cycles in them. */
	for (uint64_t i = 0; i < 6; i++)
		ck_assert_int_eq(fill(t, &cn_policy_lru, TAG_B, i), 1);
	ck_assert_uint_eq(count(t, TAG_B, 6), 3);
	ck_assert_uint_eq(count(t, TAG_A, 8), 5);
	/* A shrinks to 2: 3 of its blocks go, and B may take their room. */
	cn_ramtier_set_quota(t, TAG_A, 2 * c);
	ck_assert_uint_eq(count(t, TAG_A, 8), 2);
	ck_assert_uint_eq(cn_ramtier_used(t), 5 * c);
	for (uint64_t i = 6; i < 9; i++)
		ck_assert_int_eq(fill(t, &cn_policy_lru, TAG_B, i), 1);
	ck_assert_uint_eq(count(t, TAG_B, 9), 6);
	ck_assert_int_eq(fill(t, &cn_policy_pin, TAG_A, 9), 0);
	/* Lifted: A is bound by the free room alone, as pin always is. */
	cn_ramtier_set_quota(t, TAG_A, UINT64_MAX);
	ck_assert_int_eq(fill(t, &cn_policy_pin, TAG_A, 9), 0); /* full */
	ck_assert_uint_gt(cn_ramtier_drop(t, key_of(TAG_B, 8)), 0);
	ck_assert_int_eq(fill(t, &cn_policy_pin, TAG_A, 9), 1);
	ck_assert_uint_eq(count(t, TAG_A, 10), 3);
	cn_ramtier_destroy(&t);
	ck_assert_uint_eq(atomic_load(&m.ram_used), 0);
}
END_TEST

/* ---- A node's ring changes ---------------------------------------------- */

/* Wait up to 10 s for the node's counter name to be want. */
static int await_value(th_client_t *c, const char *name, uint64_t want)
{
	uint64_t end = sl_now_ms() + 10000, v = 0;

	while (sl_now_ms() < end) {
		if (th_client_stat_value(c, name, &v) == 0 && v == want)
			return 1;
		usleep(20000);
	}
	return 0;
}

#define WHY(w) "sluice_dataset_auto{dataset=\"d\",why=\"" w "\"}"
#define PIN    "sluice_dataset_policy{dataset=\"d\",policy=\"pin\"}"

static void reload(th_node_t *nd, const char *rest)
{
	char err[256];

	ck_assert_msg(th_node_reload(nd, "ram_capacity = 8M\n", rest, err,
				     sizeof(err)) == 0,
		      "%s", err);
}

START_TEST(test_ring_change_decides_again)
{
	static const char joined[] = "[node n2]\naddr = tcp://127.0.0.1:1\n"
				     "[node n3]\naddr = tcp://127.0.0.1:2\n";
	char *dir = th_tmpdir("auto-ring"), ds[PATH_MAX], rest[PATH_MAX * 2];
	char err[256], *data = malloc(1u << 20);
	th_node_t nd;
	th_client_t *c;

	ck_assert_ptr_nonnull(dir);
	memset(data, 'x', 1u << 20);
	for (int i = 0; i < 12; i++) {
		char rel[16];

		snprintf(rel, sizeof(rel), "f%d", i);
		ck_assert_int_eq(th_write_file_at(dir, rel, data, 1u << 20), 0);
	}
	free(data);
	snprintf(ds, sizeof(ds),
		 "[dataset d]\nbackend = posix\nuri = file://%s\n"
		 "block_size = 64K\n",
		 dir);
	ck_assert_msg(th_node_start(&nd, "ram_capacity = 8M\n", ds, NULL, err,
				    sizeof(err)) == 0,
		      "%s", err);
	/* The node counts it by itself (a full walk nobody asked for):
	 * 12 MiB alone on 7.5 MiB, pin. */
	c = th_client_new(nd.endpoint, 5000);
	ck_assert(await_value(c, WHY("larger"), 1));
	ck_assert(await_value(c, PIN, 1));
	ck_assert(await_value(c, "sluice_dataset_owned_bytes{dataset=\"d\"}",
			      12u << 20));

	/* Two nodes join: a third of it is n1's now, which fits. */
	snprintf(rest, sizeof(rest), "%s%s", joined, ds);
	reload(&nd, rest);
	ck_assert(await_value(c, WHY("fits"), 1));
	ck_assert(await_value(c, PIN, 0));
	/* They leave: all of it again, no walk needed. */
	reload(&nd, ds);
	ck_assert(await_value(c, WHY("larger"), 1));
	ck_assert(await_value(c, PIN, 1));
	th_client_destroy(&c);
	th_node_stop(&nd);
	th_rmtree(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cn_autopolicy");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_one_dataset);
	tcase_add_test(tc, test_hysteresis);
	tcase_add_test(tc, test_shared_smallest_first);
	tcase_add_test(tc, test_retag_lru_pin_lru);
	tcase_add_test(tc, test_block_set_policy_before_insert);
	tcase_add_test(tc, test_quota);
	suite_add_tcase(s, tc);
	tc = tcase_create("node");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_ring_change_decides_again);
	suite_add_tcase(s, tc);
	return th_check_run(s, NULL);
}
