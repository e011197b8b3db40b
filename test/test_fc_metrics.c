/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client's metrics: every piece of a read counted in exactly one tier
 * and every byte in exactly one, so the tiers add up to the bytes read
 * (random reads over many blocks from every origin, checked against a
 * page-exact model); a block streamed in small reads counted in the tier
 * it came from, read again in the client's; and the exposition text
 * carrying each family once, with the per-tier samples that sum to
 * sluice_client_read_bytes_total.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "fuse/metrics.h"
#include "test/helper_check.h"

static uint64_t sum(_Atomic uint64_t *v, size_t n)
{
	uint64_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += atomic_load(&v[i]);
	return s;
}

START_TEST(test_stream_then_reread)
{
	fc_metrics_t m = {0};
	_Atomic uint64_t seen[fc_seen_words(4u << 20)] = {0}, one = 0;
	size_t bl = 4u << 20;

	/* The kernel's 128 KiB reads through one 4 MiB block from the
	 * backend: all of it the backend's. */
	for (size_t off = 0; off < bl; off += 128u << 10)
		fc_metrics_piece(&m, seen, FC_TIER_BACKEND, bl, off,
				 off + (128u << 10));
	ck_assert_uint_eq(atomic_load(&m.block_read_bytes[FC_TIER_BACKEND]),
			  bl);
	ck_assert_uint_eq(atomic_load(&m.block_reads[FC_TIER_BACKEND]), 32);
	ck_assert_uint_eq(atomic_load(&m.block_read_bytes[FC_TIER_CLIENT]), 0);
	/* Read again from the block cache: the client's. */
	fc_metrics_piece(&m, seen, FC_TIER_BACKEND, bl, 1000, 300000);
	ck_assert_uint_eq(atomic_load(&m.block_read_bytes[FC_TIER_CLIENT]),
			  299000);
	ck_assert_uint_eq(atomic_load(&m.block_reads[FC_TIER_CLIENT]), 1);
	ck_assert_uint_eq(atomic_load(&m.read_bytes), bl + 299000);
	/* A file's last block, read in pages but its end: its own tier. */
	for (size_t off = 0; off < 10000; off += 4096)
		fc_metrics_piece(&m, &one, FC_TIER_RAM, 10000, off,
				 off + 4096 < 10000 ? off + 4096 : 10000);
	ck_assert_uint_eq(atomic_load(&m.block_read_bytes[FC_TIER_RAM]), 10000);
	/* NULL metrics: the record still moves, nothing is counted. */
	one = 0;
	fc_metrics_piece(NULL, &one, FC_TIER_DISK, 8192, 4096, 4100);
	ck_assert_uint_eq(atomic_load(&one), 2);
}
END_TEST

/* Random pieces of random blocks from random origins: each piece in one
 * tier, each byte in one, and a byte counted in its block's origin
 * exactly when its page was not read before (a model of the record). */
START_TEST(test_tiers_add_up)
{
	enum { BLOCKS = 50, ROUNDS = 20000, MAXLEN = 5u << 20 };
	enum { PAGES = MAXLEN / FC_SEEN_PAGE + 1 };
	fc_metrics_t m = {0};
	static _Atomic uint64_t seen[BLOCKS][fc_seen_words(MAXLEN)];
	static uint8_t model[BLOCKS][PAGES];
	unsigned origin[BLOCKS];
	size_t len[BLOCKS];
	uint64_t want_origin[FC_TIERS] = {0}, total = 0, pieces = 0;
	uint64_t x = 88172645463325252ull;

	for (int b = 0; b < BLOCKS; b++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		origin[b] = 1 + (unsigned)(x % (FC_TIERS - 1));
		len[b] = 1 + (size_t)((x >> 8) % MAXLEN);
	}
	for (int r = 0; r < ROUNDS; r++) {
		size_t lo, hi;
		int b;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		b = (int)(x % BLOCKS);
		lo = (size_t)((x >> 8) % len[b]);
		/* Mostly page-aligned, as the kernel asks, sometimes not. */
		if (r % 4)
			lo -= lo % FC_SEEN_PAGE;
		hi = lo + 1 + (size_t)((x >> 32) % (len[b] - lo));
		for (size_t p = lo / FC_SEEN_PAGE; p <= (hi - 1) / FC_SEEN_PAGE;
		     p++) {
			size_t a = SL_MAX(lo, p * FC_SEEN_PAGE);
			size_t e = SL_MIN(hi, (p + 1) * FC_SEEN_PAGE);

			if (!model[b][p])
				want_origin[origin[b]] += e - a;
			model[b][p] = 1;
		}
		fc_metrics_piece(&m, seen[b], origin[b], len[b], lo, hi);
		total += hi - lo;
		pieces++;
	}
	ck_assert_uint_eq(atomic_load(&m.read_bytes), total);
	ck_assert_uint_eq(sum(m.block_read_bytes, FC_TIERS), total);
	ck_assert_uint_eq(sum(m.block_reads, FC_TIERS), pieces);
	for (unsigned t = FC_TIER_RAM; t < FC_TIERS; t++)
		ck_assert_uint_eq(atomic_load(&m.block_read_bytes[t]),
				  want_origin[t]);
	ck_assert_uint_gt(atomic_load(&m.block_read_bytes[FC_TIER_CLIENT]), 0);
}
END_TEST

