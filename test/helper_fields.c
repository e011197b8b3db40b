/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: the string fields of every message (see helper_fields.h).
 * Each message has a valid default; field i is swapped for the caller's
 * bytes.  The raw writer follows PROTOCOL.md's layouts itself, so it is a
 * second opinion on the codec, not a copy of it.
 */
#include "test/helper_fields.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

enum {
	M_TARGET,
	M_LIST_REQ,
	M_READ_REQ,
	M_STAT,
	M_LIST_REPLY,
	M_HELLO,
	M_STATS,
	M_ERRMSG,
	M_DRAIN_REQ,
};

/* Which message, and which of its strings (in wire order) field i is. */
static const struct {
	int msg;
	int slot;
} where[] = {
	{M_TARGET, 0},	   {M_TARGET, 1},     {M_LIST_REQ, 0},
	{M_LIST_REQ, 1},   {M_LIST_REQ, 2},   {M_READ_REQ, 0},
	{M_READ_REQ, 1},   {M_READ_REQ, 2},   {M_STAT, 0},
	{M_LIST_REPLY, 0}, {M_LIST_REPLY, 1}, {M_LIST_REPLY, 2},
	{M_HELLO, 0},	   {M_HELLO, 1},      {M_HELLO, 2},
	{M_HELLO, 3},	   {M_HELLO, 4},      {M_HELLO, 5},
	{M_HELLO, 6},	   {M_STATS, 0},      {M_ERRMSG, 0},
	{M_DRAIN_REQ, 0},
};

const th_field_t th_fields[] = {
	{"target", "dataset", TH_NAME, 1, PR_OP_STAT},
	{"target", "path", TH_PATH, 1, PR_OP_STAT},
	{"list request", "dataset", TH_NAME, 1, PR_OP_LIST},
	{"list request", "path", TH_PATH, 1, PR_OP_LIST},
	{"list request", "cursor", TH_CURSOR, 1, PR_OP_LIST},
	{"read request", "dataset", TH_NAME, 1, PR_OP_READ},
	{"read request", "path", TH_PATH, 1, PR_OP_READ},
	{"read request", "version", TH_VERSION, 1, PR_OP_READ},
	{"stat", "version", TH_VERSION, 0, 0},
	{"list reply", "next_cursor", TH_CURSOR, 0, 0},
	{"list reply", "entry name", TH_ENTRY, 0, 0},
	{"list reply", "entry version", TH_VERSION, 0, 0},
	{"hello", "cluster", TH_NAME, 0, 0},
	{"hello", "node", TH_NAME, 0, 0},
	{"hello", "node name", TH_NAME, 0, 0},
	{"hello", "node addr", TH_ADDR, 0, 0},
	{"hello", "dataset name", TH_NAME, 0, 0},
	{"hello", "dataset backend", TH_BACKEND, 0, 0},
	{"hello", "dataset policy", TH_BACKEND, 0, 0},
	{"stats", "item name", TH_METRIC, 0, 0},
	{"error reply", "message", TH_ERRMSG, 0, 0},
	{"drain request", "node", TH_NAME, 1, PR_OP_DRAIN},
};
const size_t th_n_fields = SL_ARRAY_SIZE(th_fields);
_Static_assert(SL_ARRAY_SIZE(where) == SL_ARRAY_SIZE(th_fields),
	       "a place for every field");

/* The default strings of each message, in wire order. */
static const char *const defaults[][7] = {
	[M_TARGET] = {"imagenet", "train/a.jpg"},
	[M_LIST_REQ] = {"imagenet", "train", "4096"},
	[M_READ_REQ] = {"imagenet", "train/a.jpg", "s11-m1"},
	[M_STAT] = {"s11-m1"},
	[M_LIST_REPLY] = {"4096", "a.jpg", "s11-m1"},
	[M_HELLO] = {"prod", "n1", "n1", "tcp://10.0.0.1:7400", "imagenet",
		     "s3", "lru"},
	[M_STATS] = {"sluice_requests_total{op=\"READ\",status=\"ok\"}"},
	[M_ERRMSG] = {"train/a.jpg: no such file"},
	[M_DRAIN_REQ] = {"n2"},
};

