/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The two XML documents the s3 module reads, parsed with expat (a real XML
 * parser: entities, CDATA and character references come out right, and
 * expat's own limits stop entity-expansion bombs): a ListObjectsV2 result
 * (keys with Size, LastModified and ETag; common prefixes; IsTruncated;
 * NextContinuationToken; EncodingType) and an <Error> (Code, Message).
 *
 * Element names are matched by their path from the root, without
 * namespace processing: S3 puts everything in one default namespace.  Key
 * and prefix names are URL-decoded ('+' as a space, as botocore does) only
 * when the document says <EncodingType>url</EncodingType>, so a server that
 * ignores encoding-type=url still gives the right names.
 */
#include <errno.h>
#include <expat.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cachenode/backends/s3/s3_i.h"
#include "common/util.h"

#define DEPTH_MAX 8
#define NAME_MAX_ 32
#define TEXT_MAX  (64u << 10)

typedef struct xml_ctx {
	char path[DEPTH_MAX][NAME_MAX_]; /* element names from the root */
	int depth;			 /* may exceed DEPTH_MAX */
	s3_buf_t text;			 /* of the innermost element */
	int overflow;
	char root[NAME_MAX_]; /* the document element */
	/* ListObjectsV2 */
	s3_page_t *page;
	size_t cap;
	s3_entry_t cur; /* the Contents being read */
	int url_encoded;
	/* Error */
	char *code, *msg;
	size_t codelen, msglen;
} xml_ctx_t;

/* The element path is exactly the given names, from the root. */
static int at(const xml_ctx_t *x, int depth, const char *a, const char *b,
	      const char *c)
{
	const char *want[3] = {a, b, c};

	if (x->depth != depth || depth > 3)
		return 0;
	for (int i = 0; i < depth; i++)
		if (strcmp(x->path[i], want[i]) != 0)
			return 0;
	return 1;
}

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	xml_ctx_t *x = ud;

	(void)attrs;
	if (x->depth == 0)
		snprintf(x->root, sizeof(x->root), "%s", name);
	if (x->depth < DEPTH_MAX)
		snprintf(x->path[x->depth], NAME_MAX_, "%s", name);
	x->depth++;
	x->text.len = 0;
	if (x->text.data)
		x->text.data[0] = '\0';
	if (x->page && at(x, 2, "ListBucketResult", "Contents", NULL)) {
		memset(&x->cur, 0, sizeof(x->cur));
		x->cur.mtime_ns = 0;
	}
}

static void on_text(void *ud, const XML_Char *s, int len)
{
	xml_ctx_t *x = ud;

	if (x->text.len + (size_t)len > TEXT_MAX) {
		x->overflow = 1;
		return;
	}
	s3_buf_add(&x->text, s, (size_t)len);
}

static void push_entry(xml_ctx_t *x, const s3_entry_t *e)
{
	s3_page_t *p = x->page;

	if (p->n == x->cap) {
		x->cap = x->cap ? 2 * x->cap : 64;
		p->ents = sl_xrealloc(p->ents, x->cap * sizeof(*p->ents));
	}
	p->ents[p->n++] = *e;
}

static char *take_text(xml_ctx_t *x)
{
	return sl_xstrdup(x->text.data ? x->text.data : "");
}

static void on_end_list(xml_ctx_t *x)
{
	const char *t = x->text.data ? x->text.data : "";
	s3_page_t *p = x->page;

	if (at(x, 2, "ListBucketResult", "IsTruncated", NULL)) {
		p->truncated = strcmp(t, "true") == 0;
	} else if (at(x, 2, "ListBucketResult", "NextContinuationToken",
		      NULL)) {
		free(p->next_token);
		p->next_token = take_text(x);
	} else if (at(x, 2, "ListBucketResult", "EncodingType", NULL)) {
		x->url_encoded = strcmp(t, "url") == 0;
	} else if (at(x, 3, "ListBucketResult", "Contents", "Key")) {
		free(x->cur.name);
		x->cur.name = take_text(x);
	} else if (at(x, 3, "ListBucketResult", "Contents", "Size")) {
		x->cur.size = strtoull(t, NULL, 10);
	} else if (at(x, 3, "ListBucketResult", "Contents", "LastModified")) {
		int64_t ns = s3_parse_iso8601(t);

		x->cur.mtime_ns = ns < 0 ? 0 : ns;
	} else if (at(x, 3, "ListBucketResult", "Contents", "ETag")) {
		size_t n = strlen(t);

		free(x->cur.etag);
		if (n >= 2 && t[0] == '"' && t[n - 1] == '"')
			x->cur.etag = sl_xstrndup(t + 1, n - 2);
		else
			x->cur.etag = sl_xstrdup(t);
	} else if (at(x, 2, "ListBucketResult", "Contents", NULL)) {
		if (x->cur.name)
			push_entry(x, &x->cur);
		else
			free(x->cur.etag);
		memset(&x->cur, 0, sizeof(x->cur));
	} else if (at(x, 3, "ListBucketResult", "CommonPrefixes", "Prefix")) {
		s3_entry_t e = {0};

		e.name = take_text(x);
		e.is_prefix = 1;
		push_entry(x, &e);
	}
}

