/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Messages and values of a backend module's dataset keys (see modconf.h).
 */
#include "common/modconf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

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

void sl_modconf_http_init(sl_modconf_http_t *h)
{
	h->timeout_ms = 30000;
	h->connect_timeout_ms = 5000;
	h->retries = 4;
	h->retry_base_ms = 100;
	h->connect_p = NULL;
}

int sl_modconf_http_key(const sl_modconf_t *l, const sb_param_t *p,
			sl_modconf_http_t *h)
{
	uint64_t v;

	if (strcmp(p->key, "timeout") == 0)
		return sl_modconf_ms(l, p, 100, 3600000, &h->timeout_ms);
	if (strcmp(p->key, "connect_timeout") == 0) {
		h->connect_p = p;
		return sl_modconf_ms(l, p, 100, 3600000,
				     &h->connect_timeout_ms);
	}
	if (strcmp(p->key, "retry_base") == 0)
		return sl_modconf_ms(l, p, 1, 60000, &h->retry_base_ms);
	if (strcmp(p->key, "retries") == 0) {
		if (sl_parse_uint(p->value, &v) < 0 || v > 20)
			return sl_modconf_bad(
				l, p, "'%s' is not a number 0..20", p->value);
		h->retries = (unsigned)v;
		return 0;
	}
	return 1;
}

int sl_modconf_http_finish(const sl_modconf_t *l, sl_modconf_http_t *h)
{
	if (h->connect_p && h->connect_timeout_ms > h->timeout_ms)
		return sl_modconf_bad(l, h->connect_p, "longer than timeout");
	if (h->connect_timeout_ms > h->timeout_ms)
		h->connect_timeout_ms = h->timeout_ms;
	return 0;
}
