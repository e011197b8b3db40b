/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for fuse/blockcache: the byte bound is never exceeded (pending
 * reservations included), eviction is least-recently-used, a block held by a
 * reader survives its eviction until put, pending blocks are shared and
 * woken on fill or fail (waiters that are called, too: once, with the
 * outcome, outside the lock), blocks larger than the cache stay private, and
 * concurrent use keeps the bound.  Read-ahead: prefetched ("ahead") bytes
 * stay under their limit, ahead blocks are evicted after every other
 * block, a reader's acquire ends their ahead state, unread ones expire to
 * the cold end, and consumed blocks go to the cold end.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuse/blockcache.h"
#include "test/helper_check.h"

static _Atomic int freed;

static void count_free(void *data, void *hint)
{
	(void)hint;
	free(data);
	atomic_fetch_add(&freed, 1);
}

static sl_blockkey_t key(uint64_t i)
{
	sl_blockkey_t k = {.hi = i * 7919, .lo = i};

	return k;
}

/* Acquire key i of len bytes and fill it with byte i if created. */
static fc_block_t *get_filled(fc_blockcache_t *c, uint64_t i, size_t len,
			      int *created)
{
	fc_block_t *b = fc_blockcache_acquire(c, key(i), len, created);

	if (*created) {
		void *data = malloc(len);

		memset(data, (int)i, len);
		fc_block_fill(c, b, data, len, count_free, NULL);
	}
	return b;
}

/* Use key i of len bytes once, as a read does (get_filled, then put):
 * whether it had to be created. */
static int use(fc_blockcache_t *c, uint64_t i, size_t len)
{
	int created;

	fc_block_put(c, get_filled(c, i, len, &created));
	return created;
}

static void check_bound(fc_blockcache_t *c)
{
	fc_blockcache_stats_t st;

	fc_blockcache_stats(c, &st);
	ck_assert_uint_le(st.used, st.capacity);
}

START_TEST(test_bound)
{
	fc_blockcache_t *c = fc_blockcache_new(10000);
	int created;

	atomic_store(&freed, 0);
	for (uint64_t i = 0; i < 500; i++) {
		fc_block_t *b =
			get_filled(c, i, 100 + (i * 37) % 3000, &created);

		ck_assert(created);
		check_bound(c);
		fc_block_put(c, b);
	}
	/* Pending reservations count too. */
	for (uint64_t i = 1000; i < 1020; i++) {
		fc_block_t *b =
			fc_blockcache_acquire(c, key(i), 2000, &created);

		check_bound(c);
		fc_block_fail(c, b, -EIO);
		fc_block_put(c, b);
	}
	fc_blockcache_destroy(&c);
	ck_assert_int_eq(atomic_load(&freed), 500);
}
END_TEST

START_TEST(test_lru_order)
{
	fc_blockcache_t *c = fc_blockcache_new(4000);

	for (uint64_t i = 0; i < 4; i++)
		use(c, i, 1000);
	/* Touch 0: now 1 is the least recently used. */
	ck_assert(!use(c, 0, 1000));
	ck_assert(use(c, 4, 1000));
	ck_assert(!use(c, 0, 1000));
	ck_assert(use(c, 1, 1000)); /* 1 was evicted (and now 2 is) */
	ck_assert(!use(c, 3, 1000));
	ck_assert(use(c, 2, 1000));
	fc_blockcache_destroy(&c);
}
END_TEST

