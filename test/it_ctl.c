/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration: sluicectl against a real cache node, a node that answers
 * every request with a malformed reply (a ROUTER in this process), and an
 * address where nobody listens.  Checks what an operator reads: each
 * node's state and the reason it is down, the counters of `stats`, the
 * exit statuses, and that a silent or broken node costs the command no
 * more than its timeout.
 */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static void setup(void)
{
	char text[2048], data[600];
	char *argv[] = {NULL,	      (char *)"-c", conf, (char *)"--node",
			(char *)"n1", NULL};
	static char bin[512];
	int port = th_free_port(), mport = th_free_port();
	int bport = th_free_port(), dport = th_free_port();
	th_client_t *cli;
	int rc, zero = 0;

	tmp = th_tmpdir("it-ctl");
	ck_assert_ptr_nonnull(tmp);
	snprintf(ep_good, sizeof(ep_good), "tcp://127.0.0.1:%d", port);
	snprintf(ep_bad, sizeof(ep_bad), "tcp://127.0.0.1:%d", bport);
	snprintf(ep_dead, sizeof(ep_dead), "tcp://127.0.0.1:%d", dport);
	snprintf(conf, sizeof(conf), "%s/cluster.conf", tmp);
	snprintf(nlog, sizeof(nlog), "%s/node.log", tmp);
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

	snprintf(bin, sizeof(bin), "%s/sluice-cachenode", th_build_dir());
	argv[0] = bin;
	node_pid = th_proc_spawn(argv, nlog);
	ck_assert_int_gt(node_pid, 0);
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

int main(void)
{
	Suite *s = suite_create("it_ctl");
	TCase *tc = tcase_create("ctl");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_status);
	tcase_add_test(tc, test_stats);
	suite_add_tcase(s, tc);
	return th_check_run(s, &(th_check_opts_t){.tmp_tag = "it-ctl"});
}
