/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Backend modules and the datasets opened through them.
 *
 * cn_backends_t is the module registry: it finds sluice_backend_NAME.so in
 * its module directory, dlopen()s it once, checks the exported ops table
 * (symbol, ABI version, size, name, every required function present),
 * copies it into this node's layout and keeps the module loaded for the
 * registry's lifetime.  Built-in tables (tests, embedded backends)
 * can be registered by name and win over files.
 *
 * cn_dataset_t is one configured dataset opened with its module: a plain
 * descriptor of what the server needs (copied from the config, which may be
 * replaced on reload) plus the module's state.  Its reference count is
 * touched only by the event thread; a worker running a job for the dataset
 * uses ops and state while the job holds a reference taken for it.
 *
 * Not thread-safe (event thread or start-up only), except that ops and
 * state may be used from workers as the backend ABI allows.
 */
#ifndef CN_BACKEND_H
#define CN_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "cachenode/metrics.h"
#include "cachenode/policy.h"
#include "common/config.h"
#include "sluice/backend.h"

typedef struct cn_backends cn_backends_t;

/* A registry loading from dir (copied).  Caller frees with
 * cn_backends_destroy, after every dataset opened through it is closed. */
cn_backends_t *cn_backends_new(const char *dir);
void cn_backends_destroy(cn_backends_t **rp);
/* The module directory.  Borrowed from r. */
const char *cn_backends_dir(const cn_backends_t *r);

/* Register a built-in ops table (copied) under ops->name, judged as a
 * module's is.  Returns 0, or -EINVAL when the table is malformed. */
int cn_backends_add_builtin(cn_backends_t *r, const sb_ops_t *ops);

/*
 * The ops of backend name, loading its module on first use: a full
 * sb_ops_t, NULL where the module provides no op.  Returns NULL with one
 * line in err when the module is missing, cannot be loaded, lacks the
 * symbol, has another ABI version, a table too short or incomplete.
 * Borrowed from r.
 */
const sb_ops_t *cn_backends_get(cn_backends_t *r, const char *name, char *err,
				size_t errlen);

/*
 * The default module directory: the running binary's own directory when it
 * holds sluice_backend_*.so files (a build tree), else SL_MODULE_DIR.
 * Caller frees.
 */
char *cn_backends_default_dir(void);

typedef struct cn_dataset {
	char name[SL_NAME_MAX + 1];
	char backend[SL_BACKEND_MAX + 1];
	char *uri;
	uint32_t block_size;
	const cn_policy_ops_t *policy; /* static, or the server's for life */
	/* policy = auto: policy is the node's choice, lru or pin, which
	 * autopolicy.c makes and changes (event thread). */
	int auto_policy;
	uint64_t metadata_ttl_ms;
	uint32_t id; /* unique per node run: tags cache entries */
	/* Its counters (metrics.h), a reference: a fresh block from
	 * cn_dataset_open, which a reload that reopens the name replaces
	 * with the old one's before anything counts. */
	cn_dsmetrics_t *counts;
	const sb_ops_t *ops;
	void *state;
	int refs; /* event thread only */
	/* For cn_dataset_same(): the backend-specific keys, "k=v\n" each. */
	char *params_sig;
	/* The layout: a hash of what gives block N its meaning -- name,
	 * backend, uri, block size and backend keys -- stable across
	 * restarts and equal on every node that reads the same section,
	 * never 0.  HELLO tells it to clients, every READ carries the one it
	 * assumes (a node refuses another: -EREMCHG), block keys include it,
	 * and the disk tier files blocks under it, so blocks of a dataset
	 * that changed while the node was down are recognised as stale.  The
	 * policy and the metadata TTL are not part of it. */
	uint32_t layout;
	uint64_t layout_since_ms; /* served since (wall clock): HELLO */
	uint32_t replicas;	  /* nodes keeping each block (config) */
	/* Replaced or removed by a reload: fetches still running for it
	 * answer their waiters (who asked under its layout) but leave
	 * nothing in the caches.  Event thread only. */
	int retired;
} cn_dataset_t;

/*
 * Open dataset dc (borrowed) with its module from r, under policy (the
 * caller found dc->policy's table; for auto, the first choice, lru, and
 * auto_policy is set); config_path names the file in
 * messages.  Returns a dataset with one reference, or NULL with *rc =
 * -errno and one line in err (the module's own message on -EINVAL).
 */
cn_dataset_t *cn_dataset_open(cn_backends_t *r, const sl_dataset_conf_t *dc,
			      const cn_policy_ops_t *policy,
			      const char *config_path, uint32_t id, int *rc,
			      char *err, size_t errlen);
cn_dataset_t *cn_dataset_ref(cn_dataset_t *d);
/* Drop a reference; the last one closes the module state.  Accepts NULL;
 * clears *dp. */
void cn_dataset_unref(cn_dataset_t **dp);

/* True when dc would open to the same thing as d (so its cached blocks
 * stay valid across a reload); the TTL may still differ. */
int cn_dataset_same(const cn_dataset_t *d, const sl_dataset_conf_t *dc);

/*
 * The module's ops on d, for the workers (thread-safe as the backend ABI
 * says; d is borrowed, kept alive by the caller's reference).  Each returns
 * what the module does, or -EOPNOTSUPP with a message in err when the
 * module does not provide the op (an optional one, or one its shorter
 * table lacks), or -EINVAL for a path or version that breaks its rule
 * (common/path.h: checked again before a module sees it).  An error
 * below -PR_ERRNO_MAX (no errno; the wire could
 * not carry it) comes back as -EIO, logged.  Arguments as in
 * sluice/backend.h.
 */
int cn_dataset_stat(const cn_dataset_t *d, const char *path, sb_stat_t *st,
		    char *err, size_t errlen);
ssize_t cn_dataset_read(const cn_dataset_t *d, const char *path,
			const char *version, uint64_t offset, void *buf,
			size_t len, char *err, size_t errlen);
int cn_dataset_list(const cn_dataset_t *d, const char *dir, const char *cursor,
		    sb_dirent_t *ents, size_t max, size_t *n, char *next_cursor,
		    char *err, size_t errlen);

#endif
