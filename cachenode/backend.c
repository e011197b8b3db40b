/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backend module loading and dataset opening (see backend.h).  A module is
 * judged before anything of it runs beyond its constructors: the ABI
 * version and the table's size are its first two fields precisely so that
 * they can be read whatever the rest of a foreign table looks like.  The
 * node then works on a copy of the table in its own layout: the module's
 * ops_size bytes, and NULL for the ops appended to sb_ops_t after the
 * module was built (sluice/backend.h, "How the table grows").
 */
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include "cachenode/backend.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/log.h"
#include "common/path.h"
#include "common/util.h"
#include "proto/proto.h"

#ifndef SL_MODULE_DIR
#define SL_MODULE_DIR "/usr/local/lib/sluice"
#endif

#define MODULE_PREFIX "sluice_backend_"
#define MODULE_SUFFIX ".so"

/* The bytes of sb_ops_t every module has: the head and the required ops. */
#define OPS_REQUIRED (offsetof(sb_ops_t, read) + sizeof(void *))

/* A loaded module: its table copied into this node's layout.  Allocated
 * one by one, so that the ops handed out stay where they are. */
typedef struct module {
	char name[SL_BACKEND_MAX + 1];
	sb_ops_t ops;
	void *handle; /* NULL for a built-in */
} module_t;

struct cn_backends {
	char *dir;
	module_t **mods;
	size_t n_mods;
};

cn_backends_t *cn_backends_new(const char *dir)
{
	cn_backends_t *r = sl_xcalloc(1, sizeof(*r));

	r->dir = sl_xstrdup(dir ? dir : SL_MODULE_DIR);
	return r;
}

void cn_backends_destroy(cn_backends_t **rp)
{
	cn_backends_t *r = rp ? *rp : NULL;

	if (!r)
		return;
	for (size_t i = 0; i < r->n_mods; i++) {
		if (r->mods[i]->handle)
			dlclose(r->mods[i]->handle);
		free(r->mods[i]);
	}
	free(r->mods);
	free(r->dir);
	free(r);
	*rp = NULL;
}

const char *cn_backends_dir(const cn_backends_t *r)
{
	return r->dir;
}

static int name_ok(const char *name)
{
	size_t n = strlen(name);

	return n >= 1 && n <= SL_BACKEND_MAX &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/*
 * Copy the table at raw (a module's, of its own ops_size) into out, this
 * node's layout.  0, or -EINVAL with why filled: another ABI version, a
 * table too short to hold the required ops, a required op or the name
 * missing.
 */
static int adopt(const void *raw, sb_ops_t *out, char *why, size_t whylen)
{
	uint32_t head[2]; /* abi_version, ops_size: in every version */

	memcpy(head, raw, sizeof(head));
	if (head[0] != SB_ABI_VERSION) {
		snprintf(why, whylen,
			 "has module ABI version %" PRIu32 ", this cache node "
			 "needs %d: rebuild it against sluice/backend.h",
			 head[0], SB_ABI_VERSION);
		return -EINVAL;
	}
	if (head[1] < OPS_REQUIRED) {
		snprintf(why, whylen,
			 "exports an ops table of %" PRIu32 " bytes, shorter "
			 "than the %zu every module has",
			 head[1], OPS_REQUIRED);
		return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	memcpy(out, raw, SL_MIN((size_t)head[1], sizeof(*out)));
	if (!out->name || !out->open || !out->close || !out->stat ||
	    !out->read) {
		snprintf(why, whylen, "exports an incomplete ops table");
		return -EINVAL;
	}
	return 0;
}

static const sb_ops_t *add(cn_backends_t *r, const char *name,
			   const sb_ops_t *ops, void *handle)
{
	module_t *m = sl_xcalloc(1, sizeof(*m));

	r->mods = sl_xrealloc(r->mods, (r->n_mods + 1) * sizeof(*r->mods));
	r->mods[r->n_mods++] = m;
	sl_strlcpy(m->name, name, sizeof(m->name));
	m->ops = *ops;
	m->handle = handle;
	return &m->ops;
}

int cn_backends_add_builtin(cn_backends_t *r, const sb_ops_t *ops)
{
	char why[SB_ERR_MAX];
	sb_ops_t t;

	if (adopt(ops, &t, why, sizeof(why)) < 0 || !name_ok(t.name))
		return -EINVAL;
	add(r, t.name, &t, NULL);
	return 0;
}

static const sb_ops_t *load(cn_backends_t *r, const char *name, char *err,
			    size_t errlen)
{
	char path[PATH_MAX], why[SB_ERR_MAX];
	const void *raw;
	const char *dlerr;
	sb_ops_t t;
	void *h;

	if (snprintf(path, sizeof(path), "%s/" MODULE_PREFIX "%s" MODULE_SUFFIX,
		     r->dir, name) >= (int)sizeof(path)) {
		snprintf(err, errlen, "backend '%s': module path too long",
			 name);
		return NULL;
	}
	if (access(path, F_OK) != 0) {
		snprintf(err, errlen,
			 "backend '%s': no module %s (module_dir is %s)", name,
			 path, r->dir);
		return NULL;
	}
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		dlerr = dlerror();
		snprintf(err, errlen, "backend '%s': cannot load %s: %s", name,
			 path, dlerr ? dlerr : "unknown error");
		return NULL;
	}
	raw = dlsym(h, SB_OPS_SYMBOL);
	if (!raw) {
		snprintf(err, errlen,
			 "backend '%s': %s does not export " SB_OPS_SYMBOL,
			 name, path);
		goto out_err;
	}
	if (adopt(raw, &t, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "backend '%s': %s %s", name, path, why);
		goto out_err;
	}
	if (strcmp(t.name, name) != 0) {
		snprintf(err, errlen, "backend '%s': %s calls itself '%.64s'",
			 name, path, t.name);
		goto out_err;
	}
	if (t.ops_size > sizeof(t))
		sl_info("backend module %s knows ops this node does not: "
			"they are ignored",
			path);
	sl_info("loaded backend module %s", path);
	return add(r, name, &t, h);
out_err:
	dlclose(h);
	return NULL;
}

const sb_ops_t *cn_backends_get(cn_backends_t *r, const char *name, char *err,
				size_t errlen)
{
	if (!name_ok(name)) {
		snprintf(err, errlen, "backend name '%.64s' is not [a-z0-9_]+",
			 name);
		return NULL;
	}
	for (size_t i = 0; i < r->n_mods; i++)
		if (strcmp(r->mods[i]->name, name) == 0)
			return &r->mods[i]->ops;
	return load(r, name, err, errlen);
}

static int has_modules(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int found = 0;
	size_t pl = strlen(MODULE_PREFIX), sl = strlen(MODULE_SUFFIX);

	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		size_t n = strlen(de->d_name);

		found = n > pl + sl &&
			strncmp(de->d_name, MODULE_PREFIX, pl) == 0 &&
			strcmp(de->d_name + n - sl, MODULE_SUFFIX) == 0;
	}
	closedir(d);
	return found;
}

