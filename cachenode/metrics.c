/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Metrics (see metrics.h): one table describes every scalar metric, and both
 * the STATS pairs and the Prometheus text are generated from it, so the two
 * views cannot drift apart.  The HTTP side is libmicrohttpd with its own
 * polling thread; the handler only reads atomics.
 */
#include "cachenode/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/promhttp.h"
#include "common/promtext.h"
#include "common/util.h"

enum { M_COUNTER, M_GAUGE };

#define REQUESTS_FMT "sluice_requests_total{op=\"%s\",status=\"%s\"}"

typedef struct mdesc {
	const char *name; /* full name, with labels if any */
	const char *family;
	const char *help;
	int type;
	size_t off; /* offsetof a _Atomic uint64_t / int64_t field */
} mdesc_t;

#define F(field) offsetof(cn_metrics_t, field)

static const mdesc_t scalars[] = {
	{"sluice_requests_in_flight", "sluice_requests_in_flight",
	 "Requests accepted and not yet answered.", M_GAUGE, F(in_flight)},
	{"sluice_bad_messages_total", "sluice_bad_messages_total",
	 "Messages that failed to decode.", M_COUNTER, F(bad_messages)},
	{"sluice_connections_cut_total", "sluice_connections_cut_total",
	 "Connections cut for a message over its limits, or refused.",
	 M_COUNTER, F(connections_cut)},
	{"sluice_auth_refused_total", "sluice_auth_refused_total",
	 "Connections whose CURVE key is not allowed.", M_COUNTER,
	 F(auth_refused)},
	{"sluice_access_denied_total", "sluice_access_denied_total",
	 "Requests refused EACCES: the key may not ask that.", M_COUNTER,
	 F(access_denied)},
	{"sluice_peers", "sluice_peers",
	 "Clients and peers with requests or replies in flight.", M_GAUGE,
	 F(peers)},
	{"sluice_reply_bytes", "sluice_reply_bytes",
	 "Reply bytes handed to ZeroMQ and not yet sent.", M_GAUGE,
	 F(reply_bytes)},
	{"sluice_requests_held_total", "sluice_requests_held_total",
	 "Requests held until their peer was below its caps.", M_COUNTER,
	 F(requests_held)},
	{"sluice_requests_refused_total{reason=\"busy\"}",
	 "sluice_requests_refused_total",
	 "Requests refused without being served.", M_COUNTER, F(requests_busy)},
	{"sluice_requests_refused_total{reason=\"not_reading\"}",
	 "sluice_requests_refused_total",
	 "Requests refused without being served.", M_COUNTER,
	 F(requests_dropped)},
	{"sluice_cache_hits_total{tier=\"ram\"}", "sluice_cache_hits_total",
	 "Block reads answered from the cache.", M_COUNTER, F(ram_hits)},
	{"sluice_cache_hits_total{tier=\"disk\"}", "sluice_cache_hits_total",
	 "Block reads answered from the cache.", M_COUNTER, F(disk_hits)},
	{"sluice_cache_misses_total{tier=\"ram\"}", "sluice_cache_misses_total",
	 "Block reads that missed the cache.", M_COUNTER, F(ram_misses)},
	{"sluice_cache_misses_total{tier=\"disk\"}",
	 "sluice_cache_misses_total", "Block reads that missed the cache.",
	 M_COUNTER, F(disk_misses)},
	{"sluice_single_flight_joins_total", "sluice_single_flight_joins_total",
	 "Misses that waited on a fetch already in flight.", M_COUNTER,
	 F(flight_joins)},
	{"sluice_bytes_served_total", "sluice_bytes_served_total",
	 "Bytes of READ and PEER_READ replies.", M_COUNTER, F(bytes_served)},
/* Each reply that carried a block in the one tier its header names. */
#define SERVED_HELP                                                            \
	"READ and PEER_READ replies that carried bytes, by the tier that "     \
	"had the block."
#define SERVED(t, i)                                                           \
	{                                                                      \
		"sluice_served_blocks_total{tier=\"" t "\"}",                  \
			"sluice_served_blocks_total", SERVED_HELP, M_COUNTER,  \
			F(served[i])                                           \
	}
	SERVED("ram", PR_TIER_RAM),
	SERVED("disk", PR_TIER_DISK),
	SERVED("backend", PR_TIER_BACKEND),
	SERVED("peer", PR_TIER_PEER),
#undef SERVED
#define SERVED_HELP_BYTES                                                      \
	"Their bytes, by tier: they add up to sluice_bytes_served_total."
#define SERVED(t, i)                                                           \
	{                                                                      \
		"sluice_served_bytes_total{tier=\"" t "\"}",                   \
			"sluice_served_bytes_total", SERVED_HELP_BYTES,        \
			M_COUNTER, F(served_bytes[i])                          \
	}
	SERVED("ram", PR_TIER_RAM),
	SERVED("disk", PR_TIER_DISK),
	SERVED("backend", PR_TIER_BACKEND),
	SERVED("peer", PR_TIER_PEER),
#undef SERVED
	{"sluice_metadata_hits_total", "sluice_metadata_hits_total",
	 "STAT and LIST answered from the metadata cache.", M_COUNTER,
	 F(meta_hits)},
	{"sluice_metadata_misses_total", "sluice_metadata_misses_total",
	 "STAT and LIST that went to the backend.", M_COUNTER, F(meta_misses)},
	{"sluice_memory_waits_total", "sluice_memory_waits_total",
	 "Fetches that waited for block memory to free.", M_COUNTER,
	 F(memory_waits)},
	{"sluice_backend_refetches_total", "sluice_backend_refetches_total",
	 "Backend block reads of blocks this node had fetched before and no "
	 "longer held: the working set that did not fit.",
	 M_COUNTER, F(refetches)},
	{"sluice_backend_refetched_bytes_total",
	 "sluice_backend_refetched_bytes_total", "Their bytes.", M_COUNTER,
	 F(refetched_bytes)},
	{"sluice_ghost_entries", "sluice_ghost_entries",
	 "Block keys the refetch detector remembers, at most.", M_GAUGE,
	 F(ghost_slots)},
	{"sluice_ghost_bytes", "sluice_ghost_bytes",
	 "Memory of the refetch detector.", M_GAUGE, F(ghost_bytes)},
	{"sluice_backend_reads_total", "sluice_backend_reads_total",
	 "Block reads from the backend.", M_COUNTER, F(backend_reads)},
	{"sluice_backend_read_bytes_total", "sluice_backend_read_bytes_total",
	 "Bytes read from the backend.", M_COUNTER, F(backend_read_bytes)},
	{"sluice_backend_errors_total", "sluice_backend_errors_total",
	 "Backend calls that failed.", M_COUNTER, F(backend_errors)},
	{"sluice_backend_stats_total", "sluice_backend_stats_total",
	 "Backend stat calls.", M_COUNTER, F(backend_stats)},
	{"sluice_backend_lists_total", "sluice_backend_lists_total",
	 "Backend list calls (pages).", M_COUNTER, F(backend_lists)},
	{"sluice_evictions_total{tier=\"ram\"}", "sluice_evictions_total",
	 "Blocks evicted.", M_COUNTER, F(evictions)},
	{"sluice_evictions_total{tier=\"disk\"}", "sluice_evictions_total",
	 "Blocks evicted.", M_COUNTER, F(disk_evictions)},
	{"sluice_evicted_bytes_total{tier=\"ram\"}",
	 "sluice_evicted_bytes_total", "Bytes evicted.", M_COUNTER,
	 F(evicted_bytes)},
	{"sluice_evicted_bytes_total{tier=\"disk\"}",
	 "sluice_evicted_bytes_total", "Bytes evicted.", M_COUNTER,
	 F(disk_evicted_bytes)},
	{"sluice_admitted_total{tier=\"ram\"}", "sluice_admitted_total",
	 "Blocks admitted to the cache.", M_COUNTER, F(admitted)},
	{"sluice_admitted_total{tier=\"disk\"}", "sluice_admitted_total",
	 "Blocks admitted to the cache.", M_COUNTER, F(disk_admitted)},
	{"sluice_not_admitted_total{tier=\"ram\"}", "sluice_not_admitted_total",
	 "Blocks served without being cached (policy full).", M_COUNTER,
	 F(not_admitted)},
	{"sluice_not_admitted_total{tier=\"disk\"}",
	 "sluice_not_admitted_total",
	 "Blocks served without being cached (policy full).", M_COUNTER,
	 F(disk_not_admitted)},
	{"sluice_demotions_total", "sluice_demotions_total",
	 "Blocks evicted from RAM that stay on disk.", M_COUNTER, F(demotions)},
	{"sluice_promotions_total", "sluice_promotions_total",
	 "Disk hits admitted to RAM.", M_COUNTER, F(promotions)},
	{"sluice_disk_reads_total", "sluice_disk_reads_total",
	 "Block files read.", M_COUNTER, F(disk_reads)},
	{"sluice_disk_read_bytes_total", "sluice_disk_read_bytes_total",
	 "Bytes read from block files, headers included.", M_COUNTER,
	 F(disk_read_bytes)},
	{"sluice_disk_writes_total", "sluice_disk_writes_total",
	 "Block files written.", M_COUNTER, F(disk_writes)},
	{"sluice_disk_write_bytes_total", "sluice_disk_write_bytes_total",
	 "Bytes written to block files, headers included.", M_COUNTER,
	 F(disk_write_bytes)},
	{"sluice_disk_read_errors_total", "sluice_disk_read_errors_total",
	 "Block file reads that failed (the block is refetched).", M_COUNTER,
	 F(disk_read_errors)},
	{"sluice_disk_write_errors_total", "sluice_disk_write_errors_total",
	 "Block file writes that failed (ENOSPC, EIO, ...).", M_COUNTER,
	 F(disk_write_errors)},
	{"sluice_corrupt_blocks_total", "sluice_corrupt_blocks_total",
	 "Block files that failed their checksum: dropped and refetched.",
	 M_COUNTER, F(corrupt_blocks)},
	{"sluice_ram_capacity_bytes", "sluice_ram_capacity_bytes",
	 "Configured RAM capacity.", M_GAUGE, F(ram_capacity)},
	{"sluice_ram_used_bytes", "sluice_ram_used_bytes",
	 "RAM used by cached blocks, their index and metadata.", M_GAUGE,
	 F(ram_used)},
	{"sluice_ram_blocks", "sluice_ram_blocks", "Blocks in the RAM tier.",
	 M_GAUGE, F(ram_blocks)},
	{"sluice_ram_transient_bytes", "sluice_ram_transient_bytes",
	 "Fetch and reply buffers not counted as cache.", M_GAUGE,
	 F(ram_transient)},
	{"sluice_metadata_bytes", "sluice_metadata_bytes",
	 "Bytes held by the metadata cache.", M_GAUGE, F(meta_bytes)},
	{"sluice_metadata_entries", "sluice_metadata_entries",
	 "Entries in the metadata cache.", M_GAUGE, F(meta_entries)},
	{"sluice_disk_capacity_bytes", "sluice_disk_capacity_bytes",
	 "Configured disk tier capacity.", M_GAUGE, F(disk_capacity)},
	{"sluice_disk_used_bytes", "sluice_disk_used_bytes",
	 "Disk used by block files, headers included.", M_GAUGE, F(disk_used)},
	{"sluice_disk_blocks", "sluice_disk_blocks", "Blocks in the disk tier.",
	 M_GAUGE, F(disk_blocks)},
	{"sluice_disk_free_bytes", "sluice_disk_free_bytes",
	 "Free space on the disk tier's filesystem (last reading).", M_GAUGE,
	 F(disk_free)},
	{"sluice_disk_full", "sluice_disk_full",
	 "1 while the disk tier admits nothing for lack of space.", M_GAUGE,
	 F(disk_full)},
	{"sluice_disk_admitting", "sluice_disk_admitting",
	 "1 while the disk tier takes new blocks.", M_GAUGE, F(disk_admitting)},
	{"sluice_disk_pending_writes", "sluice_disk_pending_writes",
	 "Block writes queued or in flight.", M_GAUGE, F(disk_pending_writes)},
	{"sluice_ring_generation", "sluice_ring_generation",
	 "Generation of the ring this node routes by.", M_GAUGE,
	 F(ring_generation)},
	{"sluice_ring_members", "sluice_ring_members",
	 "Members of the ring this node routes by.", M_GAUGE, F(ring_members)},
	{"sluice_ring_keys_moved_ppm", "sluice_ring_keys_moved_ppm",
	 "Share of the key space the last ring change gave another owner, "
	 "per million.",
	 M_GAUGE, F(keys_moved_ppm)},
	{"sluice_membership_changes_total", "sluice_membership_changes_total",
	 "Ring changes applied.", M_COUNTER, F(membership_changes)},
	{"sluice_drain_state", "sluice_drain_state",
	 "0 in placement, 1 draining (answers peers), 2 drained.", M_GAUGE,
	 F(drain_state)},
	{"sluice_handoff_reads_total{result=\"hit\"}",
	 "sluice_handoff_reads_total",
	 "Misses on moved blocks asked of their previous owner.", M_COUNTER,
	 F(handoff_hits)},
	{"sluice_handoff_reads_total{result=\"miss\"}",
	 "sluice_handoff_reads_total",
	 "Misses on moved blocks asked of their previous owner.", M_COUNTER,
	 F(handoff_misses)},
	{"sluice_handoff_bytes_total", "sluice_handoff_bytes_total",
	 "Bytes of blocks taken from a peer instead of the backend.", M_COUNTER,
	 F(handoff_bytes)},
	{"sluice_peer_reads_total{result=\"served\"}",
	 "sluice_peer_reads_total", "PEER_READ requests from other nodes.",
	 M_COUNTER, F(peer_reads_served)},
	{"sluice_peer_reads_total{result=\"failed\"}",
	 "sluice_peer_reads_total", "PEER_READ requests from other nodes.",
	 M_COUNTER, F(peer_reads_failed)},
	{"sluice_replicas_total{dir=\"sent\"}", "sluice_replicas_total",
	 "Copies of blocks handed to further replicas, and pulled for one.",
	 M_COUNTER, F(replicas_sent)},
	{"sluice_replicas_total{dir=\"received\"}", "sluice_replicas_total",
	 "Copies of blocks handed to further replicas, and pulled for one.",
	 M_COUNTER, F(replicas_received)},
};

