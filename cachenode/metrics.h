/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cache node's counters and gauges, served two ways: Prometheus text on
 * an HTTP port (GET /metrics, libmicrohttpd) and name/value pairs in the
 * STATS reply.  Both come from one table, so they always agree.
 *
 * cn_metrics_t is a plain descriptor of atomic fields: any thread updates
 * and reads them without a lock (relaxed order; a scrape is a snapshot of
 * each value, not of all of them at one instant).
 */
#ifndef CN_METRICS_H
#define CN_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/promtext.h"
#include "proto/proto.h"

/* Request outcomes we count separately; anything else is "other". */
enum cn_mstatus {
	CN_MS_OK,
	CN_MS_ENOENT,
	CN_MS_EINVAL,
	CN_MS_EISDIR,
	CN_MS_ENOTDIR,
	CN_MS_ESTALE,
	CN_MS_EIO,
	CN_MS_EACCES,
	CN_MS_EBADMSG,
	CN_MS_EOPNOTSUPP,
	CN_MS_EPROTONOSUPPORT,
	CN_MS_ENAMETOOLONG,
	CN_MS_EMSGSIZE,
	CN_MS_ESHUTDOWN,
	CN_MS_OTHER,
	CN_MS_N
};

/* Op index 0 counts unknown opcodes. */
#define CN_M_OPS (PR_OP_MAX + 1)

/* Backend read latency buckets (upper bounds in microseconds), then +Inf. */
#define CN_LAT_BUCKETS SL_LAT_BUCKETS

typedef struct cn_metrics {
	_Atomic uint64_t requests[CN_M_OPS][CN_MS_N];
	_Atomic int64_t in_flight;     /* requests accepted, not yet answered */
	_Atomic uint64_t bad_messages; /* undecodable frames, incl. dropped */
	_Atomic uint64_t peers;	       /* gauge: peers with work in flight */
	_Atomic uint64_t reply_bytes;  /* gauge: reply bytes ZeroMQ holds */
	_Atomic uint64_t requests_held; /* waited for their peer's caps */
	_Atomic uint64_t requests_busy; /* refused -EAGAIN: peer at its caps */
	_Atomic uint64_t requests_dropped; /* peer at its caps, not reading */
	_Atomic uint64_t connections_cut;  /* by the wire gate (gate.h) */
	_Atomic uint64_t auth_refused;	   /* CURVE keys refused (zap.h) */
	_Atomic uint64_t access_denied;	   /* requests refused -EACCES */

	_Atomic uint64_t ram_hits;
	_Atomic uint64_t ram_misses;
	_Atomic uint64_t disk_hits;    /* RAM misses served by the disk tier */
	_Atomic uint64_t disk_misses;  /* RAM misses the disk tier missed too */
	_Atomic uint64_t flight_joins; /* misses that waited on a fetch */
	_Atomic uint64_t bytes_served; /* READ reply bodies */
	/* READ and PEER_READ replies with bytes, and their bytes, by enum
	 * pr_tier: each counted in the one tier its header names. */
	_Atomic uint64_t served[PR_TIER_MAX + 1];
	_Atomic uint64_t served_bytes[PR_TIER_MAX + 1];
	_Atomic uint64_t meta_hits;
	_Atomic uint64_t meta_misses;
	_Atomic uint64_t memory_waits; /* fetches that waited for memory */

	/* Backend fetches of blocks this node had fetched before (ghost.h):
	 * the working set that did not fit. */
	_Atomic uint64_t refetches;
	_Atomic uint64_t refetched_bytes;
	_Atomic uint64_t ghost_slots; /* gauges: its size, and memory */
	_Atomic uint64_t ghost_bytes;

	_Atomic uint64_t backend_reads;
	_Atomic uint64_t backend_read_bytes;
	_Atomic uint64_t backend_errors;
	_Atomic uint64_t backend_stats;
	_Atomic uint64_t backend_lists;
	_Atomic uint64_t backend_lat[CN_LAT_BUCKETS + 1]; /* per bucket */
	_Atomic uint64_t backend_lat_sum_ns;

	_Atomic uint64_t evictions;
	_Atomic uint64_t evicted_bytes;
	_Atomic uint64_t admitted;
	_Atomic uint64_t not_admitted; /* served once, not cached */

	_Atomic uint64_t ram_capacity; /* gauges, bytes */
	_Atomic uint64_t ram_used;     /* blocks + index + metadata */
	_Atomic uint64_t ram_blocks;
	_Atomic uint64_t ram_transient; /* fetch/serve buffers not cached */
	_Atomic uint64_t meta_bytes;
	_Atomic uint64_t meta_entries;

	/* The disk tier (all zero without one). */
	_Atomic uint64_t demotions;  /* RAM evictions kept on disk */
	_Atomic uint64_t promotions; /* disk hits admitted to RAM */
	_Atomic uint64_t disk_evictions;
	_Atomic uint64_t disk_evicted_bytes;
	_Atomic uint64_t disk_admitted;
	_Atomic uint64_t disk_not_admitted; /* full, failed or backlogged */
	_Atomic uint64_t disk_reads;
	_Atomic uint64_t disk_read_bytes;
	_Atomic uint64_t disk_writes;
	_Atomic uint64_t disk_write_bytes;
	_Atomic uint64_t disk_read_errors;
	_Atomic uint64_t disk_write_errors;
	_Atomic uint64_t corrupt_blocks; /* failed their checksum: dropped */
	_Atomic uint64_t disk_read_lat[CN_LAT_BUCKETS + 1];
	_Atomic uint64_t disk_read_lat_sum_ns;
	_Atomic uint64_t disk_write_lat[CN_LAT_BUCKETS + 1];
	_Atomic uint64_t disk_write_lat_sum_ns;
	_Atomic uint64_t disk_capacity; /* gauges, bytes */
	_Atomic uint64_t disk_used;	/* block files, headers included */
	_Atomic uint64_t disk_blocks;
	_Atomic uint64_t disk_free;	 /* the filesystem's, last reading */
	_Atomic uint64_t disk_full;	 /* 1: not admitting for space */
	_Atomic uint64_t disk_admitting; /* 1: the tier takes blocks */
	_Atomic uint64_t disk_pending_writes; /* queued or in flight */

	/* The ring and the hand-off. */
	_Atomic uint64_t ring_generation; /* gauges */
	_Atomic uint64_t ring_members;
	_Atomic uint64_t keys_moved_ppm; /* by the last change, per million */
	_Atomic uint64_t membership_changes;
	_Atomic uint64_t drain_state; /* PR_DRAIN_* */
	/* PEER_READs this node sent for a moved block (or a replica's copy)
	 * that brought it, and that did not. */
	_Atomic uint64_t handoff_hits;
	_Atomic uint64_t handoff_misses;
	_Atomic uint64_t handoff_bytes;	    /* ... the bytes the hits brought */
	_Atomic uint64_t peer_reads_served; /* PEER_READs answered */
	_Atomic uint64_t peer_reads_failed; /* ... with -ENODATA */
	_Atomic uint64_t replicas_sent;	    /* REPLICATE hints sent */
	_Atomic uint64_t replicas_received; /* copies pulled for one */
	/* Labelled gauges another module keeps (cn_metrics_set_extra). */
	struct cn_metrics_extra *extra;
} cn_metrics_t;

