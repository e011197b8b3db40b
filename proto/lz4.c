/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LZ4 packing of bodies (PROTOCOL.md section 6): a u32 raw length, then
 * one LZ4 block.  Packing gives up (-EAGAIN) unless it saves an eighth,
 * which is what JPEGs and compressed shards get; unpacking trusts neither
 * length, the announced one nor LZ4's.
 */
#include "proto/proto_i.h"

#include <errno.h>
#include <lz4.h>

#include "common/util.h"

#define LZ4_HDR 4 /* the raw length in front of the LZ4 block */

_Static_assert(PR_MAX_BODY <= LZ4_MAX_INPUT_SIZE, "body too large for LZ4");

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
	dst = pr_buf_reserve(b, LZ4_HDR + budget);
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
