/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for fuse/readmap: a read at or past EOF and a read of 0
 * bytes need no block; reads inside one block, across two and across
 * many get the right blocks and in-block ranges; the last short block is
 * cut at EOF; offsets and sizes near 2^63 and 2^64 never overflow; block
 * sizes from 4K to 64M; and, for random reads against a brute-force
 * model, the spans cover exactly the bytes asked for, in order.
 */
#include <check.h>
#include <stdint.h>

#include "fuse/readmap.h"
#include "test/helper_check.h"

#define K 1024u
#define M (1024u * 1024u)

START_TEST(test_nothing_to_read)
{
	fc_readmap_t m;

	ck_assert_uint_eq(fc_readmap(&m, 0, 0, 100, 4 * K), 0);
	ck_assert_uint_eq(fc_readmap(&m, 100, 10, 100, 4 * K), 0);
	ck_assert_uint_eq(fc_readmap(&m, 101, 10, 100, 4 * K), 0);
	ck_assert_uint_eq(fc_readmap(&m, 0, 10, 0, 4 * K), 0);
	ck_assert_uint_eq(fc_readmap(&m, UINT64_MAX, UINT64_MAX, 100, 4 * K),
			  0);
	ck_assert_uint_eq(m.end, UINT64_MAX);
}
END_TEST

START_TEST(test_one_two_many)
{
	fc_readmap_t m;
	fc_span_t s;

	/* Inside one block. */
	ck_assert_uint_eq(fc_readmap(&m, 5000, 100, 1 * M, 4 * K), 1);
	s = fc_readmap_span(&m, m.first);
	ck_assert_uint_eq(s.block, 1);
	ck_assert_uint_eq(s.len, 4 * K);
	ck_assert_uint_eq(s.lo, 5000 - 4096);
	ck_assert_uint_eq(s.hi, 5100 - 4096);
	/* Exactly one whole block. */
	ck_assert_uint_eq(fc_readmap(&m, 8 * K, 4 * K, 1 * M, 4 * K), 1);
	s = fc_readmap_span(&m, 2);
	ck_assert_uint_eq(s.lo, 0);
	ck_assert_uint_eq(s.hi, 4 * K);
	/* Across a boundary: the tail of one, the head of the next. */
	ck_assert_uint_eq(fc_readmap(&m, 4 * K - 1, 2, 1 * M, 4 * K), 2);
	ck_assert_uint_eq(m.first, 0);
	ck_assert_uint_eq(m.last, 1);
	s = fc_readmap_span(&m, 0);
	ck_assert_uint_eq(s.lo, 4 * K - 1);
	ck_assert_uint_eq(s.hi, 4 * K);
	s = fc_readmap_span(&m, 1);
	ck_assert_uint_eq(s.lo, 0);
	ck_assert_uint_eq(s.hi, 1);
	/* A 1 MiB read over 4K blocks: 257 blocks when unaligned. */
	ck_assert_uint_eq(fc_readmap(&m, 100, 1 * M, 16 * M, 4 * K), 257);
	ck_assert_uint_eq(m.end, 100 + 1 * M);
	s = fc_readmap_span(&m, 100);
	ck_assert_uint_eq(s.lo, 0);
	ck_assert_uint_eq(s.hi, 4 * K);
	s = fc_readmap_span(&m, m.last);
	ck_assert_uint_eq(s.hi, 100);
}
END_TEST

START_TEST(test_last_short_block)
{
	fc_readmap_t m;
	fc_span_t s;

	/* A 10,000-byte file in 4K blocks: the third block has 1,808. */
	ck_assert_uint_eq(fc_readmap_blocks(10000, 4 * K), 3);
	ck_assert_uint_eq(fc_readmap_block_len(10000, 4 * K, 2), 10000 - 8192);
	ck_assert_uint_eq(fc_readmap_block_len(10000, 4 * K, 3), 0);
	ck_assert_uint_eq(fc_readmap_blocks(8192, 4 * K), 2);
	ck_assert_uint_eq(fc_readmap_blocks(0, 4 * K), 0);
	/* A read past the end is cut at EOF. */
	ck_assert_uint_eq(fc_readmap(&m, 9000, 1 * M, 10000, 4 * K), 1);
	ck_assert_uint_eq(m.end, 10000);
	s = fc_readmap_span(&m, 2);
	ck_assert_uint_eq(s.len, 1808);
	ck_assert_uint_eq(s.lo, 9000 - 8192);
	ck_assert_uint_eq(s.hi, 1808);
	/* A small file is one short block. */
	ck_assert_uint_eq(fc_readmap(&m, 0, 128 * K, 110 * K, 4 * M), 1);
	s = fc_readmap_span(&m, 0);
	ck_assert_uint_eq(s.len, 110 * K);
	ck_assert_uint_eq(s.hi, 110 * K);
}
END_TEST

