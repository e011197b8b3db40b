/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluicectl: the operator's command line.  It reads the cluster config, finds
 * the cache nodes (the config's [node] sections, or with membership = etcd
 * the members etcd lists), talks to each over the wire protocol (one DEALER
 * socket per node, one request at a time, with a timeout) and prints what
 * it learns.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "common/advise.h"
#include "common/blockkey.h"
#include "common/config.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/members.h"
#include "common/ring.h"
#include "common/util.h"
#include "ctl/keygen.h"
#include "proto/call.h"
#include "proto/proto.h"
#include "proto/transport.h"

#include "ctl/ctl.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: sluicectl -c CLUSTER.conf [options] COMMAND [ARGS]\n"
		"\n"
		"commands:\n"
		"  status          each node: reachable, ring version, RAM "
		"use, "
		"hit ratio\n"
		"  stats [NODE]    every counter a node reports (all nodes if "
		"none named)\n"
		"  ring            the ring: each node's weight and share of "
		"keys\n"
		"  drain NODE [--grace T] [--no-wait]\n"
		"                  take NODE out of placement; it answers its\n"
		"                  peers for T (default 60s), then is drained\n"
		"  load NAME [PATH...] [--parallel N] [--json]\n"
		"                  warm dataset NAME (or its PATHs): each "
		"node\n"
		"                  fetches the blocks it owns, N at once\n"
		"                  (default 8); a progress bar on a terminal,\n"
		"                  a line every 5s otherwise, JSON lines with\n"
		"                  --json; exit 0 all cached, 2 stopped short\n"
		"                  by capacity or pin, 1 on errors, 130 on\n"
		"                  Ctrl-C (the nodes stop too)\n"
		"  evict NAME [PATH...]\n"
		"                  drop dataset NAME's (or its PATHs') blocks\n"
		"                  from RAM and disk on every node\n"
		"  datasets [--json]\n"
		"                  every dataset: backend, files, size, "
		"cached,\n"
		"                  the bytes the nodes served for it by tier\n"
		"                  since they started\n"
		"  dataset NAME [--json] [--interval MS]\n"
		"                  one dataset: its config, what each node "
		"owns\n"
		"                  and holds, the nodes' hit ratios for it by\n"
		"                  tier over MS (default 1000); the client\n"
		"                  cache's are in each client's metrics\n"
		"                  (sluice_client_block_read_bytes_total)\n"
		"  locate NAME [--json] [--kubectl]\n"
		"                  per host, the bytes and fraction of NAME "
		"it\n"
		"                  holds; --kubectl: the 'kubectl label node'\n"
		"                  commands setting sluice.io/NAME=PERCENT\n"
		"  plan JOBS.json [--json]\n"
		"                  an order for queued jobs ([{name, dataset,\n"
		"                  epochs}]) that reuses the cache: jobs of\n"
		"                  one dataset back to back, the most cached\n"
		"                  first; with the backend reads it saves\n"
		"  keygen [-o DIR] NAME\n"
		"                  write a CURVE key pair DIR/NAME.key "
		"(secret,\n"
		"                  mode 0600) and DIR/NAME.pub (needs no -c)\n"
		"  advise [NAME] [--json] [--window S] [--headroom PCT]\n"
		"                  how many nodes of the current size would "
		"hold\n"
		"                  the hot working set, with the figures used "
		"(rates\n"
		"                  over S seconds; PCT room on top, default "
		"10),\n"
		"                  then a row per dataset (NAME: that one): "
		"its\n"
		"                  share of the nodes and of the traffic\n"
		"\n"
		"options:\n"
		"  -c, --config FILE   cluster configuration (required)\n"
		"  -t, --timeout MS    per-request timeout (default 2000)\n"
		"  -v, --verbose       more log output\n"
		"  -h, --help          this text\n"
		"  -V, --version       print the version\n");
}

/* One socket per call: a late reply from an earlier command never meets
 * this one. */
