/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The inode table (see inode.h): two indices (common/keymap.h) over the
 * same entries, one by (dataset, path) hash, where entries may share a
 * hash, and one by inode number, which is unique; both under one mutex. Entries
 * are counted twice: nlookup for the kernel's references, refs for FUSE threads
 * working on an entry; the last of both frees it.
 */
#include "fuse/inode.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/keymap.h"
#include "common/util.h"
#include "proto/proto.h"

struct entry {
	fc_inode_t pub;
	uint64_t hash;	    /* fc_inode_hash of (dataset, path) */
	uint64_t nlookup;   /* protected by t->lock */
	uint64_t refs;	    /* protected by t->lock */
	fc_attr_t attr;	    /* protected by t->lock */
	sl_knode_t by_ino;  /* key: the inode number (t->lock) */
	sl_knode_t by_name; /* key: hash (t->lock) */
};

struct fc_inode_table {
	pthread_mutex_t lock;
	fc_inode_hash_fn *hash;
	sl_keymap_t by_ino;  /* protected by t->lock */
	sl_keymap_t by_name; /* protected by t->lock */
	size_t n_entries;    /* protected by t->lock */
	struct entry *root;
};

uint64_t fc_inode_hash(const char *dataset, const char *path)
{
	size_t dl = strlen(dataset), pl = strlen(path), n = 8 + dl + pl;
	uint8_t stack[8 + 64 + 4096], *buf = stack;
	uint64_t h;

	/* Length prefixes keep ("ab", "c") and ("a", "bc") apart. */
	if (n > sizeof(stack))
		buf = sl_xmalloc(n);
	sl_put_le32(buf, (uint32_t)dl);
	memcpy(buf + 4, dataset, dl);
	sl_put_le32(buf + 4 + dl, (uint32_t)pl);
	memcpy(buf + 8 + dl, path, pl);
	h = XXH3_64bits(buf, n);
	if (buf != stack)
		free(buf);
	return h;
}

static struct entry *find_ino_locked(fc_inode_table_t *t, uint64_t ino)
{
	sl_knode_t *n = sl_keymap_find(&t->by_ino, sl_keymap_key64(ino));

	return n ? sl_container_of(n, struct entry, by_ino) : NULL;
}

static struct entry *find_name_locked(fc_inode_table_t *t, uint64_t hash,
				      int dataset, const char *path)
{
	sl_knode_t *n = sl_keymap_find(&t->by_name, sl_keymap_key64(hash));

	for (; n; n = sl_keymap_find_next(&t->by_name, n)) {
		struct entry *e = sl_container_of(n, struct entry, by_name);

		if (e->pub.dataset == dataset && strcmp(e->pub.path, path) == 0)
			return e;
	}
	return NULL;
}

static void link_locked(fc_inode_table_t *t, struct entry *e)
{
	e->by_ino.key = sl_keymap_key64(e->pub.ino);
	e->by_name.key = sl_keymap_key64(e->hash);
	sl_keymap_insert(&t->by_ino, &e->by_ino);
	sl_keymap_insert(&t->by_name, &e->by_name);
}

static void unlink_locked(fc_inode_table_t *t, struct entry *e)
{
	sl_keymap_remove(&t->by_ino, &e->by_ino);
	sl_keymap_remove(&t->by_name, &e->by_name);
}

static void free_entry(struct entry *e)
{
	free((char *)e->pub.path);
	free(e);
}

fc_inode_table_t *fc_inode_table_new(fc_inode_hash_fn *hash)
{
	fc_inode_table_t *t = sl_xcalloc(1, sizeof(*t));
	struct entry *root = sl_xcalloc(1, sizeof(*root));

	pthread_mutex_init(&t->lock, NULL);
	t->hash = hash ? hash : fc_inode_hash;
	sl_keymap_init(&t->by_ino);
	sl_keymap_init(&t->by_name);
	sl_keymap_reserve(&t->by_ino, 1024);
	sl_keymap_reserve(&t->by_name, 1024);
	root->pub.ino = FC_INO_ROOT;
	root->pub.dataset = -1;
	root->pub.path = sl_xstrdup("");
	root->hash = 0;
	root->nlookup = 1; /* the kernel never forgets the root */
	root->attr.type = PR_TYPE_DIR;
	root->attr.mode = 0555;
	link_locked(t, root);
	t->root = root;
	t->n_entries = 1;
	return t;
}

static void free_node(sl_knode_t *n, void *arg)
{
	(void)arg;
	free_entry(sl_container_of(n, struct entry, by_ino));
}

void fc_inode_table_destroy(fc_inode_table_t **tp)
{
	fc_inode_table_t *t = tp ? *tp : NULL;

	if (!t)
		return;
	/* Every entry is in by_ino once; both tables go right after. */
	sl_keymap_foreach(&t->by_ino, free_node, NULL);
	sl_keymap_fini(&t->by_ino);
	sl_keymap_fini(&t->by_name);
	pthread_mutex_destroy(&t->lock);
	free(t);
	*tp = NULL;
}

