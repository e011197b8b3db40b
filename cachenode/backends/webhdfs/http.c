/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HTTP for the webhdfs module: a pool of libcurl easy handles per
 * dataset, one WebHDFS call run to the end (namenode, then for OPEN the
 * datanode its redirect names), retries with jittered back-off, failover
 * between namenodes, and the mapping of WebHDFS's answers to negative
 * errno values.
 *
 * Connections.  The node's workers call stat, list and read at once.  A
 * curl handle serves one thread at a time and keeps the connections it
 * made (to the namenode and to the datanodes it was sent to), so a call
 * takes an idle handle from the dataset's pool, or makes one, and gives
 * it back: as many calls are in flight as there are workers, each on warm
 * connections.  The handles share one CURLSH (DNS cache, TLS sessions).
 *
 * Credentials go where the specification sends them.  user.name= or
 * delegation= is added to namenode URLs only, and SPNEGO is offered to
 * namenodes only.  A datanode is asked with the namenode's Location
 * exactly as it came (the namenode writes into it what the datanode
 * needs: user.name=, or a delegation token), after wh_location_check:
 * http(s) only, no downgrade from https, at most WH_REDIRECTS_MAX hops.
 * curl itself follows no redirect.
 *
 * A call, and why it ends.  An attempt asks the namenode that answered
 * last.  A namenode that cannot serve now (StandbyException during a
 * failover, a 5xx, RetriableException, a refused or broken connection)
 * makes the call try the next namenode of `namenodes` at once; once all
 * were tried, the call backs off and starts a new round.  A datanode
 * that fails (dies mid-read, resets, stalls, answers 5xx) sends the call
 * back to the namenode for a fresh OPEN after the back-off, so the
 * namenode can pick another replica.  Back-off: before retry k (from 0)
 * a wait drawn uniformly from [d/2, d], d = retry_base * 2^min(k, 6):
 * exponential so that a struggling namenode gets room, jittered so that
 * workers that failed together do not return together.  There are at
 * most `retries` back-offs, and the whole call, waits included, ends by
 * `timeout`: each transfer runs with what is left of it (connecting with
 * at most connect_timeout), one that receives nothing for a third of it
 * is cut, and a wait that would end past the deadline is not begun.
 * Every other answer is final at once: FileNotFoundException, access
 * refusals, malformed replies, bad redirects.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cachenode/backends/webhdfs/webhdfs_i.h"
#include "common/curlkit.h"
#include "common/util.h"

/* One transfer's bookkeeping: the callbacks' user data. */
typedef struct xfer {
	long status;
	char location[WH_URL_MAX + 1];
	size_t location_len; /* > WH_URL_MAX: it did not fit */
	char *sink;	     /* a 200 goes here (OPEN), else into body */
	size_t sink_len, sunk;
	size_t body_max; /* of a 200 into body */
	char *body;	 /* NUL-terminated; a 200's, or an error's start */
	size_t len, cap;
	int overflow; /* more than may come: stopped */
	int cut;      /* an error body stopped once its start was kept */
} xfer_t;

typedef enum verdict {
	V_OK,
	V_FINAL,    /* *rc says what */
	V_REDIRECT, /* follow x->location */
	V_NAMENODE, /* this namenode cannot serve now: another may */
	V_RETRY,    /* transient elsewhere: back off, start again */
} verdict_t;

/* ---- the pool ------------------------------------------------------- */

sl_hostlog_t wh_log_limit;

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud);
static size_t on_body(char *buf, size_t size, size_t nitems, void *ud);

static void setup_handle(CURL *e, void *arg)
{
	const wh_conf_t *c = arg;

	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME,
			 (long)SL_MAX(1, c->http.timeout_ms / 3000));
	if (c->ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
}

int wh_http_init(wh_state_t *st, char *err, size_t errlen)
{
	if (sl_curl_global_init(err, errlen) < 0)
		return -EIO;
	if (st->conf.auth == WH_AUTH_KERBEROS &&
	    !(curl_version_info(CURLVERSION_NOW)->features &
	      CURL_VERSION_SPNEGO)) {
		snprintf(err, errlen,
			 "[dataset %s] kerberos = yes, but this libcurl has no "
			 "SPNEGO (GSS-API) support",
			 st->conf.name);
		return -EINVAL;
	}
	st->pool = sl_curlpool_new(WH_POOL_MAX, "webhdfs", setup_handle,
				   &st->conf, err, errlen);
	return st->pool ? 0 : -ENOMEM;
}

