/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The protocol codec (proto.h is the contract, PROTOCOL.md the byte layout).
 * Encoders and decoders share one validator per kind of field, so an encoder
 * refuses exactly what a decoder rejects, and anything that decodes encodes
 * again to the same bytes.  Decoders read through a cursor with a sticky
 * error: every read is bounds-checked against what is left of the buffer,
 * the first failure sticks, and later reads return zeroes.  Counts are
 * checked against their limit and against the bytes left before anything is
 * allocated, so a small message never makes a large allocation.
 */
#include "proto/proto.h"

#include <errno.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/config.h"
#include "common/path.h"
#include "common/util.h"

/* Header layout (PROTOCOL.md, "Header"). */
enum {
	HO_MAGIC = 0,
	HO_VERSION = 4,
	HO_OPCODE = 5,
	HO_FLAGS = 6,
	HO_REQ_ID = 8,
	HO_STATUS = 16,
	HO_RING = 20,
	HO_BODY_LEN = 24,
	HO_RESERVED = 28,
	HO_BODY_HASH = 32,
	HO_END = 40,
};
_Static_assert(HO_END == PR_HEADER_SIZE, "header layout != PR_HEADER_SIZE");
_Static_assert(PR_MAX_PATH == SL_PATH_MAX, "wire path limit != SL_PATH_MAX");
_Static_assert(PR_MAX_NAME == SL_COMPONENT_MAX, "name limit != component");
_Static_assert(PR_MAX_BLOCK == SL_BLOCK_SIZE_MAX, "block limit != config");
_Static_assert(PR_MAX_PATH <= UINT16_MAX && PR_MAX_CURSOR <= UINT16_MAX,
	       "wire strings carry a u16 length");
_Static_assert(PR_MAX_BODY <= LZ4_MAX_INPUT_SIZE, "body too large for LZ4");

/* Status values cross the wire as Linux's errno numbers. */
#ifdef __linux__
_Static_assert(ENOENT == 2 && EIO == 5 && EAGAIN == 11 && EINVAL == 22 &&
		       ENAMETOOLONG == 36 && ENODATA == 61 && EBADMSG == 74 &&
		       EMSGSIZE == 90 && EPROTONOSUPPORT == 93 &&
		       EOPNOTSUPP == 95 && ESTALE == 116,
	       "errno values differ from the wire's (Linux) numbers");
#endif

/* Node weights, as in the configuration (a weight sizes the ring). */
#define PR_MAX_WEIGHT 100 /* as the config: [node] weight */

/* Smallest encoding of one array element, to bound counts by bytes left. */
#define MIN_STAT    (1 + 4 + 8 + 8 + 2)
#define MIN_DIRENT  (2 + 1 + MIN_STAT)
#define MIN_NODE    (2 + 1 + 2 + 1 + 4)
#define MIN_DATASET (2 + 1 + 2 + 1 + 4 + 2 + 1 + 8)
#define MIN_ITEM    (2 + 1 + 8)
#define LOAD_SIZE   (5 * 8)
#define EVICT_SIZE  (2 * 8)
#define LZ4_HDR	    4

static const char *const op_names[PR_OP_MAX + 1] = {
	[PR_OP_HELLO] = "HELLO",	 [PR_OP_STAT] = "STAT",
	[PR_OP_LIST] = "LIST",		 [PR_OP_READ] = "READ",
	[PR_OP_PREFETCH] = "PREFETCH",	 [PR_OP_LOAD] = "LOAD",
	[PR_OP_STATS] = "STATS",	 [PR_OP_EVICT] = "EVICT",
	[PR_OP_PEER_READ] = "PEER_READ",
};

int pr_op_known(unsigned op)
{
	return op >= 1 && op <= PR_OP_MAX;
}

const char *pr_op_name(unsigned op)
{
	return pr_op_known(op) ? op_names[op] : "UNKNOWN";
}

/* ---- Header ---------------------------------------------------------- */

/* The rules on header fields beyond size, magic and version.  Returns 0,
 * -EINVAL or -EMSGSIZE (the decoder turns -EINVAL into -EBADMSG). */
