/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the cluster configuration's sections and keys mean (see
 * config_i.h): the known keys of each section, each value's check and
 * default, the keys a section cannot do without, and the checks across
 * sections (ring weight, security, membership).  config.c reads the
 * lines; every message goes through sl_cfg_fail, so it names the line.
 */
#include "common/config_i.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/confval.h"
#include "common/etcd.h"
#include "common/ring.h"
#include "common/util.h"

/* The known keys of each section; the enums index the tables. */
enum {
	CLUSTER_NAME,
	CLUSTER_MODULE_DIR,
	CLUSTER_MEMBERSHIP,
	CLUSTER_ETCD,
	CLUSTER_ETCD_PREFIX,
	CLUSTER_LEASE_TTL,
	CLUSTER_GENERATION,
	CLUSTER_SECURITY,
	CLUSTER_ALLOWED_CLIENTS,
};
static const char *const cluster_keys[] = {
	"name",	      "module_dir",  "membership",
	"etcd",	      "etcd_prefix", "lease_ttl",
	"generation", "security",    "allowed_clients",
	NULL,
};

enum {
	NODE_ADDR,
	NODE_WEIGHT,
	NODE_METRICS_ADDR,
	NODE_RAM_CAPACITY,
	NODE_WORKERS,
	NODE_DISK_PATH,
	NODE_DISK_CAPACITY,
	NODE_DISK_MIN_FREE,
	NODE_SECRET_KEY,
	NODE_PUBLIC_KEY,
};
static const char *const node_keys[] = {
	"addr",
	"weight",
	"metrics_addr",
	"ram_capacity",
	"workers",
	"disk_path",
	"disk_capacity",
	"disk_min_free",
	"secret_key",
	"public_key",
	NULL,
};
/* [node-defaults]: node_keys but the two every node has its own of (its
 * addresses: --addr, --metrics-addr); defaults_node[i] is key i's index
 * in node_keys, which node_key and the section's checks speak. */
static const char *const node_defaults_keys[] = {
	"weight",     "ram_capacity",  "workers",
	"disk_path",  "disk_capacity", "disk_min_free",
	"secret_key", "public_key",    NULL,
};
static const int defaults_node[] = {
	NODE_WEIGHT,	 NODE_RAM_CAPACITY,  NODE_WORKERS,
	NODE_DISK_PATH,	 NODE_DISK_CAPACITY, NODE_DISK_MIN_FREE,
	NODE_SECRET_KEY, NODE_PUBLIC_KEY,
};
_Static_assert(SL_ARRAY_SIZE(defaults_node) + 1 ==
		       SL_ARRAY_SIZE(node_defaults_keys),
	       "a [node-defaults] key without its node_keys index");

enum {
	DS_BACKEND,
	DS_URI,
	DS_BLOCK_SIZE,
	DS_POLICY,
	DS_METADATA_TTL,
	DS_REPLICAS,
	DS_ALLOW,
};
static const char *const dataset_keys[] = {
	"backend",	"uri",	    "block_size", "policy",
	"metadata_ttl", "replicas", "allow",	  NULL,
};

enum {
	CLIENT_BLOCK_CACHE,
	CLIENT_PREFETCH_DEPTH,
	CLIENT_REQUEST_TIMEOUT,
	CLIENT_DOWN_BACKOFF,
	CLIENT_MAX_INODES,
	CLIENT_SECRET_KEY,
	CLIENT_PAGE_SIZE,
	CLIENT_METRICS_ADDR,
};
static const char *const client_keys[] = {
	"block_cache",	"prefetch_depth", "request_timeout",
	"down_backoff", "max_inodes",	  "secret_key",
	"page_size",	"metrics_addr",	  NULL,
};

int sl_policy_name_valid(const char *name)
{
	return sl_backend_name_valid(name); /* the same rule */
}

static int get_u32(parser_t *p, const char *key, const char *val, uint32_t min,
		   uint32_t max, uint32_t *out)
{
	uint64_t v;
	int ret = sl_parse_uint(val, &v);

	if (ret == -EINVAL)
		return sl_cfg_fail(p, p->line, key,
				   "'%s' is not a number (expected %u..%u)",
				   val, min, max);
	if (ret < 0 || v < min || v > max)
		return sl_cfg_fail(p, p->line, key, "%s is out of range %u..%u",
				   val, min, max);
	*out = (uint32_t)v;
	return 0;
}

