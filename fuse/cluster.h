/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cluster map as the FUSE client sees it: the datasets (names, block
 * sizes, metadata TTLs), the cache nodes and the ring over them, as one node
 * described them in its HELLO reply.  The client asks all the nodes of
 * its config file at once and takes the first valid answer.
 *
 * A cluster map is immutable after fc_cluster_hello() returns: any thread
 * may read it without a lock.  (A later ring change builds a new one.)
 */
#ifndef FC_CLUSTER_H
#define FC_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/ring.h"

typedef struct fc_dataset {
	char name[SL_NAME_MAX + 1];
	uint32_t block_size;
	char policy[SL_POLICY_MAX + 1];
	uint64_t metadata_ttl_ms; /* 0 = immutable: cache forever */
} fc_dataset_t;

typedef struct fc_node {
	char name[SL_NAME_MAX + 1];
	char addr[SL_ADDR_MAX + 1]; /* a ZeroMQ endpoint */
	uint32_t weight;
} fc_node_t;

typedef struct fc_cluster {
	char name[SL_NAME_MAX + 1];   /* cluster name */
	char source[SL_NAME_MAX + 1]; /* the node that answered HELLO */
	uint32_t ring_version;
	size_t n_datasets;
	fc_dataset_t *datasets;
	size_t n_nodes;
	fc_node_t *nodes; /* the ring's member order */
	sl_ring_t *ring;
} fc_cluster_t;

/*
 * Ask every node of cfg (borrowed) for HELLO at once, waiting at most
 * timeout_ms in all, and build the map from the first valid answer.
 * Uses its own short-lived ZeroMQ context, so it is safe before fork().
 * Returns the map (caller frees with fc_cluster_destroy) or NULL with a
 * message in err naming every address tried and what went wrong.
 */
fc_cluster_t *fc_cluster_hello(const sl_config_t *cfg, uint64_t timeout_ms,
			       char *err, size_t errlen);

/* Build a map from a decoded HELLO reply (borrowed).  NULL with a message
 * in err when it is unusable (no nodes, a bad name, a bad block size). */
struct pr_hello;
fc_cluster_t *fc_cluster_from_hello(const struct pr_hello *h, char *err,
				    size_t errlen);

void fc_cluster_destroy(fc_cluster_t **clp);

/* The index of dataset name[0..len), or -1. */
int fc_cluster_dataset(const fc_cluster_t *cl, const char *name, size_t len);

#endif