static int header_check(const pr_header_t *h)
{
	int reply = !!(h->flags & PR_F_REPLY);

	if (h->flags & ~PR_F_KNOWN)
		return -EINVAL;
	if ((h->flags & PR_F_MORE) && !reply)
		return -EINVAL;
	if (h->status > 0 || (h->status < 0 && !reply))
		return -EINVAL;
	if (h->status < 0 && (h->flags & PR_F_MORE))
		return -EINVAL;
	if (h->body_len == 0 && (h->body_hash != 0 || (h->flags & PR_F_LZ4)))
		return -EINVAL;
	if (h->body_len > PR_MAX_BODY)
		return -EMSGSIZE;
	return 0;
}

int pr_header_encode(const pr_header_t *h, uint8_t *out)
{
	int rc = header_check(h);

	if (rc < 0)
		return rc;
	sl_put_le32(out + HO_MAGIC, PR_MAGIC);
	out[HO_VERSION] = PR_VERSION;
	out[HO_OPCODE] = h->opcode;
	sl_put_le16(out + HO_FLAGS, h->flags);
	sl_put_le64(out + HO_REQ_ID, h->req_id);
	sl_put_le32(out + HO_STATUS, (uint32_t)h->status);
	sl_put_le32(out + HO_RING, h->ring_version);
	sl_put_le32(out + HO_BODY_LEN, h->body_len);
	sl_put_le32(out + HO_RESERVED, 0);
	sl_put_le64(out + HO_BODY_HASH, h->body_hash);
	return 0;
}

int pr_header_decode(pr_header_t *h, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int rc;

	memset(h, 0, sizeof(*h));
	if (len != PR_HEADER_SIZE || !p ||
	    sl_get_le32(p + HO_MAGIC) != PR_MAGIC)
		return -EBADMSG;
	h->opcode = p[HO_OPCODE];
	h->flags = sl_get_le16(p + HO_FLAGS);
	h->req_id = sl_get_le64(p + HO_REQ_ID);
	h->status = (int32_t)sl_get_le32(p + HO_STATUS);
	h->ring_version = sl_get_le32(p + HO_RING);
	h->body_len = sl_get_le32(p + HO_BODY_LEN);
	h->body_hash = sl_get_le64(p + HO_BODY_HASH);
	/* First, so that a future version's other rules cannot hide it. */
	if (p[HO_VERSION] != PR_VERSION)
		return -EPROTONOSUPPORT;
	if (sl_get_le32(p + HO_RESERVED) != 0)
		return -EBADMSG;
	rc = header_check(h);
	return rc == -EINVAL ? -EBADMSG : rc;
}

uint64_t pr_body_hash(const void *body, size_t len)
{
	return len ? XXH3_64bits(body, len) : 0;
}

int pr_body_verify(const pr_header_t *h, const void *body, size_t len)
{
	if (len != h->body_len || pr_body_hash(body, len) != h->body_hash)
		return -EBADMSG;
	return 0;
}

/* ---- Output buffer --------------------------------------------------- */

void pr_buf_init(pr_buf_t *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void pr_buf_fini(pr_buf_t *b)
{
	free(b->data);
	pr_buf_init(b);
}

void pr_buf_reset(pr_buf_t *b)
{
	b->len = 0;
}

uint8_t *pr_buf_release(pr_buf_t *b, size_t *len)
{
	uint8_t *data = b->data;

	*len = b->len;
	pr_buf_init(b);
	return data;
}

/* Make room for n more bytes; returns where they go (len not advanced). */
static uint8_t *buf_reserve(pr_buf_t *b, size_t n)
{
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 64;

		while (cap - b->len < n)
			cap *= 2;
		b->data = sl_xrealloc(b->data, cap);
		b->cap = cap;
	}
	return b->data + b->len;
}

static uint8_t *buf_add(pr_buf_t *b, size_t n)
{
	uint8_t *p = buf_reserve(b, n);

	b->len += n;
	return p;
}

static void put_u8(pr_buf_t *b, uint8_t v)
{
	*buf_add(b, 1) = v;
}

static void put_u16(pr_buf_t *b, uint16_t v)
{
	sl_put_le16(buf_add(b, 2), v);
}

