/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cache node's event loop and request handling (see server.h).
 *
 * Life of a READ.  The event thread decodes it, finds the dataset, clips
 * the range to the block, and looks the block key (dataset, path, version,
 * block index) up in the RAM tier.  A hit is answered at once with a
 * zero-copy view into the cached block.  A miss joins the block's flight
 * (single flight, flight.c) or creates it; a new flight's fetch waits in a
 * FIFO until fewer than 2 x workers block fetches hold buffers and the tier
 * can give it one (the tier may make it wait for memory to free), then a
 * worker reads the block with the backend; back on the event thread the
 * block is offered to the tier (the policy may decline: it is then served
 * once and freed) and every waiter gets its own range of it.  A READ
 * without a version first resolves the file's current version through the
 * metadata cache or a STAT flight, then continues as above.
 *
 * With a disk tier (disktier.h), a RAM miss that starts a flight first
 * asks the disk: a block on disk is read by the disk tier's io_uring
 * thread into a buffer from the RAM tier (its own FIFO, up to DISK_READS
 * at once, not taking worker slots) and offered to RAM like a fetched
 * one -- a promotion when RAM admits it; a block still being written is
 * served from its bytes in memory.  A disk read that fails (a checksum,
 * a vanished file, EIO) falls back to the backend for the same flight, so
 * its waiters get the right bytes anyway.  A block fetched from the
 * backend is offered to the disk after its waiters were answered, and a
 * RAM eviction demotes to the disk (an I/O only when the block is not
 * there yet).
 *
 * Only this thread touches the index, the flights, the metadata cache and
 * the fetch queue, so none of them has a lock.  Workers touch a fetch only
 * between submit and reap, and only its own fields.
 *
 * Back-pressure: with MAX_PENDING requests unanswered the loop stops
 * reading the socket, so ZeroMQ's queues and then TCP push back on
 * clients instead of the node growing without bound.
 */
#include "cachenode/server.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zmq.h>

#include "cachenode/backend.h"
#include "cachenode/disktier.h"
#include "cachenode/flight.h"
#include "cachenode/list.h"
#include "cachenode/metacache.h"
#include "cachenode/ramtier.h"
#include "cachenode/workers.h"
#include "common/blockkey.h"
#include "common/log.h"
#include "common/path.h"
#include "common/ring.h"
#include "common/util.h"
#include "proto/proto.h"
#include "proto/transport.h"

#define MAX_REQ_BODY  (64u << 10) /* an unpacked request body, at most */
#define MAX_REQ_FRAME (1 << 20)	  /* ZMQ_MAXMSGSIZE: PROTOCOL.md, 1 */
#define MAX_PENDING   16384	  /* unanswered requests before back-off */
#define RECV_BATCH    256	  /* messages per turn of the loop */
#define TRANSIENT_MIN (32ull << 20)
#define META_SHARE    16 /* metadata cache: 1/16 of ram_capacity */
#define META_ENTRIES  (4u << 20)
#define DRAIN_MS      5000
#define LINGER_MS     1000
#define RETRY_MS      100 /* re-check parked fetches this often */
#define DISK_READS    64  /* disk reads holding a buffer, at most */

enum { F_READ, F_STAT, F_LIST };

/* Where a READ fetch gets its block (SRC_MEM: disk_lookup only). */
enum { SRC_BACKEND, SRC_DISK, SRC_MEM };

typedef struct fetch fetch_t;

/* READ fetches waiting for a buffer (FIFO), and how many hold one. */
typedef struct fqueue {
	fetch_t *head;
	fetch_t *tail;
	size_t active;
	size_t max;
} fqueue_t;

/* Where a reply goes.  identity is borrowed; silent: nobody waits for it
 * (a PREFETCH, answered when it arrived). */
typedef struct addr {
	zmq_msg_t *identity;
	uint8_t op;
	uint64_t req_id;
	int silent;
} addr_t;

/* A request waiting on a flight. */
typedef struct req {
	zmq_msg_t identity;
	uint8_t op;
	uint64_t req_id;
	int silent;
	/* A READ waiting for its file's version (on a STAT flight), or a
	 * READ waiting for its block: the range it wants. */
	cn_dataset_t *ds; /* reference; only for the version wait */
	char *path;	  /* only for the version wait */
	uint64_t block;
	uint32_t offset;
	uint32_t length;
} req_t;

/* One backend call (or disk read) on behalf of a flight. */
struct fetch {
	cn_job_t job;
	cn_list_t live; /* s->live: every fetch not yet freed */
	cn_metrics_t *m;
	cn_server_t *srv;
	int kind;
	int src;	     /* READ: SRC_* */
	int peer;	     /* READ from disk for a PEER_READ: no backend */
	sl_blockkey_t key;   /* READ */
	size_t bwant;	     /* READ: what to ask the backend for */
	fqueue_t *q;	     /* the queue whose slot it holds, or NULL */
	cn_flight_t *flight; /* NULL once its waiters were answered */
	cn_dataset_t *ds;    /* reference */
	char *path;
	char version[SB_VERSION_MAX + 1];
	uint64_t block;
	size_t want;
	cn_block_t *blk; /* READ: the buffer, one reference */
	int waited;	 /* counted in memory_waits */
	ssize_t rc;
	char err[SB_ERR_MAX];
	sb_stat_t st;	   /* STAT result */
	char *cursor;	   /* LIST */
	uint32_t max;	   /* LIST page size */
	sb_dirent_t *ents; /* LIST result */
	size_t n_ents;
	uint8_t *body; /* LIST: the encoded reply */
	size_t body_len;
	struct fetch *qnext; /* s->fq, s->dq: READs waiting to start */
};

struct cn_server {
	sl_config_t *cfg;
	const sl_node_conf_t *node; /* in cfg */
	char node_name[SL_NAME_MAX + 1];
	cn_server_opts_t opts;
	cn_backends_t *backends;
	cn_dataset_t **ds;
	size_t n_ds;
	uint32_t next_ds_id;
	sl_ring_t *ring;
	uint32_t ring_version;
	uint8_t *hello;
	size_t hello_len;

	void *zctx;
	void *router;
	char endpoint[SL_ADDR_MAX + 1];
	cn_workers_t *workers;
	int wake_fd; /* stop requests and freed memory */
	_Atomic int stop_requested;
	int stopping;
	uint64_t drain_deadline_ms;

	cn_ramtier_t *tier;
	cn_metacache_t *meta;
	cn_flights_t *flights;
	fqueue_t fq;	     /* backend READs: 2 x workers at once */
	fqueue_t dq;	     /* disk READs: DISK_READS at once */
	cn_disktier_t *disk; /* NULL: no disk tier */
	int destroying;
	cn_list_t live;	      /* every fetch */
	size_t n_live;	      /* fetches on s->live */
	size_t silent_reqs;   /* prefetches waiting for a version */
	int64_t pending_reqs; /* requests accepted, not answered */

	int hook_fd;
	void (*hook_fn)(void *arg);
	void *hook_arg;

	cn_metrics_t m;
	cn_metrics_http_t *http;
	uint8_t scratch[MAX_REQ_BODY]; /* an LZ4 request body, unpacked */
};

/* ---- Small helpers --------------------------------------------------- */

static sl_blockkey_t stat_key(const cn_dataset_t *ds, const char *path)
{
	return cn_metacache_key(CN_META_STAT, ds->name, path, NULL, 0);
}

static sl_blockkey_t group_key(const cn_dataset_t *ds, const char *path)
{
	return sl_metakey_make(ds->name, path);
}

static cn_dataset_t *find_dataset(cn_server_t *s, pr_str_t name)
{
	for (size_t i = 0; i < s->n_ds; i++)
		if (pr_str_eq(name, s->ds[i]->name))
			return s->ds[i];
	return NULL;
}

/* How ram_capacity is shared: cached blocks, transient buffers (slack),
 * metadata.  no_ram: no block is cached in RAM; the capacity bounds the
 * buffers of blocks in flight instead. */
static void budgets(const sl_config_t *cfg, const sl_node_conf_t *n, int no_ram,
		    uint64_t *blocks, uint64_t *slack, uint64_t *meta)
{
	uint64_t cap = n->ram_capacity, maxblk = 0;

	for (size_t i = 0; i < cfg->n_datasets; i++)
		maxblk = SL_MAX(maxblk, (uint64_t)cfg->datasets[i].block_size);
	*meta = cap / META_SHARE;
	*blocks = cap - *meta;
	*slack = SL_MAX(2 * cn_ramtier_charge(maxblk),
			SL_MIN(TRANSIENT_MIN, cap / 2));
	if (no_ram) {
		*slack = SL_MAX(*slack, *blocks);
		*blocks = 0;
	}
}

/* ---- Replies ---------------------------------------------------------- */

