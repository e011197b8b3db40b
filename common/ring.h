/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The consistent-hash ring that maps block and metadata keys to cache nodes.
 * Each member gets SL_RING_VNODES points per unit of weight, placed at
 * xxh3-64("name#i"); the points live in one sorted array and a lookup is a
 * binary search.  Everything derives from member names and weights, so every
 * process on every machine that reads the same config builds the same ring.
 *
 * A ring is immutable after sl_ring_new(): any thread may use it unlocked.
 */
#ifndef SL_RING_H
#define SL_RING_H

#include <stddef.h>
#include <stdint.h>

/*
 * Points per unit of weight.  A member's share of the keys strays from its
 * fair share by about 1/sqrt(points) (one standard deviation): 8% at 160
 * points, where most 8-member clusters have a member more than 10% off, and
 * 3% at 1024.  A point costs 16 bytes (128 KiB for 8 members of weight 1),
 * so keep weights small relative numbers.
 */
#define SL_RING_VNODES 1024

/*
 * The most weight a ring may hold, all members together: 2,097,152
 * points, 32 MiB.  A member list comes from the config or from a peer's
 * HELLO, and a HELLO of 1,024 nodes of weight 100 is 10 KB that would
 * otherwise ask for 100 million points (1.6 GB): whoever builds a ring
 * refuses more than this.
 */
#define SL_RING_MAX_WEIGHT 2048

typedef struct sl_ring sl_ring_t;

typedef struct sl_ring_member {
	const char *name; /* borrowed during sl_ring_new only */
	uint32_t weight;  /* >= 1 */
} sl_ring_member_t;

/* The members' total weight (saturating), to check against
 * SL_RING_MAX_WEIGHT before building. */
uint64_t sl_ring_weight(const sl_ring_member_t *members, size_t n);

/*
 * Build a ring over members[0..n).  Member i keeps index i in results.  The
 * ring version is a hash of the membership (names and weights, in order), so
 * it changes whenever membership does and agrees across processes; it is
 * never 0.  Returns NULL, allocating nothing, when the total weight is
 * over SL_RING_MAX_WEIGHT.  Caller frees with sl_ring_destroy.
 */
sl_ring_t *sl_ring_new(const sl_ring_member_t *members, size_t n);
void sl_ring_destroy(sl_ring_t **rp);

uint32_t sl_ring_version(const sl_ring_t *r);
size_t sl_ring_members(const sl_ring_t *r);
/* Borrowed from r. */
const char *sl_ring_member_name(const sl_ring_t *r, size_t idx);

/*
 * The first n distinct members clockwise from point: out[0] is the owner,
 * the rest are its fallbacks in order.  Returns how many were written
 * (min(n, members)).
 */
size_t sl_ring_preference_list(const sl_ring_t *r, uint64_t point, size_t *out,
			       size_t n);

/* The owner of point (the first entry of the preference list). */
size_t sl_ring_owner(const sl_ring_t *r, uint64_t point);

/*
 * The share of the key space (0..1) whose owner is another member (by
 * name) in b than in a: what a change from ring a to ring b moves.  Exact,
 * not sampled: a walk over both point arrays.  Either may be NULL (no
 * ring: everything moves, unless both are NULL).
 */
double sl_ring_moved(const sl_ring_t *a, const sl_ring_t *b);

/* The share of the key space (0..1) member idx owns, exactly (a walk over
 * the points); 0 for an empty ring or an index it does not have. */
double sl_ring_share(const sl_ring_t *r, size_t idx);

#endif
