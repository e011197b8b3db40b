/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fetch engine (see server_i.h): the one fetch behind each flight.
 *
 * A fetch is one backend call (or disk read) of one kind -- READ, STAT or
 * LIST -- each its own struct over a common head, with its kind's worker
 * side, completion and cleanup in a table.  STAT and LIST fetches go to
 * the workers at once.  A READ fetch needs a buffer first: it waits in a
 * FIFO until fewer than 2 x workers backend READs (DISK_READS disk reads,
 * a queue of their own that takes no worker slots) hold buffers and the
 * RAM tier can give it one (the tier may make it wait for memory to free);
 * then a worker reads the block from the backend, or the disk tier's
 * io_uring thread from its file, or a peer is asked for it (PEER_READ to
 * the block's previous owner after a ring change, or to its owner for a
 * replica's copy; a queue of its own too).  Back on the event thread every
 * waiter is answered from the one result, and the block is left to the
 * tiers (tiering.h).  A disk or peer read that fails becomes a backend
 * READ of the same fetch, requeued, so its waiters get the right bytes
 * anyway: single flight spans all three sources.
 *
 * Workers touch a fetch only between submit and reap, and only its own
 * fields (and the metrics, which are atomic).  Everything else here is the
 * event thread's.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachenode/server_i.h"
#include "common/log.h"
#include "common/path.h"
#include "common/util.h"

#define DISK_READS 64 /* disk reads holding a buffer, at most */
#define PEER_READS 64 /* peer reads holding a buffer, at most */

typedef struct fetch_kind fetch_kind_t;

/* What every fetch has. */
typedef struct fetch {
	cn_job_t job;	  /* job.run: fetch_run */
	sl_list_t live;	  /* s->live */
	cn_server_t *srv; /* not for workers */
	cn_metrics_t *m;  /* for workers */
	const fetch_kind_t *kind;
	cn_flight_t *flight; /* NULL once its waiters were answered */
	cn_dataset_t *ds;    /* reference */
	char *path;
	cn_sender_t *hint_of; /* reference: the sender whose hint started it */
	ssize_t rc;
	char err[SB_ERR_MAX];
} fetch_t;

/* A block for a READ, PREFETCH or PEER_READ flight. */
typedef struct read_fetch {
	fetch_t h;
	cn_fill_t fill;
	char version[SB_VERSION_MAX + 1];
	uint64_t block;
	int peer;	  /* PEER_READ, REPLICATE: never the backend */
	cn_member_t from; /* CN_SRC_PEER: the node asked first */
	int waited;	  /* counted in memory_waits */
	cn_fqueue_t *q;	  /* the queue whose slot it holds, or NULL */
	sl_qlink_t qlink; /* s->fq, s->dq: waiting to start */
} read_fetch_t;

typedef struct stat_fetch {
	fetch_t h;
	sb_stat_t st;
} stat_fetch_t;

/* One LIST page: the entries kept, and the reply encoded by the worker. */
typedef struct list_fetch {
	fetch_t h;
	char *cursor;
	uint32_t max;
	sb_dirent_t *ents;
	size_t n_ents;
	uint8_t *body;
	size_t body_len;
} list_fetch_t;

struct fetch_kind {
	const char *what; /* in messages: "read" */
	size_t size;	  /* of the kind's struct */
	/* On a worker: the backend call, rc and err set. */
	void (*run)(fetch_t *f);
	/* On the event thread: answer the flight's waiters (fl, out of the
	 * table) from the result. */
	void (*done)(cn_server_t *s, fetch_t *f, cn_flight_t *fl);
	/* Free what the kind's struct holds. */
	void (*fini)(fetch_t *f);
};

/* ---- Life of a fetch ----------------------------------------------------- */

static void fetch_run(cn_job_t *j)
{
	fetch_t *f = sl_container_of(j, fetch_t, job);

	f->err[0] = '\0';
	f->kind->run(f);
	if (f->rc < 0)
		atomic_fetch_add(&f->m->backend_errors, 1);
}

static fetch_t *fetch_new(cn_server_t *s, const fetch_kind_t *kind,
			  cn_flight_t *fl, cn_dataset_t *ds, const char *path)
{
	fetch_t *f = sl_xcalloc(1, kind->size);

	f->job.run = fetch_run;
	f->m = &s->m;
	f->srv = s;
	f->kind = kind;
	f->flight = fl;
	fl->fetch = f;
	f->ds = cn_dataset_ref(ds);
	f->path = sl_xstrdup(path);
	sl_list_add_back(&s->live, &f->live);
	s->n_live++;
	return f;
}

/* Answer nobody; drop everything.  The flight (if any) is removed. */
static void fetch_free(cn_server_t *s, fetch_t *f)
{
	if (f->flight) {
		cn_flights_remove(s->flights, f->flight);
		for (size_t i = 0; i < f->flight->n_waiters; i++) {
			cn_req_t *r = f->flight->waiters[i];

			cn_addr_t a = cn_req_addr(r);

			if (!r->silent)
				cn_request_done(s, &a, -ESHUTDOWN);
			cn_req_release(s, r);
		}
		cn_flight_free(f->flight);
	}
	sl_list_del(&f->live);
	s->n_live--;
	if (f->hint_of) {
		cn_sender_hint_put(f->hint_of);
		cn_senders_release(s->senders, f->hint_of);
		cn_sender_unref(f->hint_of);
	}
	f->kind->fini(f);
	cn_dataset_unref(&f->ds);
	free(f->path);
	free(f);
}

/* Back on the event thread: answer the flight's waiters from f. */
static void fetch_done(cn_server_t *s, fetch_t *f)
{
	cn_flight_t *fl = f->flight;

	if (f->job.cancelled) {
		f->rc = -ESHUTDOWN;
		snprintf(f->err, sizeof(f->err), "node shutting down");
	}
	if (fl) {
		/* Out of the table first: a waiter's follow-up (a READ after
		 * its STAT) may start a new flight for the same key. */
		cn_flights_remove(s->flights, fl);
		f->flight = NULL;
		f->kind->done(s, f, fl);
		cn_flight_free(fl);
	}
	fetch_free(s, f);
}

static void log_backend_error(const fetch_t *f)
{
	/* An answer (ENOENT, ESTALE, ...) is the asker's business; anything
	 * else is the store's, and an operator's. */
	int answer = f->rc >= INT_MIN &&
		     pr_status_class((int)f->rc) == PR_STATUS_ANSWER;

	sl_log_ratelimited(answer ? SL_LOG_DEBUG : SL_LOG_WARNING,
			   "dataset %s: %s '%s': %s", f->ds->name,
			   f->kind->what, f->path,
			   f->err[0] ? f->err : strerror((int)-f->rc));
}

/* Answer every waiter of fl: f's error, or answer(s, f, r, a). */
static void answer_waiters(cn_server_t *s, fetch_t *f, cn_flight_t *fl,
			   void (*answer)(cn_server_t *s, fetch_t *f,
					  cn_req_t *r, const cn_addr_t *a))
{
	for (size_t i = 0; i < fl->n_waiters; i++) {
		cn_req_t *r = fl->waiters[i];
		cn_addr_t a = cn_req_addr(r);

		if (f->rc < 0)
			cn_reply_error(s, &a, (int)f->rc, "%s: %s", f->path,
				       f->err[0] ? f->err
						 : strerror((int)-f->rc));
		else
			answer(s, f, r, &a);
		cn_req_release(s, r);
	}
}

/* ---- READ ------------------------------------------------------------------
 */

static void read_run(fetch_t *h)
{
	read_fetch_t *f = sl_container_of(h, read_fetch_t, h);
	uint64_t t0 = sl_now_ns();

	h->rc = cn_dataset_read(h->ds, h->path, f->version,
				f->block * h->ds->block_size,
				cn_block_data(f->fill.blk), f->fill.want,
				h->err, sizeof(h->err));
	if (h->rc > (ssize_t)f->fill.want) {
		h->rc = -EIO;
		snprintf(h->err, sizeof(h->err),
			 "backend read more than asked");
	}
	cn_metrics_backend_latency(h->m, sl_now_ns() - t0);
	atomic_fetch_add(&h->m->backend_reads, 1);
	if (h->rc > 0) {
		atomic_fetch_add(&h->m->backend_read_bytes, (uint64_t)h->rc);
		atomic_fetch_add(&h->ds->counts->backend_read_bytes,
				 (uint64_t)h->rc);
	}
}

/* Drop what the metadata cache knows about path and its directory. */
static void forget_path(cn_server_t *s, const cn_dataset_t *ds,
			const char *path)
{
	char parent[SL_PATH_MAX + 1];
	const char *slash = strrchr(path, '/');
	size_t pl = slash ? (size_t)(slash - path) : 0;

	cn_metacache_purge_group(s->meta, cn_group_key(ds, path));
	memcpy(parent, path, pl);
	parent[pl] = '\0';
	cn_metacache_purge_group(s->meta, cn_group_key(ds, parent));
}

static void read_answer(cn_server_t *s, fetch_t *h, cn_req_t *r,
			const cn_addr_t *a)
{
	read_fetch_t *f = sl_container_of(h, read_fetch_t, h);
	static const unsigned tier[] = {
		[CN_SRC_BACKEND] = PR_TIER_BACKEND,
		[CN_SRC_DISK] = PR_TIER_DISK,
		[CN_SRC_MEM] = PR_TIER_DISK,
		[CN_SRC_PEER] = PR_TIER_PEER,
	};

	cn_reply_block(s, a, h->ds, f->fill.blk, r->offset, r->length,
		       tier[f->fill.src]);
}

static void read_done(cn_server_t *s, fetch_t *h, cn_flight_t *fl)
{
	read_fetch_t *f = sl_container_of(h, read_fetch_t, h);
	size_t n_reads = 0;

	if (h->rc >= 0) {
		cn_block_trim(f->fill.blk, (size_t)h->rc);
		/* From the backend, once more: it did not stay (ghost.h). */
		if (h->rc > 0 && f->fill.src == CN_SRC_BACKEND &&
		    cn_ghost_seen(s->ghost, f->fill.key)) {
			atomic_fetch_add(&s->m.refetches, 1);
			atomic_fetch_add(&s->m.refetched_bytes,
					 (uint64_t)h->rc);
			atomic_fetch_add(&h->ds->counts->refetched_bytes,
					 (uint64_t)h->rc);
		}
		/* A dataset a reload replaced: its waiters asked under its
		 * layout and get its bytes, but nothing new of it is kept. */
		if (!h->ds->retired) {
			/* policy = auto may have chosen again meanwhile. */
			if (cn_block_policy(f->fill.blk) != h->ds->policy)
				cn_block_set_policy(f->fill.blk, h->ds->policy);
			cn_tiering_keep(s->tiers, &f->fill, h->rc);
		}
		if (h->rc > 0 && !h->ds->retired && !f->peer &&
		    f->fill.src != CN_SRC_DISK)
			cn_membership_replicate(s, h->ds, h->path, f->version,
						f->block, f->fill.key.lo);
	} else {
		log_backend_error(h);
		if (h->rc == -ESTALE || h->rc == -ENOENT)
			forget_path(s, h->ds, h->path);
	}
	for (size_t i = 0; i < fl->n_waiters; i++)
		n_reads += ((cn_req_t *)fl->waiters[i])->op == PR_OP_READ;
	answer_waiters(s, h, fl, read_answer);
	cn_tiering_done(s->tiers, &f->fill, h->rc, n_reads, h->ds);
}

/* Give back the queue slot f holds, if any. */
static void release_slot(read_fetch_t *f)
{
	if (f->q) {
		f->q->active--;
		f->q = NULL;
	}
}

static void read_fini(fetch_t *h)
{
	read_fetch_t *f = sl_container_of(h, read_fetch_t, h);

	release_slot(f);
	if (f->fill.blk)
		cn_block_unref(f->fill.blk);
}

static const fetch_kind_t read_kind = {
	.what = "read",
	.size = sizeof(read_fetch_t),
	.run = read_run,
	.done = read_done,
	.fini = read_fini,
};

/* ---- The READ queues --------------------------------------------------------
 */

static read_fetch_t *read_of(sl_qlink_t *l)
{
	return l ? sl_container_of(l, read_fetch_t, qlink) : NULL;
}

static read_fetch_t *fq_first(cn_fqueue_t *q)
{
	return read_of(sl_fifo_peek(&q->waiting));
}

static read_fetch_t *fq_pop(cn_fqueue_t *q)
{
	return read_of(sl_fifo_pop(&q->waiting));
}

static void fq_push(cn_fqueue_t *q, read_fetch_t *f)
{
	sl_fifo_push(&q->waiting, &f->qlink);
}

/* Answer a flight's PEER_READ waiters -ENODATA and take them out of it:
 * a peer read never reaches the backend. */
static void drop_peer_waiters(cn_server_t *s, cn_flight_t *fl)
{
	size_t k = 0;

	for (size_t i = 0; i < fl->n_waiters; i++) {
		cn_req_t *r = fl->waiters[i];
		cn_addr_t a = cn_req_addr(r);

		if (r->op != PR_OP_PEER_READ) {
			fl->waiters[k++] = r;
			continue;
		}
		cn_reply_error(s, &a, -ENODATA, "block is not cached here");
		cn_req_release(s, r);
	}
	fl->n_waiters = k;
}

/*
 * The disk or a peer did not deliver f's block and the fill now asks the
 * backend: peers are answered -ENODATA, and the fetch is queued for the
 * backend, unless nobody but peers waited for it.  The caller pumps the
 * queues.
 */
static void to_backend(cn_server_t *s, read_fetch_t *f)
{
	cn_flight_t *fl = f->h.flight;

	release_slot(f);
	if (fl)
		drop_peer_waiters(s, fl);
	if (f->peer && (!fl || fl->n_waiters == 0)) {
		fetch_free(s, &f->h);
		return;
	}
	f->waited = 0;
	fq_push(&s->fq, f);
}

/*
 * A disk or peer read of f ended: len bytes in its buffer (len >= 0), or
 * err.  On failure the backend is asked, through fall_back, unless the
 * node is stopping or nobody waits any more.
 */
static void source_done(cn_server_t *s, read_fetch_t *f, ssize_t len, int err,
			void (*fall_back)(cn_server_t *s, read_fetch_t *f))
{
	if (s->destroying) {
		fetch_free(s, &f->h);
		return;
	}
	if (len >= 0) {
		f->h.rc = len;
		fetch_done(s, &f->h);
		return;
	}
	if (s->stopping || err == -ESHUTDOWN || !f->h.flight) {
		f->h.job.cancelled = 1;
		fetch_done(s, &f->h);
		return;
	}
	fall_back(s, f);
	cn_fetch_pump(s);
}

/* A disk read finished (from cn_disktier_reap, or while the disk tier is
 * destroyed). */
static void disk_read_done(cn_fill_t *fill, int rc)
{
	read_fetch_t *f = sl_container_of(fill, read_fetch_t, fill);

	source_done(f->h.srv, f,
		    rc == 0 ? (ssize_t)cn_block_len(fill->blk) : -1, rc,
		    to_backend);
}

/* The peer will not deliver: the fill asks the backend instead. */
static void peer_failed(cn_server_t *s, read_fetch_t *f)
{
	atomic_fetch_add(&s->m.handoff_misses, 1);
	if (f->fill.blk)
		cn_block_unref(f->fill.blk);
	f->fill.blk = NULL;
	f->fill.src = CN_SRC_BACKEND;
	f->fill.want = f->fill.bwant;
	to_backend(s, f);
}

/* A peer answered f's PEER_READ (cn_peers_reap), or will not (a timeout,
 * the node stopping). */
static void peer_read_done(void *arg, int status, zmq_msg_t *body)
{
	read_fetch_t *f = arg;
	cn_server_t *s = f->h.srv;
	size_t len = zmq_msg_size(body);
	ssize_t got = -1;

	if (status == 0 && len <= f->fill.want && !s->destroying) {
		memcpy(cn_block_data(f->fill.blk), zmq_msg_data(body), len);
		atomic_fetch_add(&s->m.handoff_hits, 1);
		atomic_fetch_add(&s->m.handoff_bytes, len);
		got = (ssize_t)len;
	}
	source_done(s, f, got, status, peer_failed);
}

/* Ask f->from for the block with PEER_READ. */
static void start_peer(cn_server_t *s, read_fetch_t *f)
{
	pr_read_req_t q = {
		.dataset = pr_str(f->h.ds->name),
		.layout = f->h.ds->layout,
		.path = pr_str(f->h.path),
		.version = pr_str(f->version),
		.block = f->block,
	};
	pr_buf_t b;
	int rc;

	pr_buf_init(&b);
	rc = pr_read_req_encode(&b, &q);
	if (rc == 0)
		rc = cn_peers_call(s->peers, f->from.name, f->from.addr,
				   PR_OP_PEER_READ, b.data, b.len,
				   peer_read_done, f);
	pr_buf_fini(&b);
	if (rc < 0)
		peer_failed(s, f); /* down, or no socket: at once */
}

/* Start one fetch that got its buffer: a disk, peer or backend read. */
static void start_read(cn_server_t *s, read_fetch_t *f)
{
	if (f->fill.src == CN_SRC_PEER)
		start_peer(s, f);
	else if (f->fill.src != CN_SRC_DISK)
		cn_workers_submit(s->workers, &f->h.job);
	else if (cn_tiering_read(s->tiers, &f->fill) < 0)
		to_backend(s, f); /* gone from the disk since the lookup */
}

/* Give queued fetches of q buffers and start them while its slots allow;
 * 0, or -ENOMEM when its head waits for memory. */
static int pump_queue(cn_server_t *s, cn_fqueue_t *q)
{
	read_fetch_t *f;

	while ((f = fq_first(q)) && q->active < q->max) {
		int err;

		f->fill.blk = cn_ramtier_alloc(s->tier, f->h.ds->policy,
					       f->h.ds->id, f->fill.want, &err);
		if (!f->fill.blk) {
			if (!f->waited) {
				f->waited = 1;
				atomic_fetch_add(&s->m.memory_waits, 1);
			}
			return -ENOMEM;
		}
		fq_pop(q);
		q->active++;
		f->q = q;
		start_read(s, f);
	}
	return 0;
}

void cn_fetch_pump(cn_server_t *s)
{
	int wait = pump_queue(s, &s->dq) < 0;

	wait |= pump_queue(s, &s->pq) < 0;
	wait |= pump_queue(s, &s->fq) < 0;
	cn_ramtier_want_memory(s->tier, wait);
}

int cn_fetch_queued(const cn_server_t *s)
{
	return !sl_fifo_empty(&s->fq.waiting) ||
	       !sl_fifo_empty(&s->dq.waiting) || !sl_fifo_empty(&s->pq.waiting);
}

void cn_fetch_read(cn_server_t *s, cn_flight_t *fl, cn_dataset_t *ds,
		   const char *path, const char *version, uint64_t block,
		   const cn_fill_t *fill, int peer, const cn_member_t *from,
		   cn_sender_t *hint_of)
{
	fetch_t *h = fetch_new(s, &read_kind, fl, ds, path);
	read_fetch_t *f = sl_container_of(h, read_fetch_t, h);
	cn_fqueue_t *q = &s->fq;

	if (hint_of) {
		h->hint_of = cn_sender_ref(hint_of);
		cn_sender_hint_add(hint_of);
	}
	f->fill = *fill;
	f->fill.blk = NULL;
	f->fill.done = disk_read_done;
	sl_strlcpy(f->version, version, sizeof(f->version));
	f->block = block;
	f->peer = peer;
	if (f->fill.src == CN_SRC_PEER) {
		SL_ASSERT(from);
		f->from = *from;
		q = &s->pq;
	} else if (f->fill.src == CN_SRC_DISK) {
		q = &s->dq;
	}
	fq_push(q, f);
	cn_fetch_pump(s);
}

/* ---- STAT ------------------------------------------------------------------
 */

static void stat_run(fetch_t *h)
{
	stat_fetch_t *f = sl_container_of(h, stat_fetch_t, h);

	atomic_fetch_add(&h->m->backend_stats, 1);
	memset(&f->st, 0, sizeof(f->st));
	h->rc = cn_dataset_stat(h->ds, h->path, &f->st, h->err, sizeof(h->err));
	f->st.version[SB_VERSION_MAX] = '\0';
	if (h->rc == 0 && f->st.type != SB_TYPE_FILE &&
	    f->st.type != SB_TYPE_DIR) {
		h->rc = -EIO;
		snprintf(h->err, sizeof(h->err),
			 "backend returned a bad entry type");
	} else if (h->rc == 0 &&
		   sl_version_check(f->st.version, strlen(f->st.version)) < 0) {
		/* It would go back to the backend in READs (and into an S3
		 * If-Match header): refused here, not cached. */
		h->rc = -EIO;
		snprintf(h->err, sizeof(h->err),
			 "backend returned a version the protocol refuses");
	}
}

static void stat_answer(cn_server_t *s, fetch_t *h, cn_req_t *r,
			const cn_addr_t *a)
{
	stat_fetch_t *f = sl_container_of(h, stat_fetch_t, h);

	if (!r->path)
		cn_reply_stat(s, a, &f->st);
	else if (f->st.type == SB_TYPE_DIR)
		cn_reply_error(s, a, -EISDIR, "%s: is a directory", h->path);
	else /* a READ that waited for the file's version */
		cn_serve_read(s, a, r->ds, r->path, f->st.version, r->block,
			      r->offset, r->length);
}

static void stat_done(cn_server_t *s, fetch_t *h, cn_flight_t *fl)
{
	stat_fetch_t *f = sl_container_of(h, stat_fetch_t, h);

	if (h->rc >= 0)
		cn_metacache_put(s->meta, fl->node.key,
				 cn_group_key(h->ds, h->path), h->ds->id,
				 h->ds->metadata_ttl_ms, sl_now_ms(), &f->st,
				 sizeof(f->st));
	else
		log_backend_error(h);
	answer_waiters(s, h, fl, stat_answer);
}

static void no_fini(fetch_t *h)
{
	(void)h;
}

static const fetch_kind_t stat_kind = {
	.what = "stat",
	.size = sizeof(stat_fetch_t),
	.run = stat_run,
	.done = stat_done,
	.fini = no_fini,
};

void cn_fetch_stat(cn_server_t *s, cn_flight_t *fl, cn_dataset_t *ds,
		   const char *path)
{
	fetch_t *f = fetch_new(s, &stat_kind, fl, ds, path);

	cn_workers_submit(s->workers, &f->job);
}

/* ---- LIST ------------------------------------------------------------------
 */

/*
 * Keep the entries f->ents[0..n) the protocol can carry (a valid name and
 * version; a file or a directory) and encode them, with next as the page's
 * cursor, into f->body.  On the worker, so that the event thread only copies.
 */
static void list_encode(list_fetch_t *f, const char *next, size_t n)
{
	pr_list_reply_t lr = {0};
	pr_dirent_t *pe = sl_xcalloc(n ? n : 1, sizeof(*pe));
	char wire[PR_MAX_CURSOR + 1];
	pr_buf_t b;
	size_t k = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		sb_dirent_t *e = &f->ents[i];

		e->name[SB_NAME_MAX] = '\0';
		e->st.version[SB_VERSION_MAX] = '\0';
		if (sl_name_check(e->name, strlen(e->name)) < 0 ||
		    (e->st.type != SB_TYPE_FILE && e->st.type != SB_TYPE_DIR) ||
		    sl_version_check(e->st.version, strlen(e->st.version)) < 0)
			continue;
		if (k != i)
			f->ents[k] = *e;
		k++;
	}
	for (size_t i = 0; i < k; i++) {
		pe[i].name = pr_str(f->ents[i].name);
		pe[i].st = cn_wire_stat(&f->ents[i].st);
	}
	lr.n_entries = (uint32_t)k;
	lr.entries = pe;
	pr_buf_init(&b);
	/* The backend's cursor, in the wire's bytes (common/path.h). */
	rc = sl_cursor_encode(next, wire, sizeof(wire));
	if (rc == 0) {
		lr.next_cursor = pr_str(wire);
		rc = pr_list_reply_encode(&b, &lr);
	}
	if (rc < 0) {
		f->h.rc = -EIO;
		snprintf(f->h.err, sizeof(f->h.err),
			 "backend listing cannot be encoded%s",
			 rc == -ENAMETOOLONG ? ": cursor too long" : "");
		pr_buf_fini(&b);
	} else {
		f->body = pr_buf_release(&b, &f->body_len);
	}
	free(pe);
	f->n_ents = k;
	f->ents = sl_xrealloc(f->ents, (k ? k : 1) * sizeof(*f->ents));
}

