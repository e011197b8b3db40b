/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The glue between the RAM tier and the NVMe tier, for the fetch engine:
 * where a block that RAM missed is read from (the disk, its bytes still
 * in memory while its write is queued, or the backend), what happens when
 * the disk fails to deliver it (the same fill goes to the backend), and
 * what a finished fill leaves behind (offered to RAM: a promotion when it
 * came from disk; written to disk when it came from the backend); and a
 * RAM eviction demotes the block to the disk.  Without a disk tier only
 * the RAM part remains.  See disktier.c for why the tiers are inclusive.
 *
 * A cn_fill_t is one block being filled for a flight; the fetch engine
 * embeds it in its READ fetch, gives it a buffer of fill->want bytes from
 * the RAM tier and reads it from fill->src.
 *
 * Threads: the event thread only (the tiers' owner).  Metrics are atomic.
 */
#ifndef CN_TIERING_H
#define CN_TIERING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cachenode/backend.h"
#include "cachenode/disktier.h"
#include "cachenode/metrics.h"
#include "cachenode/ramtier.h"
#include "common/blockkey.h"

typedef struct cn_tiering cn_tiering_t;

/* Where a fill's bytes come from. */
enum cn_src {
	CN_SRC_BACKEND, /* a worker reads the backend */
	CN_SRC_DISK,	/* the disk tier's I/O thread reads the block file */
	CN_SRC_MEM,  /* lookup only: being written, the bytes are in memory */
	CN_SRC_PEER, /* another node's cache (fetch.c asks it) */
};

typedef struct cn_fill cn_fill_t;

struct cn_fill {
	sl_blockkey_t key;
	int src;	 /* CN_SRC_BACKEND or CN_SRC_DISK */
	size_t want;	 /* bytes of the buffer for src */
	size_t bwant;	 /* bytes the backend is asked for */
	cn_block_t *blk; /* the buffer, one reference; NULL until given */
	/* A disk read ended (cn_tiering_read); set by the caller. */
	void (*done)(cn_fill_t *f, int rc);
};

/*
 * Glue ram and disk (both borrowed, outliving the result; disk NULL for
 * none), counting in m (borrowed).  With a disk, the RAM tier's eviction
 * hook is taken.  Caller frees with cn_tiering_destroy, before either tier.
 */
cn_tiering_t *cn_tiering_new(cn_ramtier_t *ram, cn_disktier_t *disk,
			     cn_metrics_t *m);
/* Gives the eviction hook back.  Accepts NULL; clears *tp. */
void cn_tiering_destroy(cn_tiering_t **tp);

/* The datasets whose evicted blocks are demoted (ds[0..n) borrowed during
 * the call; their ids and disk signatures are copied).  Blocks of other
 * datasets (removed on reload) leave RAM without a demotion. */
void cn_tiering_set_datasets(cn_tiering_t *t, cn_dataset_t *const *ds,
			     size_t n);

/*
 * RAM missed f->key (set by the caller), whose block is want bytes long
 * at most, exactly want when exact (the file's size is known): decide
 * where f is filled from.  CN_SRC_DISK: f->want is the length on disk;
 * CN_SRC_BACKEND: f->want is want; f->bwant is want either way.
 * CN_SRC_MEM: *mem is a new reference to the block's bytes (caller
 * unrefs); nothing to fill.  A block on disk of an impossible length is
 * dropped there and the backend asked instead.  Returns f->src or
 * CN_SRC_MEM.
 */
int cn_tiering_lookup(cn_tiering_t *t, cn_fill_t *f, size_t want, int exact,
		      cn_block_t **mem);

/*
 * Read f (CN_SRC_DISK, f->blk of f->want bytes) from the disk; f is
 * borrowed until f->done(f, rc) runs, from cn_disktier_reap (or while the
 * disk tier is destroyed): rc 0, f->blk holds the block; -EAGAIN, the disk
 * did not deliver (a checksum, a vanished file, EIO: the block was dropped
 * there) and f was turned into a backend fill (its buffer dropped,
 * f->want = f->bwant); -ESHUTDOWN, the disk tier stopped.  Returns 0, or
 * -EAGAIN with f already turned (the block left the disk since the
 * lookup) and done not called.
 */
int cn_tiering_read(cn_tiering_t *t, cn_fill_t *f);

/*
 * f was filled: rc is the result (bytes in f->blk, or -errno).  Before its
 * waiters are answered, cn_tiering_keep offers a filled block to RAM (a
 * promotion when it came from disk), so that a reply seen means a block
 * cached.  After, cn_tiering_done counts the disk's hit or miss for each
 * of the n_reads READs among them and writes a block fresh from the
 * backend or a peer (not empty) to the disk for ds (borrowed), unless a
 * reload retired ds.  f->blk stays the caller's.
 */
void cn_tiering_keep(cn_tiering_t *t, const cn_fill_t *f, ssize_t rc);
void cn_tiering_done(cn_tiering_t *t, const cn_fill_t *f, ssize_t rc,
		     size_t n_reads, const cn_dataset_t *ds);

#endif
