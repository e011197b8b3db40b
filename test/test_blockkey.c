/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/blockkey: keys of different tuples differ (even when
 * their strings concatenate to the same bytes), a block's key depends on the
 * dataset's layout (a block cut under one block size is never found under
 * another), block and metadata keys live
 * in separate domains, and the encoding is pinned by known values, since
 * changing it would re-key every block already cached on disk.
 */
#include <check.h>
#include <string.h>

#include "common/blockkey.h"
#include "test/helper_check.h"

static int differ(sl_blockkey_t a, sl_blockkey_t b)
{
	return a.hi != b.hi && a.lo != b.lo;
}

START_TEST(test_inputs_differ)
{
	sl_blockkey_t k =
		sl_blockkey_make("imagenet", 7, "train/a.jpg", "v1", 0);

	ck_assert(sl_blockkey_eq(
		k, sl_blockkey_make("imagenet", 7, "train/a.jpg", "v1", 0)));
	ck_assert(differ(
		k, sl_blockkey_make("imagenet2", 7, "train/a.jpg", "v1", 0)));
	ck_assert(differ(
		k, sl_blockkey_make("imagenet", 7, "train/b.jpg", "v1", 0)));
	ck_assert(differ(
		k, sl_blockkey_make("imagenet", 7, "train/a.jpg", "v2", 0)));
	ck_assert(differ(k, sl_blockkey_make("", 7, "", "", 0)));
}
END_TEST

/* Length prefixes: moving a byte from one field to the next changes the
 * key, in every pair of neighbouring fields. */
START_TEST(test_no_concat_ambiguity)
{
	ck_assert(differ(sl_blockkey_make("ab", 7, "c", "v", 0),
			 sl_blockkey_make("a", 7, "bc", "v", 0)));
	ck_assert(differ(sl_blockkey_make("d", 7, "ab", "c", 0),
			 sl_blockkey_make("d", 7, "a", "bc", 0)));
	ck_assert(differ(sl_blockkey_make("ab", 7, "", "c", 0),
			 sl_blockkey_make("a", 7, "b", "c", 0)));
	ck_assert(differ(sl_blockkey_make("", 7, "ab", "", 0),
			 sl_blockkey_make("ab", 7, "", "", 0)));
	ck_assert(
		differ(sl_metakey_make("ab", "c"), sl_metakey_make("a", "bc")));
	ck_assert(differ(sl_metakey_make("", "ab"), sl_metakey_make("ab", "")));
}
END_TEST

START_TEST(test_index_matters)
{
	sl_blockkey_t k0 = sl_blockkey_make("ds", 7, "f", "v", 0);

	ck_assert(differ(k0, sl_blockkey_make("ds", 7, "f", "v", 1)));
	ck_assert(differ(k0, sl_blockkey_make("ds", 7, "f", "v", 1ull << 32)));
	ck_assert(differ(sl_blockkey_make("ds", 7, "f", "v", 1),
			 sl_blockkey_make("ds", 7, "f", "v", 256)));
	ck_assert(differ(k0, sl_blockkey_make("ds", 7, "f", "v", UINT64_MAX)));
}
END_TEST

/* The same block of the same file under two layouts (a block size changed
 * on reload) has two keys. */
START_TEST(test_layout_matters)
{
	sl_blockkey_t k = sl_blockkey_make("ds", 7, "f", "v", 1);

	ck_assert(differ(k, sl_blockkey_make("ds", 8, "f", "v", 1)));
	ck_assert(differ(k, sl_blockkey_make("ds", 7u << 8, "f", "v", 1)));
	ck_assert(differ(k, sl_blockkey_make("ds", 0, "f", "v", 1)));
	ck_assert(sl_blockkey_eq(k, sl_blockkey_make("ds", 7, "f", "v", 1)));
}
END_TEST

