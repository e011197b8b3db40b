/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Block and metadata keys (see blockkey.h).  The hash input is
 *
 *     domain byte ('B' or 'M')
 *     the dataset: u32 LE length, then its bytes (no NUL)
 *     blocks only: u32 LE layout
 *     each other string (path; blocks: version): length and bytes
 *     blocks only: u64 LE block index
 *
 * and for a page ('P'): the block key (hi, lo as u64 LE), u32 LE page
 * size, u64 LE page index.
 *
 * fed to xxh3-128 through the streaming API with its state on the stack, so
 * making a key never allocates and has no length limit.  The encoding is
 * part of the on-disk and on-wire contract: a change here re-keys every
 * cached block, so the known-value test pins it.
 */
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include "common/blockkey.h"

#include <string.h>
#include <xxhash.h>

#include "common/util.h"

static void put_str(XXH3_state_t *st, const char *s)
{
	uint8_t len[4];
	size_t n;

	SL_ASSERT(s);
	n = strlen(s);
	SL_ASSERT(n <= UINT32_MAX);
	sl_put_le32(len, (uint32_t)n);
	XXH3_128bits_update(st, len, sizeof(len));
	XXH3_128bits_update(st, s, n);
}

static sl_blockkey_t finish(XXH3_state_t *st)
{
	XXH128_hash_t h = XXH3_128bits_digest(st);
	sl_blockkey_t k = {.hi = h.high64, .lo = h.low64};

	return k;
}

sl_blockkey_t sl_blockkey_make(const char *dataset, uint32_t layout,
			       const char *path, const char *version,
			       uint64_t index)
{
	XXH3_state_t st;
	uint8_t idx[8], lay[4];
	const uint8_t domain = 'B';

	XXH3_128bits_reset(&st);
	XXH3_128bits_update(&st, &domain, 1);
	put_str(&st, dataset);
	sl_put_le32(lay, layout);
	XXH3_128bits_update(&st, lay, sizeof(lay));
	put_str(&st, path);
	put_str(&st, version);
	sl_put_le64(idx, index);
	XXH3_128bits_update(&st, idx, sizeof(idx));
	return finish(&st);
}

sl_blockkey_t sl_pagekey_make(sl_blockkey_t block, uint32_t page_size,
			      uint64_t index)
{
	XXH3_state_t st;
	uint8_t in[1 + 8 + 8 + 4 + 8];

	in[0] = 'P';
	sl_put_le64(in + 1, block.hi);
	sl_put_le64(in + 9, block.lo);
	sl_put_le32(in + 17, page_size);
	sl_put_le64(in + 21, index);
	XXH3_128bits_reset(&st);
	XXH3_128bits_update(&st, in, sizeof(in));
	return finish(&st);
}

sl_blockkey_t sl_metakey_make(const char *dataset, const char *path)
{
	XXH3_state_t st;
	const uint8_t domain = 'M';

	XXH3_128bits_reset(&st);
	XXH3_128bits_update(&st, &domain, 1);
	put_str(&st, dataset);
	put_str(&st, path);
	return finish(&st);
}

void sl_blockkey_hex(sl_blockkey_t k, char out[SL_BLOCKKEY_HEX])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 0; i < 16; i++) {
		out[i] = digits[(k.hi >> (60 - 4 * i)) & 0xf];
		out[16 + i] = digits[(k.lo >> (60 - 4 * i)) & 0xf];
	}
	out[32] = '\0';
}