int ctl_call(ctl_t *c, size_t idx, uint8_t op, const void *body, size_t len,
	     pr_msg_t *reply)
{
	pr_header_t h = {
		.opcode = op,
		.req_id = ++c->next_id,
		.ring_version = sl_ring_version(c->ring),
	};
	void *s;
	int rc;

	s = pr_dealer_open_keyed(c->zctx, c->nodes[idx].addr, c->keys,
				 c->nodes[idx].name, &rc);
	if (!s)
		return rc;
	rc = pr_call(s, &h, body, len, c->timeout_ms, reply);
	if (rc == 0)
		rc = reply->h.status;
	zmq_close(s);
	return rc;
}

static int cmd_stats_one(ctl_t *c, size_t idx, int all, uint64_t *hits,
			 uint64_t *lookups, uint64_t *ram_used)
{
	pr_msg_t m;
	pr_stats_t st = {0};
	int rc;

	pr_msg_init(&m);
	rc = ctl_call(c, idx, PR_OP_STATS, NULL, 0, &m);
	if (rc < 0)
		goto out;
	rc = pr_stats_decode(&st, pr_msg_body(&m), pr_msg_body_len(&m));
	if (rc < 0)
		goto out;
	for (uint32_t i = 0; i < st.n_items; i++) {
		pr_str_t nm = st.items[i].name;

		if (all)
			printf("%s\t%.*s\t%" PRIu64 "\n", c->nodes[idx].name,
			       (int)nm.len, nm.ptr, st.items[i].value);
		/* A lookup starts in the RAM tier; a hit in any tier counts. */
		if (nm.len > 24 &&
		    memcmp(nm.ptr, "sluice_cache_hits_total{", 24) == 0)
			*hits += st.items[i].value;
		if (pr_str_eq(nm, "sluice_cache_hits_total{tier=\"ram\"}") ||
		    pr_str_eq(nm, "sluice_cache_misses_total{tier=\"ram\"}"))
			*lookups += st.items[i].value;
		else if (pr_str_eq(nm, "sluice_ram_used_bytes"))
			*ram_used = st.items[i].value;
	}
out:
	pr_stats_free(&st);
	pr_msg_close(&m);
	return rc;
}

static int cmd_status(ctl_t *c)
{
	int down = 0;

	printf("cluster %s, ring version %08x, %zu nodes, %zu datasets\n",
	       c->conf->cluster_name, sl_ring_version(c->ring), c->n_nodes,
	       c->conf->n_datasets);
	printf("%-16s %-28s %-6s %-10s %12s %12s %9s\n", "NODE", "ADDR",
	       "STATE", "RING", "RAM USED", "RAM CAP", "HIT RATIO");
	for (size_t i = 0; i < c->n_nodes; i++) {
		const ctl_node_t *n = &c->nodes[i];
		uint64_t hits = 0, lookups = 0, used = 0;
		pr_msg_t m;
		char ratio[16] = "-";
		int rc;

		pr_msg_init(&m);
		rc = ctl_call(c, i, PR_OP_HELLO, NULL, 0, &m);
		if (rc < 0) {
			printf("%-16s %-28s %-6s (%s)\n", n->name, n->addr,
			       "DOWN", strerror(-rc));
			pr_msg_close(&m);
			down++;
			continue;
		}
		uint32_t rv = m.h.ring_version;

		pr_msg_close(&m);
		cmd_stats_one(c, i, 0, &hits, &lookups, &used);
		if (lookups)
			snprintf(ratio, sizeof(ratio), "%.3f",
				 (double)hits / (double)lookups);
		printf("%-16s %-28s %-6s %08x%s %12" PRIu64 " %12" PRIu64
		       " %9s\n",
		       n->name, n->addr, "UP", rv,
		       rv == sl_ring_version(c->ring) ? "  " : "! ", used,
		       n->ram_capacity, ratio);
	}
	return down ? 1 : 0;
}

static int cmd_stats(ctl_t *c, const char *node)
{
	int fail = 0, found = 0;

	for (size_t i = 0; i < c->n_nodes; i++) {
		uint64_t h, m, u;
		int rc;

		if (node && strcmp(node, c->nodes[i].name) != 0)
			continue;
		found = 1;
		rc = cmd_stats_one(c, i, 1, &h, &m, &u);
		if (rc < 0) {
			fprintf(stderr, "sluicectl: %s (%s): %s\n",
				c->nodes[i].name, c->nodes[i].addr,
				strerror(-rc));
			fail = 1;
		}
	}
	if (!found) {
		fprintf(stderr, "sluicectl: no node '%s' in %s\n", node,
			c->conf->path);
		return 2;
	}
	return fail;
}

