/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration: sluicectl against a real cache node, a node that answers
 * every request with a malformed reply (a ROUTER in this process), and an
 * address where nobody listens.  Checks what an operator reads: each
 * node's state and the reason it is down, the counters of `stats`, the
 * exit statuses, and that a silent or broken node costs the command no
 * more than its timeout; and `advise` on a node whose RAM holds a third of
 * a dataset read twice: every byte of the second pass counted refetched,
 * and the advice four nodes of its size; beside it a small dataset read
 * twice that fits: no refetch of its own, the second pass from RAM, its
 * row and `datasets`' served bytes its own to the byte.
 */
#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "common/util.h"
#include "proto/proto.h"
#include "proto/transport.h"
#include "test/helper_check.h"
#include "test/helper_client.h"
#include "test/helper_proc.h"

#define TIMEOUT 10000

static char *tmp;
static char conf[512], nlog[512], ep_good[64], ep_bad[64], ep_dead[64];
static pid_t node_pid;
static void *bad_ctx, *bad_router;
static pthread_t bad_thread;
static atomic_int bad_answers;

/* The broken node: every request gets a reply whose body hash is wrong. */
static void *bad_main(void *arg)
{
	pr_msg_t m;

	(void)arg;
	pr_msg_init(&m);
	while (pr_recv(bad_router, &m, 1, 0) != -ETERM) {
		pr_header_t h = {.opcode = m.h.opcode,
				 .flags = PR_F_REPLY,
				 .req_id = m.h.req_id,
				 .body_len = 3,
				 .body_hash = 1};
		uint8_t hdr[PR_HEADER_SIZE];

		if (!m.has_identity || pr_header_encode(&h, hdr) < 0)
			continue;
		zmq_msg_send(&m.identity, bad_router, ZMQ_SNDMORE);
		zmq_msg_init(&m.identity);
		zmq_send(bad_router, hdr, sizeof(hdr), ZMQ_SNDMORE);
		zmq_send(bad_router, "bad", 3, 0);
		atomic_fetch_add(&bad_answers, 1);
	}
	pr_msg_close(&m);
	zmq_close(bad_router);
	return NULL;
}

/* A fixture's places: a fresh tmp for cluster.conf (conf) and node.log
 * (nlog), and ep_good on port. */
static void make_places(const char *tag, int port)
{
	tmp = th_tmpdir(tag);
	ck_assert_ptr_nonnull(tmp);
	snprintf(ep_good, sizeof(ep_good), "tcp://127.0.0.1:%d", port);
	snprintf(conf, sizeof(conf), "%s/cluster.conf", tmp);
	snprintf(nlog, sizeof(nlog), "%s/node.log", tmp);
}

/* Start n1 of conf, logging to nlog. */
static void spawn_node(void)
{
	static char bin[512];
	char *argv[] = {bin,	      (char *)"-c", conf, (char *)"--node",
			(char *)"n1", NULL};

	snprintf(bin, sizeof(bin), "%s/sluice-cachenode", th_build_dir());
	node_pid = th_proc_spawn(argv, nlog);
	ck_assert_int_gt(node_pid, 0);
}

static void setup(void)
{
	char text[2048], data[600];
	int port = th_free_port(), mport = th_free_port();
	int bport = th_free_port(), dport = th_free_port();
	th_client_t *cli;
	int rc, zero = 0;

	make_places("it-ctl", port);
	snprintf(ep_bad, sizeof(ep_bad), "tcp://127.0.0.1:%d", bport);
	snprintf(ep_dead, sizeof(ep_dead), "tcp://127.0.0.1:%d", dport);
	snprintf(data, sizeof(data), "%s/data", tmp);
	ck_assert_int_eq(mkdir(data, 0755), 0);
	snprintf(text, sizeof(text),
		 "[cluster]\nname = itctl\nmodule_dir = %s\n\n"
		 "[node n1]\naddr = %s\nmetrics_addr = 127.0.0.1:%d\n"
		 "ram_capacity = 16M\nworkers = 2\n\n"
		 "[node n2]\naddr = %s\nram_capacity = 16M\n\n"
		 "[node n3]\naddr = %s\nram_capacity = 16M\n\n"
		 "[dataset d1]\nbackend = posix\nuri = file://%s\n",
		 th_build_dir(), ep_good, mport, ep_bad, ep_dead, data);
	ck_assert_int_eq(th_write_file(conf, text, strlen(text)), 0);

	bad_ctx = zmq_ctx_new();
	bad_router = zmq_socket(bad_ctx, ZMQ_ROUTER);
	zmq_setsockopt(bad_router, ZMQ_LINGER, &zero, sizeof(zero));
	ck_assert_int_eq(zmq_bind(bad_router, ep_bad), 0);
	ck_assert_int_eq(pthread_create(&bad_thread, NULL, bad_main, NULL), 0);

	spawn_node();
	cli = th_client_await_node(ep_good, node_pid, TIMEOUT, &rc);
	th_client_destroy(&cli);
	ck_assert_msg(rc != -ESRCH, "node died at start");
	ck_assert_msg(rc == 0, "node did not answer HELLO: %d", rc);
}

