/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration tests of a cluster that changes under a mount: real cache
 * nodes (test/helper_cluster.h), a real FUSE mount, real readers.
 *
 *   layout   a SIGHUP changes the dataset's block size (64K -> 128K)
 *            while mounted: every file read afterwards, including ones
 *            read before whose pages are dropped, equals the store's, and
 *            the client swapped in the nodes' new map without a remount.
 *   static   nodes join and leave the config's list (SIGHUP) during a
 *            DataLoader epoch: no error, the client follows in time.
 *
 * Needs root and /dev/fuse.
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/etcd.h"
#include "common/log.h"
#include "common/members.h"
#include "common/util.h"
#include "test/helper_check.h"
#include "test/helper_cluster.h"
#include "test/helper_etcd.h"
#include "test/helper_proc.h"

static char work[PATH_MAX];
static unsigned run_id; /* names this run's network namespaces */

/* ---- layout ------------------------------------------------------------ */

#define LAYOUT_FILES 40

/*
 * The reproduction: 3 nodes serve ds with 64K blocks to a mount;
 * the config says 128K and every node gets SIGHUP.  A client that kept
 * its 64K map would ask for block N and get the bytes of block N at 128K
 * (the first difference at byte 65,537 of the file); the nodes refuse a
 * READ made under the old layout (-EREMCHG), the client fetches their map
 * and reads again.
 */
START_TEST(test_layout_change)
{
	th_cluster_t c;
	const char *verbose[] = {"-v", NULL};
	int bad = 0;

	ck_assert_int_eq(th_cl_init(&c, work, "layout"), 0);
	ck_assert_int_eq(th_cl_make_files(&c, LAYOUT_FILES, 150000, 700000, 7),
			 0);
	sl_strlcpy(c.client_keys, "request_timeout = 1s\n",
		   sizeof(c.client_keys));
	for (int i = 0; i < 3; i++)
		th_cl_add_node(&c, NULL, NULL, 1);
	ck_assert_int_eq(th_cl_write_conf(&c), 0);
	for (int i = 0; i < c.n; i++)
		ck_assert_int_eq(th_cl_node_start(&c, i, NULL), 0);
	ck_assert_int_eq(th_cl_mount(&c, verbose), 0);

	for (int i = 0; i < LAYOUT_FILES / 2; i++)
		bad += !th_cl_same_file(&c, i, 0);
	ck_assert_int_eq(bad, 0);

	sl_strlcpy(c.block_size, "128K", sizeof(c.block_size));
	ck_assert_int_eq(th_cl_write_conf(&c), 0);
	for (int i = 0; i < c.n; i++)
		ck_assert_int_eq(th_cl_node_signal(&c, i, SIGHUP), 0);
	for (int i = 0; i < c.n; i++)
		ck_assert_int_eq(
			th_wait_in_file(c.node[i].log, "reloaded", 1, 10000),
			0);

	/* Files never read, then the first ones again from the mount. */
	for (int i = LAYOUT_FILES / 2; i < LAYOUT_FILES; i++)
		bad += !th_cl_same_file(&c, i, 0);
	for (int i = 0; i < LAYOUT_FILES / 2; i++)
		bad += !th_cl_same_file(&c, i, 1);
	ck_assert_int_eq(bad, 0);
	ck_assert_int_ge(th_count_in_file(c.fclog, "cluster map from"), 1);
	ck_assert_int_ge(th_count_in_file(c.fclog, "block size 131072"), 1);
	ck_assert_int_eq(th_cl_unmount(&c), 0);
	th_cl_fini(&c);
}
END_TEST

/* ---- static membership ------------------------------------------------ */

#define EPOCH_FILES 240	 /* per epoch; three epochs' worth */
#define TIMEOUT_MS  1000 /* the client's request_timeout */

/* A cluster of n listed nodes and a mount over EPOCH_FILES small files
 * (and room for more nodes, not listed yet); with net, each node is a host
 * of its own (a network namespace). */
