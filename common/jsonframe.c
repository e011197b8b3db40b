/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Boundaries of concatenated JSON texts in a stream (see jsonframe.h).
 *
 * The scanner keeps three things between bytes: the bracket depth, whether
 * it is inside a string, and whether the previous byte was a backslash in
 * a string.  Brackets count only outside strings; a quote ends a string
 * only when not escaped.  That is all it takes to find where a text ends,
 * without parsing it.  A text that begins and ends inside one chunk is
 * handed to the callback straight from the chunk; only a text cut by a
 * chunk boundary is copied, into one buffer that never exceeds max_text.
 */
#include "common/jsonframe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

struct sl_jsonframe {
	size_t max_text;
	char *buf; /* the part of a text received in earlier chunks */
	size_t len, cap;
	size_t depth; /* 0: between texts */
	int in_str;
	int esc;
	int err; /* sticky */
};

sl_jsonframe_t *sl_jsonframe_new(size_t max_text)
{
	sl_jsonframe_t *f = sl_xcalloc(1, sizeof(*f));

	SL_ASSERT(max_text > 0);
	f->max_text = max_text;
	return f;
}

void sl_jsonframe_destroy(sl_jsonframe_t **fp)
{
	sl_jsonframe_t *f = fp ? *fp : NULL;

	if (!f)
		return;
	free(f->buf);
	free(f);
	*fp = NULL;
}

int sl_jsonframe_idle(const sl_jsonframe_t *f)
{
	return f->depth == 0 && f->err == 0;
}

/* Keep p[0..n) as the continuation of the text in progress. */
static int keep(sl_jsonframe_t *f, const char *p, size_t n)
{
	if (f->len + n > f->max_text)
		return -EMSGSIZE;
	if (f->len + n > f->cap) {
		size_t cap = f->cap ? f->cap : 256;

		while (cap < f->len + n)
			cap *= 2;
		cap = SL_MIN(cap, f->max_text);
		f->buf = sl_xrealloc(f->buf, cap);
		f->cap = cap;
	}
	memcpy(f->buf + f->len, p, n);
	f->len += n;
	return 0;
}

static int blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int sl_jsonframe_feed(sl_jsonframe_t *f, const void *data, size_t len,
		      sl_jsonframe_fn fn, void *ud)
{
	const char *p = data;
	size_t start = 0; /* where the text in progress began in p */
	int rc = 0;

	if (f->err)
		return f->err;
	for (size_t i = 0; i < len; i++) {
		char c = p[i];

		if (f->depth == 0) {
			if (blank(c))
				continue;
			if (c != '{' && c != '[') {
				rc = -EBADMSG;
				goto out;
			}
			start = i;
			f->depth = 1;
			continue;
		}
		if (f->in_str) {
			if (f->esc)
				f->esc = 0;
			else if (c == '\\')
				f->esc = 1;
			else if (c == '"')
				f->in_str = 0;
			continue;
		}
		if (c == '"') {
			f->in_str = 1;
		} else if (c == '{' || c == '[') {
			f->depth++;
		} else if ((c == '}' || c == ']') && --f->depth == 0) {
			size_t n = i + 1 - start;

			if (f->len == 0) {
				if (n > f->max_text) {
					rc = -EMSGSIZE;
					goto out;
				}
				rc = fn(p + start, n, ud);
			} else {
				rc = keep(f, p, i + 1);
				if (rc == 0)
					rc = fn(f->buf, f->len, ud);
				f->len = 0;
			}
			if (rc < 0)
				goto out;
		}
	}
	/* A text still open at the end of the chunk: keep what we have. */
	if (f->depth > 0)
		rc = keep(f, p + start, len - start);
out:
	if (rc < 0)
		f->err = rc;
	return rc;
}
