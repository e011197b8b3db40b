/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `policy = auto` (autopolicy.h): the decision, the record, the hook.
 *
 * What a node compares.  The bytes of a dataset it keeps are its owned
 * share: exactly what the last full walk counted on the blocks this node
 * owns (a count or a load walks every file and asks the ring for each
 * block's owner) while the ring is still the one that walk saw; after a
 * ring change, until the next walk, the dataset's size times this node's
 * share of the ring (sl_ring_share), which is what the walk would count
 * give or take the placement's spread.  Both times the dataset's replicas
 * (each block is kept on that many nodes).  The capacity it can use is
 * the RAM tier's block budget or, with a disk, the larger of that and
 * disk_capacity: the tiers are inclusive (disktier.c), so the disk's size
 * is what the node can keep.
 *
 * Several auto datasets on one node share that capacity smallest first:
 * sorted by owned bytes, a dataset is lru while it and every smaller one
 * fit together.  So a small dataset beside a big one stays lru (all of it
 * fits, and it is the one a cache helps most), and the big one is pinned
 * over what is left.  Datasets with a fixed policy are not counted: their
 * sizes are not the node's to plan with, and an lru dataset gives up its
 * blocks to nobody but lru misses anyway.  A pinned auto dataset keeps
 * at most that share in RAM (a quota of the RAM tier): pin never evicts,
 * so without it the big dataset, read first, would take the room the
 * small one fits in, and the small one's lru misses could never win it
 * back; the disk tier holds it to the same share of its capacity.
 *
 * Unknown size (no full walk yet) means lru: an lru dataset that turns
 * out too big costs hit ratio until the walk, but a pinned one that fits
 * would keep whatever it read first and never make room again for a
 * working set that moves; and the first walk is never far off: the node
 * counts each auto dataset of unknown size itself (a LOAD with parallel 0
 * that nobody asked for, load.c's walker: metadata only, two at a time at
 * most so that clients keep their walks, cancelled when the node stops),
 * once per dataset and layout.
 *
 * Hysteresis: pin above 100% of the capacity, back to lru only below
 * CN_AUTO_BACK_PERCENT, so that estimates near the boundary (a ring
 * change's share, a few files added) do not flip a dataset back and forth;
 * each flip re-tags every block the dataset holds.
 */
#include "cachenode/autopolicy.h"

#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachenode/server_i.h"
#include "common/log.h"
#include "common/util.h"

/* ---- The decision -------------------------------------------------------- */

void cn_autopolicy_choose(const cn_auto_in_t *in, size_t n, uint64_t capacity,
			  cn_auto_out_t *out)
{
	size_t *order = sl_xcalloc(n + 1, sizeof(*order));
	uint64_t before = 0;

	/* Smallest first; equal sizes in their given order (insertion sort:
	 * a node has a handful of datasets). */
	for (size_t i = 0; i < n; i++) {
		size_t j = i;

		while (j > 0 && in[order[j - 1]].owned > in[i].owned)
			j--;
		memmove(order + j + 1, order + j, (i - j) * sizeof(*order));
		order[j] = i;
	}
	for (size_t k = 0; k < n; k++) {
		const cn_auto_in_t *d = &in[order[k]];
		cn_auto_out_t *o = &out[order[k]];
		uint64_t need = before + d->owned;

		o->usable = capacity > before ? capacity - before : 0;
		if (!d->known) {
			o->pin = 0;
			o->why = CN_AUTO_UNKNOWN;
			continue;
		}
		before = need < before ? UINT64_MAX : need; /* saturate */
		if (before > capacity) {
			o->pin = 1;
			o->why = CN_AUTO_LARGER;
		} else if (d->pinned &&
			   before >= capacity / 100 * CN_AUTO_BACK_PERCENT) {
			o->pin = 1;
			o->why = CN_AUTO_HOLDS;
		} else {
			o->pin = 0;
			o->why = CN_AUTO_FITS;
		}
	}
	free(order);
}

const char *cn_autopolicy_why(int why)
{
	switch (why) {
	case CN_AUTO_FITS:
		return "fits";
	case CN_AUTO_LARGER:
		return "larger";
	case CN_AUTO_HOLDS:
		return "holds";
	default:
		return "unknown";
	}
}

/* ---- The record ---------------------------------------------------------- */

typedef struct aprow {
	char name[SL_NAME_MAX + 1];
	uint32_t layout;
	int is_auto; /* policy = auto */
	const char *policy;
	/* The last full walk's. */
	int known;
	uint64_t bytes, walk_owned;
	uint32_t walk_ring; /* 0: walk_owned is not exact */
	int counting;	    /* the node's own count was started */
	/* The last decision's (auto only). */
	int why;
	uint64_t owned, usable;
} aprow_t;

struct cn_autopol {
	pthread_mutex_t lock;
	aprow_t *rows; /* protected by lock; written by the event thread */
	size_t n;      /* protected by lock */
};

cn_autopol_t *cn_autopol_new(void)
{
	cn_autopol_t *a = sl_xcalloc(1, sizeof(*a));

	pthread_mutex_init(&a->lock, NULL);
	return a;
}

void cn_autopol_destroy(cn_autopol_t **ap)
{
	cn_autopol_t *a = ap ? *ap : NULL;

	if (!a)
		return;
	pthread_mutex_destroy(&a->lock);
	free(a->rows);
	free(a);
	*ap = NULL;
}

/* The row of name at layout, or NULL.  Event thread, or under the lock. */
static aprow_t *find_row(aprow_t *rows, size_t n, const char *name,
			 uint32_t layout)
{
	for (size_t i = 0; i < n; i++)
		if (rows[i].layout == layout && strcmp(rows[i].name, name) == 0)
			return &rows[i];
	return NULL;
}

void cn_autopol_walked(cn_autopol_t *a, const char *name, uint32_t layout,
		       uint64_t bytes, uint64_t owned, uint32_t ring)
{
	aprow_t *r;

	pthread_mutex_lock(&a->lock);
	r = find_row(a->rows, a->n, name, layout);
	if (r) {
		r->known = 1;
		r->bytes = bytes;
		r->walk_owned = owned;
		r->walk_ring = ring;
	}
	pthread_mutex_unlock(&a->lock);
}

/* family{dataset} = the uint64_t at offset off of each auto row (under
 * the lock). */
static void emit_bytes(const cn_autopol_t *a, cn_metrics_emit_fn *emit,
		       void *ctx, const char *family, const char *help,
		       size_t off)
{
	char name[SL_NAME_MAX + 96];
	uint64_t v;

	for (size_t i = 0; i < a->n; i++) {
		if (!a->rows[i].is_auto)
			continue;
		snprintf(name, sizeof(name), "%s{dataset=\"%s\"}", family,
			 a->rows[i].name);
		memcpy(&v, (const char *)&a->rows[i] + off, sizeof(v));
		emit(ctx, family, help, name, v);
	}
}

void cn_autopol_emit(void *arg, cn_metrics_emit_fn *emit, void *ctx)
{
	static const char pol[] = "sluice_dataset_policy";
	static const char *const names[] = {"lru", "pin"};
	cn_autopol_t *a = arg;
	char name[SL_NAME_MAX + 96];

	pthread_mutex_lock(&a->lock);
	for (size_t i = 0; i < a->n; i++) {
		const aprow_t *r = &a->rows[i];

		for (size_t k = 0; k < SL_ARRAY_SIZE(names); k++) {
			snprintf(name, sizeof(name),
				 "%s{dataset=\"%s\",policy=\"%s\"}", pol,
				 r->name, names[k]);
			emit(ctx, pol,
			     "1 for the eviction policy the dataset is under "
			     "now (policy = auto: the node's choice).",
			     name, strcmp(r->policy, names[k]) == 0);
		}
	}
	for (size_t i = 0; i < a->n; i++) {
		if (!a->rows[i].is_auto)
			continue;
		snprintf(name, sizeof(name),
			 "sluice_dataset_auto{dataset=\"%s\",why=\"%s\"}",
			 a->rows[i].name, cn_autopolicy_why(a->rows[i].why));
		emit(ctx, "sluice_dataset_auto",
		     "policy = auto: why the node chose what it did (1).", name,
		     1);
	}
	emit_bytes(a, emit, ctx, "sluice_dataset_owned_bytes",
		   "policy = auto: bytes of the dataset this node keeps, as it "
		   "chose with.",
		   offsetof(aprow_t, owned));
	emit_bytes(a, emit, ctx, "sluice_dataset_usable_bytes",
		   "policy = auto: the capacity the smaller auto datasets "
		   "leave this one.",
		   offsetof(aprow_t, usable));
	pthread_mutex_unlock(&a->lock);
}

/* ---- The hook ------------------------------------------------------------ */

/* What s can keep of all its datasets' blocks; *ram: of that, the RAM
 * tier's. */
static uint64_t usable_capacity(const cn_server_t *s, uint64_t *ram)
{
	uint64_t blocks, slack, meta;

	cn_nodemap_budgets(s, &blocks, &slack, &meta);
	*ram = blocks;
	if (s->disk)
		blocks = SL_MAX(blocks, s->node->disk_capacity);
	return blocks;
}

/* usable scaled from cap to tier bytes. */
static uint64_t scaled(uint64_t usable, uint64_t tier, uint64_t cap)
{
	return cap ? (uint64_t)((double)usable * ((double)tier / (double)cap))
		   : 0;
}

/* A pinned auto dataset keeps at most its usable share in each tier, so
 * that pinning it does not take the room its smaller lru neighbours fit
 * in; lru needs no limit. */
static void set_quota(cn_server_t *s, const cn_dataset_t *d,
		      const cn_auto_out_t *o, uint64_t cap, uint64_t ram)
{
	cn_ramtier_set_quota(s->tier, d->id,
			     o->pin ? scaled(o->usable, ram, cap) : UINT64_MAX);
	if (s->disk)
		cn_disktier_set_quota(
			s->disk, d->layout,
			o->pin ? scaled(o->usable, s->node->disk_capacity, cap)
			       : UINT64_MAX);
}

/* This node's share of the ring's keys (0 when it is not a member). */
static double self_share(const cn_server_t *s)
{
	for (size_t i = 0; s->map && i < s->map->n; i++)
		if (strcmp(s->map->m[i].name, s->node_name) == 0)
			return sl_ring_share(s->map->ring, i);
	return 0.0;
}

/* The bytes of r's dataset d this node keeps: r's walk's count while the
 * ring is the one it counted under, else the estimate. */
static uint64_t owned_of(const cn_server_t *s, const aprow_t *r,
			 const cn_dataset_t *d, double share)
{
	uint64_t copies = SL_MIN((uint64_t)d->replicas,
				 (uint64_t)(s->map ? s->map->n : 1));
	uint64_t own = r->walk_ring && s->map && r->walk_ring == s->map->version
			       ? r->walk_owned
			       : (uint64_t)((double)r->bytes * share);

	return own * (copies ? copies : 1);
}

/* d flips to policy p: its blocks move in RAM (the disk is told after,
 * all datasets at once). */
static void flip(cn_server_t *s, cn_dataset_t *d, const cn_policy_ops_t *p,
		 const aprow_t *r, const char *event)
{
	size_t moved;

	d->policy = p;
	moved = cn_ramtier_retag(s->tier, d->id, p);
	sl_notice("dataset %s: policy auto -> %s (%s: owns %.1f MiB of %.1f "
		  "MiB usable on %s; after %s): %zu blocks in RAM moved",
		  d->name, p->name, cn_autopolicy_why(r->why),
		  (double)r->owned / 1048576.0, (double)r->usable / 1048576.0,
		  s->node_name, event, moved);
}

void cn_server_autopolicy(cn_server_t *s, const char *event)
{
	cn_autopol_t *a = s->autopol;
	aprow_t *rows = sl_xcalloc(s->n_ds + 1, sizeof(*rows)), *old;
	cn_auto_in_t *in = sl_xcalloc(s->n_ds + 1, sizeof(*in));
	cn_auto_out_t *out = sl_xcalloc(s->n_ds + 1, sizeof(*out));
	size_t *idx = sl_xcalloc(s->n_ds + 1, sizeof(*idx)), n = 0;
	double share = self_share(s);
	uint64_t cap, ram;
	int flipped = 0;

	/* Only this thread writes the rows: reading them needs no lock. */
	for (size_t i = 0; i < s->n_ds; i++) {
		const cn_dataset_t *d = s->ds[i];
		aprow_t *r = &rows[i];
		const aprow_t *o = find_row(a->rows, a->n, d->name, d->layout);

		if (o)
			*r = *o;
		sl_strlcpy(r->name, d->name, sizeof(r->name));
		r->layout = d->layout;
		r->is_auto = d->auto_policy;
		if (!d->auto_policy)
			continue;
		in[n] = (cn_auto_in_t){
			.known = r->known,
			.owned = r->known ? owned_of(s, r, d, share) : 0,
			.pinned = d->policy == &cn_policy_pin};
		idx[n++] = i;
	}
	cap = usable_capacity(s, &ram);
	cn_autopolicy_choose(in, n, cap, out);
	for (size_t k = 0; k < n; k++) {
		cn_dataset_t *d = s->ds[idx[k]];
		aprow_t *r = &rows[idx[k]];
		const cn_policy_ops_t *p =
			out[k].pin ? &cn_policy_pin : &cn_policy_lru;

		r->why = out[k].why;
		r->owned = in[k].owned;
		r->usable = out[k].usable;
		if (d->policy != p) {
			flip(s, d, p, r, event);
			flipped = 1;
		}
		set_quota(s, d, &out[k], cap, ram);
	}
	for (size_t i = 0; i < s->n_ds; i++)
		rows[i].policy = s->ds[i]->policy->name;
	if (flipped)
		cn_nodemap_disk_policies(s);
	pthread_mutex_lock(&a->lock);
	old = a->rows;
	a->rows = rows;
	a->n = s->n_ds;
	pthread_mutex_unlock(&a->lock);
	free(old);
	free(in);
	free(out);
	free(idx);
}

void cn_server_autopolicy_walks(cn_server_t *s)
{
	cn_autopol_t *a = s->autopol;

	if (!a || s->stopping)
		return;
	for (size_t i = 0; i < s->n_ds; i++) {
		cn_dataset_t *d = s->ds[i];
		aprow_t *r = find_row(a->rows, a->n, d->name, d->layout);

		if (!d->auto_policy || !r || r->known || r->counting)
			continue;
		if (cn_loads_count_quietly(s, d) < 0)
			return;
		r->counting = 1; /* the event thread's: no lock */
	}
}
