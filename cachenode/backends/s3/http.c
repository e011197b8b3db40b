/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP for the s3 module: libcurl easy handles kept in a per-dataset pool,
 * SigV4 signing by curl (CURLOPT_AWS_SIGV4), one request run with its
 * retries, and the mapping of S3's answers to negative errno values with a
 * message that carries S3's error code.
 *
 * Connections.  Worker threads call stat, list and read concurrently.  A
 * curl easy handle may be used by one thread at a time, and it keeps its
 * connections open between requests, so each call takes an idle handle
 * from the dataset's pool (or makes one), runs its request and gives the
 * handle back: as many requests are in flight as there are workers, and
 * each reuses a warm connection.  The pool and its shared DNS and TLS
 * session caches are common/curlkit's, as the webhdfs module's are.
 *
 * Signing.  curl signs with the dataset's key ("aws:amz:REGION:s3"); the
 * URL it is given is already canonical (url.c).  x-amz-content-sha256 is
 * sent, and signed, as the SHA-256 of the empty body: S3 requires the
 * header and curl 7.88 does not add it.  A session token travels as
 * x-amz-security-token, which curl signs with every header it is given.
 * The key, secret and token are handed to curl and never written into a
 * message.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cachenode/backends/s3/s3_i.h"
#include "common/curlkit.h"
#include "common/hostlog.h"
#include "common/log.h"
#include "common/path.h"
#include "common/util.h"

/* SHA-256 of nothing: the payload hash of every GET and HEAD. */
#define EMPTY_SHA256                                                           \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

#define POOL_IDLE_MAX 64 /* idle handles kept; more workers open more */

/* One attempt's bookkeeping: the callbacks' user data. */
typedef struct xfer {
	const s3_req_t *req;
	s3_resp_t *resp;
	uint64_t seen; /* body bytes of a 2xx reply so far */
	int overflow;  /* more body than there may be */
	int done;      /* a 200 to a ranged GET: stopped once we had it */
	int bad_range; /* a 206 for other bytes than asked */
} xfer_t;

/* At most one retry line a second, from all threads together. */
static sl_hostlog_t retry_log;

static void setup_handle(CURL *e, void *arg)
{
	const s3_state_t *st = arg;
	const s3_conf_t *c = &st->conf;

	if (c->ca_bundle)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_bundle);
	if (!c->anonymous) {
		curl_easy_setopt(e, CURLOPT_AWS_SIGV4, st->sigv4);
		curl_easy_setopt(e, CURLOPT_USERNAME, c->cred.key_id);
		curl_easy_setopt(e, CURLOPT_PASSWORD, c->cred.secret);
	}
}

int s3_state_init_http(s3_state_t *st, char *err, size_t errlen)
{
	const s3_conf_t *c = &st->conf;
	s3_buf_t b;

	/* The bucket's URL: path-style puts the bucket in the path,
	 * virtual-hosted style in front of the host name. */
	s3_buf_init(&b);
	if (c->path_style) {
		s3_buf_adds(&b, c->endpoint);
		s3_buf_adds(&b, "/");
		s3_uri_encode(&b, c->bucket, strlen(c->bucket), 0);
	} else {
		const char *host = strstr(c->endpoint, "://") + 3;

		s3_buf_add(&b, c->endpoint, (size_t)(host - c->endpoint));
		s3_buf_adds(&b, c->bucket);
		s3_buf_adds(&b, ".");
		s3_buf_adds(&b, host);
	}
	st->base = s3_buf_release(&b);
	s3_buf_adds(&b, "aws:amz:");
	s3_buf_adds(&b, c->region);
	s3_buf_adds(&b, ":s3");
	st->sigv4 = s3_buf_release(&b);

	st->pool = sl_curlpool_new(POOL_IDLE_MAX, "s3", setup_handle, st, err,
				   errlen);
	return st->pool ? 0 : -ENOMEM;
}

void s3_state_fini_http(s3_state_t *st)
{
	sl_curlpool_destroy(&st->pool);
	free(st->base);
	free(st->sigv4);
	st->base = st->sigv4 = NULL;
}

/* ---- callbacks ------------------------------------------------------- */

void s3_resp_init(s3_resp_t *r)
{
	memset(r, 0, sizeof(*r));
	r->mtime_ns = -1;
	r->length = -1;
	r->range_start = -1;
	r->total = -1;
}

void s3_resp_fini(s3_resp_t *r)
{
	s3_buf_fini(&r->body);
}

/* Forget one response's headers and body: a new one (a retry, or the
 * final reply after an interim 1xx) starts. */
static void resp_reset(s3_resp_t *r)
{
	s3_buf_t body = r->body;

	s3_resp_init(r);
	body.len = 0;
	if (body.data)
		body.data[0] = '\0';
	r->body = body;
}

