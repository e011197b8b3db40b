/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wire gate: a bound on one message as it arrives, before ZeroMQ has
 * buffered it (gate.c says why this cannot be done after).  The node
 * registers the endpoint its ROUTER binds; every TCP (or IPC) connection
 * accepted there is then followed frame by frame as libzmq reads it, and
 * cut -- the read fails with ECONNRESET, and libzmq drops the connection
 * with whatever it held of it -- when a message grows past its limits or
 * the stream is no ZMTP 3 with the endpoint's mechanism (NULL or CURVE).
 * Under CURVE the frames are encrypted: each is bounded as a whole (its
 * plaintext by max_bytes), and frames are not counted per message.
 *
 * Threads: any.  The watch list is guarded by one lock; the per-connection
 * state belongs to whichever thread reads the connection (libzmq's I/O
 * thread).  A watch must be made before the endpoint is bound, so that no
 * connection comes in unwatched.
 */
#ifndef CN_GATE_H
#define CN_GATE_H

#include <stddef.h>
#include <stdint.h>

#include "cachenode/metrics.h"
#include "common/keys.h"

typedef struct cn_gate_limits {
	uint32_t max_frames;  /* frames of one message */
	uint64_t max_bytes;   /* bytes of one message, all frames */
	uint64_t max_command; /* bytes of one ZMTP command (READY, PING) */
	uint32_t max_conns;   /* connections at once on the endpoint */
	int curve;	      /* the CURVE mechanism, not NULL */
} cn_gate_limits_t;

/* What CURVE adds to a frame it encrypts (common/keys.h). */
#define CN_GATE_CURVE_OVERHEAD SL_KEYS_CURVE_OVERHEAD

/*
 * Watch connections accepted on endpoint ("tcp://HOST:PORT" with a port,
 * or "ipc://PATH"; borrowed), under lim (copied); m (borrowed, must
 * outlive the watch and its connections) counts the connections cut.
 * Returns 0; -EINVAL for an endpoint that cannot be watched (inproc, no
 * port); -ENOSPC when too many endpoints are watched.
 */
int cn_gate_watch(const char *endpoint, const cn_gate_limits_t *lim,
		  cn_metrics_t *m);
/* Stop watching endpoint (connections already accepted stay followed
 * until they close).  Accepts one never watched. */
void cn_gate_unwatch(const char *endpoint);

/*
 * Cut every connection accepted on endpoint (borrowed) now: its peer sees
 * the connection close and, if it is still allowed, connects again (a
 * key removed from the allow-list: ZeroMQ cannot tell which connection
 * carries which key, gate.c says why).  Returns the number cut.
 */
size_t cn_gate_cut_all(const char *endpoint);

/* The connections followed now (for tests). */
size_t cn_gate_conns(void);

#endif
