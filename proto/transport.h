/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sending and receiving protocol messages on ZeroMQ sockets.  Clients use
 * DEALER sockets: [header][body?].  Cache nodes use one ROUTER socket, where
 * every message carries the peer's routing identity first:
 * [identity][header][body?].  ZeroMQ sockets are not thread-safe: call these
 * only from the thread that owns the socket.
 */
#ifndef PR_TRANSPORT_H
#define PR_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "proto/proto.h"

#define PR_USER_MAX 80 /* bytes of a User-Id kept */

/* A received message.  Initialise with pr_msg_init, release with
 * pr_msg_close (which also makes it reusable). */
typedef struct pr_msg {
	zmq_msg_t identity; /* ROUTER only; empty on DEALER */
	int has_identity;
	pr_header_t h;
	zmq_msg_t body; /* h.body_len bytes; zmq_msg_data() for a view */
	int header_ok;	/* h holds a decoded header (even if recv failed) */
	/* Under CURVE, the name the node's ZAP handler gave the sender's
	 * key (ZeroMQ's User-Id); "" without one. */
	char user[PR_USER_MAX + 1];
} pr_msg_t;

void pr_msg_init(pr_msg_t *m);
void pr_msg_close(pr_msg_t *m);
static inline const void *pr_msg_body(pr_msg_t *m)
{
	return zmq_msg_data(&m->body);
}
static inline size_t pr_msg_body_len(pr_msg_t *m)
{
	return zmq_msg_size(&m->body);
}

/*
 * Receive one whole multipart message (all its frames, always, so a bad one
 * never desynchronises the stream).  router: expect an identity frame first.
 * flags: 0 or ZMQ_DONTWAIT.  Returns 0; -EAGAIN (nothing waiting with
 * ZMQ_DONTWAIT); -EINTR / -ETERM from ZeroMQ; or a protocol error (-EBADMSG,
 * -EPROTONOSUPPORT, -EMSGSIZE, wrong frame count or body hash), in which
 * case m->header_ok says whether an error reply can be addressed.  m must
 * have been initialised; its previous contents are released first.
 */
int pr_recv(void *sock, pr_msg_t *m, int router, int flags);

/*
 * Undo a reply's LZ4 packing (PROTOCOL.md section 6): when m's header says
 * PR_F_LZ4, its body is replaced by the raw bytes and the flag cleared.
 * Returns 0 (also for a body that was not packed), -EBADMSG for a body
 * that does not unpack (m is then unchanged), or -ENOMEM.
 */
int pr_msg_unpack(pr_msg_t *m);

/*
 * Receive the next whole message on DEALER socket sock, waiting until
 * deadline_ms (the sl_now_ms() clock); a deadline already passed still
 * takes a message that is waiting.  Its body comes unpacked
 * (pr_msg_unpack).  Returns 0; -ETIMEDOUT; -ETERM; or the error of a
 * malformed message, which was taken off the socket (as pr_recv).
 */
int pr_recv_until(void *sock, pr_msg_t *m, uint64_t deadline_ms);

/*
 * A DEALER socket of ctx connected to addr, with the options every client
 * socket wants: no linger at close; ZMQ_MAXMSGSIZE of the largest message
 * (so a peer that sends more is cut off, not buffered); ZMQ_IMMEDIATE, so
 * that nothing is queued while there is no connection (a send fails with
 * -EAGAIN instead, and a dead peer never gets a stale burst when it comes
 * back); and a send queue of PR_DEALER_SNDHWM messages.  Returns the
 * socket (caller closes it with zmq_close) or NULL with *err set to
 * -errno.
 */
#define PR_DEALER_SNDHWM 1000
void *pr_dealer_open(void *ctx, const char *addr, int *err);

/*
 * As pr_dealer_open, a CURVE client of node name (or of the node at addr)
 * when keys (borrowed; NULL: plain) is on: *err is -ENOKEY when keys has
 * no public key for that node.
 */
struct sl_keyring;
void *pr_dealer_open_keyed(void *ctx, const char *addr,
			   const struct sl_keyring *keys, const char *name,
			   int *err);

/*
 * Send a header and a body copied from body[0..len).  identity: the peer's
 * routing identity on a ROUTER socket, NULL on DEALER.  Fills h->body_len
 * and h->body_hash.  Returns 0 or -errno (-EAGAIN with ZMQ_DONTWAIT when
 * the peer's queue is full, -EHOSTUNREACH for a gone ROUTER peer).
 */
int pr_send(void *sock, zmq_msg_t *identity, pr_header_t *h, const void *body,
	    size_t len, int flags);

/*
 * As pr_send, but the body is sent without copying: ZeroMQ calls
 * ffn(data, hint) once it no longer needs the bytes, from its I/O thread,
 * possibly after pr_send_zc returns, and also when the send fails.
 * Ownership of data passes to ZeroMQ in every case: when the send fails
 * before ZeroMQ took it (empty or oversized body, bad header), ffn is
 * called here, exactly once.
 */
int pr_send_zc(void *sock, zmq_msg_t *identity, pr_header_t *h, void *data,
	       size_t len, zmq_free_fn *ffn, void *hint, int flags);

/*
 * As pr_send_zc, with the body's hash given: hash must be
 * pr_body_hash(data, len), which a sender that sends the same bytes many
 * times (a cache node's block) keeps instead of hashing them on every
 * send.
 */
int pr_send_zc_hashed(void *sock, zmq_msg_t *identity, pr_header_t *h,
		      void *data, size_t len, uint64_t hash, zmq_free_fn *ffn,
		      void *hint, int flags);

/*
 * Reply to request m with status < 0 and a message body, without blocking
 * (ZMQ_DONTWAIT).  Borrowed m.  -EINVAL when m has no usable header or is
 * itself a reply: replies are never answered.
 */
int pr_send_error(void *sock, pr_msg_t *m, uint32_t ring_version, int status,
		  const char *msg);

#endif
