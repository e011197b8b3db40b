/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JSON of WebHDFS, read with jansson: FileStatus (GETFILESTATUS),
 * FileStatuses (LISTSTATUS), DirectoryListing (LISTSTATUS_BATCH) and
 * RemoteException (every error), and the file versions made from a
 * status.
 *
 * Strictness.  A reply is read as the specification's schema says, and
 * anything else is an error that names the field, never a guess: the
 * outer object and its member must be there with the right JSON types;
 * of a FileStatus, the fields the module uses must be present with their
 * types and in range (pathSuffix a string, type one of FILE, DIRECTORY,
 * SYMLINK, length and modificationTime non-negative integers, permission
 * an octal string of at most four digits, fileId, when present, a
 * positive integer); remainingEntries a non-negative integer.  Other
 * members are ignored, as the specification allows.  Duplicate keys are
 * refused, and jansson refuses invalid UTF-8 and "\u0000", so a name is
 * always a clean C string.  The size of a body is bounded by the caller
 * before it gets here.
 *
 * Versions.  HDFS has no ETag; a file's content is identified by its
 * modificationTime, its length and, where the namenode sends it, its
 * fileId (the inode number: a file replaced by a new one with the same
 * size and time still gets a new version).
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachenode/backends/webhdfs/webhdfs_i.h"
#include "common/util.h"

static json_t *load(const char *body, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *doc =
		json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);

	if (!doc)
		snprintf(err, errlen,
			 "the reply is not JSON (%.80s, line %d column %d)",
			 je.text, je.line, je.column);
	else if (!json_is_object(doc)) {
		snprintf(err, errlen, "the reply is not a JSON object");
		json_decref(doc);
		doc = NULL;
	}
	return doc;
}

/* obj[key] when it is an object; else NULL with a message. */
static json_t *member_object(json_t *obj, const char *key, char *err,
			     size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_object(v)) {
		snprintf(err, errlen, "%s is %s, not an object", key,
			 v ? "of another type" : "missing");
		return NULL;
	}
	return v;
}

/* A non-negative integer member; -1 when missing or not one. */
static int get_count(json_t *obj, const char *key, int64_t *out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (int64_t)json_integer_value(v);
	return 0;
}

static int parse_perm(json_t *v, uint32_t *out)
{
	const char *s = json_string_value(v);
	size_t n = s ? strlen(s) : 0;
	uint32_t p = 0;

	if (n < 1 || n > 4)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '7')
			return -1;
		p = p * 8 + (uint32_t)(s[i] - '0');
	}
	*out = p;
	return 0;
}

/* One FileStatus object into *s (name borrowed from obj).  0 or -EIO with
 * the field named; what is which entry is the caller's to add. */
static int parse_status(json_t *obj, wh_status_t *s, char *err, size_t errlen)
{
	const char *type, *bad = NULL;
	json_t *name, *id;
	int64_t length = 0;

	memset(s, 0, sizeof(*s));
	s->file_id = -1;
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "a FileStatus is not an object");
		return -EIO;
	}
	name = json_object_get(obj, "pathSuffix");
	type = json_string_value(json_object_get(obj, "type"));
	id = json_object_get(obj, "fileId");
	if (!json_is_string(name))
		bad = "pathSuffix";
	else if (!type)
		bad = "type";
	else if (get_count(obj, "length", &length) < 0)
		bad = "length";
	else if (get_count(obj, "modificationTime", &s->mtime_ms) < 0)
		bad = "modificationTime";
	else if (parse_perm(json_object_get(obj, "permission"), &s->perm) < 0)
		bad = "permission";
	else if (id && (!json_is_integer(id) || json_integer_value(id) <= 0))
		bad = "fileId";
	if (bad) {
		snprintf(err, errlen, "a FileStatus has no valid %s", bad);
		return -EIO;
	}
	if (strcmp(type, "FILE") == 0) {
		s->type = SB_TYPE_FILE;
	} else if (strcmp(type, "DIRECTORY") == 0) {
		s->type = SB_TYPE_DIR;
	} else if (strcmp(type, "SYMLINK") == 0) {
		s->type = WH_TYPE_SYMLINK;
	} else {
		char shown[32];

		wh_text_copy(shown, sizeof(shown), type, strlen(type));
		snprintf(err, errlen, "a FileStatus has type '%s'", shown);
		return -EIO;
	}
	if (id)
		s->file_id = (int64_t)json_integer_value(id);
	s->length = (uint64_t)length;
	s->name = json_string_value(name);
	s->name_len = json_string_length(name);
	return 0;
}

int wh_json_status(const char *body, size_t len, wh_status_t *s, char *err,
		   size_t errlen)
{
	json_t *doc = load(body, len, err, errlen), *fs;
	int rc = -EIO;

	if (!doc)
		return -EIO;
	fs = json_object_get(doc, "FileStatus");
	if (!fs)
		snprintf(err, errlen, "the reply has no FileStatus");
	else
		rc = parse_status(fs, s, err, errlen);
	s->name = NULL;
	s->name_len = 0;
	json_decref(doc);
	return rc;
}

