/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the string fields of every message (`make fuzz`):
 * the first input byte picks a field (test/helper_fields.h: every string
 * of every request and reply body), the rest are its bytes, put into an
 * otherwise valid message written without the codec.  The decoder's
 * verdict is checked against an oracle of each field's rule written here
 * independently (PROTOCOL.md section 3), an accepted field must come back
 * as the very bytes sent and encode again to the same message, and the
 * encoder must refuse what the decoder refused (an error message's
 * encoder replaces instead: what it writes must decode).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "test/fuzz/fuzz.h"
#include "test/helper_fields.h"

static int ctl(uint8_t c)
{
	return c < 0x20 || c == 0x7f;
}

/* What the rule of kind k says about every byte of s; lengths, paths'
 * components and endpoints' shapes are the decoder's alone (the oracle
 * only holds it to the bytes). */
static int bytes_allowed(th_kind_t k, const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];

		switch (k) {
		case TH_NAME:
			if (!((c >= 'a' && c <= 'z') ||
			      (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
			      c == '-'))
				return 0;
			break;
		case TH_BACKEND:
			if (!((c >= 'a' && c <= 'z') ||
			      (c >= '0' && c <= '9') || c == '_'))
				return 0;
			break;
		case TH_VERSION:
		case TH_CURSOR:
		case TH_ADDR:
			if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\')
				return 0;
			break;
		case TH_METRIC:
			if (c <= 0x20 || c >= 0x7f)
				return 0;
			break;
		case TH_ERRMSG:
			if (ctl(c))
				return 0;
			break;
		case TH_PATH:
		case TH_ENTRY:
			if (c == 0)
				return 0;
			break;
		}
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t i, n;
	const uint8_t *s;
	pr_buf_t raw, enc;
	pr_str_t got;
	int rc, erc;

	if (size < 1)
		return 0;
	i = data[0] % th_n_fields;
	s = data + 1;
	n = size - 1;
	if (n > UINT16_MAX)
		return 0;
	pr_buf_init(&raw);
	pr_buf_init(&enc);
	th_field_raw(i, (pr_str_t){(const char *)s, (uint32_t)n}, &raw);
	rc = th_field_decode(i, raw.data, raw.len, &got);
	if (rc == 0) {
		EXPECT(bytes_allowed(th_fields[i].kind, s, n));
		EXPECT(got.len == n && (n == 0 || !memcmp(got.ptr, s, n)));
	}
	erc = th_field_encode(i, (pr_str_t){(const char *)s, (uint32_t)n},
			      &enc);
	if (th_fields[i].kind == TH_ERRMSG) {
		EXPECT(erc == 0);
		EXPECT(th_field_decode(i, enc.data, enc.len, &got) == 0);
		for (uint32_t k = 0; k < got.len; k++)
			EXPECT(!ctl((uint8_t)got.ptr[k]));
	} else {
		EXPECT((rc == 0) == (erc == 0));
		if (rc == 0)
			EXPECT(enc.len == raw.len &&
			       !memcmp(enc.data, raw.data, raw.len));
	}
	pr_buf_fini(&raw);
	pr_buf_fini(&enc);
	return 0;
}
