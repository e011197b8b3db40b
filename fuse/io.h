/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The FUSE client's I/O thread: the only thread that touches a ZeroMQ
 * socket.  It owns one DEALER socket per cache node of the current
 * cluster map, pipelines any number of requests on each (replies are
 * matched by request id), times requests out, fails them over along the
 * ring's preference list, marks slow nodes down for a back-off period and
 * probes them with HELLO before using them again.  Its sockets queue
 * nothing for a node they have no connection to (ZMQ_IMMEDIATE): such a
 * node is skipped at once (marked down once its socket had
 * request_timeout to connect), and a request none of whose candidates has
 * a connection waits up to timeout_ms for one.
 *
 * It also keeps the map current.  A reply whose ring version is not the
 * map's, or a node's -EREMCHG (a dataset's layout changed), makes it ask
 * that node for HELLO; the answer becomes the current map, swapped in
 * without a pause: requests in flight finish on the nodes they were sent
 * to, new ones are routed on the new ring, and the sockets of nodes that
 * left are closed once no request needs them.  Readers take the current
 * map with fc_io_map (a reference of their own, so a swap never pulls it
 * from under them) and wait for a newer one with fc_io_map_newer.
 *
 * FUSE threads hand it requests through fc_io_submit(): an inbox
 * (common/inbox.h) whose eventfd the I/O thread polls next to its
 * sockets.  Each request completes exactly once, on the I/O thread, by a
 * callback that must be quick and must not block (it fills a block or
 * wakes a waiter).
 *
 * Outcome of a request:
 *   status 0      the node answered; the body is the reply's (LZ4 undone);
 *   status < 0    the node answered with that errno (ENOENT, ESTALE, ...):
 *                 an answer, not a failure, and not retried;
 *   -EREMCHG      every candidate failed and one at least said the
 *                 request's layout is not its dataset's: plan it again
 *                 with a newer map (fc_io_map_newer);
 *   -EIO          every candidate node timed out or failed (why says how);
 *   -ESHUTDOWN    the I/O thread stopped first.
 * An error reply that pr_status_class() calls NEXT, LATER or REMAP
 * (-ESHUTDOWN, -EAGAIN, -ENOMEM, -ETIMEDOUT, -EIO from the node's backend,
 * -EREMCHG, ...) moves the request on to the next candidate without
 * marking the node down; when every candidate failed so, the request ends
 * with -EREMCHG or -EIO, its why naming each node's answer.
 *
 * Thread safety: fc_io_submit(), fc_io_call(), fc_io_map() and
 * fc_io_map_newer() from any thread; fc_io_new()/fc_io_destroy() from one
 * thread, not concurrently with anything else.
 */
#ifndef FC_IO_H
#define FC_IO_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "fuse/cluster.h"
#include "fuse/metrics.h"

typedef struct fc_io fc_io_t;

typedef struct fc_io_result {
	int status;	  /* see above */
	zmq_msg_t *body;  /* the reply body; the callback may
			   * zmq_msg_move() it out, else it is closed */
	const char *node; /* the node that answered, or NULL */
	const char *why;  /* on -EIO: one line naming each attempt */
	unsigned tier;	  /* status 0: the tier the reply names (pr_tier) */
} fc_io_result_t;

/* Called once on the I/O thread; res and its fields are borrowed for the
 * call. */
typedef void fc_io_done_fn(void *arg, const fc_io_result_t *res);

/* One request to submit. */
typedef struct fc_io_req {
	uint8_t opcode;
	uint64_t point; /* ring point: key.lo of the block / metadata key */
	void *body;	/* request body; ownership passes to fc_io (free()) */
	size_t len;
	fc_io_done_fn *done; /* NULL: a hint (PREFETCH), sent to the first
			      * live candidate, never retried or answered */
	void *arg;
} fc_io_req_t;

typedef struct fc_io_opts {
	uint64_t timeout_ms; /* one attempt's time limit */
	uint64_t backoff_ms; /* how long a failed node stays down */
	/* Called on the I/O thread after each swap with the new map
	 * (borrowed for the call); quick, never blocking.  May be NULL. */
	void (*on_map)(void *arg, const fc_cluster_t *cl);
	void *on_map_arg;
	/* CURVE keys for every node socket (borrowed, outliving the io);
	 * NULL: plain. */
	const struct sl_keyring *keys;
	/* Where fail-overs and nodes marked down are counted (borrowed,
	 * outliving the io; NULL: nowhere). */
	fc_metrics_t *metrics;
} fc_io_opts_t;

/*
 * Start the I/O thread with cl (a reference is taken) as the first map,
 * following members (etcd's view, borrowed and outliving the io; NULL for
 * none).  Call after any fork().  Returns NULL with *err set (-errno) when
 * ZeroMQ or the thread cannot be set up.  Caller frees with fc_io_destroy,
 * which stops the thread and completes every request still queued or in flight
 * with -ESHUTDOWN.
 */
struct sl_members;
fc_io_t *fc_io_new(fc_cluster_t *cl, const fc_io_opts_t *opts,
		   struct sl_members *members, int *err);
void fc_io_destroy(fc_io_t **iop);

/*
 * Queue reqs[0..n) (the array is borrowed, each body transferred) and wake
 * the I/O thread once.  Returns 0, or -ESHUTDOWN after fc_io_destroy began,
 * in which case every done callback has already been called with
 * -ESHUTDOWN on the calling thread and every body freed.
 */
int fc_io_submit(fc_io_t *io, const fc_io_req_t *reqs, size_t n);

/*
 * Send one request and wait for its outcome.  body is transferred.  On
 * status 0, *reply holds the reply body (caller closes it with
 * zmq_msg_close; it must be zmq_msg_init()ed before the call).  why, if not
 * NULL, receives the reason of an -EIO.  Returns the status.
 */
int fc_io_call(fc_io_t *io, uint8_t opcode, uint64_t point, void *body,
	       size_t len, zmq_msg_t *reply, char *why, size_t whylen);

/* The current map: a reference, the caller drops it (fc_cluster_unref). */
fc_cluster_t *fc_io_map(fc_io_t *io);
/* The current map once it is another than old (borrowed), waiting up to
 * timeout_ms for the I/O thread to fetch one; old again (a new reference)
 * when none came. */
fc_cluster_t *fc_io_map_newer(fc_io_t *io, const fc_cluster_t *old,
			      uint64_t timeout_ms);

#endif