static void teardown(void)
{
	th_proc_stop(node_pid, SIGTERM, TIMEOUT, NULL);
	node_pid = 0;
	zmq_ctx_shutdown(bad_ctx); /* the thread's recv ends with ETERM */
	pthread_join(bad_thread, NULL);
	zmq_ctx_term(bad_ctx);
	th_rmtree(tmp);
	free(tmp);
}

/* Run sluicectl -c conf ARGS; its exit status, stdout+stderr in *out. */
static int ctl(const char *args, char **out)
{
	char cmd[2048];
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", cmd, NULL};

	snprintf(cmd, sizeof(cmd), "%s/sluicectl -c %s %s 2>&1", th_build_dir(),
		 conf, args);
	return th_run_capture(argv, TIMEOUT, out);
}

/* The line of out that starts with name (a copy; caller frees), or "". */
static char *line_of(const char *out, const char *name)
{
	size_t nl = strlen(name);

	for (const char *p = out; p && *p;
	     p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, name, nl) == 0 && p[nl] == ' ')
			return sl_xstrndup(p, strcspn(p, "\n"));
	return sl_xstrdup("");
}

START_TEST(test_status)
{
	char *out, *l;
	uint64_t t0 = sl_now_ms();

	ck_assert_int_eq(ctl("-t 300 status", &out), 1);
	/* Three nodes, each given its 300 ms at most. */
	ck_assert_uint_lt(sl_now_ms() - t0, 3000);
	ck_assert_ptr_nonnull(strstr(out, "cluster itctl"));
	l = line_of(out, "n1");
	ck_assert_msg(strstr(l, " UP ") != NULL, "%s", out);
	free(l);
	l = line_of(out, "n2");
	ck_assert_msg(strstr(l, " DOWN ") && strstr(l, "(Bad message)"), "%s",
		      out);
	free(l);
	l = line_of(out, "n3");
	ck_assert_msg(strstr(l, " DOWN ") &&
			      strstr(l, "(Connection timed out)"),
		      "%s", out);
	free(l);
	ck_assert_int_ge(atomic_load(&bad_answers), 1);
	free(out);
}
END_TEST

START_TEST(test_stats)
{
	char *out;

	ck_assert_int_eq(ctl("stats n1", &out), 0);
	ck_assert_msg(strstr(out, "n1\tsluice_ram_used_bytes\t") != NULL, "%s",
		      out);
	free(out);
	ck_assert_int_eq(ctl("-t 200 stats n2", &out), 1);
	ck_assert_msg(strstr(out, "sluicectl: n2 (") != NULL &&
			      strstr(out, "): Bad message") != NULL,
		      "%s", out);
	free(out);
	ck_assert_int_eq(ctl("stats n9", &out), 2);
	ck_assert_ptr_nonnull(strstr(out, "no node 'n9'"));
	free(out);
	ck_assert_int_eq(ctl("-t 0 status", &out), 2);
	free(out);
}
END_TEST

START_TEST(test_advise_down)
{
	char *out;

	/* n2 and n3 do not answer: no advice from part of the cluster. */
	ck_assert_int_eq(ctl("-t 300 advise", &out), 1);
	ck_assert_msg(strstr(out, "sluicectl: n2 (") != NULL, "%s", out);
	free(out);
	ck_assert_int_eq(ctl("advise --window 0", &out), 2);
	free(out);
	ck_assert_int_eq(ctl("advise --headroom x", &out), 2);
	free(out);
	ck_assert_int_eq(ctl("advise --bogus", &out), 2);
	free(out);
}
END_TEST

#define ADV_FILES 24 /* of one 1 MiB block each: 3 x the node's RAM */
#define ADV_SMALL 2  /* files of d2, which fits */

