/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client's cluster map (see cluster.h): HELLO bootstrap against the
 * nodes of the config file, and the map built from an answer.  All nodes
 * are asked at once and the first valid answer wins, so a dead first node
 * costs nothing when a later one is up.
 */
#include "fuse/cluster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "common/keys.h"
#include "common/log.h"
#include "common/members.h"
#include "common/util.h"
#include "proto/call.h"
#include "proto/proto.h"
#include "proto/transport.h"

/* One dataset entry of a HELLO into *d, or -EINVAL with err. */
static int take_dataset(fc_dataset_t *d, const pr_hello_dataset_t *hd, size_t i,
			char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	if (pr_str_copy(d->name, sizeof(d->name), hd->name) < 0 ||
	    !sl_name_valid(d->name)) {
		sl_errf(err, errlen, "HELLO: dataset %zu: bad name", i);
		return -EINVAL;
	}
	if (hd->block_size < SL_BLOCK_SIZE_MIN ||
	    hd->block_size > SL_BLOCK_SIZE_MAX) {
		sl_errf(err, errlen, "HELLO: dataset %s: block size %u",
			d->name, hd->block_size);
		return -EINVAL;
	}
	d->block_size = hd->block_size;
	d->layout = hd->layout;
	d->layout_since_ms = hd->layout_since_ms;
	if (pr_str_copy(d->policy, sizeof(d->policy), hd->policy) < 0) {
		sl_errf(err, errlen, "HELLO: dataset %s: bad policy", d->name);
		return -EINVAL;
	}
	d->metadata_ttl_ms = hd->metadata_ttl_ms;
	return 0;
}

/* The datasets of h, at prev's indices first (see cluster.h): 0, or
 * -EINVAL with err. */
static int take_datasets(fc_cluster_t *cl, const pr_hello_t *h,
			 const fc_cluster_t *prev, char *err, size_t errlen)
{
	size_t n = prev ? prev->n_datasets : 0;
	fc_dataset_t d;
	int k;

	cl->datasets = sl_xcalloc(n + h->n_datasets + 1, sizeof(*cl->datasets));
	for (size_t i = 0; i < n; i++) {
		cl->datasets[i] = prev->datasets[i];
		cl->datasets[i].gone = 1;
	}
	cl->n_datasets = n;
	for (size_t i = 0; i < h->n_datasets; i++) {
		if (take_dataset(&d, &h->datasets[i], i, err, errlen) < 0)
			return -EINVAL;
		k = fc_cluster_dataset(cl, d.name, strlen(d.name));
		if (k >= 0 && !cl->datasets[k].gone) {
			sl_errf(err, errlen, "HELLO: dataset %s listed twice",
				d.name);
			return -EINVAL;
		}
		if (k < 0)
			k = (int)cl->n_datasets++;
		cl->datasets[k] = d;
	}
	return 0;
}

/* cl's ring over its nodes (set already): 0, or -E2BIG (no ring) when
 * their weights add up to more than SL_RING_MAX_WEIGHT (a HELLO or an
 * etcd view asking for a ring that would take gigabytes). */
static int build_ring(fc_cluster_t *cl)
{
	sl_ring_member_t *members =
		sl_xcalloc(cl->n_nodes + 1, sizeof(*members));

	for (size_t i = 0; i < cl->n_nodes; i++) {
		members[i].name = cl->nodes[i].name;
		members[i].weight = cl->nodes[i].weight;
	}
	sl_ring_destroy(&cl->ring);
	cl->ring = sl_ring_new(members, cl->n_nodes);
	free(members);
	if (!cl->ring)
		return -E2BIG;
	cl->ring_version = sl_ring_version(cl->ring);
	return 0;
}

