/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Requests that wait for their replies, each wait bounded by a deadline:
 * the shape of sluicectl, of the FUSE client's HELLO round (one request to
 * every node at once, the first answer wins) and of the tests' client.
 * (The FUSE client's I/O thread pipelines many requests per socket and
 * keeps its own loop, fuse/io.c.)
 *
 * A call is one request on a DEALER socket and the reply with its request
 * id and opcode.  Replies to other ids (late replies of calls given up
 * earlier) are dropped.  A malformed message is dropped too, as
 * PROTOCOL.md section 8 says: the call then fails as if it had timed out,
 * but it remembers the error, so the caller can say "bad reply" rather
 * than "no answer".  Bodies come unpacked (LZ4 undone).
 *
 * Thread safety: a socket belongs to one thread; so do the calls on it.
 */
#ifndef PR_CALL_H
#define PR_CALL_H

#include <stddef.h>
#include <stdint.h>

#include "proto/transport.h"

/* One request waiting for its reply.  Zero it to mean "not sent", and
 * pr_call_wait() skips it; after pr_call_post, release it with
 * pr_call_clear. */
typedef struct pr_call {
	void *sock; /* the DEALER socket it went out on (borrowed) */
	uint8_t opcode;
	uint64_t req_id;
	int pending; /* 1 from a successful pr_call_start to its last reply */
	int bad;     /* the error of the last malformed message, or 0 */
	/* pr_call_post's request the socket could not take yet (ZMQ_IMMEDIATE:
	 * no connection yet), sent by pr_call_wait once it can. */
	int unsent;
	pr_header_t h;
	void *body; /* a copy, malloc'd */
	size_t len;
} pr_call_t;

/*
 * Send a request on sock (borrowed) and make *c wait for its reply.  h
 * (borrowed) carries opcode, req_id and ring_version; its body fields are
 * filled here from body[0..len) (copied).  A full send queue is waited on
 * until deadline_ms (the sl_now_ms() clock).  Returns 0, -ETIMEDOUT, or
 * pr_send's error; *c is not pending after an error.
 */
int pr_call_start(pr_call_t *c, void *sock, pr_header_t *h, const void *body,
		  size_t len, uint64_t deadline_ms);

/*
 * As pr_call_start, but never waits: a request the socket cannot take now
 * (no connection yet, a full queue) is kept in *c (header and a copy of
 * body) and sent by pr_call_wait when the socket can take it, so that
 * one unreachable peer does not hold up the requests to the others.
 * Returns 0 (*c pending) or pr_send's error.  Release *c with
 * pr_call_clear.
 */
int pr_call_post(pr_call_t *c, void *sock, pr_header_t *h, const void *body,
		 size_t len);
/* Free what pr_call_post kept and zero *c (accepts a zeroed call). */
void pr_call_clear(pr_call_t *c);

/*
 * Wait until deadline_ms for a reply to any pending call of calls[0..n)
 * (borrowed).  Returns the index of the call answered, with the reply in
 * *reply (which must have been pr_msg_init()ed; caller closes it with
 * pr_msg_close); its status is reply->h.status, 0 or a negative errno in
 * -PR_ERRNO_MAX..-1.  That call stops pending unless the reply has
 * PR_F_MORE (LOAD progress: more replies follow).  Requests pr_call_post
 * kept are sent meanwhile, as their sockets can take them.  Otherwise
 * returns
 * -ETIMEDOUT (the deadline passed: the calls still pending stay so, .bad
 * set on those that got a malformed message), -ENOENT (no call pending),
 * or -ETERM / another -errno from ZeroMQ; *reply is then empty.
 */
int pr_call_wait(pr_call_t *calls, size_t n, uint64_t deadline_ms,
		 pr_msg_t *reply);

/*
 * One request and its reply on sock, within timeout_ms.  Returns 0 when
 * the reply came (*reply as pr_call_wait's, the node's verdict in
 * reply->h.status), or a transport error: pr_call_start's, -ETIMEDOUT, or
 * the error of a malformed reply that came instead (e.g. -EBADMSG).  A
 * transport error never shows as a status, so the two cannot be confused.
 */
int pr_call(void *sock, pr_header_t *h, const void *body, size_t len,
	    int timeout_ms, pr_msg_t *reply);

#endif
