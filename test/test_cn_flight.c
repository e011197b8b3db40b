/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Single flight.  First the table itself; then the real server (event
 * loop, RAM tier, workers, flights) run in a thread of this process with a
 * counting fake backend whose reads wait at a gate the test opens: 64
 * pipelined READs of one cold block (various ranges) become exactly one
 * backend read and 64 correct replies; the same with READs that do not
 * know the version (one STAT, one read); a slow backend read does not hold
 * up a cache hit; a backend error reaches every waiter; a reload that
 * changes the block size under a fetch in flight leaves nothing the new
 * layout could mistake for its own.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cachenode/flight.h"
#include "cachenode/server.h"
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"
#include "test/helper_backend.h"
#include "test/helper_client.h"
#include "test/helper_node.h"
#include "test/helper_proc.h"
#include "test/helper_check.h"

#define FILE_SIZE (1u << 20)
#define BS	  (64u << 10)
#define N_REQ	  64

/* ---- The table --------------------------------------------------------- */

START_TEST(test_table_join)
{
	cn_flights_t *ft = cn_flights_new();
	sl_blockkey_t k1 = {1, 2}, k2 = {3, 4};
	int created, w[3];
	cn_flight_t *f, *g;

	f = cn_flights_join(ft, k1, &w[0], &created);
	ck_assert_int_eq(created, 1);
	ck_assert_ptr_eq(cn_flights_join(ft, k1, &w[1], &created), f);
	ck_assert_int_eq(created, 0);
	ck_assert_ptr_eq(cn_flights_join(ft, k1, NULL, &created), f);
	g = cn_flights_join(ft, k2, &w[2], &created);
	ck_assert_int_eq(created, 1);
	ck_assert_ptr_ne(f, g);
	ck_assert_uint_eq(f->n_waiters, 2);
	ck_assert_ptr_eq(f->waiters[0], &w[0]);
	ck_assert_ptr_eq(f->waiters[1], &w[1]);
	ck_assert_uint_eq(cn_flights_count(ft), 2);
	cn_flights_remove(ft, f);
	cn_flight_free(f);
	ck_assert_ptr_null(cn_flights_find(ft, k1));
	ck_assert_ptr_eq(cn_flights_find(ft, k2), g);
	/* A new miss after completion starts a new flight. */
	f = cn_flights_join(ft, k1, NULL, &created);
	ck_assert_int_eq(created, 1);
	ck_assert_uint_eq(f->n_waiters, 0);
	cn_flights_remove(ft, f);
	cn_flight_free(f);
	f = cn_flights_find(ft, k2);
	cn_flights_remove(ft, g);
	cn_flight_free(g);
	cn_flights_destroy(&ft);
}
END_TEST

/* ---- A counting, gated backend ------------------------------------------ */

static _Atomic int reads, stats;
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_closed; /* protected by gate_lock */

static void gate_set(int closed)
{
	pthread_mutex_lock(&gate_lock);
	gate_closed = closed;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
}

static void gate_wait(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20; /* never hang a test */
	pthread_mutex_lock(&gate_lock);
	while (gate_closed &&
	       pthread_cond_timedwait(&gate_cond, &gate_lock, &ts) == 0)
		;
	pthread_mutex_unlock(&gate_lock);
}

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)((off * 131) ^ (off >> 9));
}

static int f_stat(void *state, const char *path, sb_stat_t *st, char *err,
		  size_t errlen)
{
	(void)state;
	atomic_fetch_add(&stats, 1);
	memset(st, 0, sizeof(*st));
	if (!strcmp(path, "") || !strcmp(path, "dir")) {
		st->type = SB_TYPE_DIR;
		return 0;
	}
	if (strncmp(path, "file", 4) != 0) {
		snprintf(err, errlen, "no %s", path);
		return -ENOENT;
	}
	st->type = SB_TYPE_FILE;
	st->size = FILE_SIZE;
	strcpy(st->version, "v1");
	return 0;
}

static ssize_t f_read(void *state, const char *path, const char *version,
		      uint64_t offset, void *buf, size_t len, char *err,
		      size_t errlen)
{
	uint8_t *p = buf;
	size_t n;

	(void)state;
	atomic_fetch_add(&reads, 1);
	gate_wait();
	if (strncmp(path, "file", 4) != 0)
		return -ENOENT;
	if (strcmp(version, "v1") != 0) {
		snprintf(err, errlen, "version is v1, not %s", version);
		return -ESTALE;
	}
	if (offset >= FILE_SIZE)
		return 0;
	n = SL_MIN(len, FILE_SIZE - offset);
	for (size_t i = 0; i < n; i++)
		p[i] = pattern(offset + i);
	return (ssize_t)n;
}

