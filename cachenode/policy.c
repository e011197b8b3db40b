/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The eviction policies (see policy.h).  Both are O(1) per operation.
 *
 * Why `pin` exists: under a shuffled epoch over a dataset larger than the
 * cache, LRU evicts each block shortly before the next epoch asks for it
 * again, so its hit ratio falls well below the fraction of the dataset that
 * fits.  Keeping a fixed subset instead hits exactly that fraction, every
 * epoch.  `pin` keeps its entries in a list only so that the tier can
 * enumerate and account them; it never offers a victim.
 */
#include "cachenode/policy.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

typedef struct list_state {
	cn_list_t head; /* front = most recently used */
} list_state_t;

static void *list_create(void)
{
	list_state_t *s = sl_xmalloc(sizeof(*s));

	cn_list_init(&s->head);
	return s;
}

static void list_destroy(void *st)
{
	list_state_t *s = st;

	/* Entries belong to the tier; leave them self-linked. */
	while (!cn_list_empty(&s->head))
		cn_list_del(s->head.next);
	free(s);
}

static void list_insert(void *st, cn_list_t *link)
{
	list_state_t *s = st;

	cn_list_add_front(&s->head, link);
}

static void list_remove(void *st, cn_list_t *link)
{
	(void)st;
	cn_list_del(link);
}

static void lru_hit(void *st, cn_list_t *link)
{
	list_state_t *s = st;

	cn_list_del(link);
	cn_list_add_front(&s->head, link);
}

static cn_list_t *lru_victim(void *st)
{
	list_state_t *s = st;

	return cn_list_last(&s->head);
}

static void pin_hit(void *st, cn_list_t *link)
{
	(void)st;
	(void)link;
}

static cn_list_t *pin_victim(void *st)
{
	(void)st;
	return NULL;
}

const cn_policy_ops_t cn_policy_lru = {
	.version = CN_POLICY_OPS_VERSION,
	.name = "lru",
	.create = list_create,
	.destroy = list_destroy,
	.insert = list_insert,
	.hit = lru_hit,
	.remove = list_remove,
	.victim = lru_victim,
};

const cn_policy_ops_t cn_policy_pin = {
	.version = CN_POLICY_OPS_VERSION,
	.name = "pin",
	.create = list_create,
	.destroy = list_destroy,
	.insert = list_insert,
	.hit = pin_hit,
	.remove = list_remove,
	.victim = pin_victim,
};

static const cn_policy_ops_t *const all_policies[] = {
	[SL_POLICY_LRU] = &cn_policy_lru,
	[SL_POLICY_PIN] = &cn_policy_pin,
};

const cn_policy_ops_t *cn_policy_ops_for(sl_policy_t p)
{
	SL_ASSERT((size_t)p < SL_ARRAY_SIZE(all_policies));
	return all_policies[p];
}

const cn_policy_ops_t *cn_policy_ops_find(const char *name)
{
	for (size_t i = 0; i < SL_ARRAY_SIZE(all_policies); i++)
		if (strcmp(all_policies[i]->name, name) == 0)
			return all_policies[i];
	return NULL;
}

cn_policy_t *cn_policy_new(const cn_policy_ops_t *ops)
{
	cn_policy_t *p = sl_xmalloc(sizeof(*p));

	SL_ASSERT(ops->version == CN_POLICY_OPS_VERSION);
	p->ops = ops;
	p->st = ops->create();
	return p;
}

void cn_policy_destroy(cn_policy_t **pp)
{
	cn_policy_t *p = pp ? *pp : NULL;

	if (!p)
		return;
	p->ops->destroy(p->st);
	free(p);
	*pp = NULL;
}
