/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LOAD and EVICT: walks of a dataset's prefix (see load.h for the
 * threads, PROTOCOL.md for the contract).
 *
 * A LOAD with parallel 0 only counts: the same walk, the same probes,
 * nothing fetched -- how much of the prefix this node owns and holds,
 * which is what `sluicectl datasets` and `locate` show.
 *
 * A walk is one request that lasts: the event thread decodes it, takes a
 * reference on the dataset and a copy of the ring, and starts a thread.
 * The thread lists the tree depth first, straight from the backend (the
 * module ops are thread-safe), and for each file computes its block keys.
 *
 * LOAD keeps only the blocks whose first node on the preference list,
 * less the nodes the client said are down, is this one.  It asks the
 * event thread, a batch at a time, which of them the caches hold (a
 * "probe": the index lives on the event thread, so the thread posts the
 * keys and waits for the answer), and asks its own node for one byte of
 * each missing block on a DEALER socket of its own, at most `parallel` at
 * once.  The node fills the block as for any client (single flight, disk,
 * the per-sender caps: a cap hit is -EAGAIN, retried shortly); a probe of
 * the block afterwards says whether the cache kept it.  A block that was
 * read but not kept means the dataset's policy admits no more (pin is
 * full), and so does reaching the capacity the node can give the load
 * (RAM for blocks plus disk, less a margin for the per-block overhead):
 * either stops the load short, which the last reply says.
 *
 * EVICT computes every block key of every file (owner or not: a block
 * may be cached off its owner after a ring change or a hand-off) and
 * posts them in batches; the event thread drops them from RAM and disk.
 *
 * Ending: the thread posts its walk's `done` link last, after everything
 * else it posted (the inbox is first in, first out); the event thread
 * joins it then, answers the request and frees the walk.  Cancelling
 * (a LOAD with cancel, the node stopping) sets a flag the thread checks
 * between files and in every wait, which are all bounded, so the event
 * thread never waits long for a thread that waits for it.
 */
#include "cachenode/load.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachenode/server_i.h"
#include "common/inbox.h"
#include "common/log.h"
#include "common/path.h"
#include "common/util.h"
#include "proto/transport.h"

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

struct cn_loads {
	sl_inbox_t *inbox;
	walk_t *w[CN_MAX_WALKS];
	size_t n;
};

cn_loads_t *cn_loads_new(int *err)
{
	cn_loads_t *l = sl_xcalloc(1, sizeof(*l));

	l->inbox = sl_inbox_new(err);
	if (!l->inbox) {
		free(l);
		return NULL;
	}
	return l;
}

int cn_loads_fd(const cn_loads_t *l)
{
	return sl_inbox_fd(l->inbox);
}

size_t cn_loads_count(const cn_loads_t *l)
{
	return l ? l->n : 0;
}

/* ---- The walk's thread ---------------------------------------------------
 */

static int cancelled(walk_t *w)
{
	return atomic_load(&w->cancel) ||
	       atomic_load(&w->state) == PR_LOAD_SHORT;
}

static void note_failed(walk_t *w, const char *path)
{
	pthread_mutex_lock(&w->lock);
	if (!w->failed[0])
		sl_strlcpy(w->failed, path, sizeof(w->failed));
	pthread_mutex_unlock(&w->lock);
}

/* Ask the event thread which of the probe's keys a tier holds: 0, or
 * -ECANCELED when the walk was cancelled meanwhile (the answer may still
 * come; the walk outlives it). */
static int probe(walk_t *w)
{
	int rc = 0;

	/* Its link may still be queued: never post it twice. */
	if (w->probe_lost)
		return -ECANCELED;
	w->probe.kind = MSG_PROBE;
	w->probe.w = w;
	w->probe.answered = 0;
	if (sl_inbox_post(w->inbox, &w->probe.link) < 0)
		return -ECANCELED;
	pthread_mutex_lock(&w->lock);
	while (!w->probe.answered) {
		struct timespec ts;

		if (atomic_load(&w->cancel) == 2) {
			w->probe_lost = 1;
			rc = -ECANCELED;
			break;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += WAIT_SLICE_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&w->cond, &w->lock, &ts);
	}
	pthread_mutex_unlock(&w->lock);
	return rc;
}

