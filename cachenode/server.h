/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cache node's server: one event thread owns the ZeroMQ ROUTER socket,
 * the RAM tier's index, the single-flight table and the metadata cache;
 * a worker pool runs backend calls and hands results back through an
 * eventfd.  cn_server_run() is that event thread's loop.
 *
 * With disk_path set, an NVMe tier (disktier.h) sits under the RAM tier.
 *
 * Ops served: HELLO, STAT, LIST (paged), READ (a block or a range in one),
 * PREFETCH (answered at once, fetched in the background), PEER_READ (from
 * the cache only), REPLICATE, DRAIN and STATS.  Any
 * other op gets -EOPNOTSUPP; a malformed message gets the decoder's error
 * (or is dropped when it cannot be addressed); nothing a peer sends can
 * stop the loop.
 *
 * Threads: everything here is for the thread that calls cn_server_run,
 * except cn_server_stop (any thread, async-signal-safe) and the metrics
 * (atomic).
 */
#ifndef CN_SERVER_H
#define CN_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "cachenode/metrics.h"
#include "common/config.h"
#include "sluice/backend.h"

typedef struct cn_server cn_server_t;

typedef struct cn_server_opts {
	/* Backends registered before any module is loaded (tests, embedded
	 * backends); the tables are borrowed for the server's lifetime. */
	const sb_ops_t *const *builtins;
	size_t n_builtins;
	/* Eviction policies beyond the built-in ones (tests), found by
	 * name after them; borrowed for the server's lifetime. */
	const struct cn_policy_ops *const *policies;
	size_t n_policies;
	int no_metrics_http; /* do not listen on metrics_addr */
	unsigned drain_ms;   /* on stop, wait this long for fetches (5000) */
	/* Cache no block in RAM (benchmarks of the disk tier): ram_capacity
	 * then bounds the buffers of blocks in flight instead. */
	int no_ram_tier;
} cn_server_opts_t;

/*
 * A server for node `node` of cfg: opens every dataset, binds the node's
 * addr and starts the workers and the metrics listener.  cfg is transferred
 * (freed by the server, also on failure); opts is borrowed and may be NULL.
 * Returns NULL with one line in err.
 */
cn_server_t *cn_server_new(sl_config_t *cfg, const char *node,
			   const cn_server_opts_t *opts, char *err,
			   size_t errlen);

/*
 * Serve until cn_server_stop(): then stop accepting (new requests get
 * -ESHUTDOWN), let fetches in flight finish for up to drain_ms, fail what
 * is left with -ESHUTDOWN and return 0.  A fatal socket error returns
 * -errno.
 */
int cn_server_run(cn_server_t *s);

/* Ask the loop to stop.  Any thread; async-signal-safe. */
void cn_server_stop(cn_server_t *s);

/*
 * Apply a new configuration (SIGHUP).  All or nothing: when the node is
 * missing from cfg or a new or changed dataset fails to open, the old
 * configuration stays and -errno is returned with one line in err.
 * Datasets whose backend settings changed are reopened and their cached
 * blocks and metadata dropped; ram_capacity is applied; addr, metrics_addr,
 * workers and module_dir take effect on restart.  cfg is transferred.
 * Event thread only (from the hook, below).
 */
int cn_server_reload(cn_server_t *s, sl_config_t *cfg, char *err,
		     size_t errlen);

/*
 * Drain this node: out of placement now (static: every peer is told, at
 * one generation; etcd: its registration is revoked), answering peers'
 * PEER_READs for grace_ms, then reported drained (sluice_drain_state 2)
 * and, with then_stop, stopped as cn_server_stop does.  Event thread only
 * (from the hook).
 */
void cn_server_drain(cn_server_t *s, uint64_t grace_ms, int then_stop);

/* Poll fd (borrowed) in the loop and call fn(arg) on the event thread when
 * it is readable.  For a signalfd; fd < 0 removes the hook. */
void cn_server_set_hook(cn_server_t *s, int fd, void (*fn)(void *arg),
			void *arg);

/* The node's counters; borrowed from s. */
cn_metrics_t *cn_server_metrics(cn_server_t *s);
/* The configuration in force; borrowed until the next reload. */
const sl_config_t *cn_server_config(const cn_server_t *s);

/*
 * Free the server.  Not while cn_server_run runs.  Bounded: after a stop
 * it is done by cn_server_stop_deadline(), whatever the backends do.
 * Returns 0; or -ETIMEDOUT when backend calls were still running at that
 * deadline: they are left running and what they use stays allocated, so
 * the caller should end the process (_exit: nothing must unload what
 * those threads run).  Accepts NULL; clears *sp.
 */
int cn_server_destroy(cn_server_t **sp);

/* When a stopping server's cn_server_destroy will have returned at the
 * latest (the drain's end plus a grace; sl_now_ms() clock), or 0 when it
 * is not stopping. */
uint64_t cn_server_stop_deadline(const cn_server_t *s);

#endif