static int cmd_ring(ctl_t *c)
{
	size_t n = c->n_nodes;
	uint64_t *count;
	const uint64_t samples = 100000;

	if (n == 0) {
		fprintf(stderr, "sluicectl: no cache node in the cluster\n");
		return 1;
	}
	count = sl_xcalloc(n, sizeof(*count));

	/* Shares measured the way real keys land: block keys of a sample. */
	for (uint64_t i = 0; i < samples; i++) {
		sl_blockkey_t k = sl_blockkey_make("sample", 1, "file", "v", i);

		count[sl_ring_owner(c->ring, k.lo)]++;
	}
	printf("ring version %08x, %u points per unit of weight\n",
	       sl_ring_version(c->ring), SL_RING_VNODES);
	for (size_t i = 0; i < n; i++)
		printf("%-16s weight %-4u share %5.1f%%\n", c->nodes[i].name,
		       c->nodes[i].weight,
		       100.0 * (double)count[i] / (double)samples);
	free(count);
	return 0;
}

/* The nodes: the config's, or the members etcd lists, and the ring over
 * them.  0, or -1 after a message. */
static int find_nodes(ctl_t *c)
{
	const sl_config_t *cf = c->conf;
	sl_ring_member_t *mem;

	if (cf->membership == SL_MEMBERSHIP_ETCD) {
		sl_members_opts_t o = {.endpoints = cf->etcd,
				       .prefix = cf->etcd_prefix,
				       .timeout_ms = (uint64_t)c->timeout_ms};
		const sl_members_set_t *set;
		char why[256];
		int rc;

		set = sl_members_fetch(&o, &rc, why, sizeof(why));
		if (!set) {
			fprintf(stderr, "sluicectl: etcd: %s\n", why);
			return -1;
		}
		c->nodes = sl_xcalloc(set->count + 1, sizeof(*c->nodes));
		for (size_t i = 0; i < set->count; i++) {
			ctl_node_t *n = &c->nodes[i];

			sl_strlcpy(n->name, set->members[i].name,
				   sizeof(n->name));
			sl_strlcpy(n->addr, set->members[i].addr,
				   sizeof(n->addr));
			n->weight = set->members[i].weight;
		}
		c->n_nodes = set->count;
		sl_members_set_put(&set);
	} else {
		c->nodes = sl_xcalloc(cf->n_nodes + 1, sizeof(*c->nodes));
		for (size_t i = 0; i < cf->n_nodes; i++) {
			ctl_node_t *n = &c->nodes[i];

			sl_strlcpy(n->name, cf->nodes[i].name, sizeof(n->name));
			sl_strlcpy(n->addr, cf->nodes[i].addr, sizeof(n->addr));
			n->weight = cf->nodes[i].weight;
			n->ram_capacity = cf->nodes[i].ram_capacity;
		}
		c->n_nodes = cf->n_nodes;
	}
	mem = sl_xcalloc(c->n_nodes + 1, sizeof(*mem));
	for (size_t i = 0; i < c->n_nodes; i++)
		mem[i] = (sl_ring_member_t){c->nodes[i].name,
					    c->nodes[i].weight};
	c->ring = sl_ring_new(mem, c->n_nodes);
	free(mem);
	if (!c->ring) {
		/* The config bounds its own nodes; etcd's list may not. */
		fprintf(stderr,
			"sluicectl: the %zu nodes' weights add up to more "
			"than %d, the ring's limit\n",
			c->n_nodes, SL_RING_MAX_WEIGHT);
		return -1;
	}
	return 0;
}

/* Node idx's value of metric name (its STATS): 0, or -errno. */
static int node_value(ctl_t *c, size_t idx, const char *name, uint64_t *out)
{
	pr_msg_t m;
	pr_stats_t st = {0};
	int rc;

	pr_msg_init(&m);
	rc = ctl_call(c, idx, PR_OP_STATS, NULL, 0, &m);
	if (rc == 0)
		rc = pr_stats_decode(&st, pr_msg_body(&m), pr_msg_body_len(&m));
	if (rc == 0) {
		rc = -ENOENT;
		for (uint32_t i = 0; i < st.n_items; i++)
			if (pr_str_eq(st.items[i].name, name)) {
				*out = st.items[i].value;
				rc = 0;
			}
	}
	pr_stats_free(&st);
	pr_msg_close(&m);
	return rc;
}