START_TEST(test_refcount_survives_eviction)
{
	fc_blockcache_t *c = fc_blockcache_new(2000);
	fc_blockcache_stats_t st;
	fc_block_t *held;
	int created, before;

	atomic_store(&freed, 0);
	held = get_filled(c, 1, 1000, &created);
	for (uint64_t i = 2; i < 10; i++)
		use(c, i, 1000);
	fc_blockcache_stats(c, &st);
	ck_assert_uint_eq(st.blocks, 2);
	/* Evicted but held: still readable, not yet freed. */
	before = atomic_load(&freed);
	ck_assert_uint_eq(fc_block_len(held), 1000);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(
			((const unsigned char *)fc_block_data(held))[i], 1);
	fc_block_put(c, held);
	ck_assert_int_eq(atomic_load(&freed), before + 1);
	/* An extra reference also delays the free. */
	held = get_filled(c, 20, 1000, &created);
	fc_block_ref(c, held);
	fc_block_put(c, held);
	for (uint64_t i = 30; i < 40; i++)
		use(c, i, 1000);
	ck_assert_uint_eq(fc_block_len(held), 1000);
	before = atomic_load(&freed);
	fc_block_put(c, held);
	ck_assert_int_eq(atomic_load(&freed), before + 1);
	fc_blockcache_destroy(&c);
}
END_TEST

START_TEST(test_short_fill_settles)
{
	fc_blockcache_t *c = fc_blockcache_new(3000);
	fc_blockcache_stats_t st;
	fc_block_t *b;
	int created;

	b = fc_blockcache_acquire(c, key(1), 2000, &created);
	fc_blockcache_stats(c, &st);
	ck_assert_uint_eq(st.used, 2000);
	fc_block_fill(c, b, malloc(10), 10, count_free, NULL);
	fc_blockcache_stats(c, &st);
	ck_assert_uint_eq(st.used, 10);
	fc_block_put(c, b);
	/* A fill larger than reserved evicts others to keep the bound. */
	use(c, 2, 1000);
	b = fc_blockcache_acquire(c, key(3), 1000, &created);
	fc_block_fill(c, b, malloc(2500), 2500, count_free, NULL);
	check_bound(c);
	fc_block_put(c, b);
	/* A fill larger than the whole cache unlinks the block and leaves
	 * nothing counted for it. */
	fc_blockcache_destroy(&c);
	c = fc_blockcache_new(3000);
	use(c, 4, 1000);
	b = fc_blockcache_acquire(c, key(5), 1000, &created);
	fc_block_fill(c, b, malloc(5000), 5000, count_free, NULL);
	fc_blockcache_stats(c, &st);
	ck_assert_uint_eq(st.used, 0);
	ck_assert_uint_eq(st.blocks, 0);
	ck_assert_uint_eq(fc_block_len(b), 5000);
	fc_block_put(c, b);
	b = fc_blockcache_acquire(c, key(5), 1000, &created);
	ck_assert(created);
	fc_block_fail(c, b, -EIO);
	fc_block_put(c, b);
	fc_blockcache_stats(c, &st);
	ck_assert_uint_eq(st.used, 0);
	fc_blockcache_destroy(&c);
}
END_TEST

/* Prefetch key i of len bytes at now and fill it; returns the rc. */
static int prefetch_filled(fc_blockcache_t *c, uint64_t i, size_t len,
			   uint64_t now)
{
	fc_block_t *b;
	int rc = fc_blockcache_prefetch(c, key(i), len, now, &b);

	if (rc == 1) {
		fc_block_fill(c, b, malloc(len), len, count_free, NULL);
		fc_block_put(c, b);
	} else {
		ck_assert_ptr_null(b);
	}
	return rc;
}

