/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The tests' synchronous protocol client (see helper_client.h): a DEALER
 * socket, request ids from a counter, and the protocol's own calls with a
 * deadline (proto/call.h) for the waiting; replies are copied out of
 * ZeroMQ's messages so a test can keep them.
 */
#include "test/helper_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/config.h"
#include "common/keys.h"
#include "common/util.h"
#include "fuse/wire.h"
#include "proto/call.h"
#include "proto/transport.h"
#include "test/helper_proc.h"

#define LAYOUTS 16 /* datasets whose layout a client remembers */

struct th_client {
	void *ctx;
	void *sock;
	int timeout_ms;
	uint64_t next_id;
	uint32_t ring_version;
	char errmsg[PR_MAX_ERRMSG + 1];
	/* What the node's last HELLO said of its datasets' layouts. */
	size_t n_layouts;
	char layout_ds[LAYOUTS][SL_NAME_MAX + 1];
	uint32_t layouts[LAYOUTS];
};

void th_reply_free(th_reply_t *r)
{
	if (!r)
		return;
	free(r->body);
	memset(r, 0, sizeof(*r));
}

th_client_t *th_client_new(const char *endpoint, int timeout_ms)
{
	return th_client_new_keyed(endpoint, timeout_ms, NULL, NULL, NULL);
}

th_client_t *th_client_new_keyed(const char *endpoint, int timeout_ms,
				 const char *server_key, const char *public_key,
				 const char *secret_key)
{
	th_client_t *c = sl_xcalloc(1, sizeof(*c));
	sl_keyring_t *k = NULL;
	int err;

	(void)public_key; /* the secret key's own */
	c->timeout_ms = timeout_ms;
	c->next_id = 1;
	c->ctx = zmq_ctx_new();
	if (server_key) {
		k = sl_keyring_of(secret_key);
		if (!k || sl_keyring_add(k, "node", endpoint, server_key) < 0)
			th_client_destroy(&c);
	}
	if (c && c->ctx)
		c->sock = pr_dealer_open_keyed(c->ctx, endpoint, k, NULL, &err);
	if (c && !c->sock)
		th_client_destroy(&c);
	sl_keyring_destroy(&k);
	return c;
}

void th_client_destroy(th_client_t **cp)
{
	th_client_t *c = cp ? *cp : NULL;

	if (!c)
		return;
	if (c->sock)
		zmq_close(c->sock);
	if (c->ctx)
		zmq_ctx_term(c->ctx);
	free(c);
	*cp = NULL;
}

void *th_client_socket(th_client_t *c)
{
	return c->sock;
}

