/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the parts of the cache node's server share.  The server is one
 * object (cn_server_t, server.h) in four files:
 *
 *   server.c    the event loop, start, stop and the dispatch of requests
 *   requests.c  requests: decoding, the caches' answers, replies, waiters
 *   fetch.c     the fetch engine: one fetch per flight, queued for buffers,
 *               run by a worker or the disk, answered on the event thread
 *   nodemap.c   datasets, the HELLO map, budgets and reload
 *   membership.c the ring's members (static or etcd), generations, the
 *               previous ring, drains, replicas
 *
 * and the RAM <-> disk glue is a module of its own (tiering.h).
 *
 * Threads: every field and function here belongs to the event thread,
 * except where a comment says otherwise; that is why none has a lock.  The
 * metrics are atomic (read by the HTTP thread); stop_requested is set
 * from any thread.
 */
#ifndef CN_SERVER_I_H
#define CN_SERVER_I_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "cachenode/autopolicy.h"
#include "cachenode/backend.h"
#include "cachenode/disktier.h"
#include "cachenode/dsstats.h"
#include "cachenode/flight.h"
#include "cachenode/load.h"
#include "cachenode/ghost.h"
#include "cachenode/metacache.h"
#include "cachenode/metrics.h"
#include "cachenode/peers.h"
#include "cachenode/ramtier.h"
#include "cachenode/ringmap.h"
#include "cachenode/senders.h"
#include "cachenode/server.h"
#include "cachenode/tiering.h"
#include "cachenode/workers.h"
#include "cachenode/zap.h"
#include "common/blockkey.h"
#include "common/keys.h"
#include "common/list.h"
#include "common/members.h"
#include "common/ring.h"
#include "proto/proto.h"

#define CN_MAX_REQ_BODY                                                        \
	(64u << 10)		   /* a request body, at most (also packed)    \
				    */
#define CN_MAX_PENDING	16384	   /* unanswered requests, all senders */
#define CN_META_ENTRIES (4u << 20) /* metadata cache entries, at most */

/* Where a reply goes.  identity and sender are borrowed; silent: nobody
 * waits for it (a PREFETCH, answered when it arrived); sender: whose
 * request it is (senders.h; NULL for one counted nowhere), and reserve the
 * reply bytes its READ reserved there. */
typedef struct cn_addr {
	zmq_msg_t *identity;
	uint8_t op;
	uint64_t req_id;
	int silent;
	cn_sender_t *sender;
	uint64_t reserve;
	const char *user; /* the key's name under CURVE (borrowed), or NULL */
} cn_addr_t;

/* A request waiting on a flight. */
typedef struct cn_req {
	zmq_msg_t identity;
	uint8_t op;
	uint64_t req_id;
	int silent;
	cn_sender_t *sender; /* a reference, or NULL */
	uint64_t reserve;
	/* A READ waiting for its file's version (on a STAT flight), or a
	 * READ waiting for its block: the range it wants. */
	cn_dataset_t *ds; /* reference; only for the version wait */
	char *path;	  /* only for the version wait */
	uint64_t block;
	uint32_t offset;
	uint32_t length;
} cn_req_t;

/* READ fetches waiting for a buffer (fetch.c's, by their qlink), and how
 * many hold one. */
typedef struct cn_fqueue {
	sl_fifo_t waiting;
	size_t active;
	size_t max;
} cn_fqueue_t;

struct cn_server {
	/* nodemap.c */
	sl_config_t *cfg;
	const sl_node_conf_t *node; /* in cfg */
	char node_name[SL_NAME_MAX + 1];
	cn_backends_t *backends;
	cn_dataset_t **ds;
	size_t n_ds;
	uint32_t next_ds_id;
	uint8_t *hello;
	size_t hello_len;