static const sb_ops_t fake_ops = {
	.abi_version = SB_ABI_VERSION,
	.ops_size = sizeof(sb_ops_t),
	.name = "fake",
	.open = th_backend_open_stateless,
	.close = th_backend_close_stateless,
	.stat = f_stat,
	.list = th_backend_list_empty,
	.read = f_read,
};

/* ---- An in-process node -------------------------------------------------- */

static th_node_t node;
static th_client_t *cli;

static void start_node_with(const char *ram, int workers, const char *policy);

static void start_node(void)
{
	start_node_with("64M", 4, "lru");
}

static void start_node_with(const char *ram, int workers, const char *policy)
{
	static const sb_ops_t *const builtins[] = {&fake_ops};
	cn_server_opts_t opts = {
		.builtins = builtins, .n_builtins = 1, .drain_ms = 2000};
	char keys[256], datasets[256], err[512];

	atomic_store(&reads, 0);
	atomic_store(&stats, 0);
	gate_set(0);
	snprintf(keys, sizeof(keys), "ram_capacity = %s\nworkers = %d\n", ram,
		 workers);
	snprintf(datasets, sizeof(datasets),
		 "[dataset ds]\nbackend = fake\nuri = fake://\n"
		 "block_size = 64K\npolicy = %s\n",
		 policy);
	ck_assert_msg(th_node_start(&node, keys, datasets, &opts, err,
				    sizeof(err)) == 0,
		      "%s", err);
	cli = th_client_new(node.endpoint, 10000);
	ck_assert_ptr_nonnull(cli);
}

static void stop_node(void)
{
	gate_set(0);
	th_client_destroy(&cli);
	th_node_stop(&node);
}

/* Wait until the node holds n unanswered requests (all arrived). */
static void wait_in_flight(int64_t n)
{
	cn_metrics_t *m = cn_server_metrics(node.srv);
	uint64_t deadline = sl_now_ms() + 10000;

	while (atomic_load(&m->in_flight) < n && sl_now_ms() < deadline)
		usleep(1000);
	ck_assert_int_eq(atomic_load(&m->in_flight), n);
}

/* Wait until the backend has seen n reads (a worker picked the job up),
 * then give any wrongful extra read time to show. */
static void wait_reads(int n)
{
	uint64_t deadline = sl_now_ms() + 10000;

	while (atomic_load(&reads) < n && sl_now_ms() < deadline)
		usleep(1000);
	usleep(50000);
	ck_assert_int_eq(atomic_load(&reads), n);
}

/* Send N_REQ READs of block 3 with distinct ranges; return their ids. */
static void send_reads(const char *version, int64_t ids[N_REQ])
{
	for (int i = 0; i < N_REQ; i++) {
		pr_buf_t b;

		ck_assert_int_eq(
			th_encode_read(&b, "ds", th_client_layout(cli, "ds"),
				       "file1", version, 3, (uint32_t)i * 1000,
				       i == 0 ? 0 : 777),
			0);
		ids[i] = th_client_send(cli, PR_OP_READ, b.data, b.len);
		pr_buf_fini(&b);
		ck_assert_int_gt(ids[i], 0);
	}
}

static void check_replies(const int64_t ids[N_REQ])
{
	for (int k = 0; k < N_REQ; k++) {
		th_reply_t r;
		int i;
		uint64_t off;
		size_t want;

		ck_assert_int_eq(th_client_recv(cli, &r, 10000), 0);
		ck_assert_int_eq(r.h.status, 0);
		for (i = 0; i < N_REQ && ids[i] != (int64_t)r.h.req_id; i++)
			;
		ck_assert_int_lt(i, N_REQ);
		off = 3ull * BS + (uint64_t)i * 1000;
		want = i == 0 ? BS : 777;
		ck_assert_uint_eq(r.len, want);
		for (size_t j = 0; j < r.len; j++)
			ck_assert_uint_eq(r.body[j], pattern(off + j));
		th_reply_free(&r);
	}
}

