/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration: real sluice-cachenode processes on loopback ports, driven
 * with the protocol client.  Each test starts its own node from a fresh
 * tree and config and kills it by PID in the teardown whatever happened
 * (the node also dies with the test process: PR_SET_PDEATHSIG).
 *
 * Covered: HELLO; bytes equal to the source files for whole blocks,
 * ranges, the last short block and empty files; error statuses (missing
 * files, directories, bad datasets, stale versions, bad ranges, unknown
 * ops, another protocol version, malformed bodies, escaping symlinks);
 * 10,000 random and truncated messages (and raw TCP junk) leave the node
 * serving; /metrics scraped with curl shows the counters moving; SIGTERM
 * exits 0; SIGHUP with a broken config keeps serving and a good one
 * applies, a dataset reopened keeps its counters and one removed leaves
 * the metrics; LIST paging; PREFETCH and PEER_READ; the command line; and the
 * memory bound: peak RSS within ram_capacity + 64 MiB while reading a
 * dataset three times the capacity.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "common/util.h"
#include "proto/proto.h"
#include "proto/transport.h"
#include "test/helper_client.h"
#include "test/helper_fields.h"
#include "test/helper_proc.h"
#include "test/helper_check.h"

#define BS	(64u << 10) /* block size of dataset d1 */
#define TIMEOUT 10000

typedef struct node {
	pid_t pid;
	int port;
	int mport;
	char endpoint[64];
	char conf[512];
	char log[512];
} node_t;

static char *tmp; /* tmp/data = dataset d1, tmp/data2 = d2 */
static node_t nd;
static th_client_t *cli;

/* xorshift64* */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t s = seed | 1;

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(rnd(&s) >> 56);
}

static void tpath(char *out, size_t cap, const char *rel)
{
	snprintf(out, cap, "%s/%s", tmp, rel);
}

static void mkfile(const char *rel, size_t size, uint64_t seed)
{
	char p[1024];
	uint8_t *buf = malloc(size ? size : 1);

	fill_random(buf, size, seed);
	tpath(p, sizeof(p), rel);
	ck_assert_int_eq(th_write_file(p, buf, size), 0);
	free(buf);
}

static void mkdir_rel(const char *rel)
{
	char p[1024];

	tpath(p, sizeof(p), rel);
	ck_assert_int_eq(mkdir(p, 0755), 0);
}

static uint8_t *slurp(const char *rel, size_t *len)
{
	char p[1024];

	tpath(p, sizeof(p), rel);
	return (uint8_t *)th_read_file(p, len);
}

/* The cluster config: node n1 on nd's ports, d1 (lru, 64K blocks) and d2
 * (pin), then extra (more datasets, or "" ). */
static void write_conf(const char *ram, const char *extra)
{
	char text[4096];
	int n;

	n = snprintf(text, sizeof(text),
		     "[cluster]\nname = itc\nmodule_dir = %s\n\n"
		     "[node n1]\naddr = %s\nmetrics_addr = 127.0.0.1:%d\n"
		     "ram_capacity = %s\nworkers = 4\n\n"
		     "[dataset d1]\nbackend = posix\nuri = file://%s/data\n"
		     "block_size = 64K\npolicy = lru\n\n"
		     "[dataset d2]\nbackend = posix\nuri = file://%s/data2\n"
		     "block_size = 4K\npolicy = pin\nmetadata_ttl = 0\n%s",
		     th_build_dir(), nd.endpoint, nd.mport, ram, tmp, tmp,
		     extra);
	ck_assert_int_lt(n, (int)sizeof(text));
	ck_assert_int_eq(th_write_file(nd.conf, text, strlen(text)), 0);
}

static char *bin_path(void)
{
	static char p[512];

	snprintf(p, sizeof(p), "%s/sluice-cachenode", th_build_dir());
	return p;
}

/* Start the node on nd.conf and wait until it answers HELLO. */
static void node_start(void)
{
	char *argv[] = {bin_path(),	  (char *)"-c", nd.conf,
			(char *)"--node", (char *)"n1", NULL};
	int rc;

	nd.pid = th_proc_spawn(argv, nd.log);
	ck_assert_int_gt(nd.pid, 0);
	cli = th_client_await_node(nd.endpoint, nd.pid, TIMEOUT, &rc);
	ck_assert_msg(rc != -ESRCH, "node died at start");
	ck_assert_msg(cli, "node did not answer HELLO: %d", rc);
}

static void setup(void)
{
	tmp = th_tmpdir("it-cn");
	ck_assert_ptr_nonnull(tmp);
	memset(&nd, 0, sizeof(nd));
	nd.port = th_free_port();
	nd.mport = th_free_port();
	ck_assert_int_gt(nd.port, 0);
	ck_assert_int_gt(nd.mport, 0);
	snprintf(nd.endpoint, sizeof(nd.endpoint), "tcp://127.0.0.1:%d",
		 nd.port);
	tpath(nd.conf, sizeof(nd.conf), "cluster.conf");
	tpath(nd.log, sizeof(nd.log), "node.log");
	mkdir_rel("data");
	mkdir_rel("data2");
	mkfile("data/empty", 0, 1);
	mkfile("data/one.txt", 1, 2);
	mkfile("data/exact.bin", BS, 3);
	mkfile("data/multi.bin", 2 * BS + 40000, 4);
	mkdir_rel("data/dir");
	mkfile("data/dir/inner.txt", 5000, 5);
	mkfile("data2/p.bin", 10000, 6);
	mkdir_rel("outside");
	mkfile("outside/secret", 100, 7);
	{
		char p[1024];

		tpath(p, sizeof(p), "data/escape");
		ck_assert_int_eq(symlink("../outside/secret", p), 0);
	}
	write_conf("64M", "");
}

static void teardown(void)
{
	int status = -1, clean;
	char *log;

	th_client_destroy(&cli);
	/* Every node must also stop cleanly: SIGTERM, exit status 0 (which
	 * includes LeakSanitizer's verdict in a sanitizer build). */
	if (nd.pid > 0 && th_proc_alive(nd.pid)) {
		clean = th_proc_stop(nd.pid, SIGTERM, TIMEOUT, &status) == 0 &&
			WIFEXITED(status) && WEXITSTATUS(status) == 0;
		nd.pid = 0;
		if (!clean) {
			log = th_read_file(nd.log, NULL);
			fprintf(stderr, "node log:\n%s\n", log ? log : "");
			free(log);
		}
		ck_assert_msg(clean, "node did not stop cleanly: status %d",
			      status);
	}
	th_proc_kill(nd.pid);
	nd.pid = 0;
	th_tmpdir_done(&tmp);
}

static th_stat_t stat_ok(const char *ds, const char *path)
{
	th_stat_t st;

	ck_assert_msg(th_client_stat(cli, ds, path, &st) == 0, "stat %s: %s",
		      path, th_client_errmsg(cli));
	return st;
}

static uint64_t stats_value(const char *name)
{
	uint64_t v = 0;

	ck_assert_msg(th_client_stat_value(cli, name, &v) == 0, "no stat %s",
		      name);
	return v;
}

/* ---- Tests --------------------------------------------------------------- */

START_TEST(test_hello)
{
	pr_hello_t h;
	th_reply_t r;

	node_start();
	ck_assert_int_eq(th_client_hello(cli, &h, &r), 0);
	ck_assert(pr_str_eq(h.cluster, "itc"));
	ck_assert(pr_str_eq(h.node, "n1"));
	ck_assert_uint_ne(h.ring_version, 0);
	ck_assert_uint_eq(h.ring_version, r.h.ring_version);
	ck_assert_uint_eq(h.n_nodes, 1);
	ck_assert(pr_str_eq(h.nodes[0].addr, nd.endpoint));
	ck_assert_uint_eq(h.n_datasets, 2);
	ck_assert(pr_str_eq(h.datasets[0].name, "d1"));
	ck_assert(pr_str_eq(h.datasets[0].backend, "posix"));
	ck_assert_uint_eq(h.datasets[0].block_size, BS);
	ck_assert(pr_str_eq(h.datasets[0].policy, "lru"));
	ck_assert(pr_str_eq(h.datasets[1].policy, "pin"));
	pr_hello_free(&h);
	th_reply_free(&r);
}
END_TEST