/* The histograms, rendered after the scalars. */
typedef struct hdesc {
	const char *name; /* family; _bucket, _sum, _count appended */
	const char *help;
	size_t off;	/* offsetof the bucket array */
	size_t sum_off; /* offsetof the nanosecond sum */
} hdesc_t;

static const hdesc_t hists[] = {
	{"sluice_backend_read_seconds", "Backend block read latency.",
	 F(backend_lat), F(backend_lat_sum_ns)},
	{"sluice_disk_read_seconds", "Disk tier block read latency.",
	 F(disk_read_lat), F(disk_read_lat_sum_ns)},
	{"sluice_disk_write_seconds", "Disk tier block write latency.",
	 F(disk_write_lat), F(disk_write_lat_sum_ns)},
};

static const struct {
	int err;
	const char *name;
} status_names[CN_MS_N] = {
	[CN_MS_OK] = {0, "ok"},
	[CN_MS_ENOENT] = {ENOENT, "ENOENT"},
	[CN_MS_EINVAL] = {EINVAL, "EINVAL"},
	[CN_MS_EISDIR] = {EISDIR, "EISDIR"},
	[CN_MS_ENOTDIR] = {ENOTDIR, "ENOTDIR"},
	[CN_MS_ESTALE] = {ESTALE, "ESTALE"},
	[CN_MS_EIO] = {EIO, "EIO"},
	[CN_MS_EACCES] = {EACCES, "EACCES"},
	[CN_MS_EBADMSG] = {EBADMSG, "EBADMSG"},
	[CN_MS_EOPNOTSUPP] = {EOPNOTSUPP, "EOPNOTSUPP"},
	[CN_MS_EPROTONOSUPPORT] = {EPROTONOSUPPORT, "EPROTONOSUPPORT"},
	[CN_MS_ENAMETOOLONG] = {ENAMETOOLONG, "ENAMETOOLONG"},
	[CN_MS_EMSGSIZE] = {EMSGSIZE, "EMSGSIZE"},
	[CN_MS_ESHUTDOWN] = {ESHUTDOWN, "ESHUTDOWN"},
	[CN_MS_OTHER] = {-1, "other"},
};