char *cn_backends_default_dir(void)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			if (has_modules(exe[0] ? exe : "/"))
				return sl_xstrdup(exe[0] ? exe : "/");
		}
	}
	return sl_xstrdup(SL_MODULE_DIR);
}

static char *params_signature(const sl_dataset_conf_t *dc)
{
	char *sig = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&sig, &len);

	SL_ASSERT(f);
	for (size_t i = 0; i < dc->n_params; i++)
		fprintf(f, "%s=%s\n", dc->params[i].key, dc->params[i].value);
	fclose(f);
	return sig;
}

/* The layout (see cn_dataset_t): never 0, so that 0 can mean "none". */
static uint32_t layout_of(const cn_dataset_t *d)
{
	XXH3_state_t st;
	char bs[16];
	uint32_t h;

	snprintf(bs, sizeof(bs), "%" PRIu32, d->block_size);
	XXH3_64bits_reset(&st);
	XXH3_64bits_update(&st, d->name, strlen(d->name) + 1);
	XXH3_64bits_update(&st, d->backend, strlen(d->backend) + 1);
	XXH3_64bits_update(&st, d->uri, strlen(d->uri) + 1);
	XXH3_64bits_update(&st, bs, strlen(bs) + 1);
	XXH3_64bits_update(&st, d->params_sig, strlen(d->params_sig));
	h = (uint32_t)XXH3_64bits_digest(&st);
	return h ? h : 1;
}

cn_dataset_t *cn_dataset_open(cn_backends_t *r, const sl_dataset_conf_t *dc,
			      const cn_policy_ops_t *policy,
			      const char *config_path, uint32_t id, int *rc,
			      char *err, size_t errlen)
{
	char merr[SB_ERR_MAX];
	cn_dataset_t *d;
	sb_param_t *params;
	sb_dataset_t sd;
	const sb_ops_t *ops;
	int ret;

	ops = cn_backends_get(r, dc->backend, merr, sizeof(merr));
	if (!ops) {
		snprintf(err, errlen, "dataset %s: %s", dc->name, merr);
		*rc = -ENOENT;
		return NULL;
	}
	d = sl_xcalloc(1, sizeof(*d));
	sl_strlcpy(d->name, dc->name, sizeof(d->name));
	sl_strlcpy(d->backend, dc->backend, sizeof(d->backend));
	d->uri = sl_xstrdup(dc->uri ? dc->uri : "");
	d->block_size = dc->block_size;
	d->policy = policy;
	d->auto_policy = strcmp(dc->policy, SL_POLICY_AUTO) == 0;
	d->metadata_ttl_ms = dc->metadata_ttl_ms;
	d->id = id;
	d->ops = ops;
	d->refs = 1;
	d->counts = cn_dsmetrics_new();
	d->params_sig = params_signature(dc);
	d->layout = layout_of(d);
	d->layout_since_ms = (uint64_t)(sl_wall_ns() / 1000000);
	d->replicas = dc->replicas ? dc->replicas : 1;

	params = sl_xcalloc(dc->n_params ? dc->n_params : 1, sizeof(*params));
	for (size_t i = 0; i < dc->n_params; i++) {
		params[i].key = dc->params[i].key;
		params[i].value = dc->params[i].value;
		params[i].line = dc->params[i].line;
	}
	sd = (sb_dataset_t){
		.name = d->name,
		.uri = d->uri,
		.config_path = config_path ? config_path : "(config)",
		.block_size = d->block_size,
		.n_params = dc->n_params,
		.params = params,
	};
	merr[0] = '\0';
	ret = ops->open(&sd, &d->state, merr, sizeof(merr));
	free(params);
	if (ret < 0) {
		snprintf(err, errlen, "dataset %s: %s", dc->name,
			 merr[0] ? merr : "backend open failed");
		*rc = ret;
		cn_dsmetrics_unref(&d->counts);
		free(d->params_sig);
		free(d->uri);
		free(d);
		return NULL;
	}
	*rc = 0;
	return d;
}

