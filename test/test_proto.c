/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wire protocol's tests: every message round-trips through its encoder
 * and decoder; every truncation of every valid message is rejected; a
 * million random and mutated messages never crash a decoder and, when one
 * is accepted, it lies within the limits and encodes back to the same bytes;
 * encoders enforce the limits; LZ4 packing round-trips and refuses what does
 * not pay; and the ZeroMQ transport keeps a DEALER/ROUTER stream in sync
 * across bad messages.  The fuzz loop is seeded (SLUICE_SEED overrides) so a
 * failure can be replayed.
 */
#include <check.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "common/config.h"
#include "common/util.h"
#include "proto/proto.h"
#include "proto/transport.h"
#include "test/helper_check.h"
#include "test/helper_fields.h"

/* ck_assert marks a point on every success (slow in a hot loop). */
#define FZ_ASSERT(expr)                                                        \
	do {                                                                   \
		if (!(expr))                                                   \
			ck_abort_msg("%s:%d: '%s' failed (seed %llu, iter "    \
				     "%lu)",                                   \
				     __FILE__, __LINE__, #expr,                \
				     (unsigned long long)g_seed, g_iter);      \
	} while (0)

static uint64_t g_seed = 0x5eed5110ceULL;
static unsigned long g_iter;

/* ---- Random numbers (xorshift64*) ------------------------------------- */

static uint64_t g_rng;

static uint64_t rnd(void)
{
	g_rng ^= g_rng >> 12;
	g_rng ^= g_rng << 25;
	g_rng ^= g_rng >> 27;
	return g_rng * 0x2545f4914f6cdd1dULL;
}

