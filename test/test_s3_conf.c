/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the s3 backend's open(): the dataset keys and the
 * credentials, through the module's public ABI (sluice_backend_s3.so from
 * $SLUICE_BUILD, dlopen()ed).  No request is made: open() only validates.
 * Each bad configuration must give -EINVAL with one message that names the
 * file, the line and the key; credentials come from a shared-credentials
 * file (with profiles) or the AWS environment variables; and no message
 * ever quotes a secret, even from a malformed credentials file.  One case
 * makes requests, to a fake endpoint in a thread: a version carrying CR/LF
 * (from a hostile peer) is refused before anything is sent, so no header
 * or second request can be smuggled onto the node's signed connection.
 */
#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"
#include "sluice/backend.h"
#include "test/helper_check.h"

#define SECRET "TopSecret/abc+def=0123456789ABCDEFGHIJKLMN"

static const sb_ops_t *ops;
static char tmpdir[] = "/tmp/sluice-s3conf-XXXXXX";

static char *write_tmp(const char *name, const char *text)
{
	char *path = malloc(strlen(tmpdir) + strlen(name) + 2);
	FILE *f;

	sprintf(path, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	SL_ASSERT(f);
	fputs(text, f);
	fclose(f);
	return path;
}

/*
 * open() a dataset "t" of "u.ini" on uri with the NULL-terminated key,
 * value pairs of kv (key i on line 10 + i); the state is closed again.
 */
static int try_open(const char *uri, const char *const *kv, char *err)
{
	sb_param_t p[16];
	size_t n = 0;
	sb_dataset_t ds = {.name = "t",
			   .uri = uri,
			   .config_path = "u.ini",
			   .block_size = 4u << 20};
	void *st = NULL;
	int rc;

	for (; kv && kv[2 * n]; n++)
		p[n] = (sb_param_t){kv[2 * n], kv[2 * n + 1], (int)(10 + n)};
	ds.n_params = n;
	ds.params = p;
	err[0] = '\0';
	rc = ops->open(&ds, &st, err, SB_ERR_MAX);
	if (rc == 0) {
		ck_assert_ptr_nonnull(st);
		ops->close(st);
	}
	ck_assert_msg(!strstr(err, SECRET) && !strstr(err, "Secret"),
		      "a secret in '%s'", err);
	return rc;
}

#define KV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The open fails with -EINVAL and a message starting with prefix and
 * containing frag. */
static void expect_bad(const char *uri, const char *const *kv,
		       const char *prefix, const char *frag)
{
	char err[SB_ERR_MAX];
	int rc = try_open(uri, kv, err);

	ck_assert_msg(rc == -EINVAL, "%s: open gave %d (%s)", frag, rc, err);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
		      "'%s' does not start with '%s'", err, prefix);
	ck_assert_msg(strstr(err, frag), "'%s' lacks '%s'", err, frag);
}

static char *good_creds(void)
{
	return write_tmp("cred", "[default]\n"
				 "aws_access_key_id = AKIAEXAMPLE\n"
				 "aws_secret_access_key = " SECRET "\n"
				 "\n"
				 "# a comment\n"
				 "; another\n"
				 "[profile other]\n"
				 "aws_access_key_id=AKIAOTHER\n"
				 "aws_secret_access_key=" SECRET "\n"
				 "aws_session_token=" SECRET "\n"
				 "region = eu-west-1\n");
}

START_TEST(test_valid)
{
	char *cred = good_creds(), err[SB_ERR_MAX];

	ck_assert_int_eq(try_open("s3://bucket/imagenet/",
				  KV("endpoint", "http://10.0.0.5:9000",
				     "credentials", cred),
				  err),
			 0);
	/* Every key, and the "[profile NAME]" form. */
	ck_assert_int_eq(
		try_open("s3://my.bucket-1/a/b",
			 KV("endpoint", "https://minio.example:9000/", "region",
			    "eu-west-1", "credentials", cred, "profile",
			    "other", "path_style", "true", "ca_bundle",
			    "/etc/ssl/certs/ca-certificates.crt", "timeout",
			    "45s", "connect_timeout", "2s", "retries", "0",
			    "retry_base", "250ms"),
			 err),
		0);
	/* AWS itself (default endpoint), bucket root. */
	ck_assert_int_eq(try_open("s3://bucket", KV("credentials", cred), err),
			 0);
	ck_assert_int_eq(try_open("s3://bucket/", KV("anonymous", "yes"), err),
			 0);
	free(cred);
}
END_TEST

START_TEST(test_unknown_key)
{
	char *cred = good_creds();

	expect_bad("s3://b/p/", KV("credentials", cred, "bogus", "1"),
		   "u.ini:11: key 'bogus' unknown for backend s3",
		   "[dataset t]");
	expect_bad("s3://b/p/", KV("credentials", cred, "confine", "walk"),
		   "u.ini:11: key 'confine' unknown for backend s3",
		   "known: endpoint");
	free(cred);
}
END_TEST

