/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Protocol messages on ZeroMQ sockets (see transport.h).  Receiving always
 * takes every frame of a multipart message off the socket before judging
 * it, so a malformed message is reported once and the next one starts
 * clean; the stream cannot desynchronise.  Sending relies on ZeroMQ's
 * atomic multipart delivery: once the first frame is accepted the rest are
 * too, so a -EAGAIN can only happen before anything was queued.
 */
#include "proto/transport.h"

#include <errno.h>
#include <string.h>

#include "common/keys.h"
#include "common/util.h"

void pr_msg_init(pr_msg_t *m)
{
	zmq_msg_init(&m->identity);
	zmq_msg_init(&m->body);
	m->has_identity = 0;
	m->header_ok = 0;
	m->user[0] = '\0';
	memset(&m->h, 0, sizeof(m->h));
}

void pr_msg_close(pr_msg_t *m)
{
	zmq_msg_close(&m->identity);
	zmq_msg_close(&m->body);
	pr_msg_init(m);
}

/* The next frame of a message already under way: it is queued whole, so
 * this does not block; retry a signal's interruption to stay in sync. */
static int recv_part(void *sock, zmq_msg_t *part)
{
	for (;;) {
		if (zmq_msg_recv(part, sock, 0) >= 0)
			return 0;
		if (zmq_errno() != EINTR)
			return -zmq_errno();
	}
}

/* A header frame that carries our magic can be answered, whatever else is
 * wrong with it: pr_header_decode() has then filled in the header. */
static int header_addressable(zmq_msg_t *header)
{
	return zmq_msg_size(header) == PR_HEADER_SIZE &&
	       sl_get_le32(zmq_msg_data(header)) == PR_MAGIC;
}

int pr_recv(void *sock, pr_msg_t *m, int router, int flags)
{
	zmq_msg_t part, header;
	size_t nframes = 0, first = router ? 1 : 0;
	int more, rc;

	pr_msg_close(m);
	zmq_msg_init(&header);
	zmq_msg_init(&part);
	if (zmq_msg_recv(&part, sock, flags) < 0) {
		rc = -zmq_errno();
		goto out;
	}
	/* Take every frame off the socket; keep identity, header and body. */
	for (;;) {
		more = zmq_msg_more(&part);
		if (router && nframes == 0) {
			zmq_msg_move(&m->identity, &part);
			m->has_identity = 1;
		} else if (nframes == first) {
			zmq_msg_move(&header, &part);
		} else if (nframes == first + 1) {
			zmq_msg_move(&m->body, &part);
		}
		nframes++;
		if (!more)
			break;
		rc = recv_part(sock, &part);
		if (rc < 0)
			goto out;
	}
	if (nframes == first) {
		rc = -EBADMSG; /* no header frame at all */
		goto out;
	}

	{
		/* A connection's property, on every frame it brought. */
		const char *user = zmq_msg_gets(&header, "User-Id");

		if (user)
			sl_strlcpy(m->user, user, sizeof(m->user));
	}
	rc = pr_header_decode(&m->h, zmq_msg_data(&header),
			      zmq_msg_size(&header));
	m->header_ok = header_addressable(&header);
	if (rc < 0)
		goto out;
	/* At most one body frame, present exactly when body_len > 0. */
	if (nframes > first + 2 ||
	    (nframes == first + 2 && zmq_msg_size(&m->body) == 0)) {
		rc = -EBADMSG;
		goto out;
	}
	rc = pr_body_verify(&m->h, zmq_msg_data(&m->body),
			    zmq_msg_size(&m->body));
out:
	zmq_msg_close(&part);
	zmq_msg_close(&header);
	if (rc < 0) {
		/* Keep identity and header to answer it; drop the body. */
		zmq_msg_close(&m->body);
		zmq_msg_init(&m->body);
	}
	return rc;
}

int pr_msg_unpack(pr_msg_t *m)
{
	const void *buf = pr_msg_body(m);
	size_t len = pr_msg_body_len(m), out_len = 0;
	int64_t raw;
	zmq_msg_t out;
	int rc;

	if (!(m->h.flags & PR_F_LZ4))
		return 0;
	raw = pr_lz4_raw_len(buf, len);
	if (raw < 0)
		return (int)raw;
	if (zmq_msg_init_size(&out, (size_t)raw) < 0)
		return -ENOMEM;
	rc = pr_lz4_unpack(buf, len, zmq_msg_data(&out), (size_t)raw, &out_len);
	if (rc < 0) {
		zmq_msg_close(&out);
		return rc;
	}
	zmq_msg_close(&m->body);
	zmq_msg_init(&m->body);
	zmq_msg_move(&m->body, &out);
	m->h.flags &= (uint16_t)~PR_F_LZ4;
	return 0;
}

int pr_recv_until(void *sock, pr_msg_t *m, uint64_t deadline_ms)
{
	zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
	uint64_t now;
	int rc;

	for (;;) {
		now = sl_now_ms();
		rc = zmq_poll(&it, 1,
			      deadline_ms > now ? (long)(deadline_ms - now)
						: 0);
		if (rc < 0 && zmq_errno() == EINTR)
			continue;
		if (rc < 0)
			return -zmq_errno();
		if (rc == 0)
			return -ETIMEDOUT;
		rc = pr_recv(sock, m, 0, ZMQ_DONTWAIT);
		/* Woken for nothing (or by a signal): wait on. */
		if (rc != -EAGAIN && rc != -EINTR)
			break;
	}
	if (rc == 0)
		rc = pr_msg_unpack(m);
	return rc;
}

