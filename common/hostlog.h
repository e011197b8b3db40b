/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging from a backend module into the cache node that loaded it.  A
 * module links no copy of common/log.c (its sl_log_level would be a second,
 * silent level, and an ODR violation under AddressSanitizer); it finds the
 * sl_log_write and sl_log_level that sluice-cachenode exports (-rdynamic)
 * and stays quiet in a process without them (unit tests dlopen()ing the
 * module).  Lines are rate-limited: one a second per limiter, the others
 * counted and reported with the next one written.
 *
 * Thread safety: any thread; a limiter is two atomics (a zeroed static).
 */
#ifndef SL_HOSTLOG_H
#define SL_HOSTLOG_H

#include <stdint.h>

typedef struct sl_hostlog {
	_Atomic uint64_t last_ms; /* of the last line written */
	_Atomic uint64_t dropped; /* lines not written since */
} sl_hostlog_t;

/* Write one line at syslog level (common/log.h's SL_LOG_*) through the
 * host's logger, if it has one and its level lets it, at most once a
 * second for lim; what names the module in the count of dropped lines. */
void sl_hostlog(sl_hostlog_t *lim, int level, const char *what, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));

#endif