/* Whole blocks, then ranges, of one file against its source bytes. */
static void check_file(const char *path)
{
	size_t len, nblocks;
	uint8_t *src = slurp(path + 0, &len);
	char rel[256];
	th_stat_t st;
	static uint8_t buf[BS];

	snprintf(rel, sizeof(rel), "%s", path + strlen("data/"));
	st = stat_ok("d1", rel);
	ck_assert_int_eq(st.type, PR_TYPE_FILE);
	ck_assert_uint_eq(st.size, len);
	nblocks = (len + BS - 1) / BS;
	for (size_t b = 0; b <= nblocks; b++) {
		size_t want =
			b * BS >= len ? 0 : SL_MIN((size_t)BS, len - b * BS);
		ssize_t n = th_client_read(cli, "d1", rel, st.version, b, 0, 0,
					   buf, sizeof(buf));

		ck_assert_msg(n == (ssize_t)want, "%s block %zu: %zd, want %zu",
			      rel, b, n, want);
		ck_assert(want == 0 || memcmp(buf, src + b * BS, want) == 0);
		/* A range that runs past EOF is cut there. */
		if (want > 10) {
			n = th_client_read(cli, "d1", rel, st.version, b, 7,
					   BS - 7, buf, sizeof(buf));
			ck_assert_int_eq(n, (ssize_t)want - 7);
			ck_assert_mem_eq(buf, src + b * BS + 7, want - 7);
			n = th_client_read(cli, "d1", rel, "", b, 3, 5, buf,
					   sizeof(buf));
			ck_assert_int_eq(n, 5);
			ck_assert_mem_eq(buf, src + b * BS + 3, 5);
		}
	}
	free(src);
}

START_TEST(test_read_bytes)
{
	static uint8_t buf[BS];
	uint64_t hits0;

	node_start();
	check_file("data/empty");
	check_file("data/one.txt");
	check_file("data/exact.bin");
	check_file("data/multi.bin");
	check_file("data/dir/inner.txt");
	/* Again: now from RAM, the same bytes. */
	hits0 = stats_value("sluice_cache_hits_total{tier=\"ram\"}");
	check_file("data/multi.bin");
	ck_assert_uint_gt(stats_value("sluice_cache_hits_total{tier=\"ram\"}"),
			  hits0);
	/* The last short block's tail, and a range starting past EOF. */
	ck_assert_int_eq(th_client_read(cli, "d1", "multi.bin", "", 2, 39990,
					100, buf, sizeof(buf)),
			 10);
	ck_assert_int_eq(th_client_read(cli, "d1", "multi.bin", "", 2, 50000,
					100, buf, sizeof(buf)),
			 0);
	ck_assert_int_eq(th_client_read(cli, "d1", "one.txt", "", 0, BS - 1, 1,
					buf, sizeof(buf)),
			 0);
	/* The pinned dataset, 4K blocks. */
	{
		size_t len;
		uint8_t *src = slurp("data2/p.bin", &len);

		ck_assert_int_eq(th_client_read(cli, "d2", "p.bin", "", 1, 0, 0,
						buf, sizeof(buf)),
				 4096);
		ck_assert_mem_eq(buf, src + 4096, 4096);
		ck_assert_int_eq(th_client_read(cli, "d2", "p.bin", "", 2, 0, 0,
						buf, sizeof(buf)),
				 1808);
		ck_assert_mem_eq(buf, src + 8192, 1808);
		free(src);
	}
}
END_TEST

/* A raw read request body, any bytes in the path. */
static size_t craft_read(uint8_t *out, const char *ds, const void *path,
			 size_t plen, const char *ver, uint64_t block)
{
	uint8_t *p = out;
	size_t dl = strlen(ds), vl = strlen(ver);

	sl_put_le16(p, (uint16_t)dl);
	memcpy(p + 2, ds, dl);
	p += 2 + dl;
	sl_put_le32(p, 1); /* the layout: these never get to be judged */
	p += 4;
	sl_put_le16(p, (uint16_t)plen);
	memcpy(p + 2, path, plen);
	p += 2 + plen;
	sl_put_le16(p, (uint16_t)vl);
	memcpy(p + 2, ver, vl);
	p += 2 + vl;
	sl_put_le64(p, block);
	sl_put_le32(p + 8, 0);
	sl_put_le32(p + 12, 0);
	return (size_t)(p + 16 - out);
}

START_TEST(test_errors)
{
	static uint8_t body[8192];
	uint8_t buf[256];
	char longp[5000];
	th_stat_t st;
	pr_list_reply_t lr;
	th_reply_t r;
	pr_read_req_t rq;
	size_t n;
	int rc;

	node_start();
	ck_assert_int_eq(th_client_stat(cli, "d1", "nope", &st), -ENOENT);
	ck_assert_int_eq(th_client_read(cli, "d1", "nope", "", 0, 0, 0, buf,
					sizeof(buf)),
			 -ENOENT);
	ck_assert_int_eq(th_client_read(cli, "d1", "nope", "s1-m1", 0, 0, 0,
					buf, sizeof(buf)),
			 -ENOENT);
	ck_assert_int_eq(
		th_client_read(cli, "d1", "dir", "", 0, 0, 0, buf, sizeof(buf)),
		-EISDIR);
	ck_assert_int_eq(th_client_read(cli, "d1", "dir", "s1-m1", 0, 0, 0, buf,
					sizeof(buf)),
			 -EISDIR);
	ck_assert_int_eq(stat_ok("d1", "dir").type, PR_TYPE_DIR);
	ck_assert_int_eq(th_client_stat(cli, "nosuch", "x", &st), -ENOENT);
	ck_assert_ptr_nonnull(strstr(th_client_errmsg(cli), "nosuch"));
	ck_assert_int_eq(th_client_read(cli, "nosuch", "x", "", 0, 0, 0, buf,
					sizeof(buf)),
			 -ENOENT);
	/* Ranges are within one block. */
	ck_assert_int_eq(th_client_read(cli, "d1", "multi.bin", "", 0, BS - 10,
					11, buf, sizeof(buf)),
			 -EINVAL);
	ck_assert_int_eq(th_client_read(cli, "d1", "multi.bin", "", 0, BS + 1,
					0, buf, sizeof(buf)),
			 -EINVAL);
	/* A version the file no longer has. */
	ck_assert_int_eq(th_client_read(cli, "d1", "multi.bin", "s1-m1", 0, 0,
					0, buf, sizeof(buf)),
			 -ESTALE);
	/* Symlinks out of the dataset. */
	ck_assert_int_eq(th_client_read(cli, "d1", "escape", "", 0, 0, 0, buf,
					sizeof(buf)),
			 -EACCES);
	ck_assert_int_eq(th_client_stat(cli, "d1", "escape", &st), -EACCES);
	/* LIST of a file, a cursor the node never made. */
	ck_assert_int_eq(th_client_list(cli, "d1", "one.txt", "", 10, &lr, &r),
			 -ENOTDIR);
	th_reply_free(&r);
	ck_assert_int_eq(th_client_list(cli, "d1", "", "zzz", 10, &lr, &r),
			 -EINVAL);
	th_reply_free(&r);
	/* Unknown ops; LOAD (served since protocol 6, it_load) without its
	 * body. */
	ck_assert_int_eq(th_client_call(cli, 42, NULL, 0, NULL), -EOPNOTSUPP);
	ck_assert_int_eq(th_client_call(cli, 0, NULL, 0, NULL), -EOPNOTSUPP);
	ck_assert_int_eq(th_client_call(cli, PR_OP_MAX + 1, NULL, 0, NULL),
			 -EOPNOTSUPP);
	ck_assert_int_eq(th_client_call(cli, PR_OP_LOAD, NULL, 0, NULL),
			 -EBADMSG);
	/* A body where none is taken; bodies that do not decode. */
	ck_assert_int_eq(th_client_call(cli, PR_OP_HELLO, "x", 1, NULL),
			 -EBADMSG);
	ck_assert_int_eq(th_client_call(cli, PR_OP_READ, "xyz", 3, NULL),
			 -EBADMSG);
	ck_assert_int_eq(th_client_call(cli, PR_OP_STAT, NULL, 0, NULL),
			 -EBADMSG);
	/* Paths the encoder would refuse, sent raw: the decoder's verdict
	 * (PROTOCOL.md section 8: -EBADMSG, -ENAMETOOLONG when too long). */
	{
		static const char *const bad[] = {"..", "../outside/secret",
						  "/etc/passwd", "a//b",
						  "dir/"};

		for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
			n = craft_read(body, "d1", bad[i], strlen(bad[i]), "",
				       0);
			ck_assert_int_eq(pr_read_req_decode(&rq, body, n),
					 -EBADMSG);
			rc = th_client_call(cli, PR_OP_READ, body, n, NULL);
			ck_assert_msg(rc == -EBADMSG, "'%s': %d", bad[i], rc);
		}
		n = craft_read(body, "d1", "one.txt\0/../../outside/secret", 30,
			       "", 0);
		ck_assert_int_eq(th_client_call(cli, PR_OP_READ, body, n, NULL),
				 -EBADMSG);
		memset(longp, 'a', sizeof(longp));
		n = craft_read(body, "d1", longp, 4096, "", 0);
		ck_assert_int_eq(th_client_call(cli, PR_OP_READ, body, n, NULL),
				 -ENAMETOOLONG);
	}
	/* Another protocol version. */
	{
		pr_header_t h = {.opcode = PR_OP_HELLO, .req_id = 999};
		uint8_t hdr[PR_HEADER_SIZE];

		ck_assert_int_eq(pr_header_encode(&h, hdr), 0);
		hdr[4] = PR_VERSION + 1;
		ck_assert_int_eq(
			zmq_send(th_client_socket(cli), hdr, sizeof(hdr), 0),
			(int)sizeof(hdr));
		ck_assert_int_eq(th_client_recv(cli, &r, TIMEOUT), 0);
		ck_assert_uint_eq(r.h.req_id, 999);
		ck_assert_int_eq(r.h.status, -EPROTONOSUPPORT);
		th_reply_free(&r);
	}
	/* PEER_READ answers from the cache only. */
	{
		pr_buf_t b;

		ck_assert_int_eq(th_encode_read(&b, "d1",
						th_client_layout(cli, "d1"),
						"exact.bin", "", 0, 0, 0),
				 0);
		ck_assert_int_eq(th_client_call(cli, PR_OP_PEER_READ, b.data,
						b.len, NULL),
				 -ENODATA);
		ck_assert_int_eq(th_client_read(cli, "d1", "exact.bin", "", 0,
						0, 16, buf, sizeof(buf)),
				 16);
		ck_assert_int_eq(
			th_client_call(cli, PR_OP_PEER_READ, b.data, b.len, &r),
			0);
		ck_assert_uint_eq(r.len, BS);
		ck_assert_mem_eq(r.body, buf, 16);
		th_reply_free(&r);
		pr_buf_fini(&b);
	}
	ck_assert(th_proc_alive(nd.pid));
}
END_TEST

