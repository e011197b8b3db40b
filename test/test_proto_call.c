/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of requests with a deadline (proto/call.h) and of the transport
 * pieces under them: a fake node (a ROUTER in the test's own thread)
 * answers calls with late replies, replies that are not replies, wrong
 * opcodes, malformed and LZ4-packed bodies and LOAD-style MORE replies,
 * and the tests check which reply each wait returns, what it says about
 * the ones it dropped, and that every wait ends by its deadline.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <zmq.h>

#include "common/util.h"
#include "proto/call.h"
#include "proto/proto.h"
#include "proto/transport.h"
#include "test/helper_check.h"
#include "test/helper_client.h"
#include "test/helper_proc.h"

#define EP "inproc://call"

typedef struct fake {
	void *ctx;
	void *router;
} fake_t;

static void fake_open(fake_t *f)
{
	int zero = 0, tmo = 5000;

	f->ctx = zmq_ctx_new();
	f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
	zmq_setsockopt(f->router, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(f->router, ZMQ_RCVTIMEO, &tmo, sizeof(tmo));
	ck_assert_int_eq(zmq_bind(f->router, EP), 0);
}

static void fake_close(fake_t *f)
{
	zmq_close(f->router);
	zmq_ctx_term(f->ctx);
}

static void *dealer(fake_t *f)
{
	int err = 0;
	void *s = pr_dealer_open(f->ctx, EP, &err);

	ck_assert_msg(s != NULL, "pr_dealer_open: %d", err);
	return s;
}

/* The next request at the fake node, into *req (its identity kept). */
static void take(fake_t *f, pr_msg_t *req)
{
	ck_assert_int_eq(pr_recv(f->router, req, 1, 0), 0);
}

/* Answer the sender of req with a header of our choosing. */
static void answer(fake_t *f, pr_msg_t *req, uint64_t id, uint8_t op,
		   uint16_t flags, int status, const void *body, size_t len)
{
	pr_header_t h = {
		.opcode = op, .flags = flags, .req_id = id, .status = status};

	ck_assert_int_eq(pr_send(f->router, &req->identity, &h, body, len, 0),
			 0);
}

/* A reply whose body hash is wrong: malformed, dropped by the receiver. */
static void answer_bad_hash(fake_t *f, pr_msg_t *req, uint64_t id, uint8_t op)
{
	pr_header_t h = {.opcode = op,
			 .flags = PR_F_REPLY,
			 .req_id = id,
			 .body_len = 4,
			 .body_hash = 1};
	uint8_t hdr[PR_HEADER_SIZE];

	zmq_msg_t who;

	ck_assert_int_eq(pr_header_encode(&h, hdr), 0);
	zmq_msg_init(&who);
	ck_assert_int_eq(zmq_msg_copy(&who, &req->identity), 0);
	ck_assert_int_ge(zmq_msg_send(&who, f->router, ZMQ_SNDMORE), 0);
	ck_assert_int_ge(zmq_send(f->router, hdr, sizeof(hdr), ZMQ_SNDMORE), 0);
	ck_assert_int_ge(zmq_send(f->router, "abcd", 4, 0), 0);
}

static void start(pr_call_t *c, void *sock, uint8_t op, uint64_t id,
		  int timeout_ms)
{
	pr_header_t h = {.opcode = op, .req_id = id};

	ck_assert_int_eq(pr_call_start(c, sock, &h, "q", 1,
				       sl_now_ms() + (uint64_t)timeout_ms),
			 0);
	ck_assert(c->pending);
}

/* One dealer on the fake node, with the messages and buffer a test uses. */
typedef struct rig {
	fake_t f;
	void *s;
	pr_msg_t req, rep;
	pr_buf_t b;
} rig_t;

static void rig_open(rig_t *r)
{
	fake_open(&r->f);
	r->s = dealer(&r->f);
	pr_msg_init(&r->req);
	pr_msg_init(&r->rep);
	pr_buf_init(&r->b);
}

static void rig_close(rig_t *r)
{
	pr_buf_fini(&r->b);
	pr_msg_close(&r->rep);
	pr_msg_close(&r->req);
	zmq_close(r->s);
	fake_close(&r->f);
}

START_TEST(test_wait_matches)
{
	rig_t r;
	pr_call_t c;
	pr_str_t msg;

	rig_open(&r);
	start(&c, r.s, PR_OP_STAT, 7, 2000);
	take(&r.f, &r.req);
	ck_assert_uint_eq(r.req.h.req_id, 7);
	ck_assert_uint_eq(pr_msg_body_len(&r.req), 1);
	/* Dropped, in turn: a late reply, a request, a wrong opcode. */
	answer(&r.f, &r.req, 6, PR_OP_STAT, PR_F_REPLY, 0, "late", 4);
	answer(&r.f, &r.req, 7, PR_OP_STAT, 0, 0, "asks", 4);
	answer(&r.f, &r.req, 7, PR_OP_READ, PR_F_REPLY, 0, "op", 2);
	ck_assert_int_eq(pr_errmsg_encode(&r.b, "no such file"), 0);
	answer(&r.f, &r.req, 7, PR_OP_STAT, PR_F_REPLY, -ENOENT, r.b.data,
	       r.b.len);
	ck_assert_int_eq(pr_call_wait(&c, 1, sl_now_ms() + 2000, &r.rep), 0);
	ck_assert_int_eq(r.rep.h.status, -ENOENT);
	ck_assert_int_eq(pr_errmsg_decode(&msg, pr_msg_body(&r.rep),
					  pr_msg_body_len(&r.rep)),
			 0);
	ck_assert(pr_str_eq(msg, "no such file"));
	ck_assert(!c.pending);
	ck_assert_int_eq(c.bad, -EBADMSG); /* the wrong opcode */
	/* Nothing pending: no wait at all. */
	ck_assert_int_eq(pr_call_wait(&c, 1, sl_now_ms() + 2000, &r.rep),
			 -ENOENT);
	ck_assert_uint_eq(pr_msg_body_len(&r.rep), 0);
	rig_close(&r);
}
END_TEST

START_TEST(test_timeout_keeps_the_bad_reply)
{
	rig_t r;
	pr_call_t c;
	pr_header_t h = {.opcode = PR_OP_HELLO, .req_id = 9};
	uint64_t t0;

	rig_open(&r);
	/* Silence: the wait ends at its deadline, not before, not long
	 * after. */
	start(&c, r.s, PR_OP_HELLO, 8, 2000);
	take(&r.f, &r.req);
	t0 = sl_now_ms();
	ck_assert_int_eq(pr_call_wait(&c, 1, t0 + 200, &r.rep), -ETIMEDOUT);
	ck_assert_uint_ge(sl_now_ms() - t0, 190);
	ck_assert_uint_lt(sl_now_ms() - t0, 1500);
	ck_assert(c.pending);
	ck_assert_int_eq(c.bad, 0);
	/* The reply comes malformed: still a timeout, but the call knows. */
	answer_bad_hash(&r.f, &r.req, 8, PR_OP_HELLO);
	ck_assert_int_eq(pr_call_wait(&c, 1, sl_now_ms() + 200, &r.rep),
			 -ETIMEDOUT);
	ck_assert_int_eq(c.bad, -EBADMSG);
	/* pr_call says so instead of -ETIMEDOUT.  The fake node knows the
	 * dealer now, so it can queue the answers before each call. */
	answer_bad_hash(&r.f, &r.req, 9, PR_OP_HELLO);
	t0 = sl_now_ms();
	ck_assert_int_eq(pr_call(r.s, &h, NULL, 0, 200, &r.rep), -EBADMSG);
	ck_assert_uint_ge(sl_now_ms() - t0, 190);
	/* A node's error is a reply, never a transport error. */
	h.req_id = 10;
	answer(&r.f, &r.req, 10, PR_OP_HELLO, PR_F_REPLY, -ETIMEDOUT, "\0\0",
	       2);
	ck_assert_int_eq(pr_call(r.s, &h, NULL, 0, 2000, &r.rep), 0);
	ck_assert_int_eq(r.rep.h.status, -ETIMEDOUT);
	h.req_id = 11;
	answer(&r.f, &r.req, 11, PR_OP_HELLO, PR_F_REPLY, 0, "ok", 2);
	ck_assert_int_eq(pr_call(r.s, &h, NULL, 0, 2000, &r.rep), 0);
	ck_assert_int_eq(r.rep.h.status, 0);
	ck_assert_uint_eq(pr_msg_body_len(&r.rep), 2);
	ck_assert_mem_eq(pr_msg_body(&r.rep), "ok", 2);
	/* Silence again: -ETIMEDOUT. */
	h.req_id = 12;
	ck_assert_int_eq(pr_call(r.s, &h, NULL, 0, 100, &r.rep), -ETIMEDOUT);
	rig_close(&r);
}
END_TEST

/* Several calls on several sockets, as the HELLO round makes them. */
START_TEST(test_wait_many)
{
	fake_t f;
	void *s[3];
	pr_call_t c[4];
	pr_msg_t req[3], rep;
	pr_load_progress_t lp = {1, 2, 3, 4, 0, PR_LOAD_RUNNING, {"", 0}};
	pr_buf_t b;

	fake_open(&f);
	pr_msg_init(&rep);
	pr_buf_init(&b);
	for (int i = 0; i < 3; i++) {
		s[i] = dealer(&f);
		pr_msg_init(&req[i]);
		start(&c[i], s[i], PR_OP_LOAD, 100 + (uint64_t)i, 2000);
		take(&f, &req[i]);
	}
	memset(&c[3], 0, sizeof(c[3])); /* never sent: skipped */
	/* req[k] came from whichever dealer; answer by the id it carries. */
	for (int i = 0; i < 3; i++)
		if (req[i].h.req_id == 102)
			answer(&f, &req[i], 102, PR_OP_LOAD, PR_F_REPLY, 0,
			       "two", 3);
	ck_assert_int_eq(pr_call_wait(c, 4, sl_now_ms() + 2000, &rep), 2);
	ck_assert_mem_eq(pr_msg_body(&rep), "two", 3);
	ck_assert(!c[2].pending && c[0].pending && c[1].pending);
	/* Progress with MORE keeps call 0 pending; the last reply ends it. */
	ck_assert_int_eq(pr_load_progress_encode(&b, &lp), 0);
	for (int i = 0; i < 3; i++) {
		if (req[i].h.req_id != 100)
			continue;
		answer(&f, &req[i], 100, PR_OP_LOAD, PR_F_REPLY | PR_F_MORE, 0,
		       b.data, b.len);
		answer(&f, &req[i], 100, PR_OP_LOAD, PR_F_REPLY, 0, b.data,
		       b.len);
	}
	ck_assert_int_eq(pr_call_wait(c, 4, sl_now_ms() + 2000, &rep), 0);
	ck_assert(rep.h.flags & PR_F_MORE);
	ck_assert(c[0].pending);
	ck_assert_int_eq(pr_call_wait(c, 4, sl_now_ms() + 2000, &rep), 0);
	ck_assert(!(rep.h.flags & PR_F_MORE));
	ck_assert(!c[0].pending);
	/* Call 1 never gets an answer. */
	ck_assert_int_eq(pr_call_wait(c, 4, sl_now_ms() + 100, &rep),
			 -ETIMEDOUT);
	ck_assert(c[1].pending);
	pr_buf_fini(&b);
	pr_msg_close(&rep);
	for (int i = 0; i < 3; i++) {
		pr_msg_close(&req[i]);
		zmq_close(s[i]);
	}
	fake_close(&f);
}
END_TEST

/* LZ4-packed replies come unpacked; a corrupt one is malformed. */
START_TEST(test_lz4_reply)
{
	rig_t r;
	pr_call_t c;
	static char raw[4096];

	rig_open(&r);
	memset(raw, 'z', sizeof(raw));
	ck_assert_int_eq(pr_lz4_pack(&r.b, raw, sizeof(raw)), 0);
	start(&c, r.s, PR_OP_READ, 1, 2000);
	take(&r.f, &r.req);
	answer(&r.f, &r.req, 1, PR_OP_READ, PR_F_REPLY | PR_F_LZ4, 0, r.b.data,
	       r.b.len);
	ck_assert_int_eq(pr_call_wait(&c, 1, sl_now_ms() + 2000, &r.rep), 0);
	ck_assert(!(r.rep.h.flags & PR_F_LZ4));
	ck_assert_uint_eq(pr_msg_body_len(&r.rep), sizeof(raw));
	ck_assert_mem_eq(pr_msg_body(&r.rep), raw, sizeof(raw));

	r.b.data[r.b.len - 1] ^= 0xff; /* the LZ4 stream's last literal */
	r.b.data[0] ^= 0x01;	       /* and the announced raw length */
	start(&c, r.s, PR_OP_READ, 2, 2000);
	take(&r.f, &r.req);
	answer(&r.f, &r.req, 2, PR_OP_READ, PR_F_REPLY | PR_F_LZ4, 0, r.b.data,
	       r.b.len);
	ck_assert_int_eq(pr_call_wait(&c, 1, sl_now_ms() + 100, &r.rep),
			 -ETIMEDOUT);
	ck_assert_int_eq(c.bad, -EBADMSG);
	answer(&r.f, &r.req, 3, PR_OP_READ, PR_F_REPLY | PR_F_LZ4, 0, r.b.data,
	       r.b.len);
	ck_assert_int_eq(pr_recv_until(r.s, &r.rep, sl_now_ms() + 2000),
			 -EBADMSG);
	rig_close(&r);
}
END_TEST

/* A send queue that stays full ends the start at its deadline. */
START_TEST(test_start_bounded)
{
	void *ctx = zmq_ctx_new();
	void *s = zmq_socket(ctx, ZMQ_DEALER);
	int one = 1, zero = 0, rc = 0;
	pr_header_t h = {.opcode = PR_OP_HELLO};
	pr_call_t c;
	uint64_t t0;
	char ep[64];

	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(s, ZMQ_SNDHWM, &one, sizeof(one));
	/* Nobody listens there: the pipe queues, up to its HWM. */
	snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%d", th_free_port());
	ck_assert_int_eq(zmq_connect(s, ep), 0);
	t0 = sl_now_ms();
	for (uint64_t id = 1; id < 100 && rc == 0; id++) {
		h.req_id = id;
		rc = pr_call_start(&c, s, &h, NULL, 0, sl_now_ms() + 100);
	}
	ck_assert_int_eq(rc, -ETIMEDOUT);
	ck_assert(!c.pending);
	ck_assert_uint_lt(sl_now_ms() - t0, 2000);
	zmq_close(s);
	zmq_ctx_term(ctx);

	ck_assert_ptr_null(
		pr_dealer_open(ctx = zmq_ctx_new(), "nonsense", &rc));
	ck_assert_int_eq(rc, -EINVAL);
	zmq_ctx_term(ctx);
}
END_TEST

/* A wait whose deadline has passed still takes what is waiting: the
 * tests' "drain what came" loops, th_client_recv(c, r, 0), rely on it. */
START_TEST(test_recv_past_deadline)
{
	int port = th_free_port(), zero = 0;
	void *ctx = zmq_ctx_new(), *router = zmq_socket(ctx, ZMQ_ROUTER);
	char ep[64];
	th_client_t *cli;
	th_reply_t r;
	pr_msg_t req;

	snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%d", port);
	zmq_setsockopt(router, ZMQ_LINGER, &zero, sizeof(zero));
	ck_assert_int_eq(zmq_bind(router, ep), 0);
	cli = th_client_new(ep, 2000);
	ck_assert_ptr_nonnull(cli);
	pr_msg_init(&req);
	ck_assert_int_gt(th_client_send(cli, PR_OP_HELLO, NULL, 0), 0);
	ck_assert_int_eq(pr_recv(router, &req, 1, 0), 0);
	{
		fake_t f = {ctx, router};

		answer(&f, &req, req.h.req_id, PR_OP_HELLO, PR_F_REPLY, 0, "x",
		       1);
	}
	/* Let it arrive, then ask with no time at all. */
	ck_assert_int_eq(
		zmq_poll(&(zmq_pollitem_t){.socket = th_client_socket(cli),
					   .events = ZMQ_POLLIN},
			 1, 2000),
		1);
	ck_assert_int_eq(th_client_recv(cli, &r, 0), 0);
	ck_assert_uint_eq(r.h.req_id, req.h.req_id);
	ck_assert_uint_eq(r.len, 1);
	th_reply_free(&r);
	ck_assert_int_eq(th_client_recv(cli, &r, 0), -ETIMEDOUT);
	pr_msg_close(&req);
	th_client_destroy(&cli);
	zmq_close(router);
	zmq_ctx_term(ctx);
}
END_TEST

/* A bound ROUTER on a free loopback port, its endpoint in ep[64]. */
static void *router_at(void *ctx, char *ep)
{
	void *r = zmq_socket(ctx, ZMQ_ROUTER);
	int zero = 0, tmo = 5000;

	zmq_setsockopt(r, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(r, ZMQ_RCVTIMEO, &tmo, sizeof(tmo));
	ck_assert_int_eq(zmq_bind(r, ep), 0);
	return r;
}

/* Nothing is queued for a peer that is not there (ZMQ_IMMEDIATE): a send
 * fails at once, and the peer, once up, gets only what came after. */
START_TEST(test_dealer_immediate)
{
	void *ctx = zmq_ctx_new(), *s, *r;
	pr_header_t h = {.opcode = PR_OP_HELLO, .req_id = 1};
	zmq_pollitem_t it;
	char ep[64];
	pr_msg_t req;
	int err = 0;

	snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%d", th_free_port());
	s = pr_dealer_open(ctx, ep, &err);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(pr_send(s, NULL, &h, NULL, 0, ZMQ_DONTWAIT), -EAGAIN);
	r = router_at(ctx, ep);
	it = (zmq_pollitem_t){.socket = s, .events = ZMQ_POLLOUT};
	ck_assert_int_eq(zmq_poll(&it, 1, 3000), 1); /* connected */
	h.req_id = 2;
	ck_assert_int_eq(pr_send(s, NULL, &h, NULL, 0, ZMQ_DONTWAIT), 0);
	pr_msg_init(&req);
	ck_assert_int_eq(pr_recv(r, &req, 1, 0), 0);
	ck_assert_uint_eq(req.h.req_id, 2);
	ck_assert_int_eq(pr_recv(r, &req, 1, ZMQ_DONTWAIT), -EAGAIN);
	pr_msg_close(&req);
	zmq_close(s);
	zmq_close(r);
	zmq_ctx_term(ctx);
}
END_TEST

static void *answer_one(void *arg)
{
	fake_t *f = arg;
	pr_msg_t req;

	pr_msg_init(&req);
	if (pr_recv(f->router, &req, 1, 0) == 0)
		answer(f, &req, req.h.req_id, req.h.opcode, PR_F_REPLY, 0, "y",
		       1);
	pr_msg_close(&req);
	return NULL;
}

/* Requests posted to an unreachable peer and a live one: the live one's
 * goes out as soon as its connection is up and is answered; the other
 * waits, unsent, and never holds it up. */
START_TEST(test_post_does_not_wait)
{
	void *ctx = zmq_ctx_new(), *s[2];
	char dead[64], live[64];
	pr_call_t c[2];
	fake_t f = {ctx, NULL};
	pthread_t th;
	pr_msg_t rep;
	int err = 0;

	snprintf(dead, sizeof(dead), "tcp://127.0.0.1:%d", th_free_port());
	snprintf(live, sizeof(live), "tcp://127.0.0.1:%d", th_free_port());
	f.router = router_at(ctx, live);
	ck_assert_int_eq(pthread_create(&th, NULL, answer_one, &f), 0);
	s[0] = pr_dealer_open(ctx, dead, &err);
	s[1] = pr_dealer_open(ctx, live, &err);
	ck_assert(s[0] && s[1]);
	for (int i = 0; i < 2; i++) {
		pr_header_t h = {.opcode = PR_OP_HELLO,
				 .req_id = (uint64_t)i + 1};

		ck_assert_int_eq(pr_call_post(&c[i], s[i], &h, "x", 1), 0);
		ck_assert(c[i].pending);
	}
	ck_assert(c[0].unsent);
	pr_msg_init(&rep);
	ck_assert_int_eq(pr_call_wait(c, 2, sl_now_ms() + 3000, &rep), 1);
	ck_assert_uint_eq(rep.h.req_id, 2);
	ck_assert(c[0].pending && c[0].unsent);
	ck_assert_int_eq(pr_call_wait(c, 2, sl_now_ms() + 200, &rep),
			 -ETIMEDOUT);
	pthread_join(th, NULL);
	for (int i = 0; i < 2; i++) {
		pr_call_clear(&c[i]);
		ck_assert(!c[i].pending && !c[i].body);
		zmq_close(s[i]);
	}
	pr_msg_close(&rep);
	zmq_close(f.router);
	zmq_ctx_term(ctx);
}
END_TEST

static Suite *call_suite(void)
{
	return TH_SUITE(
		"proto_call",
		{.name = "call",
		 .tests = TH_TESTS(
			 test_wait_matches, test_timeout_keeps_the_bad_reply,
			 test_wait_many, test_lz4_reply, test_start_bounded,
			 test_recv_past_deadline, test_dealer_immediate,
			 test_post_does_not_wait),
		 .timeout = 60});
}

int main(void)
{
	return th_check_run(call_suite(), NULL);
}
