/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The disk I/O engine (see diskio.h): a thread, an io_uring ring it alone
 * touches, a mutex-guarded inbox and outbox, and two eventfds.
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
 * Waking up: the thread sleeps in io_uring_enter() only.  An 8-byte READ
 * of the kick eventfd is always armed on the ring, so a submission from
 * the event thread (which writes the eventfd when the inbox was empty)
 * completes that read and wakes the thread; a one-second timeout paces the
 * free-space readings.  Finished operations go to the outbox and the done
 * eventfd, which the event thread polls.
 */
#include "cachenode/diskio.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/util.h"

#define SPACE_MS 1000 /* free-space readings, at least this often */
#define TAG_KICK 0    /* user_data of the kick eventfd's read */

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
	int kick_fd; /* event thread -> disk thread */
	int done_fd; /* disk thread -> event thread */

	pthread_mutex_t lock;
	pthread_cond_t cond;		    /* start-up handshake */
	cn_dio_op_t *in_head, *in_tail;	    /* protected by d->lock */
	cn_dio_op_t *done_head, *done_tail; /* protected by d->lock */
	int stop;			    /* protected by d->lock */
	int init_done;			    /* protected by d->lock */
	int init_rc;			    /* protected by d->lock */

	_Atomic uint64_t avail;
	_Atomic uint64_t size;
	_Atomic uint64_t files;
	_Atomic uint64_t gen;
	_Atomic int want_space;

	/* The disk thread's own. */
	struct io_uring ring;
	cn_dio_op_t *pend_head, *pend_tail; /* waiting for a slot */
	cn_dio_op_t *fin_head, *fin_tail;   /* finished this turn */
	unsigned inflight;
	int *free_slots;
	unsigned n_free;
	uint64_t kick_buf;
	int kick_armed;
	uint64_t tmp_seq;
	uint64_t space_ms;
};

static void push(cn_dio_op_t **head, cn_dio_op_t **tail, cn_dio_op_t *op)
{
	op->next = NULL;
	if (*tail)
		(*tail)->next = op;
	else
		*head = op;
	*tail = op;
}

static cn_dio_op_t *pop(cn_dio_op_t **head, cn_dio_op_t **tail)
{
	cn_dio_op_t *op = *head;

	if (op) {
		*head = op->next;
		if (!*head)
			*tail = NULL;
		op->next = NULL;
	}
	return op;
}

/* Append list [h, t] to [*head, *tail]. */
static void list_splice(cn_dio_op_t **head, cn_dio_op_t **tail, cn_dio_op_t *h,
			cn_dio_op_t *t)
{
	if (!h)
		return;
	if (*tail)
		(*tail)->next = h;
	else
		*head = h;
	*tail = t;
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
				op ? (uint64_t)(uintptr_t)op | step : TAG_KICK);
	return sqe;
}

