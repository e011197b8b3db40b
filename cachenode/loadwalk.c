/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A dataset walk's own thread (see load.c for the walk, load_i.h for what
 * the halves share): it lists the prefix depth first from the backend,
 * keeps the blocks this node owns (LOAD) or every block (EVICT), posts
 * probes and drops to the event thread and awaits the probes' answers,
 * and READs the missing blocks from this node, `parallel` at once.
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

void *cn_load_walk_main(void *arg)
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