static int get_size(parser_t *p, const char *key, const char *val, uint64_t min,
		    uint64_t max, uint64_t *out)
{
	char lo[32], hi[32];
	uint64_t v;
	int ret = sl_parse_size(val, &v);

	if (ret == -EINVAL)
		return sl_cfg_fail(
			p, p->line, key,
			"'%s' is not a size (bytes, or a number with K, "
			"M, G or T, e.g. 512K, 4M, 2G)",
			val);
	if (ret == 0 && v >= min && v <= max) {
		*out = v;
		return 0;
	}
	if (max != UINT64_MAX)
		return sl_cfg_fail(p, p->line, key, "%s is out of range %s..%s",
				   val, sl_format_size(min, lo, sizeof(lo)),
				   sl_format_size(max, hi, sizeof(hi)));
	if (ret < 0)
		return sl_cfg_fail(p, p->line, key, "%s is too large", val);
	return sl_cfg_fail(p, p->line, key, "%s is too small (at least %s)",
			   val, sl_format_size(min, lo, sizeof(lo)));
}

static int get_duration(parser_t *p, const char *key, const char *val,
			uint64_t min_ms, uint64_t *out)
{
	uint64_t v;
	int ret = sl_parse_duration_ms(val, &v);

	if (ret == -EINVAL)
		return sl_cfg_fail(
			p, p->line, key,
			"'%s' is not a duration (seconds, or a number with "
			"ms, s, m, h or d, e.g. 500ms, 2s, 5m)",
			val);
	if (ret < 0)
		return sl_cfg_fail(p, p->line, key, "%s is out of range", val);
	if (v < min_ms)
		return sl_cfg_fail(p, p->line, key,
				   "%s is too short (at least %llums)", val,
				   (unsigned long long)min_ms);
	*out = v;
	return 0;
}

static int get_str(parser_t *p, const char *key, const char *val, char *dst,
		   size_t cap)
{
	if (sl_strlcpy(dst, val, cap) < 0)
		return sl_cfg_fail(p, p->line, key,
				   "too long (at most %zu bytes)", cap - 1);
	return 0;
}

/* tcp://HOST:PORT, ipc://PATH or inproc://NAME: what ZeroMQ connects to. */
static int check_endpoint(parser_t *p, const char *key, const char *val)
{
	const char *problem = sl_endpoint_problem(val);

	if (problem)
		return sl_cfg_fail(p, p->line, key, "'%s': %s", val, problem);
	return 0;
}

static int key_index(const char *const *keys, const char *key)
{
	for (int i = 0; keys[i]; i++)
		if (strcmp(keys[i], key) == 0)
			return i;
	return -1;
}

static int unknown_key(parser_t *p, const char *key)
{
	char list[256] = "";
	size_t len = 0;

	for (int i = 0; p->keys[i]; i++) {
		int n = snprintf(list + len, sizeof(list) - len, "%s%s",
				 i ? ", " : "", p->keys[i]);

		if (n < 0 || (size_t)n >= sizeof(list) - len)
			break;
		len += (size_t)n;
	}
	return sl_cfg_fail(p, p->line, key, "unknown key (expected one of: %s)",
			   list);
}

static sl_node_conf_t *cur_node(parser_t *p)
{
	return &p->c->nodes[p->c->n_nodes - 1];
}

static sl_dataset_conf_t *cur_dataset(parser_t *p)
{
	return &p->c->datasets[p->c->n_datasets - 1];
}

