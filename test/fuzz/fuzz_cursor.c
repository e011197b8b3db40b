/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for LIST cursors (`make fuzz`), which travel from a
 * backend to the client and back (common/path.h): any bytes as a wire
 * cursor that sl_cursor_check passes and that decodes, it encodes back
 * to the very same wire bytes (one wire form each) -- and any bytes but NUL as
 * a backend's cursor, which encodes to a wire cursor that checks and decodes
 * back to it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/path.h"
#include "test/fuzz/fuzz.h"

#define CAP 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char raw[CAP], wire[3 * CAP + 1], back[3 * CAP + 1];
	const char *in = (const char *)data;
	size_t n;

	/* As a wire cursor (decode takes only what the check passed). */
	if (sl_cursor_check(in, size) == 0 &&
	    sl_cursor_decode(in, size, raw, sizeof(raw)) == 0) {
		EXPECT(sl_cursor_encode(raw, back, sizeof(back)) == 0);
		EXPECT(strlen(back) == size && memcmp(back, in, size) == 0);
	}
	/* As a backend's cursor: the bytes up to a NUL. */
	n = strnlen(in, size < CAP - 1 ? size : CAP - 1);
	memcpy(raw, in, n);
	raw[n] = '\0';
	if (sl_cursor_encode(raw, wire, sizeof(wire)) == 0) {
		size_t wl = strlen(wire);

		EXPECT(sl_cursor_check(wire, wl) == 0);
		EXPECT(sl_cursor_decode(wire, wl, back, sizeof(back)) == 0);
		EXPECT(strcmp(back, raw) == 0);
	}
	return 0;
}