static void static_cluster(th_cluster_t *c, const char *name, int n, int more,
			   const th_net_t *net)
{
	const char *verbose[] = {"-v", NULL};

	ck_assert_int_eq(th_cl_init(c, work, name), 0);
	for (int e = 0; e < 3; e++) {
		char sub[8];

		snprintf(sub, sizeof(sub), "e%d", e);
		ck_assert_int_eq(th_cl_make_files_in(c, sub, EPOCH_FILES, 2000,
						     90000, 11 + (uint64_t)e),
				 0);
	}
	snprintf(c->client_keys, sizeof(c->client_keys),
		 "request_timeout = %dms\nblock_cache = 32M\n", TIMEOUT_MS);
	sl_strlcpy(c->node_keys, "ram_capacity = 128M\nworkers = 2\n",
		   sizeof(c->node_keys));
	for (int i = 0; i < n + more; i++) {
		char ns[32], ip[32];

		if (net) {
			th_net_ns(net, i, ns, sizeof(ns));
			th_net_ip(net, i, ip, sizeof(ip));
		}
		th_cl_add_node(c, net ? ip : NULL, net ? ns : NULL, i < n);
	}
	ck_assert_int_eq(th_cl_write_conf(c), 0);
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(th_cl_node_start(c, i, NULL), 0);
	ck_assert_int_eq(th_cl_mount(c, verbose), 0);
}

/* SIGHUP nodes [0, n) (running ones). */
static void hup_all(th_cluster_t *c, int n)
{
	for (int i = 0; i < n; i++)
		if (c->node[i].pid > 0)
			ck_assert_int_eq(th_cl_node_signal(c, i, SIGHUP), 0);
}

/* The client's k-th swap to a ring of n members, within ms; what is
 * printed says how long it took. */
static void follows(th_cluster_t *c, int n, int k, int ms, const char *what)
{
	char needle[64];
	uint64_t t0 = sl_now_ms();
	int rc;

	snprintf(needle, sizeof(needle), ", %d nodes (was", n);
	rc = th_wait_in_file(c->fclog, needle, k, ms);
	fprintf(stderr, "%s: the client's ring had %d members after %llu ms\n",
		what, n, (unsigned long long)(sl_now_ms() - t0));
	ck_assert_int_eq(rc, 0);
}

/* sluicectl drain NODE --grace GRACE --no-wait, which must succeed. */
static void ctl_drain(const th_cluster_t *c, const char *node,
		      const char *grace)
{
	char ctl[PATH_MAX + 16];
	const char *argv[] = {ctl,	 "-c",	c->conf,     "drain", node,
			      "--grace", grace, "--no-wait", NULL};

	snprintf(ctl, sizeof(ctl), "%s/sluicectl", c->build);
	ck_assert_int_eq(th_run_capture((char *const *)argv, 20000, NULL), 0);
}

/* Start an epoch over files never read (subdirectory e<e>) and wait
 * until a quarter of it is read. */
static pid_t epoch_start(th_cluster_t *c, int e)
{
	char sub[8];
	pid_t ld;

	snprintf(sub, sizeof(sub), "e%d", e);
	ld = th_cl_loader_start(c, sub, 1, 2, 25);
	uint64_t deadline = sl_now_ms() + 60000;

	ck_assert_int_gt(ld, 0);
	while (th_cl_loader_done(c) < EPOCH_FILES / 4 && th_proc_alive(ld) &&
	       sl_now_ms() < deadline)
		usleep(20000);
	ck_assert_int_ge(th_cl_loader_done(c), EPOCH_FILES / 4);
	return ld;
}

/*
 * Static membership: a 4th node joins the config and every node gets
 * SIGHUP while an epoch runs; the epoch ends with every sample right,
 * the client's ring has 4 members within 2 x request_timeout, and the
 * new node serves reads.  Then the reverse: it leaves the config (its own
 * reload refuses a config without it; it goes on answering), SIGHUP, and
 * the next epoch is as good, on a ring of 3.
 */
START_TEST(test_static_join_leave)
{
	th_cluster_t c;
	pid_t ld;

	static_cluster(&c, "static", 3, 1, NULL);
	ld = epoch_start(&c, 0);
	c.node[3].listed = 1;
	ck_assert_int_eq(th_cl_write_conf(&c), 0);
	ck_assert_int_eq(th_cl_node_start(&c, 3, NULL), 0);
	hup_all(&c, 3);
	follows(&c, 4, 1, 2 * TIMEOUT_MS, "static: a node joined");
	ck_assert_int_eq(th_cl_loader_wait(&c, ld, 120000), 0);
	ck_assert_int_gt(th_cl_node_value(&c, 3,
					  "sluice_requests_total{op=\"READ\","
					  "status=\"ok\"}"),
			 0);

	ld = epoch_start(&c, 1);
	c.node[3].listed = 0;
	ck_assert_int_eq(th_cl_write_conf(&c), 0);
	hup_all(&c, 4);
	follows(&c, 3, 1, 2 * TIMEOUT_MS, "static: a node left");
	ck_assert_int_eq(th_cl_loader_wait(&c, ld, 120000), 0);
	ck_assert_int_eq(th_cl_unmount(&c), 0);
	th_cl_fini(&c);
}
END_TEST

