/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What each sender of requests to a cache node (a client, or a node
 * asking for a hand-off) has in flight, keyed by its ZeroMQ routing
 * identity, so that one client that sends too much, or stops
 * reading its replies, stalls only itself (senders.c says how).
 *
 * A peer's entry counts the requests it has pending (accepted, not yet
 * answered), the reply bytes those READs will need (reserved), its hints
 * being fetched, and its replies handed to ZeroMQ and not yet freed: the
 * bytes and the messages.  A peer at one of its caps has its next
 * requests held (up to a few), answered -EAGAIN beyond that, and dropped
 * when even its error replies are not read.  An entry exists only while
 * its peer has something in flight; the table is bounded.
 *
 * Threads: everything is the event thread's but cn_ticket_free, which
 * ZeroMQ's I/O thread calls when it frees a reply: a peer's reply
 * counters and reference count are atomic, and a freed reply of a peer
 * whose requests are held wakes the event thread through wake_fd.
 */
#ifndef CN_SENDERS_H
#define CN_SENDERS_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "cachenode/metrics.h"
#include "cachenode/ramtier.h"
#include "proto/transport.h"

typedef struct cn_sender cn_sender_t;
typedef struct cn_senders cn_senders_t;

typedef struct cn_sender_limits {
	uint32_t max_pending;  /* requests accepted and not answered */
	uint32_t max_hints;    /* PREFETCH hints waiting or being fetched */
	uint32_t max_replies;  /* reply messages ZeroMQ still holds */
	uint64_t max_bytes;    /* reply bytes ZeroMQ holds + READs reserved */
	uint32_t max_deferred; /* requests held while the peer is at a cap */
	size_t max_deferred_bytes; /* their bytes */
	size_t max_peers;	   /* entries in the table */
	size_t max_held_bytes; /* held requests' bytes, all peers together */
} cn_sender_limits_t;

/*
 * A table under lim (copied); wake_fd (an eventfd, borrowed) is written
 * when a peer with held requests gets a reply freed; m (borrowed) gets
 * the peer gauges.  Caller frees with cn_senders_destroy, after ZeroMQ has
 * freed every reply (its context is terminated).
 */
cn_senders_t *cn_senders_new(const cn_sender_limits_t *lim, int wake_fd,
			     cn_metrics_t *m);
/* Drops the held requests unanswered.  Accepts NULL; clears *tp. */
void cn_senders_destroy(cn_senders_t **tp);
/* New limits (a reload): they apply to what comes next. */
void cn_senders_set_limits(cn_senders_t *t, const cn_sender_limits_t *lim);

/* The entry of the peer with this identity (borrowed), made if needed;
 * borrowed from the table, valid while the peer has something in flight
 * or until the next cn_senders_* call.  NULL when the table is full. */
cn_sender_t *cn_senders_get(cn_senders_t *t, zmq_msg_t *identity);

/* Whether p may start one more request now, all_pending being every
 * peer's pending requests together and max_all their bound: a peer with
 * nothing pending always may (everybody moves on). */
int cn_sender_admits(const cn_senders_t *t, const cn_sender_t *p,
		     int64_t all_pending, int64_t max_all);
/* Whether p's error replies would still fit (else a refusal is dropped
 * rather than queued behind replies it does not read). */
int cn_sender_reads(const cn_senders_t *t, const cn_sender_t *p);

/* A request of p starts, and its reply ends it; reserve: the bytes a
 * READ's reply will take, counted against max_bytes in between.  After
 * the end, p may be forgotten (cn_senders_release). */
void cn_sender_begin(cn_sender_t *p);
void cn_sender_reserve(cn_sender_t *p, uint64_t bytes);
void cn_sender_end(cn_sender_t *p, uint64_t reserved);

/* A hint of p waits or is fetched: 0, or -EAGAIN at max_hints (the hint
 * is dropped).  Each successful take is given back with _put. */
int cn_sender_hint_take(const cn_senders_t *t, cn_sender_t *p);
/* The same without the check: a hint that took its slot already goes on
 * as a waiter or a fetch of its own. */
void cn_sender_hint_add(cn_sender_t *p);
void cn_sender_hint_put(cn_sender_t *p);

/* References, for whoever keeps p past the event thread's turn (waiters,
 * replies).  cn_sender_unref on any thread. */
cn_sender_t *cn_sender_ref(cn_sender_t *p);
void cn_sender_unref(cn_sender_t *p);

/* Hold request m (its frames moved out; m is left empty) until p can
 * take it: 0, or -ENOBUFS when p holds max_deferred requests or
 * max_deferred_bytes already, or all peers together max_held_bytes. */
int cn_senders_hold(cn_senders_t *t, cn_sender_t *p, pr_msg_t *m);
/* 1 while p has held requests. */
int cn_sender_holds(const cn_sender_t *p);
/* The oldest request p holds, moved into m (initialised): 0, or -ENOENT. */
int cn_senders_unhold(cn_senders_t *t, cn_sender_t *p, pr_msg_t *m);
/* The first peer holding requests after prev (NULL: the first), or NULL:
 * for a walk; the peer is valid until the table changes. */
cn_sender_t *cn_senders_next_holding(cn_senders_t *t, cn_sender_t *prev);

/* Forget p when it has nothing in flight.  And every such peer (a sweep,
 * for peers whose last reply ZeroMQ freed on its own thread). */
void cn_senders_release(cn_senders_t *t, cn_sender_t *p);
void cn_senders_sweep(cn_senders_t *t);
size_t cn_senders_count(const cn_senders_t *t);

/*
 * A reply body for ZeroMQ to send without copying, counted against p
 * (NULL: counted nowhere) until ZeroMQ frees it: either a view of block
 * b's bytes [data, data + len) (a reference of b is taken), or, b NULL, a
 * copy of copy[0..len).  Returns the ticket, the hint to give pr_send_zc
 * with cn_ticket_free, and the bytes to send in *data.
 */
void *cn_ticket_new(cn_sender_t *p, cn_block_t *b, const void *copy, size_t len,
		    void **data);
/* A zmq_free_fn: the reply is gone.  Any thread. */
void cn_ticket_free(void *data, void *hint);

#endif
