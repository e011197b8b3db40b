/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The etcd v3 client over the JSON gateway (see etcd.h): endpoints, one
 * call with fail-over and retries, the key-value and lease operations.
 * The watch thread is in etcd_watch.c.
 *
 * Why curl multi handles, even for one transfer at a time.  Every call and
 * every watch runs its single easy handle inside a multi handle of its own
 * and waits in curl_multi_poll, because curl_multi_wakeup, callable from
 * any thread, ends that wait at once.  So a cache node that shuts down
 * while etcd is unreachable does not sit out a five-second timeout, and a
 * watch, which may stay idle for hours, stops the moment it is destroyed.
 * The back-off between retries sleeps in the same poll, so it is cut short
 * the same way.
 */
#include "common/etcd.h"
#include "common/etcd_i.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "common/util.h"

#ifndef SL_VERSION
#define SL_VERSION "0"
#endif

#define DEF_TIMEOUT_MS 5000
#define DEF_CONNECT_MS 1000
#define DEF_PAGE_KEYS  1000
#define DEF_REPLY_MAX  (8u << 20)
#define DEF_QUEUE_MAX  (32u << 20)
#define RETRY_FIRST_MS 50
#define RETRY_MAX_MS   1000
#define IDLE_POLL_MS   1000

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void seterr(sl_etcd_t *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void seterr(sl_etcd_t *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->err, sizeof(e->err), fmt, ap);
	va_end(ap);
}

/* ---- endpoints -------------------------------------------------------- */

/* One endpoint p[0..n) into a URL without a trailing '/', or NULL with a
 * reason (which never quotes an endpoint that holds a credential). */
static char *parse_endpoint(const char *p, size_t n, size_t i, char *why,
			    size_t whylen)
{
	const char *host;
	size_t hn;

	while (n && p[n - 1] == '/')
		n--;
	if (memchr(p, '@', n)) {
		snprintf(why, whylen,
			 "etcd endpoint %zu: a user or password in the URL is "
			 "not supported",
			 i + 1);
		return NULL;
	}
	if (n > 7 && strncmp(p, "http://", 7) == 0)
		host = p + 7;
	else if (n > 8 && strncmp(p, "https://", 8) == 0)
		host = p + 8;
	else
		host = NULL;
	hn = host ? n - (size_t)(host - p) : 0;
	if (!host || hn == 0 || n >= URL_MAX - 32 || memchr(host, '/', hn) ||
	    memchr(host, ' ', hn) || memchr(host, '\t', hn) ||
	    memchr(host, '?', hn) || memchr(host, '#', hn)) {
		snprintf(why, whylen,
			 "etcd endpoint '%.*s': expected http://HOST:PORT or "
			 "https://HOST:PORT",
			 (int)SL_MIN(n, 120), p);
		return NULL;
	}
	return sl_xstrndup(p, n);
}

static int parse_endpoints(sl_etcd_t *e, const char *list, char *why,
			   size_t whylen)
{
	const char *p = list;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		while (n && (*p == ' ' || *p == '\t')) {
			p++;
			n--;
		}
		while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n == 0) {
			snprintf(why, whylen, "etcd endpoint %zu is empty",
				 e->n_urls + 1);
			return -EINVAL;
		}
		if (e->n_urls == SL_ETCD_ENDPOINTS_MAX) {
			snprintf(why, whylen, "more than %d etcd endpoints",
				 SL_ETCD_ENDPOINTS_MAX);
			return -EINVAL;
		}
		e->urls[e->n_urls] =
			parse_endpoint(p, n, e->n_urls, why, whylen);
		if (!e->urls[e->n_urls])
			return -EINVAL;
		e->n_urls++;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

int sl_etcd_endpoints_check(const char *list, char *why, size_t whylen)
{
	sl_etcd_t *e = sl_xcalloc(1, sizeof(*e));
	int rc = parse_endpoints(e, list, why, whylen);

	for (size_t i = 0; i < e->n_urls; i++)
		free(e->urls[i]);
	free(e);
	return rc;
}

/* ---- curl handles ----------------------------------------------------- */

/*
 * A connection whose peer vanished without a FIN (a host that lost power,
 * a partition) is noticed within about the call timeout: keep-alive probes
 * after a third of it idle, and TCP_USER_TIMEOUT.  This is what ends an
 * idle watch on a dead etcd; a call has its own timeout anyway.
 */
