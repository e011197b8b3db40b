/* SPDX-License-Identifier: Apache-2.0 */
/*
 * URI encoding for SigV4, and the module's growable buffers.
 *
 * Why this file exists.  A SigV4 signature covers a canonical request in
 * which the path and the query are encoded exactly one way: every byte but
 * A-Za-z0-9 and -._~ as %XX in upper-case hex, '/' left bare in the path
 * and written %2F in query values, and the query parameters sorted by
 * encoded name (then value).  S3 decodes what it receives once and
 * re-encodes it that way before it checks the signature.  libcurl's
 * CURLOPT_AWS_SIGV4 (7.88, Debian 12) puts the URL's path and query into
 * the canonical request as they are given, without re-encoding and without
 * sorting, so the only way to get a signature S3 accepts is to hand curl a
 * URL that is already canonical.  Every URL of this module is built here:
 * keys with spaces, '+', '%', unicode or '?' in them travel, and are
 * signed, in the one form S3 computes.  ('+' must be %2B: S3 reads a bare
 * '+' in a path as a plus, but re-encodes it as %2B when it signs.)
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cachenode/backends/s3/s3_i.h"
#include "common/util.h"

void s3_buf_init(s3_buf_t *b)
{
	*b = (s3_buf_t){0};
}

void s3_buf_fini(s3_buf_t *b)
{
	free(b->data);
	*b = (s3_buf_t){0};
}

void s3_buf_add(s3_buf_t *b, const void *p, size_t n)
{
	b->data = sl_xgrow(b->data, &b->cap, b->len + n + 1, 256);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void s3_buf_adds(s3_buf_t *b, const char *s)
{
	s3_buf_add(b, s, strlen(s));
}

char *s3_buf_release(s3_buf_t *b)
{
	char *s = b->data ? b->data : sl_xstrdup("");

	s3_buf_init(b);
	return s;
}

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

void s3_uri_encode(s3_buf_t *b, const char *s, size_t n, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[3];

		if (unreserved(c) || (keep_slash && c == '/')) {
			s3_buf_add(b, &s[i], 1);
			continue;
		}
		esc[0] = '%';
		esc[1] = hex[c >> 4];
		esc[2] = hex[c & 15];
		s3_buf_add(b, esc, 3);
	}
}

typedef struct enc_param {
	char *name;
	char *value;
} enc_param_t;

static int enc_param_cmp(const void *a, const void *b)
{
	const enc_param_t *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	return c ? c : strcmp(x->value, y->value);
}

void s3_uri_add_query(s3_buf_t *b, const s3_qparam_t *params, size_t n)
{
	enc_param_t *e = sl_xcalloc(n, sizeof(*e));

	for (size_t i = 0; i < n; i++) {
		s3_buf_t t;

		s3_buf_init(&t);
		s3_uri_encode(&t, params[i].name, strlen(params[i].name), 0);
		e[i].name = s3_buf_release(&t);
		s3_uri_encode(&t, params[i].value, strlen(params[i].value), 0);
		e[i].value = s3_buf_release(&t);
	}
	/* Encoded strings are ASCII: strcmp is the byte order SigV4 wants. */
	qsort(e, n, sizeof(*e), enc_param_cmp);
	for (size_t i = 0; i < n; i++) {
		s3_buf_adds(b, i ? "&" : "?");
		s3_buf_adds(b, e[i].name);
		s3_buf_adds(b, "=");
		s3_buf_adds(b, e[i].value);
		free(e[i].name);
		free(e[i].value);
	}
	free(e);
}

int s3_components_ok(const char *s, size_t n)
{
	size_t start = 0;

	if (n == 0)
		return 0;
	while (start <= n) {
		const char *c = s + start;
		const char *slash = memchr(c, '/', n - start);
		size_t len = slash ? (size_t)(slash - c) : n - start;

		if (len == 0 || (len == 1 && c[0] == '.') ||
		    (len == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		start += len + 1;
	}
	return 1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *s3_uri_decode(const char *s, int plus)
{
	size_t n = strlen(s), o = 0;
	char *out = sl_xmalloc(n + 1);

	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if (s[i] == '+' && plus) {
			out[o++] = ' ';
			continue;
		}
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		/* s is NUL-terminated: s[i + 2] is read only when s[i + 1]
		 * was a hex digit. */
		hi = hexval(s[i + 1]);
		lo = hi >= 0 ? hexval(s[i + 2]) : -1;
		if (lo < 0 || (hi == 0 && lo == 0)) {
			free(out);
			return NULL;
		}
		out[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	out[o] = '\0';
	return out;
}
