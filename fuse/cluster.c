/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client's cluster map (see cluster.h): HELLO bootstrap against the
 * nodes of the config file, and the map built from the answer.  All nodes
 * are asked at once and the first valid answer wins, so a dead first node
 * costs nothing when a later one is up.
 */
#include "fuse/cluster.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/log.h"
#include "common/util.h"
#include "proto/call.h"
#include "proto/proto.h"
#include "proto/transport.h"

static void errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

fc_cluster_t *fc_cluster_from_hello(const struct pr_hello *h, char *err,
				    size_t errlen)
{
	fc_cluster_t *cl = sl_xcalloc(1, sizeof(*cl));
	sl_ring_member_t *members = NULL;

	if (h->n_nodes == 0) {
		errf(err, errlen, "HELLO from %.*s lists no nodes",
		     (int)h->node.len, h->node.ptr);
		goto fail;
	}
	if (pr_str_copy(cl->name, sizeof(cl->name), h->cluster) < 0 ||
	    pr_str_copy(cl->source, sizeof(cl->source), h->node) < 0) {
		errf(err, errlen, "HELLO: cluster or node name too long");
		goto fail;
	}
	cl->n_nodes = h->n_nodes;
	cl->nodes = sl_xcalloc(cl->n_nodes, sizeof(*cl->nodes));
	members = sl_xcalloc(cl->n_nodes, sizeof(*members));
	for (size_t i = 0; i < cl->n_nodes; i++) {
		fc_node_t *n = &cl->nodes[i];

		if (pr_str_copy(n->name, sizeof(n->name), h->nodes[i].name) <
			    0 ||
		    pr_str_copy(n->addr, sizeof(n->addr), h->nodes[i].addr) <
			    0) {
			errf(err, errlen, "HELLO: node %zu: name too long", i);
			goto fail;
		}
		n->weight = h->nodes[i].weight ? h->nodes[i].weight : 1;
		members[i].name = n->name;
		members[i].weight = n->weight;
	}
	cl->n_datasets = h->n_datasets;
	cl->datasets = sl_xcalloc(cl->n_datasets ? cl->n_datasets : 1,
				  sizeof(*cl->datasets));
	for (size_t i = 0; i < cl->n_datasets; i++) {
		fc_dataset_t *d = &cl->datasets[i];
		const pr_hello_dataset_t *hd = &h->datasets[i];

		if (pr_str_copy(d->name, sizeof(d->name), hd->name) < 0 ||
		    !sl_name_valid(d->name)) {
			errf(err, errlen, "HELLO: dataset %zu: bad name", i);
			goto fail;
		}
		if (hd->block_size < SL_BLOCK_SIZE_MIN ||
		    hd->block_size > SL_BLOCK_SIZE_MAX) {
			errf(err, errlen, "HELLO: dataset %s: block size %u",
			     d->name, hd->block_size);
			goto fail;
		}
		d->block_size = hd->block_size;
		if (pr_str_copy(d->policy, sizeof(d->policy), hd->policy) < 0) {
			errf(err, errlen, "HELLO: dataset %s: bad policy",
			     d->name);
			goto fail;
		}
		d->metadata_ttl_ms = hd->metadata_ttl_ms;
	}
	cl->ring = sl_ring_new(members, cl->n_nodes);
	cl->ring_version = sl_ring_version(cl->ring);
	if (h->ring_version && h->ring_version != cl->ring_version)
		sl_warn("ring version %08x from %s differs from the one "
			"built from its node list (%08x)",
			h->ring_version, cl->source, cl->ring_version);
	free(members);
	return cl;
fail:
	free(members);
	fc_cluster_destroy(&cl);
	return NULL;
}

void fc_cluster_destroy(fc_cluster_t **clp)
{
	fc_cluster_t *cl = clp ? *clp : NULL;

	if (!cl)
		return;
	sl_ring_destroy(&cl->ring);
	free(cl->nodes);
	free(cl->datasets);
	free(cl);
	*clp = NULL;
}