static int on_sockopt(void *ud, curl_socket_t fd, curlsocktype purpose)
{
	const sl_etcd_opts_t *o = ud;
	int on = 1, idle = (int)SL_MAX(1, o->timeout_ms / 3000), intvl = 1;
	int cnt = 3;
	unsigned int user_timeout = (unsigned int)o->timeout_ms;

	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKOPT_OK;
	/* Best effort: a socket without them still works. */
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout,
			 sizeof(user_timeout));
	return CURL_SOCKOPT_OK;
}

CURL *etcd_handle_new(const sl_etcd_opts_t *o, char *errbuf)
{
	CURL *h = curl_easy_init();

	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "sluice/" SL_VERSION " etcd");
	curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
	curl_easy_setopt(h, CURLOPT_SOCKOPTDATA, (void *)o);
	return h;
}

/*
 * Run h on m until it ends; returns curl's result for it, or
 * CURLE_ABORTED_BY_CALLBACK once *stop is set (a wake-up of m makes that
 * prompt).
 */
CURLcode etcd_run_transfer(CURLM *m, CURL *h, _Atomic int *stop)
{
	CURLcode res = CURLE_FAILED_INIT;
	int running = 1, left;
	CURLMsg *msg;

	if (curl_multi_add_handle(m, h) != CURLM_OK)
		return CURLE_FAILED_INIT;
	while (running) {
		if (atomic_load(stop)) {
			res = CURLE_ABORTED_BY_CALLBACK;
			goto out;
		}
		if (curl_multi_perform(m, &running) != CURLM_OK)
			goto out;
		if (running &&
		    curl_multi_poll(m, NULL, 0, IDLE_POLL_MS, NULL) != CURLM_OK)
			goto out;
	}
	while ((msg = curl_multi_info_read(m, &left)) != NULL)
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == h)
			res = msg->data.result;
out:
	curl_multi_remove_handle(m, h);
	return res;
}

/* Sleep ms unless *stop is raised (and m woken). */
static void nap(CURLM *m, uint64_t ms, _Atomic int *stop)
{
	uint64_t end = sl_now_ms() + ms, now;

	while (!atomic_load(stop) && (now = sl_now_ms()) < end)
		curl_multi_poll(m, NULL, 0, (int)(end - now), NULL);
}

size_t etcd_on_body(char *p, size_t size, size_t nitems, void *ud)
{
	body_t *b = ud;
	size_t n = size * nitems;

	if (b->len + n > b->max) {
		if (!b->keep_head) {
			b->overflow = 1;
			return 0;
		}
		n = b->max - b->len;
	}
	b->data = sl_xgrow(b->data, &b->cap, b->len + n + 1, 1024);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return size * nitems;
}

/* ---- the client ------------------------------------------------------- */

sl_etcd_t *sl_etcd_new(const char *endpoints, const sl_etcd_opts_t *opts,
		       int *err, char *why, size_t whylen)
{
	sl_etcd_t *e = sl_xcalloc(1, sizeof(*e));
	int rc;

	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		snprintf(why, whylen, "curl_global_init: %s",
			 curl_easy_strerror(global_rc));
		rc = -EIO;
		goto out;
	}
	if (opts)
		e->o = *opts;
	if (!e->o.timeout_ms)
		e->o.timeout_ms = DEF_TIMEOUT_MS;
	if (!e->o.connect_timeout_ms)
		e->o.connect_timeout_ms =
			SL_MIN(DEF_CONNECT_MS, e->o.timeout_ms);
	if (!e->o.page_keys)
		e->o.page_keys = DEF_PAGE_KEYS;
	if (!e->o.reply_max)
		e->o.reply_max = DEF_REPLY_MAX;
	if (!e->o.watch_queue_max)
		e->o.watch_queue_max = DEF_QUEUE_MAX;
	rc = parse_endpoints(e, endpoints ? endpoints : "", why, whylen);
	if (rc < 0)
		goto out;
	e->multi = curl_multi_init();
	e->curl = etcd_handle_new(&e->o, e->curl_err);
	if (!e->multi || !e->curl) {
		snprintf(why, whylen, "cannot make a curl handle");
		rc = -ENOMEM;
		goto out;
	}
	e->rng = sl_now_ns() ^ (uintptr_t)e;
	rc = 0;
out:
	*err = rc;
	if (rc < 0)
		sl_etcd_destroy(&e);
	return e;
}

void sl_etcd_destroy(sl_etcd_t **ep)
{
	sl_etcd_t *e = ep ? *ep : NULL;

	if (!e)
		return;
	if (e->curl)
		curl_easy_cleanup(e->curl);
	if (e->multi)
		curl_multi_cleanup(e->multi);
	for (size_t i = 0; i < e->n_urls; i++)
		free(e->urls[i]);
	free(e);
	*ep = NULL;
}

