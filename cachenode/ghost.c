/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ghost set (see ghost.h).
 *
 * Why a memory of fetches rather than of evictions.  A block leaves a
 * node by many doors -- a RAM eviction with no disk, a demotion the disk
 * refuses, a disk eviction, a policy that never admitted it -- and a
 * ghost fed at every door would have to follow each of them.  But a
 * node fetches from the backend only what it does not hold: so a fetch
 * of a block it fetched before means the block left by one door or
 * another, whichever.  Remembering fetches is enough to see refetches,
 * and it needs one hook, where the fetch ends.
 *
 * The structure.  Keys are 64-bit fingerprints (the block key's halves
 * folded, never 0) in a table of 2^k slots cut into buckets of 8 (one
 * cache line); a key lives in the bucket its fingerprint picks.  A new
 * key takes an empty slot of its bucket or, the bucket full, the one its
 * bucket's hand points at, and the hand moves on: each bucket forgets
 * its oldest key first, so the table as a whole forgets roughly in the
 * order it learnt (a FIFO of the last 2^k fetches, give or take a
 * bucket's luck); at half its slots a table keeps about 97% of its keys,
so it is made twice the entries asked for.  Two keys share a fingerprint with
odds of 2^-64: no
 * false refetch worth a thought.  Memory: 8 bytes a slot and one byte a
 * bucket, allocated once.
 */
#include "cachenode/ghost.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define BUCKET 8

struct cn_ghost {
	uint64_t *slot; /* n_slots fingerprints, 0 = empty */
	uint8_t *hand;	/* per bucket: the slot it replaces next */
	uint64_t mask;	/* buckets - 1 */
	uint64_t n_slots;
};

static uint64_t fingerprint(sl_blockkey_t key)
{
	uint64_t f = key.lo ^ (key.hi * 0x9e3779b97f4a7c15ull);

	return f ? f : 1;
}

uint64_t cn_ghost_entries_for(uint64_t capacity, uint64_t min_block)
{
	uint64_t blocks = capacity / (min_block ? min_block : 1);

	return blocks > CN_GHOST_MAX / 8 ? CN_GHOST_MAX / 2 : 4 * blocks;
}

cn_ghost_t *cn_ghost_new(uint64_t entries)
{
	cn_ghost_t *g = sl_xcalloc(1, sizeof(*g));
	uint64_t n = CN_GHOST_MIN;

	/* Twice the slots: buckets half full keep ~97% of their keys (a
	 * bucket of 8 overflows when 9 or more of its keys land in it). */
	while (n < 2 * entries && n < CN_GHOST_MAX)
		n <<= 1;
	g->n_slots = n;
	g->slot = sl_xcalloc(n, sizeof(*g->slot));
	g->hand = sl_xcalloc(n / BUCKET, sizeof(*g->hand));
	g->mask = n / BUCKET - 1;
	return g;
}

void cn_ghost_destroy(cn_ghost_t **gp)
{
	cn_ghost_t *g = gp ? *gp : NULL;

	if (!g)
		return;
	free(g->slot);
	free(g->hand);
	free(g);
	*gp = NULL;
}

int cn_ghost_seen(cn_ghost_t *g, sl_blockkey_t key)
{
	uint64_t f = fingerprint(key);
	/* The bucket from the high bits, which the slots' values do not
	 * otherwise sort by. */
	uint64_t b = (f >> 32 ^ f) & g->mask;
	uint64_t *s = g->slot + b * BUCKET;
	int empty = -1;

	for (int i = 0; i < BUCKET; i++) {
		if (s[i] == f)
			return 1;
		if (!s[i] && empty < 0)
			empty = i;
	}
	if (empty < 0) {
		empty = g->hand[b];
		g->hand[b] = (uint8_t)((empty + 1) % BUCKET);
	}
	s[empty] = f;
	return 0;
}

void cn_ghost_clear(cn_ghost_t *g)
{
	memset(g->slot, 0, g->n_slots * sizeof(*g->slot));
	memset(g->hand, 0, g->n_slots / BUCKET);
}

uint64_t cn_ghost_slots(const cn_ghost_t *g)
{
	return g->n_slots;
}

uint64_t cn_ghost_bytes(const cn_ghost_t *g)
{
	return g->n_slots * sizeof(*g->slot) + g->n_slots / BUCKET;
}
