/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scaling advice (see advise.h).  The one judgement in it is the
 * node count: the working set plus headroom, divided by the size of an
 * average node of today's, rounded up.
 */
#include "common/advise.h"

#include <errno.h>
#include <string.h>

#include "common/util.h"

static const struct {
	const char *name;
	size_t off;
} names[] = {
#define F(field) offsetof(sl_advise_node_t, field)
	{"sluice_ram_capacity_bytes", F(ram_capacity)},
	{"sluice_ram_used_bytes", F(ram_used)},
	{"sluice_disk_capacity_bytes", F(disk_capacity)},
	{"sluice_disk_used_bytes", F(disk_used)},
	{"sluice_backend_read_bytes_total", F(fetched)},
	{"sluice_backend_refetched_bytes_total", F(refetched)},
#undef F
};

void sl_advise_node_add(sl_advise_node_t *n, const char *name, size_t len,
			uint64_t value)
{
	for (size_t i = 0; i < SL_ARRAY_SIZE(names); i++)
		if (strlen(names[i].name) == len &&
		    memcmp(names[i].name, name, len) == 0)
			*(uint64_t *)((char *)n + names[i].off) = value;
}

/* The dataset's series: prefix, its name, suffix. */
static const struct {
	const char *pre, *suf;
	size_t off;
} ds_names[] = {
#define F(field) offsetof(sl_advise_node_t, field)
	{"sluice_dataset_cached_bytes{dataset=\"", "\",tier=\"ram\"}",
	 F(ram_used)},
	{"sluice_dataset_cached_bytes{dataset=\"", "\",tier=\"disk\"}",
	 F(disk_used)},
	{"sluice_dataset_backend_read_bytes_total{dataset=\"", "\"}",
	 F(fetched)},
	{"sluice_dataset_backend_refetched_bytes_total{dataset=\"", "\"}",
	 F(refetched)},
#undef F
};

static int is_part(const char *part, const char **p, const char *end)
{
	size_t n = strlen(part);

	if ((size_t)(end - *p) < n || memcmp(*p, part, n) != 0)
		return 0;
	*p += n;
	return 1;
}

void sl_advise_dataset_add(sl_advise_node_t *n, const char *dataset,
			   const char *name, size_t len, uint64_t value)
{
	const char *end = name + len;

	for (size_t i = 0; i < SL_ARRAY_SIZE(ds_names); i++) {
		const char *p = name;

		if (is_part(ds_names[i].pre, &p, end) &&
		    is_part(dataset, &p, end) &&
		    is_part(ds_names[i].suf, &p, end) && p == end) {
			*(uint64_t *)((char *)n + ds_names[i].off) = value;
			return;
		}
	}
	/* The capacities are the node's: only those of the node-wide. */
	if ((len == strlen("sluice_ram_capacity_bytes") &&
	     memcmp(name, "sluice_ram_capacity_bytes", len) == 0) ||
	    (len == strlen("sluice_disk_capacity_bytes") &&
	     memcmp(name, "sluice_disk_capacity_bytes", len) == 0))
		sl_advise_node_add(n, name, len, value);
}

static uint64_t node_capacity(const sl_advise_node_t *n)
{
	return n->disk_capacity ? n->disk_capacity : n->ram_capacity;
}

static uint64_t node_used(const sl_advise_node_t *n)
{
	return n->disk_capacity ? n->disk_used : n->ram_used;
}

/* b - a for counters, 0 when a counter went back (a node restarted). */
static uint64_t delta(uint64_t b, uint64_t a)
{
	return b >= a ? b - a : 0;
}

void sl_advise_compute(const sl_advise_node_t *now,
		       const sl_advise_node_t *before, size_t n, double seconds,
		       unsigned headroom_pct, sl_advise_t *out)
{
	uint64_t dfetch = 0, drefetch = 0, want;

	memset(out, 0, sizeof(*out));
	out->nodes = n;
	out->headroom_pct = headroom_pct;
	for (size_t i = 0; i < n; i++) {
		out->capacity += node_capacity(&now[i]);
		out->used += node_used(&now[i]);
		out->fetched += now[i].fetched;
		out->refetched += SL_MIN(now[i].refetched, now[i].fetched);
		if (before) {
			dfetch += delta(now[i].fetched, before[i].fetched);
			drefetch +=
				delta(now[i].refetched, before[i].refetched);
		}
	}
	out->node_size = n ? out->capacity / n : 0;
	out->used_ratio =
		out->capacity ? (double)out->used / (double)out->capacity : 0;
	out->refetch_ratio =
		out->fetched ? (double)out->refetched / (double)out->fetched
			     : 0;
	out->working_set = SL_MAX(out->fetched - out->refetched, out->used);
	want = out->working_set + out->working_set / 100 * headroom_pct;
	out->nodes_needed = 1;
	if (out->node_size)
		out->node_share = (double)want / (double)out->node_size;
	if (out->node_size)
		out->nodes_needed = SL_MAX(
			(want + out->node_size - 1) / out->node_size, 1u);
	if (before && seconds > 0) {
		out->seconds = seconds;
		out->demand_bps = (double)dfetch / seconds;
		out->refetch_bps = (double)drefetch / seconds;
	}
}

