/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The etcd watch (see etcd.h): one thread per watch reads the streamed
 * reply of POST /v3/watch, cuts it into WatchResponses (jsonframe.h) and
 * posts their events into an inbox.
 *
 * Why a thread per watch posting into an inbox.  The cache node's event
 * loop is a zmq_poll and the FUSE client's I/O thread a poll of its own;
 * both can wait on one more fd but neither may block on etcd, nor drive
 * curl's socket callbacks from inside their loop.  A thread that reads the
 * stream and posts whole events (an sl_inbox_t, batched eventfd wake-ups)
 * fits both with nothing more than an fd and a non-blocking take, and the
 * stream's framing, base64 and JSON stay off the caller's thread.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/etcd.h"
#include "common/etcd_i.h"
#include "common/inbox.h"
#include "common/jsonframe.h"
#include "common/util.h"

/* An event and its bytes, in one allocation. */
typedef struct watch_ev {
	size_t bytes; /* counted against watch_queue_max */
	sl_etcd_event_t ev;
	uint8_t data[];
} watch_ev_t;

struct sl_etcd_watch {
	sl_etcd_t *e; /* borrowed: urls, opts, preferred, counters */
	sl_inbox_t *inbox;
	pthread_t thread;
	_Atomic int stop;
	_Atomic size_t queued; /* bytes posted and not taken */
	char *payload;	       /* the create request */
	CURLM *multi;
	CURL *curl;
	/* The watch thread's alone: */
	sl_jsonframe_t *frames;
	body_t errbody;	 /* a refusal's body */
	int established; /* a 200 came back */
	int end_err;	 /* why we stopped the stream, once known */
	int64_t end_rev;
	char end_msg[SL_ETCD_ERR_MAX];
	char curl_err[CURL_ERROR_SIZE];
};

void sl_etcd_event_free(sl_etcd_event_t *ev)
{
	if (ev)
		free(sl_container_of(ev, watch_ev_t, ev));
}

static watch_ev_t *ev_alloc(size_t data)
{
	watch_ev_t *w = sl_xcalloc(1, sizeof(*w) + data);

	w->bytes = sizeof(*w) + data;
	return w;
}

static void watch_end(sl_etcd_watch_t *w, int err, int64_t rev, const char *fmt,
		      ...) __attribute__((format(printf, 4, 5)));

/* Record why the stream ends (the first reason wins). */
static void watch_end(sl_etcd_watch_t *w, int err, int64_t rev, const char *fmt,
		      ...)
{
	va_list ap;

	if (w->end_err)
		return;
	w->end_err = err;
	w->end_rev = rev;
	va_start(ap, fmt);
	vsnprintf(w->end_msg, sizeof(w->end_msg), fmt, ap);
	va_end(ap);
}

/* Build one PUT or DELETE from an mvccpb.Event. */
static watch_ev_t *event_from(const json_t *j)
{
	const char *type = json_string_value(json_object_get(j, "type"));
	kv_text_t t;
	watch_ev_t *w;
	ssize_t kn, vn;

	if (etcd_kv_text(json_object_get(j, "kv"), &t) < 0)
		return NULL;
	/* PUT is the enum's zero, which the gateway leaves out. */
	if (type && strcmp(type, "PUT") != 0 && strcmp(type, "DELETE") != 0)
		return NULL;
	w = ev_alloc(t.key_n / 4 * 3 + t.value_n / 4 * 3 + 2);
	w->ev.type = type && strcmp(type, "DELETE") == 0 ? SL_ETCD_EV_DELETE
							 : SL_ETCD_EV_PUT;
	w->ev.key = w->data;
	kn = etcd_b64_decode(t.key, t.key_n, w->ev.key);
	if (kn < 0)
		goto bad;
	w->ev.key_len = (size_t)kn;
	w->ev.value = w->data + kn + 1;
	vn = etcd_b64_decode(t.value, t.value_n, w->ev.value);
	if (vn < 0)
		goto bad;
	w->ev.value_len = (size_t)vn;
	w->ev.revision = t.mod_revision;
	w->ev.create_revision = t.create_revision;
	w->ev.lease = t.lease;
	return w;
bad:
	free(w);
	return NULL;
}