static uint32_t rndn(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

static void rnd_seed(void)
{
	const char *s = getenv("SLUICE_SEED");

	if (s && *s)
		g_seed = strtoull(s, NULL, 0);
	g_rng = g_seed ? g_seed : 1;
}

/* Append raw bytes to a pr_buf (its fields are public). */
static void buf_append(pr_buf_t *b, const void *p, size_t n)
{
	if (b->cap - b->len < n) {
		b->cap = b->len + n;
		b->data = sl_xrealloc(b->data, b->cap);
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* ---- Samples ---------------------------------------------------------- */

enum {
	K_HEADER,
	K_TARGET,
	K_STAT,
	K_LIST_REQ,
	K_LIST_REPLY,
	K_READ_REQ,
	K_HELLO,
	K_LOAD,
	K_STATS,
	K_EVICT,
	K_ERRMSG,
	K_DRAIN,
	K_N,
};

static const char *const kind_names[K_N] = {
	"header", "target", "stat",  "list_req", "list_reply", "read_req",
	"hello",  "load",   "stats", "evict",	 "errmsg",     "drain",
};

static const char *const dsets[] = {"imagenet", "c4", "a", "x.y-z_9"};
static const char *const paths[] = {
	"", "train", "train/n01/x.jpg", "a/b/c/d", ".hidden/..x/y..", "é/ü"};
static const char *const versions[] = {"", "v1", "etag-0123456789abcdef",
				       "W/1712345678.123"};
static const char *const names[] = {"x.jpg", "n01440764", "...", "a b",
				    "ü.txt"};

#define PICK(a) (a[rndn(SL_ARRAY_SIZE(a))])

static pr_stat_t rnd_stat(void)
{
	pr_stat_t st = {0};

	st.type = rndn(2) ? PR_TYPE_FILE : PR_TYPE_DIR;
	st.mode = rndn(07777 + 1);
	st.size = rnd() >> 1;
	st.mtime_ns = (int64_t)rnd();
	st.version =
		st.type == PR_TYPE_FILE ? pr_str(PICK(versions)) : pr_str("");
	return st;
}

/* Encode one random valid message of kind k into b. */
static void encode_sample(int k, pr_buf_t *b)
{
	int rc = 0;

	switch (k) {
	case K_HEADER: {
		pr_header_t h = {0};
		uint8_t *out = sl_xmalloc(PR_HEADER_SIZE);

		h.opcode = (uint8_t)rndn(PR_OP_MAX + 2);
		h.flags = (uint16_t)(rndn(2) ? PR_F_REPLY : 0);
		if (h.flags && rndn(2))
			h.status = -(int32_t)rndn(130);
		if (h.flags && !h.status && rndn(2))
			h.flags |= PR_F_MORE;
		h.req_id = rnd();
		h.ring_version = (uint32_t)rnd();
		h.generation = rnd();
		h.body_len = rndn(PR_MAX_BODY + 1);
		if (h.body_len) {
			h.body_hash = rnd();
			if (rndn(2))
				h.flags |= PR_F_LZ4;
		}
		rc = pr_header_encode(&h, out);
		buf_append(b, out, PR_HEADER_SIZE);
		free(out);
		break;
	}
	case K_TARGET: {
		pr_target_t m;

		m.dataset = pr_str(PICK(dsets));
		m.path = pr_str(PICK(paths));

		rc = pr_target_encode(b, &m);
		break;
	}
	case K_STAT: {
		pr_stat_t m = rnd_stat();

		rc = pr_stat_encode(b, &m);
		break;
	}
	case K_LIST_REQ: {
		pr_list_req_t m;

		m.dataset = pr_str(PICK(dsets));
		m.path = pr_str(PICK(paths));
		m.cursor = pr_str(rndn(2) ? "" : "cursor:abc/123");
		m.max_entries = 1 + rndn(PR_MAX_LIST_ENTRIES);

		rc = pr_list_req_encode(b, &m);
		break;
	}
	case K_LIST_REPLY: {
		pr_dirent_t e[4];
		pr_list_reply_t m = {.entries = e};

		m.next_cursor = pr_str(rndn(2) ? "" : "next");
		m.n_entries = rndn(5);
		for (uint32_t i = 0; i < m.n_entries; i++) {
			e[i].name = pr_str(PICK(names));
			e[i].st = rnd_stat();
		}
		rc = pr_list_reply_encode(b, &m);
		break;
	}
	case K_READ_REQ: {
		pr_read_req_t m;

		m.dataset = pr_str(PICK(dsets));
		m.layout = (uint32_t)rnd();
		m.path = pr_str(PICK(paths));
		m.version = pr_str(PICK(versions));
		m.block = rnd();
		m.offset = rndn(PR_MAX_BLOCK + 1);
		m.length = rndn(PR_MAX_BLOCK - m.offset + 1);
		rc = pr_read_req_encode(b, &m);
		break;
	}
	case K_HELLO: {
		pr_hello_node_t n[3] = {
			{pr_str("node-a"), pr_str("tcp://10.0.0.1:7400"), 1},
			{pr_str("node.b"), pr_str("tcp://[::1]:7400"), 100},
			{pr_str("c"), pr_str("ipc:///run/sluice.sock"), 7},
		};
		pr_hello_dataset_t d[2] = {
			{pr_str("imagenet"), pr_str("s3"), 4u << 20, 0x1234,
			 1700000000000ull, pr_str("lru"), 0},
			{pr_str("c4"), pr_str("posix"), 64u << 20, 1, 0,
			 pr_str("pin"), 30000},
		};
		pr_hello_t m = {
			.node = pr_str("node-a"), .nodes = n, .datasets = d};

		m.cluster = pr_str(rndn(2) ? "sluice" : "prod-cluster");
		m.ring_version = (uint32_t)rnd();
		m.generation = rnd();
		m.drain = (uint8_t)rndn(3);
		m.n_nodes = rndn(4);
		m.n_datasets = rndn(3);

		rc = pr_hello_encode(b, &m);
		break;
	}
	case K_LOAD: {
		pr_load_progress_t m;

		m.files_total = rnd();
		m.files_total >>= rndn(64);
		m.files_done = m.files_total ? rnd() % m.files_total : 0;
		m.bytes_total = rnd();
		m.bytes_done = m.bytes_total >> rndn(64);
		m.errors = rndn(3);
		m.state = (uint8_t)rndn(2);
		m.failed = pr_str(rndn(2) ? "train/a.jpg" : "");
		rc = pr_load_progress_encode(b, &m);
		break;
	}
	case K_STATS: {
		pr_stats_item_t it[3] = {{pr_str("ram_hits"), 0},
					 {pr_str("disk_bytes"), 0},
					 {pr_str("requests_in_flight"), 0}};
		pr_stats_t m = {.items = it};

		it[0].value = rnd();
		it[1].value = rnd();
		m.n_items = rndn(4);

		rc = pr_stats_encode(b, &m);
		break;
	}
	case K_EVICT: {
		pr_evict_reply_t m;

		m.blocks = rnd();
		m.bytes = rnd();

		rc = pr_evict_reply_encode(b, &m);
		break;
	}
	case K_ERRMSG:
		rc = pr_errmsg_encode(b, rndn(3) ? "no such file: train/x.jpg"
						 : "");
		break;
	case K_DRAIN: {
		pr_drain_req_t m;

		m.node = pr_str(PICK(dsets));
		m.grace_ms = rndn(PR_MAX_GRACE_MS + 1);
		m.generation = rnd();
		rc = pr_drain_req_encode(b, &m);
		break;
	}
	}
	ck_assert_int_eq(rc, 0);
}

/* ---- The oracle: decode, check limits and views, encode back ----------- */

static void check_view(pr_str_t s, const uint8_t *buf, size_t len, uint32_t max)
{
	uintptr_t p = (uintptr_t)s.ptr, lo = (uintptr_t)buf;

	FZ_ASSERT(s.len <= max);
	if (s.len) {
		FZ_ASSERT(p >= lo && p + s.len <= lo + len);
		FZ_ASSERT(!memchr(s.ptr, '\0', s.len));
	}
}

static void check_stat(const pr_stat_t *st, const uint8_t *buf, size_t len)
{
	FZ_ASSERT(st->type == PR_TYPE_FILE || st->type == PR_TYPE_DIR);
	FZ_ASSERT((st->mode & ~07777u) == 0);
	check_view(st->version, buf, len, PR_MAX_VERSION);
}

/*
 * Decode buf[0..len) as kind k.  When accepted, everything must lie within
 * the limits and inside buf, and encoding it again must give back exactly
 * buf.  When rejected, the error must be one the contract names.
 */
static int decode_check(int k, const uint8_t *buf, size_t len)
{
	pr_buf_t out;
	int rc = -EINVAL, erc = 0;

	pr_buf_init(&out);
	switch (k) {
	case K_HEADER: {
		pr_header_t h;
		uint8_t re[PR_HEADER_SIZE];

		rc = pr_header_decode(&h, buf, len);
		if (rc == 0) {
			FZ_ASSERT(h.body_len <= PR_MAX_BODY);
			FZ_ASSERT((h.flags & ~PR_F_KNOWN) == 0);
			erc = pr_header_encode(&h, re);
			buf_append(&out, re, sizeof(re));
		}
		break;
	}
	case K_TARGET: {
		pr_target_t m;

		rc = pr_target_decode(&m, buf, len);
		if (rc == 0) {
			check_view(m.dataset, buf, len, 64);
			check_view(m.path, buf, len, PR_MAX_PATH);
			erc = pr_target_encode(&out, &m);
		}
		break;
	}
	case K_STAT: {
		pr_stat_t m;

		rc = pr_stat_decode(&m, buf, len);
		if (rc == 0) {
			check_stat(&m, buf, len);
			erc = pr_stat_encode(&out, &m);
		}
		break;
	}
	case K_LIST_REQ: {
		pr_list_req_t m;

		rc = pr_list_req_decode(&m, buf, len);
		if (rc == 0) {
			check_view(m.dataset, buf, len, 64);
			check_view(m.path, buf, len, PR_MAX_PATH);
			check_view(m.cursor, buf, len, PR_MAX_CURSOR);
			FZ_ASSERT(m.max_entries >= 1 &&
				  m.max_entries <= PR_MAX_LIST_ENTRIES);
			erc = pr_list_req_encode(&out, &m);
		}
		break;
	}
	case K_LIST_REPLY: {
		pr_list_reply_t m;

		rc = pr_list_reply_decode(&m, buf, len);
		if (rc == 0) {
			check_view(m.next_cursor, buf, len, PR_MAX_CURSOR);
			FZ_ASSERT(m.n_entries <= PR_MAX_LIST_ENTRIES);
			FZ_ASSERT(m.n_entries == 0 || m.entries);
			for (uint32_t i = 0; i < m.n_entries; i++) {
				check_view(m.entries[i].name, buf, len,
					   PR_MAX_NAME);
				FZ_ASSERT(m.entries[i].name.len > 0);
				check_stat(&m.entries[i].st, buf, len);
			}
			erc = pr_list_reply_encode(&out, &m);
			pr_list_reply_free(&m);
		} else {
			FZ_ASSERT(m.entries == NULL && m.n_entries == 0);
		}
		break;
	}
	case K_READ_REQ: {
		pr_read_req_t m;

		rc = pr_read_req_decode(&m, buf, len);
		if (rc == 0) {
			check_view(m.dataset, buf, len, 64);
			check_view(m.path, buf, len, PR_MAX_PATH);
			check_view(m.version, buf, len, PR_MAX_VERSION);
			FZ_ASSERT((uint64_t)m.offset + m.length <=
				  PR_MAX_BLOCK);
			erc = pr_read_req_encode(&out, &m);
		}
		break;
	}
	case K_HELLO: {
		pr_hello_t m;

		rc = pr_hello_decode(&m, buf, len);
		if (rc == 0) {
			check_view(m.cluster, buf, len, PR_MAX_NAME);
			check_view(m.node, buf, len, 64);
			FZ_ASSERT(m.n_nodes <= PR_MAX_NODES);
			FZ_ASSERT(m.n_datasets <= PR_MAX_DATASETS);
			for (uint32_t i = 0; i < m.n_nodes; i++) {
				check_view(m.nodes[i].name, buf, len, 64);
				check_view(m.nodes[i].addr, buf, len, 255);
				FZ_ASSERT(m.nodes[i].weight >= 1);
			}
			for (uint32_t i = 0; i < m.n_datasets; i++) {
				check_view(m.datasets[i].name, buf, len, 64);
				check_view(m.datasets[i].backend, buf, len, 31);
				FZ_ASSERT(m.datasets[i].block_size <=
					  PR_MAX_BLOCK);
			}
			erc = pr_hello_encode(&out, &m);
			pr_hello_free(&m);
		} else {
			FZ_ASSERT(!m.nodes && !m.datasets);
		}
		break;
	}
	case K_LOAD: {
		pr_load_progress_t m;

		rc = pr_load_progress_decode(&m, buf, len);
		if (rc == 0) {
			FZ_ASSERT(m.files_done <= m.files_total);
			FZ_ASSERT(m.bytes_done <= m.bytes_total);
			erc = pr_load_progress_encode(&out, &m);
		}
		break;
	}
	case K_STATS: {
		pr_stats_t m;

		rc = pr_stats_decode(&m, buf, len);
		if (rc == 0) {
			FZ_ASSERT(m.n_items <= PR_MAX_STATS);
			for (uint32_t i = 0; i < m.n_items; i++)
				check_view(m.items[i].name, buf, len,
					   PR_MAX_NAME);
			erc = pr_stats_encode(&out, &m);
			pr_stats_free(&m);
		} else {
			FZ_ASSERT(!m.items && !m.n_items);
		}
		break;
	}
	case K_EVICT: {
		pr_evict_reply_t m;

		rc = pr_evict_reply_decode(&m, buf, len);
		if (rc == 0)
			erc = pr_evict_reply_encode(&out, &m);
		break;
	}
	case K_ERRMSG: {
		pr_str_t s;

		rc = pr_errmsg_decode(&s, buf, len);
		if (rc == 0) {
			char tmp[PR_MAX_ERRMSG + 1];

			check_view(s, buf, len, PR_MAX_ERRMSG);
			FZ_ASSERT(pr_str_copy(tmp, sizeof(tmp), s) == 0);
			erc = pr_errmsg_encode(&out, tmp);
		}
		break;
	}
	case K_DRAIN: {
		pr_drain_req_t m;

		rc = pr_drain_req_decode(&m, buf, len);
		if (rc == 0) {
			check_view(m.node, buf, len, SL_NAME_MAX);
			FZ_ASSERT(m.grace_ms <= PR_MAX_GRACE_MS);
			erc = pr_drain_req_encode(&out, &m);
		}
		break;
	}
	}
	if (rc == 0) {
		FZ_ASSERT(erc == 0);
		FZ_ASSERT(out.len == len);
		FZ_ASSERT(len == 0 || memcmp(out.data, buf, len) == 0);
	} else {
		FZ_ASSERT(rc == -EBADMSG || rc == -EMSGSIZE ||
			  rc == -ENAMETOOLONG ||
			  (k == K_HEADER && rc == -EPROTONOSUPPORT));
	}
	pr_buf_fini(&out);
	return rc;
}

/* Decode a copy of exactly len bytes, so ASan sees any over-read. */
static int decode_exact(int k, const uint8_t *src, size_t len)
{
	uint8_t *p = sl_xmalloc(len);
	int rc;

	if (len)
		memcpy(p, src, len);
	rc = decode_check(k, p, len);
	free(p);
	return rc;
}

/* ---- Round trips ------------------------------------------------------ */

START_TEST(test_header_roundtrip)
{
	pr_header_t h = {.opcode = PR_OP_LOAD,
			 .flags = PR_F_REPLY | PR_F_MORE | PR_F_LZ4,
			 .req_id = 0x0102030405060708ULL,
			 .status = 0,
			 .ring_version = 0xa1b2c3d4u,
			 .body_len = 1234,
			 .body_hash = 0x1122334455667788ULL,
			 .generation = 0x0000018c0a0b0c0dULL};
	static const uint8_t want[PR_HEADER_SIZE] = {
		'S',  'L',  'I',  'C',	PR_VERSION, PR_OP_LOAD, 0x07, 0x00,
		0x08, 0x07, 0x06, 0x05, 0x04,	    0x03,	0x02, 0x01,
		0,    0,    0,	  0,	0xd4,	    0xc3,	0xb2, 0xa1,
		0xd2, 0x04, 0,	  0,	0,	    0,		0,    0,
		0x88, 0x77, 0x66, 0x55, 0x44,	    0x33,	0x22, 0x11,
		0x0d, 0x0c, 0x0b, 0x0a, 0x8c,	    0x01,	0,    0,
	};
	uint8_t out[PR_HEADER_SIZE];
	pr_header_t d;

	ck_assert_int_eq(pr_header_encode(&h, out), 0);
	ck_assert_mem_eq(out, want, PR_HEADER_SIZE);
	ck_assert_int_eq(pr_header_decode(&d, out, sizeof(out)), 0);
	ck_assert_uint_eq(d.opcode, h.opcode);
	ck_assert_uint_eq(d.flags, h.flags);
	ck_assert_uint_eq(d.req_id, h.req_id);
	ck_assert_int_eq(d.status, h.status);
	ck_assert_uint_eq(d.ring_version, h.ring_version);
	ck_assert_uint_eq(d.body_len, h.body_len);
	ck_assert_uint_eq(d.body_hash, h.body_hash);
	ck_assert_uint_eq(d.generation, h.generation);

	/* An error reply: negative status, little-endian two's complement. */
	h.flags = PR_F_REPLY;
	h.status = -EOPNOTSUPP;
	h.body_len = 0;
	h.body_hash = 0;
	ck_assert_int_eq(pr_header_encode(&h, out), 0);
	ck_assert_uint_eq(out[16], 0xa1); /* -95 */
	ck_assert_uint_eq(out[19], 0xff);
	ck_assert_int_eq(pr_header_decode(&d, out, sizeof(out)), 0);
	ck_assert_int_eq(d.status, -EOPNOTSUPP);

	ck_assert_str_eq(pr_op_name(PR_OP_PEER_READ), "PEER_READ");
	ck_assert_str_eq(pr_op_name(0), "UNKNOWN");
	ck_assert_str_eq(pr_op_name(200), "UNKNOWN");
	ck_assert(pr_op_known(PR_OP_HELLO) && !pr_op_known(PR_OP_MAX + 1));
}
END_TEST

START_TEST(test_header_rules)
{
	pr_header_t h = {.opcode = PR_OP_READ, .req_id = 9}, d;
	uint8_t out[PR_HEADER_SIZE], bad[PR_HEADER_SIZE];

	ck_assert_int_eq(pr_header_encode(&h, out), 0);
	ck_assert_int_eq(pr_header_decode(&d, out, 39), -EBADMSG);
	ck_assert_int_eq(pr_header_decode(&d, NULL, 0), -EBADMSG);

	memcpy(bad, out, sizeof(bad));
	bad[0] ^= 1; /* magic */
	ck_assert_int_eq(pr_header_decode(&d, bad, sizeof(bad)), -EBADMSG);

	memcpy(bad, out, sizeof(bad));
	bad[4] = 1; /* version: the header is still filled in */
	ck_assert_int_eq(pr_header_decode(&d, bad, sizeof(bad)),
			 -EPROTONOSUPPORT);
	ck_assert_uint_eq(d.req_id, 9);
	ck_assert_uint_eq(d.opcode, PR_OP_READ);

	memcpy(bad, out, sizeof(bad));
	bad[7] = 0x80; /* unknown flag */
	ck_assert_int_eq(pr_header_decode(&d, bad, sizeof(bad)), -EBADMSG);

	memcpy(bad, out, sizeof(bad));
	bad[30] = 1; /* reserved */
	ck_assert_int_eq(pr_header_decode(&d, bad, sizeof(bad)), -EBADMSG);

	memcpy(bad, out, sizeof(bad));
	bad[5] = 77; /* unknown opcode: decodes, the node answers it */
	ck_assert_int_eq(pr_header_decode(&d, bad, sizeof(bad)), 0);
	ck_assert_uint_eq(d.opcode, 77);

	memcpy(bad, out, sizeof(bad));
	sl_put_le32(bad + 24, PR_MAX_BODY + 1);
	bad[32] = 1;
	ck_assert_int_eq(pr_header_decode(&d, bad, sizeof(bad)), -EMSGSIZE);

	memcpy(bad, out, sizeof(bad));
	bad[32] = 1; /* empty body with a hash */
	ck_assert_int_eq(pr_header_decode(&d, bad, sizeof(bad)), -EBADMSG);

	memcpy(bad, out, sizeof(bad));
	bad[16] = 0xff; /* a request with a status */
	ck_assert_int_eq(pr_header_decode(&d, bad, sizeof(bad)), -EBADMSG);
	bad[6] = PR_F_REPLY; /* a reply with a positive status */
	bad[16] = 1;
	ck_assert_int_eq(pr_header_decode(&d, bad, sizeof(bad)), -EBADMSG);

	memcpy(bad, out, sizeof(bad));
	bad[6] = PR_F_MORE; /* MORE on a request */
	ck_assert_int_eq(pr_header_decode(&d, bad, sizeof(bad)), -EBADMSG);

	h.flags = 0x100;
	ck_assert_int_eq(pr_header_encode(&h, out), -EINVAL);
	h.flags = PR_F_MORE;
	ck_assert_int_eq(pr_header_encode(&h, out), -EINVAL);

	ck_assert_uint_eq(pr_body_hash("", 0), 0);
	ck_assert_uint_ne(pr_body_hash("a", 1), 0);
	h.flags = 0;
	h.body_len = 3;
	h.body_hash = pr_body_hash("abc", 3);
	ck_assert_int_eq(pr_body_verify(&h, "abc", 3), 0);
	ck_assert_int_eq(pr_body_verify(&h, "abd", 3), -EBADMSG);
	ck_assert_int_eq(pr_body_verify(&h, "ab", 2), -EBADMSG);
}
END_TEST

/* The tier a READ reply names (PROTOCOL.md section 2): only on a
 * successful READ or PEER_READ reply, and only a tier there is. */
START_TEST(test_header_tier)
{
	pr_header_t h = {.opcode = PR_OP_READ, .flags = PR_F_REPLY}, d;
	uint8_t out[PR_HEADER_SIZE];

	for (unsigned t = PR_TIER_NONE; t <= PR_TIER_MAX; t++) {
		h.flags = pr_flags_with_tier(PR_F_REPLY, t);
		ck_assert_int_eq(pr_header_encode(&h, out), 0);
		ck_assert_int_eq(pr_header_decode(&d, out, sizeof(out)), 0);
		ck_assert_uint_eq(pr_flags_tier(d.flags), t);
		ck_assert_uint_eq(out[6] >> 3, t);
	}
	h.opcode = PR_OP_PEER_READ;
	ck_assert_int_eq(pr_header_encode(&h, out), 0);
	/* A tier that is none, on a request, an error or another op. */
	h.flags = pr_flags_with_tier(PR_F_REPLY, PR_TIER_MAX + 1);
	ck_assert_int_eq(pr_header_encode(&h, out), -EINVAL);
	h.flags = pr_flags_with_tier(0, PR_TIER_RAM);
	ck_assert_int_eq(pr_header_encode(&h, out), -EINVAL);
	h.flags = pr_flags_with_tier(PR_F_REPLY, PR_TIER_DISK);
	h.status = -EIO;
	ck_assert_int_eq(pr_header_encode(&h, out), -EINVAL);
	h.status = 0;
	h.opcode = PR_OP_STAT;
	ck_assert_int_eq(pr_header_encode(&h, out), -EINVAL);
	/* The decoder refuses the same bytes. */
	h.opcode = PR_OP_READ;
	ck_assert_int_eq(pr_header_encode(&h, out), 0);
	out[6] = (uint8_t)(PR_F_REPLY | (7u << 3));
	ck_assert_int_eq(pr_header_decode(&d, out, sizeof(out)), -EBADMSG);
	out[6] = (uint8_t)(PR_F_REPLY | (PR_TIER_RAM << 3));
	out[5] = PR_OP_LIST;
	ck_assert_int_eq(pr_header_decode(&d, out, sizeof(out)), -EBADMSG);
	out[5] = PR_OP_READ;
	out[6] = (uint8_t)(PR_TIER_RAM << 3); /* on a request */
	ck_assert_int_eq(pr_header_decode(&d, out, sizeof(out)), -EBADMSG);
}
END_TEST

/* Encode with enc, decode into dec, then free the bytes. */
#define ENCODE(fn, m, b)                                                       \
	do {                                                                   \
		pr_buf_reset(b);                                               \
		ck_assert_int_eq(fn(b, m), 0);                                 \
	} while (0)

static void assert_stat_eq(const pr_stat_t *a, const pr_stat_t *b)
{
	ck_assert_uint_eq(a->type, b->type);
	ck_assert_uint_eq(a->mode, b->mode);
	ck_assert_uint_eq(a->size, b->size);
	ck_assert_int_eq(a->mtime_ns, b->mtime_ns);
	ck_assert_uint_eq(a->version.len, b->version.len);
	ck_assert_mem_eq(a->version.ptr, b->version.ptr, a->version.len);
}

static void assert_str_eq(pr_str_t s, const char *want)
{
	ck_assert_msg(pr_str_eq(s, want), "got '%.*s', want '%s'", (int)s.len,
		      s.ptr, want);
}

START_TEST(test_body_roundtrip)
{
	pr_buf_t b;

	pr_buf_init(&b);
	{
		pr_target_t m = {pr_str("imagenet"), pr_str("train/n01")}, d;

		ENCODE(pr_target_encode, &m, &b);
		ck_assert_int_eq(pr_target_decode(&d, b.data, b.len), 0);
		assert_str_eq(d.dataset, "imagenet");
		assert_str_eq(d.path, "train/n01");
		/* The root, and views that point into the buffer. */
		m.path = pr_str("");
		ENCODE(pr_target_encode, &m, &b);
		ck_assert_int_eq(b.len, 2 + 8 + 2);
		ck_assert_int_eq(pr_target_decode(&d, b.data, b.len), 0);
		ck_assert_ptr_eq(d.dataset.ptr, (char *)b.data + 2);
		ck_assert_uint_eq(d.path.len, 0);
	}
	{
		pr_stat_t m = {PR_TYPE_FILE, 0644, 123456789, -5,
			       pr_str("etag")},
			  d;

		ENCODE(pr_stat_encode, &m, &b);
		ck_assert_int_eq(b.len, 1 + 4 + 8 + 8 + 2 + 4);
		ck_assert_int_eq(pr_stat_decode(&d, b.data, b.len), 0);
		assert_stat_eq(&m, &d);
	}
	{
		pr_list_req_t m = {pr_str("c4"), pr_str("en"), pr_str("tok=1"),
				   1024},
			      d;

		ENCODE(pr_list_req_encode, &m, &b);
		ck_assert_int_eq(pr_list_req_decode(&d, b.data, b.len), 0);
		assert_str_eq(d.dataset, "c4");
		assert_str_eq(d.path, "en");
		assert_str_eq(d.cursor, "tok=1");
		ck_assert_uint_eq(d.max_entries, 1024);
	}
	{
		pr_dirent_t e[2] = {
			{pr_str("a.jpg"),
			 {PR_TYPE_FILE, 0444, 110000, 1, pr_str("v1")}},
			{pr_str("sub"), {PR_TYPE_DIR, 0555, 0, 2, pr_str("")}},
		};
		pr_list_reply_t m = {pr_str("page2"), 2, e}, d;

		ENCODE(pr_list_reply_encode, &m, &b);
		ck_assert_int_eq(pr_list_reply_decode(&d, b.data, b.len), 0);
		assert_str_eq(d.next_cursor, "page2");
		ck_assert_uint_eq(d.n_entries, 2);
		for (int i = 0; i < 2; i++) {
			ck_assert(pr_str_eq(d.entries[i].name,
					    i ? "sub" : "a.jpg"));
			assert_stat_eq(&e[i].st, &d.entries[i].st);
		}
		pr_list_reply_free(&d);
		ck_assert_ptr_null(d.entries);
		pr_list_reply_free(&d); /* idempotent */

		m.n_entries = 0;
		m.next_cursor = pr_str("");
		ENCODE(pr_list_reply_encode, &m, &b);
		ck_assert_int_eq(pr_list_reply_decode(&d, b.data, b.len), 0);
		ck_assert_uint_eq(d.n_entries, 0);
		pr_list_reply_free(&d);
	}
	{
		pr_read_req_t m = {pr_str("imagenet"),
				   0x8badf00d,
				   pr_str("a/b.tar"),
				   pr_str("v7"),
				   1ULL << 40,
				   4096,
				   65536},
			      d;

		ENCODE(pr_read_req_encode, &m, &b);
		ck_assert_int_eq(pr_read_req_decode(&d, b.data, b.len), 0);
		assert_str_eq(d.dataset, "imagenet");
		ck_assert_uint_eq(d.layout, 0x8badf00d);
		assert_str_eq(d.path, "a/b.tar");
		assert_str_eq(d.version, "v7");
		ck_assert_uint_eq(d.block, 1ULL << 40);
		ck_assert_uint_eq(d.offset, 4096);
		ck_assert_uint_eq(d.length, 65536);
	}
	{
		pr_hello_node_t n[2] = {
			{pr_str("n1"), pr_str("tcp://10.0.0.1:7400"), 1},
			{pr_str("n2"), pr_str("tcp://10.0.0.2:7400"), 3},
		};
		pr_hello_dataset_t ds[1] = {
			{pr_str("imagenet"), pr_str("s3"), 4u << 20, 0xfeedface,
			 1234567, pr_str("pin"), 60000},
		};
		pr_hello_t m = {.cluster = pr_str("sluice"),
				.node = pr_str("n2"),
				.ring_version = 0xdeadbeef,
				.generation = 1ull << 40,
				.drain = PR_DRAIN_DRAINING,
				.n_nodes = 2,
				.nodes = n,
				.n_datasets = 1,
				.datasets = ds},
			   d;

		ENCODE(pr_hello_encode, &m, &b);
		ck_assert_int_eq(pr_hello_decode(&d, b.data, b.len), 0);
		assert_str_eq(d.cluster, "sluice");
		assert_str_eq(d.node, "n2");
		ck_assert_uint_eq(d.ring_version, 0xdeadbeef);
		ck_assert_uint_eq(d.generation, 1ull << 40);
		ck_assert_uint_eq(d.drain, PR_DRAIN_DRAINING);
		ck_assert_uint_eq(d.n_nodes, 2);
		assert_str_eq(d.nodes[1].name, "n2");
		assert_str_eq(d.nodes[1].addr, "tcp://10.0.0.2:7400");
		ck_assert_uint_eq(d.nodes[1].weight, 3);
		ck_assert_uint_eq(d.n_datasets, 1);
		assert_str_eq(d.datasets[0].name, "imagenet");
		assert_str_eq(d.datasets[0].backend, "s3");
		ck_assert_uint_eq(d.datasets[0].block_size, 4u << 20);
		ck_assert_uint_eq(d.datasets[0].layout, 0xfeedface);
		ck_assert_uint_eq(d.datasets[0].layout_since_ms, 1234567);
		assert_str_eq(d.datasets[0].policy, "pin");
		ck_assert_uint_eq(d.datasets[0].metadata_ttl_ms, 60000);
		pr_hello_free(&d);
		ck_assert_ptr_null(d.nodes);
	}
	{
		pr_load_progress_t
			m = {1, 2, 3, 4, 5, PR_LOAD_SHORT, pr_str("a/b")},
			d;

		ENCODE(pr_load_progress_encode, &m, &b);
		ck_assert_int_eq(b.len, 40 + 1 + 2 + 3);
		ck_assert_int_eq(pr_load_progress_decode(&d, b.data, b.len), 0);
		ck_assert_uint_eq(d.files_done, 1);
		ck_assert_uint_eq(d.files_total, 2);
		ck_assert_uint_eq(d.bytes_done, 3);
		ck_assert_uint_eq(d.bytes_total, 4);
		ck_assert_uint_eq(d.errors, 5);
		ck_assert_uint_eq(d.state, PR_LOAD_SHORT);
		assert_str_eq(d.failed, "a/b");
		m.state = 2; /* no such state */
		pr_buf_reset(&b);
		ck_assert_int_eq(pr_load_progress_encode(&b, &m), -EINVAL);
	}
	{
		uint8_t held = 9;
		static const uint8_t two = 2;

		pr_buf_reset(&b);
		ck_assert_int_eq(pr_held_reply_encode(&b, 1), 0);
		ck_assert_int_eq(b.len, 1);
		ck_assert_int_eq(pr_held_reply_decode(&held, b.data, b.len), 0);
		ck_assert_uint_eq(held, 1);
		ck_assert_int_eq(pr_held_reply_encode(&b, 2), -EINVAL);
		ck_assert_int_eq(pr_held_reply_decode(&held, &two, 1),
				 -EBADMSG);
		ck_assert_int_eq(pr_held_reply_decode(&held, b.data, 0),
				 -EBADMSG);
		ck_assert_str_eq(pr_op_name(PR_OP_HELD), "HELD");
	}
	{
		pr_load_req_t m = {.dataset = pr_str("imagenet"),
				   .path = pr_str("train"),
				   .load_id = 7,
				   .parallel = 4,
				   .cancel = 1,
				   .n_skip = 1,
				   .skip = {pr_str("n2")}},
			      d;

		pr_buf_reset(&b);
		ENCODE(pr_load_req_encode, &m, &b);
		ck_assert_int_eq(pr_load_req_decode(&d, b.data, b.len), 0);
		assert_str_eq(d.dataset, "imagenet");
		assert_str_eq(d.path, "train");
		ck_assert_uint_eq(d.load_id, 7);
		ck_assert_uint_eq(d.parallel, 4);
		ck_assert_uint_eq(d.cancel, 1);
		ck_assert_uint_eq(d.n_skip, 1);
		assert_str_eq(d.skip[0], "n2");
		/* Refused both ways: no id, no parallelism, a bad node. */
		m.load_id = 0;
		pr_buf_reset(&b);
		ck_assert_int_eq(pr_load_req_encode(&b, &m), -EINVAL);
		m.load_id = 7;
		m.parallel = PR_MAX_LOAD_PARALLEL + 1;
		ck_assert_int_eq(pr_load_req_encode(&b, &m), -EINVAL);
		m.parallel = 0; /* a count: valid */
		pr_buf_reset(&b);
		ck_assert_int_eq(pr_load_req_encode(&b, &m), 0);
		m.parallel = 4;
		m.skip[0] = pr_str("..");
		ck_assert_int_eq(pr_load_req_encode(&b, &m), -EINVAL);
		ck_assert_int_eq(pr_load_req_decode(&d, b.data, b.len - 1),
				 -EBADMSG);
	}
	{
		pr_stats_item_t it[2] = {{pr_str("ram_hits"), 42},
					 {pr_str("ram_misses"), UINT64_MAX}};
		pr_stats_t m = {2, it}, d;

		ENCODE(pr_stats_encode, &m, &b);
		ck_assert_int_eq(pr_stats_decode(&d, b.data, b.len), 0);
		ck_assert_uint_eq(d.n_items, 2);
		assert_str_eq(d.items[0].name, "ram_hits");
		ck_assert_uint_eq(d.items[0].value, 42);
		assert_str_eq(d.items[1].name, "ram_misses");
		ck_assert_uint_eq(d.items[1].value, UINT64_MAX);
		pr_stats_free(&d);
	}
	{
		pr_evict_reply_t m = {17, 17u << 22}, d;

		ENCODE(pr_evict_reply_encode, &m, &b);
		ck_assert_int_eq(pr_evict_reply_decode(&d, b.data, b.len), 0);
		ck_assert_uint_eq(d.blocks, 17);
		ck_assert_uint_eq(d.bytes, 17u << 22);
	}
	{
		pr_str_t s;

		pr_buf_reset(&b);
		ck_assert_int_eq(pr_errmsg_encode(&b, "no such dataset"), 0);
		ck_assert_int_eq(pr_errmsg_decode(&s, b.data, b.len), 0);
		assert_str_eq(s, "no such dataset");
		pr_buf_reset(&b);
		ck_assert_int_eq(pr_errmsg_encode(&b, NULL), 0);
		ck_assert_int_eq(pr_errmsg_decode(&s, b.data, b.len), 0);
		ck_assert_uint_eq(s.len, 0);
	}
	pr_buf_fini(&b);
}
END_TEST

START_TEST(test_str_helpers)
{
	char small[4];
	pr_str_t s = pr_str("abcdef");

	ck_assert_uint_eq(s.len, 6);
	ck_assert_uint_eq(pr_str(NULL).len, 0);
	ck_assert_int_eq(pr_str_copy(small, sizeof(small), s), -ENAMETOOLONG);
	ck_assert_str_eq(small, "abc");
	ck_assert_int_eq(pr_str_copy(small, sizeof(small), pr_str("ab")), 0);
	ck_assert_str_eq(small, "ab");
	ck_assert(pr_str_eq(s, "abcdef"));
	ck_assert(!pr_str_eq(s, "abcde"));
	ck_assert(pr_str_eq(pr_str(""), ""));

	{
		pr_buf_t b;
		uint8_t *p;
		size_t n;

		pr_buf_init(&b);
		ck_assert_int_eq(pr_errmsg_encode(&b, "x"), 0);
		p = pr_buf_release(&b, &n);
		ck_assert_uint_eq(n, 3);
		ck_assert_ptr_null(b.data);
		ck_assert_uint_eq(b.len, 0);
		free(p);
		pr_buf_fini(&b);
	}
}
END_TEST

/* ---- The bytes each string field takes ---------------------------------- */

/* Whether a field of kind k takes byte c (PROTOCOL.md section 3): names
 * and the strings that reach headers, URLs and connects take no control
 * byte, quote or blank; paths and entries are file names (any byte but
 * NUL); metric names are visible ASCII; messages take no control byte. */
static int kind_takes(th_kind_t k, char c)
{
	int ctl = (unsigned char)c < 0x20 || c == 0x7f;

	switch (k) {
	case TH_PATH:
	case TH_ENTRY:
		return c != '\0';
	case TH_METRIC:
		return !ctl && c != ' ';
	case TH_ERRMSG:
		return !ctl;
	default:
		return 0;
	}
}

/*
 * CR, LF, quotes, NUL and control bytes in every string field of every
 * message: the decoder takes exactly what the field's rule allows (and
 * gives back those very bytes), refuses the rest with -EBADMSG, and the
 * encoder agrees (an error message's encoder replaces instead).
 */
START_TEST(test_string_fields)
{
	static const char probes[] = {'\r',   '\n',   '"',  '\0', '\x01',
				      '\x1b', '\x7f', '\t', ' ',  '\\'};
	pr_buf_t b;

	pr_buf_init(&b);
	for (size_t i = 0; i < th_n_fields; i++) {
		const th_field_t *f = &th_fields[i];
		const char *def = th_field_default(i);
		size_t dl = strlen(def), mid = dl / 2;

		/* Each probe put in the middle of the field's default (so an
		 * addr keeps an endpoint's shape), and a harmless 'x'. */
		for (size_t k = 0; k <= sizeof(probes); k++) {
			char c = k < sizeof(probes) ? probes[k] : 'x';
			int want = c == 'x' || kind_takes(f->kind, c);
			char val[512];
			pr_str_t s = {val, (uint32_t)dl + 1}, got;
			int rc, erc;

			memcpy(val, def, mid);
			val[mid] = c;
			memcpy(val + mid + 1, def + mid, dl - mid);
			pr_buf_reset(&b);
			th_field_raw(i, s, &b);
			rc = th_field_decode(i, b.data, b.len, &got);
			ck_assert_msg(want ? rc == 0 : rc == -EBADMSG,
				      "%s %s with byte 0x%02x: decoder says %d",
				      f->msg, f->field, (unsigned char)c, rc);
			if (rc == 0) {
				ck_assert_uint_eq(got.len, s.len);
				ck_assert_mem_eq(got.ptr, val, s.len);
			}
			pr_buf_reset(&b);
			erc = th_field_encode(i, s, &b);
			if (f->kind == TH_ERRMSG) {
				/* Replaced, never refused: what it wrote
				 * decodes, without the byte if it was bad. */
				ck_assert_int_eq(erc, 0);
				ck_assert_int_eq(
					th_field_decode(i, b.data, b.len, &got),
					0);
				ck_assert(want ==
					  !!memchr(got.ptr, c, got.len));
				continue;
			}
			ck_assert_msg(want ? erc == 0 : erc == -EINVAL,
				      "%s %s with byte 0x%02x: encoder says %d",
				      f->msg, f->field, (unsigned char)c, erc);
		}
	}
	pr_buf_fini(&b);
}
END_TEST

/* ---- Truncations ------------------------------------------------------ */

START_TEST(test_truncations)
{
	pr_buf_t b;

	rnd_seed();
	pr_buf_init(&b);
	for (int k = 0; k < K_N; k++) {
		for (int n = 0; n < 40; n++) {
			pr_buf_reset(&b);
			encode_sample(k, &b);
			ck_assert_msg(decode_exact(k, b.data, b.len) == 0,
				      "%s sample rejected", kind_names[k]);
			for (size_t cut = 0; cut < b.len; cut++)
				ck_assert_msg(decode_exact(k, b.data, cut) < 0,
					      "%s accepted at %zu/%zu",
					      kind_names[k], cut, b.len);
			/* A trailing byte is refused too. */
			buf_append(&b, "", 1);
			ck_assert_msg(decode_exact(k, b.data, b.len) < 0,
				      "%s accepted a trailing byte",
				      kind_names[k]);
		}
	}
	pr_buf_fini(&b);
}
END_TEST

/* ---- Random and mutated messages -------------------------------------- */

#define POOL	 32
#define WORK_CAP 4096

typedef struct sample {
	uint8_t *data;
	size_t len;
} sample_t;

static void put_bogus(uint8_t *w, size_t len)
{
	static const uint32_t vals[] = {0,
					1,
					2,
					64,
					65,
					128,
					129,
					255,
					256,
					1000,
					1001,
					1024,
					1025,
					4095,
					4096,
					0x7fff,
					0xffff,
					0x10000,
					PR_MAX_BLOCK,
					PR_MAX_BODY,
					PR_MAX_BODY + 1,
					0x7fffffff,
					0x80000000,
					0xffffffffu};
	uint32_t v = vals[rndn(SL_ARRAY_SIZE(vals))];
	int wide = rndn(2);
	size_t need = wide ? 4 : 2;
	size_t pos;

	if (len < need)
		return;
	pos = rndn((uint32_t)(len - need + 1));
	if (wide)
		sl_put_le32(w + pos, v);
	else
		sl_put_le16(w + pos, (uint16_t)v);
}

/* Apply one mutation to w[0..*len) (capacity WORK_CAP). */
static void mutate_once(uint8_t *w, size_t *len)
{
	size_t n = *len;

	switch (rndn(6)) {
	case 0: /* 1..8 bit flips */
		for (uint32_t i = 0, f = 1 + rndn(8); n && i < f; i++) {
			uint32_t at = rndn((uint32_t)n);

			w[at] ^= (uint8_t)(1u << rndn(8));
		}
		break;
	case 1: { /* insert 1..4 bytes */
		size_t k = 1 + rndn(4), pos;

		pos = rndn((uint32_t)n + 1);

		if (n + k > WORK_CAP)
			break;
		memmove(w + pos + k, w + pos, n - pos);
		for (size_t i = 0; i < k; i++)
			w[pos + i] = (uint8_t)rnd();
		*len = n + k;
		break;
	}
	case 2: { /* delete 1..4 bytes */
		size_t k = 1 + rndn(4), pos;

		if (n < k)
			break;
		pos = rndn((uint32_t)(n - k + 1));
		memmove(w + pos, w + pos + k, n - pos - k);
		*len = n - k;
		break;
	}
	case 3:
	case 4: /* a bogus count or length */
		put_bogus(w, n);
		break;
	case 5: /* truncate */
		*len = n ? rndn((uint32_t)n) : 0;
		break;
	}
}

START_TEST(test_fuzz_decoders)
{
	static sample_t pool[K_N][POOL];
	unsigned long iters = 1000000, accepted = 0;
	const char *env = getenv("SLUICE_FUZZ_ITERS");
	uint8_t *w = sl_xmalloc(WORK_CAP);
	pr_buf_t b;

	rnd_seed();
	if (env && *env)
		iters = strtoul(env, NULL, 0);
	pr_buf_init(&b);
	for (int k = 0; k < K_N; k++) {
		for (int i = 0; i < POOL; i++) {
			pr_buf_reset(&b);
			encode_sample(k, &b);
			pool[k][i].len = b.len;
			pool[k][i].data = sl_xmalloc(b.len);
			memcpy(pool[k][i].data, b.data, b.len);
		}
	}
	pr_buf_fini(&b);

	for (g_iter = 0; g_iter < iters; g_iter++) {
		int k = (int)rndn(K_N);
		size_t len;

		if (rndn(8) == 0) {
			/* Pure random bytes, to every decoder. */
			len = rndn(8) ? rndn(48) : rndn(400);
			if (rndn(4) == 0)
				len = PR_HEADER_SIZE;
			for (size_t i = 0; i < len; i++)
				w[i] = (uint8_t)rnd();
			if (len >= 4 && rndn(2))
				sl_put_le32(w, PR_MAGIC);
			for (int j = 0; j < K_N; j++)
				if (decode_exact(j, w, len) == 0)
					accepted++;
			continue;
		}
		{
			sample_t *s = &pool[k][rndn(POOL)];

			len = s->len;
			memcpy(w, s->data, len);
		}
		for (uint32_t m = 0, nm = 1 + (rndn(4) == 0 ? rndn(3) : 0);
		     m < nm; m++)
			mutate_once(w, &len);
		if (decode_exact(k, w, len) == 0)
			accepted++;
		/* The same bytes through another decoder. */
		if (decode_exact((int)rndn(K_N), w, len) == 0)
			accepted++;
	}
	for (int k = 0; k < K_N; k++)
		for (int i = 0; i < POOL; i++)
			free(pool[k][i].data);
	free(w);
	/* Mutations of fixed-size bodies often stay valid: a sanity check
	 * that the loop did exercise the success path too. */
	if (getenv("SLUICE_FUZZ_VERBOSE"))
		printf("fuzz: %lu iterations, %lu accepted\n", iters, accepted);
	ck_assert_uint_gt(accepted, iters / 100);
}
END_TEST

/* ---- Limits ----------------------------------------------------------- */

/* A valid path of exactly len bytes: 200-byte components. */
static char *long_path(size_t len)
{
	char *p = sl_xmalloc(len + 1);

	memset(p, 'a', len);
	for (size_t i = 200; i < len - 1; i += 201)
		p[i] = '/';
	p[len] = '\0';
	return p;
}

START_TEST(test_encode_limits)
{
	pr_buf_t b;
	char *p4095 = long_path(PR_MAX_PATH), *p4096 = long_path(4096);
	char big[1100];

	pr_buf_init(&b);
	{
		pr_target_t m = {pr_str("ds"), pr_str(p4095)};

		ck_assert_int_eq(pr_target_encode(&b, &m), 0);
		ck_assert_int_eq(decode_exact(K_TARGET, b.data, b.len), 0);
		pr_buf_reset(&b);
		m.path = pr_str(p4096);
		ck_assert_int_eq(pr_target_encode(&b, &m), -ENAMETOOLONG);
		ck_assert_uint_eq(b.len, 0); /* nothing appended */
		m.path = pr_str("../etc");
		ck_assert_int_eq(pr_target_encode(&b, &m), -EINVAL);
		m.path = pr_str("/abs");
		ck_assert_int_eq(pr_target_encode(&b, &m), -EINVAL);
		m.path = pr_str("a//b");
		ck_assert_int_eq(pr_target_encode(&b, &m), -EINVAL);
		m.path = pr_str("a/");
		ck_assert_int_eq(pr_target_encode(&b, &m), -EINVAL);
		m.path = pr_str("");
		m.dataset = pr_str("bad/name");
		ck_assert_int_eq(pr_target_encode(&b, &m), -EINVAL);
		m.dataset = pr_str("");
		ck_assert_int_eq(pr_target_encode(&b, &m), -EINVAL);
		memset(big, 'd', 65);
		big[65] = '\0';
		m.dataset = pr_str(big);
		ck_assert_int_eq(pr_target_encode(&b, &m), -ENAMETOOLONG);
		m.dataset.len = 64;
		ck_assert_int_eq(pr_target_encode(&b, &m), 0);
		pr_buf_reset(&b);
	}
	{
		pr_dirent_t *e =
			sl_xcalloc(PR_MAX_LIST_ENTRIES + 1, sizeof(*e));
		pr_list_reply_t m = {pr_str(""), PR_MAX_LIST_ENTRIES + 1, e};

		for (int i = 0; i <= PR_MAX_LIST_ENTRIES; i++) {
			e[i].name = pr_str("f");
			e[i].st.type = PR_TYPE_FILE;
		}
		ck_assert_int_eq(pr_list_reply_encode(&b, &m), -EMSGSIZE);
		m.n_entries = PR_MAX_LIST_ENTRIES;
		ck_assert_int_eq(pr_list_reply_encode(&b, &m), 0);
		ck_assert_int_eq(decode_exact(K_LIST_REPLY, b.data, b.len), 0);
		/* A count one past the limit on the wire. */
		sl_put_le32(b.data + 2, PR_MAX_LIST_ENTRIES + 1);
		ck_assert_int_eq(decode_exact(K_LIST_REPLY, b.data, b.len),
				 -EMSGSIZE);
		/* A count the bytes cannot hold. */
		sl_put_le32(b.data + 2, 1000);
		ck_assert_int_eq(decode_exact(K_LIST_REPLY, b.data, 6 + 25),
				 -EBADMSG);
		pr_buf_reset(&b);
		e[0].name = pr_str("..");
		ck_assert_int_eq(pr_list_reply_encode(&b, &m), -EINVAL);
		e[0].name = pr_str("a/b");
		ck_assert_int_eq(pr_list_reply_encode(&b, &m), -EINVAL);
		e[0].name = pr_str("f");
		e[0].st.mode = 010000;
		ck_assert_int_eq(pr_list_reply_encode(&b, &m), -EINVAL);
		e[0].st.mode = 0;
		e[0].st.type = 3;
		ck_assert_int_eq(pr_list_reply_encode(&b, &m), -EINVAL);
		free(e);
	}
	{
		pr_list_req_t m = {pr_str("ds"), pr_str(""), pr_str(""), 0};

		ck_assert_int_eq(pr_list_req_encode(&b, &m), -EINVAL);
		m.max_entries = PR_MAX_LIST_ENTRIES + 1;
		ck_assert_int_eq(pr_list_req_encode(&b, &m), -EMSGSIZE);
		m.max_entries = 1;
		memset(big, 'c', PR_MAX_CURSOR + 1);
		big[PR_MAX_CURSOR + 1] = '\0';
		m.cursor = pr_str(big);
		ck_assert_int_eq(pr_list_req_encode(&b, &m), -EMSGSIZE);
		m.cursor.len = PR_MAX_CURSOR;
		ck_assert_int_eq(pr_list_req_encode(&b, &m), 0);
		pr_buf_reset(&b);
	}
	{
		pr_read_req_t m = {.dataset = pr_str("ds"),
				   .layout = 1,
				   .path = pr_str("f"),
				   .version = pr_str(""),
				   .offset = PR_MAX_BLOCK - 10,
				   .length = 11};

		ck_assert_int_eq(pr_read_req_encode(&b, &m), -EMSGSIZE);
		m.length = 10;
		ck_assert_int_eq(pr_read_req_encode(&b, &m), 0);
		pr_buf_reset(&b);
		memset(big, 'v', PR_MAX_VERSION + 1);
		big[PR_MAX_VERSION + 1] = '\0';
		m.version = pr_str(big);
		ck_assert_int_eq(pr_read_req_encode(&b, &m), -EMSGSIZE);
	}
	{
		pr_hello_node_t *n = sl_xcalloc(PR_MAX_NODES + 1, sizeof(*n));
		pr_hello_t m = {.cluster = pr_str("c"),
				.node = pr_str("n"),
				.ring_version = 1,
				.n_nodes = PR_MAX_NODES + 1,
				.nodes = n};

		for (int i = 0; i <= PR_MAX_NODES; i++)
			n[i] = (pr_hello_node_t){pr_str("n"),
						 pr_str("tcp://h:1"), 1};
		ck_assert_int_eq(pr_hello_encode(&b, &m), -EMSGSIZE);
		m.n_nodes = PR_MAX_NODES;
		ck_assert_int_eq(pr_hello_encode(&b, &m), 0);
		pr_buf_reset(&b);
		n[0].weight = 0;
		ck_assert_int_eq(pr_hello_encode(&b, &m), -EINVAL);
		n[0].weight = 101;
		ck_assert_int_eq(pr_hello_encode(&b, &m), -EINVAL);
		free(n);
	}
	{
		/* A dataset's layout is never 0 (0 would match no READ). */
		pr_hello_node_t n = {pr_str("n"), pr_str("tcp://h:1"), 1};
		pr_hello_dataset_t d = {.name = pr_str("d"),
					.backend = pr_str("posix"),
					.block_size = 4096,
					.policy = pr_str("lru")};
		pr_hello_t m = {.cluster = pr_str("c"),
				.node = pr_str("n"),
				.ring_version = 1,
				.n_nodes = 1,
				.nodes = &n,
				.n_datasets = 1,
				.datasets = &d};

		ck_assert_int_eq(pr_hello_encode(&b, &m), -EINVAL);
		d.layout = 1;
		ck_assert_int_eq(pr_hello_encode(&b, &m), 0);
		pr_buf_reset(&b);
	}
	{
		pr_stats_item_t *it = sl_xcalloc(PR_MAX_STATS + 1, sizeof(*it));
		pr_stats_t m = {PR_MAX_STATS + 1, it};

		for (int i = 0; i <= PR_MAX_STATS; i++)
			it[i].name = pr_str("m");
		ck_assert_int_eq(pr_stats_encode(&b, &m), -EMSGSIZE);
		m.n_items = PR_MAX_STATS;
		ck_assert_int_eq(pr_stats_encode(&b, &m), 0);
		pr_buf_reset(&b);
		free(it);
	}
	{
		/* Error messages are cut at the limit, on a UTF-8 boundary. */
		char *msg = sl_xmalloc(2002);
		pr_str_t s;

		msg[0] = 'x';
		for (int i = 1; i < 2001; i += 2) {
			msg[i] = (char)0xc3; /* "é" */
			msg[i + 1] = (char)0xa9;
		}
		msg[2001] = '\0';
		/* "é" * 1000: the cut at 1024 falls between two of them. */
		ck_assert_int_eq(pr_errmsg_encode(&b, msg + 1), 0);
		ck_assert_int_eq(pr_errmsg_decode(&s, b.data, b.len), 0);
		ck_assert_uint_eq(s.len, PR_MAX_ERRMSG);
		/* "x" then "é" * 1000: it would fall inside one. */
		pr_buf_reset(&b);
		ck_assert_int_eq(pr_errmsg_encode(&b, msg), 0);
		ck_assert_int_eq(pr_errmsg_decode(&s, b.data, b.len), 0);
		ck_assert_uint_eq(s.len, PR_MAX_ERRMSG - 1);
		ck_assert_uint_eq((unsigned char)s.ptr[s.len - 1], 0xa9);
		free(msg);
		pr_buf_reset(&b);
		/* Over the limit on the wire. */
		{
			uint8_t raw[2 + PR_MAX_ERRMSG + 1];

			memset(raw, 'e', sizeof(raw));
			sl_put_le16(raw, PR_MAX_ERRMSG + 1);
			ck_assert_int_eq(pr_errmsg_decode(&s, raw, sizeof(raw)),
					 -EMSGSIZE);
			raw[5] = '\0';
			sl_put_le16(raw, PR_MAX_ERRMSG);
			ck_assert_int_eq(
				pr_errmsg_decode(&s, raw, sizeof(raw) - 1),
				-EBADMSG);
		}
	}
	{
		/* Decoders refuse bad paths and embedded NULs. */
		static const char *const bad[] = {"..", "a/../b", "/x", "x/",
						  "a//b"};
		uint8_t raw[64];

		for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
			size_t n = strlen(bad[i]);

			sl_put_le16(raw, 2);
			memcpy(raw + 2, "ds", 2);
			sl_put_le16(raw + 4, (uint16_t)n);
			memcpy(raw + 6, bad[i], n);
			ck_assert_int_eq(decode_exact(K_TARGET, raw, 6 + n),
					 -EBADMSG);
		}
		memcpy(raw + 6, "a\0b", 3);
		sl_put_le16(raw + 4, 3);
		ck_assert_int_eq(decode_exact(K_TARGET, raw, 9), -EBADMSG);
		memcpy(raw + 6, "ab", 3);
		sl_put_le16(raw + 4, 2);
		ck_assert_int_eq(decode_exact(K_TARGET, raw, 8), 0);
		memcpy(raw + 2, "d\0", 2);
		ck_assert_int_eq(decode_exact(K_TARGET, raw, 8), -EBADMSG);
	}
	pr_buf_fini(&b);
	free(p4095);
	free(p4096);
}
END_TEST

/* ---- LZ4 -------------------------------------------------------------- */

START_TEST(test_lz4)
{
	size_t n = 256 << 10, got;
	uint8_t *raw = sl_xmalloc(n), *out = sl_xmalloc(n), *rnd_bytes;
	pr_buf_t b;

	rnd_seed();
	for (size_t i = 0; i < n; i++)
		raw[i] = (uint8_t)("training data, block "[i % 21] + i / 4096);
	pr_buf_init(&b);
	ck_assert_int_eq(pr_lz4_pack(&b, raw, n), 0);
	ck_assert_uint_le(b.len * 8, n * 7);
	ck_assert_int_eq(pr_lz4_raw_len(b.data, b.len), (int64_t)n);
	ck_assert_int_eq(pr_lz4_unpack(b.data, b.len, out, n, &got), 0);
	ck_assert_uint_eq(got, n);
	ck_assert_mem_eq(out, raw, n);

	/* Too small an output buffer. */
	ck_assert_int_eq(pr_lz4_unpack(b.data, b.len, out, n - 1, &got),
			 -EBADMSG);
	/* A wrong announced length, either way. */
	sl_put_le32(b.data, (uint32_t)n + 1);
	ck_assert_int_eq(pr_lz4_unpack(b.data, b.len, out, n, &got), -EBADMSG);
	sl_put_le32(b.data, (uint32_t)n - 1);
	ck_assert_int_eq(pr_lz4_unpack(b.data, b.len, out, n, &got), -EBADMSG);
	sl_put_le32(b.data, 0);
	ck_assert_int_eq(pr_lz4_unpack(b.data, b.len, out, n, &got), -EBADMSG);
	sl_put_le32(b.data, PR_MAX_BODY + 1);
	ck_assert_int_eq(pr_lz4_raw_len(b.data, b.len), -EBADMSG);
	sl_put_le32(b.data, (uint32_t)n);
	/* Truncated blocks. */
	ck_assert_int_eq(pr_lz4_unpack(b.data, b.len - 1, out, n, &got),
			 -EBADMSG);
	ck_assert_int_eq(pr_lz4_unpack(b.data, 4, out, n, &got), -EBADMSG);
	ck_assert_int_eq(pr_lz4_unpack(b.data, 3, out, n, &got), -EBADMSG);
	/* Random damage never crashes; what decodes has the right size. */
	for (int i = 0; i < 2000; i++) {
		uint8_t *c = sl_xmalloc(b.len);

		memcpy(c, b.data, b.len);
		for (int f = 0, nf = 1 + (int)rndn(8); f < nf; f++) {
			uint32_t at = 4 + rndn((uint32_t)b.len - 4);

			c[at] ^= (uint8_t)rnd();
		}
		if (pr_lz4_unpack(c, b.len, out, n, &got) == 0)
			ck_assert_uint_eq(got, n);
		free(c);
	}

	/* Incompressible: -EAGAIN, and b is left as it was. */
	rnd_bytes = sl_xmalloc(n);
	for (size_t i = 0; i < n; i++)
		rnd_bytes[i] = (uint8_t)rnd();
	pr_buf_reset(&b);
	ck_assert_int_eq(pr_lz4_pack(&b, rnd_bytes, n), -EAGAIN);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(pr_lz4_pack(&b, raw, 0), -EAGAIN);
	ck_assert_int_eq(pr_lz4_pack(&b, raw, 7), -EAGAIN);
	/* Appends after what is already there. */
	buf_append(&b, "xy", 2);
	ck_assert_int_eq(pr_lz4_pack(&b, raw, 4096), 0);
	ck_assert_int_eq(pr_lz4_unpack(b.data + 2, b.len - 2, out, n, &got), 0);
	ck_assert_uint_eq(got, 4096);
	ck_assert_mem_eq(out, raw, 4096);

	pr_buf_fini(&b);
	free(rnd_bytes);
	free(raw);
	free(out);
}
END_TEST

/* ---- Transport -------------------------------------------------------- */

typedef struct pair {
	void *ctx;
	void *router;
	void *dealer;
} pair_t;

static void pair_open(pair_t *p, const char *ep)
{
	int zero = 0, tmo = 5000;

	p->ctx = zmq_ctx_new();
	ck_assert_ptr_nonnull(p->ctx);
	p->router = zmq_socket(p->ctx, ZMQ_ROUTER);
	p->dealer = zmq_socket(p->ctx, ZMQ_DEALER);
	ck_assert_ptr_nonnull(p->router);
	ck_assert_ptr_nonnull(p->dealer);
	for (int i = 0; i < 2; i++) {
		void *s = i ? p->dealer : p->router;

		zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof(zero));
		zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof(tmo));
		zmq_setsockopt(s, ZMQ_SNDTIMEO, &tmo, sizeof(tmo));
	}
	ck_assert_int_eq(zmq_bind(p->router, ep), 0);
	ck_assert_int_eq(zmq_connect(p->dealer, ep), 0);
}

