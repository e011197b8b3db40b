/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-dataset gauges of one node, for Prometheus and STATS: the bytes of
 * each dataset's blocks in its RAM tier and on its disk, and the
 * dataset's size as the last full walk of it (a LOAD or a count, load.c)
 * listed it.  The cached bytes are recounted from the tiers' indexes on
 * the event thread (cn_dsstats_recount: every few seconds and after each
 * walk), so they follow evictions and fills without a hook in the tiers;
 * the metrics thread reads the last count under the module's lock.
 * Each row also holds a reference to its dataset's counters (metrics.h,
 * cn_dsmetrics_t), which the READ path adds to without a lock; a dataset
 * a reload removed leaves the rows, and the exposition, at the recount
 * that follows the reload.
 *
 *   sluice_dataset_cached_bytes{dataset="D",tier="ram"|"disk"}
 *   sluice_dataset_bytes{dataset="D"}   (absent until a full walk)
 *   sluice_dataset_files{dataset="D"}   (the same)
 *   sluice_dataset_served_bytes_total{dataset="D",tier="ram"|"disk"|
 *                                     "backend"|"peer"}
 *   sluice_dataset_backend_read_bytes_total{dataset="D"}
 *   sluice_dataset_backend_refetched_bytes_total{dataset="D"}
 */
#ifndef CN_DSSTATS_H
#define CN_DSSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "cachenode/backend.h"
#include "cachenode/disktier.h"
#include "cachenode/metrics.h"
#include "cachenode/ramtier.h"

typedef struct cn_dsstats cn_dsstats_t;

/* Empty; caller frees with cn_dsstats_destroy (accepts NULL, clears). */
cn_dsstats_t *cn_dsstats_new(void);
void cn_dsstats_destroy(cn_dsstats_t **dp);

/* Count every dataset of ds[0..n) (borrowed; their counters are
 * referenced until the next recount) in ram and disk (NULL: no disk
 * tier).  Event thread; O(blocks cached). */
void cn_dsstats_recount(cn_dsstats_t *d, cn_ramtier_t *ram, cn_disktier_t *disk,
			cn_dataset_t *const *ds, size_t n);

/* A walk listed all of dataset name: files and bytes.  Any thread. */
void cn_dsstats_walked(cn_dsstats_t *d, const char *name, uint64_t files,
		       uint64_t bytes);

/* The metrics' hook (metrics.h); arg is the cn_dsstats_t. */
void cn_dsstats_emit(void *arg, cn_metrics_emit_fn *emit, void *ctx);

#endif
