/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The etcd gateway's JSON (see etcd_i.h): base64 bytes, int64 fields
 * written as strings and left out when zero, key-values, and error bodies
 * mapped to -errno with etcd's message quoted safely.  Pure functions.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/etcd_i.h"
#include "common/util.h"

/* The gateway's gRPC status codes that we tell apart. */
enum {
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_NOT_FOUND = 5,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_OUT_OF_RANGE = 11,
	GRPC_UNAUTHENTICATED = 16,
};

/* etcd's message, cut short and with anything unprintable replaced, so
 * that a reply cannot break a log line. */
void etcd_quote_msg(const char *src, char *dst, size_t cap)
{
	size_t i;

	for (i = 0; src && src[i] && i + 1 < cap && i < ETCD_MSG_MAX; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

/* ---- base64 (RFC 4648, with padding, as Go's StdEncoding) ------------- */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* NUL-terminated base64 of src[0..n); caller frees. */
static char *b64_encode(const uint8_t *src, size_t n)
{
	char *out = sl_xmalloc((n + 2) / 3 * 4 + 1), *p = out;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)src[i] << 16;
		size_t left = n - i;

		if (left > 1)
			v |= (uint32_t)src[i + 1] << 8;
		if (left > 2)
			v |= src[i + 2];
		*p++ = b64_alphabet[(v >> 18) & 63];
		*p++ = b64_alphabet[(v >> 12) & 63];
		*p++ = left > 1 ? b64_alphabet[(v >> 6) & 63] : '=';
		*p++ = left > 2 ? b64_alphabet[v & 63] : '=';
	}
	*p = '\0';
	return out;
}

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode src[0..n) into dst (room for n / 4 * 3 bytes).  Returns the
 * length, or -EBADMSG for anything that is not padded base64. */
ssize_t etcd_b64_decode(const char *src, size_t n, uint8_t *dst)
{
	size_t o = 0;

	if (n % 4)
		return -EBADMSG;
	for (size_t i = 0; i < n; i += 4) {
		int pad = 0, v[4];
		uint32_t w;

		for (int k = 0; k < 4; k++) {
			v[k] = b64_value(src[i + k]);
			if (v[k] >= 0 && pad == 0)
				continue;
			/* '=' only at the end, one or two of them. */
			if (src[i + k] != '=' || i + 4 != n || k < 2)
				return -EBADMSG;
			v[k] = 0;
			pad++;
		}
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
		    (uint32_t)v[2] << 6 | (uint32_t)v[3];
		dst[o++] = (uint8_t)(w >> 16);
		if (pad < 2)
			dst[o++] = (uint8_t)(w >> 8);
		if (pad < 1)
			dst[o++] = (uint8_t)w;
	}
	return (ssize_t)o;
}

/* ---- JSON fields as the gateway writes them ---------------------------- */

/*
 * An int64 field.  The gateway writes int64 as a decimal string and leaves
 * out a field that is zero, so absent is 0; a JSON integer is taken too.
 */
int etcd_j_int64(const json_t *o, const char *k, int64_t *out)
{
	const json_t *v = json_object_get(o, k);
	const char *s;
	char *end;
	long long x;

	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -EBADMSG;
	s = json_string_value(v);
	errno = 0;
	x = strtoll(s, &end, 10);
	if (!*s || *end || errno)
		return -EBADMSG;
	*out = x;
	return 0;
}

/* A bytes field's base64 text ("" when absent). */
int etcd_j_b64(const json_t *o, const char *k, const char **s, size_t *n)
{
	const json_t *v = json_object_get(o, k);

	*s = "";
	*n = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return -EBADMSG;
	*s = json_string_value(v);
	*n = json_string_length(v);
	return 0;
}

json_t *etcd_j_bytes(const void *p, size_t n)
{
	char *s = b64_encode(p, n);
	json_t *v = json_string(s);

	free(s);
	return v;
}

json_t *etcd_j_num(int64_t v)
{
	char s[24];

	snprintf(s, sizeof(s), "%" PRId64, v);
	return json_string(s);
}

int etcd_kv_text(const json_t *kv, kv_text_t *t)
{
	if (!json_is_object(kv))
		return -EBADMSG;
	if (etcd_j_b64(kv, "key", &t->key, &t->key_n) < 0 ||
	    etcd_j_b64(kv, "value", &t->value, &t->value_n) < 0 ||
	    etcd_j_int64(kv, "create_revision", &t->create_revision) < 0 ||
	    etcd_j_int64(kv, "mod_revision", &t->mod_revision) < 0 ||
	    etcd_j_int64(kv, "lease", &t->lease) < 0)
		return -EBADMSG;
	return 0;
}

/* The errno for a gateway error {"code": N, "message": "..."}. */
int etcd_grpc_errno(int64_t code, const char *msg)
{
	switch (code) {
	case GRPC_NOT_FOUND:
		return -ENOENT;
	case GRPC_OUT_OF_RANGE:
		return msg && strstr(msg, "compacted") ? -ESTALE : -ERANGE;
	case GRPC_INVALID_ARGUMENT:
		return -EINVAL;
	case GRPC_PERMISSION_DENIED:
	case GRPC_UNAUTHENTICATED:
		return -EACCES;
	case GRPC_RESOURCE_EXHAUSTED:
		return -ENOSPC;
	default:
		return -EIO;
	}
}

/*
 * A refusal from url: etcd's error body {"error": "...", "code": N,
 * "message": "..."} into -errno and a line in msg[cap].
 */
int etcd_refusal(const char *what, const char *url, long status,
		 const body_t *b, char *msg, size_t cap)
{
	json_t *j = b->len ? json_loadb(b->data, b->len, 0, NULL) : NULL;
	const char *m =
		j ? json_string_value(json_object_get(j, "message")) : NULL;
	int64_t code = 0;
	char q[ETCD_MSG_MAX + 1];
	int rc;

	if (j && etcd_j_int64(j, "code", &code) < 0)
		code = 0;
	etcd_quote_msg(m ? m : "(no message)", q, sizeof(q));
	rc = code ? etcd_grpc_errno(code, m) : -EIO;
	snprintf(msg, cap, "etcd %s: %s: %ld %s", what, url, status, q);
	json_decref(j);
	return rc;
}

/* The end of the range of keys that start with p[0..n): the prefix with
 * its last byte below 0xff raised by one, or "\0" (every key). */
size_t etcd_prefix_end(const uint8_t *p, size_t n, uint8_t *end)
{
	while (n && p[n - 1] == 0xff)
		n--;
	if (n == 0) {
		end[0] = 0;
		return 1;
	}
	memcpy(end, p, n);
	end[n - 1]++;
	return n;
}
