/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The session loop (see loop.h).  fc_loop_run's thread starts the first
 * request thread and then only watches: it wakes every 20 ms while the
 * loop is draining or the session has ended, and signals the threads
 * still in read(2) -- a thread may have checked the flag just before the
 * signal came and gone into read(2) after it, so one signal is not
 * enough, and a few more cost nothing.
 */
#define FUSE_USE_VERSION 312
#include "fuse/loop.h"

#include <errno.h>
#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"

#define KICK_MS	 20
#define MAX_HELD 1024 /* without shared slots */

struct lthread {
	fc_loop_t *l;
	pthread_t th;
	unsigned slot;
	uint64_t unique; /* the request in hand (this thread's) */
	int running;	 /* protected by l->lock */
};

/* The request thread this is, for fc_loop_hold (NULL on any other): a
 * handler is called by libfuse, which passes nothing of ours along. */
static _Thread_local struct lthread *self;

struct fc_loop {
	struct fuse_session *se;
	_Atomic uint64_t *slots;
	unsigned max;
	pthread_mutex_t lock;
	pthread_cond_t changed;	 /* a thread ended */
	struct lthread *threads; /* [max]; protected by l->lock */
	unsigned n;		 /* started; protected by l->lock */
	unsigned running;	 /* protected by l->lock */
	_Atomic unsigned idle;	 /* threads waiting for a request */
	size_t n_slots;
	unsigned max_held;
	_Atomic unsigned held;	    /* requests answered by other threads */
	_Atomic unsigned next_held; /* where a hold looks first */
	_Atomic int draining;
	int error; /* protected by l->lock */
};

static void on_kick(int sig)
{
	(void)sig;
}

static void *lthread_main(void *arg);

/* Wait on l->changed (l->lock held) for at most KICK_MS. */
static void wait_kick(fc_loop_t *l)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += KICK_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&l->changed, &l->lock, &ts);
}

/* Start thread n (the caller holds l->lock and checked n < max). */
static int start_locked(fc_loop_t *l)
{
	struct lthread *t = &l->threads[l->n];
	int rc;

	t->l = l;
	t->slot = l->n;
	t->running = 1;
	rc = pthread_create(&t->th, NULL, lthread_main, t);
	if (rc != 0) {
		t->running = 0;
		return -rc;
	}
	l->n++;
	l->running++;
	return 0;
}

/* Every thread busy: one more, if the limit allows. */
static void maybe_grow(fc_loop_t *l)
{
	if (atomic_load(&l->idle) != 0)
		return; /* the common case, without the lock */
	pthread_mutex_lock(&l->lock);
	if (atomic_load(&l->idle) == 0 && l->n < l->max &&
	    !atomic_load(&l->draining) && start_locked(l) < 0)
		sl_log_ratelimited(SL_LOG_WARNING,
				   "cannot start request thread %u", l->n + 1);
	pthread_mutex_unlock(&l->lock);
}

static int stop_now(fc_loop_t *l)
{
	return atomic_load(&l->draining) || fuse_session_exited(l->se);
}

static void *lthread_main(void *arg)
{
	struct lthread *t = arg;
	fc_loop_t *l = t->l;
	struct fuse_buf buf;
	int rc = 0;

	memset(&buf, 0, sizeof(buf));
	self = t;
	while (!stop_now(l)) {
		atomic_fetch_add(&l->idle, 1);
		rc = fuse_session_receive_buf(l->se, &buf);
		atomic_fetch_sub(&l->idle, 1);
		if (rc == -EINTR || rc == -EAGAIN) {
			rc = 0;
			continue;
		}
		if (rc <= 0)
			break; /* 0: the session ended */
		maybe_grow(l);
		t->unique = buf.size >= sizeof(struct fuse_in_header)
				    ? ((struct fuse_in_header *)buf.mem)->unique
				    : 0;
		if (l->slots && t->unique)
			atomic_store(&l->slots[t->slot], t->unique);
		fuse_session_process_buf(l->se, &buf);
		if (l->slots)
			atomic_store(&l->slots[t->slot], 0);
		rc = 0;
	}
	free(buf.mem);
	pthread_mutex_lock(&l->lock);
	if (rc < 0 && !l->error)
		l->error = rc;
	t->running = 0;
	l->running--;
	pthread_cond_broadcast(&l->changed);
	pthread_mutex_unlock(&l->lock);
	if (rc < 0)
		fuse_session_exit(l->se);
	return NULL;
}

