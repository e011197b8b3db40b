/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The read-ahead planner (see readahead.h): a small array of stream slots
 * under one mutex, searched linearly (a few dozen slots cost less than the
 * FUSE request that asks).
 *
 * Why a shared budget.  Fetching a fixed depth of blocks ahead of every
 * sequential reader works for one reader and fails for many: four readers
 * with 4 MiB blocks and a depth of 4 ask for 64 MiB ahead, the whole of a
 * 64 MiB cache, so each new prefetch evicts a block fetched a moment ago
 * for another reader, before that reader got to it, and the cache nodes
 * serve every such block twice.  So the bytes fetched ahead and not yet
 * read are one budget (a quarter of the block cache by default), the block
 * cache refuses a prefetch that would pass it and keeps ahead blocks until
 * they are read, and each stream's depth is its fair share of the budget:
 *
 *     depth = clamp(budget / (active streams x block size), 1, max_depth)
 *
 * A stream is active while it is sequential, has not reached its end and
 * was read within idle_ms, so the share grows back as readers finish or go
 * quiet.  A depth of at least one block keeps every stream moving; when
 * even that passes the budget the cache refuses, the window stays where it
 * was (fc_ra_issued) and the stream asks again on its next read, by which
 * time other readers have consumed some ahead blocks.
 *
 * What counts as sequential.  The kernel reads a file through its page
 * cache in readahead-sized pieces, each one FUSE read, and with async reads
 * several may arrive at once and slightly out of order.  So a read is
 * sequential when its first block lies within one block of the previous
 * read's last block: a small step, not a jump.  After two such reads in a
 * row (a streak of 1) the stream is streaming and we look ahead:
 *
 *   - the next `depth` blocks are fetched into the client block cache, so
 *     when the reader gets there the block is here or on its way;
 *   - the blocks after those, up to 2 x max_depth ahead (or two reads
 *     ahead, for reads wider than that), get a PREFETCH hint to their
 *     owners, so the cache nodes pull them from the slow store before our
 *     READs come.  Hints cost no client memory, so they keep their full
 *     reach whatever the budget.
 *
 * fetch_next/hint_next remember how far each window has been issued, so a
 * block is asked for once per streak however many reads fall into it.  A
 * jump ends the streak and forgets the windows.
 *
 * Random readers.  A reader of windows at random offsets in a big file
 * (numpy.memmap, LMDB, HDF5, indexed shards) wants a few KiB from each
 * block it touches; a whole 4 MiB block per read moves a thousand times
 * the bytes, and read-ahead after an accidental small step moves more.
 * So a stream becomes random after FC_RA_JUMPS jumps in a row (one jump is
 * a sequential reader moving to another part of the file; a first read
 * that does not start at block 0 counts as a jump), and while it is
 * random the caller fetches only the pages each read wants, and nothing
 * ahead.  Leaving random takes FC_RA_SEQ_AGAIN small steps in a row,
 * measured in bytes: each read starting within FC_RA_STEP of where the
 * last one ended.  Steps of a block or so, the sequential test, would not
 * do: a uniform random reader of a file of N blocks makes one with chance
 * about 3/N, one read in five in a 16-block file, and each time it left
 * random by accident would cost a block and a read-ahead window.  Within
 * 2 MiB of the last end, three times in a row, has chance (4 MiB / file
 * size)^3: once in 4,000 reads in a 64 MiB file, once in 16 million in
 * 1 GiB.  A sequential reader wrongly taken for random (it started
 * mid-file) pays a few page fetches before its third step.
 * Small files never look random: every read is within a block or two.
 */
#include "fuse/readahead.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

struct stream {
	int used;
	uint64_t ino;
	uint64_t owner;
	int seen;	     /* a read happened */
	uint32_t streak;     /* sequential reads in a row */
	uint32_t jumps;	     /* reads in a row that were not */
	int random;	     /* a random reader, until FC_RA_SEQ_AGAIN steps */
	uint32_t steps;	     /* random: small steps in a row */
	uint64_t end;	     /* where the last read ended, in bytes */
	uint64_t last_block; /* highest block of the streak's reads */
	uint64_t nblocks;    /* the file's, at the last read */
	uint64_t fetch_next; /* first block not yet fetched ahead */
	uint64_t hint_next;  /* first block not yet hinted */
	uint64_t last_ms;    /* when last read */
};

struct fc_ra {
	pthread_mutex_t lock;
	fc_ra_conf_t conf;
	struct stream *slots; /* protected by ra->lock */
};

fc_ra_t *fc_ra_new(const fc_ra_conf_t *conf)
{
	fc_ra_t *ra = sl_xcalloc(1, sizeof(*ra));

	pthread_mutex_init(&ra->lock, NULL);
	ra->conf = *conf;
	if (ra->conf.slots == 0)
		ra->conf.slots = 1;
	ra->slots = sl_xcalloc(ra->conf.slots, sizeof(*ra->slots));
	return ra;
}

void fc_ra_destroy(fc_ra_t **rap)
{
	fc_ra_t *ra = rap ? *rap : NULL;

	if (!ra)
		return;
	pthread_mutex_destroy(&ra->lock);
	free(ra->slots);
	free(ra);
	*rap = NULL;
}

static struct stream *find_locked(fc_ra_t *ra, uint64_t ino, uint64_t owner)
{
	for (uint32_t i = 0; i < ra->conf.slots; i++) {
		struct stream *s = &ra->slots[i];

		if (s->used && s->ino == ino && s->owner == owner)
			return s;
	}
	return NULL;
}

