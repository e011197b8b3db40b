/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Block and metadata keys: xxh3-128 over length-prefixed inputs, so that no
 * two different (dataset, layout, path, version, index) tuples feed the
 * hash the same bytes ("ab"+"c" and "a"+"bc" differ).  A domain byte keeps
 * block keys and metadata keys apart.  key.lo is the key's point on the
 * ring.
 *
 * The layout is the dataset's signature of what gives block N its meaning
 * (backend, uri, block size, backend keys: cn_dataset_t.layout, carried by
 * HELLO and by every READ): a block cut under one block size can never be
 * found under a key of another, in a node's RAM, flights or disk, or in a
 * client's block cache.
 */
#ifndef SL_BLOCKKEY_H
#define SL_BLOCKKEY_H

#include <stddef.h>
#include <stdint.h>

typedef struct sl_blockkey {
	uint64_t hi;
	uint64_t lo;
} sl_blockkey_t;

sl_blockkey_t sl_blockkey_make(const char *dataset, uint32_t layout,
			       const char *path, const char *version,
			       uint64_t index);
/* The key of page index (of page_size bytes) of the block whose key is
 * block: a client caches pages of a block apart from the whole block, and
 * a page of one size never stands for a page of another. */
sl_blockkey_t sl_pagekey_make(sl_blockkey_t block, uint32_t page_size,
			      uint64_t index);
/* The key of a directory's (or file's) metadata in a dataset. */
sl_blockkey_t sl_metakey_make(const char *dataset, const char *path);

static inline int sl_blockkey_eq(sl_blockkey_t a, sl_blockkey_t b)
{
	return a.hi == b.hi && a.lo == b.lo;
}

/* 32 hex digits and a NUL. */
#define SL_BLOCKKEY_HEX 33
void sl_blockkey_hex(sl_blockkey_t k, char out[SL_BLOCKKEY_HEX]);

#endif
