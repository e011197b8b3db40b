/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The webhdfs backend: a dataset is a directory of HDFS reached through
 * the WebHDFS REST API, `uri = webhdfs://NAMENODE:PORT/PATH`
 * (swebhdfs:// for HTTPS).  Built as sluice_backend_webhdfs.so from this
 * folder.
 *
 * The namespace.  stat is GETFILESTATUS; list is LISTSTATUS_BATCH, page
 * by page, or LISTSTATUS where the server does not know the batch form
 * (Hadoop before 2.8), and every entry carries its status, so no
 * GETFILESTATUS is needed per entry.  Files are mode 0444, directories
 * 0555: HDFS checks the dataset's identity (user, token or Kerberos) for
 * every request, and the mount's users are not HDFS's.  Symlinks and
 * names the mount cannot hold (control bytes, over 255 bytes) are left
 * out of listings.
 *
 * Reads.  A read is one OPEN with offset and length, which the namenode
 * answers with a 307 to a datanode that sends the bytes.  A version is
 * "m<modificationTime>-l<length>[-i<fileId>]" (json.c), and the length it
 * records bounds the read: at or past it a read returns 0 without a
 * request, below it exactly min(len, length - offset) bytes are asked
 * for, and the datanode must send exactly that many.  WebHDFS has no
 * conditional OPEN, so, unless `verify_reads = no`, a GETFILESTATUS after
 * the bytes arrived checks the version is still the file's: a file
 * rewritten between the caller's stat and the read gives -ESTALE (and the
 * node stats again, with new block keys), never a block of the new bytes
 * filed under the old version.  The same check tells a short reply of a
 * changed file (-ESTALE) from a datanode that sent too little (-EIO).
 *
 * Listing pages.  A cursor is "1:NAME", NAME the last entry returned;
 * the next page asks for the entries after it (LISTSTATUS_BATCH's
 * startAfter, or the same cut of a whole LISTSTATUS).  A server page is
 * used in full when there is room; with less room the rest is asked for
 * again by the next call.  HDFS sorts a directory by signed bytes
 * (wh_name_cmp), and every page must be strictly in that order and after
 * startAfter, or the listing is refused (-EIO): a server that ignores
 * startAfter would otherwise page forever.
 *
 * Thread safety: after open, stat, list and read run concurrently; the
 * state is read-only but for the handle pool, the namenode that answered
 * last and the LISTSTATUS_BATCH flag (http.c, atomics).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachenode/backends/webhdfs/webhdfs_i.h"
#include "common/util.h"

/* Every message that leaves the module passes here. */
static int finish(const wh_state_t *st, int rc, char *err)
{
	if (rc < 0)
		wh_scrub(&st->conf, err);
	return rc;
}

/* GETFILESTATUS of path (checked) into *s.  0 or -errno. */
static int get_status(wh_state_t *st, const char *path, wh_status_t *s,
		      char *err, size_t errlen)
{
	wh_req_t q = {
		.op = "GETFILESTATUS", .path = path, .body_max = WH_STATUS_MAX};
	wh_resp_t r = {0};
	char why[SB_ERR_MAX];
	int rc = wh_http_call(st, &q, &r, err, errlen);

	if (rc == 0 && wh_json_status(r.body, r.len, s, why, sizeof(why)) < 0) {
		char *hp = wh_hdfs_path(&st->conf, path);

		snprintf(err, errlen, "GETFILESTATUS %s: %s", hp, why);
		free(hp);
		rc = -EIO;
	}
	wh_resp_fini(&r);
	return rc;
}

/* ---- open / close ---------------------------------------------------- */

static void wh_close(void *state)
{
	wh_state_t *st = state;

	if (!st)
		return;
	wh_http_fini(st);
	wh_conf_fini(&st->conf);
	free(st);
}

