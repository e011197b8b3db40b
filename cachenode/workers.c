/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The worker pool (see workers.h): one mutex guards an input FIFO and a
 * completion FIFO; a condition variable wakes idle workers; an eventfd
 * wakes the event thread.  The lock is never held while a job runs.
 */
#include "cachenode/workers.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/util.h"

struct cn_workers {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	cn_job_t *in_head, *in_tail;	 /* protected by w->lock */
	cn_job_t *done_head, *done_tail; /* protected by w->lock */
	size_t pending;			 /* protected by w->lock */
	int stop;			 /* protected by w->lock */
	int efd;
	unsigned n;
	pthread_t *threads;
};

static void push(cn_job_t **head, cn_job_t **tail, cn_job_t *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

static cn_job_t *pop(cn_job_t **head, cn_job_t **tail)
{
	cn_job_t *j = *head;

	if (j) {
		*head = j->next;
		if (!*head)
			*tail = NULL;
		j->next = NULL;
	}
	return j;
}

static void signal_done(cn_workers_t *w)
{
	uint64_t one = 1;
	ssize_t n = write(w->efd, &one, sizeof(one));

	(void)n; /* EAGAIN only when the counter is already huge */
}

static void *worker_main(void *arg)
{
	cn_workers_t *w = arg;
	cn_job_t *j;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->in_head && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		j = pop(&w->in_head, &w->in_tail);
		if (!j)
			break; /* stop, and nothing left to cancel */
		if (w->stop) {
			j->cancelled = 1;
		} else {
			pthread_mutex_unlock(&w->lock);
			j->run(j);
			pthread_mutex_lock(&w->lock);
		}
		push(&w->done_head, &w->done_tail, j);
		signal_done(w);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

cn_workers_t *cn_workers_new(unsigned n, int *err)
{
	cn_workers_t *w = sl_xcalloc(1, sizeof(*w));
	int rc;

	*err = 0;
	if (n == 0)
		n = 1;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0) {
		*err = -errno;
		goto out_err;
	}
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
	cn_job_t *j;

	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (unsigned i = 0; i < w->n; i++)
		pthread_join(w->threads[i], NULL);
	/* No thread left: cancel what never ran. */
	while ((j = pop(&w->in_head, &w->in_tail))) {
		j->cancelled = 1;
		push(&w->done_head, &w->done_tail, j);
	}
	while ((j = pop(&w->done_head, &w->done_tail))) {
		SL_ASSERT(done);
		done(j, arg);
	}
	if (w->efd >= 0)
		close(w->efd);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w->threads);
	free(w);
	*wp = NULL;
}

int cn_workers_fd(const cn_workers_t *w)
{
	return w->efd;
}

void cn_workers_submit(cn_workers_t *w, cn_job_t *j)
{
	j->cancelled = 0;
	pthread_mutex_lock(&w->lock);
	push(&w->in_head, &w->in_tail, j);
	w->pending++;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

cn_job_t *cn_workers_reap(cn_workers_t *w)
{
	cn_job_t *list;
	uint64_t v;
	ssize_t n;

	/* Workers signal under the lock, so clearing the eventfd under it
	 * too makes it exact: readable iff the done list is not empty. */
	pthread_mutex_lock(&w->lock);
	n = read(w->efd, &v, sizeof(v));
	(void)n;
	list = w->done_head;
	for (cn_job_t *j = list; j; j = j->next)
		w->pending--;
	w->done_head = w->done_tail = NULL;
	pthread_mutex_unlock(&w->lock);
	return list;
}

size_t cn_workers_pending(cn_workers_t *w)
{
	size_t n;

	pthread_mutex_lock(&w->lock);
	n = w->pending;
	pthread_mutex_unlock(&w->lock);
	return n;
}
