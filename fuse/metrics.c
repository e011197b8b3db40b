/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client's metrics (see metrics.h): counting, the per-block first-read
 * record, and the exposition text.  Names follow Prometheus's conventions
 * (base units, _total on counters) and README's metric list; every label
 * value comes from a fixed table here.
 */
#include "fuse/metrics.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/util.h"

_Static_assert(sizeof(fc_metrics_t) <= 4096, "the client's metrics grew");

static const char *const tier_names[FC_TIERS] = {
	[FC_TIER_CLIENT] = "client", [FC_TIER_RAM] = "ram",
	[FC_TIER_DISK] = "disk",     [FC_TIER_BACKEND] = "backend",
	[FC_TIER_PEER] = "peer",
};

static const char *const mop_names[FC_MOPS] = {
	[FC_MOP_LOOKUP] = "lookup",
	[FC_MOP_FORGET] = "forget",
	[FC_MOP_GETATTR] = "getattr",
	[FC_MOP_OPEN] = "open",
	[FC_MOP_READ] = "read",
	[FC_MOP_RELEASE] = "release",
	[FC_MOP_OPENDIR] = "opendir",
	[FC_MOP_READDIR] = "readdir",
	[FC_MOP_READDIRPLUS] = "readdirplus",
	[FC_MOP_RELEASEDIR] = "releasedir",
	[FC_MOP_STATFS] = "statfs",
	[FC_MOP_GETXATTR] = "getxattr",
	[FC_MOP_LISTXATTR] = "listxattr",
	[FC_MOP_ACCESS] = "access",
};

const char *fc_tier_name(unsigned t)
{
	return t < FC_TIERS ? tier_names[t] : "client";
}

const char *fc_mop_name(unsigned op)
{
	return op < FC_MOPS ? mop_names[op] : "unknown";
}

void fc_metrics_op(fc_metrics_t *m, unsigned op, uint64_t ns)
{
	if (!m || op >= FC_MOPS)
		return;
	sl_hist_observe(m->op_lat[op], &m->op_lat_sum_ns[op], ns);
}

/*
 * A piece's bytes in pages of the block that no earlier piece touched are
 * the block's first reads, counted in its origin tier; the rest are
 * re-reads, counted in the client's.  The kernel asks FUSE for whole
 * pages (but at the end of a file), so page bits are exact for every
 * read but direct I/O at odd offsets, whose bytes in a page already
 * touched count as the client's.  Taking a word's bits with one atomic OR
 * makes two readers of one block agree on who read a page first.
 */
void fc_metrics_piece(fc_metrics_t *m, _Atomic uint64_t *seen, unsigned origin,
		      size_t blen, size_t lo, size_t hi)
{
	size_t first = lo / FC_SEEN_PAGE, last = (hi - 1) / FC_SEEN_PAGE;
	uint64_t fresh = 0;

	SL_ASSERT(lo < hi && hi <= blen);
	for (size_t w = first / 64; w <= last / 64; w++) {
		size_t p0 = SL_MAX(first, w * 64),
		       p1 = SL_MIN(last, w * 64 + 63);
		uint64_t mask = 0, prev;

		for (size_t p = p0; p <= p1; p++)
			mask |= 1ull << (p % 64);
		prev = atomic_fetch_or_explicit(&seen[w], mask,
						memory_order_relaxed);
		for (size_t p = p0; p <= p1; p++) {
			size_t a = SL_MAX(lo, p * FC_SEEN_PAGE);
			size_t b = SL_MIN(hi, (p + 1) * FC_SEEN_PAGE);

			if (!(prev & (1ull << (p % 64))))
				fresh += b - a;
		}
	}
	if (!m)
		return;
	if (origin >= FC_TIERS)
		origin = FC_TIER_CLIENT;
	atomic_fetch_add_explicit(&m->read_bytes, hi - lo,
				  memory_order_relaxed);
	atomic_fetch_add_explicit(
		&m->block_reads[fresh ? origin : FC_TIER_CLIENT], 1,
		memory_order_relaxed);
	if (fresh)
		atomic_fetch_add_explicit(&m->block_read_bytes[origin], fresh,
					  memory_order_relaxed);
	if (hi - lo > fresh)
		atomic_fetch_add_explicit(&m->block_read_bytes[FC_TIER_CLIENT],
					  hi - lo - fresh,
					  memory_order_relaxed);
}

