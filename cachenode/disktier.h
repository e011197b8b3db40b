/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NVMe tier: blocks in files under disk_path, bounded by disk_capacity
 * and a free-space floor, indexed in memory, read and written through the
 * io_uring engine (diskio.h), and found again after a restart.
 *
 * On disk, disk_path/sluice-v2/ holds one file per block,
 * XX/<key>-<sig>-<len>: XX the key's first byte in hex (256 fan-out
 * directories), <key> the 32-hex block key, <sig> the dataset's layout
 * (8 hex), <len> the data length (hex).  (sluice-v1/ held blocks under
 * keys without the layout, which nothing asks for any more: a node that
 * finds one removes it at start.)  Each file is a 4 KiB
 * header (magic, format version, key, length, xxh3-64 of the data, the
 * signature, and an xxh3-64 of the header itself) and then the data.
 * tmp/ holds writes in progress; `lock` is flock()ed by the node that owns
 * the tier.  The index is rebuilt at start from the file names alone.
 *
 * The tier is inclusive of the RAM tier: a block fetched from the backend
 * is written to disk at once (after it was served), so a RAM eviction
 * needs no I/O and a restart, even after kill -9, finds every block whose
 * write had finished.  See disktier.c for why, and for the policies.
 *
 * Threads: every function is for the event thread (or one thread in
 * tests).  Metrics are atomic.  Blocks passed in are reference-counted
 * (ramtier.h); the tier takes references of its own where it keeps one.
 */
#ifndef CN_DISKTIER_H
#define CN_DISKTIER_H

#include <stddef.h>
#include <stdint.h>

#include "cachenode/metrics.h"
#include "cachenode/ramtier.h"
#include "common/blockkey.h"
#include "common/config.h"

#define CN_DISK_HEADER 4096 /* bytes before a block's data in its file */

typedef struct cn_disktier cn_disktier_t;

typedef struct cn_disktier_conf {
	const char *path;      /* disk_path; borrowed during the call */
	uint64_t capacity;     /* block files, headers included, at most */
	uint64_t min_free;     /* free-space floor in bytes, unless */
	uint32_t min_free_pct; /* > 0: the floor in % of the filesystem */
	unsigned qd;	       /* I/O operations in flight; 0: 64 */
	int buffered;	       /* never use O_DIRECT */
} cn_disktier_conf_t;

/* A dataset whose blocks the tier keeps: its disk signature and policy. */
typedef struct cn_disk_dataset {
	uint32_t sig;
	const cn_policy_ops_t *policy; /* borrowed while configured */
} cn_disk_dataset_t;

/* What cn_disktier_lookup found. */
enum cn_disk_found {
	CN_DISK_MISS,  /* not on disk */
	CN_DISK_READY, /* on disk: cn_disktier_read it */
	CN_DISK_MEM,   /* being written: its bytes are still in memory */
};

/*
 * Open (creating what is missing) the tier in c->path, take its lock,
 * remove unfinished writes, start the I/O thread, and rebuild the index by
 * reading the names in the 256 directories.  Blocks of datasets not in
 * ds[0..n_ds) are deleted (in the background), and the tier is trimmed to
 * its capacity.  m: borrowed, outlives the tier; NULL for none.  Returns
 * NULL with *rc = -errno and one line in err (path not writable, in use by
 * another node, io_uring unavailable).  Caller frees with
 * cn_disktier_destroy.
 */
cn_disktier_t *cn_disktier_new(const cn_disktier_conf_t *c,
			       const cn_disk_dataset_t *ds, size_t n_ds,
			       cn_metrics_t *m, int *rc, char *err,
			       size_t errlen);

/*
 * Stop the I/O thread: writes and reads in flight finish, queued ones are
 * cancelled; read callbacks still fire (with -ESHUTDOWN when cancelled).
 * Drops every block reference the tier holds.  Accepts NULL; clears *dp.
 */
void cn_disktier_destroy(cn_disktier_t **dp);

/* Wait (blocking, for shutdown and tests) up to timeout_ms until every
 * queued operation (writes above all) has finished and been reaped.  0,
 * or -ETIMEDOUT. */
int cn_disktier_flush(cn_disktier_t *dt, unsigned timeout_ms);

/* Readable when finished I/O waits for cn_disktier_reap.  Borrowed. */
int cn_disktier_fd(const cn_disktier_t *dt);
/* Finish what the I/O thread completed; read callbacks run from here. */
void cn_disktier_reap(cn_disktier_t *dt);

