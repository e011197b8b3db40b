/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The worker pool (see workers.h): one mutex guards the input FIFO, a
 * condition variable wakes idle workers, and finished jobs go back
 * through an inbox (common/inbox.h), which wakes the event thread once
 * per burst.  The lock is never held while a job runs.
 */
#include "cachenode/workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/inbox.h"
#include "common/util.h"

struct cn_workers {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	sl_fifo_t in; /* protected by w->lock */
	int stop;     /* protected by w->lock */
	sl_inbox_t *done;
	_Atomic size_t pending; /* submitted, not reaped */
	unsigned n;
	pthread_t *threads;
};

static void *worker_main(void *arg)
{
	cn_workers_t *w = arg;
	cn_job_t *j;
	int stop, rc;

	for (;;) {
		pthread_mutex_lock(&w->lock);
		while (sl_fifo_empty(&w->in) && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		j = cn_job_of(sl_fifo_pop(&w->in));
		stop = w->stop;
		pthread_mutex_unlock(&w->lock);
		if (!j)
			break; /* stop, and nothing left to cancel */
		if (stop)
			j->cancelled = 1;
		else
			j->run(j);
		/* The inbox closes only after the workers are gone. */
		rc = sl_inbox_post(w->done, &j->link);
		SL_ASSERT(rc == 0);
	}
	return NULL;
}

cn_workers_t *cn_workers_new(unsigned n, int *err)
{
	cn_workers_t *w = sl_xcalloc(1, sizeof(*w));
	int rc;

	if (n == 0)
		n = 1;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	sl_fifo_init(&w->in);
	w->done = sl_inbox_new(err);
	if (!w->done)
		goto out_err;
	w->threads = sl_xcalloc(n, sizeof(*w->threads));
	for (w->n = 0; w->n < n; w->n++) {
		rc = pthread_create(&w->threads[w->n], NULL, worker_main, w);
		if (rc != 0) {
			*err = -rc;
			goto out_err;
		}
	}
	return w;
out_err:
	cn_workers_destroy(&w, NULL, NULL);
	return NULL;
}

void cn_workers_destroy(cn_workers_t **wp, void (*done)(cn_job_t *j, void *arg),
			void *arg)
{
	cn_workers_t *w = wp ? *wp : NULL;
	sl_fifo_t back;
	cn_job_t *j;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (unsigned i = 0; i < w->n; i++)
		pthread_join(w->threads[i], NULL);
	/* No thread left: hand back what finished, and cancel what never
	 * ran. */
	sl_fifo_init(&back);
	if (w->done)
		sl_inbox_take(w->done, &back);
	while ((j = cn_job_of(sl_fifo_pop(&w->in)))) {
		j->cancelled = 1;
		sl_fifo_push(&back, &j->link);
	}
	while ((j = cn_job_of(sl_fifo_pop(&back)))) {
		SL_ASSERT(done);
		done(j, arg);
	}
	sl_inbox_destroy(&w->done);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w->threads);
	free(w);
	*wp = NULL;
}

int cn_workers_fd(const cn_workers_t *w)
{
	return sl_inbox_fd(w->done);
}

void cn_workers_submit(cn_workers_t *w, cn_job_t *j)
{
	j->cancelled = 0;
	atomic_fetch_add(&w->pending, 1);
	pthread_mutex_lock(&w->lock);
	sl_fifo_push(&w->in, &j->link);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

size_t cn_workers_reap(cn_workers_t *w, sl_fifo_t *out)
{
	size_t n = sl_inbox_take(w->done, out);

	atomic_fetch_sub(&w->pending, n);
	return n;
}

size_t cn_workers_pending(cn_workers_t *w)
{
	return atomic_load(&w->pending);
}
