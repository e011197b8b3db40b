/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-peer table: a peer is found again by its identity and forgotten
 * when it has nothing in flight; its caps (pending requests, reply bytes
 * with reservations, replies, hints) decide admission, a peer with nothing
 * pending always gets one in; held requests come back in order within
 * their bounds; a reply's ticket counts against its peer until freed, and
 * a freed reply of a peer holding requests wakes the event thread.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cachenode/senders.h"
#include "test/helper_check.h"

static const cn_sender_limits_t lim = {
	.max_pending = 3,
	.max_hints = 2,
	.max_replies = 4,
	.max_bytes = 1000,
	.max_deferred = 2,
	.max_deferred_bytes = 1 << 20,
	.max_peers = 2,
	.max_held_bytes = 1 << 20,
};

static cn_metrics_t m;

static void ident(zmq_msg_t *id, const char *s)
{
	zmq_msg_init_size(id, strlen(s));
	memcpy(zmq_msg_data(id), s, strlen(s));
}

static cn_sender_t *get(cn_senders_t *t, const char *name)
{
	zmq_msg_t id;
	cn_sender_t *p;

	ident(&id, name);
	p = cn_senders_get(t, &id);
	zmq_msg_close(&id);
	return p;
}

START_TEST(test_identity_and_forgetting)
{
	cn_senders_t *t;
	cn_sender_t *a, *b;

	cn_metrics_init(&m);
	t = cn_senders_new(&lim, -1, &m);
	a = get(t, "alice");
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_eq(get(t, "alice"), a);
	cn_sender_begin(a);
	b = get(t, "bob");
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_ne(a, b);
	/* Full (2): bob is idle and gives way to carol; alice is busy. */
	ck_assert_ptr_nonnull(get(t, "carol"));
	ck_assert_uint_eq(cn_senders_count(t), 2);
	cn_sender_begin(get(t, "carol"));
	ck_assert_ptr_null(get(t, "dave"));
	cn_sender_end(a, 0);
	cn_senders_release(t, a);
	ck_assert_uint_eq(cn_senders_count(t), 1);
	ck_assert_uint_eq(atomic_load(&m.peers), 1);
	cn_senders_destroy(&t);
	ck_assert_uint_eq(atomic_load(&m.peers), 0);
}
END_TEST

START_TEST(test_admission)
{
	cn_senders_t *t;
	cn_sender_t *p;
	void *tk[4], *data;

	cn_metrics_init(&m);
	t = cn_senders_new(&lim, -1, &m);
	p = get(t, "p");
	/* Nothing pending: always in, whatever the global count says. */
	ck_assert(cn_sender_admits(t, p, 1 << 30, 10));
	cn_sender_begin(p);
	ck_assert(!cn_sender_admits(t, p, 10, 10));
	ck_assert(cn_sender_admits(t, p, 9, 10));
	/* Reserved bytes count like reply bytes. */
	cn_sender_reserve(p, 999);
	ck_assert(cn_sender_admits(t, p, 0, 10));
	cn_sender_reserve(p, 1);
	ck_assert(!cn_sender_admits(t, p, 0, 10));
	cn_sender_end(p, 1000);
	/* Replies with ZeroMQ: bytes, then messages. */
	tk[0] = cn_ticket_new(p, NULL, "0123456789", 10, &data);
	ck_assert_mem_eq(data, "0123456789", 10);
	ck_assert_uint_eq(atomic_load(&m.reply_bytes), 10);
	cn_sender_begin(p);
	ck_assert(cn_sender_admits(t, p, 0, 10));
	for (int i = 1; i < 4; i++)
		tk[i] = cn_ticket_new(p, NULL, "x", 1, &data);
	ck_assert(!cn_sender_admits(t, p, 0, 10)); /* 4 replies */
	ck_assert(!cn_sender_reads(t, p));
	cn_ticket_free(NULL, tk[3]);
	ck_assert(cn_sender_admits(t, p, 0, 10));
	ck_assert(cn_sender_reads(t, p));
	cn_sender_begin(p);
	cn_sender_begin(p);
	ck_assert(!cn_sender_admits(t, p, 0, 10)); /* 3 pending */
	for (int i = 0; i < 3; i++) {
		cn_sender_end(p, 0);
		cn_ticket_free(NULL, tk[i]);
	}
	ck_assert_uint_eq(atomic_load(&m.reply_bytes), 0);
	/* Hints. */
	ck_assert_int_eq(cn_sender_hint_take(t, p), 0);
	ck_assert_int_eq(cn_sender_hint_take(t, p), 0);
	ck_assert_int_eq(cn_sender_hint_take(t, p), -EAGAIN);
	cn_sender_hint_put(p);
	cn_sender_hint_put(p);
	cn_senders_release(t, p);
	ck_assert_uint_eq(cn_senders_count(t), 0);
	cn_senders_destroy(&t);
}
END_TEST

