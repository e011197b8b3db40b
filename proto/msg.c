/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The message bodies' codecs (PROTOCOL.md sections 3 to 5), one pair per
 * body, each written from the fields of proto_i.h.  An encoder runs every
 * validator before it writes a byte, so a refused message leaves the
 * buffer as it was; a decoder reads the whole body through the cursor,
 * checks the rules that span fields once the fields are in, and on
 * failure leaves its output zeroed (and freed, for arrays).
 */
#include "proto/proto_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/util.h"

/* Node weights, as in the configuration (a weight sizes the ring). */
#define PR_MAX_WEIGHT 100 /* as the config: [node] weight */

/* Smallest encoding of one array element, to bound counts by bytes left. */
#define MIN_STAT    (1 + 4 + 8 + 8 + 2)
#define MIN_DIRENT  (2 + 1 + MIN_STAT)
#define MIN_NODE    (2 + 1 + 2 + 1 + 4)
#define MIN_DATASET (2 + 1 + 2 + 1 + 4 + 4 + 8 + 2 + 1 + 8)
#define MIN_ITEM    (2 + 1 + 8)

/* ---- Target (STAT, LOAD, EVICT) --------------------------------------- */

static int target_check(const pr_target_t *m)
{
	CHECK(pr_check_sl_name(m->dataset));
	CHECK(pr_check_path(m->path));
	return 0;
}

int pr_target_encode(pr_buf_t *b, const pr_target_t *m)
{
	CHECK(target_check(m));
	pr_put_str(b, m->dataset);
	pr_put_str(b, m->path);
	return 0;
}

int pr_target_decode(pr_target_t *m, const void *buf, size_t len)
{
	pr_rd_t r;
	int rc;

	pr_rd_init(&r, buf, len);
	pr_rd_str(&r, &m->dataset, pr_check_sl_name);
	pr_rd_str(&r, &m->path, pr_check_path);
	rc = pr_rd_end(&r);
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
	return pr_check_version(m->version);
}

static void stat_put(pr_buf_t *b, const pr_stat_t *m)
{
	pr_put_u8(b, m->type);
	pr_put_u32(b, m->mode);
	pr_put_u64(b, m->size);
	pr_put_u64(b, (uint64_t)m->mtime_ns);
	pr_put_str(b, m->version);
}

static void stat_get(pr_rd_t *r, pr_stat_t *m)
{
	int rc;

	m->type = pr_rd_u8(r);
	m->mode = pr_rd_u32(r);
	m->size = pr_rd_u64(r);
	m->mtime_ns = (int64_t)pr_rd_u64(r);
	pr_rd_str(r, &m->version, pr_check_version);
	if (r->err)
		return;
	rc = stat_check(m);
	if (rc < 0)
		pr_rd_fail(r, rc);
}

int pr_stat_encode(pr_buf_t *b, const pr_stat_t *m)
{
	CHECK(stat_check(m));
	stat_put(b, m);
	return 0;
}

int pr_stat_decode(pr_stat_t *m, const void *buf, size_t len)
{
	pr_rd_t r;
	int rc;

	pr_rd_init(&r, buf, len);
	stat_get(&r, m);
	rc = pr_rd_end(&r);
	if (rc < 0)
		memset(m, 0, sizeof(*m));
	return rc;
}

/* ---- LIST ------------------------------------------------------------ */

static int list_req_check(const pr_list_req_t *m)
{
	CHECK(pr_check_sl_name(m->dataset));
	CHECK(pr_check_path(m->path));
	CHECK(pr_check_cursor(m->cursor));
	if (m->max_entries == 0)
		return -EINVAL;
	if (m->max_entries > PR_MAX_LIST_ENTRIES)
		return -EMSGSIZE;
	return 0;
}

int pr_list_req_encode(pr_buf_t *b, const pr_list_req_t *m)
{
	CHECK(list_req_check(m));
	pr_put_str(b, m->dataset);
	pr_put_str(b, m->path);
	pr_put_str(b, m->cursor);
	pr_put_u32(b, m->max_entries);
	return 0;
}

