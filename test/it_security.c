/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration: a real sluice-cachenode under security = curve, with keys
 * from `sluicectl keygen`, driven by protocol clients holding keys of
 * their own.  Covered: key files (modes; a secret key group may read is
 * refused at start, naming the path and the mode); a client without a
 * key, with a wrong key, with a key removed by SIGHUP: refused every
 * time, counted, the node alive; a correct key reads bytes equal to the
 * source; PEER_READ needs a node's key; the loopback-only default (a node
 * on another address without keys refuses to start, and starts with
 * security = none).
 */
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/keys.h"
#include "common/util.h"
#include "proto/proto.h"
#include "test/helper_check.h"
#include "test/helper_client.h"
#include "test/helper_cluster.h"
#include "test/helper_proc.h"

#define TIMEOUT	   10000
#define REFUSED_MS 600 /* how long a refused client waits for a reply */
#define ATTEMPTS   4

static char *tmp;
static pid_t node = -1;
static int port;
static char endpoint[64], conf[512], nlog[512];

static void tpath(char *out, size_t cap, const char *rel)
{
	snprintf(out, cap, "%s/%s", tmp, rel);
}

/* sluicectl keygen -o tmp/keys NAME. */
static void keygen(const char *name)
{
	char bin[512], dir[512], *out = NULL;
	char *argv[] = {bin, (char *)"keygen", (char *)"-o",
			dir, (char *)name,     NULL};

	snprintf(bin, sizeof(bin), "%s/sluicectl", th_build_dir());
	tpath(dir, sizeof(dir), "keys");
	ck_assert_int_eq(th_run_capture(argv, TIMEOUT, &out), 0);
	free(out);
}

static void read_pub(const char *name, char *z85)
{
	char p[512], err[256];

	snprintf(p, sizeof(p), "%s/keys/%s.pub", tmp, name);
	ck_assert_msg(sl_keys_read_public(p, z85, err, sizeof(err)) == 0, "%s",
		      err);
}

static void read_sec(const char *name, char *z85)
{
	char p[512], err[256], pub[SL_KEY_Z85_LEN + 1];

	snprintf(p, sizeof(p), "%s/keys/%s.key", tmp, name);
	ck_assert_msg(sl_keys_read_secret(p, z85, pub, err, sizeof(err)) == 0,
		      "%s", err);
}

/* Allow client key name (copy its .pub into tmp/allowed). */
static void allow(const char *name)
{
	char from[512], to[512], *buf;
	size_t len;

	snprintf(from, sizeof(from), "%s/keys/%s.pub", tmp, name);
	snprintf(to, sizeof(to), "%s/allowed/%s.pub", tmp, name);
	buf = th_read_file(from, &len);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(th_write_file(to, buf, len), 0);
	free(buf);
}

/* The config: [cluster] security (and more), n1 with its keys (and a
 * listed peer n2 that runs nowhere), dataset d1, then extra. */
static void write_conf_node(const char *security, const char *addr,
			    const char *node_extra, const char *extra)
{
	char text[4096];
	int n;

	n = snprintf(
		text, sizeof(text),
		"[cluster]\nname = itsec\nmodule_dir = %s\n%s\n"
		"allowed_clients = %s/allowed\n\n"
		"[node n1]\naddr = %s\nworkers = 2\n%s"
		"secret_key = %s/keys/n1.key\npublic_key = %s/keys/n1.pub\n\n"
		"[node n2]\naddr = tcp://127.0.0.1:1\n"
		"public_key = %s/keys/n2.pub\n\n"
		"[dataset d1]\nbackend = posix\nuri = file://%s/data\n"
		"block_size = 64K\n%s",
		th_build_dir(), security, tmp, addr, node_extra, tmp, tmp, tmp,
		tmp, extra);
	ck_assert_int_lt(n, (int)sizeof(text));
	ck_assert_int_eq(th_write_file(conf, text, strlen(text)), 0);
}

static void write_conf(const char *security, const char *addr,
		       const char *extra)
{
	write_conf_node(security, addr, "", extra);
}

static pid_t spawn_node(void)
{
	char bin[512];
	char *argv[] = {bin,	      (char *)"-c", conf, (char *)"--node",
			(char *)"n1", NULL};

	snprintf(bin, sizeof(bin), "%s/sluice-cachenode", th_build_dir());
	return th_proc_spawn(argv, nlog);
}