static void put_u32(pr_buf_t *b, uint32_t v)
{
	sl_put_le32(buf_add(b, 4), v);
}

static void put_u64(pr_buf_t *b, uint64_t v)
{
	sl_put_le64(buf_add(b, 8), v);
}

/* s has passed a validator, so its length fits the u16. */
static void put_str(pr_buf_t *b, pr_str_t s)
{
	put_u16(b, (uint16_t)s.len);
	if (s.len)
		memcpy(buf_add(b, s.len), s.ptr, s.len);
}

/* ---- Strings and their validators ------------------------------------ */

pr_str_t pr_str(const char *s)
{
	pr_str_t v = {"", 0};

	if (s) {
		size_t n = strlen(s);

		v.ptr = s;
		v.len = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	}
	return v;
}

int pr_str_copy(char *dst, size_t cap, pr_str_t s)
{
	size_t n = s.len;
	int rc = 0;

	if (cap == 0)
		return -ENAMETOOLONG;
	if (n >= cap) {
		n = cap - 1;
		rc = -ENAMETOOLONG;
	}
	if (n)
		memcpy(dst, s.ptr, n);
	dst[n] = '\0';
	return rc;
}

int pr_str_eq(pr_str_t s, const char *cstr)
{
	size_t n = strlen(cstr);

	return n == s.len && (n == 0 || memcmp(s.ptr, cstr, n) == 0);
}

/*
 * Validators return 0, -EINVAL (bad bytes), -ENAMETOOLONG (overlong path or
 * name) or -EMSGSIZE (other overlong string).  A NULL ptr is only valid for
 * an empty string (encoders may see one).
 */
typedef int (*str_check_fn)(pr_str_t s);

static int check_bytes(pr_str_t s, uint32_t max, int too_long)
{
	if (s.len > max)
		return too_long;
	if (s.len && (!s.ptr || memchr(s.ptr, '\0', s.len)))
		return -EINVAL;
	return 0;
}

/* Node and dataset names: [A-Za-z0-9._-]{1,64}. */
static int check_sl_name(pr_str_t s)
{
	char tmp[SL_NAME_MAX + 1];
	int rc = check_bytes(s, SL_NAME_MAX, -ENAMETOOLONG);

	if (rc < 0)
		return rc;
	if (s.len)
		memcpy(tmp, s.ptr, s.len);
	tmp[s.len] = '\0';
	return sl_name_valid(tmp) ? 0 : -EINVAL;
}

static int check_path(pr_str_t s)
{
	int rc = check_bytes(s, PR_MAX_PATH, -ENAMETOOLONG);

	if (rc < 0)
		return rc;
	rc = sl_path_check(s.len ? s.ptr : "", s.len);
	if (rc < 0 && rc != -ENAMETOOLONG)
		rc = -EINVAL;
	return rc;
}

static int check_entry_name(pr_str_t s)
{
	int rc = check_bytes(s, PR_MAX_NAME, -ENAMETOOLONG);

	if (rc < 0)
		return rc;
	rc = sl_name_check(s.len ? s.ptr : "", s.len);
	if (rc < 0 && rc != -ENAMETOOLONG)
		rc = -EINVAL;
	return rc;
}

static int check_version(pr_str_t s)
{
	return check_bytes(s, PR_MAX_VERSION, -EMSGSIZE);
}

static int check_cursor(pr_str_t s)
{
	return check_bytes(s, PR_MAX_CURSOR, -EMSGSIZE);
}

/* Metric names: 1..PR_MAX_NAME bytes, no NUL. */
static int check_label(pr_str_t s)
{
	int rc = check_bytes(s, PR_MAX_NAME, -ENAMETOOLONG);

	if (rc == 0 && s.len == 0)
		rc = -EINVAL;
	return rc;
}

static int check_addr(pr_str_t s)
{
	int rc = check_bytes(s, SL_ADDR_MAX, -EMSGSIZE);

	if (rc == 0 && s.len == 0)
		rc = -EINVAL;
	return rc;
}

