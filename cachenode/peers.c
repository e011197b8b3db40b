/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Calls from this node to its peers (see peers.h).  Every call gets the
 * same time limit, so the list of calls in flight is in deadline order by
 * construction and expiring is a walk from its head.  A peer object lives
 * while the ring names it or a call to it is in flight; one that is no
 * longer wanted is freed when the loop next asks for poll items, never
 * between a poll and the reap of its sockets.
 */
#include "cachenode/peers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/keymap.h"
#include "common/list.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/util.h"
#include "proto/transport.h"

struct peer {
	char name[SL_NAME_MAX + 1];
	char addr[SL_ADDR_MAX + 1];
	void *sock;
	uint64_t down_until; /* skipped until then (sl_now_ms) */
	size_t inflight;     /* calls waiting for it */
	int unwanted;	     /* the ring no longer names it */
};

typedef struct pcall {
	sl_knode_t idnode; /* p->ids, by request id */
	sl_list_t link;	   /* p->calls, in deadline order */
	struct peer *peer;
	uint64_t deadline;
	cn_peer_done_fn *done;
	void *arg;
} pcall_t;

struct cn_peers {
	void *ctx;
	const sl_keyring_t *keys; /* borrowed; NULL: plain */
	uint64_t timeout_ms;
	uint64_t backoff_ms;
	uint32_t ring_version;
	uint64_t generation;
	struct peer **v;
	size_t n;
	struct peer **polled; /* v's entries in the last cn_peers_items */
	size_t n_polled;
	sl_keymap_t ids;
	sl_list_t calls;
	uint64_t next_id;
};

void cn_peers_set_keys(cn_peers_t *p, const sl_keyring_t *keys)
{
	p->keys = keys;
}

cn_peers_t *cn_peers_new(void *ctx, uint64_t timeout_ms, uint64_t backoff_ms)
{
	cn_peers_t *p = sl_xcalloc(1, sizeof(*p));

	p->ctx = ctx;
	p->timeout_ms = timeout_ms;
	p->backoff_ms = backoff_ms;
	p->next_id = 1;
	sl_keymap_init(&p->ids);
	sl_list_init(&p->calls);
	return p;
}

static void peer_free(struct peer *pe)
{
	if (pe->sock)
		zmq_close(pe->sock);
	free(pe);
}

/* Call c is over: out of the tables, its peer released, then done. */
static void finish(cn_peers_t *p, pcall_t *c, int status, zmq_msg_t *body)
{
	zmq_msg_t empty;

	sl_keymap_remove(&p->ids, &c->idnode);
	sl_list_del(&c->link);
	c->peer->inflight--;
	zmq_msg_init(&empty);
	c->done(c->arg, status, body ? body : &empty);
	zmq_msg_close(&empty);
	free(c);
}

void cn_peers_destroy(cn_peers_t **pp)
{
	cn_peers_t *p = pp ? *pp : NULL;
	sl_list_t *l;

	if (!p)
		return;
	while ((l = sl_list_first(&p->calls)))
		finish(p, sl_container_of(l, pcall_t, link), -ESHUTDOWN, NULL);
	for (size_t i = 0; i < p->n; i++)
		peer_free(p->v[i]);
	sl_keymap_fini(&p->ids);
	free(p->v);
	free(p->polled);
	free(p);
	*pp = NULL;
}

void cn_peers_set_ring(cn_peers_t *p, uint32_t ring_version,
		       uint64_t generation)
{
	p->ring_version = ring_version;
	p->generation = generation;
}

/* The peer called name, at addr: found, reconnected, or made. */
static struct peer *peer_get(cn_peers_t *p, const char *name, const char *addr)
{
	int64_t maxmsg = (int64_t)PR_HEADER_SIZE + PR_MAX_BODY;
	int linger = 0, hwm = 0;
	struct peer *pe = NULL;

	for (size_t i = 0; i < p->n && !pe; i++)
		if (strcmp(p->v[i]->name, name) == 0)
			pe = p->v[i];
	if (pe && strcmp(pe->addr, addr) != 0 && pe->inflight == 0) {
		/* It moved (a restart on another address). */
		if (pe->sock)
			zmq_close(pe->sock);
		pe->sock = NULL;
	}
	if (!pe) {
		pe = sl_xcalloc(1, sizeof(*pe));
		sl_strlcpy(pe->name, name, sizeof(pe->name));
		p->v = sl_xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
		p->v[p->n++] = pe;
	}
	pe->unwanted = 0;
	if (!pe->sock) {
		sl_strlcpy(pe->addr, addr, sizeof(pe->addr));
		pe->sock = zmq_socket(p->ctx, ZMQ_DEALER);
		if (pe->sock) {
			zmq_setsockopt(pe->sock, ZMQ_LINGER, &linger,
				       sizeof(linger));
			zmq_setsockopt(pe->sock, ZMQ_RCVHWM, &hwm, sizeof(hwm));
			zmq_setsockopt(pe->sock, ZMQ_MAXMSGSIZE, &maxmsg,
				       sizeof(maxmsg));
			if (sl_keyring_client(p->keys, pe->sock, name, addr) <
			    0) {
				sl_log_ratelimited(SL_LOG_WARNING,
						   "peer %s at %s: no CURVE "
						   "key for it",
						   name, addr);
				zmq_close(pe->sock);
				pe->sock = NULL;
			} else if (zmq_connect(pe->sock, pe->addr) < 0) {
				sl_log_ratelimited(
					SL_LOG_WARNING, "peer %s at %s: %s",
					name, addr, zmq_strerror(zmq_errno()));
				zmq_close(pe->sock);
				pe->sock = NULL;
			}
		}
	}
	return pe;
}

