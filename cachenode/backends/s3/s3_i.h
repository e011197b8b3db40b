/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the s3 backend module (sluice_backend_s3.so), shared by its
 * files: s3.c (the ops table: open, stat, list, read), conf.c (dataset keys
 * and credentials), http.c (libcurl handles, signing, retries, error
 * mapping), url.c (AWS URI encoding and growable buffers) and xml.c
 * (ListObjectsV2 and error documents, through expat).  Prefix s3_.
 *
 * Everything here has hidden visibility: the module exports only its ops
 * table, so these names never meet the cache node's own.
 */
#ifndef S3_I_H
#define S3_I_H

#include <stddef.h>
#include <stdint.h>

#include "common/modconf.h"
#include "sluice/backend.h"

#pragma GCC visibility push(hidden)

#define S3_KEY_MAX	1024	    /* S3's limit on a key, in bytes */
#define S3_PAGE_MAX	1000	    /* S3's limit on max-keys */
#define S3_ERRBODY_MAX	(64u << 10) /* kept of an error reply */
#define S3_LISTBODY_MAX (64u << 20) /* of one ListObjectsV2 page */
#define S3_CODE_MAX	64

/* ---- growable byte buffers (url.c) ---------------------------------- */

/* Control memory: grows with sl_xrealloc, so it never fails. */
typedef struct s3_buf {
	char *data; /* NUL-terminated when len > 0 */
	size_t len;
	size_t cap;
} s3_buf_t;

void s3_buf_init(s3_buf_t *b);
/* Frees the data; b may be reused after s3_buf_init. */
void s3_buf_fini(s3_buf_t *b);
void s3_buf_add(s3_buf_t *b, const void *p, size_t n);
void s3_buf_adds(s3_buf_t *b, const char *s);
/* Hands the string over (caller frees); b is empty afterwards.  Never NULL:
 * an empty buffer gives "". */
char *s3_buf_release(s3_buf_t *b);

/* ---- AWS URI encoding (url.c) ------------------------------------------ */

/*
 * Append n bytes of s (borrowed) to b encoded as SigV4 wants: A-Za-z0-9 and
 * -._~ bare, every other byte as %XX with upper-case hex, and '/' bare only
 * when keep_slash (object paths) or as %2F (query values).
 */
void s3_uri_encode(s3_buf_t *b, const char *s, size_t n, int keep_slash);

typedef struct s3_qparam {
	const char *name;  /* borrowed */
	const char *value; /* borrowed; "" for a bare name */
} s3_qparam_t;

/* Append "?" and the n params (n > 0) as a canonical SigV4 query string:
 * each name and value AWS-encoded, sorted by encoded name then value. */
void s3_uri_add_query(s3_buf_t *b, const s3_qparam_t *params, size_t n);

/* The n bytes at s are '/'-separated components, none empty, "." or
 * "..". */
int s3_components_ok(const char *s, size_t n);

/* Decode %XX escapes (and '+' as a space when plus) of s into a new string
 * (caller frees).  Returns NULL on a malformed escape or an encoded NUL. */
char *s3_uri_decode(const char *s, int plus);

/* ---- configuration and credentials (conf.c) ---------------------------- */

typedef struct s3_cred {
	char *key_id; /* NULL when anonymous */
	char *secret; /* wiped on s3_cred_fini */
	char *token;  /* session token or NULL; wiped too */
} s3_cred_t;

typedef struct s3_conf {
	char *name;	/* dataset name, for messages */
	char *endpoint; /* scheme://host[:port][/path], no trailing '/' */
	char *region;
	char *bucket;
	char *prefix; /* "" or ending in '/' */
	int path_style;
	int anonymous;
	char *ca_bundle;	/* NULL = the system's */
	sl_modconf_http_t http; /* timeout, connect_timeout, retries... */
	s3_cred_t cred;
} s3_conf_t;

/*
 * Fill c from the dataset (borrowed): uri, keys, then credentials from the
 * file named by `credentials` or from the AWS environment variables.
 * Returns 0, or -EINVAL (-errno of a credentials file it cannot read) with
 * one line "FILE:LINE: ..." in err that quotes no secret.  On failure c is
 * left finalised.
 */
int s3_conf_load(s3_conf_t *c, const sb_dataset_t *ds, char *err,
		 size_t errlen);
void s3_conf_fini(s3_conf_t *c);

/*
 * Read profile's keys from an AWS shared-credentials file at path into c.
 * Returns 0, or a negative errno with one line in err; a message names the
 * file and line but never quotes a value.
 */