static void free_batch(sl_fifo_t *q)
{
	sl_qlink_t *l;

	while ((l = sl_fifo_pop(q)) != NULL)
		sl_etcd_event_free(sl_container_of(l, sl_etcd_event_t, link));
}

/* One WatchResponse: its events posted as one batch, or the reason the
 * watch is over.  Returns -1 to stop the stream. */
static int on_frame(const char *text, size_t len, void *ud)
{
	sl_etcd_watch_t *w = ud;
	json_t *j = json_loadb(text, len, 0, NULL), *res, *evs;
	int64_t compact = 0;
	size_t bytes = 0;
	sl_fifo_t batch;
	int rc = -1;

	sl_fifo_init(&batch);
	if (!json_is_object(j)) {
		watch_end(w, -EBADMSG, 0, "etcd watch: a message is not JSON");
		goto out;
	}
	res = json_object_get(j, "result");
	if (!json_is_object(res)) {
		const json_t *err = json_object_get(j, "error");
		const char *m =
			json_string_value(json_object_get(err, "message"));
		char q[ETCD_MSG_MAX + 1];

		etcd_quote_msg(m ? m : "(no message)", q, sizeof(q));
		watch_end(w, err ? -ECONNRESET : -EBADMSG, 0, "etcd watch: %s",
			  err ? q
			      : "a message without a "
				"result");
		goto out;
	}
	if (etcd_j_int64(res, "compact_revision", &compact) < 0) {
		watch_end(w, -EBADMSG, 0, "etcd watch: a malformed message");
		goto out;
	}
	if (compact > 0) {
		watch_end(w, -ESTALE, compact,
			  "etcd watch: revisions before %" PRId64
			  " were compacted",
			  compact);
		goto out;
	}
	if (json_is_true(json_object_get(res, "canceled"))) {
		const char *m = json_string_value(
			json_object_get(res, "cancel_reason"));
		char q[ETCD_MSG_MAX + 1];

		etcd_quote_msg(m && *m ? m : "no reason given", q, sizeof(q));
		watch_end(w, -ECANCELED, 0, "etcd watch: canceled: %s", q);
		goto out;
	}
	evs = json_object_get(res, "events");
	for (size_t i = 0; i < json_array_size(evs); i++) {
		watch_ev_t *ev = event_from(json_array_get(evs, i));

		if (!ev) {
			watch_end(w, -EBADMSG, 0,
				  "etcd watch: a malformed event");
			goto out;
		}
		bytes += ev->bytes;
		sl_fifo_push(&batch, &ev->ev.link);
	}
	if (sl_fifo_empty(&batch)) {
		rc = 0; /* created, progress */
		goto out;
	}
	if (atomic_load(&w->queued) + bytes > w->e->o.watch_queue_max) {
		watch_end(w, -ENOBUFS, 0,
			  "etcd watch: over %zu bytes of events not taken",
			  w->e->o.watch_queue_max);
		goto out;
	}
	atomic_fetch_add(&w->queued, bytes);
	if (sl_inbox_post_all(w->inbox, &batch) < 0)
		goto out; /* closed: we are being destroyed */
	rc = 0;
out:
	free_batch(&batch);
	json_decref(j);
	return rc;
}

static size_t on_stream(char *p, size_t size, size_t nitems, void *ud)
{
	sl_etcd_watch_t *w = ud;
	size_t n = size * nitems;
	long status = 0;
	int rc;

	curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200)
		return etcd_on_body(p, size, nitems, &w->errbody);
	w->established = 1;
	rc = sl_jsonframe_feed(w->frames, p, n, on_frame, w);
	if (rc == -EMSGSIZE)
		watch_end(w, -EMSGSIZE, 0,
			  "etcd watch: a message over %zu bytes",
			  w->e->o.reply_max);
	else if (rc < 0)
		watch_end(w, -EBADMSG, 0, "etcd watch: not a JSON stream");
	return rc < 0 ? 0 : n;
}

