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
 *
 * Per dataset, the same estimate runs on the dataset's share of each
 * node (sl_advise_dataset_add: its cached bytes, backend bytes and
 * refetches, cachenode/dsstats.h) against the nodes' whole capacity:
 * how much of the cluster that dataset alone would take.  The
 * datasets' working sets add up to at least the cluster's (each is
 * floored by what it holds on its own).
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

/* The same for dataset (a NUL-terminated name): the node's capacities
 * from its node-wide names, the rest from the dataset's series. */
void sl_advise_dataset_add(sl_advise_node_t *n, const char *dataset,
			   const char *name, size_t len, uint64_t value);

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
	double node_share;     /* the same unrounded: 0 for nothing */
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

/*
 * The per-dataset rows, per[0..n) named names[0..n) (borrowed; each
 * computed from sl_advise_dataset_add's figures), and total, the
 * cluster's, as a table, or with json one object: total's fields and
 * "datasets": [each row's fields and "name"].  Returns 0, or -EIO.
 */
int sl_advise_print_datasets(FILE *f, const sl_advise_t *total,
			     const char *const *names, const sl_advise_t *per,
			     size_t n, int json);

#endif