void *pr_dealer_open(void *ctx, const char *addr, int *err)
{
	return pr_dealer_open_keyed(ctx, addr, NULL, NULL, err);
}

void *pr_dealer_open_keyed(void *ctx, const char *addr,
			   const sl_keyring_t *keys, const char *name, int *err)
{
	void *s = zmq_socket(ctx, ZMQ_DEALER);
	int64_t maxmsg = (int64_t)PR_HEADER_SIZE + PR_MAX_BODY;
	int linger = 0, immediate = 1, hwm = PR_DEALER_SNDHWM, rc;

	if (!s)
		goto out_err;
	if (zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger)) < 0 ||
	    zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) < 0 ||
	    zmq_setsockopt(s, ZMQ_IMMEDIATE, &immediate, sizeof(immediate)) <
		    0 ||
	    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof(hwm)) < 0)
		goto out_err;
	/* After ZMQ_MAXMSGSIZE, which CURVE widens by its box. */
	rc = sl_keyring_client(keys, s, name, addr);
	if (rc < 0) {
		zmq_close(s);
		*err = rc;
		return NULL;
	}
	if (zmq_connect(s, addr) < 0)
		goto out_err;
	return s;
out_err:
	*err = -zmq_errno();
	if (s)
		zmq_close(s);
	return NULL;
}

/* Send the identity (if any) and the header; the body follows iff len. */
static int send_head(void *sock, zmq_msg_t *identity, pr_header_t *h,
		     size_t len, int flags)
{
	uint8_t hdr[PR_HEADER_SIZE];
	zmq_msg_t id;
	int rc;

	rc = pr_header_encode(h, hdr);
	if (rc < 0)
		return rc;
	if (identity) {
		zmq_msg_init(&id);
		if (zmq_msg_copy(&id, identity) < 0) {
			rc = -zmq_errno();
			zmq_msg_close(&id);
			return rc;
		}
		if (zmq_msg_send(&id, sock, flags | ZMQ_SNDMORE) < 0) {
			rc = -zmq_errno();
			zmq_msg_close(&id);
			return rc;
		}
	}
	if (zmq_send(sock, hdr, sizeof(hdr), flags | (len ? ZMQ_SNDMORE : 0)) <
	    0)
		return -zmq_errno();
	return 0;
}

/* Fill h's body fields for len bytes whose hash is *hash, or, hash NULL,
 * hashed here. */
static int prepare(pr_header_t *h, const void *body, size_t len,
		   const uint64_t *hash)
{
	if (len > PR_MAX_BODY)
		return -EMSGSIZE;
	h->body_len = (uint32_t)len;
	h->body_hash = hash ? *hash : pr_body_hash(body, len);
	return 0;
}

int pr_send(void *sock, zmq_msg_t *identity, pr_header_t *h, const void *body,
	    size_t len, int flags)
{
	int rc = prepare(h, body, len, NULL);

	if (rc < 0)
		return rc;
	rc = send_head(sock, identity, h, len, flags);
	if (rc < 0 || !len)
		return rc;
	if (zmq_send(sock, body, len, flags) < 0)
		return -zmq_errno();
	return 0;
}

static int send_zc(void *sock, zmq_msg_t *identity, pr_header_t *h, void *data,
		   size_t len, const uint64_t *hash, zmq_free_fn *ffn,
		   void *hint, int flags)
{
	zmq_msg_t body;
	int rc = prepare(h, data, len, hash);

	if (rc < 0 || !len) {
		/* No body frame: the bytes are not needed any more. */
		if (ffn)
			ffn(data, hint);
		if (rc < 0)
			return rc;
		return send_head(sock, identity, h, 0, flags);
	}
	/* From here the message owns data: closing it calls ffn. */
	if (zmq_msg_init_data(&body, data, len, ffn, hint) < 0) {
		rc = -zmq_errno();
		if (ffn)
			ffn(data, hint);
		return rc;
	}
	rc = send_head(sock, identity, h, len, flags);
	if (rc == 0 && zmq_msg_send(&body, sock, flags) < 0)
		rc = -zmq_errno();
	zmq_msg_close(&body);
	return rc;
}

int pr_send_zc(void *sock, zmq_msg_t *identity, pr_header_t *h, void *data,
	       size_t len, zmq_free_fn *ffn, void *hint, int flags)
{
	return send_zc(sock, identity, h, data, len, NULL, ffn, hint, flags);
}

int pr_send_zc_hashed(void *sock, zmq_msg_t *identity, pr_header_t *h,
		      void *data, size_t len, uint64_t hash, zmq_free_fn *ffn,
		      void *hint, int flags)
{
	return send_zc(sock, identity, h, data, len, &hash, ffn, hint, flags);
}

int pr_send_error(void *sock, pr_msg_t *m, uint32_t ring_version, int status,
		  const char *msg)
{
	pr_header_t h = {0};
	pr_buf_t b;
	int rc;

	/* Never answer a reply: two peers would bounce errors forever. */
	if (!m->header_ok || (m->h.flags & PR_F_REPLY) || status >= 0)
		return -EINVAL;
	h.opcode = m->h.opcode;
	h.flags = PR_F_REPLY;
	h.req_id = m->h.req_id;
	h.status = status;
	h.ring_version = ring_version;
	pr_buf_init(&b);
	rc = pr_errmsg_encode(&b, msg);
	if (rc == 0)
		rc = pr_send(sock, m->has_identity ? &m->identity : NULL, &h,
			     b.data, b.len, ZMQ_DONTWAIT);
	pr_buf_fini(&b);
	return rc;
}
