/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for fuse/readahead: reads become a stream only after two
 * sequential reads, a jump ends the streak, the fetch window is a fair
 * share of the budget (shrinking as streams join, growing back as they
 * finish or go quiet, never below one block), windows advance only as far
 * as fc_ra_issued says, hints reach 2 x max_depth ahead whatever the
 * share (two reads ahead for wide reads), and the least recently read slot
 * is the one reused.  The random detector: two jumps in a row make a
 * stream random (no read-ahead then), an accidental small step does not
 * end it, FC_RA_SEQ_AGAIN byte-near reads in a row do.
 */
#include <check.h>
#include <stdlib.h>

#include "fuse/readahead.h"
#include "test/helper_check.h"

#define MB (1024u * 1024u)
#define BS (4 * MB)

static fc_ra_t *new_ra(uint32_t depth, uint64_t budget, uint32_t slots)
{
	fc_ra_conf_t conf = {
		.max_depth = depth,
		.budget = budget,
		.slots = slots,
		.idle_ms = 1000,
	};

	return fc_ra_new(&conf);
}

/* Read block bi of stream s (a 100-block file) at now and issue the
 * whole plan. */
static void step(fc_ra_t *ra, uint64_t s, uint64_t bi, uint64_t now,
		 fc_ra_plan_t *p)
{
	fc_ra_read(ra, s, 7, bi, bi, 100, BS, now, p);
	fc_ra_issued(ra, s, 7, p->fetch_end, p->hint_end);
}

/* The plan fetches blocks [fetch_from, fetch_end) and hints
 * [hint_from, hint_end). */
static void expect_windows(const fc_ra_plan_t *p, uint64_t fetch_from,
			   uint64_t fetch_end, uint64_t hint_from,
			   uint64_t hint_end)
{
	ck_assert_uint_eq(p->fetch_from, fetch_from);
	ck_assert_uint_eq(p->fetch_end, fetch_end);
	ck_assert_uint_eq(p->hint_from, hint_from);
	ck_assert_uint_eq(p->hint_end, hint_end);
}

START_TEST(test_streak_and_jump)
{
	fc_ra_t *ra = new_ra(4, 64 * MB, 8);
	fc_ra_plan_t p;

	/* The first read is no stream yet. */
	fc_ra_read(ra, 1, 7, 0, 0, 100, BS, 0, &p);
	ck_assert(!p.seq);
	ck_assert_uint_eq(p.fetch_end - p.fetch_from, 0);
	ck_assert_uint_eq(p.hint_end - p.hint_from, 0);
	/* The second, within a block of it, is. */
	fc_ra_read(ra, 1, 7, 0, 1, 100, BS, 1, &p);
	ck_assert(p.seq);
	ck_assert_uint_eq(p.depth, 4);
	expect_windows(&p, 2, 6, 6, 10); /* 2 x depth past the read */
	fc_ra_issued(ra, 1, 7, p.fetch_end, p.hint_end);
	/* The next read asks only for what is new. */
	fc_ra_read(ra, 1, 7, 2, 2, 100, BS, 2, &p);
	expect_windows(&p, 6, 7, 10, 11);
	fc_ra_issued(ra, 1, 7, p.fetch_end, p.hint_end);
	/* A jump ends it and forgets the windows. */
	fc_ra_read(ra, 1, 7, 50, 50, 100, BS, 3, &p);
	ck_assert(!p.seq);
	ck_assert_uint_eq(p.fetch_end - p.fetch_from, 0);
	fc_ra_read(ra, 1, 7, 51, 51, 100, BS, 4, &p);
	ck_assert(p.seq);
	ck_assert_uint_eq(p.fetch_from, 52);
	ck_assert_uint_eq(p.fetch_end, 56);
	/* Reads wider than max_depth: hints reach two reads ahead. */
	fc_ra_read(ra, 2, 7, 0, 15, 100, BS, 6, &p);
	fc_ra_read(ra, 2, 7, 16, 31, 100, BS, 7, &p);
	ck_assert(p.seq);
	expect_windows(&p, 32, 36, 36, 64);
	/* Another owner of the same file is another stream. */
	fc_ra_read(ra, 1, 8, 52, 52, 100, BS, 5, &p);
	ck_assert(!p.seq);
	fc_ra_destroy(&ra);
	ck_assert_ptr_null(ra);
	fc_ra_destroy(&ra); /* NULL is fine */
}
END_TEST