static uint32_t read_layout = 5;

void th_fields_set_layout(uint32_t layout)
{
	read_layout = layout;
}

const char *th_field_default(size_t i)
{
	return defaults[where[i].msg][where[i].slot];
}

/* The strings of field i's message, with s in field i's slot. */
static void strings(size_t i, pr_str_t s, pr_str_t out[7])
{
	for (int k = 0; k < 7; k++)
		out[k] = pr_str(defaults[where[i].msg][k]);
	out[where[i].slot] = s;
}

static void raw(pr_buf_t *b, const void *p, size_t n)
{
	if (b->cap - b->len < n) {
		b->cap = b->len + n + 64;
		b->data = sl_xrealloc(b->data, b->cap);
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void raw_u(pr_buf_t *b, uint64_t v, size_t n)
{
	uint8_t le[8];

	for (size_t k = 0; k < n; k++)
		le[k] = (uint8_t)(v >> (8 * k));
	raw(b, le, n);
}

static void raw_str(pr_buf_t *b, pr_str_t s)
{
	raw_u(b, SL_MIN(s.len, UINT16_MAX), 2);
	raw(b, s.ptr, SL_MIN(s.len, UINT16_MAX));
}

/* type, mode, size, mtime, then version. */
static void raw_stat(pr_buf_t *b, pr_str_t version)
{
	raw_u(b, PR_TYPE_FILE, 1);
	raw_u(b, 0444, 4);
	raw_u(b, 11, 8);
	raw_u(b, 1, 8);
	raw_str(b, version);
}

void th_field_raw(size_t i, pr_str_t s, pr_buf_t *b)
{
	pr_str_t v[7];

	strings(i, s, v);
	switch (where[i].msg) {
	case M_TARGET:
		raw_str(b, v[0]);
		raw_str(b, v[1]);
		break;
	case M_LIST_REQ:
		raw_str(b, v[0]);
		raw_str(b, v[1]);
		raw_str(b, v[2]);
		raw_u(b, 100, 4);
		break;
	case M_READ_REQ:
		raw_str(b, v[0]);
		raw_u(b, read_layout, 4);
		raw_str(b, v[1]);
		raw_str(b, v[2]);
		raw_u(b, 3, 8);
		raw_u(b, 0, 4);
		raw_u(b, 0, 4);
		break;
	case M_STAT:
		raw_stat(b, v[0]);
		break;
	case M_LIST_REPLY:
		raw_str(b, v[0]);
		raw_u(b, 1, 4);
		raw_str(b, v[1]);
		raw_stat(b, v[2]);
		break;
	case M_HELLO:
		raw_str(b, v[0]);
		raw_str(b, v[1]);
		raw_u(b, 7, 4); /* ring_version */
		raw_u(b, 9, 8); /* generation */
		raw_u(b, PR_DRAIN_NONE, 1);
		raw_u(b, 1, 4);
		raw_str(b, v[2]);
		raw_str(b, v[3]);
		raw_u(b, 1, 4);
		raw_u(b, 1, 4);
		raw_str(b, v[4]);
		raw_str(b, v[5]);
		raw_u(b, 1u << 20, 4);
		raw_u(b, 5, 4);	  /* layout */
		raw_u(b, 100, 8); /* layout_since_ms */
		raw_str(b, v[6]);
		raw_u(b, 0, 8);
		break;
	case M_STATS:
		raw_u(b, 1, 4);
		raw_str(b, v[0]);
		raw_u(b, 42, 8);
		break;
	case M_ERRMSG:
		raw_str(b, v[0]);
		break;
	case M_DRAIN_REQ:
		raw_str(b, v[0]);
		raw_u(b, 60000, 8);
		raw_u(b, 12, 8);
		break;
	}
}

int th_field_decode(size_t i, const void *buf, size_t len, pr_str_t *got)
{
	int slot = where[i].slot, rc = -EINVAL;

	switch (where[i].msg) {
	case M_TARGET: {
		pr_target_t m;

		rc = pr_target_decode(&m, buf, len);
		*got = slot ? m.path : m.dataset;
		break;
	}
	case M_LIST_REQ: {
		pr_list_req_t m;

		rc = pr_list_req_decode(&m, buf, len);
		*got = slot == 0 ? m.dataset : slot == 1 ? m.path : m.cursor;
		break;
	}
	case M_READ_REQ: {
		pr_read_req_t m;

		rc = pr_read_req_decode(&m, buf, len);
		*got = slot == 0 ? m.dataset : slot == 1 ? m.path : m.version;
		break;
	}
	case M_STAT: {
		pr_stat_t m;

		rc = pr_stat_decode(&m, buf, len);
		*got = m.version;
		break;
	}
	case M_LIST_REPLY: {
		pr_list_reply_t m;

		rc = pr_list_reply_decode(&m, buf, len);
		*got = m.next_cursor;
		if (rc == 0 && slot)
			*got = slot == 1 ? m.entries[0].name
					 : m.entries[0].st.version;
		pr_list_reply_free(&m);
		break;
	}
	case M_HELLO: {
		pr_hello_t m;

		rc = pr_hello_decode(&m, buf, len);
		if (rc == 0) {
			pr_str_t all[7] = {
				m.cluster,	     m.node,
				m.nodes[0].name,     m.nodes[0].addr,
				m.datasets[0].name,  m.datasets[0].backend,
				m.datasets[0].policy};

			*got = all[slot];
		}
		pr_hello_free(&m);
		break;
	}
	case M_STATS: {
		pr_stats_t m;

		rc = pr_stats_decode(&m, buf, len);
		if (rc == 0)
			*got = m.items[0].name;
		pr_stats_free(&m);
		break;
	}
	case M_ERRMSG:
		rc = pr_errmsg_decode(got, buf, len);
		break;
	case M_DRAIN_REQ: {
		pr_drain_req_t m;

		rc = pr_drain_req_decode(&m, buf, len);
		*got = m.node;
		break;
	}
	}
	return rc;
}

int th_field_encode(size_t i, pr_str_t s, pr_buf_t *b)
{
	pr_str_t v[7];

	strings(i, s, v);
	switch (where[i].msg) {
	case M_TARGET: {
		pr_target_t m = {v[0], v[1]};

		return pr_target_encode(b, &m);
	}
	case M_LIST_REQ: {
		pr_list_req_t m = {v[0], v[1], v[2], 100};

		return pr_list_req_encode(b, &m);
	}
	case M_READ_REQ: {
		pr_read_req_t m = {v[0], read_layout, v[1], v[2], 3, 0, 0};

		return pr_read_req_encode(b, &m);
	}
	case M_STAT: {
		pr_stat_t m = {PR_TYPE_FILE, 0444, 11, 1, v[0]};

		return pr_stat_encode(b, &m);
	}
	case M_LIST_REPLY: {
		pr_dirent_t e = {v[1], {PR_TYPE_FILE, 0444, 11, 1, v[2]}};
		pr_list_reply_t m = {v[0], 1, &e};

		return pr_list_reply_encode(b, &m);
	}
	case M_HELLO: {
		pr_hello_node_t n = {v[2], v[3], 1};
		pr_hello_dataset_t d = {v[4], v[5], 1u << 20, 5, 100, v[6], 0};
		pr_hello_t m = {v[0], v[1], 7, 9, PR_DRAIN_NONE, 1, &n, 1, &d};

		return pr_hello_encode(b, &m);
	}
	case M_STATS: {
		pr_stats_item_t it = {v[0], 42};
		pr_stats_t m = {1, &it};

		return pr_stats_encode(b, &m);
	}
	case M_ERRMSG: {
		/* The encoder takes a C string and replaces what the decoder
		 * refuses: a NUL ends it. */
		char *c = sl_xstrndup(s.ptr ? s.ptr : "", s.len);
		int rc = pr_errmsg_encode(b, c);

		free(c);
		return rc;
	}
	case M_DRAIN_REQ: {
		pr_drain_req_t m = {v[0], 60000, 12};

		return pr_drain_req_encode(b, &m);
	}
	}
	return -EINVAL;
}