cn_dataset_t *cn_dataset_ref(cn_dataset_t *d)
{
	d->refs++;
	return d;
}

void cn_dataset_unref(cn_dataset_t **dp)
{
	cn_dataset_t *d = dp ? *dp : NULL;

	if (!d)
		return;
	*dp = NULL;
	SL_ASSERT(d->refs > 0);
	if (--d->refs > 0)
		return;
	d->ops->close(d->state);
	cn_dsmetrics_unref(&d->counts);
	free(d->params_sig);
	free(d->uri);
	free(d);
}

int cn_dataset_same(const cn_dataset_t *d, const sl_dataset_conf_t *dc)
{
	char *sig;
	int same;

	if (strcmp(d->backend, dc->backend) != 0 ||
	    strcmp(d->uri, dc->uri ? dc->uri : "") != 0 ||
	    d->block_size != dc->block_size ||
	    strcmp(d->auto_policy ? SL_POLICY_AUTO : d->policy->name,
		   dc->policy) != 0)
		return 0;
	sig = params_signature(dc);
	same = strcmp(sig, d->params_sig) == 0;
	free(sig);
	return same;
}

/*
 * A module's result as a status the wire can carry: an error beyond
 * -PR_ERRNO_MAX (a module's bug; it would not even fit the header, and
 * truncated to an int it could pass for another errno) becomes -EIO,
 * said in err and the log.
 */
static ssize_t wire_result(const cn_dataset_t *d, const char *what, ssize_t rc,
			   char *err, size_t errlen)
{
	if (rc >= -PR_ERRNO_MAX)
		return rc;
	sl_log_ratelimited(SL_LOG_WARNING,
			   "dataset %s: backend %s %s returned %zd, not an "
			   "errno: answered EIO",
			   d->name, d->backend, what, rc);
	snprintf(err, errlen, "backend %s returned %zd", what, rc);
	return -EIO;
}

/*
 * Defence in depth: what a module is handed passed the protocol's
 * validators already (proto/), but every path and version is checked
 * again here, on its way into a backend that may put it in a path, a URL
 * or a header.  (A cursor is the module's own bytes, decoded from the
 * wire's; the module encodes it where it builds a URL.)  0, or -EINVAL
 * with err.
 */
static int check_args(const char *path, const char *version, char *err,
		      size_t errlen)
{
	const char *bad = NULL;

	if (sl_path_check(path, strlen(path)) < 0)
		bad = "path";
	else if (version && sl_version_check(version, strlen(version)) < 0)
		bad = "version";
	if (!bad)
		return 0;
	snprintf(err, errlen, "refused a malformed %s", bad);
	return -EINVAL;
}

int cn_dataset_stat(const cn_dataset_t *d, const char *path, sb_stat_t *st,
		    char *err, size_t errlen)
{
	int rc = check_args(path, NULL, err, errlen);

	if (rc < 0)
		return rc;
	rc = d->ops->stat(d->state, path, st, err, errlen);
	return (int)wire_result(d, "stat", rc, err, errlen);
}

ssize_t cn_dataset_read(const cn_dataset_t *d, const char *path,
			const char *version, uint64_t offset, void *buf,
			size_t len, char *err, size_t errlen)
{
	ssize_t rc = check_args(path, version, err, errlen);

	if (rc < 0)
		return rc;
	rc = d->ops->read(d->state, path, version, offset, buf, len, err,
			  errlen);
	return wire_result(d, "read", rc, err, errlen);
}

int cn_dataset_list(const cn_dataset_t *d, const char *dir, const char *cursor,
		    sb_dirent_t *ents, size_t max, size_t *n, char *next_cursor,
		    char *err, size_t errlen)
{
	int rc;

	*n = 0;
	next_cursor[0] = '\0';
	if (!d->ops->list) {
		snprintf(err, errlen, "backend %s cannot list directories",
			 d->backend);
		return -EOPNOTSUPP;
	}
	rc = check_args(dir, NULL, err, errlen);
	if (rc < 0)
		return rc;
	rc = d->ops->list(d->state, dir, cursor, ents, max, n, next_cursor, err,
			  errlen);
	return (int)wire_result(d, "list", rc, err, errlen);
}
