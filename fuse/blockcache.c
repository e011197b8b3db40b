/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client block cache (see blockcache.h): a table of block key to block
 * (common/keymap.h), and an LRU list through the linked blocks
 * (common/list.h), most recently used at the front.  Pending blocks are linked
 * with the bytes they will hold reserved, so the bound holds before any data
 * arrives.  Ahead blocks are also on a second list, oldest first, so that
 * expiring them looks at the few that are due and no others.
 */
#include "fuse/blockcache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "common/keymap.h"
#include "common/list.h"
#include "common/util.h"
#include "fuse/metrics.h"

#define DEFAULT_AHEAD_AGE_MS 3000

enum { B_PENDING, B_READY, B_FAILED };

struct fc_block {
	sl_knode_t node; /* the key, and the index's link (c->lock) */
	void *data;	 /* set once, by fill */
	size_t len;	 /* reserved while pending, then actual */
	fc_block_free_fn *free_fn;
	void *hint;
	int state;     /* protected by c->lock */
	int err;       /* protected by c->lock */
	uint64_t refs; /* protected by c->lock */
	int linked;    /* protected by c->lock */
	int waiters;   /* protected by c->lock */
	fc_block_waiter_t
		*calls;	       /* protected by c->lock: called on completion */
	pthread_cond_t cond;   /* signalled on completion, with c->lock */
	sl_list_t lru;	       /* protected by c->lock */
	struct fc_block *dead; /* the next unlinked block to free */

	/* Read-ahead, all protected by c->lock: prefetched and not yet read
	 * since when, and the link on the list of such blocks. */
	int ahead;
	uint64_t ahead_ms;
	sl_list_t ahead_link;
	int unread; /* prefetched, no reader yet (c->lock) */

	/* Where it came from (set before the fill, read after it) and what
	 * of it was read so far (metrics.h, fc_metrics_piece): one bit per
	 * page of the len reserved. */
	unsigned origin;
	_Atomic uint64_t seen[];
};

struct fc_blockcache {
	pthread_mutex_t lock;
	uint64_t capacity;
	sl_keymap_t index;	  /* protected by c->lock */
	sl_list_t lru;		  /* protected by c->lock; most recent first */
	fc_blockcache_stats_t st; /* protected by c->lock */

	/* Read-ahead, all protected by c->lock: the ahead list (oldest
	 * first), the byte limit and the age after which a block expires. */
	sl_list_t ahead;
	uint64_t ahead_limit;
	uint64_t ahead_age_ms;
	/* Prefetched blocks unlinked unread are counted here too (an
	 * atomic outliving the cache; NULL: nowhere). */
	_Atomic uint64_t *wasted;
};

static struct fc_block *lru_block(sl_list_t *l)
{
	return l ? sl_container_of(l, struct fc_block, lru) : NULL;
}

fc_blockcache_t *fc_blockcache_new(uint64_t capacity)
{
	fc_blockcache_t *c = sl_xcalloc(1, sizeof(*c));

	pthread_mutex_init(&c->lock, NULL);
	c->capacity = capacity;
	c->st.capacity = capacity;
	c->ahead_limit = capacity / 4;
	c->ahead_age_ms = DEFAULT_AHEAD_AGE_MS;
	sl_keymap_init(&c->index);
	sl_keymap_reserve(&c->index, 256);
	sl_list_init(&c->lru);
	sl_list_init(&c->ahead);
	return c;
}

static void free_block(struct fc_block *b)
{
	SL_ASSERT(!b->calls); /* a waiter holds a reference */
	if (b->free_fn)
		b->free_fn(b->data, b->hint);
	pthread_cond_destroy(&b->cond);
	free(b);
}

/* b goes to the cold end of the LRU, first in line for eviction. */
static void lru_make_cold_locked(fc_blockcache_t *c, struct fc_block *b)
{
	sl_list_del(&b->lru);
	sl_list_add_back(&c->lru, &b->lru);
}

static void ahead_add_locked(fc_blockcache_t *c, struct fc_block *b,
			     uint64_t now_ms)
{
	b->ahead = 1;
	b->ahead_ms = now_ms;
	sl_list_add_back(&c->ahead, &b->ahead_link);
	c->st.ahead += b->len;
	c->st.ahead_blocks++;
}