START_TEST(test_64_misses_one_backend_read)
{
	cn_metrics_t *m;
	int64_t ids[N_REQ];

	start_node();
	m = cn_server_metrics(node.srv);
	gate_set(1);
	send_reads("v1", ids);
	wait_in_flight(N_REQ);
	/* Everyone is waiting on one fetch, parked at the gate. */
	wait_reads(1);
	ck_assert_uint_eq(atomic_load(&m->flight_joins), N_REQ - 1);
	gate_set(0);
	check_replies(ids);
	ck_assert_int_eq(atomic_load(&reads), 1);
	ck_assert_uint_eq(atomic_load(&m->backend_reads), 1);
	ck_assert_uint_eq(atomic_load(&m->ram_misses), N_REQ);
	/* Now cached: 64 hits, still one backend read. */
	send_reads("v1", ids);
	check_replies(ids);
	ck_assert_int_eq(atomic_load(&reads), 1);
	ck_assert_uint_eq(atomic_load(&m->ram_hits), N_REQ);
	ck_assert_int_eq(atomic_load(&m->in_flight), 0);
	stop_node();
}
END_TEST

START_TEST(test_64_misses_without_version)
{
	int64_t ids[N_REQ];

	start_node();
	gate_set(1);
	send_reads("", ids);
	wait_in_flight(N_REQ);
	gate_set(0);
	check_replies(ids);
	ck_assert_int_eq(atomic_load(&stats), 1);
	ck_assert_int_eq(atomic_load(&reads), 1);
	stop_node();
}
END_TEST

START_TEST(test_slow_read_does_not_block_hits)
{
	uint8_t buf[BS];
	th_reply_t r;
	pr_buf_t b;
	int64_t slow;
	uint64_t t0;

	start_node();
	/* Cache block 0. */
	ck_assert_int_eq(th_client_read(cli, "ds", "file1", "v1", 0, 0, 0, buf,
					sizeof(buf)),
			 BS);
	/* Block 1 gets stuck in the backend... */
	gate_set(1);
	ck_assert_int_eq(th_encode_read(&b, "ds", th_client_layout(cli, "ds"),
					"file1", "v1", 1, 0, 0),
			 0);
	slow = th_client_send(cli, PR_OP_READ, b.data, b.len);
	pr_buf_fini(&b);
	wait_in_flight(1);
	wait_reads(2);
	/* ...while block 0 is served from RAM at once. */
	t0 = sl_now_ms();
	th_client_set_timeout(cli, 2000);
	ck_assert_int_eq(th_client_read(cli, "ds", "file1", "v1", 0, 10, 20,
					buf, sizeof(buf)),
			 20);
	ck_assert_uint_lt(sl_now_ms() - t0, 1000);
	for (int j = 0; j < 20; j++)
		ck_assert_uint_eq(buf[j], pattern(10 + (uint64_t)j));
	gate_set(0);
	ck_assert_int_eq(th_client_recv(cli, &r, 10000), 0);
	ck_assert_uint_eq(r.h.req_id, (uint64_t)slow);
	ck_assert_uint_eq(r.len, BS);
	ck_assert_uint_eq(r.body[0], pattern(BS));
	th_reply_free(&r);
	stop_node();
}
END_TEST

START_TEST(test_error_reaches_every_waiter)
{
	int64_t ids[N_REQ];

	start_node();
	gate_set(1);
	send_reads("v0", ids);
	wait_in_flight(N_REQ);
	gate_set(0);
	for (int k = 0; k < N_REQ; k++) {
		th_reply_t r;

		ck_assert_int_eq(th_client_recv(cli, &r, 10000), 0);
		ck_assert_int_eq(r.h.status, -ESTALE);
		th_reply_free(&r);
	}
	ck_assert_int_eq(atomic_load(&reads), 1);
	/* Failures are not cached: the next try reads again. */
	ck_assert_int_eq(
		th_client_read(cli, "ds", "file1", "v0", 3, 0, 0, NULL, 0),
		-ESTALE);
	ck_assert_int_eq(atomic_load(&reads), 2);
	stop_node();
}
END_TEST

/*
 * A pinned cache of 512K: 7 blocks fit, the slack takes 3 more, and with 16
 * fetch slots the 11th miss finds no memory.  It must wait (not fail), and
 * be woken when a served transient block is freed: all 20 answered.  The
 * misses come from 10 clients, 2 each: one client alone may not hold more
 * than 2 of these blocks' worth of replies at once (senders.c).
 */