static int cluster_key(parser_t *p, int idx, const char *key, const char *val)
{
	sl_config_t *c = p->c;

	switch (idx) {
	case CLUSTER_NAME:
		if (!sl_name_valid(val))
			return sl_cfg_fail(p, p->line, key,
					   "invalid name '%s' (use 1 to %d of "
					   "A-Z a-z 0-9 . _ -)",
					   val, SL_NAME_MAX);
		free(c->cluster_name);
		c->cluster_name = sl_xstrdup(val);
		break;
	case CLUSTER_MODULE_DIR:
		free(c->module_dir);
		c->module_dir = sl_xstrdup(val);
		break;
	case CLUSTER_MEMBERSHIP:
		p->membership_line = p->line;
		if (strcmp(val, "static") == 0)
			c->membership = SL_MEMBERSHIP_STATIC;
		else if (strcmp(val, "etcd") == 0)
			c->membership = SL_MEMBERSHIP_ETCD;
		else
			return sl_cfg_fail(p, p->line, key,
					   "'%s': expected static or etcd",
					   val);
		break;
	case CLUSTER_ETCD:
		p->etcd_line = p->line;
		free(c->etcd);
		c->etcd = sl_xstrdup(val);
		break;
	case CLUSTER_ETCD_PREFIX:
		if (val[0] != '/')
			return sl_cfg_fail(p, p->line, key,
					   "'%s' does not start with '/'", val);
		free(c->etcd_prefix);
		c->etcd_prefix = sl_xstrdup(val);
		break;
	case CLUSTER_LEASE_TTL:
		return get_duration(p, key, val, 1000, &c->lease_ttl_ms);
	case CLUSTER_SECURITY:
		if (strcmp(val, "curve") == 0)
			c->security = SL_SECURITY_CURVE;
		else if (strcmp(val, "none") == 0)
			c->security = SL_SECURITY_NONE;
		else if (strcmp(val, "loopback") == 0)
			c->security = SL_SECURITY_LOOPBACK;
		else
			return sl_cfg_fail(
				p, p->line, key,
				"'%s': expected curve, none or loopback", val);
		break;
	case CLUSTER_ALLOWED_CLIENTS:
		free(c->allowed_clients);
		c->allowed_clients = sl_xstrdup(val);
		break;
	case CLUSTER_GENERATION: {
		int ret = sl_parse_uint(val, &c->generation);

		if (ret < 0 || c->generation == 0)
			return sl_cfg_fail(p, p->line, key,
					   "'%s' is not a number of at least 1",
					   val);
		break;
	}
	}
	return 0;
}

static int node_key(parser_t *p, int idx, const char *key, const char *val)
{
	sl_node_conf_t *n = p->sect == SECT_NODE_DEFAULTS ? &p->c->node_defaults
							  : cur_node(p);
	int ret = 0;

	switch (idx) {
	case NODE_ADDR:
		ret = check_endpoint(p, key, val);
		if (ret == 0)
			ret = get_str(p, key, val, n->addr, sizeof(n->addr));
		for (size_t i = 0; ret == 0 && i + 1 < p->c->n_nodes; i++)
			if (strcmp(p->c->nodes[i].addr, val) == 0)
				ret = sl_cfg_fail(
					p, p->line, key,
					"%s is already the address of "
					"[node %s] (line %d)",
					val, p->c->nodes[i].name,
					p->c->nodes[i].line);
		break;
	case NODE_WEIGHT:
		ret = get_u32(p, key, val, 1, 100, &n->weight);
		break;
	case NODE_METRICS_ADDR:
		if (*val && !sl_host_port_valid(val))
			return sl_cfg_fail(
				p, p->line, key,
				"'%s': expected HOST:PORT with a port in "
				"1..65535",
				val);
		ret = get_str(p, key, val, n->metrics_addr,
			      sizeof(n->metrics_addr));
		for (size_t i = 0; ret == 0 && *val && i + 1 < p->c->n_nodes;
		     i++)
			if (strcmp(p->c->nodes[i].metrics_addr, val) == 0)
				ret = sl_cfg_fail(
					p, p->line, key,
					"%s is already the metrics "
					"address of [node %s] (line %d)",
					val, p->c->nodes[i].name,
					p->c->nodes[i].line);
		break;
	case NODE_RAM_CAPACITY:
		ret = get_size(p, key, val, 1, UINT64_MAX, &n->ram_capacity);
		break;
	case NODE_WORKERS:
		ret = get_u32(p, key, val, 1, 256, &n->workers);
		break;
	case NODE_DISK_PATH:
		if (val[0] != '/')
			return sl_cfg_fail(p, p->line, key,
					   "'%s' is not an absolute path", val);
		n->disk_path = sl_xstrdup(val);
		break;
	case NODE_DISK_CAPACITY:
		ret = get_size(p, key, val, 1, UINT64_MAX, &n->disk_capacity);
		break;
	case NODE_SECRET_KEY:
		free(n->secret_key);
		n->secret_key = sl_xstrdup(val);
		break;
	case NODE_PUBLIC_KEY:
		free(n->public_key);
		n->public_key = sl_xstrdup(val);
		break;
	case NODE_DISK_MIN_FREE: {
		size_t len = strlen(val);

		if (val[len - 1] == '%') {
			uint64_t pct;

			ret = sl_parse_percent(val, &pct);
			if (ret < 0 || pct > 99)
				return sl_cfg_fail(
					p, p->line, key,
					"'%s' is not a percentage in 0%%..99%%",
					val);
			n->disk_min_free_pct = (uint32_t)pct;
			n->disk_min_free = 0;
		} else {
			ret = get_size(p, key, val, 0, UINT64_MAX,
				       &n->disk_min_free);
			if (ret == 0)
				n->disk_min_free_pct = 0;
		}
		break;
	}
	}
	return ret;
}

