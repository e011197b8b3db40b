/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the S3 module's XML parsers (`make fuzz`): any
 * bytes as a ListObjectsV2 result and as an <Error> document.  A listing
 * either fails with a message or holds entries with names, merged in byte
 * order as the contract says; the error's code and message always fit and
 * end in a NUL.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cachenode/backends/s3/s3_i.h"
#include "test/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256] = "", code[64], msg[256];
	s3_page_t page;
	int rc;

	memset(&page, 0, sizeof(page));
	rc = s3_xml_parse_list((const char *)data, size, &page, err,
			       sizeof(err));
	if (rc < 0) {
		EXPECT(rc == -EIO && err[0]);
	} else {
		for (size_t i = 0; i < page.n; i++) {
			EXPECT(page.ents[i].name);
			if (i)
				EXPECT(strcmp(page.ents[i - 1].name,
					      page.ents[i].name) <= 0);
		}
	}
	s3_page_fini(&page);
	memset(code, 'x', sizeof(code));
	memset(msg, 'x', sizeof(msg));
	s3_xml_parse_error((const char *)data, size, code, sizeof(code), msg,
			   sizeof(msg));
	EXPECT(memchr(code, '\0', sizeof(code)));
	EXPECT(memchr(msg, '\0', sizeof(msg)));
	return 0;
}