/* A client of n1 holding key name ("" : none). */
static th_client_t *client(const char *name, int timeout_ms)
{
	char server[SL_KEY_Z85_LEN + 1], sec[SL_KEY_Z85_LEN + 1];

	if (!name[0])
		return th_client_new(endpoint, timeout_ms);
	read_pub("n1", server);
	read_sec(name, sec);
	return th_client_new_keyed(endpoint, timeout_ms, server, NULL, sec);
}

/* Start n1 and wait until alice's HELLO is answered. */
static void start_node(void)
{
	uint64_t deadline = sl_now_ms() + TIMEOUT;
	th_client_t *c;
	pr_hello_t h;
	th_reply_t r;
	int rc = -1;

	node = spawn_node();
	ck_assert_int_gt(node, 0);
	c = client("alice", 300);
	ck_assert_ptr_nonnull(c);
	while (rc != 0 && sl_now_ms() < deadline) {
		ck_assert_msg(th_proc_alive(node), "node died at start");
		rc = th_client_hello(c, &h, &r);
		pr_hello_free(&h);
		th_reply_free(&r);
	}
	th_client_destroy(&c);
	ck_assert_msg(rc == 0, "node did not answer alice's HELLO: %d", rc);
}

static void setup(void)
{
	char p[512];
	uint8_t data[100000];

	tmp = th_tmpdir("it-sec");
	ck_assert_ptr_nonnull(tmp);
	port = th_free_port();
	ck_assert_int_gt(port, 0);
	snprintf(endpoint, sizeof(endpoint), "tcp://127.0.0.1:%d", port);
	tpath(conf, sizeof(conf), "cluster.conf");
	tpath(nlog, sizeof(nlog), "node.log");
	tpath(p, sizeof(p), "keys");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	tpath(p, sizeof(p), "allowed");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	tpath(p, sizeof(p), "data");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 131 + (i >> 7));
	tpath(p, sizeof(p), "data/f.bin");
	ck_assert_int_eq(th_write_file(p, data, sizeof(data)), 0);
	keygen("n1");
	keygen("n2");
	keygen("alice");
	keygen("bob");
	keygen("mallory");
	allow("alice");
	allow("bob");
	write_conf("security = curve", endpoint, "");
}

static void teardown(void)
{
	if (node > 0)
		th_proc_kill(node);
	node = -1;
	th_rmtree(tmp);
	free(tmp);
	tmp = NULL;
}

/* STATS value name as alice sees it. */
static uint64_t stat_value(const char *name)
{
	th_client_t *c = client("alice", TIMEOUT);
	uint64_t v = 0;

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(th_client_stat_value(c, name, &v), 0);
	th_client_destroy(&c);
	return v;
}

/* ATTEMPTS fresh clients holding key name: none is answered, each within
 * its wait (never a hang); returns how many were refused. */
static int refused_attempts(const char *name)
{
	int refused = 0;

	for (int i = 0; i < ATTEMPTS; i++) {
		th_client_t *c = client(name, REFUSED_MS);
		pr_hello_t h;
		th_reply_t r;
		uint64_t t0 = sl_now_ms();
		int rc;

		ck_assert_ptr_nonnull(c);
		rc = th_client_hello(c, &h, &r);
		pr_hello_free(&h);
		th_reply_free(&r);
		th_client_destroy(&c);
		ck_assert_msg(rc < 0, "key '%s' was answered", name);
		ck_assert_uint_lt(sl_now_ms() - t0, REFUSED_MS + 5000);
		refused += rc == -ETIMEDOUT || rc == -EAGAIN || rc == -EACCES;
	}
	ck_assert(th_proc_alive(node));
	return refused;
}

/* alice reads f.bin's first block: bytes equal to the source. */
static void read_equal(const char *name)
{
	th_client_t *c = client(name, TIMEOUT);
	uint8_t buf[64 << 10], *src;
	size_t len;
	char p[512];
	ssize_t n;

	ck_assert_ptr_nonnull(c);
	tpath(p, sizeof(p), "data/f.bin");
	src = (uint8_t *)th_read_file(p, &len);
	n = th_client_read(c, "d1", "f.bin", "", 1, 0, 0, buf, sizeof(buf));
	ck_assert_int_eq(n, (ssize_t)(len - (64 << 10)));
	ck_assert_mem_eq(buf, src + (64 << 10), (size_t)n);
	free(src);
	th_client_destroy(&c);
}

