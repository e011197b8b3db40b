/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RAM tier (see ramtier.h): an intrusive hash index of reference-counted
 * blocks, one policy instance per policy kind, and two atomic byte counters.
 *
 * Admission and eviction.  A block's memory is charged when it is
 * allocated, before the fetch, not when it is admitted: the fetch buffer is
 * real memory the moment it exists.  Allocation asks the block's policy for
 * victims and evicts them one by one until `used + need <= capacity`.  An
 * evicted block leaves the index and the policy at once, but its bytes stay
 * charged until its last reference drops (a reply still being sent by
 * ZeroMQ), so eviction may have to go further than the block's own size:
 * that is what makes the bound hold for memory that exists rather than
 * memory that is indexed.  A policy evicts only its own entries, so `pin`
 * (which offers no victims) never evicts and an `lru` miss never pushes out
 * pinned blocks.  When the policy runs out of victims and the block still
 * does not fit, the block is charged to the transient class instead, up to
 * the slack: it is served once and never enters the index.  When even the
 * slack is full, allocation fails with -ENOMEM and the server parks the
 * fetch until a free wakes it, so memory stays bounded under any load.
 *
 * Only the event thread adds to the counters (and checks them before it
 * does), other threads only subtract, so check-then-add needs no lock.
 *
 * Spare buffers.  A block of 64 KiB or more is its own mapping, and a
 * fresh mapping costs a page fault and a zeroed page per 4 KiB when the
 * fetch first writes it: 1,024 faults per 4 MiB block, on every miss.  So
 * the buffers of the last SPARE_MAX freed blocks are kept, faulted in,
 * and a new block of the same mapped size takes one instead of a fresh
 * mapping.  Spares are counted apart (t->spare_bytes, not `used`: used
 * stays the bytes of blocks) but inside the bound, `used + spare_bytes +
 * need <= capacity`, so they take at most SPARE_MAX of the largest
 * blocks' bytes out of ram_capacity, never beyond it; making room gives
 * spares back before it evicts any block.  A free (any thread) adds the
 * spare's bytes before it takes the block's off `used`, so the sum the
 * event thread checks never under-counts the memory that exists.  The
 * spares have a lock of their own (t->spare_lock), held only to update
 * the list.
 */
#include "cachenode/ramtier.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cachenode/policy.h"
#include "common/keymap.h"
#include "common/list.h"
#include "proto/proto.h"
#include "common/util.h"

/* From this size on a block gets its own mapping (returned on free). */
#define MMAP_MIN (64u << 10)
/* Per-block index overhead beyond the header: at load <= 1 the bucket
 * array never holds more than two pointers per block. */
#define INDEX_COST  (2 * sizeof(void *))
#define MALLOC_COST 16
/* Freed block buffers kept for reuse (see "Spare buffers" above). */
#define SPARE_MAX 4

struct spare {
	uint8_t *data;
	size_t map_len;
};

/* A tag's limit and the charge of its indexed blocks. */
struct quota {
	uint32_t tag;
	uint64_t limit, used;
};

struct cn_block {
	sl_knode_t node;    /* index link; event thread */
	sl_list_t plink;    /* policy link; event thread */
	cn_ramtier_t *tier; /* borrowed; outlives the block */
	_Atomic uint32_t refs;
	uint32_t tag;
	uint8_t pslot;	   /* its policy: t->policies.p[pslot] */
	uint8_t indexed;   /* in the index and the policy */
	uint8_t transient; /* charged to slack: never indexed */
	uint8_t mapped;	   /* data is its own mmap() of map_len bytes */
	size_t len;	   /* valid bytes */
	size_t map_len;
	_Atomic uint64_t charge; /* bytes charged to the block's class */
	uint8_t *data;
	/* pr_body_hash of the valid bytes once hashed is set (release after
	 * hash: a racing first call only computes it twice). */
	_Atomic uint64_t hash;
	_Atomic int hashed;
};