/* n files of one 1 MiB block each in dir (made): NAMEnn (name, then two
 * digits), file i all of byte fill + i. */
static void make_files(const char *dir, char name, char fill, int n)
{
	char p[700], *block = sl_xmalloc(1u << 20);

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	for (int i = 0; i < n; i++) {
		memset(block, fill + i, 1u << 20);
		snprintf(p, sizeof(p), "%s/%c%02d", dir, name, i);
		ck_assert_int_eq(th_write_file(p, block, 1u << 20), 0);
	}
	free(block);
}

/* One node of 8 MiB of RAM (7.5 of it for blocks) and ADV_FILES files. */
static void setup_advise(void)
{
	char text[2048], data[600], data2[600];
	int port = th_free_port();

	make_places("it-ctl-advise", port);
	snprintf(data, sizeof(data), "%s/data", tmp);
	snprintf(data2, sizeof(data2), "%s/data2", tmp);
	make_files(data, 'f', 'a', ADV_FILES);
	make_files(data2, 'g', 'A', ADV_SMALL);
	/* lru: the refetches advise reads are LRU's; auto would pin the
	 * 24 MiB dataset on the 8 MiB node. */
	snprintf(text, sizeof(text),
		 "[cluster]\nname = itadvise\nmodule_dir = %s\n\n"
		 "[node n1]\naddr = %s\nram_capacity = 8M\nworkers = 2\n\n"
		 "[dataset d1]\nbackend = posix\nuri = file://%s\n"
		 "block_size = 1M\npolicy = lru\n\n"
		 "[dataset d2]\nbackend = posix\nuri = file://%s\n"
		 "block_size = 1M\npolicy = lru\n",
		 th_build_dir(), ep_good, data, data2);
	ck_assert_int_eq(th_write_file(conf, text, strlen(text)), 0);
	spawn_node();
	ck_assert_int_eq(th_wait_port(port, TIMEOUT), 0);
}

static void teardown_advise(void)
{
	th_proc_stop(node_pid, SIGTERM, TIMEOUT, NULL);
	node_pid = 0;
	th_rmtree(tmp);
	free(tmp);
}

static uint64_t json_u64(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	ck_assert_msg(json_is_integer(v), "no %s", key);
	return (uint64_t)json_integer_value(v);
}

/* Read each file of dataset ds (prefix c, n files) twice over, in order,
 * checking its first byte. */
static void two_passes(th_client_t *cli, const char *ds, char c, int n)
{
	char path[16], *buf = sl_xmalloc(1u << 20);

	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%c%02d",
				 c == 'a' ? 'f' : 'g', i);
			ck_assert_int_eq(th_client_read(cli, ds, path, "", 0, 0,
							0, buf, 1u << 20),
					 1u << 20);
			ck_assert_int_eq(buf[0], c + i);
		}
	free(buf);
}

/* The object of array a whose "name" is name. */
static json_t *named(json_t *a, const char *name)
{
	for (size_t i = 0; i < json_array_size(a); i++) {
		json_t *o = json_array_get(a, i);
		const char *n = json_string_value(json_object_get(o, "name"));

		if (n && strcmp(n, name) == 0)
			return o;
	}
	ck_abort_msg("no %s", name);
	return NULL;
}

