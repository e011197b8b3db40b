/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The FUSE client's counters and gauges, and their Prometheus text.
 *
 * fc_metrics_t is a plain descriptor of atomics with no pointers, so it
 * lives in the memory the supervisor shares with its workers (shared.h):
 * workers count into it, the supervisor serves it ([client]
 * metrics_addr), and a worker that dies or is upgraded leaves its counts
 * behind for the next one -- a counter never goes back.  Any thread
 * updates and reads it without a lock (relaxed order: a scrape is a
 * snapshot of each value, not of all at one instant).  Its size is fixed
 * (sizeof(fc_metrics_t), under 4 KiB): the label sets are the tiers and
 * FUSE op kinds below, never a path or a dataset.
 *
 * Where the bytes of a read came from.  A FUSE read is cut into pieces,
 * one per block it touches; each piece is counted in exactly one tier of
 * enum fc_tier, and each of its bytes in exactly one: the tier that
 * brought the block to this client (the node's RAM, its disk, its
 * backend, another node's hand-off: the READ reply says, PROTOCOL.md
 * section 2) for bytes the application reads from that block the first
 * time, `client` for bytes it reads again from the client's block cache.
 * "The first time" is kept per block, one bit per 4 KiB page
 * (fc_metrics_piece), so a block streamed in many small reads is counted
 * in its tier, not in the client's.  Hence, per tier t, block_read_bytes[t]
 * summed over t is read_bytes exactly, and block_reads[t] summed is the pieces.
 */
#ifndef FC_METRICS_H
#define FC_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/promtext.h"

/* The tiers: FC_TIER_RAM .. FC_TIER_PEER are the wire's enum pr_tier. */
enum fc_tier {
	FC_TIER_CLIENT = 0, /* the client's block cache, read again */
	FC_TIER_RAM = 1,
	FC_TIER_DISK = 2,
	FC_TIER_BACKEND = 3,
	FC_TIER_PEER = 4,
	FC_TIERS
};

/* The FUSE operations timed, by kind (the refusals of writes are not). */
enum fc_mop {
	FC_MOP_LOOKUP,
	FC_MOP_FORGET,
	FC_MOP_GETATTR,
	FC_MOP_OPEN,
	FC_MOP_READ,
	FC_MOP_RELEASE,
	FC_MOP_OPENDIR,
	FC_MOP_READDIR,
	FC_MOP_READDIRPLUS,
	FC_MOP_RELEASEDIR,
	FC_MOP_STATFS,
	FC_MOP_GETXATTR,
	FC_MOP_LISTXATTR,
	FC_MOP_ACCESS,
	FC_MOPS
};

typedef struct fc_metrics {
	_Atomic uint64_t op_lat[FC_MOPS][SL_LAT_BUCKETS + 1];
	_Atomic uint64_t op_lat_sum_ns[FC_MOPS];
	_Atomic uint64_t read_bytes;  /* replied to the application's reads */
	_Atomic uint64_t read_errors; /* reads answered with an error */
	_Atomic uint64_t block_reads[FC_TIERS];	     /* pieces, by tier */
	_Atomic uint64_t block_read_bytes[FC_TIERS]; /* their bytes */
	_Atomic uint64_t readahead_issued;	     /* blocks fetched ahead */
	_Atomic uint64_t readahead_wasted; /* ... dropped before any read */
	_Atomic uint64_t failovers;	   /* requests sent on to a next node */
	_Atomic uint64_t nodes_down;	   /* nodes marked down */
	_Atomic uint64_t ring_generation;  /* gauges: the worker's map */
	_Atomic uint64_t ring_members;
} fc_metrics_t;

/* What the supervisor adds at each scrape. */
typedef struct fc_metrics_proc {
	uint64_t worker_starts;	 /* workers given the connection so far */
	uint64_t rss_supervisor; /* bytes */
	uint64_t rss_worker;	 /* bytes; 0: no worker now */
} fc_metrics_proc_t;

/* The label value of a tier ("client", "ram", ...) and of an op. */
const char *fc_tier_name(unsigned t);
const char *fc_mop_name(unsigned op);

/* A block's first-read record: one bit per FC_SEEN_PAGE bytes, in words
 * of 64 bits; fc_seen_words(len) of them for a block of len bytes (8
 * bytes per 256 KiB of block). */
#define FC_SEEN_PAGE 4096u
#define fc_seen_words(len)                                                     \
	(((len) + FC_SEEN_PAGE * 64 - 1) / (FC_SEEN_PAGE * 64))

/* Count one FUSE operation of kind op (enum fc_mop) that took ns (m may
 * be NULL: nothing). */
void fc_metrics_op(fc_metrics_t *m, unsigned op, uint64_t ns);

/*
 * Count the piece [lo, hi) of a block of blen bytes (lo < hi <= blen)
 * that a read replied with.  origin is the tier the block came from
 * (FC_TIER_RAM..FC_TIER_PEER; FC_TIER_CLIENT for none known); seen is the
 * block's record of the pages read so far (fc_seen_words(blen) words,
 * zero when it arrived), updated here.  m may be NULL (seen is updated
 * anyway).
 */
void fc_metrics_piece(fc_metrics_t *m, _Atomic uint64_t *seen, unsigned origin,
		      size_t blen, size_t lo, size_t hi);

/* The Prometheus text of m and p (both borrowed).  Caller frees. */
char *fc_metrics_render(fc_metrics_t *m, const fc_metrics_proc_t *p,
			size_t *len);

/* A process's resident set in bytes, from /proc/PID/statm (0 when it
 * cannot be read). */
uint64_t fc_metrics_rss(int pid);

#endif