static int wh_open(const sb_dataset_t *ds, void **state, char *err,
		   size_t errlen)
{
	wh_state_t *st = sl_xcalloc(1, sizeof(*st));
	int rc = wh_conf_load(&st->conf, ds, err, errlen);

	/* A failed load leaves the conf finalised: close is safe either
	 * way. */
	if (rc == 0)
		rc = wh_http_init(st, err, errlen);
	if (rc < 0) {
		wh_close(st);
		return rc;
	}
	*state = st;
	return 0;
}

/* ---- stat ------------------------------------------------------------ */

static int wh_stat(void *state, const char *path, sb_stat_t *out, char *err,
		   size_t errlen)
{
	wh_state_t *st = state;
	wh_status_t s;
	int rc = wh_path_check(path, err, errlen);

	if (rc == 0)
		rc = get_status(st, path, &s, err, errlen);
	if (rc == 0 && s.type == WH_TYPE_SYMLINK) {
		snprintf(err, errlen,
			 "%s is a symlink, which the mount does "
			 "not show",
			 *path ? path : "the dataset root");
		rc = -ENOENT;
	} else if (rc == 0 && !*path && s.type != SB_TYPE_DIR) {
		snprintf(err, errlen, "the dataset root %s is a file",
			 st->conf.root);
		rc = -ENOTDIR;
	} else if (rc == 0) {
		wh_status_to_sb(&s, out);
	}
	return finish(st, rc, err);
}

/* ---- read ------------------------------------------------------------ */

/*
 * Is the file at path still of version ver?  0, -ESTALE with a message
 * (changed or gone), or the -errno of the GETFILESTATUS.
 */
static int check_version(wh_state_t *st, const char *path, const char *ver,
			 char *err, size_t errlen)
{
	char now[SB_VERSION_MAX + 1];
	wh_status_t s;
	int rc = get_status(st, path, &s, err, errlen);

	if (rc == -ENOENT) {
		snprintf(err, errlen, "%s is gone: the version read was %s",
			 path, ver);
		return -ESTALE;
	}
	if (rc < 0)
		return rc;
	wh_version_make(&s, now);
	if (s.type != SB_TYPE_FILE || strcmp(now, ver) != 0) {
		snprintf(err, errlen,
			 "%s changed: its version is now %s, the version read "
			 "was %s",
			 path, s.type == SB_TYPE_FILE ? now : "(not a file)",
			 ver);
		return -ESTALE;
	}
	return 0;
}

static ssize_t wh_read(void *state, const char *path, const char *version,
		       uint64_t offset, void *buf, size_t len, char *err,
		       size_t errlen)
{
	wh_state_t *st = state;
	char ver[SB_VERSION_MAX + 1], off_s[24], len_s[24];
	wh_qparam_t qp[2] = {{"offset", off_s}, {"length", len_s}};
	wh_req_t q = {.op = "OPEN", .path = path, .qp = qp, .nqp = 2};
	wh_resp_t r = {0};
	uint64_t flen;
	size_t want;
	int rc = wh_path_check(path, err, errlen);

	if (rc < 0)
		return finish(st, rc, err);
	if (!*path) {
		snprintf(err, errlen, "the dataset root is a directory");
		return -EISDIR;
	}
	if (version && *version) {
		snprintf(ver, sizeof(ver), "%s", version);
	} else {
		/* No version to go by: the file's own, now. */
		wh_status_t s;

		rc = get_status(st, path, &s, err, errlen);
		if (rc == 0 && s.type != SB_TYPE_FILE) {
			snprintf(err, errlen, "%s is not a file", path);
			rc = -EISDIR;
		}
		if (rc < 0)
			return finish(st, rc, err);
		wh_version_make(&s, ver);
	}
	if (wh_version_length(ver, &flen) < 0) {
		/* Not a version this module made: not this file's. */
		char shown[65];

		wh_text_copy(shown, sizeof(shown), ver, strlen(ver));
		snprintf(err, errlen, "%s: '%s' is not a webhdfs version", path,
			 shown);
		return -ESTALE;
	}
	if (len == 0 || offset >= flen)
		return 0;
	want = (size_t)SL_MIN((uint64_t)len, flen - offset);
	snprintf(off_s, sizeof(off_s), "%" PRIu64, offset);
	snprintf(len_s, sizeof(len_s), "%zu", want);
	q.sink = buf;
	q.sink_len = want;
	rc = wh_http_call(st, &q, &r, err, errlen);
	if (rc < 0)
		return finish(st, rc, err);
	if (r.sunk != want || st->conf.verify_reads) {
		rc = check_version(st, path, ver, err, errlen);
		if (rc == 0 && r.sunk != want) {
			char *hp = wh_hdfs_path(&st->conf, path);

			snprintf(err, errlen,
				 "OPEN %s: the datanode sent %zu of the %zu "
				 "bytes at offset %" PRIu64
				 ", of a file that still has %" PRIu64,
				 hp, r.sunk, want, offset, flen);
			free(hp);
			rc = -EIO;
		}
		if (rc < 0)
			return finish(st, rc, err);
	}
	return (ssize_t)want;
}

