/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the I/O thread's two files share (io.h is the public face): the
 * node slots and the state of the thread.
 *
 *   io.c     requests: sending, fail-over, parking, replies, timers, the
 *            thread and its lifecycle, synchronous calls
 *   iomap.c  the slots (a node's socket) and the cluster map: adopting a
 *            map, asking a node for a newer one, etcd's view of members
 *
 * Everything below is the I/O thread's alone except fc_io.map, which other
 * threads read under fc_io.map_lock (fc_io_map, fc_io_map_newer).
 */
#ifndef FC_IO_I_H
#define FC_IO_I_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "common/inbox.h"
#include "common/keymap.h"
#include "common/list.h"
#include "common/members.h"
#include "common/util.h"
#include "fuse/io.h"
#include "proto/proto.h"
#include "proto/transport.h"

/* A cache node's socket and state; I/O thread only. */
struct node {
	char name[SL_NAME_MAX + 1];
	char addr[SL_ADDR_MAX + 1];
	void *sock;		 /* NULL when it could not be opened */
	int in_map;		 /* the current map lists it */
	size_t refs;		 /* requests (and a refresh) holding it */
	int down;		 /* skipped until a probe answers */
	uint64_t down_until;	 /* earliest probe */
	uint64_t probe_id;	 /* outstanding probe, or 0 */
	uint64_t probe_deadline; /* its time limit */
	uint64_t quiet_until;	 /* its HELLO brought nothing: not again */
	/* Until then, a connection that is not up yet is still being made
	 * (the slot just opened), not a node gone. */
	uint64_t grace_until;
};

struct fc_io {
	fc_io_opts_t opts;
	void *ctx;
	sl_inbox_t *inbox; /* FUSE threads post requests, the thread takes */
	sl_qlink_t stop;   /* posted by fc_io_destroy: the thread ends */
	pthread_t thread;
	int started;

	/* The current map: swapped by the I/O thread, which reads it
	 * without the lock; other threads take a reference under it. */
	pthread_mutex_t map_lock;
	pthread_cond_t map_cond; /* signalled at each swap */
	fc_cluster_t *map;	 /* protected by map_lock */

	/* Below: I/O thread only. */
	struct node **slots; /* NULL: a free slot */
	size_t n_slots;
	size_t *map_slot; /* map->nodes[i]'s slot */
	zmq_pollitem_t *items;
	size_t *item_slot; /* items[i + 1] polls slots[item_slot[i]] */
	size_t n_items;
	int items_stale; /* slots opened or closed since items were built */
	uint64_t next_id;
	/* Requests sent, in deadline order: every attempt gets the same
	 * time limit and is appended when sent. */
	sl_list_t inflight;
	sl_keymap_t ids; /* requests sent, by request id */
	/* Requests none of whose candidates could take them now: every
	 * socket is ZMQ_IMMEDIATE, so it queues nothing for a node it has no
	 * connection to (a dead node must not get a stale burst of requests
	 * when it returns), and a send to it fails at once.  Such a request
	 * waits here, holding its slots, offered again every PARK_RETRY_MS
	 * (a connection is being made: at start-up, after a restart, to a
	 * node that just joined the map), and fails with EIO (or EREMCHG)
	 * timeout_ms after it was first parked. */
	sl_list_t parked;
	/* The map refresh: one HELLO at a time. */
	uint64_t refresh_id; /* 0: none in flight */
	size_t refresh_slot;
	uint64_t refresh_deadline;
	sl_members_t *members; /* etcd's view, or NULL; borrowed */
	int members_item;      /* its poll item, or -1 */
};

/* I/O thread only, all of them. */

/* Drop one hold on slot i (a request's or the refresh's), closing it when
 * it is out of the map and held by nobody. */
void fc_io_slot_put(fc_io_t *io, size_t i);

/* Rebuild io->items from the slots (after io->items_stale is set). */
void fc_io_items_build(fc_io_t *io);

/* Make cl (a reference, transferred) the current map: slots opened for its
 * new nodes, the old map's reference dropped, on_map told. */
void fc_io_adopt(fc_io_t *io, fc_cluster_t *cl);

/* Ask slot i for the map with HELLO, unless a refresh is in flight or its
 * last one brought nothing lately; remap says why (for the log). */
void fc_io_want_refresh(fc_io_t *io, size_t i, int remap, uint64_t now);

/* The refresh in flight is over (answered, timed out, or the thread is
 * ending): its slot's hold is dropped. */
void fc_io_refresh_end(fc_io_t *io);

/* m (borrowed) answers the refresh sent to slot i, which the caller holds:
 * merged into the map, adopted when it says something new. */
void fc_io_on_hello(fc_io_t *io, size_t i, pr_msg_t *m, uint64_t now);

/* etcd's view of the members changed: follow it. */
void fc_io_on_members(fc_io_t *io);

#endif