void wh_http_fini(wh_state_t *st)
{
	sl_curlpool_destroy(&st->pool);
}

/* ---- one transfer --------------------------------------------------- */

static void xfer_start(xfer_t *x, const wh_req_t *q)
{
	free(x->body);
	memset(x, 0, sizeof(*x));
	x->sink = q->sink;
	x->sink_len = q->sink_len;
	x->body_max = q->body_max;
}

/* Append n bytes to x->body; -1 when that would pass max. */
static int body_append(xfer_t *x, const char *p, size_t n, size_t max)
{
	if (n > max - x->len)
		return -1;
	x->body = sl_xgrow(x->body, &x->cap, x->len + n + 1, 4096);
	memcpy(x->body + x->len, p, n);
	x->len += n;
	x->body[x->len] = '\0';
	return 0;
}

/* The value of header line buf[n] when it is header name; else 0. */
static int header_value(const char *buf, size_t n, const char *name,
			const char **v, size_t *vn)
{
	size_t k = strlen(name);
	const char *p = buf + k + 1, *end = buf + n;

	if (n <= k || buf[k] != ':' || strncasecmp(buf, name, k) != 0)
		return 0;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && strchr(" \t\r\n", end[-1]))
		end--;
	*v = p;
	*vn = (size_t)(end - p);
	return 1;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
	xfer_t *x = ud;
	size_t n = size * nitems, vn;
	const char *v;

	if (n > 12 && memcmp(buf, "HTTP/", 5) == 0) {
		/* A status line: this response, or the next after a 1xx. */
		const char *sp = memchr(buf, ' ', n);

		x->status = 0;
		x->location_len = 0;
		x->location[0] = '\0';
		if (sp && sp + 4 <= buf + n)
			for (int i = 1; i <= 3 && sp[i] >= '0' && sp[i] <= '9';
			     i++)
				x->status = x->status * 10 + (sp[i] - '0');
	} else if (header_value(buf, n, "Location", &v, &vn)) {
		x->location_len = vn;
		if (vn <= WH_URL_MAX) {
			memcpy(x->location, v, vn);
			x->location[vn] = '\0';
		}
	}
	return n;
}

/*
 * The body.  A 200 to OPEN goes straight into the caller's buffer, and
 * never past it; a 200 to anything else into x->body within body_max.
 * Of any other reply (an error, a redirect) the start is kept for its
 * RemoteException, and the transfer stopped there: a server that sends
 * an endless error costs nothing.
 */
static size_t on_body(char *buf, size_t size, size_t nitems, void *ud)
{
	xfer_t *x = ud;
	size_t n = size * nitems;

	if (x->status == 200 && x->sink) {
		if (n > x->sink_len - x->sunk) {
			x->overflow = 1;
			return 0;
		}
		memcpy(x->sink + x->sunk, buf, n);
		x->sunk += n;
		return n;
	}
	if (x->status == 200) {
		if (body_append(x, buf, n, x->body_max) < 0) {
			x->overflow = 1;
			return 0;
		}
		return n;
	}
	if (body_append(x, buf, SL_MIN(n, WH_ERRBODY_MAX - x->len),
			WH_ERRBODY_MAX) == 0 &&
	    x->len < WH_ERRBODY_MAX)
		return n;
	x->cut = 1;
	return 0;
}

static CURLcode transfer(const wh_state_t *st, sl_curl_handle_t *h,
			 const char *url, int namenode, xfer_t *x,
			 uint64_t deadline)
{
	const wh_conf_t *c = &st->conf;
	uint64_t now = sl_now_ms();
	uint64_t left = deadline > now ? deadline - now : 1;
	CURL *e = h->curl;

	h->errbuf[0] = '\0';
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)left);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)SL_MIN(left, c->http.connect_timeout_ms));
	if (namenode && c->auth == WH_AUTH_KERBEROS) {
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_NEGOTIATE);
		curl_easy_setopt(e, CURLOPT_USERPWD, ":");
	} else {
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_NONE);
		curl_easy_setopt(e, CURLOPT_USERPWD, NULL);
	}
	return curl_easy_perform(e);
}

static int is_one_of(const char *exc, const char *const *names)
{
	for (; *names; names++)
		if (strcmp(exc, *names) == 0)
			return 1;
	return 0;
}

