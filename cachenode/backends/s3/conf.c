/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The s3 dataset keys and the credentials: `uri = s3://BUCKET/PREFIX/`,
 * endpoint, region, path_style, credentials (an AWS shared-credentials
 * file) with profile, anonymous, ca_bundle, timeout, connect_timeout,
 * retries and retry_base, each validated with a message that names the
 * file and line.  Without a credentials file the standard environment
 * variables AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN
 * are used.  No message ever quotes a line of a credentials file or any
 * value read from one: a secret cannot leak into an error.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachenode/backends/s3/s3_i.h"
#include "common/confval.h"
#include "common/modconf.h"
#include "common/util.h"

#define KNOWN_KEYS                                                             \
	"endpoint, region, credentials, profile, path_style, anonymous, "      \
	"ca_bundle, " SL_MODCONF_HTTP_KEYS

#define CRED_LINE_MAX 4096

/* Free and wipe a string that may hold a secret. */
static void free_secret(char **sp)
{
	if (*sp) {
		explicit_bzero(*sp, strlen(*sp));
		free(*sp);
		*sp = NULL;
	}
}

void s3_cred_fini(s3_cred_t *c)
{
	free(c->key_id);
	c->key_id = NULL;
	free_secret(&c->secret);
	free_secret(&c->token);
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Replace *dst with a copy of src (a secret-safe free of the old one). */
static void set_secret(char **dst, const char *src)
{
	free_secret(dst);
	*dst = sl_xstrdup(src);
}

int s3_cred_load_file(s3_cred_t *c, const char *path, const char *profile,
		      char *err, size_t errlen)
{
	char line[CRED_LINE_MAX];
	int lineno = 0, in_profile = 0, found = 0, rc = 0;
	FILE *f = fopen(path, "re");

	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "credentials file %s: %s", path,
			 strerror(errno));
		return rc;
	}
	while (fgets(line, sizeof(line), f)) {
		char *s, *eq, *key, *val;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line too long", path,
				 lineno);
			rc = -EINVAL;
			goto out;
		}
		s = trim(line);
		if (!*s || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']');

			if (!end) {
				snprintf(err, errlen,
					 "%s:%d: section header without ']'",
					 path, lineno);
				rc = -EINVAL;
				goto out;
			}
			*end = '\0';
			s = trim(s + 1);
			/* The config file's "[profile NAME]" form too. */
			if (strncmp(s, "profile ", 8) == 0)
				s = trim(s + 8);
			in_profile = strcmp(s, profile) == 0;
			found |= in_profile;
			continue;
		}
		eq = strchr(s, '=');
		if (!eq) {
			/* Do not quote the line: it may be a secret. */
			snprintf(err, errlen,
				 "%s:%d: expected 'key = value' or '[profile]'",
				 path, lineno);
			rc = -EINVAL;
			goto out;
		}
		*eq = '\0';
		key = trim(s);
		val = trim(eq + 1);
		if (!in_profile)
			continue;
		if (strcmp(key, "aws_access_key_id") == 0) {
			free(c->key_id);
			c->key_id = sl_xstrdup(val);
		} else if (strcmp(key, "aws_secret_access_key") == 0) {
			set_secret(&c->secret, val);
		} else if (strcmp(key, "aws_session_token") == 0 ||
			   strcmp(key, "aws_security_token") == 0) {
			set_secret(&c->token, val);
		}
	}
	if (ferror(f)) {
		rc = -EIO;
		snprintf(err, errlen, "credentials file %s: read error", path);
	} else if (!found) {
		rc = -EINVAL;
		snprintf(err, errlen, "credentials file %s: no profile [%s]",
			 path, profile);
	} else if (!c->key_id || !*c->key_id || !c->secret || !*c->secret) {
		rc = -EINVAL;
		snprintf(err, errlen,
			 "credentials file %s: profile [%s] needs "
			 "aws_access_key_id and aws_secret_access_key",
			 path, profile);
	}
out:
	explicit_bzero(line, sizeof(line));
	fclose(f);
	if (rc < 0)
		s3_cred_fini(c);
	return rc;
}

/* ---- dataset keys ---------------------------------------------------- */

/*
 * "30" (seconds), "500ms", "2s", "5m", "1h", as the cluster config writes
 * durations.  Parsed here rather than with common/config.c, so that the
 * module carries no copy of the node's code and globals.
 */
