/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The s3 backend: a dataset is a prefix of a bucket in S3 or an
 * S3-compatible store, `uri = s3://BUCKET/PREFIX/`.  Built as
 * sluice_backend_s3.so from this folder.
 *
 * The namespace.  A file is an object; a directory is a common prefix
 * ("train/" when some key starts with it), so it exists exactly while an
 * object lies below it.  stat is a HEAD (size, Last-Modified, ETag); when
 * there is no such object, a one-key listing of "PATH/" tells a directory
 * from nothing.  list is ListObjectsV2 with delimiter '/', whose entries
 * carry size, mtime and ETag, so no HEAD is needed per entry.  Files are
 * mode 0444, directories 0555 with mtime 0.  A key that cannot be a name
 * (empty, ".", "..", longer than 255 bytes: "a//b", a folder marker "a/")
 * is skipped.  Where a key "x" and a prefix "x/" both exist, stat sees the
 * file.
 *
 * Versions.  A file's version is its ETag without the quotes.  A read is a
 * ranged GET of exactly the bytes asked for with If-Match on the version,
 * and the reply's ETag is compared with it as well, because some servers
 * ignore If-Match: a changed object is -ESTALE, never bytes of two
 * versions.  The cache node then stats again and gets new block keys.
 *
 * Listing pages.  A cursor is "1:MAXKEYS:SKIP:TOKEN": the continuation
 * token of the S3 page to ask for (empty for the first), the max-keys it
 * was asked with, and how many of its entries were already returned.
 * S3 pages hold keys and common prefixes merged in byte order and both
 * count against max-keys; a call asks for as many as it still has room
 * for, so with S3 a page is used whole and the next cursor is simply the
 * next token.  A server whose page holds more (s3rver does not count
 * prefixes) has the rest served from the same page, asked for again with
 * the same max-keys.  Entries of one page are sorted, so the order is
 * stable for an unchanging listing.
 *
 * Thread safety: after open, stat, list and read run concurrently; the
 * state is read-only but for the pool of curl handles (http.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachenode/backends/s3/s3_i.h"
#include "common/path.h"
#include "common/util.h"

#define CURSOR_SKIP_MAX (1u << 20)

/* ---- keys and URLs --------------------------------------------------- */

/* The key of dataset path (checked again here, as defence in depth) into
 * key.  Returns 0 or -errno with a message. */
static int make_key(const s3_state_t *st, const char *path, s3_buf_t *key,
		    char *err, size_t errlen)
{
	size_t n = strlen(path);

	if (n && !s3_components_ok(path, n)) {
		snprintf(err, errlen,
			 "path has an empty, '.' or '..' component");
		return -EINVAL;
	}
	if (strlen(st->conf.prefix) + n + 1 > S3_KEY_MAX) {
		snprintf(err, errlen, "path too long for an S3 key");
		return -ENAMETOOLONG;
	}
	s3_buf_adds(key, st->conf.prefix);
	s3_buf_add(key, path, n);
	return 0;
}

static char *object_url(const s3_state_t *st, const char *key)
{
	s3_buf_t b;

	s3_buf_init(&b);
	s3_buf_adds(&b, st->base);
	s3_buf_adds(&b, "/");
	s3_uri_encode(&b, key, strlen(key), 1);
	return s3_buf_release(&b);
}

/* "VERB s3://BUCKET/KEY", for messages. */
static char *describe(const s3_state_t *st, const char *verb, const char *key)
{
	s3_buf_t b;

	s3_buf_init(&b);
	s3_buf_adds(&b, verb);
	s3_buf_adds(&b, " s3://");
	s3_buf_adds(&b, st->conf.bucket);
	s3_buf_adds(&b, "/");
	s3_buf_adds(&b, key);
	return s3_buf_release(&b);
}

static void fill_dir(sb_stat_t *st)
{
	memset(st, 0, sizeof(*st));
	st->type = SB_TYPE_DIR;
	st->mode = 0555;
}

/* ---- requests -------------------------------------------------------- */

/*
 * One ListObjectsV2 page under prefix (delimited by '/' when delim), from
 * token (NULL: the first), of up to max_keys entries, into page (zeroed).
 * Returns 0 or -errno.
 */
static int list_page(s3_state_t *st, const char *prefix, int delim,
		     const char *token, size_t max_keys, s3_page_t *page,
		     char *err, size_t errlen)
{
	s3_qparam_t qp[6];
	char mk[16];
	size_t nq = 0;
	s3_buf_t url;
	s3_resp_t r;
	s3_req_t q = {0};
	char *what;
	int rc;

	snprintf(mk, sizeof(mk), "%zu", max_keys);
	qp[nq++] = (s3_qparam_t){"list-type", "2"};
	qp[nq++] = (s3_qparam_t){"prefix", prefix};
	qp[nq++] = (s3_qparam_t){"max-keys", mk};
	qp[nq++] = (s3_qparam_t){"encoding-type", "url"};
	if (delim)
		qp[nq++] = (s3_qparam_t){"delimiter", "/"};
	if (token && *token)
		qp[nq++] = (s3_qparam_t){"continuation-token", token};
	s3_buf_init(&url);
	s3_buf_adds(&url, st->base);
	s3_buf_adds(&url, "/");
	s3_uri_add_query(&url, qp, nq);
	what = describe(st, "LIST", prefix);
	q.url = url.data;
	q.what = what;
	q.body_max = S3_LISTBODY_MAX;
	s3_resp_init(&r);
	rc = s3_http_run(st, &q, &r, err, errlen);
	if (rc == 200) {
		rc = s3_xml_parse_list(r.body.data ? r.body.data : "",
				       r.body.len, page, err, errlen);
	} else if (rc >= 0) {
		snprintf(err, errlen, "%s: unexpected HTTP status %d", what,
			 rc);
		rc = -EIO;
	}
	s3_resp_fini(&r);
	s3_buf_fini(&url);
	free(what);
	return rc;
}

/* Is there anything under prefix?  1, 0 or -errno. */
static int prefix_exists(s3_state_t *st, const char *prefix, char *err,
			 size_t errlen)
{
	s3_page_t page = {0};
	int rc = list_page(st, prefix, 0, NULL, 1, &page, err, errlen);

	if (rc == 0)
		rc = page.n > 0;
	s3_page_fini(&page);
	return rc;
}

/* HEAD key into r.  Returns 200 or -errno. */
static int head(s3_state_t *st, const char *key, s3_resp_t *r, char *err,
		size_t errlen)
{
	char *url = object_url(st, key), *what = describe(st, "HEAD", key);
	s3_req_t q = {.head = 1, .url = url, .what = what};
	int rc = s3_http_run(st, &q, r, err, errlen);

	if (rc >= 0 && rc != 200) {
		snprintf(err, errlen, "%s: unexpected HTTP status %d", what,
			 rc);
		rc = -EIO;
	}
	free(url);
	free(what);
	return rc;
}

/* ---- open / close ---------------------------------------------------- */

static void s3_close(void *state)
{
	s3_state_t *st = state;

	if (!st)
		return;
	s3_state_fini_http(st);
	s3_conf_fini(&st->conf);
	free(st);
}

static int s3_open(const sb_dataset_t *ds, void **state, char *err,
		   size_t errlen)
{
	s3_state_t *st = sl_xcalloc(1, sizeof(*st));
	int rc;

	rc = s3_conf_load(&st->conf, ds, err, errlen);
	if (rc < 0) {
		free(st);
		return rc;
	}
	rc = s3_state_init_http(st, err, errlen);
	if (rc < 0) {
		s3_close(st);
		return rc;
	}
	*state = st;
	return 0;
}

/* ---- stat ------------------------------------------------------------ */

static int s3_stat(void *state, const char *path, sb_stat_t *sbuf, char *err,
		   size_t errlen)
{
	s3_state_t *st = state;
	s3_buf_t key;
	s3_resp_t r;
	int rc;

	s3_buf_init(&key);
	s3_resp_init(&r);
	if (!*path) {
		/* The root exists when the bucket answers; ask it once so a
		 * bad bucket or credentials show here. */
		rc = prefix_exists(st, st->conf.prefix, err, errlen);
		if (rc >= 0) {
			fill_dir(sbuf);
			rc = 0;
		}
		goto out;
	}
	rc = make_key(st, path, &key, err, errlen);
	if (rc < 0)
		goto out;
	rc = head(st, key.data, &r, err, errlen);
	if (rc == 200) {
		if (r.length < 0 || !r.etag[0] || r.etag_bad) {
			snprintf(err, errlen,
				 "HEAD s3://%s/%s: the reply lacks %s",
				 st->conf.bucket, key.data,
				 r.length < 0 ? "Content-Length"
					      : "a usable ETag");
			rc = -EIO;
			goto out;
		}
		memset(sbuf, 0, sizeof(*sbuf));
		sbuf->type = SB_TYPE_FILE;
		sbuf->mode = 0444;
		sbuf->size = (uint64_t)r.length;
		sbuf->mtime_ns = r.mtime_ns < 0 ? 0 : r.mtime_ns;
		snprintf(sbuf->version, sizeof(sbuf->version), "%s", r.etag);
		rc = 0;
		goto out;
	}
	if (rc != -ENOENT)
		goto out;
	s3_buf_adds(&key, "/");
	rc = prefix_exists(st, key.data, err, errlen);
	if (rc == 1) {
		fill_dir(sbuf);
		rc = 0;
	} else if (rc == 0) {
		snprintf(err, errlen, "no object or prefix s3://%s/%.*s",
			 st->conf.bucket, (int)key.len - 1, key.data);
		rc = -ENOENT;
	}
out:
	s3_resp_fini(&r);
	s3_buf_fini(&key);
	return rc;
}

/* ---- read ------------------------------------------------------------ */

static ssize_t s3_read(void *state, const char *path, const char *version,
		       uint64_t offset, void *buf, size_t len, char *err,
		       size_t errlen)
{
	s3_state_t *st = state;
	const char *ver = version && *version ? version : NULL;
	char *url = NULL, *what = NULL;
	s3_req_t q = {0};
	s3_buf_t key;
	s3_resp_t r;
	ssize_t rc;

	if (len == 0)
		return 0;
	if (offset > INT64_MAX || len > INT64_MAX - offset) {
		snprintf(err, errlen, "offset out of range");
		return -EINVAL;
	}
	/* The version goes into an If-Match header: refuse anything that
	 * could add a header or a request (the node checks it too). */
	if (ver && sl_version_check(ver, strlen(ver)) < 0) {
		snprintf(err, errlen, "malformed version");
		return -EINVAL;
	}
	s3_buf_init(&key);
	s3_resp_init(&r);
	if (!*path) {
		snprintf(err, errlen, "the dataset root is a directory");
		rc = -EISDIR;
		goto out;
	}
	rc = make_key(st, path, &key, err, errlen);
	if (rc < 0)
		goto out;
	url = object_url(st, key.data);
	what = describe(st, "GET", key.data);
	q.url = url;
	q.what = what;
	q.range_off = offset;
	q.range_len = len;
	q.if_match = ver;
	q.sink = buf;
	rc = s3_http_run(st, &q, &r, err, errlen);
	switch (rc) {
	case 200:
	case 206:
		if (ver && (r.etag_bad || strcmp(r.etag, ver) != 0)) {
			snprintf(err, errlen,
				 "%s changed: its ETag is now %s, the version "
				 "read was %s",
				 what, r.etag[0] ? r.etag : "(none)", ver);
			rc = -ESTALE;
			break;
		}
		/* Short only at the end of the object. */
		if (r.sunk < len && r.total >= 0 &&
		    offset + r.sunk != (uint64_t)r.total) {
			snprintf(err, errlen,
				 "%s: the reply ended after %zu of %zu bytes",
				 what, r.sunk, len);
			rc = -EIO;
			break;
		}
		rc = (ssize_t)r.sunk;
		break;
	case 304:
	case 412:
		snprintf(err, errlen,
			 "%s changed: If-Match on version %s failed", what,
			 ver ? ver : "");
		rc = -ESTALE;
		break;
	case 416:
		/* At or past the end: nothing to read, if the object is
		 * still the version asked for. */
		s3_resp_fini(&r);
		s3_resp_init(&r);
		rc = head(st, key.data, &r, err, errlen);
		if (rc == 200 && ver && strcmp(r.etag, ver) != 0) {
			snprintf(err, errlen,
				 "%s changed: its ETag is now %s, the version "
				 "read was %s",
				 what, r.etag, ver);
			rc = -ESTALE;
		} else if (rc == 200) {
			rc = 0;
		}
		break;
	default:
		if (rc >= 0) {
			snprintf(err, errlen, "%s: unexpected HTTP status %zd",
				 what, rc);
			rc = -EIO;
		}
	}
out:
	free(url);
	free(what);
	s3_resp_fini(&r);
	s3_buf_fini(&key);
	return rc;
}

/* ---- list ------------------------------------------------------------ */

static int parse_cursor(const char *cursor, size_t *mk, size_t *skip,
			char **token)
{
	unsigned long long a, b;
	int n = 0;

	*mk = 0;
	*skip = 0;
	*token = NULL;
	if (!*cursor)
		return 0;
	if (sscanf(cursor, "1:%llu:%llu:%n", &a, &b, &n) != 2 || n == 0 ||
	    a > S3_PAGE_MAX || b > CURSOR_SKIP_MAX || (b && !a))
		return -EINVAL;
	*mk = (size_t)a;
	*skip = (size_t)b;
	*token = sl_xstrdup(cursor + n);
	return 0;
}

/* Fill d from entry e of a listing of prefix; 0, or -1 to skip it. */
static int fill_dirent(const char *prefix, size_t plen, const s3_entry_t *e,
		       sb_dirent_t *d)
{
	const char *nm = e->name + plen;
	size_t n;

	if (strncmp(e->name, prefix, plen) != 0)
		return -1;
	n = strlen(nm);
	if (e->is_prefix) {
		if (!n || nm[n - 1] != '/')
			return -1;
		n--;
	}
	if (!n || n > SB_NAME_MAX || memchr(nm, '/', n) ||
	    (n == 1 && nm[0] == '.') || (n == 2 && !strncmp(nm, "..", 2)))
		return -1;
	if (!e->is_prefix &&
	    (!e->etag || !*e->etag || strlen(e->etag) > SB_VERSION_MAX ||
	     sl_version_check(e->etag, strlen(e->etag)) < 0))
		return -1;
	memset(d, 0, sizeof(*d));
	memcpy(d->name, nm, n);
	if (e->is_prefix) {
		fill_dir(&d->st);
		return 0;
	}
	d->st.type = SB_TYPE_FILE;
	d->st.mode = 0444;
	d->st.size = e->size;
	d->st.mtime_ns = e->mtime_ns;
	snprintf(d->st.version, sizeof(d->st.version), "%s", e->etag);
	return 0;
}

/* An empty first page: is dir a file, or nothing? */
static int list_missing(s3_state_t *st, const char *dir_key, char *err,
			size_t errlen)
{
	s3_resp_t r;
	int rc;

	s3_resp_init(&r);
	rc = head(st, dir_key, &r, err, errlen);
	s3_resp_fini(&r);
	if (rc == 200) {
		snprintf(err, errlen, "s3://%s/%s is an object, not a prefix",
			 st->conf.bucket, dir_key);
		return -ENOTDIR;
	}
	if (rc == -ENOENT)
		snprintf(err, errlen, "no prefix s3://%s/%s/", st->conf.bucket,
			 dir_key);
	return rc;
}

/* A listing of prefix that cannot go on, for why: -EIO, and the message. */
static int list_broken(const s3_state_t *st, const char *prefix,
		       const char *why, char *err, size_t errlen)
{
	snprintf(err, errlen, "LIST s3://%s/%s: %s", st->conf.bucket, prefix,
		 why);
	return -EIO;
}

static int s3_list(void *state, const char *dir, const char *cursor,
		   sb_dirent_t *ents, size_t max, size_t *n, char *next_cursor,
		   char *err, size_t errlen)
{
	s3_state_t *st = state;
	int first = !*cursor, rc;
	size_t mk, skip, plen;
	char *token = NULL;
	s3_buf_t prefix;

	*n = 0;
	next_cursor[0] = '\0';
	s3_buf_init(&prefix);
	if (max == 0) {
		snprintf(err, errlen, "no room for entries");
		return -EINVAL;
	}
	rc = make_key(st, dir, &prefix, err, errlen);
	if (rc < 0)
		goto out;
	if (*dir)
		s3_buf_adds(&prefix, "/");
	if (!prefix.data)
		s3_buf_adds(&prefix, "");
	plen = prefix.len;
	if (parse_cursor(cursor, &mk, &skip, &token) < 0) {
		snprintf(err, errlen, "bad cursor");
		rc = -EINVAL;
		goto out;
	}
	for (;;) {
		s3_page_t page = {0};
		size_t i;

		if (skip == 0)
			mk = SL_MIN((size_t)S3_PAGE_MAX, max - *n);
		rc = list_page(st, prefix.data, 1, token, mk, &page, err,
			       errlen);
		if (rc < 0)
			goto out;
		if (first && page.n == 0 && !page.truncated && *dir) {
			s3_page_fini(&page);
			prefix.data[plen - 1] = '\0';
			rc = list_missing(st, prefix.data, err, errlen);
			goto out;
		}
		first = 0;
		for (i = SL_MIN(skip, page.n); i < page.n && *n < max; i++)
			if (fill_dirent(prefix.data, plen, &page.ents[i],
					&ents[*n]) == 0)
				++*n;
		if (i < page.n) {
			/* The page holds more than there was room for. */
			rc = snprintf(next_cursor, SB_CURSOR_MAX + 1,
				      "1:%zu:%zu:%s", mk, i,
				      token ? token : "");
		} else if (page.truncated && page.next_token &&
			   *page.next_token) {
			if (token && strcmp(token, page.next_token) == 0) {
				s3_page_fini(&page);
				rc = list_broken(st, prefix.data,
						 "the server repeated its "
						 "continuation token",
						 err, errlen);
				goto out;
			}
			free(token);
			token = page.next_token;
			page.next_token = NULL;
			skip = 0;
			rc = 0;
			if (*n == max)
				rc = snprintf(next_cursor, SB_CURSOR_MAX + 1,
					      "1:0:0:%s", token);
		} else {
			rc = 0;
			s3_page_fini(&page);
			break;
		}
		s3_page_fini(&page);
		if (rc > SB_CURSOR_MAX) {
			next_cursor[0] = '\0';
			rc = list_broken(st, prefix.data,
					 "the continuation token is too long "
					 "for a cursor",
					 err, errlen);
			goto out;
		}
		if (next_cursor[0])
			break;
	}
	rc = 0;
out:
	if (rc < 0)
		*n = 0;
	free(token);
	s3_buf_fini(&prefix);
	return rc;
}

const sb_ops_t sluice_backend_ops = {
	.abi_version = SB_ABI_VERSION,
	.ops_size = sizeof(sb_ops_t),
	.name = "s3",
	.open = s3_open,
	.close = s3_close,
	.stat = s3_stat,
	.list = s3_list,
	.read = s3_read,
};
