/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JSON stream framer of common/jsonframe.h: texts coalesced into one
 * chunk and texts cut into chunks of every size from 1 byte up come out
 * the same, whole and in order, however the cut falls (inside a string,
 * an escape, between texts); brackets and escaped quotes inside strings do
 * not end a text; a text over the bound fails with -EMSGSIZE whether it
 * came in one chunk or many, a stray byte with -EBADMSG, and both stay
 * failed; a callback's error stops the feed.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonframe.h"
#include "test/helper_check.h"

enum { MAXF = 16 };

typedef struct got {
	int n;
	char *text[MAXF];
	int fail_at; /* return -EPIPE on this frame (1-based), 0: never */
} got_t;

static int collect(const char *text, size_t len, void *ud)
{
	got_t *g = ud;

	ck_assert_int_lt(g->n, MAXF);
	g->text[g->n] = strndup(text, len);
	g->n++;
	return g->n == g->fail_at ? -EPIPE : 0;
}

static void got_free(got_t *g)
{
	for (int i = 0; i < g->n; i++)
		free(g->text[i]);
	memset(g, 0, sizeof(*g));
}

/* Four texts as etcd's gateway might send them, with the traps a naive
 * splitter falls into: braces and brackets in strings, escaped quotes and
 * backslashes, a top-level array, blanks and newlines between texts. */
static const char *const texts[] = {
	"{\"result\":{\"created\":true}}",
	"{\"a\":\"}{][\\\"\",\"b\":[1,{\"c\":\"\\\\\"}],\"d\":\"\\\\\\\"}\"}",
	"[{\"x\":1},[]]",
	"{\"result\":{\"events\":[{\"kv\":{\"key\":\"Zm9v\"}}]}}",
};
static const char *const seps[] = {"", "\n", "\r\n  ", "\t"};

static char *stream(void)
{
	size_t cap = 1024;
	char *s = calloc(1, cap);

	for (size_t i = 0; i < 4; i++) {
		strcat(s, texts[i]);
		strcat(s, seps[i]);
	}
	return s;
}

START_TEST(coalesced_and_split)
{
	char *s = stream();
	size_t len = strlen(s);

	/* chunk == 0 stands for the whole stream in one chunk. */
	for (size_t chunk = 0; chunk <= len; chunk++) {
		sl_jsonframe_t *f = sl_jsonframe_new(4096);
		size_t step = chunk ? chunk : len;
		got_t g = {0};

		for (size_t off = 0; off < len; off += step) {
			size_t n = len - off < step ? len - off : step;

			ck_assert_int_eq(
				sl_jsonframe_feed(f, s + off, n, collect, &g),
				0);
		}
		ck_assert_msg(g.n == 4, "chunk %zu: %d texts", chunk, g.n);
		for (int i = 0; i < 4; i++)
			ck_assert_str_eq(g.text[i], texts[i]);
		ck_assert(sl_jsonframe_idle(f));
		got_free(&g);
		sl_jsonframe_destroy(&f);
		ck_assert_ptr_null(f);
	}
	free(s);
}
END_TEST

START_TEST(idle_only_between_texts)
{
	sl_jsonframe_t *f = sl_jsonframe_new(4096);
	got_t g = {0};

	ck_assert(sl_jsonframe_idle(f));
	ck_assert_int_eq(sl_jsonframe_feed(f, "{\"a\":\"}", 7, collect, &g), 0);
	ck_assert_int_eq(g.n, 0);
	ck_assert(!sl_jsonframe_idle(f));
	ck_assert_int_eq(sl_jsonframe_feed(f, "\"}  ", 4, collect, &g), 0);
	ck_assert_int_eq(g.n, 1);
	ck_assert_str_eq(g.text[0], "{\"a\":\"}\"}");
	ck_assert(sl_jsonframe_idle(f));
	got_free(&g);
	sl_jsonframe_destroy(&f);
}
END_TEST

START_TEST(too_long_in_one_chunk)
{
	sl_jsonframe_t *f = sl_jsonframe_new(10);
	got_t g = {0};

	ck_assert_int_eq(sl_jsonframe_feed(f, "{\"a\":1}", 7, collect, &g), 0);
	ck_assert_int_eq(
		sl_jsonframe_feed(f, "{\"abcdefgh\":1}", 14, collect, &g),
		-EMSGSIZE);
	/* Sticky: even a good text is refused now. */
	ck_assert_int_eq(sl_jsonframe_feed(f, "{}", 2, collect, &g), -EMSGSIZE);
	ck_assert_int_eq(g.n, 1);
	got_free(&g);
	sl_jsonframe_destroy(&f);
}
END_TEST

START_TEST(too_long_across_chunks)
{
	sl_jsonframe_t *f = sl_jsonframe_new(64);
	got_t g = {0};
	int rc = 0, chunks = 0;

	ck_assert_int_eq(sl_jsonframe_feed(f, "{\"v\":\"", 6, collect, &g), 0);
	/* A string that never ends: refused once past the bound, not
	 * buffered for ever. */
	while (rc == 0 && chunks < 100) {
		rc = sl_jsonframe_feed(f, "xxxxxxxx", 8, collect, &g);
		chunks++;
	}
	ck_assert_int_eq(rc, -EMSGSIZE);
	ck_assert_int_le(chunks, 8);
	ck_assert_int_eq(g.n, 0);
	sl_jsonframe_destroy(&f);
}
END_TEST

START_TEST(stray_bytes)
{
	static const char *const bad[] = {"x{}", "{} 1", "\"s\"", "{}}"};

	for (size_t i = 0; i < 4; i++) {
		sl_jsonframe_t *f = sl_jsonframe_new(64);
		got_t g = {0};

		ck_assert_int_eq(sl_jsonframe_feed(f, bad[i], strlen(bad[i]),
						   collect, &g),
				 -EBADMSG);
		ck_assert_int_eq(sl_jsonframe_feed(f, "{}", 2, collect, &g),
				 -EBADMSG);
		ck_assert(!sl_jsonframe_idle(f));
		got_free(&g);
		sl_jsonframe_destroy(&f);
	}
}
END_TEST

START_TEST(callback_error_stops)
{
	sl_jsonframe_t *f = sl_jsonframe_new(64);
	got_t g = {.fail_at = 2};

	ck_assert_int_eq(sl_jsonframe_feed(f, "{\"a\":1}{\"b\":2}{\"c\":3}", 21,
					   collect, &g),
			 -EPIPE);
	ck_assert_int_eq(g.n, 2);
	ck_assert_str_eq(g.text[1], "{\"b\":2}");
	got_free(&g);
	sl_jsonframe_destroy(&f);
	sl_jsonframe_destroy(&f); /* NULL is fine */
}
END_TEST

static Suite *jsonframe_suite(void)
{
	return TH_SUITE("jsonframe",
			{.name = "frames",
			 .tests = TH_TESTS(
				 coalesced_and_split, idle_only_between_texts,
				 too_long_in_one_chunk, too_long_across_chunks,
				 stray_bytes, callback_error_stops)});
}

int main(void)
{
	return th_check_run(jsonframe_suite(), NULL);
}
