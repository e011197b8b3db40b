/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the protocol codec's files share (see proto.c for the design): the
 * output buffer's appenders, one validator per kind of string field, and
 * the decoding cursor.  Internal to proto/; proto.h is the contract.
 *
 * Appenders grow the buffer (control memory: they abort on OOM) and never
 * fail; a value must have passed its validator first.  Validators return
 * 0, -EINVAL (bad bytes), -ENAMETOOLONG (an overlong path or name) or
 * -EMSGSIZE (another overlong string); a NULL ptr is valid only for an
 * empty string.  The cursor keeps the first failure (sticky): every read
 * after it returns zeroes and empty strings, so a decoder reads on
 * unconditionally and checks once, at pr_rd_end().
 */
#ifndef PR_PROTO_I_H
#define PR_PROTO_I_H

#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

/* Room for n more bytes at the end of b; returns where they go (b->len
 * not advanced: the caller adds what it wrote). */
uint8_t *pr_buf_reserve(pr_buf_t *b, size_t n);
/* n more bytes at the end of b, counted; returns where they go. */
uint8_t *pr_buf_add(pr_buf_t *b, size_t n);
void pr_put_u8(pr_buf_t *b, uint8_t v);
void pr_put_u16(pr_buf_t *b, uint16_t v);
void pr_put_u32(pr_buf_t *b, uint32_t v);
void pr_put_u64(pr_buf_t *b, uint64_t v);
/* s (borrowed) has passed a validator, so its length fits the u16. */
void pr_put_str(pr_buf_t *b, pr_str_t s);

typedef int (*pr_str_check_fn)(pr_str_t s);

/* Bytes: at most max (else too_long), no NUL inside. */
int pr_check_bytes(pr_str_t s, uint32_t max, int too_long);
int pr_check_sl_name(pr_str_t s);    /* node, dataset, cluster names */
int pr_check_path(pr_str_t s);	     /* dataset-relative paths */
int pr_check_entry_name(pr_str_t s); /* one path component */
int pr_check_version(pr_str_t s);    /* visible ASCII, no '"' or '\\' */
int pr_check_cursor(pr_str_t s);     /* as a version */
int pr_check_label(pr_str_t s);	     /* metric names: visible ASCII */
int pr_check_addr(pr_str_t s);	     /* sl_endpoint_problem() */
int pr_check_backend(pr_str_t s);    /* backend and policy names */
int pr_check_errmsg(pr_str_t s);     /* no control byte */

/* A decoding cursor over a borrowed buffer. */
typedef struct pr_rd {
	const uint8_t *p;
	size_t len;
	size_t pos;
	int err; /* sticky: the first failure */
} pr_rd_t;

void pr_rd_init(pr_rd_t *r, const void *buf, size_t len);
/* Record err (-EINVAL becomes -EBADMSG) unless a failure is recorded. */
void pr_rd_fail(pr_rd_t *r, int err);
size_t pr_rd_left(const pr_rd_t *r);
/* n bytes from the cursor (borrowed), or NULL and a sticky -EBADMSG. */
const uint8_t *pr_rd_take(pr_rd_t *r, size_t n);
uint8_t pr_rd_u8(pr_rd_t *r);
uint16_t pr_rd_u16(pr_rd_t *r);
uint32_t pr_rd_u32(pr_rd_t *r);
uint64_t pr_rd_u64(pr_rd_t *r);
/* A u16-prefixed string into *s (a view into the buffer), then check. */
void pr_rd_str(pr_rd_t *r, pr_str_t *s, pr_str_check_fn check);
/* An array count: at most max, and no more than the bytes left can hold
 * at min_item bytes an element, so a count never makes a large
 * allocation from a small message. */
uint32_t pr_rd_count(pr_rd_t *r, uint32_t max, size_t min_item);
/* The cursor's verdict: its first failure, or -EBADMSG when bytes are
 * left over, else 0. */
int pr_rd_end(pr_rd_t *r);

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

#endif