const char *sl_etcd_last_error(const sl_etcd_t *e)
{
	return e->err;
}

const char *sl_etcd_endpoint(const sl_etcd_t *e)
{
	return e->urls[atomic_load(&e->preferred)];
}

void sl_etcd_stats(const sl_etcd_t *e, sl_etcd_stats_t *out)
{
	out->requests = atomic_load(&e->requests);
	out->failovers = atomic_load(&e->failovers);
}

void sl_etcd_interrupt(sl_etcd_t *e)
{
	atomic_store(&e->interrupted, 1);
	curl_multi_wakeup(e->multi);
}

void sl_etcd_resume(sl_etcd_t *e)
{
	atomic_store(&e->interrupted, 0);
}

/* Remember that endpoint i answered (a watch's thread calls this too). */
void etcd_answered(sl_etcd_t *e, size_t i)
{
	size_t was = atomic_exchange(&e->preferred, i);

	if (was != i)
		atomic_fetch_add(&e->failovers, 1);
}

/* Jittered back-off before round k of retries: d/2 + rand(0..d/2). */
static uint64_t backoff_ms(sl_etcd_t *e, unsigned k)
{
	uint64_t d = SL_MIN((uint64_t)RETRY_FIRST_MS << SL_MIN(k, 8u),
			    (uint64_t)RETRY_MAX_MS);

	/* xorshift64*: spreads clients that failed together apart. */
	e->rng ^= e->rng >> 12;
	e->rng ^= e->rng << 25;
	e->rng ^= e->rng >> 27;
	return d / 2 + (e->rng * 0x2545f4914f6cdd1dull >> 33) % (d / 2 + 1);
}

/*
 * One call: POST req (borrowed) to path, the parsed reply into *reply
 * (caller decrefs).  Endpoints are tried from the one that last answered;
 * a connection error or a 5xx moves on to the next, and once all failed
 * the round is repeated after a jittered back-off, until the timeout.  A
 * call may thus be sent twice; every request we send is idempotent (a
 * lease granted twice expires unused).
 */
static int call(sl_etcd_t *e, const char *what, const char *path,
		const json_t *req, json_t **reply)
{
	uint64_t t0 = sl_now_ms(), deadline = t0 + e->o.timeout_ms;
	char *payload = json_dumps(req, JSON_COMPACT);
	struct curl_slist *hl = NULL;
	char last[CURL_ERROR_SIZE + 64] = "";
	size_t last_i = 0;
	body_t b = {0};
	int rc = -EHOSTUNREACH;

	*reply = NULL;
	e->err[0] = '\0';
	if (!payload) {
		seterr(e, "etcd %s: cannot encode the request", what);
		return -ENOMEM;
	}
	hl = curl_slist_append(hl, "Content-Type: application/json");
	hl = curl_slist_append(hl, "Expect:"); /* no 100-continue wait */
	for (unsigned round = 0;; round++) {
		size_t first = atomic_load(&e->preferred);
		uint64_t now;

		for (size_t k = 0; k < e->n_urls; k++) {
			size_t i = (first + k) % e->n_urls;
			char url[URL_MAX];
			long status = 0;
			CURLcode cc;

			now = sl_now_ms();
			if (now >= deadline)
				break;
			snprintf(url, sizeof(url), "%s%s", e->urls[i], path);
			b.len = 0;
			b.overflow = 0;
			b.max = e->o.reply_max;
			b.keep_head = 0;
			e->curl_err[0] = '\0';
			curl_easy_setopt(e->curl, CURLOPT_URL, url);
			curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, hl);
			curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, payload);
			curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE,
					 (long)strlen(payload));
			curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION,
					 etcd_on_body);
			curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &b);
			curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS,
					 (long)(deadline - now));
			curl_easy_setopt(e->curl, CURLOPT_CONNECTTIMEOUT_MS,
					 (long)SL_MIN(deadline - now,
						      e->o.connect_timeout_ms));
			atomic_fetch_add(&e->requests, 1);
			cc = etcd_run_transfer(e->multi, e->curl,
					       &e->interrupted);
			curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE,
					  &status);
			if (cc == CURLE_ABORTED_BY_CALLBACK) {
				seterr(e, "etcd %s: interrupted", what);
				rc = -ECANCELED;
				goto out;
			}
			if (cc == CURLE_WRITE_ERROR && b.overflow) {
				etcd_answered(e, i);
				seterr(e, "etcd %s: %s: a reply over %zu bytes",
				       what, e->urls[i], e->o.reply_max);
				rc = -EMSGSIZE;
				goto out;
			}
			if (cc != CURLE_OK) {
				snprintf(last, sizeof(last), "%s",
					 e->curl_err[0]
						 ? e->curl_err
						 : curl_easy_strerror(cc));
				last_i = i;
				continue;
			}
			if (status >= 500) {
				snprintf(last, sizeof(last), "HTTP %ld",
					 status);
				last_i = i;
				continue;
			}
			etcd_answered(e, i);
			if (status != 200) {
				rc = etcd_refusal(what, e->urls[i], status, &b,
						  e->err, sizeof(e->err));
				goto out;
			}
			*reply = json_loadb(b.data ? b.data : "", b.len, 0,
					    NULL);
			if (!json_is_object(*reply)) {
				json_decref(*reply);
				*reply = NULL;
				seterr(e, "etcd %s: %s: the reply is not JSON",
				       what, e->urls[i]);
				rc = -EBADMSG;
				goto out;
			}
			rc = 0;
			goto out;
		}
		now = sl_now_ms();
		{
			uint64_t wait = backoff_ms(e, round);

			if (now + wait >= deadline)
				break;
			nap(e->multi, wait, &e->interrupted);
		}
	}
	seterr(e, "etcd %s: no endpoint answered in %" PRIu64 " ms (%s: %s)",
	       what, sl_now_ms() - t0, e->urls[last_i],
	       last[0] ? last : "timed out");
	rc = atomic_load(&e->interrupted) ? -ECANCELED : -EHOSTUNREACH;