static void pair_close(pair_t *p)
{
	zmq_close(p->dealer);
	zmq_close(p->router);
	zmq_ctx_term(p->ctx);
}

/* Send raw frames from the dealer, the last without SNDMORE. */
static void send_frames(void *sock, const void *const *data, const size_t *len,
			int n)
{
	for (int i = 0; i < n; i++)
		ck_assert_int_ge(zmq_send(sock, data[i], len[i],
					  i + 1 < n ? ZMQ_SNDMORE : 0),
				 0);
}

static void send_good(void *sock, uint64_t req_id)
{
	pr_header_t h = {.opcode = PR_OP_STAT, .req_id = req_id};

	ck_assert_int_eq(pr_send(sock, NULL, &h, "good", 4, 0), 0);
}

static void recv_good(void *sock, uint64_t req_id)
{
	pr_msg_t m;

	pr_msg_init(&m);
	ck_assert_int_eq(pr_recv(sock, &m, 1, 0), 0);
	ck_assert_uint_eq(m.h.req_id, req_id);
	ck_assert_uint_eq(pr_msg_body_len(&m), 4);
	ck_assert_mem_eq(pr_msg_body(&m), "good", 4);
	pr_msg_close(&m);
}

START_TEST(test_transport_roundtrip)
{
	pair_t p;
	pr_msg_t m, c;
	pr_buf_t b;
	pr_read_req_t rq = {pr_str("imagenet"),
			    77,
			    pr_str("train/x.jpg"),
			    pr_str("v1"),
			    3,
			    0,
			    0},
		      d;
	pr_header_t h = {.opcode = PR_OP_READ, .req_id = 42, .ring_version = 7};
	pr_header_t r = {0};

	pair_open(&p, "inproc://pr-roundtrip");
	pr_buf_init(&b);
	pr_msg_init(&m);
	pr_msg_init(&c);
	ck_assert_int_eq(pr_read_req_encode(&b, &rq), 0);
	ck_assert_int_eq(pr_send(p.dealer, NULL, &h, b.data, b.len, 0), 0);
	ck_assert_uint_eq(h.body_len, b.len);
	ck_assert_uint_eq(h.body_hash, pr_body_hash(b.data, b.len));

	ck_assert_int_eq(pr_recv(p.router, &m, 1, 0), 0);
	ck_assert(m.has_identity && m.header_ok);
	ck_assert_uint_gt(zmq_msg_size(&m.identity), 0);
	ck_assert_uint_eq(m.h.opcode, PR_OP_READ);
	ck_assert_uint_eq(m.h.flags, 0);
	ck_assert_uint_eq(m.h.req_id, 42);
	ck_assert_uint_eq(m.h.ring_version, 7);
	ck_assert_uint_eq(pr_msg_body_len(&m), b.len);
	ck_assert_int_eq(
		pr_read_req_decode(&d, pr_msg_body(&m), pr_msg_body_len(&m)),
		0);
	ck_assert(pr_str_eq(d.path, "train/x.jpg"));
	ck_assert_uint_eq(d.block, 3);

	/* Two replies through the same (borrowed) identity. */
	for (int i = 0; i < 2; i++) {
		r.opcode = m.h.opcode;
		r.flags = PR_F_REPLY;
		r.req_id = m.h.req_id + (uint64_t)i;
		r.ring_version = 9;
		ck_assert_int_eq(
			pr_send(p.router, &m.identity, &r, "bytes", 5, 0), 0);
		ck_assert_int_eq(pr_recv(p.dealer, &c, 0, 0), 0);
		ck_assert(!c.has_identity && c.header_ok);
		ck_assert_uint_eq(c.h.flags, PR_F_REPLY);
		ck_assert_uint_eq(c.h.req_id, 42 + (uint64_t)i);
		ck_assert_uint_eq(c.h.ring_version, 9);
		ck_assert_uint_eq(pr_msg_body_len(&c), 5);
		ck_assert_mem_eq(pr_msg_body(&c), "bytes", 5);
		pr_msg_close(&c);
	}
	/* An empty body: no body frame. */
	r.req_id = 50;
	ck_assert_int_eq(pr_send(p.router, &m.identity, &r, NULL, 0, 0), 0);
	ck_assert_int_eq(pr_recv(p.dealer, &c, 0, 0), 0);
	ck_assert_uint_eq(c.h.req_id, 50);
	ck_assert_uint_eq(pr_msg_body_len(&c), 0);
	ck_assert_uint_eq(c.h.body_hash, 0);
	pr_msg_close(&c);

	ck_assert_int_eq(pr_recv(p.dealer, &c, 0, ZMQ_DONTWAIT), -EAGAIN);
	pr_msg_close(&c);
	pr_msg_close(&m);
	pr_buf_fini(&b);
	pair_close(&p);
}
END_TEST