int pr_list_req_decode(pr_list_req_t *m, const void *buf, size_t len)
{
	pr_rd_t r;
	int rc;

	pr_rd_init(&r, buf, len);
	pr_rd_str(&r, &m->dataset, pr_check_sl_name);
	pr_rd_str(&r, &m->path, pr_check_path);
	pr_rd_str(&r, &m->cursor, pr_check_cursor);
	m->max_entries = pr_rd_u32(&r);
	if (!r.err)
		pr_rd_fail(&r, list_req_check(m));
	rc = pr_rd_end(&r);
	if (rc < 0)
		memset(m, 0, sizeof(*m));
	return rc;
}

int pr_list_reply_encode(pr_buf_t *b, const pr_list_reply_t *m)
{
	CHECK(pr_check_cursor(m->next_cursor));
	if (m->n_entries > PR_MAX_LIST_ENTRIES)
		return -EMSGSIZE;
	if (m->n_entries && !m->entries)
		return -EINVAL;
	for (uint32_t i = 0; i < m->n_entries; i++) {
		CHECK(pr_check_entry_name(m->entries[i].name));
		CHECK(stat_check(&m->entries[i].st));
	}
	pr_put_str(b, m->next_cursor);
	pr_put_u32(b, m->n_entries);
	for (uint32_t i = 0; i < m->n_entries; i++) {
		pr_put_str(b, m->entries[i].name);
		stat_put(b, &m->entries[i].st);
	}
	return 0;
}

int pr_list_reply_decode(pr_list_reply_t *m, const void *buf, size_t len)
{
	pr_rd_t r;
	int rc;

	memset(m, 0, sizeof(*m));
	pr_rd_init(&r, buf, len);
	pr_rd_str(&r, &m->next_cursor, pr_check_cursor);
	m->n_entries = pr_rd_count(&r, PR_MAX_LIST_ENTRIES, MIN_DIRENT);
	if (m->n_entries)
		m->entries = sl_xcalloc(m->n_entries, sizeof(*m->entries));
	for (uint32_t i = 0; i < m->n_entries && !r.err; i++) {
		pr_rd_str(&r, &m->entries[i].name, pr_check_entry_name);
		stat_get(&r, &m->entries[i].st);
	}
	rc = pr_rd_end(&r);
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
	CHECK(pr_check_sl_name(m->dataset));
	CHECK(pr_check_path(m->path));
	CHECK(pr_check_version(m->version));
	if ((uint64_t)m->offset + m->length > PR_MAX_BLOCK)
		return -EMSGSIZE;
	return 0;
}

int pr_read_req_encode(pr_buf_t *b, const pr_read_req_t *m)
{
	CHECK(read_req_check(m));
	pr_put_str(b, m->dataset);
	pr_put_u32(b, m->layout);
	pr_put_str(b, m->path);
	pr_put_str(b, m->version);
	pr_put_u64(b, m->block);
	pr_put_u32(b, m->offset);
	pr_put_u32(b, m->length);
	return 0;
}

int pr_read_req_decode(pr_read_req_t *m, const void *buf, size_t len)
{
	pr_rd_t r;
	int rc;

	pr_rd_init(&r, buf, len);
	pr_rd_str(&r, &m->dataset, pr_check_sl_name);
	m->layout = pr_rd_u32(&r);
	pr_rd_str(&r, &m->path, pr_check_path);
	pr_rd_str(&r, &m->version, pr_check_version);
	m->block = pr_rd_u64(&r);
	m->offset = pr_rd_u32(&r);
	m->length = pr_rd_u32(&r);
	if (!r.err)
		pr_rd_fail(&r, read_req_check(m));
	rc = pr_rd_end(&r);
	if (rc < 0)
		memset(m, 0, sizeof(*m));
	return rc;
}

/* ---- HELLO ----------------------------------------------------------- */

static int hello_node_check(const pr_hello_node_t *n)
{
	CHECK(pr_check_sl_name(n->name));
	CHECK(pr_check_addr(n->addr));
	if (n->weight < 1 || n->weight > PR_MAX_WEIGHT)
		return -EINVAL;
	return 0;
}

