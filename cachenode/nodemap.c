/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a node serves and how it is laid out (see server_i.h): the datasets
 * opened with their modules, the HELLO map that tells clients them and the
 * ring (membership.c), the share of ram_capacity each cache gets,
 * the disk tier's view of the datasets, and SIGHUP, which swaps all of it
 * at once or nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachenode/server_i.h"
#include "common/log.h"
#include "common/util.h"

#define TRANSIENT_MIN (32ull << 20)
#define META_SHARE    16 /* metadata cache: 1/16 of ram_capacity */

/* What one sender may have in flight (senders.c): requests pending, hints,
 * replies ZeroMQ holds (under the ROUTER's send queue, server.c), their
 * bytes at most; requests held while it is at a cap, in number and bytes;
 * and the table's bounds.  A FUSE client is one sender to each node, with
 * every reader of its mount behind it, and so is a node asking for
 * hand-offs and replicas (peers.c), with every miss of its own clients:
 * these leave either room (64 FUSE threads, read-ahead), and bound what it
 * can cost the node. */
#define SENDER_MAX_PENDING    1024
#define SENDER_MAX_HINTS      256
#define SENDER_MAX_REPLIES    1024
#define SENDER_MAX_BYTES      (256ull << 20)
#define SENDER_MAX_HELD	      4096
#define SENDER_MAX_HELD_BYTES (1u << 20)
#define MAX_SENDERS	      4096
#define MAX_HELD_BYTES	      (64u << 20)

cn_dataset_t *cn_nodemap_dataset(cn_server_t *s, pr_str_t name)
{
	for (size_t i = 0; i < s->n_ds; i++)
		if (pr_str_eq(name, s->ds[i]->name))
			return s->ds[i];
	return NULL;
}

/* no_ram_tier: no block is cached in RAM; the capacity bounds the buffers
 * of blocks in flight instead. */
void cn_nodemap_budgets(const cn_server_t *s, uint64_t *blocks, uint64_t *slack,
			uint64_t *meta)
{
	const sl_config_t *cfg = s->cfg;
	uint64_t cap = s->node->ram_capacity, maxblk = 0;

	for (size_t i = 0; i < cfg->n_datasets; i++)
		maxblk = SL_MAX(maxblk, (uint64_t)cfg->datasets[i].block_size);
	*meta = cap / META_SHARE;
	*blocks = cap - *meta;
	*slack = SL_MAX(2 * cn_ramtier_charge(maxblk),
			SL_MIN(TRANSIENT_MIN, cap / 2));
	if (s->opts.no_ram_tier) {
		*slack = SL_MAX(*slack, *blocks);
		*blocks = 0;
	}
}

/*
 * Per sender: what its replies may hold of the RAM tier (a quarter of it,
 * at most SENDER_MAX_BYTES, at least four of the largest blocks, so that a
 * reader streams), and fixed counts (senders.c).
 */
void cn_nodemap_sender_limits(const cn_server_t *s, cn_sender_limits_t *lim)
{
	const sl_config_t *cfg = s->cfg;
	uint64_t cap = s->node->ram_capacity, maxblk = 0;

	for (size_t i = 0; i < cfg->n_datasets; i++)
		maxblk = SL_MAX(maxblk, (uint64_t)cfg->datasets[i].block_size);
	*lim = (cn_sender_limits_t){
		.max_pending = SENDER_MAX_PENDING,
		.max_hints = SENDER_MAX_HINTS,
		.max_replies = SENDER_MAX_REPLIES,
		.max_bytes =
			SL_MAX(4 * maxblk, SL_MIN(cap / 4, SENDER_MAX_BYTES)),
		.max_deferred = SENDER_MAX_HELD,
		.max_deferred_bytes = SENDER_MAX_HELD_BYTES,
		.max_peers = MAX_SENDERS,
		.max_held_bytes = MAX_HELD_BYTES,
	};
}

int cn_dataset_allows(const cn_server_t *s, const char *user,
		      const sl_dataset_conf_t *d)
{
	static const char node[] = CN_ZAP_NODE_PREFIX;

	if (!s->zap || strncmp(user, node, sizeof(node) - 1) == 0)
		return 1;
	if (!d) /* no longer configured */
		return 0;
	if (!d->has_allow)
		return 1;
	for (size_t i = 0; i < d->n_allow; i++)
		if (strcmp(d->allow[i], user) == 0)
			return 1;
	return 0;
}

/* The HELLO map: the ring's members, its generation, this node's drain
 * state and the datasets user (NULL: anyone) may see, into *out (caller
 * frees) and *len. */