/* b stops being ahead (read, evicted, failed or expired). */
static void ahead_remove_locked(fc_blockcache_t *c, struct fc_block *b)
{
	SL_ASSERT(b->ahead);
	sl_list_del(&b->ahead_link);
	b->ahead = 0;
	c->st.ahead -= b->len;
	c->st.ahead_blocks--;
}

/* Ahead blocks unread for ahead_age_ms: whoever prefetched them is not
 * coming, so they free their share of the limit and go to the cold end. */
static void expire_locked(fc_blockcache_t *c, uint64_t now_ms)
{
	sl_list_t *l;
	struct fc_block *b;

	while ((l = sl_list_first(&c->ahead))) {
		b = sl_container_of(l, struct fc_block, ahead_link);
		if (now_ms - b->ahead_ms < c->ahead_age_ms)
			break;
		ahead_remove_locked(c, b);
		c->st.ahead_expired++;
		lru_make_cold_locked(c, b);
	}
}

/* Drop one reference with the lock held; returns the block if it must be
 * freed (outside the lock: its free_fn may be slow). */
static struct fc_block *unref_locked(struct fc_block *b)
{
	SL_ASSERT(b->refs > 0);
	return --b->refs == 0 ? b : NULL;
}

static struct fc_block *unlink_locked(fc_blockcache_t *c, struct fc_block *b)
{
	SL_ASSERT(b->linked);
	sl_keymap_remove(&c->index, &b->node);
	sl_list_del(&b->lru);
	if (b->ahead) {
		ahead_remove_locked(c, b);
		c->st.ahead_lost++;
	}
	if (b->unread && c->wasted)
		atomic_fetch_add_explicit(c->wasted, 1, memory_order_relaxed);
	b->unread = 0;
	b->linked = 0;
	c->st.used -= b->len;
	c->st.blocks--;
	return unref_locked(b); /* the cache's own reference */
}

/* Evict from the LRU's cold end until need more bytes fit, sparing keep,
 * and sparing ahead blocks while anything else can go (they are at most
 * the ahead limit, so the first pass nearly always suffices).  Blocks to
 * free are chained through their dead link onto *dead. */
static void evict_locked(fc_blockcache_t *c, uint64_t need,
			 struct fc_block *keep, struct fc_block **dead)
{
	struct fc_block *b, *prev, *f;

	for (int pass = 0; pass < 2; pass++) {
		b = lru_block(sl_list_last(&c->lru));
		while (b && c->st.used + need > c->capacity) {
			/* Taken before b may leave the list. */
			prev = b->lru.prev == &c->lru ? NULL
						      : lru_block(b->lru.prev);
			if (b != keep && (pass == 1 || !b->ahead)) {
				f = unlink_locked(c, b);
				c->st.evictions++;
				if (f) {
					f->dead = *dead;
					*dead = f;
				}
			}
			b = prev;
		}
	}
}

static void free_dead(struct fc_block *dead)
{
	struct fc_block *next;

	for (; dead; dead = next) {
		next = dead->dead;
		free_block(dead);
	}
}

static struct fc_block *new_block(sl_blockkey_t key, size_t len)
{
	struct fc_block *b = sl_xcalloc(
		1, sizeof(*b) + fc_seen_words(len) * sizeof(b->seen[0]));
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cond, &ca);
	pthread_condattr_destroy(&ca);
	b->node.key = key;
	sl_list_init(&b->lru);
	sl_list_init(&b->ahead_link);
	b->len = len;
	b->state = B_PENDING;
	b->refs = 1;
	return b;
}

/* The cached block of key, or NULL.  Borrowed; c->lock held. */
static struct fc_block *find_locked(fc_blockcache_t *c, sl_blockkey_t key)
{
	sl_knode_t *n = sl_keymap_find(&c->index, key);

	return n ? sl_container_of(n, struct fc_block, node) : NULL;
}

/* Link new block b into the index and the LRU, taking the cache's
 * reference and charging its bytes (room was made by the caller). */
static void insert_locked(fc_blockcache_t *c, struct fc_block *b)
{
	sl_keymap_insert(&c->index, &b->node);
	sl_list_add_front(&c->lru, &b->lru);
	b->linked = 1;
	b->refs++; /* the cache's reference */
	c->st.used += b->len;
	c->st.blocks++;
}

/* A reader found b: a reference for it, and b is the most recent. */
static void hit_locked(fc_blockcache_t *c, struct fc_block *b)
{
	b->refs++;
	sl_list_move_front(&c->lru, &b->lru);
	if (b->ahead) {
		ahead_remove_locked(c, b);
		c->st.ahead_used++;
	}
	b->unread = 0; /* a prefetched block that found its reader */
	c->st.hits++;
}

