/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The shared libcurl pieces (see curlkit.h).  One mutex for curl's shared
 * data rather than one per kind: curl may take a second kind while it
 * holds the first, so the mutex is recursive, and the caches are touched
 * briefly (a DNS lookup, a session ticket) next to a whole transfer.
 */
#include "common/curlkit.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/util.h"

struct sl_curlpool {
	CURLSH *share;
	pthread_mutex_t share_lock; /* recursive; curl's shared caches */
	pthread_mutex_t lock;
	sl_curl_handle_t *idle; /* protected by p->lock */
	size_t n_idle;		/* protected by p->lock */
	size_t max_idle;
	char agent[64];
	sl_curl_setup_fn *setup;
	void *arg;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int sl_curl_global_init(char *err, size_t errlen)
{
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK) {
		snprintf(err, errlen, "curl_global_init: %s",
			 curl_easy_strerror(global_rc));
		return -EIO;
	}
	return 0;
}

static void share_lock(CURL *e, curl_lock_data d, curl_lock_access a, void *u)
{
	sl_curlpool_t *p = u;

	(void)e;
	(void)d;
	(void)a;
	pthread_mutex_lock(&p->share_lock);
}

static void share_unlock(CURL *e, curl_lock_data d, void *u)
{
	sl_curlpool_t *p = u;

	(void)e;
	(void)d;
	pthread_mutex_unlock(&p->share_lock);
}

sl_curlpool_t *sl_curlpool_new(size_t max_idle, const char *agent,
			       sl_curl_setup_fn *setup, void *arg, char *err,
			       size_t errlen)
{
	sl_curlpool_t *p;
	pthread_mutexattr_t ma;

	if (sl_curl_global_init(err, errlen) < 0)
		return NULL;
	p = sl_xcalloc(1, sizeof(*p));
	p->share = curl_share_init();
	if (!p->share) {
		snprintf(err, errlen, "curl_share_init failed");
		free(p);
		return NULL;
	}
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&p->share_lock, &ma);
	pthread_mutexattr_destroy(&ma);
	pthread_mutex_init(&p->lock, NULL);
	p->max_idle = max_idle;
	snprintf(p->agent, sizeof(p->agent), "sluice/%s %s", SL_VERSION, agent);
	p->setup = setup;
	p->arg = arg;
	curl_share_setopt(p->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(p->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(p->share, CURLSHOPT_USERDATA, p);
	curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(p->share, CURLSHOPT_SHARE,
			  CURL_LOCK_DATA_SSL_SESSION);
	return p;
}

static void handle_free(sl_curl_handle_t *h)
{
	curl_easy_cleanup(h->curl);
	free(h);
}

void sl_curlpool_destroy(sl_curlpool_t **pp)
{
	sl_curlpool_t *p = pp ? *pp : NULL;

	if (!p)
		return;
	while (p->idle) {
		sl_curl_handle_t *next = p->idle->next;

		handle_free(p->idle);
		p->idle = next;
	}
	curl_share_cleanup(p->share);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->share_lock);
	free(p);
	*pp = NULL;
}

static sl_curl_handle_t *handle_new(sl_curlpool_t *p)
{
	CURL *e = curl_easy_init();
	sl_curl_handle_t *h;

	if (!e)
		return NULL;
	h = sl_xcalloc(1, sizeof(*h));
	h->curl = e;
	curl_easy_setopt(e, CURLOPT_SHARE, p->share);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L << 10);
	curl_easy_setopt(e, CURLOPT_USERAGENT, p->agent);
	if (p->setup)
		p->setup(e, p->arg);
	return h;
}

sl_curl_handle_t *sl_curlpool_get(sl_curlpool_t *p)
{
	sl_curl_handle_t *h;

	pthread_mutex_lock(&p->lock);
	h = p->idle;
	if (h) {
		p->idle = h->next;
		p->n_idle--;
		h->next = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	if (h)
		h->errbuf[0] = '\0';
	return h ? h : handle_new(p);
}

void sl_curlpool_put(sl_curlpool_t *p, sl_curl_handle_t *h)
{
	pthread_mutex_lock(&p->lock);
	if (p->n_idle < p->max_idle) {
		h->next = p->idle;
		p->idle = h;
		p->n_idle++;
		h = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	if (h)
		handle_free(h); /* more threads than the pool keeps */
}

int sl_curl_transient(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_AGAIN:
	case CURLE_WEIRD_SERVER_REPLY:
		return 1;
	default:
		return 0;
	}
}

uint64_t sl_backoff_ms(uint64_t base_ms, unsigned n, uint64_t *seed)
{
	uint64_t d = base_ms << SL_MIN(n > 0 ? n - 1 : 0, 6u);
	uint64_t z = (*seed += 0x9e3779b97f4a7c15ull);

	/* splitmix64: plenty for jitter. */
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return d / 2 + z % (d / 2 + 1);
}

void sl_sleep_ms(uint64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		continue;
}
