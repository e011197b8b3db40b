/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Latency histograms in Prometheus's shape, shared by the cache node's and
 * the FUSE client's metrics: one set of bucket bounds (100 us .. 5 s, then
 * +Inf), a lock-free observe on atomic buckets, and the text of one
 * histogram.  The buckets are counted per bucket and summed into the
 * cumulative form Prometheus wants only when written out.
 */
#ifndef SL_PROMTEXT_H
#define SL_PROMTEXT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Buckets with an upper bound; the +Inf bucket comes after them. */
#define SL_LAT_BUCKETS 14

/* Count ns nanoseconds in buckets[SL_LAT_BUCKETS + 1] and sum (relaxed
 * atomics: any thread). */
void sl_hist_observe(_Atomic uint64_t *buckets, _Atomic uint64_t *sum,
		     uint64_t ns);

/* Bucket i's upper bound as Prometheus writes it ("0.0001", "+Inf"). */
void sl_hist_le(char *out, size_t cap, size_t i);

/*
 * Write histogram name (its _bucket, _sum in seconds and _count lines) to
 * f; labels ("op=\"read\"", or "" for none) go in front of le.  The
 * HELP and TYPE lines are the caller's (once per family).
 */
void sl_hist_write(FILE *f, const char *name, const char *labels,
		   _Atomic uint64_t *buckets, _Atomic uint64_t *sum_ns);

#endif
