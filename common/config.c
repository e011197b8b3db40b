/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cluster configuration (see config.h): a small INI reader of our own
 * (this file) and the strict validation of every section and key
 * (configkeys.c, behind config_i.h).
 *
 * Why not libinih.  Debian's libinih is built without INI_HANDLER_LINENO
 * (defining it on our side would change the handler's ABI, not the
 * library's), never reports a section header or an empty section, truncates
 * lines over 199 bytes and then miscounts every line after, and reads an
 * indented line as the continuation of the previous value.  Every error here
 * must name its line, so we read the file ourselves; the dialect is inih's:
 *
 *   - one "key = value" or "[section]" per line, blank lines allowed;
 *   - a line starting with ';' or '#' is a comment, and so is the rest of a
 *     line from a ';' or '#' that follows a blank;
 *   - leading and trailing blanks are dropped, lines may end in CRLF and the
 *     file may start with a UTF-8 byte order mark.
 *
 * The first problem ends the load: one message, "FILE:LINE: [section] key:
 * what is wrong", names the line of the key (for a missing key, the line of
 * the section header).
 */
#include "common/config.h"
#include "common/config_i.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/confval.h"
#include "common/util.h"

#define CONFIG_FILE_MAX (1u << 20) /* bytes; a cluster file is far smaller */

/*
 * Report the load's one error, "FILE:LINE: [section] key: message", and
 * return -EINVAL.  key may be NULL; outside a section the label is left out.
 */
int sl_cfg_fail(parser_t *p, int line, const char *key, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (p->label[0] && key)
		sl_errf(p->err, p->errlen, "%s:%d: %s %s: %s", p->file, line,
			p->label, key, msg);
	else if (p->label[0] || key)
		sl_errf(p->err, p->errlen, "%s:%d: %s: %s", p->file, line,
			p->label[0] ? p->label : key, msg);
	else
		sl_errf(p->err, p->errlen, "%s:%d: %s", p->file, line, msg);
	return -EINVAL;
}

char *sl_cfg_trim(char *s)
{
	size_t len;

	while (sl_conf_blank(*s))
		s++;
	len = strlen(s);
	while (len > 0 && sl_conf_blank(s[len - 1]))
		s[--len] = '\0';
	return s;
}

/* s is a trimmed line starting with '['. */
static int parse_header(parser_t *p, char *s)
{
	size_t len = strlen(s);
	char *inner, *name;
	int ret;

	ret = sl_cfg_finish_section(p);
	if (ret < 0)
		return ret;
	if (s[len - 1] != ']')
		return sl_cfg_fail(p, p->line, NULL,
				   "section header without closing ']'");
	s[len - 1] = '\0';
	inner = sl_cfg_trim(s + 1);
	snprintf(p->label, sizeof(p->label), "[%.*s]", LABEL_MAX - 3, inner);
	name = inner;
	while (*name && !sl_conf_blank(*name))
		name++;
	if (*name)
		*name++ = '\0';
	name = sl_cfg_trim(name);

	return sl_cfg_section(p, inner, name);
}

static int parse_keyval(parser_t *p, char *s)
{
	char *eq = strchr(s, '=');
	char *key, *val;

	if (!eq)
		return sl_cfg_fail(p, p->line, NULL,
				   "expected 'key = value' or '[section]'");
	*eq = '\0';
	key = sl_cfg_trim(s);
	val = sl_cfg_trim(eq + 1);
	if (!sl_key_valid(key))
		return sl_cfg_fail(p, p->line, NULL,
				   "invalid key '%.*s' (use 1 to %d of "
				   "A-Z a-z 0-9 . _ -)",
				   SL_CONF_KEY_MAX, key, SL_CONF_KEY_MAX);
	if (p->sect == SECT_NONE)
		return sl_cfg_fail(
			p, p->line, key,
			"key outside any section (put it under [cluster], "
			"[node NAME], [dataset NAME] or [client])");

	return sl_cfg_key(p, key, val);
}

/* Cut a ';' or '#' comment that starts the line or follows a blank. */
static void cut_comment(char *s)
{
	for (char *q = s; *q; q++) {
		if ((*q == ';' || *q == '#') &&
		    (q == s || sl_conf_blank(q[-1]))) {
			*q = '\0';
			return;
		}
	}
}

static int parse_line(parser_t *p, char *s)
{
	cut_comment(s);
	s = sl_cfg_trim(s);
	if (!*s)
		return 0;
	if (*s == '[')
		return parse_header(p, s);
	return parse_keyval(p, s);
}