static int hello_dataset_check(const pr_hello_dataset_t *d)
{
	CHECK(pr_check_sl_name(d->name));
	CHECK(pr_check_backend(d->backend));
	if (d->block_size < SL_BLOCK_SIZE_MIN ||
	    d->block_size > SL_BLOCK_SIZE_MAX || d->layout == 0)
		return -EINVAL;
	CHECK(pr_check_backend(d->policy)); /* the same rule for policy names */
	return 0;
}

int pr_hello_encode(pr_buf_t *b, const pr_hello_t *m)
{
	CHECK(pr_check_sl_name(m->cluster));
	CHECK(pr_check_sl_name(m->node));
	if (m->n_nodes > PR_MAX_NODES || m->n_datasets > PR_MAX_DATASETS)
		return -EMSGSIZE;
	if (m->drain > PR_DRAIN_DRAINED)
		return -EINVAL;
	if ((m->n_nodes && !m->nodes) || (m->n_datasets && !m->datasets))
		return -EINVAL;
	for (uint32_t i = 0; i < m->n_nodes; i++)
		CHECK(hello_node_check(&m->nodes[i]));
	for (uint32_t i = 0; i < m->n_datasets; i++)
		CHECK(hello_dataset_check(&m->datasets[i]));

	pr_put_str(b, m->cluster);
	pr_put_str(b, m->node);
	pr_put_u32(b, m->ring_version);
	pr_put_u64(b, m->generation);
	pr_put_u8(b, m->drain);
	pr_put_u32(b, m->n_nodes);
	for (uint32_t i = 0; i < m->n_nodes; i++) {
		pr_put_str(b, m->nodes[i].name);
		pr_put_str(b, m->nodes[i].addr);
		pr_put_u32(b, m->nodes[i].weight);
	}
	pr_put_u32(b, m->n_datasets);
	for (uint32_t i = 0; i < m->n_datasets; i++) {
		const pr_hello_dataset_t *d = &m->datasets[i];

		pr_put_str(b, d->name);
		pr_put_str(b, d->backend);
		pr_put_u32(b, d->block_size);
		pr_put_u32(b, d->layout);
		pr_put_u64(b, d->layout_since_ms);
		pr_put_str(b, d->policy);
		pr_put_u64(b, d->metadata_ttl_ms);
	}
	return 0;
}