static int dataset_param(parser_t *p, const char *key, const char *val)
{
	sl_dataset_conf_t *d = cur_dataset(p);
	sl_kv_t *kv;

	for (size_t i = 0; i < d->n_params; i++)
		if (strcmp(d->params[i].key, key) == 0)
			return sl_cfg_fail(
				p, p->line, key,
				"duplicate key (first set at line %d)",
				d->params[i].line);
	if (d->n_params == p->params_cap) {
		p->params_cap = p->params_cap ? 2 * p->params_cap : 4;
		d->params = sl_xrealloc(d->params,
					p->params_cap * sizeof(*d->params));
	}
	kv = &d->params[d->n_params++];
	kv->key = sl_xstrdup(key);
	kv->value = sl_xstrdup(val);
	kv->line = p->line;
	return 0;
}

/* allow = NAME, NAME...: key names, each once. */
static int get_allow(parser_t *p, const char *key, const char *val,
		     sl_dataset_conf_t *d)
{
	char *list = sl_xstrdup(val), *save = NULL;
	int ret = 0;

	d->has_allow = 1;
	for (char *t = strtok_r(list, ",", &save); t && ret == 0;
	     t = strtok_r(NULL, ",", &save)) {
		t = sl_cfg_trim(t);
		if (!sl_name_valid(t)) {
			ret = sl_cfg_fail(
				p, p->line, key,
				"invalid key name '%.*s' (use 1 to %d of "
				"A-Z a-z 0-9 . _ -)",
				SL_NAME_MAX, t, SL_NAME_MAX);
			break;
		}
		for (size_t i = 0; i < d->n_allow; i++)
			if (strcmp(d->allow[i], t) == 0)
				ret = sl_cfg_fail(p, p->line, key,
						  "'%s' is listed twice", t);
		if (ret == 0) {
			d->allow = sl_xrealloc(
				d->allow, (d->n_allow + 1) * sizeof(*d->allow));
			d->allow[d->n_allow++] = sl_xstrdup(t);
		}
	}
	free(list);
	return ret;
}

