/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the webhdfs module's URL and text handling
 * (cachenode/backends/webhdfs/url.c, compiled into this test: its
 * functions are hidden in the module): percent-encoding of every byte,
 * names and paths refused for control bytes before they reach a URL,
 * HDFS's signed-byte name order, the request URLs with their credentials,
 * the check of a redirect's Location (no other scheme, no downgrade, no
 * header smuggling, bounded), and the scrubbing of server text and
 * secrets.  That a server accepts what these build is tested end to end
 * by it_webhdfs.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachenode/backends/webhdfs/url.c"
#include "test/helper_check.h"

static char *enc(const char *s, size_t n, int keep_slash)
{
	char *out;
	size_t len;
	FILE *f = wh_memstream(&out, &len);

	wh_encode(f, s, n, keep_slash);
	fclose(f);
	return out;
}

START_TEST(test_encode_every_byte)
{
	for (int c = 0; c < 256; c++) {
		char in = (char)c, want[4];
		char *path = enc(&in, 1, 1), *query = enc(&in, 1, 0);
		int bare = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			   (c >= '0' && c <= '9') ||
			   (c && strchr("-._~", c) != NULL);

		snprintf(want, sizeof(want), bare ? "%c" : "%%%02X", c);
		ck_assert_msg(strcmp(query, want) == 0, "byte %d: %s, not %s",
			      c, query, want);
		ck_assert_str_eq(path, c == '/' ? "/" : want);
		free(path);
		free(query);
	}
}
END_TEST

START_TEST(test_encode_examples)
{
	static const struct {
		const char *in, *out;
	} t[] = {
		{"a b", "a%20b"},
		{"a+b", "a%2Bb"},
		{"50%", "50%25"},
		{"%2F", "%252F"}, /* a literal "%2F" is no slash */
		{"q?h#", "q%3Fh%23"},
		{"a&b=c;d", "a%26b%3Dc%3Bd"},
		{"\xc3\xbc\xe5\x90\x8d", "%C3%BC%E5%90%8D"},
		{"dir/file", "dir/file"},
		{"", ""},
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(t); i++) {
		char *got = enc(t[i].in, strlen(t[i].in), 1);

		ck_assert_str_eq(got, t[i].out);
		free(got);
	}
}
END_TEST

START_TEST(test_names)
{
	char name[300], ctl[4];

	ck_assert(wh_name_ok("a", 1));
	ck_assert(wh_name_ok("...", 3));
	ck_assert(wh_name_ok(".hidden", 7));
	ck_assert(wh_name_ok("a b+c%d#e?f", 11));
	ck_assert(wh_name_ok("\xc3\xbc", 2));
	ck_assert(!wh_name_ok("", 0));
	ck_assert(!wh_name_ok(".", 1));
	ck_assert(!wh_name_ok("..", 2));
	ck_assert(!wh_name_ok("a/b", 3));
	memset(name, 'x', sizeof(name));
	ck_assert(wh_name_ok(name, 255));
	ck_assert(!wh_name_ok(name, 256));
	/* Every control byte, anywhere. */
	for (int c = 0; c < 0x20; c++) {
		snprintf(ctl, sizeof(ctl), "a%cb", c ? c : '?');
		ctl[1] = (char)c;
		ck_assert_msg(!wh_name_ok(ctl, 3), "byte %d taken", c);
	}
	ck_assert(!wh_name_ok("a\x7f", 2));
	ck_assert(!wh_name_ok("\r\n", 2));
}
END_TEST

START_TEST(test_paths)
{
	char err[SB_ERR_MAX], *long_path = malloc(5000);

	ck_assert_int_eq(wh_path_check("", err, sizeof(err)), 0);
	ck_assert_int_eq(wh_path_check("a/b c/d", err, sizeof(err)), 0);
	for (const char *const *p =
		     (const char *const[]){"/a", "a/", "a//b", "a/./b",
					   "a/../b", "..", NULL};
	     *p; p++)
		ck_assert_msg(wh_path_check(*p, err, sizeof(err)) == -EINVAL,
			      "'%s' taken", *p);
	for (const char *const *p =
		     (const char *const[]){"a\nb", "a\rb", "a/b\r\nHost: x",
					   "t\tb", "d\x7f", "\x1b[2J", NULL};
	     *p; p++) {
		ck_assert_msg(wh_path_check(*p, err, sizeof(err)) == -EINVAL,
			      "'%s' taken", *p);
		ck_assert_msg(strstr(err, "control byte"), "message: %s", err);
		ck_assert_msg(!strpbrk(err, "\r\n\t\x7f\x1b"),
			      "the byte is in the message: %s", err);
	}
	memset(long_path, 'a', 4999);
	long_path[4999] = '\0';
	ck_assert_int_eq(wh_path_check(long_path, err, sizeof(err)),
			 -ENAMETOOLONG);
	free(long_path);
}
END_TEST