out:
	curl_easy_setopt(e->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hl);
	free(payload);
	free(b.data);
	return rc;
}

/* A reply that is a 200 but says it failed: {"error": {...}} (a stream
 * RPC's error) or LeaseGrant's "error": "...". */
static int in_band_error(sl_etcd_t *e, const char *what, const json_t *r)
{
	const json_t *err = json_object_get(r, "error");
	const char *m = NULL;
	char q[ETCD_MSG_MAX + 1];
	int64_t code = 0;

	if (!err)
		return 0;
	if (json_is_string(err)) {
		m = json_string_value(err);
		if (!*m)
			return 0;
	} else if (json_is_object(err)) {
		m = json_string_value(json_object_get(err, "message"));
		if (etcd_j_int64(err, "grpc_code", &code) < 0)
			code = 0;
	}
	etcd_quote_msg(m ? m : "(no message)", q, sizeof(q));
	seterr(e, "etcd %s: %s: %s", what, sl_etcd_endpoint(e), q);
	return code ? etcd_grpc_errno(code, m) : -EIO;
}

static int header_revision(sl_etcd_t *e, const char *what, const json_t *r,
			   int64_t *rev)
{
	if (etcd_j_int64(json_object_get(r, "header"), "revision", rev) < 0) {
		seterr(e, "etcd %s: a reply without a revision", what);
		return -EBADMSG;
	}
	return 0;
}

/* ---- key-value operations --------------------------------------------- */

/* Decode t's key and value into the bounded scratch *buf, and view them
 * as a kv. */
static int kv_decode(const kv_text_t *t, uint8_t **buf, size_t *cap,
		     sl_etcd_kv_t *kv)
{
	size_t need = t->key_n / 4 * 3 + t->value_n / 4 * 3 + 2;
	ssize_t kn, vn;

	if (need > *cap) {
		*buf = sl_xrealloc(*buf, need);
		*cap = need;
	}
	kn = etcd_b64_decode(t->key, t->key_n, *buf);
	if (kn < 0)
		return (int)kn;
	(*buf)[kn] = 0;
	vn = etcd_b64_decode(t->value, t->value_n, *buf + kn + 1);
	if (vn < 0)
		return (int)vn;
	(*buf)[kn + 1 + vn] = 0;
	kv->key = *buf;
	kv->key_len = (size_t)kn;
	kv->value = *buf + kn + 1;
	kv->value_len = (size_t)vn;
	kv->create_revision = t->create_revision;
	kv->mod_revision = t->mod_revision;
	kv->lease = t->lease;
	return 0;
}