static int dataset_key(parser_t *p, int idx, const char *key, const char *val)
{
	sl_dataset_conf_t *d = cur_dataset(p);
	uint64_t v;
	int ret = 0;

	switch (idx) {
	case DS_BACKEND:
		if (!sl_backend_name_valid(val))
			return sl_cfg_fail(
				p, p->line, key,
				"invalid backend name '%s' (use 1 to %d of "
				"a-z 0-9 _, e.g. posix, s3, webhdfs)",
				val, SL_BACKEND_MAX);
		ret = get_str(p, key, val, d->backend, sizeof(d->backend));
		break;
	case DS_URI:
		d->uri = sl_xstrdup(val);
		break;
	case DS_BLOCK_SIZE:
		ret = get_size(p, key, val, SL_BLOCK_SIZE_MIN,
			       SL_BLOCK_SIZE_MAX, &v);
		if (ret == 0)
			d->block_size = (uint32_t)v;
		break;
	case DS_POLICY:
		if (!sl_policy_name_valid(val))
			return sl_cfg_fail(
				p, p->line, key,
				"invalid policy name '%s' (use 1 to %d of "
				"a-z 0-9 _)",
				val, SL_POLICY_MAX);
		ret = get_str(p, key, val, d->policy, sizeof(d->policy));
		d->policy_line = p->line;
		break;
	case DS_METADATA_TTL:
		ret = get_duration(p, key, val, 0, &d->metadata_ttl_ms);
		break;
	case DS_REPLICAS:
		ret = get_u32(p, key, val, 1, SL_REPLICAS_MAX, &d->replicas);
		break;
	case DS_ALLOW:
		ret = get_allow(p, key, val, d);
		break;
	}
	return ret;
}

static int client_key(parser_t *p, int idx, const char *key, const char *val)
{
	sl_client_conf_t *cl = &p->c->client;
	uint64_t v;
	int ret = 0;

	switch (idx) {
	case CLIENT_BLOCK_CACHE:
		ret = get_size(p, key, val, 0, UINT64_MAX, &cl->block_cache);
		break;
	case CLIENT_PREFETCH_DEPTH:
		ret = get_u32(p, key, val, 0, 64, &cl->prefetch_depth);
		break;
	case CLIENT_REQUEST_TIMEOUT:
		ret = get_duration(p, key, val, 1, &cl->request_timeout_ms);
		break;
	case CLIENT_DOWN_BACKOFF:
		ret = get_duration(p, key, val, 0, &cl->down_backoff_ms);
		break;
	case CLIENT_MAX_INODES:
		ret = get_u32(p, key, val, SL_MAX_INODES_MIN, SL_MAX_INODES_MAX,
			      &cl->max_inodes);
		break;
	case CLIENT_SECRET_KEY:
		free(cl->secret_key);
		cl->secret_key = sl_xstrdup(val);
		break;
	case CLIENT_PAGE_SIZE:
		ret = get_size(p, key, val, 0, 64ull << 20, &v);
		if (ret == 0 && v % 4096)
			ret = sl_cfg_fail(
				p, p->line, key,
				"%s is not a multiple of 4K (0 turns pages "
				"off)",
				val);
		if (ret == 0)
			cl->page_size = (uint32_t)v;
		break;
	case CLIENT_METRICS_ADDR:
		if (*val && !sl_metrics_addr_valid(val))
			return sl_cfg_fail(
				p, p->line, key,
				"'%s': expected HOST:PORT or :PORT with a "
				"port in 1..65535",
				val);
		ret = get_str(p, key, val, cl->metrics_addr,
			      sizeof(cl->metrics_addr));
		break;
	}
	return ret;
}

/* Checks that need the whole section: required keys and pairs of keys. */
int sl_cfg_finish_section(parser_t *p)
{
	const int *seen = p->seen_line;
	int ret = 0;

	switch (p->sect) {
	case SECT_NODE:
	case SECT_NODE_DEFAULTS:
		if (p->sect == SECT_NODE && !seen[NODE_ADDR])
			ret = sl_cfg_fail(p, p->sect_line, "addr",
					  "missing (every node needs one, e.g. "
					  "tcp://10.0.0.1:7701)");
		else if (seen[NODE_DISK_PATH] && !seen[NODE_DISK_CAPACITY])
			ret = sl_cfg_fail(p, p->sect_line, "disk_capacity",
					  "missing (required with disk_path)");
		else if (seen[NODE_DISK_CAPACITY] && !seen[NODE_DISK_PATH])
			ret = sl_cfg_fail(p, seen[NODE_DISK_CAPACITY],
					  "disk_capacity",
					  "set without disk_path");
		else if (seen[NODE_DISK_MIN_FREE] && !seen[NODE_DISK_PATH])
			ret = sl_cfg_fail(p, seen[NODE_DISK_MIN_FREE],
					  "disk_min_free",
					  "set without disk_path");
		break;
	case SECT_DATASET:
		if (!seen[DS_BACKEND])
			ret = sl_cfg_fail(p, p->sect_line, "backend",
					  "missing (e.g. posix, s3, webhdfs)");
		else if (!seen[DS_URI])
			ret = sl_cfg_fail(p, p->sect_line, "uri", "missing");
		break;
	default:
		break;
	}
	p->sect = SECT_NONE;
	p->label[0] = '\0';
	p->keys = NULL;
	return ret;
}

