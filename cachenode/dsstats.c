/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-dataset gauges (dsstats.h).  A recount walks both tiers' indexes
 * once, adding each block's bytes to its dataset (the RAM tier tags a
 * block with its dataset's id, the disk tier files it under its layout),
 * then swaps the sums in under the lock; the metrics thread only ever
 * reads a finished count.  The counters are read where the READ path
 * adds them, through each row's reference: the row keeps them alive
 * while the metrics thread may read them, even past the dataset.
 */
#include "cachenode/dsstats.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

typedef struct dsrow {
	char name[SL_NAME_MAX + 1];
	uint32_t id, layout;
	uint64_t ram, disk;
	uint64_t files, bytes; /* from the last full walk */
	int walked;
	cn_dsmetrics_t *counts; /* a reference */
} dsrow_t;

static void free_rows(dsrow_t *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		cn_dsmetrics_unref(&rows[i].counts);
	free(rows);
}

struct cn_dsstats {
	pthread_mutex_t lock;
	dsrow_t *rows; /* protected by lock */
	size_t n;      /* protected by lock */
};

cn_dsstats_t *cn_dsstats_new(void)
{
	cn_dsstats_t *d = sl_xcalloc(1, sizeof(*d));

	pthread_mutex_init(&d->lock, NULL);
	return d;
}

void cn_dsstats_destroy(cn_dsstats_t **dp)
{
	cn_dsstats_t *d = dp ? *dp : NULL;

	if (!d)
		return;
	pthread_mutex_destroy(&d->lock);
	free_rows(d->rows, d->n);
	free(d);
	*dp = NULL;
}

/* A recount in progress: the new rows, looked up by id or layout. */
struct count {
	dsrow_t *rows;
	size_t n;
};

static void add_ram(void *arg, uint32_t tag, size_t len)
{
	struct count *c = arg;

	for (size_t i = 0; i < c->n; i++)
		if (c->rows[i].id == tag) {
			c->rows[i].ram += len;
			return;
		}
}

static void add_disk(void *arg, uint32_t sig, size_t len)
{
	struct count *c = arg;

	for (size_t i = 0; i < c->n; i++)
		if (c->rows[i].layout == sig) {
			c->rows[i].disk += len;
			return;
		}
}

void cn_dsstats_recount(cn_dsstats_t *d, cn_ramtier_t *ram, cn_disktier_t *disk,
			cn_dataset_t *const *ds, size_t n)
{
	struct count c = {sl_xcalloc(n + 1, sizeof(dsrow_t)), n};
	dsrow_t *old;
	size_t n_old;

	for (size_t i = 0; i < n; i++) {
		sl_strlcpy(c.rows[i].name, ds[i]->name, sizeof(c.rows[i].name));
		c.rows[i].id = ds[i]->id;
		c.rows[i].layout = ds[i]->layout;
		c.rows[i].counts = cn_dsmetrics_ref(ds[i]->counts);
	}
	cn_ramtier_foreach(ram, add_ram, &c);
	if (disk)
		cn_disktier_foreach(disk, add_disk, &c);
	pthread_mutex_lock(&d->lock);
	/* What the walks said stays with the dataset's name. */
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < d->n; j++)
			if (strcmp(d->rows[j].name, c.rows[i].name) == 0 &&
			    d->rows[j].layout == c.rows[i].layout) {
				c.rows[i].files = d->rows[j].files;
				c.rows[i].bytes = d->rows[j].bytes;
				c.rows[i].walked = d->rows[j].walked;
			}
	old = d->rows;
	n_old = d->n;
	d->rows = c.rows;
	d->n = n;
	pthread_mutex_unlock(&d->lock);
	free_rows(old, n_old);
}

void cn_dsstats_walked(cn_dsstats_t *d, const char *name, uint64_t files,
		       uint64_t bytes)
{
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->rows[i].name, name) == 0) {
			d->rows[i].files = files;
			d->rows[i].bytes = bytes;
			d->rows[i].walked = 1;
		}
	pthread_mutex_unlock(&d->lock);
}

