/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: every string field of every message body (PROTOCOL.md
 * sections 3 and 4), for tests that put chosen bytes into one field of an
 * otherwise valid message: the decoder unit tests (CR, LF, quotes, NUL and
 * control bytes in each field) and the fields fuzz target.  A message is
 * written here byte by byte, without the codec's validators, so that the
 * decoder can be shown what the encoder would refuse.
 */
#ifndef TH_FIELDS_H
#define TH_FIELDS_H

#include <stddef.h>

#include "proto/proto.h"

/* The string kinds of PROTOCOL.md section 3. */
typedef enum th_kind {
	TH_NAME,    /* dataset, node, cluster names */
	TH_PATH,    /* dataset-relative paths */
	TH_ENTRY,   /* one path component */
	TH_VERSION, /* file versions */
	TH_CURSOR,  /* LIST cursors */
	TH_ADDR,    /* ZeroMQ endpoints */
	TH_BACKEND, /* backend and policy names */
	TH_METRIC,  /* STATS item names */
	TH_ERRMSG,  /* error messages */
} th_kind_t;

typedef struct th_field {
	const char *msg;   /* "read request" */
	const char *field; /* "version" */
	th_kind_t kind;
	int request; /* a request body (what a node decodes) */
	uint8_t op;  /* a request's opcode (READ for a read request) */
} th_field_t;

extern const th_field_t th_fields[];
extern const size_t th_n_fields;

/* The layout the read requests carry (default 5): a node's own for
 * requests that must get past its layout check (th_client_layout). */
void th_fields_set_layout(uint32_t layout);

/* Field i's valid default value (static). */
const char *th_field_default(size_t i);
/* Field i's message, valid but for field i, which is s (any bytes): its
 * bytes appended to b. */
void th_field_raw(size_t i, pr_str_t s, pr_buf_t *b);
/* Decode buf[0..len) as field i's message: the decoder's verdict (0 or
 * -errno), and on 0 the decoded field in *got (a view into buf). */
int th_field_decode(size_t i, const void *buf, size_t len, pr_str_t *got);
/* Encode field i's message with s in field i into b: the encoder's
 * verdict. */
int th_field_encode(size_t i, pr_str_t s, pr_buf_t *b);

#endif
