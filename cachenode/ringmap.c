/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A ring with its members (see ringmap.h).
 */
#include "cachenode/ringmap.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define MAX_PREFS 16

cn_ringmap_t *cn_ringmap_new(const cn_member_t *m, size_t n,
			     uint64_t generation)
{
	cn_ringmap_t *r = sl_xcalloc(1, sizeof(*r));
	sl_ring_member_t *rm = sl_xcalloc(n + 1, sizeof(*rm));

	r->m = sl_xcalloc(n + 1, sizeof(*r->m));
	r->n = n;
	r->generation = generation;
	for (size_t i = 0; i < n; i++) {
		r->m[i] = m[i];
		rm[i].name = r->m[i].name;
		rm[i].weight = r->m[i].weight;
	}
	if (n) {
		r->ring = sl_ring_new(rm, n);
		if (!r->ring) /* over SL_RING_MAX_WEIGHT */
			cn_ringmap_destroy(&r);
		else
			r->version = sl_ring_version(r->ring);
	}
	free(rm);
	return r;
}

void cn_ringmap_destroy(cn_ringmap_t **rp)
{
	cn_ringmap_t *r = rp ? *rp : NULL;

	if (!r)
		return;
	sl_ring_destroy(&r->ring);
	free(r->m);
	free(r);
	*rp = NULL;
}

const cn_member_t *cn_ringmap_owner(const cn_ringmap_t *r, uint64_t point)
{
	return r->ring ? &r->m[sl_ring_owner(r->ring, point)] : NULL;
}

size_t cn_ringmap_prefs(const cn_ringmap_t *r, uint64_t point,
			const cn_member_t **out, size_t max)
{
	size_t idx[MAX_PREFS], n;

	if (!r->ring)
		return 0;
	n = sl_ring_preference_list(r->ring, point, idx,
				    SL_MIN(max, (size_t)MAX_PREFS));
	for (size_t i = 0; i < n; i++)
		out[i] = &r->m[idx[i]];
	return n;
}

const cn_member_t *cn_ringmap_find(const cn_ringmap_t *r, const char *name)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->m[i].name, name) == 0)
			return &r->m[i];
	return NULL;
}

int cn_ringmap_same(const cn_ringmap_t *a, const cn_ringmap_t *b)
{
	if (a->n != b->n || a->version != b->version)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->m[i].name, b->m[i].name) != 0 ||
		    strcmp(a->m[i].addr, b->m[i].addr) != 0 ||
		    a->m[i].weight != b->m[i].weight)
			return 0;
	return 1;
}
