/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client's read-ahead planner: which blocks to fetch ahead of each
 * sequential reader, so that many readers share one budget of block-cache
 * bytes fairly instead of each taking a fixed depth.  It only plans; the
 * caller fetches (read.c) and the block cache enforces the byte limit.  It
 * knows nothing of FUSE or the network, so it is tested alone.
 *
 * A stream is one reader of one file: (ino, owner), where owner is the file
 * handle when opens go through sluice-fuse, else the reading thread's id
 * (the kernel then opens files by itself; see read.c, fc_fs_open).
 * A fixed number of stream slots is kept; the least recently read is
 * reused, so a forgotten stream costs nothing but its slot.
 *
 * It also tells the two kinds of reader apart: a stream is random after
 * FC_RA_JUMPS jumps in a row, and sequential again after
 * FC_RA_SEQ_AGAIN small steps in a row (readahead.c says why those
 * counts), so that random readers
 * (numpy.memmap, LMDB, HDF5) fetch only pages and sequential ones whole
 * blocks with read-ahead.
 *
 * Thread safety: every function may be called from any thread; one mutex
 * (ra->lock) guards the slots.
 */
#ifndef FC_READAHEAD_H
#define FC_READAHEAD_H

#include <stddef.h>
#include <stdint.h>

typedef struct fc_ra fc_ra_t;

#define FC_RA_JUMPS	2 /* jumps in a row that make a stream random */
#define FC_RA_SEQ_AGAIN 3 /* small steps in a row that end random */
#define FC_RA_STEP	(2u << 20) /* bytes: how far a small step goes */

typedef struct fc_ra_conf {
	uint32_t max_depth; /* blocks fetched ahead of one stream at most;
			     * 0 turns read-ahead and hints off */
	uint64_t budget;    /* bytes of fetched-ahead blocks all streams
			     * share (the block cache's ahead limit) */
	uint32_t slots;	    /* streams tracked at once (>= 1) */
	uint64_t idle_ms;   /* a stream unread this long is not counted */
} fc_ra_conf_t;

/* What to do after one read.  Windows are half-open block ranges, empty
 * when from == end. */
typedef struct fc_ra_plan {
	int seq;	     /* the read continues a sequential stream */
	int random;	     /* the stream reads at random: fetch pages of
			      * what each read wants, nothing ahead */
	uint32_t depth;	     /* this stream's share, in blocks */
	uint64_t fetch_from; /* READ these into the block cache, as ahead */
	uint64_t fetch_end;
	uint64_t hint_from; /* send the owners a PREFETCH hint for these */
	uint64_t hint_end;
} fc_ra_plan_t;

/* A planner with conf (copied).  Caller frees with fc_ra_destroy. */
fc_ra_t *fc_ra_new(const fc_ra_conf_t *conf);
void fc_ra_destroy(fc_ra_t **rap);

/*
 * Stream (ino, owner) read blocks [first, last] of a file of nblocks blocks
 * of bs bytes at now_ms (sl_now_ms()).  Fills *out (borrowed) with what to
 * fetch (at most max_depth blocks) and hint (at most 2 x max(max_depth,
 * last - first + 1) blocks); nothing when the read is not sequential,
 * nor while the stream is random (out->random).
 * Call fc_ra_issued afterwards with how far the caller got.
 */
void fc_ra_read(fc_ra_t *ra, uint64_t ino, uint64_t owner, uint64_t first,
		uint64_t last, uint64_t nblocks, uint32_t bs, uint64_t now_ms,
		fc_ra_plan_t *out);

/*
 * The same for a read of bytes [off, end) (end > off): the random
 * detector measures a random stream's steps in bytes (readahead.c says
 * why).  fc_ra_read is this with the blocks' bytes.
 */
void fc_ra_read_at(fc_ra_t *ra, uint64_t ino, uint64_t owner, uint64_t off,
		   uint64_t end, uint64_t nblocks, uint32_t bs, uint64_t now_ms,
		   fc_ra_plan_t *out);

/*
 * Blocks before fetch_next have been fetched (or found in the cache) and
 * hints sent for those before hint_next: later plans of the stream start
 * there.  A fetch window cut short (the budget was spent) is thus asked
 * again on the stream's next read.  Unknown streams are ignored.
 */
void fc_ra_issued(fc_ra_t *ra, uint64_t ino, uint64_t owner,
		  uint64_t fetch_next, uint64_t hint_next);

/* Streams counted as active at now_ms, for tests and the debug log. */
uint32_t fc_ra_active(fc_ra_t *ra, uint64_t now_ms);

#endif
