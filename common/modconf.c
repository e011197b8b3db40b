/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Messages and values of a backend module's dataset keys (see modconf.h).
 */
#include "common/modconf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "common/confval.h"

void sl_modconf_init(sl_modconf_t *l, const sb_dataset_t *ds, char *err,
		     size_t errlen)
{
	l->ds = ds;
	l->file = ds->config_path ? ds->config_path : "(config)";
	l->err = err;
	l->errlen = errlen;
}

int sl_modconf_bad(const sl_modconf_t *l, const sb_param_t *p, const char *fmt,
		   ...)
{
	char msg[SB_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p)
		snprintf(l->err, l->errlen, "%s:%d: [dataset %s] %s: %s",
			 l->file, p->line, l->ds->name, p->key, msg);
	else
		snprintf(l->err, l->errlen, "%s: [dataset %s] %s", l->file,
			 l->ds->name, msg);
	return -EINVAL;
}

int sl_modconf_ms(const sl_modconf_t *l, const sb_param_t *p, uint64_t lo_ms,
		  uint64_t hi_ms, uint64_t *out)
{
	if (sl_parse_duration_ms(p->value, out) < 0)
		return sl_modconf_bad(l, p,
				      "'%s' is not a duration (500ms, 2s, 1m)",
				      p->value);
	if (*out < lo_ms || *out > hi_ms)
		return sl_modconf_bad(
			l, p, "%s is out of range (%llums..%llums)", p->value,
			(unsigned long long)lo_ms, (unsigned long long)hi_ms);
	return 0;
}
