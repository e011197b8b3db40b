/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the webhdfs backend module (sluice_backend_webhdfs.so),
 * shared by its files: webhdfs.c (the ops table: open, stat, list, read),
 * conf.c (dataset keys and the delegation token), url.c (path checks,
 * percent-encoding, request URLs, redirect checks, scrubbing of server
 * text), json.c (FileStatus, DirectoryListing and RemoteException bodies,
 * through jansson, and file versions) and http.c (libcurl handles, the
 * namenode-then-datanode exchange, retries, namenode failover, error
 * mapping).  Prefix wh_.
 *
 * Everything here has hidden visibility: the module exports only its ops
 * table, so these names never meet the cache node's own.
 */
#ifndef WEBHDFS_I_H
#define WEBHDFS_I_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/hostlog.h"
#include "common/log.h" /* SL_LOG_* levels for wh_log */
#include "common/modconf.h"
#include "sluice/backend.h"

#pragma GCC visibility push(hidden)

#define WH_PATH_MAX	 8000	     /* HDFS's own limit on a path */
#define WH_URL_MAX	 8192	     /* of a redirect's Location */
#define WH_NAMENODES_MAX 8	     /* entries of `namenodes` */
#define WH_TOKEN_MAX	 4096	     /* bytes of a delegation token */
#define WH_STATUS_MAX	 (64u << 10) /* of a GETFILESTATUS reply */
#define WH_LISTING_MAX                                                         \
	(4u << 20)		      /* of one listing reply: about 7x that   \
				       * while parsed */
#define WH_ERRBODY_MAX	  (64u << 10) /* kept of an error reply */
#define WH_REDIRECTS_MAX  4	      /* hops after the namenode's 307 */
#define WH_SERVER_MSG_MAX 200	      /* bytes of a server message kept */

#define WH_TYPE_SYMLINK 3 /* beside SB_TYPE_FILE and SB_TYPE_DIR */

/* ---- configuration (conf.c) ------------------------------------------- */

typedef enum wh_auth {
	WH_AUTH_NONE,	  /* no parameter: the server's default user */
	WH_AUTH_USER,	  /* user.name= (security off) */
	WH_AUTH_TOKEN,	  /* delegation= (security on) */
	WH_AUTH_KERBEROS, /* SPNEGO (security on) */
} wh_auth_t;

typedef struct wh_conf {
	char *name; /* dataset name, for messages */
	int https;  /* swebhdfs:// */
	char *root; /* HDFS path of the dataset root: "/" or "/a/b" */
	/* "http(s)://HOST:PORT" of each namenode, in the order to try. */
	char *nn[WH_NAMENODES_MAX];
	size_t n_nn;
	wh_auth_t auth;
	char *user;	  /* with WH_AUTH_USER */
	char *token;	  /* with WH_AUTH_TOKEN; a secret: wiped on fini */
	char *ca_file;	  /* NULL = the system's CAs */
	int verify_reads; /* a GETFILESTATUS after each read */
	sl_modconf_http_t http; /* timeout, connect_timeout, retries... */
} wh_conf_t;

/*
 * Fill c from the dataset (borrowed): the uri, the keys, and the token
 * from delegation_token_file.  Returns 0, or -EINVAL (or the -errno of a
 * token file it cannot read) with one line "FILE:LINE: ..." in err that
 * never quotes the token.  On failure c is left finalised.
 */
int wh_conf_load(wh_conf_t *c, const sb_dataset_t *ds, char *err,
		 size_t errlen);
/* Free everything, wiping the token. */
void wh_conf_fini(wh_conf_t *c);

/* ---- paths, URLs, text (url.c) ----------------------------------------- */

/* A memory stream that grows as written (open_memstream); aborts on
 * out-of-memory like sl_xmalloc.  fclose() leaves the NUL-terminated text
 * in *buf (caller frees) and its length in *len. */
FILE *wh_memstream(char **buf, size_t *len);

/*
 * 1 when n bytes at s are a name both HDFS and the mount can hold: 1 to
 * SB_NAME_MAX bytes, no '/', not "." or "..", and no control byte
 * (0x00-0x1f, 0x7f), which no URL, header or log line should carry.
 */
