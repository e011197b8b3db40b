/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Dataset walks: LOAD (warm a prefix with the blocks this node owns) and
 * EVICT (drop a prefix's blocks), PROTOCOL.md sections LOAD and EVICT.  A
 * walk lists the backend on a thread of its own, so it never holds the
 * event loop; what needs the caches (is this block held? drop these) is
 * posted to the event thread and answered there.  A LOAD fetches the
 * blocks it misses by asking its own node for them over the wire, like a
 * client, so the fetches go through single flight, the tiers and the
 * per-sender bounds like any other READ.
 *
 * Threads: cn_loads_* are called on the event thread only; the walks'
 * threads touch their own walk and post into the inbox.
 */
#ifndef CN_LOAD_H
#define CN_LOAD_H

#include <stddef.h>
#include <stdint.h>

typedef struct cn_server cn_server_t;
typedef struct cn_addr cn_addr_t;
typedef struct cn_loads cn_loads_t;

/* Walks at once per node (LOAD and EVICT together). */
#define CN_MAX_WALKS 4

/* An empty set of walks, or NULL with *err = -errno (no eventfd). */
cn_loads_t *cn_loads_new(int *err);
/* Ends every walk (cn_loads_stop) and frees.  Accepts NULL; clears *lp. */
void cn_loads_destroy(cn_server_t *s, cn_loads_t **lp);

/* Readable while walks have something for the event thread.  Borrowed. */
int cn_loads_fd(const cn_loads_t *l);

/* LOAD and EVICT requests of a (body borrowed). */
void cn_handle_load(cn_server_t *s, const cn_addr_t *a, const void *body,
		    size_t len);
void cn_handle_evict(cn_server_t *s, const cn_addr_t *a, const void *body,
		     size_t len);

/* HELD: whether a tier holds one block (a read request's, the whole
 * block), for a client's extended attributes. */
void cn_handle_held(cn_server_t *s, const cn_addr_t *a, const void *body,
		    size_t len);

/* Answer what the walks posted; send progress that is due.  Returns the
 * next deadline for progress (sl_now_ms clock), or UINT64_MAX. */
uint64_t cn_loads_poll(cn_server_t *s, uint64_t now);

/* Cancel every walk without waiting: their threads see it between
 * backend calls and post their end, answered -ESHUTDOWN by cn_loads_poll
 * while the loop drains.  The stop begins with this; the loop must not
 * wait here for a walk inside a listing call that never returns. */
void cn_loads_cancel(cn_server_t *s);

/* Walks running (their threads not yet ended and answered). */
size_t cn_loads_running(const cn_server_t *s);

/* Cancel every walk, wait for their threads and answer their requests
 * -ESHUTDOWN: at teardown, before the socket closes.  The wait has no
 * bound of its own; the node's stop watchdog (main.c) bounds it. */
void cn_loads_stop(cn_server_t *s);

/* Start a count of the whole of ds (borrowed) that nobody asked for, as a
 * LOAD with parallel 0 whose end is answered to nobody: its full walk
 * gives policy = auto the dataset's size.  0, or -EBUSY when half the
 * walks run already (the rest stay for clients). */
typedef struct cn_dataset cn_dataset_t;
int cn_loads_count_quietly(cn_server_t *s, cn_dataset_t *ds);

/* Walks running. */
size_t cn_loads_count(const cn_loads_t *l);

#endif