int wh_json_listing(const char *body, size_t len, int batch, wh_listing_t *l,
		    char *err, size_t errlen)
{
	json_t *top, *arr;
	char why[SB_ERR_MAX];
	size_t i;

	memset(l, 0, sizeof(*l));
	l->doc = load(body, len, err, errlen);
	if (!l->doc)
		return -EIO;
	top = l->doc;
	if (batch) {
		top = member_object(top, "DirectoryListing", err, errlen);
		if (!top)
			return -EIO;
		if (get_count(top, "remainingEntries", &l->remaining) < 0) {
			snprintf(err, errlen,
				 "DirectoryListing has no valid "
				 "remainingEntries");
			return -EIO;
		}
		top = member_object(top, "partialListing", err, errlen);
		if (!top)
			return -EIO;
	}
	top = member_object(top, "FileStatuses", err, errlen);
	if (!top)
		return -EIO;
	arr = json_object_get(top, "FileStatus");
	if (!json_is_array(arr)) {
		snprintf(err, errlen, "FileStatuses has no FileStatus array");
		return -EIO;
	}
	l->n = json_array_size(arr);
	l->ents = sl_xcalloc(l->n ? l->n : 1, sizeof(*l->ents));
	for (i = 0; i < l->n; i++) {
		if (parse_status(json_array_get(arr, i), &l->ents[i], why,
				 sizeof(why)) < 0) {
			snprintf(err, errlen, "entry %zu: %s", i, why);
			return -EIO;
		}
	}
	return 0;
}

void wh_listing_fini(wh_listing_t *l)
{
	if (l->doc)
		json_decref(l->doc);
	free(l->ents);
	memset(l, 0, sizeof(*l));
}

/* Server text s into out[cap], secret blotted out before the cut. */
static void copy_blotted(char *out, size_t cap, const char *s,
			 const char *secret)
{
	char *whole = sl_xstrdup(s);

	wh_blot(whole, secret);
	wh_text_copy(out, cap, whole, strlen(whole));
	free(whole);
}

int wh_json_remote(const char *body, size_t len, const char *secret, char *exc,
		   size_t exclen, char *msg, size_t msglen)
{
	json_t *doc, *re;
	const char *e, *m;
	char ignored[SB_ERR_MAX];
	int rc = -1;

	exc[0] = msg[0] = '\0';
	doc = len ? load(body, len, ignored, sizeof(ignored)) : NULL;
	re = doc ? json_object_get(doc, "RemoteException") : NULL;
	if (!json_is_object(re))
		goto out;
	e = json_string_value(json_object_get(re, "exception"));
	if (!e || !*e) {
		/* "org.apache.hadoop.ipc.StandbyException" or
		 * "...SecretManager$InvalidToken": the last part. */
		const char *j =
			json_string_value(json_object_get(re, "javaClassName"));

		e = j ? j + strlen(j) : NULL;
		while (e && e > j && e[-1] != '.' && e[-1] != '$')
			e--;
	}
	if (!e || !*e)
		goto out;
	m = json_string_value(json_object_get(re, "message"));
	copy_blotted(exc, exclen, e, secret);
	if (m)
		copy_blotted(msg, msglen, m, secret);
	rc = 0;
out:
	if (doc)
		json_decref(doc);
	return rc;
}

void wh_version_make(const wh_status_t *s, char *out)
{
	if (s->file_id > 0)
		snprintf(out, SB_VERSION_MAX + 1,
			 "m%" PRId64 "-l%" PRIu64 "-i%" PRId64, s->mtime_ms,
			 s->length, s->file_id);
	else
		snprintf(out, SB_VERSION_MAX + 1, "m%" PRId64 "-l%" PRIu64,
			 s->mtime_ms, s->length);
}

/* Decimal digits at *p (at most 19, no sign, no space) into *v. */
static int take_digits(const char **p, uint64_t *v)
{
	const char *s = *p;
	size_t n = strspn(s, "0123456789");

	if (n == 0 || n > 19)
		return -1;
	*v = strtoull(s, NULL, 10);
	*p = s + n;
	return 0;
}

int wh_version_length(const char *v, uint64_t *len)
{
	uint64_t mtime, l, id;
	const char *p = v;

	if (*p != 'm')
		return -EINVAL;
	p++;
	if (take_digits(&p, &mtime) < 0 || strncmp(p, "-l", 2) != 0)
		return -EINVAL;
	p += 2;
	if (take_digits(&p, &l) < 0)
		return -EINVAL;
	if (*p) {
		if (strncmp(p, "-i", 2) != 0)
			return -EINVAL;
		p += 2;
		if (take_digits(&p, &id) < 0 || *p)
			return -EINVAL;
	}
	*len = l;
	return 0;
}

void wh_status_to_sb(const wh_status_t *s, sb_stat_t *out)
{
	memset(out, 0, sizeof(*out));
	/* The mount's users are not HDFS's: HDFS decided, with the dataset's
	 * identity, what may be read; here everything listed is readable. */
	if (s->type == SB_TYPE_DIR) {
		out->type = SB_TYPE_DIR;
		out->mode = 0555;
	} else {
		out->type = SB_TYPE_FILE;
		out->mode = 0444;
		out->size = s->length;
		wh_version_make(s, out->version);
	}
	out->mtime_ns = s->mtime_ms > INT64_MAX / 1000000
				? INT64_MAX
				: s->mtime_ms * 1000000;
}