/*
 * Apply a reloaded configuration: capacity and floor (a shrink evicts),
 * the datasets (blocks of datasets no longer in ds are deleted; a policy
 * change moves blocks between policies).  Clears a write-error stop, so
 * an operator can retry the disk with SIGHUP.  c->path and c->qd are not
 * changed.
 */
void cn_disktier_configure(cn_disktier_t *dt, const cn_disktier_conf_t *c,
			   const cn_disk_dataset_t *ds, size_t n_ds);

/* The datasets' policies changed (policy = auto chose again), nothing
 * else: their blocks move to their dataset's policy now, in the order
 * their new policy keeps; nothing is written, deleted or counted again
 * (blocks of datasets not in ds[0..n_ds) stay, for the reload's
 * cn_disktier_configure to judge). */
void cn_disktier_set_policies(cn_disktier_t *dt, const cn_disk_dataset_t *ds,
			      size_t n_ds);

/* Hold the files of dataset sig to limit bytes: a block that would go
 * past it is not admitted, and files beyond it now are deleted (any of
 * them).  As cn_ramtier_set_quota, for policy = auto's pinned datasets;
 * UINT64_MAX: no limit. */
void cn_disktier_set_quota(cn_disktier_t *dt, uint32_t sig, uint64_t limit);

/*
 * Look key up (a hit for its policy when found).  CN_DISK_READY: *len is
 * its data length.  CN_DISK_MEM: *mem is a new reference to the block
 * being written (caller unrefs).  Does not count hits or misses: the
 * caller knows whether a request was answered.
 */
int cn_disktier_lookup(cn_disktier_t *dt, sl_blockkey_t key, size_t *len,
		       cn_block_t **mem);

/*
 * Read key's block (CN_DISK_READY) into b, whose length must be the
 * block's.  b is borrowed until done(arg, rc) is called from
 * cn_disktier_reap (or cn_disktier_destroy): rc 0 with b filled and
 * checked; -EBADMSG when the file failed its checksum (counted in
 * corrupt_blocks, dropped); -ENOENT, -EIO...: the block was dropped;
 * -ESHUTDOWN: the tier stopped.  Returns 0, or -ENOENT (not READY; done
 * is not called).
 */
int cn_disktier_read(cn_disktier_t *dt, sl_blockkey_t key, cn_block_t *b,
		     void (*done)(void *arg, int rc), void *arg);

/*
 * Offer a block fresh from the backend (b borrowed; the tier takes its
 * own reference while it writes) for dataset sig under policy.  Returns 1
 * when a write was queued, 0 when the block is already on disk or was not
 * admitted (policy full, disk full, write backlog, write errors).  When
 * the block's old file is still being deleted (dropped as corrupt, say),
 * the tier keeps a reference and writes it once the name is free.
 */
int cn_disktier_admit(cn_disktier_t *dt, sl_blockkey_t key, cn_block_t *b,
		      uint32_t sig, const cn_policy_ops_t *policy);

/*
 * The RAM tier evicted b: if it is on disk it becomes recent there; if
 * not, it is admitted as above.  Counts a demotion when it stays on disk.
 * Returns 1 when it does.
 */
int cn_disktier_demote(cn_disktier_t *dt, sl_blockkey_t key, cn_block_t *b,
		       uint32_t sig, const cn_policy_ops_t *policy);

/* Forget key and delete its file (a length that cannot be right). */
void cn_disktier_drop(cn_disktier_t *dt, sl_blockkey_t key);

/* What the tier holds and how it started, for tests and logs. */
typedef struct cn_disktier_info {
	size_t blocks;	       /* indexed: being written or on disk */
	uint64_t used_bytes;   /* of their files */
	size_t pending_writes; /* queued or in flight */
	int direct;	       /* block files use O_DIRECT */
	uint64_t rebuild_ns;   /* the start-up index rebuild */
	size_t rebuild_files;  /* names it read */
} cn_disktier_info_t;

void cn_disktier_info(const cn_disktier_t *dt, cn_disktier_info_t *out);

/* fn(arg, the dataset's disk signature, data length) for every block the
 * tier counts (on disk or being written): the per-dataset gauges.  Event
 * thread. */
void cn_disktier_foreach(cn_disktier_t *dt,
			 void (*fn)(void *arg, uint32_t sig, size_t len),
			 void *arg);

/* The path of key's file below the tier's directory ("ab/..."), for
 * tests and tools: 0, or -ENAMETOOLONG when cap is too small. */
int cn_disktier_block_path(sl_blockkey_t key, uint32_t sig, size_t len,
			   char *out, size_t cap);

#endif