START_TEST(test_ahead_limit)
{
	fc_blockcache_t *c = fc_blockcache_new(10000);
	fc_blockcache_stats_t st;
	fc_block_t *b;
	int created;

	/* Default: a quarter of the capacity. */
	ck_assert_int_eq(prefetch_filled(c, 1, 1000, 0), 1);
	ck_assert_int_eq(prefetch_filled(c, 2, 1000, 0), 1);
	ck_assert_int_eq(prefetch_filled(c, 3, 1000, 0), -ENOSPC);
	ck_assert_int_eq(prefetch_filled(c, 1, 1000, 0), 0); /* already */
	fc_blockcache_stats(c, &st);
	ck_assert_uint_eq(st.ahead, 2000);
	ck_assert_uint_eq(st.ahead_blocks, 2);
	/* A reader takes one: it is no longer ahead, room for another. */
	b = fc_blockcache_acquire(c, key(1), 1000, &created);
	ck_assert(!created);
	fc_block_put(c, b);
	fc_blockcache_stats(c, &st);
	ck_assert_uint_eq(st.ahead, 1000);
	ck_assert_uint_eq(st.ahead_used, 1);
	ck_assert_int_eq(prefetch_filled(c, 3, 1000, 0), 1);
	/* A pending ahead block counts what it reserves, then what came. */
	fc_blockcache_set_ahead(c, 5000, 1000);
	ck_assert_int_eq(fc_blockcache_prefetch(c, key(4), 2000, 0, &b), 1);
	fc_blockcache_stats(c, &st);
	ck_assert_uint_eq(st.ahead, 4000);
	fc_block_fill(c, b, malloc(500), 500, count_free, NULL);
	fc_block_put(c, b);
	fc_blockcache_stats(c, &st);
	ck_assert_uint_eq(st.ahead, 2500);
	/* A failed one is gone and counts as lost. */
	ck_assert_int_eq(fc_blockcache_prefetch(c, key(5), 1000, 0, &b), 1);
	fc_block_fail(c, b, -EIO);
	fc_block_put(c, b);
	fc_blockcache_stats(c, &st);
	ck_assert_uint_eq(st.ahead, 2500);
	ck_assert_uint_eq(st.ahead_lost, 1);
	/* Larger than the limit or the cache: refused. */
	ck_assert_int_eq(prefetch_filled(c, 6, 20000, 0), -ENOSPC);
	ck_assert_int_eq(prefetch_filled(c, 6, 0, 0), -ENOSPC);
	check_bound(c);
	fc_blockcache_destroy(&c);
}
END_TEST

START_TEST(test_ahead_spared)
{
	fc_blockcache_t *c = fc_blockcache_new(4000);
	fc_blockcache_stats_t st;

	fc_blockcache_set_ahead(c, 2000, 1000);
	/* Ahead blocks 1 and 2 are the least recently used... */
	ck_assert_int_eq(prefetch_filled(c, 1, 1000, 0), 1);
	ck_assert_int_eq(prefetch_filled(c, 2, 1000, 0), 1);
	use(c, 3, 1000);
	use(c, 4, 1000);
	/* ...yet 3 and 4 go first. */
	use(c, 5, 1000);
	use(c, 6, 1000);
	ck_assert(!use(c, 1, 1000));
	ck_assert(!use(c, 2, 1000));
	fc_blockcache_stats(c, &st);
	ck_assert_uint_eq(st.ahead_used, 2);
	ck_assert_uint_eq(st.ahead_lost, 0);
	/* With only ahead blocks left, they go too, rather than break the
	 * bound. */
	fc_blockcache_set_ahead(c, 4000, 1000);
	for (uint64_t i = 10; i < 14; i++)
		ck_assert_int_eq(prefetch_filled(c, i, 1000, 0), 1);
	ck_assert(use(c, 20, 1000));
	check_bound(c);
	fc_blockcache_stats(c, &st);
	ck_assert_uint_eq(st.ahead_lost, 1);
	fc_blockcache_destroy(&c);
}
END_TEST