static void list_run(fetch_t *h)
{
	list_fetch_t *f = sl_container_of(h, list_fetch_t, h);
	char next[SB_CURSOR_MAX + 1] = "";
	size_t n = 0;

	atomic_fetch_add(&h->m->backend_lists, 1);
	f->ents = sl_xcalloc(f->max, sizeof(*f->ents));
	h->rc = cn_dataset_list(h->ds, h->path, f->cursor, f->ents, f->max, &n,
				next, h->err, sizeof(h->err));
	next[SB_CURSOR_MAX] = '\0';
	if (h->rc >= 0 && n > f->max) {
		h->rc = -EIO;
		snprintf(h->err, sizeof(h->err),
			 "backend listed too many entries");
	}
	if (h->rc < 0) {
		free(f->ents);
		f->ents = NULL;
		return;
	}
	list_encode(f, next, n);
}

static void list_answer(cn_server_t *s, fetch_t *h, cn_req_t *r,
			const cn_addr_t *a)
{
	list_fetch_t *f = sl_container_of(h, list_fetch_t, h);

	(void)r;
	cn_reply(s, a, 0, f->body, f->body_len);
}

static void list_done(cn_server_t *s, fetch_t *h, cn_flight_t *fl)
{
	list_fetch_t *f = sl_container_of(h, list_fetch_t, h);
	char path[SL_PATH_MAX + 1];
	uint64_t now = sl_now_ms();
	const cn_dataset_t *ds = h->ds;

	if (h->rc < 0) {
		log_backend_error(h);
		answer_waiters(s, h, fl, list_answer);
		return;
	}
	cn_metacache_put(s->meta, fl->node.key, cn_group_key(ds, h->path),
			 ds->id, ds->metadata_ttl_ms, now, f->body,
			 f->body_len);
	/* A listing is also a STAT of each entry (readdirplus). */
	for (size_t i = 0; i < f->n_ents; i++) {
		if (sl_path_join(path, sizeof(path), h->path, f->ents[i].name) <
		    0)
			continue;
		cn_metacache_put(s->meta, cn_stat_key(ds, path),
				 cn_group_key(ds, path), ds->id,
				 ds->metadata_ttl_ms, now, &f->ents[i].st,
				 sizeof(f->ents[i].st));
	}
	answer_waiters(s, h, fl, list_answer);
}