static atomic_int g_freed;

static void count_free(void *data, void *hint)
{
	ck_assert_ptr_eq(hint, &g_freed);
	free(data);
	atomic_fetch_add(&g_freed, 1);
}

static void wait_freed(int want)
{
	struct timespec ts = {0, 10 * 1000 * 1000};

	for (int i = 0; i < 300 && atomic_load(&g_freed) < want; i++)
		nanosleep(&ts, NULL);
	nanosleep(&ts, NULL); /* and no second call after that */
	ck_assert_int_eq(atomic_load(&g_freed), want);
}

START_TEST(test_transport_zerocopy)
{
	pair_t p;
	pr_msg_t m;
	pr_header_t h = {
		.opcode = PR_OP_READ, .flags = PR_F_REPLY, .req_id = 1};
	size_t n = 1 << 20;
	uint8_t *data = sl_xmalloc(n), *copy = sl_xmalloc(n);

	pair_open(&p, "inproc://pr-zc");
	pr_msg_init(&m);
	for (size_t i = 0; i < n; i++)
		data[i] = (uint8_t)(i * 31);
	memcpy(copy, data, n);

	ck_assert_int_eq(pr_send_zc(p.dealer, NULL, &h, data, n, count_free,
				    &g_freed, 0),
			 0);
	ck_assert_int_eq(pr_recv(p.router, &m, 1, 0), 0);
	ck_assert_uint_eq(pr_msg_body_len(&m), n);
	ck_assert_mem_eq(pr_msg_body(&m), copy, n);
	pr_msg_close(&m);
	wait_freed(1);

	/* An empty body is released at once; an oversized one is refused
	 * and released too. */
	ck_assert_int_eq(pr_send_zc(p.dealer, NULL, &h, sl_xmalloc(8), 0,
				    count_free, &g_freed, 0),
			 0);
	wait_freed(2);
	ck_assert_int_eq(pr_recv(p.router, &m, 1, 0), 0);
	ck_assert_uint_eq(pr_msg_body_len(&m), 0);
	pr_msg_close(&m);
	ck_assert_int_eq(pr_send_zc(p.dealer, NULL, &h, sl_xmalloc(8),
				    (size_t)PR_MAX_BODY + 1, count_free,
				    &g_freed, 0),
			 -EMSGSIZE);
	wait_freed(3);
	/* A header the encoder refuses (unknown flag) releases it too. */
	h.flags = 0x8000;
	ck_assert_int_eq(pr_send_zc(p.dealer, NULL, &h, sl_xmalloc(8), 8,
				    count_free, &g_freed, 0),
			 -EINVAL);
	wait_freed(4);
	ck_assert_int_eq(pr_recv(p.router, &m, 1, ZMQ_DONTWAIT), -EAGAIN);

	free(copy);
	pair_close(&p);
}
END_TEST