START_TEST(test_ahead_expires)
{
	fc_blockcache_t *c = fc_blockcache_new(4000);
	fc_blockcache_stats_t st;

	fc_blockcache_set_ahead(c, 2000, 1000);
	use(c, 4, 1000);
	ck_assert_int_eq(prefetch_filled(c, 1, 1000, 0), 1);
	ck_assert_int_eq(prefetch_filled(c, 2, 1000, 500), 1);
	ck_assert_int_eq(prefetch_filled(c, 3, 1000, 900), -ENOSPC);
	/* At 1000, block 1 has waited its max age: it stops counting, and
	 * goes to the cold end, even behind the older plain block 4. */
	ck_assert_int_eq(prefetch_filled(c, 3, 1000, 1000), 1);
	fc_blockcache_stats(c, &st);
	ck_assert_uint_eq(st.ahead_expired, 1);
	ck_assert_uint_eq(st.ahead, 2000);
	use(c, 5, 1000);
	ck_assert(!use(c, 4, 1000));
	ck_assert(use(c, 1, 1000)); /* 1 was the one evicted */
	fc_blockcache_destroy(&c);
}
END_TEST

START_TEST(test_consumed_cold)
{
	fc_blockcache_t *c = fc_blockcache_new(3000);
	fc_block_t *b;
	int created;

	use(c, 1, 1000);
	use(c, 2, 1000);
	/* 3 was just read to its end: it goes before 1 and 2. */
	b = get_filled(c, 3, 1000, &created);
	fc_block_consumed(c, b);
	fc_block_put(c, b);
	use(c, 4, 1000);
	ck_assert(!use(c, 1, 1000));
	ck_assert(!use(c, 2, 1000));
	ck_assert(use(c, 3, 1000));
	/* Ahead and private blocks are left alone. */
	ck_assert_int_eq(fc_blockcache_prefetch(c, key(9), 100, 0, &b), 1);
	fc_block_consumed(c, b);
	fc_block_fill(c, b, malloc(100), 100, count_free, NULL);
	fc_block_put(c, b);
	b = fc_block_new_private(c, 10);
	fc_block_consumed(c, b);
	fc_block_fill(c, b, malloc(10), 10, count_free, NULL);
	fc_block_put(c, b);
	check_bound(c);
	fc_blockcache_destroy(&c);
}
END_TEST

START_TEST(test_oversized_private)
{
	fc_blockcache_t *c = fc_blockcache_new(1000);
	fc_blockcache_stats_t st;
	fc_block_t *a, *b;
	int created;

	a = fc_blockcache_acquire(c, key(1), 5000, &created);
	ck_assert(created);
	b = fc_blockcache_acquire(c, key(1), 5000, &created);
	ck_assert(created); /* never linked: a second fetch */
	fc_blockcache_stats(c, &st);
	ck_assert_uint_eq(st.used, 0);
	fc_block_fill(c, a, malloc(5000), 5000, count_free, NULL);
	fc_block_fail(c, b, -EIO);
	fc_block_put(c, a);
	fc_block_put(c, b);
	a = fc_block_new_private(c, 10);
	fc_block_fill(c, a, malloc(10), 10, count_free, NULL);
	ck_assert_int_eq(fc_block_wait(c, a, 0), 0);
	fc_block_put(c, a);
	/* Capacity 0: nothing is ever linked. */
	fc_blockcache_destroy(&c);
	c = fc_blockcache_new(0);
	a = fc_blockcache_acquire(c, key(1), 1, &created);
	fc_block_fail(c, a, -ENOENT);
	ck_assert_int_eq(fc_block_wait(c, a, 0), -ENOENT);
	fc_block_put(c, a);
	fc_blockcache_destroy(&c);
}
END_TEST

struct filler {
	fc_blockcache_t *c;
	fc_block_t *b;
	int fail;
};

static void *fill_later(void *arg)
{
	struct filler *f = arg;

	usleep(50000);
	if (f->fail)
		fc_block_fail(f->c, f->b, -ESTALE);
	else
		fc_block_fill(f->c, f->b, malloc(100), 100, count_free, NULL);
	fc_block_put(f->c, f->b);
	return NULL;
}

