/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the two halves of the NVMe tier share: disktier.c (the index, the
 * policies, space, the operations and their completions: the engine the
 * event thread drives) and diskformat.c (the files: names, headers and
 * checksums, and the start-up that finds them again).  Everything here is
 * for the event thread, as disktier.h says, except the disk-thread hooks.
 */
#ifndef CN_DISKTIER_I_H
#define CN_DISKTIER_I_H

#include <stddef.h>
#include <stdint.h>

#include "cachenode/diskio.h"
#include "cachenode/disktier.h"
#include "cachenode/policy.h"
#include "common/keymap.h"
#include "common/list.h"

#define HDR_SIZE CN_DISK_HEADER
#define ALIGN	 4096

enum { E_WRITING, E_READY, E_DYING };

/*
 * One block of the tier.  In the index from the moment its write is
 * queued until its file is gone: a key is never written while an entry
 * for it exists, so a write never races an unlink of the same name.
 */
typedef struct dentry {
	sl_knode_t node;   /* dt->index */
	sl_list_t plink;   /* in its policy while counted */
	cn_block_t *blk;   /* E_WRITING: the bytes being written (a ref) */
	cn_block_t *again; /* going: write these bytes once gone (a ref) */
	uint32_t sig;	   /* the dataset's disk signature */
	uint32_t len;	   /* data bytes */
	uint8_t state;	   /* E_* */
	uint8_t pslot;	   /* its policy: dt->policies.p[pslot] */
	uint8_t doomed;	   /* evicted while E_WRITING: unlink once written */
	uint8_t counted;   /* in live_bytes and n_live */
	uint32_t refs;	   /* the index's, plus one per operation */
} dentry_t;

/* One I/O operation of the tier, wrapping the engine's. */
typedef struct dop {
	uint8_t hdr[HDR_SIZE]; /* first: 4 KiB-aligned with the struct */
	cn_dio_op_t io;
	cn_disktier_t *dt;
	dentry_t *e;	 /* a reference */
	cn_block_t *blk; /* WRITE: a reference; READ: the caller's */
	uint8_t *bounce; /* aligned copy of the data, or NULL */
	size_t len;	 /* data bytes */
	size_t padded;	 /* data bytes on disk */
	sl_blockkey_t key;
	uint32_t sig;
	void (*done)(void *arg, int rc);
	void *arg;
	int self_test; /* self_test()'s: no entry */
	struct dop *next_free;
} dop_t;

struct cn_disktier {
	char *root_path; /* disk_path/sluice-v2 */
	int root_fd;
	int lock_fd;
	int direct;
	cn_diskio_t *io;
	cn_metrics_t *m;
	cn_metrics_t own_metrics;
	uint64_t capacity;
	uint64_t min_free;
	uint32_t min_free_pct;
	cn_disk_dataset_t *ds;
	size_t n_ds;

	sl_keymap_t index;	    /* every dentry */
	cn_policy_slots_t policies; /* the counted entries, each in one */
	uint64_t policy_bytes[CN_POLICY_MAX]; /* their files, by slot */
	uint64_t live_bytes;		      /* counted entries' files */
	/* Byte limits of some datasets' counted files (by signature:
	 * cn_disktier_set_quota). */
	struct cn_dt_quota {
		uint32_t sig;
		uint64_t limit, used;
	} * quotas;
	size_t n_quotas;
	uint64_t used_bytes;	/* every entry's file (dying too) */
	size_t n_live;		/* counted entries */
	size_t busy;		/* operations submitted, not reaped */
	size_t pending_writes;	/* queued or in flight */
	uint64_t pending_bytes; /* their files */
	uint64_t max_charge;	/* the largest file seen */
	uint64_t space_gen;	/* the free-space reading last used */
	uint64_t written_since; /* bytes written since that reading */
	int full;		/* not admitting: below the floor */
	uint64_t enospc_avail;	/* full after ENOSPC: the space then */
	int failed;		/* not admitting: a write error */
	int stopping;		/* in cn_disktier_destroy */

	dop_t *free_ops;
	size_t n_free_ops;
	uint64_t rebuild_ns;
	size_t rebuild_files;
};

static inline uint64_t cn_dt_round_up(uint64_t n, uint64_t a)
{
	return (n + a - 1) / a * a;
}

/* The bytes a block of len takes on disk, as the capacity counts them. */
static inline uint64_t cn_dt_charge(uint64_t len)
{
	return HDR_SIZE + cn_dt_round_up(len, ALIGN);
}

/* ---- diskformat.c: on the disk thread, around each I/O ------------------- */

/* Before a write: checksum the data, fill the header, copy the data into
 * the bounce buffer when it needs one. */
void cn_dt_write_prep(cn_dio_op_t *io);
/* After a read: the header must describe this block and the data must
 * match its checksum; only then are the bytes the block's (else res is
 * -EBADMSG). */
void cn_dt_read_post(cn_dio_op_t *io);

/* ---- disktier.c ------------------------------------------------------------
 */

/* An operation for dt, zeroed but for its header buffer; back with
 * cn_dt_op_put (or through its completion). */
dop_t *cn_dt_op_get(cn_disktier_t *dt);
void cn_dt_op_put(cn_disktier_t *dt, dop_t *op);
/* Hand op to the engine; its completion comes back through reap. */
void cn_dt_submit(cn_disktier_t *dt, dop_t *op);
/* The entry of key, or NULL. */
dentry_t *cn_dt_find(cn_disktier_t *dt, sl_blockkey_t key);
/* Index a block of len bytes for dataset sig under policy, in state. */
dentry_t *cn_dt_entry_new(cn_disktier_t *dt, sl_blockkey_t key, uint32_t sig,
			  uint32_t len, const cn_policy_ops_t *policy,
			  int state);
/* The configured dataset with disk signature sig, or NULL. */
const cn_disk_dataset_t *cn_dt_dataset_of(const cn_disktier_t *dt,
					  uint32_t sig);
void cn_dt_set_datasets(cn_disktier_t *dt, const cn_disk_dataset_t *ds,
			size_t n);
void cn_dt_apply_limits(cn_disktier_t *dt, const cn_disktier_conf_t *c);
/* Evict until the blocks fit the capacity. */
void cn_dt_trim(cn_disktier_t *dt);
/* Publish the tier's state in its metrics. */
void cn_dt_gauges(cn_disktier_t *dt);

#endif
