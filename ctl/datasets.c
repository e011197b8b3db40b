/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluicectl datasets, dataset NAME and locate NAME: what a dataset is and
 * where it is cached.  The numbers come from the nodes: each counts the
 * blocks it owns under its ring and how many of them it holds (a LOAD with
 * parallel 0, which lists the dataset and fetches nothing), so the
 * dataset's size is the sum of the owners' shares and every block is
 * counted once.  The hit ratios are the nodes' bytes served for the
 * dataset by tier (sluice_dataset_served_bytes_total{dataset,tier},
 * README "Observability"): `dataset NAME` reads them twice an interval
 * apart, `datasets` once (since each node started).  The client block
 * cache's share is in the clients' own metrics
 * (sluice_client_block_read_bytes_total{tier="client"} on each client's
 * metrics_addr), which the CLI cannot reach.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "ctl/ctl.h"
#include "proto/proto.h"

#define INTERVAL_MS 1000 /* the hit ratios' interval, by default */
#define SERVED	    "sluice_dataset_served_bytes_total{dataset=\""

typedef struct opts {
	int json, kubectl;
	int interval_ms;
} opts_t;

/* Parse [--json] [--kubectl] [--interval MS] around the positional
 * arguments, which end up in argv[0..return); -1 on a bad option. */