START_TEST(test_transport_bad_messages)
{
	pair_t p;
	pr_msg_t m, c;
	pr_header_t h = {.opcode = PR_OP_STAT, .req_id = 5, .body_len = 4};
	uint8_t hdr[PR_HEADER_SIZE];
	pr_str_t s;

	pair_open(&p, "inproc://pr-bad");
	pr_msg_init(&m);
	pr_msg_init(&c);

	/* A bad body hash: -EBADMSG, answerable, and the next one arrives. */
	h.body_hash = pr_body_hash("abcd", 4) ^ 1;
	ck_assert_int_eq(pr_header_encode(&h, hdr), 0);
	{
		const void *f[2] = {hdr, "abcd"};
		size_t l[2] = {PR_HEADER_SIZE, 4};

		send_frames(p.dealer, f, l, 2);
	}
	send_good(p.dealer, 6);
	ck_assert_int_eq(pr_recv(p.router, &m, 1, 0), -EBADMSG);
	ck_assert(m.header_ok && m.has_identity);
	ck_assert_uint_eq(m.h.req_id, 5);
	ck_assert_uint_eq(pr_msg_body_len(&m), 0);
	ck_assert_int_eq(pr_send_error(p.router, &m, 3, -EBADMSG, "bad hash"),
			 0);
	recv_good(p.router, 6);
	ck_assert_int_eq(pr_recv(p.dealer, &c, 0, 0), 0);
	ck_assert_uint_eq(c.h.flags, PR_F_REPLY);
	ck_assert_uint_eq(c.h.opcode, PR_OP_STAT);
	ck_assert_uint_eq(c.h.req_id, 5);
	ck_assert_int_eq(c.h.status, -EBADMSG);
	ck_assert_uint_eq(c.h.ring_version, 3);
	ck_assert_int_eq(
		pr_errmsg_decode(&s, pr_msg_body(&c), pr_msg_body_len(&c)), 0);
	ck_assert(pr_str_eq(s, "bad hash"));
	/* Never answer a reply. */
	ck_assert_int_eq(pr_send_error(p.dealer, &c, 3, -EBADMSG, "x"),
			 -EINVAL);
	pr_msg_close(&c);

	/* Five frames: rejected whole, the stream stays in sync. */
	h.body_hash = pr_body_hash("abcd", 4);
	ck_assert_int_eq(pr_header_encode(&h, hdr), 0);
	{
		const void *f[5] = {hdr, "abcd", "x", "y", "z"};
		size_t l[5] = {PR_HEADER_SIZE, 4, 1, 1, 1};

		send_frames(p.dealer, f, l, 5);
	}
	send_good(p.dealer, 7);
	ck_assert_int_eq(pr_recv(p.router, &m, 1, 0), -EBADMSG);
	ck_assert(m.header_ok);
	recv_good(p.router, 7);

	/* A short header and a bad magic: dropped (not answerable). */
	{
		const void *f[1] = {hdr};
		size_t l[1] = {PR_HEADER_SIZE - 1};

		send_frames(p.dealer, f, l, 1);
		hdr[0] ^= 0xff;
		l[0] = PR_HEADER_SIZE;
		send_frames(p.dealer, f, l, 1);
		hdr[0] ^= 0xff;
	}
	send_good(p.dealer, 8);
	ck_assert_int_eq(pr_recv(p.router, &m, 1, 0), -EBADMSG);
	ck_assert(!m.header_ok);
	ck_assert_int_eq(pr_send_error(p.router, &m, 3, -EBADMSG, "x"),
			 -EINVAL);
	ck_assert_int_eq(pr_recv(p.router, &m, 1, 0), -EBADMSG);
	ck_assert(!m.header_ok);
	recv_good(p.router, 8);

	/* body_len says 4 but no body frame; an empty body frame. */
	{
		const void *f[2] = {hdr, ""};
		size_t l[2] = {PR_HEADER_SIZE, 0};

		send_frames(p.dealer, f, l, 1);
		h.body_len = 0;
		h.body_hash = 0;
		ck_assert_int_eq(pr_header_encode(&h, hdr), 0);
		send_frames(p.dealer, f, l, 2);
	}
	send_good(p.dealer, 9);
	ck_assert_int_eq(pr_recv(p.router, &m, 1, 0), -EBADMSG);
	ck_assert_int_eq(pr_recv(p.router, &m, 1, 0), -EBADMSG);
	recv_good(p.router, 9);

	/* Another protocol version: answered with ours. */
	hdr[4] = PR_VERSION + 1;
	{
		const void *f[1] = {hdr};
		size_t l[1] = {PR_HEADER_SIZE};

		send_frames(p.dealer, f, l, 1);
	}
	ck_assert_int_eq(pr_recv(p.router, &m, 1, 0), -EPROTONOSUPPORT);
	ck_assert(m.header_ok);
	ck_assert_int_eq(pr_send_error(p.router, &m, 3, -EPROTONOSUPPORT,
				       "protocol version 1 only"),
			 0);
	ck_assert_int_eq(pr_recv(p.dealer, &c, 0, 0), 0);
	ck_assert_int_eq(c.h.status, -EPROTONOSUPPORT);
	ck_assert_uint_eq(c.h.req_id, 5);

	/* Unknown opcode: the transport delivers it, the node answers. */
	{
		pr_header_t u = {.opcode = 200, .req_id = 11};

		ck_assert_int_eq(pr_send(p.dealer, NULL, &u, NULL, 0, 0), 0);
		ck_assert_int_eq(pr_recv(p.router, &m, 1, 0), 0);
		ck_assert(!pr_op_known(m.h.opcode));
		ck_assert_int_eq(pr_send_error(p.router, &m, 3, -EOPNOTSUPP,
					       "unknown opcode"),
				 0);
		ck_assert_int_eq(pr_recv(p.dealer, &c, 0, 0), 0);
		ck_assert_int_eq(c.h.status, -EOPNOTSUPP);
		ck_assert_uint_eq(c.h.opcode, 200);
	}

	pr_msg_close(&c);
	pr_msg_close(&m);
	pair_close(&p);
}
END_TEST

static Suite *proto_suite(void)
{
	return TH_SUITE(
		"proto",
		{.name = "codec",
		 .tests = TH_TESTS(test_header_roundtrip, test_header_tier,
				   test_header_rules, test_body_roundtrip,
				   test_str_helpers, test_string_fields,
				   test_truncations, test_encode_limits,
				   test_lz4),
		 .timeout = 60},
		{.name = "fuzz",
		 .tests = TH_TESTS(test_fuzz_decoders),
		 .timeout = 300},
		{.name = "transport",
		 .tests = TH_TESTS(test_transport_roundtrip,
				   test_transport_zerocopy,
				   test_transport_bad_messages),
		 .timeout = 60});
}

int main(void)
{
	return th_check_run(proto_suite(), NULL);
}
