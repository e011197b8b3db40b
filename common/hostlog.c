/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A module's way to the host's logger (see hostlog.h).  The host's symbols
 * are looked up once; nothing else changes after that.
 */
#include "common/hostlog.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include "common/util.h"

typedef void (*host_write_fn)(int level, const char *fmt, ...);

static struct {
	pthread_once_t once;
	host_write_fn write;
	const int *level;
} host = {.once = PTHREAD_ONCE_INIT};

static void find_host(void)
{
	*(void **)&host.write = dlsym(RTLD_DEFAULT, "sl_log_write");
	host.level = dlsym(RTLD_DEFAULT, "sl_log_level");
}

void sl_hostlog(sl_hostlog_t *lim, int level, const char *what, const char *fmt,
		...)
{
	uint64_t now = sl_now_ms(), last, dropped;
	char line[768];
	va_list ap;

	pthread_once(&host.once, find_host);
	if (!host.write || !host.level || level > *host.level)
		return;
	last = atomic_load(&lim->last_ms);
	if ((last && now < last + 1000) ||
	    !atomic_compare_exchange_strong(&lim->last_ms, &last, now)) {
		atomic_fetch_add(&lim->dropped, 1);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	dropped = atomic_exchange(&lim->dropped, 0);
	if (dropped)
		host.write(level,
			   "%s (%" PRIu64 " more %s lines in the last second)",
			   line, dropped, what);
	else
		host.write(level, "%s", line);
}