START_TEST(test_memory_wait)
{
	enum { N = 20, PER = 2 };
	th_client_t *c[N / PER];
	cn_metrics_t *m;
	int64_t ids[N];
	int seen[N] = {0};

	start_node_with("512K", 8, "pin");
	m = cn_server_metrics(node.srv);
	gate_set(1);
	for (int i = 0; i < N; i++) {
		pr_buf_t b;
		char path[16];

		if (i % PER == 0) {
			c[i / PER] = th_client_new(node.endpoint, 10000);
			ck_assert_ptr_nonnull(c[i / PER]);
		}
		snprintf(path, sizeof(path), "file%d", i / 10);
		ck_assert_int_eq(
			th_encode_read(&b, "ds",
				       th_client_layout(c[i / PER], "ds"), path,
				       "v1", (uint64_t)(i % 10), 0, 0),
			0);
		ids[i] = th_client_send(c[i / PER], PR_OP_READ, b.data, b.len);
		pr_buf_fini(&b);
	}
	wait_in_flight(N);
	ck_assert_uint_ge(atomic_load(&m->memory_waits), 1);
	ck_assert_uint_le(atomic_load(&m->ram_used), 512u << 10);
	gate_set(0);
	for (int k = 0; k < N; k++) {
		th_reply_t r;
		int i;

		/* Request ids are per client: look among its own. */
		ck_assert_int_eq(th_client_recv(c[k / PER], &r, 10000), 0);
		ck_assert_int_eq(r.h.status, 0);
		for (i = k / PER * PER;
		     i < (k / PER + 1) * PER && ids[i] != (int64_t)r.h.req_id;
		     i++)
			;
		ck_assert_int_lt(i, (k / PER + 1) * PER);
		ck_assert_int_eq(seen[i]++, 0);
		ck_assert_uint_eq(r.len, BS);
		for (size_t j = 0; j < r.len; j += 4093)
			ck_assert_uint_eq(r.body[j],
					  pattern((uint64_t)(i % 10) * BS + j));
		th_reply_free(&r);
	}
	for (int k = 0; k < N / PER; k++)
		th_client_destroy(&c[k]);
	ck_assert_int_eq(atomic_load(&reads), 20);
	ck_assert_uint_eq(atomic_load(&m->admitted), 7);
	ck_assert_uint_eq(atomic_load(&m->not_admitted), 13);
	stop_node();
}
END_TEST

/*
 * SIGTERM semantics, in process: a fetch in flight when the stop comes is
 * finished and answered; a request that arrives during the drain gets
 * -ESHUTDOWN; a fetch that outlives the drain time is answered with
 * -ESHUTDOWN and the loop returns anyway.
 */
START_TEST(test_stop_drains)
{
	th_reply_t r;
	pr_buf_t b;
	int64_t id;
	uint64_t t0;

	start_node();
	gate_set(1);
	ck_assert_int_eq(th_encode_read(&b, "ds", th_client_layout(cli, "ds"),
					"file1", "v1", 0, 0, 0),
			 0);
	id = th_client_send(cli, PR_OP_READ, b.data, b.len);
	wait_in_flight(1);
	/* In the backend, not still queued: a stop fails queued fetches
	 * -ESHUTDOWN at once, and the HELLO call below would swallow that
	 * reply; the loop, with nothing left, then ended before reading the
	 * HELLO (both seen under load: -ETIMEDOUT on the HELLO, or on the
	 * READ's reply). */
	wait_reads(1);
	cn_server_stop(node.srv);
	ck_assert_int_eq(th_client_call(cli, PR_OP_HELLO, NULL, 0, NULL),
			 -ESHUTDOWN);
	gate_set(0);
	ck_assert_int_eq(th_client_recv(cli, &r, 10000), 0);
	ck_assert_uint_eq(r.h.req_id, (uint64_t)id);
	ck_assert_int_eq(r.h.status, 0);
	ck_assert_uint_eq(r.len, BS);
	th_reply_free(&r);
	th_node_stop(&node);
	th_client_destroy(&cli);

	/* Now a fetch that never finishes in time (drain_ms is 2000). */
	start_node();
	gate_set(1);
	id = th_client_send(cli, PR_OP_READ, b.data, b.len);
	pr_buf_fini(&b);
	wait_in_flight(1);
	wait_reads(1);
	t0 = sl_now_ms();
	cn_server_stop(node.srv);
	ck_assert_int_eq(th_client_recv(cli, &r, 10000), 0);
	ck_assert_uint_eq(r.h.req_id, (uint64_t)id);
	ck_assert_int_eq(r.h.status, -ESHUTDOWN);
	ck_assert_uint_ge(sl_now_ms() - t0, 1900);
	th_reply_free(&r);
	/* The loop returned with the fetch still stuck in the backend. */
	pthread_join(node.thread, NULL);
	node.running = 0;
	gate_set(0);
	th_node_stop(&node);
	th_client_destroy(&cli);
}
END_TEST