static int header_is(const char *line, size_t n, const char *name,
		     const char **val, size_t *vlen)
{
	size_t k = strlen(name);

	if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return 0;
	line += k + 1;
	n -= k + 1;
	while (n && (*line == ' ' || *line == '\t')) {
		line++;
		n--;
	}
	while (n && (line[n - 1] == '\r' || line[n - 1] == '\n' ||
		     line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	*val = line;
	*vlen = n;
	return 1;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
	xfer_t *x = ud;
	s3_resp_t *r = x->resp;
	size_t n = size * nitems, vlen;
	const char *v;
	char tmp[128];

	if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		const char *sp = memchr(buf, ' ', n);

		resp_reset(r);
		x->seen = 0;
		r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
		return n;
	}
	if (header_is(buf, n, "ETag", &v, &vlen)) {
		if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
			v++;
			vlen -= 2;
		}
		/* An ETag becomes a version, which goes back into If-Match
		 * headers: one that could break out of them is unusable. */
		r->etag_bad =
			vlen > SB_VERSION_MAX || sl_version_check(v, vlen) < 0;
		if (!r->etag_bad) {
			memcpy(r->etag, v, vlen);
			r->etag[vlen] = '\0';
		}
	} else if (header_is(buf, n, "Last-Modified", &v, &vlen) &&
		   vlen < sizeof(tmp)) {
		time_t t;

		memcpy(tmp, v, vlen);
		tmp[vlen] = '\0';
		t = curl_getdate(tmp, NULL);
		r->mtime_ns = t < 0 ? -1 : (int64_t)t * 1000000000;
	} else if (header_is(buf, n, "Content-Length", &v, &vlen) &&
		   vlen < sizeof(tmp)) {
		memcpy(tmp, v, vlen);
		tmp[vlen] = '\0';
		r->length = strtoll(tmp, NULL, 10);
	} else if (header_is(buf, n, "Content-Range", &v, &vlen) &&
		   vlen < sizeof(tmp)) {
		long long a, b, t;

		memcpy(tmp, v, vlen);
		tmp[vlen] = '\0';
		if (sscanf(tmp, "bytes %lld-%lld/%lld", &a, &b, &t) == 3) {
			r->range_start = a;
			r->total = t;
		} else if (sscanf(tmp, "bytes */%lld", &t) == 1) {
			r->total = t;
		}
	} else if (header_is(buf, n, "x-amz-bucket-region", &v, &vlen) &&
		   vlen < sizeof(r->region)) {
		memcpy(r->region, v, vlen);
		r->region[vlen] = '\0';
	}
	return n;
}

/*
 * The body.  A 2xx reply to a ranged read goes straight into the caller's
 * buffer; a server that ignored Range (200, the whole object) has the
 * bytes before the range dropped and the transfer stopped once the range
 * is complete.  Anything else is kept in resp->body within its bound: an
 * error document is cut short, a listing that is too long fails.
 */
static size_t on_body(char *buf, size_t size, size_t nitems, void *ud)
{
	xfer_t *x = ud;
	const s3_req_t *q = x->req;
	s3_resp_t *r = x->resp;
	size_t n = size * nitems;
	int ok = r->status >= 200 && r->status < 300;

	if (ok && q->sink) {
		uint64_t start = r->status == 206 ? q->range_off : 0;
		uint64_t lo = x->seen + start, hi = lo + n; /* object bytes */
		uint64_t want_lo = q->range_off;
		uint64_t want_hi = q->range_off + q->range_len;

		if (r->status == 206 && r->range_start >= 0 &&
		    (uint64_t)r->range_start != q->range_off) {
			x->bad_range = 1;
			return 0;
		}
		x->seen += n;
		if (hi > want_lo && lo < want_hi) {
			uint64_t a = SL_MAX(lo, want_lo);
			uint64_t b = SL_MIN(hi, want_hi);

			memcpy(q->sink + (a - want_lo), buf + (a - lo),
			       (size_t)(b - a));
			r->sunk = (size_t)(b - want_lo);
		}
		if (hi > want_hi) {
			if (r->status == 206) {
				x->overflow = 1; /* more than Range asked */
				return 0;
			}
			x->done = 1;
			return 0;
		}
		return n;
	}
	if (ok) {
		if (r->body.len + n > q->body_max) {
			x->overflow = 1;
			return 0;
		}
		s3_buf_add(&r->body, buf, n);
		return n;
	}
	if (r->body.len < S3_ERRBODY_MAX)
		s3_buf_add(&r->body, buf,
			   SL_MIN(n, S3_ERRBODY_MAX - r->body.len));
	return n;
}

/* ---- one request, with retries --------------------------------------- */

static int transient_status(long status, const char *code)
{
	return status == 500 || status == 502 || status == 503 ||
	       status == 504 || status == 429 ||
	       (status == 400 && strcmp(code, "RequestTimeout") == 0);
}