static int parse_uri(const sl_modconf_t *l, s3_conf_t *c)
{
	const char *uri = l->ds->uri ? l->ds->uri : "";
	const char *b, *slash;
	size_t blen, plen;

	if (strncmp(uri, "s3://", 5) != 0)
		return sl_modconf_bad(
			l, NULL, "uri '%s': expected s3://BUCKET/PREFIX/", uri);
	b = uri + 5;
	slash = strchr(b, '/');
	blen = slash ? (size_t)(slash - b) : strlen(b);
	if (blen < 1 || blen > 255 ||
	    strspn(b, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		      "0123456789._-") < blen)
		return sl_modconf_bad(
			l, NULL,
			"uri '%s': the bucket name must be 1-255 of "
			"[A-Za-z0-9._-]",
			uri);
	c->bucket = sl_xstrndup(b, blen);
	slash = slash ? slash + 1 : b + blen;
	plen = strlen(slash);
	while (plen && slash[plen - 1] == '/')
		plen--;
	if (plen && !s3_components_ok(slash, plen))
		return sl_modconf_bad(
			l, NULL,
			"uri '%s': the prefix has an empty, '.' or '..' "
			"component",
			uri);
	if (plen > S3_KEY_MAX / 2)
		return sl_modconf_bad(l, NULL,
				      "uri '%s': the prefix is too long", uri);
	c->prefix = sl_xmalloc(plen + 2);
	memcpy(c->prefix, slash, plen);
	if (plen)
		c->prefix[plen++] = '/';
	c->prefix[plen] = '\0';
	return 0;
}

/* The host of scheme://HOST[:PORT][/PATH] is an IP literal or localhost:
 * no DNS name to put a bucket in front of. */
static int host_wants_path_style(const char *endpoint)
{
	const char *h = strstr(endpoint, "://") + 3;
	size_t n = strcspn(h, ":/");
	char host[256];
	unsigned char addr[16];

	if (*h == '[')
		return 1; /* IPv6 literal */
	if (n >= sizeof(host))
		return 0;
	memcpy(host, h, n);
	host[n] = '\0';
	return strcasecmp(host, "localhost") == 0 ||
	       inet_pton(AF_INET, host, addr) == 1;
}

static int check_endpoint(const sl_modconf_t *l, const sb_param_t *p, char *v)
{
	const char *h;
	size_t n = strlen(v);

	if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
		return sl_modconf_bad(
			l, p, "'%s' is not http://HOST[:PORT] or https://…", v);
	h = strstr(v, "://") + 3;
	if (!*h || *h == '/' || *h == ':' || strpbrk(v, " \t?#@\\"))
		return sl_modconf_bad(
			l, p, "'%s' is not a plain http(s)://HOST[:PORT] URL",
			v);
	while (n && v[n - 1] == '/')
		v[--n] = '\0';
	return 0;
}

static int find_credentials(const sl_modconf_t *l, s3_conf_t *c,
			    const char *cred_path, const char *profile,
			    const sb_param_t *cred_p,
			    const sb_param_t *profile_p)
{
	const char *id, *secret, *token;
	char msg[SB_ERR_MAX];
	int rc;

	if (c->anonymous) {
		if (cred_p || profile_p)
			return sl_modconf_bad(l, cred_p ? cred_p : profile_p,
					      "not with anonymous = true");
		return 0;
	}
	if (cred_p) {
		rc = s3_cred_load_file(&c->cred, cred_path,
				       profile ? profile : "default", msg,
				       sizeof(msg));
		if (rc < 0) {
			snprintf(l->err, l->errlen, "%s:%d: [dataset %s] %s",
				 l->file, cred_p->line, l->ds->name, msg);
			return rc == -EIO ? -EIO : -EINVAL;
		}
		return 0;
	}
	if (profile_p)
		return sl_modconf_bad(
			l, profile_p,
			"needs credentials = FILE (the environment "
			"variables have no profiles)");
	id = getenv("AWS_ACCESS_KEY_ID");
	secret = getenv("AWS_SECRET_ACCESS_KEY");
	token = getenv("AWS_SESSION_TOKEN");
	if (!token || !*token)
		token = getenv("AWS_SECURITY_TOKEN");
	if (!id || !*id || !secret || !*secret)
		return sl_modconf_bad(
			l, NULL,
			"no credentials: set credentials = FILE, or "
			"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the "
			"cache node's environment, or anonymous = true");
	c->cred.key_id = sl_xstrdup(id);
	c->cred.secret = sl_xstrdup(secret);
	if (token && *token)
		c->cred.token = sl_xstrdup(token);
	return 0;
}

