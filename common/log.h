/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging: one line per event on stderr, "2026-11-25T10:00:00.123Z LEVEL
 * ident: message".  Levels are syslog's.  The level is checked before the
 * arguments are evaluated, so a disabled debug line costs one comparison.
 * The level is set once at start-up (-v raises it) and read without a lock.
 */
#ifndef SL_LOG_H
#define SL_LOG_H

#include <stdarg.h>
#include <stdint.h>

enum {
	SL_LOG_ERR = 3,
	SL_LOG_WARNING = 4,
	SL_LOG_NOTICE = 5,
	SL_LOG_INFO = 6,
	SL_LOG_DEBUG = 7,
};

/* Frozen after start-up; defaults to SL_LOG_NOTICE. */
extern int sl_log_level;

/* Program name shown on every line; the string is borrowed for the process
 * lifetime. */
void sl_log_init(const char *ident, int level);

void sl_log_write(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sl_log_vwrite(int level, const char *fmt, va_list ap);

#define sl_log(level, ...)                                                     \
	do {                                                                   \
		if ((level) <= sl_log_level)                                   \
			sl_log_write((level), __VA_ARGS__);                    \
	} while (0)

#define sl_err(...)    sl_log(SL_LOG_ERR, __VA_ARGS__)
#define sl_warn(...)   sl_log(SL_LOG_WARNING, __VA_ARGS__)
#define sl_notice(...) sl_log(SL_LOG_NOTICE, __VA_ARGS__)
#define sl_info(...)   sl_log(SL_LOG_INFO, __VA_ARGS__)
#define sl_debug(...)  sl_log(SL_LOG_DEBUG, __VA_ARGS__)

/*
 * Rate-limited logging for events a peer can trigger at will (malformed
 * messages, bad paths): at most one line per call site per second, with a
 * count of what was suppressed.  Safe from any thread.
 */
typedef struct sl_ratelimit {
	_Atomic uint64_t last_ms;
	_Atomic uint64_t suppressed;
} sl_ratelimit_t;

/* Returns the number suppressed since the last line (>= 0) when this call
 * may log, or -1 when it must stay quiet. */
int64_t sl_ratelimit_take(sl_ratelimit_t *rl);

#define sl_log_ratelimited(level, ...)                                         \
	do {                                                                   \
		static sl_ratelimit_t rl_;                                     \
		if ((level) <= sl_log_level) {                                 \
			int64_t sup_ = sl_ratelimit_take(&rl_);                \
			if (sup_ > 0)                                          \
				sl_log_write((level),                          \
					     "(%lld similar messages "         \
					     "suppressed)",                    \
					     (long long)sup_);                 \
			if (sup_ >= 0)                                         \
				sl_log_write((level), __VA_ARGS__);            \
		}                                                              \
	} while (0)

#endif
