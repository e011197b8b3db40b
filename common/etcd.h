/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small client of etcd v3 through its JSON gateway (POST /v3/kv/range,
 * /v3/kv/put, /v3/lease/grant, /v3/watch, ...) over libcurl and jansson:
 * no gRPC stack.  Keys and values are bytes (base64 on the wire); every
 * call is bounded by the client's timeout, retries included; a list of
 * endpoints is tried in turn, failing over on a connection error or a 5xx,
 * and the one that answered is tried first next time.
 *
 * Errors are negative errno values; the client keeps one line for humans
 * about the last failure (sl_etcd_last_error), which names the endpoint as
 * scheme://host:port and never carries a credential.
 *
 *   -EHOSTUNREACH  no endpoint answered within the timeout
 *   -ENOENT        the lease does not exist (any more)
 *   -ESTALE        the revision asked for was compacted: range again
 *   -EMSGSIZE      a reply or a key-value over the client's bounds
 *   -EBADMSG       a reply that is not the JSON etcd sends
 *   -ECANCELED     sl_etcd_interrupt was called
 *   -EINVAL, -EACCES, -ENOSPC, -EIO  etcd refused (its message is kept)
 *
 * Threads.  One sl_etcd_t serves one thread at a time (it owns a curl
 * handle and the error line); a thread that needs etcd makes its own, they
 * are cheap.  sl_etcd_interrupt may be called from any thread.  A watch
 * (sl_etcd_watch_new) runs on a thread of its own and posts its events
 * into an inbox (common/inbox.h) whose fd the caller polls next to its
 * sockets, and takes them without blocking; it shares with its client
 * only the endpoint list (frozen) and the endpoint that last answered (an
 * atomic), so the client may go on with calls meanwhile.
 */
#ifndef SL_ETCD_H
#define SL_ETCD_H

#include <stddef.h>
#include <stdint.h>

#include "common/list.h"

#define SL_ETCD_ENDPOINTS_MAX 16
#define SL_ETCD_ERR_MAX	      256

typedef struct sl_etcd sl_etcd_t;
typedef struct sl_etcd_watch sl_etcd_watch_t;

typedef struct sl_etcd_opts {
	uint64_t timeout_ms;	     /* each call, retries included; 0: 5 s */
	uint64_t connect_timeout_ms; /* each connection; 0: min(1 s, timeout) */
	uint32_t page_keys;	     /* keys per range reply; 0: 1000 */
	size_t reply_max;	     /* bytes of one reply; 0: 8 MiB */
	size_t watch_queue_max;	     /* bytes of events queued; 0: 32 MiB */
} sl_etcd_opts_t;

/*
 * A client of the comma-separated endpoints "http://HOST:PORT,..."
 * (http or https, no path, no user:password@; blanks around commas are
 * allowed), both borrowed.  opts may be NULL.  Returns NULL with *err =
 * -EINVAL and a reason in why[whylen] for a bad list.  Caller destroys.
 */
sl_etcd_t *sl_etcd_new(const char *endpoints, const sl_etcd_opts_t *opts,
		       int *err, char *why, size_t whylen);
/* 0 when sl_etcd_new would take the endpoint list (borrowed), else
 * -EINVAL with the reason in why[whylen]. */
int sl_etcd_endpoints_check(const char *list, char *why, size_t whylen);
/* Accepts NULL; clears *ep.  Its watches must be destroyed first. */
void sl_etcd_destroy(sl_etcd_t **ep);

/* The last failed call's message ("" when none failed).  Borrowed until
 * the next call. */
const char *sl_etcd_last_error(const sl_etcd_t *e);
/* The endpoint tried first now (the one that last answered), as
 * "scheme://host:port".  Borrowed for the client's lifetime. */
const char *sl_etcd_endpoint(const sl_etcd_t *e);

typedef struct sl_etcd_stats {
	uint64_t requests;  /* HTTP requests sent, watches included */
	uint64_t failovers; /* times the first endpoint tried changed */
} sl_etcd_stats_t;
void sl_etcd_stats(const sl_etcd_t *e, sl_etcd_stats_t *out);

/* Make calls in progress (on another thread) and from now on fail fast
 * with -ECANCELED, until sl_etcd_resume.  Any thread. */
void sl_etcd_interrupt(sl_etcd_t *e);
void sl_etcd_resume(sl_etcd_t *e);

/* One key-value, borrowed for a callback: key and value are followed by a
 * NUL that is not part of them. */
typedef struct sl_etcd_kv {
	const uint8_t *key;
	size_t key_len;
	const uint8_t *value;
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t lease; /* 0: none */
} sl_etcd_kv_t;

/* Called for each key in key order; return 0 to go on, or -errno to stop
 * the range, which then returns it. */
typedef int (*sl_etcd_kv_fn)(const sl_etcd_kv_t *kv, void *ud);

