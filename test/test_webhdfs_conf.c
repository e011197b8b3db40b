/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the webhdfs dataset keys (cachenode/backends/webhdfs/
 * conf.c and url.c, compiled into this test: their functions are hidden
 * in the module): the uri forms and their defaults, namenodes, the three
 * ways to authenticate and that only one may be chosen, the delegation
 * token file (trimmed; refused when it is not a token, without ever being
 * quoted), ca_file, durations and counts in range, and the message of each
 * refusal, which names the file and line.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cachenode/backends/webhdfs/conf.c"
#include "cachenode/backends/webhdfs/url.c"
#include "test/helper_check.h"
#include "test/helper_proc.h"

/* Load uri with the NULL-terminated key, value pairs kv (lines 10, 11,
 * ...); c is loaded on success. */
static int load(wh_conf_t *c, const char *uri, const char *const *kv, char *err)
{
	sb_param_t p[16];
	size_t n = 0;
	sb_dataset_t ds = {.name = "d", .uri = uri, .config_path = "it.ini"};

	for (; kv && *kv; kv += 2, n++)
		p[n] = (sb_param_t){kv[0], kv[1], (int)(10 + n)};
	ds.params = p;
	ds.n_params = n;
	err[0] = '\0';
	return wh_conf_load(c, &ds, err, SB_ERR_MAX);
}

/* A file in this test's own temporary directory holding text. */
static char *file_with(const char *name, const char *text)
{
	char *path;

	if (asprintf(&path, "%s/%s", getenv("TMPDIR"), name) < 0)
		abort();
	SL_ASSERT(th_write_file(path, text, strlen(text)) == 0);
	return path;
}

START_TEST(test_uris)
{
	static const struct {
		const char *uri, *nn, *root;
	} t[] = {
		{"webhdfs://nn1:9870/data/imagenet", "http://nn1:9870",
		 "/data/imagenet"},
		{"webhdfs://nn1/data/", "http://nn1:9870", "/data"},
		{"swebhdfs://nn1/data", "https://nn1:9871", "/data"},
		{"webhdfs://10.0.0.5:50070", "http://10.0.0.5:50070", "/"},
		{"webhdfs://nn1:1/", "http://nn1:1", "/"},
		{"webhdfs://[::1]:9870/x y", "http://[::1]:9870", "/x y"},
		{"webhdfs://nn-1.example.com/a//",
		 "http://nn-1.example.com:9870", "/a"},
	};
	char err[SB_ERR_MAX];
	wh_conf_t c;

	for (size_t i = 0; i < SL_ARRAY_SIZE(t); i++) {
		ck_assert_msg(load(&c, t[i].uri, NULL, err) == 0, "%s: %s",
			      t[i].uri, err);
		ck_assert_uint_eq(c.n_nn, 1);
		ck_assert_str_eq(c.nn[0], t[i].nn);
		ck_assert_str_eq(c.root, t[i].root);
		ck_assert_int_eq(c.auth, WH_AUTH_NONE);
		ck_assert_int_eq(c.verify_reads, 1);
		ck_assert_uint_eq(c.http.timeout_ms, 30000);
		ck_assert_uint_eq(c.http.connect_timeout_ms, 5000);
		ck_assert_uint_eq(c.http.retries, 4);
		ck_assert_uint_eq(c.http.retry_base_ms, 100);
		wh_conf_fini(&c);
	}
}
END_TEST

START_TEST(test_bad_uris)
{
	static const char *const t[] = {
		"",
		"hdfs://nn1:8020/data",
		"s3://bucket/x",
		"webhdfs:///data",
		"webhdfs://nn1:0/x",
		"webhdfs://nn1:70000/x",
		"webhdfs://nn1:/x",
		"webhdfs://nn1:12a/x",
		"webhdfs://-nn1/x",
		"webhdfs://n n/x",
		"webhdfs://user@nn1/x",
		"webhdfs://[]/x",
		"webhdfs://nn1/a//b",
		"webhdfs://nn1/a/../b",
		"webhdfs://nn1/a/./b",
		"webhdfs://nn1/a?op=OPEN",
		"webhdfs://nn1/a#b",
		"webhdfs://nn1/a\nb",
		"webhdfs://nn1/a\rb",
	};
	char err[SB_ERR_MAX];
	wh_conf_t c;

	for (size_t i = 0; i < SL_ARRAY_SIZE(t); i++) {
		ck_assert_msg(load(&c, t[i], NULL, err) == -EINVAL,
			      "'%s' taken", t[i]);
		ck_assert_msg(strncmp(err, "it.ini: [dataset d] uri", 23) == 0,
			      "%s: message '%s'", t[i], err);
		ck_assert_msg(!strpbrk(err, "\r\n"), "raw bytes: %s", err);
	}
}
END_TEST

