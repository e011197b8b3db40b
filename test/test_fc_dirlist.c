/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for fuse/dirlist, over a fake LIST that serves a listing of
 * numbered names in pages: a walk from the start sees every entry once,
 * in order, fetching each page once; the end is 0; moving back starts
 * again from the first page; empty pages that are not the last are
 * walked over; a failed fetch is reported and the next try fetches
 * again; every page of one walk carries the generation its first page
 * began; and while one reader waits on a slow fetch, another reads the
 * page already fetched -- no lock is held across the round trip -- and
 * two readers walking one handle at once both see the whole listing.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "fuse/dirlist.h"
#include "test/helper_check.h"

/* The fake directory: n entries "e00000"..., pages of per entries; the
 * cursor of a page is the decimal index of its first entry. */
typedef struct fake {
	uint32_t n, per;
	uint32_t empty_at; /* a page of 0 entries starts here, or ~0u */
	atomic_int fail;   /* fail this many fetches with -EIO */
	atomic_int delay_first_ms;
	atomic_int inside, max_inside;
	atomic_int first_fetches; /* fetches from "" */
	uint64_t gens;		  /* generations handed out */
	atomic_int gen_errors;	  /* later pages with no gen */
	uint64_t last_gen;	  /* the gen of the last later page */
} fake_t;

static int fake_fetch(void *arg, const char *cursor, uint64_t *gen,
		      pr_list_reply_t *page, zmq_msg_t *msg)
{
	fake_t *f = arg;
	uint32_t from = cursor[0] ? (uint32_t)strtoul(cursor, NULL, 10) : 0;
	uint32_t cnt = SL_MIN(f->per, f->n - from), n_in;
	pr_dirent_t ents[64];
	char names[64][8], next[16] = "";
	pr_list_reply_t rep = {.entries = ents};
	pr_buf_t b;
	int rc = 0;

	n_in = (uint32_t)atomic_fetch_add(&f->inside, 1) + 1;
	if ((int)n_in > atomic_load(&f->max_inside))
		atomic_store(&f->max_inside, (int)n_in);
	if (!cursor[0]) {
		atomic_fetch_add(&f->first_fetches, 1);
		usleep((useconds_t)atomic_load(&f->delay_first_ms) * 1000);
		*gen = __atomic_add_fetch(&f->gens, 1, __ATOMIC_SEQ_CST);
	} else {
		if (*gen == 0)
			atomic_fetch_add(&f->gen_errors, 1);
		__atomic_store_n(&f->last_gen, *gen, __ATOMIC_SEQ_CST);
	}
	if (atomic_load(&f->fail) > 0) {
		atomic_fetch_sub(&f->fail, 1);
		rc = -EIO;
		goto out;
	}
	if (from == f->empty_at)
		cnt = 0;
	for (uint32_t i = 0; i < cnt; i++) {
		snprintf(names[i], sizeof(names[i]), "e%05u", from + i);
		ents[i].name = pr_str(names[i]);
		ents[i].st = (pr_stat_t){.type = PR_TYPE_FILE, .mode = 0444};
	}
	if (from + cnt < f->n || from == f->empty_at)
		snprintf(next, sizeof(next), "%u",
			 from == f->empty_at ? from : from + cnt);
	if (from == f->empty_at)
		f->empty_at = ~0u; /* empty once */
	rep.n_entries = cnt;
	rep.next_cursor = pr_str(next);
	pr_buf_init(&b);
	ck_assert_int_eq(pr_list_reply_encode(&b, &rep), 0);
	ck_assert_int_eq(zmq_msg_init_size(msg, b.len), 0);
	memcpy(zmq_msg_data(msg), b.data, b.len);
	pr_buf_fini(&b);
	ck_assert_int_eq(pr_list_reply_decode(page, zmq_msg_data(msg),
					      zmq_msg_size(msg)),
			 0);
out:
	atomic_fetch_sub(&f->inside, 1);
	return rc;
}

/* A fake listing of n entries in pages of per, and a dirlist over it
 * (caller frees with fc_dirlist_destroy); it fetches nothing yet, so a
 * test may still arm the fake. */
static fc_dirlist_t *fake_list(fake_t *f, uint32_t n, uint32_t per)
{
	memset(f, 0, sizeof(*f));
	f->n = n;
	f->per = per;
	f->empty_at = ~0u;
	return fc_dirlist_new(fake_fetch, f);
}

/* Entry k says "e%05u" of k. */
static void assert_entry(fc_dirlist_t *dl, uint64_t k, fc_dirpage_t **pg)
{
	const pr_dirent_t *de;
	char want[16];

	snprintf(want, sizeof(want), "e%05u", (unsigned)k);
	ck_assert_int_eq(fc_dirlist_entry(dl, k, pg, &de), 1);
	ck_assert_msg(pr_str_eq(de->name, want), "entry %llu: %.*s",
		      (unsigned long long)k, (int)de->name.len, de->name.ptr);
}

/* Entries 0 .. n - 1 in order, and none at n: the end. */
static void assert_walk(fc_dirlist_t *dl, uint64_t n, fc_dirpage_t **pg)
{
	const pr_dirent_t *de;

	for (uint64_t k = 0; k < n; k++)
		assert_entry(dl, k, pg);
	ck_assert_int_eq(fc_dirlist_entry(dl, n, pg, &de), 0);
}

