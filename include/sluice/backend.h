/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The backend module ABI.  A backend is a shared object
 * sluice_backend_NAME.so exporting one symbol,
 *
 *     const struct sb_ops sluice_backend_ops;
 *
 * that the cache node finds with dlsym() after dlopen().  The node refuses a
 * module whose abi_version differs from SB_ABI_VERSION.  Prefix sb_ ("sluice
 * backend"): this header is public, so it includes nothing of the project's.
 *
 * How the table grows.  A module sets ops_size = sizeof(sb_ops_t) as the
 * header it was built against had it.  From ABI version 2 on, ops are only
 * ever appended to the end of sb_ops_t, never reordered or changed, and
 * every op after read is optional; SB_ABI_VERSION changes only when that
 * rule must be broken.  So a module built against an older, shorter table
 * still loads into a newer node: the node copies the ops_size bytes it was
 * given into a table of its own size, the ops the module never heard of
 * are NULL, and the node answers them -EOPNOTSUPP.  A module built against
 * a newer header loads into an older node too, which ignores the ops it
 * does not know.  (libfuse's fuse_session_new_versioned passes op_size for
 * the same reason.)  open, close, stat and read are required; list is
 * optional (a store of plain HTTP range reads cannot list): LIST of a
 * dataset whose module lacks it answers -EOPNOTSUPP.
 *
 * Paths given to a backend are dataset-relative and already checked (no
 * leading '/', no "." / ".." / empty components, no NUL); a module must still
 * keep every access below its dataset root, as defence in depth.
 *
 * Every function returns 0 (or a byte count) on success or a negative errno,
 * and on failure writes one line for humans into err (never a secret).
 *   -ENOENT  no such entry          -ENOTDIR / -EISDIR  wrong type
 *   -EACCES  refused by the store   -ESTALE  the file's version changed
 *   -EIO     the store failed (after the module's own retries)
 *   -EINVAL  bad configuration (open only)
 *   -EOPNOTSUPP  the store cannot do this (the node also answers it for
 *            an optional op the module lacks)
 * Thread safety: after open() returns, stat, list and read are called
 * concurrently from the node's worker threads on the same state; they may
 * block (that is what the workers are for).
 */
#ifndef SLUICE_BACKEND_H
#define SLUICE_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* 2: ops_size after abi_version; list moved after read and optional. */
#define SB_ABI_VERSION 2

#define SB_VERSION_MAX 128 /* bytes of a version string */
#define SB_NAME_MAX    255 /* bytes of one entry name */
#define SB_CURSOR_MAX  1024
#define SB_ERR_MAX     256

#define SB_TYPE_FILE 1
#define SB_TYPE_DIR  2

typedef struct sb_param {
	const char *key;
	const char *value;
	int line; /* line in the config file, for error messages */
} sb_param_t;

/* What the node knows of a dataset; everything borrowed during open(). */
typedef struct sb_dataset {
	const char *name;
	const char *uri;
	const char *config_path; /* for messages "FILE:LINE: ..." */
	uint32_t block_size;
	size_t n_params; /* the dataset's backend-specific keys */
	const sb_param_t *params;
} sb_dataset_t;

typedef struct sb_stat {
	int type;	  /* SB_TYPE_* */
	uint32_t mode;	  /* permission bits; others are ignored */
	uint64_t size;	  /* bytes; 0 for directories */
	int64_t mtime_ns; /* since the epoch */
	/* Identifies this content: changes whenever the bytes may have
	 * (posix: size and mtime; s3: the ETag).  "" for directories. */
	char version[SB_VERSION_MAX + 1];
} sb_stat_t;

typedef struct sb_dirent {
	char name[SB_NAME_MAX + 1];
	sb_stat_t st;
} sb_dirent_t;

typedef struct sb_ops {
	uint32_t abi_version; /* SB_ABI_VERSION */
	uint32_t ops_size;    /* sizeof(sb_ops_t) in the module's build */
	const char *name;     /* "posix" */

	/* Validate the dataset's uri and params (an unknown key is an
	 * error naming its line) and set *state.  -EINVAL on bad config. */
	int (*open)(const sb_dataset_t *ds, void **state, char *err,
		    size_t errlen);
	/* Release state; no call is in flight. */
	void (*close)(void *state);

	/* "" is the dataset root. */
	int (*stat)(void *state, const char *path, sb_stat_t *st, char *err,
		    size_t errlen);

	/*
	 * Read up to len bytes at offset of file path into buf (caller's).
	 * version is what the caller's stat returned: a module that can tell
	 * returns -ESTALE when the file no longer has it.  Returns the byte
	 * count (short only at end of file) or -errno.
	 */
	ssize_t (*read)(void *state, const char *path, const char *version,
			uint64_t offset, void *buf, size_t len, char *err,
			size_t errlen);

	/* ---- Optional: NULL, or missing from a shorter table ---- */

	/*
	 * One page of directory dir: up to max entries into ents, their count
	 * in *n, and in next_cursor (SB_CURSOR_MAX + 1 bytes) the cursor of
	 * the following page, or "" when this is the last.  cursor "" starts
	 * at the beginning.  Entries come in a stable order ("." and ".."
	 * excluded); entries that cannot be represented are skipped.
	 */
	int (*list)(void *state, const char *dir, const char *cursor,
		    sb_dirent_t *ents, size_t max, size_t *n, char *next_cursor,
		    char *err, size_t errlen);
} sb_ops_t;

#define SB_OPS_SYMBOL "sluice_backend_ops"

#endif