int wh_name_ok(const char *s, size_t n);

/* Order of two names as HDFS keeps a directory's children: bytes compared
 * as signed values (so UTF-8 sorts before ASCII), then by length. */
int wh_name_cmp(const char *a, size_t an, const char *b, size_t bn);

/* Check a dataset-relative path ("" is the root) component by component:
 * 0, -EINVAL (with a message) or -ENAMETOOLONG. */
int wh_path_check(const char *path, char *err, size_t errlen);

/* Append n bytes of s to f percent-encoded: A-Za-z0-9 and -._~ bare,
 * every other byte as %XX, '/' bare only when keep_slash. */
void wh_encode(FILE *f, const char *s, size_t n, int keep_slash);

/* The HDFS path of dataset path (checked), "/root/path" (caller frees). */
char *wh_hdfs_path(const wh_conf_t *c, const char *path);

typedef struct wh_qparam {
	const char *name;  /* borrowed; a literal of the module */
	const char *value; /* borrowed; encoded here */
} wh_qparam_t;

/*
 * The URL of op on dataset path at namenode nn:
 * BASE/webhdfs/v1/ROOT/PATH?op=OP&NAME=VALUE...&AUTH, where the path is
 * encoded component by component, every value is encoded, and AUTH is
 * user.name= or delegation= as configured.  Caller frees; the URL may
 * hold the token, so wipe it first (wh_free_secret).
 */
char *wh_url_build(const wh_conf_t *c, size_t nn, const char *path,
		   const char *op, const wh_qparam_t *qp, size_t nqp);

/*
 * Check the n bytes at loc, the Location of a redirect, before anything
 * follows it: an absolute http:// or https:// URL (https:// when the
 * request was secure: no downgrade) with a host, at most WH_URL_MAX bytes,
 * no space, control or non-ASCII byte.  0, or -EIO with a message.
 */
int wh_location_check(const char *loc, size_t n, int secure, char *err,
		      size_t errlen);

/* "HOST:PORT" of an http(s) URL into out[cap], for messages. */
void wh_url_host(const char *url, char *out, size_t cap);

/*
 * Copy n bytes of server text into out[cap], cut to fit, every control
 * or non-ASCII byte as '?': safe for a message and a log line.
 */
void wh_text_copy(char *out, size_t cap, const char *s, size_t n);

/* Overwrite every occurrence of the dataset's token in s (if it has one)
 * with '*': no message leaves the module carrying it. */
void wh_scrub(const wh_conf_t *c, char *s);
/* The same for any secret (NULL or "": nothing to do). */
void wh_blot(char *s, const char *secret);

/* snprintf for messages that may be cut to fit: a message is bounded
 * (SB_ERR_MAX) and its end matters least. */
