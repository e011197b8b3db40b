/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Values in the cluster configuration (see confval.c): the checks and
 * parsers every section shares, apart from the INI reader and the section
 * logic of config.c.  Pure functions; any thread.
 */
#ifndef SL_CONFVAL_H
#define SL_CONFVAL_H

#include <stddef.h>
#include <stdint.h>

/* The longest key name in a section. */
#define SL_CONF_KEY_MAX 64

/* Blanks as the INI dialect knows them (space, tab, CR, FF, VT). */
static inline int sl_conf_blank(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\f' ||
	       ch == '\v';
}

/* Decimal digits only, the whole string.  Returns 0, -EINVAL (not a
 * number), or -ERANGE (over 64 bits; *out then undefined). */
int sl_parse_uint(const char *s, uint64_t *out);
/* "10%" (blanks allowed before the '%') into *out (10).  Returns 0,
 * -EINVAL, or -ERANGE. */
int sl_parse_percent(const char *s, uint64_t *out);
/* "4M", "2G", "512K", "1T", "100" (bytes), case-insensitive, optional "iB"/"B".
 * Returns 0 or -EINVAL / -ERANGE. */
int sl_parse_size(const char *s, uint64_t *out);
/* "30" (seconds), "500ms", "2s", "5m", "1h", "1d".  Returns 0 or
 * -EINVAL / -ERANGE. */
int sl_parse_duration_ms(const char *s, uint64_t *out);
/* yes/no, true/false, on/off, 1/0 (any case).  Returns 0 or -EINVAL. */
int sl_parse_bool(const char *s, int *out);
/* True when name matches [A-Za-z0-9._-]{1,64} and is not "." or "..": a
 * dataset's name is a directory name under the mount point. */
int sl_name_valid(const char *name);
/* True for a backend module name: [a-z0-9_]{1,SL_BACKEND_MAX}. */
int sl_backend_name_valid(const char *name);
/* True for a key name: [A-Za-z0-9._-]{1,SL_CONF_KEY_MAX}. */
int sl_key_valid(const char *key);
/* True for HOST:PORT with a port in 1..65535 and a HOST of visible ASCII
 * other than '"' and '\\'. */
int sl_host_port_valid(const char *s);
/* A metrics endpoint: HOST:PORT as above, or :PORT (loopback for a
 * client, sl_promhttp_start). */
int sl_metrics_addr_valid(const char *s);
/* NULL when s is an endpoint a node can have: tcp://HOST:PORT (as
 * sl_host_port_valid), ipc://PATH or inproc://NAME, all of it visible
 * ASCII other than '"' and '\\' (it travels in HELLO and into logs);
 * otherwise what is wrong with it (a static string). */
const char *sl_endpoint_problem(const char *s);
/* "4M" for an exact multiple of a unit, else bytes, into buf[cap]; returns
 * buf.  For messages. */
const char *sl_format_size(uint64_t v, char *buf, size_t cap);

#endif
