/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client block cache: a bounded LRU of whole blocks keyed by block key,
 * so that the kernel's many small sequential reads of one block cost one
 * network fetch, and prefetched blocks have somewhere to wait.
 *
 * A block is created empty ("pending") by whoever decides to fetch it and is
 * completed exactly once, with data (fc_block_fill) or an error
 * (fc_block_fail), usually from the I/O thread.  Readers that find a pending
 * block wait for it instead of fetching it again, so concurrent readers and
 * the prefetcher share one fetch.
 *
 * Blocks are reference-counted.  The cache holds one reference while a block
 * is linked; every fc_blockcache_acquire()/fc_block_new_private() returns one
 * more for the caller.  Eviction only unlinks: a reader copying out of a
 * block (or the kernel reading an iovec over it) keeps it alive until its
 * fc_block_put().  The bound counts the bytes of linked blocks and is never
 * exceeded; blocks larger than the whole capacity are never linked.
 *
 * Read-ahead has its own account.  A block the prefetcher creates
 * (fc_blockcache_prefetch) is "ahead" until a reader acquires it: ahead
 * bytes are capped (fc_blockcache_set_ahead), so read-ahead can never fill
 * the cache, and eviction takes every other block before an ahead one, so
 * a prefetched block is not thrown out to make room for the next prefetch
 * before anyone has read it.  An ahead block nobody reads within max_age_ms
 * stops being one and goes to the cold end of the LRU: the stream that
 * wanted it has gone away.  A reader done with a block it streamed past
 * moves it to the cold end too (fc_block_consumed), so that a sequential
 * reader's used blocks, not its next ones, are the first to go.
 *
 * Thread safety: all functions may be called from any thread; one mutex
 * (c->lock) guards the index, the LRU list, the byte count and block states.
 * A block's data never changes after it is filled, so holders read it
 * without the lock.
 */
#ifndef FC_BLOCKCACHE_H
#define FC_BLOCKCACHE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/blockkey.h"

typedef struct fc_blockcache fc_blockcache_t;
typedef struct fc_block fc_block_t;

/* Releases a block's data; hint as given to fc_block_fill. */
typedef void fc_block_free_fn(void *data, void *hint);

typedef struct fc_blockcache_stats {
	uint64_t capacity;
	uint64_t used;	 /* bytes of linked blocks (reserved while pending) */
	uint64_t blocks; /* linked blocks */
	uint64_t hits;	 /* acquire found the block (ready or pending) */
	uint64_t misses; /* acquire created it */
	uint64_t evictions;
	uint64_t ahead;		/* bytes of ahead blocks, as reserved */
	uint64_t ahead_blocks;	/* ahead blocks */
	uint64_t ahead_used;	/* ahead blocks a reader then acquired */
	uint64_t ahead_lost;	/* ahead blocks evicted or failed unread */
	uint64_t ahead_expired; /* ahead blocks unread after max_age_ms */
} fc_blockcache_stats_t;

/* A cache of at most capacity bytes (0: nothing is ever linked), with an
 * ahead limit of capacity / 4 and an ahead age of 3 s until
 * fc_blockcache_set_ahead says otherwise.  Caller frees with
 * fc_blockcache_destroy, after every block reference is put. */
fc_blockcache_t *fc_blockcache_new(uint64_t capacity);
void fc_blockcache_destroy(fc_blockcache_t **cp);

/* At most limit bytes of ahead blocks (clamped to the capacity); an ahead
 * block unread for max_age_ms stops being one.  Applies to later calls. */
void fc_blockcache_set_ahead(fc_blockcache_t *c, uint64_t limit,
			     uint64_t max_age_ms);

/*
 * The block with key, as a new reference (put it with fc_block_put).  When
 * the cache has it (ready or still pending) *created is 0 and it becomes
 * the most recently used (and, if it was ahead, no longer ahead: a reader
 * has come for it).  Otherwise a pending block of len bytes is created
 * and *created is 1: the caller must see to it that it is filled or failed.
 * It is linked (evicting least recently used blocks to keep the bound) when
 * len fits the capacity, else it is private to its holders.
 */
fc_block_t *fc_blockcache_acquire(fc_blockcache_t *c, sl_blockkey_t key,
				  size_t len, int *created);

/*
 * The block with key if the cache has it (ready or pending), as a new
 * reference that becomes the most recently used, as acquire's; else NULL,
 * and nothing is created (a random reader then asks for pages instead).
 */
fc_block_t *fc_blockcache_lookup(fc_blockcache_t *c, sl_blockkey_t key);