START_TEST(test_fair_share)
{
	/* 16 MiB shared: one stream may take all 4 blocks, four get one
	 * each, never less. */
	fc_ra_t *ra = new_ra(4, 16 * MB, 16);
	fc_ra_plan_t p;

	step(ra, 1, 0, 0, &p);
	step(ra, 1, 1, 1, &p);
	ck_assert_uint_eq(p.depth, 4);
	step(ra, 2, 0, 2, &p);
	step(ra, 2, 1, 3, &p);
	ck_assert_uint_eq(p.depth, 2);
	ck_assert_uint_eq(fc_ra_active(ra, 3), 2);
	for (uint64_t s = 3; s <= 4; s++) {
		step(ra, s, 0, 4, &p);
		step(ra, s, 1, 5, &p);
	}
	ck_assert_uint_eq(p.depth, 1);
	ck_assert_uint_eq(p.fetch_end - p.fetch_from, 1);
	/* Hints keep their reach. */
	ck_assert_uint_eq(p.hint_end, 2 + 8);
	for (uint64_t s = 5; s <= 12; s++) {
		step(ra, s, 0, 6, &p);
		step(ra, s, 1, 7, &p);
	}
	ck_assert_uint_eq(fc_ra_active(ra, 7), 12);
	ck_assert_uint_eq(p.depth, 1); /* never below one block */
	/* Streams that go quiet stop counting... */
	step(ra, 1, 2, 1500, &p);
	ck_assert_uint_eq(fc_ra_active(ra, 1500), 1);
	ck_assert_uint_eq(p.depth, 4);
	/* ...and so do streams that reached their end. */
	step(ra, 2, 2, 1501, &p);
	ck_assert_uint_eq(p.depth, 2);
	fc_ra_read(ra, 2, 7, 3, 99, 100, BS, 1502, &p);
	ck_assert_uint_eq(p.fetch_end - p.fetch_from, 0);
	ck_assert_uint_eq(fc_ra_active(ra, 1502), 1);
	fc_ra_destroy(&ra);
}
END_TEST

START_TEST(test_cut_short)
{
	fc_ra_t *ra = new_ra(4, 64 * MB, 4);
	fc_ra_plan_t p;

	step(ra, 1, 0, 0, &p);
	fc_ra_read(ra, 1, 7, 1, 1, 100, BS, 1, &p);
	ck_assert_uint_eq(p.fetch_from, 2);
	ck_assert_uint_eq(p.fetch_end, 6);
	/* The cache took only block 2: the window resumes at 3. */
	fc_ra_issued(ra, 1, 7, 3, p.hint_end);
	fc_ra_read(ra, 1, 7, 1, 1, 100, BS, 2, &p);
	ck_assert_uint_eq(p.fetch_from, 3);
	ck_assert_uint_eq(p.fetch_end, 6);
	/* Hints never go over blocks already hinted. */
	ck_assert_uint_eq(p.hint_end - p.hint_from, 0);
	/* A short file: windows stop at its end. */
	fc_ra_read(ra, 2, 7, 0, 0, 3, BS, 3, &p);
	fc_ra_read(ra, 2, 7, 1, 1, 3, BS, 4, &p);
	expect_windows(&p, 2, 3, 3, 3);
	/* Depth 0: streams are seen, nothing is planned. */
	fc_ra_destroy(&ra);
	ra = new_ra(0, 64 * MB, 4);
	fc_ra_read(ra, 1, 7, 0, 0, 100, BS, 0, &p);
	fc_ra_read(ra, 1, 7, 1, 1, 100, BS, 1, &p);
	ck_assert(p.seq);
	ck_assert_uint_eq(p.fetch_end - p.fetch_from, 0);
	ck_assert_uint_eq(p.hint_end - p.hint_from, 0);
	fc_ra_destroy(&ra);
}
END_TEST