/*
 * CR, LF, quotes, NUL and control bytes in every string field of every
 * request (READ, PREFETCH, PEER_READ and REPLICATE alike, DRAIN's node
 * too), sent raw (the encoder would refuse some): names, versions and
 * cursors are refused (-EBADMSG) before anything else happens, while a
 * path may hold any byte but NUL (it is a file name) and reaches the
 * backend as those very bytes.
 */
START_TEST(test_request_string_fields)
{
	static const char probes[] = {'\r',   '\n', '"', '\0', '\x01', '\x1b',
				      '\x7f', '\t', ' ', '\\', 'x'};
	static const char odd[] = "q\"u\r\no\x01te\x1b\x7f \\";
	static const uint8_t ops[] = {PR_OP_READ, PR_OP_PREFETCH,
				      PR_OP_PEER_READ, PR_OP_REPLICATE};
	size_t tried = 0, len;
	uint8_t buf[512], *src;
	pr_list_reply_t lr;
	th_stat_t st;
	th_reply_t r;
	char p[64];
	int found = 0;

	/* "imagenet" is the fields' default dataset; "odd" a file name. */
	snprintf(p, sizeof(p), "data/%s", odd);
	mkfile(p, 300, 77);
	{
		char extra[1024];

		snprintf(extra, sizeof(extra),
			 "\n[dataset imagenet]\nbackend = posix\n"
			 "uri = file://%s/data\n",
			 tmp);
		write_conf("64M", extra);
	}
	node_start();
	th_fields_set_layout(th_client_layout(cli, "imagenet"));
	for (size_t i = 0; i < th_n_fields; i++) {
		const th_field_t *f = &th_fields[i];
		const char *def = th_field_default(i);
		size_t dl = strlen(def), mid = dl / 2;

		if (!f->request)
			continue;
		for (size_t k = 0; k < sizeof(probes); k++) {
			char val[512];
			pr_buf_t b;
			int want, rc;

			memcpy(val, def, mid);
			val[mid] = probes[k];
			memcpy(val + mid + 1, def + mid, dl - mid);
			pr_buf_init(&b);
			th_field_raw(i, (pr_str_t){val, (uint32_t)dl + 1}, &b);
			/* Refused bytes; else a path that is not there, or
			 * a cursor the node never made. */
			want = -EBADMSG;
			if (probes[k] == 'x' ||
			    (f->kind == TH_PATH && probes[k]))
				want = f->kind == TH_CURSOR ? -EINVAL : -ENOENT;
			for (size_t o = 0; o < SL_ARRAY_SIZE(ops); o++) {
				uint8_t op =
					f->op == PR_OP_READ ? ops[o] : f->op;

				if (o && f->op != PR_OP_READ)
					break;
				rc = th_client_call(cli, op, b.data, b.len,
						    NULL);
				/* Of a dataset it has, a hint (a REPLICATE
				 * too) is acknowledged and PEER_READ looks in
				 * the cache only. */
				if (want == -ENOENT && f->kind != TH_NAME &&
				    (op == PR_OP_PREFETCH ||
				     op == PR_OP_REPLICATE ||
				     op == PR_OP_PEER_READ))
					ck_assert_msg(
						rc == (op == PR_OP_PEER_READ
							       ? -ENODATA
							       : 0),
						"%s %s 0x%02x (%s): %d", f->msg,
						f->field,
						(unsigned char)probes[k],
						pr_op_name(op), rc);
				else
					ck_assert_msg(rc == want,
						      "%s %s 0x%02x (%s): %d, "
						      "want %d",
						      f->msg, f->field,
						      (unsigned char)probes[k],
						      pr_op_name(op), rc, want);
				tried++;
			}
			pr_buf_fini(&b);
		}
	}
	printf("string fields: %zu raw requests answered as their rules "
	       "say\n",
	       tried);
	/* The odd name, end to end: listed, stat'ed and read as it is. */
	src = slurp(p, &len);
	st = stat_ok("d1", odd);
	ck_assert_uint_eq(st.size, 300);
	ck_assert_int_eq(th_client_read(cli, "d1", odd, st.version, 0, 0, 0,
					buf, sizeof(buf)),
			 300);
	ck_assert_mem_eq(buf, src, 300);
	ck_assert_int_eq(th_client_list(cli, "d1", "", "", 1024, &lr, &r), 0);
	for (uint32_t e = 0; e < lr.n_entries; e++)
		found |= pr_str_eq(lr.entries[e].name, odd);
	ck_assert(found);
	pr_list_reply_free(&lr);
	th_reply_free(&r);
	free(src);
	ck_assert(th_proc_alive(nd.pid));
}
END_TEST

START_TEST(test_garbage_keeps_serving)
{
	static uint8_t frame[4][512];
	uint64_t s = 0x5eed;
	void *sock;
	size_t sent = 0, replies = 0, len;
	th_reply_t r;
	uint8_t *src, buf[BS];
	pr_buf_t good;

	node_start();
	sock = th_client_socket(cli);
	ck_assert_int_eq(th_encode_read(&good, "d1",
					th_client_layout(cli, "d1"),
					"multi.bin", "", 1, 0, 0),
			 0);
	for (int i = 0; i < 10000; i++) {
		uint64_t kind = rnd(&s) % 6;
		pr_header_t h = {.opcode = (uint8_t)(rnd(&s) % 12),
				 .req_id = rnd(&s)};
		size_t nf = 1 + rnd(&s) % 4, fl;

		switch (kind) {
		case 0: /* random frames */
			for (size_t f = 0; f < nf; f++) {
				fl = rnd(&s) % 128;
				fill_random(frame[f], fl, rnd(&s));
				zmq_send(sock, frame[f], fl,
					 f + 1 < nf ? ZMQ_SNDMORE : 0);
			}
			break;
		case 1: /* a real header, a few bytes flipped */
			pr_header_encode(&h, frame[0]);
			for (int k = 0; k < 3; k++)
				frame[0][rnd(&s) % PR_HEADER_SIZE] ^=
					(uint8_t)(1 + rnd(&s) % 255);
			zmq_send(sock, frame[0], PR_HEADER_SIZE, 0);
			break;
		case 2: /* a valid request, truncated body (hash matches) */
			h.opcode = PR_OP_READ;
			pr_send(sock, NULL, &h, good.data,
				1 + rnd(&s) % (good.len - 1), 0);
			break;
		case 3: /* body announced, never sent */
			h.body_len = 10;
			h.body_hash = 1;
			pr_header_encode(&h, frame[0]);
			zmq_send(sock, frame[0], PR_HEADER_SIZE, 0);
			break;
		case 4: /* right header, wrong hash */
			h.opcode = PR_OP_READ;
			h.body_len = (uint32_t)good.len;
			h.body_hash = rnd(&s);
			pr_header_encode(&h, frame[0]);
			zmq_send(sock, frame[0], PR_HEADER_SIZE, ZMQ_SNDMORE);
			zmq_send(sock, good.data, good.len, 0);
			break;
		default: /* random bytes after a valid header */
			fl = rnd(&s) % 300;
			fill_random(frame[1], fl, rnd(&s));
			pr_send(sock, NULL, &h, frame[1], fl, 0);
			break;
		}
		sent++;
		/* Keep the reply queue short. */
		while (th_client_recv(cli, &r, 0) == 0) {
			replies++;
			th_reply_free(&r);
		}
	}
	/* Raw TCP junk that is not even ZMTP. */
	for (int k = 0; k < 5; k++) {
		struct sockaddr_in a = {0};
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		static uint8_t junk[65536];

		a.sin_family = AF_INET;
		a.sin_port = htons((uint16_t)nd.port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)),
				 0);
		fill_random(junk, sizeof(junk), (uint64_t)k + 77);
		(void)!write(fd, junk, sizeof(junk));
		close(fd);
	}
	while (th_client_recv(cli, &r, 500) == 0) {
		replies++;
		th_reply_free(&r);
	}
	printf("garbage: %zu messages sent, %zu error replies\n", sent,
	       replies);
	ck_assert_uint_gt(replies, 1000);
	ck_assert(th_proc_alive(nd.pid));
	/* Still serving, correctly. */
	src = slurp("data/multi.bin", &len);
	ck_assert_int_eq(th_client_read(cli, "d1", "multi.bin", "", 1, 0, 0,
					buf, sizeof(buf)),
			 BS);
	ck_assert_mem_eq(buf, src + BS, BS);
	free(src);
	ck_assert_uint_gt(stats_value("sluice_bad_messages_total"), 1000);
	pr_buf_fini(&good);
}
END_TEST