/* The value of the sample line that starts with name + " " in text. */
static double sample(const char *text, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = text; p && *p;
	     p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (!strncmp(p, name, n) && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	ck_abort_msg("no sample %s", name);
	return -1;
}

START_TEST(test_render)
{
	fc_metrics_t m = {0};
	fc_metrics_proc_t p = {.worker_starts = 2, .rss_supervisor = 4096};
	_Atomic uint64_t seen = 0, seen2 = 0; /* blocks of one page */
	char name[128], *text;
	double tiers = 0;
	size_t len;

	/* One page: the second read is all a re-read. */
	fc_metrics_piece(&m, &seen, FC_TIER_DISK, 1024, 0, 640);
	fc_metrics_piece(&m, &seen, FC_TIER_DISK, 1024, 0, 1024);
	fc_metrics_piece(&m, &seen2, FC_TIER_PEER, 10, 0, 10);
	fc_metrics_op(&m, FC_MOP_READ, 2000000); /* 2 ms */
	fc_metrics_op(&m, FC_MOPS, 1);		 /* no such kind: ignored */
	text = fc_metrics_render(&m, &p, &len);
	ck_assert_uint_eq(strlen(text), len);
	for (unsigned t = 0; t < FC_TIERS; t++) {
		snprintf(name, sizeof(name),
			 "sluice_client_block_read_bytes_total{tier=\"%s\"}",
			 fc_tier_name(t));
		tiers += sample(text, name);
	}
	ck_assert(tiers == sample(text, "sluice_client_read_bytes_total"));
	ck_assert(tiers == 1674);
	ck_assert(sample(text, "sluice_client_block_read_bytes_total{tier="
			       "\"client\"}") == 1024);
	ck_assert(sample(text, "sluice_client_block_read_bytes_total{tier="
			       "\"disk\"}") == 640);
	ck_assert(sample(text, "sluice_client_fuse_op_seconds_bucket{op="
			       "\"read\",le=\"0.0025\"}") == 1);
	ck_assert(sample(text, "sluice_client_fuse_op_seconds_bucket{op="
			       "\"read\",le=\"0.001\"}") == 0);
	ck_assert(sample(text,
			 "sluice_client_fuse_op_seconds_count{op=\"read\"}") ==
		  1);
	ck_assert(sample(text, "sluice_client_worker_starts_total") == 2);
	ck_assert(sample(text, "sluice_client_resident_memory_bytes{process="
			       "\"supervisor\"}") == 4096);
	/* One TYPE line per family. */
	ck_assert_ptr_eq(
		strstr(strstr(text, "# TYPE "
				    "sluice_client_block_reads_total") +
			       1,
		       "# TYPE sluice_client_block_reads_total"),
		NULL);
	ck_assert_ptr_null(strstr(text, "path"));
	free(text);
}
END_TEST

int main(void)
{
	Suite *s =
		TH_SUITE("fc_metrics",
			 {.name = "metrics",
			  .tests = TH_TESTS(test_stream_then_reread,
					    test_tiers_add_up, test_render)});

	return th_check_run(s, NULL);
}
