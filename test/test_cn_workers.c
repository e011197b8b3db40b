/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The worker pool: every job runs once on a worker thread and comes back
 * through the eventfd, in completion order; a slow job does not hold up
 * the others; destroying the pool cancels jobs that never started and
 * hands every unreaped job back; a stop with a deadline does not wait for a
 * job that never ends.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "cachenode/workers.h"
#include "common/list.h"
#include "common/util.h"
#include "test/helper_check.h"

typedef struct tjob {
	cn_job_t job;
	int id;
	int sleep_ms;
	_Atomic int runs;
	pthread_t ran_on;
} tjob_t;

static void trun(cn_job_t *j)
{
	tjob_t *t = sl_container_of(j, tjob_t, job);

	if (t->sleep_ms)
		usleep((useconds_t)t->sleep_ms * 1000);
	t->ran_on = pthread_self();
	atomic_fetch_add(&t->runs, 1);
}

static int wait_fd(int fd, int ms)
{
	struct pollfd p = {fd, POLLIN, 0};

	return poll(&p, 1, ms);
}

START_TEST(test_all_jobs_come_back)
{
	int err, got = 0;
	cn_workers_t *w = cn_workers_new(4, &err);
	static tjob_t jobs[2000];
	uint64_t deadline = sl_now_ms() + 20000;
	sl_fifo_t q;

	ck_assert_ptr_nonnull(w);
	for (int i = 0; i < 2000; i++) {
		jobs[i].job.run = trun;
		jobs[i].id = i;
		cn_workers_submit(w, &jobs[i].job);
	}
	sl_fifo_init(&q);
	while (got < 2000 && sl_now_ms() < deadline) {
		cn_job_t *j;

		if (wait_fd(cn_workers_fd(w), 1000) <= 0)
			continue;
		cn_workers_reap(w, &q);
		while ((j = cn_job_of(sl_fifo_pop(&q)))) {
			tjob_t *t = sl_container_of(j, tjob_t, job);

			ck_assert_int_eq(atomic_load(&t->runs), 1);
			ck_assert(!j->cancelled);
			ck_assert(!pthread_equal(t->ran_on, pthread_self()));
			got++;
		}
	}
	ck_assert_int_eq(got, 2000);
	ck_assert_uint_eq(cn_workers_pending(w), 0);
	/* Drained: a wake-up may be left over (common/inbox.h), with
	 * nothing in it; then the eventfd is quiet. */
	wait_fd(cn_workers_fd(w), 100);
	ck_assert_uint_eq(cn_workers_reap(w, &q), 0);
	ck_assert_int_eq(wait_fd(cn_workers_fd(w), 0), 0);
	cn_workers_destroy(&w, NULL, NULL);
	ck_assert_ptr_null(w);
}
END_TEST

START_TEST(test_slow_job_does_not_block_others)
{
	int err;
	cn_workers_t *w = cn_workers_new(2, &err);
	tjob_t slow = {.job.run = trun, .sleep_ms = 1500};
	tjob_t fast = {.job.run = trun};
	uint64_t t0 = sl_now_ms();
	sl_fifo_t q;

	sl_fifo_init(&q);
	cn_workers_submit(w, &slow.job);
	cn_workers_submit(w, &fast.job);
	ck_assert_int_eq(wait_fd(cn_workers_fd(w), 5000), 1);
	ck_assert_uint_eq(cn_workers_reap(w, &q), 1);
	ck_assert_ptr_eq(cn_job_of(sl_fifo_pop(&q)), &fast.job);
	ck_assert_uint_lt(sl_now_ms() - t0, 1000);
	ck_assert_int_eq(wait_fd(cn_workers_fd(w), 5000), 1);
	ck_assert_uint_eq(cn_workers_reap(w, &q), 1);
	ck_assert_ptr_eq(cn_job_of(sl_fifo_pop(&q)), &slow.job);
	cn_workers_destroy(&w, NULL, NULL);
}
END_TEST

static void count_done(cn_job_t *j, void *arg)
{
	int *n = arg;

	(*n)++;
	(void)j;
}

START_TEST(test_destroy_cancels)
{
	int err, handed_back = 0, cancelled = 0, ran = 0;
	cn_workers_t *w = cn_workers_new(1, &err);
	static tjob_t jobs[10];

	for (int i = 0; i < 10; i++) {
		jobs[i].job.run = trun;
		jobs[i].sleep_ms = 100;
		cn_workers_submit(w, &jobs[i].job);
	}
	usleep(50000);
	cn_workers_destroy(&w, count_done, &handed_back);
	ck_assert_int_eq(handed_back, 10);
	for (int i = 0; i < 10; i++) {
		cancelled += jobs[i].job.cancelled;
		ran += atomic_load(&jobs[i].runs);
		ck_assert_int_eq(jobs[i].job.cancelled,
				 !atomic_load(&jobs[i].runs));
	}
	ck_assert_int_ge(ran, 1);
	ck_assert_int_ge(cancelled, 1);
}
END_TEST

/* A job that runs until its pipe is written: a backend call that never
 * returns, for as long as the test wants. */
static int gate[2];

static void stuck_run(cn_job_t *j)
{
	char c;

	(void)j;
	(void)!read(gate[0], &c, 1);
}

static void forget(cn_job_t *j, void *arg)
{
	(void)j;
	(void)arg;
}

/* Left allocated on purpose after the timed-out stop (workers.h); kept
 * reachable so that LeakSanitizer does not count it. */
static cn_workers_t *volatile abandoned;

START_TEST(test_stop_bounded)
{
	static cn_job_t stuck = {.run = stuck_run};
	static tjob_t quick = {.job.run = trun};
	uint64_t t0;
	int err;
	cn_workers_t *w = cn_workers_new(2, &err);

	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(pipe(gate), 0);
	cn_workers_submit(w, &stuck);
	cn_workers_submit(w, &quick.job);
	usleep(100000);
	t0 = sl_now_ms();
	ck_assert_int_eq(cn_workers_stop(w, t0 + 200), -ETIMEDOUT);
	ck_assert_uint_ge(sl_now_ms() - t0, 150);
	ck_assert_uint_lt(sl_now_ms() - t0, 2000);
	ck_assert_int_eq(cn_workers_stop(w, t0), -ETIMEDOUT);
	abandoned = w;
	cn_workers_destroy(&w, NULL, NULL); /* forgets it, frees nothing */
	ck_assert_ptr_null(w);
	/* The stuck call returns at last: its thread ends on its own. */
	ck_assert_int_eq(write(gate[1], "x", 1), 1);
	usleep(100000);

	/* Without a stuck job the same stop joins everything in time. */
	w = cn_workers_new(2, &err);
	cn_workers_submit(w, &quick.job);
	ck_assert_int_eq(cn_workers_stop(w, sl_now_ms() + 5000), 0);
	cn_workers_destroy(&w, forget, NULL);
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE(
		"cn_workers",
		{.name = "workers",
		 .tests = TH_TESTS(test_all_jobs_come_back,
				   test_slow_job_does_not_block_others,
				   test_destroy_cancels, test_stop_bounded),
		 .timeout = 60});

	return th_check_run(s, NULL);
}