/* The value of one sample in Prometheus text, or -1. */
static long long sample(const char *text, const char *name)
{
	size_t nl = strlen(name);

	for (const char *p = text; (p = strstr(p, name)); p += nl) {
		if ((p == text || p[-1] == '\n') && p[nl] == ' ')
			return atoll(p + nl + 1);
	}
	return -1;
}

static char *scrape(void)
{
	char url[128], cmd[256], *out = NULL;
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", cmd, NULL};
	int rc;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", nd.mport);
	snprintf(cmd, sizeof(cmd), "curl -sSf --max-time 5 %s", url);
	rc = th_run_capture(argv, 10000, &out);
	ck_assert_msg(rc == 0, "curl %s: %d", url, rc);
	return out;
}

START_TEST(test_metrics_move)
{
	static const char *const names[] = {
		"sluice_requests_total{op=\"READ\",status=\"ok\"}",
		"sluice_cache_hits_total{tier=\"ram\"}",
		"sluice_cache_misses_total{tier=\"ram\"}",
		"sluice_bytes_served_total",
		"sluice_backend_reads_total",
		"sluice_backend_read_seconds_count",
	};
	long long before[6], after;
	uint8_t buf[BS];
	char *t0, *t1;

	node_start();
	t0 = scrape();
	for (size_t i = 0; i < SL_ARRAY_SIZE(names); i++) {
		before[i] = sample(t0, names[i]);
		ck_assert_msg(before[i] >= 0, "no %s in:\n%s", names[i], t0);
	}
	ck_assert_int_eq(sample(t0, "sluice_ram_capacity_bytes"), 64ll << 20);
	ck_assert_ptr_nonnull(strstr(t0, "# TYPE sluice_backend_read_seconds "
					 "histogram"));
	for (int k = 0; k < 2; k++)
		for (uint64_t b = 0; b < 3; b++)
			ck_assert_int_ge(th_client_read(cli, "d1", "multi.bin",
							"", b, 0, 0, buf,
							sizeof(buf)),
					 0);
	ck_assert_int_eq(th_client_read(cli, "d1", "nope", "", 0, 0, 0, buf,
					sizeof(buf)),
			 -ENOENT);
	t1 = scrape();
	for (size_t i = 0; i < SL_ARRAY_SIZE(names); i++) {
		after = sample(t1, names[i]);
		ck_assert_msg(after > before[i],
			      "%s did not move: %lld -> %lld", names[i],
			      before[i], after);
	}
	ck_assert_int_eq(sample(t1, "sluice_requests_total{op=\"READ\","
				    "status=\"ok\"}") -
				 before[0],
			 6);
	ck_assert_int_ge(sample(t1, "sluice_requests_total{op=\"READ\","
				    "status=\"ENOENT\"}"),
			 1);
	ck_assert_int_eq(sample(t1, "sluice_cache_hits_total{tier=\"ram\"}") -
				 before[1],
			 3);
	ck_assert_int_gt(sample(t1, "sluice_ram_used_bytes"), 2 * BS);
	ck_assert_int_eq(sample(t1, "sluice_requests_in_flight"), 0);
	/* STATS says the same. */
	ck_assert_uint_eq(stats_value("sluice_cache_hits_total{tier=\"ram\"}"),
			  (uint64_t)sample(t1, "sluice_cache_hits_total{tier="
					       "\"ram\"}"));
	free(t0);
	free(t1);
}
END_TEST

START_TEST(test_sigterm_exits_zero)
{
	int status = -1;
	pr_buf_t b;

	node_start();
	/* Some requests in flight as the signal lands. */
	ck_assert_int_eq(th_encode_read(&b, "d1", th_client_layout(cli, "d1"),
					"multi.bin", "", 0, 0, 0),
			 0);
	for (int i = 0; i < 20; i++)
		th_client_send(cli, PR_OP_READ, b.data, b.len);
	pr_buf_fini(&b);
	ck_assert_int_eq(th_proc_stop(nd.pid, SIGTERM, TIMEOUT, &status), 0);
	nd.pid = 0;
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

/* A node with n files big/fNNN of size bytes (contents by seed + NNN)
 * and a dataset "big" of 1 MiB blocks over them, ram_capacity ram. */
static void start_big(size_t n, size_t size, uint64_t seed, const char *ram)
{
	char name[64], extra[512];

	mkdir_rel("big");
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "big/f%03zu", i);
		mkfile(name, size, seed + i);
	}
	/* lru: these tests are about eviction under pressure, which auto
	 * would avoid by pinning a dataset larger than the node. */
	snprintf(extra, sizeof(extra),
		 "\n[dataset big]\nbackend = posix\nuri = file://%s/big\n"
		 "block_size = 1M\npolicy = lru\n",
		 tmp);
	write_conf(ram, extra);
	node_start();
}

/* A DEALER of a new context *ctx, connected to the node, that reads
 * slowly: a receive queue of one message and a tiny receive buffer, so
 * that the replies it does not read stay with the node. */
static void *slow_dealer(void **ctx)
{
	int one = 1, small = 4096, zero = 0;
	void *d;

	*ctx = zmq_ctx_new();
	d = zmq_socket(*ctx, ZMQ_DEALER);
	zmq_setsockopt(d, ZMQ_RCVHWM, &one, sizeof(one));
	zmq_setsockopt(d, ZMQ_RCVBUF, &small, sizeof(small));
	zmq_setsockopt(d, ZMQ_LINGER, &zero, sizeof(zero));
	ck_assert_int_eq(zmq_connect(d, nd.endpoint), 0);
	return d;
}

/* Send a READ-like op (id) of block 0 of big/fNNN on DEALER d, without
 * waiting for the reply. */
static void send_big(void *d, uint8_t op, uint64_t id, int file)
{
	pr_header_t h = {.opcode = op, .req_id = id};
	char name[16];
	pr_buf_t b;

	snprintf(name, sizeof(name), "f%03d", file);
	ck_assert_int_eq(th_encode_read(&b, "big", th_client_layout(cli, "big"),
					name, "", 0, 0, 0),
			 0);
	ck_assert_int_eq(pr_send(d, NULL, &h, b.data, b.len, 0), 0);
	pr_buf_fini(&b);
}

/*
 * One client that stops reading stalls only itself.  Client A sends 64
 * READs of cold 1 MiB blocks (more than the node's 32M RAM tier and its
 * 16 MiB for transient buffers) and never reads a reply, with its receive
 * buffers as small as they go, so that the replies stay with the node; client
 * B's cold reads must still be answered, each within 1 s.  Replies are sent
 * without copying and a block stays charged to the RAM tier until ZeroMQ lets
 * it go, so A once pinned the whole tier and B waited for memory until A went
 * away.
 */