/*
 * Pages.  A reply holds at most `limit` keys and says "more" when there
 * are others; the next page starts just after the last key (key + "\0")
 * and is read at the first page's revision, so the pages add up to one
 * consistent snapshot however many writes land meanwhile.  A page that
 * would exceed reply_max is asked again with half the keys, so big values
 * cost more round trips instead of unbounded memory; a single key-value
 * over reply_max fails with -EMSGSIZE.
 */
int sl_etcd_range_prefix(sl_etcd_t *e, const void *prefix, size_t plen,
			 sl_etcd_kv_fn fn, void *ud, int64_t *revision)
{
	uint8_t *key = sl_xmalloc(plen + 1), *end = sl_xmalloc(plen + 1);
	size_t klen = plen, elen, scratch_cap = 0;
	uint8_t *scratch = NULL;
	uint32_t limit = e->o.page_keys;
	int64_t rev = 0;
	json_t *reply = NULL;
	int rc;

	memcpy(key, prefix, plen);
	elen = etcd_prefix_end(prefix, plen, end);
	if (plen == 0) {
		key[0] = 0;
		klen = 1;
	}
	for (;;) {
		json_t *req = json_object(), *kvs;
		size_t nkv, i;
		int more;

		json_object_set_new(req, "key", etcd_j_bytes(key, klen));
		json_object_set_new(req, "range_end", etcd_j_bytes(end, elen));
		json_object_set_new(req, "limit", etcd_j_num(limit));
		if (rev)
			json_object_set_new(req, "revision", etcd_j_num(rev));
		rc = call(e, "range", "/v3/kv/range", req, &reply);
		json_decref(req);
		if (rc == -EMSGSIZE && limit > 1) {
			limit /= 2;
			continue;
		}
		if (rc < 0)
			goto out;
		if (!rev) {
			rc = header_revision(e, "range", reply, &rev);
			if (rc < 0)
				goto out;
		}
		kvs = json_object_get(reply, "kvs");
		if (kvs && !json_is_array(kvs)) {
			rc = -EBADMSG;
			seterr(e, "etcd range: kvs is not a list");
			goto out;
		}
		nkv = json_array_size(kvs);
		more = json_is_true(json_object_get(reply, "more"));
		for (i = 0; i < nkv; i++) {
			kv_text_t t;
			sl_etcd_kv_t kv;

			rc = etcd_kv_text(json_array_get(kvs, i), &t);
			if (rc == 0)
				rc = kv_decode(&t, &scratch, &scratch_cap, &kv);
			if (rc < 0) {
				seterr(e, "etcd range: a malformed key-value");
				goto out;
			}
			rc = fn(&kv, ud);
			if (rc < 0)
				goto out;
			if (i + 1 == nkv) {
				key = sl_xrealloc(key, kv.key_len + 1);
				memcpy(key, kv.key, kv.key_len);
				key[kv.key_len] = 0; /* just after it */
				klen = kv.key_len + 1;
			}
		}
		json_decref(reply);
		reply = NULL;
		if (!more)
			break;
		if (nkv == 0) {
			seterr(e, "etcd range: 'more' with no keys");
			rc = -EBADMSG;
			goto out;
		}
	}
	if (revision)
		*revision = rev;
	rc = 0;
out:
	json_decref(reply);
	free(scratch);
	free(key);
	free(end);
	return rc;
}

int sl_etcd_get(sl_etcd_t *e, const void *key, size_t klen, uint8_t **value,
		size_t *value_len, int64_t *mod_revision)
{
	json_t *req = json_object(), *reply = NULL;
	uint8_t *scratch = NULL;
	size_t cap = 0;
	kv_text_t t;
	sl_etcd_kv_t kv;
	int rc;

	*value = NULL;
	*value_len = 0;
	json_object_set_new(req, "key", etcd_j_bytes(key, klen));
	rc = call(e, "get", "/v3/kv/range", req, &reply);
	json_decref(req);
	if (rc < 0)
		goto out;
	if (json_array_size(json_object_get(reply, "kvs")) == 0) {
		rc = -ENOENT;
		goto out;
	}
	rc = etcd_kv_text(json_array_get(json_object_get(reply, "kvs"), 0), &t);
	if (rc == 0)
		rc = kv_decode(&t, &scratch, &cap, &kv);
	if (rc < 0) {
		seterr(e, "etcd get: a malformed key-value");
		goto out;
	}
	*value = sl_xmalloc(kv.value_len + 1);
	memcpy(*value, kv.value, kv.value_len + 1);
	*value_len = kv.value_len;
	if (mod_revision)
		*mod_revision = kv.mod_revision;
out:
	free(scratch);
	json_decref(reply);
	return rc;
}