static int status_index(int status)
{
	for (int i = 0; i < CN_MS_OTHER; i++)
		if (status_names[i].err == -status)
			return i;
	return CN_MS_OTHER;
}

const char *cn_mstatus_name(int status)
{
	return status_names[status_index(status)].name;
}

void cn_metrics_init(cn_metrics_t *m)
{
	/* All-zero is the initial state of every field. */
	memset(m, 0, sizeof(*m));
}

cn_dsmetrics_t *cn_dsmetrics_new(void)
{
	cn_dsmetrics_t *d = sl_xcalloc(1, sizeof(*d));

	atomic_init(&d->refs, 1);
	return d;
}

cn_dsmetrics_t *cn_dsmetrics_ref(cn_dsmetrics_t *d)
{
	atomic_fetch_add(&d->refs, 1);
	return d;
}

void cn_dsmetrics_unref(cn_dsmetrics_t **dp)
{
	cn_dsmetrics_t *d = dp ? *dp : NULL;

	if (!d)
		return;
	*dp = NULL;
	SL_ASSERT(atomic_load(&d->refs) > 0);
	if (atomic_fetch_sub(&d->refs, 1) == 1)
		free(d);
}

void cn_metrics_request(cn_metrics_t *m, unsigned op, int status)
{
	unsigned o = pr_op_known(op) ? op : 0;

	atomic_fetch_add_explicit(&m->requests[o][status_index(status)], 1,
				  memory_order_relaxed);
}