struct cn_ramtier {
	uint64_t capacity;
	uint64_t slack;
	_Atomic uint64_t used;
	_Atomic uint64_t transient;
	_Atomic uint64_t live; /* blocks allocated, not yet freed */
	sl_keymap_t index;
	cn_policy_slots_t policies;
	int wake_fd;
	_Atomic int want_memory;
	void (*evict_fn)(void *arg, sl_blockkey_t key, cn_block_t *b);
	void *evict_arg;
	cn_metrics_t *m;
	cn_metrics_t own_metrics; /* when the caller gave none */
	pthread_mutex_t spare_lock;
	struct spare spares[SPARE_MAX]; /* protected by spare_lock */
	unsigned n_spares;		/* protected by spare_lock */
	_Atomic uint64_t spare_bytes;	/* their mappings' bytes */
	_Atomic uint64_t reused;	/* allocations that took a spare */
	/* Byte limits of some tags' indexed blocks (cn_ramtier_set_quota);
	 * event thread. */
	struct quota *quotas;
	size_t n_quotas;
};

static size_t round_pages(size_t n)
{
	size_t ps = (size_t)getpagesize();

	return (n + ps - 1) / ps * ps;
}

uint64_t cn_ramtier_charge(size_t len)
{
	uint64_t data = len >= MMAP_MIN ? round_pages(len) : len + MALLOC_COST;

	return data + sizeof(cn_block_t) + MALLOC_COST + INDEX_COST;
}

cn_ramtier_t *cn_ramtier_new(uint64_t capacity, uint64_t slack, cn_metrics_t *m)
{
	cn_ramtier_t *t = sl_xcalloc(1, sizeof(*t));

	t->capacity = capacity;
	t->slack = slack;
	sl_keymap_init(&t->index);
	t->wake_fd = -1;
	t->m = m ? m : &t->own_metrics;
	pthread_mutex_init(&t->spare_lock, NULL);
	return t;
}

static cn_policy_t *policy_of(cn_ramtier_t *t, const cn_block_t *b)
{
	return t->policies.p[b->pslot];
}

static struct quota *quota_of(cn_ramtier_t *t, uint32_t tag)
{
	for (size_t i = 0; i < t->n_quotas; i++)
		if (t->quotas[i].tag == tag)
			return &t->quotas[i];
	return NULL;
}

static void uncharge(cn_ramtier_t *t, uint64_t bytes)
{
	atomic_fetch_sub(&t->used, bytes);
	atomic_fetch_sub(&t->m->ram_used, bytes);
}

/* Keep b's mapping as a spare (counted in spare_bytes), the oldest spare
 * giving way when all SPARE_MAX are taken.  Returns whether it was kept. */
static int spare_put(cn_ramtier_t *t, const cn_block_t *b)
{
	struct spare old = {0};

	if (!b->mapped || b->transient)
		return 0;
	atomic_fetch_add(&t->spare_bytes, b->map_len);
	pthread_mutex_lock(&t->spare_lock);
	if (t->n_spares == SPARE_MAX) {
		old = t->spares[0];
		memmove(&t->spares[0], &t->spares[1],
			(SPARE_MAX - 1) * sizeof(t->spares[0]));
		t->n_spares--;
	}
	t->spares[t->n_spares++] = (struct spare){b->data, b->map_len};
	pthread_mutex_unlock(&t->spare_lock);
	if (old.data) {
		munmap(old.data, old.map_len);
		atomic_fetch_sub(&t->spare_bytes, old.map_len);
	}
	return 1;
}

/* A spare of exactly map_len bytes, taken (its bytes still in
 * spare_bytes: the caller moves them to used), or NULL. */
static uint8_t *spare_take(cn_ramtier_t *t, size_t map_len)
{
	uint8_t *data = NULL;

	pthread_mutex_lock(&t->spare_lock);
	for (unsigned i = t->n_spares; i-- > 0;) {
		if (t->spares[i].map_len != map_len)
			continue;
		data = t->spares[i].data;
		t->spares[i] = t->spares[--t->n_spares];
		break;
	}
	pthread_mutex_unlock(&t->spare_lock);
	if (data)
		atomic_fetch_add(&t->reused, 1);
	return data;
}