int cn_peers_call(cn_peers_t *p, const char *name, const char *addr, uint8_t op,
		  const void *body, size_t len, cn_peer_done_fn *done,
		  void *arg)
{
	struct peer *pe = peer_get(p, name, addr);
	uint64_t now = sl_now_ms();
	pr_header_t h = {
		.opcode = op,
		.req_id = p->next_id++,
		.ring_version = p->ring_version,
		.generation = p->generation,
	};
	pcall_t *c;
	int rc;

	if (now < pe->down_until)
		return -EHOSTDOWN;
	if (!pe->sock)
		return -ENOTCONN;
	rc = pr_send(pe->sock, NULL, &h, body, len, ZMQ_DONTWAIT);
	if (rc < 0 || !done)
		return rc;
	c = sl_xcalloc(1, sizeof(*c));
	c->peer = pe;
	c->deadline = now + p->timeout_ms;
	c->done = done;
	c->arg = arg;
	c->idnode.key = sl_keymap_key64(h.req_id);
	sl_keymap_insert(&p->ids, &c->idnode);
	sl_list_add_back(&p->calls, &c->link);
	pe->inflight++;
	return 0;
}

void cn_peers_keep(cn_peers_t *p, const char *const *names, size_t n)
{
	for (size_t i = 0; i < p->n; i++) {
		size_t k;

		for (k = 0; k < n && strcmp(names[k], p->v[i]->name); k++)
			;
		p->v[i]->unwanted = k == n;
	}
}

size_t cn_peers_count(const cn_peers_t *p)
{
	return p->n;
}

size_t cn_peers_items(cn_peers_t *p, zmq_pollitem_t *items, size_t max)
{
	size_t k = 0, w = 0;

	/* Now, between two polls, the unwanted idle peers can go. */
	for (size_t i = 0; i < p->n; i++) {
		if (p->v[i]->unwanted && p->v[i]->inflight == 0)
			peer_free(p->v[i]);
		else
			p->v[w++] = p->v[i];
	}
	p->n = w;
	p->polled = sl_xrealloc(p->polled, (p->n + 1) * sizeof(*p->polled));
	for (size_t i = 0; i < p->n && k < max; i++) {
		if (!p->v[i]->sock)
			continue;
		items[k] = (zmq_pollitem_t){p->v[i]->sock, 0, ZMQ_POLLIN, 0};
		p->polled[k++] = p->v[i];
	}
	p->n_polled = k;
	return k;
}

/* The replies waiting on pe's socket. */
static void drain(cn_peers_t *p, struct peer *pe)
{
	pr_msg_t m;
	int rc;

	pr_msg_init(&m);
	for (;;) {
		sl_knode_t *kn;
		pcall_t *c;

		rc = pr_recv(pe->sock, &m, 0, ZMQ_DONTWAIT);
		if (rc == -EAGAIN || rc == -ETERM)
			break;
		if (rc == -EINTR)
			continue;
		if (rc < 0 || !(m.h.flags & PR_F_REPLY)) {
			sl_log_ratelimited(
				SL_LOG_INFO, "bad message from peer %s: %s",
				pe->name, strerror(rc < 0 ? -rc : 0));
			continue;
		}
		kn = sl_keymap_find(&p->ids, sl_keymap_key64(m.h.req_id));
		c = kn ? sl_container_of(kn, pcall_t, idnode) : NULL;
		if (!c || c->peer != pe)
			continue; /* late: the call timed out already */
		pe->down_until = 0;
		rc = m.h.status;
		if (rc == 0)
			rc = pr_msg_unpack(&m);
		finish(p, c, rc, &m.body);
	}
	pr_msg_close(&m);
}

void cn_peers_reap(cn_peers_t *p, const zmq_pollitem_t *items, size_t n)
{
	for (size_t k = 0; k < n && k < p->n_polled; k++)
		if (items[k].revents & ZMQ_POLLIN)
			drain(p, p->polled[k]);
}

uint64_t cn_peers_expire(cn_peers_t *p, uint64_t now)
{
	sl_list_t *l;

	while ((l = sl_list_first(&p->calls))) {
		pcall_t *c = sl_container_of(l, pcall_t, link);

		if (c->deadline > now)
			return c->deadline;
		if (now >= c->peer->down_until)
			sl_warn("peer %s (%s) did not answer within %llu ms; "
				"not asking it for %llu ms",
				c->peer->name, c->peer->addr,
				(unsigned long long)p->timeout_ms,
				(unsigned long long)p->backoff_ms);
		c->peer->down_until = now + p->backoff_ms;
		finish(p, c, -ETIMEDOUT, NULL);
	}
	return UINT64_MAX;
}
