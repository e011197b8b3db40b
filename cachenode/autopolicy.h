/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `policy = auto` (the default): the node chooses, per dataset, between
 * the `lru` and `pin` instances its tiers already keep.  `pin` when the
 * bytes of the dataset this node keeps are more than the capacity it can
 * use -- shuffled epochs over a dataset larger than the cache make LRU
 * evict each block just before the next epoch wants it, while a pinned
 * subset hits its cached fraction every epoch -- and `lru` when it fits,
 * where LRU loses nothing and follows a changing working set.  auto is not
 * a third eviction order: a dataset's blocks are under one of the two, and
 * move to the other when the choice changes (re-tagged in both tiers).
 *
 * Three parts: the decision (cn_autopolicy_choose, a pure function), the
 * node's record of what its walks found (cn_autopol_t, read by the
 * metrics thread), and the server's hook that decides and applies
 * (cn_server_autopolicy, event thread: after a full walk, a ring change,
 * a reload).
 */
#ifndef CN_AUTOPOLICY_H
#define CN_AUTOPOLICY_H

#include <stddef.h>
#include <stdint.h>

#include "cachenode/metrics.h"

/* Below this share of the capacity a pinned dataset goes back to lru:
 * one near the boundary does not flip with each walk's estimate. */
#define CN_AUTO_BACK_PERCENT 90

/* Why a dataset got its choice. */
enum cn_auto_why {
	CN_AUTO_UNKNOWN, /* no full walk yet: lru */
	CN_AUTO_FITS,	 /* it and the smaller auto datasets fit: lru */
	CN_AUTO_LARGER,	 /* more than fits: pin */
	CN_AUTO_HOLDS,	 /* pinned, not yet below CN_AUTO_BACK_PERCENT */
};

typedef struct cn_auto_in {
	int known;	/* its size is known (a full walk) */
	uint64_t owned; /* bytes of it this node keeps */
	int pinned;	/* its choice now is pin */
} cn_auto_in_t;

typedef struct cn_auto_out {
	int pin;
	int why;	 /* enum cn_auto_why */
	uint64_t usable; /* capacity the smaller auto datasets leave it */
} cn_auto_out_t;

/*
 * Choose for the auto datasets in[0..n) of one node that can keep
 * capacity bytes, into out[0..n).  The datasets fit smallest first: one
 * is lru when its owned bytes and those of every smaller auto dataset of
 * known size fit in capacity together, else pin; once pinned it stays
 * pin until that sum falls below CN_AUTO_BACK_PERCENT of capacity.  A
 * dataset of unknown size is lru and takes no room in the sum.  Pure.
 */
void cn_autopolicy_choose(const cn_auto_in_t *in, size_t n, uint64_t capacity,
			  cn_auto_out_t *out);

/* "unknown", "fits", "larger", "holds": the reason, as a metric label
 * value.  Static. */
const char *cn_autopolicy_why(int why);

/*
 * What the node knows of its datasets' sizes, and the choices it made:
 * written by the event thread, read by the metrics thread under the
 * record's lock.
 */
typedef struct cn_autopol cn_autopol_t;

/* Empty; caller frees with cn_autopol_destroy (accepts NULL, clears). */
cn_autopol_t *cn_autopol_new(void);
void cn_autopol_destroy(cn_autopol_t **ap);

/*
 * A full walk of dataset name (at layout) listed bytes in all, owned of
 * them on blocks this node owns under the ring of version ring (0: the
 * count is not exact, such as a load that skipped nodes).  Event thread.
 */
void cn_autopol_walked(cn_autopol_t *a, const char *name, uint32_t layout,
		       uint64_t bytes, uint64_t owned, uint32_t ring);

/* The metrics' series (metrics.h; arg: the cn_autopol_t):
 * sluice_dataset_policy{dataset,policy} (1 for the one in effect, both
 * rows for every dataset), and for auto datasets
 * sluice_dataset_auto{dataset,why}, sluice_dataset_owned_bytes{dataset}
 * and sluice_dataset_usable_bytes{dataset}. */
void cn_autopol_emit(void *arg, cn_metrics_emit_fn *emit, void *ctx);

typedef struct cn_server cn_server_t;

/* Decide again for s's auto datasets and apply what changed: the
 * blocks of a dataset whose choice flips move to the other policy in
 * both tiers; the change is logged with event (what triggered it).
 * Event thread. */
void cn_server_autopolicy(cn_server_t *s, const char *event);

/* Count, once per dataset and layout, each auto dataset whose size is not
 * known, as walk slots allow (at start, and when a walk ends).  Event
 * thread. */
void cn_server_autopolicy_walks(cn_server_t *s);

#endif