	/* membership.c */
	cn_ringmap_t *map;  /* the ring now */
	cn_ringmap_t *prev; /* the ring before the last change, or NULL */
	char (*drained)[SL_NAME_MAX + 1]; /* static: out of placement */
	size_t n_drained;
	int drain;	       /* this node's PR_DRAIN_* */
	uint64_t drain_until;  /* the end of its grace (sl_now_ms) */
	int stop_when_drained; /* --drain-on-term: stop after the grace */
	sl_members_t *members; /* membership = etcd; else NULL */
	cn_peers_t *peers;     /* PEER_READ, REPLICATE, DRAIN to others */

	/* server.c */
	cn_server_opts_t opts;
	void *zctx;
	void *router;
	int gated; /* its endpoint is watched by the wire gate (gate.h) */
	sl_keyring_t *keys; /* this node's CURVE keys (keys.h); off: none */
	cn_zap_t *zap;	    /* security = curve: the allow-list; else NULL */
	char endpoint[SL_ADDR_MAX + 1];
	cn_workers_t *workers;
	int wake_fd; /* stop requests and freed memory */
	_Atomic int stop_requested;
	int stopping;
	uint64_t drain_deadline_ms;
	uint64_t stop_answers; /* requests answered since stopping began */
	uint64_t farewell_ms;  /* when the loop ends (FAREWELL_MS), or 0 */
	int destroying;
	int hook_fd;
	void (*hook_fn)(void *arg);
	void *hook_arg;
	cn_metrics_http_t *http;

	/* The caches. */
	cn_ramtier_t *tier;
	cn_disktier_t *disk; /* NULL: no disk tier */
	cn_tiering_t *tiers;
	cn_metacache_t *meta;
	cn_flights_t *flights;
	cn_senders_t *senders; /* what each sender has in flight */
	cn_loads_t *loads;     /* LOAD and EVICT walks (load.h) */
	cn_dsstats_t *dss;     /* per-dataset gauges (dsstats.h) */
	cn_autopol_t *autopol; /* policy = auto's record (autopolicy.h) */
	cn_metrics_extra_t dss_hook;
	uint64_t last_recount_ms;
	cn_ghost_t *ghost; /* blocks fetched lately, to see refetches */
	uint64_t last_sweep_ms;

	/* fetch.c */
	cn_fqueue_t fq; /* backend READs: 2 x workers at once */
	cn_fqueue_t dq; /* disk READs: a fixed number at once */
	cn_fqueue_t pq; /* peer READs (hand-off, replicas): as many */
	sl_list_t live; /* every fetch not yet freed */
	size_t n_live;

	/* requests.c */
	size_t silent_reqs;   /* prefetches waiting for a version */
	int64_t pending_reqs; /* requests accepted, not answered */

	cn_metrics_t m;
	uint8_t scratch[CN_MAX_REQ_BODY]; /* an LZ4 request body, unpacked */
};

/* The metadata cache's keys: a STAT of path, and the group of entries
 * dropped together when path (a file or a directory) changes. */
static inline sl_blockkey_t cn_stat_key(const cn_dataset_t *ds,
					const char *path)
{
	return cn_metacache_key(CN_META_STAT, ds->name, path, NULL, 0);
}

static inline sl_blockkey_t cn_group_key(const cn_dataset_t *ds,
					 const char *path)
{
	return sl_metakey_make(ds->name, path);
}

/* ---- server.c ------------------------------------------------------------ */

/* After a reload swapped s->cfg: the new keys and allow-list (a key
 * removed is refused and its connections closed).  Under CURVE only. */
void cn_server_reload_keys(cn_server_t *s);

/* ---- nodemap.c (access) ---------------------------------------------- */

/* Whether user (a ZAP User-Id, borrowed) may see dataset d: always
 * without CURVE, for a node's key, or without an allow list. */
int cn_dataset_allows(const cn_server_t *s, const char *user,
		      const sl_dataset_conf_t *d);
/* A HELLO body for user listing only what it may see, into *out (caller
 * frees) and *len; *out NULL when s->hello is that already.  0 or the
 * encoder's error. */
