/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Latency histograms (see promtext.h).  The bounds are microseconds so
 * that observing is integer work; they are printed as seconds, the base
 * unit Prometheus expects.
 */
#include "common/promtext.h"

static const uint64_t lat_us[SL_LAT_BUCKETS] = {
	100,   250,   500,    1000,   2500,   5000,    10000,
	25000, 50000, 100000, 250000, 500000, 1000000, 5000000,
};

void sl_hist_observe(_Atomic uint64_t *buckets, _Atomic uint64_t *sum,
		     uint64_t ns)
{
	uint64_t us = ns / 1000;
	size_t i = 0;

	while (i < SL_LAT_BUCKETS && us > lat_us[i])
		i++;
	atomic_fetch_add_explicit(&buckets[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(sum, ns, memory_order_relaxed);
}

void sl_hist_le(char *out, size_t cap, size_t i)
{
	if (i >= SL_LAT_BUCKETS)
		snprintf(out, cap, "+Inf");
	else
		snprintf(out, cap, "%g", (double)lat_us[i] / 1e6);
}

void sl_hist_write(FILE *f, const char *name, const char *labels,
		   _Atomic uint64_t *buckets, _Atomic uint64_t *sum_ns)
{
	const char *sep = labels[0] ? "," : "";
	uint64_t cum = 0;
	char le[32];

	for (size_t i = 0; i <= SL_LAT_BUCKETS; i++) {
		cum += atomic_load_explicit(&buckets[i], memory_order_relaxed);
		sl_hist_le(le, sizeof(le), i);
		fprintf(f, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels, sep,
			le, (unsigned long long)cum);
	}
	if (labels[0]) {
		fprintf(f, "%s_sum{%s} %.9f\n", name, labels,
			(double)atomic_load_explicit(sum_ns,
						     memory_order_relaxed) /
				1e9);
		fprintf(f, "%s_count{%s} %llu\n", name, labels,
			(unsigned long long)cum);
	} else {
		fprintf(f, "%s_sum %.9f\n", name,
			(double)atomic_load_explicit(sum_ns,
						     memory_order_relaxed) /
				1e9);
		fprintf(f, "%s_count %llu\n", name, (unsigned long long)cum);
	}
}