void wh_fmt(char *out, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Wipe and free a string that may hold the token. */
void wh_free_secret(char *s);

/* ---- JSON bodies and versions (json.c) ---------------------------------- */

typedef struct wh_status {
	const char *name; /* pathSuffix, borrowed from the parsed body */
	size_t name_len;
	int type;	  /* SB_TYPE_FILE, SB_TYPE_DIR or WH_TYPE_SYMLINK */
	uint64_t length;  /* bytes */
	int64_t mtime_ms; /* modificationTime */
	int64_t file_id;  /* fileId, or -1 when the server sends none */
	uint32_t perm;	  /* permission, from its octal string */
} wh_status_t;

/* A parsed listing: owns the document its entries' names point into. */
typedef struct wh_listing {
	void *doc; /* json_t */
	wh_status_t *ents;
	size_t n;
	int64_t remaining; /* remainingEntries; 0 for a LISTSTATUS */
} wh_listing_t;

/*
 * Parse a GETFILESTATUS reply (body[len], borrowed) into *s; s->name is
 * NULL afterwards (the document is gone).  Returns 0, or -EIO with a line
 * in err naming what is not as the WebHDFS specification says.
 */
int wh_json_status(const char *body, size_t len, wh_status_t *s, char *err,
		   size_t errlen);

/*
 * Parse a LISTSTATUS_BATCH reply (batch) or a LISTSTATUS reply into *l
 * (caller finalises with wh_listing_fini, on failure too).  Entries come
 * in the server's order.  Returns 0 or -EIO with a line in err.
 */
int wh_json_listing(const char *body, size_t len, int batch, wh_listing_t *l,
		    char *err, size_t errlen);
void wh_listing_fini(wh_listing_t *l);

/*
 * The RemoteException of an error reply: its exception name (the short
 * class name, from javaClassName when `exception` is missing) into
 * exc[exclen] and its message into msg[msglen], each wh_text_copy'd, the
 * message after every occurrence of secret (may be NULL) was blotted out:
 * before the cut, so that no piece of it is left.  Returns 0, or -1 when
 * the body is no RemoteException (both then "").
 */
int wh_json_remote(const char *body, size_t len, const char *secret, char *exc,
		   size_t exclen, char *msg, size_t msglen);

/* A file's version, "m<modificationTime>-l<length>[-i<fileId>]", into
 * out[SB_VERSION_MAX + 1]. */
void wh_version_make(const wh_status_t *s, char *out);
/* The length a version of ours records: 0, or -EINVAL when v is not one. */
int wh_version_length(const char *v, uint64_t *len);

/* Fill an sb_stat_t from a file's or directory's status. */
void wh_status_to_sb(const wh_status_t *s, sb_stat_t *out);

/* ---- requests (http.c) ------------------------------------------------- */

#define WH_POOL_MAX 64 /* idle curl handles kept per dataset */

/* One dataset's open module state: read-only after open but for what is
 * marked. */
typedef struct wh_state {
	wh_conf_t conf;
	struct sl_curlpool *pool; /* handles sharing DNS and TLS caches */
	_Atomic unsigned active;  /* the namenode that answered last */
	_Atomic int no_batch; /* set once a server refused LISTSTATUS_BATCH */
} wh_state_t;

typedef struct wh_req {
	const char *op;	       /* GETFILESTATUS, LISTSTATUS(_BATCH), OPEN */
	const char *path;      /* dataset-relative, checked */
	const wh_qparam_t *qp; /* more query parameters, borrowed */
	size_t nqp;
	char *sink;	 /* OPEN: the bytes into sink[sink_len] */
	size_t sink_len; /*   (the caller's buffer) */
	size_t body_max; /* the others: bound of the JSON reply */
} wh_req_t;

typedef struct wh_resp {
	char *body; /* the JSON reply, NUL-terminated; wh_resp_fini frees */
	size_t len;
	size_t sunk; /* OPEN: bytes written into req->sink */
} wh_resp_t;

/* Make st's curl share (st->conf loaded).  Returns 0 or -errno with a
 * line in err; either way wh_http_fini releases what was made. */
int wh_http_init(wh_state_t *st, char *err, size_t errlen);
/* Release the share and the idle handles; no call may be in flight. */
void wh_http_fini(wh_state_t *st);

void wh_resp_fini(wh_resp_t *r);

/*
 * Run q: the namenode first (the one that answered last, the others on
 * StandbyException or when it cannot be reached), then, for OPEN, the
 * datanode its 307 names, retrying transient failures (see the essay in
 * http.c) within the dataset's timeout.  Returns 0 with the reply in *r
 * (zeroed by the caller; wh_resp_fini after), or a negative errno with
 * one line in err that names no secret: -ENOENT (FileNotFoundException),
 * -EACCES (AccessControlException, SecurityException, an invalid token,
 * 401, 403), -EOPNOTSUPP (the server does not know op), -EIO (the rest,
 * and transient failures once retries are spent), -ENOMEM.  q and what it
 * points to are borrowed (q->sink is written).  Thread-safe: calls run at
 * once on one st, each on its own pooled curl handle.
 */
int wh_http_call(wh_state_t *st, const wh_req_t *q, wh_resp_t *r, char *err,
		 size_t errlen);

/* Log through the cache node's logger (common/hostlog.h), at most one line
 * a second from all threads together (the rest are counted); quiet
 * without a host. */
extern sl_hostlog_t wh_log_limit;
#define wh_log(level, ...)                                                     \
	sl_hostlog(&wh_log_limit, (level), "webhdfs", __VA_ARGS__)

#pragma GCC visibility pop

#endif
