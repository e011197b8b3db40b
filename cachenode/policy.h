/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Eviction policies, behind one small ops table that both tiers use.  A
 * policy instance orders the tier's entries that belong to it (the entries
 * embed a sl_list_t link) and names the next victim; the tier does the
 * accounting, the freeing and the I/O.
 *
 * Each tier keeps one instance per policy in use, shared by every dataset
 * that chose it: all `lru` datasets compete in one LRU order.  A policy
 * only ever evicts its own entries, so a `pin` dataset's blocks are never
 * pushed out by an `lru` dataset's misses.
 *
 *   lru  every hit moves the entry to the front; the victim is the back.
 *   pin  no victims: once the tier is full, what is cached stays and new
 *        blocks are served without being admitted, until space frees.
 *
 * Adding a policy: write cachenode/policy_NAME.c defining
 * `const cn_policy_ops_t cn_policy_NAME` and add X(NAME) to CN_POLICIES
 * below.  Names are what `policy =` says in the config, and what HELLO
 * tells clients; the node refuses a dataset whose policy it does not know.
 *
 * Not thread-safe: only the tier's owner (the event thread) calls these.
 */
#ifndef CN_POLICY_H
#define CN_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/list.h"

#define CN_POLICY_OPS_VERSION 2
#define CN_POLICY_MAX	      16 /* policies one node knows, at most */

typedef struct cn_policy_ops {
	uint32_t version; /* CN_POLICY_OPS_VERSION */
	const char *name; /* as in the config: [a-z0-9_]{1,SL_POLICY_MAX} */
	/* New state for one instance; NULL is a valid state. */
	void *(*create)(void);
	void (*destroy)(void *st);
	/* A new entry was admitted; link is the entry's (borrowed while it
	 * is in the policy). */
	void (*insert)(void *st, sl_list_t *link);
	/* The entry was used (a cache hit). */
	void (*hit)(void *st, sl_list_t *link);
	/* The entry leaves the policy (evicted, purged); unlink it. */
	void (*remove)(void *st, sl_list_t *link);
	/* The entry to evict next (still linked), or NULL: nothing may go. */
	sl_list_t *(*victim)(void *st);
	/* The entry to give up first when the tier itself shrinks below
	 * what victim offers (a smaller disk_capacity on reload), or NULL
	 * when the policy holds none.  pin: its oldest. */
	sl_list_t *(*oldest)(void *st);
} cn_policy_ops_t;

typedef struct cn_policy {
	const cn_policy_ops_t *ops;
	void *st;
} cn_policy_t;

/* The built-in policies: X(NAME) for each cn_policy_NAME. */
#define CN_POLICIES(X) X(lru) X(pin)

#define CN_POLICY_DECLARE(n) extern const cn_policy_ops_t cn_policy_##n;
CN_POLICIES(CN_POLICY_DECLARE)
#undef CN_POLICY_DECLARE

/* 0 when extra[0..n) (borrowed) are tables a node can use beside the
 * built-in ones: a version, a name no other policy has, every op, and
 * CN_POLICY_MAX policies in all at most; else -EINVAL. */
int cn_policy_check_extra(const cn_policy_ops_t *const *extra, size_t n);

/* The policy called name: a built-in one, else one of extra[0..n_extra)
 * (borrowed; tables a node was given, NULL for none); NULL when unknown. */
const cn_policy_ops_t *cn_policy_find(const char *name,
				      const cn_policy_ops_t *const *extra,
				      size_t n_extra);

/* The known names, "lru, pin[, EXTRA...]", into out (cap bytes, cut if
 * need be), for messages. */
void cn_policy_names(char *out, size_t cap, const cn_policy_ops_t *const *extra,
		     size_t n_extra);

/* An instance; caller frees with cn_policy_destroy (entries unlinked). */
cn_policy_t *cn_policy_new(const cn_policy_ops_t *ops);
void cn_policy_destroy(cn_policy_t **pp);

/*
 * A tier's instances, one per policy it has seen, created on first use
 * and found again by ops; an entry remembers its instance by slot number.
 * Zero-initialised; freed with cn_policy_slots_fini.
 */
typedef struct cn_policy_slots {
	cn_policy_t *p[CN_POLICY_MAX];
	unsigned n;
} cn_policy_slots_t;

/* The slot of ops's instance (asserts fewer than CN_POLICY_MAX). */
unsigned cn_policy_slot(cn_policy_slots_t *s, const cn_policy_ops_t *ops);
void cn_policy_slots_fini(cn_policy_slots_t *s);

#endif
