/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RAM tier: block key -> reference-counted block, bounded in bytes.
 *
 * Memory is accounted in two classes, both atomic byte counters:
 *   used       cached blocks (in the index, or reserved to enter it, or
 *              evicted but still being sent) plus their index overhead;
 *              never above capacity.
 *   transient  buffers for blocks the policy would not admit (a full `pin`
 *              tier, say): fetched, served once, freed; never above slack.
 * A block's bytes leave their class when the last reference drops, not when
 * it is evicted, so the bounds hold for memory that really exists.  Blocks
 * of 64 KiB and more live in their own mmap() and go back to the kernel on
 * free, so the process's RSS follows the counters.
 *
 * Threads: the index, the policies and every cn_ramtier_* function belong to
 * one thread (the event thread).  Block references are atomic:
 * cn_block_ref/cn_block_unref and cn_block_zmq_free may run on any thread
 * (ZeroMQ's I/O thread drops the reference of a zero-copy reply).  A block's
 * bytes are written once, by the fetch, before the block is shared; after
 * that they are read-only.
 *
 * Lifetime: the tier must outlive every block (the server terminates the
 * ZeroMQ context, which releases all in-flight replies, before it destroys
 * the tier).
 */
#ifndef CN_RAMTIER_H
#define CN_RAMTIER_H

#include <stddef.h>
#include <stdint.h>

#include "cachenode/metrics.h"
#include "cachenode/policy.h"
#include "common/blockkey.h"
#include "common/config.h"

typedef struct cn_ramtier cn_ramtier_t;
typedef struct cn_block cn_block_t;

/*
 * A tier of capacity bytes (blocks and index) and slack bytes for transient
 * buffers.  m: borrowed, outlives the tier, updated with evictions and the
 * RAM gauges; NULL for none.  Caller frees with cn_ramtier_destroy.
 */
cn_ramtier_t *cn_ramtier_new(uint64_t capacity, uint64_t slack,
			     cn_metrics_t *m);
/* Drops the index's references; every other reference must be gone
 * already (asserted).  Accepts NULL; clears *tp. */
void cn_ramtier_destroy(cn_ramtier_t **tp);

/*
 * Change the bounds (SIGHUP).  Shrinking evicts: first by policy, then any
 * cached block, until used <= capacity or nothing is left in the index.
 */
void cn_ramtier_set_capacity(cn_ramtier_t *t, uint64_t capacity,
			     uint64_t slack);

/*
 * fd (an eventfd, borrowed) is written whenever block memory is freed while
 * cn_ramtier_want_memory(t, 1) is in effect, from whichever thread frees.
 */
void cn_ramtier_set_wake_fd(cn_ramtier_t *t, int fd);
void cn_ramtier_want_memory(cn_ramtier_t *t, int on);

/*
 * fn(arg, key, b) is called on the event thread for every block the tier
 * evicts to make room (not for purges or destroy), just before the index
 * drops its reference: fn may take a reference of its own to keep b's
 * bytes (to demote them to the disk tier).  b's bytes stay charged to the
 * tier until that reference too is dropped.  fn must not call back into
 * the tier.  NULL fn: none.
 */
void cn_ramtier_set_evict_hook(cn_ramtier_t *t,
			       void (*fn)(void *arg, sl_blockkey_t key,
					  cn_block_t *b),
			       void *arg);

uint64_t cn_ramtier_capacity(const cn_ramtier_t *t);
uint64_t cn_ramtier_slack(const cn_ramtier_t *t);
/* Thread-safe reads of the counters. */
uint64_t cn_ramtier_used(const cn_ramtier_t *t);
uint64_t cn_ramtier_transient(const cn_ramtier_t *t);
/* Bytes of freed block buffers kept for reuse (inside the capacity, beside
 * used: see ramtier.c), and how many allocations took one. */
uint64_t cn_ramtier_spare_bytes(const cn_ramtier_t *t);
uint64_t cn_ramtier_reused(const cn_ramtier_t *t);
/* Blocks in the index. */
size_t cn_ramtier_count(const cn_ramtier_t *t);

/* What one block of len bytes costs the tier (data, header, index). */
uint64_t cn_ramtier_charge(size_t len);

/*
 * Get len bytes for a new block that will be cached under policy (and
 * tagged with tag, the dataset's id, for cn_ramtier_purge).  Evicts the
 * policy's victims until the block fits in capacity; if it still does not
 * (pin, or everything evictable is being sent), the block is transient,
 * charged to the slack.  Returns the block with one reference (the
 * caller's), or NULL with *err = -ENOMEM when neither class has room now
 * (retry after memory frees; see cn_ramtier_want_memory).  The block's
 * bytes are uninitialised; its length is len until cn_block_trim.
 */
cn_block_t *cn_ramtier_alloc(cn_ramtier_t *t, const cn_policy_ops_t *policy,
			     uint32_t tag, size_t len, int *err);

/*
 * Admit a filled block to the index under key (absent from it).  Returns 1
 * when admitted (the index takes a reference of its own), 0 when the block
 * is transient or the key is already cached: the caller serves it and drops
 * its reference.  The caller's reference is untouched either way.
 */
int cn_ramtier_insert(cn_ramtier_t *t, sl_blockkey_t key, cn_block_t *b);

/* A cached block and a new reference to it (caller unrefs), and a hit for
 * its policy; NULL when key is not cached. */
cn_block_t *cn_ramtier_get(cn_ramtier_t *t, sl_blockkey_t key);

/* Drop every cached block with tag (a dataset removed or changed).  Returns
 * how many left the index. */
size_t cn_ramtier_purge(cn_ramtier_t *t, uint32_t tag);
/* Move every cached block with tag under policy (a dataset under `policy
 * = auto` changed its choice): out of its old policy's order into the new
 * one's, where they count as used just now.  Nothing is evicted, freed or
 * counted again: the bytes stay where they are.  Returns how many moved. */
size_t cn_ramtier_retag(cn_ramtier_t *t, uint32_t tag,
			const cn_policy_ops_t *policy);
/* Hold the cached blocks with tag to limit bytes (their charges): a block
 * that would go past it is served without being admitted, and blocks
 * beyond it now are evicted (any of them: the limit shrank).  policy =
 * auto gives a pinned dataset the share the smaller datasets leave it, so
 * that pinning a big one first does not take an lru one's room.
 * UINT64_MAX: no limit.  Memory: one entry per tag with a limit. */
void cn_ramtier_set_quota(cn_ramtier_t *t, uint32_t tag, uint64_t limit);
/* Drop key's block (EVICT: not an eviction, nothing is demoted); its
 * memory goes with its last reference.  Returns its data length, or 0
 * when it is not cached. */
size_t cn_ramtier_drop(cn_ramtier_t *t, sl_blockkey_t key);
/* fn(arg, tag, data length) for every cached block (the per-dataset
 * gauges).  Event thread. */
void cn_ramtier_foreach(cn_ramtier_t *t,
			void (*fn)(void *arg, uint32_t tag, size_t len),
			void *arg);

/* The block's bytes and valid length.  Borrowed while a reference is held. */
uint8_t *cn_block_data(cn_block_t *b);
size_t cn_block_len(const cn_block_t *b);
int cn_block_transient(const cn_block_t *b);
/* Bytes usable at cn_block_data(): at least the valid length; for blocks
 * of 64 KiB and more a whole number of pages (page-aligned data). */
size_t cn_block_capacity(const cn_block_t *b);
/* The tag and policy the block was allocated with. */
uint32_t cn_block_tag(const cn_block_t *b);
const cn_policy_ops_t *cn_block_policy(const cn_block_t *b);

/* The policy b will be admitted under, for a block not in the index yet
 * (filled while its dataset's choice changed). */
void cn_block_set_policy(cn_block_t *b, const cn_policy_ops_t *policy);

/* pr_body_hash of the block's valid bytes, computed on the first call and
 * kept: a block sent whole many times is hashed once.  Only once the block
 * is filled (its bytes no longer change); any thread. */
uint64_t cn_block_hash(cn_block_t *b);

/* Set the valid length to len <= the allocated one (a short read at EOF)
 * and give back whole pages beyond it.  Only before the block is shared. */
void cn_block_trim(cn_block_t *b, size_t len);

/* Take or drop a reference; any thread.  The last drop frees the bytes and
 * subtracts them from the tier's counter. */
cn_block_t *cn_block_ref(cn_block_t *b);
void cn_block_unref(cn_block_t *b);

/* A zmq_free_fn for zero-copy replies: hint is a block whose reference the
 * message holds; data is ignored (a view into the block). */
void cn_block_zmq_free(void *data, void *hint);

#endif