/* ---- hand-off ----------------------------------------------------------- */

/* Read every file of epoch e through the mount: how many differ. */
static int read_epoch(th_cluster_t *c, int e)
{
	char sub[8];
	int bad = 0;

	snprintf(sub, sizeof(sub), "e%d", e);
	for (int i = 0; i < EPOCH_FILES; i++)
		bad += !th_cl_same_file_in(c, sub, i);
	return bad;
}

static int64_t backend_reads(const th_cluster_t *c)
{
	return th_cl_sum(c, "sluice_backend_reads_total");
}

static int64_t handoffs(const th_cluster_t *c, const char *result)
{
	char name[64];

	snprintf(name, sizeof(name),
		 "sluice_handoff_reads_total{result=\"%s\"}", result);
	return th_cl_sum(c, name);
}

/* An epoch read from a fresh mount (no client cache): the backend reads
 * it cost, and the hand-offs (blocks asked of their previous owner). */
static void measured_epoch(th_cluster_t *c, int e, const char *what)
{
	const char *verbose[] = {"-v", NULL};
	const char *peer = "sluice_served_blocks_total{tier=\"peer\"}";
	int64_t b0, h0, m0, p0, b, h, m;

	ck_assert_int_eq(th_cl_mount(c, verbose), 0);
	b0 = backend_reads(c);
	h0 = handoffs(c, "hit");
	m0 = handoffs(c, "miss");
	p0 = th_cl_sum(c, peer);
	ck_assert_int_eq(read_epoch(c, e), 0);
	b = backend_reads(c) - b0;
	h = handoffs(c, "hit") - h0;
	m = handoffs(c, "miss") - m0;
	/* Each block a hand-off brought went to the client as the peer's
	 * (the READ reply's tier, PROTOCOL.md section 2). */
	ck_assert_int_eq(th_cl_sum(c, peer) - p0, h);
	fprintf(stderr,
		"hand-off, %s: %lld moved blocks asked of their previous "
		"owner (%lld had it), %lld backend reads (%.1f%%)\n",
		what, (long long)(h + m), (long long)h, (long long)b,
		h + m ? 100.0 * (double)b / (double)(h + m) : 0.0);
	ck_assert_int_gt(h + m, EPOCH_FILES / 8);
	ck_assert_int_le(b * 20, h + m);
	/* Hand-offs cross the wire gate (gate.c) as requests at the node
	 * asked and as blocks on the asker's own connection, which the
	 * gate does not follow: it cut nothing. */
	ck_assert_int_eq(th_cl_sum(c, "sluice_connections_cut_total"), 0);
	ck_assert_int_eq(th_cl_unmount(c), 0);
}

/* The share of keys the last ring change moved, as node i says, is a
 * quarter, within 3 points. */
static void check_moved(th_cluster_t *c, int i)
{
	int64_t ppm = th_cl_node_value(c, i, "sluice_ring_keys_moved_ppm");

	fprintf(stderr, "hand-off: %.2f%% of the keys moved\n",
		(double)ppm / 1e4);
	ck_assert_int_ge(ppm, 220000);
	ck_assert_int_le(ppm, 280000);
}

/*
 * 3 nodes warm over epoch e0; a 4th joins.  Reading e0 again (a fresh
 * mount, so every block is asked of the nodes), the blocks that moved to
 * the new node are taken from their previous owners: backend reads are
 * at most 5% of the moved blocks.  Then the 4th node, warm with its share
 * of e1, is drained: reading e1 again, its blocks come from it, not from
 * the backend, while it answers its peers during the grace.  Each node is
 * a host of its own: a network namespace with its own address on a
 * bridge, so peer reads cross a link as between machines.
 */