int s3_cred_load_file(s3_cred_t *c, const char *path, const char *profile,
		      char *err, size_t errlen);
/* Free and wipe. */
void s3_cred_fini(s3_cred_t *c);

/* ---- requests (http.c) -------------------------------------------------- */

/* One dataset's open module state: read-only after open but for the
 * handle pool. */
typedef struct s3_state {
	s3_conf_t conf;
	char *base; /* URL of the bucket, no trailing '/' */
	char *sigv4;
	struct sl_curlpool *pool; /* handles sharing DNS and TLS caches */
} s3_state_t;

typedef struct s3_req {
	int head;	      /* HEAD instead of GET */
	const char *url;      /* complete, AWS-encoded, query sorted */
	const char *what;     /* "GET key" for messages */
	uint64_t range_off;   /* with range_len > 0: bytes wanted */
	size_t range_len;     /*   (Range: bytes=off-(off+len-1)) */
	const char *if_match; /* an unquoted ETag, or NULL */
	char *sink;	      /* 2xx body into sink[range_len], or NULL: */
	size_t body_max;      /*   into resp->body, up to body_max bytes */
} s3_req_t;

typedef struct s3_resp {
	long status;
	char etag[SB_VERSION_MAX + 1]; /* without quotes; "" when none */
	int etag_bad;		       /* longer than a version may be */
	int64_t mtime_ns;	       /* Last-Modified, or -1 */
	int64_t length;		       /* Content-Length, or -1 */
	int64_t range_start;	       /* Content-Range: bytes START-E/T */
	int64_t total;		       /*   T, or -1 */
	size_t sunk;		       /* bytes written into req->sink */
	s3_buf_t body;		       /* see s3_req_t */
	char region[32];	       /* x-amz-bucket-region */
} s3_resp_t;

/* Build st's bucket URL, signing scope, curl share and handle pool from
 * st->conf (loaded).  Returns 0 or -errno with a line in err; either way
 * s3_state_fini_http releases what was made. */
int s3_state_init_http(s3_state_t *st, char *err, size_t errlen);
/* Release them; no request may be in flight. */
void s3_state_fini_http(s3_state_t *st);

/* A response owns its body buffer: init before a request, fini after. */
void s3_resp_init(s3_resp_t *r);
void s3_resp_fini(s3_resp_t *r);

/*
 * Run req, retrying transient failures (see the essay in http.c) within
 * the dataset's timeout.  Returns the HTTP status for 200, 206, 304, 412
 * and 416, which the caller interprets, or a negative errno with one line
 * in err: -ENOENT (404), -EACCES (401, 403, expired tokens), -EIO (the rest,
 * and 5xx, 429 and network failures once retries are spent).  req and
 * everything it points to are borrowed (req->sink is written); resp must
 * be initialised and the caller finalises it.  Thread-safe: any number of
 * calls may run at once on one st, each on its own pooled curl handle.
 */
int s3_http_run(s3_state_t *st, const s3_req_t *req, s3_resp_t *resp, char *err,
		size_t errlen);

/* ---- XML (xml.c) ------------------------------------------------------- */

typedef struct s3_entry {
	char *name;	  /* full key, or common prefix; decoded */
	int is_prefix;	  /* a CommonPrefixes/Prefix */
	uint64_t size;	  /* Contents/Size */
	int64_t mtime_ns; /* Contents/LastModified, or 0 */
	char *etag;	  /* Contents/ETag without quotes, or NULL */
} s3_entry_t;

typedef struct s3_page {
	s3_entry_t *ents; /* keys and prefixes merged in byte order */
	size_t n;
	int truncated;	  /* IsTruncated */
	char *next_token; /* NextContinuationToken, or NULL */
} s3_page_t;

/*
 * Parse a ListObjectsV2 result (xml[len], borrowed) into page (zeroed by
 * the caller; it owns the names and tokens: free with s3_page_fini).  Names are
 * URL-decoded when the document says EncodingType url.  Returns 0, or -EIO with
 * a line in err.
 */
int s3_xml_parse_list(const char *xml, size_t len, s3_page_t *page, char *err,
		      size_t errlen);
void s3_page_fini(s3_page_t *page);

/* Code and Message of an S3 <Error> document into code[codelen] and
 * msg[msglen] ("" when absent or not XML). */
void s3_xml_parse_error(const char *xml, size_t len, char *code, size_t codelen,
			char *msg, size_t msglen);

/* "2026-11-25T10:00:00.123Z" to ns since the epoch; -1 when malformed. */
int64_t s3_parse_iso8601(const char *s);

#pragma GCC visibility pop

#endif