/* ---- list ------------------------------------------------------------ */

/* One server page of dir after `after` (NULL: from the start) into *l,
 * by LISTSTATUS_BATCH or, where the server lacks it, LISTSTATUS (whose
 * entries up to `after` are dropped here).  0 or -errno. */
static int fetch_page(wh_state_t *st, const char *dir, const char *after,
		      wh_listing_t *l, char *err, size_t errlen)
{
	wh_qparam_t qp = {"startAfter", after};
	wh_req_t q = {.path = dir, .body_max = WH_LISTING_MAX};
	wh_resp_t r = {0};
	char why[SB_ERR_MAX];
	int batch = !atomic_load(&st->no_batch), rc;

	memset(l, 0, sizeof(*l));
	if (batch) {
		q.op = "LISTSTATUS_BATCH";
		q.qp = after ? &qp : NULL;
		q.nqp = after ? 1 : 0;
		rc = wh_http_call(st, &q, &r, err, errlen);
		if (rc != -EOPNOTSUPP)
			goto parse;
		atomic_store(&st->no_batch, 1);
		wh_log(SL_LOG_NOTICE,
		       "webhdfs [dataset %s]: the server lacks "
		       "LISTSTATUS_BATCH; listing whole directories with "
		       "LISTSTATUS",
		       st->conf.name);
		batch = 0;
	}
	q.op = "LISTSTATUS";
	q.qp = NULL;
	q.nqp = 0;
	rc = wh_http_call(st, &q, &r, err, errlen);
parse:
	if (rc == 0 &&
	    wh_json_listing(r.body, r.len, batch, l, why, sizeof(why)) < 0) {
		char *hp = wh_hdfs_path(&st->conf, dir);

		snprintf(err, errlen, "%s %s: %s", q.op, hp, why);
		free(hp);
		rc = -EIO;
	}
	wh_resp_fini(&r);
	if (rc == 0 && !batch && after) {
		/* The whole directory came: drop what was listed before. */
		size_t k = 0;

		while (k < l->n &&
		       wh_name_cmp(l->ents[k].name, l->ents[k].name_len, after,
				   strlen(after)) <= 0)
			k++;
		memmove(l->ents, l->ents + k, (l->n - k) * sizeof(*l->ents));
		l->n -= k;
	}
	return rc;
}

/* The page's order: strictly increasing, after `after`.  0 or -EIO. */
static int check_order(const wh_state_t *st, const char *dir, const char *after,
		       const wh_listing_t *l, char *err, size_t errlen)
{
	for (size_t i = 0; i < l->n; i++) {
		const wh_status_t *e = &l->ents[i];
		const char *prev = i ? l->ents[i - 1].name : after;
		size_t pn = i ? l->ents[i - 1].name_len
			      : (after ? strlen(after) : 0);

		if ((prev || i) &&
		    wh_name_cmp(prev, pn, e->name, e->name_len) >= 0) {
			char *hp = wh_hdfs_path(&st->conf, dir);

			snprintf(err, errlen,
				 "listing %s: entry %zu is out of order (a "
				 "server that ignores startAfter?)",
				 hp, i);
			free(hp);
			return -EIO;
		}
	}
	return 0;
}