static void on_end(void *ud, const XML_Char *name)
{
	xml_ctx_t *x = ud;
	const char *t = x->text.data ? x->text.data : "";

	(void)name;
	if (x->page)
		on_end_list(x);
	else if (at(x, 2, "Error", "Code", NULL))
		snprintf(x->code, x->codelen, "%s", t);
	else if (at(x, 2, "Error", "Message", NULL))
		snprintf(x->msg, x->msglen, "%s", t);
	x->depth--;
	x->text.len = 0;
	if (x->text.data)
		x->text.data[0] = '\0';
}

/* Returns 0, or -EIO with expat's reason in err. */
static int run(xml_ctx_t *x, const char *xml, size_t len, char *err,
	       size_t errlen)
{
	XML_Parser p = XML_ParserCreate("UTF-8");
	int rc = 0;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	XML_SetUserData(p, x);
	XML_SetElementHandler(p, on_start, on_end);
	XML_SetCharacterDataHandler(p, on_text);
	if (len > INT32_MAX ||
	    XML_Parse(p, xml, (int)len, 1) == XML_STATUS_ERROR) {
		snprintf(err, errlen,
			 "malformed XML from the server: %s at "
			 "line %lu",
			 XML_ErrorString(XML_GetErrorCode(p)),
			 (unsigned long)XML_GetCurrentLineNumber(p));
		rc = -EIO;
	} else if (x->overflow) {
		snprintf(err, errlen, "XML element too long");
		rc = -EIO;
	}
	XML_ParserFree(p);
	s3_buf_fini(&x->text);
	return rc;
}

static int entry_cmp(const void *a, const void *b)
{
	const s3_entry_t *x = a, *y = b;

	/* strcmp compares as unsigned char: S3's byte order of UTF-8. */
	return strcmp(x->name, y->name);
}

int s3_xml_parse_list(const char *xml, size_t len, s3_page_t *page, char *err,
		      size_t errlen)
{
	xml_ctx_t x;
	int rc;

	memset(&x, 0, sizeof(x));
	x.page = page;
	rc = run(&x, xml, len, err, errlen);
	free(x.cur.name);
	free(x.cur.etag);
	if (rc < 0)
		goto fail;
	if (strcmp(x.root, "ListBucketResult") != 0) {
		snprintf(err, errlen, "the server's reply is not a listing");
		rc = -EIO;
		goto fail;
	}
	for (size_t i = 0; x.url_encoded && i < page->n; i++) {
		char *d = s3_uri_decode(page->ents[i].name, 1);

		if (!d) {
			snprintf(err, errlen,
				 "malformed URL encoding in a listed name");
			rc = -EIO;
			goto fail;
		}
		free(page->ents[i].name);
		page->ents[i].name = d;
	}
	if (page->n)
		qsort(page->ents, page->n, sizeof(*page->ents), entry_cmp);
	return 0;
fail:
	s3_page_fini(page);
	return rc;
}

void s3_page_fini(s3_page_t *page)
{
	for (size_t i = 0; i < page->n; i++) {
		free(page->ents[i].name);
		free(page->ents[i].etag);
	}
	free(page->ents);
	free(page->next_token);
	memset(page, 0, sizeof(*page));
}

void s3_xml_parse_error(const char *xml, size_t len, char *code, size_t codelen,
			char *msg, size_t msglen)
{
	xml_ctx_t x;
	char err[128];

	code[0] = '\0';
	msg[0] = '\0';
	if (!xml || !len)
		return;
	memset(&x, 0, sizeof(x));
	x.code = code;
	x.codelen = codelen;
	x.msg = msg;
	x.msglen = msglen;
	if (run(&x, xml, len, err, sizeof(err)) < 0) {
		code[0] = '\0';
		msg[0] = '\0';
	}
}

int64_t s3_parse_iso8601(const char *s)
{
	struct tm tm = {0};
	int y, mo, d, h, mi, sec, n = 0;
	int64_t frac = 0, scale = 1000000000;
	time_t t;

	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
		   &n) != 6 ||
	    n != 19)
		return -1;
	s += n;
	if (*s == '.') {
		for (s++; *s >= '0' && *s <= '9'; s++) {
			if (scale > 1) {
				scale /= 10;
				frac += (*s - '0') * scale;
			}
		}
	}
	if (strcmp(s, "Z") != 0 && strcmp(s, "+00:00") != 0)
		return -1;
	/* %2d takes a sign too: "-1" is no hour. */
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || sec < 0 || sec > 60)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	/* Nanoseconds in an int64_t end in 2262 (fuzz_s3xml found year
	 * 6826 overflowing); before 1970 is no object's time either. */
	if (t < 0 || t > INT64_MAX / 1000000000 - 1)
		return -1;
	return (int64_t)t * 1000000000 + frac;
}