/*
 * drain NODE [--grace T] [--no-wait].  Static membership has no shared
 * store, so every node is told (NODE included), with one generation: this
 * machine's clock, so that they all apply the same ring.  With etcd, NODE
 * alone is told: it leaves etcd, and the others follow their watch.  Then
 * NODE answers its peers for the grace period and reports itself drained,
 * which this waits for (unless --no-wait).
 */
static int cmd_drain(ctl_t *c, int argc, char **argv)
{
	pr_drain_req_t d = {.grace_ms = 60000,
			    .generation = (uint64_t)(sl_wall_ns() / 1000000)};
	const char *node = NULL;
	int wait = 1, fail = 0, target = -1;
	uint64_t state = 0, deadline;
	pr_buf_t b;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--no-wait") == 0) {
			wait = 0;
		} else if (strcmp(argv[i], "--grace") == 0 && i + 1 < argc) {
			if (sl_parse_duration_ms(argv[++i], &d.grace_ms) < 0 ||
			    d.grace_ms > PR_MAX_GRACE_MS) {
				fprintf(stderr, "sluicectl: bad --grace '%s'\n",
					argv[i]);
				return 2;
			}
		} else if (!node && argv[i][0] != '-') {
			node = argv[i];
		} else {
			fprintf(stderr, "sluicectl: drain: unexpected '%s'\n",
				argv[i]);
			return 2;
		}
	}
	for (size_t i = 0; node && i < c->n_nodes; i++)
		if (strcmp(c->nodes[i].name, node) == 0)
			target = (int)i;
	if (target < 0) {
		fprintf(stderr, "sluicectl: drain: %s %s\n",
			node ? node : "NODE",
			node ? "is no node of the cluster" : "missing");
		return 2;
	}
	d.node = pr_str(node);
	pr_buf_init(&b);
	SL_ASSERT(pr_drain_req_encode(&b, &d) == 0);
	for (size_t i = 0; i < c->n_nodes; i++) {
		pr_msg_t m;
		int rc;

		if (c->conf->membership == SL_MEMBERSHIP_ETCD &&
		    (int)i != target)
			continue;
		pr_msg_init(&m);
		rc = ctl_call(c, i, PR_OP_DRAIN, b.data, b.len, &m);
		pr_msg_close(&m);
		if (rc < 0) {
			fprintf(stderr, "sluicectl: %s (%s): %s\n",
				c->nodes[i].name, c->nodes[i].addr,
				strerror(-rc));
			fail = 1;
		}
	}
	pr_buf_fini(&b);
	printf("%s: out of placement; answering its peers for %.0f s\n", node,
	       (double)d.grace_ms / 1000.0);
	fflush(stdout);
	if (!wait)
		return fail;
	deadline = sl_now_ms() + d.grace_ms + 10000;
	while (state != PR_DRAIN_DRAINED && sl_now_ms() < deadline) {
		struct timespec ts = {0, 200 * 1000000L};

		if (node_value(c, (size_t)target, "sluice_drain_state",
			       &state) < 0)
			state = 0;
		if (state != PR_DRAIN_DRAINED)
			nanosleep(&ts, NULL);
	}
	if (state != PR_DRAIN_DRAINED) {
		fprintf(stderr, "sluicectl: %s did not report drained\n", node);
		return 1;
	}
	printf("%s drained\n", node);
	return fail;
}

/* Every node's advise figures into out[] (its STATS), and each dataset's
 * share of them into ds[d * n_nodes + node].  0, or -1 after a message
 * naming each node that did not answer. */
