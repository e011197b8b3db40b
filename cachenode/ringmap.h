/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A ring with the members it was built from: what a node routes by, what
 * its HELLO lists, and what it asks a moved block's previous owner with
 * (names and addresses).  Immutable once built, so the current and the
 * previous ring can be held side by side.
 *
 * Members are in ring order (the config's, or etcd's by name); the ring's
 * version is sl_ring_version of them, so every process that lists the
 * same members builds the same ring.  The generation orders rings: of two
 * with different versions, the greater generation is the newer.
 *
 * Threads: immutable; any thread may read one.
 */
#ifndef CN_RINGMAP_H
#define CN_RINGMAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/ring.h"

typedef struct cn_member {
	char name[SL_NAME_MAX + 1];
	char addr[SL_ADDR_MAX + 1];
	uint32_t weight;
} cn_member_t;

typedef struct cn_ringmap {
	sl_ring_t *ring; /* NULL when there is no member */
	uint32_t version;
	uint64_t generation;
	size_t n;
	cn_member_t *m;
} cn_ringmap_t;

/* A ring over m[0..n) (copied) at generation, or NULL when their weights
 * add up to more than SL_RING_MAX_WEIGHT.  Caller frees with
 * cn_ringmap_destroy. */
cn_ringmap_t *cn_ringmap_new(const cn_member_t *m, size_t n,
			     uint64_t generation);
void cn_ringmap_destroy(cn_ringmap_t **rp);

/* The owner of point, or NULL for an empty ring.  Borrowed from r. */
const cn_member_t *cn_ringmap_owner(const cn_ringmap_t *r, uint64_t point);
/* The first max members of point's preference list into out: how many. */
size_t cn_ringmap_prefs(const cn_ringmap_t *r, uint64_t point,
			const cn_member_t **out, size_t max);
/* The member called name, or NULL.  Borrowed from r. */
const cn_member_t *cn_ringmap_find(const cn_ringmap_t *r, const char *name);

/* Whether a and b have the same members (names, addresses, weights, in
 * order): the same ring, whatever their generations. */
int cn_ringmap_same(const cn_ringmap_t *a, const cn_ringmap_t *b);

#endif