START_TEST(test_handoff)
{
	th_cluster_t c;
	th_net_t net;

	/* When nodes without CurveZMQ keys refuse non-loopback addresses,
	 * this cluster needs [cluster] security = none (cluster_keys). */
	ck_assert_int_eq(th_net_setup(&net, run_id, 4), 0);
	static_cluster(&c, "handoff", 3, 1, &net);
	ck_assert_int_eq(read_epoch(&c, 0), 0);
	ck_assert_int_eq(th_cl_unmount(&c), 0);

	c.node[3].listed = 1;
	ck_assert_int_eq(th_cl_write_conf(&c), 0);
	ck_assert_int_eq(th_cl_node_start(&c, 3, NULL), 0);
	hup_all(&c, 3);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(th_wait_in_file(c.node[i].log,
						 "4 members; joined n3", 1,
						 10000),
				 0);
	check_moved(&c, 0);
	measured_epoch(&c, 0, "a node joined");

	/* Warm the 4 nodes with e1, then drain n3. */
	ck_assert_int_eq(th_cl_mount(&c, NULL), 0);
	ck_assert_int_eq(read_epoch(&c, 1), 0);
	ck_assert_int_eq(th_cl_unmount(&c), 0);
	ctl_drain(&c, "n3", "60s");
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(
			th_wait_in_file(c.node[i].log, "drain n3", 1, 10000),
			0);
	check_moved(&c, 0);
	measured_epoch(&c, 1, "a node drained");
	ck_assert_int_eq(th_cl_node_value(&c, 3, "sluice_drain_state"), 1);
	/* A node that asked its peers stops cleanly (its sockets to them
	 * closed before its ZeroMQ context), exit status 0. */
	ck_assert_int_gt(th_cl_node_value(&c, 0,
					  "sluice_handoff_reads_total{result="
					  "\"hit\"}"),
			 0);
	ck_assert_int_eq(th_cl_node_stop(&c, 0, SIGTERM, 10000), 0);
	th_cl_fini(&c);
	th_net_teardown(run_id);
}
END_TEST

/*
 * replicas = 2: every block is kept on the first two nodes of its
 * preference list (the owner hands a copy to the second).  With a node
 * killed, a fresh mount reads the whole epoch again: the blocks of the
 * dead node come from their second nodes, not from the backend.
 */
START_TEST(test_replicas)
{
	th_cluster_t c;
	int64_t copies, b0, b;

	ck_assert_int_eq(th_cl_init(&c, work, "replicas"), 0);
	ck_assert_int_eq(
		th_cl_make_files_in(&c, "e0", EPOCH_FILES, 2000, 90000, 31), 0);
	sl_strlcpy(c.sections, "", sizeof(c.sections));
	snprintf(c.client_keys, sizeof(c.client_keys),
		 "request_timeout = %dms\nblock_cache = 32M\n", TIMEOUT_MS);
	sl_strlcpy(c.node_keys, "ram_capacity = 128M\nworkers = 2\n",
		   sizeof(c.node_keys));
	sl_strlcpy(c.dataset_keys, "replicas = 2\n", sizeof(c.dataset_keys));
	ck_assert_int_eq(th_cl_up(&c, 3), 0);
	ck_assert_int_eq(read_epoch(&c, 0), 0);
	ck_assert_int_eq(th_cl_unmount(&c), 0);
	/* The copies are pulled in the background: wait for them. */
	for (int t = 0; t < 100; t++) {
		copies = th_cl_sum(&c,
				   "sluice_replicas_total{dir=\"received\"}");
		if (copies >=
		    th_cl_sum(&c, "sluice_replicas_total{dir=\"sent\"}"))
			break;
		usleep(50000);
	}
	fprintf(stderr, "replicas: %lld copies handed on\n", (long long)copies);
	ck_assert_int_ge(copies, EPOCH_FILES);
	th_cl_node_kill(&c, 1);
	b0 = backend_reads(&c);
	ck_assert_int_eq(th_cl_mount(&c, NULL), 0);
	ck_assert_int_eq(read_epoch(&c, 0), 0);
	b = backend_reads(&c) - b0;
	fprintf(stderr,
		"replicas: a node killed, the epoch again: %lld "
		"backend reads\n",
		(long long)b);
	ck_assert_int_le(b * 20, copies / 3);
	ck_assert_int_eq(th_cl_unmount(&c), 0);
	th_cl_fini(&c);
}
END_TEST

/*
 * --drain-on-term: SIGTERM takes the node out of placement (with static
 * membership its peers are told: their rings lose it), it answers peers
 * for its grace, then exits 0.
 */
