/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the webhdfs module's JSON (cachenode/backends/webhdfs/
 * json.c and url.c, compiled into this test: their functions are hidden
 * in the module): FileStatus, FileStatuses and DirectoryListing as the
 * WebHDFS specification's examples write them, every required field
 * missing or of the wrong type or range, bodies that are not JSON or not
 * the schema (duplicate keys, NUL, deep nesting, huge integers),
 * RemoteException with and without javaClassName and with a secret in its
 * message, and file versions.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachenode/backends/webhdfs/json.c"
#include "cachenode/backends/webhdfs/url.c"
#include "test/helper_check.h"

/* The specification's example of a file in a listing. */
#define SPEC_FILE                                                              \
	"{\"accessTime\": 1320171722771, \"blockSize\": 33554432, "            \
	"\"childrenNum\": 0, \"fileId\": 16388, \"group\": \"supergroup\", "   \
	"\"length\": 24930, \"modificationTime\": 1320171722771, "             \
	"\"owner\": \"webuser\", \"pathSuffix\": \"a.patch\", "                \
	"\"permission\": \"644\", \"replication\": 1, \"storagePolicy\": 0, "  \
	"\"type\": \"FILE\"}"
#define SPEC_DIR                                                               \
	"{\"accessTime\": 0, \"blockSize\": 0, \"childrenNum\": 0, "           \
	"\"fileId\": 16389, \"group\": \"supergroup\", \"length\": 0, "        \
	"\"modificationTime\": 1320895981256, \"owner\": \"username\", "       \
	"\"pathSuffix\": \"bar\", \"permission\": \"711\", "                   \
	"\"replication\": 0, \"type\": \"DIRECTORY\"}"

static int status_of(const char *body, wh_status_t *s, char *err)
{
	return wh_json_status(body, strlen(body), s, err, SB_ERR_MAX);
}

START_TEST(test_status_spec)
{
	char err[SB_ERR_MAX], v[SB_VERSION_MAX + 1];
	wh_status_t s;
	sb_stat_t sb;

	ck_assert_int_eq(status_of("{\"FileStatus\": " SPEC_FILE "}", &s, err),
			 0);
	ck_assert_int_eq(s.type, SB_TYPE_FILE);
	ck_assert_uint_eq(s.length, 24930);
	ck_assert_int_eq(s.mtime_ms, 1320171722771LL);
	ck_assert_int_eq(s.file_id, 16388);
	ck_assert_uint_eq(s.perm, 0644);
	ck_assert_ptr_null(s.name);
	wh_version_make(&s, v);
	ck_assert_str_eq(v, "m1320171722771-l24930-i16388");
	wh_status_to_sb(&s, &sb);
	ck_assert_int_eq(sb.type, SB_TYPE_FILE);
	ck_assert_uint_eq(sb.mode, 0444);
	ck_assert_uint_eq(sb.size, 24930);
	ck_assert_int_eq(sb.mtime_ns, 1320171722771000000LL);
	ck_assert_str_eq(sb.version, v);

	ck_assert_int_eq(status_of("{\"FileStatus\": " SPEC_DIR "}", &s, err),
			 0);
	ck_assert_int_eq(s.type, SB_TYPE_DIR);
	ck_assert_uint_eq(s.perm, 0711);
	wh_status_to_sb(&s, &sb);
	ck_assert_uint_eq(sb.mode, 0555);
	ck_assert_uint_eq(sb.size, 0);
	ck_assert_str_eq(sb.version, "");
	/* The GETFILESTATUS example: no fileId, extra members. */
	ck_assert_int_eq(
		status_of("{\"FileStatus\": {\"accessTime\": 0, \"blockSize\": "
			  "0, \"group\": \"supergroup\", \"length\": 0, "
			  "\"modificationTime\": 1320173277227, \"owner\": "
			  "\"webuser\", \"pathSuffix\": \"\", \"permission\": "
			  "\"777\", \"replication\": 0, \"snapshotEnabled\": "
			  "true, \"type\": \"DIRECTORY\", \"ecPolicy\": "
			  "\"RS-6-3-1024k\"}}",
			  &s, err),
		0);
	ck_assert_int_eq(s.file_id, -1);
	ck_assert_uint_eq(s.perm, 0777);
	ck_assert_int_eq(status_of("{\"FileStatus\": {\"pathSuffix\": \"l\", "
				   "\"type\": \"SYMLINK\", \"length\": 0, "
				   "\"modificationTime\": 1, \"permission\": "
				   "\"1777\", \"symlink\": \"/x\"}}",
				   &s, err),
			 0);
	ck_assert_int_eq(s.type, WH_TYPE_SYMLINK);
	ck_assert_uint_eq(s.perm, 01777);
}
END_TEST

