/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An intrusive hash table keyed by 128-bit keys (block keys, metadata
 * keys; a 64-bit key is {v, 0}, see sl_keymap_key64): the element embeds
 * an sl_knode_t and the table only links them, so a lookup allocates
 * nothing and an element can sit in a table and on a list (list.h) at
 * once.  Chained buckets, a power-of-two count, doubled when the load
 * passes 1.  The keys are already hashes (xxh3), so a bucket is just low
 * bits of hi ^ lo.
 *
 * Several elements may share a key (a table keyed by a 64-bit hash of a
 * longer name, where the caller compares the names): sl_keymap_find gives
 * the first, sl_keymap_find_next the others.
 *
 * The bucket array is control memory (sl_xcalloc).  The table never frees
 * elements; their owner does, after removing them.  Not thread-safe: the
 * owner serialises access (an event thread, or a lock of its own).
 */
#ifndef SL_KEYMAP_H
#define SL_KEYMAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/blockkey.h"
#include "common/list.h" /* sl_container_of */

typedef struct sl_knode {
	struct sl_knode *next; /* bucket chain; owned by the table */
	sl_blockkey_t key;     /* set by the owner before insert */
} sl_knode_t;

typedef struct sl_keymap {
	sl_knode_t **buckets;
	size_t nbuckets; /* a power of two, or 0 before the first insert */
	size_t count;
} sl_keymap_t;

static inline sl_blockkey_t sl_keymap_key64(uint64_t v)
{
	sl_blockkey_t k = {v, 0};

	return k;
}

void sl_keymap_init(sl_keymap_t *m);
/* Frees the bucket array only; the elements stay their owner's. */
void sl_keymap_fini(sl_keymap_t *m);

/* Grow the bucket array so that n elements fit without a resize. */
void sl_keymap_reserve(sl_keymap_t *m, size_t n);
/* Bytes of the bucket array (the table's own overhead). */
size_t sl_keymap_bytes(const sl_keymap_t *m);

/* The first element with key, or NULL.  Borrowed. */
sl_knode_t *sl_keymap_find(const sl_keymap_t *m, sl_blockkey_t key);
/* The next element after n (which is in m) with n's key, or NULL. */
sl_knode_t *sl_keymap_find_next(const sl_keymap_t *m, const sl_knode_t *n);
/* Link n (n->key set by the caller).  The table does not look for an
 * element with the same key: callers that want unique keys find first. */
void sl_keymap_insert(sl_keymap_t *m, sl_knode_t *n);
/* Unlink n, which must be in the table (asserted). */
void sl_keymap_remove(sl_keymap_t *m, sl_knode_t *n);

/*
 * Visit every element; fn may remove the element it is given (and only
 * that one), and may free it after removing it.  Order is unspecified.
 */
void sl_keymap_foreach(sl_keymap_t *m, void (*fn)(sl_knode_t *n, void *arg),
		       void *arg);

#endif
