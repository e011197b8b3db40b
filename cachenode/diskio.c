/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The disk I/O engine (see diskio.h): a thread, an io_uring ring it alone
 * touches, and two inboxes (common/inbox.h): operations to the thread,
 * finished ones back to the event thread.
 *
 * One file operation, one chain.  A READ is three linked SQEs on one
 * registered ("direct") descriptor slot: OPENAT into the slot, READV from
 * it, CLOSE of it.  The open is soft-linked to the read (a failed open
 * cancels the rest: there is nothing to close) and the read hard-linked to
 * the close (a failed or short read still closes).  So one submission does
 * the whole operation, no descriptor ever reaches the process's table, and
 * no round trip through this thread separates the open from the read.
 * A WRITE is the same chain with WRITEV into a new file under tmp/, then,
 * once all three have completed, either RENAMEAT to its final name (every
 * byte written, closed without error) or UNLINKAT of the temporary file.
 * Rename is atomic, so a file under a final name was complete when it got
 * that name; a crash leaves at most files under tmp/, which the tier
 * deletes at start.  There is no fsync: a cache may lose blocks on power
 * loss, and the tier checks every block's checksum when it reads it.
 *
 * Queue depth: at most qd operations are in flight (one slot each); the
 * rest wait in a FIFO on this thread, so the kernel never holds more than
 * about 3 x qd requests of ours and memory stays bounded by what the
 * callers queue.
 *
 * Waking up: the thread sleeps in io_uring_enter() only.  A POLL_ADD of
 * its inbox's eventfd is always armed on the ring, so a submission from
 * the event thread (the inbox writes the eventfd when it was empty)
 * completes that poll and wakes the thread; a one-second timeout paces the
 * free-space readings.  A stop or a request for a fresh reading posts the
 * engine's own wake-up element, queued once at most.  Finished operations
 * go back through the event thread's inbox, which it polls.
 */
#include "cachenode/diskio.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/inbox.h"
#include "common/util.h"

#define SPACE_MS 1000 /* free-space readings, at least this often */
#define TAG_POLL 0    /* user_data of the inbox eventfd's poll */

/* The step of a chain a completion belongs to: user_data's low bits. */
enum { ST_OPEN = 0, ST_IO = 1, ST_CLOSE = 2, ST_ONE = 3 };
#define ST_MASK 3ull

/* WRITE phases: the chain, then the rename, then (on failure) unlink. */
enum { PH_CHAIN, PH_RENAME, PH_UNLINK };

struct cn_diskio {
	int root_fd; /* borrowed */
	unsigned qd;
	int direct;
	pthread_t thread;
	int started;
	sl_inbox_t *in;	  /* event thread -> disk thread */
	sl_inbox_t *out;  /* disk thread -> event thread */
	cn_dio_op_t wake; /* in d->in while wake_posted */
	_Atomic int wake_posted;
	_Atomic int stop;

	pthread_mutex_t lock;
	pthread_cond_t cond; /* start-up handshake */
	int init_done;	     /* protected by d->lock */
	int init_rc;	     /* protected by d->lock */

	_Atomic uint64_t avail;
	_Atomic uint64_t size;
	_Atomic uint64_t files;
	_Atomic uint64_t gen;
	_Atomic int want_space;

	/* The disk thread's own. */
	struct io_uring ring;
	sl_fifo_t pend; /* waiting for a slot */
	sl_fifo_t fin;	/* finished this turn */
	unsigned inflight;
	int *free_slots;
	unsigned n_free;
	int poll_armed;
	uint64_t tmp_seq;
	uint64_t space_ms;
};

static cn_dio_op_t *op_of(sl_qlink_t *l)
{
	return l ? sl_container_of(l, cn_dio_op_t, link) : NULL;
}

/* ---- The disk thread ------------------------------------------------- */

/* Room for n SQEs, submitting what is queued if needed, so that a chain
 * is never split across two submissions (which would cut its links). */