START_TEST(test_namenodes)
{
	const char *pair[] = {"namenodes", " nn1:9870 ,nn2:9871", NULL};
	char err[SB_ERR_MAX];
	wh_conf_t c;

	ck_assert_int_eq(load(&c, "webhdfs://mycluster/data", pair, err), 0);
	ck_assert_uint_eq(c.n_nn, 2);
	ck_assert_str_eq(c.nn[0], "http://nn1:9870");
	ck_assert_str_eq(c.nn[1], "http://nn2:9871");
	wh_conf_fini(&c);
	ck_assert_int_eq(load(&c, "swebhdfs://mycluster/data", pair, err), 0);
	ck_assert_str_eq(c.nn[0], "https://nn1:9870");
	wh_conf_fini(&c);
	for (const char *const *v =
		     (const char *const[]){
			     "", "nn1:1,", "nn1:1,,nn2:2", "nn1:0", "nn 1:5",
			     "a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1,i:1", NULL};
	     *v; v++) {
		const char *kv[] = {"namenodes", *v, NULL};

		ck_assert_msg(load(&c, "webhdfs://ns/d", kv, err) == -EINVAL,
			      "'%s' taken", *v);
		ck_assert_msg(strstr(err, "it.ini:10: [dataset d] namenodes: "),
			      "message: %s", err);
	}
	ck_assert_int_eq(load(&c, "webhdfs://my cluster/d", pair, err),
			 -EINVAL);
	ck_assert_msg(strstr(err, "not a nameservice name"), "message: %s",
		      err);
}
END_TEST

START_TEST(test_auth)
{
	const char *user[] = {"user", "svc.train@EXAMPLE", NULL};
	const char *krb[] = {"kerberos", "yes", NULL};
	const char *nokrb[] = {"kerberos", "off", "user", "bob", NULL};
	char *tok = file_with("token", "  Tok_en-123\n\n");
	const char *token[] = {"delegation_token_file", tok, NULL};
	const char *two[] = {"user", "bob", "kerberos", "yes", NULL};
	const char *two_b[] = {"delegation_token_file", tok, "user", "bob",
			       NULL};
	char err[SB_ERR_MAX];
	wh_conf_t c;

	ck_assert_int_eq(load(&c, "webhdfs://nn/d", user, err), 0);
	ck_assert_int_eq(c.auth, WH_AUTH_USER);
	ck_assert_str_eq(c.user, "svc.train@EXAMPLE");
	wh_conf_fini(&c);
	ck_assert_int_eq(load(&c, "webhdfs://nn/d", krb, err), 0);
	ck_assert_int_eq(c.auth, WH_AUTH_KERBEROS);
	wh_conf_fini(&c);
	ck_assert_int_eq(load(&c, "webhdfs://nn/d", nokrb, err), 0);
	ck_assert_int_eq(c.auth, WH_AUTH_USER);
	wh_conf_fini(&c);
	ck_assert_int_eq(load(&c, "webhdfs://nn/d", token, err), 0);
	ck_assert_int_eq(c.auth, WH_AUTH_TOKEN);
	ck_assert_str_eq(c.token, "Tok_en-123");
	wh_conf_fini(&c);
	/* One way only. */
	ck_assert_int_eq(load(&c, "webhdfs://nn/d", two, err), -EINVAL);
	ck_assert_str_eq(err, "it.ini:11: [dataset d] kerberos: not with user: "
			      "choose one of user, delegation_token_file and "
			      "kerberos");
	ck_assert_int_eq(load(&c, "webhdfs://nn/d", two_b, err), -EINVAL);
	ck_assert_msg(strstr(err, "user: not with delegation_token_file"),
		      "message: %s", err);
	ck_assert_msg(!strstr(err, "Tok_en"), "the token: %s", err);
	for (const char *const *v =
		     (const char *const[]){"", "a b", "a\nb", "bob;rm", "%41",
					   NULL};
	     *v; v++) {
		const char *kv[] = {"user", *v, NULL};

		ck_assert_msg(load(&c, "webhdfs://nn/d", kv, err) == -EINVAL,
			      "'%s' taken", *v);
	}
	{
		const char *kv[] = {"kerberos", "maybe", NULL};

		ck_assert_int_eq(load(&c, "webhdfs://nn/d", kv, err), -EINVAL);
		ck_assert_msg(strstr(err, "'maybe' is not yes or no"),
			      "message: %s", err);
	}
	free(tok);
}
END_TEST