void cn_metrics_backend_latency(cn_metrics_t *m, uint64_t ns)
{
	sl_hist_observe(m->backend_lat, &m->backend_lat_sum_ns, ns);
}

void cn_metrics_disk_latency(cn_metrics_t *m, int write, uint64_t ns)
{
	if (write)
		sl_hist_observe(m->disk_write_lat, &m->disk_write_lat_sum_ns,
				ns);
	else
		sl_hist_observe(m->disk_read_lat, &m->disk_read_lat_sum_ns, ns);
}

static _Atomic uint64_t *field_at(cn_metrics_t *m, size_t off)
{
	return (_Atomic uint64_t *)((char *)m + off);
}

static uint64_t load_field(cn_metrics_t *m, size_t off)
{
	/* int64 gauges are never negative once every path has balanced; a
	 * transient negative reads as 0. */
	if (off == F(in_flight)) {
		int64_t v = atomic_load_explicit(&m->in_flight,
						 memory_order_relaxed);

		return v < 0 ? 0 : (uint64_t)v;
	}
	return atomic_load_explicit((_Atomic uint64_t *)((char *)m + off),
				    memory_order_relaxed);
}

static const char *op_label(unsigned o)
{
	return o == 0 ? "UNKNOWN" : pr_op_name(o);
}