int pr_hello_decode(pr_hello_t *m, const void *buf, size_t len)
{
	pr_rd_t r;
	int rc;

	memset(m, 0, sizeof(*m));
	pr_rd_init(&r, buf, len);
	pr_rd_str(&r, &m->cluster, pr_check_sl_name);
	pr_rd_str(&r, &m->node, pr_check_sl_name);
	m->ring_version = pr_rd_u32(&r);
	m->generation = pr_rd_u64(&r);
	m->drain = pr_rd_u8(&r);
	if (!r.err && m->drain > PR_DRAIN_DRAINED)
		pr_rd_fail(&r, -EBADMSG);

	m->n_nodes = pr_rd_count(&r, PR_MAX_NODES, MIN_NODE);
	if (m->n_nodes)
		m->nodes = sl_xcalloc(m->n_nodes, sizeof(*m->nodes));
	for (uint32_t i = 0; i < m->n_nodes && !r.err; i++) {
		pr_hello_node_t *n = &m->nodes[i];

		pr_rd_str(&r, &n->name, pr_check_sl_name);
		pr_rd_str(&r, &n->addr, pr_check_addr);
		n->weight = pr_rd_u32(&r);
		if (!r.err)
			pr_rd_fail(&r, hello_node_check(n));
	}

	m->n_datasets = pr_rd_count(&r, PR_MAX_DATASETS, MIN_DATASET);
	if (m->n_datasets)
		m->datasets = sl_xcalloc(m->n_datasets, sizeof(*m->datasets));
	for (uint32_t i = 0; i < m->n_datasets && !r.err; i++) {
		pr_hello_dataset_t *d = &m->datasets[i];

		pr_rd_str(&r, &d->name, pr_check_sl_name);
		pr_rd_str(&r, &d->backend, pr_check_backend);
		d->block_size = pr_rd_u32(&r);
		d->layout = pr_rd_u32(&r);
		d->layout_since_ms = pr_rd_u64(&r);
		pr_rd_str(&r, &d->policy, pr_check_backend);
		d->metadata_ttl_ms = pr_rd_u64(&r);
		if (!r.err)
			pr_rd_fail(&r, hello_dataset_check(d));
	}
	rc = pr_rd_end(&r);
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

/* ---- LOAD ------------------------------------------------------------ */

static int load_req_check(const pr_load_req_t *m)
{
	CHECK(target_check(&(pr_target_t){m->dataset, m->path}));
	if (!m->load_id || m->parallel > PR_MAX_LOAD_PARALLEL ||
	    m->cancel > 1 || m->n_skip > PR_MAX_LOAD_SKIP)
		return -EINVAL;
	for (uint32_t i = 0; i < m->n_skip; i++)
		CHECK(pr_check_sl_name(m->skip[i]));
	return 0;
}

int pr_load_req_encode(pr_buf_t *b, const pr_load_req_t *m)
{
	CHECK(load_req_check(m));
	pr_put_str(b, m->dataset);
	pr_put_str(b, m->path);
	pr_put_u64(b, m->load_id);
	pr_put_u32(b, m->parallel);
	pr_put_u8(b, m->cancel);
	pr_put_u32(b, m->n_skip);
	for (uint32_t i = 0; i < m->n_skip; i++)
		pr_put_str(b, m->skip[i]);
	return 0;
}

int pr_load_req_decode(pr_load_req_t *m, const void *buf, size_t len)
{
	pr_rd_t r;
	int rc;

	memset(m, 0, sizeof(*m));
	pr_rd_init(&r, buf, len);
	pr_rd_str(&r, &m->dataset, pr_check_sl_name);
	pr_rd_str(&r, &m->path, pr_check_path);
	m->load_id = pr_rd_u64(&r);
	m->parallel = pr_rd_u32(&r);
	m->cancel = pr_rd_u8(&r);
	m->n_skip = pr_rd_count(&r, PR_MAX_LOAD_SKIP, 2 + 1);
	for (uint32_t i = 0; i < m->n_skip && !r.err; i++)
		pr_rd_str(&r, &m->skip[i], pr_check_sl_name);
	if (!r.err)
		pr_rd_fail(&r, load_req_check(m));
	rc = pr_rd_end(&r);
	if (rc < 0)
		memset(m, 0, sizeof(*m));
	return rc;
}

static int load_check(const pr_load_progress_t *m)
{
	if (m->files_done > m->files_total || m->bytes_done > m->bytes_total)
		return -EINVAL;
	if (m->state > PR_LOAD_SHORT)
		return -EINVAL;
	return pr_check_path(m->failed);
}

int pr_load_progress_encode(pr_buf_t *b, const pr_load_progress_t *m)
{
	CHECK(load_check(m));
	pr_put_u64(b, m->files_done);
	pr_put_u64(b, m->files_total);
	pr_put_u64(b, m->bytes_done);
	pr_put_u64(b, m->bytes_total);
	pr_put_u64(b, m->errors);
	pr_put_u8(b, m->state);
	pr_put_str(b, m->failed);
	return 0;
}

int pr_load_progress_decode(pr_load_progress_t *m, const void *buf, size_t len)
{
	pr_rd_t r;
	int rc;

	pr_rd_init(&r, buf, len);
	m->files_done = pr_rd_u64(&r);
	m->files_total = pr_rd_u64(&r);
	m->bytes_done = pr_rd_u64(&r);
	m->bytes_total = pr_rd_u64(&r);
	m->errors = pr_rd_u64(&r);
	m->state = pr_rd_u8(&r);
	pr_rd_str(&r, &m->failed, pr_check_path);
	if (!r.err)
		pr_rd_fail(&r, load_check(m));
	rc = pr_rd_end(&r);
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
		CHECK(pr_check_label(m->items[i].name));
	pr_put_u32(b, m->n_items);
	for (uint32_t i = 0; i < m->n_items; i++) {
		pr_put_str(b, m->items[i].name);
		pr_put_u64(b, m->items[i].value);
	}
	return 0;
}

int pr_stats_decode(pr_stats_t *m, const void *buf, size_t len)
{
	pr_rd_t r;
	int rc;

	memset(m, 0, sizeof(*m));
	pr_rd_init(&r, buf, len);
	m->n_items = pr_rd_count(&r, PR_MAX_STATS, MIN_ITEM);
	if (m->n_items)
		m->items = sl_xcalloc(m->n_items, sizeof(*m->items));
	for (uint32_t i = 0; i < m->n_items && !r.err; i++) {
		pr_rd_str(&r, &m->items[i].name, pr_check_label);
		m->items[i].value = pr_rd_u64(&r);
	}
	rc = pr_rd_end(&r);
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

/* ---- HELD ------------------------------------------------------------ */

int pr_held_reply_encode(pr_buf_t *b, uint8_t held)
{
	if (held > 1)
		return -EINVAL;
	pr_put_u8(b, held);
	return 0;
}

int pr_held_reply_decode(uint8_t *held, const void *buf, size_t len)
{
	pr_rd_t r;
	int rc;

	pr_rd_init(&r, buf, len);
	*held = pr_rd_u8(&r);
	if (!r.err && *held > 1)
		pr_rd_fail(&r, -EBADMSG);
	rc = pr_rd_end(&r);
	if (rc < 0)
		*held = 0;
	return rc;
}

/* ---- EVICT ----------------------------------------------------------- */

int pr_evict_reply_encode(pr_buf_t *b, const pr_evict_reply_t *m)
{
	pr_put_u64(b, m->blocks);
	pr_put_u64(b, m->bytes);
	return 0;
}

int pr_evict_reply_decode(pr_evict_reply_t *m, const void *buf, size_t len)
{
	pr_rd_t r;
	int rc;

	pr_rd_init(&r, buf, len);
	m->blocks = pr_rd_u64(&r);
	m->bytes = pr_rd_u64(&r);
	rc = pr_rd_end(&r);
	if (rc < 0)
		memset(m, 0, sizeof(*m));
	return rc;
}

/* ---- DRAIN ----------------------------------------------------------- */

static int drain_check(const pr_drain_req_t *m)
{
	CHECK(pr_check_sl_name(m->node));
	if (m->grace_ms > PR_MAX_GRACE_MS)
		return -EINVAL;
	return 0;
}

int pr_drain_req_encode(pr_buf_t *b, const pr_drain_req_t *m)
{
	CHECK(drain_check(m));
	pr_put_str(b, m->node);
	pr_put_u64(b, m->grace_ms);
	pr_put_u64(b, m->generation);
	return 0;
}

int pr_drain_req_decode(pr_drain_req_t *m, const void *buf, size_t len)
{
	pr_rd_t r;
	int rc;

	pr_rd_init(&r, buf, len);
	pr_rd_str(&r, &m->node, pr_check_sl_name);
	m->grace_ms = pr_rd_u64(&r);
	m->generation = pr_rd_u64(&r);
	if (!r.err)
		pr_rd_fail(&r, drain_check(m));
	rc = pr_rd_end(&r);
	if (rc < 0)
		memset(m, 0, sizeof(*m));
	return rc;
}

/* ---- Error replies --------------------------------------------------- */

int pr_errmsg_encode(pr_buf_t *b, const char *msg)
{
	pr_str_t s = pr_str(msg);
	uint8_t *p;

	if (s.len > PR_MAX_ERRMSG) {
		s.len = PR_MAX_ERRMSG;
		/* Do not cut a UTF-8 sequence: back off continuation bytes. */
		while (s.len > 0 && ((unsigned char)msg[s.len] & 0xc0) == 0x80)
			s.len--;
	}
	/* A message names paths, which may hold any byte but NUL: control
	 * bytes become '?', so that the text is safe to log or print. */
	pr_put_u16(b, (uint16_t)s.len);
	p = pr_buf_add(b, s.len);
	for (uint32_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)msg[i];

		p[i] = c < 0x20 || c == 0x7f ? '?' : c;
	}
	return 0;
}

int pr_errmsg_decode(pr_str_t *msg, const void *buf, size_t len)
{
	pr_rd_t r;
	int rc;

	pr_rd_init(&r, buf, len);
	pr_rd_str(&r, msg, pr_check_errmsg);
	rc = pr_rd_end(&r);
	if (rc < 0) {
		msg->ptr = "";
		msg->len = 0;
	}
	return rc;
}