static void start_section(parser_t *p, enum sect sect, const char *const *keys)
{
	p->sect = sect;
	p->sect_line = p->line;
	p->keys = keys;
	memset(p->seen_line, 0, sizeof(p->seen_line));
}

/* A node's settings before its section or [node-defaults] says more. */
static void node_init(sl_node_conf_t *n, const char *name, int line)
{
	memset(n, 0, sizeof(*n));
	sl_strlcpy(n->name, name, sizeof(n->name));
	n->weight = 1;
	n->ram_capacity = 1ull << 30;
	n->workers = 8;
	n->disk_min_free_pct = 10;
	n->line = line;
}

static int node_section(parser_t *p, const char *name)
{
	sl_config_t *c = p->c;
	sl_node_conf_t *n;

	for (size_t i = 0; i < c->n_nodes; i++)
		if (strcmp(c->nodes[i].name, name) == 0)
			return sl_cfg_fail(
				p, p->line, NULL,
				"duplicate node name (first at line %d)",
				c->nodes[i].line);
	if (c->n_nodes == p->nodes_cap) {
		p->nodes_cap = p->nodes_cap ? 2 * p->nodes_cap : 4;
		c->nodes =
			sl_xrealloc(c->nodes, p->nodes_cap * sizeof(*c->nodes));
	}
	n = &c->nodes[c->n_nodes++];
	node_init(n, name, p->line);
	start_section(p, SECT_NODE, node_keys);
	return 0;
}

static int dataset_section(parser_t *p, const char *name)
{
	sl_config_t *c = p->c;
	sl_dataset_conf_t *d;

	for (size_t i = 0; i < c->n_datasets; i++)
		if (strcmp(c->datasets[i].name, name) == 0)
			return sl_cfg_fail(
				p, p->line, NULL,
				"duplicate dataset name (first at line %d)",
				c->datasets[i].line);
	if (c->n_datasets == p->datasets_cap) {
		p->datasets_cap = p->datasets_cap ? 2 * p->datasets_cap : 4;
		c->datasets = sl_xrealloc(
			c->datasets, p->datasets_cap * sizeof(*c->datasets));
	}
	d = &c->datasets[c->n_datasets++];
	memset(d, 0, sizeof(*d));
	sl_strlcpy(d->name, name, sizeof(d->name));
	d->block_size = 4u << 20;
	d->replicas = 1;
	sl_strlcpy(d->policy, SL_POLICY_DEFAULT, sizeof(d->policy));
	d->line = p->line;
	d->policy_line = p->line;
	p->params_cap = 0;
	start_section(p, SECT_DATASET, dataset_keys);
	return 0;
}

/* A singleton section: [cluster] or [client]; *first is its first line. */
static int single_section(parser_t *p, enum sect sect, const char *const *keys,
			  const char *name, int *first)
{
	if (*name)
		return sl_cfg_fail(p, p->line, NULL,
				   "this section takes no name");
	if (*first)
		return sl_cfg_fail(p, p->line, NULL,
				   "duplicate section (first at line %d)",
				   *first);
	*first = p->line;
	start_section(p, sect, keys);
	return 0;
}

/* The static nodes' weights add up to at most the ring's limit: 0, or the
 * failure naming the node whose weight passes it. */
static int check_ring_weight(parser_t *p)
{
	uint64_t total = 0;

	for (size_t i = 0; i < p->c->n_nodes; i++) {
		total += p->c->nodes[i].weight;
		if (total <= SL_RING_MAX_WEIGHT)
			continue;
		snprintf(p->label, sizeof(p->label), "[node %.*s]",
			 LABEL_MAX - 8, p->c->nodes[i].name);
		return sl_cfg_fail(p, p->c->nodes[i].line, "weight",
				   "the nodes' weights add up to more than %d "
				   "here, the ring's limit",
				   SL_RING_MAX_WEIGHT);
	}
	return 0;
}