/*
 * What one transfer's outcome means.  *rc and why are set for V_FINAL,
 * why for the retried kinds too (the last one becomes the message).
 */
static verdict_t judge(const wh_state_t *st, const wh_req_t *q, const xfer_t *x,
		       CURLcode cc, const char *errbuf, int namenode,
		       const char *where, int *rc, char *why, size_t whylen)
{
	static const char *const refused[] = {
		"AccessControlException", "SecurityException",
		"AuthorizationException", "InvalidToken", NULL};
	static const char *const unknown_op[] = {
		"IllegalArgumentException", "UnsupportedOperationException",
		NULL};
	char exc[64], msg[WH_SERVER_MSG_MAX + 1];
	long s = x->status;

	*rc = -EIO;
	if (cc == CURLE_WRITE_ERROR && x->overflow) {
		if (x->sink)
			snprintf(why, whylen,
				 "%s sent more than the %zu bytes asked for",
				 where, x->sink_len);
		else
			snprintf(why, whylen, "%s sent a reply over %zu bytes",
				 where, x->body_max);
		return V_FINAL;
	}
	if (cc == CURLE_OUT_OF_MEMORY) {
		snprintf(why, whylen, "out of memory");
		*rc = -ENOMEM;
		return V_FINAL;
	}
	if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && x->cut)) {
		snprintf(why, whylen, "%s: %s", where,
			 errbuf[0] ? errbuf : curl_easy_strerror(cc));
		if (!sl_curl_transient(cc))
			return V_FINAL;
		return namenode ? V_NAMENODE : V_RETRY;
	}
	if (s == 200)
		return V_OK;
	if (s == 307 && q->sink)
		return V_REDIRECT;
	if (s >= 300 && s < 400) {
		snprintf(why, whylen,
			 "%s answered %ld, a redirect %s does not "
			 "take",
			 where, s, q->op);
		return V_FINAL;
	}
	if (wh_json_remote(x->body, x->len, st->conf.token, exc, sizeof(exc),
			   msg, sizeof(msg)) < 0) {
		snprintf(why, whylen,
			 "%s answered %ld without a "
			 "RemoteException%s",
			 where, s,
			 (s == 401 && st->conf.auth == WH_AUTH_KERBEROS)
				 ? " (kerberos: no ticket? run kinit as the "
				   "cache node's user)"
				 : "");
		if (s == 401 || s == 403) {
			*rc = -EACCES;
			return V_FINAL;
		}
		if (s == 404) {
			*rc = -ENOENT;
			return V_FINAL;
		}
		if (s >= 500 || s == 429)
			return namenode ? V_NAMENODE : V_RETRY;
		return V_FINAL;
	}
	wh_fmt(why, whylen, "%s: %s: %s", where, exc, msg);
	if (strcmp(exc, "StandbyException") == 0 ||
	    strcmp(exc, "RetriableException") == 0 || s >= 500 || s == 429)
		return namenode ? V_NAMENODE : V_RETRY;
	if (strcmp(exc, "FileNotFoundException") == 0)
		*rc = -ENOENT;
	else if (is_one_of(exc, refused))
		*rc = -EACCES;
	else if (s == 400 && is_one_of(exc, unknown_op) && strstr(msg, q->op))
		*rc = -EOPNOTSUPP;
	return V_FINAL;
}

/* Hand x's reply to r once an attempt succeeded. */
static void take_reply(const wh_req_t *q, xfer_t *x, wh_resp_t *r)
{
	if (q->sink) {
		r->sunk = x->sunk;
		return;
	}
	r->body = x->body ? x->body : sl_xstrdup("");
	r->len = x->len;
	x->body = NULL;
}

