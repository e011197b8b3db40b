/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The disk I/O engine under the NVMe tier: one thread that owns an io_uring
 * ring and runs whole-file operations on files below one root directory --
 * read a file, write a file so that it appears complete or not at all,
 * unlink a file -- with a bounded number in flight, batching every
 * submission it has into one io_uring_enter().  It is to the disk what
 * cn_workers is to the backend: operations go in from the event thread with
 * cn_diskio_submit(), finished ones come back through an eventfd and
 * cn_diskio_reap(), so the event thread never waits for the disk, not even
 * for an open() or a rename().
 *
 * An operation may carry CPU work that belongs with its I/O (checksums,
 * copies into aligned buffers): prep() runs on the disk thread before its
 * SQEs are queued, post() after its last completion, so that work is spread
 * away from the event thread too.
 *
 * The thread also keeps a reading of the filesystem's free space (fstatvfs
 * once a second, and at once after an ENOSPC) for cn_diskio_space().
 *
 * Threads: every cn_diskio_* function is for one thread (the event thread),
 * except cn_diskio_space (any thread).  An operation belongs to the engine
 * between submit and reap; its prep/post hooks run on the disk thread and
 * may touch only the operation and what it points to.
 */
#ifndef CN_DISKIO_H
#define CN_DISKIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "common/list.h"

#define CN_DIO_PATH 64 /* a relative path, with its NUL */
#define CN_DIO_QD   64 /* default operations in flight */

enum cn_dio_kind {
	CN_DIO_READ,   /* open path, readv into iov, close */
	CN_DIO_WRITE,  /* write iov to a new file, rename it to path */
	CN_DIO_UNLINK, /* unlink path */
};

typedef struct cn_dio_op {
	sl_qlink_t link; /* the engine's while it owns the op */
	/* Set by the submitter. */
	int kind;
	char path[CN_DIO_PATH]; /* relative to the engine's root */
	struct iovec iov[2];	/* READ, WRITE; with O_DIRECT, aligned */
	int niov;
	void (*prep)(struct cn_dio_op *op); /* disk thread; may be NULL */
	void (*post)(struct cn_dio_op *op); /* disk thread; may set res */
	/* Results, valid after reap.  res: READ bytes read, WRITE bytes
	 * written (the file complete under path), UNLINK 0; or -errno
	 * (-ECANCELED with cancelled = 1 when the engine stopped first). */
	ssize_t res;
	uint64_t lat_ns; /* queued on the ring to completed */
	int cancelled;
	/* Engine private. */
	int slot;
	int cqes;
	int phase;
	ssize_t r_open, r_io, r_close, r_err;
	uint64_t t0;
	char tmp[24];
} cn_dio_op_t;

typedef struct cn_diskio cn_diskio_t;

/* A free-space reading of the root's filesystem.  gen grows with each. */
typedef struct cn_diskio_space {
	uint64_t avail; /* bytes an unprivileged writer may still use */
	uint64_t size;	/* bytes in the filesystem */
	uint64_t files; /* inodes it may still create */
	uint64_t gen;	/* 0: no reading yet */
} cn_diskio_space_t;

/*
 * An engine for files below root_fd (an O_DIRECTORY descriptor, borrowed;
 * it must outlive the engine, and hold a "tmp" directory for writes in
 * progress) with at most qd operations in flight (0: CN_DIO_QD), opening
 * files with O_DIRECT when direct is set.  Returns NULL with *err =
 * -errno when io_uring or a needed operation is not available.  Caller
 * frees with cn_diskio_destroy.
 */
cn_diskio_t *cn_diskio_new(int root_fd, unsigned qd, int direct, int *err);

/*
 * Stop: operations not yet started complete as cancelled, those in flight
 * finish (a write in flight still renames), then the thread exits.  Every
 * operation not yet reaped is passed to done(op, arg) so its owner can free
 * it.  Accepts NULL; clears *dp.
 */
void cn_diskio_destroy(cn_diskio_t **dp,
		       void (*done)(cn_dio_op_t *op, void *arg), void *arg);

/* Readable while finished operations wait to be reaped.  Borrowed. */
int cn_diskio_fd(const cn_diskio_t *d);

/* Queue op (transferred to the engine until reaped). */
void cn_diskio_submit(cn_diskio_t *d, cn_dio_op_t *op);

/* Move every finished operation, oldest first, to the back of out (the
 * caller owns them again; linked by link); returns how many.  Clears the
 * eventfd, which may wake the caller once more with nothing to reap. */
size_t cn_diskio_reap(cn_diskio_t *d, sl_fifo_t *out);

/* The latest free-space reading.  Any thread. */
void cn_diskio_space(cn_diskio_t *d, cn_diskio_space_t *out);

/* Ask for a fresh reading soon (after space was freed, say). */
void cn_diskio_refresh_space(cn_diskio_t *d);

#endif
