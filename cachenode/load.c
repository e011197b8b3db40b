/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LOAD and EVICT: walks of a dataset's prefix (see load.h for the
 * threads, PROTOCOL.md for the contract).  This file is the event
 * thread's half (requests, probes and drops answered, progress, the end);
 * the walk's own thread is loadwalk.c, and load_i.h what the two share.
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
#include "cachenode/load_i.h"

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

void cn_loads_cancel(cn_server_t *s)
{
	cn_loads_t *l = s->loads;

	for (size_t i = 0; l && i < l->n; i++)
		atomic_store(&l->w[i]->cancel, 2);
}

size_t cn_loads_running(const cn_server_t *s)
{
	return s->loads ? s->loads->n : 0;
}

void cn_loads_stop(cn_server_t *s)
{
	cn_loads_t *l = s->loads;

	if (!l)
		return;
	cn_loads_cancel(s);
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
	rc = pthread_create(&w->thread, NULL, cn_load_walk_main, w);
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
	int rc = pr_target_decode(&q, body, len);
	cn_dataset_t *ds = prologue(s, a, rc, q.dataset, q.path, path);
	walk_t *w = ds ? walk_new(s, a, W_EVICT, ds, path) : NULL;

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
