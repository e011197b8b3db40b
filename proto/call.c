/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Requests with a deadline (see call.h).  The wait polls the sockets of
 * the pending calls together and drains each readable one without
 * blocking, matching every message against the calls on its socket.  The
 * deadline is checked after every message dropped, so a flood of late
 * replies cannot stretch the wait past it; a reply that arrives with
 * others on another socket stays queued for the next wait.  Requests that
 * pr_call_post could not send yet are polled for room (ZMQ_POLLOUT) in
 * the same wait and sent when their socket takes them.
 */
#include "proto/call.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* Milliseconds left until deadline_ms, for zmq_poll (0 once passed). */
static long left_ms(uint64_t deadline_ms)
{
	uint64_t now = sl_now_ms();

	return deadline_ms > now ? (long)(deadline_ms - now) : 0;
}

int pr_call_start(pr_call_t *c, void *sock, pr_header_t *h, const void *body,
		  size_t len, uint64_t deadline_ms)
{
	zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLOUT};
	int rc;

	memset(c, 0, sizeof(*c));
	c->sock = sock;
	c->opcode = h->opcode;
	c->req_id = h->req_id;
	for (;;) {
		rc = pr_send(sock, NULL, h, body, len, ZMQ_DONTWAIT);
		if (rc != -EAGAIN && rc != -EINTR)
			break;
		/* The queue is full: nothing was queued, wait for room. */
		rc = zmq_poll(&it, 1, left_ms(deadline_ms));
		if (rc == 0) {
			rc = -ETIMEDOUT;
			break;
		}
		if (rc < 0 && zmq_errno() != EINTR) {
			rc = -zmq_errno();
			break;
		}
	}
	c->pending = rc == 0;
	return rc;
}

int pr_call_post(pr_call_t *c, void *sock, pr_header_t *h, const void *body,
		 size_t len)
{
	int rc;

	memset(c, 0, sizeof(*c));
	c->sock = sock;
	c->opcode = h->opcode;
	c->req_id = h->req_id;
	rc = pr_send(sock, NULL, h, body, len, ZMQ_DONTWAIT);
	if (rc == -EAGAIN || rc == -EINTR) {
		c->unsent = 1;
		c->h = *h;
		c->len = len;
		c->body = sl_xmalloc(len ? len : 1);
		if (len)
			memcpy(c->body, body, len);
		rc = 0;
	}
	c->pending = rc == 0;
	return rc;
}

void pr_call_clear(pr_call_t *c)
{
	free(c->body);
	memset(c, 0, sizeof(*c));
}

/* Send c's kept request now that its socket can take one: 0, or an error
 * that ends the call. */
static int send_kept(pr_call_t *c)
{
	int rc = pr_send(c->sock, NULL, &c->h, c->body, c->len, ZMQ_DONTWAIT);

	if (rc == -EAGAIN || rc == -EINTR)
		return 0; /* woken for nothing: wait on */
	c->unsent = 0;
	free(c->body);
	c->body = NULL;
	if (rc < 0)
		c->pending = 0;
	return rc;
}

/* Note a malformed message on sock in every pending call there. */
static void note_bad(pr_call_t *calls, size_t n, void *sock, int err)
{
	for (size_t i = 0; i < n; i++)
		if (calls[i].pending && calls[i].sock == sock)
			calls[i].bad = err;
}

/* The pending call on sock that m answers, or -1 (m is then dropped; a
 * reply with the right id but another opcode is malformed). */
static int match(pr_call_t *calls, size_t n, void *sock, const pr_msg_t *m)
{
	if (!(m->h.flags & PR_F_REPLY))
		return -1; /* a client is never asked anything */
	for (size_t i = 0; i < n; i++) {
		pr_call_t *c = &calls[i];

		if (!c->pending || c->sock != sock || c->req_id != m->h.req_id)
			continue;
		if (c->opcode != m->h.opcode) {
			c->bad = -EBADMSG;
			return -1;
		}
		return (int)i;
	}
	return -1;
}

/* Take what is waiting on sock: the index of the call a reply answers
 * (the reply in *m), -EAGAIN when nothing waiting answers one,
 * -ETIMEDOUT when the deadline passed while dropping messages (a flood
 * must not hold the caller), or a ZeroMQ error. */
static int drain(pr_call_t *calls, size_t n, void *sock, pr_msg_t *m,
		 uint64_t deadline_ms)
{
	int rc, i;

	for (;;) {
		rc = pr_recv(sock, m, 0, ZMQ_DONTWAIT);
		if (rc == -EINTR)
			continue;
		if (rc == -EAGAIN || rc == -ETERM)
			break;
		if (rc == 0)
			rc = pr_msg_unpack(m);
		if (rc < 0)
			note_bad(calls, n, sock, rc);
		i = rc < 0 ? -1 : match(calls, n, sock, m);
		if (i >= 0) {
			if (!(m->h.flags & PR_F_MORE))
				calls[i].pending = 0;
			return i;
		}
		if (sl_now_ms() >= deadline_ms) {
			rc = -ETIMEDOUT;
			break;
		}
	}
	pr_msg_close(m);
	return rc;
}

int pr_call_wait(pr_call_t *calls, size_t n, uint64_t deadline_ms,
		 pr_msg_t *reply)
{
	zmq_pollitem_t *items = sl_xcalloc(n ? n : 1, sizeof(*items));
	size_t *which = sl_xcalloc(n ? n : 1, sizeof(*which));
	size_t live;
	int rc;

	pr_msg_close(reply);
	for (;;) {
		live = 0;
		for (size_t i = 0; i < n; i++) {
			if (!calls[i].pending)
				continue;
			items[live].socket = calls[i].sock;
			items[live].events =
				(short)(ZMQ_POLLIN |
					(calls[i].unsent ? ZMQ_POLLOUT : 0));
			items[live].revents = 0;
			which[live] = i;
			live++;
		}
		if (!live) {
			rc = -ENOENT;
			goto out;
		}
		rc = zmq_poll(items, (int)live, left_ms(deadline_ms));
		if (rc < 0 && zmq_errno() == EINTR)
			continue;
		if (rc < 0) {
			rc = -zmq_errno();
			goto out;
		}
		if (rc == 0) {
			rc = -ETIMEDOUT;
			goto out;
		}
		for (size_t k = 0; k < live; k++) {
			pr_call_t *c = &calls[which[k]];

			if ((items[k].revents & ZMQ_POLLOUT) && c->unsent)
				(void)send_kept(c);
			if (!(items[k].revents & ZMQ_POLLIN))
				continue;
			rc = drain(calls, n, items[k].socket, reply,
				   deadline_ms);
			if (rc != -EAGAIN)
				goto out;
		}
	}
out:
	free(which);
	free(items);
	return rc;
}

int pr_call(void *sock, pr_header_t *h, const void *body, size_t len,
	    int timeout_ms, pr_msg_t *reply)
{
	uint64_t deadline = sl_now_ms() + (uint64_t)SL_MAX(timeout_ms, 0);
	pr_call_t c;
	int rc;

	pr_msg_close(reply);
	rc = pr_call_start(&c, sock, h, body, len, deadline);
	if (rc < 0)
		return rc;
	rc = pr_call_wait(&c, 1, deadline, reply);
	if (rc == -ETIMEDOUT && c.bad)
		rc = c.bad;
	return rc < 0 ? rc : 0;
}
