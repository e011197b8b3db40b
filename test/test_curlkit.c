/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shared libcurl pieces of common/curlkit.h: back-off waits stay in
 * [d/2, d] with d doubling up to 64 x base and differ between seeds; the
 * transient set is what a retry can cure; a pool hands back the handle it
 * was given (with the module's options applied once), keeps no more idle
 * handles than asked, and serves many threads at once.
 */
#include <check.h>
#include <pthread.h>

#include "common/curlkit.h"
#include "test/helper_check.h"

START_TEST(test_backoff_bounds)
{
	uint64_t seed = 1, other = 2;
	int differ = 0;

	for (unsigned n = 1; n <= 12; n++) {
		uint64_t d = 100ull << (n - 1 < 6 ? n - 1 : 6);

		for (int i = 0; i < 200; i++) {
			uint64_t w = sl_backoff_ms(100, n, &seed);

			ck_assert_uint_ge(w, d / 2);
			ck_assert_uint_le(w, d);
			differ |= w != sl_backoff_ms(100, n, &other);
		}
	}
	ck_assert(differ);
	ck_assert_uint_le(sl_backoff_ms(1, 1, &seed), 1);
	ck_assert_uint_eq(sl_backoff_ms(0, 3, &seed), 0);
}
END_TEST

START_TEST(test_transient)
{
	ck_assert(sl_curl_transient(CURLE_COULDNT_CONNECT));
	ck_assert(sl_curl_transient(CURLE_OPERATION_TIMEDOUT));
	ck_assert(sl_curl_transient(CURLE_RECV_ERROR));
	ck_assert(sl_curl_transient(CURLE_GOT_NOTHING));
	ck_assert(!sl_curl_transient(CURLE_OK));
	ck_assert(!sl_curl_transient(CURLE_URL_MALFORMAT));
	ck_assert(!sl_curl_transient(CURLE_WRITE_ERROR));
	ck_assert(!sl_curl_transient(CURLE_OUT_OF_MEMORY));
	ck_assert(!sl_curl_transient(CURLE_UNSUPPORTED_PROTOCOL));
}
END_TEST

static int setups;

static void count_setup(CURL *e, void *arg)
{
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_eq(arg, &setups);
	setups++;
}

START_TEST(test_pool_reuse_and_bound)
{
	char err[256];
	sl_curlpool_t *p = sl_curlpool_new(2, "test", count_setup, &setups, err,
					   sizeof(err));
	sl_curl_handle_t *h[4];

	ck_assert_ptr_nonnull(p);
	setups = 0;
	h[0] = sl_curlpool_get(p);
	ck_assert_ptr_nonnull(h[0]);
	ck_assert_int_eq(setups, 1);
	sl_curlpool_put(p, h[0]);
	ck_assert_ptr_eq(sl_curlpool_get(p), h[0]);
	ck_assert_int_eq(setups, 1);
	for (int i = 1; i < 4; i++)
		h[i] = sl_curlpool_get(p);
	ck_assert_int_eq(setups, 4);
	for (int i = 0; i < 4; i++)
		sl_curlpool_put(p, h[i]);
	/* Two kept (the last two put), the others closed. */
	h[0] = sl_curlpool_get(p);
	h[1] = sl_curlpool_get(p);
	h[2] = sl_curlpool_get(p);
	ck_assert_int_eq(setups, 5);
	for (int i = 0; i < 3; i++)
		sl_curlpool_put(p, h[i]);
	sl_curlpool_destroy(&p);
	ck_assert_ptr_null(p);
	sl_curlpool_destroy(&p);
}
END_TEST

static void *take_and_give(void *arg)
{
	sl_curlpool_t *p = arg;

	for (int i = 0; i < 2000; i++) {
		sl_curl_handle_t *h = sl_curlpool_get(p);

		ck_assert_ptr_nonnull(h);
		h->errbuf[0] = 'x';
		sl_curlpool_put(p, h);
	}
	return NULL;
}

START_TEST(test_pool_threads)
{
	char err[256];
	sl_curlpool_t *p =
		sl_curlpool_new(8, "test", NULL, NULL, err, sizeof(err));
	pthread_t th[4];

	ck_assert_ptr_nonnull(p);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, take_and_give, p),
				 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	/* A handle taken again has a clean error buffer. */
	{
		sl_curl_handle_t *h = sl_curlpool_get(p);

		ck_assert_int_eq(h->errbuf[0], '\0');
		sl_curlpool_put(p, h);
	}
	sl_curlpool_destroy(&p);
}
END_TEST

static Suite *curlkit_suite(void)
{
	return TH_SUITE("curlkit",
			{.name = "curlkit",
			 .tests = TH_TESTS(test_backoff_bounds, test_transient,
					   test_pool_reuse_and_bound,
					   test_pool_threads)});
}

int main(void)
{
	return th_check_run(curlkit_suite(), NULL);
}