START_TEST(test_token_file)
{
	static const char *const bad[] = {
		"",
		"   \n",
		"two\nlines",
		"not-url-safe+/=SECRETPART",
		"quote\"SECRETPART",
	};
	char err[SB_ERR_MAX], *big = malloc(5000);
	wh_conf_t c;

	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
		char *f = file_with("bad-token", bad[i]);
		const char *kv[] = {"delegation_token_file", f, NULL};

		ck_assert_int_eq(load(&c, "webhdfs://nn/d", kv, err), -EINVAL);
		ck_assert_msg(strstr(err, "not a delegation token"),
			      "message: %s", err);
		ck_assert_msg(!strstr(err, "SECRETPART") && !strstr(err, "two"),
			      "the file is quoted: %s", err);
		free(f);
	}
	memset(big, 'A', 4999);
	big[4999] = '\0';
	{
		char *f = file_with("big-token", big);
		const char *kv[] = {"delegation_token_file", f, NULL};

		ck_assert_int_eq(load(&c, "webhdfs://nn/d", kv, err), -EINVAL);
		ck_assert_msg(strstr(err, "longer than 4096 bytes"),
			      "message: %s", err);
		ck_assert_msg(!strstr(err, "AAAA"), "quoted: %s", err);
		free(f);
	}
	{
		const char *kv[] = {"delegation_token_file", "/nonexistent/t",
				    NULL};

		ck_assert_int_eq(load(&c, "webhdfs://nn/d", kv, err), -ENOENT);
		ck_assert_str_eq(err, "it.ini:10: [dataset d] "
				      "delegation_token_file: /nonexistent/t: "
				      "No such file or directory");
	}
	{
		/* A later error must not quote an earlier token either. */
		char *f = file_with("token", "GoodToken_SECRETPART");
		const char *kv[] = {"delegation_token_file", f, "timeout",
				    "forever", NULL};

		ck_assert_int_eq(load(&c, "webhdfs://nn/d", kv, err), -EINVAL);
		ck_assert_msg(!strstr(err, "SECRETPART"), "quoted: %s", err);
		free(f);
	}
	free(big);
}
END_TEST

START_TEST(test_ca_file)
{
	char *ca = file_with("ca.pem", "-----BEGIN CERTIFICATE-----\n");
	const char *kv[] = {"ca_file", ca, NULL};
	const char *none[] = {"ca_file", "/nonexistent/ca.pem", NULL};
	char err[SB_ERR_MAX];
	wh_conf_t c;

	ck_assert_int_eq(load(&c, "swebhdfs://nn/d", kv, err), 0);
	ck_assert_str_eq(c.ca_file, ca);
	wh_conf_fini(&c);
	ck_assert_int_eq(load(&c, "webhdfs://nn/d", kv, err), -EINVAL);
	ck_assert_str_eq(err, "it.ini:10: [dataset d] ca_file: only with "
			      "swebhdfs:// (HTTPS)");
	ck_assert_int_eq(load(&c, "swebhdfs://nn/d", none, err), -EINVAL);
	ck_assert_msg(strstr(err, "No such file"), "message: %s", err);
	free(ca);
}
END_TEST

START_TEST(test_numbers)
{
	const char *ok[] = {
		"timeout",    "2s",  "connect_timeout", "500ms", "retries", "0",
		"retry_base", "1ms", "verify_reads",	"no",	 NULL};
	static const struct {
		const char *key, *value, *why;
	} bad[] = {
		{"timeout", "50ms", "out of range"},
		{"timeout", "2h", "out of range"},
		{"timeout", "soon", "not a duration"},
		{"connect_timeout", "1h", "longer than timeout"},
		{"retries", "21", "not a number 0..20"},
		{"retries", "-1", "not a number 0..20"},
		{"retries", "", "not a number 0..20"},
		{"retry_base", "0ms", "out of range"},
		{"verify_reads", "sometimes", "not yes or no"},
		{"bogus", "1",
		 "key 'bogus' unknown for backend webhdfs in "
		 "[dataset d] (known: namenodes, user"},
		{"endpoint", "http://x", "key 'endpoint' unknown"},
	};
	char err[SB_ERR_MAX];
	wh_conf_t c;

	ck_assert_int_eq(load(&c, "webhdfs://nn/d", ok, err), 0);
	ck_assert_uint_eq(c.http.timeout_ms, 2000);
	ck_assert_uint_eq(c.http.connect_timeout_ms, 500);
	ck_assert_uint_eq(c.http.retries, 0);
	ck_assert_uint_eq(c.http.retry_base_ms, 1);
	ck_assert_int_eq(c.verify_reads, 0);
	wh_conf_fini(&c);
	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
		const char *kv[] = {bad[i].key, bad[i].value, NULL};
		char want[64];

		ck_assert_int_eq(load(&c, "webhdfs://nn/d", kv, err), -EINVAL);
		ck_assert_msg(strstr(err, bad[i].why), "%s = %s: '%s'",
			      bad[i].key, bad[i].value, err);
		snprintf(want, sizeof(want), "it.ini:10: ");
		ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
			      "no line in '%s'", err);
	}
	{
		/* A connect timeout longer than a default timeout is cut. */
		const char *kv[] = {"timeout", "1s", NULL};

		ck_assert_int_eq(load(&c, "webhdfs://nn/d", kv, err), 0);
		ck_assert_uint_eq(c.http.connect_timeout_ms, 1000);
		wh_conf_fini(&c);
	}
}
END_TEST

int main(void)
{
	return th_check_run(
		TH_SUITE("webhdfs_conf",
			 {.name = "conf",
			  .tests = TH_TESTS(test_uris, test_bad_uris,
					    test_namenodes, test_auth,
					    test_token_file, test_ca_file,
					    test_numbers)}),
		&(th_check_opts_t){.tmp_tag = "webhdfs-conf"});
}