/* Set up h for one attempt of q with the ms left of the call. */
static struct curl_slist *prepare(s3_state_t *st, sl_curl_handle_t *h,
				  const s3_req_t *q, xfer_t *x, uint64_t left)
{
	const s3_conf_t *c = &st->conf;
	struct curl_slist *hl = NULL;
	char line[SB_VERSION_MAX + 64];
	CURL *e = h->curl;
	long stall = (long)SL_MAX(1, c->http.timeout_ms / 3000);

	hl = curl_slist_append(hl, "x-amz-content-sha256: " EMPTY_SHA256);
	if (q->range_len) {
		snprintf(line, sizeof(line),
			 "Range: bytes=%" PRIu64 "-%" PRIu64, q->range_off,
			 q->range_off + q->range_len - 1);
		hl = curl_slist_append(hl, line);
	}
	if (q->if_match) {
		/* s3_read checked it; a header is no place to trust that. */
		SL_ASSERT(sl_version_check(q->if_match, strlen(q->if_match)) ==
			  0);
		snprintf(line, sizeof(line), "If-Match: \"%s\"", q->if_match);
		hl = curl_slist_append(hl, line);
	}
	if (!c->anonymous && c->cred.token) {
		s3_buf_t t;

		s3_buf_init(&t);
		s3_buf_adds(&t, "x-amz-security-token: ");
		s3_buf_adds(&t, c->cred.token);
		hl = curl_slist_append(hl, t.data);
		explicit_bzero(t.data, t.len);
		s3_buf_fini(&t);
	}
	h->errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, q->url);
	if (q->head)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else
		curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)SL_MAX(1, left));
	curl_easy_setopt(
		e, CURLOPT_CONNECTTIMEOUT_MS,
		(long)SL_MAX(1, SL_MIN(left, c->http.connect_timeout_ms)));
	/* A transfer that stalls is cut (and retried) before the call's
	 * whole budget is gone. */
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, stall);
	return hl;
}

/* The error line for a final HTTP status; returns -errno. */
static int status_error(const s3_state_t *st, const s3_req_t *q, s3_resp_t *r,
			const char *code, const char *msg, const char *tail,
			char *err, size_t errlen)
{
	long s = r->status;
	const char *sep = *msg ? ": " : "";
	char cbuf[S3_CODE_MAX];

	if (!*code) {
		/* A HEAD has no body: name the status at least. */
		snprintf(cbuf, sizeof(cbuf), "%s",
			 s == 404   ? "NotFound"
			 : s == 403 ? "Forbidden"
			 : s == 401 ? "Unauthorized"
				    : "Error");
		code = cbuf;
	}
	if ((s == 301 || s == 307 || s == 400) && r->region[0] &&
	    strcmp(r->region, st->conf.region) != 0) {
		snprintf(err, errlen,
			 "%ld %s on %s: the bucket is in region %s, not %s: "
			 "set region = %s",
			 s, code, q->what, r->region, st->conf.region,
			 r->region);
		return s == 400 ? -EACCES : -EIO;
	}
	snprintf(err, errlen, "%ld %s on %s%s%s%s", s, code, q->what, sep, msg,
		 tail);
	if (s == 404)
		return -ENOENT;
	if (s == 401 || s == 403)
		return -EACCES;
	if (s == 400 && (strcmp(code, "ExpiredToken") == 0 ||
			 strcmp(code, "InvalidToken") == 0 ||
			 strcmp(code, "TokenRefreshRequired") == 0 ||
			 strcmp(code, "AuthorizationHeaderMalformed") == 0 ||
			 strcmp(code, "InvalidAccessKeyId") == 0))
		return -EACCES;
	return -EIO;
}

/*
 * Retries.  An attempt fails transiently when the network does (refused,
 * reset, timed out, nothing or half a reply) or when S3 asks for it (500,
 * 502, 503 SlowDown, 504, 429, 400 RequestTimeout).  Such an attempt is
 * repeated, up to `retries` more times, after a back-off with "equal
 * jitter": before retry k (from 0) the wait is d/2 + rand(0..d/2) with
 * d = min(retry_base * 2^k, 64 * retry_base).  Exponential, so that a
 * throttled store gets room; jittered, so that the workers that all saw
 * the same SlowDown do not come back in step; never below d/2, so the
 * back-off cannot collapse to nothing.  The whole call, waits included,
 * is bounded by the dataset's `timeout`: each attempt runs with what is
 * left of it as curl's timeout (connecting with at most connect_timeout),
 * a transfer with no byte for a third of it is cut, and a wait that would
 * end past the deadline is not begun.  So a dead endpoint costs a caller
 * at most `timeout` and a worker is never stuck.  Every other answer
 * (403, 404, 412, a malformed reply) is final at once.
 */