fc_cluster_t *fc_cluster_from_hello(const struct pr_hello *h,
				    const fc_cluster_t *prev, char *err,
				    size_t errlen)
{
	fc_cluster_t *cl = sl_xcalloc(1, sizeof(*cl));

	atomic_init(&cl->refs, 1);
	if (h->n_nodes == 0) {
		sl_errf(err, errlen, "HELLO from %.*s lists no nodes",
			(int)h->node.len, h->node.ptr);
		goto fail;
	}
	if (pr_str_copy(cl->name, sizeof(cl->name), h->cluster) < 0 ||
	    pr_str_copy(cl->source, sizeof(cl->source), h->node) < 0) {
		sl_errf(err, errlen, "HELLO: cluster or node name too long");
		goto fail;
	}
	cl->generation = h->generation;
	cl->n_nodes = h->n_nodes;
	cl->nodes = sl_xcalloc(cl->n_nodes, sizeof(*cl->nodes));
	for (size_t i = 0; i < cl->n_nodes; i++) {
		fc_node_t *n = &cl->nodes[i];

		if (pr_str_copy(n->name, sizeof(n->name), h->nodes[i].name) <
			    0 ||
		    pr_str_copy(n->addr, sizeof(n->addr), h->nodes[i].addr) <
			    0) {
			sl_errf(err, errlen, "HELLO: node %zu: name too long",
				i);
			goto fail;
		}
		n->weight = h->nodes[i].weight ? h->nodes[i].weight : 1;
	}
	if (take_datasets(cl, h, prev, err, errlen) < 0)
		goto fail;
	if (build_ring(cl) < 0) {
		uint64_t total = 0;

		for (size_t i = 0; i < cl->n_nodes; i++)
			total += cl->nodes[i].weight;
		sl_errf(err, errlen,
			"HELLO from %s: the nodes' total weight %llu is over "
			"the ring's limit of %d",
			cl->source, (unsigned long long)total,
			SL_RING_MAX_WEIGHT);
		goto fail;
	}
	if (h->ring_version && h->ring_version != cl->ring_version)
		sl_warn("ring version %08x from %s differs from the one "
			"built from its node list (%08x)",
			h->ring_version, cl->source, cl->ring_version);
	return cl;
fail:
	fc_cluster_unref(&cl);
	return NULL;
}

/* A copy of src's name and datasets, with nodes: ring and generation
 * from ring_of (both borrowed).  One reference; NULL when ring_of's nodes
 * weigh more than a ring may. */
static fc_cluster_t *combine(const fc_cluster_t *src,
			     const fc_cluster_t *ring_of)
{
	fc_cluster_t *cl = sl_xcalloc(1, sizeof(*cl));

	atomic_init(&cl->refs, 1);
	memcpy(cl->name, src->name, sizeof(cl->name));
	memcpy(cl->source, ring_of->source, sizeof(cl->source));
	cl->generation = ring_of->generation;
	cl->n_nodes = ring_of->n_nodes;
	cl->nodes = sl_xcalloc(cl->n_nodes + 1, sizeof(*cl->nodes));
	memcpy(cl->nodes, ring_of->nodes, cl->n_nodes * sizeof(*cl->nodes));
	cl->n_datasets = src->n_datasets;
	cl->datasets = sl_xcalloc(cl->n_datasets + 1, sizeof(*cl->datasets));
	memcpy(cl->datasets, src->datasets,
	       cl->n_datasets * sizeof(*cl->datasets));
	if (build_ring(cl) < 0)
		fc_cluster_unref(&cl);
	return cl;
}

fc_cluster_t *fc_cluster_merge(const fc_cluster_t *cur,
			       const fc_cluster_t *cand)
{
	int ring = cand->ring_version != cur->ring_version &&
		   cand->generation > cur->generation;
	int changed = ring || cand->n_datasets > cur->n_datasets;
	fc_cluster_t *cl;

	for (size_t i = 0; i < cur->n_datasets && !changed; i++) {
		const fc_dataset_t *a = &cur->datasets[i],
				   *b = &cand->datasets[i];

		changed = !b->gone && b->layout != a->layout &&
			  b->layout_since_ms > a->layout_since_ms;
	}
	if (!changed)
		return NULL;
	/* cand is aligned to cur (fc_cluster_from_hello with prev = cur):
	 * its datasets extend cur's, index for index. */
	/* Both are maps already, so their rings were built. */
	cl = combine(cand, ring ? cand : cur);
	SL_ASSERT(cl);
	memcpy(cl->source, cand->source, sizeof(cl->source));
	for (size_t i = 0; i < cur->n_datasets; i++) {
		const fc_dataset_t *a = &cur->datasets[i],
				   *b = &cand->datasets[i];

		if (b->gone || b->layout == a->layout ||
		    b->layout_since_ms <= a->layout_since_ms)
			cl->datasets[i] = *a;
	}
	return cl;
}

