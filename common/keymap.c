/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The intrusive 128-bit-key hash table (see keymap.h).  Chains are singly
 * linked and short (load <= 1), so removal walks the chain rather than
 * paying a back pointer in every element.
 */
#include "common/keymap.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define KEYMAP_MIN 16

void sl_keymap_init(sl_keymap_t *m)
{
	memset(m, 0, sizeof(*m));
}

void sl_keymap_fini(sl_keymap_t *m)
{
	free(m->buckets);
	memset(m, 0, sizeof(*m));
}

static size_t bucket_of(size_t nbuckets, sl_blockkey_t key)
{
	return (size_t)((key.hi ^ key.lo) & (nbuckets - 1));
}

static void rehash(sl_keymap_t *m, size_t nb)
{
	sl_knode_t **nbk = sl_xcalloc(nb, sizeof(*nbk));

	for (size_t i = 0; i < m->nbuckets; i++) {
		sl_knode_t *n = m->buckets[i];

		while (n) {
			sl_knode_t *next = n->next;
			size_t b = bucket_of(nb, n->key);

			n->next = nbk[b];
			nbk[b] = n;
			n = next;
		}
	}
	free(m->buckets);
	m->buckets = nbk;
	m->nbuckets = nb;
}

void sl_keymap_reserve(sl_keymap_t *m, size_t n)
{
	size_t nb = m->nbuckets ? m->nbuckets : KEYMAP_MIN;

	while (nb < n)
		nb *= 2;
	if (nb != m->nbuckets)
		rehash(m, nb);
}

size_t sl_keymap_bytes(const sl_keymap_t *m)
{
	return m->nbuckets * sizeof(*m->buckets);
}

static sl_knode_t *match(sl_knode_t *n, sl_blockkey_t key)
{
	for (; n; n = n->next)
		if (sl_blockkey_eq(n->key, key))
			return n;
	return NULL;
}

sl_knode_t *sl_keymap_find(const sl_keymap_t *m, sl_blockkey_t key)
{
	if (!m->nbuckets)
		return NULL;
	return match(m->buckets[bucket_of(m->nbuckets, key)], key);
}

sl_knode_t *sl_keymap_find_next(const sl_keymap_t *m, const sl_knode_t *n)
{
	(void)m; /* same key, same chain */
	return match(n->next, n->key);
}

void sl_keymap_insert(sl_keymap_t *m, sl_knode_t *n)
{
	size_t b;

	if (m->count + 1 > m->nbuckets)
		sl_keymap_reserve(m, m->count + 1);
	b = bucket_of(m->nbuckets, n->key);
	n->next = m->buckets[b];
	m->buckets[b] = n;
	m->count++;
}

void sl_keymap_remove(sl_keymap_t *m, sl_knode_t *n)
{
	sl_knode_t **pp;

	SL_ASSERT(m->nbuckets);
	for (pp = &m->buckets[bucket_of(m->nbuckets, n->key)]; *pp;
	     pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			m->count--;
			return;
		}
	}
	SL_ASSERT(!"sl_keymap_remove: element not in the table");
}

void sl_keymap_foreach(sl_keymap_t *m, void (*fn)(sl_knode_t *n, void *arg),
		       void *arg)
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		sl_knode_t *n = m->buckets[i];

		while (n) {
			sl_knode_t *next = n->next;

			fn(n, arg);
			n = next;
		}
	}
}