START_TEST(test_walk)
{
	fake_t f;
	fc_dirlist_t *dl;
	fc_dirpage_t *pg = NULL;
	const pr_dirent_t *de;

	dl = fake_list(&f, 1000, 64);
	assert_walk(dl, 1000, &pg);
	ck_assert_int_eq(fc_dirlist_entry(dl, 5000, &pg, &de), 0);
	ck_assert_uint_eq(fc_dirlist_fetches(dl), 16);
	ck_assert_int_eq(atomic_load(&f.gen_errors), 0);
	ck_assert_uint_eq(f.last_gen, 1);
	/* Back to the start: the first page again, then forward. */
	assert_entry(dl, 3, &pg);
	ck_assert_uint_eq(fc_dirlist_fetches(dl), 17);
	ck_assert_int_eq(atomic_load(&f.first_fetches), 2);
	assert_entry(dl, 999, &pg);
	ck_assert_uint_eq(fc_dirlist_fetches(dl), 32);
	ck_assert_uint_eq(f.last_gen, 2); /* the second walk's */
	fc_dirlist_put(&pg);
	ck_assert_ptr_null(pg);
	/* A new reader starts from the handle's page when it can. */
	assert_entry(dl, 990, &pg);
	ck_assert_uint_eq(fc_dirlist_fetches(dl), 32);
	fc_dirlist_put(&pg);
	fc_dirlist_destroy(&dl);
	ck_assert_ptr_null(dl);
}
END_TEST

START_TEST(test_empty_listing_and_pages)
{
	fake_t f;
	fc_dirlist_t *dl;
	fc_dirpage_t *pg = NULL;
	const pr_dirent_t *de;

	dl = fake_list(&f, 0, 64);
	ck_assert_int_eq(fc_dirlist_entry(dl, 0, &pg, &de), 0);
	fc_dirlist_put(&pg);
	fc_dirlist_destroy(&dl);

	/* An empty page in the middle is not the end. */
	dl = fake_list(&f, 100, 10);
	f.empty_at = 30;
	assert_walk(dl, 100, &pg);
	ck_assert_uint_eq(fc_dirlist_fetches(dl), 11);
	fc_dirlist_put(&pg);
	fc_dirlist_destroy(&dl);
}
END_TEST

START_TEST(test_fetch_error)
{
	fake_t f;
	fc_dirlist_t *dl;
	fc_dirpage_t *pg = NULL;
	const pr_dirent_t *de;

	dl = fake_list(&f, 50, 10);
	assert_entry(dl, 5, &pg);
	atomic_store(&f.fail, 1);
	ck_assert_int_eq(fc_dirlist_entry(dl, 15, &pg, &de), -EIO);
	/* The held page is still good, and the next try fetches again. */
	assert_entry(dl, 9, &pg);
	assert_entry(dl, 15, &pg);
	fc_dirlist_put(&pg);
	atomic_store(&f.fail, 1);
	ck_assert_int_eq(fc_dirlist_entry(dl, 0, &pg, &de), -EIO);
	ck_assert_ptr_null(pg);
	assert_entry(dl, 0, &pg);
	fc_dirlist_put(&pg);
	fc_dirlist_destroy(&dl);
}
END_TEST

struct walker {
	fc_dirlist_t *dl;
	uint64_t from, to;
	uint64_t ms; /* how long the walk took */
};

static void *walk(void *arg)
{
	struct walker *w = arg;
	fc_dirpage_t *pg = NULL;
	uint64_t t0 = sl_now_ms();

	for (uint64_t k = w->from; k < w->to; k++)
		assert_entry(w->dl, k, &pg);
	fc_dirlist_put(&pg);
	w->ms = sl_now_ms() - t0;
	return NULL;
}

START_TEST(test_no_lock_across_fetch)
{
	fake_t f;
	fc_dirlist_t *dl;
	fc_dirpage_t *pg = NULL;
	struct walker slow, quick;
	pthread_t t;

	dl = fake_list(&f, 200, 50);
	assert_entry(dl, 60, &pg); /* the handle now keeps page 50..99 */
	fc_dirlist_put(&pg);
	/* One reader goes back to the start, where a fetch takes 500 ms;
	 * meanwhile another reads what the handle holds. */
	atomic_store(&f.delay_first_ms, 500);
	slow = (struct walker){dl, 0, 10, 0};
	ck_assert_int_eq(pthread_create(&t, NULL, walk, &slow), 0);
	while (atomic_load(&f.inside) == 0)
		usleep(1000);
	quick = (struct walker){dl, 50, 100, 0};
	walk(&quick);
	ck_assert_msg(quick.ms < 250,
		      "a reader of a fetched page waited %llu"
		      " ms behind another's fetch",
		      (unsigned long long)quick.ms);
	ck_assert_int_eq(atomic_load(&f.inside), 1); /* still fetching */
	pthread_join(t, NULL);
	ck_assert_uint_ge(slow.ms, 450);
	fc_dirlist_destroy(&dl);
}
END_TEST

START_TEST(test_two_readers_one_handle)
{
	fake_t f;
	fc_dirlist_t *dl;
	struct walker w[2];
	pthread_t t[2];

	dl = fake_list(&f, 5000, 64);
	atomic_store(&f.delay_first_ms, 20);
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 2; i++) {
			w[i] = (struct walker){dl, (uint64_t)i * 7, 5000, 0};
			ck_assert_int_eq(
				pthread_create(&t[i], NULL, walk, &w[i]), 0);
		}
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
	}
	/* Both fetched their first pages at once at least once. */
	ck_assert_int_ge(atomic_load(&f.max_inside), 2);
	ck_assert_int_eq(atomic_load(&f.gen_errors), 0);
	fc_dirlist_destroy(&dl);
}
END_TEST

static Suite *dirlist_suite(void)
{
	return TH_SUITE(
		"fc_dirlist",
		{.name = "dirlist",
		 .tests = TH_TESTS(test_walk, test_empty_listing_and_pages,
				   test_fetch_error, test_no_lock_across_fetch,
				   test_two_readers_one_handle),
		 .timeout = 60});
}

int main(void)
{
	return th_check_run(dirlist_suite(), NULL);
}