START_TEST(test_advise)
{
	th_client_t *cli = th_client_new(ep_good, TIMEOUT);
	uint64_t deadline;
	char *out;
	json_error_t jerr;
	json_t *a, *d1, *d2, *ds;

	ck_assert_ptr_nonnull(cli);
	/* Two passes in order: LRU keeps the last 7 blocks of the first,
	 * so every block of the second is fetched again; d2's two blocks
	 * stay for its second pass. */
	two_passes(cli, "d1", 'a', ADV_FILES);
	two_passes(cli, "d2", 'A', ADV_SMALL);
	th_client_destroy(&cli);

	/* The cached bytes are recounted every 5 s: d2's 2 MiB. */
	deadline = sl_now_ms() + 3 * TIMEOUT;
	for (;;) {
		ck_assert_int_eq(ctl("advise --json", &out), 0);
		a = json_loads(out, 0, &jerr);
		ck_assert_msg(a != NULL, "not JSON: %s", out);
		d2 = named(json_object_get(a, "datasets"), "d2");
		if (json_u64(d2, "used_bytes") == 2u << 20 ||
		    sl_now_ms() > deadline)
			break;
		json_decref(a);
		free(out);
		usleep(250000);
	}
	ck_assert_uint_eq(json_u64(a, "nodes"), 1);
	ck_assert_uint_eq(json_u64(a, "capacity_bytes"), 8u << 20);
	ck_assert_uint_eq(json_u64(a, "backend_bytes"),
			  (2ull * ADV_FILES + ADV_SMALL) << 20);
	ck_assert_uint_eq(json_u64(a, "refetched_bytes"),
			  (uint64_t)ADV_FILES << 20);
	ck_assert_uint_eq(json_u64(a, "working_set_bytes"),
			  (uint64_t)(ADV_FILES + ADV_SMALL) << 20);
	/* 26 MiB + 10% over 8 MiB nodes: 4. */
	ck_assert_uint_eq(json_u64(a, "nodes_needed"), 4);
	ck_assert_str_eq(
		json_string_value(json_object_get(a, "recommendation")),
		"add 3 nodes: 4 of this size would hold the hot "
		"working set");
	/* Per dataset: d1 refetched its second pass whole, d2 nothing;
	 * the node's figures are theirs added up. */
	ds = json_object_get(a, "datasets");
	ck_assert_uint_eq(json_array_size(ds), 2);
	d1 = named(ds, "d1");
	ck_assert_uint_eq(json_u64(d1, "backend_bytes"),
			  2ull * ADV_FILES << 20);
	ck_assert_uint_eq(json_u64(d1, "refetched_bytes"),
			  (uint64_t)ADV_FILES << 20);
	ck_assert_uint_eq(json_u64(d1, "working_set_bytes"),
			  (uint64_t)ADV_FILES << 20);
	ck_assert_uint_eq(json_u64(d2, "backend_bytes"),
			  (uint64_t)ADV_SMALL << 20);
	ck_assert_uint_eq(json_u64(d2, "refetched_bytes"), 0);
	ck_assert_uint_eq(json_u64(d2, "used_bytes"), 2u << 20);
	ck_assert(json_real_value(json_object_get(d2, "capacity_used_ratio")) ==
		  0.25);
	ck_assert_uint_eq(json_u64(d2, "working_set_bytes"),
			  (uint64_t)ADV_SMALL << 20);
	json_decref(a);
	free(out);
	/* datasets: each one's bytes by the tier that served them. */
	ck_assert_int_eq(ctl("datasets --json", &out), 0);
	a = json_loads(out, 0, &jerr);
	ck_assert_msg(a != NULL, "not JSON: %s", out);
	d1 = json_object_get(named(a, "d1"), "served_bytes");
	d2 = json_object_get(named(a, "d2"), "served_bytes");
	ck_assert_uint_eq(json_u64(d1, "backend"), 2ull * ADV_FILES << 20);
	ck_assert_uint_eq(json_u64(d1, "node_ram"), 0);
	ck_assert_uint_eq(json_u64(d2, "backend"), (uint64_t)ADV_SMALL << 20);
	ck_assert_uint_eq(json_u64(d2, "node_ram"), (uint64_t)ADV_SMALL << 20);
	json_decref(a);
	free(out);
	/* The text form, over a window with nothing read: no demand. */
	ck_assert_int_eq(ctl("advise --window 0.2 --headroom 0", &out), 0);
	ck_assert_msg(strstr(out, "nodes needed          4\n") &&
			      strstr(out, "backend demand 0 B/s") &&
			      strstr(out, "add 3 nodes") &&
			      strstr(out, "\nd1 ") && strstr(out, "\nd2 ") &&
			      strstr(out, "\n(cluster) "),
		      "%s", out);
	free(out);
	/* advise NAME: that dataset's row and the cluster's only. */
	ck_assert_int_eq(ctl("advise d2 --headroom 0", &out), 0);
	ck_assert_msg(!strstr(out, "\nd1 ") && strstr(out, "\nd2 ") &&
			      strstr(out, " 0.25\n(cluster) "),
		      "%s", out);
	free(out);
	ck_assert_int_eq(ctl("advise nosuch", &out), 1);
	free(out);
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE(
		"it_ctl",
		{.name = "ctl",
		 .tests = TH_TESTS(test_status, test_stats, test_advise_down),
		 .timeout = 120,
		 .setup = setup,
		 .teardown = teardown},
		{.name = "advise",
		 .tests = TH_TESTS(test_advise),
		 .timeout = 120,
		 .setup = setup_advise,
		 .teardown = teardown_advise});

	return th_check_run(s, &(th_check_opts_t){.tmp_tag = "it-ctl"});
}