static void finish_request(cn_server_t *s, uint8_t op, int status)
{
	cn_metrics_request(&s->m, op, status);
	atomic_fetch_sub(&s->m.in_flight, 1);
	s->pending_reqs--;
}

static void send_reply(cn_server_t *s, const addr_t *a, int status,
		       const void *body, size_t len)
{
	pr_header_t h = {0};
	int rc;

	if (a->silent)
		return;
	h.opcode = a->op;
	h.flags = PR_F_REPLY;
	h.req_id = a->req_id;
	h.status = status;
	h.ring_version = s->ring_version;
	rc = pr_send(s->router, a->identity, &h, body, len, ZMQ_DONTWAIT);
	if (rc < 0)
		sl_log_ratelimited(SL_LOG_INFO, "reply to %s: %s",
				   pr_op_name(a->op), strerror(-rc));
	finish_request(s, a->op, status);
}

static void send_error(cn_server_t *s, const addr_t *a, int status,
		       const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void send_error(cn_server_t *s, const addr_t *a, int status,
		       const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	pr_buf_t b;

	if (a->silent)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sl_log_ratelimited(SL_LOG_INFO, "%s request failed: %s (%s)",
			   pr_op_name(a->op), msg, strerror(-status));
	pr_buf_init(&b);
	pr_errmsg_encode(&b, msg);
	send_reply(s, a, status, b.data, b.len);
	pr_buf_fini(&b);
}

/* Answer with bytes [off, off + len) of b, clipped to its end, without
 * copying: the message holds a reference until ZeroMQ is done. */
static void send_block(cn_server_t *s, const addr_t *a, cn_block_t *b,
		       uint32_t off, uint32_t len)
{
	size_t bl = cn_block_len(b);
	size_t start = SL_MIN((size_t)off, bl);
	size_t end = SL_MIN((size_t)off + len, bl);
	pr_header_t h = {0};
	int rc;

	if (a->silent)
		return;
	if (end == start) {
		send_reply(s, a, 0, NULL, 0);
		return;
	}
	h.opcode = a->op;
	h.flags = PR_F_REPLY;
	h.req_id = a->req_id;
	h.ring_version = s->ring_version;
	cn_block_ref(b);
	rc = pr_send_zc(s->router, a->identity, &h, cn_block_data(b) + start,
			end - start, cn_block_zmq_free, b, ZMQ_DONTWAIT);
	if (rc < 0)
		sl_log_ratelimited(SL_LOG_INFO, "reply to READ: %s",
				   strerror(-rc));
	else
		atomic_fetch_add(&s->m.bytes_served, end - start);
	finish_request(s, a->op, 0);
}

/*
 * The one conversion of a backend's stat to the wire's, for STAT and LIST
 * alike: the wire carries the permission bits and the entry's type, so
 * file type bits a module leaves in mode (S_IFREG | 0644) are dropped
 * here rather than refused by the encoder.  version is borrowed from st.
 */
static pr_stat_t wire_stat(const sb_stat_t *st)
{
	return (pr_stat_t){
		.type = (uint8_t)st->type,
		.mode = st->mode & 07777,
		.size = st->size,
		.mtime_ns = st->mtime_ns,
		.version = pr_str(st->version),
	};
}

static void send_stat(cn_server_t *s, const addr_t *a, const sb_stat_t *st)
{
	pr_stat_t ps = wire_stat(st);
	pr_buf_t b;
	int rc;

	pr_buf_init(&b);
	rc = pr_stat_encode(&b, &ps);
	if (rc < 0)
		send_error(s, a, -EIO, "backend stat cannot be encoded");
	else
		send_reply(s, a, 0, b.data, b.len);
	pr_buf_fini(&b);
}

/* ---- Requests that wait ---------------------------------------------- */

static req_t *req_new(const addr_t *a)
{
	req_t *r = sl_xcalloc(1, sizeof(*r));

	zmq_msg_init(&r->identity);
	if (a->identity)
		zmq_msg_copy(&r->identity, a->identity);
	r->op = a->op;
	r->req_id = a->req_id;
	r->silent = a->silent;
	return r;
}

static addr_t req_addr(req_t *r)
{
	return (addr_t){&r->identity, r->op, r->req_id, r->silent};
}

static void req_free(req_t *r)
{
	if (!r)
		return;
	zmq_msg_close(&r->identity);
	cn_dataset_unref(&r->ds);
	free(r->path);
	free(r);
}

/* req_free for a waiter of s's flights, keeping the prefetch count. */
static void req_release(cn_server_t *s, req_t *r)
{
	if (r && r->silent)
		s->silent_reqs--;
	req_free(r);
}

/* ---- Fetches ---------------------------------------------------------- */

static void fetch_run(cn_job_t *j);

static fetch_t *fetch_new(cn_server_t *s, int kind, cn_dataset_t *ds,
			  const char *path)
{
	fetch_t *f = sl_xcalloc(1, sizeof(*f));

	f->job.run = fetch_run;
	f->m = &s->m;
	f->srv = s;
	f->kind = kind;
	f->ds = cn_dataset_ref(ds);
	f->path = sl_xstrdup(path);
	cn_list_add_back(&s->live, &f->live);
	s->n_live++;
	return f;
}

/* Answer nobody; drop everything.  The flight (if any) is removed. */
static void fetch_free(cn_server_t *s, fetch_t *f)
{
	if (f->flight) {
		cn_flights_remove(s->flights, f->flight);
		for (size_t i = 0; i < f->flight->n_waiters; i++) {
			req_t *r = f->flight->waiters[i];

			if (!r->silent)
				finish_request(s, r->op, -ESHUTDOWN);
			req_release(s, r);
		}
		cn_flight_free(f->flight);
	}
	cn_list_del(&f->live);
	s->n_live--;
	if (f->blk)
		cn_block_unref(f->blk);
	cn_dataset_unref(&f->ds);
	free(f->path);
	free(f->cursor);
	free(f->ents);
	free(f->body);
	free(f);
}

static void submit(cn_server_t *s, fetch_t *f)
{
	cn_workers_submit(s->workers, &f->job);
}

static fetch_t *fq_pop(fqueue_t *q)
{
	fetch_t *f = q->head;

	if (f) {
		q->head = f->qnext;
		if (!q->head)
			q->tail = NULL;
		f->qnext = NULL;
	}
	return f;
}

static void fq_push(fqueue_t *q, fetch_t *f)
{
	f->qnext = NULL;
	if (q->tail)
		q->tail->qnext = f;
	else
		q->head = f;
	q->tail = f;
}

static void disk_read_done(void *arg, int rc);
static void disk_failed(cn_server_t *s, fetch_t *f);

/* Start one fetch that got its buffer: a disk read, or a backend read. */
static void start_read(cn_server_t *s, fetch_t *f)
{
	if (f->src != SRC_DISK) {
		submit(s, f);
		return;
	}
	/* The block may have left the disk since it was looked up. */
	if (cn_disktier_read(s->disk, f->key, f->blk, disk_read_done, f) < 0)
		disk_failed(s, f);
}

/* Give queued fetches of q buffers and start them while its slots allow;
 * 0, or -ENOMEM when its head waits for memory. */
static int pump_queue(cn_server_t *s, fqueue_t *q)
{
	while (q->head && q->active < q->max) {
		fetch_t *f = q->head;
		int err;

		f->blk = cn_ramtier_alloc(s->tier, f->ds->policy, f->ds->id,
					  f->want, &err);
		if (!f->blk) {
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

/* Start queued READ fetches while buffers and slots allow. */
static void pump_reads(cn_server_t *s)
{
	int wait = pump_queue(s, &s->dq) < 0;

	wait |= pump_queue(s, &s->fq) < 0;
	cn_ramtier_want_memory(s->tier, wait);
}

static void queue_read(cn_server_t *s, fetch_t *f)
{
	fq_push(f->src == SRC_DISK ? &s->dq : &s->fq, f);
	pump_reads(s);
}

/* The worker side: one backend call, timed and counted. */
static void fetch_run(cn_job_t *j)
{
	fetch_t *f = cn_container_of(j, fetch_t, job);
	uint64_t t0 = sl_now_ns();
	char next[SB_CURSOR_MAX + 1] = "";
	size_t n = 0;

	f->err[0] = '\0';
	switch (f->kind) {
	case F_READ:
		f->rc = cn_dataset_read(f->ds, f->path, f->version,
					f->block * f->ds->block_size,
					cn_block_data(f->blk), f->want, f->err,
					sizeof(f->err));
		if (f->rc > (ssize_t)f->want) {
			f->rc = -EIO;
			snprintf(f->err, sizeof(f->err),
				 "backend read more than asked");
		}
		cn_metrics_backend_latency(f->m, sl_now_ns() - t0);
		atomic_fetch_add(&f->m->backend_reads, 1);
		if (f->rc > 0)
			atomic_fetch_add(&f->m->backend_read_bytes,
					 (uint64_t)f->rc);
		break;
	case F_STAT:
		atomic_fetch_add(&f->m->backend_stats, 1);
		memset(&f->st, 0, sizeof(f->st));
		f->rc = cn_dataset_stat(f->ds, f->path, &f->st, f->err,
					sizeof(f->err));
		f->st.version[SB_VERSION_MAX] = '\0';
		if (f->rc == 0 && f->st.type != SB_TYPE_FILE &&
		    f->st.type != SB_TYPE_DIR) {
			f->rc = -EIO;
			snprintf(f->err, sizeof(f->err),
				 "backend returned a bad entry type");
		}
		break;
	case F_LIST: {
		pr_list_reply_t lr = {0};
		pr_dirent_t *pe;
		pr_buf_t b;
		size_t k = 0;

		atomic_fetch_add(&f->m->backend_lists, 1);
		f->ents = sl_xcalloc(f->max, sizeof(*f->ents));
		f->rc = cn_dataset_list(f->ds, f->path, f->cursor, f->ents,
					f->max, &n, next, f->err,
					sizeof(f->err));
		next[SB_CURSOR_MAX] = '\0';
		if (f->rc < 0 || n > f->max) {
			if (f->rc >= 0) {
				f->rc = -EIO;
				snprintf(f->err, sizeof(f->err),
					 "backend listed too many entries");
			}
			free(f->ents);
			f->ents = NULL;
			break;
		}
		/* Keep only what the protocol can carry. */
		pe = sl_xcalloc(n ? n : 1, sizeof(*pe));
		for (size_t i = 0; i < n; i++) {
			sb_dirent_t *e = &f->ents[i];

			e->name[SB_NAME_MAX] = '\0';
			e->st.version[SB_VERSION_MAX] = '\0';
			if (sl_name_check(e->name, strlen(e->name)) < 0 ||
			    (e->st.type != SB_TYPE_FILE &&
			     e->st.type != SB_TYPE_DIR))
				continue;
			if (k != i)
				f->ents[k] = *e;
			k++;
		}
		for (size_t i = 0; i < k; i++) {
			sb_dirent_t *e = &f->ents[i];

			pe[i].name = pr_str(e->name);
			pe[i].st = wire_stat(&e->st);
		}
		lr.next_cursor = pr_str(next);
		lr.n_entries = (uint32_t)k;
		lr.entries = pe;
		pr_buf_init(&b);
		if (pr_list_reply_encode(&b, &lr) < 0) {
			f->rc = -EIO;
			snprintf(f->err, sizeof(f->err),
				 "backend listing cannot be encoded");
			pr_buf_fini(&b);
		} else {
			f->body = pr_buf_release(&b, &f->body_len);
		}
		free(pe);
		f->n_ents = k;
		f->ents = sl_xrealloc(f->ents, (k ? k : 1) * sizeof(*f->ents));
		break;
	}
	}
	if (f->rc < 0)
		atomic_fetch_add(&f->m->backend_errors, 1);
}

static int client_error(ssize_t rc)
{
	return rc == -ENOENT || rc == -ENOTDIR || rc == -EISDIR ||
	       rc == -ESTALE || rc == -EACCES || rc == -EINVAL ||
	       rc == -ENAMETOOLONG || rc == -EOPNOTSUPP;
}

static void log_backend_error(const fetch_t *f)
{
	static const char *const what[] = {"read", "stat", "list"};

	if (client_error(f->rc))
		sl_log_ratelimited(SL_LOG_DEBUG, "dataset %s: %s '%s': %s",
				   f->ds->name, what[f->kind], f->path,
				   f->err[0] ? f->err : strerror((int)-f->rc));
	else
		sl_log_ratelimited(SL_LOG_WARNING, "dataset %s: %s '%s': %s",
				   f->ds->name, what[f->kind], f->path,
				   f->err[0] ? f->err : strerror((int)-f->rc));
}

/* Drop what the metadata cache knows about path and its directory. */
static void forget_path(cn_server_t *s, const cn_dataset_t *ds,
			const char *path)
{
	char parent[SL_PATH_MAX + 1];
	const char *slash = strrchr(path, '/');
	size_t pl = slash ? (size_t)(slash - path) : 0;

	cn_metacache_purge_group(s->meta, group_key(ds, path));
	memcpy(parent, path, pl);
	parent[pl] = '\0';
	cn_metacache_purge_group(s->meta, group_key(ds, parent));
}

static void serve_read(cn_server_t *s, const addr_t *a, cn_dataset_t *ds,
		       const char *path, const char *version, uint64_t block,
		       uint32_t offset, uint32_t length);
static void begin_stop(cn_server_t *s);

static void read_done(cn_server_t *s, fetch_t *f, cn_flight_t *fl)
{
	uint64_t asked = 0;

	if (f->rc >= 0) {
		cn_block_trim(f->blk, (size_t)f->rc);
		if (cn_ramtier_insert(s->tier, fl->node.key, f->blk) &&
		    f->src == SRC_DISK)
			atomic_fetch_add(&s->m.promotions, 1);
	} else {
		log_backend_error(f);
		if (f->rc == -ESTALE || f->rc == -ENOENT)
			forget_path(s, f->ds, f->path);
	}
	for (size_t i = 0; i < fl->n_waiters; i++) {
		req_t *r = fl->waiters[i];
		addr_t a = req_addr(r);

		if (r->op == PR_OP_READ)
			asked++;
		if (f->rc >= 0)
			send_block(s, &a, f->blk, r->offset, r->length);
		else
			send_error(s, &a, (int)f->rc, "%s: %s", f->path,
				   f->err[0] ? f->err : strerror((int)-f->rc));
		req_release(s, r);
	}
	/* Disk hits and misses count READs, as the RAM tier's do. */
	if (s->disk && f->rc >= 0 && f->src == SRC_DISK)
		atomic_fetch_add(&s->m.disk_hits, asked);
	else if (s->disk)
		atomic_fetch_add(&s->m.disk_misses, asked);
	/* Fresh from the backend: to disk, now that the waiters have it. */
	if (s->disk && f->rc > 0 && f->src == SRC_BACKEND && !f->job.cancelled)
		cn_disktier_admit(s->disk, fl->node.key, f->blk,
				  f->ds->disk_sig, f->ds->policy);
}

static void stat_done(cn_server_t *s, fetch_t *f, cn_flight_t *fl)
{
	uint64_t now = sl_now_ms();

	if (f->rc >= 0)
		cn_metacache_put(s->meta, fl->node.key,
				 group_key(f->ds, f->path), f->ds->id,
				 f->ds->metadata_ttl_ms, now, &f->st,
				 sizeof(f->st));
	else
		log_backend_error(f);
	for (size_t i = 0; i < fl->n_waiters; i++) {
		req_t *r = fl->waiters[i];
		addr_t a = req_addr(r);

		if (f->rc < 0)
			send_error(s, &a, (int)f->rc, "%s: %s", f->path,
				   f->err[0] ? f->err : strerror((int)-f->rc));
		else if (!r->path)
			send_stat(s, &a, &f->st);
		else if (f->st.type == SB_TYPE_DIR)
			send_error(s, &a, -EISDIR, "%s: is a directory",
				   f->path);
		else
			serve_read(s, &a, r->ds, r->path, f->st.version,
				   r->block, r->offset, r->length);
		req_release(s, r);
	}
}

static void list_done(cn_server_t *s, fetch_t *f, cn_flight_t *fl)
{
	char path[SL_PATH_MAX + 1];
	uint64_t now = sl_now_ms();

	if (f->rc >= 0) {
		cn_metacache_put(s->meta, fl->node.key,
				 group_key(f->ds, f->path), f->ds->id,
				 f->ds->metadata_ttl_ms, now, f->body,
				 f->body_len);
		/* A listing is also a STAT of each entry (readdirplus). */
		for (size_t i = 0; i < f->n_ents; i++) {
			if (sl_path_join(path, sizeof(path), f->path,
					 f->ents[i].name) < 0)
				continue;
			cn_metacache_put(s->meta, stat_key(f->ds, path),
					 group_key(f->ds, path), f->ds->id,
					 f->ds->metadata_ttl_ms, now,
					 &f->ents[i].st, sizeof(f->ents[i].st));
		}
	} else {
		log_backend_error(f);
	}
	for (size_t i = 0; i < fl->n_waiters; i++) {
		req_t *r = fl->waiters[i];
		addr_t a = req_addr(r);

		if (f->rc < 0)
			send_error(s, &a, (int)f->rc, "%s: %s", f->path,
				   f->err[0] ? f->err : strerror((int)-f->rc));
		else
			send_reply(s, &a, 0, f->body, f->body_len);
		req_release(s, r);
	}
}

/* Back on the event thread: answer the flight's waiters from f. */
static void fetch_done(cn_server_t *s, fetch_t *f)
{
	cn_flight_t *fl = f->flight;

	if (f->q) {
		f->q->active--;
		f->q = NULL;
	}
	if (f->job.cancelled) {
		f->rc = -ESHUTDOWN;
		snprintf(f->err, sizeof(f->err), "node shutting down");
	}
	if (fl) {
		/* Out of the table first: a waiter's follow-up (a READ after
		 * its STAT) may start a new flight for the same key. */
		cn_flights_remove(s->flights, fl);
		f->flight = NULL;
		if (f->kind == F_READ)
			read_done(s, f, fl);
		else if (f->kind == F_STAT)
			stat_done(s, f, fl);
		else
			list_done(s, f, fl);
		cn_flight_free(fl);
	}
	fetch_free(s, f);
}

/* Answer a flight's PEER_READ waiters -ENODATA and take them out of it:
 * a peer read never reaches the backend. */
static void drop_peer_waiters(cn_server_t *s, cn_flight_t *fl)
{
	size_t k = 0;

	for (size_t i = 0; i < fl->n_waiters; i++) {
		req_t *r = fl->waiters[i];
		addr_t a = req_addr(r);

		if (r->op != PR_OP_PEER_READ) {
			fl->waiters[k++] = r;
			continue;
		}
		send_error(s, &a, -ENODATA, "block is not cached here");
		req_release(s, r);
	}
	fl->n_waiters = k;
}

/*
 * The disk did not deliver f's block (a checksum, a vanished file, EIO):
 * peers are answered -ENODATA, and the same fetch is queued for the
 * backend, with a buffer of the size the backend is asked for (the
 * length on disk is not to be trusted now), unless nobody but peers
 * waited for it.  The caller pumps the queues.
 */
static void disk_failed(cn_server_t *s, fetch_t *f)
{
	cn_flight_t *fl = f->flight;

	if (f->q) {
		f->q->active--;
		f->q = NULL;
	}
	if (fl)
		drop_peer_waiters(s, fl);
	if (f->peer && (!fl || fl->n_waiters == 0)) {
		fetch_free(s, f);
		return;
	}
	cn_block_unref(f->blk);
	f->blk = NULL;
	f->src = SRC_BACKEND;
	f->want = f->bwant;
	f->waited = 0;
	fq_push(&s->fq, f);
}

/*
 * A disk read finished (called from cn_disktier_reap, or while the tier
 * is destroyed): answer the flight as from the backend, or go on to the
 * backend (disk_failed).
 */
static void disk_read_done(void *arg, int rc)
{
	fetch_t *f = arg;
	cn_server_t *s = f->srv;
	cn_flight_t *fl = f->flight;

	if (s->destroying) {
		if (f->q) {
			f->q->active--;
			f->q = NULL;
		}
		fetch_free(s, f);
		return;
	}
	if (rc == 0) {
		f->rc = (ssize_t)cn_block_len(f->blk);
		fetch_done(s, f);
		return;
	}
	if (s->stopping || rc == -ESHUTDOWN || !fl) {
		f->job.cancelled = 1;
		fetch_done(s, f);
		return;
	}
	disk_failed(s, f);
	pump_reads(s);
}

static void reap_disk(cn_server_t *s)
{
	cn_disktier_reap(s->disk);
	pump_reads(s);
}

/* The RAM tier evicts b: demote it to the disk tier. */
static void on_ram_evict(void *arg, sl_blockkey_t key, cn_block_t *b)
{
	cn_server_t *s = arg;

	for (size_t i = 0; i < s->n_ds; i++) {
		if (s->ds[i]->id == cn_block_tag(b)) {
			cn_disktier_demote(s->disk, key, b, s->ds[i]->disk_sig,
					   cn_block_policy(b));
			return;
		}
	}
}

static void reap(cn_server_t *s)
{
	cn_job_t *j = cn_workers_reap(s->workers);

	while (j) {
		cn_job_t *next = j->next;

		fetch_done(s, cn_container_of(j, fetch_t, job));
		j = next;
	}
	pump_reads(s);
}

/* ---- Serving ---------------------------------------------------------- */

/* Park a READ without a version on its file's STAT flight. */
static void wait_for_version(cn_server_t *s, const addr_t *a, cn_dataset_t *ds,
			     const char *path, uint64_t block, uint32_t offset,
			     uint32_t length)
{
	sl_blockkey_t key = stat_key(ds, path);
	req_t *r = req_new(a);
	cn_flight_t *fl;
	fetch_t *f;
	int created;

	if (r->silent)
		s->silent_reqs++;
	r->ds = cn_dataset_ref(ds);
	r->path = sl_xstrdup(path);
	r->block = block;
	r->offset = offset;
	r->length = length;
	fl = cn_flights_join(s->flights, key, r, &created);
	if (!created)
		return;
	f = fetch_new(s, F_STAT, ds, path);
	f->flight = fl;
	fl->fetch = f;
	submit(s, f);
}

/*
 * Ask the disk tier about key before starting a flight for it: SRC_DISK
 * with *len, its length; SRC_MEM with *mem (a reference): being written,
 * the bytes are in memory; SRC_BACKEND when it is not there.  A block
 * longer than want, or not exactly want when exact (the file's size is
 * known), cannot be right and is dropped.
 */
static int disk_lookup(cn_server_t *s, sl_blockkey_t key, size_t want,
		       int exact, size_t *len, cn_block_t **mem)
{
	int found;

	*mem = NULL;
	if (!s->disk || cn_flights_find(s->flights, key))
		return SRC_BACKEND;
	found = cn_disktier_lookup(s->disk, key, len, mem);
	if (found == CN_DISK_MISS)
		return SRC_BACKEND;
	if (*len > want || (exact && *len != want)) {
		sl_log_ratelimited(SL_LOG_WARNING,
				   "disk tier: a block of %zu bytes where "
				   "%zu were expected: dropped",
				   *len, want);
		if (*mem)
			cn_block_unref(*mem);
		*mem = NULL;
		cn_disktier_drop(s->disk, key);
		return SRC_BACKEND;
	}
	return found == CN_DISK_MEM ? SRC_MEM : SRC_DISK;
}

static void serve_read(cn_server_t *s, const addr_t *a, cn_dataset_t *ds,
		       const char *path, const char *version, uint64_t block,
		       uint32_t offset, uint32_t length)
{
	const sb_stat_t *st;
	size_t dlen = 0;
	int exact = 0, src;
	size_t stlen;
	uint64_t bs = ds->block_size, start, want = ds->block_size;
	sl_blockkey_t key;
	cn_block_t *b;
	cn_flight_t *fl;
	fetch_t *f;
	req_t *r = NULL;
	int created;

	/* length 0: to the end of the block (PROTOCOL.md, READ). */
	if ((uint64_t)offset + length > bs) {
		send_error(s, a, -EINVAL,
			   "range %" PRIu32 "+%" PRIu32
			   " is beyond the block size %" PRIu64,
			   offset, length, bs);
		return;
	}
	if (length == 0)
		length = (uint32_t)(bs - offset);
	if (block > (uint64_t)INT64_MAX / bs) {
		send_error(s, a, -EINVAL,
			   "block index %" PRIu64 " out of range", block);
		return;
	}
	start = block * bs;
	st = cn_metacache_get(s->meta, stat_key(ds, path), sl_now_ms(), &stlen);
	if (st && stlen != sizeof(*st))
		st = NULL;
	if (!*version) {
		if (!st) {
			wait_for_version(s, a, ds, path, block, offset, length);
			return;
		}
		version = st->version;
	}
	if (st && strcmp(st->version, version) == 0) {
		if (st->type == SB_TYPE_DIR) {
			send_error(s, a, -EISDIR, "%s: is a directory", path);
			return;
		}
		if (start >= st->size) {
			send_reply(s, a, 0, NULL, 0); /* past EOF */
			return;
		}
		want = SL_MIN(bs, st->size - start);
		exact = 1;
	}
	key = sl_blockkey_make(ds->name, path, version, block);
	b = cn_ramtier_get(s->tier, key);
	if (b) {
		if (!a->silent)
			atomic_fetch_add(&s->m.ram_hits, 1);
		send_block(s, a, b, offset, length);
		cn_block_unref(b);
		return;
	}
	if (!a->silent)
		atomic_fetch_add(&s->m.ram_misses, 1);
	src = disk_lookup(s, key, want, exact, &dlen, &b);
	if (src == SRC_MEM) {
		if (!a->silent)
			atomic_fetch_add(&s->m.disk_hits, 1);
		send_block(s, a, b, offset, length);
		cn_block_unref(b);
		return;
	}
	if (!a->silent) {
		r = req_new(a);
		r->block = block;
		r->offset = offset;
		r->length = length;
	}
	fl = cn_flights_join(s->flights, key, r, &created);
	if (!created) {
		if (r)
			atomic_fetch_add(&s->m.flight_joins, 1);
		return;
	}
	f = fetch_new(s, F_READ, ds, path);
	sl_strlcpy(f->version, version, sizeof(f->version));
	f->block = block;
	f->key = key;
	f->src = src;
	f->bwant = want;
	f->want = src == SRC_DISK ? dlen : want;
	f->flight = fl;
	fl->fetch = f;
	queue_read(s, f);
}

static void serve_stat(cn_server_t *s, const addr_t *a, cn_dataset_t *ds,
		       const char *path)
{
	sl_blockkey_t key = stat_key(ds, path);
	const sb_stat_t *st;
	size_t len;
	cn_flight_t *fl;
	fetch_t *f;
	int created;

	st = cn_metacache_get(s->meta, key, sl_now_ms(), &len);
	if (st && len == sizeof(*st)) {
		atomic_fetch_add(&s->m.meta_hits, 1);
		send_stat(s, a, st);
		return;
	}
	atomic_fetch_add(&s->m.meta_misses, 1);
	fl = cn_flights_join(s->flights, key, req_new(a), &created);
	if (!created) {
		atomic_fetch_add(&s->m.flight_joins, 1);
		return;
	}
	f = fetch_new(s, F_STAT, ds, path);
	f->flight = fl;
	fl->fetch = f;
	submit(s, f);
}

static void serve_list(cn_server_t *s, const addr_t *a, cn_dataset_t *ds,
		       const char *path, const char *cursor, uint32_t max)
{
	sl_blockkey_t key =
		cn_metacache_key(CN_META_LIST, ds->name, path, cursor, max);
	const void *body;
	size_t len;
	cn_flight_t *fl;
	fetch_t *f;
	int created;

	body = cn_metacache_get(s->meta, key, sl_now_ms(), &len);
	if (body) {
		atomic_fetch_add(&s->m.meta_hits, 1);
		send_reply(s, a, 0, body, len);
		return;
	}
	atomic_fetch_add(&s->m.meta_misses, 1);
	fl = cn_flights_join(s->flights, key, req_new(a), &created);
	if (!created) {
		atomic_fetch_add(&s->m.flight_joins, 1);
		return;
	}
	f = fetch_new(s, F_LIST, ds, path);
	f->cursor = sl_xstrdup(cursor);
	f->max = max;
	f->flight = fl;
	fl->fetch = f;
	submit(s, f);
}

struct stats_acc {
	pr_stats_item_t *items;
	char **names;
	size_t n, cap;
};

static void stats_add(void *arg, const char *name, uint64_t value)
{
	struct stats_acc *acc = arg;

	if (acc->n == PR_MAX_STATS)
		return;
	if (acc->n == acc->cap) {
		acc->cap = acc->cap ? 2 * acc->cap : 64;
		acc->items =
			sl_xrealloc(acc->items, acc->cap * sizeof(*acc->items));
		acc->names =
			sl_xrealloc(acc->names, acc->cap * sizeof(*acc->names));
	}
	acc->names[acc->n] =
		sl_xstrndup(name, SL_MIN(strlen(name), (size_t)PR_MAX_NAME));
	acc->items[acc->n].name = pr_str(acc->names[acc->n]);
	acc->items[acc->n].value = value;
	acc->n++;
}

static void serve_stats(cn_server_t *s, const addr_t *a)
{
	struct stats_acc acc = {0};
	pr_stats_t st;
	pr_buf_t b;
	int rc;

	/* Count this request first, so a STATS reply sees itself. */
	cn_metrics_foreach(&s->m, stats_add, &acc);
	st.n_items = (uint32_t)acc.n;
	st.items = acc.items;
	pr_buf_init(&b);
	rc = pr_stats_encode(&b, &st);
	if (rc < 0)
		send_error(s, a, rc, "stats cannot be encoded");
	else
		send_reply(s, a, 0, b.data, b.len);
	pr_buf_fini(&b);
	for (size_t i = 0; i < acc.n; i++)
		free(acc.names[i]);
	free(acc.names);
	free(acc.items);
}

/* The dataset named in a request, or an error reply and NULL. */
static cn_dataset_t *request_dataset(cn_server_t *s, const addr_t *a,
				     pr_str_t name)
{
	cn_dataset_t *ds = find_dataset(s, name);

	if (!ds)
		send_error(s, a, -ENOENT, "no dataset '%.*s' on this node",
			   (int)SL_MIN(name.len, 64u), name.ptr);
	return ds;
}

/* Copy a wire path and check it again (defence in depth). */
static int request_path(cn_server_t *s, const addr_t *a, pr_str_t p, char *out,
			size_t cap)
{
	int rc = pr_str_copy(out, cap, p);

	if (rc == 0)
		rc = sl_path_check(p.len ? p.ptr : "", p.len);
	if (rc < 0)
		send_error(s, a, rc, "bad path");
	return rc;
}

/* A PEER_READ for a block on disk: a flight of its own, read from the
 * disk; later READs of the block may join it. */
static void peer_read_disk(cn_server_t *s, const addr_t *a, cn_dataset_t *ds,
			   const char *path, const char *version,
			   uint64_t block, sl_blockkey_t key, size_t dlen,
			   uint32_t offset, uint32_t length)
{
	req_t *r = req_new(a);
	cn_flight_t *fl;
	fetch_t *f;
	int created;

	r->block = block;
	r->offset = offset;
	r->length = length;
	fl = cn_flights_join(s->flights, key, r, &created);
	SL_ASSERT(created); /* disk_lookup checked */
	f = fetch_new(s, F_READ, ds, path);
	sl_strlcpy(f->version, version, sizeof(f->version));
	f->block = block;
	f->key = key;
	f->src = SRC_DISK;
	f->peer = 1;
	f->bwant = ds->block_size;
	f->want = dlen;
	f->flight = fl;
	fl->fetch = f;
	queue_read(s, f);
}

/* PEER_READ: from the cache (RAM or disk) only, never the backend
 * (-ENODATA). */
static void peer_read(cn_server_t *s, const addr_t *a, cn_dataset_t *ds,
		      const char *path, const char *version, uint64_t block,
		      uint32_t offset, uint32_t length)
{
	const sb_stat_t *st = NULL;
	size_t stlen, dlen = 0;
	cn_block_t *b = NULL;
	sl_blockkey_t key;
	int src;

	if ((uint64_t)offset + length > ds->block_size) {
		send_error(s, a, -EINVAL, "range beyond the block size");
		return;
	}
	if (length == 0)
		length = ds->block_size - offset;
	if (!*version) {
		st = cn_metacache_get(s->meta, stat_key(ds, path), sl_now_ms(),
				      &stlen);
		if (st && stlen == sizeof(*st) && st->type == SB_TYPE_FILE)
			version = st->version;
	}
	if (*version) {
		key = sl_blockkey_make(ds->name, path, version, block);
		b = cn_ramtier_get(s->tier, key);
		if (!b) {
			src = disk_lookup(s, key, ds->block_size, 0, &dlen, &b);
			if (src == SRC_DISK) {
				peer_read_disk(s, a, ds, path, version, block,
					       key, dlen, offset, length);
				return;
			}
		}
	}
	if (!b) {
		send_error(s, a, -ENODATA,
			   "%s block %" PRIu64 " is not cached here", path,
			   block);
		return;
	}
	send_block(s, a, b, offset, length);
	cn_block_unref(b);
}

static void handle_read(cn_server_t *s, addr_t *a, const void *body, size_t len)
{
	char path[PR_MAX_PATH + 1], version[PR_MAX_VERSION + 1];
	pr_read_req_t rq;
	cn_dataset_t *ds;
	int rc = pr_read_req_decode(&rq, body, len);

	if (rc < 0) {
		send_error(s, a, rc, "bad %s request body", pr_op_name(a->op));
		return;
	}
	ds = request_dataset(s, a, rq.dataset);
	if (!ds || request_path(s, a, rq.path, path, sizeof(path)) < 0)
		return;
	pr_str_copy(version, sizeof(version), rq.version);
	if (a->op == PR_OP_PREFETCH) {
		/* A hint: acknowledge now, fetch the whole block in the
		 * background. */
		send_reply(s, a, 0, NULL, 0);
		if (s->n_live + s->silent_reqs >= MAX_PENDING) {
			sl_log_ratelimited(
				SL_LOG_INFO,
				"prefetch backlog full: hint dropped");
			return;
		}
		a->silent = 1;
		rq.offset = 0;
		rq.length = 0;
	} else if (a->op == PR_OP_PEER_READ) {
		peer_read(s, a, ds, path, version, rq.block, rq.offset,
			  rq.length);
		return;
	}
	serve_read(s, a, ds, path, version, rq.block, rq.offset, rq.length);
}

static void handle_stat(cn_server_t *s, const addr_t *a, const void *body,
			size_t len)
{
	char path[PR_MAX_PATH + 1];
	pr_target_t t;
	cn_dataset_t *ds;
	int rc = pr_target_decode(&t, body, len);

	if (rc < 0) {
		send_error(s, a, rc, "bad STAT request body");
		return;
	}
	ds = request_dataset(s, a, t.dataset);
	if (!ds || request_path(s, a, t.path, path, sizeof(path)) < 0)
		return;
	serve_stat(s, a, ds, path);
}

static void handle_list(cn_server_t *s, const addr_t *a, const void *body,
			size_t len)
{
	char path[PR_MAX_PATH + 1], cursor[PR_MAX_CURSOR + 1];
	pr_list_req_t lq;
	cn_dataset_t *ds;
	int rc = pr_list_req_decode(&lq, body, len);

	if (rc < 0) {
		send_error(s, a, rc, "bad LIST request body");
		return;
	}
	ds = request_dataset(s, a, lq.dataset);
	if (!ds || request_path(s, a, lq.path, path, sizeof(path)) < 0)
		return;
	pr_str_copy(cursor, sizeof(cursor), lq.cursor);
	serve_list(s, a, ds, path, cursor,
		   SL_MIN(lq.max_entries, (uint32_t)PR_MAX_LIST_ENTRIES));
}

static void handle(cn_server_t *s, pr_msg_t *m)
{
	addr_t a = {&m->identity, m->h.opcode, m->h.req_id, 0};
	const void *body = pr_msg_body(m);
	size_t len = pr_msg_body_len(m), raw;
	int rc;

	if (m->h.flags & PR_F_REPLY) {
		/* Never answer a reply: two peers would bounce forever. */
		atomic_fetch_add(&s->m.bad_messages, 1);
		sl_log_ratelimited(SL_LOG_NOTICE,
				   "dropped a reply sent to the node");
		return;
	}
	atomic_fetch_add(&s->m.in_flight, 1);
	s->pending_reqs++;
	/* A request sent after cn_server_stop() returned sees the stop. */
	if (!s->stopping && atomic_load(&s->stop_requested))
		begin_stop(s);
	if (s->stopping) {
		send_error(s, &a, -ESHUTDOWN, "node %s is shutting down",
			   s->node_name);
		return;
	}
	if (m->h.flags & PR_F_LZ4) {
		rc = pr_lz4_unpack(body, len, s->scratch, sizeof(s->scratch),
				   &raw);
		if (rc < 0) {
			atomic_fetch_add(&s->m.bad_messages, 1);
			send_error(s, &a, rc, "bad LZ4 request body");
			return;
		}
		body = s->scratch;
		len = raw;
	}
	if ((m->h.opcode == PR_OP_HELLO || m->h.opcode == PR_OP_STATS) && len) {
		send_error(s, &a, -EBADMSG, "%s takes no body",
			   pr_op_name(m->h.opcode));
		return;
	}
	switch (m->h.opcode) {
	case PR_OP_HELLO:
		if (!s->hello)
			send_error(s, &a, -EMSGSIZE, "cluster map too large");
		else
			send_reply(s, &a, 0, s->hello, s->hello_len);
		break;
	case PR_OP_STAT:
		handle_stat(s, &a, body, len);
		break;
	case PR_OP_LIST:
		handle_list(s, &a, body, len);
		break;
	case PR_OP_READ:
	case PR_OP_PREFETCH:
	case PR_OP_PEER_READ:
		handle_read(s, &a, body, len);
		break;
	case PR_OP_STATS:
		serve_stats(s, &a);
		break;
	default:
		send_error(s, &a, -EOPNOTSUPP, "op %u (%s) not supported",
			   m->h.opcode, pr_op_name(m->h.opcode));
		break;
	}
}

static int drain_socket(cn_server_t *s)
{
	pr_msg_t m;
	int rc = 0;

	pr_msg_init(&m);
	for (int i = 0; i < RECV_BATCH && s->pending_reqs < MAX_PENDING; i++) {
		rc = pr_recv(s->router, &m, 1, ZMQ_DONTWAIT);
		if (rc == -EAGAIN || rc == -EINTR) {
			rc = 0;
			break;
		}
		if (rc == -ETERM)
			break;
		if (rc < 0) {
			atomic_fetch_add(&s->m.bad_messages, 1);
			sl_log_ratelimited(SL_LOG_NOTICE,
					   "bad message from a peer: %s",
					   strerror(-rc));
			if (m.header_ok && !(m.h.flags & PR_F_REPLY)) {
				addr_t a = {&m.identity, m.h.opcode, m.h.req_id,
					    0};

				atomic_fetch_add(&s->m.in_flight, 1);
				s->pending_reqs++;
				send_error(s, &a, rc, "malformed message");
			}
			rc = 0;
			continue;
		}
		handle(s, &m);
	}
	pr_msg_close(&m);
	return rc;
}

/* ---- Configuration ---------------------------------------------------- */

static int build_hello(cn_server_t *s)
{
	const sl_config_t *c = s->cfg;
	pr_hello_node_t *nodes = sl_xcalloc(c->n_nodes + 1, sizeof(*nodes));
	pr_hello_dataset_t *dss = sl_xcalloc(c->n_datasets + 1, sizeof(*dss));
	pr_hello_t h = {0};
	pr_buf_t b;
	int rc;

	for (size_t i = 0; i < c->n_nodes; i++) {
		nodes[i].name = pr_str(c->nodes[i].name);
		nodes[i].addr = pr_str(c->nodes[i].addr);
		nodes[i].weight = c->nodes[i].weight;
	}
	for (size_t i = 0; i < c->n_datasets; i++) {
		dss[i].name = pr_str(c->datasets[i].name);
		dss[i].backend = pr_str(c->datasets[i].backend);
		dss[i].block_size = c->datasets[i].block_size;
		dss[i].policy = (uint8_t)c->datasets[i].policy;
		dss[i].metadata_ttl_ms = c->datasets[i].metadata_ttl_ms;
	}
	h.cluster = pr_str(c->cluster_name);
	h.node = pr_str(s->node_name);
	h.ring_version = s->ring_version;
	h.n_nodes = (uint32_t)c->n_nodes;
	h.nodes = nodes;
	h.n_datasets = (uint32_t)c->n_datasets;
	h.datasets = dss;
	pr_buf_init(&b);
	rc = pr_hello_encode(&b, &h);
	free(s->hello);
	s->hello = NULL;
	s->hello_len = 0;
	if (rc == 0)
		s->hello = pr_buf_release(&b, &s->hello_len);
	else
		sl_err("cluster map cannot be encoded: %s", strerror(-rc));
	pr_buf_fini(&b);
	free(nodes);
	free(dss);
	return rc;
}

static sl_ring_t *build_ring(const sl_config_t *c)
{
	sl_ring_member_t *mem = sl_xcalloc(c->n_nodes + 1, sizeof(*mem));
	sl_ring_t *r;

	for (size_t i = 0; i < c->n_nodes; i++) {
		mem[i].name = c->nodes[i].name;
		mem[i].weight = c->nodes[i].weight;
	}
	r = sl_ring_new(mem, c->n_nodes);
	free(mem);
	return r;
}

static cn_dataset_t *find_open(cn_dataset_t **ds, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (ds[i] && strcmp(ds[i]->name, name) == 0)
			return ds[i];
	return NULL;
}

/*
 * Open cfg's datasets into *out, reusing those of old (n_old) that did
 * not change.  All or nothing: 0, or -errno with err and nothing opened.
 */
static int open_datasets(cn_server_t *s, const sl_config_t *cfg,
			 cn_dataset_t **old, size_t n_old, cn_dataset_t ***out,
			 char *err, size_t errlen)
{
	cn_dataset_t **ds = sl_xcalloc(cfg->n_datasets + 1, sizeof(*ds));
	int rc = 0;

	for (size_t i = 0; i < cfg->n_datasets; i++) {
		const sl_dataset_conf_t *dc = &cfg->datasets[i];
		cn_dataset_t *o = find_open(old, n_old, dc->name);

		if (o && cn_dataset_same(o, dc)) {
			ds[i] = cn_dataset_ref(o);
			continue;
		}
		ds[i] = cn_dataset_open(s->backends, dc, cfg->path,
					s->next_ds_id++, &rc, err, errlen);
		if (!ds[i]) {
			for (size_t j = 0; j < i; j++)
				cn_dataset_unref(&ds[j]);
			free(ds);
			return rc < 0 ? rc : -EINVAL;
		}
	}
	*out = ds;
	return 0;
}

/* The disk tier's view of the datasets.  Caller frees. */
static cn_disk_dataset_t *disk_datasets(cn_server_t *s)
{
	cn_disk_dataset_t *d = sl_xcalloc(s->n_ds + 1, sizeof(*d));

	for (size_t i = 0; i < s->n_ds; i++) {
		d[i].sig = s->ds[i]->disk_sig;
		d[i].policy = s->ds[i]->policy;
	}
	return d;
}

static void disk_conf(const sl_node_conf_t *n, cn_disktier_conf_t *c)
{
	memset(c, 0, sizeof(*c));
	c->path = n->disk_path;
	c->capacity = n->disk_capacity;
	c->min_free = n->disk_min_free;
	c->min_free_pct = n->disk_min_free_pct;
}

static int same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static int open_disk(cn_server_t *s, char *err, size_t errlen)
{
	cn_disk_dataset_t *d = disk_datasets(s);
	cn_disktier_conf_t c;
	int rc;

	disk_conf(s->node, &c);
	s->disk = cn_disktier_new(&c, d, s->n_ds, &s->m, &rc, err, errlen);
	free(d);
	if (!s->disk)
		return rc;
	cn_ramtier_set_evict_hook(s->tier, on_ram_evict, s);
	return 0;
}

/* SIGHUP: new limits and datasets for the disk tier.  old: the node's
 * previous section (still valid). */
static void reload_disk(cn_server_t *s, const sl_node_conf_t *old)
{
	cn_disk_dataset_t *d;
	cn_disktier_conf_t c;

	if (!same_str(s->node->disk_path, old->disk_path))
		sl_warn("reload: disk_path changes take effect on restart");
	if (!s->disk)
		return;
	/* Without a disk_path now, keep the old limits until the restart;
	 * the datasets still apply. */
	disk_conf(s->node->disk_path ? s->node : old, &c);
	d = disk_datasets(s);
	cn_disktier_configure(s->disk, &c, d, s->n_ds);
	free(d);
}

static void apply_budgets(cn_server_t *s)
{
	uint64_t blocks, slack, meta;

	budgets(s->cfg, s->node, s->opts.no_ram_tier, &blocks, &slack, &meta);
	cn_ramtier_set_capacity(s->tier, blocks, slack);
	cn_metacache_set_limits(s->meta, meta, META_ENTRIES);
	atomic_store(&s->m.ram_capacity, s->node->ram_capacity);
}

int cn_server_reload(cn_server_t *s, sl_config_t *cfg, char *err, size_t errlen)
{
	const sl_node_conf_t *n = sl_config_node(cfg, s->node_name);
	const sl_node_conf_t *old_node;
	sl_config_t *old_cfg;
	cn_dataset_t **ds = NULL;
	sl_ring_t *ring;
	int rc;

	if (!n) {
		snprintf(err, errlen, "%s: node %s is not in the new config",
			 cfg->path ? cfg->path : "(config)", s->node_name);
		sl_config_destroy(&cfg);
		return -ENOENT;
	}
	rc = open_datasets(s, cfg, s->ds, s->n_ds, &ds, err, errlen);
	if (rc < 0) {
		sl_config_destroy(&cfg);
		return rc;
	}
	if (strcmp(n->addr, s->node->addr) != 0 ||
	    strcmp(n->metrics_addr, s->node->metrics_addr) != 0 ||
	    n->workers != s->node->workers)
		sl_warn("reload: addr, metrics_addr and workers changes take "
			"effect on restart");
	if ((cfg->module_dir || s->cfg->module_dir) &&
	    (!cfg->module_dir || !s->cfg->module_dir ||
	     strcmp(cfg->module_dir, s->cfg->module_dir) != 0))
		sl_warn("reload: module_dir changes take effect on restart");
	/* Datasets that went away or changed: drop what is cached. */
	for (size_t i = 0; i < s->n_ds; i++) {
		cn_dataset_t *o = s->ds[i];

		if (find_open(ds, cfg->n_datasets, o->name) != o) {
			cn_ramtier_purge(s->tier, o->id);
			cn_metacache_purge_tag(s->meta, o->id);
			sl_notice("reload: dataset %s %s", o->name,
				  sl_config_dataset(cfg, o->name) ? "reopened"
								  : "removed");
		}
	}
	for (size_t i = 0; i < cfg->n_datasets; i++) {
		if (ds[i]->metadata_ttl_ms !=
		    cfg->datasets[i].metadata_ttl_ms) {
			ds[i]->metadata_ttl_ms =
				cfg->datasets[i].metadata_ttl_ms;
			cn_metacache_purge_tag(s->meta, ds[i]->id);
		}
		if (!find_open(s->ds, s->n_ds, ds[i]->name))
			sl_notice("reload: dataset %s added", ds[i]->name);
	}
	for (size_t i = 0; i < s->n_ds; i++)
		cn_dataset_unref(&s->ds[i]);
	free(s->ds);
	s->ds = ds;
	s->n_ds = cfg->n_datasets;
	old_cfg = s->cfg; /* freed once the disk tier has seen both */
	old_node = s->node;
	s->cfg = cfg;
	s->node = n;
	ring = build_ring(cfg);
	sl_ring_destroy(&s->ring);
	s->ring = ring;
	s->ring_version = sl_ring_version(ring);
	build_hello(s);
	reload_disk(s, old_node);
	sl_config_destroy(&old_cfg);
	apply_budgets(s);
	pump_reads(s);
	sl_notice("reloaded %s: %zu datasets, ring version %08" PRIx32,
		  cfg->path ? cfg->path : "config", s->n_ds, s->ring_version);
	return 0;
}

/* ---- Life cycle ------------------------------------------------------- */

cn_server_t *cn_server_new(sl_config_t *cfg, const char *node,
			   const cn_server_opts_t *opts, char *err,
			   size_t errlen)
{
	cn_server_t *s = sl_xcalloc(1, sizeof(*s));
	uint64_t blocks, slack, meta;
	int rc, maxmsg_ok, zero = 0;
	int64_t maxmsg = MAX_REQ_FRAME;
	size_t elen;
	char *dir;

	s->cfg = cfg;
	s->wake_fd = -1;
	s->hook_fd = -1;
	s->next_ds_id = 1;
	cn_list_init(&s->live);
	cn_metrics_init(&s->m);
	if (opts)
		s->opts = *opts;
	if (!s->opts.drain_ms)
		s->opts.drain_ms = DRAIN_MS;
	s->node = sl_config_node(cfg, node);
	if (!s->node) {
		snprintf(err, errlen, "%s: no node named '%s'",
			 cfg->path ? cfg->path : "config", node);
		goto out_err;
	}
	sl_strlcpy(s->node_name, node, sizeof(s->node_name));

	dir = cfg->module_dir ? sl_xstrdup(cfg->module_dir)
			      : cn_backends_default_dir();
	s->backends = cn_backends_new(dir);
	free(dir);
	for (size_t i = 0; i < s->opts.n_builtins; i++) {
		if (cn_backends_add_builtin(s->backends, s->opts.builtins[i]) <
		    0) {
			snprintf(err, errlen,
				 "built-in backend %zu is malformed", i);
			goto out_err;
		}
	}
	if (open_datasets(s, cfg, NULL, 0, &s->ds, err, errlen) < 0)
		goto out_err;
	s->n_ds = cfg->n_datasets;
	s->ring = build_ring(cfg);
	s->ring_version = sl_ring_version(s->ring);
	build_hello(s);

	budgets(cfg, s->node, s->opts.no_ram_tier, &blocks, &slack, &meta);
	s->tier = cn_ramtier_new(blocks, slack, &s->m);
	s->meta = cn_metacache_new(meta, META_ENTRIES, &s->m);
	atomic_store(&s->m.ram_capacity, s->node->ram_capacity);
	s->flights = cn_flights_new();

	s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->wake_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto out_err;
	}
	cn_ramtier_set_wake_fd(s->tier, s->wake_fd);
	s->workers = cn_workers_new(s->node->workers, &rc);
	if (!s->workers) {
		snprintf(err, errlen, "cannot start %u workers: %s",
			 s->node->workers, strerror(-rc));
		goto out_err;
	}
	s->fq.max = 2 * (size_t)s->node->workers;
	s->dq.max = DISK_READS;
	if (s->node->disk_path && open_disk(s, err, errlen) < 0)
		goto out_err;

	s->zctx = zmq_ctx_new();
	if (!s->zctx) {
		snprintf(err, errlen, "zmq_ctx_new: %s", zmq_strerror(errno));
		goto out_err;
	}
	s->router = zmq_socket(s->zctx, ZMQ_ROUTER);
	if (!s->router) {
		snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(errno));
		goto out_err;
	}
	zmq_setsockopt(s->router, ZMQ_LINGER, &zero, sizeof(zero));
	maxmsg_ok = zmq_setsockopt(s->router, ZMQ_MAXMSGSIZE, &maxmsg,
				   sizeof(maxmsg));
	(void)maxmsg_ok;
	if (zmq_bind(s->router, s->node->addr) < 0) {
		snprintf(err, errlen, "cannot bind %s: %s", s->node->addr,
			 zmq_strerror(errno));
		goto out_err;
	}
	elen = sizeof(s->endpoint);
	if (zmq_getsockopt(s->router, ZMQ_LAST_ENDPOINT, s->endpoint, &elen) <
	    0)
		sl_strlcpy(s->endpoint, s->node->addr, sizeof(s->endpoint));

	if (s->node->metrics_addr[0] && !s->opts.no_metrics_http) {
		s->http = cn_metrics_http_start(&s->m, s->node->metrics_addr,
						err, errlen);
		if (!s->http)
			goto out_err;
	}
	sl_notice("node %s serving %s: %zu datasets, ram_capacity %" PRIu64
		  " bytes, %u workers, ring version %08" PRIx32
		  ", modules from %s%s%s",
		  s->node_name, s->endpoint, s->n_ds, s->node->ram_capacity,
		  s->node->workers, s->ring_version,
		  cn_backends_dir(s->backends),
		  s->http ? ", metrics on http://" : "",
		  s->http ? s->node->metrics_addr : "");
	if (s->opts.no_ram_tier)
		sl_notice("RAM tier off: no block is cached in RAM; "
			  "ram_capacity bounds the buffers in flight");
	return s;
out_err:
	cn_server_destroy(&s);
	return NULL;
}

void cn_server_stop(cn_server_t *s)
{
	uint64_t one = 1;
	ssize_t n;

	atomic_store(&s->stop_requested, 1);
	n = write(s->wake_fd, &one, sizeof(one));
	(void)n;
}

void cn_server_set_hook(cn_server_t *s, int fd, void (*fn)(void *arg),
			void *arg)
{
	s->hook_fd = fn ? fd : -1;
	s->hook_fn = fn;
	s->hook_arg = arg;
}

cn_metrics_t *cn_server_metrics(cn_server_t *s)
{
	return &s->m;
}

const sl_config_t *cn_server_config(const cn_server_t *s)
{
	return s->cfg;
}

/* Fail every READ that has not started yet: with -ESHUTDOWN replies, or
 * silently once the socket is gone. */
static void fail_queue(cn_server_t *s, fqueue_t *q, int reply)
{
	fetch_t *f;

	while ((f = fq_pop(q))) {
		if (!reply) {
			fetch_free(s, f);
			continue;
		}
		f->job.cancelled = 1;
		fetch_done(s, f);
	}
}

static void fail_queued(cn_server_t *s, int reply)
{
	fail_queue(s, &s->dq, reply);
	fail_queue(s, &s->fq, reply);
	cn_ramtier_want_memory(s->tier, 0);
}

static void begin_stop(cn_server_t *s)
{
	s->stopping = 1;
	s->drain_deadline_ms = sl_now_ms() + s->opts.drain_ms;
	/* No zmq_unbind(): it also drops the connections accepted through
	 * the endpoint, and with them the replies still owed.  New requests
	 * get -ESHUTDOWN instead (handle()). */
	fail_queued(s, 1);
	sl_notice("stopping: %zu fetches in flight",
		  cn_flights_count(s->flights));
}

/* The drain took too long: answer whoever still waits, leave the fetches
 * to finish (or be cancelled) when the workers stop. */
static void abandon_flights(cn_server_t *s)
{
	for (cn_list_t *l = s->live.next; l != &s->live; l = l->next) {
		fetch_t *f = cn_container_of(l, fetch_t, live);
		cn_flight_t *fl = f->flight;

		if (!fl)
			continue;
		cn_flights_remove(s->flights, fl);
		f->flight = NULL;
		for (size_t i = 0; i < fl->n_waiters; i++) {
			req_t *r = fl->waiters[i];
			addr_t a = req_addr(r);

			send_error(s, &a, -ESHUTDOWN, "node shutting down");
			req_release(s, r);
		}
		cn_flight_free(fl);
	}
}

int cn_server_run(cn_server_t *s)
{
	zmq_pollitem_t items[5];
	int rc = 0;

	for (;;) {
		int n = 0, ir = -1, iw, ik, ih = -1, id = -1;
		long timeout = -1;
		uint64_t now;

		if (!s->stopping && atomic_load(&s->stop_requested))
			begin_stop(s);
		if (s->stopping) {
			now = sl_now_ms();
			if (cn_list_empty(&s->live))
				break;
			if (now >= s->drain_deadline_ms) {
				sl_warn("stopping: %zu fetches did not finish "
					"in time",
					cn_flights_count(s->flights));
				abandon_flights(s);
				break;
			}
			timeout = (long)SL_MIN(s->drain_deadline_ms - now,
					       (uint64_t)RETRY_MS);
		} else if (s->fq.head || s->dq.head) {
			timeout = RETRY_MS;
		}
		if (s->pending_reqs < MAX_PENDING) {
			ir = n;
			items[n++] =
				(zmq_pollitem_t){s->router, 0, ZMQ_POLLIN, 0};
		}
		iw = n;
		items[n++] = (zmq_pollitem_t){NULL, cn_workers_fd(s->workers),
					      ZMQ_POLLIN, 0};
		ik = n;
		items[n++] = (zmq_pollitem_t){NULL, s->wake_fd, ZMQ_POLLIN, 0};
		if (s->disk) {
			id = n;
			items[n++] = (zmq_pollitem_t){
				NULL, cn_disktier_fd(s->disk), ZMQ_POLLIN, 0};
		}
		if (s->hook_fd >= 0) {
			ih = n;
			items[n++] = (zmq_pollitem_t){NULL, s->hook_fd,
						      ZMQ_POLLIN, 0};
		}
		if (zmq_poll(items, n, timeout) < 0) {
			if (zmq_errno() == EINTR)
				continue;
			rc = -zmq_errno();
			sl_err("zmq_poll: %s", zmq_strerror(-rc));
			break;
		}
		if (items[ik].revents & ZMQ_POLLIN) {
			uint64_t v;
			ssize_t r = read(s->wake_fd, &v, sizeof(v));

			(void)r;
		}
		if (items[iw].revents & ZMQ_POLLIN)
			reap(s);
		if (id >= 0 && (items[id].revents & ZMQ_POLLIN))
			reap_disk(s);
		if (s->fq.head || s->dq.head)
			pump_reads(s);
		if (ih >= 0 && (items[ih].revents & ZMQ_POLLIN))
			s->hook_fn(s->hook_arg);
		if (ir >= 0 && (items[ir].revents & ZMQ_POLLIN)) {
			rc = drain_socket(s);
			if (rc == -ETERM)
				break;
			rc = 0;
		}
	}
	sl_notice("node %s stopped", s->node_name);
	return rc;
}

static void discard_job(cn_job_t *j, void *arg)
{
	cn_server_t *s = arg;
	fetch_t *f = cn_container_of(j, fetch_t, job);

	if (f->q) {
		f->q->active--;
		f->q = NULL;
	}
	fetch_free(s, f);
}

void cn_server_destroy(cn_server_t **sp)
{
	cn_server_t *s = sp ? *sp : NULL;
	int linger = LINGER_MS;

	if (!s)
		return;
	/* Replies already queued get LINGER_MS to leave; terminating the
	 * context releases every zero-copy block reference. */
	if (s->router) {
		zmq_setsockopt(s->router, ZMQ_LINGER, &linger, sizeof(linger));
		zmq_close(s->router);
	}
	if (s->zctx)
		zmq_ctx_term(s->zctx);
	s->router = NULL;
	cn_metrics_http_stop(&s->http);
	if (s->tier)
		fail_queued(s, 0);
	/* Writes in flight and queued get drain_ms to finish, so that a
	 * restart finds them; reads still out free their fetches. */
	s->destroying = 1;
	if (s->disk) {
		if (cn_disktier_flush(s->disk, s->opts.drain_ms) < 0)
			sl_warn("stopping: disk writes did not finish in time");
		cn_ramtier_set_evict_hook(s->tier, NULL, NULL);
		cn_disktier_destroy(&s->disk);
	}
	cn_workers_destroy(&s->workers, discard_job, s);
	cn_flights_destroy(&s->flights);
	cn_metacache_destroy(&s->meta);
	cn_ramtier_destroy(&s->tier);
	for (size_t i = 0; i < s->n_ds; i++)
		cn_dataset_unref(&s->ds[i]);
	free(s->ds);
	cn_backends_destroy(&s->backends);
	sl_ring_destroy(&s->ring);
	free(s->hello);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	sl_config_destroy(&s->cfg);
	free(s);
	*sp = NULL;
}