START_TEST(test_status_fields)
{
	static const struct {
		const char *field, *value, *why; /* value NULL: left out */
	} t[] = {
		{"pathSuffix", NULL, "pathSuffix"},
		{"pathSuffix", "7", "pathSuffix"},
		{"type", NULL, "type"},
		{"type", "\"BLOCKDEVICE\"", "type 'BLOCKDEVICE'"},
		{"type", "\"file\"", "type 'file'"},
		{"type", "1", "type"},
		{"length", NULL, "length"},
		{"length", "-1", "length"},
		{"length", "\"5\"", "length"},
		{"length", "1.5", "length"},
		{"length", "true", "length"},
		{"length", "null", "length"},
		{"modificationTime", NULL, "modificationTime"},
		{"modificationTime", "-1", "modificationTime"},
		{"permission", NULL, "permission"},
		{"permission", "\"\"", "permission"},
		{"permission", "\"8\"", "permission"},
		{"permission", "\"12345\"", "permission"},
		{"permission", "\"rwxr-xr-x\"", "permission"},
		{"permission", "644", "permission"},
		{"fileId", "0", "fileId"},
		{"fileId", "-3", "fileId"},
		{"fileId", "\"16388\"", "fileId"},
	};
	static const char *const fields[] = {"pathSuffix", "type",
					     "length",	   "modificationTime",
					     "permission", "fileId"};
	static const char *const good[] = {"\"x\"", "\"FILE\"", "10",
					   "1000",  "\"644\"",	"16388"};
	char body[512], err[SB_ERR_MAX], want[64];
	wh_status_t s;

	for (size_t i = 0; i < SL_ARRAY_SIZE(t); i++) {
		size_t n = (size_t)snprintf(body, sizeof(body),
					    "{\"FileStatus\": {");
		const char *sep = "";

		for (size_t f = 0; f < SL_ARRAY_SIZE(fields); f++) {
			const char *v = good[f];

			if (strcmp(fields[f], t[i].field) == 0) {
				v = t[i].value;
				if (!v)
					continue;
			}
			n += (size_t)snprintf(body + n, sizeof(body) - n,
					      "%s\"%s\": %s", sep, fields[f],
					      v);
			sep = ", ";
		}
		snprintf(body + n, sizeof(body) - n, "}}");
		ck_assert_msg(status_of(body, &s, err) == -EIO, "taken: %s",
			      body);
		snprintf(want, sizeof(want), "%s", t[i].why);
		ck_assert_msg(strstr(err, want), "%s: message '%s'", body, err);
	}
}
END_TEST

START_TEST(test_status_not_schema)
{
	static const struct {
		const char *body, *why;
	} t[] = {
		{"", "not JSON"},
		{"<html><body>down</body></html>", "not JSON"},
		{"[1, 2]", "not a JSON object"},
		{"\"FileStatus\"", "not JSON"},
		{"{}", "no FileStatus"},
		{"{\"FileStatuses\": {}}", "no FileStatus"},
		{"{\"FileStatus\": []}", "not an object"},
		{"{\"FileStatus\": null}", "not an object"},
		{"{\"FileStatus\": {}, \"FileStatus\": {}}", "not JSON"},
		{"{\"FileStatus\": {\"pathSuffix\": \"a", "not JSON"},
		{"{\"FileStatus\": {\"pathSuffix\": \"a\\u0000b\"}}",
		 "not JSON"},
		{"{\"FileStatus\": {\"pathSuffix\": \"\xff\xfe\"}}",
		 "not JSON"},
		{"{\"FileStatus\": {\"length\": "
		 "123456789012345678901234567890}}",
		 "not JSON"},
	};
	char err[SB_ERR_MAX];
	wh_status_t s;

	for (size_t i = 0; i < SL_ARRAY_SIZE(t); i++) {
		ck_assert_msg(status_of(t[i].body, &s, err) == -EIO,
			      "taken: %s", t[i].body);
		ck_assert_msg(strstr(err, t[i].why), "%s: message '%s'",
			      t[i].body, err);
		ck_assert_msg(!strpbrk(err, "\r\n"), "raw bytes in '%s'", err);
	}
}
END_TEST

START_TEST(test_deep_nesting)
{
	size_t depth = 100000;
	char *body = malloc(2 * depth + 1), err[SB_ERR_MAX];
	wh_listing_t l;
	wh_status_t s;

	memset(body, '[', depth);
	memset(body + depth, ']', depth);
	body[2 * depth] = '\0';
	ck_assert_int_eq(wh_json_status(body, 2 * depth, &s, err, sizeof(err)),
			 -EIO);
	body[0] = '{';
	ck_assert_int_eq(
		wh_json_listing(body, 2 * depth, 1, &l, err, sizeof(err)),
		-EIO);
	wh_listing_fini(&l);
	free(body);
}
END_TEST