START_TEST(test_bad_uri)
{
	char *cred = good_creds();
	const char *kv[] = {"credentials", cred, NULL};

	expect_bad("file:///data", kv, "u.ini: [dataset t]", "s3://BUCKET");
	expect_bad("s3://", kv, "u.ini: [dataset t]", "bucket name");
	expect_bad("s3:///prefix", kv, "u.ini: [dataset t]", "bucket name");
	expect_bad("s3://b a d/", kv, "u.ini: [dataset t]", "bucket name");
	expect_bad("s3://b/a//c/", kv, "u.ini: [dataset t]", "component");
	expect_bad("s3://b/a/../c/", kv, "u.ini: [dataset t]", "component");
	expect_bad("s3://b/./", kv, "u.ini: [dataset t]", "component");
	free(cred);
}
END_TEST

START_TEST(test_bad_values)
{
	char *c = good_creds();

	expect_bad("s3://b/", KV("credentials", c, "path_style", "maybe"),
		   "u.ini:11: [dataset t] path_style:", "true or false");
	expect_bad("s3://b/", KV("credentials", c, "timeout", "soon"),
		   "u.ini:11: [dataset t] timeout:", "not a duration");
	expect_bad("s3://b/", KV("credentials", c, "timeout", "50ms"),
		   "u.ini:11: [dataset t] timeout:", "out of range");
	expect_bad(
		"s3://b/",
		KV("credentials", c, "timeout", "1s", "connect_timeout", "5s"),
		"u.ini:12: [dataset t] connect_timeout:", "longer than");
	expect_bad("s3://b/", KV("credentials", c, "retries", "99"),
		   "u.ini:11: [dataset t] retries:", "0..20");
	expect_bad("s3://b/", KV("credentials", c, "retries", "-1"),
		   "u.ini:11: [dataset t] retries:", "0..20");
	expect_bad("s3://b/", KV("credentials", c, "retry_base", "0"),
		   "u.ini:11: [dataset t] retry_base:", "out of range");
	expect_bad("s3://b/", KV("region", "US_EAST", "credentials", c),
		   "u.ini:10: [dataset t] region:", "region name");
	expect_bad("s3://b/", KV("endpoint", "ftp://host", "credentials", c),
		   "u.ini:10: [dataset t] endpoint:", "http");
	expect_bad("s3://b/", KV("endpoint", "http://", "credentials", c),
		   "u.ini:10: [dataset t] endpoint:", "plain");
	expect_bad("s3://b/",
		   KV("endpoint", "http://user:pw@host", "credentials", c),
		   "u.ini:10: [dataset t] endpoint:", "plain");
	expect_bad("s3://b/", KV("profile", "x"),
		   "u.ini:10: [dataset t] profile:", "credentials = FILE");
	expect_bad("s3://b/", KV("anonymous", "true", "credentials", c),
		   "u.ini:11: [dataset t] credentials:", "anonymous");
	expect_bad("s3://b/", KV("credentials", ""),
		   "u.ini:10: [dataset t] credentials:", "empty");
	free(c);
}
END_TEST

START_TEST(test_credentials_file)
{
	char err[SB_ERR_MAX], *bad;
	char *none = write_tmp("cred-empty", "");
	int rc;

	/* A file that is not there: bad configuration, naming the path and
	 * why. */
	rc = try_open("s3://b/", KV("credentials", "/nonexistent/cred"), err);
	ck_assert_int_eq(rc, -EINVAL);
	ck_assert_msg(strstr(err, "u.ini:10: [dataset t]") &&
			      strstr(err, "/nonexistent/cred: No such file"),
		      "message: %s", err);
	/* An empty file: no such profile. */
	expect_bad("s3://b/", KV("credentials", none), "u.ini:10: [dataset t]",
		   "no profile [default]");
	bad = write_tmp("cred-noprof", "[default]\naws_access_key_id = A\n"
				       "aws_secret_access_key = " SECRET "\n");
	expect_bad("s3://b/", KV("credentials", bad, "profile", "prod"),
		   "u.ini:10: [dataset t]", "no profile [prod]");
	free(bad);
	bad = write_tmp("cred-nosecret", "[default]\naws_access_key_id = A\n");
	expect_bad("s3://b/", KV("credentials", bad), "u.ini:10: [dataset t]",
		   "needs aws_access_key_id and aws_secret_access_key");
	free(bad);
	/* A malformed line holding the secret: named by its line, never
	 * quoted (try_open checks that no message holds SECRET). */
	bad = write_tmp("cred-malformed", "[default]\n"
					  "aws_access_key_id = A\n"
					  "aws_secret_access_key "
					  "TopSecretWithoutAnEqualsSign\n");
	expect_bad("s3://b/", KV("credentials", bad), "u.ini:10: [dataset t]",
		   "cred-malformed:3: expected 'key = value'");
	free(bad);
	bad = write_tmp("cred-header", "[default\n" SECRET "\n");
	expect_bad("s3://b/", KV("credentials", bad), "u.ini:10: [dataset t]",
		   "cred-header:1: section header");
	free(bad);
	free(none);
}
END_TEST

