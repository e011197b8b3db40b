/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A node's ring (cachenode/membership.c), seen through HELLO and STATS of
 * a real node run in this process with static membership: the same
 * members keep their generation across reloads (same ring, whatever the
 * time), another list moves it up (past the last one even when the clock
 * is behind it); DRAIN takes a node out of the ring at the generation it
 * carries, a node drained itself says so and then
 * reports drained when its grace is over, and DRAIN of a stranger is
 * -ENOENT; the share of keys moved is in the metrics.  A ring whose
 * members weigh more than SL_RING_MAX_WEIGHT (an etcd view, which the
 * config's check never saw) is not built.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cachenode/ringmap.h"
#include "cachenode/server.h"
#include "common/log.h"
#include "common/util.h"
#include "proto/proto.h"
#include "test/helper_check.h"
#include "test/helper_client.h"
#include "test/helper_node.h"

static const char ds[] = "[dataset d]\nbackend = posix\nuri = file:///tmp\n";

/* n2 and n3 exist only in the config: nothing is sent to them here. */
static const char others[] = "[node n2]\naddr = tcp://127.0.0.1:1\n"
			     "[node n3]\naddr = tcp://127.0.0.1:2\n";

/* The node's HELLO: its ring's member count, generation and drain. */
static void hello(th_client_t *c, uint32_t *n, uint64_t *gen, uint8_t *drain)
{
	pr_hello_t h;
	th_reply_t r;

	ck_assert_int_eq(th_client_hello(c, &h, &r), 0);
	*n = h.n_nodes;
	*gen = h.generation;
	*drain = h.drain;
	pr_hello_free(&h);
	th_reply_free(&r);
}

static int drain(th_client_t *c, const char *node, uint64_t grace_ms,
		 uint64_t gen)
{
	pr_drain_req_t d = {pr_str(node), grace_ms, gen};
	pr_buf_t b;
	int rc;

	pr_buf_init(&b);
	ck_assert_int_eq(pr_drain_req_encode(&b, &d), 0);
	rc = th_client_call(c, PR_OP_DRAIN, b.data, b.len, NULL);
	pr_buf_fini(&b);
	return rc;
}

static void reload(th_node_t *nd, const char *rest)
{
	char err[256];

	ck_assert_msg(th_node_reload(nd, "", rest, err, sizeof(err)) == 0, "%s",
		      err);
}

START_TEST(test_generations_and_drains)
{
	char rest[512], err[256];
	th_node_t nd;
	th_client_t *c;
	uint64_t g1, g, v;
	uint32_t n;
	uint8_t dr;

	snprintf(rest, sizeof(rest), "%s%s", others, ds);
	ck_assert_msg(th_node_start(&nd, "", rest, NULL, err, sizeof(err)) == 0,
		      "%s", err);
	c = th_client_new(nd.endpoint, 5000);
	hello(c, &n, &g1, &dr);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_gt(g1, 0);
	ck_assert_uint_eq(dr, PR_DRAIN_NONE);

	/* The same members later: the same ring, the same generation. */
	usleep(20000);
	reload(&nd, rest);
	hello(c, &n, &g, &dr);
	ck_assert_uint_eq(g, g1);

	/* Another list: a greater generation, and the moved share. */
	snprintf(rest, sizeof(rest), "[node n2]\naddr = tcp://127.0.0.1:1\n%s",
		 ds);
	reload(&nd, rest);
	hello(c, &n, &g, &dr);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_gt(g, g1);
	ck_assert_int_eq(
		th_client_stat_value(c, "sluice_ring_keys_moved_ppm", &v), 0);
	ck_assert_uint_gt(v, 250000); /* n3's share of three */
	ck_assert_uint_lt(v, 420000);

	/* DRAIN n2 at a generation of the sender's: that one. */
	ck_assert_int_eq(drain(c, "n2", 1000, g + 1000), 0);
	hello(c, &n, &g1, &dr);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(g1, g + 1000);
	ck_assert_int_eq(drain(c, "stranger", 1000, 0), -ENOENT);

	/* n3 back in the file, n2 still drained: another ring, whose
	 * generation must pass the drain's even though the clock is behind
	 * it. */
	snprintf(rest, sizeof(rest), "%s%s", others, ds);
	reload(&nd, rest);
	hello(c, &n, &g, &dr);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(g, g1 + 1);
	g1 = g;

	/* Itself: out of its own ring (n3 left), draining, then drained. */
	ck_assert_int_eq(drain(c, "n1", 300, 0), 0);
	hello(c, &n, &g, &dr);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_gt(g, g1);
	ck_assert_uint_eq(dr, PR_DRAIN_DRAINING);
	ck_assert_int_eq(th_client_stat_value(c, "sluice_drain_state", &v), 0);
	ck_assert_uint_eq(v, PR_DRAIN_DRAINING);
	usleep(500000);
	hello(c, &n, &g, &dr);
	ck_assert_uint_eq(dr, PR_DRAIN_DRAINED);
	ck_assert_int_eq(th_client_stat_value(c, "sluice_drain_state", &v), 0);
	ck_assert_uint_eq(v, PR_DRAIN_DRAINED);
	ck_assert_int_eq(
		th_client_stat_value(c, "sluice_membership_changes_total", &v),
		0);
	ck_assert_uint_eq(v, 4);
	th_client_destroy(&c);
	th_node_stop(&nd);
}
END_TEST

/* 21 members of weight 100 are over 2,048 units: no ring (NULL, and the
 * node keeps its own); 20 are a ring. */
START_TEST(test_ring_too_heavy)
{
	cn_member_t m[21];
	cn_ringmap_t *r;

	memset(m, 0, sizeof(m));
	for (int i = 0; i < 21; i++) {
		snprintf(m[i].name, sizeof(m[i].name), "n%d", i);
		snprintf(m[i].addr, sizeof(m[i].addr), "tcp://h:%d", i + 1);
		m[i].weight = 100;
	}
	ck_assert_ptr_null(cn_ringmap_new(m, 21, 7));
	r = cn_ringmap_new(m, 20, 7);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->n, 20);
	ck_assert_ptr_nonnull(cn_ringmap_owner(r, 1));
	cn_ringmap_destroy(&r);
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE("cn_membership",
			    {.name = "static",
			     .tests = TH_TESTS(test_generations_and_drains,
					       test_ring_too_heavy)});

	sl_log_init("test_cn_membership", SL_LOG_ERR);
	return th_check_run(s, NULL);
}