fc_block_t *fc_blockcache_lookup(fc_blockcache_t *c, sl_blockkey_t key)
{
	struct fc_block *b;

	pthread_mutex_lock(&c->lock);
	b = find_locked(c, key);
	if (b)
		hit_locked(c, b);
	pthread_mutex_unlock(&c->lock);
	return b;
}

fc_block_t *fc_blockcache_acquire(fc_blockcache_t *c, sl_blockkey_t key,
				  size_t len, int *created)
{
	struct fc_block *b, *dead = NULL;

	pthread_mutex_lock(&c->lock);
	b = find_locked(c, key);
	if (b) {
		hit_locked(c, b);
		*created = 0;
		goto out;
	}
	c->st.misses++;
	*created = 1;
	b = new_block(key, len);
	if (len > c->capacity || len == 0)
		goto out; /* private: would not fit even alone */
	evict_locked(c, len, NULL, &dead);
	insert_locked(c, b);
out:
	pthread_mutex_unlock(&c->lock);
	free_dead(dead);
	return b;
}

void fc_blockcache_set_ahead(fc_blockcache_t *c, uint64_t limit,
			     uint64_t max_age_ms)
{
	pthread_mutex_lock(&c->lock);
	c->ahead_limit = SL_MIN(limit, c->capacity);
	c->ahead_age_ms = max_age_ms;
	pthread_mutex_unlock(&c->lock);
}

int fc_blockcache_prefetch(fc_blockcache_t *c, sl_blockkey_t key, size_t len,
			   uint64_t now_ms, fc_block_t **out)
{
	struct fc_block *b, *dead = NULL;
	int rc;

	*out = NULL;
	pthread_mutex_lock(&c->lock);
	expire_locked(c, now_ms);
	b = find_locked(c, key);
	if (b) {
		rc = 0;
		goto out;
	}
	if (len == 0 || len > c->capacity ||
	    c->st.ahead + len > c->ahead_limit) {
		rc = -ENOSPC;
		goto out;
	}
	c->st.misses++;
	b = new_block(key, len);
	evict_locked(c, len, NULL, &dead);
	insert_locked(c, b);
	ahead_add_locked(c, b, now_ms);
	b->unread = 1;
	*out = b;
	rc = 1;
out:
	pthread_mutex_unlock(&c->lock);
	free_dead(dead);
	return rc;
}

void fc_blockcache_count_wasted(fc_blockcache_t *c, _Atomic uint64_t *counter)
{
	pthread_mutex_lock(&c->lock);
	c->wasted = counter;
	pthread_mutex_unlock(&c->lock);
}

void fc_block_set_origin(fc_block_t *b, unsigned tier)
{
	b->origin = tier;
}

unsigned fc_block_origin(const fc_block_t *b)
{
	return b->origin;
}

_Atomic uint64_t *fc_block_seen(fc_block_t *b)
{
	return b->seen;
}

void fc_block_consumed(fc_blockcache_t *c, fc_block_t *b)
{
	pthread_mutex_lock(&c->lock);
	if (b->linked && !b->ahead)
		lru_make_cold_locked(c, b);
	pthread_mutex_unlock(&c->lock);
}

fc_block_t *fc_block_new_private(fc_blockcache_t *c, size_t len)
{
	sl_blockkey_t none = {0, 0};

	(void)c;
	return new_block(none, len);
}

/* Call the waiters a completion took off its block (the lock released:
 * a waiter may come straight back into the cache). */
static void run_calls(fc_block_waiter_t *w)
{
	while (w) {
		fc_block_waiter_t *next = w->next;

		w->fn(w); /* may free w */
		w = next;
	}
}