static void need_sqes(cn_diskio_t *d, unsigned n)
{
	if (io_uring_sq_space_left(&d->ring) < n)
		io_uring_submit(&d->ring);
	SL_ASSERT(io_uring_sq_space_left(&d->ring) >= n);
}

static struct io_uring_sqe *sqe_for(cn_diskio_t *d, cn_dio_op_t *op, int step)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&d->ring);

	SL_ASSERT(sqe);
	io_uring_sqe_set_data64(sqe,
				op ? (uint64_t)(uintptr_t)op | step : TAG_POLL);
	return sqe;
}

static void arm_poll(cn_diskio_t *d)
{
	struct io_uring_sqe *sqe;

	need_sqes(d, 1);
	sqe = sqe_for(d, NULL, 0);
	io_uring_prep_poll_add(sqe, sl_inbox_fd(d->in), POLLIN);
	d->poll_armed = 1;
}

static void read_space(cn_diskio_t *d)
{
	struct statvfs sv;

	d->space_ms = sl_now_ms();
	if (fstatvfs(d->root_fd, &sv) < 0)
		return;
	atomic_store(&d->avail, (uint64_t)sv.f_bavail * sv.f_frsize);
	atomic_store(&d->size, (uint64_t)sv.f_blocks * sv.f_frsize);
	/* Filesystems without an inode limit report 0 of 0. */
	atomic_store(&d->files,
		     sv.f_files ? (uint64_t)sv.f_favail : UINT64_MAX);
	atomic_fetch_add(&d->gen, 1);
}

static void finish(cn_diskio_t *d, cn_dio_op_t *op)
{
	op->lat_ns = sl_now_ns() - op->t0;
	if (op->post)
		op->post(op);
	if (op->res == -ENOSPC || op->res == -EDQUOT)
		atomic_store(&d->want_space, 1);
	d->inflight--;
	sl_fifo_push(&d->fin, &op->link);
}

static void release_slot(cn_diskio_t *d, cn_dio_op_t *op)
{
	if (op->slot >= 0) {
		d->free_slots[d->n_free++] = op->slot;
		op->slot = -1;
	}
}

static void start(cn_diskio_t *d, cn_dio_op_t *op)
{
	struct io_uring_sqe *sqe;
	const char *path = op->path;
	/* No O_CLOEXEC: a direct descriptor is never in the process's table
	 * (and io_uring refuses the flag for one). */
	int flags = d->direct ? O_DIRECT : 0;

	op->t0 = sl_now_ns();
	op->res = 0;
	op->r_open = op->r_io = op->r_close = op->r_err = 0;
	op->phase = PH_CHAIN;
	op->slot = -1;
	if (op->prep)
		op->prep(op);
	d->inflight++;
	if (op->kind == CN_DIO_UNLINK) {
		op->cqes = 1;
		need_sqes(d, 1);
		sqe = sqe_for(d, op, ST_ONE);
		io_uring_prep_unlinkat(sqe, d->root_fd, op->path, 0);
		return;
	}
	SL_ASSERT(d->n_free > 0);
	op->slot = d->free_slots[--d->n_free];
	op->cqes = 3;
	if (op->kind == CN_DIO_WRITE) {
		snprintf(op->tmp, sizeof(op->tmp), "tmp/%" PRIx64,
			 d->tmp_seq++);
		path = op->tmp;
		flags |= O_WRONLY | O_CREAT | O_EXCL;
	} else {
		flags |= O_RDONLY;
	}
	need_sqes(d, 3);
	sqe = sqe_for(d, op, ST_OPEN);
	io_uring_prep_openat_direct(sqe, d->root_fd, path, flags, 0644,
				    (unsigned)op->slot);
	sqe->flags |= IOSQE_IO_LINK;
	sqe = sqe_for(d, op, ST_IO);
	if (op->kind == CN_DIO_WRITE)
		io_uring_prep_writev(sqe, op->slot, op->iov, (unsigned)op->niov,
				     0);
	else
		io_uring_prep_readv(sqe, op->slot, op->iov, (unsigned)op->niov,
				    0);
	sqe->flags |= IOSQE_FIXED_FILE | IOSQE_IO_HARDLINK;
	sqe = sqe_for(d, op, ST_CLOSE);
	io_uring_prep_close_direct(sqe, (unsigned)op->slot);
}