static void finish_file(walk_t *w, wfile_t *f)
{
	if (!f->failed)
		atomic_fetch_add(&w->files_done, 1);
	free(f->path);
	free(f);
}

static int send_read(walk_t *w, slot_t *sl)
{
	const cn_dataset_t *ds = w->ds;
	pr_read_req_t q = {
		.dataset = pr_str(ds->name),
		.layout = ds->layout,
		.path = pr_str(sl->f->path),
		.version = pr_str(sl->f->version),
		.block = sl->block,
		.offset = 0,
		.length = 1, /* the node fills the whole block for one byte */
	};
	pr_header_t h = {.opcode = PR_OP_READ};
	pr_buf_t b;
	int rc;

	pr_buf_init(&b);
	rc = pr_read_req_encode(&b, &q);
	if (rc == 0) {
		sl->req_id = h.req_id = ++w->next_id;
		rc = pr_send(w->sock, NULL, &h, b.data, b.len, 0);
	}
	pr_buf_fini(&b);
	sl->retry_at = 0;
	return rc;
}

/* The READ of slot sl ended with status rc (0: read). */
static void slot_end(walk_t *w, slot_t *sl, int rc)
{
	wfile_t *f = sl->f;

	if (rc == 0) {
		w->probe.n = 1;
		w->probe.keys[0] = sl->key;
		if (probe(w) == 0 && w->probe.held[0]) {
			atomic_fetch_add(&w->bytes_done, sl->len);
		} else if (!atomic_load(&w->cancel)) {
			/* Read but not kept: the policy admits no more. */
			atomic_store(&w->state, PR_LOAD_SHORT);
			f->failed = 1;
		}
	} else {
		atomic_fetch_add(&w->errors, 1);
		f->failed = 1;
		note_failed(w, f->path);
		sl_log_ratelimited(
			SL_LOG_NOTICE, "load %s/%s block %" PRIu64 ": %s",
			w->ds->name, f->path, sl->block, strerror(-rc));
	}
	sl->req_id = 0;
	w->inflight--;
	if (--f->pending == 0)
		finish_file(w, f);
}

/* Take replies for up to wait_ms; resend what waits for a retry; time out
 * what waited too long. */
static void pump(walk_t *w, int wait_ms)
{
	uint64_t now = sl_now_ms();
	pr_msg_t m;
	int rc;

	for (size_t i = 0; i < w->parallel; i++) {
		slot_t *sl = &w->slots[i];

		if (!sl->req_id)
			continue;
		if (sl->retry_at && now >= sl->retry_at && send_read(w, sl) < 0)
			slot_end(w, sl, -EIO);
		else if (now >= sl->deadline)
			slot_end(w, sl, -ETIMEDOUT);
	}
	if (!w->inflight)
		return;
	pr_msg_init(&m);
	rc = pr_recv_until(w->sock, &m, now + (uint64_t)wait_ms);
	while (rc == 0) {
		for (size_t i = 0; i < w->parallel; i++) {
			slot_t *sl = &w->slots[i];

			if (!sl->req_id || sl->req_id != m.h.req_id ||
			    sl->retry_at)
				continue;
			if (m.h.status == -EAGAIN) {
				sl->retry_at = sl_now_ms() + RETRY_MS;
				sl->req_id = UINT64_MAX; /* none matches */
			} else {
				slot_end(w, sl, m.h.status);
			}
			break;
		}
		pr_msg_close(&m);
		rc = pr_recv_until(w->sock, &m, 0);
	}
	pr_msg_close(&m);
}

/* Wait for a free slot (or the cancel): the slot, or NULL. */
static slot_t *free_slot(walk_t *w)
{
	for (;;) {
		if (atomic_load(&w->cancel) == 2)
			return NULL;
		if (w->inflight < w->parallel)
			for (size_t i = 0; i < w->parallel; i++)
				if (!w->slots[i].req_id)
					return &w->slots[i];
		pump(w, WAIT_SLICE_MS);
	}
}

/* The probe's blocks of f (with their indexes and lengths): count what
 * is held, read the rest. */
