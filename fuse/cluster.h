/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cluster map as the FUSE client sees it: the datasets (names, block
 * sizes, layouts, metadata TTLs), the cache nodes and the ring over them,
 * as one node described them in its HELLO reply.  The client asks all the
 * nodes of its config file at once and takes the first valid answer; later
 * maps (a node said its ring or a dataset's layout changed) come from one
 * node's HELLO.
 *
 * A map is immutable once built and reference-counted: any thread may
 * read one it holds a reference to without a lock, and a reader keeps the
 * map it started with while a newer one is swapped in (fc_io_map).
 *
 * Dataset indices are the mount's: a map built after an older one keeps
 * the older one's datasets at their indices, in its order (a dataset the
 * new HELLO lacks stays, marked gone, so that its files answer what its
 * nodes say: ENOENT), and appends datasets it did not know.
 */
#ifndef FC_CLUSTER_H
#define FC_CLUSTER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/ring.h"

typedef struct fc_dataset {
	char name[SL_NAME_MAX + 1];
	uint32_t block_size;
	uint32_t layout;	  /* what READs assume (PROTOCOL.md, HELLO) */
	uint64_t layout_since_ms; /* of two layouts, the later wins */
	int gone;		  /* not in the HELLO this map was built from */
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
	char source[SL_NAME_MAX + 1]; /* the node that answered HELLO, or
				       * "etcd" */
	uint32_t ring_version;
	uint64_t generation; /* of the ring: the greater is the newer */
	size_t n_datasets;
	fc_dataset_t *datasets;
	size_t n_nodes;
	fc_node_t *nodes; /* the ring's member order */
	sl_ring_t *ring;
	_Atomic int refs;
} fc_cluster_t;

/*
 * Ask every node of cfg (borrowed) for HELLO at once, waiting at most
 * timeout_ms in all, and build the map from the first valid answer.  The
 * nodes are the config's [node] sections, or with membership = etcd the
 * members etcd lists (the config's nodes when etcd does not answer).
 * Uses its own short-lived ZeroMQ context and starts no thread, so it is
 * safe before fork().  Returns the map (caller drops it with
 * fc_cluster_unref) or NULL with a message in err naming every address
 * tried and what went wrong.
 */
fc_cluster_t *fc_cluster_hello(const sl_config_t *cfg, uint64_t timeout_ms,
			       char *err, size_t errlen);

/* Build a map from a decoded HELLO reply (borrowed), its datasets in the
 * order of prev's (borrowed; NULL for the first map), with one reference.
 * NULL with a message in err when it is unusable (no nodes, a bad name, a
 * bad block size, two datasets of one name, nodes whose weights add up to
 * more than SL_RING_MAX_WEIGHT). */
struct pr_hello;
fc_cluster_t *fc_cluster_from_hello(const struct pr_hello *h,
				    const fc_cluster_t *prev, char *err,
				    size_t errlen);

/*
 * The map that follows cur (borrowed) once told what cand (borrowed, a
 * map of cur's datasets from some node's HELLO) says: cand's ring when it
 * is another ring of a greater generation, and each dataset's layout of
 * the two that is another and served since later.  NULL when that is cur
 * itself: nothing is newer.  One reference.
 */
fc_cluster_t *fc_cluster_merge(const fc_cluster_t *cur,
			       const fc_cluster_t *cand);

/* The map of cur (borrowed) with the members of set (borrowed) as its
 * ring, or NULL when set is not newer, is the same ring, or weighs more
 * than a ring may (SL_RING_MAX_WEIGHT; logged). */
struct sl_members_set;
fc_cluster_t *fc_cluster_with_members(const fc_cluster_t *cur,
				      const struct sl_members_set *set);

/* Another reference to cl; any thread. */
fc_cluster_t *fc_cluster_ref(fc_cluster_t *cl);
/* Drop a reference (the last frees the map).  Accepts NULL; clears *clp.
 * Any thread. */
void fc_cluster_unref(fc_cluster_t **clp);

/* The index of dataset name[0..len), or -1. */
int fc_cluster_dataset(const fc_cluster_t *cl, const char *name, size_t len);

#endif
