/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RAM tier's accounting and lifetimes: a block evicted while a reply
 * still holds it keeps its bytes (and its charge) until the reply lets go;
 * transient blocks when the policy declines; -ENOMEM and the wake-up when
 * both classes are full; trimming a short block gives pages back; purge by
 * dataset tag; shrinking the capacity evicts even pinned blocks; the
 * eviction hook (the disk tier's demotion) sees every eviction and may
 * keep the bytes, charged, with a reference.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cachenode/ramtier.h"
#include "proto/proto.h"
#include "test/helper_check.h"

#define BLK (256u << 10)

static sl_blockkey_t key_of(uint64_t i)
{
	return sl_blockkey_make("ds", 1, "f", "v", i);
}

static cn_block_t *fill(cn_ramtier_t *t, const cn_policy_ops_t *pol, uint64_t i)
{
	int err;
	cn_block_t *b = cn_ramtier_alloc(t, pol, 7, BLK, &err);

	ck_assert_ptr_nonnull(b);
	memset(cn_block_data(b), (int)(i & 0xff), BLK);
	return b;
}

START_TEST(test_evicted_block_survives_its_reply)
{
	uint64_t c = cn_ramtier_charge(BLK);
	cn_metrics_t m;
	cn_ramtier_t *t;
	cn_block_t *b, *sending;

	cn_metrics_init(&m);
	t = cn_ramtier_new(4 * c, 0, &m);
	sending = fill(t, &cn_policy_lru, 1);
	ck_assert_int_eq(cn_ramtier_insert(t, key_of(1), sending), 1);
	/* The caller's reference now plays the zero-copy reply. */
	for (uint64_t i = 2; i < 12; i++) {
		b = fill(t, &cn_policy_lru, i);
		ck_assert_int_eq(cn_ramtier_insert(t, key_of(i), b), 1);
		cn_block_unref(b);
		ck_assert_uint_le(cn_ramtier_used(t), 4 * c);
	}
	/* Evicted from the index, but its bytes are intact and charged. */
	ck_assert_ptr_null(cn_ramtier_get(t, key_of(1)));
	ck_assert_uint_eq(cn_block_data(sending)[BLK - 1], 1);
	ck_assert_uint_eq(cn_ramtier_count(t), 3);
	ck_assert_uint_eq(cn_ramtier_used(t), 4 * c);
	ck_assert_uint_ge(atomic_load(&m.evictions), 8);
	/* ZeroMQ is done with it: its bytes go. */
	cn_block_zmq_free(cn_block_data(sending), sending);
	ck_assert_uint_eq(cn_ramtier_used(t), 3 * c);
	ck_assert_uint_eq(atomic_load(&m.ram_blocks), 3);
	ck_assert_uint_eq(atomic_load(&m.ram_used), 3 * c);
	cn_ramtier_destroy(&t);
	ck_assert_uint_eq(atomic_load(&m.ram_used), 0);
}
END_TEST

START_TEST(test_pin_full_is_transient_then_enomem)
{
	uint64_t c = cn_ramtier_charge(BLK);
	cn_ramtier_t *t = cn_ramtier_new(2 * c, 2 * c, NULL);
	cn_block_t *b[4];
	int efd = eventfd(0, EFD_NONBLOCK), err;
	struct pollfd pfd = {efd, POLLIN, 0};
	uint64_t v;

	ck_assert_int_ge(efd, 0);
	cn_ramtier_set_wake_fd(t, efd);
	for (int i = 0; i < 2; i++) {
		b[i] = fill(t, &cn_policy_pin, (uint64_t)i);
		ck_assert(!cn_block_transient(b[i]));
		ck_assert_int_eq(
			cn_ramtier_insert(t, key_of((uint64_t)i), b[i]), 1);
		cn_block_unref(b[i]);
	}
	/* Full: pin admits nothing more, but serves from the slack. */
	for (int i = 2; i < 4; i++) {
		b[i] = fill(t, &cn_policy_pin, (uint64_t)i);
		ck_assert(cn_block_transient(b[i]));
		ck_assert_int_eq(
			cn_ramtier_insert(t, key_of((uint64_t)i), b[i]), 0);
	}
	ck_assert_uint_eq(cn_ramtier_transient(t), 2 * c);
	/* lru cannot evict pinned blocks either. */
	ck_assert_ptr_null(cn_ramtier_alloc(t, &cn_policy_lru, 1, BLK, &err));
	ck_assert_int_eq(err, -ENOMEM);
	b[0] = cn_ramtier_get(t, key_of(0));
	ck_assert_ptr_nonnull(b[0]);
	ck_assert_uint_eq(cn_block_data(b[0])[0], 0);
	cn_block_unref(b[0]);
	/* A waiter is woken when memory frees. */
	cn_ramtier_want_memory(t, 1);
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	cn_block_unref(b[2]);
	ck_assert_int_eq(poll(&pfd, 1, 0), 1);
	ck_assert_int_eq(read(efd, &v, sizeof(v)), (ssize_t)sizeof(v));
	b[2] = cn_ramtier_alloc(t, &cn_policy_pin, 1, BLK, &err);
	ck_assert_ptr_nonnull(b[2]);
	cn_ramtier_want_memory(t, 0);
	cn_block_unref(b[2]);
	cn_block_unref(b[3]);
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	ck_assert_uint_eq(cn_ramtier_transient(t), 0);
	cn_ramtier_destroy(&t);
	close(efd);
}
END_TEST

START_TEST(test_trim_returns_pages)
{
	cn_ramtier_t *t = cn_ramtier_new(64u << 20, 0, NULL);
	int err;
	cn_block_t *b = cn_ramtier_alloc(t, &cn_policy_lru, 1, 4u << 20, &err);
	uint64_t before = cn_ramtier_used(t);

	ck_assert_ptr_nonnull(b);
	memcpy(cn_block_data(b), "tail", 4);
	cn_block_trim(b, 4);
	ck_assert_uint_eq(cn_block_len(b), 4);
	ck_assert_mem_eq(cn_block_data(b), "tail", 4);
	/* One page of data is left charged, plus the header. */
	ck_assert_uint_eq(cn_ramtier_used(t),
			  before - (4u << 20) + (uint64_t)getpagesize());
	cn_block_unref(b);
	ck_assert_uint_eq(cn_ramtier_used(t), 0);
	cn_ramtier_destroy(&t);
}
END_TEST

/* A block's body hash is the wire's (pr_body_hash) of its valid bytes, a
 * short block's too, and asking again gives the kept value. */
START_TEST(test_block_hash)
{
	cn_ramtier_t *t = cn_ramtier_new(64u << 20, 0, NULL);
	int err;
	cn_block_t *b = cn_ramtier_alloc(t, &cn_policy_lru, 1, 1u << 20, &err);
	uint8_t *d = cn_block_data(b);
	uint64_t h;

	for (size_t i = 0; i < (1u << 20); i++)
		d[i] = (uint8_t)(i * 131 + 7);
	cn_block_trim(b, 300000);
	h = cn_block_hash(b);
	ck_assert_uint_eq(h, pr_body_hash(d, 300000));
	ck_assert_uint_ne(h, pr_body_hash(d, 299999));
	ck_assert_uint_eq(cn_block_hash(b), h);
	cn_block_unref(b);
	cn_ramtier_destroy(&t);
}
END_TEST

/*
 * Freed buffers are reused: a block of the same mapped size gets the
 * last freed block's memory; at most four wait, inside the capacity, and
 * they give way before any block is evicted or made transient.
 */
START_TEST(test_spare_buffers)
{
	const size_t big = 4u << 20;
	uint64_t one = cn_ramtier_charge(big);
	cn_ramtier_t *t = cn_ramtier_new(3 * one, 0, NULL);
	cn_block_t *b[6];
	uint8_t *mem;
	int err;

	b[0] = cn_ramtier_alloc(t, &cn_policy_lru, 1, big, &err);
	mem = cn_block_data(b[0]);
	memset(mem, 1, big);
	cn_block_unref(b[0]);
	ck_assert_uint_eq(cn_ramtier_used(t), 0);
	ck_assert_uint_eq(cn_ramtier_spare_bytes(t), big);
	/* The same size takes it back. */
	b[0] = cn_ramtier_alloc(t, &cn_policy_lru, 1, big, &err);
	ck_assert_ptr_eq(cn_block_data(b[0]), mem);
	ck_assert_uint_eq(cn_ramtier_reused(t), 1);
	ck_assert_uint_eq(cn_ramtier_spare_bytes(t), 0);
	ck_assert_uint_eq(cn_ramtier_used(t), one);
	cn_block_unref(b[0]);
	/* Three blocks fill the tier; with their spares, still three. */
	for (int i = 0; i < 3; i++) {
		b[i] = cn_ramtier_alloc(t, &cn_policy_lru, 1, big, &err);
		ck_assert_ptr_nonnull(b[i]);
		ck_assert(!cn_block_transient(b[i]));
		ck_assert_uint_le(cn_ramtier_used(t) +
					  cn_ramtier_spare_bytes(t),
				  3 * one);
	}
	for (int i = 0; i < 3; i++)
		cn_block_unref(b[i]);
	ck_assert_uint_eq(cn_ramtier_spare_bytes(t), 3 * big);
	/* Another size cannot use them: they give way, no transient. */
	b[0] = cn_ramtier_alloc(t, &cn_policy_lru, 1, 3 * big / 2, &err);
	ck_assert_ptr_nonnull(b[0]);
	ck_assert(!cn_block_transient(b[0]));
	ck_assert_uint_le(cn_ramtier_used(t) + cn_ramtier_spare_bytes(t),
			  3 * one);
	cn_block_unref(b[0]);
	cn_ramtier_destroy(&t);

	/* A full tier: the miss that evicts takes the victim's buffer. */
	t = cn_ramtier_new(2 * one, 0, NULL);
	for (int i = 0; i < 2; i++) {
		b[i] = cn_ramtier_alloc(t, &cn_policy_lru, 1, big, &err);
		ck_assert_int_eq(
			cn_ramtier_insert(t, key_of((uint64_t)i), b[i]), 1);
	}
	mem = cn_block_data(b[0]);
	for (int i = 0; i < 2; i++)
		cn_block_unref(b[i]); /* the index holds them now */
	b[2] = cn_ramtier_alloc(t, &cn_policy_lru, 1, big, &err);
	ck_assert_ptr_nonnull(b[2]);
	ck_assert(!cn_block_transient(b[2]));
	ck_assert_ptr_eq(cn_block_data(b[2]), mem); /* block 0's, the LRU */
	ck_assert_ptr_null(cn_ramtier_get(t, key_of(0)));
	ck_assert_uint_eq(cn_ramtier_reused(t), 1);
	ck_assert_uint_le(cn_ramtier_used(t) + cn_ramtier_spare_bytes(t),
			  2 * one);
	cn_block_unref(b[2]);
	cn_ramtier_destroy(&t);

	/* No more than four wait. */
	t = cn_ramtier_new(64u << 20, 0, NULL);
	for (int i = 0; i < 6; i++)
		b[i] = cn_ramtier_alloc(t, &cn_policy_lru, 1, big, &err);
	for (int i = 0; i < 6; i++)
		cn_block_unref(b[i]);
	ck_assert_uint_eq(cn_ramtier_spare_bytes(t), 4 * big);
	cn_ramtier_destroy(&t);
}
END_TEST

START_TEST(test_purge_and_shrink)
{
	uint64_t c = cn_ramtier_charge(BLK);
	cn_ramtier_t *t = cn_ramtier_new(9 * c, 0, NULL);
	int err;

	for (uint64_t i = 0; i < 8; i++) {
		cn_block_t *b = cn_ramtier_alloc(
			t, i < 4 ? &cn_policy_pin : &cn_policy_lru,
			(uint32_t)(i % 2), BLK, &err);

		ck_assert_ptr_nonnull(b);
		ck_assert_int_eq(cn_ramtier_insert(t, key_of(i), b), 1);
		cn_block_unref(b);
		/* A key is cached once. */
		b = cn_ramtier_alloc(t, &cn_policy_lru, 9, 10, &err);
		ck_assert_int_eq(cn_ramtier_insert(t, key_of(i), b), 0);
		cn_block_unref(b);
	}
	ck_assert_uint_eq(cn_ramtier_purge(t, 1), 4);
	ck_assert_uint_eq(cn_ramtier_count(t), 4);
	ck_assert_ptr_null(cn_ramtier_get(t, key_of(1)));
	/* Shrinking evicts lru first, then pinned blocks too. */
	cn_ramtier_set_capacity(t, 2 * c, 0);
	ck_assert_uint_le(cn_ramtier_used(t), 2 * c);
	ck_assert_uint_eq(cn_ramtier_count(t), 2);
	cn_ramtier_set_capacity(t, 0, 0);
	ck_assert_uint_eq(cn_ramtier_count(t), 0);
	ck_assert_uint_eq(cn_ramtier_used(t), 0);
	cn_ramtier_destroy(&t);
}
END_TEST

/* References dropped on other threads (as ZeroMQ's I/O thread does) free
 * each block exactly once and settle the counter. */
static void *unref_many(void *arg)
{
	cn_block_t **bs = arg;

	for (int i = 0; i < 1000; i++)
		cn_block_zmq_free(NULL, bs[i]);
	return NULL;
}

START_TEST(test_cross_thread_release)
{
	cn_ramtier_t *t = cn_ramtier_new(1u << 30, 0, NULL);
	static cn_block_t *bs[4][1000];
	pthread_t th[4];
	cn_block_t *b;
	int err;

	b = cn_ramtier_alloc(t, &cn_policy_lru, 1, 100, &err);
	ck_assert_int_eq(cn_ramtier_insert(t, key_of(0), b), 1);
	for (int k = 0; k < 4; k++)
		for (int i = 0; i < 1000; i++)
			bs[k][i] = cn_block_ref(b);
	cn_block_unref(b);
	ck_assert_uint_eq(cn_ramtier_purge(t, 1), 1);
	for (int k = 0; k < 4; k++)
		pthread_create(&th[k], NULL, unref_many, bs[k]);
	for (int k = 0; k < 4; k++)
		pthread_join(th[k], NULL);
	ck_assert_uint_eq(cn_ramtier_used(t), 0);
	cn_ramtier_destroy(&t);
}
END_TEST

struct hooked {
	cn_block_t *kept[8];
	sl_blockkey_t keys[8];
	int n;
};

static void on_evict(void *arg, sl_blockkey_t key, cn_block_t *b)
{
	struct hooked *h = arg;

	ck_assert_int_lt(h->n, 8);
	h->keys[h->n] = key;
	h->kept[h->n++] = cn_block_ref(b);
}

START_TEST(test_evict_hook)
{
	uint64_t c = cn_ramtier_charge(BLK);
	cn_ramtier_t *t = cn_ramtier_new(3 * c, 2 * c, NULL);
	struct hooked h = {.n = 0};
	cn_block_t *b;

	cn_ramtier_set_evict_hook(t, on_evict, &h);
	for (uint64_t i = 1; i <= 3; i++) {
		b = fill(t, &cn_policy_lru, i);
		ck_assert_int_eq(cn_ramtier_insert(t, key_of(i), b), 1);
		cn_block_unref(b);
	}
	ck_assert_int_eq(h.n, 0);
	/* The hook keeps every victim's bytes, charged: making room for
	 * block 4 goes through all three, oldest first, and block 4 ends up
	 * transient. */
	b = fill(t, &cn_policy_lru, 4);
	ck_assert_int_eq(h.n, 3);
	for (int i = 0; i < 3; i++) {
		ck_assert(sl_blockkey_eq(h.keys[i], key_of((uint64_t)i + 1)));
		ck_assert_uint_eq(cn_block_data(h.kept[i])[BLK - 1], i + 1);
	}
	ck_assert_uint_eq(cn_block_tag(h.kept[0]), 7);
	ck_assert_ptr_eq(cn_block_policy(h.kept[0]), &cn_policy_lru);
	ck_assert_uint_ge(cn_block_capacity(h.kept[0]), BLK);
	ck_assert(cn_block_transient(b));
	ck_assert_uint_eq(cn_ramtier_used(t), 3 * c);
	cn_block_unref(b);
	for (int i = 0; i < h.n; i++)
		cn_block_unref(h.kept[i]);
	ck_assert_uint_eq(cn_ramtier_used(t), 0);
	/* A purge is not an eviction. */
	b = fill(t, &cn_policy_lru, 5);
	ck_assert_int_eq(cn_ramtier_insert(t, key_of(5), b), 1);
	cn_block_unref(b);
	ck_assert_uint_eq(cn_ramtier_purge(t, 7), 1);
	ck_assert_int_eq(h.n, 3);
	cn_ramtier_destroy(&t);
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE(
		"cn_ramtier",
		{.name = "ramtier",
		 .tests = TH_TESTS(test_evicted_block_survives_its_reply,
				   test_pin_full_is_transient_then_enomem,
				   test_trim_returns_pages,
				   test_purge_and_shrink,
				   test_cross_thread_release, test_evict_hook,
				   test_block_hash, test_spare_buffers)});

	return th_check_run(s, NULL);
}
