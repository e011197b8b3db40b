/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What sluicectl's commands share: the cluster as the command line found
 * it (config, nodes, ring, ZeroMQ context) and one request/reply call.
 * sluicectl.c holds the small commands and main; load.c the dataset
 * walks (load, evict).
 */
#ifndef CTL_CTL_H
#define CTL_CTL_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
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

#endif
