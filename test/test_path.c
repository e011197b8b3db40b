/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/path: which dataset-relative paths and names are
 * accepted, which are refused and with which errno, and sl_path_join.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/path.h"
#include "common/util.h"
#include "test/helper_check.h"

static int check_str(const char *s)
{
	return sl_path_check(s, strlen(s));
}

/* Clean relative paths, the root "" among them, pass. */
START_TEST(test_accepted)
{
	static const char *const ok[] = {
		"",    "a",	  "a/b",    "train/n01440764/x.jpg",
		"...", ".hidden", "a/.b/c", "a..b",
		"..a", "a/b../c", "x y/z",  "caf\xc3\xa9",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		ck_assert_msg(check_str(ok[i]) == 0, "'%s' refused", ok[i]);
}
END_TEST

/* Leading or trailing '/', empty, "." and ".." components: -EINVAL. */
START_TEST(test_rejected)
{
	static const char *const bad[] = {
		"/",   "/a",  "a/",    "a//b", "//",   ".",	 "..",
		"./a", "a/.", "a/./b", "../a", "a/..", "a/../b",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(check_str(bad[i]) == -EINVAL, "'%s' accepted",
			      bad[i]);
}
END_TEST

/* A NUL inside len is refused, not taken as the end of the path. */
START_TEST(test_nul_inside)
{
	static const char p[] = "a/b\0c";
	static const char q[] = "\0";

	ck_assert_int_eq(sl_path_check(p, sizeof(p) - 1), -EINVAL);
	ck_assert_int_eq(sl_path_check(q, 1), -EINVAL);
	/* len stops before the NUL: "a/b" is fine. */
	ck_assert_int_eq(sl_path_check(p, 3), 0);
	ck_assert_int_eq(sl_name_check(p, sizeof(p) - 1), -EINVAL);
}
END_TEST

/* Over SL_PATH_MAX or SL_COMPONENT_MAX: -ENAMETOOLONG, at the limit: 0. */
START_TEST(test_too_long)
{
	char *buf = malloc(SL_PATH_MAX + 2);
	size_t i;

	ck_assert_ptr_nonnull(buf);
	/* Components of 255 bytes joined by '/' up to exactly SL_PATH_MAX. */
	for (i = 0; i < SL_PATH_MAX; i++)
		buf[i] = (i % 256 == 255) ? '/' : 'x';
	buf[SL_PATH_MAX] = 'x';
	ck_assert_int_eq(sl_path_check(buf, SL_PATH_MAX), 0);
	ck_assert_int_eq(sl_path_check(buf, SL_PATH_MAX + 1), -ENAMETOOLONG);

	memset(buf, 'x', SL_COMPONENT_MAX + 1);
	ck_assert_int_eq(sl_path_check(buf, SL_COMPONENT_MAX), 0);
	ck_assert_int_eq(sl_path_check(buf, SL_COMPONENT_MAX + 1),
			 -ENAMETOOLONG);
	/* An overlong component in the middle of a short enough path. */
	memcpy(buf, "a/", 2);
	memset(buf + 2, 'y', SL_COMPONENT_MAX + 1);
	memcpy(buf + 2 + SL_COMPONENT_MAX + 1, "/b", 2);
	ck_assert_int_eq(sl_path_check(buf, SL_COMPONENT_MAX + 5),
			 -ENAMETOOLONG);

	memset(buf, 'z', SL_COMPONENT_MAX + 1);
	ck_assert_int_eq(sl_name_check(buf, SL_COMPONENT_MAX), 0);
	ck_assert_int_eq(sl_name_check(buf, SL_COMPONENT_MAX + 1),
			 -ENAMETOOLONG);
	free(buf);
}
END_TEST

/* A name is one component: no '/', not empty, not "." or "..". */
START_TEST(test_name_check)
{
	ck_assert_int_eq(sl_name_check("x.jpg", 5), 0);
	ck_assert_int_eq(sl_name_check("...", 3), 0);
	ck_assert_int_eq(sl_name_check("", 0), -EINVAL);
	ck_assert_int_eq(sl_name_check(".", 1), -EINVAL);
	ck_assert_int_eq(sl_name_check("..", 2), -EINVAL);
	ck_assert_int_eq(sl_name_check("a/b", 3), -EINVAL);
	ck_assert_int_eq(sl_name_check("/", 1), -EINVAL);
}
END_TEST

START_TEST(test_join)
{
	char out[16];
	char *big, *dir;

	ck_assert_int_eq(sl_path_join(out, sizeof(out), "", "a"), 0);
	ck_assert_str_eq(out, "a");
	ck_assert_int_eq(sl_path_join(out, sizeof(out), "a", "b"), 0);
	ck_assert_str_eq(out, "a/b");
	ck_assert_int_eq(sl_path_join(out, sizeof(out), "a/b", "c.jpg"), 0);
	ck_assert_str_eq(out, "a/b/c.jpg");
	ck_assert_int_eq(sl_path_join(out, sizeof(out), "a", ""), 0);
	ck_assert_str_eq(out, "a");
	ck_assert_int_eq(sl_path_join(out, sizeof(out), "", ""), 0);
	ck_assert_str_eq(out, "");

	/* In place: out is dir. */
	strcpy(out, "train");
	ck_assert_int_eq(sl_path_join(out, sizeof(out), out, "n01"), 0);
	ck_assert_str_eq(out, "train/n01");

	/* Exactly full (15 bytes and the NUL) fits, one more does not, and
	 * a failed join leaves out alone. */
	ck_assert_int_eq(sl_path_join(out, sizeof(out), "abcdefg", "hijklmn"),
			 0);
	ck_assert_str_eq(out, "abcdefg/hijklmn");
	ck_assert_int_eq(sl_path_join(out, sizeof(out), "abcdefg", "hijklmno"),
			 -ENAMETOOLONG);
	ck_assert_str_eq(out, "abcdefg/hijklmn");
	ck_assert_int_eq(sl_path_join(out, 4, "", "abcd"), -ENAMETOOLONG);

	/* Never longer than SL_PATH_MAX, whatever the buffer. */
	big = malloc(2 * SL_PATH_MAX);
	ck_assert_ptr_nonnull(big);
	dir = malloc(SL_PATH_MAX);
	ck_assert_ptr_nonnull(dir);
	memset(dir, 'd', SL_PATH_MAX - 2);
	dir[SL_PATH_MAX - 2] = '\0';
	ck_assert_int_eq(sl_path_join(big, 2 * SL_PATH_MAX, dir, "e"), 0);
	ck_assert_uint_eq(strlen(big), SL_PATH_MAX);
	ck_assert_int_eq(sl_path_join(big, 2 * SL_PATH_MAX, dir, "ef"),
			 -ENAMETOOLONG);
	free(dir);
	free(big);
}
END_TEST

/* A checker of strings of one charset, up to max bytes: the good
 * (borrowed) pass, the bad and one with a NUL inside are -EINVAL, max
 * bytes pass and one more is -ENAMETOOLONG. */
static void expect_charset(int (*check)(const char *, size_t), size_t max,
			   const char *const *good, size_t n_good,
			   const char *const *bad, size_t n_bad)
{
	char *big = malloc(max + 1);

	for (size_t i = 0; i < n_good; i++)
		ck_assert_msg(check(good[i], strlen(good[i])) == 0, "%s",
			      good[i]);
	for (size_t i = 0; i < n_bad; i++)
		ck_assert_int_eq(check(bad[i], strlen(bad[i])), -EINVAL);
	ck_assert_int_eq(check("a\0b", 3), -EINVAL);
	memset(big, 'v', max + 1);
	ck_assert_int_eq(check(big, max), 0);
	ck_assert_int_eq(check(big, max + 1), -ENAMETOOLONG);
	free(big);
}

/* Versions go into headers (If-Match): nothing that can end a header,
 * a quoted string or a URL component passes. */
START_TEST(test_version_check)
{
	static const char *const good[] = {
		"",
		"s4096-m1700000000123456789",
		"d41d8cd98f00b204e9800998ecf8427e",
		"0a1b-3",
		"W/x:y=z+~_.",
		"m1;l2,f3",
	};
	static const char *const bad[] = {
		"a\r\nX-Injected-By: me",
		"a\nb",
		"a\rb",
		"a b",
		"a\"b",
		"a\\b",
		"\x01",
		"tab\there",
		"del\x7f",
		"utf8\xc3\xa9",
		"\"\r\n\r\nGET /bucket/other/secret.bin HTTP/1.1",
	};

	expect_charset(sl_version_check, SL_VERSION_MAX, good,
		       SL_ARRAY_SIZE(good), bad, SL_ARRAY_SIZE(bad));
}
END_TEST

/* Cursors: the version's charset, up to SL_CURSOR_MAX bytes. */
START_TEST(test_cursor_check)
{
	static const char *const good[] = {
		"", "4096",
		"1:1000:0:1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36H=", "a%2Fb"};
	static const char *const bad[] = {"a b",  "a\rb", "a\nb", "a\"b",
					  "a\\b", "\x01", "\x7f", "\xc3\xa9"};

	expect_charset(sl_cursor_check, SL_CURSOR_MAX, good,
		       SL_ARRAY_SIZE(good), bad, SL_ARRAY_SIZE(bad));
}
END_TEST

/* A backend's cursor, any bytes but NUL, over the wire and back. */
START_TEST(test_cursor_codec)
{
	static const char *const raw[] = {
		"", "4096", "1:a name \"quoted\"\r\n\x01\xc3\xa9 100%",
		"1:1000:0:1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36H="};
	static const char *const bad[] = {"%",	 "%4",	"%4G", "%41",
					  "%00", "%7e", "%2x"};
	char wire[SL_CURSOR_MAX + 1], back[SL_CURSOR_MAX + 1];
	char big[400];

	for (size_t i = 0; i < SL_ARRAY_SIZE(raw); i++) {
		ck_assert_int_eq(sl_cursor_encode(raw[i], wire, sizeof(wire)),
				 0);
		ck_assert_int_eq(sl_cursor_check(wire, strlen(wire)), 0);
		ck_assert_int_eq(sl_cursor_decode(wire, strlen(wire), back,
						  sizeof(back)),
				 0);
		ck_assert_str_eq(back, raw[i]);
	}
	ck_assert_int_eq(sl_cursor_encode("a b", wire, sizeof(wire)), 0);
	ck_assert_str_eq(wire, "a%20b");
	ck_assert_int_eq(sl_cursor_encode("%", wire, sizeof(wire)), 0);
	ck_assert_str_eq(wire, "%25");
	/* One wire form per cursor: any other escape is refused. */
	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++)
		ck_assert_int_eq(sl_cursor_decode(bad[i], strlen(bad[i]), back,
						  sizeof(back)),
				 -EINVAL);
	/* 342 bytes that all need escaping pass the wire's 1024. */
	memset(big, ' ', sizeof(big));
	big[341] = '\0';
	ck_assert_int_eq(sl_cursor_encode(big, wire, sizeof(wire)), 0);
	big[341] = ' ';
	big[342] = '\0';
	ck_assert_int_eq(sl_cursor_encode(big, wire, sizeof(wire)),
			 -ENAMETOOLONG);
	ck_assert_int_eq(sl_cursor_decode("ab", 2, back, 2), -ENAMETOOLONG);
}
END_TEST

static Suite *path_suite(void)
{
	return TH_SUITE("path",
			{.name = "core",
			 .tests = TH_TESTS(test_accepted, test_rejected,
					   test_nul_inside, test_too_long,
					   test_version_check,
					   test_cursor_check, test_cursor_codec,
					   test_name_check, test_join)});
}

int main(void)
{
	return th_check_run(path_suite(), NULL);
}
