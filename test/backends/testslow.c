/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A backend module for tests: a local directory (uri file:///DIR) whose
 * reads each take delay_ms (a dataset key, default 50) before they
 * return, like a distant store, so that a test can act while a load is
 * under way (cancel it, start a second one, kill a node).  Listing pages
 * are cut at 64 entries with the index as the cursor.  Built into the
 * build directory as sluice_backend_testslow.so for the integration
 * tests; never installed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sluice/backend.h"

typedef struct slow {
	char root[4096];
	long delay_ms;
} slow_t;

static int s_open(const sb_dataset_t *ds, void **state, char *err,
		  size_t errlen)
{
	slow_t *s;

	if (strncmp(ds->uri, "file://", 7) != 0) {
		snprintf(err, errlen, "uri must be file:///DIR");
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	snprintf(s->root, sizeof(s->root), "%s", ds->uri + 7);
	s->delay_ms = 50;
	for (size_t i = 0; i < ds->n_params; i++) {
		if (strcmp(ds->params[i].key, "delay_ms") == 0) {
			s->delay_ms = atol(ds->params[i].value);
		} else {
			snprintf(err, errlen, "%s:%d: unknown key '%s'",
				 ds->config_path, ds->params[i].line,
				 ds->params[i].key);
			free(s);
			return -EINVAL;
		}
	}
	*state = s;
	return 0;
}

static void s_close(void *state)
{
	free(state);
}

static void full(const slow_t *s, const char *path, char *out, size_t cap)
{
	snprintf(out, cap, "%s%s%s", s->root, *path ? "/" : "", path);
}

static void to_stat(const struct stat *st, sb_stat_t *out)
{
	memset(out, 0, sizeof(*out));
	out->type = S_ISDIR(st->st_mode) ? SB_TYPE_DIR : SB_TYPE_FILE;
	out->mode = st->st_mode & 07777;
	out->size = S_ISDIR(st->st_mode) ? 0 : (uint64_t)st->st_size;
	out->mtime_ns =
		(int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	if (!S_ISDIR(st->st_mode))
		snprintf(out->version, sizeof(out->version), "%llx-%llx",
			 (unsigned long long)st->st_size,
			 (unsigned long long)out->mtime_ns);
}

static int s_stat(void *state, const char *path, sb_stat_t *out, char *err,
		  size_t errlen)
{
	char p[8192];
	struct stat st;

	(void)err;
	(void)errlen;
	full(state, path, p, sizeof(p));
	if (stat(p, &st) < 0)
		return -errno;
	to_stat(&st, out);
	return 0;
}

static ssize_t s_read(void *state, const char *path, const char *version,
		      uint64_t offset, void *buf, size_t len, char *err,
		      size_t errlen)
{
	const slow_t *s = state;
	struct timespec ts = {s->delay_ms / 1000,
			      (s->delay_ms % 1000) * 1000000L};
	char p[8192];
	ssize_t n;
	int fd;

	(void)version;
	(void)err;
	(void)errlen;
	nanosleep(&ts, NULL);
	full(s, path, p, sizeof(p));
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, buf, len, (off_t)offset);
	if (n < 0)
		n = -errno;
	close(fd);
	return n;
}

static int s_list(void *state, const char *dir, const char *cursor,
		  sb_dirent_t *ents, size_t max, size_t *n, char *next,
		  char *err, size_t errlen)
{
	char p[8192], c[8192 + 512];
	long skip = atol(cursor), at = 0;
	struct dirent *d;
	struct stat st;
	DIR *dp;

	(void)err;
	(void)errlen;
	full(state, dir, p, sizeof(p));
	dp = opendir(p);
	if (!dp)
		return -errno;
	*n = 0;
	next[0] = 0;
	if (max > 64)
		max = 64;
	while ((d = readdir(dp))) {
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		if (at++ < skip)
			continue;
		if (*n == max) {
			snprintf(next, SB_CURSOR_MAX + 1, "%ld", at - 1);
			break;
		}
		snprintf(c, sizeof(c), "%s/%s", p, d->d_name);
		if (stat(c, &st) < 0)
			continue;
		snprintf(ents[*n].name, sizeof(ents[*n].name), "%s", d->d_name);
		to_stat(&st, &ents[*n].st);
		(*n)++;
	}
	closedir(dp);
	return 0;
}

const sb_ops_t sluice_backend_ops = {
	.abi_version = SB_ABI_VERSION,
	.ops_size = sizeof(sb_ops_t),
	.name = "testslow",
	.open = s_open,
	.close = s_close,
	.stat = s_stat,
	.read = s_read,
	.list = s_list,
};