static void list_fini(fetch_t *h)
{
	list_fetch_t *f = sl_container_of(h, list_fetch_t, h);

	free(f->cursor);
	free(f->ents);
	free(f->body);
}

static const fetch_kind_t list_kind = {
	.what = "list",
	.size = sizeof(list_fetch_t),
	.run = list_run,
	.done = list_done,
	.fini = list_fini,
};

void cn_fetch_list(cn_server_t *s, cn_flight_t *fl, cn_dataset_t *ds,
		   const char *path, const char *cursor, uint32_t max)
{
	fetch_t *h = fetch_new(s, &list_kind, fl, ds, path);
	list_fetch_t *f = sl_container_of(h, list_fetch_t, h);

	f->cursor = sl_xstrdup(cursor);
	f->max = max;
	cn_workers_submit(s->workers, &h->job);
}

/* ---- The engine, for the loop -------------------------------------------- */

void cn_fetch_init(cn_server_t *s)
{
	sl_list_init(&s->live);
	sl_fifo_init(&s->fq.waiting);
	sl_fifo_init(&s->dq.waiting);
	sl_fifo_init(&s->pq.waiting);
	s->fq.max = 2 * (size_t)s->node->workers;
	s->dq.max = DISK_READS;
	s->pq.max = PEER_READS;
}