/* Wait (bounded) until needle is in the node's log at least n times. */
static void wait_log(const char *needle, int n)
{
	uint64_t deadline = sl_now_ms() + TIMEOUT;

	while (th_count_in_file(nlog, needle) < n && sl_now_ms() < deadline)
		usleep(20000);
	ck_assert_msg(th_count_in_file(nlog, needle) >= n,
		      "'%s' not in the node's log", needle);
}

/* The HELLO status of a client holding key name. */
static int hello_of(th_client_t *c)
{
	pr_hello_t h;
	th_reply_t r;
	int rc = th_client_hello(c, &h, &r);

	pr_hello_free(&h);
	th_reply_free(&r);
	return rc;
}

START_TEST(test_key_files)
{
	char p[512], err[512], sec[64], pub[64], bin[512], dir[512],
		*out = NULL;
	char *argv[] = {bin, (char *)"keygen", (char *)"-o",
			dir, (char *)"alice",  NULL};
	struct stat st;
	int status;

	tpath(p, sizeof(p), "keys/alice.key");
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	tpath(p, sizeof(p), "keys/alice.pub");
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_size, SL_KEY_Z85_LEN + 1);
	/* keygen never overwrites a key. */
	read_pub("alice", pub);
	snprintf(bin, sizeof(bin), "%s/sluicectl", th_build_dir());
	tpath(dir, sizeof(dir), "keys");
	ck_assert_int_eq(th_run_capture(argv, TIMEOUT, &out), 1);
	free(out);
	read_pub("alice", sec);
	ck_assert_str_eq(pub, sec);
	/* A public key file that is no key. */
	tpath(p, sizeof(p), "keys/junk.pub");
	ck_assert_int_eq(th_write_file(p, "not a key\n", 10), 0);
	ck_assert_int_eq(sl_keys_read_public(p, pub, err, sizeof(err)),
			 -EINVAL);
	/* A secret key its group may read: refused at start, with the path
	 * and the mode in the message. */
	tpath(p, sizeof(p), "keys/n1.key");
	ck_assert_int_eq(chmod(p, 0640), 0);
	ck_assert_int_eq(sl_keys_read_secret(p, sec, pub, err, sizeof(err)),
			 -EPERM);
	node = spawn_node();
	ck_assert_int_gt(node, 0);
	ck_assert_int_eq(th_proc_wait(node, TIMEOUT, &status), 0);
	node = -1;
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0);
	ck_assert_int_ge(th_count_in_file(nlog, p), 1);
	ck_assert_int_ge(th_count_in_file(nlog, "mode 0640"), 1);
	ck_assert_int_eq(chmod(p, 0600), 0);
	start_node();
}
END_TEST

/* No key, a wrong key: refused every time, counted, never a hang; then
 * a correct key reads the source's bytes. */
START_TEST(test_refusals_and_a_read)
{
	uint64_t refused0;
	int none, wrong;

	start_node();
	refused0 = stat_value("sluice_auth_refused_total");
	none = refused_attempts("");
	wrong = refused_attempts("mallory");
	ck_assert_int_eq(none, ATTEMPTS);
	ck_assert_int_eq(wrong, ATTEMPTS);
	/* Every wrong key's handshake was put to the ZAP handler and
	 * refused (ZeroMQ retries a refused one: at least one each). */
	ck_assert_uint_ge(stat_value("sluice_auth_refused_total") - refused0,
			  ATTEMPTS);
	read_equal("alice");
	read_equal("bob");
	ck_assert(th_proc_alive(node));
}
END_TEST

/* PEER_READ: a client's key is refused EACCES, an unknown key never gets
 * through the handshake, a node's key is served. */
START_TEST(test_peer_read_needs_a_node_key)
{
	th_client_t *c;
	pr_buf_t b;
	int rc;

	start_node();
	c = client("alice", TIMEOUT);
	ck_assert_int_eq(th_encode_read(&b, "d1", th_client_layout(c, "d1"),
					"f.bin", "", 0, 0, 0),
			 0);
	for (int i = 0; i < ATTEMPTS; i++)
		ck_assert_int_eq(
			th_client_call(c, PR_OP_PEER_READ, b.data, b.len, NULL),
			-EACCES);
	th_client_destroy(&c);
	c = client("mallory", REFUSED_MS);
	rc = th_client_call(c, PR_OP_PEER_READ, b.data, b.len, NULL);
	ck_assert_msg(rc == -ETIMEDOUT || rc == -EAGAIN, "mallory: %d", rc);
	th_client_destroy(&c);
	/* n2's key: a node's, so a PEER_READ (nothing cached: ENODATA). */
	c = client("n2", TIMEOUT);
	ck_assert_int_eq(
		th_client_call(c, PR_OP_PEER_READ, b.data, b.len, NULL),
		-ENODATA);
	th_client_destroy(&c);
	pr_buf_fini(&b);
	ck_assert_uint_ge(stat_value("sluice_access_denied_total"), ATTEMPTS);
	ck_assert(th_proc_alive(node));
}
END_TEST