static void load_batch(walk_t *w, wfile_t *f, const uint64_t *blocks,
		       const uint32_t *lens)
{
	size_t n = w->probe.n;
	sl_blockkey_t keys[BATCH];
	uint8_t held[BATCH];

	/* The reads' own probes (slot_end) reuse w->probe. */
	memcpy(keys, w->probe.keys, n * sizeof(keys[0]));
	if (probe(w) < 0)
		return;
	memcpy(held, w->probe.held, n);
	for (size_t i = 0; i < n && !cancelled(w); i++) {
		slot_t *sl;

		if (held[i]) {
			atomic_fetch_add(&w->bytes_done, lens[i]);
			continue;
		}
		if (!w->parallel) { /* a count: the file is not all here */
			f->failed = 1;
			continue;
		}
		if (atomic_load(&w->bytes_done) + lens[i] > w->capacity) {
			atomic_store(&w->state, PR_LOAD_SHORT);
			f->failed = 1;
			break;
		}
		sl = free_slot(w);
		if (!sl)
			break;
		*sl = (slot_t){.f = f,
			       .block = blocks[i],
			       .len = lens[i],
			       .key = keys[i],
			       .deadline = sl_now_ms() + READ_TIMEOUT};
		f->pending++;
		w->inflight++;
		if (send_read(w, sl) < 0)
			slot_end(w, sl, -EIO);
	}
}

/* Whether this node is the first of point's preference list that is not
 * skipped. */
static int owned(const walk_t *w, uint64_t point)
{
	const cn_member_t *prefs[PR_MAX_LOAD_SKIP + 1];
	size_t n =
		cn_ringmap_prefs(w->ring, point, prefs,
				 SL_MIN(w->n_skip + 1, SL_ARRAY_SIZE(prefs)));

	for (size_t i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < w->n_skip; j++)
			if (strcmp(prefs[i]->name, w->skip[j]) == 0)
				break;
		if (j == w->n_skip)
			return strcmp(prefs[i]->name, w->self) == 0;
	}
	return 0;
}

static void post_drops(walk_t *w)
{
	if (!w->drop || !w->drop->n)
		return;
	if (sl_inbox_post(w->inbox, &w->drop->link) < 0)
		free(w->drop);
	w->drop = NULL;
}

static void visit_file(walk_t *w, const char *path, const sb_stat_t *st)
{
	uint32_t bs = w->ds->block_size;
	uint64_t nblk = (st->size + bs - 1) / bs;
	uint64_t blocks[BATCH];
	uint32_t lens[BATCH];
	wfile_t *f = NULL;

	atomic_fetch_add(&w->files_total, 1);
	atomic_fetch_add(&w->all_bytes, st->size);
	if (w->kind == W_LOAD) {
		f = sl_xcalloc(1, sizeof(*f));
		f->path = sl_xstrdup(path);
		sl_strlcpy(f->version, st->version, sizeof(f->version));
		f->pending = 1; /* the walk's own, until its blocks are out */
		w->probe.n = 0;
	}
	for (uint64_t b = 0; b < nblk && !cancelled(w); b++) {
		sl_blockkey_t key = sl_blockkey_make(w->ds->name, w->ds->layout,
						     path, st->version, b);
		uint32_t len =
			(uint32_t)SL_MIN((uint64_t)bs, st->size - b * bs);

		if (w->kind == W_EVICT) {
			if (!w->drop)
				w->drop = sl_xcalloc(1, sizeof(*w->drop));
			w->drop->kind = MSG_DROP;
			w->drop->w = w;
			w->drop->keys[w->drop->n++] = key;
			if (w->drop->n == BATCH)
				post_drops(w);
			continue;
		}
		if (!owned(w, key.lo))
			continue;
		atomic_fetch_add(&w->bytes_total, len);
		blocks[w->probe.n] = b;
		lens[w->probe.n] = len;
		w->probe.keys[w->probe.n++] = key;
		if (w->probe.n == BATCH) {
			load_batch(w, f, blocks, lens);
			w->probe.n = 0;
		}
	}
	if (f) {
		if (w->probe.n && !cancelled(w))
			load_batch(w, f, blocks, lens);
		if (cancelled(w) && atomic_load(&w->state) != PR_LOAD_SHORT)
			f->failed = 1;
		if (--f->pending == 0)
			finish_file(w, f);
	} else {
		atomic_fetch_add(&w->files_done, 1);
	}
}

