/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Eviction policies of the RAM tier, behind one small ops table so that a
 * third policy is one more table.  A policy instance orders the tier's
 * entries that belong to it (the entries embed a cn_list_t link) and names
 * the next victim; the tier does the accounting and the freeing.
 *
 * The tier keeps one instance per policy kind, shared by every dataset that
 * chose it: all `lru` datasets compete in one LRU order.  A policy only
 * ever evicts its own entries, so a `pin` dataset's blocks are never pushed
 * out by an `lru` dataset's misses.
 *
 *   lru  every hit moves the entry to the front; the victim is the back.
 *   pin  no victims: once the tier is full, what is cached stays and new
 *        blocks are served without being admitted, until space frees.
 *
 * Not thread-safe: only the tier's owner (the event thread) calls these.
 */
#ifndef CN_POLICY_H
#define CN_POLICY_H

#include <stdint.h>

#include "cachenode/list.h"
#include "common/config.h"

#define CN_POLICY_OPS_VERSION 1

typedef struct cn_policy_ops {
	uint32_t version; /* CN_POLICY_OPS_VERSION */
	const char *name; /* as in the config: "lru" */
	/* New state for one instance; NULL is a valid state. */
	void *(*create)(void);
	void (*destroy)(void *st);
	/* A new entry was admitted; link is the entry's (borrowed while it
	 * is in the policy). */
	void (*insert)(void *st, cn_list_t *link);
	/* The entry was used (a cache hit). */
	void (*hit)(void *st, cn_list_t *link);
	/* The entry leaves the policy (evicted, purged); unlink it. */
	void (*remove)(void *st, cn_list_t *link);
	/* The entry to evict next (still linked), or NULL: nothing may go. */
	cn_list_t *(*victim)(void *st);
} cn_policy_ops_t;

typedef struct cn_policy {
	const cn_policy_ops_t *ops;
	void *st;
} cn_policy_t;

extern const cn_policy_ops_t cn_policy_lru;
extern const cn_policy_ops_t cn_policy_pin;

/* The ops of a configured policy; never NULL for a valid sl_policy_t. */
const cn_policy_ops_t *cn_policy_ops_for(sl_policy_t p);
/* By name ("lru", "pin"); NULL when unknown. */
const cn_policy_ops_t *cn_policy_ops_find(const char *name);

/* An instance; caller frees with cn_policy_destroy (entries unlinked). */
cn_policy_t *cn_policy_new(const cn_policy_ops_t *ops);
void cn_policy_destroy(cn_policy_t **pp);

#endif