/* bob's key removed, SIGHUP: his open connection is closed, his requests
 * and new connections are refused from then on; alice reads on. */
START_TEST(test_sighup_removes_a_key)
{
	th_client_t *b_old;
	char p[512];
	int rc;

	start_node();
	b_old = client("bob", TIMEOUT);
	ck_assert_int_eq(hello_of(b_old), 0);
	tpath(p, sizeof(p), "allowed/bob.pub");
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(kill(node, SIGHUP), 0);
	wait_log("keys removed from the allow-list", 1);
	ck_assert_int_eq(th_count_in_file(nlog, "closed 0 connections"), 0);
	/* The old connection: closed, and bob cannot come back on it. */
	for (int i = 0; i < ATTEMPTS; i++) {
		th_client_set_timeout(b_old, REFUSED_MS);
		rc = hello_of(b_old);
		ck_assert_msg(rc == -ETIMEDOUT || rc == -EAGAIN ||
				      rc == -EACCES,
			      "bob's old connection: %d", rc);
	}
	th_client_destroy(&b_old);
	ck_assert_int_eq(refused_attempts("bob"), ATTEMPTS);
	read_equal("alice");
	ck_assert(th_proc_alive(node));
}
END_TEST

/* The wire gate under CURVE: a request of the largest size is answered
 * (here: HELLO takes no body), one larger gets its connection cut. */
START_TEST(test_curve_sizes)
{
	static uint8_t big[(64 << 10) + 4096];
	th_client_t *c;
	uint64_t cut0;

	start_node();
	cut0 = stat_value("sluice_connections_cut_total");
	c = client("alice", TIMEOUT);
	ck_assert_int_eq(th_client_call(c, PR_OP_HELLO, big, 64 << 10, NULL),
			 -EBADMSG);
	th_client_set_timeout(c, REFUSED_MS);
	ck_assert_int_eq(th_client_call(c, PR_OP_HELLO, big, sizeof(big), NULL),
			 -ETIMEDOUT);
	th_client_destroy(&c);
	ck_assert_uint_ge(stat_value("sluice_connections_cut_total"), cut0 + 1);
	read_equal("alice");
}
END_TEST

/* Without keys a node serves on loopback only; security = none lifts
 * that, said explicitly. */
START_TEST(test_loopback_default)
{
	char addr[64];
	int status;

	snprintf(addr, sizeof(addr), "tcp://0.0.0.0:%d", port);
	write_conf("", addr, "");
	node = spawn_node();
	ck_assert_int_gt(node, 0);
	ck_assert_int_eq(th_proc_wait(node, TIMEOUT, &status), 0);
	node = -1;
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0);
	ck_assert_int_ge(th_count_in_file(nlog, "is not a loopback address"),
			 1);
	write_conf("security = none", addr, "");
	node = spawn_node();
	ck_assert_int_gt(node, 0);
	{
		th_client_t *c = th_client_new(endpoint, TIMEOUT);
		uint64_t deadline = sl_now_ms() + TIMEOUT;
		int rc = -1;

		while (rc != 0 && sl_now_ms() < deadline)
			rc = hello_of(c);
		ck_assert_int_eq(rc, 0);
		th_client_destroy(&c);
	}
}
END_TEST

/* Whether HELLO as key name sees dataset ds. */
static int sees(const char *name, const char *ds)
{
	th_client_t *c = client(name, TIMEOUT);
	pr_hello_t h;
	th_reply_t r;
	int found = 0;

	ck_assert_int_eq(th_client_hello(c, &h, &r), 0);
	for (uint32_t i = 0; i < h.n_datasets; i++)
		found |= h.datasets[i].name.len == strlen(ds) &&
			 memcmp(h.datasets[i].name.ptr, ds, strlen(ds)) == 0;
	pr_hello_free(&h);
	th_reply_free(&r);
	th_client_destroy(&c);
	return found;
}

