/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The attribute cache (see attrcache.h): one table by inode number
 * (common/keymap.h) and one LRU list (common/list.h) over entries of one
 * allocation each, the version string stored after the entry.
 */
#include "fuse/attrcache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/keymap.h"
#include "common/list.h"
#include "common/util.h"

struct ac_ent {
	sl_knode_t node; /* protected by c->lock, like all below; key: ino */
	sl_list_t lru;
	fc_attr_core_t attr;
	uint64_t fetched_ms;
	size_t vlen;
	char version[];
};

struct fc_acache {
	pthread_mutex_t lock;
	size_t max;
	size_t count;	 /* protected by c->lock */
	size_t bytes;	 /* protected by c->lock */
	sl_keymap_t map; /* protected by c->lock */
	sl_list_t lru;	 /* protected by c->lock; most recent first */
};

fc_acache_t *fc_acache_new(size_t max)
{
	fc_acache_t *c = sl_xcalloc(1, sizeof(*c));

	pthread_mutex_init(&c->lock, NULL);
	c->max = SL_MAX(max, (size_t)1);
	sl_keymap_init(&c->map);
	sl_list_init(&c->lru);
	return c;
}

static struct ac_ent *find_locked(fc_acache_t *c, uint64_t ino)
{
	sl_knode_t *n = sl_keymap_find(&c->map, sl_keymap_key64(ino));

	return n ? sl_container_of(n, struct ac_ent, node) : NULL;
}

static void drop_locked(fc_acache_t *c, struct ac_ent *e)
{
	sl_keymap_remove(&c->map, &e->node);
	sl_list_del(&e->lru);
	c->count--;
	c->bytes -= sizeof(*e) + e->vlen + 1;
	free(e);
}

/* Forget ino's entry, if there is one. */
static void forget_locked(fc_acache_t *c, uint64_t ino)
{
	struct ac_ent *e = find_locked(c, ino);

	if (e)
		drop_locked(c, e);
}

fc_attr_core_t fc_attr_core(const fc_attr_t *a)
{
	fc_attr_core_t core = {
		.type = a->type,
		.mode = a->mode,
		.size = a->size,
		.mtime_ns = a->mtime_ns,
	};

	return core;
}

void fc_attr_from_core(fc_attr_t *out, const fc_attr_core_t *core,
		       const char *version, uint64_t fetched_ms)
{
	memset(out, 0, sizeof(*out));
	out->type = core->type;
	out->mode = core->mode;
	out->size = core->size;
	out->mtime_ns = core->mtime_ns;
	sl_strlcpy(out->version, version, sizeof(out->version));
	out->fetched_ms = fetched_ms;
}

int fc_acache_get(fc_acache_t *c, uint64_t ino, fc_attr_t *out)
{
	struct ac_ent *e;
	int rc = -ENOENT;

	pthread_mutex_lock(&c->lock);
	e = find_locked(c, ino);
	if (e) {
		fc_attr_from_core(out, &e->attr, e->version, e->fetched_ms);
		sl_list_move_front(&c->lru, &e->lru);
		rc = 0;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void fc_acache_put(fc_acache_t *c, uint64_t ino, const fc_attr_t *a)
{
	size_t vl = strnlen(a->version, sizeof(a->version) - 1);
	struct ac_ent *e = sl_xmalloc(sizeof(*e) + vl + 1);

	e->node.key = sl_keymap_key64(ino);
	e->attr = fc_attr_core(a);
	e->fetched_ms = a->fetched_ms;
	e->vlen = vl;
	memcpy(e->version, a->version, vl);
	e->version[vl] = '\0';
	pthread_mutex_lock(&c->lock);
	forget_locked(c, ino);
	while (c->count >= c->max)
		drop_locked(c, sl_container_of(sl_list_last(&c->lru),
					       struct ac_ent, lru));
	sl_keymap_insert(&c->map, &e->node);
	sl_list_add_front(&c->lru, &e->lru);
	c->count++;
	c->bytes += sizeof(*e) + vl + 1;
	pthread_mutex_unlock(&c->lock);
}

void fc_acache_drop(fc_acache_t *c, uint64_t ino)
{
	pthread_mutex_lock(&c->lock);
	forget_locked(c, ino);
	pthread_mutex_unlock(&c->lock);
}

size_t fc_acache_count(fc_acache_t *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->count;
	pthread_mutex_unlock(&c->lock);
	return n;
}

size_t fc_acache_bytes(fc_acache_t *c)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = c->bytes + sl_keymap_bytes(&c->map);
	pthread_mutex_unlock(&c->lock);
	return n;
}

void fc_acache_destroy(fc_acache_t **cp)
{
	fc_acache_t *c = cp ? *cp : NULL;

	if (!c)
		return;
	while (!sl_list_empty(&c->lru))
		drop_locked(c, sl_container_of(sl_list_first(&c->lru),
					       struct ac_ent, lru));
	sl_keymap_fini(&c->map);
	pthread_mutex_destroy(&c->lock);
	free(c);
	*cp = NULL;
}