START_TEST(test_listing_batch)
{
	const char *body = "{\"DirectoryListing\": {\"partialListing\": "
			   "{\"FileStatuses\": {\"FileStatus\": [" SPEC_DIR
			   ", " SPEC_FILE "]}}, \"remainingEntries\": 2}}";
	char err[SB_ERR_MAX];
	wh_listing_t l;

	ck_assert_int_eq(
		wh_json_listing(body, strlen(body), 1, &l, err, sizeof(err)),
		0);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_int_eq(l.remaining, 2);
	ck_assert_uint_eq(l.ents[0].name_len, 3);
	ck_assert(memcmp(l.ents[0].name, "bar", 3) == 0);
	ck_assert_int_eq(l.ents[0].type, SB_TYPE_DIR);
	ck_assert(memcmp(l.ents[1].name, "a.patch", 7) == 0);
	ck_assert_uint_eq(l.ents[1].length, 24930);
	wh_listing_fini(&l);
	/* The same entries as a LISTSTATUS. */
	body = "{\"FileStatuses\": {\"FileStatus\": [" SPEC_FILE "]}}";
	ck_assert_int_eq(
		wh_json_listing(body, strlen(body), 0, &l, err, sizeof(err)),
		0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_int_eq(l.remaining, 0);
	wh_listing_fini(&l);
	body = "{\"FileStatuses\": {\"FileStatus\": []}}";
	ck_assert_int_eq(
		wh_json_listing(body, strlen(body), 0, &l, err, sizeof(err)),
		0);
	ck_assert_uint_eq(l.n, 0);
	wh_listing_fini(&l);
}
END_TEST

START_TEST(test_listing_not_schema)
{
	static const struct {
		int batch;
		const char *body, *why;
	} t[] = {
		{1, "{\"FileStatuses\": {\"FileStatus\": []}}",
		 "DirectoryListing is missing"},
		{1,
		 "{\"DirectoryListing\": {\"partialListing\": "
		 "{\"FileStatuses\": {\"FileStatus\": []}}}}",
		 "no valid remainingEntries"},
		{1,
		 "{\"DirectoryListing\": {\"partialListing\": "
		 "{\"FileStatuses\": {\"FileStatus\": []}}, "
		 "\"remainingEntries\": -1}}",
		 "no valid remainingEntries"},
		{1,
		 "{\"DirectoryListing\": {\"partialListing\": "
		 "{\"FileStatuses\": {\"FileStatus\": []}}, "
		 "\"remainingEntries\": \"2\"}}",
		 "no valid remainingEntries"},
		{1, "{\"DirectoryListing\": {\"remainingEntries\": 0}}",
		 "partialListing is missing"},
		{1,
		 "{\"DirectoryListing\": {\"partialListing\": [], "
		 "\"remainingEntries\": 0}}",
		 "partialListing is of another type"},
		{0, "{\"FileStatuses\": {\"FileStatus\": {}}}",
		 "no FileStatus array"},
		{0, "{\"FileStatuses\": []}",
		 "FileStatuses is of another type"},
		{0, "{\"FileStatuses\": {\"FileStatus\": [" SPEC_FILE ", 7]}}",
		 "entry 1: a FileStatus is not an object"},
		{0,
		 "{\"FileStatuses\": {\"FileStatus\": [" SPEC_FILE
		 ", {\"pathSuffix\": \"b\"}]}}",
		 "entry 1: a FileStatus has no valid type"},
	};
	char err[SB_ERR_MAX];
	wh_listing_t l;

	for (size_t i = 0; i < SL_ARRAY_SIZE(t); i++) {
		ck_assert_msg(wh_json_listing(t[i].body, strlen(t[i].body),
					      t[i].batch, &l, err,
					      sizeof(err)) == -EIO,
			      "taken: %s", t[i].body);
		ck_assert_msg(strstr(err, t[i].why), "%s: message '%s'",
			      t[i].body, err);
		wh_listing_fini(&l);
	}
}
END_TEST

static int remote(const char *body, const char *secret, char *exc, char *msg,
		  size_t msglen)
{
	return wh_json_remote(body, strlen(body), secret, exc, 64, msg, msglen);
}

START_TEST(test_remote)
{
	static const struct {
		const char *exc, *java;
	} spec[] = {
		{"IllegalArgumentException",
		 "java.lang.IllegalArgumentException"},
		{"SecurityException", "java.lang.SecurityException"},
		{"AccessControlException",
		 "org.apache.hadoop.security.AccessControlException"},
		{"FileNotFoundException", "java.io.FileNotFoundException"},
	};
	char body[512], exc[64], msg[64];

	for (size_t i = 0; i < SL_ARRAY_SIZE(spec); i++) {
		snprintf(body, sizeof(body),
			 "{\"RemoteException\": {\"exception\": \"%s\", "
			 "\"javaClassName\": \"%s\", \"message\": \"m %zu\"}}",
			 spec[i].exc, spec[i].java, i);
		ck_assert_int_eq(remote(body, NULL, exc, msg, sizeof(msg)), 0);
		ck_assert_str_eq(exc, spec[i].exc);
		snprintf(body, sizeof(body), "m %zu", i);
		ck_assert_str_eq(msg, body);
	}
	/* Only javaClassName: its last part. */
	ck_assert_int_eq(remote("{\"RemoteException\": {\"javaClassName\": "
				"\"org.apache.hadoop.ipc.StandbyException\", "
				"\"message\": \"standby\"}}",
				NULL, exc, msg, sizeof(msg)),
			 0);
	ck_assert_str_eq(exc, "StandbyException");
	ck_assert_int_eq(remote("{\"RemoteException\": {\"javaClassName\": "
				"\"org.apache.hadoop.security.token."
				"SecretManager$InvalidToken\"}}",
				NULL, exc, msg, sizeof(msg)),
			 0);
	ck_assert_str_eq(exc, "InvalidToken");
	ck_assert_str_eq(msg, "");
	/* Server text is cut and cleaned. */
	ck_assert_int_eq(remote("{\"RemoteException\": {\"exception\": \"E\", "
				"\"message\": \"a\\r\\nb\\u001b[2J\"}}",
				NULL, exc, msg, sizeof(msg)),
			 0);
	ck_assert_str_eq(msg, "a??b?[2J");
	/* Not one. */
	for (const char *const *b =
		     (const char *const[]){
			     "", "<html>401</html>", "{}",
			     "{\"RemoteException\": 1}",
			     "{\"RemoteException\": {\"message\": \"m\"}}",
			     "{\"RemoteException\": {\"exception\": \"\"}}",
			     NULL};
	     *b; b++) {
		ck_assert_int_eq(remote(*b, NULL, exc, msg, sizeof(msg)), -1);
		ck_assert_str_eq(exc, "");
		ck_assert_str_eq(msg, "");
	}
}
END_TEST

START_TEST(test_remote_secret)
{
	const char *secret = "SECRETtoken_0123456789";
	char body[512], exc[64], msg[40];

	/* The message is cut at 39 bytes, in the middle of the secret: no
	 * piece of it may be left. */
	snprintf(body, sizeof(body),
		 "{\"RemoteException\": {\"exception\": \"E%s\", \"message\": "
		 "\"0123456789012345678901234 %s and %s\"}}",
		 secret, secret, secret);
	ck_assert_int_eq(remote(body, secret, exc, msg, sizeof(msg)), 0);
	ck_assert_str_eq(msg, "0123456789012345678901234 *************");
	ck_assert_msg(!strstr(exc, "SECRET"), "exception: %s", exc);
}
END_TEST

START_TEST(test_versions)
{
	static const char *const bad[] = {
		"",
		"x",
		"m-l5",
		"m1-l",
		"m1-l5-",
		"m1-l5-i",
		"m1-l5-ix",
		"m+1-l5",
		"m 1-l5",
		"m1-l-5",
		"m1-l5x",
		"m1-l5-i7-z",
		"m1-l5-i-7",
		"M1-l5",
		"m1l5",
		"m1-L5",
		"m12345678901234567890-l5",
		"\"etag\"",
		"m1-l5\n",
	};
	wh_status_t s = {.mtime_ms = 1700000000123LL,
			 .length = 987654321,
			 .file_id = 16390};
	char v[SB_VERSION_MAX + 1];
	uint64_t len;

	wh_version_make(&s, v);
	ck_assert_str_eq(v, "m1700000000123-l987654321-i16390");
	ck_assert_int_eq(wh_version_length(v, &len), 0);
	ck_assert_uint_eq(len, 987654321);
	s.file_id = -1;
	wh_version_make(&s, v);
	ck_assert_str_eq(v, "m1700000000123-l987654321");
	ck_assert_int_eq(wh_version_length("m0-l0", &len), 0);
	ck_assert_uint_eq(len, 0);
	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++)
		ck_assert_msg(wh_version_length(bad[i], &len) == -EINVAL,
			      "'%s' taken", bad[i]);
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE(
		"webhdfs_json",
		{.name = "json",
		 .tests = TH_TESTS(test_status_spec, test_status_fields,
				   test_status_not_schema, test_deep_nesting,
				   test_listing_batch, test_listing_not_schema,
				   test_remote, test_remote_secret,
				   test_versions)});

	return th_check_run(s, NULL);
}
