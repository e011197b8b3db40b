/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The directory-entry cache (see dircache.h): directory records in one
 * table (common/keymap.h, by a hash of dataset and path) and on an LRU
 * list (common/list.h), entries in another table (by a hash of directory
 * and name) and on their directory's chain, so a whole directory can be
 * dropped at once.  Both tables are sized once for max_entries: the bound
 * keeps the chains short.  An entry is one
 * allocation, its name and version stored after it.
 */
#include "fuse/dircache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/keymap.h"
#include "common/list.h"
#include "common/util.h"

/* Lookups in a directory that miss before it is listed: one is a stat of
 * a single file (a LIST would be waste), two look like a reader going
 * through the directory. */
#define LIST_AFTER_MISSES 2

struct dc_dir;

struct dc_ent {
	sl_knode_t node;      /* protected by d->lock: key, the hash */
	struct dc_ent *dnext; /* protected by d->lock: its directory's chain */
	struct dc_dir *dir;
	fc_attr_core_t attr;
	const char *version; /* after name, in the same allocation */
	char name[];
};

struct dc_dir {
	sl_knode_t node; /* protected by d->lock, like all below; key: hash */
	sl_list_t lru;
	uint64_t hash;
	int ds;
	char *path;
	struct dc_ent *ents;
	size_t n;	     /* entries */
	uint64_t gen;	     /* the current listing's generation */
	uint64_t fetched_ms; /* when it began */
	uint32_t misses;     /* lookups it could not answer, unlisted */
	int whole;	     /* every entry of the listing is here */
	int listed;	     /* a lookup had it listed (once is enough) */
	int too_big;	     /* past the per-directory share: not kept */
};

struct fc_dcache {
	pthread_mutex_t lock;
	size_t max;	   /* entries, directory records included */
	size_t count;	   /* protected by d->lock */
	uint64_t next_gen; /* protected by d->lock */
	sl_keymap_t ents;  /* protected by d->lock */
	sl_keymap_t dirs;  /* protected by d->lock */
	sl_list_t lru;	   /* protected by d->lock; most recent first */
};

static struct dc_dir *lru_dir(sl_list_t *l)
{
	return l ? sl_container_of(l, struct dc_dir, lru) : NULL;
}

fc_dcache_t *fc_dcache_new(size_t max_entries)
{
	fc_dcache_t *d = sl_xcalloc(1, sizeof(*d));

	pthread_mutex_init(&d->lock, NULL);
	d->max = SL_MAX(max_entries, (size_t)2);
	d->next_gen = 1;
	sl_keymap_init(&d->ents);
	sl_keymap_init(&d->dirs);
	sl_keymap_reserve(&d->ents, d->max);
	sl_keymap_reserve(&d->dirs, SL_MAX(d->max / 8, (size_t)64));
	sl_list_init(&d->lru);
	return d;
}

static uint64_t dir_hash(int ds, const char *dir)
{
	return XXH3_64bits_withSeed(dir, strlen(dir), (uint64_t)ds + 1);
}

static uint64_t ent_hash(const struct dc_dir *dir, const char *name)
{
	return XXH3_64bits_withSeed(name, strlen(name), dir->hash);
}

static struct dc_dir *find_dir_locked(fc_dcache_t *d, int ds, const char *dir,
				      uint64_t h)
{
	sl_knode_t *n = sl_keymap_find(&d->dirs, sl_keymap_key64(h));

	for (; n; n = sl_keymap_find_next(&d->dirs, n)) {
		struct dc_dir *r = sl_container_of(n, struct dc_dir, node);

		if (r->ds == ds && strcmp(r->path, dir) == 0)
			return r;
	}
	return NULL;
}

static struct dc_ent *find_ent_locked(fc_dcache_t *d, const struct dc_dir *dir,
				      const char *name)
{
	sl_knode_t *n =
		sl_keymap_find(&d->ents, sl_keymap_key64(ent_hash(dir, name)));

	for (; n; n = sl_keymap_find_next(&d->ents, n)) {
		struct dc_ent *e = sl_container_of(n, struct dc_ent, node);

		if (e->dir == dir && strcmp(e->name, name) == 0)
			return e;
	}
	return NULL;
}

/* Drop r's entries; r stays. */
static void clear_locked(fc_dcache_t *d, struct dc_dir *r)
{
	struct dc_ent *e, *next;

	for (e = r->ents; e; e = next) {
		next = e->dnext;
		sl_keymap_remove(&d->ents, &e->node);
		free(e);
	}
	d->count -= r->n;
	r->ents = NULL;
	r->n = 0;
	r->whole = 0;
}

static void drop_dir_locked(fc_dcache_t *d, struct dc_dir *r)
{
	clear_locked(d, r);
	sl_keymap_remove(&d->dirs, &r->node);
	sl_list_del(&r->lru);
	d->count--;
	free(r->path);
	free(r);
}

/* Make room for one more, dropping least recently used directories other
 * than keep. */
static void make_room_locked(fc_dcache_t *d, const struct dc_dir *keep)
{
	struct dc_dir *r = lru_dir(sl_list_last(&d->lru)), *prev;

	while (r && d->count + 1 > d->max) {
		/* Taken before r may be dropped. */
		prev = r->lru.prev == &d->lru ? NULL : lru_dir(r->lru.prev);
		if (r != keep)
			drop_dir_locked(d, r);
		r = prev;
	}
}

