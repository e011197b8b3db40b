/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The s3 module's XML parsers (cachenode/backends/s3/xml.c), included
 * whole: LastModified times (in range, and out of it: a year past 2262
 * overflowed the nanoseconds, found by fuzz_s3xml), a ListObjectsV2 page
 * with URL-encoded names, and an <Error>.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachenode/backends/s3/url.c"
#include "cachenode/backends/s3/xml.c"
#include "test/helper_check.h"

START_TEST(test_iso8601)
{
	ck_assert_int_eq(s3_parse_iso8601("1970-01-01T00:00:01.5Z"),
			 1500000000);
	ck_assert_int_eq(s3_parse_iso8601("2026-11-25T10:00:00+00:00"),
			 (int64_t)1795600800 * 1000000000);
	ck_assert_int_eq(s3_parse_iso8601("2262-04-11T23:47:15Z"),
			 (int64_t)9223372035 * 1000000000);
	/* Past what nanoseconds in an int64_t hold, before the epoch, and
	 * fields with a sign: malformed, not wrapped around. */
	ck_assert_int_eq(s3_parse_iso8601("6826-01-01T00:00:00Z"), -1);
	ck_assert_int_eq(s3_parse_iso8601("9999-12-31T23:59:59Z"), -1);
	ck_assert_int_eq(s3_parse_iso8601("1969-12-31T23:59:59Z"), -1);
	ck_assert_int_eq(s3_parse_iso8601("2026-11-25T-1:00:00Z"), -1);
	ck_assert_int_eq(s3_parse_iso8601("2026-11-25T10:-1:00Z"), -1);
	ck_assert_int_eq(s3_parse_iso8601("2026-11-25T10:00:00"), -1);
}
END_TEST

START_TEST(test_list_and_error)
{
	static const char list[] =
		"<ListBucketResult><EncodingType>url</EncodingType>"
		"<IsTruncated>true</IsTruncated>"
		"<NextContinuationToken>tok</NextContinuationToken>"
		"<Contents><Key>p/a+b%2Fc</Key><Size>7</Size>"
		"<LastModified>9999-01-01T00:00:00Z</LastModified>"
		"<ETag>&quot;e1&quot;</ETag></Contents>"
		"<CommonPrefixes><Prefix>p/d/</Prefix></CommonPrefixes>"
		"</ListBucketResult>";
	static const char error[] =
		"<Error><Code>SlowDown</Code>"
		"<Message>Reduce your rate</Message></Error>";
	char err[256], code[32], msg[64];
	s3_page_t page = {0};

	ck_assert_int_eq(
		s3_xml_parse_list(list, strlen(list), &page, err, sizeof(err)),
		0);
	ck_assert_uint_eq(page.n, 2);
	ck_assert_str_eq(page.ents[0].name, "p/a b/c");
	ck_assert_uint_eq(page.ents[0].size, 7);
	ck_assert_int_le(page.ents[0].mtime_ns, 0); /* out of range: none */
	ck_assert_str_eq(page.ents[1].name, "p/d/");
	ck_assert_int_eq(page.truncated, 1);
	ck_assert_str_eq(page.next_token, "tok");
	s3_page_fini(&page);
	s3_xml_parse_error(error, strlen(error), code, sizeof(code), msg,
			   sizeof(msg));
	ck_assert_str_eq(code, "SlowDown");
	ck_assert_str_eq(msg, "Reduce your rate");
	memset(&page, 0, sizeof(page));
	ck_assert_int_eq(s3_xml_parse_list("<a", 2, &page, err, sizeof(err)),
			 -EIO);
	s3_page_fini(&page);
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE("s3_xml", {.name = "xml",
				       .tests = TH_TESTS(test_iso8601,
							 test_list_and_error)});

	return th_check_run(s, NULL);
}