static uint64_t get(_Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

/* The counters, family by family (metrics.h wants them together). */
static void emit_counters_locked(cn_dsstats_t *d, cn_metrics_emit_fn *emit,
				 void *ctx)
{
	static const char served[] = "sluice_dataset_served_bytes_total";
	static const char *const tiers[] = {
		[PR_TIER_RAM] = "ram",
		[PR_TIER_DISK] = "disk",
		[PR_TIER_BACKEND] = "backend",
		[PR_TIER_PEER] = "peer",
	};
	static const struct {
		const char *family, *help;
		size_t off;
	} flat[] = {
		{"sluice_dataset_backend_read_bytes_total",
		 "Bytes the node read from the backend for the dataset: its "
		 "demand.",
		 offsetof(cn_dsmetrics_t, backend_read_bytes)},
		{"sluice_dataset_backend_refetched_bytes_total",
		 "Of them, blocks the node had fetched before and no longer "
		 "held: the dataset's working set that did not fit.",
		 offsetof(cn_dsmetrics_t, refetched_bytes)},
	};
	char name[SL_NAME_MAX + 96];

	for (size_t i = 0; i < d->n; i++)
		for (size_t t = 0; t < SL_ARRAY_SIZE(tiers); t++) {
			if (!tiers[t])
				continue;
			snprintf(name, sizeof(name),
				 "%s{dataset=\"%s\",tier=\"%s\"}", served,
				 d->rows[i].name, tiers[t]);
			emit(ctx, served,
			     "Bytes of READ and PEER_READ replies for the "
			     "dataset, by tier: they add up to "
			     "sluice_served_bytes_total.",
			     name, get(&d->rows[i].counts->served_bytes[t]));
		}
	for (size_t f = 0; f < SL_ARRAY_SIZE(flat); f++)
		for (size_t i = 0; i < d->n; i++) {
			snprintf(name, sizeof(name), "%s{dataset=\"%s\"}",
				 flat[f].family, d->rows[i].name);
			emit(ctx, flat[f].family, flat[f].help, name,
			     get((_Atomic uint64_t *)((char *)d->rows[i]
							      .counts +
						      flat[f].off)));
		}
}

void cn_dsstats_emit(void *arg, cn_metrics_emit_fn *emit, void *ctx)
{
	static const char cached[] = "sluice_dataset_cached_bytes";
	static const char help_c[] =
		"Bytes of the dataset's blocks this node holds, by tier.";
	cn_dsstats_t *d = arg;
	char name[SL_NAME_MAX + 96];

	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->n; i++) {
		snprintf(name, sizeof(name), "%s{dataset=\"%s\",tier=\"ram\"}",
			 cached, d->rows[i].name);
		emit(ctx, cached, help_c, name, d->rows[i].ram);
		snprintf(name, sizeof(name), "%s{dataset=\"%s\",tier=\"disk\"}",
			 cached, d->rows[i].name);
		emit(ctx, cached, help_c, name, d->rows[i].disk);
	}
	for (size_t i = 0; i < d->n; i++) {
		if (!d->rows[i].walked)
			continue;
		snprintf(name, sizeof(name),
			 "sluice_dataset_bytes{dataset=\"%s\"}",
			 d->rows[i].name);
		emit(ctx, "sluice_dataset_bytes",
		     "The dataset's size, as its last full listing found it.",
		     name, d->rows[i].bytes);
	}
	for (size_t i = 0; i < d->n; i++) {
		if (!d->rows[i].walked)
			continue;
		snprintf(name, sizeof(name),
			 "sluice_dataset_files{dataset=\"%s\"}",
			 d->rows[i].name);
		emit(ctx, "sluice_dataset_files",
		     "The dataset's files, as its last full listing found "
		     "them.",
		     name, d->rows[i].files);
	}
	emit_counters_locked(d, emit, ctx);
	pthread_mutex_unlock(&d->lock);
}