/*
 * The prefetcher's acquire.  When the cache has key already, returns 0 and
 * sets *out to NULL: nothing to do, and the block's place in the LRU is left
 * alone (a prefetch is not a use).  When ahead bytes + len would pass the
 * ahead limit, or len cannot be linked, returns -ENOSPC and *out is NULL.
 * Otherwise creates a pending ahead block, links it, returns 1 and sets
 * *out to a new reference: the caller must see to it that it is filled or
 * failed, and put it.  now_ms (sl_now_ms()) dates it and expires older
 * ahead blocks first.
 */
int fc_blockcache_prefetch(fc_blockcache_t *c, sl_blockkey_t key, size_t len,
			   uint64_t now_ms, fc_block_t **out);

/* Count each prefetched block that leaves the cache before any reader
 * acquired it in *counter (borrowed, outliving c; NULL: stop). */
void fc_blockcache_count_wasted(fc_blockcache_t *c, _Atomic uint64_t *counter);

/* Where b's bytes came from (enum fc_tier, metrics.h): set by its fetch
 * before fc_block_fill, read by its readers after the wait. */
void fc_block_set_origin(fc_block_t *b, unsigned tier);
unsigned fc_block_origin(const fc_block_t *b);
/* The record of b's pages read so far (fc_metrics_piece): fc_seen_words
 * of the length b was created with.  Borrowed while the caller holds b. */
_Atomic uint64_t *fc_block_seen(fc_block_t *b);

/*
 * The caller, a sequential reader, has read b (borrowed) to its end and
 * will not come back: move it to the cold end of the LRU, to be evicted
 * first.  Does nothing to a block that is not linked, or still ahead.
 */
void fc_block_consumed(fc_blockcache_t *c, fc_block_t *b);

/* A pending block that is never linked (a direct range read).  Put it with
 * fc_block_put on the same cache. */
fc_block_t *fc_block_new_private(fc_blockcache_t *c, size_t len);

/*
 * Complete b with data[0..len): ownership of data passes to the block, which
 * calls free_fn(data, hint) when the last reference goes (free_fn may be
 * NULL for static data).  Wakes every waiter.  b is borrowed.
 */
void fc_block_fill(fc_blockcache_t *c, fc_block_t *b, void *data, size_t len,
		   fc_block_free_fn *free_fn, void *hint);

/* Complete b with err (negative errno) and unlink it, so the next acquire
 * fetches afresh.  Wakes every waiter.  b is borrowed. */
void fc_block_fail(fc_blockcache_t *c, fc_block_t *b, int err);

/*
 * Wait until b is complete or timeout_ms passes.  Returns 0 (filled), the
 * negative errno it failed with, or -ETIMEDOUT.
 */
int fc_block_wait(fc_blockcache_t *c, fc_block_t *b, uint64_t timeout_ms);

/*
 * A waiter that is called instead of waited for: whoever completes the
 * block calls fn(w) once, on its own thread (usually the I/O thread),
 * after the cache's lock is released, so fn may take any reference or call
 * any function here.  The waiter is the caller's memory (embed it); it is
 * linked while registered and must outlive the call.
 */
typedef struct fc_block_waiter fc_block_waiter_t;
struct fc_block_waiter {
	void (*fn)(fc_block_waiter_t *w);
	fc_block_waiter_t *next; /* the block's list (c->lock) */
};

/*
 * Register w (borrowed until its fn is called) on b (borrowed; the caller
 * keeps its reference until then).  Returns 0 when registered: w->fn runs
 * when b completes; or 1 when b is complete already: nothing is
 * registered and fn is not called -- the caller goes on with b at once,
 * so a read of blocks that are all here never leaves its thread.
 */
int fc_block_when_done(fc_blockcache_t *c, fc_block_t *b, fc_block_waiter_t *w);

/* A complete block's outcome: 0 (filled) or the negative errno it failed
 * with; -EAGAIN while it is still pending. */
int fc_block_status(fc_blockcache_t *c, fc_block_t *b);

/* Whether b is complete (filled or failed), without waiting. */
int fc_block_done(fc_blockcache_t *c, fc_block_t *b);

/* A filled block's bytes: valid while the caller holds its reference. */
const void *fc_block_data(const fc_block_t *b);
size_t fc_block_len(const fc_block_t *b);

/* Take one more reference on b (held by the caller); returns b. */
fc_block_t *fc_block_ref(fc_blockcache_t *c, fc_block_t *b);

/* Drop one reference; the last frees the block and its data.  Accepts
 * NULL. */
void fc_block_put(fc_blockcache_t *c, fc_block_t *b);

void fc_blockcache_stats(fc_blockcache_t *c, fc_blockcache_stats_t *out);

#endif
