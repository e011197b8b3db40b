/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the libFuzzer targets share: the entry point libFuzzer calls, and a
 * check that aborts (libFuzzer then keeps the input) with its expression,
 * file and line.
 */
#ifndef SL_FUZZ_H
#define SL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define EXPECT(expr)                                                           \
	do {                                                                   \
		if (!(expr)) {                                                 \
			fprintf(stderr, "%s:%d: '%s' failed\n", __FILE__,      \
				__LINE__, #expr);                              \
			abort();                                               \
		}                                                              \
	} while (0)

#endif
