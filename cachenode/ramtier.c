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
 */
#include "cachenode/ramtier.h"

#include <errno.h>
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
	return t;
}

static cn_policy_t *policy_of(cn_ramtier_t *t, const cn_block_t *b)
{
	return t->policies.p[b->pslot];
}

static void block_free(cn_block_t *b)
{
	cn_ramtier_t *t = b->tier;
	uint64_t charge = atomic_load(&b->charge);

	if (b->mapped)
		munmap(b->data, b->map_len);
	else
		free(b->data);
	if (b->transient) {
		atomic_fetch_sub(&t->transient, charge);
		atomic_fetch_sub(&t->m->ram_transient, charge);
	} else {
		atomic_fetch_sub(&t->used, charge);
		atomic_fetch_sub(&t->m->ram_used, charge);
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

	SL_ASSERT(b->indexed);
	sl_keymap_remove(&t->index, &b->node);
	p->ops->remove(p->st, &b->plink);
	b->indexed = 0;
	atomic_fetch_sub(&t->m->ram_blocks, 1);
	if (eviction) {
		atomic_fetch_add(&t->m->evictions, 1);
		atomic_fetch_add(&t->m->evicted_bytes, atomic_load(&b->charge));
		if (t->evict_fn)
			t->evict_fn(t->evict_arg, b->node.key, b);
	}
	cn_block_unref(b);
}

/* Evict p's victims until need more bytes fit; 0 if they do. */
static int make_room(cn_ramtier_t *t, cn_policy_t *p, uint64_t need)
{
	while (atomic_load(&t->used) + need > t->capacity) {
		sl_list_t *v = p->ops->victim(p->st);

		if (!v)
			return -ENOSPC;
		unindex(t, sl_container_of(v, cn_block_t, plink), 1);
	}
	return 0;
}

cn_block_t *cn_ramtier_alloc(cn_ramtier_t *t, const cn_policy_ops_t *policy,
			     uint32_t tag, size_t len, int *err)
{
	uint64_t need = cn_ramtier_charge(len);
	unsigned slot = cn_policy_slot(&t->policies, policy);
	cn_block_t *b;
	int transient = 0;

	*err = 0;
	if (make_room(t, t->policies.p[slot], need) < 0) {
		if (atomic_load(&t->transient) + need > t->slack) {
			*err = -ENOMEM;
			return NULL;
		}
		transient = 1;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		goto nomem;
	if (len >= MMAP_MIN) {
		b->map_len = round_pages(len);
		b->data = mmap(NULL, b->map_len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
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
	free(b);
	*err = -ENOMEM;
	return NULL;
}

int cn_ramtier_insert(cn_ramtier_t *t, sl_blockkey_t key, cn_block_t *b)
{
	cn_policy_t *p;

	SL_ASSERT(b->tier == t && !b->indexed);
	if (b->transient || sl_keymap_find(&t->index, key)) {
		atomic_fetch_add(&t->m->not_admitted, 1);
		return 0;
	}
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
	return a.n;
}

void cn_ramtier_set_capacity(cn_ramtier_t *t, uint64_t capacity, uint64_t slack)
{
	struct purge_arg a = {t, 0, 1, 0};

	t->capacity = capacity;
	t->slack = slack;
	for (unsigned p = 0; p < t->policies.n; p++)
		(void)make_room(t, t->policies.p[p], 0);
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
	cn_policy_slots_fini(&t->policies);
	sl_keymap_fini(&t->index);
	free(t);
	*tp = NULL;
}