/*
 * A reload changes the dataset's block size (64K -> 128K) while a fetch
 * of block 1 waits in the backend.  The READ that asked under the old
 * layout gets the old layout's bytes; nothing of that fetch is left where
 * the new layout could find it: block 1 under the new layout is its own
 * 128K from the backend.  A request still made under the old layout is
 * refused with -EREMCHG (READ, PREFETCH, PEER_READ alike).
 */
START_TEST(test_reload_changes_layout)
{
	static uint8_t buf[2 * BS];
	static const uint8_t ops[] = {PR_OP_READ, PR_OP_PREFETCH,
				      PR_OP_PEER_READ};
	const char *ds128 = "[dataset ds]\nbackend = fake\nuri = fake://\n"
			    "block_size = 128K\npolicy = lru\n";
	th_client_t *cli2;
	uint32_t old, now;
	th_reply_t r;
	pr_buf_t b;
	char err[256];
	int64_t id;

	start_node();
	old = th_client_layout(cli, "ds");
	ck_assert_uint_ne(old, 0);
	gate_set(1);
	ck_assert_int_eq(th_encode_read(&b, "ds", old, "file1", "v1", 1, 0, 0),
			 0);
	id = th_client_send(cli, PR_OP_READ, b.data, b.len);
	wait_reads(1);
	ck_assert_msg(th_node_reload(&node, "ram_capacity = 64M\nworkers = 4\n",
				     ds128, err, sizeof(err)) == 0,
		      "%s", err);
	cli2 = th_client_new(node.endpoint, 10000);
	now = th_client_layout(cli2, "ds");
	ck_assert_uint_ne(now, 0);
	ck_assert_uint_ne(now, old);
	gate_set(0);

	/* The READ made before the reload: block 1 of 64K. */
	ck_assert_int_eq(th_client_recv(cli, &r, 10000), 0);
	ck_assert_uint_eq(r.h.req_id, (uint64_t)id);
	ck_assert_int_eq(r.h.status, 0);
	ck_assert_uint_eq(r.len, BS);
	for (size_t j = 0; j < r.len; j++)
		ck_assert_uint_eq(r.body[j], pattern(BS + j));
	th_reply_free(&r);

	/* Made under the old layout after the reload: refused. */
	for (size_t i = 0; i < SL_ARRAY_SIZE(ops); i++)
		ck_assert_int_eq(
			th_client_call(cli, ops[i], b.data, b.len, NULL),
			-EREMCHG);
	ck_assert_ptr_nonnull(strstr(th_client_errmsg(cli), "fetch the map"));
	pr_buf_fini(&b);

	/* Block 1 under the new layout: bytes 128K..256K, a backend read of
	 * its own, then a RAM hit. */
	for (int pass = 0; pass < 2; pass++) {
		ck_assert_int_eq(th_client_read(cli2, "ds", "file1", "v1", 1, 0,
						0, buf, sizeof(buf)),
				 2 * BS);
		for (size_t j = 0; j < 2 * BS; j++)
			ck_assert_uint_eq(buf[j], pattern(2 * BS + j));
		ck_assert_int_eq(atomic_load(&reads), 2);
	}
	th_client_destroy(&cli2);
	stop_node();
}
END_TEST

int main(void)
{
	Suite *s =
		TH_SUITE("cn_flight",
			 {.name = "table", .tests = TH_TESTS(test_table_join)},
			 {.name = "server",
			  .tests = TH_TESTS(test_64_misses_one_backend_read,
					    test_64_misses_without_version,
					    test_slow_read_does_not_block_hits,
					    test_error_reaches_every_waiter,
					    test_memory_wait, test_stop_drains,
					    test_reload_changes_layout),
			  .timeout = 120});

	sl_log_init("test_cn_flight", SL_LOG_WARNING);
	return th_check_run(s, NULL);
}
