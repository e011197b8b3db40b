/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A Prometheus endpoint: an HTTP server (libmicrohttpd) answering GET
 * /metrics with the text a render callback makes, 404 elsewhere and 405
 * to other methods.  The cache node runs it on a thread of its own; the
 * FUSE client's supervisor, which keeps to one thread around one poll(2),
 * runs it from its loop (SL_PROMHTTP_EXTERNAL: poll sl_promhttp_fd, then
 * sl_promhttp_run).  At most 64 connections at once, each 10 s at most,
 * so what it holds is bounded whatever the scrapers do.
 */
#ifndef SL_PROMHTTP_H
#define SL_PROMHTTP_H

#include <stddef.h>

typedef struct sl_promhttp sl_promhttp_t;

/* The exposition text, malloc'd (the server frees it), *len its bytes.
 * Called on the server's thread (or the caller of sl_promhttp_run). */
typedef char *sl_promhttp_render_fn(void *arg, size_t *len);

enum {
	SL_PROMHTTP_EXTERNAL = 1, /* no thread: the caller polls and runs */
	SL_PROMHTTP_LOOPBACK = 2, /* ":PORT" is 127.0.0.1 (else any) */
};

/*
 * Listen on addr ("HOST:PORT", "[V6]:PORT", "*:PORT" for any, ":PORT" for
 * any or loopback by flags) and answer with render(arg) (arg borrowed,
 * outliving the server).  Returns NULL with one line in err.  Caller
 * stops it with sl_promhttp_stop.
 */
sl_promhttp_t *sl_promhttp_start(const char *addr, unsigned flags,
				 sl_promhttp_render_fn *render, void *arg,
				 char *err, size_t errlen);

/* SL_PROMHTTP_EXTERNAL: the descriptor to poll for POLLIN, and the most
 * milliseconds to wait before sl_promhttp_run anyway (-1: no limit). */
int sl_promhttp_fd(const sl_promhttp_t *h);
int sl_promhttp_timeout_ms(sl_promhttp_t *h);
/* SL_PROMHTTP_EXTERNAL: serve what is ready, without blocking. */
void sl_promhttp_run(sl_promhttp_t *h);

/* Stops serving and closes the socket.  Accepts NULL; clears *hp. */
void sl_promhttp_stop(sl_promhttp_t **hp);

#endif