/* The extra series into STATS: ctx is the foreach's callback. */
struct foreach_ctx {
	void (*fn)(void *arg, const char *name, uint64_t value);
	void *arg;
};

/* A family named *_total is a counter (metrics.h, cn_metrics_extra). */
static int is_counter(const char *family)
{
	size_t n = strlen(family);

	return n > 6 && strcmp(family + n - 6, "_total") == 0;
}

static void foreach_extra(void *ctx, const char *family, const char *help,
			  const char *name, uint64_t value)
{
	struct foreach_ctx *c = ctx;

	(void)help;
	/* STATS holds 1024 items: a labelled counter at 0 says nothing a
	 * client cannot infer from its absence (cn_metrics_foreach). */
	if (value || !is_counter(family))
		c->fn(c->arg, name, value);
}

/* ... and into the exposition, a family's HELP and TYPE before its first
 * sample. */
struct render_ctx {
	FILE *f;
	char family[128];
};

static void render_extra(void *ctx, const char *family, const char *help,
			 const char *name, uint64_t value)
{
	struct render_ctx *c = ctx;

	if (strcmp(c->family, family) != 0) {
		fprintf(c->f, "# HELP %s %s\n# TYPE %s %s\n", family, help,
			family, is_counter(family) ? "counter" : "gauge");
		snprintf(c->family, sizeof(c->family), "%s", family);
	}
	fprintf(c->f, "%s %llu\n", name, (unsigned long long)value);
}

