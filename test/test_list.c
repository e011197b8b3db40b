/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The intrusive lists of common/list.h: the doubly linked list keeps order
 * through adds, deletes and moves, a deleted element can be deleted again;
 * the FIFO pops in push order, counts what it holds, takes an element back
 * at the front and splices whole queues.
 */
#include <check.h>
#include <stdlib.h>

#include "common/list.h"
#include "test/helper_check.h"

typedef struct item {
	int v;
	sl_list_t link;
	sl_qlink_t q;
} item_t;

static int order(const sl_list_t *head, int *out, int max)
{
	int n = 0;

	for (const sl_list_t *l = sl_list_first(head); l && n < max;
	     l = sl_list_next(head, l))
		out[n++] = sl_container_of(l, item_t, link)->v;
	return n;
}

START_TEST(test_list_order)
{
	item_t it[5];
	sl_list_t head;
	int got[8], n;

	sl_list_init(&head);
	ck_assert(sl_list_empty(&head));
	ck_assert_ptr_null(sl_list_first(&head));
	ck_assert_ptr_null(sl_list_last(&head));
	for (int i = 0; i < 5; i++) {
		it[i].v = i;
		sl_list_init(&it[i].link);
		ck_assert(sl_list_unlinked(&it[i].link));
		sl_list_add_back(&head, &it[i].link);
	}
	n = order(&head, got, 8);
	ck_assert_int_eq(n, 5);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(got[i], i);
	/* Middle out, last to the front, first out twice. */
	sl_list_del(&it[2].link);
	ck_assert(sl_list_unlinked(&it[2].link));
	sl_list_move_front(&head, &it[4].link);
	sl_list_del(&it[0].link);
	sl_list_del(&it[0].link);
	n = order(&head, got, 8);
	ck_assert_int_eq(n, 3);
	ck_assert_int_eq(got[0], 4);
	ck_assert_int_eq(got[1], 1);
	ck_assert_int_eq(got[2], 3);
	ck_assert_ptr_eq(sl_list_last(&head), &it[3].link);
	sl_list_add_front(&head, &it[2].link);
	ck_assert_ptr_eq(sl_list_first(&head), &it[2].link);
	ck_assert_ptr_eq(sl_container_of(sl_list_first(&head), item_t, link),
			 &it[2]);
}
END_TEST

START_TEST(test_fifo)
{
	item_t it[6];
	sl_fifo_t q, r;

	sl_fifo_init(&q);
	sl_fifo_init(&r);
	ck_assert(sl_fifo_empty(&q));
	ck_assert_ptr_null(sl_fifo_pop(&q));
	for (int i = 0; i < 6; i++) {
		it[i].v = i;
		sl_fifo_push(i < 4 ? &q : &r, &it[i].q);
	}
	ck_assert_uint_eq(q.count, 4);
	ck_assert_ptr_eq(sl_fifo_peek(&q), &it[0].q);
	ck_assert_ptr_eq(sl_fifo_pop(&q), &it[0].q);
	sl_fifo_push_front(&q, &it[0].q);
	sl_fifo_splice(&q, &r);
	ck_assert(sl_fifo_empty(&r));
	ck_assert_uint_eq(r.count, 0);
	ck_assert_uint_eq(q.count, 6);
	for (int i = 0; i < 6; i++) {
		sl_qlink_t *l = sl_fifo_pop(&q);

		ck_assert_ptr_nonnull(l);
		ck_assert_int_eq(sl_container_of(l, item_t, q)->v, i);
		ck_assert_ptr_null(l->next);
	}
	ck_assert(sl_fifo_empty(&q));
	ck_assert_ptr_null(q.tail);
	ck_assert_uint_eq(q.count, 0);
	/* Splicing an empty queue, and into an empty one. */
	sl_fifo_splice(&q, &r);
	ck_assert(sl_fifo_empty(&q));
	sl_fifo_push(&r, &it[5].q);
	sl_fifo_splice(&q, &r);
	ck_assert_ptr_eq(sl_fifo_pop(&q), &it[5].q);
	/* push_front on an empty queue sets the tail. */
	sl_fifo_push_front(&q, &it[1].q);
	sl_fifo_push(&q, &it[2].q);
	ck_assert_ptr_eq(sl_fifo_pop(&q), &it[1].q);
	ck_assert_ptr_eq(sl_fifo_pop(&q), &it[2].q);
}
END_TEST

static Suite *list_suite(void)
{
	return TH_SUITE("list",
			{.name = "list",
			 .tests = TH_TESTS(test_list_order, test_fifo)});
}

int main(void)
{
	return th_check_run(list_suite(), NULL);
}
