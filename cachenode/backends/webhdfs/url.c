/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Everything of the webhdfs module that turns bytes into URLs, or server
 * bytes into text: name and path checks, percent-encoding, the request
 * URLs, the check of a redirect's Location, and the scrubbing of messages.
 *
 * Why it is strict.  Names come from two untrusted sides: a path in a
 * client's request, and a pathSuffix in a server's listing that later
 * comes back as a path.  Either ends up in a URL, and a server's text
 * ends up in a message that is logged and sent to clients.  So a path
 * with a control byte is refused before any request (a CR or LF in a URL
 * would split a request line; in a log line it forges one), every byte of
 * a path or a value that is not unreserved is percent-encoded (so '?',
 * '#', '%', '+' and UTF-8 travel as data, never as syntax), and server
 * text is cut and has its control bytes replaced before it is quoted.
 * WebHDFS decodes the path once: "a b/c%d" is sent as "a%20b/c%25d".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cachenode/backends/webhdfs/webhdfs_i.h"
#include "common/path.h"
#include "common/util.h"

FILE *wh_memstream(char **buf, size_t *len)
{
	FILE *f = open_memstream(buf, len);

	SL_ASSERT(f != NULL); /* only ENOMEM: control memory, as sl_xmalloc */
	return f;
}

static int is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

int wh_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > SB_NAME_MAX || memchr(s, '/', n))
		return 0;
	if (s[0] == '.' && (n == 1 || (n == 2 && s[1] == '.')))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (is_control((unsigned char)s[i]))
			return 0;
	return 1;
}

int wh_name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	size_t n = SL_MIN(an, bn);

	for (size_t i = 0; i < n; i++) {
		signed char x = (signed char)a[i], y = (signed char)b[i];

		if (x != y)
			return x < y ? -1 : 1;
	}
	return an < bn ? -1 : an > bn;
}

int wh_path_check(const char *path, char *err, size_t errlen)
{
	size_t n = strlen(path);
	int rc = sl_path_check(path, n);

	if (rc == -ENAMETOOLONG) {
		snprintf(err, errlen, "path too long");
		return rc;
	}
	if (rc < 0) {
		snprintf(err, errlen,
			 "path has an empty, '.' or '..' component");
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		if (is_control((unsigned char)path[i])) {
			snprintf(err, errlen,
				 "path has a control byte (0x%02x at %zu)",
				 (unsigned char)path[i], i);
			return -EINVAL;
		}
	}
	return 0;
}

static int unreserved(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || strchr("-._~", c) != NULL;
}

void wh_encode(FILE *f, const char *s, size_t n, int keep_slash)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		/* strchr finds the terminator too: NUL is never bare. */
		if (c && (unreserved(c) || (keep_slash && c == '/')))
			fputc(c, f);
		else
			fprintf(f, "%%%02X", c);
	}
}

char *wh_hdfs_path(const wh_conf_t *c, const char *path)
{
	size_t rl = strlen(c->root), pl = strlen(path);
	char *s = sl_xmalloc(rl + pl + 2);

	memcpy(s, c->root, rl);
	if (pl) {
		if (rl > 1)
			s[rl++] = '/';
		memcpy(s + rl, path, pl);
	}
	s[rl + pl] = '\0';
	return s;
}

static void add_param(FILE *f, const char *name, const char *value)
{
	fprintf(f, "&%s=", name);
	wh_encode(f, value, strlen(value), 0);
}

char *wh_url_build(const wh_conf_t *c, size_t nn, const char *path,
		   const char *op, const wh_qparam_t *qp, size_t nqp)
{
	char *full = wh_hdfs_path(c, path), *url;
	size_t len;
	FILE *f = wh_memstream(&url, &len);

	fputs(c->nn[nn], f);
	fputs("/webhdfs/v1", f);
	wh_encode(f, full, strlen(full), 1);
	fprintf(f, "?op=%s", op);
	for (size_t i = 0; i < nqp; i++)
		add_param(f, qp[i].name, qp[i].value);
	/* Only the namenode gets credentials from us; a datanode gets what
	 * the namenode wrote into its redirect. */
	if (c->auth == WH_AUTH_USER)
		add_param(f, "user.name", c->user);
	else if (c->auth == WH_AUTH_TOKEN)
		add_param(f, "delegation", c->token);
	fclose(f);
	free(full);
	return url;
}

int wh_location_check(const char *loc, size_t n, int secure, char *err,
		      size_t errlen)
{
	const char *host;
	size_t hn;

	if (n == 0) {
		snprintf(err, errlen, "a redirect without a Location");
		return -EIO;
	}
	if (n > WH_URL_MAX) {
		snprintf(err, errlen, "a redirect to a URL of %zu bytes", n);
		return -EIO;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)loc[i];

		if (ch <= 0x20 || ch >= 0x7f || ch == '\\') {
			snprintf(err, errlen,
				 "a redirect to a URL with byte 0x%02x at %zu",
				 ch, i);
			return -EIO;
		}
	}
	if (n > 8 && strncasecmp(loc, "https://", 8) == 0) {
		host = loc + 8;
	} else if (n > 7 && strncasecmp(loc, "http://", 7) == 0 && !secure) {
		host = loc + 7;
	} else {
		char shown[64];

		wh_text_copy(shown, sizeof(shown), loc, SL_MIN(n, 40));
		snprintf(err, errlen, "a redirect to '%s%s', not %s", shown,
			 n > 40 ? "..." : "",
			 secure ? "https:// (no downgrade from https)"
				: "an http(s):// URL");
		return -EIO;
	}
	hn = strcspn(host, "/?#");
	if (hn == 0 || memchr(host, '@', hn) || host[0] == ':') {
		snprintf(err, errlen,
			 "a redirect to a URL without a plain host");
		return -EIO;
	}
	return 0;
}

void wh_url_host(const char *url, char *out, size_t cap)
{
	const char *h = strstr(url, "://");
	size_t n;

	h = h ? h + 3 : url;
	n = strcspn(h, "/?#");
	wh_text_copy(out, cap, h, n);
}

void wh_text_copy(char *out, size_t cap, const char *s, size_t n)
{
	size_t k = 0;

	if (cap == 0)
		return;
	for (size_t i = 0; i < n && k + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];

		out[k++] = (char)(c < 0x20 || c >= 0x7f ? '?' : c);
	}
	out[k] = '\0';
}

void wh_blot(char *s, const char *secret)
{
	size_t n = secret ? strlen(secret) : 0;
	char *p;

	if (!n || !s)
		return;
	while ((p = strstr(s, secret)) != NULL)
		memset(p, '*', n);
}

void wh_scrub(const wh_conf_t *c, char *s)
{
	wh_blot(s, c->token);
}

void wh_fmt(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, cap, fmt, ap);
	va_end(ap);
}

void wh_free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}