START_TEST(test_slow_reader_stalls_only_itself)
{
	enum { A_READS = 64, B_READS = 8 };
	const size_t mib = 1u << 20;
	char name[64];
	uint64_t worst = 0;
	void *actx, *a;
	static uint8_t buf[1u << 20];

	start_big(A_READS + B_READS, mib, 500, "32M");
	a = slow_dealer(&actx);
	for (int i = 0; i < A_READS; i++)
		send_big(a, PR_OP_READ, 1000 + (uint64_t)i, i);
	usleep(1000000); /* A's replies are made, and stuck */
	for (int i = A_READS; i < A_READS + B_READS; i++) {
		uint64_t t0 = sl_now_ms(), dt;
		size_t len;
		uint8_t *src;
		ssize_t n;

		snprintf(name, sizeof(name), "f%03d", i);
		n = th_client_read(cli, "big", name, "", 0, 0, 0, buf,
				   sizeof(buf));
		dt = sl_now_ms() - t0;
		worst = SL_MAX(worst, dt);
		ck_assert_msg(n == (ssize_t)mib,
			      "B's read of %s: %zd after "
			      "%llu ms",
			      name, n, (unsigned long long)dt);
		snprintf(name, sizeof(name), "big/f%03d", i);
		src = slurp(name, &len);
		ck_assert_mem_eq(buf, src, mib);
		free(src);
		ck_assert_msg(dt < 1000, "B's cold read took %llu ms",
			      (unsigned long long)dt);
	}
	printf("slow reader: B's cold reads answered in %llu ms at most "
	       "while A sat on %d replies\n",
	       (unsigned long long)worst, A_READS);
	zmq_close(a);
	zmq_ctx_term(actx);
	ck_assert(th_proc_alive(nd.pid));
}
END_TEST

/*
 * A node asking this one for hand-offs (PEER_READ, members' peers.c) is a
 * sender like any client: one DEALER, one entry of the per-sender table.
 * Peer A asks for 64 cached 1 MiB blocks and reads no reply: the node
 * holds A's PEER_READs past A's reply-bytes cap (16 MiB for a 64M node)
 * instead of queuing 64 MiB of replies, client B's reads go on, and once
 * A reads, every one of its PEER_READs is answered with the right bytes.
 */
START_TEST(test_peer_reads_are_capped)
{
	enum { BLOCKS = 16, ASKS = 64 };
	const size_t mib = 1u << 20;
	char name[64];
	uint64_t held0, held;
	uint8_t *src[BLOCKS];
	void *actx, *a;
	static uint8_t buf[1u << 20];
	size_t len;

	start_big(BLOCKS + 1, mib, 700, "64M");
	for (int i = 0; i < BLOCKS; i++) { /* cached: PEER_READ can have them */
		snprintf(name, sizeof(name), "f%03d", i);
		ck_assert_int_eq(th_client_read(cli, "big", name, "", 0, 0, 0,
						buf, sizeof(buf)),
				 (ssize_t)mib);
		snprintf(name, sizeof(name), "big/f%03d", i);
		src[i] = slurp(name, &len);
	}
	held0 = stats_value("sluice_requests_held_total");
	a = slow_dealer(&actx);
	for (int i = 0; i < ASKS; i++)
		send_big(a, PR_OP_PEER_READ, 1 + (uint64_t)i, i % BLOCKS);
	usleep(1000000); /* A's first replies are stuck, the rest held */
	held = stats_value("sluice_requests_held_total") - held0;
	ck_assert_msg(held >= ASKS / 2, "%llu of A's %d PEER_READs held",
		      (unsigned long long)held, ASKS);
	ck_assert_uint_le(stats_value("sluice_reply_bytes"), 20 * mib);
	snprintf(name, sizeof(name), "f%03d", BLOCKS);
	ck_assert_int_eq(
		th_client_read(cli, "big", name, "", 0, 0, 0, buf, sizeof(buf)),
		(ssize_t)mib);
	for (int got = 0; got < ASKS; got++) {
		pr_msg_t m;

		pr_msg_init(&m);
		ck_assert_int_eq(pr_recv_until(a, &m, sl_now_ms() + 10000), 0);
		ck_assert_int_eq(m.h.status, 0);
		ck_assert_uint_ge(m.h.req_id, 1);
		ck_assert_uint_le(m.h.req_id, ASKS);
		ck_assert_uint_eq(pr_msg_body_len(&m), mib);
		ck_assert_mem_eq(pr_msg_body(&m),
				 src[(m.h.req_id - 1) % BLOCKS], mib);
		pr_msg_close(&m);
	}
	printf("peer reads: %llu of %d held at the sender's caps, all "
	       "answered\n",
	       (unsigned long long)held, ASKS);
	for (int i = 0; i < BLOCKS; i++)
		free(src[i]);
	zmq_close(a);
	zmq_ctx_term(actx);
	ck_assert(th_proc_alive(nd.pid));
}
END_TEST

/* Send frames of lens[0..n) bytes (the first a STAT header announcing
 * lens[1] body bytes) on a fresh DEALER: 1 when the node answered within
 * 2 s, 0 when it did not (its connection was cut). */
static int gate_probe(const size_t *lens, int n)
{
	static uint8_t fill[70000];
	void *ctx = zmq_ctx_new(), *d = zmq_socket(ctx, ZMQ_DEALER);
	pr_header_t h = {.opcode = PR_OP_STAT, .req_id = 7};
	uint8_t hdr[PR_HEADER_SIZE];
	int zero = 0, answered;
	pr_msg_t m;

	memset(fill, 'x', sizeof(fill));
	h.body_len = (uint32_t)lens[1];
	ck_assert_int_eq(pr_header_encode(&h, hdr), 0);
	zmq_setsockopt(d, ZMQ_LINGER, &zero, sizeof(zero));
	ck_assert_int_eq(zmq_connect(d, nd.endpoint), 0);
	ck_assert_int_eq(zmq_send(d, hdr, sizeof(hdr), ZMQ_SNDMORE),
			 (int)sizeof(hdr));
	for (int i = 1; i < n; i++)
		ck_assert_int_eq(
			zmq_send(d, fill, lens[i], i + 1 < n ? ZMQ_SNDMORE : 0),
			(int)lens[i]);
	pr_msg_init(&m);
	answered = pr_recv_until(d, &m, sl_now_ms() + 2000) == 0;
	if (answered)
		ck_assert_int_lt(m.h.status, 0);
	pr_msg_close(&m);
	zmq_close(d);
	zmq_ctx_term(ctx);
	return answered;
}

/*
 * The gate's bound on one message counts the 48-byte header: header plus
 * a 64 KiB body (the largest request body) is answered (-EBADMSG: no STAT
 * body), and so is the same total in three frames; one byte more in all
 * cuts the connection unanswered.  (With the 40-byte header of an older
 * protocol, a bound of 40 + 64 KiB would have cut the largest request.)
 */
START_TEST(test_gate_bound_counts_header)
{
	const size_t whole[] = {PR_HEADER_SIZE, 64u << 10};
	const size_t three[] = {PR_HEADER_SIZE, (64u << 10) - 1, 1};
	const size_t over[] = {PR_HEADER_SIZE, (64u << 10) - 1, 2};
	uint64_t cut0;

	write_conf("64M", "");
	node_start();
	cut0 = stats_value("sluice_connections_cut_total");
	ck_assert_msg(gate_probe(whole, 2), "header + 64 KiB was cut");
	ck_assert_msg(gate_probe(three, 3), "65,584 bytes in 3 frames was cut");
	ck_assert_uint_eq(stats_value("sluice_connections_cut_total"), cut0);
	ck_assert_msg(!gate_probe(over, 3), "65,585 bytes were answered");
	ck_assert_uint_eq(stats_value("sluice_connections_cut_total"),
			  cut0 + 1);
	ck_assert(th_proc_alive(nd.pid));
}
END_TEST

/*
 * A raw ZMTP 3.0 peer (NULL mechanism, DEALER) that sends frames of
 * frame_len bytes, each with MORE set, so that the message never ends:
 * libzmq keeps every frame of a message until its last one arrives.
 * Returns the frames the node took before it cut the connection (or all
 * n of them).
 */