/*
 * One dataset's share of the node-wide counters above, each counted at
 * the same place as the node-wide one it splits, so that the datasets add
 * up to the node exactly.  Any thread adds (relaxed atomics: the cost of
 * a READ is one or two adds more).  Every cn_dataset_t of one name shares
 * one, across reloads that reopen it, so a dataset that stays never sees
 * its counters go back; the block goes with the last dataset and the
 * last row of dsstats.c that refer to it.
 */
typedef struct cn_dsmetrics {
	_Atomic uint64_t served_bytes[PR_TIER_MAX + 1]; /* as served_bytes */
	_Atomic uint64_t backend_read_bytes;		/* as backend_... */
	_Atomic uint64_t refetched_bytes;		/* as refetched_... */
	_Atomic int refs;
} cn_dsmetrics_t;

/* All zero, with one reference: release it with cn_dsmetrics_unref. */
cn_dsmetrics_t *cn_dsmetrics_new(void);
/* One reference more on d; returns d.  Any thread. */
cn_dsmetrics_t *cn_dsmetrics_ref(cn_dsmetrics_t *d);
/* Drop the reference *dp (accepts NULL, clears *dp); frees on the last. */
void cn_dsmetrics_unref(cn_dsmetrics_t **dp);

/*
 * Series a module keeps itself (the per-dataset figures, dsstats.h): at
 * the end of the exposition and of STATS, fn(arg, emit, ctx) calls emit
 * once per sample, family by family (family, its help, the sample's name
 * with labels, its value).  A family whose name ends in _total is a
 * counter (and left out of STATS while 0, as labelled counters are),
 * any other a gauge.  fn runs on the HTTP thread or the event thread and
 * locks what it reads.  Set before the HTTP server starts; fn and arg
 * outlive it.
 */
typedef void cn_metrics_emit_fn(void *ctx, const char *family, const char *help,
				const char *name, uint64_t value);
typedef struct cn_metrics_extra {
	void (*fn)(void *arg, cn_metrics_emit_fn *emit, void *ctx);
	void *arg;
} cn_metrics_extra_t;

void cn_metrics_init(cn_metrics_t *m);

/* Count one answered request: op as received, status 0 or -errno. */
void cn_metrics_request(cn_metrics_t *m, unsigned op, int status);
void cn_metrics_backend_latency(cn_metrics_t *m, uint64_t ns);
void cn_metrics_disk_latency(cn_metrics_t *m, int write, uint64_t ns);

/* The label value of a status: "ok", "ENOENT", ..., "other".  Static. */
const char *cn_mstatus_name(int status);

/*
 * Visit every metric as a Prometheus-style sample name with labels
 * ("sluice_requests_total{op=\"READ\",status=\"ok\"}") and an integer
 * value; counters that are zero and carry labels are skipped.  This is the
 * STATS reply.  name is valid during the call only.
 */
void cn_metrics_foreach(cn_metrics_t *m,
			void (*fn)(void *arg, const char *name, uint64_t value),
			void *arg);

/* The Prometheus text exposition (format 0.0.4).  Caller frees. */
char *cn_metrics_render(cn_metrics_t *m, size_t *len);

/*
 * An HTTP server answering GET /metrics on addr ("HOST:PORT", "[V6]:PORT",
 * "*:PORT" or ":PORT" for any).  m is borrowed and must outlive the server.
 * Returns NULL with a message in err.  The server runs its own thread.
 */
typedef struct cn_metrics_http cn_metrics_http_t;
cn_metrics_http_t *cn_metrics_http_start(cn_metrics_t *m, const char *addr,
					 char *err, size_t errlen);
/* Stops the thread and closes the socket.  Accepts NULL; clears *hp. */
void cn_metrics_http_stop(cn_metrics_http_t **hp);

#endif