fc_cluster_t *fc_cluster_with_members(const fc_cluster_t *cur,
				      const struct sl_members_set *set)
{
	fc_cluster_t ring = {0};
	fc_cluster_t *cl;

	if (set->generation <= cur->generation)
		return NULL;
	if (set->count == 0) {
		sl_log_ratelimited(SL_LOG_WARNING,
				   "etcd lists no cache node: keeping the "
				   "ring of %zu",
				   cur->n_nodes);
		return NULL;
	}
	ring.n_nodes = set->count;
	ring.nodes = sl_xcalloc(set->count, sizeof(*ring.nodes));
	for (size_t i = 0; i < set->count; i++) {
		sl_strlcpy(ring.nodes[i].name, set->members[i].name,
			   sizeof(ring.nodes[i].name));
		sl_strlcpy(ring.nodes[i].addr, set->members[i].addr,
			   sizeof(ring.nodes[i].addr));
		ring.nodes[i].weight = set->members[i].weight;
	}
	ring.generation = set->generation;
	sl_strlcpy(ring.source, "etcd", sizeof(ring.source));
	cl = combine(cur, &ring);
	free(ring.nodes);
	if (!cl) {
		sl_log_ratelimited(SL_LOG_WARNING,
				   "etcd lists %zu cache nodes whose weights "
				   "add up to more than %d, the ring's limit: "
				   "keeping the ring of %zu",
				   set->count, SL_RING_MAX_WEIGHT,
				   cur->n_nodes);
		return NULL;
	}
	if (cl->ring_version == cur->ring_version) {
		int same = cl->n_nodes == cur->n_nodes;

		for (size_t i = 0; same && i < cl->n_nodes; i++)
			same = !strcmp(cl->nodes[i].addr, cur->nodes[i].addr);
		if (same)
			fc_cluster_unref(&cl);
	}
	return cl;
}

fc_cluster_t *fc_cluster_ref(fc_cluster_t *cl)
{
	atomic_fetch_add(&cl->refs, 1);
	return cl;
}

