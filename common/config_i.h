/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside the cluster configuration's parser, shared by its two halves:
 * config.c reads the file (lines, comments, section headers, "key =
 * value", the one error message) and configkeys.c says what the sections
 * and keys mean (their tables, each value's check, the checks across
 * keys).  Not for use outside common/config*.c.
 */
#ifndef SL_CONFIG_I_H
#define SL_CONFIG_I_H

#include <stddef.h>

#include "common/config.h"

#define LABEL_MAX (SL_NAME_MAX + 24)

enum sect {
	SECT_NONE,
	SECT_CLUSTER,
	SECT_NODE,
	SECT_NODE_DEFAULTS,
	SECT_DATASET,
	SECT_CLIENT,
};

#define SECT_KEYS_MAX 12 /* keys of the largest section */

typedef struct parser {
	const char *file; /* name for messages */
	char *err;
	size_t errlen;
	sl_config_t *c;
	size_t nodes_cap;
	size_t datasets_cap;
	size_t params_cap; /* of the current dataset */
	int line;	   /* the line being parsed */
	enum sect sect;
	char label[LABEL_MAX]; /* "[node a]", or "" outside sections */
	int sect_line;
	const char *const *keys;      /* the current section's known keys */
	int seen_line[SECT_KEYS_MAX]; /* where each was set; 0 = not yet */
	int cluster_line;
	int client_line;
	int defaults_line;
	int membership_line, etcd_line; /* where they were set, or 0 */
} parser_t;

/*
 * Report the load's one error, "FILE:LINE: [section] key: message", and
 * return -EINVAL.  key may be NULL; outside a section the label is left out.
 */
int sl_cfg_fail(parser_t *p, int line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Trim blanks at both ends of s, in place; returns the first kept byte. */
char *sl_cfg_trim(char *s);

/* (configkeys.c) A new config's defaults, before any line is read. */
void sl_cfg_init(sl_config_t *c);

/* (configkeys.c) Start the section of header "[inner name]" (inner:
 * "node", "cluster"...; name "" for none), the previous one finished: 0 or
 * sl_cfg_fail's -EINVAL. */
int sl_cfg_section(parser_t *p, const char *inner, const char *name);

/* (configkeys.c) key = val (both trimmed, key valid) in the current
 * section: 0 or -EINVAL. */
int sl_cfg_key(parser_t *p, const char *key, const char *val);

/* (configkeys.c) The current section's closing checks (required keys,
 * keys that need each other): 0 or -EINVAL. */
int sl_cfg_finish_section(parser_t *p);

/* (configkeys.c) The checks across sections, after the last line. */
int sl_cfg_finish(parser_t *p);

#endif