int cn_nodemap_hello_for(cn_server_t *s, const char *user, uint8_t **out,
			 size_t *len);

/* ---- requests.c ---------------------------------------------------------- */

/* Answer a with status and body (borrowed; copied out).  Nothing for a
 * silent address; either way the request is done. */
void cn_reply(cn_server_t *s, const cn_addr_t *a, int status, const void *body,
	      size_t len);
/* Answer a with an error status and a message (also logged). */
void cn_reply_error(cn_server_t *s, const cn_addr_t *a, int status,
		    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Answer with bytes [off, off + len) of b, clipped to its end, without
 * copying: the message takes a reference of its own.  tier (enum
 * pr_tier) says where b was found, for the reply's header; the bytes
 * count to tier node-wide and in ds's counters (borrowed). */
void cn_reply_block(cn_server_t *s, const cn_addr_t *a, cn_dataset_t *ds,
		    cn_block_t *b, uint32_t off, uint32_t len, unsigned tier);
/* Answer a with st (borrowed) on the wire, or -EIO if it cannot be. */
void cn_reply_stat(cn_server_t *s, const cn_addr_t *a, const sb_stat_t *st);
/* Count a's request as answered (replies do it themselves): also for its
 * sender, which may be forgotten then (a->sender must not be used
 * after). */
void cn_request_done(cn_server_t *s, const cn_addr_t *a, int status);
/* Count a's request as begun (for its sender too). */
void cn_request_begin(cn_server_t *s, const cn_addr_t *a);

/* The one conversion of a backend's stat to the wire's; version is
 * borrowed from st. */
pr_stat_t cn_wire_stat(const sb_stat_t *st);

/* Where r's reply goes (borrows r). */
cn_addr_t cn_req_addr(cn_req_t *r);
/* Free a waiter of s's flights (accepts NULL). */
void cn_req_release(cn_server_t *s, cn_req_t *r);

/* A request on a dataset's path: STAT, LIST, READ, PREFETCH, PEER_READ
 * (body borrowed).  a may be changed (a PREFETCH turns silent). */
void cn_handle_path(cn_server_t *s, cn_addr_t *a, const void *body, size_t len);
void cn_handle_stats(cn_server_t *s, const cn_addr_t *a);
/* DRAIN (membership.c). */
void cn_handle_drain(cn_server_t *s, const cn_addr_t *a, const void *body,
		     size_t len);

/* Serve a READ of block (version "" = current) of path in ds (borrowed;
 * a waiter keeps its own reference). */
void cn_serve_read(cn_server_t *s, const cn_addr_t *a, cn_dataset_t *ds,
		   const char *path, const char *version, uint64_t block,
		   uint32_t offset, uint32_t length);

/* ---- fetch.c ---------------------------------------------------------------
 */

/*
 * Start the fetch of flight fl, which the caller just created and owns no
 * more: a READ of block (of path at version in ds, both borrowed) filled
 * as fill (copied: key, src, want, bwant) says, from the peer `from`
 * (copied; for CN_SRC_PEER) first; peer: for a PEER_READ or a REPLICATE,
 * never fetched from the backend; hint_of: the sender whose hint (a
 * PREFETCH) started it, which it counts against (borrowed; NULL for
 * none).  A STAT of path; a LIST page of path from cursor, up to max
 * entries.
 */
void cn_fetch_read(cn_server_t *s, cn_flight_t *fl, cn_dataset_t *ds,
		   const char *path, const char *version, uint64_t block,
		   const cn_fill_t *fill, int peer, const cn_member_t *from,
		   cn_sender_t *hint_of);
void cn_fetch_stat(cn_server_t *s, cn_flight_t *fl, cn_dataset_t *ds,
		   const char *path);
void cn_fetch_list(cn_server_t *s, cn_flight_t *fl, cn_dataset_t *ds,
		   const char *path, const char *cursor, uint32_t max);

/* Set up s's queues (at start: workers known, nothing queued). */
void cn_fetch_init(cn_server_t *s);
/* Start queued READs while buffers and slots allow. */
void cn_fetch_pump(cn_server_t *s);
/* 1 while READs wait for a buffer. */
int cn_fetch_queued(const cn_server_t *s);
/* Answer the flights of the jobs the workers finished. */
void cn_fetch_reap(cn_server_t *s);
/* Fail every READ not started yet: with -ESHUTDOWN replies, or silently
 * (reply 0) once the socket is gone. */
void cn_fetch_fail_queued(cn_server_t *s, int reply);
/* The drain took too long: answer every waiter -ESHUTDOWN and leave the
 * fetches to finish (or be cancelled) when the workers stop. */
void cn_fetch_abandon(cn_server_t *s);
/* For cn_workers_destroy: free a fetch the workers give back (arg: s). */
void cn_fetch_discard(cn_job_t *j, void *arg);

/* ---- nodemap.c -------------------------------------------------------------
 */

/* How ram_capacity is shared: cached blocks, transient buffers (slack),
 * metadata. */
void cn_nodemap_budgets(const cn_server_t *s, uint64_t *blocks, uint64_t *slack,
			uint64_t *meta);
/* What one sender may have in flight, for this node's capacity. */
void cn_nodemap_sender_limits(const cn_server_t *s, cn_sender_limits_t *lim);
/* Open s->cfg's datasets: 0, or -errno with one line in err. */
int cn_nodemap_open(cn_server_t *s, char *err, size_t errlen);
/* Encode the HELLO map again (the ring, a drain or the datasets moved). */
void cn_nodemap_hello(cn_server_t *s);
/* Open the node's disk tier: 0, or -errno with one line in err. */
int cn_nodemap_open_disk(cn_server_t *s, char *err, size_t errlen);
/* Release the datasets, the ring and the map. */
void cn_nodemap_close(cn_server_t *s);
/* The datasets' policies changed (autopolicy.c): tell the disk tier. */
void cn_nodemap_disk_policies(cn_server_t *s);
/* The dataset called name, or NULL.  Borrowed. */
cn_dataset_t *cn_nodemap_dataset(cn_server_t *s, pr_str_t name);

/* Count the datasets' cached bytes again (dsstats.h; load.c). */
void cn_server_recount(cn_server_t *s);

/* ---- membership.c ---------------------------------------------------------
 */

/* The first ring (static: the config; etcd: registered and, within a
 * short wait, what etcd says) and the peers: 0, or -errno with err. */
int cn_membership_open(cn_server_t *s, char *err, size_t errlen);
void cn_membership_close(cn_server_t *s);
/* s->cfg was replaced (SIGHUP): the static ring follows it. */
void cn_membership_reload(cn_server_t *s);
/* The etcd view's fd to poll, or -1; poll: take the new set. */
int cn_membership_fd(const cn_server_t *s);
void cn_membership_poll(cn_server_t *s);
/* The previous owner of point when it is another node and the owner
 * changed (ask it first), else NULL.  Borrowed until the ring changes. */
const cn_member_t *cn_membership_prev_owner(const cn_server_t *s,
					    uint64_t point);
/* DRAIN target (0, -ENOENT: no such node, -EINVAL: etcd and not us). */
int cn_membership_drain(cn_server_t *s, const char *target, uint64_t grace_ms,
			uint64_t generation);
/* Drain this node (--drain-on-term), telling static peers. */
void cn_membership_drain_self(cn_server_t *s, uint64_t grace_ms);
/* Timers (the end of a drain's grace): the next deadline, or UINT64_MAX. */
uint64_t cn_membership_tick(cn_server_t *s, uint64_t now);
/* The owner of a block just fetched (point = its key's) hands copies to
 * the dataset's further replicas (REPLICATE). */
void cn_membership_replicate(cn_server_t *s, const cn_dataset_t *ds,
			     const char *path, const char *version,
			     uint64_t block, uint64_t point);

#endif
