/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the protocol decoders (`make fuzz`).  Every input
 * goes to the header decoder, to every body decoder and to the LZ4
 * unpacker.  Besides crashes and sanitizer reports it checks the codec's
 * promise: whatever a decoder accepts lies within the limits, and encoding
 * it again gives back exactly the input bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "test/fuzz/fuzz.h"

/* The re-encoded bytes must be the input. */
static void same(pr_buf_t *b, int rc, const uint8_t *data, size_t size)
{
	EXPECT(rc == 0);
	EXPECT(b->len == size);
	EXPECT(size == 0 || memcmp(b->data, data, size) == 0);
	pr_buf_reset(b);
}

static void view(pr_str_t s, const uint8_t *data, size_t size, uint32_t max)
{
	uintptr_t p = (uintptr_t)s.ptr, lo = (uintptr_t)data;

	EXPECT(s.len <= max);
	if (s.len)
		EXPECT(p >= lo && p + s.len <= lo + size);
}

static void fuzz_header(pr_buf_t *b, const uint8_t *data, size_t size)
{
	pr_header_t h;
	uint8_t re[PR_HEADER_SIZE];

	if (pr_header_decode(&h, data, size) != 0)
		return;
	EXPECT(h.body_len <= PR_MAX_BODY);
	EXPECT(pr_header_encode(&h, re) == 0);
	EXPECT(size == PR_HEADER_SIZE && memcmp(re, data, size) == 0);
	(void)b;
}

static void fuzz_bodies(pr_buf_t *b, const uint8_t *data, size_t size)
{
	pr_target_t t;
	pr_stat_t st;
	pr_list_req_t lq;
	pr_list_reply_t lr;
	pr_read_req_t rq;
	pr_hello_t he;
	pr_load_progress_t lp;
	pr_stats_t sts;
	pr_evict_reply_t ev;
	pr_drain_req_t dr;
	pr_str_t msg;

	if (pr_target_decode(&t, data, size) == 0) {
		view(t.dataset, data, size, PR_MAX_NAME);
		view(t.path, data, size, PR_MAX_PATH);
		same(b, pr_target_encode(b, &t), data, size);
	}
	if (pr_stat_decode(&st, data, size) == 0) {
		view(st.version, data, size, PR_MAX_VERSION);
		same(b, pr_stat_encode(b, &st), data, size);
	}
	if (pr_list_req_decode(&lq, data, size) == 0) {
		view(lq.cursor, data, size, PR_MAX_CURSOR);
		EXPECT(lq.max_entries <= PR_MAX_LIST_ENTRIES);
		same(b, pr_list_req_encode(b, &lq), data, size);
	}
	if (pr_list_reply_decode(&lr, data, size) == 0) {
		EXPECT(lr.n_entries <= PR_MAX_LIST_ENTRIES);
		for (uint32_t i = 0; i < lr.n_entries; i++)
			view(lr.entries[i].name, data, size, PR_MAX_NAME);
		same(b, pr_list_reply_encode(b, &lr), data, size);
		pr_list_reply_free(&lr);
	}
	if (pr_read_req_decode(&rq, data, size) == 0) {
		EXPECT((uint64_t)rq.offset + rq.length <= PR_MAX_BLOCK);
		view(rq.version, data, size, PR_MAX_VERSION);
		same(b, pr_read_req_encode(b, &rq), data, size);
	}
	if (pr_hello_decode(&he, data, size) == 0) {
		EXPECT(he.n_nodes <= PR_MAX_NODES);
		EXPECT(he.n_datasets <= PR_MAX_DATASETS);
		for (uint32_t i = 0; i < he.n_nodes; i++)
			view(he.nodes[i].addr, data, size, 255);
		same(b, pr_hello_encode(b, &he), data, size);
		pr_hello_free(&he);
	}
	if (pr_load_progress_decode(&lp, data, size) == 0)
		same(b, pr_load_progress_encode(b, &lp), data, size);
	if (pr_stats_decode(&sts, data, size) == 0) {
		EXPECT(sts.n_items <= PR_MAX_STATS);
		same(b, pr_stats_encode(b, &sts), data, size);
		pr_stats_free(&sts);
	}
	if (pr_evict_reply_decode(&ev, data, size) == 0)
		same(b, pr_evict_reply_encode(b, &ev), data, size);
	if (pr_drain_req_decode(&dr, data, size) == 0) {
		view(dr.node, data, size, PR_MAX_NAME);
		EXPECT(dr.grace_ms <= PR_MAX_GRACE_MS);
		same(b, pr_drain_req_encode(b, &dr), data, size);
	}
	if (pr_errmsg_decode(&msg, data, size) == 0) {
		char tmp[PR_MAX_ERRMSG + 1];

		view(msg, data, size, PR_MAX_ERRMSG);
		EXPECT(pr_str_copy(tmp, sizeof(tmp), msg) == 0);
		same(b, pr_errmsg_encode(b, tmp), data, size);
	}
}

static void fuzz_lz4(const uint8_t *data, size_t size)
{
	static uint8_t out[1 << 16];
	int64_t raw = pr_lz4_raw_len(data, size);
	size_t got;

	if (raw < 0)
		return;
	/* Oversized for our buffer must be refused, never overflow it. */
	if (pr_lz4_unpack(data, size, out, sizeof(out), &got) == 0)
		EXPECT(got == (uint64_t)raw && got <= sizeof(out));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pr_buf_t b;

	pr_buf_init(&b);
	fuzz_header(&b, data, size);
	fuzz_bodies(&b, data, size);
	fuzz_lz4(data, size);
	pr_buf_fini(&b);
	return 0;
}