static struct dc_dir *get_dir_locked(fc_dcache_t *d, int ds, const char *dir,
				     uint64_t now_ms)
{
	uint64_t h = dir_hash(ds, dir);
	struct dc_dir *r = find_dir_locked(d, ds, dir, h);

	if (r) {
		sl_list_move_front(&d->lru, &r->lru);
		return r;
	}
	make_room_locked(d, NULL);
	r = sl_xcalloc(1, sizeof(*r));
	r->hash = h;
	r->ds = ds;
	r->path = sl_xstrdup(dir);
	r->fetched_ms = now_ms;
	r->node.key = sl_keymap_key64(h);
	sl_keymap_insert(&d->dirs, &r->node);
	sl_list_add_front(&d->lru, &r->lru);
	d->count++;
	return r;
}

int fc_dcache_lookup(fc_dcache_t *d, int ds, const char *dir, const char *name,
		     uint64_t now_ms, uint64_t ttl_ms, fc_attr_t *out,
		     int *fill)
{
	struct dc_dir *r;
	struct dc_ent *e;
	int rc = -EAGAIN;

	*fill = 0;
	pthread_mutex_lock(&d->lock);
	r = get_dir_locked(d, ds, dir, now_ms);
	if (ttl_ms && now_ms - r->fetched_ms >= ttl_ms) {
		/* Stale: start over, as if never seen. */
		clear_locked(d, r);
		r->gen = 0;
		r->listed = r->too_big = 0;
		r->misses = 0;
		r->fetched_ms = now_ms;
	}
	e = find_ent_locked(d, r, name);
	if (e) {
		fc_attr_from_core(out, &e->attr, e->version, r->fetched_ms);
		rc = 1;
		goto out;
	}
	if (r->whole) {
		rc = 0;
		goto out;
	}
	if (!r->listed && ++r->misses >= LIST_AFTER_MISSES) {
		r->listed = 1; /* this caller's claim */
		*fill = 1;
	}
out:
	pthread_mutex_unlock(&d->lock);
	return rc;
}

uint64_t fc_dcache_fill_begin(fc_dcache_t *d, int ds, const char *dir,
			      uint64_t now_ms)
{
	struct dc_dir *r;
	uint64_t gen;

	pthread_mutex_lock(&d->lock);
	r = get_dir_locked(d, ds, dir, now_ms);
	clear_locked(d, r);
	r->gen = gen = d->next_gen++;
	r->fetched_ms = now_ms;
	r->too_big = 0;
	pthread_mutex_unlock(&d->lock);
	return gen;
}

void fc_dcache_fill_add(fc_dcache_t *d, int ds, const char *dir, uint64_t gen,
			const char *name, const fc_attr_t *attr)
{
	size_t nl = strlen(name), vl = strlen(attr->version);
	struct dc_dir *r;
	struct dc_ent *e;

	pthread_mutex_lock(&d->lock);
	r = find_dir_locked(d, ds, dir, dir_hash(ds, dir));
	if (!r || r->gen != gen || r->too_big || find_ent_locked(d, r, name))
		goto out;
	if (r->n + 1 > d->max / 2) {
		/* One directory may not crowd out every other: keep none
		 * of it rather than a part that cannot say "no such". */
		clear_locked(d, r);
		r->too_big = 1;
		goto out;
	}
	make_room_locked(d, r);
	sl_list_move_front(&d->lru, &r->lru);
	e = sl_xmalloc(sizeof(*e) + nl + 1 + vl + 1);
	e->dir = r;
	e->node.key = sl_keymap_key64(ent_hash(r, name));
	e->attr = fc_attr_core(attr);
	memcpy(e->name, name, nl + 1);
	memcpy(e->name + nl + 1, attr->version, vl + 1);
	e->version = e->name + nl + 1;
	sl_keymap_insert(&d->ents, &e->node);
	e->dnext = r->ents;
	r->ents = e;
	r->n++;
	d->count++;
out:
	pthread_mutex_unlock(&d->lock);
}

void fc_dcache_fill_end(fc_dcache_t *d, int ds, const char *dir, uint64_t gen,
			int whole)
{
	struct dc_dir *r;

	pthread_mutex_lock(&d->lock);
	r = find_dir_locked(d, ds, dir, dir_hash(ds, dir));
	if (r && r->gen == gen && !r->too_big)
		r->whole = whole;
	pthread_mutex_unlock(&d->lock);
}

void fc_dcache_forget(fc_dcache_t *d, int ds, const char *dir)
{
	struct dc_dir *r;

	pthread_mutex_lock(&d->lock);
	r = find_dir_locked(d, ds, dir, dir_hash(ds, dir));
	if (r)
		drop_dir_locked(d, r);
	pthread_mutex_unlock(&d->lock);
}

size_t fc_dcache_count(fc_dcache_t *d)
{
	size_t n;

	pthread_mutex_lock(&d->lock);
	n = d->count;
	pthread_mutex_unlock(&d->lock);
	return n;
}

void fc_dcache_destroy(fc_dcache_t **dp)
{
	fc_dcache_t *d = dp ? *dp : NULL;

	if (!d)
		return;
	while (!sl_list_empty(&d->lru))
		drop_dir_locked(d, lru_dir(sl_list_first(&d->lru)));
	sl_keymap_fini(&d->ents);
	sl_keymap_fini(&d->dirs);
	pthread_mutex_destroy(&d->lock);
	free(d);
	*dp = NULL;
}
