/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cache node's side of talking to other nodes: one DEALER socket per
 * peer, opened when first needed, requests matched to their replies by
 * id, each with a deadline, and a peer that let one time out skipped for a
 * back-off period (its calls fail at once meanwhile, so a dead previous
 * owner costs one timeout, not one per block).  The event thread polls
 * the sockets next to its own and never blocks on a peer: a call is
 * answered later, through its callback, by cn_peers_reap or
 * cn_peers_expire.
 *
 * Threads: the event thread only (ZeroMQ sockets are one thread's).
 */
#ifndef CN_PEERS_H
#define CN_PEERS_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

typedef struct cn_peers cn_peers_t;

/*
 * A call's end: status 0 with the reply's body (borrowed for the call;
 * the callback may zmq_msg_move it out), or the peer's error status, or
 * -ETIMEDOUT, or -ESHUTDOWN (cn_peers_destroy).  Called exactly once per
 * call that cn_peers_call accepted.
 */
typedef void cn_peer_done_fn(void *arg, int status, zmq_msg_t *body);

/* Peers over ctx (borrowed, outliving them): calls time out after
 * timeout_ms, a peer that let one time out is skipped for backoff_ms.
 * Caller frees with cn_peers_destroy. */
cn_peers_t *cn_peers_new(void *ctx, uint64_t timeout_ms, uint64_t backoff_ms);
/* Ends every call with -ESHUTDOWN, closes the sockets.  Accepts NULL;
 * clears *pp. */
void cn_peers_destroy(cn_peers_t **pp);

/* The CURVE keys (borrowed, outliving p or replaced first) that sockets
 * opened from now on use: the node's own pair, the peers' public keys.
 * NULL or a keyring that is off: plain sockets. */
struct sl_keyring;
void cn_peers_set_keys(cn_peers_t *p, const struct sl_keyring *keys);

/* What headers carry: the sender's ring version and generation. */
void cn_peers_set_ring(cn_peers_t *p, uint32_t ring_version,
		       uint64_t generation);

/*
 * Send op with body[0..len) (copied) to the peer called name at addr
 * (both copied; a peer that moved is reconnected).  done (NULL: a hint,
 * no reply awaited) is called later with arg.  Returns 0, or -EHOSTDOWN
 * (skipped for its back-off), -ENOTCONN (no socket) or the send's error,
 * and then done is not called.
 */
int cn_peers_call(cn_peers_t *p, const char *name, const char *addr, uint8_t op,
		  const void *body, size_t len, cn_peer_done_fn *done,
		  void *arg);

/* Close the sockets of peers none of names[0..n) (borrowed) calls, and
 * that have no call in flight: they left the ring. */
void cn_peers_keep(cn_peers_t *p, const char *const *names, size_t n);

/* The poll items of the sockets, for the event loop: at most max into
 * items; how many were written. */
size_t cn_peers_items(cn_peers_t *p, zmq_pollitem_t *items, size_t max);
size_t cn_peers_count(const cn_peers_t *p);
/* Take the replies waiting on the sockets of items[0..n) (as filled by
 * cn_peers_items, after zmq_poll), answering their calls. */
void cn_peers_reap(cn_peers_t *p, const zmq_pollitem_t *items, size_t n);
/* End the calls whose deadline passed (now: sl_now_ms()) with
 * -ETIMEDOUT; returns the next deadline, or UINT64_MAX. */
uint64_t cn_peers_expire(cn_peers_t *p, uint64_t now);

#endif