START_TEST(test_name_order)
{
	/* HDFS compares names as signed bytes: UTF-8 before ASCII. */
	ck_assert_int_lt(wh_name_cmp("\xc3\xa9", 2, "a", 1), 0);
	ck_assert_int_lt(wh_name_cmp("Z", 1, "a", 1), 0);
	ck_assert_int_lt(wh_name_cmp("a", 1, "aa", 2), 0);
	ck_assert_int_gt(wh_name_cmp("b", 1, "aa", 2), 0);
	ck_assert_int_eq(wh_name_cmp("abc", 3, "abc", 3), 0);
	ck_assert_int_lt(wh_name_cmp("", 0, ".", 1), 0);
	/* Both negative: -27 (0xe5) after -61 (0xc3). */
	ck_assert_int_gt(wh_name_cmp("\xe5\x90\x8d", 3, "\xc3\xbc", 2), 0);
}
END_TEST

static wh_conf_t conf(const char *root, wh_auth_t auth, const char *cred)
{
	wh_conf_t c = {0};

	c.root = (char *)root;
	c.nn[0] = (char *)"http://nn1:9870";
	c.nn[1] = (char *)"http://nn2:9870";
	c.n_nn = 2;
	c.auth = auth;
	if (auth == WH_AUTH_USER)
		c.user = (char *)cred;
	if (auth == WH_AUTH_TOKEN)
		c.token = (char *)cred;
	return c;
}

START_TEST(test_urls)
{
	static const struct {
		const char *root, *path, *op;
		wh_auth_t auth;
		const char *cred, *want;
	} t[] = {
		{"/", "", "GETFILESTATUS", WH_AUTH_NONE, NULL,
		 "http://nn1:9870/webhdfs/v1/?op=GETFILESTATUS"},
		{"/", "x", "GETFILESTATUS", WH_AUTH_NONE, NULL,
		 "http://nn1:9870/webhdfs/v1/x?op=GETFILESTATUS"},
		{"/data", "", "LISTSTATUS", WH_AUTH_KERBEROS, NULL,
		 "http://nn1:9870/webhdfs/v1/data?op=LISTSTATUS"},
		{"/da ta", "a b/c%d#?+", "GETFILESTATUS", WH_AUTH_USER,
		 "al+ice",
		 "http://nn1:9870/webhdfs/v1/da%20ta/a%20b/c%25d%23%3F%2B"
		 "?op=GETFILESTATUS&user.name=al%2Bice"},
		{"/d", "f", "GETFILESTATUS", WH_AUTH_TOKEN, "Tok_en-1",
		 "http://nn1:9870/webhdfs/v1/d/f?op=GETFILESTATUS"
		 "&delegation=Tok_en-1"},
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(t); i++) {
		wh_conf_t c = conf(t[i].root, t[i].auth, t[i].cred);
		char *url = wh_url_build(&c, 0, t[i].path, t[i].op, NULL, 0);

		ck_assert_str_eq(url, t[i].want);
		wh_free_secret(url);
	}
	{
		/* Parameters, values from a listing included, encoded. */
		wh_conf_t c = conf("/d", WH_AUTH_USER, "bob");
		wh_qparam_t qp[] = {{"startAfter", "a\r\nb&c=d %"},
				    {"length", "7"}};
		char *url = wh_url_build(&c, 1, "x", "LISTSTATUS_BATCH", qp, 2);

		ck_assert_str_eq(url,
				 "http://nn2:9870/webhdfs/v1/d/x?op="
				 "LISTSTATUS_BATCH&startAfter=a%0D%0Ab%26c%3Dd%"
				 "20%25&length=7&user.name=bob");
		wh_free_secret(url);
	}
	{
		wh_conf_t c = conf("/a b", WH_AUTH_NONE, NULL);
		char *hp = wh_hdfs_path(&c, "c/d");

		ck_assert_str_eq(hp, "/a b/c/d");
		free(hp);
		c.root = (char *)"/";
		hp = wh_hdfs_path(&c, "c");
		ck_assert_str_eq(hp, "/c");
		free(hp);
	}
}
END_TEST

