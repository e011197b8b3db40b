/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests of the reply-status classification (pr_status_class) and of the
 * status range the header enforces: each errno PROTOCOL.md's table names
 * lands in its row, the answers a client must report stay answers, every
 * int (INT_MIN included) gets a defined class, and a header whose status
 * cannot be negated is malformed on both sides of the codec.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "common/util.h"
#include "proto/proto.h"
#include "test/helper_check.h"

static const struct {
	int err;
	pr_status_class_t want;
} table[] = {
	{ENOENT, PR_STATUS_ANSWER},	   {ENOTDIR, PR_STATUS_ANSWER},
	{EISDIR, PR_STATUS_ANSWER},	   {ESTALE, PR_STATUS_ANSWER},
	{EACCES, PR_STATUS_ANSWER},	   {EPERM, PR_STATUS_ANSWER},
	{EROFS, PR_STATUS_ANSWER},	   {ENAMETOOLONG, PR_STATUS_ANSWER},
	{EINVAL, PR_STATUS_ANSWER},	   {EBADMSG, PR_STATUS_ANSWER},
	{EMSGSIZE, PR_STATUS_ANSWER},	   {EOPNOTSUPP, PR_STATUS_ANSWER},
	{ESHUTDOWN, PR_STATUS_NEXT},	   {EHOSTUNREACH, PR_STATUS_NEXT},
	{ECONNREFUSED, PR_STATUS_NEXT},	   {ENODATA, PR_STATUS_NEXT},
	{EPROTONOSUPPORT, PR_STATUS_NEXT}, {EREMCHG, PR_STATUS_REMAP},
	{EAGAIN, PR_STATUS_LATER},	   {EBUSY, PR_STATUS_LATER},
	{ENOMEM, PR_STATUS_LATER},	   {ENOBUFS, PR_STATUS_LATER},
	{EMFILE, PR_STATUS_LATER},	   {ENFILE, PR_STATUS_LATER},
	{ETIMEDOUT, PR_STATUS_LATER},	   {EIO, PR_STATUS_LATER},
	{ELOOP, PR_STATUS_UNEXPECTED},	   {EFBIG, PR_STATUS_UNEXPECTED},
	{ENOSPC, PR_STATUS_UNEXPECTED},	   {PR_ERRNO_MAX, PR_STATUS_UNEXPECTED},
};

START_TEST(test_table)
{
	ck_assert_int_eq(pr_status_class(0), PR_STATUS_OK);
	for (size_t i = 0; i < SL_ARRAY_SIZE(table); i++)
		ck_assert_msg(pr_status_class(-table[i].err) == table[i].want,
			      "-%d (%s): class %d, want %d", table[i].err,
			      strerror(table[i].err),
			      pr_status_class(-table[i].err), table[i].want);
}
END_TEST

START_TEST(test_out_of_range)
{
	static const int bad[] = {
		INT_MIN, INT_MIN + 1, -PR_ERRNO_MAX - 1, -(1 << 20),
		1,	 EIO,	      PR_ERRNO_MAX + 1,	 INT_MAX};

	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++)
		ck_assert_msg(pr_status_class(bad[i]) == PR_STATUS_NEXT,
			      "%d: class %d", bad[i], pr_status_class(bad[i]));
}
END_TEST

/* A reply header with status st, as its bytes. */
static void reply_bytes(int32_t st, uint8_t *out)
{
	pr_header_t h = {.opcode = PR_OP_READ, .flags = PR_F_REPLY};

	ck_assert_int_eq(pr_header_encode(&h, out), 0);
	sl_put_le32(out + 16, (uint32_t)st);
}

START_TEST(test_header_status_range)
{
	static const int32_t bad[] = {INT32_MIN, -PR_ERRNO_MAX - 1, -70000};
	pr_header_t h = {.opcode = PR_OP_READ, .flags = PR_F_REPLY}, d;
	uint8_t out[PR_HEADER_SIZE];

	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
		reply_bytes(bad[i], out);
		ck_assert_int_eq(pr_header_decode(&d, out, sizeof(out)),
				 -EBADMSG);
		h.status = bad[i];
		ck_assert_int_eq(pr_header_encode(&h, out), -EINVAL);
	}
	reply_bytes(-PR_ERRNO_MAX, out);
	ck_assert_int_eq(pr_header_decode(&d, out, sizeof(out)), 0);
	ck_assert_int_eq(d.status, -PR_ERRNO_MAX);
	h.status = -PR_ERRNO_MAX;
	ck_assert_int_eq(pr_header_encode(&h, out), 0);
}
END_TEST

static Suite *status_suite(void)
{
	return TH_SUITE("proto_status",
			{.name = "status",
			 .tests = TH_TESTS(test_table, test_out_of_range,
					   test_header_status_range)});
}

int main(void)
{
	return th_check_run(status_suite(), NULL);
}