int fc_cluster_dataset(const fc_cluster_t *cl, const char *name, size_t len)
{
	for (size_t i = 0; i < cl->n_datasets; i++)
		if (strlen(cl->datasets[i].name) == len &&
		    memcmp(cl->datasets[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

/* Append "; addr: why" to the error message being built. */
static void note(char *err, size_t errlen, const char *addr, const char *why)
{
	size_t n = err ? strlen(err) : 0;

	if (!err || n + 1 >= errlen)
		return;
	snprintf(err + n, errlen - n, "%s%s (%s)", n ? "; " : "", addr, why);
}

/* Build the map from node i's HELLO reply m (borrowed), or note why not. */
static fc_cluster_t *hello_take(const sl_config_t *cfg, size_t i, pr_msg_t *m,
				char *tried, size_t triedlen)
{
	const char *addr = cfg->nodes[i].addr;
	fc_cluster_t *cl;
	pr_hello_t hello;
	char why[256];
	int rc;

	if (m->h.status < 0) {
		snprintf(why, sizeof(why), "HELLO refused: %s",
			 strerror(-m->h.status));
		note(tried, triedlen, addr, why);
		return NULL;
	}
	rc = pr_hello_decode(&hello, pr_msg_body(m), pr_msg_body_len(m));
	if (rc < 0) {
		snprintf(why, sizeof(why), "bad HELLO: %s", strerror(-rc));
		note(tried, triedlen, addr, why);
		return NULL;
	}
	cl = fc_cluster_from_hello(&hello, why, sizeof(why));
	pr_hello_free(&hello);
	if (!cl) {
		note(tried, triedlen, addr, why);
		return NULL;
	}
	sl_info("cluster map from %s (%s): %zu nodes, %zu datasets, ring %08x",
		cl->source, addr, cl->n_nodes, cl->n_datasets,
		cl->ring_version);
	return cl;
}

fc_cluster_t *fc_cluster_hello(const sl_config_t *cfg, uint64_t timeout_ms,
			       char *err, size_t errlen)
{
	size_t n = cfg->n_nodes;
	void *ctx = zmq_ctx_new();
	void **socks = sl_xcalloc(n ? n : 1, sizeof(*socks));
	pr_call_t *calls = sl_xcalloc(n ? n : 1, sizeof(*calls));
	char tried[2048] = "";
	fc_cluster_t *cl = NULL;
	uint64_t deadline = sl_now_ms() + timeout_ms;
	pr_msg_t m;
	int rc;
	char why[256];

	pr_msg_init(&m);
	if (n == 0) {
		errf(err, errlen, "%s: no [node] in the configuration",
		     cfg->path ? cfg->path : "config");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		pr_header_t h = {.opcode = PR_OP_HELLO, .req_id = i + 1};
		const char *addr = cfg->nodes[i].addr;

		socks[i] = pr_dealer_open(ctx, addr, &rc);
		if (!socks[i]) {
			snprintf(why, sizeof(why), "cannot connect: %s",
				 zmq_strerror(-rc));
			note(tried, sizeof(tried), addr, why);
			continue;
		}
		rc = pr_call_start(&calls[i], socks[i], &h, NULL, 0, deadline);
		if (rc < 0) {
			snprintf(why, sizeof(why), "send: %s", strerror(-rc));
			note(tried, sizeof(tried), addr, why);
		}
	}
	while (!cl) {
		rc = pr_call_wait(calls, n, deadline, &m);
		if (rc < 0)
			break; /* the deadline, or no node left to wait for */
		cl = hello_take(cfg, (size_t)rc, &m, tried, sizeof(tried));
	}
	if (!cl) {
		for (size_t i = 0; i < n; i++) {
			if (!calls[i].pending)
				continue;
			if (calls[i].bad)
				snprintf(why, sizeof(why), "bad reply: %s",
					 strerror(-calls[i].bad));
			else
				snprintf(why, sizeof(why),
					 "no answer within %llu ms",
					 (unsigned long long)timeout_ms);
			note(tried, sizeof(tried), cfg->nodes[i].addr, why);
		}
		errf(err, errlen, "no cache node answered HELLO; tried %s",
		     tried);
	}
out:
	pr_msg_close(&m);
	for (size_t i = 0; i < n; i++)
		if (socks[i])
			zmq_close(socks[i]);
	zmq_ctx_term(ctx);
	free(socks);
	free(calls);
	return cl;
}
