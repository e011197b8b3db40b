/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The FUSE client's I/O thread (see io.h): requests from the FUSE threads
 * taken from the inbox, sent on the nodes' sockets under request ids,
 * timed out, failed over along the ring or parked while no candidate has
 * a connection; replies matched to them; down-marking with probes; the
 * thread's lifecycle and the synchronous call.  The slots a request holds
 * and the cluster map it is routed by are iomap.c's (io_i.h).
 */
#include "fuse/io_i.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/inbox.h"
#include "common/keymap.h"
#include "common/list.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/members.h"
#include "common/util.h"
#include "proto/proto.h"
#include "proto/transport.h"

/* A request tries at most this many nodes of its preference list. */
#define MAX_CANDIDATES 16
/* The I/O thread wakes at least this often to run timers. */
#define MAX_POLL_MS 1000
/* Parked requests (see fc_io.parked) are offered to their nodes again
 * this often. */
#define PARK_RETRY_MS 10

enum { TRIED_NOT = 0, TRIED_YES, TRIED_NO_CONNECTION };

struct ioreq {
	fc_io_req_t r;
	uint64_t id;	   /* the current attempt's id; 0 while not sent */
	size_t node;	   /* the current attempt's slot */
	uint64_t deadline; /* the current attempt's time limit */
	size_t n_pref;	   /* slots held, owner first */
	size_t pref[MAX_CANDIDATES];
	uint8_t tried[MAX_CANDIDATES]; /* TRIED_* */
	int remap;		       /* a node said -EREMCHG */
	unsigned sent;		       /* attempts sent so far */
	unsigned tier;		       /* the answer's (enum pr_tier) */
	int parked;		       /* on fc_io.parked */
	uint64_t park_deadline;	       /* from the first parking; 0: never */
	char why[512];		       /* one clause per failed attempt */
	sl_qlink_t qlink;	       /* in the inbox, from fc_io_submit */
	sl_list_t link;	   /* on the deadline list while sent, or parked */
	sl_knode_t idnode; /* in the id index, while sent; key: id */
};

static struct ioreq *inflight_first(fc_io_t *io)
{
	sl_list_t *l = sl_list_first(&io->inflight);

	return l ? sl_container_of(l, struct ioreq, link) : NULL;
}

/* ---- request id index ------------------------------------------------ */

static void ids_add(fc_io_t *io, struct ioreq *q)
{
	q->idnode.key = sl_keymap_key64(q->id);
	sl_keymap_insert(&io->ids, &q->idnode);
}

/* The request sent with id; NULL when none (a late reply). */
static struct ioreq *ids_find(fc_io_t *io, uint64_t id)
{
	sl_knode_t *n = sl_keymap_find(&io->ids, sl_keymap_key64(id));

	return n ? sl_container_of(n, struct ioreq, idnode) : NULL;
}

/* q is answered or given up: out of the index and the deadline list. */
static void unsend(fc_io_t *io, struct ioreq *q)
{
	sl_keymap_remove(&io->ids, &q->idnode);
	sl_list_del(&q->link);
}

/* ---- completion ------------------------------------------------------ */