static int advise_figures(ctl_t *c, sl_advise_node_t *out, sl_advise_node_t *ds)
{
	size_t n_ds = c->conf->n_datasets;
	int fail = 0;

	for (size_t i = 0; i < c->n_nodes; i++) {
		pr_msg_t m;
		pr_stats_t st = {0};
		int rc;

		memset(&out[i], 0, sizeof(out[i]));
		for (size_t d = 0; d < n_ds; d++)
			memset(&ds[d * c->n_nodes + i], 0, sizeof(*ds));
		pr_msg_init(&m);
		rc = ctl_call(c, i, PR_OP_STATS, NULL, 0, &m);
		if (rc == 0)
			rc = pr_stats_decode(&st, pr_msg_body(&m),
					     pr_msg_body_len(&m));
		for (uint32_t k = 0; rc == 0 && k < st.n_items; k++) {
			const pr_str_t *name = &st.items[k].name;

			sl_advise_node_add(&out[i], name->ptr, name->len,
					   st.items[k].value);
			for (size_t d = 0; d < n_ds; d++)
				sl_advise_dataset_add(&ds[d * c->n_nodes + i],
						      c->conf->datasets[d].name,
						      name->ptr, name->len,
						      st.items[k].value);
		}
		if (rc < 0) {
			fprintf(stderr, "sluicectl: %s (%s): %s\n",
				c->nodes[i].name, c->nodes[i].addr,
				strerror(-rc));
			fail = 1;
		}
		pr_stats_free(&st);
		pr_msg_close(&m);
	}
	return fail ? -1 : 0;
}

/* The advice, cluster-wide then per dataset (only one: only) from the
 * figures now and before (NULL without a window). */
static int advise_print(ctl_t *c, const sl_advise_node_t *now,
			const sl_advise_node_t *before, const char *only,
			double window, unsigned headroom, int json)
{
	size_t n_ds = c->conf->n_datasets, n = 0;
	sl_advise_t total, *per = sl_xcalloc(n_ds + 1, sizeof(*per));
	const char **names = sl_xcalloc(n_ds + 1, sizeof(*names));
	const sl_advise_node_t *ds_now = now + c->n_nodes;
	int rc = 0;

	sl_advise_compute(now, before, c->n_nodes, window, headroom, &total);
	for (size_t d = 0; d < n_ds; d++) {
		const char *name = c->conf->datasets[d].name;
		size_t at = d * c->n_nodes;

		if (only && strcmp(only, name) != 0)
			continue;
		names[n] = name;
		sl_advise_compute(ds_now + at,
				  before ? before + c->n_nodes + at : NULL,
				  c->n_nodes, window, headroom, &per[n++]);
	}
	/* advise alone keeps its long form, the table after it. */
	if (!only && !json)
		rc = sl_advise_print(stdout, &total, 0) < 0 || printf("\n") < 0;
	if (rc == 0)
		rc = sl_advise_print_datasets(stdout, &total, names, per, n,
					      json) < 0;
	free(per);
	free(names);
	return rc;
}

/* advise [NAME] [--json] [--window S] [--headroom PCT]: sl_advise's
 * figures and recommendation (common/advise.h), for the cluster and
 * each dataset (NAME: that one). */