static void arm_kick(cn_diskio_t *d)
{
	struct io_uring_sqe *sqe;

	need_sqes(d, 1);
	sqe = sqe_for(d, NULL, 0);
	io_uring_prep_read(sqe, d->kick_fd, &d->kick_buf, sizeof(d->kick_buf),
			   0);
	d->kick_armed = 1;
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
	push(&d->fin_head, &d->fin_tail, op);
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

	if (ud == TAG_KICK) {
		d->kick_armed = 0;
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

/* Finished operations to the outbox; wake the event thread. */
static void hand_over(cn_diskio_t *d)
{
	uint64_t one = 1;
	ssize_t n;

	if (!d->fin_head)
		return;
	pthread_mutex_lock(&d->lock);
	list_splice(&d->done_head, &d->done_tail, d->fin_head, d->fin_tail);
	/* Under the lock, as cn_diskio_reap clears it under the lock:
	 * readable iff the outbox is not empty. */
	n = write(d->done_fd, &one, sizeof(one));
	(void)n;
	pthread_mutex_unlock(&d->lock);
	d->fin_head = d->fin_tail = NULL;
}

static int ring_init(cn_diskio_t *d)
{
	static const int needed[] = {
		IORING_OP_OPENAT, IORING_OP_READV,    IORING_OP_WRITEV,
		IORING_OP_CLOSE,  IORING_OP_RENAMEAT, IORING_OP_UNLINKAT,
		IORING_OP_READ,
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
	cn_dio_op_t *h, *t, *op;
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
	arm_kick(d);
	for (;;) {
		uint64_t now, wait_ms;
		struct __kernel_timespec ts;

		pthread_mutex_lock(&d->lock);
		h = d->in_head;
		t = d->in_tail;
		d->in_head = d->in_tail = NULL;
		stop = d->stop;
		pthread_mutex_unlock(&d->lock);
		list_splice(&d->pend_head, &d->pend_tail, h, t);
		if (stop) {
			while ((op = pop(&d->pend_head, &d->pend_tail))) {
				op->res = -ECANCELED;
				op->cancelled = 1;
				push(&d->fin_head, &d->fin_tail, op);
			}
		}
		while (d->pend_head && d->inflight < d->qd)
			start(d, pop(&d->pend_head, &d->pend_tail));
		if (!d->kick_armed && !stop)
			arm_kick(d);
		hand_over(d);
		/* The kick read must complete before the ring goes: it
		 * writes into d.  cn_diskio_destroy kicks after setting
		 * stop, so it does. */
		if (stop && d->inflight == 0 && !d->kick_armed)
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
		if (atomic_exchange(&d->want_space, 0) ||
		    sl_now_ms() >= d->space_ms + SPACE_MS)
			read_space(d);
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

	*err = 0;
	d->root_fd = root_fd;
	d->qd = qd ? qd : CN_DIO_QD;
	d->direct = direct;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	d->kick_fd = eventfd(0, EFD_CLOEXEC);
	d->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (d->kick_fd < 0 || d->done_fd < 0) {
		*err = -errno;
		goto out_err;
	}
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

static void kick(cn_diskio_t *d)
{
	uint64_t one = 1;
	ssize_t n = write(d->kick_fd, &one, sizeof(one));

	(void)n; /* EAGAIN: the counter is already non-zero */
}

void cn_diskio_destroy(cn_diskio_t **dp,
		       void (*done)(cn_dio_op_t *op, void *arg), void *arg)
{
	cn_diskio_t *d = dp ? *dp : NULL;
	cn_dio_op_t *op;

	if (!d)
		return;
	if (d->started) {
		pthread_mutex_lock(&d->lock);
		d->stop = 1;
		pthread_mutex_unlock(&d->lock);
		kick(d);
		pthread_join(d->thread, NULL);
	}
	/* The thread is gone: what it never took is cancelled. */
	while ((op = pop(&d->in_head, &d->in_tail))) {
		op->res = -ECANCELED;
		op->cancelled = 1;
		push(&d->done_head, &d->done_tail, op);
	}
	while ((op = pop(&d->done_head, &d->done_tail))) {
		SL_ASSERT(done);
		done(op, arg);
	}
	if (d->kick_fd >= 0)
		close(d->kick_fd);
	if (d->done_fd >= 0)
		close(d->done_fd);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
	*dp = NULL;
}

int cn_diskio_fd(const cn_diskio_t *d)
{
	return d->done_fd;
}

void cn_diskio_submit(cn_diskio_t *d, cn_dio_op_t *op)
{
	int was_empty;

	SL_ASSERT(((uintptr_t)op & ST_MASK) == 0);
	op->cancelled = 0;
	pthread_mutex_lock(&d->lock);
	was_empty = !d->in_head;
	push(&d->in_head, &d->in_tail, op);
	pthread_mutex_unlock(&d->lock);
	/* The thread empties the inbox whenever it wakes: one kick per
	 * batch of submissions is enough. */
	if (was_empty)
		kick(d);
}

cn_dio_op_t *cn_diskio_reap(cn_diskio_t *d)
{
	cn_dio_op_t *list;
	uint64_t v;
	ssize_t n;

	pthread_mutex_lock(&d->lock);
	n = read(d->done_fd, &v, sizeof(v));
	(void)n;
	list = d->done_head;
	d->done_head = d->done_tail = NULL;
	pthread_mutex_unlock(&d->lock);
	return list;
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
	kick(d);
}
