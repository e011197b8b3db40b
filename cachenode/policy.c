/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The built-in eviction policies and the registry (see policy.h).  Both
 * policies are O(1) per operation.
 *
 * Why `pin` exists: under a shuffled epoch over a dataset larger than the
 * cache, LRU evicts each block shortly before the next epoch asks for it
 * again, so its hit ratio falls well below the fraction of the dataset that
 * fits.  Keeping a fixed subset instead hits exactly that fraction, every
 * epoch.  `pin` keeps its entries in a list only so that the tier can
 * enumerate and account them; it never offers a victim.
 */
#include "cachenode/policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

typedef struct list_state {
	sl_list_t head; /* front = most recently used */
} list_state_t;

static void *list_create(void)
{
	list_state_t *s = sl_xmalloc(sizeof(*s));

	sl_list_init(&s->head);
	return s;
}

static void list_destroy(void *st)
{
	list_state_t *s = st;

	/* Entries belong to the tier; leave them self-linked. */
	while (!sl_list_empty(&s->head))
		sl_list_del(s->head.next);
	free(s);
}

static void list_insert(void *st, sl_list_t *link)
{
	list_state_t *s = st;

	sl_list_add_front(&s->head, link);
}

static void list_remove(void *st, sl_list_t *link)
{
	(void)st;
	sl_list_del(link);
}

static void lru_hit(void *st, sl_list_t *link)
{
	list_state_t *s = st;

	sl_list_move_front(&s->head, link);
}

/* lru's victim, and the oldest entry of either (the back). */
static sl_list_t *list_back(void *st)
{
	list_state_t *s = st;

	return sl_list_last(&s->head);
}

static void pin_hit(void *st, sl_list_t *link)
{
	(void)st;
	(void)link;
}

static sl_list_t *pin_victim(void *st)
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
	.victim = list_back,
	.oldest = list_back,
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
	.oldest = list_back,
};

#define CN_POLICY_ENTRY(n) &cn_policy_##n,
static const cn_policy_ops_t *const builtin[] = {CN_POLICIES(CN_POLICY_ENTRY)};
#undef CN_POLICY_ENTRY

static int ops_ok(const cn_policy_ops_t *ops)
{
	return ops->version == CN_POLICY_OPS_VERSION && ops->name &&
	       sl_policy_name_valid(ops->name) && ops->create && ops->destroy &&
	       ops->insert && ops->hit && ops->remove && ops->victim &&
	       ops->oldest;
}

int cn_policy_check_extra(const cn_policy_ops_t *const *extra, size_t n)
{
	if (n > CN_POLICY_MAX - SL_ARRAY_SIZE(builtin))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!ops_ok(extra[i]) ||
		    strcmp(extra[i]->name, SL_POLICY_AUTO) == 0 ||
		    cn_policy_find(extra[i]->name, extra, i))
			return -EINVAL;
	return 0;
}

const cn_policy_ops_t *cn_policy_find(const char *name,
				      const cn_policy_ops_t *const *extra,
				      size_t n_extra)
{
	for (size_t i = 0; i < SL_ARRAY_SIZE(builtin); i++)
		if (strcmp(builtin[i]->name, name) == 0)
			return builtin[i];
	for (size_t i = 0; i < n_extra; i++)
		if (strcmp(extra[i]->name, name) == 0)
			return extra[i];
	return NULL;
}

void cn_policy_names(char *out, size_t cap, const cn_policy_ops_t *const *extra,
		     size_t n_extra)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i < SL_ARRAY_SIZE(builtin) + n_extra; i++) {
		const char *name =
			i < SL_ARRAY_SIZE(builtin)
				? builtin[i]->name
				: extra[i - SL_ARRAY_SIZE(builtin)]->name;
		int n = snprintf(out + len, cap - len, "%s%s", i ? ", " : "",
				 name);

		if (n < 0 || (size_t)n >= cap - len)
			return;
		len += (size_t)n;
	}
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

unsigned cn_policy_slot(cn_policy_slots_t *s, const cn_policy_ops_t *ops)
{
	unsigned i;

	for (i = 0; i < s->n; i++)
		if (s->p[i]->ops == ops)
			return i;
	SL_ASSERT(s->n < CN_POLICY_MAX);
	s->p[s->n] = cn_policy_new(ops);
	return s->n++;
}

void cn_policy_slots_fini(cn_policy_slots_t *s)
{
	for (unsigned i = 0; i < s->n; i++)
		cn_policy_destroy(&s->p[i]);
	s->n = 0;
}