START_TEST(test_drain_on_term)
{
	const char *extra[] = {"--drain-on-term", "--grace", "1s", NULL};
	th_cluster_t c;
	uint64_t t0;
	int st;

	ck_assert_int_eq(th_cl_init(&c, work, "term"), 0);
	for (int i = 0; i < 3; i++)
		th_cl_add_node(&c, NULL, NULL, 1);
	ck_assert_int_eq(th_cl_write_conf(&c), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(th_cl_node_start(&c, i, i == 2 ? extra : NULL),
				 0);
	t0 = sl_now_ms();
	ck_assert_int_eq(th_cl_node_signal(&c, 2, SIGTERM), 0);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(
			th_wait_in_file(c.node[i].log, "drain n2", 1, 5000), 0);
		ck_assert_int_eq(th_cl_node_value(&c, i, "sluice_ring_members"),
				 2);
	}
	ck_assert_int_eq(th_proc_wait(c.node[2].pid, 10000, &st), 0);
	c.node[2].pid = 0;
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ck_assert_uint_ge(sl_now_ms() - t0, 1000);
	ck_assert_int_eq(th_count_in_file(c.node[2].log, "drained"), 1);
	th_cl_fini(&c);
}
END_TEST

/* ---- etcd membership ------------------------------------------------------
 */

/* The members etcd lists now (under c's prefix), or -1. */
static int etcd_members(const char *url)
{
	sl_members_opts_t o = {.endpoints = url,
			       .prefix = "/sluice/itcl/",
			       .timeout_ms = 2000};
	const sl_members_set_t *set;
	char why[256];
	int rc, n;

	set = sl_members_fetch(&o, &rc, why, sizeof(why));
	n = set ? (int)set->count : -1;
	sl_members_set_put(&set);
	return n;
}

static void wait_members(const char *url, int n)
{
	uint64_t deadline = sl_now_ms() + 20000;

	while (etcd_members(url) != n && sl_now_ms() < deadline)
		usleep(50000);
	ck_assert_int_eq(etcd_members(url), n);
}

/* Start node i of an etcd cluster: named on the command line, not in the
 * config. */
static void etcd_node_start(th_cluster_t *c, int i)
{
	const char *extra[] = {"--addr", c->node[i].addr, NULL};

	ck_assert_int_eq(th_cl_node_start(c, i, extra), 0);
}

/*
 * Values under the members prefix that are no member: not JSON, a bad
 * address, a name that is not its key's (a second n0), an address n0 has
 * already (n0, which stays: the second of an address would take it over
 * once its first left).  Each node logs each once and leaves it out; the ring
 * stays the three real nodes.
 */
static void put_bad_members(th_etcd_t *e, th_cluster_t *c)
{
	static const char *const keys[] = {"junk", "badaddr", "copy", "twin"};
	char vals[4][256], why[256], key[128];
	sl_etcd_t *et;
	int rc;

	snprintf(vals[0], sizeof(vals[0]), "{not json");
	snprintf(vals[1], sizeof(vals[1]),
		 "{\"name\":\"badaddr\",\"addr\":\"tcp://nowhere\","
		 "\"weight\":1,\"capacity\":1}");
	snprintf(vals[2], sizeof(vals[2]),
		 "{\"name\":\"n0\",\"addr\":\"tcp://127.0.0.1:1\","
		 "\"weight\":1,\"capacity\":1}");
	snprintf(vals[3], sizeof(vals[3]),
		 "{\"name\":\"twin\",\"addr\":\"%s\",\"weight\":1,"
		 "\"capacity\":1}",
		 c->node[0].addr);
	et = sl_etcd_new(e->url, NULL, &rc, why, sizeof(why));
	ck_assert_msg(et, "%s", why);
	for (size_t i = 0; i < SL_ARRAY_SIZE(keys); i++) {
		snprintf(key, sizeof(key), "/sluice/itcl/members/%s", keys[i]);
		ck_assert_int_eq(sl_etcd_put(et, key, strlen(key), vals[i],
					     strlen(vals[i]), 0, NULL),
				 0);
	}
	sl_etcd_destroy(&et);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(
			th_wait_in_file(c->node[i].log, "ignored", 4, 10000),
			0);
		ck_assert_int_eq(th_cl_node_value(c, i, "sluice_ring_members"),
				 3);
	}
	ck_assert_int_eq(etcd_members(e->url), 3);
}

/*
 * etcd membership: 3 nodes register, the client's config lists none;
 * bad values under the prefix are ignored (put_bad_members).  During one
 * DataLoader epoch a 4th node starts, one is killed with
 * kill -9 (it drops out when its lease expires), one is drained, and etcd
 * is stopped for 10 s and started again.  Every sample is right, and the
 * client's ring follows each change (4, 3, 2 members).
 */