/* A metadata key never equals a block key, whatever the fields. */
START_TEST(test_domains_differ)
{
	ck_assert(differ(sl_metakey_make("ds", "dir"),
			 sl_blockkey_make("ds", 7, "dir", "", 0)));
	ck_assert(differ(sl_metakey_make("", ""),
			 sl_blockkey_make("", 7, "", "", 0)));
	ck_assert(
		differ(sl_metakey_make("ds", "a"), sl_metakey_make("ds", "b")));
}
END_TEST

/* Page keys: each page of each size of each block its own, and never a
 * block's key. */
START_TEST(test_page_keys)
{
	sl_blockkey_t b = sl_blockkey_make("ds", 7, "f", "v", 3);
	sl_blockkey_t b2 = sl_blockkey_make("ds", 7, "f", "v", 4);

	ck_assert(differ(sl_pagekey_make(b, 65536, 0), b));
	ck_assert(differ(sl_pagekey_make(b, 65536, 0),
			 sl_pagekey_make(b, 65536, 1)));
	ck_assert(differ(sl_pagekey_make(b, 65536, 1),
			 sl_pagekey_make(b, 131072, 1)));
	ck_assert(differ(sl_pagekey_make(b, 65536, 1),
			 sl_pagekey_make(b2, 65536, 1)));
	ck_assert(sl_blockkey_eq(sl_pagekey_make(b, 65536, 9),
				 sl_pagekey_make(b, 65536, 9)));
}
END_TEST

/*
 * The encoding is a contract with every block already on disk.  These values
 * were computed once, outside this code: the documented bytes
 * ('B', u32 LE 8, "imagenet", u32 LE 0x5eed1a70 (the layout), u32 LE 15,
 * "train/n01/x.jpg", u32 LE 6,
 * "etag-1", u64 LE 3) written by a script and hashed with one-shot
 * XXH3_128bits.  If this test fails, the encoding changed.
 */
START_TEST(test_known_values)
{
	char hex[SL_BLOCKKEY_HEX];
	sl_blockkey_t b = sl_blockkey_make("imagenet", 0x5eed1a70u,
					   "train/n01/x.jpg", "etag-1", 3);
	sl_blockkey_t m = sl_metakey_make("imagenet", "train/n01");

	sl_blockkey_hex(b, hex);
	ck_assert_str_eq(hex, "be67179260acf80d315b10bd30ce3265");
	sl_blockkey_hex(m, hex);
	ck_assert_str_eq(hex, "0d4a4421d0e2c4bcf5d87d6523aafa9f");
}
END_TEST

START_TEST(test_hex)
{
	char hex[SL_BLOCKKEY_HEX];
	sl_blockkey_t k = {.hi = 0x0123456789abcdefull,
			   .lo = 0xfedcba9876543210ull};

	memset(hex, 'Z', sizeof(hex));
	sl_blockkey_hex(k, hex);
	ck_assert_str_eq(hex, "0123456789abcdeffedcba9876543210");
	k.hi = 0;
	k.lo = 1;
	sl_blockkey_hex(k, hex);
	ck_assert_str_eq(hex, "00000000000000000000000000000001");
}
END_TEST

/* A path as long as SL_PATH_MAX and more hashes like any other. */
START_TEST(test_long_inputs)
{
	static char a[8192], b[8192];

	memset(a, 'p', sizeof(a) - 1);
	memcpy(b, a, sizeof(b));
	b[5000] = 'q';
	ck_assert(differ(sl_blockkey_make("ds", 7, a, "v", 0),
			 sl_blockkey_make("ds", 7, b, "v", 0)));
	ck_assert(sl_blockkey_eq(sl_blockkey_make("ds", 7, a, "v", 0),
				 sl_blockkey_make("ds", 7, a, "v", 0)));
}
END_TEST

static Suite *blockkey_suite(void)
{
	return TH_SUITE(
		"blockkey",
		{.name = "core",
		 .tests = TH_TESTS(test_inputs_differ, test_no_concat_ambiguity,
				   test_index_matters, test_layout_matters,
				   test_domains_differ, test_page_keys,
				   test_known_values, test_hex,
				   test_long_inputs)});
}

int main(void)
{
	return th_check_run(blockkey_suite(), NULL);
}