int sl_etcd_put(sl_etcd_t *e, const void *key, size_t klen, const void *value,
		size_t vlen, int64_t lease, int64_t *revision)
{
	json_t *req = json_object(), *reply = NULL;
	int64_t rev;
	int rc;

	json_object_set_new(req, "key", etcd_j_bytes(key, klen));
	json_object_set_new(req, "value", etcd_j_bytes(value, vlen));
	if (lease)
		json_object_set_new(req, "lease", etcd_j_num(lease));
	rc = call(e, "put", "/v3/kv/put", req, &reply);
	json_decref(req);
	if (rc == 0)
		rc = header_revision(e, "put", reply, &rev);
	if (rc == 0 && revision)
		*revision = rev;
	json_decref(reply);
	return rc;
}

int sl_etcd_delete(sl_etcd_t *e, const void *key, size_t klen)
{
	json_t *req = json_object(), *reply = NULL;
	int64_t n = 0;
	int rc;

	json_object_set_new(req, "key", etcd_j_bytes(key, klen));
	rc = call(e, "delete", "/v3/kv/deleterange", req, &reply);
	json_decref(req);
	if (rc == 0 && etcd_j_int64(reply, "deleted", &n) < 0) {
		seterr(e, "etcd delete: a malformed reply");
		rc = -EBADMSG;
	}
	json_decref(reply);
	return rc < 0 ? rc : (int)SL_MIN(n, 1);
}

/* A call whose request is {field: n} and whose reply says nothing more
 * than that it worked. */
static int call_num(sl_etcd_t *e, const char *what, const char *path,
		    const char *field, int64_t n)
{
	json_t *req = json_object(), *reply = NULL;
	int rc;

	json_object_set_new(req, field, etcd_j_num(n));
	rc = call(e, what, path, req, &reply);
	json_decref(req);
	json_decref(reply);
	return rc;
}

int sl_etcd_compact(sl_etcd_t *e, int64_t revision)
{
	return call_num(e, "compact", "/v3/kv/compaction", "revision",
			revision);
}

/* ---- leases ----------------------------------------------------------- */

int sl_etcd_lease_grant(sl_etcd_t *e, int64_t ttl_s, int64_t *id,
			int64_t *granted_s)
{
	json_t *req = json_object(), *reply = NULL;
	int64_t ttl = 0;
	int rc;

	*id = 0;
	json_object_set_new(req, "TTL", etcd_j_num(ttl_s));
	rc = call(e, "lease grant", "/v3/lease/grant", req, &reply);
	json_decref(req);
	if (rc == 0)
		rc = in_band_error(e, "lease grant", reply);
	if (rc == 0 && (etcd_j_int64(reply, "ID", id) < 0 ||
			etcd_j_int64(reply, "TTL", &ttl) < 0 || *id == 0)) {
		seterr(e, "etcd lease grant: a reply without a lease");
		rc = -EBADMSG;
	}
	if (rc == 0 && granted_s)
		*granted_s = ttl;
	json_decref(reply);
	return rc;
}

int sl_etcd_lease_keepalive(sl_etcd_t *e, int64_t id, int64_t *ttl_s)
{
	json_t *req = json_object(), *reply = NULL;
	const json_t *res;
	int64_t ttl = 0;
	int rc;

	json_object_set_new(req, "ID", etcd_j_num(id));
	rc = call(e, "lease keepalive", "/v3/lease/keepalive", req, &reply);
	json_decref(req);
	if (rc < 0)
		goto out;
	/* A stream RPC: the one reply is wrapped in "result". */
	rc = in_band_error(e, "lease keepalive", reply);
	if (rc < 0)
		goto out;
	res = json_object_get(reply, "result");
	if (!json_is_object(res) || etcd_j_int64(res, "TTL", &ttl) < 0) {
		seterr(e, "etcd lease keepalive: a malformed reply");
		rc = -EBADMSG;
		goto out;
	}
	/* An expired or revoked lease is answered with no TTL. */
	if (ttl <= 0) {
		seterr(e, "etcd lease keepalive: lease %" PRIx64 " is gone",
		       (uint64_t)id);
		rc = -ENOENT;
		goto out;
	}
	if (ttl_s)
		*ttl_s = ttl;
out:
	json_decref(reply);
	return rc;
}

int sl_etcd_lease_revoke(sl_etcd_t *e, int64_t id)
{
	return call_num(e, "lease revoke", "/v3/lease/revoke", "ID", id);
}
