/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cluster configuration: one INI file shared by cache nodes, FUSE clients
 * and sluicectl, in libinih's INI dialect (read by config.c itself, so that
 * every message can name its line), validated strictly: the first problem
 * (unknown key, bad size, duplicate name, missing required key, bad name)
 * fails the load with one message "FILE:LINE: [section] key: what is wrong".
 *
 * The loaded configuration is a plain descriptor: its fields are public and
 * it is never modified after sl_config_load() returns, so any thread may read
 * it without a lock.  A reload (SIGHUP) builds a new one and swaps pointers.
 */
#ifndef SL_CONFIG_H
#define SL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/confval.h" /* sl_parse_size & co. */

#define SL_NAME_MAX	  64  /* node and dataset names: [A-Za-z0-9._-] */
#define SL_ADDR_MAX	  255 /* a ZeroMQ endpoint or host:port */
#define SL_BACKEND_MAX	  31  /* backend module name: [a-z0-9_] */
#define SL_BLOCK_SIZE_MIN (4u << 10)
#define SL_BLOCK_SIZE_MAX (64u << 20)

#define SL_POLICY_MAX SL_BACKEND_MAX /* policy name: [a-z0-9_], too */
/* auto: the node picks lru or pin per dataset (cachenode/autopolicy.h). */
#define SL_POLICY_AUTO	  "auto"
#define SL_POLICY_DEFAULT SL_POLICY_AUTO

/* A backend-specific key of a dataset section, passed to the module as is. */
typedef struct sl_kv {
	char *key;
	char *value;
	int line;
} sl_kv_t;

typedef struct sl_node_conf {
	char name[SL_NAME_MAX + 1];
	char addr[SL_ADDR_MAX + 1];	    /* required: tcp://HOST:PORT */
	uint32_t weight;		    /* default 1, 1..100 */
	char metrics_addr[SL_ADDR_MAX + 1]; /* HOST:PORT; "" = no metrics */
	uint64_t ram_capacity;		    /* bytes, default 1G */
	uint32_t workers;	/* backend worker threads, default 8 */
	char *disk_path;	/* NULL = no disk tier */
	uint64_t disk_capacity; /* bytes, 0 = none */
	/* free-space floor on disk_path's filesystem: a byte count, or a
	 * percentage of the filesystem when disk_min_free_pct > 0. */
	uint64_t disk_min_free;
	uint32_t disk_min_free_pct; /* default 10 */
	/* CURVE key files (common/keys.h): the secret one is read by the
	 * node itself only, the public one by whoever connects to it. */
	char *secret_key; /* NULL = none */
	char *public_key; /* NULL = none */
	int line;
} sl_node_conf_t;

typedef struct sl_dataset_conf {
	char name[SL_NAME_MAX + 1];
	char backend[SL_BACKEND_MAX + 1]; /* required: posix | s3 | webhdfs */
	char *uri;			  /* required */
	uint32_t block_size;		  /* default 4M, 4K..64M */
	char policy[SL_POLICY_MAX + 1];	  /* default auto; the node knows */
	int policy_line;		  /* where set (else the section) */
	uint64_t metadata_ttl_ms;	  /* default 0 = cache forever */
	uint32_t replicas;		  /* nodes keeping a block, 1..3 */
	/* allow: the client keys (names in allowed_clients) that may see
	 * it; has_allow 0 = every admitted client. */
	int has_allow;
	size_t n_allow;
	char **allow;
	size_t n_params; /* backend-specific keys */
	sl_kv_t *params;
	int line;
} sl_dataset_conf_t;

typedef struct sl_client_conf {
	uint64_t block_cache;	 /* bytes, default 256M */
	uint32_t prefetch_depth; /* blocks, default 4 */
	uint32_t page_size;	 /* random reads' unit, default 64K; 0 off */
	uint64_t request_timeout_ms; /* default 2000 */
	uint64_t down_backoff_ms;    /* default 5000 */
	uint32_t max_inodes;	     /* entries the kernel may hold at once */
	char *secret_key;	     /* CURVE key file; NULL = none */
	/* The client's Prometheus endpoint: HOST:PORT, :PORT for loopback;
	 * "" = none (the default). */
	char metrics_addr[SL_ADDR_MAX + 1];
} sl_client_conf_t;

/* [cluster] security: who may talk to a node, and over what. */
typedef enum sl_security {
	SL_SECURITY_LOOPBACK, /* the default: plain, on loopback only */
	SL_SECURITY_CURVE,    /* CurveZMQ, allow-listed keys */
	SL_SECURITY_NONE,     /* plain on any address: said explicitly */
} sl_security_t;

/* Where the ring's members come from. */
typedef enum sl_membership {
	SL_MEMBERSHIP_STATIC, /* the [node] sections, reloaded on SIGHUP */
	SL_MEMBERSHIP_ETCD,   /* registered in etcd, watched */
} sl_membership_t;

#define SL_REPLICAS_MAX 3

/* [client] max_inodes: its default and range. */
#define SL_MAX_INODES_DEFAULT 1048576u
#define SL_MAX_INODES_MIN     1000u
#define SL_MAX_INODES_MAX     100000000u

typedef struct sl_config {
	char *path;	    /* the file it was loaded from */
	char *cluster_name; /* default "sluice" */
	char *module_dir;   /* NULL = the binary's default */
	sl_membership_t membership;
	char *etcd;	       /* endpoints "http://H:P,..."; etcd only */
	char *etcd_prefix;     /* default "/sluice/<cluster name>/" */
	uint64_t lease_ttl_ms; /* default 10 s */
	uint64_t generation;   /* static: set, or 0 = the node's clock */
	sl_security_t security;
	char *allowed_clients; /* a directory of NAME.pub; NULL = none */
	/* [node-defaults]: the settings of a node given on the command line
	 * (etcd), every key of [node NAME] but addr; has_node_defaults says
	 * whether the section was there. */
	int has_node_defaults;
	sl_node_conf_t node_defaults;
	size_t n_nodes;
	sl_node_conf_t *nodes; /* in file order: the ring's member order */
	size_t n_datasets;
	sl_dataset_conf_t *datasets;
	sl_client_conf_t client;
} sl_config_t;

/*
 * Load and validate the file at path.  Returns a new configuration (caller
 * frees with sl_config_destroy) or NULL with a one-line message in err.
 */
sl_config_t *sl_config_load(const char *path, char *err, size_t errlen);

/* As sl_config_load, from a string; name stands for the file in messages. */
sl_config_t *sl_config_parse(const char *text, const char *name, char *err,
			     size_t errlen);

/* Accepts NULL; clears *cp. */
void sl_config_destroy(sl_config_t **cp);

/*
 * Append node name at addr (metrics_addr may be NULL or "") to c with the
 * settings of [node-defaults]: a node given on the command line.  0, or
 * -EINVAL with err (membership is not etcd, a bad or duplicate name or
 * address).  Call before any thread reads c.
 */
int sl_config_add_node(sl_config_t *c, const char *name, const char *addr,
		       const char *metrics_addr, char *err, size_t errlen);

/* Lookups by name; NULL when absent.  The result is borrowed from c. */
const sl_node_conf_t *sl_config_node(const sl_config_t *c, const char *name);
const sl_dataset_conf_t *sl_config_dataset(const sl_config_t *c,
					   const char *name);
/* A dataset's backend-specific key, or NULL. */
const char *sl_dataset_param(const sl_dataset_conf_t *d, const char *key);

/* True when name can be a policy's: [a-z0-9_]{1,SL_POLICY_MAX}.  Which
 * policies exist is the cache node's to say. */
int sl_policy_name_valid(const char *name);

#endif