START_TEST(test_huge_offsets)
{
	const uint64_t big = (uint64_t)INT64_MAX; /* the largest file size */
	fc_readmap_t m;
	fc_span_t s;

	/* The last byte of the largest file. */
	ck_assert_uint_eq(fc_readmap(&m, big - 1, 1 * M, big, 64 * M), 1);
	ck_assert_uint_eq(m.end, big);
	ck_assert_uint_eq(m.first, (big - 1) / (64 * M));
	s = fc_readmap_span(&m, m.first);
	ck_assert_uint_eq(s.hi, big % (64 * M));
	ck_assert_uint_eq(s.lo, s.hi - 1);
	ck_assert_uint_eq(s.len, big % (64 * M));
	/* off + size would wrap: it is never added. */
	ck_assert_uint_eq(
		fc_readmap(&m, UINT64_MAX - 10, UINT64_MAX, UINT64_MAX, 4 * K),
		1);
	ck_assert_uint_eq(m.end, UINT64_MAX);
	s = fc_readmap_span(&m, m.last);
	ck_assert_uint_eq(s.hi - s.lo, 10);
	ck_assert_uint_eq(fc_readmap_blocks(UINT64_MAX, 4 * K),
			  UINT64_MAX / (4 * K) + 1);
	ck_assert_uint_eq(
		fc_readmap_block_len(UINT64_MAX, 4 * K, UINT64_MAX / (4 * K)),
		UINT64_MAX % (4 * K));
}
END_TEST

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	g_rng ^= g_rng >> 12;
	g_rng ^= g_rng << 25;
	g_rng ^= g_rng >> 27;
	return g_rng * 0x2545f4914f6cdd1dULL;
}

/* For every block size 4K..64M, random reads: the spans tile exactly
 * [off, min(off + size, file_size)), block after block. */
START_TEST(test_spans_tile_the_read)
{
	for (uint32_t bs = 4 * K; bs <= 64 * M; bs *= 2) {
		for (int i = 0; i < 2000; i++) {
			uint64_t fsize = rnd() % (20ull * bs + 1);
			uint64_t off = rnd() % (fsize + 2 * bs + 1);
			uint64_t size = rnd() % (4ull * bs + 1), pos = off;
			uint64_t want =
				off < fsize ? (size < fsize - off ? size
								  : fsize - off)
					    : 0;
			fc_readmap_t m;
			uint64_t n = fc_readmap(&m, off, size, fsize, bs);

			ck_assert_uint_eq(n > 0, want > 0);
			if (!n)
				continue;
			ck_assert_uint_eq(m.end, off + want);
			for (uint64_t bi = m.first; bi <= m.last; bi++) {
				fc_span_t s = fc_readmap_span(&m, bi);

				ck_assert_uint_eq(bi * bs + s.lo, pos);
				ck_assert_uint_lt(s.lo, s.hi);
				ck_assert_uint_le(s.hi, s.len);
				ck_assert_uint_le(s.len, bs);
				ck_assert_uint_eq(
					s.len,
					fc_readmap_block_len(fsize, bs, bi));
				/* Only the last span may stop inside. */
				if (bi < m.last)
					ck_assert_uint_eq(s.hi, bs);
				pos += s.hi - s.lo;
			}
			ck_assert_uint_eq(pos, off + want);
		}
	}
}
END_TEST

/* A random read asks for the pages that hold its bytes: rounded out to
 * page edges, the block's last page short. */
START_TEST(test_pages)
{
	const uint32_t pg = 64 * 1024, bl = 4u << 20;
	fc_span_t sp = {.block = 3, .len = bl, .lo = 0, .hi = 1};
	uint32_t a, b;

	fc_readmap_pages(&sp, pg, &a, &b);
	ck_assert_uint_eq(a, 0);
	ck_assert_uint_eq(b, 0);
	sp.lo = pg - 1;
	sp.hi = pg + 1; /* two bytes across an edge: two pages */
	fc_readmap_pages(&sp, pg, &a, &b);
	ck_assert_uint_eq(a, 0);
	ck_assert_uint_eq(b, 1);
	sp.lo = pg;
	sp.hi = 2 * pg; /* exactly one page */
	fc_readmap_pages(&sp, pg, &a, &b);
	ck_assert_uint_eq(a, 1);
	ck_assert_uint_eq(b, 1);
	sp.lo = 5000;
	sp.hi = 5000 + 256 * 1024; /* 256 KiB unaligned: five pages */
	fc_readmap_pages(&sp, pg, &a, &b);
	ck_assert_uint_eq(b - a + 1, 5);
	/* A short last block of 100,000 bytes: pages of 65,536 and 34,464,
	 * nothing past it. */
	ck_assert_uint_eq(fc_readmap_page_len(100000, pg, 0), pg);
	ck_assert_uint_eq(fc_readmap_page_len(100000, pg, 1), 100000 - pg);
	ck_assert_uint_eq(fc_readmap_page_len(100000, pg, 2), 0);
	ck_assert_uint_eq(fc_readmap_page_len(bl, pg, bl / pg - 1), pg);
	ck_assert_uint_eq(fc_readmap_page_len(bl, pg, UINT32_MAX), 0);
	sp.len = 100000;
	sp.lo = 99999;
	sp.hi = 100000;
	fc_readmap_pages(&sp, pg, &a, &b);
	ck_assert_uint_eq(a, 1);
	ck_assert_uint_eq(b, 1);
}
END_TEST

static Suite *readmap_suite(void)
{
	return TH_SUITE(
		"fc_readmap",
		{.name = "readmap",
		 .tests = TH_TESTS(test_nothing_to_read, test_one_two_many,
				   test_last_short_block, test_huge_offsets,
				   test_spans_tile_the_read, test_pages)});
}

int main(void)
{
	return th_check_run(readmap_suite(), NULL);
}
