/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A read's blocks (see readmap.h).  Every sum is taken only after the
 * comparison that bounds it: the end is cut at EOF by comparing size with
 * what is left of the file, never by adding off + size, and a block's
 * start bi * block_size never passes the file's size.
 */
#include "fuse/readmap.h"

#include "common/util.h"

uint32_t fc_readmap_block_len(uint64_t file_size, uint32_t block_size,
			      uint64_t bi)
{
	uint64_t start;

	if (bi >= fc_readmap_blocks(file_size, block_size))
		return 0;
	start = bi * block_size;
	return (uint32_t)SL_MIN((uint64_t)block_size, file_size - start);
}

uint64_t fc_readmap_blocks(uint64_t file_size, uint32_t block_size)
{
	return file_size / block_size + (file_size % block_size != 0);
}

uint64_t fc_readmap(fc_readmap_t *m, uint64_t off, uint64_t size,
		    uint64_t file_size, uint32_t block_size)
{
	SL_ASSERT(block_size > 0);
	m->off = off;
	m->file_size = file_size;
	m->block_size = block_size;
	m->n = 0;
	m->first = m->last = 0;
	m->end = off;
	if (off >= file_size || size == 0)
		return 0;
	m->end = size > file_size - off ? file_size : off + size;
	m->first = off / block_size;
	m->last = (m->end - 1) / block_size;
	m->n = m->last - m->first + 1;
	return m->n;
}

fc_span_t fc_readmap_span(const fc_readmap_t *m, uint64_t bi)
{
	uint64_t start = bi * m->block_size;
	fc_span_t s = {
		.block = bi,
		.len = fc_readmap_block_len(m->file_size, m->block_size, bi),
	};

	SL_ASSERT(m->n > 0 && bi >= m->first && bi <= m->last);
	s.lo = (uint32_t)(SL_MAX(m->off, start) - start);
	s.hi = (uint32_t)(SL_MIN(m->end - start, (uint64_t)s.len));
	return s;
}

void fc_readmap_pages(const fc_span_t *sp, uint32_t page_size, uint32_t *first,
		      uint32_t *last)
{
	SL_ASSERT(page_size > 0 && sp->lo < sp->hi);
	*first = sp->lo / page_size;
	*last = (sp->hi - 1) / page_size;
}

uint32_t fc_readmap_page_len(uint32_t block_len, uint32_t page_size,
			     uint32_t pi)
{
	uint64_t start = (uint64_t)pi * page_size;

	if (start >= block_len)
		return 0;
	return (uint32_t)SL_MIN((uint64_t)page_size, block_len - start);
}