static size_t multipart_attack(size_t frame_len, size_t n)
{
	static const uint8_t ready[] = {
		0x04, 0x1c, 0x05, 'R', 'E', 'A', 'D', 'Y', 0x0b, 'S',
		'o',  'c',  'k',  'e', 't', '-', 'T', 'y', 'p',	 'e',
		0,    0,    0,	  6,   'D', 'E', 'A', 'L', 'E',	 'R'};
	uint8_t greeting[64] = {0xff, 0,    0, 0, 0,   0,   0,	 0,
				0,    0x7f, 3, 0, 'N', 'U', 'L', 'L'};
	struct sockaddr_in a = {0};
	struct timeval tv = {5, 0};
	uint8_t *frame = malloc(frame_len + 9);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	size_t sent = 0;

	ck_assert_ptr_nonnull(frame);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)nd.port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	ck_assert_int_eq(send(fd, greeting, sizeof(greeting), MSG_NOSIGNAL),
			 (ssize_t)sizeof(greeting));
	ck_assert_int_eq(send(fd, ready, sizeof(ready), MSG_NOSIGNAL),
			 (ssize_t)sizeof(ready));
	frame[0] = 0x03; /* MORE | LONG */
	for (int k = 0; k < 8; k++)
		frame[1 + k] = (uint8_t)((uint64_t)frame_len >> (56 - 8 * k));
	fill_random(frame + 9, frame_len, 42);
	for (; sent < n; sent++) {
		size_t off = 0;

		while (off < frame_len + 9) {
			ssize_t w = send(fd, frame + off, frame_len + 9 - off,
					 MSG_NOSIGNAL);

			if (w <= 0)
				goto out;
			off += (size_t)w;
		}
	}
out:
	close(fd);
	free(frame);
	return sent;
}

/*
 * One multipart message cannot take the node's memory.  The frame limit
 * (ZMQ_MAXMSGSIZE) is per frame and libzmq keeps a whole message until its
 * last frame: 1,500 frames of just under 1 MiB once raised a node with
 * ram_capacity 64M from 95 MB to 1.6 GB.  Now a frame over 64 KiB and a
 * message over 4 frames or 64 KiB in all get the connection cut as they
 * arrive.  Peak RSS stays within capacity + 64 MiB, the node serves on.
 */
START_TEST(test_multipart_bound)
{
	static const struct {
		size_t frame, n;
	} attacks[] = {{(1u << 20) - 64, 1500}, {60u << 10, 5000}};
	uint8_t buf[BS];
	size_t len;
	uint8_t *src = slurp("data/multi.bin", &len);

	node_start();
	for (size_t i = 0; i < SL_ARRAY_SIZE(attacks); i++) {
		size_t took = multipart_attack(attacks[i].frame, attacks[i].n);
		long hwm = th_proc_status_kb(nd.pid, "VmHWM");

		printf("multipart attack: %zu of %zu frames of %zu bytes sent, "
		       "node peak RSS %ld MiB\n",
		       took, attacks[i].n, attacks[i].frame, hwm / 1024);
		ck_assert(th_proc_alive(nd.pid));
		ck_assert_int_eq(th_client_read(cli, "d1", "multi.bin", "", 1,
						0, 0, buf, sizeof(buf)),
				 BS);
		ck_assert_mem_eq(buf, src + BS, BS);
#if !defined(__SANITIZE_ADDRESS__)
		ck_assert_msg(hwm <= (64 + 64) * 1024,
			      "peak RSS %ld KiB over 64M + 64 MiB", hwm);
#endif
	}
	free(src);
}
END_TEST

/* A node whose backend read never returns (test/backends/testhang.c),
 * with one READ stuck in it. */
static void start_stuck(void)
{
	pr_buf_t b;

	write_conf("64M", "\n[dataset hang]\nbackend = testhang\n"
			  "uri = hang://\nblock_size = 64K\n");
	node_start();
	ck_assert_int_eq(th_encode_read(&b, "hang",
					th_client_layout(cli, "hang"), "f", "",
					0, 0, 0),
			 0);
	ck_assert_int_gt(th_client_send(cli, PR_OP_READ, b.data, b.len), 0);
	pr_buf_fini(&b);
	usleep(300000); /* the worker is in the backend's read */
}

/* The node, sent SIGTERM at t0 with a backend call that never returns,
 * exits within 15 s (its promise is 8 s at most: a loaded 2-core machine
 * gets the rest) with status 1, having left the call behind. */
static void exits_left_behind(uint64_t t0, const char *what)
{
	int status = -1;

	ck_assert_msg(th_proc_wait(nd.pid, 15000, &status) == 0,
		      "%s: the node did not exit within 15 s of SIGTERM", what);
	nd.pid = 0;
	printf("%s: exited %llu ms after SIGTERM, status %d\n", what,
	       (unsigned long long)(sl_now_ms() - t0),
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 1);
}

/*
 * SIGTERM with a backend call that never returns: the node stops within
 * the drain (5 s) plus its bound (2 s), leaving the call behind, exit
 * status 1.  It once joined the stuck worker for ever.
 */
START_TEST(test_sigterm_stuck_backend)
{
	uint64_t t0;
	th_reply_t r;

	start_stuck();
	t0 = sl_now_ms();
	ck_assert_int_eq(kill(nd.pid, SIGTERM), 0);
	/* The stuck READ is answered -ESHUTDOWN when the drain ends.  That
	 * reply was lost about one run in six under load (one in three with
	 * four builds running: 11 of 36) until the node kept its connections
	 * a moment after answering (FAREWELL_MS in server.c): the capture
	 * showed it on the wire, the FIN right behind, and the client's
	 * ZMQ_IMMEDIATE socket dropping it with the connection.  The bounds
	 * below leave a loaded 2-core machine 8 s over the node's promise
	 * (the 5 s drain plus 2 s): the fault they catch is a node that
	 * never exits. */
	ck_assert_int_eq(th_client_recv(cli, &r, 10000), 0);
	ck_assert_int_eq(r.h.status, -ESHUTDOWN);
	th_reply_free(&r);
	exits_left_behind(t0, "stuck backend");
}
END_TEST

/*
 * SIGTERM while the node's own count of an auto dataset (the default
 * policy: the node lists it at start to learn its size) is stuck in a
 * listing that never returns.  The loop answers a request during the
 * stop -ESHUTDOWN, and the node exits within its bound, status 1.  The
 * stop once waited for the walk's thread on the event thread, for ever.
 */
START_TEST(test_sigterm_stuck_listing)
{
	uint64_t t0;

	write_conf("64M", "\n[dataset hl]\nbackend = testhang\n"
			  "uri = hang://list\n");
	node_start();
	usleep(300000); /* the count is in the listing */
	t0 = sl_now_ms();
	ck_assert_int_eq(kill(nd.pid, SIGTERM), 0);
	usleep(100000);
	ck_assert_int_eq(th_client_call(cli, PR_OP_HELLO, NULL, 0, NULL),
			 -ESHUTDOWN);
	exits_left_behind(t0, "stuck listing");
}
END_TEST

/* A second SIGTERM exits at once, status 128 + 15: during the drain
 * (after_ms 300), and after it while the stuck call is being given up
 * (5,500), when nothing read signals any more. */
static void second_sigterm(int after_ms)
{
	uint64_t t0;
	int status = -1;

	start_stuck();
	ck_assert_int_eq(kill(nd.pid, SIGTERM), 0);
	usleep((useconds_t)after_ms * 1000);
	t0 = sl_now_ms();
	ck_assert_int_eq(kill(nd.pid, SIGTERM), 0);
	ck_assert_msg(th_proc_wait(nd.pid, 2000, &status) == 0,
		      "the node did not exit within 2 s of a second SIGTERM");
	nd.pid = 0;
	ck_assert_uint_lt(sl_now_ms() - t0, 1000);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 128 + SIGTERM);
}

START_TEST(test_second_sigterm)
{
	second_sigterm(300);
}
END_TEST

START_TEST(test_second_sigterm_after_drain)
{
	second_sigterm(5500);
}
END_TEST

/* Reload with ram and extra (write_conf's), and wait until the node
 * reports ram_bytes of RAM: it applied the config. */
static void reload_to(const char *ram, uint64_t ram_bytes, const char *extra)
{
	uint64_t deadline = sl_now_ms() + TIMEOUT;

	write_conf(ram, extra);
	ck_assert_int_eq(kill(nd.pid, SIGHUP), 0);
	while (stats_value("sluice_ram_capacity_bytes") != ram_bytes) {
		ck_assert_msg(sl_now_ms() < deadline, "reload to %s not seen",
			      ram);
		usleep(50000);
	}
}

#define D3_BACKEND                                                             \
	"sluice_dataset_served_bytes_total{dataset=\"d3\",tier=\"backend\"}"