void th_client_set_timeout(th_client_t *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

void th_client_set_ring_version(th_client_t *c, uint32_t v)
{
	c->ring_version = v;
}

const char *th_client_errmsg(const th_client_t *c)
{
	return c->errmsg;
}

int64_t th_client_send(th_client_t *c, uint8_t op, const void *body, size_t len)
{
	pr_header_t h = {0};
	int rc;

	h.opcode = op;
	h.req_id = c->next_id++;
	h.ring_version = c->ring_version;
	rc = pr_send(c->sock, NULL, &h, body, len, 0);
	return rc < 0 ? rc : (int64_t)h.req_id;
}

/* A received message's header and body, copied into *r. */
static void reply_take(th_reply_t *r, pr_msg_t *m)
{
	r->h = m->h;
	r->len = pr_msg_body_len(m);
	r->body = sl_xmalloc(r->len + 1);
	if (r->len)
		memcpy(r->body, pr_msg_body(m), r->len);
}

int th_client_recv(th_client_t *c, th_reply_t *r, int timeout_ms)
{
	pr_msg_t m;
	int rc;

	memset(r, 0, sizeof(*r));
	pr_msg_init(&m);
	rc = pr_recv_until(c->sock, &m,
			   sl_now_ms() + (uint64_t)SL_MAX(timeout_ms, 0));
	if (rc == 0)
		reply_take(r, &m);
	pr_msg_close(&m);
	return rc;
}

int th_client_call(th_client_t *c, uint8_t op, const void *body, size_t len,
		   th_reply_t *out)
{
	pr_header_t h = {
		.opcode = op,
		.req_id = c->next_id++,
		.ring_version = c->ring_version,
	};
	th_reply_t r;
	pr_msg_t m;
	pr_str_t msg;
	int rc;

	c->errmsg[0] = '\0';
	memset(&r, 0, sizeof(r));
	pr_msg_init(&m);
	rc = pr_call(c->sock, &h, body, len, c->timeout_ms, &m);
	if (rc == 0) {
		reply_take(&r, &m);
		rc = r.h.status;
	}
	pr_msg_close(&m);
	if (rc < 0 && pr_errmsg_decode(&msg, r.body, r.len) == 0)
		pr_str_copy(c->errmsg, sizeof(c->errmsg), msg);
	if (out)
		*out = r;
	else
		th_reply_free(&r);
	return rc;
}

/* HELLO or STATS: a request without a body, its reply decoded into out
 * (a pr_hello_t or a pr_stats_t of size bytes, borrowing keep). */
static int bare_call(th_client_t *c, uint8_t op, void *out, size_t size,
		     th_reply_t *keep)
{
	int rc = th_client_call(c, op, NULL, 0, keep);

	memset(out, 0, size);
	if (rc == 0 && op == PR_OP_HELLO)
		rc = pr_hello_decode(out, keep->body, keep->len);
	else if (rc == 0)
		rc = pr_stats_decode(out, keep->body, keep->len);
	return rc;
}

int th_client_hello(th_client_t *c, pr_hello_t *out, th_reply_t *keep)
{
	return bare_call(c, PR_OP_HELLO, out, sizeof(*out), keep);
}

int th_client_stat(th_client_t *c, const char *dataset, const char *path,
		   th_stat_t *out)
{
	pr_target_t t = {pr_str(dataset), pr_str(path)};
	th_reply_t r;
	pr_stat_t st;
	pr_buf_t b;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&r, 0, sizeof(r));
	pr_buf_init(&b);
	rc = pr_target_encode(&b, &t);
	if (rc == 0)
		rc = th_client_call(c, PR_OP_STAT, b.data, b.len, &r);
	pr_buf_fini(&b);
	if (rc == 0)
		rc = pr_stat_decode(&st, r.body, r.len);
	if (rc == 0) {
		out->type = st.type;
		out->mode = st.mode;
		out->size = st.size;
		out->mtime_ns = st.mtime_ns;
		pr_str_copy(out->version, sizeof(out->version), st.version);
	}
	th_reply_free(&r);
	return rc;
}

int th_client_list(th_client_t *c, const char *dataset, const char *path,
		   const char *cursor, uint32_t max, pr_list_reply_t *out,
		   th_reply_t *keep)
{
	pr_list_req_t q = {pr_str(dataset), pr_str(path), pr_str(cursor), max};
	pr_buf_t b;
	int rc;

	memset(out, 0, sizeof(*out));
	pr_buf_init(&b);
	rc = pr_list_req_encode(&b, &q);
	if (rc == 0)
		rc = th_client_call(c, PR_OP_LIST, b.data, b.len, keep);
	pr_buf_fini(&b);
	if (rc == 0)
		rc = pr_list_reply_decode(out, keep->body, keep->len);
	return rc;
}

int th_encode_read(pr_buf_t *b, const char *dataset, uint32_t layout,
		   const char *path, const char *version, uint64_t block,
		   uint32_t offset, uint32_t length)
{
	void *body;
	size_t len;
	/* The client's own encoder: a test sends what a mount would. */
	int rc = fc_wire_read_req(dataset, layout, path, version, block, offset,
				  length, &body, &len);

	pr_buf_init(b);
	if (rc == 0) {
		b->data = body; /* malloc'd: pr_buf_fini frees it */
		b->len = len;
		b->cap = len;
	}
	return rc;
}

