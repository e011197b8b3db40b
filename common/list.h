/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Intrusive lists, as in the kernel: the link is embedded in the element,
 * so insertion and removal are O(1) and allocate nothing, and an element
 * can sit on a list and in a table (keymap.h) at once.
 *
 *   sl_list_t   circular doubly linked: removal from the middle, move to
 *               front (LRU orders, "every live fetch" lists).
 *   sl_fifo_t   singly linked with a tail pointer and a count: a queue
 *               with push at the back and pop at the front (job queues,
 *               hand-offs between threads, see inbox.h).
 *
 * Not thread-safe: the owner of a list serialises access.  Nothing here
 * frees an element; its owner does, after unlinking it.
 */
#ifndef SL_LIST_H
#define SL_LIST_H

#include <stddef.h>

/* The element that embeds member `member` at ptr. */
#define sl_container_of(ptr, type, member)                                     \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* ---- doubly linked ---------------------------------------------------- */

typedef struct sl_list {
	struct sl_list *prev;
	struct sl_list *next;
} sl_list_t;

/* An empty head, or an element that is on no list. */
static inline void sl_list_init(sl_list_t *head)
{
	head->prev = head;
	head->next = head;
}

static inline int sl_list_empty(const sl_list_t *head)
{
	return head->next == head;
}

/* True when n is on no list (after sl_list_init or sl_list_del). */
static inline int sl_list_unlinked(const sl_list_t *n)
{
	return n->next == n;
}

static inline void sl_list_add_front(sl_list_t *head, sl_list_t *n)
{
	n->next = head->next;
	n->prev = head;
	head->next->prev = n;
	head->next = n;
}

static inline void sl_list_add_back(sl_list_t *head, sl_list_t *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

/* Unlink n and leave it self-linked, so a second del is harmless. */
static inline void sl_list_del(sl_list_t *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = n;
	n->prev = n;
}

/* Move n (on some list) to the front of head. */
static inline void sl_list_move_front(sl_list_t *head, sl_list_t *n)
{
	sl_list_del(n);
	sl_list_add_front(head, n);
}

static inline sl_list_t *sl_list_first(const sl_list_t *head)
{
	return sl_list_empty(head) ? NULL : head->next;
}

static inline sl_list_t *sl_list_last(const sl_list_t *head)
{
	return sl_list_empty(head) ? NULL : head->prev;
}

/* The element after n on head's list, or NULL at the end. */
static inline sl_list_t *sl_list_next(const sl_list_t *head, const sl_list_t *n)
{
	return n->next == head ? NULL : n->next;
}

/* ---- FIFO ------------------------------------------------------------- */

typedef struct sl_qlink {
	struct sl_qlink *next; /* owned by the queue while queued */
} sl_qlink_t;

typedef struct sl_fifo {
	sl_qlink_t *head;
	sl_qlink_t *tail;
	size_t count;
} sl_fifo_t;

static inline void sl_fifo_init(sl_fifo_t *q)
{
	q->head = NULL;
	q->tail = NULL;
	q->count = 0;
}

static inline int sl_fifo_empty(const sl_fifo_t *q)
{
	return q->head == NULL;
}

static inline void sl_fifo_push(sl_fifo_t *q, sl_qlink_t *l)
{
	l->next = NULL;
	if (q->tail)
		q->tail->next = l;
	else
		q->head = l;
	q->tail = l;
	q->count++;
}

/* Put l back at the front (it was popped and could not be started). */
static inline void sl_fifo_push_front(sl_fifo_t *q, sl_qlink_t *l)
{
	l->next = q->head;
	q->head = l;
	if (!q->tail)
		q->tail = l;
	q->count++;
}

/* The oldest element, still queued, or NULL. */
static inline sl_qlink_t *sl_fifo_peek(const sl_fifo_t *q)
{
	return q->head;
}

/* Take the oldest element, or NULL when empty. */
static inline sl_qlink_t *sl_fifo_pop(sl_fifo_t *q)
{
	sl_qlink_t *l = q->head;

	if (l) {
		q->head = l->next;
		if (!q->head)
			q->tail = NULL;
		l->next = NULL;
		q->count--;
	}
	return l;
}

/* Append every element of from to q, in order; from is left empty. */
static inline void sl_fifo_splice(sl_fifo_t *q, sl_fifo_t *from)
{
	if (!from->head)
		return;
	if (q->tail)
		q->tail->next = from->head;
	else
		q->head = from->head;
	q->tail = from->tail;
	q->count += from->count;
	sl_fifo_init(from);
}

#endif
