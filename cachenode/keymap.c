/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The intrusive 128-bit-key hash table (see keymap.h).  Chains are singly
 * linked and short (load <= 1), so removal walks the chain rather than
 * paying a back pointer in every element.
 */
#include "cachenode/keymap.h"

#include <stdlib.h>

#include "common/util.h"

#define KEYMAP_MIN 16

void cn_keymap_init(cn_keymap_t *m)
{
	m->buckets = NULL;
	m->nbuckets = 0;
	m->count = 0;
}

void cn_keymap_fini(cn_keymap_t *m)
{
	free(m->buckets);
	cn_keymap_init(m);
}

static size_t bucket_of(const cn_keymap_t *m, sl_blockkey_t key)
{
	return (size_t)(key.hi & (m->nbuckets - 1));
}

static void rehash(cn_keymap_t *m, size_t nb)
{
	cn_knode_t **nbk = sl_xcalloc(nb, sizeof(*nbk));

	for (size_t i = 0; i < m->nbuckets; i++) {
		cn_knode_t *n = m->buckets[i];

		while (n) {
			cn_knode_t *next = n->next;
			size_t b = (size_t)(n->key.hi & (nb - 1));

			n->next = nbk[b];
			nbk[b] = n;
			n = next;
		}
	}
	free(m->buckets);
	m->buckets = nbk;
	m->nbuckets = nb;
}

void cn_keymap_reserve(cn_keymap_t *m, size_t n)
{
	size_t nb = m->nbuckets ? m->nbuckets : KEYMAP_MIN;

	while (nb < n)
		nb *= 2;
	if (nb != m->nbuckets)
		rehash(m, nb);
}

size_t cn_keymap_bytes(const cn_keymap_t *m)
{
	return m->nbuckets * sizeof(*m->buckets);
}

cn_knode_t *cn_keymap_find(const cn_keymap_t *m, sl_blockkey_t key)
{
	cn_knode_t *n;

	if (!m->nbuckets)
		return NULL;
	for (n = m->buckets[bucket_of(m, key)]; n; n = n->next)
		if (sl_blockkey_eq(n->key, key))
			return n;
	return NULL;
}

void cn_keymap_insert(cn_keymap_t *m, cn_knode_t *n)
{
	size_t b;

	if (m->count + 1 > m->nbuckets)
		cn_keymap_reserve(m, m->count + 1);
	b = bucket_of(m, n->key);
	n->next = m->buckets[b];
	m->buckets[b] = n;
	m->count++;
}

void cn_keymap_remove(cn_keymap_t *m, cn_knode_t *n)
{
	cn_knode_t **pp;

	SL_ASSERT(m->nbuckets);
	for (pp = &m->buckets[bucket_of(m, n->key)]; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			n->next = NULL;
			m->count--;
			return;
		}
	}
	SL_ASSERT(!"cn_keymap_remove: element not in the table");
}

void cn_keymap_foreach(cn_keymap_t *m, void (*fn)(cn_knode_t *n, void *arg),
		       void *arg)
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		cn_knode_t *n = m->buckets[i];

		while (n) {
			cn_knode_t *next = n->next;

			fn(n, arg);
			n = next;
		}
	}
}
