/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The webhdfs dataset keys: `uri = webhdfs://NAMENODE:PORT/PATH` (or
 * swebhdfs:// for HTTPS), namenodes (an HA set), one way to authenticate
 * (user, delegation_token_file or kerberos), ca_file, verify_reads,
 * timeout, connect_timeout, retries and retry_base, each validated with a
 * message that names the file and line.  The delegation token is read
 * here, once, when the dataset is opened; no message ever quotes it or
 * any line of its file.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cachenode/backends/webhdfs/webhdfs_i.h"
#include "common/confval.h"
#include "common/modconf.h"
#include "common/path.h"
#include "common/util.h"

#define KNOWN_KEYS                                                             \
	"namenodes, user, delegation_token_file, kerberos, ca_file, "          \
	"verify_reads, " SL_MODCONF_HTTP_KEYS

#define HTTP_PORT  9870 /* Hadoop 3's dfs.namenode.http-address */
#define HTTPS_PORT 9871 /* and dfs.namenode.https-address */

#define HOST_CHARS                                                             \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-"
#define USER_CHARS                                                             \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@$+-"
#define TOKEN_CHARS                                                            \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"

/*
 * "HOST[:PORT]" (n bytes at s) into "scheme://HOST:PORT", the port
 * defaulting by scheme; HOST a DNS name, an IPv4 address or "[IPv6]".
 * Returns the URL (caller frees) or NULL when it is not one.
 */
static char *namenode_base(const char *s, size_t n, int https)
{
	size_t hn;
	unsigned long port = https ? HTTPS_PORT : HTTP_PORT;
	char *url;

	if (n && s[0] == '[') {
		const char *close = memchr(s, ']', n);

		if (!close || close == s + 1)
			return NULL;
		hn = (size_t)(close - s) + 1;
		if (strspn(s + 1, "0123456789abcdefABCDEF:.") != hn - 2)
			return NULL;
	} else {
		hn = strcspn(s, ":");
		hn = SL_MIN(hn, n);
		if (hn < 1 || hn > 253 || strspn(s, HOST_CHARS) < hn ||
		    s[0] == '-' || s[0] == '.')
			return NULL;
	}
	if (hn < n) {
		char digits[8];
		size_t dn = n - hn - 1;
		char *end;

		if (s[hn] != ':' || dn < 1 || dn > 5 ||
		    strspn(s + hn + 1, "0123456789") < dn)
			return NULL;
		memcpy(digits, s + hn + 1, dn);
		digits[dn] = '\0';
		port = strtoul(digits, &end, 10);
		if (port < 1 || port > 65535)
			return NULL;
	}
	if (asprintf(&url, "%s://%.*s:%lu", https ? "https" : "http", (int)hn,
		     s, port) < 0)
		abort();
	return url;
}

static int parse_uri(const sl_modconf_t *l, wh_conf_t *c,
		     const char **authority, size_t *alen)
{
	const char *uri = l->ds->uri ? l->ds->uri : "", *a, *path;
	size_t pn;

	if (strncmp(uri, "webhdfs://", 10) == 0) {
		a = uri + 10;
	} else if (strncmp(uri, "swebhdfs://", 11) == 0) {
		a = uri + 11;
		c->https = 1;
	} else {
		return sl_modconf_bad(
			l, NULL,
			"uri '%.200s': expected webhdfs://NAMENODE:PORT/PATH "
			"or swebhdfs://...",
			uri);
	}
	path = a + strcspn(a, "/");
	*authority = a;
	*alen = (size_t)(path - a);
	for (const char *p = uri; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '?' ||
		    *p == '#')
			return sl_modconf_bad(
				l, NULL,
				"uri: a control byte, '?' or '#' has no "
				"place in a dataset uri");
	if (*alen == 0)
		return sl_modconf_bad(l, NULL, "uri '%.200s': no namenode",
				      uri);
	/* The path is HDFS's, taken literally: "/data/x y" is that name. */
	pn = strlen(path);
	while (pn > 1 && path[pn - 1] == '/')
		pn--;
	if (pn > 1 && sl_path_check(path + 1, pn - 1) < 0)
		return sl_modconf_bad(
			l, NULL,
			"uri '%.200s': the path has an empty, '.' or '..' "
			"component, or one over 255 bytes",
			uri);
	if (pn > WH_PATH_MAX / 2)
		return sl_modconf_bad(l, NULL, "uri: the path is too long");
	c->root = pn ? sl_xstrndup(path, pn) : sl_xstrdup("/");
	return 0;
}

static int parse_namenodes(const sl_modconf_t *l, const sb_param_t *p,
			   wh_conf_t *c)
{
	const char *s = p->value;

	while (*s) {
		size_t n = strcspn(s, ",");
		char *base;

		while (n && isspace((unsigned char)*s)) {
			s++;
			n--;
		}
		while (n && isspace((unsigned char)s[n - 1]))
			n--;
		if (c->n_nn == WH_NAMENODES_MAX)
			return sl_modconf_bad(l, p, "more than %d namenodes",
					      WH_NAMENODES_MAX);
		base = n ? namenode_base(s, n, c->https) : NULL;
		if (!base)
			return sl_modconf_bad(l, p, "'%.*s' is not HOST:PORT",
					      (int)n, s);
		c->nn[c->n_nn++] = base;
		s += strcspn(s, ",");
		if (*s != ',')
			break;
		s++;
		if (!*s)
			return sl_modconf_bad(l, p, "a trailing ','");
	}
	if (c->n_nn == 0)
		return sl_modconf_bad(l, p, "empty: list HOST:PORT,HOST:PORT");
	return 0;
}

/* The token: the one line of the file, trimmed.  Never quoted. */
static int read_token(const sl_modconf_t *l, const sb_param_t *p, wh_conf_t *c)
{
	char buf[WH_TOKEN_MAX + 2];
	size_t n, start = 0;
	FILE *f = fopen(p->value, "re");
	int rc = 0;

	if (!f) {
		rc = -errno;
		snprintf(l->err, l->errlen, "%s:%d: [dataset %s] %s: %s: %s",
			 l->file, p->line, l->ds->name, p->key, p->value,
			 strerror(errno));
		return rc;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	if (ferror(f)) {
		rc = sl_modconf_bad(l, p, "%s: read error", p->value);
		goto out;
	}
	if (n > WH_TOKEN_MAX) {
		rc = sl_modconf_bad(l, p, "%s: longer than %d bytes", p->value,
				    WH_TOKEN_MAX);
		goto out;
	}
	while (start < n && isspace((unsigned char)buf[start]))
		start++;
	while (n > start && isspace((unsigned char)buf[n - 1]))
		n--;
	if (n == start || strspn(buf + start, TOKEN_CHARS) < n - start) {
		rc = sl_modconf_bad(
			l, p,
			"%s: not a delegation token (one URL-safe string, "
			"as Token.encodeToUrlString writes it)",
			p->value);
		goto out;
	}
	c->token = sl_xstrndup(buf + start, n - start);
out:
	explicit_bzero(buf, sizeof(buf));
	fclose(f);
	return rc;
}

/* A second way to authenticate is an error: which one applies would be a
 * guess. */
static int set_auth(const sl_modconf_t *l, const sb_param_t *p, wh_conf_t *c,
		    wh_auth_t a, const sb_param_t **first)
{
	if (*first)
		return sl_modconf_bad(l, p,
				      "not with %s: choose one of user, "
				      "delegation_token_file and kerberos",
				      (*first)->key);
	*first = p;
	c->auth = a;
	return 0;
}

static int one_key(const sl_modconf_t *l, const sb_param_t *p, wh_conf_t *c,
		   const sb_param_t **auth_p, const sb_param_t **nn_p,
		   const sb_param_t **ca_p)
{
	const char *k = p->key, *v = p->value;
	int yes, rc;

	if (strcmp(k, "namenodes") == 0) {
		*nn_p = p;
		return 0; /* parsed once the scheme is known */
	}
	if (strcmp(k, "user") == 0) {
		size_t n = strlen(v);

		if (n < 1 || n > 256 || strspn(v, USER_CHARS) != n)
			return sl_modconf_bad(
				l, p,
				"'%.64s' is not a user name (1-256 of "
				"[A-Za-z0-9._@$+-])",
				v);
		rc = set_auth(l, p, c, WH_AUTH_USER, auth_p);
		if (rc == 0)
			c->user = sl_xstrdup(v);
		return rc;
	}
	if (strcmp(k, "delegation_token_file") == 0) {
		if (!*v)
			return sl_modconf_bad(l, p, "empty path");
		rc = set_auth(l, p, c, WH_AUTH_TOKEN, auth_p);
		return rc < 0 ? rc : read_token(l, p, c);
	}
	if (strcmp(k, "kerberos") == 0) {
		if (sl_parse_bool(v, &yes) < 0)
			return sl_modconf_bad(l, p, "'%s' is not yes or no", v);
		return yes ? set_auth(l, p, c, WH_AUTH_KERBEROS, auth_p) : 0;
	}
	if (strcmp(k, "ca_file") == 0) {
		if (!*v)
			return sl_modconf_bad(l, p, "empty path");
		if (access(v, R_OK) != 0)
			return sl_modconf_bad(l, p, "%s: %s", v,
					      strerror(errno));
		free(c->ca_file);
		c->ca_file = sl_xstrdup(v);
		*ca_p = p;
		return 0;
	}
	if (strcmp(k, "verify_reads") == 0) {
		if (sl_parse_bool(v, &c->verify_reads) < 0)
			return sl_modconf_bad(l, p, "'%s' is not yes or no", v);
		return 0;
	}
	rc = sl_modconf_http_key(l, p, &c->http);
	if (rc <= 0)
		return rc;
	snprintf(l->err, l->errlen,
		 "%s:%d: key '%s' unknown for backend webhdfs in [dataset %s] "
		 "(known: " KNOWN_KEYS ")",
		 l->file, p->line, k, l->ds->name);
	return -EINVAL;
}

int wh_conf_load(wh_conf_t *c, const sb_dataset_t *ds, char *err, size_t errlen)
{
	sl_modconf_t l;
	const sb_param_t *auth_p = NULL, *nn_p = NULL, *ca_p = NULL;
	const char *authority = NULL;
	size_t alen = 0;
	int rc;

	sl_modconf_init(&l, ds, err, errlen);
	memset(c, 0, sizeof(*c));
	c->name = sl_xstrdup(ds->name ? ds->name : "?");
	c->verify_reads = 1;
	sl_modconf_http_init(&c->http);
	rc = parse_uri(&l, c, &authority, &alen);
	for (size_t i = 0; rc == 0 && i < ds->n_params; i++) {
		rc = one_key(&l, &ds->params[i], c, &auth_p, &nn_p, &ca_p);
	}
	if (rc < 0)
		goto fail;
	if (nn_p) {
		/* An HA pair: the uri names the nameservice, which is
		 * never contacted; only its form is checked. */
		char *ns = namenode_base(authority, alen, c->https);

		free(ns);
		rc = ns ? parse_namenodes(&l, nn_p, c)
			: sl_modconf_bad(
				  &l, NULL,
				  "uri: '%.*s' is not a nameservice name",
				  (int)alen, authority);
	} else {
		c->nn[0] = namenode_base(authority, alen, c->https);
		c->n_nn = c->nn[0] != NULL;
		if (!c->nn[0])
			rc = sl_modconf_bad(&l, NULL,
					    "uri: '%.*s' is not NAMENODE:PORT",
					    (int)alen, authority);
	}
	if (rc == 0 && ca_p && !c->https)
		rc = sl_modconf_bad(&l, ca_p, "only with swebhdfs:// (HTTPS)");
	if (rc == 0)
		rc = sl_modconf_http_finish(&l, &c->http);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	wh_conf_fini(c);
	return rc;
}

void wh_conf_fini(wh_conf_t *c)
{
	free(c->name);
	free(c->root);
	for (size_t i = 0; i < c->n_nn; i++)
		free(c->nn[i]);
	free(c->user);
	wh_free_secret(c->token);
	free(c->ca_file);
	memset(c, 0, sizeof(*c));
}