/* Directories still to list, depth first. */
typedef struct dirstack {
	char **v;
	size_t n, cap;
} dirstack_t;

static void push(dirstack_t *d, char *path)
{
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 16;
		d->v = sl_xrealloc(d->v, d->cap * sizeof(*d->v));
	}
	d->v[d->n++] = path;
}

/* List dir into the stack and visit its files: 0 or -errno. */
static int walk_dir(walk_t *w, const char *dir, dirstack_t *ds,
		    sb_dirent_t *ents)
{
	char cursor[SB_CURSOR_MAX + 1] = "", next[SB_CURSOR_MAX + 1];
	char path[PR_MAX_PATH + 1];
	int rc;

	do {
		size_t n = 0;

		rc = cn_dataset_list(w->ds, dir, cursor, ents, LIST_PAGE, &n,
				     next, w->err, sizeof(w->err));
		if (rc < 0)
			return rc;
		for (size_t i = 0; i < n && !cancelled(w); i++) {
			int len = snprintf(path, sizeof(path), "%s%s%s", dir,
					   *dir ? "/" : "", ents[i].name);

			if (len < 0 || (size_t)len >= sizeof(path))
				continue; /* no READ could name it */
			if (ents[i].st.type == SB_TYPE_DIR)
				push(ds, sl_xstrdup(path));
			else if (ents[i].st.type == SB_TYPE_FILE)
				visit_file(w, path, &ents[i].st);
		}
		sl_strlcpy(cursor, next, sizeof(cursor));
	} while (cursor[0] && !cancelled(w));
	return 0;
}

static int walk_tree(walk_t *w)
{
	dirstack_t d = {0};
	sb_dirent_t *ents;
	sb_stat_t st;
	int rc;

	rc = cn_dataset_stat(w->ds, w->path, &st, w->err, sizeof(w->err));
	if (rc < 0)
		return rc;
	if (st.type == SB_TYPE_FILE) {
		visit_file(w, w->path, &st);
		return 0;
	}
	ents = sl_xcalloc(LIST_PAGE, sizeof(*ents));
	push(&d, sl_xstrdup(w->path));
	while (d.n && rc == 0) {
		char *dir = d.v[--d.n];

		if (!cancelled(w))
			rc = walk_dir(w, dir, &d, ents);
		free(dir);
	}
	while (d.n)
		free(d.v[--d.n]);
	free(d.v);
	free(ents);
	return rc;
}

static void *walk_main(void *arg)
{
	walk_t *w = arg;
	int rc = 0;

	if (w->kind == W_LOAD && w->parallel)
		w->slots = sl_xcalloc(w->parallel, sizeof(*w->slots));
	rc = walk_tree(w);
	w->listed_all = rc == 0 && !cancelled(w);
	post_drops(w);
	/* The blocks in flight come back before the walk ends, unless the
	 * node stops (their replies are then -ESHUTDOWN anyway). */
	while (w->inflight && atomic_load(&w->cancel) != 2)
		pump(w, WAIT_SLICE_MS);
	for (size_t i = 0; w->slots && i < w->parallel; i++)
		if (w->slots[i].req_id)
			slot_end(w, &w->slots[i], -ECANCELED);
	if (w->sock)
		zmq_close(w->sock);
	free(w->slots);
	w->rc = rc;
	if (rc == 0 && atomic_load(&w->cancel))
		w->rc = atomic_load(&w->cancel) == 2 ? -ESHUTDOWN : -ECANCELED;
	sl_inbox_post(w->inbox, &w->done);
	return NULL;
}

/* ---- The event thread ----------------------------------------------------
 */

static cn_addr_t walk_addr(walk_t *w)
{
	return (cn_addr_t){.identity = &w->identity,
			   .op = w->op,
			   .req_id = w->req_id,
			   .silent = w->silent,
			   .sender = w->sender};
}