/*
 * The collision rule.  An entry's number is its hash h if free, else the
 * first free number of h+1, h+2, ... (mod 2^64), where 0 and 1 (FUSE's
 * "none" and the root) are never free.  "Free" means no live entry holds it.
 * A restarted client that re-derives the numbers of the entries the kernel
 * still holds gets the same answer as long as it sees them in an order that
 * replays the same probes, which holds trivially in the only case that
 * matters in practice: no two held entries share a 64-bit hash.
 */
uint64_t fc_inode_lookup(fc_inode_table_t *t, int dataset,
			 const char *dataset_name, const char *path,
			 const fc_attr_t *attr)
{
	uint64_t h = t->hash(dataset_name, path), ino;
	struct entry *e, *fresh = NULL;

	pthread_mutex_lock(&t->lock);
	e = find_name_locked(t, h, dataset, path);
	if (!e) {
		fresh = sl_xcalloc(1, sizeof(*fresh));
		fresh->pub.dataset = dataset;
		fresh->pub.path = sl_xstrdup(path);
		fresh->hash = h;
		for (ino = h;; ino++) {
			if (ino <= FC_INO_ROOT)
				continue;
			if (!find_ino_locked(t, ino))
				break;
		}
		fresh->pub.ino = ino;
		link_locked(t, fresh);
		t->n_entries++;
		e = fresh;
	}
	e->nlookup++;
	if (attr)
		e->attr = *attr;
	ino = e->pub.ino;
	pthread_mutex_unlock(&t->lock);
	return ino;
}

uint64_t fc_inode_find(fc_inode_table_t *t, int dataset,
		       const char *dataset_name, const char *path)
{
	uint64_t h = dataset < 0 ? 0 : t->hash(dataset_name, path), ino = 0;
	struct entry *e;

	pthread_mutex_lock(&t->lock);
	e = dataset < 0 ? t->root : find_name_locked(t, h, dataset, path);
	if (e)
		ino = e->pub.ino;
	pthread_mutex_unlock(&t->lock);
	return ino;
}

static void maybe_free_locked(fc_inode_table_t *t, struct entry *e)
{
	if (e == t->root || e->nlookup || e->refs)
		return;
	unlink_locked(t, e);
	t->n_entries--;
	free_entry(e);
}

void fc_inode_forget(fc_inode_table_t *t, uint64_t ino, uint64_t n)
{
	struct entry *e;

	if (ino == FC_INO_ROOT)
		return;
	pthread_mutex_lock(&t->lock);
	e = find_ino_locked(t, ino);
	if (e) {
		e->nlookup = e->nlookup > n ? e->nlookup - n : 0;
		maybe_free_locked(t, e);
	}
	pthread_mutex_unlock(&t->lock);
}

fc_inode_t *fc_inode_get(fc_inode_table_t *t, uint64_t ino)
{
	struct entry *e;

	pthread_mutex_lock(&t->lock);
	e = find_ino_locked(t, ino);
	if (e)
		e->refs++;
	pthread_mutex_unlock(&t->lock);
	return e ? &e->pub : NULL;
}

void fc_inode_put(fc_inode_table_t *t, fc_inode_t *ip)
{
	struct entry *e = (struct entry *)ip;

	if (!ip)
		return;
	pthread_mutex_lock(&t->lock);
	SL_ASSERT(e->refs > 0);
	e->refs--;
	maybe_free_locked(t, e);
	pthread_mutex_unlock(&t->lock);
}

void fc_inode_attr(fc_inode_table_t *t, const fc_inode_t *ip, fc_attr_t *out)
{
	const struct entry *e = (const struct entry *)ip;

	pthread_mutex_lock(&t->lock);
	*out = e->attr;
	pthread_mutex_unlock(&t->lock);
}

void fc_inode_set_attr(fc_inode_table_t *t, fc_inode_t *ip,
		       const fc_attr_t *attr)
{
	struct entry *e = (struct entry *)ip;

	pthread_mutex_lock(&t->lock);
	e->attr = *attr;
	pthread_mutex_unlock(&t->lock);
}

size_t fc_inode_count(fc_inode_table_t *t)
{
	size_t n;

	pthread_mutex_lock(&t->lock);
	n = t->n_entries;
	pthread_mutex_unlock(&t->lock);
	return n;
}

uint64_t fc_inode_nlookup(fc_inode_table_t *t, uint64_t ino)
{
	struct entry *e;
	uint64_t n = 0;

	pthread_mutex_lock(&t->lock);
	e = find_ino_locked(t, ino);
	if (e)
		n = e->nlookup;
	pthread_mutex_unlock(&t->lock);
	return n;
}
