/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The notifier (see notify.h): request threads post invalidations into an
 * inbox (common/inbox.h); one thread takes them in batches and hands each
 * to libfuse, which writes it to /dev/fuse.  A post that finds the queue
 * full is dropped rather than waited for: a request thread must never
 * block on the kernel's caches.
 */
#include "fuse/notify.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "common/inbox.h"
#include "common/list.h"
#include "common/log.h"
#include "common/util.h"

enum { NOTE_INODE, NOTE_ENTRY, NOTE_CALL, NOTE_STORE, NOTE_STOP };

struct note {
	sl_qlink_t link;
	int kind;
	fc_notify_fn *fn; /* NOTE_CALL */
	void *arg;
	fc_notify_done_fn *done; /* NOTE_STORE: its data, to give back */
	const void *data;
	uint64_t off;
	uint64_t ino; /* the inode, or an entry's parent */
	size_t len;
	char name[]; /* an entry's name, NUL-terminated */
};

struct fc_notify {
	struct fuse_session *se;
	sl_inbox_t *inbox;
	pthread_t thread;
	_Atomic uint64_t waiting; /* posted, not yet taken by the thread */
	_Atomic uint64_t done;
	_Atomic uint64_t dropped;
	_Atomic uint64_t store_bytes; /* of stores waiting */
	_Atomic uint64_t stored;
};

static void invalidate(fc_notify_t *n, int kind, uint64_t ino, const char *name,
		       size_t len)
{
	int rc;

	if (kind == NOTE_INODE)
		rc = fuse_lowlevel_notify_inval_inode(n->se, ino, 0, 0);
	else
		rc = fuse_lowlevel_notify_inval_entry(n->se, ino, name, len);
	/* -ENOENT: the kernel had already let it go. */
	if (rc == 0 || rc == -ENOENT)
		atomic_fetch_add(&n->done, 1);
	else
		sl_log_ratelimited(SL_LOG_DEBUG, "invalidate %s %llu %.*s: %s",
				   kind == NOTE_INODE ? "inode" : "entry",
				   (unsigned long long)ino, (int)len,
				   name ? name : "", strerror(-rc));
}

/* The kernel copies the bytes out of the iovec before it returns. */
static void store(fc_notify_t *n, const struct note *x)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(x->len);
	int rc;

	bv.buf[0].mem = (void *)x->data;
	rc = fuse_lowlevel_notify_store(n->se, x->ino, x->off, &bv, 0);
	if (rc == 0)
		atomic_fetch_add(&n->stored, x->len);
	else if (rc != -ENOENT) /* -ENOENT: the kernel let the inode go */
		sl_log_ratelimited(SL_LOG_DEBUG, "store inode %llu: %s",
				   (unsigned long long)x->ino, strerror(-rc));
}

/* Give a store's data back (done, or dropped). */
static void store_done(fc_notify_t *n, const struct note *x)
{
	atomic_fetch_sub(&n->store_bytes, x->len);
	x->done(x->arg);
}

static void apply(fc_notify_t *n, const struct note *x)
{
	if (x->kind == NOTE_CALL) {
		x->fn(n, x->arg);
	} else if (x->kind == NOTE_STORE) {
		store(n, x);
		store_done(n, x);
	} else {
		invalidate(n, x->kind, x->ino, x->name, x->len);
	}
}

static void *notify_main(void *arg)
{
	fc_notify_t *n = arg;
	int stop = 0;

	while (!stop) {
		struct pollfd p = {.fd = sl_inbox_fd(n->inbox),
				   .events = POLLIN};
		sl_fifo_t batch;
		sl_qlink_t *l;

		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			break;
		sl_fifo_init(&batch);
		sl_inbox_take(n->inbox, &batch);
		while ((l = sl_fifo_pop(&batch))) {
			struct note *x = sl_container_of(l, struct note, link);

			atomic_fetch_sub(&n->waiting, 1);
			if (x->kind == NOTE_STOP)
				stop = 1;
			else if (!stop)
				apply(n, x);
			else if (x->kind == NOTE_STORE)
				store_done(n, x);
			free(x);
		}
	}
	return NULL;
}

fc_notify_t *fc_notify_new(struct fuse_session *se, int *err)
{
	fc_notify_t *n = sl_xcalloc(1, sizeof(*n));
	int rc;

	n->se = se;
	n->inbox = sl_inbox_new(err);
	if (!n->inbox) {
		free(n);
		return NULL;
	}
	rc = pthread_create(&n->thread, NULL, notify_main, n);
	if (rc != 0) {
		*err = -rc;
		sl_inbox_destroy(&n->inbox);
		free(n);
		return NULL;
	}
	return n;
}