/* Backend module names: [a-z0-9_]{1,31}. */
static int check_backend(pr_str_t s)
{
	int rc = check_bytes(s, SL_BACKEND_MAX, -ENAMETOOLONG);

	if (rc < 0)
		return rc;
	if (s.len == 0)
		return -EINVAL;
	for (uint32_t i = 0; i < s.len; i++) {
		char c = s.ptr[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return -EINVAL;
	}
	return 0;
}

/* ---- Decoding cursor ------------------------------------------------- */

typedef struct rd {
	const uint8_t *p;
	size_t len;
	size_t pos;
	int err; /* sticky: the first failure */
} rd_t;

static void rd_init(rd_t *r, const void *buf, size_t len)
{
	r->p = buf ? buf : (const void *)"";
	r->len = buf ? len : 0;
	r->pos = 0;
	r->err = 0;
}

static void rd_fail(rd_t *r, int err)
{
	if (!r->err)
		r->err = err == -EINVAL ? -EBADMSG : err;
}

static size_t rd_left(const rd_t *r)
{
	return r->len - r->pos;
}

/* n bytes from the cursor, or NULL (and a sticky -EBADMSG) if short. */
static const uint8_t *rd_take(rd_t *r, size_t n)
{
	const uint8_t *q;

	if (r->err)
		return NULL;
	if (n > rd_left(r)) {
		rd_fail(r, -EBADMSG);
		return NULL;
	}
	q = r->p + r->pos;
	r->pos += n;
	return q;
}

static uint8_t rd_u8(rd_t *r)
{
	const uint8_t *q = rd_take(r, 1);

	return q ? q[0] : 0;
}

static uint16_t rd_u16(rd_t *r)
{
	const uint8_t *q = rd_take(r, 2);

	return q ? sl_get_le16(q) : 0;
}

static uint32_t rd_u32(rd_t *r)
{
	const uint8_t *q = rd_take(r, 4);

	return q ? sl_get_le32(q) : 0;
}

static uint64_t rd_u64(rd_t *r)
{
	const uint8_t *q = rd_take(r, 8);

	return q ? sl_get_le64(q) : 0;
}

/* A u16-prefixed string, then its validator. */
static void rd_str(rd_t *r, pr_str_t *s, str_check_fn check)
{
	uint16_t n = rd_u16(r);
	const uint8_t *q = rd_take(r, n);
	int rc;

	s->ptr = "";
	s->len = 0;
	if (!q)
		return;
	s->ptr = (const char *)q;
	s->len = n;
	rc = check(*s);
	if (rc < 0)
		rd_fail(r, rc);
}

/* An array count: at most max, and no more than the bytes left can hold. */
static uint32_t rd_count(rd_t *r, uint32_t max, size_t min_item)
{
	uint32_t n = rd_u32(r);

	if (r->err)
		return 0;
	if (n > max) {
		rd_fail(r, -EMSGSIZE);
		return 0;
	}
	if ((uint64_t)n * min_item > rd_left(r)) {
		rd_fail(r, -EBADMSG);
		return 0;
	}
	return n;
}

/* The whole buffer must have been consumed. */
static int rd_end(rd_t *r)
{
	if (!r->err && r->pos != r->len)
		rd_fail(r, -EBADMSG);
	return r->err;
}

/*
 * Encoders validate first and write only a valid message; on failure they
 * leave b as it was.  This macro runs one validator inside an encoder.
 */
#define CHECK(expr)                                                            \
	do {                                                                   \
		int rc_ = (expr);                                              \
		if (rc_ < 0)                                                   \
			return rc_;                                            \
	} while (0)

/* ---- Target (STAT, LOAD, EVICT) --------------------------------------- */

static int target_check(const pr_target_t *m)
{
	CHECK(check_sl_name(m->dataset));
	CHECK(check_path(m->path));
	return 0;
}

int pr_target_encode(pr_buf_t *b, const pr_target_t *m)
{
	CHECK(target_check(m));
	put_str(b, m->dataset);
	put_str(b, m->path);
	return 0;
}

int pr_target_decode(pr_target_t *m, const void *buf, size_t len)
{
	rd_t r;
	int rc;

	rd_init(&r, buf, len);
	rd_str(&r, &m->dataset, check_sl_name);
	rd_str(&r, &m->path, check_path);
	rc = rd_end(&r);
	if (rc < 0)
		memset(m, 0, sizeof(*m));
	return rc;
}

/* ---- Stat ------------------------------------------------------------ */

static int stat_check(const pr_stat_t *m)
{
	if (m->type != PR_TYPE_FILE && m->type != PR_TYPE_DIR)
		return -EINVAL;
	if (m->mode & ~07777u)
		return -EINVAL;
	if (m->size > INT64_MAX)
		return -EINVAL;
	return check_version(m->version);
}

static void stat_put(pr_buf_t *b, const pr_stat_t *m)
{
	put_u8(b, m->type);
	put_u32(b, m->mode);
	put_u64(b, m->size);
	put_u64(b, (uint64_t)m->mtime_ns);
	put_str(b, m->version);
}

static void stat_get(rd_t *r, pr_stat_t *m)
{
	int rc;

	m->type = rd_u8(r);
	m->mode = rd_u32(r);
	m->size = rd_u64(r);
	m->mtime_ns = (int64_t)rd_u64(r);
	rd_str(r, &m->version, check_version);
	if (r->err)
		return;
	rc = stat_check(m);
	if (rc < 0)
		rd_fail(r, rc);
}

int pr_stat_encode(pr_buf_t *b, const pr_stat_t *m)
{
	CHECK(stat_check(m));
	stat_put(b, m);
	return 0;
}

int pr_stat_decode(pr_stat_t *m, const void *buf, size_t len)
{
	rd_t r;
	int rc;

	rd_init(&r, buf, len);
	stat_get(&r, m);
	rc = rd_end(&r);
	if (rc < 0)
		memset(m, 0, sizeof(*m));
	return rc;
}

/* ---- LIST ------------------------------------------------------------ */

static int list_req_check(const pr_list_req_t *m)
{
	CHECK(check_sl_name(m->dataset));
	CHECK(check_path(m->path));
	CHECK(check_cursor(m->cursor));
	if (m->max_entries == 0)
		return -EINVAL;
	if (m->max_entries > PR_MAX_LIST_ENTRIES)
		return -EMSGSIZE;
	return 0;
}

int pr_list_req_encode(pr_buf_t *b, const pr_list_req_t *m)
{
	CHECK(list_req_check(m));
	put_str(b, m->dataset);
	put_str(b, m->path);
	put_str(b, m->cursor);
	put_u32(b, m->max_entries);
	return 0;
}

int pr_list_req_decode(pr_list_req_t *m, const void *buf, size_t len)
{
	rd_t r;
	int rc;

	rd_init(&r, buf, len);
	rd_str(&r, &m->dataset, check_sl_name);
	rd_str(&r, &m->path, check_path);
	rd_str(&r, &m->cursor, check_cursor);
	m->max_entries = rd_u32(&r);
	if (!r.err)
		rd_fail(&r, list_req_check(m));
	rc = rd_end(&r);
	if (rc < 0)
		memset(m, 0, sizeof(*m));
	return rc;
}

int pr_list_reply_encode(pr_buf_t *b, const pr_list_reply_t *m)
{
	CHECK(check_cursor(m->next_cursor));
	if (m->n_entries > PR_MAX_LIST_ENTRIES)
		return -EMSGSIZE;
	if (m->n_entries && !m->entries)
		return -EINVAL;
	for (uint32_t i = 0; i < m->n_entries; i++) {
		CHECK(check_entry_name(m->entries[i].name));
		CHECK(stat_check(&m->entries[i].st));
	}
	put_str(b, m->next_cursor);
	put_u32(b, m->n_entries);
	for (uint32_t i = 0; i < m->n_entries; i++) {
		put_str(b, m->entries[i].name);
		stat_put(b, &m->entries[i].st);
	}
	return 0;
}

int pr_list_reply_decode(pr_list_reply_t *m, const void *buf, size_t len)
{
	rd_t r;
	int rc;

	memset(m, 0, sizeof(*m));
	rd_init(&r, buf, len);
	rd_str(&r, &m->next_cursor, check_cursor);
	m->n_entries = rd_count(&r, PR_MAX_LIST_ENTRIES, MIN_DIRENT);
	if (m->n_entries)
		m->entries = sl_xcalloc(m->n_entries, sizeof(*m->entries));
	for (uint32_t i = 0; i < m->n_entries && !r.err; i++) {
		rd_str(&r, &m->entries[i].name, check_entry_name);
		stat_get(&r, &m->entries[i].st);
	}
	rc = rd_end(&r);
	if (rc < 0)
		pr_list_reply_free(m);
	return rc;
}

void pr_list_reply_free(pr_list_reply_t *m)
{
	if (!m)
		return;
	free(m->entries);
	memset(m, 0, sizeof(*m));
}

/* ---- READ, PEER_READ, PREFETCH --------------------------------------- */

static int read_req_check(const pr_read_req_t *m)
{
	CHECK(check_sl_name(m->dataset));
	CHECK(check_path(m->path));
	CHECK(check_version(m->version));
	if ((uint64_t)m->offset + m->length > PR_MAX_BLOCK)
		return -EMSGSIZE;
	return 0;
}

int pr_read_req_encode(pr_buf_t *b, const pr_read_req_t *m)
{
	CHECK(read_req_check(m));
	put_str(b, m->dataset);
	put_str(b, m->path);
	put_str(b, m->version);
	put_u64(b, m->block);
	put_u32(b, m->offset);
	put_u32(b, m->length);
	return 0;
}

int pr_read_req_decode(pr_read_req_t *m, const void *buf, size_t len)
{
	rd_t r;
	int rc;

	rd_init(&r, buf, len);
	rd_str(&r, &m->dataset, check_sl_name);
	rd_str(&r, &m->path, check_path);
	rd_str(&r, &m->version, check_version);
	m->block = rd_u64(&r);
	m->offset = rd_u32(&r);
	m->length = rd_u32(&r);
	if (!r.err)
		rd_fail(&r, read_req_check(m));
	rc = rd_end(&r);
	if (rc < 0)
		memset(m, 0, sizeof(*m));
	return rc;
}

/* ---- HELLO ----------------------------------------------------------- */

static int hello_node_check(const pr_hello_node_t *n)
{
	CHECK(check_sl_name(n->name));
	CHECK(check_addr(n->addr));
	if (n->weight < 1 || n->weight > PR_MAX_WEIGHT)
		return -EINVAL;
	return 0;
}

static int hello_dataset_check(const pr_hello_dataset_t *d)
{
	CHECK(check_sl_name(d->name));
	CHECK(check_backend(d->backend));
	if (d->block_size < SL_BLOCK_SIZE_MIN ||
	    d->block_size > SL_BLOCK_SIZE_MAX)
		return -EINVAL;
	CHECK(check_backend(d->policy)); /* the same rule for policy names */
	return 0;
}

int pr_hello_encode(pr_buf_t *b, const pr_hello_t *m)
{
	CHECK(check_sl_name(m->cluster));
	CHECK(check_sl_name(m->node));
	if (m->n_nodes > PR_MAX_NODES || m->n_datasets > PR_MAX_DATASETS)
		return -EMSGSIZE;
	if ((m->n_nodes && !m->nodes) || (m->n_datasets && !m->datasets))
		return -EINVAL;
	for (uint32_t i = 0; i < m->n_nodes; i++)
		CHECK(hello_node_check(&m->nodes[i]));
	for (uint32_t i = 0; i < m->n_datasets; i++)
		CHECK(hello_dataset_check(&m->datasets[i]));

	put_str(b, m->cluster);
	put_str(b, m->node);
	put_u32(b, m->ring_version);
	put_u32(b, m->n_nodes);
	for (uint32_t i = 0; i < m->n_nodes; i++) {
		put_str(b, m->nodes[i].name);
		put_str(b, m->nodes[i].addr);
		put_u32(b, m->nodes[i].weight);
	}
	put_u32(b, m->n_datasets);
	for (uint32_t i = 0; i < m->n_datasets; i++) {
		const pr_hello_dataset_t *d = &m->datasets[i];

		put_str(b, d->name);
		put_str(b, d->backend);
		put_u32(b, d->block_size);
		put_str(b, d->policy);
		put_u64(b, d->metadata_ttl_ms);
	}
	return 0;
}

int pr_hello_decode(pr_hello_t *m, const void *buf, size_t len)
{
	rd_t r;
	int rc;

	memset(m, 0, sizeof(*m));
	rd_init(&r, buf, len);
	rd_str(&r, &m->cluster, check_sl_name);
	rd_str(&r, &m->node, check_sl_name);
	m->ring_version = rd_u32(&r);

	m->n_nodes = rd_count(&r, PR_MAX_NODES, MIN_NODE);
	if (m->n_nodes)
		m->nodes = sl_xcalloc(m->n_nodes, sizeof(*m->nodes));
	for (uint32_t i = 0; i < m->n_nodes && !r.err; i++) {
		pr_hello_node_t *n = &m->nodes[i];

		rd_str(&r, &n->name, check_sl_name);
		rd_str(&r, &n->addr, check_addr);
		n->weight = rd_u32(&r);
		if (!r.err)
			rd_fail(&r, hello_node_check(n));
	}

	m->n_datasets = rd_count(&r, PR_MAX_DATASETS, MIN_DATASET);
	if (m->n_datasets)
		m->datasets = sl_xcalloc(m->n_datasets, sizeof(*m->datasets));
	for (uint32_t i = 0; i < m->n_datasets && !r.err; i++) {
		pr_hello_dataset_t *d = &m->datasets[i];

		rd_str(&r, &d->name, check_sl_name);
		rd_str(&r, &d->backend, check_backend);
		d->block_size = rd_u32(&r);
		rd_str(&r, &d->policy, check_backend);
		d->metadata_ttl_ms = rd_u64(&r);
		if (!r.err)
			rd_fail(&r, hello_dataset_check(d));
	}
	rc = rd_end(&r);
	if (rc < 0)
		pr_hello_free(m);
	return rc;
}

void pr_hello_free(pr_hello_t *m)
{
	if (!m)
		return;
	free(m->nodes);
	free(m->datasets);
	memset(m, 0, sizeof(*m));
}

/* ---- LOAD progress --------------------------------------------------- */

static int load_check(const pr_load_progress_t *m)
{
	if (m->files_done > m->files_total || m->bytes_done > m->bytes_total)
		return -EINVAL;
	return 0;
}

int pr_load_progress_encode(pr_buf_t *b, const pr_load_progress_t *m)
{
	CHECK(load_check(m));
	put_u64(b, m->files_done);
	put_u64(b, m->files_total);
	put_u64(b, m->bytes_done);
	put_u64(b, m->bytes_total);
	put_u64(b, m->errors);
	return 0;
}

int pr_load_progress_decode(pr_load_progress_t *m, const void *buf, size_t len)
{
	rd_t r;
	int rc;

	rd_init(&r, buf, len);
	m->files_done = rd_u64(&r);
	m->files_total = rd_u64(&r);
	m->bytes_done = rd_u64(&r);
	m->bytes_total = rd_u64(&r);
	m->errors = rd_u64(&r);
	if (!r.err)
		rd_fail(&r, load_check(m));
	rc = rd_end(&r);
	if (rc < 0)
		memset(m, 0, sizeof(*m));
	return rc;
}

/* ---- STATS ----------------------------------------------------------- */

int pr_stats_encode(pr_buf_t *b, const pr_stats_t *m)
{
	if (m->n_items > PR_MAX_STATS)
		return -EMSGSIZE;
	if (m->n_items && !m->items)
		return -EINVAL;
	for (uint32_t i = 0; i < m->n_items; i++)
		CHECK(check_label(m->items[i].name));
	put_u32(b, m->n_items);
	for (uint32_t i = 0; i < m->n_items; i++) {
		put_str(b, m->items[i].name);
		put_u64(b, m->items[i].value);
	}
	return 0;
}

int pr_stats_decode(pr_stats_t *m, const void *buf, size_t len)
{
	rd_t r;
	int rc;

	memset(m, 0, sizeof(*m));
	rd_init(&r, buf, len);
	m->n_items = rd_count(&r, PR_MAX_STATS, MIN_ITEM);
	if (m->n_items)
		m->items = sl_xcalloc(m->n_items, sizeof(*m->items));
	for (uint32_t i = 0; i < m->n_items && !r.err; i++) {
		rd_str(&r, &m->items[i].name, check_label);
		m->items[i].value = rd_u64(&r);
	}
	rc = rd_end(&r);
	if (rc < 0)
		pr_stats_free(m);
	return rc;
}

void pr_stats_free(pr_stats_t *m)
{
	if (!m)
		return;
	free(m->items);
	memset(m, 0, sizeof(*m));
}

/* ---- EVICT ----------------------------------------------------------- */

int pr_evict_reply_encode(pr_buf_t *b, const pr_evict_reply_t *m)
{
	put_u64(b, m->blocks);
	put_u64(b, m->bytes);
	return 0;
}

int pr_evict_reply_decode(pr_evict_reply_t *m, const void *buf, size_t len)
{
	rd_t r;
	int rc;

	rd_init(&r, buf, len);
	m->blocks = rd_u64(&r);
	m->bytes = rd_u64(&r);
	rc = rd_end(&r);
	if (rc < 0)
		memset(m, 0, sizeof(*m));
	return rc;
}

/* ---- Error replies --------------------------------------------------- */

static int check_errmsg(pr_str_t s)
{
	return check_bytes(s, PR_MAX_ERRMSG, -EMSGSIZE);
}

int pr_errmsg_encode(pr_buf_t *b, const char *msg)
{
	pr_str_t s = pr_str(msg);

	if (s.len > PR_MAX_ERRMSG) {
		s.len = PR_MAX_ERRMSG;
		/* Do not cut a UTF-8 sequence: back off continuation bytes. */
		while (s.len > 0 && ((unsigned char)msg[s.len] & 0xc0) == 0x80)
			s.len--;
	}
	put_str(b, s);
	return 0;
}

int pr_errmsg_decode(pr_str_t *msg, const void *buf, size_t len)
{
	rd_t r;
	int rc;

	rd_init(&r, buf, len);
	rd_str(&r, msg, check_errmsg);
	rc = rd_end(&r);
	if (rc < 0) {
		msg->ptr = "";
		msg->len = 0;
	}
	return rc;
}

/* ---- LZ4 ------------------------------------------------------------- */

int pr_lz4_pack(pr_buf_t *b, const void *raw, size_t len)
{
	size_t budget;
	uint8_t *dst;
	int n;

	if (len > PR_MAX_BODY)
		return -EMSGSIZE;
	/* Pay only when packed (with its u32) <= 7/8 of raw. */
	budget = len / 8 * 7 + (len % 8) * 7 / 8;
	if (budget <= LZ4_HDR)
		return -EAGAIN;
	budget -= LZ4_HDR;
	dst = buf_reserve(b, LZ4_HDR + budget);
	n = LZ4_compress_default(raw, (char *)dst + LZ4_HDR, (int)len,
				 (int)budget);
	if (n <= 0)
		return -EAGAIN;
	sl_put_le32(dst, (uint32_t)len);
	b->len += LZ4_HDR + (size_t)n;
	return 0;
}

int64_t pr_lz4_raw_len(const void *buf, size_t len)
{
	uint32_t raw;

	if (!buf || len <= LZ4_HDR || len > PR_MAX_BODY)
		return -EBADMSG;
	raw = sl_get_le32(buf);
	if (raw == 0 || raw > PR_MAX_BODY)
		return -EBADMSG;
	return raw;
}

int pr_lz4_unpack(const void *buf, size_t len, void *out, size_t cap,
		  size_t *out_len)
{
	int64_t raw = pr_lz4_raw_len(buf, len);
	int n;

	*out_len = 0;
	if (raw < 0)
		return (int)raw;
	if ((uint64_t)raw > cap)
		return -EBADMSG;
	n = LZ4_decompress_safe((const char *)buf + LZ4_HDR, out,
				(int)(len - LZ4_HDR), (int)raw);
	if (n != raw)
		return -EBADMSG;
	*out_len = (size_t)raw;
	return 0;
}