/* Give the oldest spare back to the system; 0 when there was none. */
static int spare_drop(cn_ramtier_t *t)
{
	struct spare sp = {0};

	pthread_mutex_lock(&t->spare_lock);
	if (t->n_spares) {
		sp = t->spares[0];
		memmove(&t->spares[0], &t->spares[1],
			(t->n_spares - 1) * sizeof(t->spares[0]));
		t->n_spares--;
	}
	pthread_mutex_unlock(&t->spare_lock);
	if (!sp.data)
		return 0;
	munmap(sp.data, sp.map_len);
	atomic_fetch_sub(&t->spare_bytes, sp.map_len);
	return 1;
}

static void block_free(cn_block_t *b)
{
	cn_ramtier_t *t = b->tier;
	uint64_t charge = atomic_load(&b->charge);

	if (spare_put(t, b))
		; /* the mapping lives on, counted as a spare */
	else if (b->mapped)
		munmap(b->data, b->map_len);
	else
		free(b->data);
	if (b->transient) {
		atomic_fetch_sub(&t->transient, charge);
		atomic_fetch_sub(&t->m->ram_transient, charge);
	} else {
		uncharge(t, charge);
	}
	atomic_fetch_sub(&t->live, 1);
	if (atomic_load(&t->want_memory) && t->wake_fd >= 0) {
		uint64_t one = 1;
		ssize_t n = write(t->wake_fd, &one, sizeof(one));

		(void)n; /* EAGAIN: the counter is already non-zero */
	}
	free(b);
}

cn_block_t *cn_block_ref(cn_block_t *b)
{
	atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
	return b;
}

void cn_block_unref(cn_block_t *b)
{
	if (!b)
		return;
	/* Release pairs with the acquire below: whoever frees sees every
	 * other holder's accesses finished. */
	if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_release) == 1) {
		atomic_thread_fence(memory_order_acquire);
		block_free(b);
	}
}

void cn_block_zmq_free(void *data, void *hint)
{
	(void)data;
	cn_block_unref(hint);
}

uint8_t *cn_block_data(cn_block_t *b)
{
	return b->data;
}

size_t cn_block_len(const cn_block_t *b)
{
	return b->len;
}

int cn_block_transient(const cn_block_t *b)
{
	return b->transient;
}

size_t cn_block_capacity(const cn_block_t *b)
{
	return b->mapped ? b->map_len : b->len;
}

uint32_t cn_block_tag(const cn_block_t *b)
{
	return b->tag;
}

const cn_policy_ops_t *cn_block_policy(const cn_block_t *b)
{
	return policy_of(b->tier, b)->ops;
}

uint64_t cn_block_hash(cn_block_t *b)
{
	uint64_t h;

	if (atomic_load_explicit(&b->hashed, memory_order_acquire))
		return atomic_load_explicit(&b->hash, memory_order_relaxed);
	h = pr_body_hash(b->data, b->len);
	atomic_store_explicit(&b->hash, h, memory_order_relaxed);
	atomic_store_explicit(&b->hashed, 1, memory_order_release);
	return h;
}

void cn_block_trim(cn_block_t *b, size_t len)
{
	cn_ramtier_t *t = b->tier;
	size_t keep;
	uint64_t give;

	SL_ASSERT(len <= b->len);
	b->len = len;
	if (!b->mapped)
		return;
	keep = round_pages(len ? len : 1);
	if (keep >= b->map_len)
		return;
	munmap(b->data + keep, b->map_len - keep);
	give = b->map_len - keep;
	b->map_len = keep;
	atomic_fetch_sub(&b->charge, give);
	if (b->transient) {
		atomic_fetch_sub(&t->transient, give);
		atomic_fetch_sub(&t->m->ram_transient, give);
	} else {
		atomic_fetch_sub(&t->used, give);
		atomic_fetch_sub(&t->m->ram_used, give);
	}
}

/* Take b out of the index and its policy and drop the index's reference.
 * Its bytes stay charged until the last other holder lets go. */
static void unindex(cn_ramtier_t *t, cn_block_t *b, int eviction)
{
	cn_policy_t *p = policy_of(t, b);

	struct quota *q = quota_of(t, b->tag);

	SL_ASSERT(b->indexed);
	sl_keymap_remove(&t->index, &b->node);
	p->ops->remove(p->st, &b->plink);
	b->indexed = 0;
	if (q)
		q->used -= atomic_load(&b->charge);
	atomic_fetch_sub(&t->m->ram_blocks, 1);
	if (eviction) {
		atomic_fetch_add(&t->m->evictions, 1);
		atomic_fetch_add(&t->m->evicted_bytes, atomic_load(&b->charge));
		if (t->evict_fn)
			t->evict_fn(t->evict_arg, b->node.key, b);
	}
	cn_block_unref(b);
}