START_TEST(test_slot_reuse)
{
	fc_ra_t *ra = new_ra(4, 64 * MB, 2);
	fc_ra_plan_t p;

	step(ra, 1, 0, 10, &p);
	step(ra, 2, 0, 20, &p);
	step(ra, 1, 1, 30, &p); /* 2 is now the least recently read */
	ck_assert(p.seq);
	step(ra, 3, 0, 40, &p); /* takes 2's slot */
	step(ra, 1, 2, 50, &p);
	ck_assert(p.seq); /* 1 kept its streak */
	step(ra, 2, 1, 60, &p);
	ck_assert(!p.seq); /* 2 starts over */
	/* Unknown streams are ignored by fc_ra_issued. */
	fc_ra_issued(ra, 99, 7, 10, 10);
	fc_ra_destroy(&ra);
}
END_TEST

#define GB (1024ull * MB)

/* Read [off, off+len) of stream s, a 1 GiB file, and issue the plan. */
static void read_at(fc_ra_t *ra, uint64_t s, uint64_t off, uint64_t len,
		    uint64_t now, fc_ra_plan_t *p)
{
	fc_ra_read_at(ra, s, 7, off, off + len, GB / BS, BS, now, p);
	fc_ra_issued(ra, s, 7, p->fetch_end, p->hint_end);
}

START_TEST(test_random_detector)
{
	fc_ra_t *ra = new_ra(4, 64 * MB, 8);
	fc_ra_plan_t p;

	/* A first read mid-file is one jump: not random yet. */
	read_at(ra, 1, 500 * MB, 4096, 0, &p);
	ck_assert(!p.random);
	/* The second jump in a row makes it random. */
	read_at(ra, 1, 100 * MB, 4096, 1, &p);
	ck_assert(p.random);
	ck_assert(!p.seq);
	/* A small step by chance (same block) keeps it random, and plans
	 * nothing ahead; so does a second. */
	read_at(ra, 1, 100 * MB + 8192, 4096, 2, &p);
	ck_assert(p.random);
	ck_assert_uint_eq(p.fetch_end - p.fetch_from, 0);
	ck_assert_uint_eq(p.hint_end - p.hint_from, 0);
	read_at(ra, 1, 100 * MB + 65536, 4096, 3, &p);
	ck_assert(p.random);
	/* A jump starts the count again ... */
	read_at(ra, 1, 900 * MB, 4096, 4, &p);
	ck_assert(p.random);
	/* ... and FC_RA_SEQ_AGAIN near reads in a row end it: read-ahead
	 * comes back. */
	for (int i = 1; i <= FC_RA_SEQ_AGAIN; i++) {
		read_at(ra, 1, 900 * MB + (uint64_t)i * 4096, 4096,
			4 + (uint64_t)i, &p);
		ck_assert_int_eq(p.random, i < FC_RA_SEQ_AGAIN);
	}
	ck_assert(p.seq);
	ck_assert_uint_gt(p.fetch_end - p.fetch_from, 0);
	/* Near in blocks but not in bytes is no step: two reads in adjacent
	 * blocks, 7 MiB apart, keep a random stream random. */
	read_at(ra, 2, 300 * MB, 4096, 10, &p);
	read_at(ra, 2, 600 * MB, 4096, 11, &p);
	ck_assert(p.random);
	for (int i = 0; i < 4; i++) {
		read_at(ra, 2, 600 * MB + (uint64_t)((i + 1) % 2) * 7 * MB,
			4096, 12 + (uint64_t)i, &p);
		ck_assert(p.random);
	}
	/* A reader from the start is never random; one jump is not
	 * enough either. */
	read_at(ra, 3, 0, MB, 20, &p);
	read_at(ra, 3, MB, MB, 21, &p);
	read_at(ra, 3, 700 * MB, MB, 22, &p);
	ck_assert(!p.random);
	read_at(ra, 3, 701 * MB, MB, 23, &p);
	ck_assert(!p.random);
	ck_assert(p.seq);
	fc_ra_destroy(&ra);
}
END_TEST

static Suite *readahead_suite(void)
{
	return TH_SUITE(
		"fc_readahead",
		{.name = "core",
		 .tests = TH_TESTS(test_streak_and_jump, test_fair_share,
				   test_cut_short, test_slot_reuse,
				   test_random_detector)});
}

int main(void)
{
	return th_check_run(readahead_suite(), NULL);
}