static int parse(int argc, char **argv, opts_t *o, int kubectl)
{
	static const struct option lopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"kubectl", no_argument, NULL, 'k'},
		{"interval", required_argument, NULL, 'i'},
		{NULL, 0, NULL, 0},
	};
	int opt;

	o->interval_ms = INTERVAL_MS;
	optind = 0;
	while ((opt = getopt_long(argc + 1, argv - 1, "jki:", lopts, NULL)) !=
	       -1) {
		if (opt == 'j') {
			o->json = 1;
		} else if (opt == 'k' && kubectl) {
			o->kubectl = 1;
		} else if (opt == 'i') {
			o->interval_ms = atoi(optarg);
			if (o->interval_ms < 0) {
				fprintf(stderr, "sluicectl: bad --interval\n");
				return -1;
			}
		} else {
			return -1;
		}
	}
	/* getopt moved the positional arguments to the end. */
	for (int i = 0; i + optind - 1 < argc; i++)
		argv[i] = argv[i + optind - 1];
	return argc - (optind - 1);
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* The dataset's numbers: files (the most any node listed), bytes and
 * bytes held (the owners' shares added up), nodes that answered. */
typedef struct sums {
	uint64_t files, bytes, held;
	size_t up;
} sums_t;

static sums_t add_up(const ctl_t *c, const ctl_held_t *h)
{
	sums_t s = {0};

	for (size_t i = 0; i < c->n_nodes; i++) {
		if (h[i].rc != 0)
			continue;
		s.files = SL_MAX(s.files, h[i].files);
		s.bytes += h[i].bytes_total;
		s.held += h[i].bytes_held;
		s.up++;
	}
	return s;
}

static void warn_down(const ctl_t *c, const ctl_held_t *h)
{
	for (size_t i = 0; i < c->n_nodes; i++)
		if (h[i].rc != 0)
			fprintf(stderr,
				"sluicectl: node %s: %s (its share is not "
				"counted)\n",
				c->nodes[i].name, h[i].err);
}

/* The counters the hit ratios are made of: bytes served for a dataset
 * from each tier. */
typedef struct tiers {
	uint64_t ram, disk, peer, backend;
} tiers_t;

static uint64_t tiers_all(const tiers_t *t)
{
	return t->ram + t->disk + t->peer + t->backend;
}

/* The counter of t that a sample name's rest (after the dataset's name:
 * `",tier="ram"}`) names, or NULL. */
static uint64_t *tier_of(tiers_t *t, const char *p, size_t len)
{
	static const struct {
		const char *rest;
		size_t off;
	} tt[] = {
		{"\",tier=\"ram\"}", offsetof(tiers_t, ram)},
		{"\",tier=\"disk\"}", offsetof(tiers_t, disk)},
		{"\",tier=\"peer\"}", offsetof(tiers_t, peer)},
		{"\",tier=\"backend\"}", offsetof(tiers_t, backend)},
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(tt); i++)
		if (strlen(tt[i].rest) == len &&
		    memcmp(tt[i].rest, p, len) == 0)
			return (uint64_t *)((char *)t + tt[i].off);
	return NULL;
}

/* Add node idx's bytes served for each dataset names[0..n) (borrowed)
 * into out[0..n).  0, or -1 when the node did not answer. */
static int node_served(ctl_t *c, size_t idx, const char *const *names, size_t n,
		       tiers_t *out)
{
	size_t pre = strlen(SERVED);
	pr_stats_t st = {0};
	pr_msg_t m;
	int rc = -1;

	pr_msg_init(&m);
	if (ctl_call(c, idx, PR_OP_STATS, NULL, 0, &m) != 0 ||
	    pr_stats_decode(&st, pr_msg_body(&m), pr_msg_body_len(&m)) != 0)
		goto out;
	rc = 0;
	for (uint32_t i = 0; i < st.n_items; i++) {
		pr_str_t s = st.items[i].name;

		if (s.len <= pre || memcmp(s.ptr, SERVED, pre) != 0)
			continue;
		for (size_t d = 0; d < n; d++) {
			size_t nl = strlen(names[d]);
			uint64_t *v;

			if (s.len <= pre + nl ||
			    memcmp(s.ptr + pre, names[d], nl) != 0)
				continue;
			v = tier_of(&out[d], s.ptr + pre + nl,
				    s.len - pre - nl);
			if (v)
				*v += st.items[i].value;
		}
	}
out:
	pr_stats_free(&st);
	pr_msg_close(&m);
	return rc;
}

/* Every dataset's bytes served since each node started, into
 * out[0..n_datasets); nodes that do not answer add nothing (ctl_count
 * has said so). */
static void served_since_start(ctl_t *c, tiers_t *out)
{
	size_t n = c->conf->n_datasets;
	const char **names = sl_xcalloc(n + 1, sizeof(*names));

	for (size_t d = 0; d < n; d++)
		names[d] = c->conf->datasets[d].name;
	for (size_t i = 0; i < c->n_nodes; i++)
		(void)node_served(c, i, names, n, out);
	free(names);
}

int ctl_cmd_datasets(ctl_t *c, int argc, char **argv)
{
	ctl_held_t *h = sl_xcalloc(c->n_nodes + 1, sizeof(*h));
	tiers_t *t = sl_xcalloc(c->conf->n_datasets + 1, sizeof(*t));
	opts_t o = {0};
	int fail = 0;

	if (parse(argc, argv, &o, 0) != 0) {
		free(h);
		free(t);
		fprintf(stderr, "sluicectl: datasets [--json]\n");
		return 1;
	}
	served_since_start(c, t);
	if (o.json)
		printf("[");
	else
		printf("%-16s %-8s %8s %10s %10s %7s %6s %6s %6s %6s  %s\n",
		       "DATASET", "BACKEND", "FILES", "SIZE", "CACHED",
		       "CACHED%", "RAM%", "DISK%", "PEER%", "BACK%", "URI");
	for (size_t d = 0; d < c->conf->n_datasets; d++) {
		const sl_dataset_conf_t *dc = &c->conf->datasets[d];
		uint64_t all = tiers_all(&t[d]);
		char a[32], b[32];
		sums_t s;

		if (ctl_count(c, dc->name, h) < 0)
			fail = 1;
		warn_down(c, h);
		s = add_up(c, h);
		if (o.json)
			printf("%s{\"name\":\"%s\",\"backend\":\"%s\","
			       "\"files\":%" PRIu64 ",\"bytes\":%" PRIu64
			       ",\"cached_bytes\":%" PRIu64
			       ",\"cached_percent\":%.1f,\"nodes_up\":%zu,"
			       "\"served_bytes\":{\"since\":\"start\","
			       "\"client\":null,\"node_ram\":%" PRIu64
			       ",\"node_disk\":%" PRIu64 ",\"peer\":%" PRIu64
			       ",\"backend\":%" PRIu64 "}}",
			       d ? "," : "", dc->name, dc->backend, s.files,
			       s.bytes, s.held, pct(s.held, s.bytes), s.up,
			       t[d].ram, t[d].disk, t[d].peer, t[d].backend);
		else
			printf("%-16s %-8s %8" PRIu64
			       " %10s %10s %6.1f%% %5.1f%% %5.1f%% %5.1f%% "
			       "%5.1f%%  %s\n",
			       dc->name, dc->backend, s.files,
			       ctl_human(s.bytes, a, sizeof(a)),
			       ctl_human(s.held, b, sizeof(b)),
			       pct(s.held, s.bytes), pct(t[d].ram, all),
			       pct(t[d].disk, all), pct(t[d].peer, all),
			       pct(t[d].backend, all), dc->uri);
	}
	if (o.json)
		printf("]\n");
	free(h);
	free(t);
	return fail;
}

int ctl_cmd_dataset(ctl_t *c, int argc, char **argv)
{
	ctl_held_t *h;
	tiers_t *t0, *t1, d = {0};
	ctl_policy_t *pol;
	const sl_dataset_conf_t *dc;
	uint64_t all;
	char a[32], b[32], why[128];
	opts_t o = {0};
	const char *name;
	int *ok;
	sums_t s;
	int rc;

	if (parse(argc, argv, &o, 0) != 1) {
		fprintf(stderr, "sluicectl: dataset NAME [--json] [--interval "
				"MS]\n");
		return 1;
	}
	if (!ctl_known_dataset(c, argv[0]))
		return 1;
	dc = sl_config_dataset(c->conf, argv[0]);
	h = sl_xcalloc(c->n_nodes + 1, sizeof(*h));
	t0 = sl_xcalloc(c->n_nodes + 1, sizeof(*t0));
	t1 = sl_xcalloc(c->n_nodes + 1, sizeof(*t1));
	pol = sl_xcalloc(c->n_nodes + 1, sizeof(*pol));
	ok = sl_xcalloc(c->n_nodes + 1, sizeof(*ok));
	name = dc->name;
	for (size_t i = 0; i < c->n_nodes; i++)
		ok[i] = node_served(c, i, &name, 1, &t0[i]) == 0;
	rc = ctl_count(c, dc->name, h) < 0;
	warn_down(c, h);
	s = add_up(c, h);
	if (o.interval_ms)
		usleep((useconds_t)o.interval_ms * 1000);
	for (size_t i = 0; i < c->n_nodes; i++) {
		/* A node that restarted meanwhile counts from 0 again:
		 * what it served since then. */
		if (!ok[i] || node_served(c, i, &name, 1, &t1[i]) != 0)
			continue;
		if (tiers_all(&t1[i]) < tiers_all(&t0[i]))
			t0[i] = (tiers_t){0};
		d.ram += t1[i].ram - t0[i].ram;
		d.disk += t1[i].disk - t0[i].disk;
		d.peer += t1[i].peer - t0[i].peer;
		d.backend += t1[i].backend - t0[i].backend;
	}
	all = tiers_all(&d);
	/* After the count: its walk is what the nodes chose by. */
	for (size_t i = 0; i < c->n_nodes; i++)
		if (h[i].rc == 0)
			ctl_node_policy(c, i, dc->name, &pol[i]);
	if (o.json) {
		printf("{\"name\":\"%s\",\"backend\":\"%s\",\"block_size\":"
		       "%" PRIu32 ",\"policy\":\"%s\",\"files\":%" PRIu64
		       ",\"bytes\":%" PRIu64 ",\"cached_bytes\":%" PRIu64
		       ",\"cached_percent\":%.1f,\"nodes\":[",
		       dc->name, dc->backend, dc->block_size, dc->policy,
		       s.files, s.bytes, s.held, pct(s.held, s.bytes));
		for (size_t i = 0; i < c->n_nodes; i++) {
			printf("%s{\"node\":\"%s\",\"up\":%s,\"owned_bytes\":"
			       "%" PRIu64 ",\"cached_bytes\":%" PRIu64,
			       i ? "," : "", c->nodes[i].name,
			       h[i].rc == 0 ? "true" : "false",
			       h[i].bytes_total, h[i].bytes_held);
			ctl_policy_json(&pol[i]);
			printf("}");
		}
		printf("],\"served_bytes\":{\"interval_ms\":%d,\"client\":"
		       "null,\"node_ram\":%" PRIu64 ",\"node_disk\":%" PRIu64
		       ",\"peer\":%" PRIu64 ",\"backend\":%" PRIu64 "}}\n",
		       o.interval_ms, d.ram, d.disk, d.peer, d.backend);
	} else {
		printf("dataset %s: backend %s, %s\n", dc->name, dc->backend,
		       dc->uri);
		printf("  block size %s, policy %s\n",
		       ctl_human(dc->block_size, a, sizeof(a)), dc->policy);
		printf("  %" PRIu64 " files, %s, %s cached (%.1f%%)\n", s.files,
		       ctl_human(s.bytes, a, sizeof(a)),
		       ctl_human(s.held, b, sizeof(b)), pct(s.held, s.bytes));
		printf("\n  %-16s %10s %10s %7s  %s\n", "NODE", "OWNS",
		       "CACHED", "CACHED%", "POLICY");
		for (size_t i = 0; i < c->n_nodes; i++)
			if (h[i].rc == 0)
				printf("  %-16s %10s %10s %6.1f%%  %s\n",
				       c->nodes[i].name,
				       ctl_human(h[i].bytes_total, a,
						 sizeof(a)),
				       ctl_human(h[i].bytes_held, b, sizeof(b)),
				       pct(h[i].bytes_held, h[i].bytes_total),
				       ctl_policy_text(&pol[i], why,
						       sizeof(why)));
			else
				printf("  %-16s %10s\n", c->nodes[i].name,
				       "down");
		printf("\n  bytes the nodes served for %s in the last %.1f s: "
		       "client n/a, node RAM %.1f%%, node disk %.1f%%, peer "
		       "%.1f%%, backend %.1f%% (%s)\n"
		       "  (the client block cache's hits are in each client's "
		       "sluice_client_block_read_bytes_total{tier=\"client\"} "
		       "on its metrics_addr)\n",
		       dc->name, o.interval_ms / 1000.0, pct(d.ram, all),
		       pct(d.disk, all), pct(d.peer, all), pct(d.backend, all),
		       ctl_human(all, a, sizeof(a)));
	}
	free(h);
	free(t0);
	free(t1);
	free(pol);
	free(ok);
	return rc;
}

int ctl_cmd_locate(ctl_t *c, int argc, char **argv)
{
	ctl_held_t *h;
	opts_t o = {0};
	sums_t s;
	int rc;

	if (parse(argc, argv, &o, 1) != 1) {
		fprintf(stderr,
			"sluicectl: locate NAME [--json] [--kubectl]\n");
		return 1;
	}
	if (!ctl_known_dataset(c, argv[0]))
		return 1;
	h = sl_xcalloc(c->n_nodes + 1, sizeof(*h));
	rc = ctl_count(c, argv[0], h) < 0;
	warn_down(c, h);
	s = add_up(c, h);
	if (o.json)
		printf("{\"dataset\":\"%s\",\"bytes\":%" PRIu64
		       ",\"cached_bytes\":%" PRIu64 ",\"hosts\":[",
		       argv[0], s.bytes, s.held);
	for (size_t i = 0, n = 0; i < c->n_nodes; i++) {
		const char *node = c->nodes[i].name;
		double f =
			s.bytes ? (double)h[i].bytes_held / (double)s.bytes : 0;
		char a[32];

		if (h[i].rc != 0)
			continue;
		if (o.json)
			printf("%s{\"host\":\"%s\",\"cached_bytes\":%" PRIu64
			       ",\"fraction\":%.4f}",
			       n++ ? "," : "", node, h[i].bytes_held, f);
		else if (o.kubectl)
			/* The label's value: a whole percentage (labels are
			 * strings; a scheduler rule compares them with Gt). */
			printf("kubectl label node %s sluice.io/%s=%d "
			       "--overwrite\n",
			       node, argv[0], (int)(f * 100 + 0.5));
		else
			printf("%-16s %10s %6.1f%%\n", node,
			       ctl_human(h[i].bytes_held, a, sizeof(a)),
			       100 * f);
	}
	if (o.json)
		printf("]}\n");
	free(h);
	return rc;
}