static void post_end(sl_etcd_watch_t *w)
{
	size_t mlen = strlen(w->end_msg);
	watch_ev_t *ev = ev_alloc(mlen + 1);

	ev->ev.type = SL_ETCD_EV_END;
	ev->ev.err = w->end_err;
	ev->ev.revision = w->end_rev;
	memcpy(ev->data, w->end_msg, mlen + 1);
	ev->ev.msg = (const char *)ev->data;
	ev->ev.key = ev->ev.value = ev->data + mlen; /* "" */
	atomic_fetch_add(&w->queued, ev->bytes);
	if (sl_inbox_post(w->inbox, &ev->ev.link) < 0)
		free(ev);
}

/*
 * The stream.  Until etcd answers 200 a failure moves on to the next
 * endpoint (a connection error, a 5xx), once around the list; after that,
 * whatever ends the stream ends the watch: resuming it here could skip or
 * repeat events behind the caller's back, who instead ranges again and
 * watches from the revision it has.
 */
static void *watch_main(void *arg)
{
	sl_etcd_watch_t *w = arg;
	sl_etcd_t *e = w->e;
	struct curl_slist *hl = NULL;
	size_t first = atomic_load(&e->preferred), last_i = first, used_i = 0;
	char last[CURL_ERROR_SIZE + 32] = "timed out";

	hl = curl_slist_append(hl, "Content-Type: application/json");
	hl = curl_slist_append(hl, "Expect:");
	for (size_t k = 0; k < e->n_urls; k++) {
		size_t i = (first + k) % e->n_urls;
		char url[URL_MAX];
		long status = 0;
		CURLcode cc;

		snprintf(url, sizeof(url), "%s/v3/watch", e->urls[i]);
		w->errbody.len = 0;
		w->errbody.max = ERRBODY_MAX;
		w->errbody.keep_head = 1;
		w->curl_err[0] = '\0';
		curl_easy_setopt(w->curl, CURLOPT_URL, url);
		curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, hl);
		curl_easy_setopt(w->curl, CURLOPT_POSTFIELDS, w->payload);
		curl_easy_setopt(w->curl, CURLOPT_WRITEFUNCTION, on_stream);
		curl_easy_setopt(w->curl, CURLOPT_WRITEDATA, w);
		curl_easy_setopt(w->curl, CURLOPT_CONNECTTIMEOUT_MS,
				 (long)e->o.connect_timeout_ms);
		atomic_fetch_add(&e->requests, 1);
		cc = etcd_run_transfer(w->multi, w->curl, &w->stop);
		used_i = i;
		if (cc == CURLE_ABORTED_BY_CALLBACK)
			goto out; /* destroyed: nobody reads an END */
		if (w->end_err)
			break;
		curl_easy_getinfo(w->curl, CURLINFO_RESPONSE_CODE, &status);
		if (w->established) {
			watch_end(w, -ECONNRESET, 0,
				  "etcd watch: %s: the stream %s", e->urls[i],
				  cc == CURLE_OK
					  ? "ended"
					  : (w->curl_err[0]
						     ? w->curl_err
						     : curl_easy_strerror(cc)));
			break;
		}
		if (cc != CURLE_OK || status >= 500) {
			if (cc != CURLE_OK)
				snprintf(last, sizeof(last), "%s",
					 w->curl_err[0]
						 ? w->curl_err
						 : curl_easy_strerror(cc));
			else
				snprintf(last, sizeof(last), "HTTP %ld",
					 status);
			last_i = i;
			continue;
		}
		{
			char msg[SL_ETCD_ERR_MAX];
			int err = etcd_refusal("watch", e->urls[i], status,
					       &w->errbody, msg, sizeof(msg));

			watch_end(w, err, 0, "%s", msg);
		}
		break;
	}
	if (!w->end_err)
		watch_end(w, -EHOSTUNREACH, 0,
			  "etcd watch: no endpoint took the watch (%s: %s)",
			  e->urls[last_i], last);
	else if (w->established)
		etcd_answered(e, used_i);
	post_end(w);