static size_t iov_total(const cn_dio_op_t *op)
{
	size_t n = 0;

	for (int i = 0; i < op->niov; i++)
		n += op->iov[i].iov_len;
	return n;
}

/* A WRITE's follow-up: rename the complete file, or remove the partial
 * one. */
static void write_next(cn_diskio_t *d, cn_dio_op_t *op, int phase)
{
	struct io_uring_sqe *sqe;

	op->phase = phase;
	op->cqes = 1;
	need_sqes(d, 1);
	sqe = sqe_for(d, op, ST_ONE);
	if (phase == PH_RENAME)
		io_uring_prep_renameat(sqe, d->root_fd, op->tmp, d->root_fd,
				       op->path, 0);
	else
		io_uring_prep_unlinkat(sqe, d->root_fd, op->tmp, 0);
}

/* Every completion of op's current step has arrived; last is the result
 * of a single-SQE step. */
static void step_done(cn_diskio_t *d, cn_dio_op_t *op, ssize_t last)
{
	if (op->kind == CN_DIO_UNLINK) {
		op->res = last;
		finish(d, op);
		return;
	}
	if (op->kind == CN_DIO_READ) {
		release_slot(d, op);
		op->res = op->r_open < 0 ? op->r_open : op->r_io;
		finish(d, op);
		return;
	}
	switch (op->phase) {
	case PH_CHAIN:
		release_slot(d, op);
		if (op->r_open < 0) {
			op->res = op->r_open;
			finish(d, op);
		} else if (op->r_io == (ssize_t)iov_total(op) &&
			   op->r_close >= 0) {
			write_next(d, op, PH_RENAME);
		} else {
			/* A short write is a full disk. */
			op->r_err = op->r_io < 0      ? op->r_io
				    : op->r_close < 0 ? op->r_close
						      : -ENOSPC;
			write_next(d, op, PH_UNLINK);
		}
		break;
	case PH_RENAME:
		if (last < 0) {
			op->r_err = last;
			write_next(d, op, PH_UNLINK);
		} else {
			op->res = op->r_io;
			finish(d, op);
		}
		break;
	default:
		op->res = op->r_err;
		finish(d, op);
		break;
	}
}

static void on_cqe(cn_diskio_t *d, const struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	cn_dio_op_t *op = (cn_dio_op_t *)(uintptr_t)(ud & ~ST_MASK);

	if (ud == TAG_POLL) {
		d->poll_armed = 0;
		return;
	}
	switch (ud & ST_MASK) {
	case ST_OPEN:
		op->r_open = cqe->res;
		break;
	case ST_IO:
		op->r_io = cqe->res;
		break;
	case ST_CLOSE:
		op->r_close = cqe->res;
		break;
	default:
		break;
	}
	if (--op->cqes == 0)
		step_done(d, op, cqe->res);
}

static void drain_cqes(cn_diskio_t *d)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&d->ring, head, cqe)
	{
		on_cqe(d, cqe);
		n++;
	}
	io_uring_cq_advance(&d->ring, n);
}

/* Finished operations back to the event thread, one wake-up a batch. */
static void hand_over(cn_diskio_t *d)
{
	int rc = sl_inbox_post_all(d->out, &d->fin);

	SL_ASSERT(rc == 0); /* d->out is never closed */
}

/* Take what was submitted (and the wake-up element, if posted) into
 * pend. */
static void take_inbox(cn_diskio_t *d)
{
	sl_fifo_t in;
	cn_dio_op_t *op;

	sl_fifo_init(&in);
	sl_inbox_take(d->in, &in);
	while ((op = op_of(sl_fifo_pop(&in)))) {
		if (op == &d->wake)
			atomic_store(&d->wake_posted, 0);
		else
			sl_fifo_push(&d->pend, &op->link);
	}
}