START_TEST(test_locations)
{
	static const char *const good[] = {
		"http://dn1:9864/webhdfs/v1/a%20b?op=OPEN&namenoderpcaddress="
		"nn%3A8020&offset=0&length=5&user.name=alice",
		"https://dn1/webhdfs/v1/x?op=OPEN",
		"HTTP://DN1:1/x",
		"http://10.0.0.7:9864",
		"http://[::1]:9864/x",
	};
	static const char *const bad[] = {
		"",
		"file:///etc/passwd",
		"ftp://dn1/x",
		"gopher://dn1/x",
		"javascript:alert(1)",
		"dict://dn1:11211/",
		"/webhdfs/v1/x?op=OPEN",
		"//dn1/x",
		"http://",
		"http:///x",
		"http://:80/x",
		"http://user:pw@dn1/x",
		"http://dn1/a b",
		"http://dn1/x\r\nSet-Cookie: a=b",
		"http://dn1/x\n",
		"http://dn1/\x7f",
		"http://dn1/\xc3\xbc",
		"http://dn1\\@evil/",
	};
	char err[SB_ERR_MAX], *huge = malloc(WH_URL_MAX + 2);

	for (size_t i = 0; i < SL_ARRAY_SIZE(good); i++)
		ck_assert_msg(wh_location_check(good[i], strlen(good[i]), 0,
						err, sizeof(err)) == 0,
			      "'%s' refused: %s", good[i], err);
	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
		ck_assert_msg(wh_location_check(bad[i], strlen(bad[i]), 0, err,
						sizeof(err)) == -EIO,
			      "'%s' taken", bad[i]);
		ck_assert_msg(!strpbrk(err, "\r\n\x7f"),
			      "a raw byte in the message: %s", err);
	}
	/* No downgrade from https; https from http is fine. */
	ck_assert_int_eq(
		wh_location_check("http://dn1/x", 12, 1, err, sizeof(err)),
		-EIO);
	ck_assert_msg(strstr(err, "no downgrade"), "message: %s", err);
	ck_assert_int_eq(
		wh_location_check("https://dn1/x", 13, 1, err, sizeof(err)), 0);
	/* Bounded. */
	memcpy(huge, "http://dn1/", 11);
	memset(huge + 11, 'x', WH_URL_MAX - 10);
	huge[WH_URL_MAX + 1] = '\0';
	ck_assert_int_eq(
		wh_location_check(huge, WH_URL_MAX + 1, 0, err, sizeof(err)),
		-EIO);
	ck_assert_int_eq(
		wh_location_check(huge, WH_URL_MAX, 0, err, sizeof(err)), 0);
	free(huge);
}
END_TEST

START_TEST(test_text)
{
	char out[16], host[64];

	wh_text_copy(out, sizeof(out), "a\r\nb\tc\x7f\xc3\xbc", 9);
	ck_assert_str_eq(out, "a??b?c???");
	wh_text_copy(out, sizeof(out), "0123456789abcdefghij", 20);
	ck_assert_str_eq(out, "0123456789abcde");
	wh_text_copy(out, 1, "abc", 3);
	ck_assert_str_eq(out, "");
	wh_url_host("http://dn1:9864/webhdfs/v1/x?op=OPEN", host, sizeof(host));
	ck_assert_str_eq(host, "dn1:9864");
	wh_url_host("https://[::1]:5?x", host, sizeof(host));
	ck_assert_str_eq(host, "[::1]:5");
}
END_TEST

START_TEST(test_scrub)
{
	char msg[] = "token SeCrEt-1 was SeCrEt-1, not SeCrEt-2";
	char same[] = "nothing secret";
	wh_conf_t c = conf("/", WH_AUTH_TOKEN, "SeCrEt-1");

	wh_scrub(&c, msg);
	ck_assert_str_eq(msg, "token ******** was ********, not SeCrEt-2");
	c.token = NULL;
	wh_scrub(&c, same);
	ck_assert_str_eq(same, "nothing secret");
	wh_blot(same, "");
	ck_assert_str_eq(same, "nothing secret");
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE(
		"webhdfs_url",
		{.name = "url",
		 .tests = TH_TESTS(test_encode_every_byte, test_encode_examples,
				   test_names, test_paths, test_name_order,
				   test_urls, test_locations, test_text,
				   test_scrub)});

	return th_check_run(s, NULL);
}
