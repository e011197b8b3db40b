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

#endif
