/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RAM <-> NVMe glue (see tiering.h).
 *
 * The order of things for one block: RAM misses; the disk is asked
 * (cn_tiering_lookup, which also makes the block recent there); a block
 * on disk is read into a buffer from the RAM tier, one still being
 * written is served from its bytes in memory, anything else goes to the
 * backend.  A disk read that fails turns into a backend fetch of the same
 * fill, so its waiters get the right bytes anyway; the backend is then
 * asked for bwant bytes, not the length the disk claimed, which is no
 * longer to be trusted.  Once the waiters have their bytes the block is
 * offered to RAM, whose policy decides (a disk hit it admits is a
 * promotion), and a block fresh from the backend goes to the disk (it is
 * inclusive of RAM).  When RAM evicts a block to make room, the disk
 * makes it recent or, if it never got there, writes it: a demotion.
 */
#include "cachenode/tiering.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/util.h"

/* What a demotion needs of a dataset: its blocks' tag and disk name. */
typedef struct tier_ds {
	uint32_t id;
	uint32_t sig;
} tier_ds_t;

struct cn_tiering {
	cn_ramtier_t *ram;   /* borrowed */
	cn_disktier_t *disk; /* borrowed; NULL: RAM only */
	cn_metrics_t *m;     /* borrowed */
	tier_ds_t *ds;
	size_t n_ds;
};

/* The RAM tier evicts b to make room: demote it to the disk. */
static void on_ram_evict(void *arg, sl_blockkey_t key, cn_block_t *b)
{
	cn_tiering_t *t = arg;

	for (size_t i = 0; i < t->n_ds; i++) {
		if (t->ds[i].id == cn_block_tag(b)) {
			cn_disktier_demote(t->disk, key, b, t->ds[i].sig,
					   cn_block_policy(b));
			return;
		}
	}
}

cn_tiering_t *cn_tiering_new(cn_ramtier_t *ram, cn_disktier_t *disk,
			     cn_metrics_t *m)
{
	cn_tiering_t *t = sl_xcalloc(1, sizeof(*t));

	t->ram = ram;
	t->disk = disk;
	t->m = m;
	if (disk)
		cn_ramtier_set_evict_hook(ram, on_ram_evict, t);
	return t;
}

void cn_tiering_destroy(cn_tiering_t **tp)
{
	cn_tiering_t *t = tp ? *tp : NULL;

	if (!t)
		return;
	if (t->disk)
		cn_ramtier_set_evict_hook(t->ram, NULL, NULL);
	free(t->ds);
	free(t);
	*tp = NULL;
}

void cn_tiering_set_datasets(cn_tiering_t *t, cn_dataset_t *const *ds, size_t n)
{
	free(t->ds);
	t->ds = sl_xcalloc(n ? n : 1, sizeof(*t->ds));
	for (size_t i = 0; i < n; i++)
		t->ds[i] = (tier_ds_t){ds[i]->id, ds[i]->layout};
	t->n_ds = n;
}

int cn_tiering_lookup(cn_tiering_t *t, cn_fill_t *f, size_t want, int exact,
		      cn_block_t **mem)
{
	size_t len = 0;
	int found;

	*mem = NULL;
	f->src = CN_SRC_BACKEND;
	f->want = want;
	f->bwant = want;
	if (!t->disk)
		return CN_SRC_BACKEND;
	found = cn_disktier_lookup(t->disk, f->key, &len, mem);
	if (found == CN_DISK_MISS)
		return CN_SRC_BACKEND;
	if (len > want || (exact && len != want)) {
		sl_log_ratelimited(SL_LOG_WARNING,
				   "disk tier: a block of %zu bytes where "
				   "%zu were expected: dropped",
				   len, want);
		if (*mem)
			cn_block_unref(*mem);
		*mem = NULL;
		cn_disktier_drop(t->disk, f->key);
		return CN_SRC_BACKEND;
	}
	if (found == CN_DISK_MEM)
		return CN_SRC_MEM;
	f->src = CN_SRC_DISK;
	f->want = len;
	return CN_SRC_DISK;
}

/* The disk will not deliver f: ask the backend instead. */
static void to_backend(cn_fill_t *f)
{
	cn_block_unref(f->blk);
	f->blk = NULL;
	f->src = CN_SRC_BACKEND;
	f->want = f->bwant;
}

static void disk_read_done(void *arg, int rc)
{
	cn_fill_t *f = arg;

	if (rc < 0 && rc != -ESHUTDOWN) {
		to_backend(f);
		rc = -EAGAIN;
	}
	f->done(f, rc);
}

int cn_tiering_read(cn_tiering_t *t, cn_fill_t *f)
{
	SL_ASSERT(f->src == CN_SRC_DISK && f->blk);
	if (cn_disktier_read(t->disk, f->key, f->blk, disk_read_done, f) < 0) {
		to_backend(f);
		return -EAGAIN;
	}
	return 0;
}

void cn_tiering_keep(cn_tiering_t *t, const cn_fill_t *f, ssize_t rc)
{
	if (rc >= 0 && cn_ramtier_insert(t->ram, f->key, f->blk) &&
	    f->src == CN_SRC_DISK)
		atomic_fetch_add(&t->m->promotions, 1);
}

void cn_tiering_done(cn_tiering_t *t, const cn_fill_t *f, ssize_t rc,
		     size_t n_reads, const cn_dataset_t *ds)
{
	if (!t->disk)
		return;
	/* Disk hits and misses count READs, as the RAM tier's do. */
	if (rc >= 0 && f->src == CN_SRC_DISK)
		atomic_fetch_add(&t->m->disk_hits, n_reads);
	else
		atomic_fetch_add(&t->m->disk_misses, n_reads);
	if (rc > 0 && (f->src == CN_SRC_BACKEND || f->src == CN_SRC_PEER) &&
	    !ds->retired)
		cn_disktier_admit(t->disk, f->key, f->blk, ds->layout,
				  ds->policy);
}