/* A LOAD (parallel 1) or an EVICT of all of dataset: the status. */
static int walk_call(th_client_t *c, uint8_t op, const char *dataset)
{
	pr_load_req_t l = {
		.dataset = pr_str(dataset), .load_id = 1, .parallel = 1};
	pr_target_t t = {.dataset = pr_str(dataset)};
	th_reply_t r;
	pr_buf_t b;
	int rc;

	pr_buf_init(&b);
	rc = op == PR_OP_LOAD ? pr_load_req_encode(&b, &l)
			      : pr_target_encode(&b, &t);
	ck_assert_int_eq(rc, 0);
	rc = th_client_call(c, op, b.data, b.len, &r);
	th_reply_free(&r);
	pr_buf_fini(&b);
	return rc;
}

/* [dataset d2] allow = alice: bob does not see it, and every request of
 * his for it (LOAD and EVICT too) is refused EACCES; alice sees it and
 * reads it. */
START_TEST(test_dataset_allow)
{
	char extra[512], p[512];
	th_client_t *c;
	th_stat_t st;
	pr_list_reply_t lr;
	th_reply_t r;
	uint8_t buf[256];
	uint64_t denied0;
	int refused = 0, tries = 0;

	tpath(p, sizeof(p), "data2");
	ck_assert_int_eq(mkdir(p, 0755), 0);
	tpath(p, sizeof(p), "data2/g.txt");
	ck_assert_int_eq(th_write_file(p, "only for alice\n", 15), 0);
	snprintf(extra, sizeof(extra),
		 "\n[dataset d2]\nbackend = posix\nuri = file://%s/data2\n"
		 "allow = alice\n",
		 tmp);
	write_conf("security = curve", endpoint, extra);
	start_node();
	ck_assert(sees("alice", "d2"));
	ck_assert(sees("alice", "d1"));
	ck_assert(!sees("bob", "d2"));
	ck_assert(sees("bob", "d1"));
	denied0 = stat_value("sluice_access_denied_total");
	c = client("bob", TIMEOUT);
	for (int i = 0; i < ATTEMPTS; i++) {
		tries += 3;
		refused += th_client_stat(c, "d2", "g.txt", &st) == -EACCES;
		refused +=
			th_client_list(c, "d2", "", "", 10, &lr, &r) == -EACCES;
		th_reply_free(&r);
		refused += th_client_read(c, "d2", "g.txt", "", 0, 0, 0, buf,
					  sizeof(buf)) == -EACCES;
		/* Nor may he warm or drop it (LOAD, EVICT). */
		tries += 2;
		refused += walk_call(c, PR_OP_LOAD, "d2") == -EACCES;
		refused += walk_call(c, PR_OP_EVICT, "d2") == -EACCES;
	}
	ck_assert_int_eq(refused, tries);
	ck_assert_int_eq(th_client_read(c, "d1", "f.bin", "", 0, 0, 16, buf,
					sizeof(buf)),
			 16);
	th_client_destroy(&c);
	ck_assert_uint_eq(stat_value("sluice_access_denied_total") - denied0,
			  (uint64_t)tries);
	c = client("alice", TIMEOUT);
	ck_assert_int_eq(
		th_client_read(c, "d2", "g.txt", "", 0, 0, 0, buf, sizeof(buf)),
		15);
	ck_assert_mem_eq(buf, "only for alice\n", 15);
	th_client_destroy(&c);
	ck_assert(th_proc_alive(node));
}
END_TEST

/* Whether any of the secrets is in text[0..len). */
static int leaks(const char *text, size_t len)
{
	static const char *const secrets[] = {
		"wJalrXUtnFEMIsecretK7MDENGbPxRfiCYEXAMPLEKEY",
		"IQoJb3JpZ2luSessionTokenSECRET0123456789",
		"HDFSdelegationTokenSECRETabcdefgh0123456789",
	};

	for (size_t i = 0; i < SL_ARRAY_SIZE(secrets); i++)
		if (text && memmem(text, len, secrets[i], strlen(secrets[i])))
			return 1;
	return 0;
}

/* S3 secrets and a WebHDFS token are in no HELLO, STATS, metrics page,
 * log line or sluicectl output, also after requests that fail. */
