/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the membership module shared by the record's code
 * (members_record.c) and the view and registration (members.c).
 */
#ifndef SL_MEMBERS_I_H
#define SL_MEMBERS_I_H

#include <stddef.h>

#include "common/members.h"

/* s[0..n) (stopping at a NUL), bounded to cap with "..." and anything but
 * printable ASCII as '?', into buf; returns buf.  For messages about
 * values that failed their check. */
const char *members_shown(const char *s, size_t n, char *buf, size_t cap);
/* 1 when a and b are the same member, field by field. */
int members_eq(const sl_member_t *a, const sl_member_t *b);

#endif