START_TEST(test_pending_shared)
{
	fc_blockcache_t *c = fc_blockcache_new(10000);
	struct filler f = {.c = c};
	fc_block_t *a, *b;
	pthread_t th;
	int created;

	a = fc_blockcache_acquire(c, key(5), 100, &created);
	ck_assert(created);
	ck_assert(!fc_block_done(c, a));
	b = fc_blockcache_acquire(c, key(5), 100, &created);
	ck_assert(!created);
	ck_assert_ptr_eq(a, b);
	ck_assert_int_eq(fc_block_wait(c, b, 10), -ETIMEDOUT);
	f.b = fc_block_ref(c, a);
	pthread_create(&th, NULL, fill_later, &f);
	ck_assert_int_eq(fc_block_wait(c, b, 5000), 0);
	ck_assert_uint_eq(fc_block_len(b), 100);
	pthread_join(th, NULL);
	fc_block_put(c, a);
	fc_block_put(c, b);

	/* A failure wakes waiters and unlinks: the next acquire refetches. */
	a = fc_blockcache_acquire(c, key(6), 100, &created);
	f.b = fc_block_ref(c, a);
	f.fail = 1;
	pthread_create(&th, NULL, fill_later, &f);
	ck_assert_int_eq(fc_block_wait(c, a, 5000), -ESTALE);
	pthread_join(th, NULL);
	fc_block_put(c, a);
	a = fc_blockcache_acquire(c, key(6), 100, &created);
	ck_assert(created);
	fc_block_fail(c, a, -EIO);
	fc_block_put(c, a);
	fc_blockcache_destroy(&c);
}
END_TEST

/* A waiter that records the block's outcome as its call saw it, and that
 * the cache's lock was free then (it takes a reference and puts it). */
struct seen {
	fc_block_waiter_t w;
	fc_blockcache_t *c;
	fc_block_t *b;
	_Atomic int calls;
	int status;
};

static void saw(fc_block_waiter_t *w)
{
	struct seen *s = (struct seen *)w;

	s->status = fc_block_status(s->c, s->b);
	fc_block_put(s->c, fc_block_ref(s->c, s->b));
	atomic_fetch_add(&s->calls, 1);
}

START_TEST(test_when_done)
{
	fc_blockcache_t *c = fc_blockcache_new(10000);
	struct seen s1 = {.w.fn = saw, .c = c}, s2 = {.w.fn = saw, .c = c};
	fc_block_t *a;
	int created;

	/* Two waiters on one pending block: both called once, on fill,
	 * seeing it filled. */
	a = fc_blockcache_acquire(c, key(8), 100, &created);
	s1.b = s2.b = a;
	ck_assert_int_eq(fc_block_status(c, a), -EAGAIN);
	ck_assert_int_eq(fc_block_when_done(c, a, &s1.w), 0);
	ck_assert_int_eq(fc_block_when_done(c, a, &s2.w), 0);
	ck_assert_int_eq(atomic_load(&s1.calls), 0);
	fc_block_fill(c, a, malloc(100), 100, count_free, NULL);
	ck_assert_int_eq(atomic_load(&s1.calls), 1);
	ck_assert_int_eq(atomic_load(&s2.calls), 1);
	ck_assert_int_eq(s1.status, 0);
	/* Complete already: nothing registered, nothing called. */
	ck_assert_int_eq(fc_block_when_done(c, a, &s1.w), 1);
	ck_assert_int_eq(atomic_load(&s1.calls), 1);
	fc_block_put(c, a);

	/* A failure calls the waiter with the error. */
	a = fc_blockcache_acquire(c, key(9), 100, &created);
	s1.b = a;
	ck_assert_int_eq(fc_block_when_done(c, a, &s1.w), 0);
	fc_block_fail(c, a, -ESTALE);
	ck_assert_int_eq(atomic_load(&s1.calls), 2);
	ck_assert_int_eq(s1.status, -ESTALE);
	ck_assert_int_eq(fc_block_status(c, a), -ESTALE);
	fc_block_put(c, a);
	fc_blockcache_destroy(&c);
}
END_TEST