START_TEST(test_environment)
{
	char err[SB_ERR_MAX];

	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	expect_bad("s3://b/", NULL, "u.ini: [dataset t]", "no credentials");
	setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
	expect_bad("s3://b/", NULL, "u.ini: [dataset t]", "no credentials");
	setenv("AWS_SECRET_ACCESS_KEY", SECRET, 1);
	setenv("AWS_SESSION_TOKEN", SECRET, 1);
	ck_assert_int_eq(try_open("s3://b/p/", NULL, err), 0);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
}
END_TEST

/* A fake S3 endpoint: answers every request on one connection with
 * 4 bytes "data" (ETag "abc") and keeps all it received. */
struct fake_s3 {
	int lfd;
	int port;
	char got[16384];
	size_t got_len;
	pthread_t th;
};

static void *fake_s3_main(void *arg)
{
	static const char reply[] = "HTTP/1.1 206 Partial Content\r\n"
				    "ETag: \"abc\"\r\n"
				    "Content-Range: bytes 0-3/4\r\n"
				    "Content-Length: 4\r\n\r\ndata";
	struct fake_s3 *f = arg;
	int fd = accept(f->lfd, NULL, NULL);

	while (fd >= 0 && f->got_len < sizeof(f->got) - 1) {
		ssize_t n = read(fd, f->got + f->got_len,
				 sizeof(f->got) - 1 - f->got_len);

		if (n <= 0)
			break;
		f->got_len += (size_t)n;
		f->got[f->got_len] = '\0';
		if (strstr(f->got, "\r\n\r\n") &&
		    write(fd, reply, sizeof(reply) - 1) < 0)
			break;
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}

static void fake_s3_start(struct fake_s3 *f)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);

	memset(f, 0, sizeof(*f));
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(f->lfd, 0);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(f->lfd, 4), 0);
	ck_assert_int_eq(getsockname(f->lfd, (struct sockaddr *)&a, &al), 0);
	f->port = ntohs(a.sin_port);
	ck_assert_int_eq(pthread_create(&f->th, NULL, fake_s3_main, f), 0);
}

START_TEST(test_version_cannot_inject_headers)
{
	static const char *const hostile[] = {
		"abc\r\nX-Injected-By: peer",
		"abc\"\r\n\r\nGET /bucket/other/secret.bin HTTP/1.1\r\nHost: x",
		"abc\nX-Injected-By: peer",
		"abc\x01",
	};
	struct fake_s3 f;
	char endpoint[64], err[SB_ERR_MAX], buf[4];
	sb_param_t p[2];
	sb_dataset_t ds = {.name = "t",
			   .uri = "s3://bucket/",
			   .config_path = "u.ini",
			   .block_size = 4u << 20,
			   .n_params = 2,
			   .params = p};
	void *st = NULL;

	fake_s3_start(&f);
	snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%d", f.port);
	p[0] = (sb_param_t){"endpoint", endpoint, 10};
	p[1] = (sb_param_t){"anonymous", "yes", 11};
	ck_assert_int_eq(ops->open(&ds, &st, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
		ck_assert_int_eq(ops->read(st, "f", hostile[i], 0, buf, 4, err,
					   sizeof(err)),
				 -EINVAL);
	/* The endpoint is real: a clean version reads its bytes. */
	ck_assert_int_eq(ops->read(st, "f", "abc", 0, buf, 4, err, sizeof(err)),
			 4);
	ck_assert(memcmp(buf, "data", 4) == 0);
	ops->close(st);
	pthread_join(f.th, NULL);
	close(f.lfd);
	ck_assert_msg(!strstr(f.got, "Injected") && !strstr(f.got, "secret"),
		      "smuggled: %s", f.got);
	ck_assert_ptr_nonnull(strstr(f.got, "If-Match: \"abc\""));
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE(
		"s3_conf",
		{.name = "core",
		 .tests = TH_TESTS(test_valid, test_unknown_key, test_bad_uri,
				   test_bad_values, test_credentials_file,
				   test_environment,
				   test_version_cannot_inject_headers)});
	const char *b = getenv("SLUICE_BUILD");
	char so[4096];
	void *dl;
	int rc;

	snprintf(so, sizeof(so), "%s/sluice_backend_s3.so",
		 b && *b ? b : "build");
	dl = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	ops = dl ? dlsym(dl, SB_OPS_SYMBOL) : NULL;
	if (!ops) {
		fprintf(stderr, "test_s3_conf: cannot load %s: %s\n", so,
			dlerror());
		return 1;
	}
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	rc = th_check_run(s, NULL);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			fprintf(stderr, "test_s3_conf: could not remove %s\n",
				tmpdir);
	}
	return rc;
}