static int encode_hello(cn_server_t *s, const char *user, uint8_t **out,
			size_t *len)
{
	const sl_config_t *c = s->cfg;
	const cn_ringmap_t *r = s->map;
	pr_hello_node_t *nodes = sl_xcalloc(r->n + 1, sizeof(*nodes));
	pr_hello_dataset_t *dss = sl_xcalloc(c->n_datasets + 1, sizeof(*dss));
	pr_hello_t h = {0};
	size_t n = 0;
	pr_buf_t b;
	int rc;

	for (size_t i = 0; i < r->n; i++) {
		nodes[i].name = pr_str(r->m[i].name);
		nodes[i].addr = pr_str(r->m[i].addr);
		nodes[i].weight = r->m[i].weight;
	}
	for (size_t i = 0; i < c->n_datasets; i++) {
		if (user && !cn_dataset_allows(s, user, &c->datasets[i]))
			continue;
		dss[n].name = pr_str(c->datasets[i].name);
		dss[n].backend = pr_str(c->datasets[i].backend);
		dss[n].block_size = c->datasets[i].block_size;
		dss[n].layout = s->ds[i]->layout;
		dss[n].layout_since_ms = s->ds[i]->layout_since_ms;
		dss[n].policy = pr_str(c->datasets[i].policy);
		dss[n].metadata_ttl_ms = c->datasets[i].metadata_ttl_ms;
		n++;
	}
	h.cluster = pr_str(c->cluster_name);
	h.node = pr_str(s->node_name);
	h.ring_version = r->version;
	h.generation = r->generation;
	h.drain = (uint8_t)s->drain;
	h.n_nodes = (uint32_t)r->n;
	h.nodes = nodes;
	h.n_datasets = (uint32_t)n;
	h.datasets = dss;
	pr_buf_init(&b);
	rc = pr_hello_encode(&b, &h);
	*out = NULL;
	*len = 0;
	if (rc == 0)
		*out = pr_buf_release(&b, len);
	else
		sl_err("cluster map cannot be encoded: %s", strerror(-rc));
	pr_buf_fini(&b);
	free(nodes);
	free(dss);
	return rc;
}

static int build_hello(cn_server_t *s)
{
	free(s->hello);
	return encode_hello(s, NULL, &s->hello, &s->hello_len);
}

int cn_nodemap_hello_for(cn_server_t *s, const char *user, uint8_t **out,
			 size_t *len)
{
	*out = NULL;
	*len = 0;
	if (!s->zap || !s->map)
		return 0;
	for (size_t i = 0; i < s->cfg->n_datasets; i++)
		if (!cn_dataset_allows(s, user, &s->cfg->datasets[i]))
			return encode_hello(s, user, out, len);
	return 0;
}

void cn_nodemap_hello(cn_server_t *s)
{
	if (s->map)
		build_hello(s);
}

/* The table of dc's policy, or NULL with the config error in err. */
static const cn_policy_ops_t *find_policy(const cn_server_t *s,
					  const sl_config_t *cfg,
					  const sl_dataset_conf_t *dc,
					  char *err, size_t errlen)
{
	const cn_policy_ops_t *p = cn_policy_find(dc->policy, s->opts.policies,
						  s->opts.n_policies);
	char known[256];

	/* auto starts as lru, until its size is known (autopolicy.h). */
	if (strcmp(dc->policy, SL_POLICY_AUTO) == 0)
		return &cn_policy_lru;
	if (!p) {
		cn_policy_names(known, sizeof(known), s->opts.policies,
				s->opts.n_policies);
		snprintf(err, errlen,
			 "%s:%d: [dataset %s] policy: unknown policy '%s' "
			 "(known: " SL_POLICY_AUTO ", %s)",
			 cfg->path ? cfg->path : "(config)", dc->policy_line,
			 dc->name, dc->policy, known);
	}
	return p;
}

static cn_dataset_t *find_open(cn_dataset_t **ds, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (ds[i] && strcmp(ds[i]->name, name) == 0)
			return ds[i];
	return NULL;
}

/*
 * Open cfg's datasets into *out, reusing those of old (n_old) that did
 * not change.  All or nothing: 0, or -errno with err and nothing opened.
 */
