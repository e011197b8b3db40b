/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metadata cache (see metacache.h): an intrusive hash index plus one
 * LRU list.  An entry is one allocation (header and value together), and
 * its charge is that allocation plus its index share, so the byte bound
 * covers what the cache really holds.
 */
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include "cachenode/metacache.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/keymap.h"
#include "common/list.h"
#include "common/util.h"

typedef struct mentry {
	sl_knode_t node;
	sl_list_t lru; /* front = most recently used */
	sl_blockkey_t group;
	uint32_t tag;
	uint64_t expires_ms; /* 0 = never */
	size_t len;
	uint8_t val[];
} mentry_t;

struct cn_metacache {
	sl_keymap_t index;
	sl_list_t lru;
	uint64_t bytes;
	uint64_t max_bytes;
	size_t max_entries;
	cn_metrics_t *m;
	cn_metrics_t own_metrics;
};

static uint64_t charge_of(const mentry_t *e)
{
	return sizeof(*e) + e->len + 16 + 2 * sizeof(void *);
}

cn_metacache_t *cn_metacache_new(uint64_t max_bytes, size_t max_entries,
				 cn_metrics_t *m)
{
	cn_metacache_t *mc = sl_xcalloc(1, sizeof(*mc));

	sl_keymap_init(&mc->index);
	sl_list_init(&mc->lru);
	mc->max_bytes = max_bytes;
	mc->max_entries = max_entries;
	mc->m = m ? m : &mc->own_metrics;
	return mc;
}

static void drop(cn_metacache_t *mc, mentry_t *e)
{
	uint64_t c = charge_of(e);

	sl_keymap_remove(&mc->index, &e->node);
	sl_list_del(&e->lru);
	mc->bytes -= c;
	atomic_fetch_sub(&mc->m->meta_bytes, c);
	atomic_fetch_sub(&mc->m->ram_used, c);
	atomic_fetch_sub(&mc->m->meta_entries, 1);
	free(e);
}

static void shrink(cn_metacache_t *mc, uint64_t max_bytes, size_t max_entries)
{
	while (mc->bytes > max_bytes || mc->index.count > max_entries) {
		sl_list_t *l = sl_list_last(&mc->lru);

		if (!l)
			break;
		drop(mc, sl_container_of(l, mentry_t, lru));
	}
}

void cn_metacache_set_limits(cn_metacache_t *mc, uint64_t max_bytes,
			     size_t max_entries)
{
	mc->max_bytes = max_bytes;
	mc->max_entries = max_entries;
	shrink(mc, max_bytes, max_entries);
}

void cn_metacache_destroy(cn_metacache_t **mcp)
{
	cn_metacache_t *mc = mcp ? *mcp : NULL;

	if (!mc)
		return;
	shrink(mc, 0, 0);
	sl_keymap_fini(&mc->index);
	free(mc);
	*mcp = NULL;
}

static void hash_str(XXH3_state_t *st, const char *s)
{
	uint32_t n = s ? (uint32_t)strlen(s) : UINT32_MAX;
	uint8_t le[4];

	sl_put_le32(le, n);
	XXH3_128bits_update(st, le, sizeof(le));
	if (s)
		XXH3_128bits_update(st, s, n);
}

sl_blockkey_t cn_metacache_key(int kind, const char *dataset, const char *path,
			       const char *cursor, uint32_t max)
{
	/* Domain bytes distinct from common/blockkey.c's. */
	static const char domain[] = "sluice-cn-meta-v1";
	XXH3_state_t st;
	XXH128_hash_t h;
	uint8_t le[4];

	XXH3_128bits_reset(&st);
	XXH3_128bits_update(&st, domain, sizeof(domain));
	sl_put_le32(le, (uint32_t)kind);
	XXH3_128bits_update(&st, le, sizeof(le));
	hash_str(&st, dataset);
	hash_str(&st, path);
	hash_str(&st, cursor);
	sl_put_le32(le, max);
	XXH3_128bits_update(&st, le, sizeof(le));
	h = XXH3_128bits_digest(&st);
	return (sl_blockkey_t){.hi = h.high64, .lo = h.low64};
}

const void *cn_metacache_get(cn_metacache_t *mc, sl_blockkey_t key,
			     uint64_t now_ms, size_t *len)
{
	sl_knode_t *n = sl_keymap_find(&mc->index, key);
	mentry_t *e;

	if (!n)
		return NULL;
	e = sl_container_of(n, mentry_t, node);
	if (e->expires_ms && now_ms >= e->expires_ms) {
		drop(mc, e);
		return NULL;
	}
	sl_list_del(&e->lru);
	sl_list_add_front(&mc->lru, &e->lru);
	*len = e->len;
	return e->val;
}

void cn_metacache_put(cn_metacache_t *mc, sl_blockkey_t key,
		      sl_blockkey_t group, uint32_t tag, uint64_t ttl_ms,
		      uint64_t now_ms, const void *val, size_t len)
{
	sl_knode_t *old = sl_keymap_find(&mc->index, key);
	mentry_t *e;
	uint64_t c;

	if (old)
		drop(mc, sl_container_of(old, mentry_t, node));
	if (len > mc->max_bytes / 8 || mc->max_entries == 0)
		return;
	e = malloc(sizeof(*e) + len);
	if (!e)
		return; /* a cache: not caching is always allowed */
	e->node.key = key;
	e->group = group;
	e->tag = tag;
	e->expires_ms = ttl_ms ? now_ms + ttl_ms : 0;
	e->len = len;
	memcpy(e->val, val, len);
	c = charge_of(e);
	shrink(mc, mc->max_bytes - SL_MIN(c, mc->max_bytes),
	       mc->max_entries - 1);
	sl_keymap_insert(&mc->index, &e->node);
	sl_list_add_front(&mc->lru, &e->lru);
	mc->bytes += c;
	atomic_fetch_add(&mc->m->meta_bytes, c);
	atomic_fetch_add(&mc->m->ram_used, c);
	atomic_fetch_add(&mc->m->meta_entries, 1);
}

struct purge_arg {
	cn_metacache_t *mc;
	int by_group;
	uint32_t tag;
	sl_blockkey_t group;
	size_t n;
};

static void purge_one(sl_knode_t *n, void *arg)
{
	struct purge_arg *a = arg;
	mentry_t *e = sl_container_of(n, mentry_t, node);

	if (a->by_group ? !sl_blockkey_eq(e->group, a->group)
			: e->tag != a->tag)
		return;
	drop(a->mc, e);
	a->n++;
}

size_t cn_metacache_purge_tag(cn_metacache_t *mc, uint32_t tag)
{
	struct purge_arg a = {.mc = mc, .tag = tag};

	sl_keymap_foreach(&mc->index, purge_one, &a);
	return a.n;
}

size_t cn_metacache_purge_group(cn_metacache_t *mc, sl_blockkey_t group)
{
	struct purge_arg a = {.mc = mc, .by_group = 1, .group = group};

	sl_keymap_foreach(&mc->index, purge_one, &a);
	return a.n;
}

size_t cn_metacache_count(const cn_metacache_t *mc)
{
	return mc->index.count;
}

uint64_t cn_metacache_bytes(const cn_metacache_t *mc)
{
	return mc->bytes;
}
