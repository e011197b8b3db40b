/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What sluicectl's commands share: the cluster as the command line found
 * it (config, nodes, ring, ZeroMQ context) and one request/reply call.
 * sluicectl.c holds the small commands and main; load.c the dataset
 * walks (load, evict, the counts); datasets.c what they show (datasets,
 * dataset, locate), autopolicy.c the policy each node has a dataset
 * under; plan.c the job order (plan).
 */
#ifndef CTL_CTL_H
#define CTL_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/keys.h"
#include "common/ring.h"
#include "proto/transport.h"

typedef struct ctl_node {
	char name[SL_NAME_MAX + 1];
	char addr[SL_ADDR_MAX + 1];
	uint32_t weight;
	uint64_t ram_capacity; /* 0: not known (etcd) */
} ctl_node_t;

typedef struct ctl {
	sl_config_t *conf;
	ctl_node_t *nodes; /* the config's, or etcd's */
	size_t n_nodes;
	sl_ring_t *ring;
	void *zctx;
	sl_keyring_t *keys; /* [client] secret_key under CURVE */
	int timeout_ms;
	uint64_t next_id;
} ctl_t;

/*
 * One request/reply exchange with node idx (body borrowed).  On success
 * *reply holds the reply (caller closes it with pr_msg_close) and the
 * reply's status is returned (0 or a negative errno from the node);
 * transport failures return -ETIMEDOUT or another negative errno.
 */
int ctl_call(ctl_t *c, size_t idx, uint8_t op, const void *body, size_t len,
	     pr_msg_t *reply);

/* load NAME [PATH...] and evict NAME [PATH...] (argv borrowed): the
 * process's exit status. */
int ctl_cmd_load(ctl_t *c, int argc, char **argv);
int ctl_cmd_evict(ctl_t *c, int argc, char **argv);

/* What one node owns and holds of a dataset (a count: LOAD with
 * parallel 0, PROTOCOL.md). */
typedef struct ctl_held {
	int rc; /* 0, or why the node did not answer (err) */
	char err[256];
	uint64_t files;	      /* files in the dataset */
	uint64_t bytes_total; /* bytes of the blocks the node owns */
	uint64_t bytes_held;  /* of those, cached on it */
} ctl_held_t;

/* Count dataset on every node at once into held[c->n_nodes] (caller's):
 * 0, or -EHOSTUNREACH when no node answered. */
int ctl_count(ctl_t *c, const char *dataset, ctl_held_t *held);

/* "12.3 MiB" into buf (cap >= 16); returns buf. */
const char *ctl_human(uint64_t v, char *buf, size_t cap);

/* datasets, dataset NAME, locate NAME (datasets.c). */
int ctl_cmd_datasets(ctl_t *c, int argc, char **argv);
int ctl_cmd_dataset(ctl_t *c, int argc, char **argv);
int ctl_cmd_locate(ctl_t *c, int argc, char **argv);
/* The policy node idx has a dataset under, from its STATS (autopolicy.c):
 * policy "" when the node did not say; is_auto for policy = auto, with
 * the node's reason and the figures it chose by. */
typedef struct ctl_policy {
	char policy[SL_POLICY_MAX + 1];
	int is_auto;
	char why[16];
	uint64_t owned, usable;
} ctl_policy_t;

void ctl_node_policy(ctl_t *c, size_t idx, const char *dataset,
		     ctl_policy_t *out);
/* "auto -> pin (larger: owns 16.0 MiB of 7.5 MiB usable)" into buf;
 * returns buf. */
const char *ctl_policy_text(const ctl_policy_t *p, char *buf, size_t cap);
/* ,"policy":"pin","auto":{...} (or null) for --json, to stdout. */
void ctl_policy_json(const ctl_policy_t *p);

/* plan JOBS.json (plan.c). */
int ctl_cmd_plan(ctl_t *c, int argc, char **argv);
/* Whether name is a dataset of the config (else a message): 1 or 0. */
int ctl_known_dataset(ctl_t *c, const char *name);

#endif