static int cmd_advise(ctl_t *c, int argc, char **argv)
{
	sl_advise_node_t *now, *before = NULL;
	double window = 0;
	unsigned headroom = 10;
	int json = 0, rc = 1;
	const char *only = NULL;
	size_t rows;
	char *end;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--window") == 0 && i + 1 < argc) {
			window = strtod(argv[++i], &end);
			if (*end || !(window > 0 && window <= 3600)) {
				fprintf(stderr, "sluicectl: --window: seconds, "
						"0..3600\n");
				return 2;
			}
		} else if (strcmp(argv[i], "--headroom") == 0 && i + 1 < argc) {
			unsigned long h = strtoul(argv[++i], &end, 10);

			if (*end || h > 1000) {
				fprintf(stderr, "sluicectl: --headroom: a "
						"percentage, 0..1000\n");
				return 2;
			}
			headroom = (unsigned)h;
		} else if (argv[i][0] != '-' && !only) {
			only = argv[i];
		} else {
			fprintf(stderr, "sluicectl: advise: unknown '%s'\n",
				argv[i]);
			return 2;
		}
	}
	if (only && !ctl_known_dataset(c, only))
		return 1;
	if (!c->n_nodes) {
		fprintf(stderr, "sluicectl: no cache node in the cluster\n");
		return 1;
	}
	/* The nodes' figures, then each dataset's share of each node. */
	rows = c->n_nodes * (c->conf->n_datasets + 1);
	now = sl_xcalloc(rows, sizeof(*now));
	if (window > 0) {
		before = sl_xcalloc(rows, sizeof(*before));
		if (advise_figures(c, before, before + c->n_nodes) < 0)
			goto out;
		struct timespec ts = {(time_t)window,
				      (long)((window - (time_t)window) * 1e9)};

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	if (advise_figures(c, now, now + c->n_nodes) < 0)
		goto out;
	rc = advise_print(c, now, before, only, window, headroom, json);
out:
	free(now);
	free(before);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"timeout", required_argument, NULL, 't'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	ctl_t c = {.timeout_ms = 2000};
	const char *conf_path = NULL;
	char err[512];
	int opt, level = SL_LOG_WARNING, rc = 2;

	while ((opt = getopt_long(argc, argv, "+c:t:vhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			conf_path = optarg;
			break;
		case 't':
			c.timeout_ms = atoi(optarg);
			if (c.timeout_ms <= 0) {
				fprintf(stderr, "sluicectl: bad timeout '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'v':
			level++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("sluicectl %s\n", SL_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	sl_log_init("sluicectl", level);
	if (optind < argc && strcmp(argv[optind], "keygen") == 0)
		return ctl_keygen(argc - optind, argv + optind);
	if (!conf_path || optind >= argc) {
		usage(stderr);
		return 2;
	}
	c.conf = sl_config_load(conf_path, err, sizeof(err));
	if (!c.conf) {
		fprintf(stderr, "sluicectl: %s\n", err);
		return 2;
	}
	c.keys = sl_keyring_new(c.conf, NULL, err, sizeof(err));
	if (!c.keys) {
		fprintf(stderr, "sluicectl: %s\n", err);
		sl_config_destroy(&c.conf);
		return 2;
	}
	if (find_nodes(&c) < 0) {
		sl_keyring_destroy(&c.keys);
		sl_config_destroy(&c.conf);
		return 2;
	}
	c.zctx = zmq_ctx_new();

	const char *cmd = argv[optind];

	if (strcmp(cmd, "status") == 0) {
		rc = cmd_status(&c);
	} else if (strcmp(cmd, "stats") == 0) {
		rc = cmd_stats(&c, optind + 1 < argc ? argv[optind + 1] : NULL);
	} else if (strcmp(cmd, "ring") == 0) {
		rc = cmd_ring(&c);
	} else if (strcmp(cmd, "drain") == 0) {
		rc = cmd_drain(&c, argc - optind - 1, argv + optind + 1);
	} else if (strcmp(cmd, "advise") == 0) {
		rc = cmd_advise(&c, argc - optind - 1, argv + optind + 1);
	} else if (strcmp(cmd, "load") == 0) {
		rc = ctl_cmd_load(&c, argc - optind - 1, argv + optind + 1);
	} else if (strcmp(cmd, "evict") == 0) {
		rc = ctl_cmd_evict(&c, argc - optind - 1, argv + optind + 1);
	} else if (strcmp(cmd, "datasets") == 0) {
		rc = ctl_cmd_datasets(&c, argc - optind - 1, argv + optind + 1);
	} else if (strcmp(cmd, "dataset") == 0) {
		rc = ctl_cmd_dataset(&c, argc - optind - 1, argv + optind + 1);
	} else if (strcmp(cmd, "locate") == 0) {
		rc = ctl_cmd_locate(&c, argc - optind - 1, argv + optind + 1);
	} else if (strcmp(cmd, "plan") == 0) {
		rc = ctl_cmd_plan(&c, argc - optind - 1, argv + optind + 1);
	} else {
		fprintf(stderr, "sluicectl: unknown command '%s'\n", cmd);
		usage(stderr);
		rc = 2;
	}
	zmq_ctx_term(c.zctx);
	sl_keyring_destroy(&c.keys);
	sl_ring_destroy(&c.ring);
	free(c.nodes);
	sl_config_destroy(&c.conf);
	return rc;
}
