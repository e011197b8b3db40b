/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An intrusive circular doubly-linked list, as in the kernel: a cn_list_t is
 * embedded in the element and the list head is a cn_list_t of its own, so
 * insertion, removal and move-to-front are O(1) and allocate nothing.  Used
 * by the eviction policies and the metadata cache.  Not thread-safe: the
 * owner of the list serialises access.
 */
#ifndef CN_LIST_H
#define CN_LIST_H

#include <stddef.h>

typedef struct cn_list {
	struct cn_list *prev;
	struct cn_list *next;
} cn_list_t;

#define cn_container_of(ptr, type, member)                                     \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static inline void cn_list_init(cn_list_t *head)
{
	head->prev = head;
	head->next = head;
}

static inline int cn_list_empty(const cn_list_t *head)
{
	return head->next == head;
}

/* True when n is not on any list (after cn_list_init or cn_list_del). */
static inline int cn_list_unlinked(const cn_list_t *n)
{
	return n->next == n;
}

static inline void cn_list_add_front(cn_list_t *head, cn_list_t *n)
{
	n->next = head->next;
	n->prev = head;
	head->next->prev = n;
	head->next = n;
}

static inline void cn_list_add_back(cn_list_t *head, cn_list_t *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

/* Unlink n and leave it self-linked, so a second del is harmless. */
static inline void cn_list_del(cn_list_t *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n;
	n->prev = n;
}

static inline cn_list_t *cn_list_first(const cn_list_t *head)
{
	return cn_list_empty(head) ? NULL : head->next;
}

static inline cn_list_t *cn_list_last(const cn_list_t *head)
{
	return cn_list_empty(head) ? NULL : head->prev;
}

#endif