static void progress_of(walk_t *w, pr_load_progress_t *p, char *failed,
			size_t cap)
{
	pthread_mutex_lock(&w->lock);
	sl_strlcpy(failed, w->failed, cap);
	pthread_mutex_unlock(&w->lock);
	/* Read the totals after the counts: both only grow, so done <=
	 * total holds for what is sent. */
	p->files_done = atomic_load(&w->files_done);
	p->bytes_done = atomic_load(&w->bytes_done);
	p->errors = atomic_load(&w->errors);
	p->files_total = atomic_load(&w->files_total);
	p->bytes_total = atomic_load(&w->bytes_total);
	p->state = (uint8_t)atomic_load(&w->state);
	p->failed = pr_str(failed);
}

/* Send w's progress: with MORE (more), or as its final reply. */
static void send_progress(cn_server_t *s, walk_t *w, int more,
			  const cn_addr_t *to)
{
	char failed[PR_MAX_PATH + 1];
	pr_load_progress_t p;
	pr_buf_t b;
	int rc;

	progress_of(w, &p, failed, sizeof(failed));
	pr_buf_init(&b);
	rc = pr_load_progress_encode(&b, &p);
	if (rc < 0) {
		if (!more)
			cn_reply_error(s, to, -EIO, "load progress: %s",
				       strerror(-rc));
	} else if (more) {
		pr_header_t h = {.opcode = PR_OP_LOAD,
				 .flags = PR_F_REPLY | PR_F_MORE,
				 .req_id = w->req_id,
				 .ring_version = s->map->version,
				 .generation = s->map->generation};

		/* The client is gone (its connection closed): nobody
		 * would see the end, so the node stops as for a cancel. */
		if (pr_send(s->router, &w->identity, &h, b.data, b.len,
			    ZMQ_DONTWAIT) == -EHOSTUNREACH &&
		    !atomic_exchange(&w->cancel, 1))
			sl_info("load %s/%s: its client is gone: stopping",
				w->ds->name, w->path);
	} else {
		cn_reply(s, to, 0, b.data, b.len);
	}
	pr_buf_fini(&b);
}

static void walk_free(walk_t *w)
{
	zmq_msg_close(&w->identity);
	cn_dataset_unref(&w->ds);
	cn_ringmap_destroy(&w->ring);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w->drop);
	free(w);
}

void cn_server_recount(cn_server_t *s)
{
	cn_dsstats_recount(s->dss, s->tier, s->disk, s->ds, s->n_ds);
	s->last_recount_ms = sl_now_ms();
}

/* w's thread posted its end: answer and forget it. */
static void walk_end(cn_server_t *s, walk_t *w)
{
	cn_loads_t *l = s->loads;
	cn_addr_t a = walk_addr(w);

	pthread_join(w->thread, NULL);
	if (w->rc < 0 && w->silent)
		sl_info("count of %s: %s", w->ds->name,
			w->err[0] ? w->err : strerror(-w->rc));
	if (w->rc < 0) {
		cn_reply_error(s, &a, w->rc, "%s %s/%s: %s", pr_op_name(w->op),
			       w->ds->name, w->path,
			       w->err[0] ? w->err : strerror(-w->rc));
	} else if (w->kind == W_EVICT) {
		pr_evict_reply_t r = {w->ev_blocks, w->ev_bytes};
		pr_buf_t b;

		pr_buf_init(&b);
		pr_evict_reply_encode(&b, &r);
		cn_reply(s, &a, 0, b.data, b.len);
		/* The blocks left because they were told to, not for lack of
		 * room: their next fetch is no refetch (ghost.h). */
		cn_ghost_clear(s->ghost);
		pr_buf_fini(&b);
		sl_info("evict %s/%s: %" PRIu64 " blocks, %" PRIu64 " bytes",
			w->ds->name, w->path, w->ev_blocks, w->ev_bytes);
	} else {
		send_progress(s, w, 0, &a);
		sl_info("load %s/%s: %" PRIu64 " of %" PRIu64
			" bytes held, %" PRIu64 " errors%s",
			w->ds->name, w->path, atomic_load(&w->bytes_done),
			atomic_load(&w->bytes_total), atomic_load(&w->errors),
			atomic_load(&w->state) == PR_LOAD_SHORT ? ", short"
								: "");
	}
	/* The gauges: a whole dataset's listing gives its size, and what
	 * the walk changed shows at once. */
	if (w->listed_all && !w->path[0]) {
		cn_dsstats_walked(s->dss, w->ds->name,
				  atomic_load(&w->files_total),
				  atomic_load(&w->all_bytes));
		/* Owned bytes are exact unless nodes were skipped. */
		cn_autopol_walked(s->autopol, w->ds->name, w->ds->layout,
				  atomic_load(&w->all_bytes),
				  atomic_load(&w->bytes_total),
				  w->n_skip ? 0 : w->ring->version);
		cn_server_autopolicy(s, "a full walk");
	}
	cn_server_autopolicy_walks(s); /* a slot is free */
	cn_server_recount(s);
	if (w->sender)
		cn_sender_unref(w->sender);
	for (size_t i = 0; i < l->n; i++)
		if (l->w[i] == w) {
			l->w[i] = l->w[--l->n];
			break;
		}
	walk_free(w);
}

