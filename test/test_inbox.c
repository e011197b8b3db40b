/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The thread hand-off of common/inbox.h: four threads post 50,000
 * elements each while the owner polls the eventfd and takes them; every
 * element arrives exactly once and each poster's elements in the order it
 * posted them.  The fd is readable while something waits and not after a
 * take; a burst costs one wake-up; after close a post is refused with
 * -ESHUTDOWN and what was queued can still be taken.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>

#include "common/inbox.h"
#include "test/helper_check.h"

enum { POSTERS = 4, PER = 50000 };

typedef struct msg {
	sl_qlink_t link;
	int poster;
	int seq;
} msg_t;

struct poster {
	sl_inbox_t *ib;
	int id;
	msg_t *msgs;
};

static int readable(const sl_inbox_t *ib, int timeout_ms)
{
	struct pollfd p = {.fd = sl_inbox_fd(ib), .events = POLLIN};

	return poll(&p, 1, timeout_ms) == 1;
}

static void *post_main(void *arg)
{
	struct poster *p = arg;

	for (int i = 0; i < PER; i++) {
		p->msgs[i].poster = p->id;
		p->msgs[i].seq = i;
		/* Every 7th goes in a batch of two with the next. */
		if (i % 7 == 0 && i + 1 < PER) {
			sl_fifo_t b;

			sl_fifo_init(&b);
			p->msgs[i + 1].poster = p->id;
			p->msgs[i + 1].seq = i + 1;
			sl_fifo_push(&b, &p->msgs[i].link);
			sl_fifo_push(&b, &p->msgs[i + 1].link);
			ck_assert_int_eq(sl_inbox_post_all(p->ib, &b), 0);
			ck_assert(sl_fifo_empty(&b));
			i++;
			continue;
		}
		ck_assert_int_eq(sl_inbox_post(p->ib, &p->msgs[i].link), 0);
	}
	return NULL;
}

START_TEST(test_many_posters)
{
	struct poster ps[POSTERS];
	pthread_t th[POSTERS];
	int next[POSTERS] = {0}, err, total = 0;
	sl_inbox_t *ib = sl_inbox_new(&err);

	ck_assert_ptr_nonnull(ib);
	for (int i = 0; i < POSTERS; i++) {
		ps[i].ib = ib;
		ps[i].id = i;
		ps[i].msgs = calloc(PER, sizeof(msg_t));
		ck_assert_int_eq(
			pthread_create(&th[i], NULL, post_main, &ps[i]), 0);
	}
	while (total < POSTERS * PER) {
		sl_fifo_t got;
		sl_qlink_t *l;

		ck_assert_msg(readable(ib, 10000), "no wake-up with %d of %d",
			      total, POSTERS * PER);
		sl_fifo_init(&got);
		sl_inbox_take(ib, &got);
		while ((l = sl_fifo_pop(&got))) {
			msg_t *m = sl_container_of(l, msg_t, link);

			ck_assert_int_eq(m->seq, next[m->poster]);
			next[m->poster]++;
			total++;
		}
	}
	for (int i = 0; i < POSTERS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(next[i], PER);
		free(ps[i].msgs);
	}
	sl_inbox_destroy(&ib);
	ck_assert_ptr_null(ib);
	sl_inbox_destroy(&ib);
}
END_TEST

START_TEST(test_wakeups_and_close)
{
	msg_t m[3];
	sl_fifo_t got;
	int err;
	sl_inbox_t *ib = sl_inbox_new(&err);

	ck_assert_ptr_nonnull(ib);
	sl_fifo_init(&got);
	ck_assert(!readable(ib, 0));
	ck_assert_uint_eq(sl_inbox_take(ib, &got), 0);
	ck_assert_int_eq(sl_inbox_post(ib, &m[0].link), 0);
	ck_assert(readable(ib, 0));
	ck_assert_int_eq(sl_inbox_post(ib, &m[1].link), 0);
	ck_assert_uint_eq(sl_inbox_take(ib, &got), 2);
	ck_assert(!readable(ib, 0));
	ck_assert_uint_eq(got.count, 2);
	ck_assert_ptr_eq(sl_fifo_pop(&got), &m[0].link);
	ck_assert_ptr_eq(sl_fifo_pop(&got), &m[1].link);
	/* An empty batch posts nothing and wakes nobody. */
	ck_assert_int_eq(sl_inbox_post_all(ib, &got), 0);
	ck_assert(!readable(ib, 0));
	ck_assert_int_eq(sl_inbox_post(ib, &m[2].link), 0);
	sl_inbox_close(ib);
	ck_assert_int_eq(sl_inbox_post(ib, &m[0].link), -ESHUTDOWN);
	ck_assert_uint_eq(sl_inbox_take(ib, &got), 1);
	ck_assert_ptr_eq(sl_fifo_pop(&got), &m[2].link);
	sl_inbox_destroy(&ib);
}
END_TEST

static Suite *inbox_suite(void)
{
	return TH_SUITE("inbox", {.name = "inbox",
				  .tests = TH_TESTS(test_many_posters,
						    test_wakeups_and_close),
				  .timeout = 120});
}

int main(void)
{
	return th_check_run(inbox_suite(), NULL);
}