fc_loop_t *fc_loop_new(struct fuse_session *se, unsigned max_threads,
		       _Atomic uint64_t *slots, size_t n_slots)
{
	fc_loop_t *l = sl_xcalloc(1, sizeof(*l));
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_kick; /* no SA_RESTART: read(2) returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	l->se = se;
	l->slots = slots;
	l->max = SL_MAX(max_threads, 1u);
	if (slots)
		l->max = SL_MIN(l->max, (unsigned)n_slots);
	l->n_slots = slots ? n_slots : 0;
	/* Threads take the first slots, holds the rest. */
	l->max_held = slots ? (unsigned)(n_slots - l->max) : MAX_HELD;
	l->threads = sl_xcalloc(l->max, sizeof(*l->threads));
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->changed, NULL);
	return l;
}

int fc_loop_run(fc_loop_t *l)
{
	int rc;

	pthread_mutex_lock(&l->lock);
	rc = start_locked(l);
	while (rc == 0 && l->running) {
		if (stop_now(l))
			for (unsigned i = 0; i < l->n; i++)
				if (l->threads[i].running)
					pthread_kill(l->threads[i].th, SIGUSR1);
		wait_kick(l);
	}
	if (rc == 0)
		rc = l->error;
	pthread_mutex_unlock(&l->lock);
	for (unsigned i = 0; i < l->n; i++)
		pthread_join(l->threads[i].th, NULL);
	if (rc < 0)
		return rc;
	if (!atomic_load(&l->draining))
		return 0;
	/* A hand-over: the requests held are answered before the next
	 * worker takes the descriptor (their fetches end within the I/O
	 * thread's timeouts). */
	pthread_mutex_lock(&l->lock);
	while (atomic_load(&l->held)) {
		wait_kick(l);
	}
	pthread_mutex_unlock(&l->lock);
	return 1;
}

int fc_loop_hold(fc_held_t *h)
{
	struct lthread *t = self;
	fc_loop_t *l = t ? t->l : NULL;
	unsigned n;

	h->l = NULL;
	h->slot = 0;
	if (!l)
		return 0;
	if (atomic_fetch_add(&l->held, 1) >= l->max_held) {
		atomic_fetch_sub(&l->held, 1);
		return -ENOSPC;
	}
	/* There are at least as many hold slots as holds: a free one is
	 * found within one turn (a release racing a hold may make it two). */
	for (n = 0; l->slots && n < 2 * l->max_held; n++) {
		unsigned s = l->max +
			     atomic_fetch_add(&l->next_held, 1) % l->max_held;
		uint64_t zero = 0;

		if (atomic_compare_exchange_strong(&l->slots[s], &zero,
						   t->unique)) {
			h->slot = s;
			break;
		}
	}
	if (l->slots && !h->slot) {
		atomic_fetch_sub(&l->held, 1);
		return -ENOSPC;
	}
	h->l = l;
	return 0;
}

void fc_loop_release(fc_held_t *h)
{
	fc_loop_t *l = h->l;

	if (!l)
		return;
	if (l->slots)
		atomic_store(&l->slots[h->slot], 0);
	if (atomic_fetch_sub(&l->held, 1) == 1 && atomic_load(&l->draining)) {
		pthread_mutex_lock(&l->lock);
		pthread_cond_broadcast(&l->changed);
		pthread_mutex_unlock(&l->lock);
	}
	h->l = NULL;
}

void fc_loop_drain(fc_loop_t *l)
{
	atomic_store(&l->draining, 1);
}

unsigned fc_loop_threads(fc_loop_t *l)
{
	unsigned n;

	pthread_mutex_lock(&l->lock);
	n = l->n;
	pthread_mutex_unlock(&l->lock);
	return n;
}

void fc_loop_destroy(fc_loop_t **lp)
{
	fc_loop_t *l = lp ? *lp : NULL;

	if (!l)
		return;
	pthread_cond_destroy(&l->changed);
	pthread_mutex_destroy(&l->lock);
	free(l->threads);
	free(l);
	*lp = NULL;
}