/* security = curve: every node in the file has a public key (whoever
 * connects to it needs it); allow says something only under curve. */
static int check_security(parser_t *p)
{
	sl_config_t *c = p->c;

	for (size_t i = 0; i < c->n_datasets; i++) {
		if (!c->datasets[i].has_allow ||
		    c->security == SL_SECURITY_CURVE)
			continue;
		snprintf(p->label, sizeof(p->label), "[dataset %.*s]",
			 LABEL_MAX - 11, c->datasets[i].name);
		return sl_cfg_fail(
			p, c->datasets[i].line, "allow",
			"needs security = curve in [cluster] (without "
			"keys no client can be told apart)");
	}
	if (c->security != SL_SECURITY_CURVE)
		return 0;
	for (size_t i = 0; i < c->n_nodes; i++) {
		if (c->nodes[i].public_key)
			continue;
		snprintf(p->label, sizeof(p->label), "[node %.*s]",
			 LABEL_MAX - 8, c->nodes[i].name);
		return sl_cfg_fail(
			p, c->nodes[i].line, "public_key",
			"missing (security = curve: whoever connects "
			"to the node needs its key)");
	}
	return 0;
}

/* Checks across sections, and defaults that depend on other keys. */
int sl_cfg_finish(parser_t *p)
{
	sl_config_t *c = p->c;
	char why[256];
	int rc;

	rc = check_security(p);
	if (rc < 0)
		return rc;

	snprintf(p->label, sizeof(p->label), "[cluster]");
	if (c->membership == SL_MEMBERSHIP_STATIC) {
		if (c->n_nodes == 0) {
			p->label[0] = '\0';
			return sl_cfg_fail(
				p, p->line > 0 ? p->line : 1, NULL,
				"no [node NAME] section: a cluster needs "
				"at least one node (or membership = etcd)");
		}
		if (c->etcd)
			return sl_cfg_fail(p, p->etcd_line, "etcd",
					   "set, but membership is static (add "
					   "membership = etcd)");
		return check_ring_weight(p);
	}
	if (!c->etcd)
		return sl_cfg_fail(p, p->membership_line, "membership",
				   "etcd needs etcd = http://HOST:2379[,...]");
	rc = sl_etcd_endpoints_check(c->etcd, why, sizeof(why));
	if (rc < 0)
		return sl_cfg_fail(p, p->etcd_line, "etcd", "%s", why);
	if (!c->etcd_prefix) {
		size_t len = strlen(c->cluster_name) + sizeof("/sluice//");

		c->etcd_prefix = sl_xmalloc(len);
		snprintf(c->etcd_prefix, len, "/sluice/%s/", c->cluster_name);
	}
	return 0;
}

int sl_config_add_node(sl_config_t *c, const char *name, const char *addr,
		       const char *metrics_addr, char *err, size_t errlen)
{
	parser_t p = {
		.file = c->path,
		.err = err,
		.errlen = errlen,
		.c = c,
		.line = 0,
	};
	sl_node_conf_t *n;

	if (c->membership != SL_MEMBERSHIP_ETCD) {
		sl_errf(err, errlen,
			"%s: --addr needs membership = etcd (a static node is "
			"a [node %s] section)",
			c->path, name);
		return -EINVAL;
	}
	if (!sl_name_valid(name)) {
		sl_errf(err, errlen, "invalid node name '%s'", name);
		return -EINVAL;
	}
	if (sl_config_node(c, name)) {
		sl_errf(err, errlen, "%s: [node %s] is in the file already",
			c->path, name);
		return -EINVAL;
	}
	snprintf(p.label, sizeof(p.label), "[node %s]", name);
	c->nodes = sl_xrealloc(c->nodes, (c->n_nodes + 1) * sizeof(*c->nodes));
	n = &c->nodes[c->n_nodes++];
	*n = c->node_defaults;
	sl_strlcpy(n->name, name, sizeof(n->name));
	if (!c->has_node_defaults)
		node_init(n, name, 0);
	n->disk_path = n->disk_path ? sl_xstrdup(n->disk_path) : NULL;
	n->secret_key = n->secret_key ? sl_xstrdup(n->secret_key) : NULL;
	n->public_key = n->public_key ? sl_xstrdup(n->public_key) : NULL;
	if (node_key(&p, NODE_ADDR, "--addr", addr) < 0 ||
	    (metrics_addr && *metrics_addr &&
	     node_key(&p, NODE_METRICS_ADDR, "--metrics-addr", metrics_addr) <
		     0)) {
		free(n->disk_path);
		free(n->secret_key);
		free(n->public_key);
		c->n_nodes--;
		return -EINVAL;
	}
	return 0;
}

