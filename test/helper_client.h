/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: a small synchronous protocol client over one DEALER socket,
 * for tests of anything that speaks the wire protocol (cache nodes, and
 * whatever else binds a ROUTER).  Each call sends one request and waits,
 * with the client's timeout, for the reply with the same request id;
 * replies to other ids are dropped.  th_client_send / th_client_recv expose
 * the pipelined form for tests that keep many requests in flight.
 *
 * Typed calls return the reply's status (0 or a negative errno from the
 * node), or a transport error: -ETIMEDOUT (no reply in time) or another
 * -errno from ZeroMQ.  After an error reply, th_client_errmsg() has its
 * message.  A client owns its own ZeroMQ context; one thread at a time.
 */
#ifndef TH_CLIENT_H
#define TH_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/proto.h"

typedef struct th_client th_client_t;

/* A decoded reply: header, and the body (unpacked if it came LZ4-packed;
 * malloc'd, free with th_reply_free). */
typedef struct th_reply {
	pr_header_t h;
	uint8_t *body;
	size_t len;
} th_reply_t;

void th_reply_free(th_reply_t *r);

/* A stat as the client keeps it (version copied). */
typedef struct th_stat {
	uint8_t type; /* PR_TYPE_* */
	uint32_t mode;
	uint64_t size;
	int64_t mtime_ns;
	char version[PR_MAX_VERSION + 1];
} th_stat_t;

/* Connect to endpoint ("tcp://127.0.0.1:7400"); every wait is bounded by
 * timeout_ms.  Returns NULL on a ZeroMQ error.  Caller frees with
 * th_client_destroy. */
th_client_t *th_client_new(const char *endpoint, int timeout_ms);
/* As th_client_new, a CURVE client: the node's server_key and the
 * client's secret_key in Z85 (borrowed; server_key NULL: plain; the
 * public key is derived from the secret one, public_key is unused). */
th_client_t *th_client_new_keyed(const char *endpoint, int timeout_ms,
				 const char *server_key, const char *public_key,
				 const char *secret_key);
void th_client_destroy(th_client_t **cp);

/* The DEALER socket (borrowed), for raw sends. */
void *th_client_socket(th_client_t *c);
void th_client_set_timeout(th_client_t *c, int timeout_ms);
/* The ring version put in requests (0 until set). */
void th_client_set_ring_version(th_client_t *c, uint32_t v);
/* The message of the last error reply ("" if none).  Borrowed. */
const char *th_client_errmsg(const th_client_t *c);

/* Send a request with body (copied).  Returns its request id (> 0) or
 * -errno. */
int64_t th_client_send(th_client_t *c, uint8_t op, const void *body,
		       size_t len);
/* The next reply of any id, within timeout_ms (0: only one already
 * waiting): 0, -ETIMEDOUT, or the receive error of a malformed reply
 * (dropped). */
int th_client_recv(th_client_t *c, th_reply_t *r, int timeout_ms);
/* Send and wait for the matching reply (pr_call).  Returns its status or
 * a transport error; r (may be NULL) keeps the reply, empty after a
 * transport error: th_reply_free it in every case. */
int th_client_call(th_client_t *c, uint8_t op, const void *body, size_t len,
		   th_reply_t *r);

/* HELLO: *out's strings and arrays borrow keep's body; free both with
 * pr_hello_free(out) and th_reply_free(keep). */
int th_client_hello(th_client_t *c, pr_hello_t *out, th_reply_t *keep);
/* A client of the node just started as process pid on endpoint, once it
 * answers HELLO (tries of 300 ms, for up to timeout_ms in all); every
 * wait after that is bounded by timeout_ms.  Returns the client (caller
 * frees with th_client_destroy) with *rc 0, or NULL with *rc -ESRCH when
 * pid died first, else the last try's error. */
th_client_t *th_client_await_node(const char *endpoint, pid_t pid,
				  int timeout_ms, int *rc);
int th_client_stat(th_client_t *c, const char *dataset, const char *path,
		   th_stat_t *out);
/* One LIST page; as th_client_hello, *out borrows keep. */
int th_client_list(th_client_t *c, const char *dataset, const char *path,
		   const char *cursor, uint32_t max, pr_list_reply_t *out,
		   th_reply_t *keep);
/* READ into buf[0..cap): the byte count, or a negative status.  The
 * request carries the dataset's layout from the node's HELLO (asked once
 * and remembered), and is made once more with the node's new layout after
 * an -EREMCHG, as a real client does. */
ssize_t th_client_read(th_client_t *c, const char *dataset, const char *path,
		       const char *version, uint64_t block, uint32_t offset,
		       uint32_t length, void *buf, size_t cap);
/* PREFETCH, as th_client_read. */
int th_client_prefetch(th_client_t *c, const char *dataset, const char *path,
		       const char *version, uint64_t block);
/* The node's layout of dataset (its HELLO, asked when not known yet), or
 * 0 when it has no such dataset. */
uint32_t th_client_layout(th_client_t *c, const char *dataset);
/* STATS; as th_client_hello, *out borrows keep. */
int th_client_stats(th_client_t *c, pr_stats_t *out, th_reply_t *keep);
/* One STATS value by exact name: 0, -ENOENT, or a call error. */
int th_client_stat_value(th_client_t *c, const char *name, uint64_t *value);

/* Encode a read request body (for raw or pipelined sends; layout from
 * th_client_layout); caller frees b with pr_buf_fini.  0 or the encoder's
 * error. */
int th_encode_read(pr_buf_t *b, const char *dataset, uint32_t layout,
		   const char *path, const char *version, uint64_t block,
		   uint32_t offset, uint32_t length);

#endif