void fc_cluster_unref(fc_cluster_t **clp)
{
	fc_cluster_t *cl = clp ? *clp : NULL;

	if (!cl)
		return;
	*clp = NULL;
	if (atomic_fetch_sub(&cl->refs, 1) > 1)
		return;
	sl_ring_destroy(&cl->ring);
	free(cl->nodes);
	free(cl->datasets);
	free(cl);
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

/* Build the map from the HELLO reply m (borrowed) of the node at addr,
 * or note why not. */
static fc_cluster_t *hello_take(const char *addr, pr_msg_t *m, char *tried,
				size_t triedlen)
{
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
	cl = fc_cluster_from_hello(&hello, NULL, why, sizeof(why));
	pr_hello_free(&hello);
	if (!cl) {
		note(tried, triedlen, addr, why);
		return NULL;
	}
	sl_info("cluster map from %s (%s): %zu nodes, %zu datasets, ring %08x "
		"generation %llu",
		cl->source, addr, cl->n_nodes, cl->n_datasets, cl->ring_version,
		(unsigned long long)cl->generation);
	return cl;
}

/* The addresses to ask: the config's nodes, or the members etcd lists
 * (the config's nodes when it does not answer).  *n of them; caller
 * frees the array and each. */
static char **hello_addrs(const sl_config_t *cfg, uint64_t timeout_ms,
			  size_t *n, char *tried, size_t triedlen)
{
	const sl_members_set_t *set = NULL;
	char **addrs, why[256];
	int rc;

	if (cfg->membership == SL_MEMBERSHIP_ETCD) {
		sl_members_opts_t o = {.endpoints = cfg->etcd,
				       .prefix = cfg->etcd_prefix,
				       .timeout_ms = timeout_ms};

		set = sl_members_fetch(&o, &rc, why, sizeof(why));
		if (!set)
			note(tried, triedlen, "etcd", why);
		else if (set->count == 0)
			note(tried, triedlen, "etcd", "no member registered");
	}
	if (set && set->count) {
		addrs = sl_xcalloc(set->count, sizeof(*addrs));
		for (size_t i = 0; i < set->count; i++)
			addrs[i] = sl_xstrdup(set->members[i].addr);
		*n = set->count;
		sl_members_set_put(&set);
		return addrs;
	}
	sl_members_set_put(&set);
	addrs = sl_xcalloc(cfg->n_nodes + 1, sizeof(*addrs));
	for (size_t i = 0; i < cfg->n_nodes; i++)
		addrs[i] = sl_xstrdup(cfg->nodes[i].addr);
	*n = cfg->n_nodes;
	return addrs;
}

fc_cluster_t *fc_cluster_hello(const sl_config_t *cfg, uint64_t timeout_ms,
			       char *err, size_t errlen)
{
	char tried[2048] = "";
	size_t n;
	char **addrs = hello_addrs(cfg, timeout_ms, &n, tried, sizeof(tried));
	void *ctx = zmq_ctx_new();
	void **socks = sl_xcalloc(n ? n : 1, sizeof(*socks));
	pr_call_t *calls = sl_xcalloc(n ? n : 1, sizeof(*calls));
	fc_cluster_t *cl = NULL;
	uint64_t deadline = sl_now_ms() + timeout_ms;
	pr_msg_t m;
	int rc;
	char why[256];
	sl_keyring_t *keys = sl_keyring_new(cfg, NULL, why, sizeof(why));

	pr_msg_init(&m);
	if (!keys) {
		sl_errf(err, errlen, "%s", why);
		goto out;
	}
	if (n == 0) {
		sl_errf(err, errlen, "%s: no cache node to ask%s%s",
			cfg->path ? cfg->path : "config", tried[0] ? ": " : "",
			tried);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		pr_header_t h = {.opcode = PR_OP_HELLO, .req_id = i + 1};

		socks[i] = pr_dealer_open_keyed(ctx, addrs[i], keys, NULL, &rc);
		if (!socks[i]) {
			snprintf(why, sizeof(why), "cannot connect: %s",
				 zmq_strerror(-rc));
			note(tried, sizeof(tried), addrs[i], why);
			continue;
		}
		/* Not pr_call_start: it would wait for this socket's
		 * connection while the others wait to be asked. */
		rc = pr_call_post(&calls[i], socks[i], &h, NULL, 0);
		if (rc < 0) {
			snprintf(why, sizeof(why), "send: %s", strerror(-rc));
			note(tried, sizeof(tried), addrs[i], why);
		}
	}
	while (!cl) {
		rc = pr_call_wait(calls, n, deadline, &m);
		if (rc < 0)
			break; /* the deadline, or no node left to wait for */
		cl = hello_take(addrs[rc], &m, tried, sizeof(tried));
	}
	if (!cl) {
		for (size_t i = 0; i < n; i++) {
			if (!calls[i].pending)
				continue;
			if (calls[i].bad)
				snprintf(why, sizeof(why), "bad reply: %s",
					 strerror(-calls[i].bad));
			else if (calls[i].unsent)
				snprintf(why, sizeof(why),
					 "no connection within %llu ms",
					 (unsigned long long)timeout_ms);
			else
				snprintf(why, sizeof(why),
					 "no answer within %llu ms",
					 (unsigned long long)timeout_ms);
			note(tried, sizeof(tried), addrs[i], why);
		}
		sl_errf(err, errlen, "no cache node answered HELLO; tried %s",
			tried);
	}
out:
	pr_msg_close(&m);
	for (size_t i = 0; i < n; i++) {
		pr_call_clear(&calls[i]);
		if (socks[i])
			zmq_close(socks[i]);
		free(addrs[i]);
	}
	zmq_ctx_term(ctx);
	sl_keyring_destroy(&keys);
	free(addrs);
	free(socks);
	free(calls);
	return cl;
}