uint64_t fc_metrics_rss(int pid)
{
	char path[64];
	unsigned long long size, rss;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/proc/%d/statm", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	n = fscanf(f, "%llu %llu", &size, &rss);
	fclose(f);
	return n == 2 ? rss * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

static uint64_t get(_Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

/* One family's HELP and TYPE lines. */
static void family(FILE *f, const char *name, const char *type,
		   const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void scalar(FILE *f, const char *name, const char *type,
		   const char *help, uint64_t v)
{
	family(f, name, type, help);
	fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

/* A family with one sample per tier. */
static void by_tier(FILE *f, const char *name, const char *help,
		    _Atomic uint64_t *v)
{
	family(f, name, "counter", help);
	for (unsigned t = 0; t < FC_TIERS; t++)
		fprintf(f, "%s{tier=\"%s\"} %llu\n", name, tier_names[t],
			(unsigned long long)get(&v[t]));
}

/* The plain counters and gauges of fc_metrics_t, in the order shown. */
static const struct {
	const char *name, *type, *help;
	size_t off;
} scalars[] = {
#define F(field) offsetof(fc_metrics_t, field)
	{"sluice_client_readahead_issued_blocks_total", "counter",
	 "Blocks fetched ahead of a sequential reader.", F(readahead_issued)},
	{"sluice_client_readahead_wasted_blocks_total", "counter",
	 "Blocks fetched ahead and dropped before any read used them.",
	 F(readahead_wasted)},
	{"sluice_client_failovers_total", "counter",
	 "Requests sent on to the next node of their preference list.",
	 F(failovers)},
	{"sluice_client_nodes_marked_down_total", "counter",
	 "Times a cache node was marked down for its back-off.", F(nodes_down)},
	{"sluice_client_ring_generation", "gauge",
	 "Generation of the worker's cluster map.", F(ring_generation)},
	{"sluice_client_ring_members", "gauge",
	 "Cache nodes in the worker's cluster map.", F(ring_members)},
#undef F
};

char *fc_metrics_render(fc_metrics_t *m, const fc_metrics_proc_t *p,
			size_t *len)
{
	char *text = NULL, labels[32];
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);

	SL_ASSERT(f);
	family(f, "sluice_client_fuse_op_seconds", "histogram",
	       "FUSE operations served, by kind, and how long each took.");
	for (unsigned o = 0; o < FC_MOPS; o++) {
		snprintf(labels, sizeof(labels), "op=\"%s\"", mop_names[o]);
		sl_hist_write(f, "sluice_client_fuse_op_seconds", labels,
			      m->op_lat[o], &m->op_lat_sum_ns[o]);
	}
	scalar(f, "sluice_client_read_bytes_total", "counter",
	       "Bytes the application's reads were answered with.",
	       get(&m->read_bytes));
	scalar(f, "sluice_client_read_errors_total", "counter",
	       "Reads answered with an error.", get(&m->read_errors));
	by_tier(f, "sluice_client_block_reads_total",
		"Pieces of reads (one per block a read touched), by the tier "
		"that supplied the block: each in exactly one.",
		m->block_reads);
	by_tier(f, "sluice_client_block_read_bytes_total",
		"Bytes read, by the tier that supplied them: they add up to "
		"sluice_client_read_bytes_total.",
		m->block_read_bytes);
	for (size_t i = 0; i < SL_ARRAY_SIZE(scalars); i++)
		scalar(f, scalars[i].name, scalars[i].type, scalars[i].help,
		       get((_Atomic uint64_t *)((char *)m + scalars[i].off)));
	scalar(f, "sluice_client_worker_starts_total", "counter",
	       "Serving workers given the connection (1 + restarts and "
	       "upgrades).",
	       p->worker_starts);
	family(f, "sluice_client_resident_memory_bytes", "gauge",
	       "Resident memory of the client's processes.");
	fprintf(f,
		"sluice_client_resident_memory_bytes{process=\"supervisor\"} "
		"%llu\n",
		(unsigned long long)p->rss_supervisor);
	fprintf(f,
		"sluice_client_resident_memory_bytes{process=\"worker\"} "
		"%llu\n",
		(unsigned long long)p->rss_worker);
	fclose(f);
	*len = size;
	return text;
}