void fc_block_fill(fc_blockcache_t *c, fc_block_t *b, void *data, size_t len,
		   fc_block_free_fn *free_fn, void *hint)
{
	struct fc_block *dead = NULL;
	fc_block_waiter_t *calls;

	pthread_mutex_lock(&c->lock);
	SL_ASSERT(b->state == B_PENDING);
	if (b->linked) {
		/* Settle the reservation on the real size (a short last
		 * block, or a node that sent less). */
		c->st.used = c->st.used - b->len + len;
		if (b->ahead)
			c->st.ahead = c->st.ahead - b->len + len;
		/* Before any unlink below, which takes b->len back off. */
		b->len = len;
		if (c->st.used > c->capacity)
			evict_locked(c, 0, b, &dead);
		if (c->st.used > c->capacity) {
			/* Alone it is bigger than the cache. */
			struct fc_block *f = unlink_locked(c, b);

			SL_ASSERT(!f); /* the caller holds a reference */
		}
	}
	b->data = data;
	b->len = len;
	b->free_fn = free_fn;
	b->hint = hint;
	b->state = B_READY;
	if (b->waiters)
		pthread_cond_broadcast(&b->cond);
	calls = b->calls;
	b->calls = NULL;
	pthread_mutex_unlock(&c->lock);
	free_dead(dead);
	run_calls(calls);
}

void fc_block_fail(fc_blockcache_t *c, fc_block_t *b, int err)
{
	struct fc_block *dead = NULL;
	fc_block_waiter_t *calls;

	SL_ASSERT(err < 0);
	pthread_mutex_lock(&c->lock);
	SL_ASSERT(b->state == B_PENDING);
	if (b->linked)
		dead = unlink_locked(c, b);
	SL_ASSERT(!dead); /* the caller holds a reference */
	b->state = B_FAILED;
	b->err = err;
	if (b->waiters)
		pthread_cond_broadcast(&b->cond);
	calls = b->calls;
	b->calls = NULL;
	pthread_mutex_unlock(&c->lock);
	run_calls(calls);
}

int fc_block_when_done(fc_blockcache_t *c, fc_block_t *b, fc_block_waiter_t *w)
{
	int done;

	pthread_mutex_lock(&c->lock);
	done = b->state != B_PENDING;
	if (!done) {
		w->next = b->calls;
		b->calls = w;
	}
	pthread_mutex_unlock(&c->lock);
	return done;
}

int fc_block_status(fc_blockcache_t *c, fc_block_t *b)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = b->state == B_READY ? 0 : b->state == B_FAILED ? b->err : -EAGAIN;
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int fc_block_wait(fc_blockcache_t *c, fc_block_t *b, uint64_t timeout_ms)
{
	struct timespec ts;
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	if (b->state == B_PENDING) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(timeout_ms / 1000);
		ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		b->waiters++;
		while (b->state == B_PENDING && ret == 0)
			ret = pthread_cond_timedwait(&b->cond, &c->lock, &ts);
		b->waiters--;
	}
	if (b->state == B_READY)
		ret = 0;
	else if (b->state == B_FAILED)
		ret = b->err;
	else
		ret = -ETIMEDOUT;
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int fc_block_done(fc_blockcache_t *c, fc_block_t *b)
{
	int done;

	pthread_mutex_lock(&c->lock);
	done = b->state != B_PENDING;
	pthread_mutex_unlock(&c->lock);
	return done;
}

const void *fc_block_data(const fc_block_t *b)
{
	return b->data;
}

size_t fc_block_len(const fc_block_t *b)
{
	return b->len;
}

fc_block_t *fc_block_ref(fc_blockcache_t *c, fc_block_t *b)
{
	pthread_mutex_lock(&c->lock);
	SL_ASSERT(b->refs > 0);
	b->refs++;
	pthread_mutex_unlock(&c->lock);
	return b;
}

void fc_block_put(fc_blockcache_t *c, fc_block_t *b)
{
	struct fc_block *dead;

	if (!b)
		return;
	pthread_mutex_lock(&c->lock);
	dead = unref_locked(b);
	pthread_mutex_unlock(&c->lock);
	if (dead)
		free_block(dead);
}

void fc_blockcache_stats(fc_blockcache_t *c, fc_blockcache_stats_t *out)
{
	pthread_mutex_lock(&c->lock);
	*out = c->st;
	pthread_mutex_unlock(&c->lock);
}

void fc_blockcache_destroy(fc_blockcache_t **cp)
{
	fc_blockcache_t *c = cp ? *cp : NULL;
	struct fc_block *dead = NULL, *f;

	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	while (!sl_list_empty(&c->lru)) {
		f = unlink_locked(c, lru_block(sl_list_first(&c->lru)));
		if (f) {
			f->dead = dead;
			dead = f;
		}
	}
	pthread_mutex_unlock(&c->lock);
	free_dead(dead);
	sl_keymap_fini(&c->index);
	pthread_mutex_destroy(&c->lock);
	free(c);
	*cp = NULL;
}
