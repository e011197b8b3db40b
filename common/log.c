/* SPDX-License-Identifier: Apache-2.0 */
/* One-line-per-event logging to stderr with syslog levels (see log.h). */
#include "common/log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/util.h"

int sl_log_level = SL_LOG_NOTICE;
static const char *log_ident = "sluice";

void sl_log_init(const char *ident, int level)
{
	if (ident)
		log_ident = ident;
	if (level < SL_LOG_ERR)
		level = SL_LOG_ERR;
	if (level > SL_LOG_DEBUG)
		level = SL_LOG_DEBUG;
	sl_log_level = level;
}

static const char *level_name(int level)
{
	switch (level) {
	case SL_LOG_ERR:
		return "error";
	case SL_LOG_WARNING:
		return "warning";
	case SL_LOG_NOTICE:
		return "notice";
	case SL_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void sl_log_vwrite(int level, const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
		     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
		     level_name(level), log_ident);
	if (n < 0)
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	/* One event, one line: a newline inside a message (a hostile file
	 * name, say) must not forge a second log line. */
	for (char *p = line + n; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	n = (int)strlen(line);
	line[n++] = '\n';
	/* A single write keeps lines from different threads whole. */
	fwrite(line, 1, (size_t)n, stderr);
}

void sl_log_write(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sl_log_vwrite(level, fmt, ap);
	va_end(ap);
}

int64_t sl_ratelimit_take(sl_ratelimit_t *rl)
{
	uint64_t now = sl_now_ms();
	uint64_t last = atomic_load(&rl->last_ms);

	if (last != 0 && now - last < 1000) {
		atomic_fetch_add(&rl->suppressed, 1);
		return -1;
	}
	if (!atomic_compare_exchange_strong(&rl->last_ms, &last,
					    now ? now : 1)) {
		atomic_fetch_add(&rl->suppressed, 1);
		return -1;
	}
	return (int64_t)atomic_exchange(&rl->suppressed, 0);
}