/* Whether a tier of s holds key's block (a hit for its policy: a probe
 * is a sign the block is wanted). */
static int held(cn_server_t *s, sl_blockkey_t key)
{
	cn_block_t *b = cn_ramtier_get(s->tier, key), *mem = NULL;
	size_t len;
	int yes = b != NULL;

	if (b)
		cn_block_unref(b);
	else if (s->disk &&
		 cn_disktier_lookup(s->disk, key, &len, &mem) != CN_DISK_MISS)
		yes = 1;
	if (mem)
		cn_block_unref(mem);
	return yes;
}

static void answer_probe(cn_server_t *s, wmsg_t *m)
{
	walk_t *w = m->w;

	for (size_t i = 0; i < m->n; i++)
		m->held[i] = (uint8_t)held(s, m->keys[i]);
	pthread_mutex_lock(&w->lock);
	m->answered = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

static void do_drops(cn_server_t *s, wmsg_t *m)
{
	walk_t *w = m->w;

	for (size_t i = 0; i < m->n; i++) {
		size_t ram = cn_ramtier_drop(s->tier, m->keys[i]), disk = 0;
		cn_block_t *mem = NULL;

		if (s->disk && cn_disktier_lookup(s->disk, m->keys[i], &disk,
						  &mem) != CN_DISK_MISS) {
			if (mem)
				cn_block_unref(mem);
			cn_disktier_drop(s->disk, m->keys[i]);
		} else {
			disk = 0;
		}
		if (ram || disk) {
			w->ev_blocks++;
			w->ev_bytes += SL_MAX(ram, disk);
		}
	}
	free(m);
}

uint64_t cn_loads_poll(cn_server_t *s, uint64_t now)
{
	cn_loads_t *l = s->loads;
	uint64_t next = UINT64_MAX;
	sl_fifo_t got;
	sl_qlink_t *q;

	sl_fifo_init(&got);
	sl_inbox_take(l->inbox, &got);
	while ((q = sl_fifo_pop(&got))) {
		wmsg_t *m = NULL;
		walk_t *w = NULL;

		for (size_t i = 0; i < l->n; i++)
			if (q == &l->w[i]->done)
				w = l->w[i];
		if (w) {
			walk_end(s, w);
			continue;
		}
		m = sl_container_of(q, wmsg_t, link);
		if (m->kind == MSG_PROBE)
			answer_probe(s, m);
		else
			do_drops(s, m);
	}
	for (size_t i = 0; i < l->n; i++) {
		walk_t *w = l->w[i];

		if (w->kind != W_LOAD || w->silent)
			continue;
		if (now >= w->next_progress) {
			send_progress(s, w, 1, NULL);
			w->next_progress = now + PROGRESS_MS;
		}
		next = SL_MIN(next, w->next_progress);
	}
	return next;
}

void cn_loads_stop(cn_server_t *s)
{
	cn_loads_t *l = s->loads;

	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		atomic_store(&l->w[i]->cancel, 2);
	while (l->n) {
		struct pollfd p = {sl_inbox_fd(l->inbox), POLLIN, 0};

		poll(&p, 1, WAIT_SLICE_MS);
		cn_loads_poll(s, 0);
	}
}

void cn_loads_destroy(cn_server_t *s, cn_loads_t **lp)
{
	cn_loads_t *l = lp ? *lp : NULL;

	if (!l)
		return;
	cn_loads_stop(s);
	sl_inbox_destroy(&l->inbox);
	free(l);
	*lp = NULL;
}

/* A new walk of path in ds for request a, or NULL with the request
 * answered. */
static walk_t *walk_new(cn_server_t *s, const cn_addr_t *a, int kind,
			cn_dataset_t *ds, const char *path)
{
	walk_t *w;

	if (s->loads->n == CN_MAX_WALKS) {
		cn_reply_error(s, a, -EBUSY,
			       "node %s runs %d loads and evictions already",
			       s->node_name, CN_MAX_WALKS);
		return NULL;
	}
	w = sl_xcalloc(1, sizeof(*w));
	w->kind = kind;
	zmq_msg_init(&w->identity);
	zmq_msg_copy(&w->identity, a->identity);
	w->req_id = a->req_id;
	w->op = a->op;
	w->sender = a->sender ? cn_sender_ref(a->sender) : NULL;
	w->ds = cn_dataset_ref(ds);
	sl_strlcpy(w->path, path, sizeof(w->path));
	w->ring = cn_ringmap_new(s->map->m, s->map->n, s->map->generation);
	sl_strlcpy(w->self, s->node_name, sizeof(w->self));
	sl_strlcpy(w->endpoint, s->endpoint, sizeof(w->endpoint));
	w->zctx = s->zctx;
	w->inbox = s->loads->inbox;
	w->parallel = 1;
	w->next_progress = sl_now_ms() + PROGRESS_MS;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	return w;
}

static void walk_start(cn_server_t *s, const cn_addr_t *a, walk_t *w)
{
	int rc = 0;

	/* The socket to this node's own endpoint is opened here, on the
	 * event thread, because under CURVE it takes the node's keys, which
	 * a SIGHUP may replace while a walk runs; the thread then owns it
	 * (its creation orders the hand-over). */
	if (w->kind == W_LOAD && w->parallel) {
		w->sock = pr_dealer_open_keyed(s->zctx, s->endpoint, s->keys,
					       s->node_name, &rc);
		if (!w->sock) {
			if (w->sender)
				cn_sender_unref(w->sender);
			walk_free(w);
			cn_reply_error(s, a, rc,
				       "cannot connect to this node's own "
				       "endpoint %s: %s",
				       s->endpoint, strerror(-rc));
			return;
		}
	}
	rc = pthread_create(&w->thread, NULL, walk_main, w);
	if (rc != 0) {
		if (w->sender)
			cn_sender_unref(w->sender);
		walk_free(w);
		cn_reply_error(s, a, -rc, "cannot start a walk: %s",
			       strerror(rc));
		return;
	}
	s->loads->w[s->loads->n++] = w;
}

/* A walk request decoded with rc, naming dataset name and path p: the
 * dataset (borrowed) with path copied out, or NULL with a answered. */
static cn_dataset_t *prologue(cn_server_t *s, const cn_addr_t *a, int rc,
			      pr_str_t name, pr_str_t p, char *path)
{
	cn_dataset_t *ds;

	if (rc < 0) {
		cn_reply_error(s, a, rc, "bad %s request body",
			       pr_op_name(a->op));
		return NULL;
	}
	ds = cn_nodemap_dataset(s, name);
	if (!ds) {
		cn_reply_error(s, a, -ENOENT, "no dataset '%.*s' on this node",
			       (int)SL_MIN(name.len, 64u), name.ptr);
		return NULL;
	}
	/* A key that may not read the dataset may not warm or drop it. */
	if (a->user &&
	    !cn_dataset_allows(s, a->user,
			       sl_config_dataset(s->cfg, ds->name))) {
		atomic_fetch_add(&s->m.access_denied, 1);
		cn_reply_error(s, a, -EACCES, "key '%s' may not %s %s", a->user,
			       a->op == PR_OP_EVICT ? "evict" : "load",
			       ds->name);
		return NULL;
	}
	pr_str_copy(path, PR_MAX_PATH + 1, p);
	return ds;
}

static walk_t *find_load(cn_server_t *s, const cn_dataset_t *ds, uint64_t id)
{
	for (size_t i = 0; i < s->loads->n; i++) {
		walk_t *w = s->loads->w[i];

		/* Counts (parallel 0) run beside anything. */
		if (w->kind == W_LOAD && w->parallel &&
		    (id ? w->load_id == id : w->ds == ds))
			return w;
	}
	return NULL;
}

void cn_handle_load(cn_server_t *s, const cn_addr_t *a, const void *body,
		    size_t len)
{
	char path[PR_MAX_PATH + 1];
	pr_load_req_t q;
	cn_dataset_t *ds;
	walk_t *w;
	int rc = pr_load_req_decode(&q, body, len);
	uint64_t blocks, slack, meta;

	ds = prologue(s, a, rc, q.dataset, q.path, path);
	if (!ds)
		return;
	w = find_load(s, q.cancel ? NULL : ds, q.cancel ? q.load_id : 0);
	if (!q.cancel && !q.parallel)
		w = NULL;
	if (q.cancel) {
		if (!w) {
			cn_reply_error(s, a, -ENOENT,
				       "no load %" PRIu64 " on node %s",
				       q.load_id, s->node_name);
			return;
		}
		atomic_store(&w->cancel, 1);
		send_progress(s, w, 0, a);
		return;
	}
	if (w) {
		cn_reply_error(s, a, -EBUSY,
			       "dataset %s is being loaded already (load "
			       "%" PRIu64 "): wait for it, or cancel it",
			       ds->name, w->load_id);
		return;
	}
	w = walk_new(s, a, W_LOAD, ds, path);
	if (!w)
		return;
	w->load_id = q.load_id;
	w->parallel = q.parallel;
	for (uint32_t i = 0; i < q.n_skip; i++)
		pr_str_copy(w->skip[w->n_skip++], sizeof(w->skip[0]),
			    q.skip[i]);
	cn_nodemap_budgets(s, &blocks, &slack, &meta);
	if (s->disk)
		blocks = SL_MAX(blocks, s->node->disk_capacity);
	w->capacity = blocks / 100 * CAP_PERCENT;
	walk_start(s, a, w);
}

int cn_loads_count_quietly(cn_server_t *s, cn_dataset_t *ds)
{
	zmq_msg_t none;
	cn_addr_t a = {.identity = &none, .op = PR_OP_LOAD, .silent = 1};
	walk_t *w;

	if (s->loads->n >= CN_MAX_WALKS / 2)
		return -EBUSY;
	zmq_msg_init(&none);
	w = walk_new(s, &a, W_LOAD, ds, "");
	zmq_msg_close(&none);
	w->parallel = 0;
	w->silent = 1;
	walk_start(s, &a, w);
	return 0;
}

void cn_handle_evict(cn_server_t *s, const cn_addr_t *a, const void *body,
		     size_t len)
{
	char path[PR_MAX_PATH + 1];
	pr_target_t q;
	cn_dataset_t *ds;
	walk_t *w;
	int rc = pr_target_decode(&q, body, len);

	ds = prologue(s, a, rc, q.dataset, q.path, path);
	if (!ds)
		return;
	w = walk_new(s, a, W_EVICT, ds, path);
	if (w)
		walk_start(s, a, w);
}

void cn_handle_held(cn_server_t *s, const cn_addr_t *a, const void *body,
		    size_t len)
{
	char path[PR_MAX_PATH + 1], version[PR_MAX_VERSION + 1];
	pr_read_req_t q;
	cn_dataset_t *ds;
	pr_buf_t b;
	int rc = pr_read_req_decode(&q, body, len);

	ds = prologue(s, a, rc, q.dataset, q.path, path);
	if (!ds)
		return;
	if (q.layout != ds->layout) {
		cn_reply_error(s, a, -EREMCHG,
			       "dataset %s: layout %08" PRIx32
			       " is not this node's (%08" PRIx32 ")",
			       ds->name, q.layout, ds->layout);
		return;
	}
	pr_str_copy(version, sizeof(version), q.version);
	if (!version[0] || sl_path_check(path, strlen(path)) < 0) {
		cn_reply_error(s, a, -EINVAL,
			       "HELD needs a file's path and version");
		return;
	}
	pr_buf_init(&b);
	pr_held_reply_encode(
		&b, (uint8_t)held(s, sl_blockkey_make(ds->name, ds->layout,
						      path, version, q.block)));
	cn_reply(s, a, 0, b.data, b.len);
	pr_buf_fini(&b);
}