int s3_conf_load(s3_conf_t *c, const sb_dataset_t *ds, char *err, size_t errlen)
{
	sl_modconf_t l;
	const sb_param_t *cred_p = NULL, *profile_p = NULL;
	int path_style = -1, rc;

	sl_modconf_init(&l, ds, err, errlen);
	memset(c, 0, sizeof(*c));
	c->name = sl_xstrdup(ds->name ? ds->name : "?");
	sl_modconf_http_init(&c->http);
	rc = parse_uri(&l, c);
	for (size_t i = 0; rc == 0 && i < ds->n_params; i++) {
		const sb_param_t *p = &ds->params[i];
		const char *k = p->key;

		if (strcmp(k, "endpoint") == 0) {
			c->endpoint = sl_xstrdup(p->value);
			rc = check_endpoint(&l, p, c->endpoint);
		} else if (strcmp(k, "region") == 0) {
			size_t n = strlen(p->value);

			if (n < 1 || n > 31 ||
			    strspn(p->value, "abcdefghijklmnopqrstuvwxyz"
					     "0123456789-") != n)
				rc = sl_modconf_bad(&l, p,
						    "'%s' is not a region name "
						    "(us-east-1)",
						    p->value);
			else
				c->region = sl_xstrdup(p->value);
		} else if (strcmp(k, "credentials") == 0) {
			if (!*p->value)
				rc = sl_modconf_bad(&l, p, "empty path");
			cred_p = p;
		} else if (strcmp(k, "profile") == 0) {
			if (!*p->value || strchr(p->value, ']'))
				rc = sl_modconf_bad(
					&l, p, "'%s' is not a profile name",
					p->value);
			profile_p = p;
		} else if (strcmp(k, "path_style") == 0) {
			if (sl_parse_bool(p->value, &path_style) < 0)
				rc = sl_modconf_bad(&l, p,
						    "'%s' is not true or false",
						    p->value);
		} else if (strcmp(k, "anonymous") == 0) {
			if (sl_parse_bool(p->value, &c->anonymous) < 0)
				rc = sl_modconf_bad(&l, p,
						    "'%s' is not true or false",
						    p->value);
		} else if (strcmp(k, "ca_bundle") == 0) {
			if (!*p->value)
				rc = sl_modconf_bad(&l, p, "empty path");
			else
				c->ca_bundle = sl_xstrdup(p->value);
		} else {
			/* The HTTP limits, or no key of ours. */
			rc = sl_modconf_http_key(&l, p, &c->http);
			if (rc > 0) {
				snprintf(
					err, errlen,
					"%s:%d: key '%s' unknown for backend "
					"s3 in [dataset %s] (known: " KNOWN_KEYS
					")",
					l.file, p->line, k, c->name);
				rc = -EINVAL;
			}
		}
	}
	if (rc == 0)
		rc = sl_modconf_http_finish(&l, &c->http);
	if (rc < 0)
		goto fail;
	if (!c->region)
		c->region = sl_xstrdup("us-east-1");
	if (!c->endpoint) {
		size_t n = strlen(c->region) + 32;

		c->endpoint = sl_xmalloc(n);
		snprintf(c->endpoint, n, "https://s3.%s.amazonaws.com",
			 c->region);
	}
	c->path_style = path_style >= 0 ? path_style
					: host_wants_path_style(c->endpoint);
	rc = find_credentials(&l, c, cred_p ? cred_p->value : NULL,
			      profile_p ? profile_p->value : NULL, cred_p,
			      profile_p);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	s3_conf_fini(c);
	return rc;
}

void s3_conf_fini(s3_conf_t *c)
{
	free(c->name);
	free(c->endpoint);
	free(c->region);
	free(c->bucket);
	free(c->prefix);
	free(c->ca_bundle);
	s3_cred_fini(&c->cred);
	memset(c, 0, sizeof(*c));
}