void cn_fetch_reap(cn_server_t *s)
{
	sl_fifo_t done;
	cn_job_t *j;

	sl_fifo_init(&done);
	cn_workers_reap(s->workers, &done);
	while ((j = cn_job_of(sl_fifo_pop(&done))))
		fetch_done(s, sl_container_of(j, fetch_t, job));
	cn_fetch_pump(s);
}

static void fail_queue(cn_server_t *s, cn_fqueue_t *q, int reply)
{
	read_fetch_t *f;

	while ((f = fq_pop(q))) {
		if (!reply) {
			fetch_free(s, &f->h);
			continue;
		}
		f->h.job.cancelled = 1;
		fetch_done(s, &f->h);
	}
}

void cn_fetch_fail_queued(cn_server_t *s, int reply)
{
	fail_queue(s, &s->dq, reply);
	fail_queue(s, &s->pq, reply);
	fail_queue(s, &s->fq, reply);
	cn_ramtier_want_memory(s->tier, 0);
}

void cn_fetch_abandon(cn_server_t *s)
{
	for (sl_list_t *l = s->live.next; l != &s->live; l = l->next) {
		fetch_t *f = sl_container_of(l, fetch_t, live);
		cn_flight_t *fl = f->flight;

		if (!fl)
			continue;
		cn_flights_remove(s->flights, fl);
		f->flight = NULL;
		for (size_t i = 0; i < fl->n_waiters; i++) {
			cn_req_t *r = fl->waiters[i];
			cn_addr_t a = cn_req_addr(r);

			cn_reply_error(s, &a, -ESHUTDOWN, "node shutting down");
			cn_req_release(s, r);
		}
		cn_flight_free(fl);
	}
}

void cn_fetch_discard(cn_job_t *j, void *arg)
{
	fetch_free(arg, sl_container_of(j, fetch_t, job));
}