/* The recommendation, one line. */
static void verdict(const sl_advise_t *a, char *buf, size_t cap)
{
	if (!a->nodes || !a->node_size)
		snprintf(buf, cap, "no node reported its capacity");
	else if (a->nodes_needed > a->nodes)
		snprintf(buf, cap,
			 "add %llu node%s: %llu of this size would hold the "
			 "hot working set",
			 (unsigned long long)(a->nodes_needed - a->nodes),
			 a->nodes_needed - a->nodes == 1 ? "" : "s",
			 (unsigned long long)a->nodes_needed);
	else if (a->nodes_needed < a->nodes && !a->refetched)
		snprintf(buf, cap,
			 "%llu node%s of this size would hold the hot working "
			 "set; %zu are serving",
			 (unsigned long long)a->nodes_needed,
			 a->nodes_needed == 1 ? "" : "s", a->nodes);
	else
		snprintf(buf, cap,
			 "enough: the %zu node%s hold the hot working set",
			 a->nodes, a->nodes == 1 ? "" : "s");
}

/* a's fields for a JSON object, without the braces; with the verdict v
 * unless NULL (a dataset's row has none of its own). */
static void json_fields(FILE *f, const sl_advise_t *a, const char *v)
{
	fprintf(f,
		"\"nodes\": %zu, \"capacity_bytes\": %llu, "
		"\"used_bytes\": %llu, \"node_size_bytes\": %llu, "
		"\"capacity_used_ratio\": %.6f, "
		"\"backend_bytes\": %llu, "
		"\"refetched_bytes\": %llu, \"refetch_ratio\": %.6f, "
		"\"working_set_bytes\": %llu, \"headroom_pct\": %u, "
		"\"nodes_needed\": %llu, \"node_share\": %.4f, "
		"\"window_seconds\": %.3f, "
		"\"backend_demand_bytes_per_second\": %.1f, "
		"\"refetch_bytes_per_second\": %.1f",
		a->nodes, (unsigned long long)a->capacity,
		(unsigned long long)a->used, (unsigned long long)a->node_size,
		a->used_ratio, (unsigned long long)a->fetched,
		(unsigned long long)a->refetched, a->refetch_ratio,
		(unsigned long long)a->working_set, a->headroom_pct,
		(unsigned long long)a->nodes_needed, a->node_share, a->seconds,
		a->demand_bps, a->refetch_bps);
	if (v)
		fprintf(f, ", \"recommendation\": \"%s\"", v);
}

int sl_advise_print(FILE *f, const sl_advise_t *a, int json)
{
	char v[256];

	verdict(a, v, sizeof(v));
	if (json) {
		fprintf(f, "{");
		json_fields(f, a, v);
		fprintf(f, "}\n");
		return ferror(f) ? -EIO : 0;
	}
	fprintf(f, "nodes                 %zu, %llu bytes each on average\n",
		a->nodes, (unsigned long long)a->node_size);
	fprintf(f, "capacity              %llu bytes, %llu used (%.1f%%)\n",
		(unsigned long long)a->capacity, (unsigned long long)a->used,
		100.0 * a->used_ratio);
	fprintf(f,
		"backend reads         %llu bytes, %llu of them refetched "
		"(%.1f%%: the working set that did not fit)\n",
		(unsigned long long)a->fetched,
		(unsigned long long)a->refetched, 100.0 * a->refetch_ratio);
	if (a->seconds > 0)
		fprintf(f,
			"over %.1f s            backend demand %.0f B/s, "
			"refetches %.0f B/s\n",
			a->seconds, a->demand_bps, a->refetch_bps);
	fprintf(f,
		"hot working set       %llu bytes (estimated), + %u%% "
		"headroom\n",
		(unsigned long long)a->working_set, a->headroom_pct);
	fprintf(f, "nodes needed          %llu\n",
		(unsigned long long)a->nodes_needed);
	fprintf(f, "recommendation        %s\n", v);
	return ferror(f) ? -EIO : 0;
}

/* One row of the table: the figures advise used (the rates "-"
 * without a window), and the share of a node of today's size the row's
 * working set (with headroom) takes. */
static void row(FILE *f, const char *name, const sl_advise_t *a)
{
	char demand[32] = "-", refetch[32] = "-";

	if (a->seconds > 0) {
		snprintf(demand, sizeof(demand), "%.0f", a->demand_bps);
		snprintf(refetch, sizeof(refetch), "%.0f", a->refetch_bps);
	}
	fprintf(f,
		"%-16s %14llu %6.1f%% %14llu %14llu %12s %12s %14llu "
		"%7.2f\n",
		name, (unsigned long long)a->used, 100.0 * a->used_ratio,
		(unsigned long long)a->fetched,
		(unsigned long long)a->refetched, demand, refetch,
		(unsigned long long)a->working_set, a->node_share);
}

int sl_advise_print_datasets(FILE *f, const sl_advise_t *total,
			     const char *const *names, const sl_advise_t *per,
			     size_t n, int json)
{
	char v[256];

	if (json) {
		verdict(total, v, sizeof(v));
		fprintf(f, "{");
		json_fields(f, total, v);
		fprintf(f, ", \"datasets\": [");
		for (size_t i = 0; i < n; i++) {
			fprintf(f, "%s{\"name\": \"%s\", ", i ? ", " : "",
				names[i]);
			json_fields(f, &per[i], NULL);
			fprintf(f, "}");
		}
		fprintf(f, "]}\n");
		return ferror(f) ? -EIO : 0;
	}
	fprintf(f, "%-16s %14s %7s %14s %14s %12s %12s %14s %7s\n", "DATASET",
		"CACHED", "USED%", "BACKEND", "REFETCHED", "DEMAND_B/s",
		"REFETCH_B/s", "WORKING_SET", "NODES");
	for (size_t i = 0; i < n; i++)
		row(f, names[i], &per[i]);
	row(f, "(cluster)", total);
	return ferror(f) ? -EIO : 0;
}