static int ring_init(cn_diskio_t *d)
{
	static const int needed[] = {
		IORING_OP_OPENAT,   IORING_OP_READV,	IORING_OP_WRITEV,
		IORING_OP_CLOSE,    IORING_OP_RENAMEAT, IORING_OP_UNLINKAT,
		IORING_OP_POLL_ADD,
	};
	struct io_uring_params p;
	struct io_uring_probe *probe;
	unsigned entries = 16;
	int rc, *fds;

	while (entries < 3 * d->qd + 8)
		entries *= 2;
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN |
		  IORING_SETUP_SINGLE_ISSUER;
	rc = io_uring_queue_init_params(entries, &d->ring, &p);
	if (rc == -EINVAL) { /* a kernel before 6.0 */
		memset(&p, 0, sizeof(p));
		rc = io_uring_queue_init_params(entries, &d->ring, &p);
	}
	if (rc < 0)
		return rc;
	probe = io_uring_get_probe_ring(&d->ring);
	for (size_t i = 0; probe && i < SL_ARRAY_SIZE(needed); i++)
		if (!io_uring_opcode_supported(probe, needed[i]))
			rc = -EOPNOTSUPP;
	if (probe)
		io_uring_free_probe(probe);
	if (rc == 0) {
		rc = io_uring_register_files_sparse(&d->ring, d->qd);
		if (rc < 0) { /* before 5.19: a table of empty slots */
			fds = sl_xmalloc(d->qd * sizeof(*fds));
			for (unsigned i = 0; i < d->qd; i++)
				fds[i] = -1;
			rc = io_uring_register_files(&d->ring, fds, d->qd);
			free(fds);
		}
	}
	if (rc < 0) {
		io_uring_queue_exit(&d->ring);
		return rc;
	}
	d->free_slots = sl_xmalloc(d->qd * sizeof(*d->free_slots));
	for (unsigned i = 0; i < d->qd; i++)
		d->free_slots[i] = (int)(d->qd - 1 - i);
	d->n_free = d->qd;
	return 0;
}

static void *dio_main(void *arg)
{
	cn_diskio_t *d = arg;
	struct io_uring_cqe *cqe;
	cn_dio_op_t *op;
	int rc = ring_init(d), stop;

	if (rc == 0)
		read_space(d); /* before anyone asks */
	pthread_mutex_lock(&d->lock);
	d->init_rc = rc;
	d->init_done = 1;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
	if (rc < 0)
		return NULL;
	arm_poll(d);
	for (;;) {
		uint64_t now, wait_ms;
		struct __kernel_timespec ts;

		/* stop and want_space after the take, which clears
		 * wake_posted: a wake-up skipped because the element was
		 * still queued is seen here. */
		take_inbox(d);
		stop = atomic_load(&d->stop);
		if (atomic_exchange(&d->want_space, 0) ||
		    sl_now_ms() >= d->space_ms + SPACE_MS)
			read_space(d);
		if (stop) {
			while ((op = op_of(sl_fifo_pop(&d->pend)))) {
				op->res = -ECANCELED;
				op->cancelled = 1;
				sl_fifo_push(&d->fin, &op->link);
			}
		}
		while (!sl_fifo_empty(&d->pend) && d->inflight < d->qd)
			start(d, op_of(sl_fifo_pop(&d->pend)));
		if (!d->poll_armed && !stop)
			arm_poll(d);
		hand_over(d);
		/* The poll completes before the ring goes, so that nothing
		 * of ours is left on it: cn_diskio_destroy wakes the thread
		 * after setting stop. */
		if (stop && d->inflight == 0 && !d->poll_armed)
			break;
		now = sl_now_ms();
		wait_ms = d->space_ms + SPACE_MS > now
				  ? d->space_ms + SPACE_MS - now
				  : 1;
		ts.tv_sec = (long long)(wait_ms / 1000);
		ts.tv_nsec = (long long)(wait_ms % 1000) * 1000000;
		rc = io_uring_submit_and_wait_timeout(&d->ring, &cqe, 1, &ts,
						      NULL);
		(void)rc; /* -ETIME, -EINTR: look again */
		drain_cqes(d);
	}
	hand_over(d);
	io_uring_queue_exit(&d->ring);
	free(d->free_slots);
	d->free_slots = NULL;
	return NULL;
}

