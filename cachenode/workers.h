/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The worker pool that runs blocking work (backend reads, stats, lists) off
 * the event thread.  Jobs go in through cn_workers_submit; a worker runs
 * job->run; the finished job goes to the event thread's inbox
 * (common/inbox.h), whose eventfd the event thread polls next to its
 * socket, and it collects the jobs with cn_workers_reap.  So results always
 * come back to the thread that owns the caches, and a slow backend read only
 * ever occupies one worker, never the event thread.
 *
 * A job is embedded in the caller's own struct (container_of).  Between
 * submit and reap the pool owns the job's link; the job's other fields
 * belong to run() while it runs and to the submitter again after reap.
 */
#ifndef CN_WORKERS_H
#define CN_WORKERS_H

#include <stddef.h>

#include "common/list.h"

typedef struct cn_job {
	sl_qlink_t link; /* owned by the pool between submit and reap */
	void (*run)(struct cn_job *j); /* on a worker thread */
	int cancelled; /* set by the pool: run() was not called */
} cn_job_t;

/* The job linked by l (from a reaped queue), or NULL. */
static inline cn_job_t *cn_job_of(sl_qlink_t *l)
{
	return l ? sl_container_of(l, cn_job_t, link) : NULL;
}

typedef struct cn_workers cn_workers_t;

/* n threads (>= 1).  Returns NULL with *err = -errno when a thread or the
 * eventfd cannot be created. */
cn_workers_t *cn_workers_new(unsigned n, int *err);

/*
 * Stop: jobs not yet started are not run but completed with cancelled = 1;
 * running ones finish; then the threads exit.  Completed jobs that were not
 * reaped are passed to done(j, arg) so their owner can free them.  Accepts
 * NULL; clears *wp.
 */
void cn_workers_destroy(cn_workers_t **wp, void (*done)(cn_job_t *j, void *arg),
			void *arg);

/* Readable while completed jobs wait to be reaped.  Borrowed. */
int cn_workers_fd(const cn_workers_t *w);

/* Queue j (transferred to the pool until reaped).  Any thread. */
void cn_workers_submit(cn_workers_t *w, cn_job_t *j);

/* Move every completed job, oldest first, to the back of out (the caller
 * owns them again; cn_job_of); returns how many.  Clears the eventfd, which
 * may still wake the caller once with nothing to reap (common/inbox.h). */
size_t cn_workers_reap(cn_workers_t *w, sl_fifo_t *out);

/* Jobs submitted and not yet reaped. */
size_t cn_workers_pending(cn_workers_t *w);

#endif