out:
	curl_easy_setopt(w->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hl);
	return NULL;
}

/* Free what watch_new built; the thread is gone (or never ran) and the
 * inbox empty. */
static void watch_free(sl_etcd_watch_t *w)
{
	if (w->curl)
		curl_easy_cleanup(w->curl);
	if (w->multi)
		curl_multi_cleanup(w->multi);
	sl_inbox_destroy(&w->inbox);
	sl_jsonframe_destroy(&w->frames);
	free(w->errbody.data);
	free(w->payload);
	free(w);
}

sl_etcd_watch_t *sl_etcd_watch_new(sl_etcd_t *e, const void *prefix,
				   size_t plen, int64_t start_rev, int *err)
{
	sl_etcd_watch_t *w = sl_xcalloc(1, sizeof(*w));
	json_t *req = json_object(), *create = json_object();
	uint8_t *end = sl_xmalloc(plen + 1);
	size_t elen = etcd_prefix_end(prefix, plen, end);
	int rc;

	w->e = e;
	json_object_set_new(create, "key",
			    plen ? etcd_j_bytes(prefix, plen)
				 : etcd_j_bytes("", 1));
	json_object_set_new(create, "range_end", etcd_j_bytes(end, elen));
	if (start_rev > 0)
		json_object_set_new(create, "start_revision",
				    etcd_j_num(start_rev));
	/* Big responses come in fragments, each within etcd's request limit,
	 * so reply_max holds whatever the events; we treat every event alike,
	 * so a fragment is just a shorter batch. */
	json_object_set_new(create, "fragment", json_true());
	json_object_set_new(req, "create_request", create);
	w->payload = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	free(end);
	w->frames = sl_jsonframe_new(e->o.reply_max);
	w->inbox = sl_inbox_new(&rc);
	if (!w->inbox)
		goto fail;
	w->multi = curl_multi_init();
	w->curl = etcd_handle_new(&e->o, w->curl_err);
	if (!w->payload || !w->multi || !w->curl) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = -pthread_create(&w->thread, NULL, watch_main, w);
	if (rc < 0)
		goto fail;
	*err = 0;
	return w;
fail:
	*err = rc;
	watch_free(w);
	return NULL;
}

void sl_etcd_watch_destroy(sl_etcd_watch_t **wp)
{
	sl_etcd_watch_t *w = wp ? *wp : NULL;
	sl_fifo_t left;

	if (!w)
		return;
	atomic_store(&w->stop, 1);
	curl_multi_wakeup(w->multi);
	pthread_join(w->thread, NULL);
	sl_inbox_close(w->inbox);
	sl_fifo_init(&left);
	sl_inbox_take(w->inbox, &left);
	free_batch(&left);
	watch_free(w);
	*wp = NULL;
}

int sl_etcd_watch_fd(const sl_etcd_watch_t *w)
{
	return sl_inbox_fd(w->inbox);
}

size_t sl_etcd_watch_take(sl_etcd_watch_t *w, sl_fifo_t *out)
{
	sl_fifo_t got;
	size_t n, bytes = 0;

	sl_fifo_init(&got);
	n = sl_inbox_take(w->inbox, &got);
	for (sl_qlink_t *l = got.head; l; l = l->next)
		bytes += sl_container_of(l, watch_ev_t, ev.link)->bytes;
	atomic_fetch_sub(&w->queued, bytes);
	sl_fifo_splice(out, &got);
	return n;
}
