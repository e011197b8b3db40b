/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The protocol codec's frame level (proto.h is the contract, PROTOCOL.md
 * the byte layout): opcodes, the fixed 48-byte header and the body hash.
 * The codec's other files: field.c (the buffer, one validator per kind of
 * field, the decoding cursor), msg.c (each body's encoder and decoder),
 * lz4.c (packed bodies), status.c (what a reply's status means).
 *
 * Across them: encoders and decoders share one validator per kind of
 * field, so an encoder refuses exactly what a decoder rejects, and
 * anything that decodes encodes again to the same bytes.  Decoders read
 * through a cursor with a sticky error: every read is bounds-checked
 * against what is left of the buffer, the first failure sticks, and later
 * reads return zeroes.  Counts are checked against their limit and
 * against the bytes left before anything is allocated, so a small message
 * never makes a large allocation.
 */
#include "proto/proto.h"

#include <errno.h>
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
	HO_GENERATION = 40,
	HO_END = 48,
};
_Static_assert(HO_END == PR_HEADER_SIZE, "header layout != PR_HEADER_SIZE");
_Static_assert(PR_MAX_PATH == SL_PATH_MAX, "wire path limit != SL_PATH_MAX");
_Static_assert(PR_MAX_NAME == SL_COMPONENT_MAX, "name limit != component");
_Static_assert(PR_MAX_BLOCK == SL_BLOCK_SIZE_MAX, "block limit != config");
_Static_assert(PR_MAX_PATH <= UINT16_MAX && PR_MAX_CURSOR <= UINT16_MAX,
	       "wire strings carry a u16 length");

/* Status values cross the wire as Linux's errno numbers. */
#ifdef __linux__
_Static_assert(ENOENT == 2 && EIO == 5 && EAGAIN == 11 && EINVAL == 22 &&
		       ENAMETOOLONG == 36 && ENODATA == 61 && EBADMSG == 74 &&
		       EMSGSIZE == 90 && EPROTONOSUPPORT == 93 &&
		       EOPNOTSUPP == 95 && ESTALE == 116 && EREMCHG == 78,
	       "errno values differ from the wire's (Linux) numbers");
#endif

static const char *const op_names[PR_OP_MAX + 1] = {
	[PR_OP_HELLO] = "HELLO",	 [PR_OP_STAT] = "STAT",
	[PR_OP_LIST] = "LIST",		 [PR_OP_READ] = "READ",
	[PR_OP_PREFETCH] = "PREFETCH",	 [PR_OP_LOAD] = "LOAD",
	[PR_OP_STATS] = "STATS",	 [PR_OP_EVICT] = "EVICT",
	[PR_OP_PEER_READ] = "PEER_READ", [PR_OP_DRAIN] = "DRAIN",
	[PR_OP_REPLICATE] = "REPLICATE", [PR_OP_HELD] = "HELD",
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
	if (h->status > 0 || h->status < -PR_ERRNO_MAX ||
	    (h->status < 0 && !reply))
		return -EINVAL;
	if (h->status < 0 && (h->flags & PR_F_MORE))
		return -EINVAL;
	/* A tier only where one served a block: a successful READ or
	 * PEER_READ reply. */
	if (pr_flags_tier(h->flags) &&
	    (!reply || h->status < 0 || pr_flags_tier(h->flags) > PR_TIER_MAX ||
	     (h->opcode != PR_OP_READ && h->opcode != PR_OP_PEER_READ)))
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
	sl_put_le64(out + HO_GENERATION, h->generation);
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
	h->generation = sl_get_le64(p + HO_GENERATION);
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
