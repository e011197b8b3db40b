/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The FUSE client's I/O thread against stand-in nodes (ROUTER sockets of
 * the test's own on loopback ports): a request for a node that is not
 * there fails over at once, without waiting for its timeout; nothing is
 * queued for a dead node, so it gets no stale burst of requests when it
 * comes back; and a request made before a connection is up waits for it
 * (start-up) instead of failing.  A node that joins the map later gets a
 * socket of its own under the same rules: until it is up, what it owns
 * goes to the next node at once, and it gets nothing stale once it is.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "common/util.h"
#include "fuse/cluster.h"
#include "fuse/io.h"
#include "proto/transport.h"
#include "test/helper_check.h"
#include "test/helper_proc.h"

static char names[2][8] = {"a", "b"};
static char addrs[2][64];
static fc_cluster_t *cl;
static fc_io_t *io;
static void *zctx;

static void make_cluster(size_t n)
{
	pr_hello_node_t nodes[2];
	pr_hello_t h = {.cluster = pr_str("c"), .node = pr_str("a")};
	char err[256];

	for (size_t i = 0; i < n; i++) {
		snprintf(addrs[i], sizeof(addrs[i]), "tcp://127.0.0.1:%d",
			 th_free_port());
		nodes[i] = (pr_hello_node_t){pr_str(names[i]), pr_str(addrs[i]),
					     1};
	}
	h.n_nodes = (uint32_t)n;
	h.nodes = nodes;
	cl = fc_cluster_from_hello(&h, NULL, err, sizeof(err));
	ck_assert_msg(cl, "%s", err);
	zctx = zmq_ctx_new();
}

static void start_io(uint64_t timeout_ms)
{
	fc_io_opts_t o = {.timeout_ms = timeout_ms, .backoff_ms = 60000};
	int err = 0;

	io = fc_io_new(cl, &o, NULL, &err);
	ck_assert_msg(io, "fc_io_new: %d", err);
}

static void teardown(void)
{
	fc_io_destroy(&io);
	fc_cluster_unref(&cl);
	if (zctx)
		zmq_ctx_term(zctx);
	zctx = NULL;
}

/* A stand-in node bound to node i's address. */
static void *node_up(size_t i)
{
	void *r = zmq_socket(zctx, ZMQ_ROUTER);
	int zero = 0;

	ck_assert_ptr_nonnull(r);
	zmq_setsockopt(r, ZMQ_LINGER, &zero, sizeof(zero));
	ck_assert_int_eq(zmq_bind(r, addrs[i]), 0);
	return r;
}

/* Answer one request arriving at r within ms (status 0, empty body):
 * 1, or 0 when none came. */
static int serve_one(void *r, int ms)
{
	zmq_pollitem_t it = {.socket = r, .events = ZMQ_POLLIN};
	pr_header_t h = {0};
	pr_msg_t m;
	int rc;

	if (zmq_poll(&it, 1, ms) <= 0)
		return 0;
	pr_msg_init(&m);
	rc = pr_recv(r, &m, 1, ZMQ_DONTWAIT);
	ck_assert_int_eq(rc, 0);
	h.opcode = m.h.opcode;
	h.flags = PR_F_REPLY;
	h.req_id = m.h.req_id;
	h.ring_version = cl->ring_version;
	ck_assert_int_eq(pr_send(r, &m.identity, &h, NULL, 0, 0), 0);
	pr_msg_close(&m);
	return 1;
}

static uint64_t point_in(const fc_cluster_t *map, size_t owner)
{
	for (uint64_t p = 1;; p += 0x9e3779b97f4a7c15ull)
		if (sl_ring_owner(map->ring, p) == owner)
			return p;
}

static uint64_t point_of(size_t owner)
{
	return point_in(cl, owner);
}

/* Answer one request at r within ms as a node of a newer ring (another
 * version, generation 5), and the HELLO that follows with the map of
 * nodes a and b. */
static void serve_newer_ring(void *r, int ms)
{
	pr_hello_node_t hn[2] = {
		{pr_str(names[0]), pr_str(addrs[0]), 1},
		{pr_str(names[1]), pr_str(addrs[1]), 1},
	};
	pr_hello_t hello = {.cluster = pr_str("c"),
			    .node = pr_str("a"),
			    .generation = 5,
			    .n_nodes = 2,
			    .nodes = hn};
	zmq_pollitem_t it = {.socket = r, .events = ZMQ_POLLIN};
	int hellos = 0;

	while (!hellos) {
		pr_header_t h = {.flags = PR_F_REPLY,
				 .ring_version = 0x5eed,
				 .generation = 5};
		pr_buf_t b;
		pr_msg_t m;

		ck_assert_msg(zmq_poll(&it, 1, ms) > 0, "no request at a");
		pr_msg_init(&m);
		ck_assert_int_eq(pr_recv(r, &m, 1, ZMQ_DONTWAIT), 0);
		h.opcode = m.h.opcode;
		h.req_id = m.h.req_id;
		pr_buf_init(&b);
		if (m.h.opcode == PR_OP_HELLO) {
			ck_assert_int_eq(pr_hello_encode(&b, &hello), 0);
			hellos++;
		}
		ck_assert_int_eq(pr_send(r, &m.identity, &h, b.data, b.len, 0),
				 0);
		pr_buf_fini(&b);
		pr_msg_close(&m);
	}
}