START_TEST(test_sighup_reload)
{
	static const char broken[] = "[cluster\nname = itc\n";
	uint8_t buf[BS];
	char *log;
	uint64_t deadline;
	pr_hello_t h;
	th_reply_t r;
	int ok = 0;

	node_start();
	ck_assert_int_eq(th_write_file(nd.conf, broken, strlen(broken)), 0);
	ck_assert_int_eq(kill(nd.pid, SIGHUP), 0);
	usleep(300000);
	ck_assert(th_proc_alive(nd.pid));
	ck_assert_int_eq(th_client_read(cli, "d1", "one.txt", "", 0, 0, 0, buf,
					sizeof(buf)),
			 1);
	log = th_read_file(nd.log, NULL);
	ck_assert_ptr_nonnull(strstr(log, "reload failed"));
	ck_assert_ptr_nonnull(strstr(log, "cluster.conf:1"));
	free(log);
	/* A config whose dataset cannot open is refused as a whole. */
	write_conf("64M", "\n[dataset d3]\nbackend = posix\n"
			  "uri = file:///nonexistent/dir\n");
	ck_assert_int_eq(kill(nd.pid, SIGHUP), 0);
	usleep(300000);
	ck_assert_int_eq(th_client_hello(cli, &h, &r), 0);
	ck_assert_uint_eq(h.n_datasets, 2);
	pr_hello_free(&h);
	th_reply_free(&r);
	/* A good one applies: d3 appears. */
	{
		char extra[1024];

		snprintf(extra, sizeof(extra),
			 "\n[dataset d3]\nbackend = posix\n"
			 "uri = file://%s/data2\nblock_size = 4K\n",
			 tmp);
		write_conf("32M", extra);
	}
	ck_assert_int_eq(kill(nd.pid, SIGHUP), 0);
	deadline = sl_now_ms() + TIMEOUT;
	while (!ok && sl_now_ms() < deadline) {
		ck_assert_int_eq(th_client_hello(cli, &h, &r), 0);
		ok = h.n_datasets == 3;
		pr_hello_free(&h);
		th_reply_free(&r);
		if (!ok)
			usleep(50000);
	}
	ck_assert(ok);
	ck_assert_int_eq(th_client_read(cli, "d3", "p.bin", "", 0, 0, 0, buf,
					sizeof(buf)),
			 4096);
	ck_assert_uint_eq(stats_value("sluice_ram_capacity_bytes"), 32u << 20);
	ck_assert_uint_eq(stats_value(D3_BACKEND), 4096);
	/* d3 reopened with another block size: its counters go on. */
	{
		char extra[1024];

		snprintf(extra, sizeof(extra),
			 "\n[dataset d3]\nbackend = posix\n"
			 "uri = file://%s/data2\nblock_size = 8K\n",
			 tmp);
		reload_to("16M", 16u << 20, extra);
	}
	ck_assert_int_eq(th_client_read(cli, "d3", "p.bin", "", 0, 0, 0, buf,
					sizeof(buf)),
			 8192);
	ck_assert_uint_eq(stats_value(D3_BACKEND), 4096 + 8192);
	/* Removed: its series go with it. */
	reload_to("24M", 24u << 20, "");
	{
		uint64_t v;

		ck_assert_int_ne(th_client_stat_value(cli, D3_BACKEND, &v), 0);
	}
	ck_assert(th_proc_alive(nd.pid));
}
END_TEST

START_TEST(test_list_paging)
{
	char name[64], cursor[PR_MAX_CURSOR + 1] = "";
	char seen[300] = {0};
	pr_list_reply_t lr;
	th_reply_t r;
	size_t total = 0, pages = 0;

	mkdir_rel("data/many");
	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "data/many/e%03d", i);
		mkfile(name, (size_t)i, (uint64_t)i + 100);
	}
	node_start();
	do {
		ck_assert_int_eq(
			th_client_list(cli, "d1", "many", cursor, 128, &lr, &r),
			0);
		ck_assert_uint_le(lr.n_entries, 128);
		for (uint32_t i = 0; i < lr.n_entries; i++) {
			int k;

			ck_assert_uint_eq(lr.entries[i].name.len, 4);
			k = atoi(lr.entries[i].name.ptr + 1);
			ck_assert_int_eq(seen[k], 0);
			seen[k] = 1;
			ck_assert_uint_eq(lr.entries[i].st.type, PR_TYPE_FILE);
			ck_assert_uint_eq(lr.entries[i].st.size, (uint64_t)k);
		}
		total += lr.n_entries;
		pages++;
		pr_str_copy(cursor, sizeof(cursor), lr.next_cursor);
		pr_list_reply_free(&lr);
		th_reply_free(&r);
	} while (cursor[0] && pages < 50);
	ck_assert_uint_eq(total, 300);
	ck_assert_uint_ge(pages, 3);
	/* The root, through the cache the second time. */
	for (int k = 0; k < 2; k++) {
		ck_assert_int_eq(
			th_client_list(cli, "d1", "", "", 1024, &lr, &r), 0);
		ck_assert_str_eq(lr.next_cursor.len ? "more" : "", "");
		ck_assert_uint_eq(lr.n_entries, 6); /* escape is skipped */
		pr_list_reply_free(&lr);
		th_reply_free(&r);
	}
	ck_assert_uint_ge(stats_value("sluice_metadata_hits_total"), 1);
}
END_TEST

START_TEST(test_prefetch)
{
	uint64_t reads0, deadline;
	uint8_t buf[BS];

	node_start();
	reads0 = stats_value("sluice_backend_reads_total");
	ck_assert_int_eq(th_client_prefetch(cli, "d1", "multi.bin", "", 2), 0);
	ck_assert_int_eq(th_client_prefetch(cli, "nosuch", "x", "", 0),
			 -ENOENT);
	deadline = sl_now_ms() + TIMEOUT;
	while (stats_value("sluice_backend_reads_total") == reads0 &&
	       sl_now_ms() < deadline)
		usleep(10000);
	ck_assert_int_eq(th_client_read(cli, "d1", "multi.bin", "", 2, 0, 0,
					buf, sizeof(buf)),
			 40000);
	ck_assert_uint_eq(stats_value("sluice_cache_hits_total{tier=\"ram\"}"),
			  1);
	ck_assert_uint_eq(stats_value("sluice_backend_reads_total"),
			  reads0 + 1);
}
END_TEST

static int run_cli(const char *args, char **out)
{
	char cmd[1024];
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", cmd, NULL};

	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", bin_path(), args);
	return th_run_capture(argv, TIMEOUT, out);
}

START_TEST(test_command_line)
{
	char args[1024], *out;

	ck_assert_int_eq(run_cli("--help", &out), 0);
	ck_assert_ptr_nonnull(strstr(out, "Usage:"));
	ck_assert_ptr_nonnull(strstr(out, "SIGHUP"));
	free(out);
	ck_assert_int_eq(run_cli("--version", &out), 0);
	ck_assert_ptr_nonnull(strstr(out, "sluice-cachenode"));
	free(out);
	ck_assert_int_eq(run_cli("", &out), 2);
	free(out);
	ck_assert_int_eq(run_cli("--bogus", &out), 2);
	free(out);
	/* Errors name their cause. */
	snprintf(args, sizeof(args), "-c %s/nonexistent.conf", tmp);
	ck_assert_int_eq(run_cli(args, &out), 1);
	ck_assert_ptr_nonnull(strstr(out, "nonexistent.conf"));
	free(out);
	snprintf(args, sizeof(args), "-c %s --node n9", nd.conf);
	ck_assert_int_eq(run_cli(args, &out), 1);
	ck_assert_ptr_nonnull(strstr(out, "n9"));
	free(out);
	/* So does a policy the node does not know, with file and line. */
	{
		char conf[2048], path[600];

		snprintf(path, sizeof(path), "%s/policy.conf", tmp);
		snprintf(conf, sizeof(conf),
			 "[cluster]\n[node n1]\naddr = %s\n[dataset d]\n"
			 "backend = posix\nuri = file://%s\npolicy = nosuch\n",
			 nd.endpoint, tmp);
		ck_assert_int_eq(th_write_file(path, conf, strlen(conf)), 0);
		snprintf(args, sizeof(args), "-c %s", path);
		ck_assert_int_eq(run_cli(args, &out), 1);
		ck_assert_msg(strstr(out, "policy.conf:7: [dataset d] policy: "
					  "unknown policy 'nosuch' (known: "
					  "auto, lru, pin)"),
			      "%s", out);
		free(out);
	}
	/* A module with the wrong ABI stops the start with a clear line. */
	{
		static const char src[] =
			"#include <stdint.h>\n"
			"const struct { uint32_t abi; const char *name; "
			"void *f[6]; } sluice_backend_ops = { 99, \"posix\" "
			"};\n";
		char conf[4096], path[600], cmd[2048];
		char *argv[] = {(char *)"/bin/sh", (char *)"-c", cmd, NULL};

		snprintf(path, sizeof(path), "%s/bad.c", tmp);
		ck_assert_int_eq(th_write_file(path, src, strlen(src)), 0);
		snprintf(
			cmd, sizeof(cmd),
			"${CC:-cc} -shared -fPIC -o %s/sluice_backend_posix.so "
			"%s 2>&1",
			tmp, path);
		ck_assert_int_eq(th_run_capture(argv, 60000, NULL), 0);
		snprintf(path, sizeof(path), "%s/bad.conf", tmp);
		snprintf(conf, sizeof(conf),
			 "[cluster]\nmodule_dir = %s\n[node n1]\naddr = %s\n"
			 "[dataset d]\nbackend = posix\nuri = file://%s\n",
			 tmp, nd.endpoint, tmp);
		ck_assert_int_eq(th_write_file(path, conf, strlen(conf)), 0);
		snprintf(args, sizeof(args), "-c %s", path);
		ck_assert_int_eq(run_cli(args, &out), 1);
		ck_assert_msg(strstr(out, "sluice_backend_posix.so") &&
				      strstr(out, "ABI version 99"),
			      "%s", out);
		free(out);
	}
}
END_TEST