/*
 * Every key that starts with prefix[0..plen) (plen 0: every key), in key
 * order, as of one revision, which goes to *revision (may be NULL): the
 * store's revision when the first page was read, so a watch from
 * *revision + 1 misses nothing.  The keys come in pages of page_keys (a
 * page over reply_max is asked again with half as many keys), all read at
 * that revision; -ESTALE when it was compacted between pages (range
 * again).  fn may see some keys before a later page fails.
 */
int sl_etcd_range_prefix(sl_etcd_t *e, const void *prefix, size_t plen,
			 sl_etcd_kv_fn fn, void *ud, int64_t *revision);

/* The value of key into *value (malloc'ed, NUL-terminated beyond
 * *value_len; caller frees) and its mod revision into *mod_revision (may
 * be NULL).  0, -ENOENT (no such key), or an error above. */
int sl_etcd_get(sl_etcd_t *e, const void *key, size_t klen, uint8_t **value,
		size_t *value_len, int64_t *mod_revision);

/* Put key = value, attached to lease (0: none).  *revision (may be NULL)
 * gets the revision of the put.  -ENOENT when the lease is gone. */
int sl_etcd_put(sl_etcd_t *e, const void *key, size_t klen, const void *value,
		size_t vlen, int64_t lease, int64_t *revision);

/* Delete key.  Returns how many keys went (0 or 1) or -errno. */
int sl_etcd_delete(sl_etcd_t *e, const void *key, size_t klen);

/* Grant a lease of ttl_s seconds: its id into *id and the TTL etcd
 * granted into *granted_s (may be NULL). */
int sl_etcd_lease_grant(sl_etcd_t *e, int64_t ttl_s, int64_t *id,
			int64_t *granted_s);
/* Refresh lease id; *ttl_s (may be NULL) gets its TTL again.  -ENOENT
 * when it expired or was revoked. */
int sl_etcd_lease_keepalive(sl_etcd_t *e, int64_t id, int64_t *ttl_s);
/* Revoke lease id, deleting its keys.  0, or -ENOENT when it was gone. */
int sl_etcd_lease_revoke(sl_etcd_t *e, int64_t id);

/* Compact the history before revision (operators, tests). */
int sl_etcd_compact(sl_etcd_t *e, int64_t revision);

/* ---- watch ------------------------------------------------------------ */

typedef enum sl_etcd_ev_type {
	SL_ETCD_EV_PUT = 1,
	SL_ETCD_EV_DELETE,
	SL_ETCD_EV_END, /* the watch is over; always the last event */
} sl_etcd_ev_type_t;

/*
 * One event, in one allocation (free with sl_etcd_event_free).  PUT and
 * DELETE carry the key (and a PUT its value), NUL-terminated beyond their
 * lengths, and the revision of the change.  END says why the watch ended
 * in err: -ESTALE (start revision compacted; revision = the compact
 * revision), -ECANCELED (etcd canceled it), -ECONNRESET (the stream broke
 * or ended: etcd died or restarted), -EHOSTUNREACH (no endpoint took
 * it), -EMSGSIZE (a reply over reply_max), -ENOBUFS (over
 * watch_queue_max of events not taken yet), -EBADMSG (not etcd's JSON);
 * msg says it for humans.  After END, range again and start a new watch.
 */
typedef struct sl_etcd_event {
	sl_qlink_t link; /* the watch's until taken, then the caller's */
	sl_etcd_ev_type_t type;
	int err;		 /* END only */
	int64_t revision;	 /* mod revision (compact revision for END) */
	int64_t create_revision; /* PUT only */
	int64_t lease;		 /* PUT only */
	uint8_t *key;
	size_t key_len;
	uint8_t *value;
	size_t value_len;
	const char *msg; /* END only, else NULL */
} sl_etcd_event_t;

void sl_etcd_event_free(sl_etcd_event_t *ev);

/*
 * Watch every key under prefix[0..plen) from start_rev (0: from now) on a
 * new thread.  The client e is borrowed and must outlive the watch (it is
 * only read; calls on e from its own thread go on meanwhile).  Returns
 * NULL with *err = -errno when the thread or its fd cannot be made; a
 * watch that etcd refuses ends with an END event instead.
 */
sl_etcd_watch_t *sl_etcd_watch_new(sl_etcd_t *e, const void *prefix,
				   size_t plen, int64_t start_rev, int *err);
/* Stop the thread (promptly, whatever it waits on), free what was not
 * taken.  Accepts NULL; clears *wp. */
void sl_etcd_watch_destroy(sl_etcd_watch_t **wp);

/* Readable while events may wait.  Borrowed. */
int sl_etcd_watch_fd(const sl_etcd_watch_t *w);
/* Move the events that arrived, in order, to the back of out (they are the
 * caller's: sl_etcd_event_free each); returns how many.  Never blocks.
 * Owner thread only. */
size_t sl_etcd_watch_take(sl_etcd_watch_t *w, sl_fifo_t *out);

#endif
