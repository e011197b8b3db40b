/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An intrusive hash table keyed by 128-bit keys (block keys, metadata keys):
 * the element embeds a cn_knode_t, the table only links them, so a lookup
 * allocates nothing and an element can sit in a table and on a list at once.
 * Chained buckets, a power-of-two count, doubled when the load passes 1.
 * The keys are already xxh3 hashes, so the bucket is just the high word.
 *
 * Not thread-safe: in the cache node only the event thread touches a table.
 * The table never frees elements; their owner does, after removing them.
 */
#ifndef CN_KEYMAP_H
#define CN_KEYMAP_H

#include <stddef.h>

#include "common/blockkey.h"

typedef struct cn_knode {
	struct cn_knode *next; /* bucket chain; owned by the table */
	sl_blockkey_t key;
} cn_knode_t;

typedef struct cn_keymap {
	cn_knode_t **buckets;
	size_t nbuckets; /* power of two, or 0 before the first insert */
	size_t count;
} cn_keymap_t;

void cn_keymap_init(cn_keymap_t *m);
/* Frees the bucket array only; elements stay their owner's. */
void cn_keymap_fini(cn_keymap_t *m);

/* Grow the bucket array so that n elements fit without a resize. */
void cn_keymap_reserve(cn_keymap_t *m, size_t n);
/* Bytes of the bucket array (the table's own overhead). */
size_t cn_keymap_bytes(const cn_keymap_t *m);

/* The element with key, or NULL.  Borrowed. */
cn_knode_t *cn_keymap_find(const cn_keymap_t *m, sl_blockkey_t key);
/* Link n (n->key set by the caller, absent from the table). */
void cn_keymap_insert(cn_keymap_t *m, cn_knode_t *n);
/* Unlink n, which must be in the table. */
void cn_keymap_remove(cn_keymap_t *m, cn_knode_t *n);

/*
 * Visit every element; fn may remove the element it is given (and only
 * that one).  Order is unspecified.
 */
void cn_keymap_foreach(cn_keymap_t *m, void (*fn)(cn_knode_t *n, void *arg),
		       void *arg);

#endif
