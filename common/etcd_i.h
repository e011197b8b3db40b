/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals of the etcd client shared by its calls (etcd.c) and its watch
 * thread (etcd_watch.c), with the JSON in etcd_json.c: the client's body,
 * bounded reply buffers, the curl plumbing and the reading of the gateway's
 * JSON.  Not for use outside these two files.
 */
#ifndef SL_ETCD_I_H
#define SL_ETCD_I_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/etcd.h"

#define ERRBODY_MAX  4096 /* what we keep of a refusal's body */
#define ETCD_MSG_MAX 160  /* what we quote of etcd's own message */
#define URL_MAX	     320

struct sl_etcd {
	char *urls[SL_ETCD_ENDPOINTS_MAX]; /* frozen after new */
	size_t n_urls;
	_Atomic size_t preferred; /* the endpoint that last answered */
	sl_etcd_opts_t o;	  /* defaults filled in; frozen */
	_Atomic uint64_t requests;
	_Atomic uint64_t failovers;
	_Atomic int interrupted;
	/* The rest belongs to the thread making calls. */
	CURLM *multi;
	CURL *curl;
	uint64_t rng;
	char curl_err[CURL_ERROR_SIZE];
	char err[SL_ETCD_ERR_MAX];
};

/* A reply body, bounded: past max the transfer is stopped (overflow) or,
 * for a refusal's body, the rest dropped (keep_head).  data is the
 * owner's to free. */
typedef struct body {
	char *data;
	size_t len, cap, max;
	int keep_head;
	int overflow;
} body_t;

/* The fields of one mvccpb.KeyValue, its bytes still base64 (borrowed
 * from the JSON they were read from). */
typedef struct kv_text {
	const char *key, *value;
	size_t key_n, value_n;
	int64_t create_revision, mod_revision, lease;
} kv_text_t;

/* curl: a handle with our options (errbuf and o borrowed for its life);
 * one transfer run to its end on m, CURLE_ABORTED_BY_CALLBACK once *stop
 * is set; the write callback into a body_t. */
CURL *etcd_handle_new(const sl_etcd_opts_t *o, char *errbuf);
CURLcode etcd_run_transfer(CURLM *m, CURL *h, _Atomic int *stop);
size_t etcd_on_body(char *p, size_t size, size_t nitems, void *ud);

/* Endpoint i answered: try it first from now on.  Any thread. */
void etcd_answered(sl_etcd_t *e, size_t i);

/* A refusal's body into -errno and a line "etcd WHAT: URL: STATUS MSG" in
 * msg[cap]. */
int etcd_refusal(const char *what, const char *url, long status,
		 const body_t *b, char *msg, size_t cap);
/* The errno for the gateway's gRPC status code (and message). */
int etcd_grpc_errno(int64_t code, const char *msg);
/* Up to ETCD_MSG_MAX printable bytes of src into dst[cap]. */
void etcd_quote_msg(const char *src, char *dst, size_t cap);

/* Padded base64 src[0..n) into dst (room for n / 4 * 3): the length, or
 * -EBADMSG. */
ssize_t etcd_b64_decode(const char *src, size_t n, uint8_t *dst);
/* JSON fields as the gateway writes them: int64 as strings (absent = 0),
 * bytes as base64 ("" when absent); and new values for requests. */
int etcd_j_int64(const json_t *o, const char *k, int64_t *out);
int etcd_j_b64(const json_t *o, const char *k, const char **s, size_t *n);
json_t *etcd_j_bytes(const void *p, size_t n);
json_t *etcd_j_num(int64_t v);
int etcd_kv_text(const json_t *kv, kv_text_t *t);

/* The end of the range of keys that start with p[0..n), into end (room
 * for n or 1 bytes); returns its length. */
size_t etcd_prefix_end(const uint8_t *p, size_t n, uint8_t *end);

#endif