/* The stream's slot, or a fresh one in place of the least recently read. */
static struct stream *get_locked(fc_ra_t *ra, uint64_t ino, uint64_t owner)
{
	struct stream *s = find_locked(ra, ino, owner), *victim = NULL;

	if (s)
		return s;
	for (uint32_t i = 0; i < ra->conf.slots; i++) {
		s = &ra->slots[i];
		if (!s->used) {
			victim = s;
			break;
		}
		if (!victim || s->last_ms < victim->last_ms)
			victim = s;
	}
	SL_ASSERT(victim); /* slots >= 1 */
	memset(victim, 0, sizeof(*victim));
	victim->used = 1;
	victim->ino = ino;
	victim->owner = owner;
	return victim;
}

static int active(const fc_ra_t *ra, const struct stream *s, uint64_t now_ms)
{
	return s->used && s->streak >= 1 && !s->random &&
	       s->last_block + 1 < s->nblocks &&
	       now_ms - s->last_ms < ra->conf.idle_ms;
}

static uint32_t active_locked(const fc_ra_t *ra, uint64_t now_ms)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < ra->conf.slots; i++)
		n += (uint32_t)active(ra, &ra->slots[i], now_ms);
	return n;
}

void fc_ra_read(fc_ra_t *ra, uint64_t ino, uint64_t owner, uint64_t first,
		uint64_t last, uint64_t nblocks, uint32_t bs, uint64_t now_ms,
		fc_ra_plan_t *out)
{
	fc_ra_read_at(ra, ino, owner, first * bs, (last + 1) * bs, nblocks, bs,
		      now_ms, out);
}

/* Whether a read at off is a small step from a stream that last ended at
 * end (either way: async reads arrive slightly out of order). */
static int small_step(uint64_t end, uint64_t off)
{
	return off >= end ? off - end <= FC_RA_STEP : end - off <= FC_RA_STEP;
}

void fc_ra_read_at(fc_ra_t *ra, uint64_t ino, uint64_t owner, uint64_t off,
		   uint64_t end, uint64_t nblocks, uint32_t bs, uint64_t now_ms,
		   fc_ra_plan_t *out)
{
	uint64_t share, reach, first, last;
	struct stream *s;
	uint32_t n;
	int seq;

	SL_ASSERT(bs > 0 && end > off);
	first = off / bs;
	last = (end - 1) / bs;
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&ra->lock);
	s = get_locked(ra, ino, owner);
	seq = s->seen && first <= s->last_block + 1 &&
	      first + 1 >= s->last_block;
	s->streak = seq ? s->streak + 1 : 0;
	if (!seq)
		s->fetch_next = s->hint_next = 0;
	/* A stream's first read counts as a jump unless it starts the file. */
	s->jumps = seq ? 0 : s->jumps + (s->seen || first > 0);
	s->steps = s->seen && small_step(s->end, off) ? s->steps + 1 : 0;
	if (s->jumps >= FC_RA_JUMPS && !s->random) {
		s->random = 1;
		s->steps = 0;
	} else if (s->random && s->steps >= FC_RA_SEQ_AGAIN) {
		s->random = 0;
	}
	s->end = end;
	s->seen = 1;
	s->last_block = seq ? SL_MAX(last, s->last_block) : last;
	s->nblocks = nblocks;
	s->last_ms = now_ms;
	out->random = s->random;
	if (s->streak < 1 || s->random)
		goto out;
	out->seq = 1;
	if (ra->conf.max_depth == 0 || bs == 0 || last + 1 >= nblocks)
		goto out;
	n = active_locked(ra, now_ms);
	share = ra->conf.budget / ((uint64_t)SL_MAX(n, 1u) * bs);
	out->depth = (uint32_t)SL_MAX(SL_MIN(share, ra->conf.max_depth), 1);
	out->fetch_from = SL_MAX(last + 1, s->fetch_next);
	out->fetch_end = SL_MIN(last + 1 + out->depth, nblocks);
	if (out->fetch_from > out->fetch_end)
		out->fetch_from = out->fetch_end;
	/* Two reads ahead, when reads span more blocks than max_depth. */
	reach = last + 1 +
		2 * SL_MAX((uint64_t)ra->conf.max_depth, last - first + 1);
	out->hint_from =
		SL_MAX(SL_MAX(out->fetch_end, s->fetch_next), s->hint_next);
	out->hint_end = SL_MIN(reach, nblocks);
	if (out->hint_from > out->hint_end)
		out->hint_from = out->hint_end;
out:
	pthread_mutex_unlock(&ra->lock);
}

void fc_ra_issued(fc_ra_t *ra, uint64_t ino, uint64_t owner,
		  uint64_t fetch_next, uint64_t hint_next)
{
	struct stream *s;

	pthread_mutex_lock(&ra->lock);
	s = find_locked(ra, ino, owner);
	if (s && s->streak >= 1) {
		s->fetch_next = SL_MAX(s->fetch_next, fetch_next);
		s->hint_next = SL_MAX(s->hint_next, hint_next);
	}
	pthread_mutex_unlock(&ra->lock);
}

uint32_t fc_ra_active(fc_ra_t *ra, uint64_t now_ms)
{
	uint32_t n;

	pthread_mutex_lock(&ra->lock);
	n = active_locked(ra, now_ms);
	pthread_mutex_unlock(&ra->lock);
	return n;
}