START_TEST(test_credentials_stay_secret)
{
	char p[512], extra[2048], mport[64], url[128], bin[512], *out = NULL;
	th_client_t *c;
	th_reply_t r;
	pr_hello_t h;
	size_t len;
	uint8_t buf[256];
	int mp = th_free_port();

	tpath(p, sizeof(p), "s3.cred");
	{
		static const char cred[] =
			"[default]\naws_access_key_id = AKIDEXAMPLE\n"
			"aws_secret_access_key = "
			"wJalrXUtnFEMIsecretK7MDENGbPxRfiCYEXAMPLEKEY\n"
			"aws_session_token = "
			"IQoJb3JpZ2luSessionTokenSECRET0123456789\n";

		ck_assert_int_eq(th_write_file(p, cred, strlen(cred)), 0);
	}
	out = th_read_file(p, &len);
	ck_assert(leaks(out, len)); /* what the check looks for */
	free(out);
	tpath(p, sizeof(p), "hdfs.token");
	ck_assert_int_eq(
		th_write_file(
			p, "HDFSdelegationTokenSECRETabcdefgh0123456789\n", 44),
		0);
	snprintf(extra, sizeof(extra),
		 "\n[dataset s3d]\nbackend = s3\nuri = s3://bucket/pre/\n"
		 "endpoint = http://127.0.0.1:1\ncredentials = %s/s3.cred\n"
		 "\n[dataset hd]\nbackend = webhdfs\n"
		 "uri = webhdfs://127.0.0.1:1/data\n"
		 "delegation_token_file = %s/hdfs.token\n"
		 "\n[client]\nsecret_key = %s/keys/alice.key\n",
		 tmp, tmp, tmp);
	snprintf(mport, sizeof(mport), "metrics_addr = 127.0.0.1:%d\n", mp);
	write_conf_node("security = curve", endpoint, mport, extra);
	start_node();
	c = client("alice", TIMEOUT);
	ck_assert_int_eq(th_client_hello(c, &h, &r), 0);
	ck_assert(!leaks((const char *)r.body, r.len));
	pr_hello_free(&h);
	th_reply_free(&r);
	/* Requests that reach the stores (refused connections): errors
	 * logged, with no secret in them. */
	ck_assert_int_lt(
		th_client_read(c, "s3d", "x", "", 0, 0, 0, buf, sizeof(buf)),
		0);
	ck_assert_int_lt(
		th_client_read(c, "hd", "x", "", 0, 0, 0, buf, sizeof(buf)), 0);
	ck_assert_int_eq(th_client_call(c, PR_OP_STATS, NULL, 0, &r), 0);
	ck_assert(!leaks((const char *)r.body, r.len));
	th_reply_free(&r);
	th_client_destroy(&c);
	{
		char *argv[] = {(char *)"/usr/bin/curl", (char *)"-sf", url,
				NULL};

		snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", mp);
		ck_assert_int_eq(th_run_capture(argv, TIMEOUT, &out), 0);
		ck_assert_ptr_nonnull(strstr(out, "sluice_"));
		ck_assert(!leaks(out, strlen(out)));
		free(out);
	}
	snprintf(bin, sizeof(bin), "%s/sluicectl", th_build_dir());
	for (int i = 0; i < 3; i++) {
		static const char *const cmds[] = {"status", "stats", "ring"};
		char line[2048];
		char *argv[] = {(char *)"/bin/sh", (char *)"-c", line, NULL};

		/* stdout and stderr both, -v for every log line. */
		snprintf(line, sizeof(line), "'%s' -c '%s' -v -v %s 2>&1", bin,
			 conf, cmds[i]);
		ck_assert_int_ge(th_run_capture(argv, TIMEOUT, &out), 0);
		ck_assert_ptr_nonnull(out);
		ck_assert(!leaks(out, strlen(out)));
		free(out);
	}
	out = th_read_file(nlog, &len);
	ck_assert_ptr_nonnull(out);
	ck_assert(!leaks(out, len));
	free(out);
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE(
		"it_security",
		{.name = "curve",
		 .tests = TH_TESTS(test_key_files, test_refusals_and_a_read,
				   test_peer_read_needs_a_node_key,
				   test_sighup_removes_a_key,
				   test_loopback_default,
				   test_credentials_stay_secret,
				   test_dataset_allow, test_curve_sizes),
		 .timeout = 300,
		 .setup = setup,
		 .teardown = teardown});

	return th_check_run(s, &(th_check_opts_t){.tmp_tag = "it-security"});
}
