/* SPDX-License-Identifier: Apache-2.0 */
/*
 * For backend modules: checking a dataset's own keys (sb_param_t, from
 * include/sluice/backend.h) with messages in the cluster config's form,
 * "FILE:LINE: [dataset NAME] KEY: what is wrong", so that an operator sees
 * a module's complaint exactly as the node's own.  Pure functions of their
 * arguments; any thread.
 */
#ifndef SL_MODCONF_H
#define SL_MODCONF_H

#include <stddef.h>
#include <stdint.h>

#include "sluice/backend.h"

/* One open()'s context: everything borrowed from the caller. */
typedef struct sl_modconf {
	const sb_dataset_t *ds;
	const char *file; /* ds->config_path, or "(config)" */
	char *err;
	size_t errlen;
} sl_modconf_t;

void sl_modconf_init(sl_modconf_t *l, const sb_dataset_t *ds, char *err,
		     size_t errlen);

/* Write "FILE:LINE: [dataset NAME] KEY: message" for key p (p NULL: the
 * dataset as a whole, "FILE: [dataset NAME] message") into l->err and
 * return -EINVAL. */
int sl_modconf_bad(const sl_modconf_t *l, const sb_param_t *p, const char *fmt,
		   ...) __attribute__((format(printf, 3, 4)));

/* p's value as a duration (confval.h's forms) in [lo_ms, hi_ms]: 0, or
 * -EINVAL with the message written. */
int sl_modconf_ms(const sl_modconf_t *l, const sb_param_t *p, uint64_t lo_ms,
		  uint64_t hi_ms, uint64_t *out);

/*
 * The limits of an HTTP backend's calls, and the four keys that set them:
 * `timeout` (of one call, retries and back-off included: 100ms..1h,
 * default 30s), `connect_timeout` (one connect, at most `timeout`: default
 * 5s), `retries` (extra attempts after a transient failure: 0..20,
 * default 4), `retry_base` (the first back-off: 1ms..1m, default 100ms).
 */
typedef struct sl_modconf_http {
	uint64_t timeout_ms;
	uint64_t connect_timeout_ms;
	unsigned retries;
	uint64_t retry_base_ms;
	const sb_param_t *connect_p; /* where connect_timeout was set */
} sl_modconf_http_t;

#define SL_MODCONF_HTTP_KEYS "timeout, connect_timeout, retries, retry_base"

void sl_modconf_http_init(sl_modconf_http_t *h);
/* p, when it is one of the four keys: 0 (set), or -EINVAL with the message
 * written; 1 when p is not one of them. */
int sl_modconf_http_key(const sl_modconf_t *l, const sb_param_t *p,
			sl_modconf_http_t *h);
/* After every key: refuse a connect_timeout set over the timeout, and cut
 * the default one to it.  0 or -EINVAL. */
int sl_modconf_http_finish(const sl_modconf_t *l, sl_modconf_http_t *h);

#endif
