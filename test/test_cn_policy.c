/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Eviction policies, driven through the real RAM tier: the LRU order and
 * pin's refusal to evict; capacity never exceeded under random sequences of
 * misses, hits, held replies and releases; and the reason pin exists: over
 * a dataset twice the cache and four shuffled epochs, pin hits exactly the
 * cached fraction from epoch 2 on while LRU hits less.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachenode/policy.h"
#include "cachenode/ramtier.h"
#include "common/blockkey.h"
#include "test/helper_check.h"

/* xorshift64*: deterministic, seedable, good enough for shuffles. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static sl_blockkey_t key_of(uint64_t i)
{
	return sl_blockkey_make("ds", "file", "v1", i);
}

START_TEST(test_lru_order)
{
	cn_policy_t *p = cn_policy_new(cn_policy_ops_find("lru"));
	cn_list_t a, b, c;

	ck_assert_ptr_eq(cn_policy_ops_find("lru"), &cn_policy_lru);
	ck_assert_ptr_eq(cn_policy_ops_find("pin"), &cn_policy_pin);
	ck_assert_ptr_null(cn_policy_ops_find("fifo"));
	ck_assert_ptr_eq(cn_policy_ops_for(SL_POLICY_PIN), &cn_policy_pin);
	ck_assert_ptr_null(p->ops->victim(p->st));
	p->ops->insert(p->st, &a);
	p->ops->insert(p->st, &b);
	p->ops->insert(p->st, &c);
	ck_assert_ptr_eq(p->ops->victim(p->st), &a);
	p->ops->hit(p->st, &a);
	ck_assert_ptr_eq(p->ops->victim(p->st), &b);
	p->ops->remove(p->st, &b);
	ck_assert_ptr_eq(p->ops->victim(p->st), &c);
	p->ops->remove(p->st, &c);
	p->ops->remove(p->st, &a);
	ck_assert_ptr_null(p->ops->victim(p->st));
	cn_policy_destroy(&p);
	ck_assert_ptr_null(p);
}
END_TEST

START_TEST(test_pin_never_offers_victims)
{
	cn_policy_t *p = cn_policy_new(&cn_policy_pin);
	cn_list_t a;

	p->ops->insert(p->st, &a);
	p->ops->hit(p->st, &a);
	ck_assert_ptr_null(p->ops->victim(p->st));
	p->ops->remove(p->st, &a);
	cn_policy_destroy(&p);
}
END_TEST

#define HELD_MAX 64

/*
 * Random misses (random sizes, some mmap()ed, some not), hits, replies
 * that hold a block for a while (as ZeroMQ does) and releases.  After
 * every step: used <= capacity, transient <= slack.  Every hit's bytes are
 * checked, so a block freed under a held reply shows up (with ASan, at
 * once).
 */
static void random_run(int mode, uint64_t seed)
{
	const uint64_t cap = 2u << 20, slack = 512u << 10;
	cn_ramtier_t *t = cn_ramtier_new(cap, slack, NULL);
	cn_block_t *held[HELD_MAX] = {0};
	size_t n_held = 0;
	uint64_t s = seed;

	for (int step = 0; step < 20000; step++) {
		uint64_t r = rnd(&s), k = r % 300;
		sl_blockkey_t key = key_of(k);
		cn_block_t *b = cn_ramtier_get(t, key);

		if (b) {
			ck_assert_uint_eq(cn_block_data(b)[0], (uint8_t)k);
			ck_assert_uint_eq(cn_block_data(b)[cn_block_len(b) - 1],
					  (uint8_t)(k * 7));
		} else {
			size_t len = 1 + (size_t)(rnd(&s) % (160u << 10));
			sl_policy_t pol = mode == 2 ? (sl_policy_t)(k % 2)
						    : (sl_policy_t)mode;
			int err;

			b = cn_ramtier_alloc(t, pol, (uint32_t)(k % 3), len,
					     &err);
			if (!b) {
				ck_assert_int_eq(err, -ENOMEM);
			} else {
				memset(cn_block_data(b), 0xee, len);
				cn_block_data(b)[0] = (uint8_t)k;
				cn_block_data(b)[len - 1] = (uint8_t)(k * 7);
				if (rnd(&s) % 8 == 0) {
					/* a short read at EOF */
					size_t nl = 1 + (size_t)(rnd(&s) % len);

					cn_block_trim(b, nl);
					cn_block_data(b)[nl - 1] =
						(uint8_t)(k * 7);
				}
				cn_ramtier_insert(t, key, b);
			}
		}
		if (b && n_held < HELD_MAX && rnd(&s) % 3 == 0)
			held[n_held++] = b; /* a reply still being sent */
		else if (b)
			cn_block_unref(b);
		if (n_held && rnd(&s) % 2 == 0) {
			size_t i = (size_t)(rnd(&s) % n_held);

			cn_block_zmq_free(NULL, held[i]);
			held[i] = held[--n_held];
		}
		if (step % 5000 == 4999)
			cn_ramtier_purge(t, (uint32_t)(step % 3));
		ck_assert_uint_le(cn_ramtier_used(t), cap);
		ck_assert_uint_le(cn_ramtier_transient(t), slack);
	}
	while (n_held)
		cn_block_unref(held[--n_held]);
	ck_assert_uint_eq(cn_ramtier_transient(t), 0);
	for (uint32_t tag = 0; tag < 3; tag++)
		cn_ramtier_purge(t, tag);
	ck_assert_uint_eq(cn_ramtier_count(t), 0);
	ck_assert_uint_eq(cn_ramtier_used(t), 0);
	cn_ramtier_destroy(&t);
}