static int open_datasets(cn_server_t *s, const sl_config_t *cfg,
			 cn_dataset_t **old, size_t n_old, cn_dataset_t ***out,
			 char *err, size_t errlen)
{
	cn_dataset_t **ds = sl_xcalloc(cfg->n_datasets + 1, sizeof(*ds));
	const cn_policy_ops_t *policy;
	int rc = 0;

	for (size_t i = 0; i < cfg->n_datasets; i++) {
		const sl_dataset_conf_t *dc = &cfg->datasets[i];
		cn_dataset_t *o = find_open(old, n_old, dc->name);

		if (o && cn_dataset_same(o, dc)) {
			ds[i] = cn_dataset_ref(o);
			continue;
		}
		policy = find_policy(s, cfg, dc, err, errlen);
		rc = -EINVAL;
		if (policy)
			ds[i] = cn_dataset_open(s->backends, dc, policy,
						cfg->path, s->next_ds_id++, &rc,
						err, errlen);
		if (!ds[i]) {
			for (size_t j = 0; j < i; j++)
				cn_dataset_unref(&ds[j]);
			free(ds);
			return rc < 0 ? rc : -EINVAL;
		}
		/* Reopened with the layout it had: served since then. */
		if (o && o->layout == ds[i]->layout)
			ds[i]->layout_since_ms = o->layout_since_ms;
		/* The same name counts on where it was (metrics.h). */
		if (o) {
			cn_dsmetrics_unref(&ds[i]->counts);
			ds[i]->counts = cn_dsmetrics_ref(o->counts);
		}
	}
	*out = ds;
	return 0;
}

int cn_nodemap_open(cn_server_t *s, char *err, size_t errlen)
{
	int rc = open_datasets(s, s->cfg, NULL, 0, &s->ds, err, errlen);

	if (rc < 0)
		return rc;
	s->n_ds = s->cfg->n_datasets;
	return 0;
}

void cn_nodemap_close(cn_server_t *s)
{
	for (size_t i = 0; i < s->n_ds; i++)
		cn_dataset_unref(&s->ds[i]);
	free(s->ds);
	s->ds = NULL;
	s->n_ds = 0;
	free(s->hello);
	s->hello = NULL;
}

/* ---- The disk tier's view ------------------------------------------------ */

/* The disk tier's view of the datasets.  Caller frees. */
static cn_disk_dataset_t *disk_datasets(cn_server_t *s)
{
	cn_disk_dataset_t *d = sl_xcalloc(s->n_ds + 1, sizeof(*d));

	for (size_t i = 0; i < s->n_ds; i++) {
		d[i].sig = s->ds[i]->layout;
		d[i].policy = s->ds[i]->policy;
	}
	return d;
}

void cn_nodemap_disk_policies(cn_server_t *s)
{
	cn_disk_dataset_t *d;

	if (!s->disk)
		return;
	d = disk_datasets(s);
	cn_disktier_set_policies(s->disk, d, s->n_ds);
	free(d);
}

static void disk_conf(const sl_node_conf_t *n, cn_disktier_conf_t *c)
{
	memset(c, 0, sizeof(*c));
	c->path = n->disk_path;
	c->capacity = n->disk_capacity;
	c->min_free = n->disk_min_free;
	c->min_free_pct = n->disk_min_free_pct;
}

int cn_nodemap_open_disk(cn_server_t *s, char *err, size_t errlen)
{
	cn_disk_dataset_t *d = disk_datasets(s);
	cn_disktier_conf_t c;
	int rc;

	disk_conf(s->node, &c);
	s->disk = cn_disktier_new(&c, d, s->n_ds, &s->m, &rc, err, errlen);
	free(d);
	return s->disk ? 0 : rc;
}

static int same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* SIGHUP: new limits and datasets for the disk tier.  old: the node's
 * previous section (still valid). */
static void reload_disk(cn_server_t *s, const sl_node_conf_t *old)
{
	cn_disk_dataset_t *d;
	cn_disktier_conf_t c;

	if (!same_str(s->node->disk_path, old->disk_path))
		sl_warn("reload: disk_path changes take effect on restart");
	if (!s->disk)
		return;
	/* Without a disk_path now, keep the old limits until the restart;
	 * the datasets still apply. */
	disk_conf(s->node->disk_path ? s->node : old, &c);
	d = disk_datasets(s);
	cn_disktier_configure(s->disk, &c, d, s->n_ds);
	free(d);
}

/* ---- Reload -------------------------------------------------------------- */

static void apply_budgets(cn_server_t *s)
{
	uint64_t blocks, slack, meta;

	cn_nodemap_budgets(s, &blocks, &slack, &meta);
	cn_ramtier_set_capacity(s->tier, blocks, slack);
	cn_metacache_set_limits(s->meta, meta, CN_META_ENTRIES);
	atomic_store(&s->m.ram_capacity, s->node->ram_capacity);
	{
		cn_sender_limits_t lim;

		cn_nodemap_sender_limits(s, &lim);
		cn_senders_set_limits(s->senders, &lim);
	}
}