th_client_t *th_client_await_node(const char *endpoint, pid_t pid,
				  int timeout_ms, int *rc)
{
	uint64_t deadline = sl_now_ms() + (uint64_t)timeout_ms;
	th_client_t *c = th_client_new(endpoint, 300);
	pr_hello_t h;
	th_reply_t r;

	*rc = c ? -ETIMEDOUT : -ENOTCONN;
	while (c && *rc != 0 && sl_now_ms() < deadline) {
		if (!th_proc_alive(pid)) {
			*rc = -ESRCH;
			break;
		}
		*rc = th_client_hello(c, &h, &r);
		pr_hello_free(&h);
		th_reply_free(&r);
	}
	if (*rc != 0)
		th_client_destroy(&c);
	else
		th_client_set_timeout(c, timeout_ms);
	return c;
}

/* Remember what HELLO says of the node's datasets: 0 or the call's
 * error. */
static int learn_layouts(th_client_t *c)
{
	pr_hello_t h;
	th_reply_t r;
	int rc = th_client_hello(c, &h, &r);

	c->n_layouts = 0;
	for (uint32_t i = 0; rc == 0 && i < h.n_datasets && i < LAYOUTS; i++) {
		pr_str_copy(c->layout_ds[i], sizeof(c->layout_ds[i]),
			    h.datasets[i].name);
		c->layouts[i] = h.datasets[i].layout;
		c->n_layouts++;
	}
	pr_hello_free(&h);
	th_reply_free(&r);
	return rc;
}

uint32_t th_client_layout(th_client_t *c, const char *dataset)
{
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < c->n_layouts; i++)
			if (strcmp(c->layout_ds[i], dataset) == 0)
				return c->layouts[i];
		if (pass == 0 && learn_layouts(c) < 0)
			break;
	}
	return 0;
}

/* Send a READ-like op and wait, as a real client would: under the
 * dataset's layout, and once more with the node's new one after an
 * -EREMCHG.  The reply's status or a call error; r as th_client_call. */
static int read_call(th_client_t *c, uint8_t op, const char *dataset,
		     const char *path, const char *version, uint64_t block,
		     uint32_t offset, uint32_t length, th_reply_t *r)
{
	pr_buf_t b;
	int rc = -EREMCHG;

	memset(r, 0, sizeof(*r));
	for (int tries = 0; rc == -EREMCHG && tries < 2; tries++) {
		if (tries)
			learn_layouts(c);
		th_reply_free(r);
		rc = th_encode_read(&b, dataset, th_client_layout(c, dataset),
				    path, version, block, offset, length);
		if (rc == 0)
			rc = th_client_call(c, op, b.data, b.len, r);
		pr_buf_fini(&b);
	}
	return rc;
}

ssize_t th_client_read(th_client_t *c, const char *dataset, const char *path,
		       const char *version, uint64_t block, uint32_t offset,
		       uint32_t length, void *buf, size_t cap)
{
	th_reply_t r;
	ssize_t rc;

	rc = read_call(c, PR_OP_READ, dataset, path, version, block, offset,
		       length, &r);
	if (rc == 0 && r.len > cap)
		rc = -EMSGSIZE;
	if (rc == 0) {
		if (r.len)
			memcpy(buf, r.body, r.len);
		rc = (ssize_t)r.len;
	}
	th_reply_free(&r);
	return rc;
}

int th_client_prefetch(th_client_t *c, const char *dataset, const char *path,
		       const char *version, uint64_t block)
{
	th_reply_t r;
	int rc = read_call(c, PR_OP_PREFETCH, dataset, path, version, block, 0,
			   0, &r);

	th_reply_free(&r);
	return rc;
}

int th_client_stats(th_client_t *c, pr_stats_t *out, th_reply_t *keep)
{
	return bare_call(c, PR_OP_STATS, out, sizeof(*out), keep);
}

int th_client_stat_value(th_client_t *c, const char *name, uint64_t *value)
{
	th_reply_t r;
	pr_stats_t st;
	int rc = th_client_stats(c, &st, &r);

	if (rc == 0) {
		rc = -ENOENT;
		for (uint32_t i = 0; i < st.n_items; i++) {
			if (pr_str_eq(st.items[i].name, name)) {
				*value = st.items[i].value;
				rc = 0;
				break;
			}
		}
		pr_stats_free(&st);
	}
	th_reply_free(&r);
	return rc;
}
