/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the s3 backend's URI encoding (cachenode/backends/s3/
 * url.c, compiled into this test: its functions are hidden in the module):
 * SigV4's encoding of every byte, '/' bare in paths and %2F in queries,
 * canonical query strings sorted by encoded name then value, decoding of
 * listed names ('+' as a space only when asked, malformed escapes
 * refused), and the path component check.  That S3 accepts what these
 * produce is tested end to end by it_s3 through a verifying proxy.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachenode/backends/s3/url.c"
#include "test/helper_check.h"

static char *enc(const char *s, int keep_slash)
{
	s3_buf_t b;

	s3_buf_init(&b);
	s3_uri_encode(&b, s, strlen(s), keep_slash);
	return s3_buf_release(&b);
}

START_TEST(test_encode_examples)
{
	static const struct {
		const char *in, *path, *query;
	} t[] = {
		{"abcXYZ019-._~", "abcXYZ019-._~", "abcXYZ019-._~"},
		{"a b", "a%20b", "a%20b"},
		{"a+b", "a%2Bb", "a%2Bb"},
		{"50%", "50%25", "50%25"},
		{"dir/file", "dir/file", "dir%2Ffile"},
		{"q?h#a&b=c;d,e", "q%3Fh%23a%26b%3Dc%3Bd%2Ce",
		 "q%3Fh%23a%26b%3Dc%3Bd%2Ce"},
		{"(a)'b'!*$@:", "%28a%29%27b%27%21%2A%24%40%3A",
		 "%28a%29%27b%27%21%2A%24%40%3A"},
		{"\xc3\xbc\xe5\x90\x8d", "%C3%BC%E5%90%8D", "%C3%BC%E5%90%8D"},
		{"", "", ""},
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(t); i++) {
		char *p = enc(t[i].in, 1), *q = enc(t[i].in, 0);

		ck_assert_str_eq(p, t[i].path);
		ck_assert_str_eq(q, t[i].query);
		free(p);
		free(q);
	}
}
END_TEST

START_TEST(test_encode_every_byte)
{
	for (int c = 1; c < 256; c++) {
		char in[2] = {(char)c, 0}, want[4];
		char *got = enc(in, 0);
		int bare = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			   (c >= '0' && c <= '9') || strchr("-._~", c);

		if (bare)
			snprintf(want, sizeof(want), "%c", c);
		else
			snprintf(want, sizeof(want), "%%%02X", c);
		ck_assert_msg(strcmp(got, want) == 0, "byte %d: %s, not %s", c,
			      got, want);
		free(got);
	}
}
END_TEST

static char *query(const s3_qparam_t *p, size_t n)
{
	s3_buf_t b;

	s3_buf_init(&b);
	s3_uri_add_query(&b, p, n);
	return s3_buf_release(&b);
}

START_TEST(test_query_sorted)
{
	/* As a ListObjectsV2 call builds it, in no particular order. */
	const s3_qparam_t list[] = {
		{"prefix", "a/b c+d"}, {"list-type", "2"},
		{"max-keys", "1000"},  {"encoding-type", "url"},
		{"delimiter", "/"},    {"continuation-token", "x+y/z=="},
	};
	/* Sorted by the encoded name, then the value. */
	const s3_qparam_t odd[] = {
		{"a_b", "1"}, {"a b", "2"}, {"a+b", "3"}, {"A", "4"},
		{"a", "z"},   {"a", "a"},   {"flag", ""},
	};
	char *q = query(list, SL_ARRAY_SIZE(list));

	ck_assert_str_eq(q, "?continuation-token=x%2By%2Fz%3D%3D"
			    "&delimiter=%2F&encoding-type=url&list-type=2"
			    "&max-keys=1000&prefix=a%2Fb%20c%2Bd");
	free(q);
	q = query(odd, SL_ARRAY_SIZE(odd));
	ck_assert_str_eq(q, "?A=4&a=a&a=z&a%20b=2&a%2Bb=3&a_b=1&flag=");
	free(q);
}
END_TEST

START_TEST(test_decode)
{
	static const struct {
		const char *in;
		int plus;
		const char *out; /* NULL: refused */
	} t[] = {
		{"a+b%2Bc%20d", 1, "a b+c d"},
		{"a+b%2Bc%20d", 0, "a+b+c d"},
		{"%C3%bc", 1, "\xc3\xbc"},
		{"dir/x%2Fy", 1, "dir/x/y"},
		{"100%25", 1, "100%"},
		{"", 1, ""},
		{"%zz", 1, NULL},
		{"%4", 1, NULL},
		{"abc%", 1, NULL},
		{"%00", 1, NULL},
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(t); i++) {
		char *d = s3_uri_decode(t[i].in, t[i].plus);

		if (!t[i].out) {
			ck_assert_msg(d == NULL, "'%s' decoded", t[i].in);
			continue;
		}
		ck_assert_msg(d && strcmp(d, t[i].out) == 0,
			      "'%s' decoded to '%s'", t[i].in, d ? d : "NULL");
		free(d);
	}
}
END_TEST

START_TEST(test_round_trip)
{
	char in[256], *e, *d;

	/* Every byte but NUL, encoded as a query value and decoded back. */
	for (int i = 0; i < 255; i++)
		in[i] = (char)(i + 1);
	in[255] = '\0';
	e = enc(in, 0);
	d = s3_uri_decode(e, 0);
	ck_assert_ptr_nonnull(d);
	ck_assert_str_eq(d, in);
	free(e);
	free(d);
}
END_TEST

START_TEST(test_components)
{
	ck_assert(s3_components_ok("a", 1));
	ck_assert(s3_components_ok("a/b.c/..d", 9));
	ck_assert(!s3_components_ok("", 0));
	ck_assert(!s3_components_ok("a//b", 4));
	ck_assert(!s3_components_ok("a/", 2));
	ck_assert(!s3_components_ok("/a", 2));
	ck_assert(!s3_components_ok("a/./b", 5));
	ck_assert(!s3_components_ok("a/..", 4));
	ck_assert(!s3_components_ok("..", 2));
	/* Only the first n bytes count. */
	ck_assert(s3_components_ok("abc/", 3));
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE(
		"s3_url",
		{.name = "core",
		 .tests = TH_TESTS(test_encode_examples, test_encode_every_byte,
				   test_query_sorted, test_decode,
				   test_round_trip, test_components)});

	return th_check_run(s, NULL);
}