START_TEST(test_capacity_never_exceeded_lru)
{
	random_run(SL_POLICY_LRU, 0x1234567ull);
}
END_TEST

START_TEST(test_capacity_never_exceeded_pin)
{
	random_run(SL_POLICY_PIN, 0x89abcdefull);
}
END_TEST

START_TEST(test_capacity_never_exceeded_mixed)
{
	random_run(2, 0xfeedfaceull);
}
END_TEST

#define BLOCK	 (64u << 10)
#define CACHED	 100
#define DATASET	 (2 * CACHED)
#define N_EPOCHS 4

/* Hits per epoch of one policy over shuffled epochs of DATASET blocks. */
static void run_epochs(sl_policy_t pol, size_t hits[N_EPOCHS], size_t *cached)
{
	uint64_t cap = CACHED * cn_ramtier_charge(BLOCK);
	cn_ramtier_t *t =
		cn_ramtier_new(cap, 2 * cn_ramtier_charge(BLOCK), NULL);
	uint64_t order[DATASET], s = 42;

	for (uint64_t i = 0; i < DATASET; i++)
		order[i] = i;
	for (int e = 0; e < N_EPOCHS; e++) {
		hits[e] = 0;
		for (size_t i = DATASET - 1; i > 0; i--) {
			size_t j = (size_t)(rnd(&s) % (i + 1));
			uint64_t tmp = order[i];

			order[i] = order[j];
			order[j] = tmp;
		}
		for (size_t i = 0; i < DATASET; i++) {
			sl_blockkey_t key = key_of(order[i]);
			cn_block_t *b = cn_ramtier_get(t, key);
			int err;

			if (b) {
				hits[e]++;
			} else {
				b = cn_ramtier_alloc(t, pol, 1, BLOCK, &err);
				ck_assert_ptr_nonnull(b);
				cn_ramtier_insert(t, key, b);
			}
			cn_block_unref(b);
			ck_assert_uint_le(cn_ramtier_used(t), cap);
		}
	}
	*cached = cn_ramtier_count(t);
	cn_ramtier_destroy(&t);
}

START_TEST(test_shuffled_epochs_pin_beats_lru)
{
	size_t pin[N_EPOCHS], lru[N_EPOCHS], pin_cached, lru_cached;

	run_epochs(SL_POLICY_PIN, pin, &pin_cached);
	run_epochs(SL_POLICY_LRU, lru, &lru_cached);
	/* Both fill the cache exactly; the dataset is twice that. */
	ck_assert_uint_eq(pin_cached, CACHED);
	ck_assert_uint_eq(lru_cached, CACHED);
	ck_assert_uint_eq(pin[0], 0);
	for (int e = 1; e < N_EPOCHS; e++) {
		printf("epoch %d: pin %zu/%d hits, lru %zu/%d hits\n", e + 1,
		       pin[e], DATASET, lru[e], DATASET);
		/* pin: hit ratio == cached fraction (1/2), exactly. */
		ck_assert_uint_eq(pin[e], pin_cached);
		ck_assert_uint_eq(pin[e] * DATASET, pin_cached * DATASET);
		/* lru thrashes: strictly fewer hits, every epoch. */
		ck_assert_uint_lt(lru[e], pin[e]);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cn_policy");
	TCase *tc = tcase_create("policy");

	tcase_add_test(tc, test_lru_order);
	tcase_add_test(tc, test_pin_never_offers_victims);
	tcase_add_test(tc, test_capacity_never_exceeded_lru);
	tcase_add_test(tc, test_capacity_never_exceeded_pin);
	tcase_add_test(tc, test_capacity_never_exceeded_mixed);
	tcase_add_test(tc, test_shuffled_epochs_pin_beats_lru);
	suite_add_tcase(s, tc);
	return th_check_run(s, NULL);
}
