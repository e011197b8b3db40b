/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ghost set: a bounded memory of the blocks a node fetched from its
 * backend lately, by key only (8 bytes each, no data).  A fetch of a
 * block the ghost remembers is a refetch: the node had the block and no
 * longer has it, because the cache was too small for the working set
 * (or an operator's EVICT, which clears the ghost so as not to be
 * mistaken for one).  Refetched bytes per second are the autoscaling
 * signal: the part of the working set that did not fit (README,
 * "Observability").
 *
 * Threads: the event thread only.
 */
#ifndef CN_GHOST_H
#define CN_GHOST_H

#include <stddef.h>
#include <stdint.h>

#include "common/blockkey.h"

typedef struct cn_ghost cn_ghost_t;

#define CN_GHOST_MIN (1u << 16) /* slots, at least (576 KiB) */
#define CN_GHOST_MAX (1u << 22) /* slots, at most (36 MiB) */

/* A ghost that remembers about the last entries keys: twice as many
 * slots, rounded up to a power of two, clamped to CN_GHOST_MIN..
 * CN_GHOST_MAX.  Caller frees with cn_ghost_destroy. */
cn_ghost_t *cn_ghost_new(uint64_t entries);
/* Accepts NULL; clears *gp. */
void cn_ghost_destroy(cn_ghost_t **gp);

/* Remember key; returns 1 when it was remembered already (a refetch),
 * else 0. */
int cn_ghost_seen(cn_ghost_t *g, sl_blockkey_t key);
/* Forget everything (an EVICT). */
void cn_ghost_clear(cn_ghost_t *g);
/* Its slots and the bytes they take. */
uint64_t cn_ghost_slots(const cn_ghost_t *g);
uint64_t cn_ghost_bytes(const cn_ghost_t *g);

/* The entries a node that caches capacity bytes in blocks of at least
 * min_block bytes should have: four times the blocks it can hold, so
 * that a working set of up to four times the node is seen refetched. */
uint64_t cn_ghost_entries_for(uint64_t capacity, uint64_t min_block);

#endif
