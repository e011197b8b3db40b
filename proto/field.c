/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The codec's fields (see proto_i.h): the output buffer, strings and their
 * validators, and the decoding cursor.  Each kind of field has one
 * validator, and both the encoders and the decoders call it, so an
 * encoder refuses exactly what a decoder rejects.
 */
#include "proto/proto_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/confval.h"
#include "common/path.h"
#include "common/util.h"

/* ---- Output buffer --------------------------------------------------- */

void pr_buf_init(pr_buf_t *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void pr_buf_fini(pr_buf_t *b)
{
	free(b->data);
	pr_buf_init(b);
}

void pr_buf_reset(pr_buf_t *b)
{
	b->len = 0;
}

uint8_t *pr_buf_release(pr_buf_t *b, size_t *len)
{
	uint8_t *data = b->data;

	*len = b->len;
	pr_buf_init(b);
	return data;
}

/* Make room for n more bytes; returns where they go (len not advanced). */
uint8_t *pr_buf_reserve(pr_buf_t *b, size_t n)
{
	b->data = sl_xgrow(b->data, &b->cap, b->len + n, 64);
	return b->data + b->len;
}

uint8_t *pr_buf_add(pr_buf_t *b, size_t n)
{
	uint8_t *p = pr_buf_reserve(b, n);

	b->len += n;
	return p;
}

void pr_put_u8(pr_buf_t *b, uint8_t v)
{
	*pr_buf_add(b, 1) = v;
}

void pr_put_u16(pr_buf_t *b, uint16_t v)
{
	sl_put_le16(pr_buf_add(b, 2), v);
}

void pr_put_u32(pr_buf_t *b, uint32_t v)
{
	sl_put_le32(pr_buf_add(b, 4), v);
}

void pr_put_u64(pr_buf_t *b, uint64_t v)
{
	sl_put_le64(pr_buf_add(b, 8), v);
}

/* s has passed a validator, so its length fits the u16. */
void pr_put_str(pr_buf_t *b, pr_str_t s)
{
	pr_put_u16(b, (uint16_t)s.len);
	if (s.len)
		memcpy(pr_buf_add(b, s.len), s.ptr, s.len);
}

/* ---- Strings and their validators ------------------------------------ */

pr_str_t pr_str(const char *s)
{
	pr_str_t v = {"", 0};

	if (s) {
		size_t n = strlen(s);

		v.ptr = s;
		v.len = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	}
	return v;
}

int pr_str_copy(char *dst, size_t cap, pr_str_t s)
{
	size_t n = s.len;
	int rc = 0;

	if (cap == 0)
		return -ENAMETOOLONG;
	if (n >= cap) {
		n = cap - 1;
		rc = -ENAMETOOLONG;
	}
	if (n)
		memcpy(dst, s.ptr, n);
	dst[n] = '\0';
	return rc;
}

int pr_str_eq(pr_str_t s, const char *cstr)
{
	size_t n = strlen(cstr);

	return n == s.len && (n == 0 || memcmp(s.ptr, cstr, n) == 0);
}

/*
 * Validators return 0, -EINVAL (bad bytes), -ENAMETOOLONG (overlong path or
 * name) or -EMSGSIZE (other overlong string).  A NULL ptr is only valid for
 * an empty string (encoders may see one).
 */
int pr_check_bytes(pr_str_t s, uint32_t max, int too_long)
{
	if (s.len > max)
		return too_long;
	if (s.len && (!s.ptr || memchr(s.ptr, '\0', s.len)))
		return -EINVAL;
	return 0;
}

/* pr_check_bytes, then s as a C string in tmp[max + 1], for the checkers
 * of common/ that take one. */
static int check_into(pr_str_t s, char *tmp, uint32_t max, int too_long)
{
	int rc = pr_check_bytes(s, max, too_long);

	if (rc < 0)
		return rc;
	if (s.len)
		memcpy(tmp, s.ptr, s.len);
	tmp[s.len] = '\0';
	return 0;
}

/* Node and dataset names: [A-Za-z0-9._-]{1,64}. */
int pr_check_sl_name(pr_str_t s)
{
	char tmp[SL_NAME_MAX + 1];
	int rc = check_into(s, tmp, SL_NAME_MAX, -ENAMETOOLONG);

	if (rc == 0 && !sl_name_valid(tmp))
		rc = -EINVAL;
	return rc;
}

/* pr_check_bytes, then common/path.h's checker of the string's kind:
 * its refusals read -EINVAL, but for -ENAMETOOLONG (a path's component
 * over 255 bytes; versions and cursors have the same limits on both
 * sides, so theirs never says it). */
static int check_with(pr_str_t s, uint32_t max, int too_long,
		      int (*check)(const char *, size_t))
{
	int rc = pr_check_bytes(s, max, too_long);

	if (rc < 0)
		return rc;
	rc = check(s.len ? s.ptr : "", s.len);
	if (rc < 0 && rc != -ENAMETOOLONG)
		rc = -EINVAL;
	return rc;
}

int pr_check_path(pr_str_t s)
{
	return check_with(s, PR_MAX_PATH, -ENAMETOOLONG, sl_path_check);
}

int pr_check_entry_name(pr_str_t s)
{
	return check_with(s, PR_MAX_NAME, -ENAMETOOLONG, sl_name_check);
}

/* Versions and cursors go back to backends, into headers and URLs:
 * visible ASCII but '"' and '\\' (common/path.h). */
int pr_check_version(pr_str_t s)
{
	return check_with(s, PR_MAX_VERSION, -EMSGSIZE, sl_version_check);
}

int pr_check_cursor(pr_str_t s)
{
	return check_with(s, PR_MAX_CURSOR, -EMSGSIZE, sl_cursor_check);
}

/* 1 when s holds a byte below 0x20 or DEL: what could end a log line or
 * drive a terminal. */
static int has_control(pr_str_t s)
{
	for (uint32_t i = 0; i < s.len; i++)
		if ((unsigned char)s.ptr[i] < 0x20 || s.ptr[i] == 0x7f)
			return 1;
	return 0;
}

/* Metric names: 1..PR_MAX_NAME bytes of visible ASCII (quotes included:
 * sluice_requests_total{op="READ"}). */
int pr_check_label(pr_str_t s)
{
	int rc = pr_check_bytes(s, PR_MAX_NAME, -ENAMETOOLONG);

	if (rc < 0)
		return rc;
	if (s.len == 0)
		return -EINVAL;
	for (uint32_t i = 0; i < s.len; i++)
		if ((unsigned char)s.ptr[i] <= 0x20 ||
		    (unsigned char)s.ptr[i] >= 0x7f)
			return -EINVAL;
	return 0;
}

/* A ZeroMQ endpoint a client will connect to: sl_endpoint_problem(). */
int pr_check_addr(pr_str_t s)
{
	char tmp[SL_ADDR_MAX + 1];
	int rc = check_into(s, tmp, SL_ADDR_MAX, -EMSGSIZE);

	if (rc == 0 && (s.len == 0 || sl_endpoint_problem(tmp)))
		rc = -EINVAL;
	return rc;
}

/* Error messages: text for people, shown in logs and terminals, so no
 * control byte (the encoder replaces them). */
int pr_check_errmsg(pr_str_t s)
{
	int rc = pr_check_bytes(s, PR_MAX_ERRMSG, -EMSGSIZE);

	if (rc == 0 && has_control(s))
		rc = -EINVAL;
	return rc;
}

/* Backend module names: [a-z0-9_]{1,31}. */
int pr_check_backend(pr_str_t s)
{
	int rc = pr_check_bytes(s, SL_BACKEND_MAX, -ENAMETOOLONG);

	if (rc < 0)
		return rc;
	if (s.len == 0)
		return -EINVAL;
	for (uint32_t i = 0; i < s.len; i++) {
		char c = s.ptr[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return -EINVAL;
	}
	return 0;
}

/* ---- Decoding cursor ------------------------------------------------- */

void pr_rd_init(pr_rd_t *r, const void *buf, size_t len)
{
	r->p = buf ? buf : (const void *)"";
	r->len = buf ? len : 0;
	r->pos = 0;
	r->err = 0;
}

void pr_rd_fail(pr_rd_t *r, int err)
{
	if (!r->err)
		r->err = err == -EINVAL ? -EBADMSG : err;
}

size_t pr_rd_left(const pr_rd_t *r)
{
	return r->len - r->pos;
}

/* n bytes from the cursor, or NULL (and a sticky -EBADMSG) if short. */
const uint8_t *pr_rd_take(pr_rd_t *r, size_t n)
{
	const uint8_t *q;

	if (r->err)
		return NULL;
	if (n > pr_rd_left(r)) {
		pr_rd_fail(r, -EBADMSG);
		return NULL;
	}
	q = r->p + r->pos;
	r->pos += n;
	return q;
}

uint8_t pr_rd_u8(pr_rd_t *r)
{
	const uint8_t *q = pr_rd_take(r, 1);

	return q ? q[0] : 0;
}

uint16_t pr_rd_u16(pr_rd_t *r)
{
	const uint8_t *q = pr_rd_take(r, 2);

	return q ? sl_get_le16(q) : 0;
}

uint32_t pr_rd_u32(pr_rd_t *r)
{
	const uint8_t *q = pr_rd_take(r, 4);

	return q ? sl_get_le32(q) : 0;
}

uint64_t pr_rd_u64(pr_rd_t *r)
{
	const uint8_t *q = pr_rd_take(r, 8);

	return q ? sl_get_le64(q) : 0;
}

/* A u16-prefixed string, then its validator. */
void pr_rd_str(pr_rd_t *r, pr_str_t *s, pr_str_check_fn check)
{
	uint16_t n = pr_rd_u16(r);
	const uint8_t *q = pr_rd_take(r, n);
	int rc;

	s->ptr = "";
	s->len = 0;
	if (!q)
		return;
	s->ptr = (const char *)q;
	s->len = n;
	rc = check(*s);
	if (rc < 0)
		pr_rd_fail(r, rc);
}

/* An array count: at most max, and no more than the bytes left can hold. */
uint32_t pr_rd_count(pr_rd_t *r, uint32_t max, size_t min_item)
{
	uint32_t n = pr_rd_u32(r);

	if (r->err)
		return 0;
	if (n > max) {
		pr_rd_fail(r, -EMSGSIZE);
		return 0;
	}
	if ((uint64_t)n * min_item > pr_rd_left(r)) {
		pr_rd_fail(r, -EBADMSG);
		return 0;
	}
	return n;
}

/* The whole buffer must have been consumed. */
int pr_rd_end(pr_rd_t *r)
{
	if (!r->err && r->pos != r->len)
		pr_rd_fail(r, -EBADMSG);
	return r->err;
}
