/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scaling advice `sluicectl advise` prints: from each node's metrics
 * (the names of its STATS reply, which are its /metrics names), how full
 * the cache is, how much of the backend traffic is the working set that
 * did not fit (refetches, cachenode/ghost.h), and how many nodes of the
 * current size would hold the hot working set.  Plain arithmetic on
 * plain descriptors: no I/O but the printing.
 *
 * The working set is estimated as the distinct bytes the nodes fetched
 * from the backend (every fetch less the refetches), and never less than
 * what they hold now: a dataset read once is its own working set; one
 * read every epoch and refetched each time needs room for all of it.
 */
#ifndef SL_ADVISE_H
#define SL_ADVISE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One node's figures.  Zero-initialise, then feed its metrics. */
typedef struct sl_advise_node {
	uint64_t ram_capacity, ram_used;
	uint64_t disk_capacity, disk_used;
	uint64_t fetched;   /* sluice_backend_read_bytes_total */
	uint64_t refetched; /* sluice_backend_refetched_bytes_total */
} sl_advise_node_t;

/* Take metric name (len bytes, not NUL-terminated) = value into n if it
 * is one advise uses; others are ignored. */
void sl_advise_node_add(sl_advise_node_t *n, const char *name, size_t len,
			uint64_t value);

typedef struct sl_advise {
	size_t nodes;
	/* The nodes' tiers are inclusive: a node with a disk caches what
	 * its disk holds, else what its RAM holds. */
	uint64_t capacity, used;
	uint64_t node_size; /* capacity / nodes */
	double used_ratio;  /* used / capacity */
	uint64_t fetched, refetched;
	double refetch_ratio;  /* refetched / fetched: capacity misses */
	uint64_t working_set;  /* bytes, estimated (above) */
	unsigned headroom_pct; /* asked for */
	uint64_t nodes_needed; /* to hold working_set + headroom, >= 1 */
	/* Over a window (seconds > 0): bytes per second. */
	double seconds, demand_bps, refetch_bps;
} sl_advise_t;

/*
 * The advice for nodes now[0..n) (borrowed), with headroom_pct of room
 * on top of the working set; before (NULL, or the same nodes seconds
 * earlier) adds the rates.
 */
void sl_advise_compute(const sl_advise_node_t *now,
		       const sl_advise_node_t *before, size_t n, double seconds,
		       unsigned headroom_pct, sl_advise_t *out);

/* Print a (borrowed) to f: the figures and a one-line recommendation,
 * or one JSON object when json.  Returns 0, or -EIO when f fails. */
int sl_advise_print(FILE *f, const sl_advise_t *a, int json);

#endif