static void *hammer(void *arg)
{
	fc_blockcache_t *c = arg;
	unsigned seed = (unsigned)(uintptr_t)pthread_self();

	for (int i = 0; i < 20000; i++) {
		uint64_t k = (uint64_t)(rand_r(&seed) % 300);
		size_t len = 100 + (size_t)(k % 7) * 100;
		int created;
		fc_block_t *b = fc_blockcache_acquire(c, key(k), len, &created);

		if (created) {
			void *d = malloc(len);

			memset(d, (int)k, len);
			fc_block_fill(c, b, d, len, count_free, NULL);
		}
		ck_assert_int_eq(fc_block_wait(c, b, 10000), 0);
		ck_assert_int_eq(((const unsigned char *)fc_block_data(b))[0],
				 (int)(k & 0xff));
		check_bound(c);
		fc_block_put(c, b);
	}
	return NULL;
}

START_TEST(test_threads)
{
	fc_blockcache_t *c = fc_blockcache_new(20000);
	pthread_t th[4];

	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, hammer, c);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	check_bound(c);
	fc_blockcache_destroy(&c);
}
END_TEST

/*
 * Pages live with blocks under one bound: a cache of 1 MiB holds sixteen
 * 64 KiB pages, the seventeenth evicts the least recently used, and
 * lookup finds a block without creating one (a miss creates nothing and
 * counts nothing).
 */
START_TEST(test_pages_and_lookup)
{
	fc_blockcache_t *c = fc_blockcache_new(1u << 20);
	fc_blockcache_stats_t st;
	fc_block_t *b;
	int created;

	ck_assert_ptr_null(fc_blockcache_lookup(c, key(1000)));
	fc_blockcache_stats(c, &st);
	ck_assert_uint_eq(st.misses + st.hits + st.blocks, 0);
	for (uint64_t i = 0; i < 16; i++)
		fc_block_put(c, get_filled(c, i, 65536, &created));
	fc_blockcache_stats(c, &st);
	ck_assert_uint_eq(st.used, 1u << 20);
	ck_assert_uint_eq(st.blocks, 16);
	/* Page 0 used again: page 1 is now the oldest. */
	b = fc_blockcache_lookup(c, key(0));
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(((const uint8_t *)fc_block_data(b))[100], 0);
	fc_block_put(c, b);
	fc_block_put(c, get_filled(c, 16, 65536, &created));
	ck_assert(created);
	ck_assert_ptr_null(fc_blockcache_lookup(c, key(1)));
	b = fc_blockcache_lookup(c, key(0));
	ck_assert_ptr_nonnull(b);
	fc_block_put(c, b);
	fc_blockcache_stats(c, &st);
	ck_assert_uint_eq(st.used, 1u << 20);
	ck_assert_uint_eq(st.evictions, 1);
	/* A pending block is found too: a second reader waits on it. */
	b = fc_blockcache_acquire(c, key(50), 4096, &created);
	ck_assert(created);
	ck_assert_ptr_eq(fc_blockcache_lookup(c, key(50)), b);
	fc_block_fail(c, b, -EIO);
	fc_block_put(c, b);
	fc_block_put(c, b);
	ck_assert_ptr_null(fc_blockcache_lookup(c, key(50)));
	check_bound(c);
	fc_blockcache_destroy(&c);
}
END_TEST

static Suite *blockcache_suite(void)
{
	return TH_SUITE(
		"fc_blockcache",
		{.name = "core",
		 .tests = TH_TESTS(test_bound, test_lru_order,
				   test_refcount_survives_eviction,
				   test_short_fill_settles, test_ahead_limit,
				   test_ahead_spared, test_ahead_expires,
				   test_consumed_cold, test_oversized_private,
				   test_pending_shared, test_when_done,
				   test_threads, test_pages_and_lookup)});
}

int main(void)
{
	return th_check_run(blockcache_suite(), NULL);
}