/*
 * The memory bound.  A node with ram_capacity C reads a dataset of 3 C
 * twice over, four clients with eight requests each in flight; its peak
 * RSS (VmHWM) must stay within C + 64 MiB.  SLUICE_RSS_CAPACITY_MB and
 * SLUICE_RSS_DATASET_MB change the sizes (bench/cachenode_rss.sh).
 */
START_TEST(test_rss_bound)
{
	const char *ce = getenv("SLUICE_RSS_CAPACITY_MB");
	const char *de = getenv("SLUICE_RSS_DATASET_MB");
	uint64_t cap_mb = ce ? strtoull(ce, NULL, 10) : 64;
	uint64_t ds_mb = de ? strtoull(de, NULL, 10) : 3 * cap_mb;
	const size_t fsize = 4u << 20, bsize = 1u << 20;
	size_t nfiles = (size_t)(ds_mb << 20) / fsize, nblocks;
	char ram[32], name[64];
	th_client_t *c[4];
	uint64_t s = 99, done = 0, bytes = 0;
	long hwm_kb, base_kb;

	snprintf(ram, sizeof(ram), "%lluM", (unsigned long long)cap_mb);
	start_big(nfiles, fsize, 1000, ram);
	base_kb = th_proc_status_kb(nd.pid, "VmHWM");
	nblocks = nfiles * (fsize / bsize);
	for (int k = 0; k < 4; k++) {
		c[k] = th_client_new(nd.endpoint, TIMEOUT);
		ck_assert_ptr_nonnull(c[k]);
	}
	/* Two passes in shuffled order, 4 x 8 requests in flight. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < nblocks;) {
			int inflight[4] = {0};

			for (int k = 0; k < 4; k++) {
				for (int j = 0; j < 8 && i < nblocks;
				     j++, i++) {
					uint64_t bi = rnd(&s) % nblocks;
					pr_buf_t b;

					snprintf(name, sizeof(name), "f%03zu",
						 (size_t)(bi / 4));
					th_encode_read(
						&b, "big",
						th_client_layout(c[k], "big"),
						name, "", bi % 4, 0, 0);
					ck_assert_int_gt(
						th_client_send(c[k], PR_OP_READ,
							       b.data, b.len),
						0);
					pr_buf_fini(&b);
					inflight[k]++;
				}
			}
			for (int k = 0; k < 4; k++) {
				while (inflight[k]--) {
					th_reply_t r;

					ck_assert_int_eq(
						th_client_recv(c[k], &r,
							       TIMEOUT),
						0);
					ck_assert_int_eq(r.h.status, 0);
					ck_assert_uint_eq(r.len, bsize);
					bytes += r.len;
					done++;
					th_reply_free(&r);
				}
			}
		}
	}
	hwm_kb = th_proc_status_kb(nd.pid, "VmHWM");
	ck_assert_int_gt(hwm_kb, 0);
	printf("cachenode RSS: peak VmHWM %ld MiB (%ld MiB at start) with "
	       "ram_capacity %llu MiB over a %llu MiB dataset "
	       "(%llu reads, %llu MiB served)\n",
	       hwm_kb / 1024, base_kb / 1024, (unsigned long long)cap_mb,
	       (unsigned long long)(nfiles * fsize >> 20),
	       (unsigned long long)done, (unsigned long long)(bytes >> 20));
	ck_assert_uint_le(stats_value("sluice_ram_used_bytes"), cap_mb << 20);
	ck_assert_uint_gt(stats_value("sluice_evictions_total{tier=\"ram\"}"),
			  0);
#if defined(__SANITIZE_ADDRESS__)
	printf("(sanitizer build: RSS bound not asserted)\n");
#else
	ck_assert_msg((uint64_t)hwm_kb <= (cap_mb + 64) * 1024,
		      "peak RSS %ld KiB over the bound %llu KiB", hwm_kb,
		      (unsigned long long)(cap_mb + 64) * 1024);
#endif
	for (int k = 0; k < 4; k++)
		th_client_destroy(&c[k]);
}
END_TEST

/*
 * Not a test (registered only when SLUICE_BENCH_ABSENT is set, by
 * bench/absent_reads.sh): READs of absent paths per second with
 * SLUICE_BENCH_ABSENT entries (STATs from a listing) in the metadata
 * cache.  Each such READ purges what the cache knows of the path and its
 * directory on the event thread.
 */
START_TEST(bench_absent_reads)
{
	long n = atol(getenv("SLUICE_BENCH_ABSENT"));
	enum { INFLIGHT = 64, READS = 20000 };
	char name[64], cursor[PR_MAX_CURSOR + 1] = "";
	pr_list_reply_t lr;
	th_reply_t r;
	uint64_t t0, entries, listed = 0;
	long sent = 0, got = 0;
	double secs;

	mkdir_rel("data/many");
	for (long i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "data/many/f%ld", i);
		mkfile(name, 0, 1);
	}
	write_conf("2G", "");
	node_start();
	do {
		ck_assert_int_eq(th_client_list(cli, "d1", "many", cursor,
						PR_MAX_LIST_ENTRIES, &lr, &r),
				 0);
		listed += lr.n_entries;
		pr_str_copy(cursor, sizeof(cursor), lr.next_cursor);
		pr_list_reply_free(&lr);
		th_reply_free(&r);
	} while (cursor[0]);
	entries = stats_value("sluice_metadata_entries");
	t0 = sl_now_ns();
	while (got < READS) {
		while (sent < READS && sent - got < INFLIGHT) {
			pr_buf_t b;

			/* With a version: no STAT first, the READ itself
			 * finds the path absent. */
			snprintf(name, sizeof(name), "many/absent%ld", sent);
			th_encode_read(&b, "d1", th_client_layout(cli, "d1"),
				       name, "s0-m0", 0, 0, 0);
			ck_assert_int_gt(
				th_client_send(cli, PR_OP_READ, b.data, b.len),
				0);
			pr_buf_fini(&b);
			sent++;
		}
		ck_assert_int_eq(th_client_recv(cli, &r, TIMEOUT), 0);
		ck_assert_int_eq(r.h.status, -ENOENT);
		th_reply_free(&r);
		got++;
	}
	secs = (double)(sl_now_ns() - t0) / 1e9;
	printf("absent reads: %d READs of absent paths in %.2f s: %.0f/s "
	       "with %llu metadata entries cached (%llu listed)\n",
	       READS, secs, READS / secs, (unsigned long long)entries,
	       (unsigned long long)listed);
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE(
		"it_cachenode",
		{.name = "node",
		 .tests = TH_TESTS(
			 test_hello, test_read_bytes, test_errors,
			 test_request_string_fields, test_garbage_keeps_serving,
			 test_metrics_move, test_sigterm_exits_zero,
			 test_sigterm_stuck_listing, test_sigterm_stuck_backend,
			 test_second_sigterm, test_second_sigterm_after_drain,
			 test_sighup_reload, test_list_paging, test_prefetch,
			 test_command_line),
		 .timeout = 300,
		 .setup = setup,
		 .teardown = teardown},
		{.name = "memory",
		 .tests = TH_TESTS(
			 test_rss_bound, test_slow_reader_stalls_only_itself,
			 test_peer_reads_are_capped, test_multipart_bound,
			 test_gate_bound_counts_header),
		 .timeout = 600,
		 .setup = setup,
		 .teardown = teardown});

	if (getenv("SLUICE_BENCH_ABSENT"))
		th_suite_add(s, TH_CASES({.name = "bench",
					  .tests = TH_TESTS(bench_absent_reads),
					  .timeout = 1800,
					  .setup = setup,
					  .teardown = teardown}));
	return th_check_run(s, &(th_check_opts_t){.tmp_tag = "it-cachenode"});
}