/* Take a spare of map_len bytes into *spare (when none is there yet and
 * map_len > 0): its bytes move from spare_bytes to the new block's need. */
static void take_spare(cn_ramtier_t *t, size_t map_len, uint8_t **spare)
{
	if (!map_len || *spare)
		return;
	*spare = spare_take(t, map_len);
	if (*spare)
		atomic_fetch_sub(&t->spare_bytes, map_len);
}

/*
 * Make room for need more bytes: give back spares and evict p's victims
 * until they fit.  A new block of map_len mapped bytes (0: not mapped)
 * takes into *spare the buffer a victim just left, rather than that
 * buffer being given back and a fresh one faulted in: in a full tier,
 * every miss evicts, and this is where buffers are recycled.  0 if need
 * fits, else -ENOSPC.
 */
static int make_room(cn_ramtier_t *t, cn_policy_t *p, uint64_t need,
		     size_t map_len, uint8_t **spare)
{
	sl_list_t *v;

	for (;;) {
		take_spare(t, map_len, spare);
		if (atomic_load(&t->used) + atomic_load(&t->spare_bytes) +
			    need <=
		    t->capacity)
			return 0;
		if (spare_drop(t))
			continue;
		v = p->ops->victim(p->st);
		if (!v)
			return -ENOSPC;
		unindex(t, sl_container_of(v, cn_block_t, plink), 1);
	}
}

