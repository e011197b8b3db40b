/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the two halves of a dataset walk share (load.h is the public face):
 * the walk, its messages to the event thread, its files and READ slots.
 *
 *   load.c      the event thread's half: requests, probes and drops
 *               answered, progress, the walk's end
 *   loadwalk.c  the walk's own thread: listing, owned blocks, READs to
 *               this node, probes posted and awaited
 *
 * Which thread may touch which field of struct walk is said at each.
 */
#ifndef CN_LOAD_I_H
#define CN_LOAD_I_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "cachenode/load.h"
#include "cachenode/server_i.h"
#include "common/inbox.h"

#define PROGRESS_MS   500   /* a LOAD's progress replies, at most this often */
#define LIST_PAGE     256   /* entries per backend listing call */
#define BATCH	      64    /* keys per probe or drop */
#define WAIT_SLICE_MS 100   /* a thread's waits check for cancel this often */
#define READ_TIMEOUT  30000 /* a block's READ to this node, at most */
#define RETRY_MS      20    /* after -EAGAIN from this node's sender caps */
/* The share of the capacity a load fills: blocks cost their index and
 * allocation on top of their bytes. */
#define CAP_PERCENT 90

enum { W_LOAD, W_EVICT };
enum { MSG_PROBE, MSG_DROP };

typedef struct walk walk_t;

/* Keys for the event thread: a probe (answered in held[], then answered
 * set) or a drop (freed by the event thread). */
typedef struct wmsg {
	sl_qlink_t link;
	int kind;
	walk_t *w;
	size_t n;
	sl_blockkey_t keys[BATCH];
	uint8_t held[BATCH]; /* probe: 1 when a tier holds keys[i] */
	int answered;	     /* protected by w->lock */
} wmsg_t;

/* A file whose blocks are being loaded. */
typedef struct wfile {
	char *path;
	char version[PR_MAX_VERSION + 1];
	size_t pending; /* READs in flight */
	int failed;
} wfile_t;

/* A READ in flight to this node. */
typedef struct slot {
	uint64_t req_id; /* 0: free */
	wfile_t *f;
	uint64_t block;
	uint32_t len;
	sl_blockkey_t key;
	uint64_t deadline;
	uint64_t retry_at; /* 0: sent */
} slot_t;

struct walk {
	int kind;
	/* Event thread: the request, the dataset, where to reply. */
	zmq_msg_t identity;
	uint64_t req_id;
	uint8_t op;
	cn_sender_t *sender; /* a reference, or NULL */
	cn_dataset_t *ds;    /* a reference (its ops are thread-safe) */
	uint64_t load_id;
	uint64_t next_progress;
	uint64_t ev_blocks, ev_bytes; /* EVICT: what was dropped */
	sl_qlink_t done;	      /* posted by the thread, last */

	/* Set before the thread starts, read-only after. */
	char path[PR_MAX_PATH + 1];
	uint32_t parallel;
	cn_ringmap_t *ring; /* a copy: the ring when the walk began */
	char self[SL_NAME_MAX + 1];
	char skip[PR_MAX_LOAD_SKIP][SL_NAME_MAX + 1];
	size_t n_skip;
	uint64_t capacity; /* bytes of blocks the load may hold */
	char endpoint[SL_ADDR_MAX + 1];
	void *zctx;
	sl_inbox_t *inbox;
	pthread_t thread;

	int silent; /* nobody asked: the node's own count (autopolicy.c) */
	_Atomic int cancel; /* 1: a LOAD cancel; 2: the node stops */
	_Atomic uint64_t files_done, files_total, bytes_done, bytes_total;
	_Atomic uint64_t errors;
	_Atomic uint64_t all_bytes; /* every file's, owned or not */
	_Atomic int state;	    /* PR_LOAD_* */
	int listed_all; /* by the thread: the walk saw the whole prefix */

	pthread_mutex_t lock;
	pthread_cond_t cond;	      /* a probe answered */
	char failed[PR_MAX_PATH + 1]; /* protected by lock */
	int rc;			      /* the walk's end: by the thread */
	char err[256];		      /* its message, when rc < 0 */
	wmsg_t probe;		      /* the one probe in flight */
	int probe_lost; /* thread: a probe left unanswered, still queued */

	/* Thread only. */
	void *sock;
	uint64_t next_id;
	slot_t *slots;
	size_t inflight;
	wmsg_t *drop; /* EVICT: the batch being filled */
};

/* The walk's thread (pthread_create's start routine): arg is the walk_t,
 * borrowed; it posts w->done last and returns NULL. */
void *cn_load_walk_main(void *arg);

#endif