static int run_attempts(s3_state_t *st, sl_curl_handle_t *h, const s3_req_t *q,
			s3_resp_t *r, char *err, size_t errlen)
{
	const s3_conf_t *c = &st->conf;
	uint64_t t0 = sl_now_ms(), deadline = t0 + c->http.timeout_ms;
	char code[S3_CODE_MAX], msg[160], why[CURL_ERROR_SIZE + 96];
	char tail[96];
	uint64_t seed = sl_now_ns() ^ (uintptr_t)q;
	unsigned attempt;

	for (attempt = 0;; attempt++) {
		uint64_t now = sl_now_ms(), wait;
		xfer_t x = {.req = q, .resp = r};
		struct curl_slist *hl;
		CURLcode cc;
		int transient;

		resp_reset(r);
		hl = prepare(st, h, q, &x, deadline > now ? deadline - now : 1);
		cc = curl_easy_perform(h->curl);
		curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
		curl_slist_free_all(hl);
		code[0] = msg[0] = '\0';
		if (cc == CURLE_WRITE_ERROR && x.done)
			cc = CURLE_OK;
		if (cc == CURLE_WRITE_ERROR && (x.overflow || x.bad_range)) {
			snprintf(err, errlen,
				 "%s: the server sent %s than asked for",
				 q->what, x.bad_range ? "other bytes" : "more");
			return -EIO;
		}
		if (cc == CURLE_OUT_OF_MEMORY) {
			snprintf(err, errlen, "%s: out of memory", q->what);
			return -ENOMEM;
		}
		if (cc == CURLE_OK) {
			long s = r->status;

			if (s == 200 || s == 206 || s == 304 || s == 412 ||
			    s == 416)
				return (int)s;
			s3_xml_parse_error(r->body.data, r->body.len, code,
					   sizeof(code), msg, sizeof(msg));
			transient = transient_status(s, code);
			snprintf(why, sizeof(why), "%ld %s%s%s", s,
				 *code ? code : "(no code)", *msg ? ": " : "",
				 msg);
		} else {
			transient = sl_curl_transient(cc);
			snprintf(why, sizeof(why), "%s",
				 h->errbuf[0] ? h->errbuf
					      : curl_easy_strerror(cc));
		}

		now = sl_now_ms();
		wait = sl_backoff_ms(c->http.retry_base_ms, attempt + 1, &seed);
		if (transient && attempt < c->http.retries &&
		    now + wait < deadline) {
			sl_hostlog(&retry_log, SL_LOG_INFO, "s3",
				   "s3 [dataset %s]: %s: %s; retry %u of %u in "
				   "%" PRIu64 " ms",
				   c->name, q->what, why, attempt + 1,
				   c->http.retries, wait);
			sl_sleep_ms(wait);
			continue;
		}
		snprintf(tail, sizeof(tail),
			 transient ? " (gave up after %u attempts in %" PRIu64
				     " ms)"
				   : "",
			 attempt + 1, sl_now_ms() - t0);
		if (cc != CURLE_OK) {
			snprintf(err, errlen, "%s: %s%s", q->what, why, tail);
			return -EIO;
		}
		return status_error(st, q, r, code, msg, tail, err, errlen);
	}
}

int s3_http_run(s3_state_t *st, const s3_req_t *q, s3_resp_t *r, char *err,
		size_t errlen)
{
	sl_curl_handle_t *h = sl_curlpool_get(st->pool);
	int rc;

	if (!h) {
		snprintf(err, errlen, "curl_easy_init failed");
		return -ENOMEM;
	}
	rc = run_attempts(st, h, q, r, err, errlen);
	/*
	 * A refused HEAD has no body, so no S3 error code: ask again with a
	 * one-byte GET, whose refusal carries the code (SignatureDoesNotMatch,
	 * InvalidAccessKeyId, AccessDenied...), and report that.
	 */
	if (rc == -EACCES && q->head) {
		s3_req_t g = *q;
		s3_resp_t gr;
		char gerr[SB_ERR_MAX], gcode[S3_CODE_MAX], gmsg[160];

		g.head = 0;
		g.range_off = 0;
		g.range_len = 1;
		g.sink = NULL;
		g.body_max = S3_ERRBODY_MAX;
		g.if_match = NULL;
		s3_resp_init(&gr);
		if (run_attempts(st, h, &g, &gr, gerr, sizeof(gerr)) ==
		    -EACCES) {
			s3_xml_parse_error(gr.body.data, gr.body.len, gcode,
					   sizeof(gcode), gmsg, sizeof(gmsg));
			if (gcode[0])
				status_error(st, q, r, gcode, gmsg, "", err,
					     errlen);
		}
		s3_resp_fini(&gr);
	}
	sl_curlpool_put(st->pool, h);
	return rc;
}