/* dir's first page is one entry without a name: dir is a file, which is
 * what HDFS answers for the listing of a file. */
static int is_file_listing(const wh_listing_t *l)
{
	return l->n == 1 && l->ents[0].name_len == 0 &&
	       l->ents[0].type == SB_TYPE_FILE;
}

static int parse_cursor(const char *cursor, const char **after)
{
	*after = NULL;
	if (!*cursor)
		return 0;
	if (strncmp(cursor, "1:", 2) != 0 ||
	    !wh_name_ok(cursor + 2, strlen(cursor + 2)))
		return -EINVAL;
	*after = cursor + 2;
	return 0;
}

static int wh_list(void *state, const char *dir, const char *cursor,
		   sb_dirent_t *ents, size_t max, size_t *n, char *next_cursor,
		   char *err, size_t errlen)
{
	wh_state_t *st = state;
	char *own = NULL; /* where the next server page starts, if not the
			   * cursor's name */
	const char *after;
	int first = !*cursor, rc;

	*n = 0;
	next_cursor[0] = '\0';
	if (max == 0) {
		snprintf(err, errlen, "no room for entries");
		return -EINVAL;
	}
	rc = wh_path_check(dir, err, errlen);
	if (rc < 0)
		return finish(st, rc, err);
	if (parse_cursor(cursor, &after) < 0) {
		snprintf(err, errlen, "bad cursor");
		return -EINVAL;
	}
	for (;;) {
		wh_listing_t l;
		size_t i;

		rc = fetch_page(st, dir, after, &l, err, errlen);
		if (rc == 0 && first && is_file_listing(&l)) {
			snprintf(err, errlen, "%s is a file, not a directory",
				 *dir ? dir : "the dataset root");
			rc = -ENOTDIR;
		}
		if (rc == 0)
			rc = check_order(st, dir, after, &l, err, errlen);
		if (rc == 0 && l.n == 0 && l.remaining > 0) {
			snprintf(err, errlen,
				 "listing %s: an empty page, yet %" PRId64
				 " entries remain",
				 dir, l.remaining);
			rc = -EIO;
		}
		first = 0;
		for (i = 0; rc == 0 && i < l.n && *n < max; i++) {
			const wh_status_t *e = &l.ents[i];
			sb_dirent_t *d = &ents[*n];

			if (e->type == WH_TYPE_SYMLINK ||
			    !wh_name_ok(e->name, e->name_len))
				continue;
			memcpy(d->name, e->name, e->name_len);
			d->name[e->name_len] = '\0';
			wh_status_to_sb(e, &d->st);
			++*n;
		}
		if (rc == 0 && (i < l.n || (*n == max && l.remaining > 0))) {
			/* Full: the next call starts after the last entry
			 * returned (a name that fits, being one). */
			snprintf(next_cursor, SB_CURSOR_MAX + 1, "1:%s",
				 ents[*n - 1].name);
		} else if (rc == 0 && l.remaining > 0) {
			/* Room left and more pages: after this page's last
			 * entry, kept or not. */
			free(own);
			own = sl_xstrndup(l.ents[l.n - 1].name,
					  l.ents[l.n - 1].name_len);
			after = own;
			wh_listing_fini(&l);
			continue;
		}
		wh_listing_fini(&l);
		break;
	}
	free(own);
	if (rc < 0) {
		*n = 0;
		next_cursor[0] = '\0';
	}
	return finish(st, rc, err);
}

const sb_ops_t sluice_backend_ops = {
	.abi_version = SB_ABI_VERSION,
	.ops_size = sizeof(sb_ops_t),
	.name = "webhdfs",
	.open = wh_open,
	.close = wh_close,
	.stat = wh_stat,
	.list = wh_list,
	.read = wh_read,
};
