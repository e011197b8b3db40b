/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Telling the kernel to drop what it cached: an inode's pages and
 * attributes (the file changed in the store) or a directory entry (the
 * name is gone, or the inode table wants the kernel to forget a cold
 * entry).  libfuse's notify calls may block on kernel locks that a request
 * in flight holds -- page locks of a READ, the parent's lock of a LOOKUP
 * -- so a request handler that called them itself could wait on its own
 * reply, and with one FUSE thread always would.  Request threads
 * therefore post invalidations here, and one notifier thread of this
 * module makes the calls.  The only exception is fc_notify_attr_now():
 * dropping an inode's attributes takes no lock a request holds (the
 * kernel bumps the inode's attribute version and marks its attributes
 * stale), so a handler may do it before it replies and the caller's next
 * stat is fresh.
 *
 * It also puts bytes into the kernel's page cache (fc_notify_store): the
 * same page locks apply, so that goes through the thread too.
 *
 * Bounded: at most FC_NOTIFY_MAX invalidations wait; past that a post is
 * dropped and counted (the kernel then keeps the entry until its timeout).
 * Stores waiting hold at most FC_NOTIFY_STORE_MAX bytes of their callers'
 * memory; past that a store is refused (it is only ever a head start).
 *
 * Every call accepts a NULL notifier and then does nothing (a
 * filesystem without a session: the unit tests).
 *
 * Thread safety: fc_notify_inode(), fc_notify_entry(), fc_notify_attr_now()
 * and fc_notify_stats() from any thread; new and destroy from one thread
 * while no other uses the notifier.
 */
#ifndef FC_NOTIFY_H
#define FC_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#define FC_NOTIFY_MAX	    65536
#define FC_NOTIFY_STORE_MAX (8u << 20)

struct fuse_session;
typedef struct fc_notify fc_notify_t;

/* A notifier for session se (borrowed; must outlive it), its thread
 * started.  NULL with *err = -errno when the thread or its eventfd cannot
 * be made.  Caller frees with fc_notify_destroy, which stops the thread
 * and drops what still waits. */
fc_notify_t *fc_notify_new(struct fuse_session *se, int *err);
void fc_notify_destroy(fc_notify_t **np);

/* Drop ino's cached pages and attributes (asynchronously). */
void fc_notify_inode(fc_notify_t *n, uint64_t ino);
/* Drop the dentry name[0..len) of directory parent (asynchronously; name
 * borrowed, copied).  The kernel then forgets the inode once unused. */
void fc_notify_entry(fc_notify_t *n, uint64_t parent, const char *name,
		     size_t len);
/* Run fn(n, arg) on the notifier thread, soon (arg borrowed until then):
 * work that ends in many invalidations, made there with
 * fc_notify_entry_now().  Not bounded: the caller posts one at a time. */
typedef void fc_notify_fn(fc_notify_t *n, void *arg);
void fc_notify_call(fc_notify_t *n, fc_notify_fn *fn, void *arg);
/* As fc_notify_entry, but now: only inside a function fc_notify_call runs. */
void fc_notify_entry_now(fc_notify_t *n, uint64_t parent, const char *name,
			 size_t len);

/*
 * Put data[0..len) into the kernel's page cache of ino at offset off
 * (asynchronously), so that reads of it there need no request.  data is
 * borrowed until done(arg) is called, on the notifier thread or in this
 * call (n NULL, the bound reached, or stopping), exactly once.  The range
 * must lie inside the file: the kernel would grow the file to hold it.
 */
typedef void fc_notify_done_fn(void *arg);
void fc_notify_store(fc_notify_t *n, uint64_t ino, uint64_t off,
		     const void *data, size_t len, fc_notify_done_fn *done,
		     void *arg);

/* Mark ino's attributes stale now; safe inside any request handler (see
 * above).  Returns 0 or -errno (-ENOENT: the kernel holds no such inode). */
int fc_notify_attr_now(fc_notify_t *n, uint64_t ino);

typedef struct fc_notify_stats {
	uint64_t done;	  /* invalidations the kernel took */
	uint64_t dropped; /* posts refused: the queue was full */
	uint64_t stored;  /* bytes put into the page cache */
} fc_notify_stats_t;

void fc_notify_stats(fc_notify_t *n, fc_notify_stats_t *out);

#endif
