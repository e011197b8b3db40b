/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The member record (see members.h): one validator shared by the encoder
 * and the decoder, so that nothing is written that a reader would refuse;
 * the decoder bounds the value before parsing it and quotes nothing
 * unprintable from it in its reasons.
 */
#include "common/members.h"
#include "common/members_i.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "common/confval.h"

/* s, bounded and with anything but printable ASCII as '?', for messages
 * about values that failed their check. */
const char *members_shown(const char *s, size_t n, char *buf, size_t cap)
{
	size_t i, o = 0;

	for (i = 0; i < n && s[i] && o + 4 < cap; i++)
		buf[o++] = (s[i] > 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (i < n && s[i] && o + 4 >= cap) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

static int token_valid(const char *s)
{
	for (; *s; s++)
		if (*s <= 0x20 || *s >= 0x7f)
			return 0;
	return 1;
}

static int terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

int sl_members_check(const sl_member_t *m, char *why, size_t whylen)
{
	char b[80];

	if (!terminated(m->name, sizeof(m->name)) || !sl_name_valid(m->name)) {
		snprintf(why, whylen,
			 "name '%s': expected 1 to %d of [A-Za-z0-9._-]",
			 members_shown(m->name, sizeof(m->name), b, sizeof(b)),
			 SL_NAME_MAX);
		return -EINVAL;
	}
	if (!terminated(m->addr, sizeof(m->addr)) ||
	    strncmp(m->addr, "tcp://", 6) != 0 ||
	    !sl_host_port_valid(m->addr + 6)) {
		snprintf(why, whylen,
			 "addr '%s': expected tcp://HOST:PORT with a port in "
			 "1..65535",
			 members_shown(m->addr, sizeof(m->addr), b, sizeof(b)));
		return -EINVAL;
	}
	if (!terminated(m->metrics_addr, sizeof(m->metrics_addr)) ||
	    (m->metrics_addr[0] && !sl_host_port_valid(m->metrics_addr))) {
		snprintf(why, whylen, "metrics_addr '%s': expected HOST:PORT",
			 members_shown(m->metrics_addr, sizeof(m->metrics_addr),
				       b, sizeof(b)));
		return -EINVAL;
	}
	if (m->weight < 1 || m->weight > 100) {
		snprintf(why, whylen, "weight %" PRIu32 ": expected 1..100",
			 m->weight);
		return -EINVAL;
	}
	if (m->capacity > INT64_MAX) {
		snprintf(why, whylen, "capacity %" PRIu64 ": too large",
			 m->capacity);
		return -EINVAL;
	}
	if (!terminated(m->public_key, sizeof(m->public_key)) ||
	    !token_valid(m->public_key)) {
		snprintf(why, whylen,
			 "public_key: expected at most %d printable ASCII "
			 "bytes without blanks",
			 SL_MEMBERS_KEY_MAX);
		return -EINVAL;
	}
	return 0;
}

char *sl_members_encode(const sl_member_t *m)
{
	char why[160];
	json_t *o;
	char *s;

	if (sl_members_check(m, why, sizeof(why)) < 0)
		return NULL;
	o = json_object();
	json_object_set_new(o, "name", json_string(m->name));
	json_object_set_new(o, "addr", json_string(m->addr));
	if (m->metrics_addr[0])
		json_object_set_new(o, "metrics_addr",
				    json_string(m->metrics_addr));
	json_object_set_new(o, "weight", json_integer(m->weight));
	json_object_set_new(o, "capacity",
			    json_integer((json_int_t)m->capacity));
	if (m->public_key[0])
		json_object_set_new(o, "public_key",
				    json_string(m->public_key));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

/* A string field into dst[cap]: -EINVAL when required and absent, not a
 * string, too long, or holding a NUL. */
static int get_str(const json_t *o, const char *k, int required, char *dst,
		   size_t cap, char *why, size_t whylen)
{
	const json_t *v = json_object_get(o, k);
	size_t n;

	if (!v && !required)
		return 0;
	if (!v) {
		snprintf(why, whylen, "no %s", k);
		return -EINVAL;
	}
	if (!json_is_string(v)) {
		snprintf(why, whylen, "%s is not a string", k);
		return -EINVAL;
	}
	n = json_string_length(v);
	if (n >= cap || memchr(json_string_value(v), '\0', n)) {
		snprintf(why, whylen, "%s: over %zu bytes or with a NUL", k,
			 cap - 1);
		return -EINVAL;
	}
	memcpy(dst, json_string_value(v), n + 1);
	return 0;
}

static int get_int(const json_t *o, const char *k, json_int_t lo, json_int_t hi,
		   json_int_t *out, char *why, size_t whylen)
{
	const json_t *v = json_object_get(o, k);

	if (!v) {
		snprintf(why, whylen, "no %s", k);
		return -EINVAL;
	}
	if (!json_is_integer(v) || json_integer_value(v) < lo ||
	    json_integer_value(v) > hi) {
		snprintf(why, whylen, "%s: expected an integer in %lld..%lld",
			 k, (long long)lo, (long long)hi);
		return -EINVAL;
	}
	*out = json_integer_value(v);
	return 0;
}

int sl_members_decode(const void *json, size_t len, sl_member_t *out, char *why,
		      size_t whylen)
{
	json_error_t jerr;
	json_int_t weight = 0, capacity = 0;
	json_t *o = NULL;
	char b[80];
	int rc;

	memset(out, 0, sizeof(*out));
	if (len > SL_MEMBERS_VALUE_MAX) {
		snprintf(why, whylen, "over %d bytes", SL_MEMBERS_VALUE_MAX);
		return -EBADMSG;
	}
	o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(o)) {
		snprintf(why, whylen, "not a JSON object (%s)",
			 o ? "another JSON value"
			   : members_shown(jerr.text, sizeof(jerr.text), b,
					   sizeof(b)));
		rc = -EBADMSG;
		goto out;
	}
	rc = get_str(o, "name", 1, out->name, sizeof(out->name), why, whylen);
	if (rc == 0)
		rc = get_str(o, "addr", 1, out->addr, sizeof(out->addr), why,
			     whylen);
	if (rc == 0)
		rc = get_str(o, "metrics_addr", 0, out->metrics_addr,
			     sizeof(out->metrics_addr), why, whylen);
	if (rc == 0)
		rc = get_str(o, "public_key", 0, out->public_key,
			     sizeof(out->public_key), why, whylen);
	if (rc == 0)
		rc = get_int(o, "weight", 1, 100, &weight, why, whylen);
	if (rc == 0)
		rc = get_int(o, "capacity", 0, INT64_MAX, &capacity, why,
			     whylen);
	if (rc < 0)
		goto out;
	out->weight = (uint32_t)weight;
	out->capacity = (uint64_t)capacity;
	rc = sl_members_check(out, why, whylen);
out:
	json_decref(o);
	return rc;
}

int members_eq(const sl_member_t *a, const sl_member_t *b)
{
	return strcmp(a->name, b->name) == 0 && strcmp(a->addr, b->addr) == 0 &&
	       strcmp(a->metrics_addr, b->metrics_addr) == 0 &&
	       a->weight == b->weight && a->capacity == b->capacity &&
	       strcmp(a->public_key, b->public_key) == 0;
}
