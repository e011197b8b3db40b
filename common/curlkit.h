/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The libcurl pieces every HTTP-speaking module shares (the s3 and webhdfs
 * backends): curl's global set-up, once; a pool of easy handles that share
 * one DNS cache and one TLS session cache, so a worker that takes a handle
 * reuses a kept-alive connection instead of paying a handshake per block;
 * which failures are worth another attempt; and jittered exponential
 * back-off between attempts.
 *
 * Prefix sl_curl_.  Thread safety: a pool may be used by any number of
 * threads at once (one mutex guards the idle list, another curl's shared
 * caches); a handle belongs to the thread that took it until it is put
 * back.  Nothing here logs.
 */
#ifndef SL_CURLKIT_H
#define SL_CURLKIT_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

/* curl_global_init, once per process.  0, or -EIO with one line in err. */
int sl_curl_global_init(char *err, size_t errlen);

/* One easy handle with its error buffer; the fields are the taker's. */
typedef struct sl_curl_handle {
	CURL *curl;
	char errbuf[CURL_ERROR_SIZE]; /* set as CURLOPT_ERRORBUFFER */
	struct sl_curl_handle *next;  /* in the pool while idle */
} sl_curl_handle_t;

/* The module's options for a new handle (credentials, CA file, callbacks),
 * called once per handle, after the common ones. */
typedef void sl_curl_setup_fn(CURL *e, void *arg);

typedef struct sl_curlpool sl_curlpool_t;

/*
 * A pool keeping at most max_idle idle handles (more are closed when put
 * back).  Every handle gets: the shared caches, CURLOPT_NOSIGNAL, http and
 * https only, no redirects followed, TCP keep-alive and no Nagle, a 256 KiB
 * receive buffer, the error buffer, and the user agent "sluice/VERSION
 * agent"; then setup(e, arg) (may be NULL; arg borrowed for the pool's
 * life).  Returns NULL with one line in err.  Caller frees with
 * sl_curlpool_destroy once no handle is out.
 */
sl_curlpool_t *sl_curlpool_new(size_t max_idle, const char *agent,
			       sl_curl_setup_fn *setup, void *arg, char *err,
			       size_t errlen);
void sl_curlpool_destroy(sl_curlpool_t **pp);

/* An idle handle, or a new one; NULL when curl cannot make one.  The
 * caller puts it back with sl_curlpool_put (or the pool leaks it). */
sl_curl_handle_t *sl_curlpool_get(sl_curlpool_t *p);
void sl_curlpool_put(sl_curlpool_t *p, sl_curl_handle_t *h);

/* True for transport failures another attempt may not meet: resolve,
 * connect, timeout, reset, short or garbled reply. */
int sl_curl_transient(CURLcode c);

/*
 * The wait before attempt n + 1 (n >= 1 attempts made): d = base_ms
 * doubled per attempt up to 64 x base_ms, and the wait drawn evenly from
 * [d/2, d] with *seed (any value; advanced), so that many workers retrying
 * one store do not come back in step.
 */
uint64_t sl_backoff_ms(uint64_t base_ms, unsigned n, uint64_t *seed);

/* Sleep ms milliseconds, through EINTR. */
void sl_sleep_ms(uint64_t ms);

#endif