/* ---- The event thread's side ----------------------------------------- */

cn_diskio_t *cn_diskio_new(int root_fd, unsigned qd, int direct, int *err)
{
	cn_diskio_t *d = sl_xcalloc(1, sizeof(*d));
	int rc;

	d->root_fd = root_fd;
	d->qd = qd ? qd : CN_DIO_QD;
	d->direct = direct;
	sl_fifo_init(&d->pend);
	sl_fifo_init(&d->fin);
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	d->in = sl_inbox_new(err);
	if (d->in)
		d->out = sl_inbox_new(err);
	if (!d->out)
		goto out_err;
	rc = pthread_create(&d->thread, NULL, dio_main, d);
	if (rc != 0) {
		*err = -rc;
		goto out_err;
	}
	d->started = 1;
	pthread_mutex_lock(&d->lock);
	while (!d->init_done)
		pthread_cond_wait(&d->cond, &d->lock);
	rc = d->init_rc;
	pthread_mutex_unlock(&d->lock);
	if (rc < 0) {
		*err = rc;
		goto out_err;
	}
	return d;
out_err:
	cn_diskio_destroy(&d, NULL, NULL);
	return NULL;
}

/* Wake the disk thread up without an operation: post the engine's own
 * element, unless it is already queued. */
static void wake(cn_diskio_t *d)
{
	int rc;

	if (atomic_exchange(&d->wake_posted, 1))
		return;
	rc = sl_inbox_post(d->in, &d->wake.link);
	SL_ASSERT(rc == 0); /* d->in is never closed */
}

void cn_diskio_destroy(cn_diskio_t **dp,
		       void (*done)(cn_dio_op_t *op, void *arg), void *arg)
{
	cn_diskio_t *d = dp ? *dp : NULL;
	sl_fifo_t back;
	cn_dio_op_t *op;

	if (!d)
		return;
	if (d->started) {
		atomic_store(&d->stop, 1);
		wake(d);
		pthread_join(d->thread, NULL);
	}
	/* The thread is gone: what it never took is cancelled. */
	sl_fifo_init(&back);
	if (d->in)
		take_inbox(d);
	if (d->out)
		sl_inbox_take(d->out, &back);
	while ((op = op_of(sl_fifo_pop(&d->pend)))) {
		op->res = -ECANCELED;
		op->cancelled = 1;
		sl_fifo_push(&back, &op->link);
	}
	while ((op = op_of(sl_fifo_pop(&back)))) {
		SL_ASSERT(done);
		done(op, arg);
	}
	sl_inbox_destroy(&d->in);
	sl_inbox_destroy(&d->out);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
	*dp = NULL;
}

int cn_diskio_fd(const cn_diskio_t *d)
{
	return sl_inbox_fd(d->out);
}

void cn_diskio_submit(cn_diskio_t *d, cn_dio_op_t *op)
{
	int rc;

	SL_ASSERT(((uintptr_t)op & ST_MASK) == 0);
	op->cancelled = 0;
	rc = sl_inbox_post(d->in, &op->link);
	SL_ASSERT(rc == 0);
}

size_t cn_diskio_reap(cn_diskio_t *d, sl_fifo_t *out)
{
	return sl_inbox_take(d->out, out);
}

void cn_diskio_space(cn_diskio_t *d, cn_diskio_space_t *out)
{
	out->gen = atomic_load(&d->gen);
	out->avail = atomic_load(&d->avail);
	out->size = atomic_load(&d->size);
	out->files = atomic_load(&d->files);
}

void cn_diskio_refresh_space(cn_diskio_t *d)
{
	atomic_store(&d->want_space, 1);
	wake(d);
}