/* Parse text (modified in place) into p->c. */
static int parse_text(parser_t *p, char *text)
{
	char *s = text;
	int ret = 0;

	if (strncmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	while (*s) {
		char *nl = strchr(s, '\n');

		if (nl)
			*nl = '\0';
		p->line++;
		ret = parse_line(p, s);
		if (ret < 0)
			return ret;
		s = nl ? nl + 1 : s + strlen(s);
	}
	ret = sl_cfg_finish_section(p);
	if (ret < 0)
		return ret;
	return sl_cfg_finish(p);
}

sl_config_t *sl_config_parse(const char *text, const char *name, char *err,
			     size_t errlen)
{
	sl_config_t *c = sl_xcalloc(1, sizeof(*c));
	parser_t p = {
		.file = name ? name : "(config)",
		.err = err,
		.errlen = errlen,
		.c = c,
	};
	char *buf = sl_xstrdup(text);
	int ret;

	c->path = sl_xstrdup(p.file);
	sl_cfg_init(c);

	ret = parse_text(&p, buf);
	if (ret < 0)
		sl_config_destroy(&c);
	free(buf);
	return c;
}

sl_config_t *sl_config_load(const char *path, char *err, size_t errlen)
{
	sl_config_t *c = NULL;
	char ebuf[128];
	char *buf = sl_xmalloc(CONFIG_FILE_MAX + 1);
	size_t len;
	const char *nul;
	FILE *f;

	f = fopen(path, "re");
	if (!f) {
		int e = errno;

		sl_errf(err, errlen, "%s: cannot open: %s", path,
			strerror_r(e, ebuf, sizeof(ebuf)));
		goto out;
	}
	len = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	if (ferror(f)) {
		int e = errno;

		sl_errf(err, errlen, "%s: cannot read: %s", path,
			strerror_r(e, ebuf, sizeof(ebuf)));
		goto out;
	}
	if (len > CONFIG_FILE_MAX) {
		sl_errf(err, errlen,
			"%s: larger than %u bytes: not a cluster configuration",
			path, CONFIG_FILE_MAX);
		goto out;
	}
	buf[len] = '\0';
	nul = memchr(buf, '\0', len);
	if (nul) {
		int line = 1;

		for (const char *q = buf; q < nul; q++)
			line += *q == '\n';
		sl_errf(err, errlen, "%s:%d: NUL byte in the file", path, line);
		goto out;
	}
	c = sl_config_parse(buf, path, err, errlen);
out:
	if (f)
		fclose(f);
	free(buf);
	return c;
}

void sl_config_destroy(sl_config_t **cp)
{
	sl_config_t *c = cp ? *cp : NULL;

	if (!c)
		return;
	for (size_t i = 0; i < c->n_nodes; i++) {
		free(c->nodes[i].disk_path);
		free(c->nodes[i].secret_key);
		free(c->nodes[i].public_key);
	}
	free(c->node_defaults.disk_path);
	free(c->node_defaults.secret_key);
	free(c->node_defaults.public_key);
	free(c->allowed_clients);
	free(c->client.secret_key);
	free(c->etcd);
	free(c->etcd_prefix);
	for (size_t i = 0; i < c->n_datasets; i++) {
		sl_dataset_conf_t *d = &c->datasets[i];

		free(d->uri);
		for (size_t j = 0; j < d->n_allow; j++)
			free(d->allow[j]);
		free(d->allow);
		for (size_t j = 0; j < d->n_params; j++) {
			free(d->params[j].key);
			free(d->params[j].value);
		}
		free(d->params);
	}
	free(c->nodes);
	free(c->datasets);
	free(c->path);
	free(c->cluster_name);
	free(c->module_dir);
	free(c);
	*cp = NULL;
}

const sl_node_conf_t *sl_config_node(const sl_config_t *c, const char *name)
{
	for (size_t i = 0; i < c->n_nodes; i++)
		if (strcmp(c->nodes[i].name, name) == 0)
			return &c->nodes[i];
	return NULL;
}

const sl_dataset_conf_t *sl_config_dataset(const sl_config_t *c,
					   const char *name)
{
	for (size_t i = 0; i < c->n_datasets; i++)
		if (strcmp(c->datasets[i].name, name) == 0)
			return &c->datasets[i];
	return NULL;
}

const char *sl_dataset_param(const sl_dataset_conf_t *d, const char *key)
{
	for (size_t i = 0; i < d->n_params; i++)
		if (strcmp(d->params[i].key, key) == 0)
			return d->params[i].value;
	return NULL;
}