static void why_add(struct ioreq *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void why_add(struct ioreq *q, const char *fmt, ...)
{
	size_t n = strlen(q->why);
	va_list ap;

	if (n + 3 >= sizeof(q->why))
		return;
	if (n) {
		memcpy(q->why + n, "; ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(q->why + n, sizeof(q->why) - n, fmt, ap);
	va_end(ap);
}

/* Answer q's callback and free it.  Any thread for a request that never
 * started (it holds no slot); the I/O thread releases slots first. */
static void complete(struct ioreq *q, int status, zmq_msg_t *body,
		     const char *node)
{
	fc_io_result_t res = {
		.status = status,
		.body = body,
		.node = node,
		.why = q->why,
		.tier = q->tier,
	};
	zmq_msg_t empty;

	if (!body) {
		zmq_msg_init(&empty);
		res.body = &empty;
	}
	if (q->r.done)
		q->r.done(q->r.arg, &res);
	zmq_msg_close(res.body);
	free(q->r.body);
	free(q);
}

/* ---- sending --------------------------------------------------------- */

static void set_down(fc_io_t *io, struct node *n, uint64_t now,
		     const char *reason)
{
	if (!n->down) {
		sl_warn("cache node %s (%s) %s; not using it for %llu ms",
			n->name, n->addr, reason,
			(unsigned long long)io->opts.backoff_ms);
		if (io->opts.metrics)
			atomic_fetch_add_explicit(&io->opts.metrics->nodes_down,
						  1, memory_order_relaxed);
	}
	n->down = 1;
	n->down_until = now + io->opts.backoff_ms;
}

static void set_up(struct node *n)
{
	if (n->down)
		sl_notice("cache node %s (%s) answers again; using it", n->name,
			  n->addr);
	n->down = 0;
	n->probe_id = 0;
}

/* The next candidate: the first untried live node of the preference list,
 * else the first untried down node (a last resort beats failing the
 * read); -1 when every candidate has been tried. */
static int pick(fc_io_t *io, struct ioreq *q)
{
	for (size_t i = 0; i < q->n_pref; i++)
		if (!q->tried[i] && !io->slots[q->pref[i]]->down)
			return (int)i;
	for (size_t i = 0; i < q->n_pref; i++)
		if (!q->tried[i])
			return (int)i;
	return -1;
}

static int send_to(fc_io_t *io, struct node *n, uint8_t opcode, uint64_t id,
		   const void *body, size_t len)
{
	pr_header_t h = {
		.opcode = opcode,
		.req_id = id,
		.ring_version = io->map->ring_version,
		.generation = io->map->generation,
	};

	if (!n->sock)
		return -ENOTCONN;
	return pr_send(n->sock, NULL, &h, body, len, ZMQ_DONTWAIT);
}

/* Give every slot q holds back. */
static void release(fc_io_t *io, struct ioreq *q)
{
	for (size_t i = 0; i < q->n_pref; i++)
		fc_io_slot_put(io, q->pref[i]);
	q->n_pref = 0;
}

/* No candidate of q had a connection to take it: wait on io->parked
 * (the first time with a deadline), to be offered to those again. */
static void park(fc_io_t *io, struct ioreq *q, uint64_t now)
{
	for (size_t i = 0; i < q->n_pref; i++)
		if (q->tried[i] == TRIED_NO_CONNECTION)
			q->tried[i] = TRIED_NOT;
	if (!q->park_deadline)
		q->park_deadline = now + io->opts.timeout_ms;
	q->parked = 1;
	sl_list_add_back(&io->parked, &q->link);
}

/*
 * Send q to its next candidate, or complete it when there is none.
 * Failover, in short: each attempt has request_timeout to answer.  A node
 * that lets an attempt time out is marked down for down_backoff (new
 * requests skip it) and the request moves to the next node of its
 * preference list, which for a block is the node that takes over the
 * block's range when the owner leaves the ring, so it is also the right
 * node to cache it.  Down nodes are still tried last, so a cluster whose
 * nodes are all marked down still serves if any of them is in fact back.
 * A request fails (EIO) only when every candidate has had its chance.
 * A node the socket has no connection to is skipped at once; when that
 * leaves no candidate, the request is parked (see fc_io.parked).
 */
static void dispatch(fc_io_t *io, struct ioreq *q, uint64_t now)
{
	char name[SL_NAME_MAX + 1];
	int i, rc, unconnected = 0;

	if (q->parked) {
		sl_list_del(&q->link);
		q->parked = 0;
	}
	for (;;) {
		i = pick(io, q);
		if (i < 0 && unconnected && q->r.done) {
			park(io, q, now);
			return;
		}
		if (i < 0) {
			rc = q->remap ? -EREMCHG : -EIO;
			if (q->r.done)
				sl_debug("%s failed on every candidate: %s",
					 pr_op_name(q->r.opcode), q->why);
			release(io, q);
			complete(q, rc, NULL, NULL);
			return;
		}
		q->tried[i] = TRIED_YES;
		q->node = q->pref[i];
		q->id = io->next_id++;
		rc = send_to(io, io->slots[q->node], q->r.opcode, q->id,
			     q->r.body, q->r.len);
		if (rc == 0) {
			/* Sent again after an attempt failed: a fail-over. */
			if (q->sent++ && io->opts.metrics)
				atomic_fetch_add_explicit(
					&io->opts.metrics->failovers, 1,
					memory_order_relaxed);
			break;
		}
		if (rc == -EAGAIN) {
			/* No connection (or a full queue): maybe soon. */
			q->tried[i] = TRIED_NO_CONNECTION;
			unconnected = 1;
			if (now >= io->slots[q->node]->grace_until)
				set_down(io, io->slots[q->node], now,
					 "cannot take requests (no "
					 "connection, or a full queue)");
			continue;
		}
		why_add(q, "%s: send failed: %s", io->slots[q->node]->name,
			strerror(-rc));
	}
	if (!q->r.done) {
		/* A hint: one try, no answer awaited. */
		sl_strlcpy(name, io->slots[q->node]->name, sizeof(name));
		release(io, q);
		complete(q, 0, NULL, name);
		return;
	}
	q->deadline = now + io->opts.timeout_ms;
	ids_add(io, q);
	sl_list_add_back(&io->inflight, &q->link);
}

static void start(fc_io_t *io, struct ioreq *q, uint64_t now)
{
	const fc_cluster_t *cl = io->map;
	size_t want = SL_MIN(cl->n_nodes, (size_t)MAX_CANDIDATES);

	q->n_pref =
		sl_ring_preference_list(cl->ring, q->r.point, q->pref, want);
	for (size_t i = 0; i < q->n_pref; i++) {
		q->pref[i] = io->map_slot[q->pref[i]];
		io->slots[q->pref[i]]->refs++;
	}
	if (!q->r.done) {
		/* Hints go to the owner or not at all: another node caching
		 * the block would only waste its memory. */
		while (q->n_pref > 1)
			fc_io_slot_put(io, q->pref[--q->n_pref]);
		if (q->n_pref && io->slots[q->pref[0]]->down) {
			release(io, q);
			complete(q, 0, NULL, NULL);
			return;
		}
	}
	dispatch(io, q, now);
}

/* ---- receiving ------------------------------------------------------- */

/* Whether a node's error reply moves the request on to the next
 * candidate: the node cannot serve it now, is short of something for a
 * while, or no longer has the layout the request was made under (another
 * node still may); anything else is the answer (pr_status_class,
 * PROTOCOL.md). */
static int try_next(int status)
{
	pr_status_class_t c = pr_status_class(status);

	return c == PR_STATUS_NEXT || c == PR_STATUS_LATER ||
	       c == PR_STATUS_REMAP;
}

static void errmsg(pr_msg_t *m, char *out, size_t cap)
{
	pr_str_t s;

	out[0] = '\0';
	if (pr_msg_body_len(m) &&
	    pr_errmsg_decode(&s, pr_msg_body(m), pr_msg_body_len(m)) == 0)
		snprintf(out, cap, ": %.*s", (int)SL_MIN(s.len, 200u), s.ptr);
}

static void on_reply(fc_io_t *io, size_t slot, pr_msg_t *m, uint64_t now)
{
	struct node *n = io->slots[slot];
	struct ioreq *q;
	char msg[256], name[SL_NAME_MAX + 1];
	int status = m->h.status, rc;

	if (m->h.req_id == io->refresh_id && slot == io->refresh_slot) {
		fc_io_on_hello(io, slot, m, now);
		return;
	}
	if (m->h.ring_version && m->h.ring_version != io->map->ring_version &&
	    m->h.generation > io->map->generation)
		fc_io_want_refresh(io, slot, 0, now);
	if (m->h.req_id == n->probe_id && n->probe_id) {
		set_up(n);
		return;
	}
	q = ids_find(io, m->h.req_id);
	if (!q)
		return; /* late: answered by another node, or a hint */
	if (q->node != slot)
		return; /* an id answered by the wrong node: a confused peer */
	unsend(io, q);
	if (status == 0) {
		rc = pr_msg_unpack(m);
		if (rc < 0) {
			why_add(q, "%s: undecodable reply: %s", n->name,
				strerror(-rc));
			dispatch(io, q, now);
			return;
		}
	}
	if (status < 0 && try_next(status)) {
		errmsg(m, msg, sizeof(msg));
		why_add(q, "%s: %s%s", n->name, strerror(-status), msg);
		if (pr_status_class(status) == PR_STATUS_REMAP) {
			q->remap = 1;
			fc_io_want_refresh(io, slot, 1, now);
		}
		dispatch(io, q, now);
		return;
	}
	if (status < 0) {
		errmsg(m, msg, sizeof(msg));
		sl_debug("%s answered %s with %s%s", n->name,
			 pr_op_name(q->r.opcode), strerror(-status), msg);
	}
	sl_strlcpy(name, n->name, sizeof(name));
	if (status == 0)
		q->tier = pr_flags_tier(m->h.flags);
	release(io, q);
	complete(q, status, &m->body, name);
}

static void drain_socket(fc_io_t *io, size_t slot, uint64_t now)
{
	pr_msg_t m;
	int rc;

	pr_msg_init(&m);
	/* The slot may close while its replies are handled. */
	while (io->slots[slot] && io->slots[slot]->sock) {
		rc = pr_recv(io->slots[slot]->sock, &m, 0, ZMQ_DONTWAIT);
		if (rc == -EAGAIN || rc == -ETERM)
			break;
		if (rc == -EINTR)
			continue;
		if (rc < 0) {
			sl_log_ratelimited(
				SL_LOG_WARNING, "bad message from node %s: %s",
				io->slots[slot]->name, strerror(-rc));
			continue;
		}
		if (!(m.h.flags & PR_F_REPLY))
			continue;
		/* Held across the handling: a reply may complete the last
		 * request holding a slot that left the map. */
		io->slots[slot]->refs++;
		on_reply(io, slot, &m, now);
		fc_io_slot_put(io, slot);
	}
	pr_msg_close(&m);
}

/* ---- timers ---------------------------------------------------------- */

/* Offer parked requests to their candidates again; fail the ones whose
 * deadline passed. */
static void run_parked(fc_io_t *io, uint64_t now)
{
	sl_list_t todo;

	/* Those parked again go back to io->parked, not into this turn. */
	sl_list_init(&todo);
	while (!sl_list_empty(&io->parked)) {
		sl_list_t *l = io->parked.next;

		sl_list_del(l);
		sl_list_add_back(&todo, l);
	}
	while (!sl_list_empty(&todo)) {
		struct ioreq *q =
			sl_container_of(todo.next, struct ioreq, link);

		sl_list_del(&q->link);
		q->parked = 0;
		if (now < q->park_deadline) {
			dispatch(io, q, now); /* sends, or parks it again */
			continue;
		}
		/* The candidates left untried had no connection. */
		for (size_t i = 0; i < q->n_pref; i++)
			if (q->tried[i] == TRIED_NOT)
				why_add(q, "%s: no connection within %llu ms",
					io->slots[q->pref[i]]->name,
					(unsigned long long)
						io->opts.timeout_ms);
		release(io, q);
		complete(q, q->remap ? -EREMCHG : -EIO, NULL, NULL);
	}
}

static void run_timeouts(fc_io_t *io, uint64_t now)
{
	struct ioreq *q;
	char reason[96];

	while ((q = inflight_first(io)) && q->deadline <= now) {
		struct node *n = io->slots[q->node];

		unsend(io, q);
		snprintf(reason, sizeof(reason),
			 "did not answer %s within %llu ms",
			 pr_op_name(q->r.opcode),
			 (unsigned long long)io->opts.timeout_ms);
		set_down(io, n, now, reason);
		why_add(q, "%s: no answer within %llu ms", n->name,
			(unsigned long long)io->opts.timeout_ms);
		dispatch(io, q, now);
	}
	if (io->refresh_id && now >= io->refresh_deadline) {
		sl_info("cache node %s did not send the cluster map in time",
			io->slots[io->refresh_slot]->name);
		fc_io_refresh_end(io);
	}
}

/* Probe down nodes of the map whose back-off is over with HELLO; an
 * answer brings them back (on_reply), silence restarts the back-off. */
static void run_probes(fc_io_t *io, uint64_t now)
{
	for (size_t i = 0; i < io->n_slots; i++) {
		struct node *n = io->slots[i];

		if (!n || !n->down)
			continue;
		if (n->probe_id && now >= n->probe_deadline) {
			n->probe_id = 0;
			n->down_until = now + io->opts.backoff_ms;
			sl_debug("cache node %s still silent", n->name);
		}
		if (!n->probe_id && now >= n->down_until && n->in_map) {
			uint64_t id = io->next_id++;

			if (send_to(io, n, PR_OP_HELLO, id, NULL, 0) == 0) {
				n->probe_id = id;
				n->probe_deadline = now + io->opts.timeout_ms;
			} else {
				n->down_until = now + io->opts.backoff_ms;
			}
		}
	}
}

static long poll_timeout(fc_io_t *io, uint64_t now)
{
	uint64_t next = now + MAX_POLL_MS;
	struct ioreq *q;

	if ((q = inflight_first(io)))
		next = SL_MIN(next, q->deadline);
	if (!sl_list_empty(&io->parked))
		next = SL_MIN(next, now + PARK_RETRY_MS);
	if (io->refresh_id)
		next = SL_MIN(next, io->refresh_deadline);
	for (size_t i = 0; i < io->n_slots; i++) {
		const struct node *n = io->slots[i];

		if (!n || !n->down || !n->in_map)
			continue;
		next = SL_MIN(next,
			      n->probe_id ? n->probe_deadline : n->down_until);
	}
	return next > now ? (long)(next - now) : 0;
}

/* ---- the thread ------------------------------------------------------ */

static struct ioreq *queued(sl_qlink_t *l)
{
	return sl_container_of(l, struct ioreq, qlink);
}

/* The thread is ending: refuse new requests, and fail every one it still
 * has, sent or queued. */
static void fail_all(fc_io_t *io)
{
	struct ioreq *q;
	sl_fifo_t left;
	sl_qlink_t *l;

	sl_inbox_close(io->inbox);
	while ((q = inflight_first(io))) {
		unsend(io, q);
		release(io, q);
		complete(q, -ESHUTDOWN, NULL, NULL);
	}
	while (!sl_list_empty(&io->parked)) {
		q = sl_container_of(io->parked.next, struct ioreq, link);
		sl_list_del(&q->link);
		release(io, q);
		complete(q, -ESHUTDOWN, NULL, NULL);
	}
	if (io->refresh_id)
		fc_io_refresh_end(io);
	sl_fifo_init(&left);
	sl_inbox_take(io->inbox, &left);
	while ((l = sl_fifo_pop(&left)))
		if (l != &io->stop)
			complete(queued(l), -ESHUTDOWN, NULL, NULL);
}

static void *io_main(void *arg)
{
	fc_io_t *io = arg;
	int stop = 0;

	while (!stop) {
		sl_fifo_t batch;
		sl_qlink_t *l;
		uint64_t now = sl_now_ms();
		size_t n_items;
		int rc;

		if (io->items_stale)
			fc_io_items_build(io);
		n_items = io->n_items;
		rc = zmq_poll(io->items, (int)n_items, poll_timeout(io, now));
		if (rc < 0 && zmq_errno() != EINTR) {
			sl_err("I/O thread: zmq_poll: %s",
			       zmq_strerror(zmq_errno()));
			break;
		}
		now = sl_now_ms();
		/* Slots that close meanwhile are skipped by drain_socket;
		 * the items are rebuilt before the next poll. */
		for (size_t i = 1; i < n_items; i++) {
			if (!(io->items[i].revents & ZMQ_POLLIN))
				continue;
			if ((int)i == io->members_item)
				fc_io_on_members(io);
			else
				drain_socket(io, io->item_slot[i], now);
		}
		sl_fifo_init(&batch);
		sl_inbox_take(io->inbox, &batch);
		while ((l = sl_fifo_pop(&batch))) {
			if (l == &io->stop)
				stop = 1;
			else if (stop)
				complete(queued(l), -ESHUTDOWN, NULL, NULL);
			else
				start(io, queued(l), now);
		}
		if (stop)
			break;
		run_timeouts(io, now);
		run_parked(io, now);
		run_probes(io, now);
	}
	/* From here fc_io_submit refuses new work, even if the loop ended
	 * on an error rather than on fc_io_destroy: no request may wait on a
	 * thread that is gone. */
	fail_all(io);
	return NULL;
}

fc_io_t *fc_io_new(fc_cluster_t *cl, const fc_io_opts_t *opts,
		   sl_members_t *members, int *err)
{
	fc_io_t *io = sl_xcalloc(1, sizeof(*io));
	int rc;

	io->opts = *opts;
	io->members = members;
	if (!io->opts.timeout_ms)
		io->opts.timeout_ms = 2000;
	io->next_id = 1;
	pthread_mutex_init(&io->map_lock, NULL);
	pthread_cond_init(&io->map_cond, NULL);
	sl_list_init(&io->inflight);
	sl_list_init(&io->parked);
	sl_keymap_init(&io->ids);
	sl_keymap_reserve(&io->ids, 1024);
	io->ctx = zmq_ctx_new();
	if (!io->ctx) {
		rc = -zmq_errno();
		goto fail;
	}
	io->inbox = sl_inbox_new(&rc);
	if (!io->inbox)
		goto fail;
	fc_io_adopt(io, fc_cluster_ref(cl));
	for (size_t i = 0; i < io->n_slots; i++) {
		if (!io->slots[i]->sock) {
			rc = -ECONNREFUSED;
			goto fail;
		}
	}
	fc_io_items_build(io);
	rc = -pthread_create(&io->thread, NULL, io_main, io);
	if (rc < 0)
		goto fail;
	io->started = 1;
	return io;
fail:
	if (err)
		*err = rc;
	fc_io_destroy(&io);
	return NULL;
}

void fc_io_destroy(fc_io_t **iop)
{
	fc_io_t *io = iop ? *iop : NULL;

	if (!io)
		return;
	if (io->started) {
		/* Refused when the thread already ended on its own. */
		if (sl_inbox_post(io->inbox, &io->stop) == 0)
			sl_inbox_close(io->inbox);
		pthread_join(io->thread, NULL);
	}
	for (size_t i = 0; i < io->n_slots; i++) {
		if (!io->slots[i])
			continue;
		if (io->slots[i]->sock)
			zmq_close(io->slots[i]->sock);
		free(io->slots[i]);
	}
	if (io->ctx)
		zmq_ctx_term(io->ctx);
	sl_inbox_destroy(&io->inbox);
	sl_keymap_fini(&io->ids);
	fc_cluster_unref(&io->map);
	pthread_cond_destroy(&io->map_cond);
	pthread_mutex_destroy(&io->map_lock);
	free(io->slots);
	free(io->map_slot);
	free(io->items);
	free(io->item_slot);
	free(io);
	*iop = NULL;
}

int fc_io_submit(fc_io_t *io, const fc_io_req_t *reqs, size_t n)
{
	sl_fifo_t batch;
	sl_qlink_t *l;

	if (!n)
		return 0;
	sl_fifo_init(&batch);
	for (size_t i = 0; i < n; i++) {
		struct ioreq *q = sl_xcalloc(1, sizeof(*q));

		q->r = reqs[i];
		sl_list_init(&q->link);
		sl_fifo_push(&batch, &q->qlink);
	}
	/* One wake-up for the batch, and none when the I/O thread has been
	 * woken already and not yet taken its inbox (inbox.h). */
	if (sl_inbox_post_all(io->inbox, &batch) == 0)
		return 0;
	while ((l = sl_fifo_pop(&batch)))
		complete(queued(l), -ESHUTDOWN, NULL, NULL);
	return -ESHUTDOWN;
}

/* ---- synchronous calls ----------------------------------------------- */

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;	  /* protected by w->lock */
	int status;	  /* protected by w->lock */
	zmq_msg_t *reply; /* the caller's, filled before done is set */
	char *why;
	size_t whylen;
};

static void call_done(void *arg, const fc_io_result_t *res)
{
	struct waiter *w = arg;

	if (res->status == 0 && w->reply)
		zmq_msg_move(w->reply, res->body);
	if (res->status == -EIO && w->why)
		snprintf(w->why, w->whylen, "%s", res->why ? res->why : "");
	pthread_mutex_lock(&w->lock);
	w->status = res->status;
	w->done = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int fc_io_call(fc_io_t *io, uint8_t opcode, uint64_t point, void *body,
	       size_t len, zmq_msg_t *reply, char *why, size_t whylen)
{
	struct waiter w = {
		.reply = reply,
		.why = why,
		.whylen = whylen,
	};
	fc_io_req_t r = {
		.opcode = opcode,
		.point = point,
		.body = body,
		.len = len,
		.done = call_done,
		.arg = &w,
	};
	int status;

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	if (why && whylen)
		why[0] = '\0';
	fc_io_submit(io, &r, 1);
	/* The I/O thread completes every request (timeouts, shutdown), so
	 * this wait ends. */
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	status = w.status;
	pthread_mutex_unlock(&w.lock);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return status;
}