cn_block_t *cn_ramtier_alloc(cn_ramtier_t *t, const cn_policy_ops_t *policy,
			     uint32_t tag, size_t len, int *err)
{
	uint64_t need = cn_ramtier_charge(len);
	unsigned slot = cn_policy_slot(&t->policies, policy);
	size_t map_len = len >= MMAP_MIN ? round_pages(len) : 0;
	uint8_t *spare = NULL;
	cn_block_t *b;
	int transient = 0;

	const struct quota *q = quota_of(t, tag);

	*err = 0;
	if ((q && q->used + need > q->limit) ||
	    make_room(t, t->policies.p[slot], need, map_len, &spare) < 0) {
		if (spare) {
			/* Transient blocks get fresh memory, freed after. */
			munmap(spare, map_len);
			spare = NULL;
		}
		if (atomic_load(&t->transient) + need > t->slack) {
			*err = -ENOMEM;
			return NULL;
		}
		transient = 1;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		goto nomem;
	if (map_len) {
		b->map_len = map_len;
		b->data = spare ? spare
				: mmap(NULL, b->map_len, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		spare = NULL;
		if (b->data == MAP_FAILED)
			goto nomem;
		b->mapped = 1;
	} else {
		b->data = malloc(len ? len : 1);
		if (!b->data)
			goto nomem;
	}
	b->tier = t;
	atomic_init(&b->refs, 1);
	b->tag = tag;
	b->pslot = (uint8_t)slot;
	b->transient = (uint8_t)transient;
	b->len = len;
	atomic_init(&b->charge, need);
	sl_list_init(&b->plink);
	if (transient) {
		atomic_fetch_add(&t->transient, need);
		atomic_fetch_add(&t->m->ram_transient, need);
	} else {
		atomic_fetch_add(&t->used, need);
		atomic_fetch_add(&t->m->ram_used, need);
	}
	atomic_fetch_add(&t->live, 1);
	return b;
nomem:
	if (spare)
		munmap(spare, map_len);
	free(b);
	*err = -ENOMEM;
	return NULL;
}

int cn_ramtier_insert(cn_ramtier_t *t, sl_blockkey_t key, cn_block_t *b)
{
	struct quota *q;
	cn_policy_t *p;

	SL_ASSERT(b->tier == t && !b->indexed);
	q = quota_of(t, b->tag);
	if (b->transient || sl_keymap_find(&t->index, key) ||
	    (q && q->used + atomic_load(&b->charge) > q->limit)) {
		atomic_fetch_add(&t->m->not_admitted, 1);
		return 0;
	}
	if (q)
		q->used += atomic_load(&b->charge);
	p = policy_of(t, b);
	b->node.key = key;
	sl_keymap_insert(&t->index, &b->node);
	p->ops->insert(p->st, &b->plink);
	b->indexed = 1;
	cn_block_ref(b);
	atomic_fetch_add(&t->m->admitted, 1);
	atomic_fetch_add(&t->m->ram_blocks, 1);
	return 1;
}

cn_block_t *cn_ramtier_get(cn_ramtier_t *t, sl_blockkey_t key)
{
	sl_knode_t *n = sl_keymap_find(&t->index, key);
	cn_block_t *b;
	cn_policy_t *p;

	if (!n)
		return NULL;
	b = sl_container_of(n, cn_block_t, node);
	p = policy_of(t, b);
	p->ops->hit(p->st, &b->plink);
	return cn_block_ref(b);
}

size_t cn_ramtier_drop(cn_ramtier_t *t, sl_blockkey_t key)
{
	sl_knode_t *n = sl_keymap_find(&t->index, key);
	cn_block_t *b;
	size_t len;

	if (!n)
		return 0;
	b = sl_container_of(n, cn_block_t, node);
	len = cn_block_len(b);
	unindex(t, b, 0);
	return len;
}

struct each_arg {
	void (*fn)(void *arg, uint32_t tag, size_t len);
	void *arg;
};

static void each_one(sl_knode_t *n, void *arg)
{
	struct each_arg *a = arg;
	cn_block_t *b = sl_container_of(n, cn_block_t, node);

	a->fn(a->arg, b->tag, cn_block_len(b));
}

void cn_ramtier_foreach(cn_ramtier_t *t,
			void (*fn)(void *arg, uint32_t tag, size_t len),
			void *arg)
{
	struct each_arg a = {fn, arg};

	sl_keymap_foreach(&t->index, each_one, &a);
}

struct purge_arg {
	cn_ramtier_t *t;
	uint32_t tag;
	int all;
	size_t n;
};

static void purge_one(sl_knode_t *n, void *arg)
{
	struct purge_arg *a = arg;
	cn_block_t *b = sl_container_of(n, cn_block_t, node);

	if (!a->all && b->tag != a->tag)
		return;
	if (a->all && atomic_load(&a->t->used) <= a->t->capacity)
		return;
	unindex(a->t, b, a->all);
	a->n++;
}

size_t cn_ramtier_purge(cn_ramtier_t *t, uint32_t tag)
{
	struct purge_arg a = {t, tag, 0, 0};

	sl_keymap_foreach(&t->index, purge_one, &a);
	cn_ramtier_set_quota(t, tag, UINT64_MAX); /* the tag is gone */
	return a.n;
}

/* Put b under the instance in slot: out of its old one and into the new
 * one when it is indexed (an entry re-tagged joins the new order as its
 * most recent), only the number when not (it enters on insert). */
static void reslot(cn_ramtier_t *t, cn_block_t *b, unsigned slot)
{
	cn_policy_t *from = policy_of(t, b), *to = t->policies.p[slot];

	if (b->pslot == slot)
		return;
	if (b->indexed)
		from->ops->remove(from->st, &b->plink);
	b->pslot = (uint8_t)slot;
	if (b->indexed)
		to->ops->insert(to->st, &b->plink);
}

struct retag_arg {
	cn_ramtier_t *t;
	uint32_t tag;
	unsigned slot;
	size_t n;
};

static void retag_one(sl_knode_t *n, void *arg)
{
	struct retag_arg *a = arg;
	cn_block_t *b = sl_container_of(n, cn_block_t, node);

	if (b->tag != a->tag || b->pslot == a->slot)
		return;
	reslot(a->t, b, a->slot);
	a->n++;
}

size_t cn_ramtier_retag(cn_ramtier_t *t, uint32_t tag,
			const cn_policy_ops_t *policy)
{
	struct retag_arg a = {t, tag, cn_policy_slot(&t->policies, policy), 0};

	sl_keymap_foreach(&t->index, retag_one, &a);
	return a.n;
}

struct quota_arg {
	cn_ramtier_t *t;
	struct quota *q;
	int trim; /* 0: add up the tag's charge; 1: evict down to the limit */
};

static void quota_one(sl_knode_t *n, void *arg)
{
	struct quota_arg *a = arg;
	cn_block_t *b = sl_container_of(n, cn_block_t, node);

	if (b->tag != a->q->tag)
		return;
	if (!a->trim)
		a->q->used += atomic_load(&b->charge);
	else if (a->q->used > a->q->limit)
		unindex(a->t, b, 1);
}

void cn_ramtier_set_quota(cn_ramtier_t *t, uint32_t tag, uint64_t limit)
{
	struct quota *q = quota_of(t, tag);
	struct quota_arg a = {t, NULL, 0};

	if (limit == UINT64_MAX) {
		if (q)
			*q = t->quotas[--t->n_quotas];
		return;
	}
	if (!q) {
		t->quotas = sl_xrealloc(t->quotas,
					(t->n_quotas + 1) * sizeof(*t->quotas));
		q = &t->quotas[t->n_quotas++];
		*q = (struct quota){.tag = tag};
		a.q = q;
		sl_keymap_foreach(&t->index, quota_one, &a);
	}
	q->limit = limit;
	a.q = q;
	a.trim = 1;
	if (q->used > limit)
		sl_keymap_foreach(&t->index, quota_one, &a);
}

void cn_block_set_policy(cn_block_t *b, const cn_policy_ops_t *policy)
{
	SL_ASSERT(!b->indexed);
	reslot(b->tier, b, cn_policy_slot(&b->tier->policies, policy));
}

void cn_ramtier_set_capacity(cn_ramtier_t *t, uint64_t capacity, uint64_t slack)
{
	struct purge_arg a = {t, 0, 1, 0};

	t->capacity = capacity;
	t->slack = slack;
	for (unsigned p = 0; p < t->policies.n; p++)
		(void)make_room(t, t->policies.p[p], 0, 0, NULL);
	/* Policies that offer no victims (pin) shrink too. */
	if (atomic_load(&t->used) > capacity)
		sl_keymap_foreach(&t->index, purge_one, &a);
}

void cn_ramtier_set_wake_fd(cn_ramtier_t *t, int fd)
{
	t->wake_fd = fd;
}

void cn_ramtier_want_memory(cn_ramtier_t *t, int on)
{
	atomic_store(&t->want_memory, on);
}

void cn_ramtier_set_evict_hook(cn_ramtier_t *t,
			       void (*fn)(void *arg, sl_blockkey_t key,
					  cn_block_t *b),
			       void *arg)
{
	t->evict_fn = fn;
	t->evict_arg = arg;
}

uint64_t cn_ramtier_capacity(const cn_ramtier_t *t)
{
	return t->capacity;
}

uint64_t cn_ramtier_slack(const cn_ramtier_t *t)
{
	return t->slack;
}

uint64_t cn_ramtier_used(const cn_ramtier_t *t)
{
	return atomic_load(&t->used);
}

uint64_t cn_ramtier_transient(const cn_ramtier_t *t)
{
	return atomic_load(&t->transient);
}

uint64_t cn_ramtier_spare_bytes(const cn_ramtier_t *t)
{
	return atomic_load(&t->spare_bytes);
}

uint64_t cn_ramtier_reused(const cn_ramtier_t *t)
{
	return atomic_load(&t->reused);
}

size_t cn_ramtier_count(const cn_ramtier_t *t)
{
	return t->index.count;
}

static void drop_index(sl_knode_t *n, void *arg)
{
	unindex(arg, sl_container_of(n, cn_block_t, node), 0);
}

void cn_ramtier_destroy(cn_ramtier_t **tp)
{
	cn_ramtier_t *t = tp ? *tp : NULL;

	if (!t)
		return;
	sl_keymap_foreach(&t->index, drop_index, t);
	SL_ASSERT(atomic_load(&t->live) == 0);
	while (spare_drop(t))
		;
	pthread_mutex_destroy(&t->spare_lock);
	cn_policy_slots_fini(&t->policies);
	sl_keymap_fini(&t->index);
	free(t->quotas);
	free(t);
	*tp = NULL;
}
