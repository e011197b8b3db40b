/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The I/O thread's nodes and cluster map (see io.h, io_i.h): a slot per
 * node with its DEALER socket, the poll items over them, the current map
 * swapped in, and the refresh that asks a node for a newer one.
 *
 * Nodes and maps.  A node lives in a slot for as long as the current map
 * lists it or a request may still be sent to it: a request takes its
 * candidates (slots) from the map current when it starts, and holds each
 * of them until it completes, so a map swapped in meanwhile leaves it on
 * the ring it was routed by -- the node that used to own a block is the
 * one that has it, and a later request finds the new owner.  A slot out of
 * the map and held by nobody closes its socket.  Slot indices never move
 * while a request holds them.
 *
 * Refreshing the map.  Every reply carries its node's ring (version and
 * generation).  One of another ring with a greater generation, or an
 * -EREMCHG (a dataset's layout, its block size, changed on the nodes),
 * sends HELLO to that node, one at a time; the answer is merged into the
 * map (fc_cluster_merge: the newer ring, each dataset's later layout), so
 * nodes not reloaded yet, whose rings and layouts are older, are never
 * followed back: no flip-flop during a rolling change.  A node whose
 * HELLO brought nothing new is not asked again for a request_timeout (an
 * old node keeps refusing new layouts until it reloads).  With membership
 * = etcd the thread also follows etcd's view of the members, which
 * changes the ring without asking any node.  A read that got -EREMCHG
 * finds the map newer than the one it was planned with
 * (fc_io_map_newer).
 */
#include "fuse/io_i.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/keys.h"
#include "common/log.h"

/* Messages queued to one node's connection at most; beyond, a send fails
 * (-EAGAIN) and the request goes to the next candidate. */
#define NODE_SNDHWM 1000

/* ---- slots ----------------------------------------------------------- */

/* A new slot for conf's node, its socket connected (sock NULL, logged,
 * when ZeroMQ refuses it): its index. */
static size_t slot_open(fc_io_t *io, const fc_node_t *conf)
{
	int linger = 0, sndhwm = NODE_SNDHWM, rcvhwm = 0, immediate = 1;
	int64_t maxmsg = (int64_t)PR_MAX_BODY + PR_HEADER_SIZE;
	struct node *n = sl_xcalloc(1, sizeof(*n));
	size_t i;

	sl_strlcpy(n->name, conf->name, sizeof(n->name));
	sl_strlcpy(n->addr, conf->addr, sizeof(n->addr));
	n->grace_until = sl_now_ms() + io->opts.timeout_ms;
	n->sock = zmq_socket(io->ctx, ZMQ_DEALER);
	if (n->sock) {
		zmq_setsockopt(n->sock, ZMQ_LINGER, &linger, sizeof(linger));
		zmq_setsockopt(n->sock, ZMQ_SNDHWM, &sndhwm, sizeof(sndhwm));
		zmq_setsockopt(n->sock, ZMQ_IMMEDIATE, &immediate,
			       sizeof(immediate));
		zmq_setsockopt(n->sock, ZMQ_RCVHWM, &rcvhwm, sizeof(rcvhwm));
		zmq_setsockopt(n->sock, ZMQ_MAXMSGSIZE, &maxmsg,
			       sizeof(maxmsg));
		if (sl_keyring_client(io->opts.keys, n->sock, n->name,
				      n->addr) < 0) {
			sl_err("no CURVE key for cache node %s at %s", n->name,
			       n->addr);
			zmq_close(n->sock);
			n->sock = NULL;
		} else if (zmq_connect(n->sock, n->addr) < 0) {
			zmq_close(n->sock);
			n->sock = NULL;
		}
	}
	if (!n->sock)
		sl_err("cannot connect to cache node %s at %s: %s", n->name,
		       n->addr, zmq_strerror(zmq_errno()));
	for (i = 0; i < io->n_slots && io->slots[i]; i++)
		;
	if (i == io->n_slots) {
		io->n_slots++;
		io->slots = sl_xrealloc(io->slots,
					io->n_slots * sizeof(*io->slots));
	}
	io->slots[i] = n;
	io->items_stale = 1;
	return i;
}

/* Close slot i when nothing needs it any more. */
static void slot_maybe_close(fc_io_t *io, size_t i)
{
	struct node *n = io->slots[i];

	if (n->in_map || n->refs)
		return;
	if (n->sock)
		zmq_close(n->sock);
	free(n);
	io->slots[i] = NULL;
	io->items_stale = 1;
}

void fc_io_slot_put(fc_io_t *io, size_t i)
{
	SL_ASSERT(io->slots[i] && io->slots[i]->refs > 0);
	io->slots[i]->refs--;
	slot_maybe_close(io, i);
}

/* The poll items: the inbox, etcd's view, then every slot with a
 * socket (item_slot[i] for item i). */
void fc_io_items_build(fc_io_t *io)
{
	size_t k = 0;

	io->items =
		sl_xrealloc(io->items, (io->n_slots + 2) * sizeof(*io->items));
	io->item_slot = sl_xrealloc(io->item_slot,
				    (io->n_slots + 2) * sizeof(*io->item_slot));
	io->items[k++] =
		(zmq_pollitem_t){NULL, sl_inbox_fd(io->inbox), ZMQ_POLLIN, 0};
	io->members_item = -1;
	if (io->members) {
		io->members_item = (int)k;
		io->items[k++] = (zmq_pollitem_t){
			NULL, sl_members_fd(io->members), ZMQ_POLLIN, 0};
	}
	for (size_t i = 0; i < io->n_slots; i++) {
		if (!io->slots[i] || !io->slots[i]->sock)
			continue;
		io->items[k] =
			(zmq_pollitem_t){io->slots[i]->sock, 0, ZMQ_POLLIN, 0};
		io->item_slot[k++] = i;
	}
	io->n_items = k;
	io->items_stale = 0;
}

/* ---- the map --------------------------------------------------------- */

/* Whether b says something a does not: another ring, or a dataset with
 * another layout or block size. */
static int map_differs(const fc_cluster_t *a, const fc_cluster_t *b)
{
	if (a->ring_version != b->ring_version ||
	    a->n_datasets != b->n_datasets || a->n_nodes != b->n_nodes)
		return 1;
	for (size_t i = 0; i < a->n_nodes; i++)
		if (strcmp(a->nodes[i].addr, b->nodes[i].addr) != 0)
			return 1;
	for (size_t i = 0; i < a->n_datasets; i++) {
		const fc_dataset_t *x = &a->datasets[i], *y = &b->datasets[i];

		if (x->layout != y->layout || x->block_size != y->block_size ||
		    x->gone != y->gone)
			return 1;
	}
	return 0;
}

/* One line on what changed from old to cl. */
static void log_swap(const fc_cluster_t *old, const fc_cluster_t *cl)
{
	char what[1024] = "";
	size_t n = 0;

	for (size_t i = 0; i < cl->n_datasets && n < sizeof(what); i++) {
		const fc_dataset_t *d = &cl->datasets[i];
		const fc_dataset_t *o =
			i < old->n_datasets ? &old->datasets[i] : NULL;

		if (o && o->layout == d->layout && o->gone == d->gone)
			continue;
		n += (size_t)snprintf(what + n, sizeof(what) - n,
				      "; dataset %s %s (layout %08x, block "
				      "size %u)",
				      d->name,
				      d->gone ? "gone"
				      : o     ? "changed"
					      : "added",
				      d->layout, d->block_size);
	}
	sl_notice("cluster map from %s: ring %08x generation %llu, %zu nodes "
		  "(was %08x, %zu nodes)%s",
		  cl->source, cl->ring_version,
		  (unsigned long long)cl->generation, cl->n_nodes,
		  old->ring_version, old->n_nodes, what);
}

/* Make cl (a reference, taken over) the current map: slots for its
 * nodes, the others' closed when unused. */
void fc_io_adopt(fc_io_t *io, fc_cluster_t *cl)
{
	size_t *map_slot = sl_xcalloc(cl->n_nodes + 1, sizeof(*map_slot));
	fc_cluster_t *old;

	for (size_t i = 0; i < io->n_slots; i++)
		if (io->slots[i])
			io->slots[i]->in_map = 0;
	for (size_t i = 0; i < cl->n_nodes; i++) {
		size_t k;

		for (k = 0; k < io->n_slots; k++)
			if (io->slots[k] &&
			    !strcmp(io->slots[k]->name, cl->nodes[i].name) &&
			    !strcmp(io->slots[k]->addr, cl->nodes[i].addr))
				break;
		if (k == io->n_slots)
			k = slot_open(io, &cl->nodes[i]);
		io->slots[k]->in_map = 1;
		map_slot[i] = k;
	}
	for (size_t i = 0; i < io->n_slots; i++)
		if (io->slots[i])
			slot_maybe_close(io, i);
	free(io->map_slot);
	io->map_slot = map_slot;
	pthread_mutex_lock(&io->map_lock);
	old = io->map;
	io->map = cl;
	pthread_cond_broadcast(&io->map_cond);
	pthread_mutex_unlock(&io->map_lock);
	/* Not for the first map: the caller has it already. */
	if (old && io->opts.on_map)
		io->opts.on_map(io->opts.on_map_arg, cl);
	if (old)
		log_swap(old, cl);
	fc_cluster_unref(&old);
}

/* Ask slot i for the map (remap: it refused a request's layout), unless
 * a refresh is in flight or i's last HELLO brought nothing new lately. */
void fc_io_want_refresh(fc_io_t *io, size_t i, int remap, uint64_t now)
{
	struct node *n = io->slots[i];
	pr_header_t h = {.opcode = PR_OP_HELLO};

	if (io->refresh_id || !n->sock || now < n->quiet_until)
		return;
	h.req_id = io->next_id++;
	h.ring_version = io->map->ring_version;
	h.generation = io->map->generation;
	if (pr_send(n->sock, NULL, &h, NULL, 0, ZMQ_DONTWAIT) < 0)
		return;
	io->refresh_id = h.req_id;
	io->refresh_slot = i;
	io->refresh_deadline = now + io->opts.timeout_ms;
	n->refs++;
	sl_info("asking cache node %s for the cluster map (%s)", n->name,
		remap ? "a dataset's layout changed" : "its ring is newer");
}

void fc_io_refresh_end(fc_io_t *io)
{
	io->refresh_id = 0;
	fc_io_slot_put(io, io->refresh_slot);
}

/* The refresh's answer m from slot i (held by the caller). */
void fc_io_on_hello(fc_io_t *io, size_t i, pr_msg_t *m, uint64_t now)
{
	fc_cluster_t *cand = NULL, *next = NULL;
	pr_hello_t hello;
	char why[256] = "";
	int rc = m->h.status;

	if (rc == 0)
		rc = pr_msg_unpack(m);
	if (rc == 0)
		rc = pr_hello_decode(&hello, pr_msg_body(m),
				     pr_msg_body_len(m));
	if (rc == 0) {
		cand = fc_cluster_from_hello(&hello, io->map, why, sizeof(why));
		pr_hello_free(&hello);
	}
	fc_io_refresh_end(io);
	if (!cand)
		sl_log_ratelimited(
			SL_LOG_WARNING, "cluster map from %s unusable: %s",
			io->slots[i]->name, why[0] ? why : strerror(-rc));
	else
		next = fc_cluster_merge(io->map, cand);
	fc_cluster_unref(&cand);
	if (next && map_differs(io->map, next)) {
		fc_io_adopt(io, next);
		return;
	}
	fc_cluster_unref(&next);
	io->slots[i]->quiet_until = now + io->opts.timeout_ms;
}

/* etcd's view changed: its members, when newer, are the ring. */
void fc_io_on_members(fc_io_t *io)
{
	const sl_members_set_t *set = sl_members_snapshot(io->members);
	fc_cluster_t *next = fc_cluster_with_members(io->map, set);

	sl_members_set_put(&set);
	if (next)
		fc_io_adopt(io, next);
}

fc_cluster_t *fc_io_map(fc_io_t *io)
{
	fc_cluster_t *cl;

	pthread_mutex_lock(&io->map_lock);
	cl = fc_cluster_ref(io->map);
	pthread_mutex_unlock(&io->map_lock);
	return cl;
}

fc_cluster_t *fc_io_map_newer(fc_io_t *io, const fc_cluster_t *old,
			      uint64_t timeout_ms)
{
	struct timespec ts;
	fc_cluster_t *cl;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(timeout_ms / 1000);
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&io->map_lock);
	while (io->map == old && rc == 0)
		rc = pthread_cond_timedwait(&io->map_cond, &io->map_lock, &ts);
	cl = fc_cluster_ref(io->map);
	pthread_mutex_unlock(&io->map_lock);
	return cl;
}