int sl_cfg_section(parser_t *p, const char *inner, const char *name)
{
	int ret;

	if (strcmp(inner, "node") == 0 || strcmp(inner, "dataset") == 0) {
		if (!*name)
			return sl_cfg_fail(p, p->line, NULL,
					   "missing name (write [%s NAME])",
					   inner);
		if (!sl_name_valid(name))
			return sl_cfg_fail(
				p, p->line, NULL,
				"invalid %s name '%s' (use 1 to %d of "
				"A-Z a-z 0-9 . _ -)",
				inner, name, SL_NAME_MAX);
		if (strcmp(inner, "node") == 0)
			return node_section(p, name);
		return dataset_section(p, name);
	}
	if (strcmp(inner, "cluster") == 0)
		return single_section(p, SECT_CLUSTER, cluster_keys, name,
				      &p->cluster_line);
	if (strcmp(inner, "client") == 0)
		return single_section(p, SECT_CLIENT, client_keys, name,
				      &p->client_line);
	if (strcmp(inner, "node-defaults") == 0) {
		ret = single_section(p, SECT_NODE_DEFAULTS, node_defaults_keys,
				     name, &p->defaults_line);
		if (ret == 0) {
			node_init(&p->c->node_defaults, "", p->line);
			p->c->has_node_defaults = 1;
		}
		return ret;
	}
	return sl_cfg_fail(p, p->line, NULL,
			   "unknown section (expected [cluster], [node NAME], "
			   "[node-defaults], [dataset NAME] or [client])");
}

int sl_cfg_key(parser_t *p, const char *key, const char *val)
{
	int idx;

	idx = key_index(p->keys, key);
	if (idx < 0 && p->sect == SECT_DATASET)
		return dataset_param(p, key, val);
	if (idx < 0)
		return unknown_key(p, key);
	if (p->sect == SECT_NODE_DEFAULTS)
		idx = defaults_node[idx];
	if (p->seen_line[idx])
		return sl_cfg_fail(p, p->line, key,
				   "duplicate key (first set at line %d)",
				   p->seen_line[idx]);
	p->seen_line[idx] = p->line;
	/* Only "no metrics endpoint" has a meaning for an empty value. */
	if (!*val && !(p->sect == SECT_NODE && idx == NODE_METRICS_ADDR))
		return sl_cfg_fail(p, p->line, key, "missing value");

	switch (p->sect) {
	case SECT_CLUSTER:
		return cluster_key(p, idx, key, val);
	case SECT_NODE:
	case SECT_NODE_DEFAULTS:
		return node_key(p, idx, key, val);
	case SECT_DATASET:
		return dataset_key(p, idx, key, val);
	case SECT_CLIENT:
		return client_key(p, idx, key, val);
	default:
		SL_ASSERT(0);
	}
	return -EINVAL;
}

void sl_cfg_init(sl_config_t *c)
{
	c->cluster_name = sl_xstrdup("sluice");
	c->client.block_cache = 256ull << 20;
	c->client.prefetch_depth = 4;
	c->client.page_size = 64u << 10;
	c->client.request_timeout_ms = 2000;
	c->client.down_backoff_ms = 5000;
	c->lease_ttl_ms = 10000;
	c->client.max_inodes = SL_MAX_INODES_DEFAULT;
}