/* One request's outcome, filled by the I/O thread. */
typedef struct result {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done, status; /* protected by lock */
	char why[512];	  /* protected by lock */
} result_t;

static void on_done(void *arg, const fc_io_result_t *res)
{
	result_t *r = arg;

	pthread_mutex_lock(&r->lock);
	r->status = res->status;
	snprintf(r->why, sizeof(r->why), "%s", res->why ? res->why : "");
	r->done = 1;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

/* A STATS request for point, answered into r. */
static void submit(result_t *r, uint64_t point)
{
	fc_io_req_t q = {.opcode = PR_OP_STATS,
			 .point = point,
			 .done = on_done,
			 .arg = r};

	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	ck_assert_int_eq(fc_io_submit(io, &q, 1), 0);
}

/* 1 when r completed within ms. */
static int wait_result(result_t *r, int ms)
{
	struct timespec ts;
	int done;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&r->lock);
	while (!r->done && pthread_cond_timedwait(&r->cond, &r->lock, &ts) == 0)
		;
	done = r->done;
	pthread_mutex_unlock(&r->lock);
	return done;
}

/* Node sock gets the one request within ms (else fail with why), and
 * its answer ends the request well within ms more. */
static void expect_served(void *sock, result_t *r, int ms, const char *why)
{
	ck_assert_msg(serve_one(sock, ms), "%s", why);
	ck_assert(wait_result(r, ms));
	ck_assert_int_eq(r->status, 0);
}

/* The owner is not there, the next node is: answered at once, not after
 * the owner's 3 s timeout. */
START_TEST(test_unconnected_fails_over_at_once)
{
	result_t r;
	void *b;

	make_cluster(2);
	b = node_up(1);
	start_io(3000);
	usleep(300000); /* the connection to b is up, a's never comes */
	submit(&r, point_of(0));
	expect_served(b, &r, 1000, "b did not get the request in 1 s");
	zmq_close(b);
}
END_TEST

/* A request for a dead node fails (EIO, after its timeout) and is not
 * kept: the node, back, gets nothing stale. */
START_TEST(test_no_stale_burst)
{
	result_t r;
	void *a;

	make_cluster(1);
	start_io(300);
	submit(&r, 1);
	ck_assert(wait_result(&r, 3000));
	ck_assert_int_eq(r.status, -EIO);
	ck_assert_msg(strstr(r.why, "no connection") ||
			      strstr(r.why, "no answer"),
		      "%s", r.why);
	a = node_up(0);
	ck_assert_msg(!serve_one(a, 1000),
		      "the node got a request given up before it came up");
	zmq_close(a);
}
END_TEST

/* Made before the connection is up (a mount's first request), a request
 * waits for it rather than failing. */
START_TEST(test_waits_for_connection)
{
	result_t r;
	void *a;

	make_cluster(1);
	start_io(3000);
	submit(&r, 1);
	usleep(300000);
	ck_assert(!wait_result(&r, 0));
	a = node_up(0);
	expect_served(a, &r, 2000, "the request never came");
	zmq_close(a);
}
END_TEST

/* Node b joins the map (a's HELLO lists it) before it is up: a request
 * it owns goes to a at once, not after b's 3 s timeout; b, once up, gets
 * nothing stale, and the next request it owns. */
START_TEST(test_joined_node)
{
	fc_cluster_t *map;
	result_t r;
	void *a, *b;

	make_cluster(1);
	snprintf(addrs[1], sizeof(addrs[1]), "tcp://127.0.0.1:%d",
		 th_free_port());
	a = node_up(0);
	start_io(3000);
	submit(&r, 1);
	serve_newer_ring(a, 2000);
	ck_assert(wait_result(&r, 1000));
	ck_assert_int_eq(r.status, 0);
	map = fc_io_map_newer(io, cl, 2000);
	ck_assert_uint_eq(map->n_nodes, 2);

	submit(&r, point_in(map, 1));
	expect_served(a, &r, 1000, "a did not get b's request in 1 s");

	b = node_up(1);
	ck_assert_msg(!serve_one(b, 500), "b got a request given to a");
	submit(&r, point_in(map, 1));
	expect_served(b, &r, 2000, "b never got its request");
	fc_cluster_unref(&map);
	zmq_close(a);
	zmq_close(b);
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE(
		"fc_io",
		{.name = "io",
		 .tests = TH_TESTS(test_unconnected_fails_over_at_once,
				   test_no_stale_burst,
				   test_waits_for_connection, test_joined_node),
		 .timeout = 30,
		 .teardown = teardown});

	return th_check_run(s, NULL);
}