static void post(fc_notify_t *n, struct note *x)
{
	if (atomic_fetch_add(&n->waiting, 1) >= FC_NOTIFY_MAX ||
	    sl_inbox_post(n->inbox, &x->link) < 0) {
		atomic_fetch_sub(&n->waiting, 1);
		atomic_fetch_add(&n->dropped, 1);
		free(x);
	}
}

static struct note *note_new(int kind, uint64_t ino, const char *name,
			     size_t len)
{
	struct note *x = sl_xmalloc(sizeof(*x) + len + 1);

	x->kind = kind;
	x->fn = NULL;
	x->arg = NULL;
	x->done = NULL;
	x->data = NULL;
	x->off = 0;
	x->ino = ino;
	x->len = len;
	if (len)
		memcpy(x->name, name, len);
	x->name[len] = '\0';
	return x;
}

void fc_notify_destroy(fc_notify_t **np)
{
	fc_notify_t *n = np ? *np : NULL;
	sl_fifo_t rest;
	sl_qlink_t *l;
	int rc;

	if (!n)
		return;
	/* The stop note bypasses the bound: the thread must see it.  The
	 * inbox is open until below, so the post cannot fail. */
	atomic_fetch_add(&n->waiting, 1);
	rc = sl_inbox_post(n->inbox, &note_new(NOTE_STOP, 0, NULL, 0)->link);
	SL_ASSERT(rc == 0);
	pthread_join(n->thread, NULL);
	sl_inbox_close(n->inbox);
	sl_fifo_init(&rest);
	sl_inbox_take(n->inbox, &rest);
	while ((l = sl_fifo_pop(&rest))) {
		struct note *x = sl_container_of(l, struct note, link);

		if (x->kind == NOTE_STORE)
			store_done(n, x);
		free(x);
	}
	sl_inbox_destroy(&n->inbox);
	free(n);
	*np = NULL;
}

void fc_notify_inode(fc_notify_t *n, uint64_t ino)
{
	if (n)
		post(n, note_new(NOTE_INODE, ino, NULL, 0));
}

void fc_notify_entry(fc_notify_t *n, uint64_t parent, const char *name,
		     size_t len)
{
	if (n && len)
		post(n, note_new(NOTE_ENTRY, parent, name, len));
}

void fc_notify_call(fc_notify_t *n, fc_notify_fn *fn, void *arg)
{
	struct note *x;

	if (!n)
		return;
	x = note_new(NOTE_CALL, 0, NULL, 0);
	x->fn = fn;
	x->arg = arg;
	atomic_fetch_add(&n->waiting, 1);
	if (sl_inbox_post(n->inbox, &x->link) < 0) {
		atomic_fetch_sub(&n->waiting, 1);
		free(x);
	}
}

void fc_notify_store(fc_notify_t *n, uint64_t ino, uint64_t off,
		     const void *data, size_t len, fc_notify_done_fn *done,
		     void *arg)
{
	struct note *x;

	if (!n || !len ||
	    atomic_fetch_add(&n->store_bytes, len) + len >
		    FC_NOTIFY_STORE_MAX) {
		if (n)
			atomic_fetch_sub(&n->store_bytes, len);
		done(arg);
		return;
	}
	x = note_new(NOTE_STORE, ino, NULL, 0);
	x->off = off;
	x->data = data;
	x->len = len;
	x->done = done;
	x->arg = arg;
	atomic_fetch_add(&n->waiting, 1);
	if (sl_inbox_post(n->inbox, &x->link) < 0) {
		atomic_fetch_sub(&n->waiting, 1);
		store_done(n, x);
		free(x);
	}
}

void fc_notify_entry_now(fc_notify_t *n, uint64_t parent, const char *name,
			 size_t len)
{
	invalidate(n, NOTE_ENTRY, parent, name, len);
}

int fc_notify_attr_now(fc_notify_t *n, uint64_t ino)
{
	if (!n)
		return 0;
	/* A negative offset: attributes only, no page is touched. */
	return fuse_lowlevel_notify_inval_inode(n->se, ino, -1, 0);
}

void fc_notify_stats(fc_notify_t *n, fc_notify_stats_t *out)
{
	memset(out, 0, sizeof(*out));
	if (!n)
		return;
	out->done = atomic_load(&n->done);
	out->dropped = atomic_load(&n->dropped);
	out->stored = atomic_load(&n->stored);
}