/* What a reload changes that takes effect on restart only. */
static void warn_restart_only(const cn_server_t *s, const sl_config_t *cfg,
			      const sl_node_conf_t *n)
{
	if (strcmp(n->addr, s->node->addr) != 0 ||
	    strcmp(n->metrics_addr, s->node->metrics_addr) != 0 ||
	    n->workers != s->node->workers)
		sl_warn("reload: addr, metrics_addr and workers changes take "
			"effect on restart");
	if (!same_str(cfg->module_dir, s->cfg->module_dir))
		sl_warn("reload: module_dir changes take effect on restart");
	if (cfg->membership != s->cfg->membership ||
	    !same_str(cfg->etcd, s->cfg->etcd) ||
	    !same_str(cfg->etcd_prefix, s->cfg->etcd_prefix) ||
	    cfg->lease_ttl_ms != s->cfg->lease_ttl_ms)
		sl_warn("reload: membership, etcd, etcd_prefix and lease_ttl "
			"changes take effect on restart");
}

/* Drop what is cached of the datasets that went away or changed (ds: the
 * new ones, of cfg), and of those whose metadata TTL changed. */
static void purge_changed(cn_server_t *s, const sl_config_t *cfg,
			  cn_dataset_t **ds)
{
	cn_dataset_t *o;

	for (size_t i = 0; i < s->n_ds; i++) {
		o = s->ds[i];
		if (find_open(ds, cfg->n_datasets, o->name) != o) {
			o->retired = 1;
			cn_ramtier_purge(s->tier, o->id);
			cn_metacache_purge_tag(s->meta, o->id);
			sl_notice("reload: dataset %s %s (layout was %08" PRIx32
				  ")",
				  o->name,
				  sl_config_dataset(cfg, o->name) ? "reopened"
								  : "removed",
				  o->layout);
		}
	}
	for (size_t i = 0; i < cfg->n_datasets; i++) {
		ds[i]->replicas = cfg->datasets[i].replicas;
		if (ds[i]->metadata_ttl_ms !=
		    cfg->datasets[i].metadata_ttl_ms) {
			ds[i]->metadata_ttl_ms =
				cfg->datasets[i].metadata_ttl_ms;
			cn_metacache_purge_tag(s->meta, ds[i]->id);
		}
		o = find_open(s->ds, s->n_ds, ds[i]->name);
		if (o != ds[i])
			sl_notice("reload: dataset %s %s: layout %08" PRIx32
				  ", block size %" PRIu32,
				  ds[i]->name, o ? "now" : "added",
				  ds[i]->layout, ds[i]->block_size);
	}
}

int cn_server_reload(cn_server_t *s, sl_config_t *cfg, char *err, size_t errlen)
{
	const sl_node_conf_t *n = sl_config_node(cfg, s->node_name);
	const sl_node_conf_t *old_node;
	sl_config_t *old_cfg;
	cn_dataset_t **ds = NULL;
	int rc;

	if (!n) {
		snprintf(err, errlen, "%s: node %s is not in the new config",
			 cfg->path ? cfg->path : "(config)", s->node_name);
		sl_config_destroy(&cfg);
		return -ENOENT;
	}
	rc = open_datasets(s, cfg, s->ds, s->n_ds, &ds, err, errlen);
	if (rc < 0) {
		sl_config_destroy(&cfg);
		return rc;
	}
	warn_restart_only(s, cfg, n);
	purge_changed(s, cfg, ds);
	for (size_t i = 0; i < s->n_ds; i++)
		cn_dataset_unref(&s->ds[i]);
	free(s->ds);
	s->ds = ds;
	s->n_ds = cfg->n_datasets;
	cn_tiering_set_datasets(s->tiers, s->ds, s->n_ds);
	old_cfg = s->cfg; /* freed once the disk tier has seen both */
	old_node = s->node;
	s->cfg = cfg;
	s->node = n;
	cn_membership_reload(s);
	cn_server_reload_keys(s);
	reload_disk(s, old_node);
	sl_config_destroy(&old_cfg);
	apply_budgets(s);
	cn_server_autopolicy(s, "the reload");
	cn_server_autopolicy_walks(s); /* datasets new, or relaid out */
	/* The rows of datasets that went away leave the metrics now. */
	cn_server_recount(s);
	cn_fetch_pump(s);
	sl_notice("reloaded %s: %zu datasets, ring %08" PRIx32
		  " generation %" PRIu64,
		  cfg->path ? cfg->path : "config", s->n_ds, s->map->version,
		  s->map->generation);
	return 0;
}