/* One attempt: namenode nn, and the datanode(s) its redirect names. */
static verdict_t attempt(wh_state_t *st, sl_curl_handle_t *h, const wh_req_t *q,
			 wh_resp_t *r, size_t nn, uint64_t deadline, int *rc,
			 char *why, size_t whylen)
{
	const wh_conf_t *c = &st->conf;
	char where[128], host[96], loc[WH_URL_MAX + 1], bad[SB_ERR_MAX];
	char *url = wh_url_build(c, nn, q->path, q->op, q->qp, q->nqp);
	xfer_t x = {0};
	int secure = c->https;
	unsigned hops = 0;
	verdict_t v;
	CURLcode cc;

	wh_url_host(c->nn[nn], host, sizeof(host));
	snprintf(where, sizeof(where), "namenode %s", host);
	xfer_start(&x, q);
	cc = transfer(st, h, url, 1, &x, deadline);
	wh_free_secret(url);
	v = judge(st, q, &x, cc, h->errbuf, 1, where, rc, why, whylen);
	while (v == V_REDIRECT) {
		*rc = -EIO;
		v = V_FINAL;
		if (++hops > WH_REDIRECTS_MAX) {
			snprintf(why, whylen,
				 "%s: more than %d redirects (a loop?)", where,
				 WH_REDIRECTS_MAX);
			break;
		}
		if (x.location_len > WH_URL_MAX) {
			snprintf(why, whylen,
				 "%s: a redirect to a URL of "
				 "over %d bytes",
				 where, WH_URL_MAX);
			break;
		}
		if (wh_location_check(x.location, x.location_len, secure, bad,
				      sizeof(bad)) < 0) {
			wh_fmt(why, whylen, "%s: %s", where, bad);
			break;
		}
		memcpy(loc, x.location, x.location_len + 1);
		secure = strncasecmp(loc, "https:", 6) == 0;
		wh_url_host(loc, host, sizeof(host));
		snprintf(where, sizeof(where), "datanode %s", host);
		xfer_start(&x, q);
		cc = transfer(st, h, loc, 0, &x, deadline);
		/* The namenode may have put a token into it. */
		explicit_bzero(loc, sizeof(loc));
		v = judge(st, q, &x, cc, h->errbuf, 0, where, rc, why, whylen);
	}
	if (v == V_OK)
		take_reply(q, &x, r);
	explicit_bzero(x.location, sizeof(x.location));
	free(x.body);
	return v;
}

int wh_http_call(wh_state_t *st, const wh_req_t *q, wh_resp_t *r, char *err,
		 size_t errlen)
{
	const wh_conf_t *c = &st->conf;
	uint64_t t0 = sl_now_ms(), deadline = t0 + c->http.timeout_ms;
	uint64_t seed = sl_now_ns() ^ (uintptr_t)q ^ 0x9e3779b97f4a7c15ull;
	size_t nn = atomic_load(&st->active) % c->n_nn, tried = 1;
	char why[SB_ERR_MAX] = "", tail[96] = "";
	char *hpath = wh_hdfs_path(c, q->path);
	sl_curl_handle_t *h = sl_curlpool_get(st->pool);
	unsigned attempts = 1;
	int rc = -EIO;

	if (!h) {
		snprintf(err, errlen, "curl_easy_init failed");
		free(hpath);
		return -ENOMEM;
	}
	for (;;) {
		verdict_t v = attempt(st, h, q, r, nn, deadline, &rc, why,
				      sizeof(why));
		uint64_t now, wait;

		wh_scrub(c, why); /* it may be logged below */

		if (v == V_OK) {
			atomic_store(&st->active, (unsigned)nn);
			rc = 0;
			break;
		}
		if (v == V_FINAL)
			break;
		if (v == V_NAMENODE && tried < c->n_nn) {
			nn = (nn + 1) % c->n_nn;
			tried++;
			wh_log(SL_LOG_NOTICE,
			       "webhdfs [dataset %s]: %s %s: %s; trying "
			       "namenode %s",
			       c->name, q->op, hpath, why, c->nn[nn]);
			continue;
		}
		now = sl_now_ms();
		wait = sl_backoff_ms(c->http.retry_base_ms, attempts, &seed);
		if (attempts > c->http.retries || now + wait >= deadline) {
			snprintf(tail, sizeof(tail),
				 " (gave up after %u attempts in %" PRIu64
				 " ms)",
				 attempts, now - t0);
			rc = -EIO;
			break;
		}
		wh_log(SL_LOG_INFO,
		       "webhdfs [dataset %s]: %s %s: %s; retry %u of %u in "
		       "%" PRIu64 " ms",
		       c->name, q->op, hpath, why, attempts, c->http.retries,
		       wait);
		sl_sleep_ms(wait);
		attempts++;
		tried = 1;
		if (v == V_NAMENODE)
			nn = (nn + 1) % c->n_nn;
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s %s: %s%s", q->op, hpath, why, tail);
		wh_scrub(c, err);
	}
	sl_curlpool_put(st->pool, h);
	free(hpath);
	return rc;
}

void wh_resp_fini(wh_resp_t *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}