void cn_metrics_foreach(cn_metrics_t *m,
			void (*fn)(void *arg, const char *name, uint64_t value),
			void *arg)
{
	char name[256], le[32];
	uint64_t cum = 0;

	for (unsigned o = 0; o < CN_M_OPS; o++) {
		for (int s = 0; s < CN_MS_N; s++) {
			uint64_t v = atomic_load_explicit(&m->requests[o][s],
							  memory_order_relaxed);

			if (!v)
				continue;
			snprintf(name, sizeof(name), REQUESTS_FMT, op_label(o),
				 status_names[s].name);
			fn(arg, name, v);
		}
	}
	for (size_t i = 0; i < SL_ARRAY_SIZE(scalars); i++)
		fn(arg, scalars[i].name, load_field(m, scalars[i].off));
	for (size_t h = 0; h < SL_ARRAY_SIZE(hists); h++) {
		const hdesc_t *d = &hists[h];
		_Atomic uint64_t *b = field_at(m, d->off);
		size_t base = strlen(d->name) - strlen("_seconds");

		cum = 0;
		for (size_t i = 0; i <= CN_LAT_BUCKETS; i++) {
			cum += atomic_load_explicit(&b[i],
						    memory_order_relaxed);
			sl_hist_le(le, sizeof(le), i);
			snprintf(name, sizeof(name), "%s_bucket{le=\"%s\"}",
				 d->name, le);
			fn(arg, name, cum);
		}
		snprintf(name, sizeof(name), "%s_count", d->name);
		fn(arg, name, cum);
		/* STATS values are integers: the sum in nanoseconds. */
		snprintf(name, sizeof(name), "%.*s_nanoseconds_sum", (int)base,
			 d->name);
		fn(arg, name,
		   atomic_load_explicit(field_at(m, d->sum_off),
					memory_order_relaxed));
	}
	if (m->extra) {
		struct foreach_ctx c = {fn, arg};

		m->extra->fn(m->extra->arg, foreach_extra, &c);
	}
}

char *cn_metrics_render(cn_metrics_t *m, size_t *len)
{
	char *text = NULL;
	size_t size = 0;
	const char *last_family = "";
	FILE *f = open_memstream(&text, &size);

	SL_ASSERT(f);
	fprintf(f, "# HELP sluice_requests_total Requests answered, by op and "
		   "status.\n# TYPE sluice_requests_total counter\n");
	for (unsigned o = 0; o < CN_M_OPS; o++) {
		for (int s = 0; s < CN_MS_N; s++) {
			uint64_t v = atomic_load_explicit(&m->requests[o][s],
							  memory_order_relaxed);

			/* Always show READ/ok so a dashboard has a series. */
			if (!v && !(o == PR_OP_READ && s == CN_MS_OK))
				continue;
			fprintf(f,
				"sluice_requests_total{op=\"%s\",status=\"%s\"}"
				" %llu\n",
				op_label(o), status_names[s].name,
				(unsigned long long)v);
		}
	}
	for (size_t i = 0; i < SL_ARRAY_SIZE(scalars); i++) {
		const mdesc_t *d = &scalars[i];

		if (strcmp(d->family, last_family) != 0)
			fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", d->family,
				d->help, d->family,
				d->type == M_COUNTER ? "counter" : "gauge");
		last_family = d->family;
		fprintf(f, "%s %llu\n", d->name,
			(unsigned long long)load_field(m, d->off));
	}
	for (size_t h = 0; h < SL_ARRAY_SIZE(hists); h++) {
		const hdesc_t *d = &hists[h];

		fprintf(f, "# HELP %s %s\n# TYPE %s histogram\n", d->name,
			d->help, d->name);
		sl_hist_write(f, d->name, "", field_at(m, d->off),
			      field_at(m, d->sum_off));
	}
	if (m->extra) {
		struct render_ctx c = {.f = f};

		m->extra->fn(m->extra->arg, render_extra, &c);
	}
	fclose(f);
	*len = size;
	return text;
}

/* ---- HTTP ------------------------------------------------------------ */

struct cn_metrics_http {
	sl_promhttp_t *h;
	cn_metrics_t *m;
};

static char *render_http(void *arg, size_t *len)
{
	cn_metrics_http_t *h = arg;

	return cn_metrics_render(h->m, len);
}

cn_metrics_http_t *cn_metrics_http_start(cn_metrics_t *m, const char *addr,
					 char *err, size_t errlen)
{
	cn_metrics_http_t *h = sl_xcalloc(1, sizeof(*h));

	h->m = m;
	h->h = sl_promhttp_start(addr, 0, render_http, h, err, errlen);
	if (!h->h) {
		free(h);
		return NULL;
	}
	return h;
}

void cn_metrics_http_stop(cn_metrics_http_t **hp)
{
	cn_metrics_http_t *h = hp ? *hp : NULL;

	if (!h)
		return;
	sl_promhttp_stop(&h->h);
	free(h);
	*hp = NULL;
}