START_TEST(test_etcd_churn)
{
	th_etcd_t e;
	th_cluster_t c;
	const char *verbose[] = {"-v", NULL};
	pid_t ld;

	if (!th_etcd_available()) {
		th_check_skip_case("it_cluster", "etcd_churn",
				   "no etcd (etcd-server)");
		return;
	}
	ck_assert_int_eq(th_etcd_start(&e), 0);
	ck_assert_int_eq(th_cl_init(&c, work, "etcd"), 0);
	ck_assert_int_eq(
		th_cl_make_files_in(&c, "e0", EPOCH_FILES, 2000, 90000, 21), 0);
	snprintf(c.cluster_keys, sizeof(c.cluster_keys),
		 "membership = etcd\netcd = %s\nlease_ttl = 2s\n", e.url);
	sl_strlcpy(c.sections,
		   "[node-defaults]\nram_capacity = 128M\nworkers = 2\n",
		   sizeof(c.sections));
	snprintf(c.client_keys, sizeof(c.client_keys),
		 "request_timeout = %dms\nblock_cache = 32M\n", TIMEOUT_MS);
	for (int i = 0; i < 4; i++)
		th_cl_add_node(&c, NULL, NULL, 0);
	ck_assert_int_eq(th_cl_write_conf(&c), 0);
	for (int i = 0; i < 3; i++)
		etcd_node_start(&c, i);
	wait_members(e.url, 3);
	put_bad_members(&e, &c);
	ck_assert_int_eq(th_cl_mount(&c, verbose), 0);
	ck_assert_int_eq(th_count_in_file(c.fclog, "3 nodes, 1 datasets"), 1);
	ld = th_cl_loader_start(&c, "e0", 1, 2, 200);
	ck_assert_int_gt(ld, 0);
	while (th_cl_loader_done(&c) < 16 && th_proc_alive(ld))
		usleep(20000);

	etcd_node_start(&c, 3);
	follows(&c, 4, 1, 2 * TIMEOUT_MS + 2000, "etcd: a node joined");

	th_cl_node_kill(&c, 1);
	follows(&c, 3, 1, 2000 + 2 * TIMEOUT_MS + 2000,
		"etcd: a node was killed (kill -9)");

	ctl_drain(&c, "n2", "30s");
	follows(&c, 2, 1, 2 * TIMEOUT_MS + 2000, "etcd: a node drained");

	ck_assert_int_eq(th_etcd_stop(&e, SIGTERM), 0);
	sleep(10);
	ck_assert_int_eq(th_etcd_restart(&e), 0);
	fprintf(stderr,
		"etcd: stopped for 10 s, started again; %d samples "
		"read\n",
		th_cl_loader_done(&c));
	ck_assert_int_eq(th_cl_loader_wait(&c, ld, 120000), 0);
	wait_members(e.url, 2);
	ck_assert_int_ge(th_count_in_file(c.node[0].log, "etcd is back"), 1);
	ck_assert_int_eq(th_cl_unmount(&c), 0);
	th_cl_fini(&c);
	th_etcd_fini(&e);
}
END_TEST

static Suite *cluster_suite(void)
{
	return TH_SUITE("it_cluster",
			{.name = "layout",
			 .tests = TH_TESTS(test_layout_change),
			 .timeout = 120},
			{.name = "static",
			 .tests = TH_TESTS(test_static_join_leave, test_handoff,
					   test_replicas, test_drain_on_term),
			 .timeout = 300},
			{.name = "etcd",
			 .tests = TH_TESTS(test_etcd_churn),
			 .timeout = 300});
}

int main(void)
{
	char *tmp;
	int rc;

	if (!th_have_fuse())
		return th_check_skip_suite("it_cluster",
					   "needs root and /dev/fuse");
	tmp = th_tmpdir("it-cluster");
	SL_ASSERT(tmp);
	sl_strlcpy(work, tmp, sizeof(work));
	free(tmp);
	sl_log_init("it_cluster", SL_LOG_ERR);
	run_id = (unsigned)getpid();
	rc = th_check_run(cluster_suite(), NULL);
	th_net_teardown(run_id); /* whatever a failed test left */
	if (rc == 0 && !getenv("SLUICE_KEEP_TMP"))
		th_rmtree(work);
	else
		fprintf(stderr, "it_cluster: logs kept in %s\n", work);
	return rc;
}
