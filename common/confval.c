/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Values in the cluster configuration, checked and parsed the same way by
 * every section: sizes ("4M"), durations ("500ms"), names of nodes,
 * datasets, backends and keys, and TCP host:port pairs.  Pure functions of
 * their arguments; any thread.
 */
#include "common/confval.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/config.h"

static int is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static int is_lower_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || is_digit(ch);
}

static int is_name_char(char ch)
{
	return is_lower_alnum(ch) || (ch >= 'A' && ch <= 'Z') || ch == '.' ||
	       ch == '_' || ch == '-';
}

static char ascii_lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

static int is_backend_char(char ch)
{
	return is_lower_alnum(ch) || ch == '_';
}

/* 1 when s is 1..max characters that all pass ok. */
static int all_of(const char *s, size_t max, int (*ok)(char ch))
{
	size_t len = s ? strlen(s) : 0;

	if (len == 0 || len > max)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!ok(s[i]))
			return 0;
	return 1;
}

int sl_name_valid(const char *name)
{
	/* Names become directory names (datasets) and path components. */
	return all_of(name, SL_NAME_MAX, is_name_char) &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

int sl_backend_name_valid(const char *name)
{
	return all_of(name, SL_BACKEND_MAX, is_backend_char);
}

int sl_key_valid(const char *key)
{
	return all_of(key, SL_CONF_KEY_MAX, is_name_char);
}

/*
 * Leading decimal digits of *sp into *v, advancing *sp.  Returns 0,
 * -EINVAL when there is no digit, -ERANGE on overflow (digits consumed).
 */
static int parse_digits(const char **sp, uint64_t *v)
{
	const char *s = *sp;
	int ret = 0;

	*v = 0;
	if (!is_digit(*s))
		return -EINVAL;
	for (; is_digit(*s); s++) {
		unsigned int d = (unsigned int)(*s - '0');

		if (*v > (UINT64_MAX - d) / 10)
			ret = -ERANGE;
		else
			*v = *v * 10 + d;
	}
	*sp = s;
	return ret;
}

/* Digits at s, then (with a tail) blanks, then exactly tail.
 * Returns 0, -EINVAL or -ERANGE. */
static int digits_then(const char *s, const char *tail, uint64_t *out)
{
	int ret;

	if (!s)
		return -EINVAL;
	ret = parse_digits(&s, out);
	if (ret == -EINVAL)
		return ret;
	while (*tail && sl_conf_blank(*s))
		s++;
	if (strcmp(s, tail) != 0)
		return -EINVAL;
	return ret;
}

int sl_parse_uint(const char *s, uint64_t *out)
{
	return digits_then(s, "", out);
}

int sl_parse_percent(const char *s, uint64_t *out)
{
	return digits_then(s, "%", out);
}

/* Digits at *sp, then the blanks before a unit: *sp is left at the unit,
 * which the caller parses.  Returns 0, -EINVAL (NULL, or no digits) or
 * -ERANGE (over 64 bits; a bad unit still makes the string -EINVAL). */
static int digits_before_unit(const char **sp, uint64_t *v)
{
	int ret;

	if (!*sp)
		return -EINVAL;
	ret = parse_digits(sp, v);
	if (ret == -EINVAL)
		return ret;
	while (sl_conf_blank(**sp))
		(*sp)++;
	return ret;
}

int sl_parse_size(const char *s, uint64_t *out)
{
	uint64_t v;
	unsigned int shift = 0;
	int ret;

	ret = digits_before_unit(&s, &v);
	if (ret == -EINVAL)
		return ret;
	switch (ascii_lower(*s)) {
	case 'k':
		shift = 10;
		break;
	case 'm':
		shift = 20;
		break;
	case 'g':
		shift = 30;
		break;
	case 't':
		shift = 40;
		break;
	case 'p':
		shift = 50;
		break;
	}
	if (shift) {
		s++;
		if (ascii_lower(*s) == 'i') {
			s++;
			if (ascii_lower(*s) != 'b')
				return -EINVAL;
		}
	}
	if (ascii_lower(*s) == 'b')
		s++;
	if (*s)
		return -EINVAL;
	if (ret < 0)
		return ret;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

int sl_parse_duration_ms(const char *s, uint64_t *out)
{
	uint64_t v, mult;
	int ret;

	ret = digits_before_unit(&s, &v);
	if (ret == -EINVAL)
		return ret;
	if (*s == '\0') {
		mult = 1000; /* a plain number is seconds */
	} else if (ascii_lower(s[0]) == 'm' && ascii_lower(s[1]) == 's' &&
		   s[2] == '\0') {
		mult = 1;
	} else if (s[1] == '\0') {
		switch (ascii_lower(s[0])) {
		case 's':
			mult = 1000;
			break;
		case 'm':
			mult = 60 * 1000;
			break;
		case 'h':
			mult = 3600 * 1000;
			break;
		case 'd':
			mult = 24 * 3600 * 1000;
			break;
		default:
			return -EINVAL;
		}
	} else {
		return -EINVAL;
	}
	if (ret < 0 || v > UINT64_MAX / mult)
		return -ERANGE;
	*out = v * mult;
	return 0;
}

/* "4M" for an exact multiple of a unit, else bytes; for messages. */
const char *sl_format_size(uint64_t v, char *buf, size_t cap)
{
	static const char units[] = "KMGTP";
	int u = -1;

	while (u < 4 && v >= 1024 && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, cap, "%llu", (unsigned long long)v);
	else
		snprintf(buf, cap, "%llu%c", (unsigned long long)v, units[u]);
	return buf;
}

/* A byte that cannot end a line, a header or a quoted string. */
static int visible(char c)
{
	return c > 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* A TCP port after the last ':' of s, and something before it. */
int sl_host_port_valid(const char *s)
{
	const char *colon = strrchr(s, ':');
	const char *q;
	uint64_t port;

	if (!colon || colon == s)
		return 0;
	q = colon + 1;
	if (parse_digits(&q, &port) < 0 || *q || port < 1 || port > 65535)
		return 0;
	for (q = s; q < colon; q++)
		if (!visible(*q))
			return 0;
	return 1;
}

int sl_metrics_addr_valid(const char *s)
{
	char host_port[SL_ADDR_MAX + 2];

	if (s[0] != ':')
		return sl_host_port_valid(s);
	if (strlen(s) >= sizeof(host_port) - 1)
		return 0;
	host_port[0] = 'l'; /* any host: only the port is left to check */
	strcpy(host_port + 1, s);
	return sl_host_port_valid(host_port);
}

const char *sl_endpoint_problem(const char *s)
{
	const char *rest = strstr(s, "://");

	for (const char *q = s; *q; q++)
		if (!visible(*q))
			return "only visible ASCII, no quote or backslash";
	if (!rest)
		return "not an endpoint (expected tcp://HOST:PORT)";
	rest += 3;
	if (strncmp(s, "tcp://", 6) == 0)
		return sl_host_port_valid(rest) ? NULL
						: "expected tcp://HOST:PORT "
						  "with a port in 1..65535";
	if (strncmp(s, "ipc://", 6) != 0 && strncmp(s, "inproc://", 9) != 0)
		return "unsupported transport (expected tcp://, ipc:// or "
		       "inproc://)";
	return *rest ? NULL : "empty endpoint";
}

int sl_parse_bool(const char *s, int *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; s && i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -EINVAL;
}
