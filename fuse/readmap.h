/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which blocks a read needs: a read of size bytes at offset off of a file
 * of file_size bytes, cut into blocks of block_size bytes (the last one
 * short), needs blocks first..last, and from each the bytes [lo, hi).
 * Pure arithmetic, no FUSE, no network, so it is tested alone; it never
 * overflows, whatever the offsets (a read near 2^64 is cut at EOF first).
 *
 * Thread safety: no state; call from anywhere.
 */
#ifndef FC_READMAP_H
#define FC_READMAP_H

#include <stdint.h>

/* A read, mapped. */
typedef struct fc_readmap {
	uint64_t first, last; /* its blocks, inclusive; valid when n > 0 */
	uint64_t n;	      /* how many: 0 at or past EOF, or for size 0 */
	uint64_t end;	      /* where it ends in the file, cut at EOF */
	uint64_t off;	      /* where it starts */
	uint64_t file_size;
	uint32_t block_size;
} fc_readmap_t;

/* One block of a read: its index and length, and the part of it the read
 * wants, [lo, hi) with lo < hi <= len. */
typedef struct fc_span {
	uint64_t block;
	uint32_t len; /* the block's bytes: block_size, less for the last */
	uint32_t lo, hi;
} fc_span_t;

/* Map the read into *m; block_size must be > 0.  Returns m->n. */
uint64_t fc_readmap(fc_readmap_t *m, uint64_t off, uint64_t size,
		    uint64_t file_size, uint32_t block_size);

/* The span of block bi of m (first <= bi <= last). */
fc_span_t fc_readmap_span(const fc_readmap_t *m, uint64_t bi);

/* Bytes of block bi of a file of file_size bytes (0 past its end). */
uint32_t fc_readmap_block_len(uint64_t file_size, uint32_t block_size,
			      uint64_t bi);

/* The pages of page_size bytes (> 0) that hold the bytes span sp wants of
 * its block, [*first, *last]: a random read asks for these. */
void fc_readmap_pages(const fc_span_t *sp, uint32_t page_size, uint32_t *first,
		      uint32_t *last);

/* Bytes of page pi of a block of block_len bytes (0 past its end). */
uint32_t fc_readmap_page_len(uint32_t block_len, uint32_t page_size,
			     uint32_t pi);

/* Blocks of a file of file_size bytes. */
uint64_t fc_readmap_blocks(uint64_t file_size, uint32_t block_size);

#endif