/* A request with header id and a body of n bytes. */
static void request(pr_msg_t *msg, uint64_t id, size_t n)
{
	pr_msg_init(msg);
	ident(&msg->identity, "p");
	msg->has_identity = 1;
	msg->header_ok = 1;
	msg->h.req_id = id;
	zmq_msg_close(&msg->body);
	zmq_msg_init_size(&msg->body, n);
	memset(zmq_msg_data(&msg->body), (int)id, n);
}

START_TEST(test_hold_and_wake)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	cn_senders_t *t;
	cn_sender_t *p;
	pr_msg_t msg;
	void *tk, *data;
	uint64_t v;

	cn_metrics_init(&m);
	t = cn_senders_new(&lim, fd, &m);
	p = get(t, "p");
	cn_sender_begin(p);
	tk = cn_ticket_new(p, NULL, "reply", 5, &data);
	for (uint64_t id = 1; id <= 3; id++) {
		request(&msg, id, 10);
		ck_assert_int_eq(cn_senders_hold(t, p, &msg),
				 id <= 2 ? 0 : -ENOBUFS);
		pr_msg_close(&msg);
	}
	ck_assert(cn_sender_holds(p));
	ck_assert_ptr_eq(cn_senders_next_holding(t, NULL), p);
	ck_assert_ptr_null(cn_senders_next_holding(t, p));
	/* Its reply freed: the loop is woken. */
	cn_ticket_free(NULL, tk);
	ck_assert_int_eq(read(fd, &v, sizeof(v)), (ssize_t)sizeof(v));
	pr_msg_init(&msg);
	for (uint64_t id = 1; id <= 2; id++) {
		ck_assert_int_eq(cn_senders_unhold(t, p, &msg), 0);
		ck_assert_uint_eq(msg.h.req_id, id);
		ck_assert_uint_eq(zmq_msg_size(&msg.body), 10);
		ck_assert_uint_eq(((uint8_t *)zmq_msg_data(&msg.body))[9], id);
		ck_assert_uint_eq(zmq_msg_size(&msg.identity), 1);
	}
	ck_assert_int_eq(cn_senders_unhold(t, p, &msg), -ENOENT);
	ck_assert_ptr_null(cn_senders_next_holding(t, NULL));
	pr_msg_close(&msg);
	/* A reply freed once nothing is held wakes nobody. */
	tk = cn_ticket_new(p, NULL, "r", 1, &data);
	cn_ticket_free(NULL, tk);
	ck_assert_int_eq(read(fd, &v, sizeof(v)), -1);
	cn_sender_end(p, 0);
	/* Held requests do not keep a destroyed table alive. */
	request(&msg, 9, 1);
	cn_sender_begin(p);
	ck_assert_int_eq(cn_senders_hold(t, p, &msg), 0);
	pr_msg_close(&msg);
	cn_senders_destroy(&t);
	close(fd);
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE(
		"cn_senders",
		{.name = "peers",
		 .tests = TH_TESTS(test_identity_and_forgetting, test_admission,
				   test_hold_and_wake)});

	return th_check_run(s, NULL);
}
