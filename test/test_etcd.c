/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The etcd client of common/etcd.h against a real etcd server (skipped
 * only where /usr/bin/etcd is absent) and, for the answers a real etcd
 * never gives, a fake HTTP server on loopback:
 *
 *   - put / get / range / delete round trips keys and values with NUL,
 *     0xff and newline bytes, a prefix ending in 0xff included;
 *   - a range over 2,500 keys comes in pages (3 requests of 1,000 keys; more,
 *     smaller pages when a reply would exceed reply_max), all keys in key
 *     order at one revision: a key written between pages is not seen;
 *   - a key under a lease goes within TTL + 1 s of the last keepalive;
 *     keepalives keep it; revoke removes it; a gone lease is -ENOENT;
 *   - a watch delivers puts and deletes in revision order with their bytes
 *     intact, a 300 KiB value (many write callbacks) included, nothing
 *     outside its prefix; a compacted start revision ends it with -ESTALE;
 *     a flood the caller does not take ends it with -ENOBUFS; etcd killed
 *     mid-watch ends it with -ECONNRESET;
 *   - the second endpoint answers when the first is refused or says 503,
 *     and is tried first afterwards; nothing answering is -EHOSTUNREACH
 *     within the timeout; sl_etcd_interrupt and watch_destroy are prompt;
 *   - a reply that is not JSON is -EBADMSG, a watch stream that is not
 *     JSON or is cut mid-object ends the watch cleanly;
 *   - endpoint lists are checked, and a password in one is never echoed.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/etcd.h"
#include "common/util.h"
#include "test/helper_check.h"
#include "test/helper_etcd.h"
#include "test/helper_proc.h"

static sl_etcd_t *client(const char *endpoints, const sl_etcd_opts_t *o)
{
	char why[SL_ETCD_ERR_MAX];
	sl_etcd_t *e;
	int rc;

	e = sl_etcd_new(endpoints, o, &rc, why, sizeof(why));
	ck_assert_msg(e != NULL, "sl_etcd_new(%s): %s", endpoints, why);
	ck_assert_int_eq(rc, 0);
	return e;
}

static void must_put(sl_etcd_t *e, const char *key, size_t klen, const void *v,
		     size_t vlen, int64_t lease, int64_t *rev)
{
	int rc = sl_etcd_put(e, key, klen, v, vlen, lease, rev);

	ck_assert_msg(rc == 0, "put: %d %s", rc, sl_etcd_last_error(e));
}

/* ---- round trips -------------------------------------------------------- */

typedef struct seen {
	int n;
	char keys[16][32];
	size_t klen[16];
	char vals[16][32];
	size_t vlen[16];
} seen_t;

static int remember(const sl_etcd_kv_t *kv, void *ud)
{
	seen_t *s = ud;

	ck_assert_int_lt(s->n, 16);
	ck_assert_uint_lt(kv->key_len, 32);
	ck_assert_uint_lt(kv->value_len, 32);
	ck_assert_uint_eq(kv->key[kv->key_len], 0);
	memcpy(s->keys[s->n], kv->key, kv->key_len);
	s->klen[s->n] = kv->key_len;
	memcpy(s->vals[s->n], kv->value, kv->value_len);
	s->vlen[s->n] = kv->value_len;
	ck_assert_int_gt(kv->mod_revision, 0);
	s->n++;
	return 0;
}

START_TEST(binary_round_trip)
{
	sl_etcd_t *e = client(th_etcd_suite.url, NULL);
	/* Keys under a prefix that ends in 0xff, so its range end is not
	 * the prefix with its last byte raised. */
	static const char pfx[] = "rt/\xff\xff";
	static const char k1[] = "rt/\xff\xff\0a\nb";
	static const char k2[] = "rt/\xff\xff\xff";
	static const char out1[] = "rt/\xff\xfe";
	static const char out2[] = "rt0";
	static const char v1[] = "v\0\xff\n1";
	uint8_t *v = NULL;
	size_t vlen;
	int64_t rev = 0, mod = 0, rrev = 0;
	seen_t s = {0};

	must_put(e, k1, sizeof(k1) - 1, v1, sizeof(v1) - 1, 0, &rev);
	ck_assert_int_gt(rev, 0);
	must_put(e, k2, sizeof(k2) - 1, "", 0, 0, NULL);
	must_put(e, out1, sizeof(out1) - 1, "x", 1, 0, NULL);
	must_put(e, out2, sizeof(out2) - 1, "x", 1, 0, NULL);

	ck_assert_int_eq(sl_etcd_get(e, k1, sizeof(k1) - 1, &v, &vlen, &mod),
			 0);
	ck_assert_uint_eq(vlen, sizeof(v1) - 1);
	ck_assert_mem_eq(v, v1, vlen);
	ck_assert_int_eq(mod, rev);
	free(v);

	ck_assert_int_eq(sl_etcd_range_prefix(e, pfx, sizeof(pfx) - 1, remember,
					      &s, &rrev),
			 0);
	ck_assert_int_eq(s.n, 2);
	ck_assert_uint_eq(s.klen[0], sizeof(k1) - 1);
	ck_assert_mem_eq(s.keys[0], k1, sizeof(k1) - 1);
	ck_assert_mem_eq(s.vals[0], v1, sizeof(v1) - 1);
	ck_assert_mem_eq(s.keys[1], k2, sizeof(k2) - 1);
	ck_assert_uint_eq(s.vlen[1], 0);
	ck_assert_int_ge(rrev, rev + 3);

	ck_assert_int_eq(sl_etcd_delete(e, k1, sizeof(k1) - 1), 1);
	ck_assert_int_eq(sl_etcd_delete(e, k1, sizeof(k1) - 1), 0);
	ck_assert_int_eq(sl_etcd_get(e, k1, sizeof(k1) - 1, &v, &vlen, NULL),
			 -ENOENT);
	ck_assert_ptr_null(v);
	sl_etcd_destroy(&e);
	ck_assert_ptr_null(e);
}
END_TEST

/* ---- paged range -------------------------------------------------------- */

enum { NKEYS = 2500 };

typedef struct pages {
	int n;
	int in_order;
	char last[32];
	sl_etcd_t *writer; /* writes a key mid-range when set */
} pages_t;

static int count_keys(const sl_etcd_kv_t *kv, void *ud)
{
	pages_t *p = ud;
	char want[32], val[64];

	snprintf(want, sizeof(want), "pg/%05d", p->n);
	snprintf(val, sizeof(val), "value %05d %040d", p->n, 0);
	if (kv->key_len != strlen(want) || memcmp(kv->key, want, kv->key_len) ||
	    kv->value_len != strlen(val) ||
	    memcmp(kv->value, val, kv->value_len))
		p->in_order = 0;
	p->n++;
	if (p->writer && p->n == 1500)
		must_put(p->writer, "pg/02400a", 9, "late", 4, 0, NULL);
	return 0;
}

START_TEST(range_in_pages)
{
	sl_etcd_opts_t small = {.reply_max = 32 << 10};
	sl_etcd_t *e = client(th_etcd_suite.url, NULL);
	sl_etcd_t *w = client(th_etcd_suite.url, NULL);
	sl_etcd_t *s = client(th_etcd_suite.url, &small);
	sl_etcd_stats_t a, b;
	pages_t p = {.in_order = 1};
	int64_t rev = 0, last = 0, r2 = 0;

	for (int i = 0; i < NKEYS; i++) {
		char k[32], v[64];

		snprintf(k, sizeof(k), "pg/%05d", i);
		snprintf(v, sizeof(v), "value %05d %040d", i, 0);
		must_put(w, k, strlen(k), v, strlen(v), 0, &last);
	}
	sl_etcd_stats(e, &a);
	p.writer = w;
	ck_assert_int_eq(
		sl_etcd_range_prefix(e, "pg/", 3, count_keys, &p, &rev), 0);
	sl_etcd_stats(e, &b);
	/* One snapshot: the key written at #1500 for page 3 is not in it. */
	ck_assert_int_eq(p.n, NKEYS);
	ck_assert(p.in_order);
	ck_assert_int_eq(rev, last);
	ck_assert_uint_eq(b.requests - a.requests, 3);

	/* Pages over 32 KiB are halved until they fit. */
	memset(&p, 0, sizeof(p));
	p.in_order = 1;
	sl_etcd_stats(s, &a);
	ck_assert_int_eq(sl_etcd_range_prefix(s, "pg/", 3, count_keys, &p, &r2),
			 0);
	sl_etcd_stats(s, &b);
	ck_assert_int_eq(p.n, NKEYS + 1); /* now with the late key */
	ck_assert(!p.in_order);		  /* ... which breaks the pattern */
	ck_assert_uint_gt(b.requests - a.requests, 10);
	ck_assert_int_gt(r2, rev);
	sl_etcd_destroy(&e);
	sl_etcd_destroy(&w);
	sl_etcd_destroy(&s);
}
END_TEST

static int stop_at_3(const sl_etcd_kv_t *kv, void *ud)
{
	(void)kv;
	return ++*(int *)ud == 3 ? -EINTR : 0;
}

START_TEST(range_callback_stops)
{
	sl_etcd_t *e = client(th_etcd_suite.url, NULL);
	int n = 0;

	for (int i = 0; i < 5; i++) {
		char k[16];

		snprintf(k, sizeof(k), "cb/%d", i);
		must_put(e, k, strlen(k), "v", 1, 0, NULL);
	}
	ck_assert_int_eq(sl_etcd_range_prefix(e, "cb/", 3, stop_at_3, &n, NULL),
			 -EINTR);
	ck_assert_int_eq(n, 3);
	sl_etcd_destroy(&e);
}
END_TEST

/* ---- leases ------------------------------------------------------------ */

START_TEST(lease_expires)
{
	sl_etcd_t *e = client(th_etcd_suite.url, NULL);
	int64_t id = 0, ttl = 0;
	uint64_t t0;
	uint8_t *v = NULL;
	size_t n;
	int rc;

	ck_assert_int_eq(sl_etcd_lease_grant(e, 1, &id, &ttl), 0);
	ck_assert_int_ne(id, 0);
	ck_assert_int_eq(ttl, 1);
	must_put(e, "ls/exp", 6, "x", 1, id, NULL);
	t0 = sl_now_ms();
	ck_assert_int_eq(sl_etcd_get(e, "ls/exp", 6, &v, &n, NULL), 0);
	free(v);
	do {
		usleep(50000);
		rc = sl_etcd_get(e, "ls/exp", 6, &v, &n, NULL);
		free(v);
		v = NULL;
	} while (rc == 0 && sl_now_ms() - t0 < 5000);
	ck_assert_int_eq(rc, -ENOENT);
	ck_assert_uint_le(sl_now_ms() - t0, 2000); /* TTL + 1 s */
	ck_assert_int_eq(sl_etcd_lease_keepalive(e, id, NULL), -ENOENT);
	ck_assert_int_eq(sl_etcd_put(e, "ls/exp", 6, "x", 1, id, NULL),
			 -ENOENT);
	ck_assert_ptr_nonnull(strstr(sl_etcd_last_error(e), "lease not found"));
	sl_etcd_destroy(&e);
}
END_TEST

START_TEST(keepalive_keeps_and_revoke_removes)
{
	sl_etcd_t *e = client(th_etcd_suite.url, NULL);
	int64_t id = 0, ttl = 0;
	uint64_t t0 = sl_now_ms();
	uint8_t *v = NULL;
	size_t n;

	ck_assert_int_eq(sl_etcd_lease_grant(e, 1, &id, NULL), 0);
	must_put(e, "ls/keep", 7, "x", 1, id, NULL);
	while (sl_now_ms() - t0 < 3000) {
		usleep(250000);
		ck_assert_int_eq(sl_etcd_lease_keepalive(e, id, &ttl), 0);
		ck_assert_int_eq(ttl, 1);
	}
	ck_assert_int_eq(sl_etcd_get(e, "ls/keep", 7, &v, &n, NULL), 0);
	free(v);
	v = NULL;
	ck_assert_int_eq(sl_etcd_lease_revoke(e, id), 0);
	ck_assert_int_eq(sl_etcd_get(e, "ls/keep", 7, &v, &n, NULL), -ENOENT);
	ck_assert_int_eq(sl_etcd_lease_revoke(e, id), -ENOENT);
	sl_etcd_destroy(&e);
}
END_TEST

/* ---- watch ------------------------------------------------------------- */

/* Wait up to ms for events until want have come (or an END). */
static void wait_events(sl_etcd_watch_t *w, sl_fifo_t *got, size_t want, int ms)
{
	uint64_t deadline = sl_now_ms() + (uint64_t)ms;

	while (got->count < want && sl_now_ms() < deadline) {
		struct pollfd p = {.fd = sl_etcd_watch_fd(w), .events = POLLIN};
		sl_qlink_t *l;

		poll(&p, 1, 100);
		sl_etcd_watch_take(w, got);
		l = got->tail;
		if (l && sl_container_of(l, sl_etcd_event_t, link)->type ==
				 SL_ETCD_EV_END)
			break;
	}
}

static sl_etcd_event_t *pop(sl_fifo_t *q)
{
	sl_qlink_t *l = sl_fifo_pop(q);

	ck_assert_ptr_nonnull(l);
	return sl_container_of(l, sl_etcd_event_t, link);
}

static void free_all(sl_fifo_t *q)
{
	while (!sl_fifo_empty(q))
		sl_etcd_event_free(pop(q));
}

START_TEST(watch_in_order)
{
	sl_etcd_t *e = client(th_etcd_suite.url, NULL);
	enum { BIG = 300 << 10 };
	char *big = malloc(BIG);
	int64_t r0 = 0, r1, r2, r3, r4;
	sl_etcd_watch_t *w;
	sl_etcd_event_t *ev;
	sl_fifo_t got;
	int rc;

	for (int i = 0; i < BIG; i++)
		big[i] = (char)(i * 7 + (i >> 9));
	must_put(e, "wo/", 3, "prefix itself", 13, 0, &r0);
	/* From r0 + 1: what happens before the stream is up is not lost. */
	w = sl_etcd_watch_new(e, "wo/", 3, r0 + 1, &rc);
	ck_assert_ptr_nonnull(w);
	must_put(e, "wo/a", 4, "1", 1, 0, &r1);
	must_put(e, "wp/outside", 10, "x", 1, 0, NULL);
	must_put(e, "wo/b\0z", 6, "2\0", 2, 0, &r2);
	ck_assert_int_eq(sl_etcd_delete(e, "wo/a", 4), 1);
	must_put(e, "wo/big", 6, big, BIG, 0, &r4);
	sl_fifo_init(&got);
	wait_events(w, &got, 4, 10000);
	ck_assert_uint_eq(got.count, 4);

	ev = pop(&got);
	ck_assert_int_eq(ev->type, SL_ETCD_EV_PUT);
	ck_assert_uint_eq(ev->key_len, 4);
	ck_assert_mem_eq(ev->key, "wo/a", 4);
	ck_assert_uint_eq(ev->value_len, 1);
	ck_assert_int_eq(ev->revision, r1);
	ck_assert_int_eq(ev->create_revision, r1);
	ck_assert_ptr_null(ev->msg);
	sl_etcd_event_free(ev);

	ev = pop(&got);
	ck_assert_int_eq(ev->type, SL_ETCD_EV_PUT);
	ck_assert_uint_eq(ev->key_len, 6);
	ck_assert_mem_eq(ev->key, "wo/b\0z", 6);
	ck_assert_uint_eq(ev->value_len, 2);
	ck_assert_mem_eq(ev->value, "2\0", 2);
	ck_assert_int_eq(ev->revision, r2);
	sl_etcd_event_free(ev);

	ev = pop(&got);
	ck_assert_int_eq(ev->type, SL_ETCD_EV_DELETE);
	ck_assert_mem_eq(ev->key, "wo/a", 4);
	r3 = ev->revision;
	ck_assert_int_gt(r3, r2);
	sl_etcd_event_free(ev);

	ev = pop(&got);
	ck_assert_int_eq(ev->type, SL_ETCD_EV_PUT);
	ck_assert_mem_eq(ev->key, "wo/big", 6);
	ck_assert_uint_eq(ev->value_len, BIG);
	ck_assert_mem_eq(ev->value, big, BIG);
	ck_assert_int_eq(ev->revision, r4);
	ck_assert_int_gt(r4, r3);
	sl_etcd_event_free(ev);

	sl_etcd_watch_destroy(&w);
	ck_assert_ptr_null(w);
	free(big);
	sl_etcd_destroy(&e);
}
END_TEST

START_TEST(watch_compacted)
{
	sl_etcd_t *e = client(th_etcd_suite.url, NULL);
	int64_t r1 = 0, r2 = 0;
	sl_etcd_watch_t *w;
	sl_etcd_event_t *ev;
	sl_fifo_t got;
	int rc;

	must_put(e, "wc/a", 4, "1", 1, 0, &r1);
	must_put(e, "wc/a", 4, "2", 1, 0, &r2);
	ck_assert_int_eq(sl_etcd_compact(e, r2), 0);
	w = sl_etcd_watch_new(e, "wc/", 3, r1, &rc);
	ck_assert_ptr_nonnull(w);
	sl_fifo_init(&got);
	wait_events(w, &got, 1, 5000);
	ck_assert_uint_eq(got.count, 1);
	ev = pop(&got);
	ck_assert_int_eq(ev->type, SL_ETCD_EV_END);
	ck_assert_int_eq(ev->err, -ESTALE);
	ck_assert_int_eq(ev->revision, r2);
	ck_assert_ptr_nonnull(strstr(ev->msg, "compacted"));
	sl_etcd_event_free(ev);
	sl_etcd_watch_destroy(&w);
	sl_etcd_destroy(&e);
}
END_TEST

START_TEST(watch_flood_not_taken)
{
	sl_etcd_opts_t o = {.watch_queue_max = 8 << 10};
	sl_etcd_t *e = client(th_etcd_suite.url, &o);
	char v[300];
	int64_t r0 = 0;
	sl_etcd_watch_t *w;
	sl_etcd_event_t *ev;
	sl_fifo_t got;
	int rc;

	memset(v, 'v', sizeof(v));
	must_put(e, "wf/", 3, "", 0, 0, &r0);
	for (int i = 0; i < 100; i++)
		must_put(e, "wf/k", 4, v, sizeof(v), 0, NULL);
	w = sl_etcd_watch_new(e, "wf/", 3, r0 + 1, &rc);
	ck_assert_ptr_nonnull(w);
	/* The history comes at once; take nothing for a second. */
	usleep(1000000);
	sl_fifo_init(&got);
	wait_events(w, &got, 1000, 3000);
	ck_assert_uint_lt(got.count, 100);
	ev = sl_container_of(got.tail, sl_etcd_event_t, link);
	ck_assert_int_eq(ev->type, SL_ETCD_EV_END);
	ck_assert_int_eq(ev->err, -ENOBUFS);
	free_all(&got);
	sl_etcd_watch_destroy(&w);
	sl_etcd_destroy(&e);
}
END_TEST

START_TEST(watch_etcd_dies)
{
	th_etcd_t own;
	sl_etcd_t *e;
	sl_etcd_watch_t *w;
	sl_etcd_event_t *ev;
	sl_fifo_t got;
	int64_t rev = 0;
	uint64_t t0;
	int rc;

	ck_assert_int_eq(th_etcd_start(&own), 0);
	e = client(own.url, NULL);
	must_put(e, "wd/a", 4, "1", 1, 0, &rev);
	w = sl_etcd_watch_new(e, "wd/", 3, rev, &rc);
	ck_assert_ptr_nonnull(w);
	sl_fifo_init(&got);
	wait_events(w, &got, 1, 5000);
	ck_assert_uint_eq(got.count, 1);
	free_all(&got);
	t0 = sl_now_ms();
	ck_assert_int_eq(th_etcd_stop(&own, SIGKILL), 0);
	wait_events(w, &got, 1, 5000);
	ck_assert_uint_eq(got.count, 1);
	ev = pop(&got);
	ck_assert_int_eq(ev->type, SL_ETCD_EV_END);
	ck_assert_int_eq(ev->err, -ECONNRESET);
	ck_assert_uint_lt(sl_now_ms() - t0, 2000);
	sl_etcd_event_free(ev);
	sl_etcd_watch_destroy(&w);

	/* And a new watch on a dead etcd ends at once, not hangs. */
	w = sl_etcd_watch_new(e, "wd/", 3, 0, &rc);
	wait_events(w, &got, 1, 5000);
	ev = pop(&got);
	ck_assert_int_eq(ev->type, SL_ETCD_EV_END);
	ck_assert_int_eq(ev->err, -EHOSTUNREACH);
	sl_etcd_event_free(ev);
	sl_etcd_watch_destroy(&w);
	sl_etcd_destroy(&e);
	th_etcd_fini(&own);
}
END_TEST

/* ---- a fake server for what etcd never says ---------------------------- */

typedef struct fake {
	int lfd;
	int port;
	const char *reply; /* sent whole, then the connection is closed */
	_Atomic int hits;
	_Atomic int stop;
	pthread_t th;
} fake_t;

static void *fake_main(void *arg)
{
	fake_t *f = arg;

	while (!atomic_load(&f->stop)) {
		struct pollfd p = {.fd = f->lfd, .events = POLLIN};
		char buf[8192];
		size_t have = 0;
		int c;

		if (poll(&p, 1, 50) != 1)
			continue;
		c = accept(f->lfd, NULL, NULL);
		if (c < 0)
			continue;
		/* Headers and a small body: enough to be a request. */
		while (have < sizeof(buf) - 1) {
			struct pollfd q = {.fd = c, .events = POLLIN};
			ssize_t n;

			if (poll(&q, 1, 200) != 1)
				break;
			n = read(c, buf + have, sizeof(buf) - 1 - have);
			if (n <= 0)
				break;
			have += (size_t)n;
			buf[have] = 0;
			if (strstr(buf, "\r\n\r\n") &&
			    strchr(strstr(buf, "\r\n\r\n"), '}'))
				break;
		}
		atomic_fetch_add(&f->hits, 1);
		if (write(c, f->reply, strlen(f->reply)) < 0)
			(void)0;
		close(c);
	}
	return NULL;
}

static void fake_start(fake_t *f, const char *reply)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);

	memset(f, 0, sizeof(*f));
	f->reply = reply;
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(f->lfd, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(f->lfd, 16), 0);
	getsockname(f->lfd, (struct sockaddr *)&a, &alen);
	f->port = ntohs(a.sin_port);
	ck_assert_int_eq(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_stop(fake_t *f)
{
	atomic_store(&f->stop, 1);
	pthread_join(f->th, NULL);
	close(f->lfd);
}

START_TEST(failover_to_second)
{
	int dead = th_free_port();
	char list[256];
	sl_etcd_t *e;
	sl_etcd_stats_t a, b;
	uint8_t *v = NULL;
	size_t n;

	snprintf(list, sizeof(list), " http://127.0.0.1:%d/ , %s", dead,
		 th_etcd_suite.url);
	e = client(list, NULL);
	must_put(e, "fo/a", 4, "1", 1, 0, NULL);
	ck_assert_str_eq(sl_etcd_endpoint(e), th_etcd_suite.url);
	sl_etcd_stats(e, &a);
	ck_assert_uint_eq(a.failovers, 1);
	ck_assert_uint_eq(a.requests, 2);
	/* Remembered: the next call goes straight to the second. */
	ck_assert_int_eq(sl_etcd_get(e, "fo/a", 4, &v, &n, NULL), 0);
	free(v);
	sl_etcd_stats(e, &b);
	ck_assert_uint_eq(b.requests, 3);
	ck_assert_uint_eq(b.failovers, 1);
	sl_etcd_destroy(&e);
}
END_TEST

START_TEST(failover_on_503)
{
	fake_t f;
	char list[256];
	sl_etcd_t *e;
	sl_etcd_watch_t *w;
	sl_fifo_t got;
	int64_t rev = 0;
	int rc;

	fake_start(&f, "HTTP/1.1 503 Service Unavailable\r\n"
		       "Content-Length: 0\r\nConnection: close\r\n\r\n");
	snprintf(list, sizeof(list), "http://127.0.0.1:%d,%s", f.port,
		 th_etcd_suite.url);
	e = client(list, NULL);
	must_put(e, "f5/a", 4, "1", 1, 0, &rev);
	ck_assert_int_eq(atomic_load(&f.hits), 1);
	ck_assert_str_eq(sl_etcd_endpoint(e), th_etcd_suite.url);
	sl_etcd_destroy(&e);

	/* A watch fails over the same way. */
	e = client(list, NULL);
	w = sl_etcd_watch_new(e, "f5/", 3, rev, &rc);
	sl_fifo_init(&got);
	wait_events(w, &got, 1, 5000);
	ck_assert_uint_eq(got.count, 1);
	ck_assert_int_eq(sl_container_of(got.head, sl_etcd_event_t, link)->type,
			 SL_ETCD_EV_PUT);
	free_all(&got);
	ck_assert_int_eq(atomic_load(&f.hits), 2);
	sl_etcd_watch_destroy(&w);
	sl_etcd_destroy(&e);
	fake_stop(&f);
}
END_TEST

START_TEST(nothing_answers)
{
	sl_etcd_opts_t o = {.timeout_ms = 600};
	char list[128];
	sl_etcd_stats_t st;
	uint64_t t0;
	sl_etcd_t *e;
	int rc;

	snprintf(list, sizeof(list), "http://127.0.0.1:%d,http://127.0.0.1:%d",
		 th_free_port(), th_free_port());
	e = client(list, &o);
	t0 = sl_now_ms();
	rc = sl_etcd_put(e, "x", 1, "y", 1, 0, NULL);
	ck_assert_int_eq(rc, -EHOSTUNREACH);
	ck_assert_uint_le(sl_now_ms() - t0, 1000);
	sl_etcd_stats(e, &st);
	ck_assert_uint_gt(st.requests, 2); /* both, then again */
	ck_assert_ptr_nonnull(
		strstr(sl_etcd_last_error(e), "no endpoint answered"));
	sl_etcd_destroy(&e);
}
END_TEST

typedef struct intr {
	sl_etcd_t *e;
	int delay_ms;
} intr_t;

static void *interrupter(void *arg)
{
	intr_t *i = arg;

	usleep((useconds_t)i->delay_ms * 1000);
	sl_etcd_interrupt(i->e);
	return NULL;
}

START_TEST(interrupt_is_prompt)
{
	sl_etcd_opts_t o = {.timeout_ms = 20000};
	char list[64];
	intr_t i = {.delay_ms = 200};
	pthread_t th;
	uint64_t t0;
	sl_etcd_watch_t *w;
	sl_etcd_t *e;
	int rc;

	snprintf(list, sizeof(list), "http://127.0.0.1:%d", th_free_port());
	e = client(list, &o);
	i.e = e;
	t0 = sl_now_ms();
	pthread_create(&th, NULL, interrupter, &i);
	rc = sl_etcd_lease_keepalive(e, 1, NULL);
	pthread_join(th, NULL);
	ck_assert_int_eq(rc, -ECANCELED);
	ck_assert_uint_lt(sl_now_ms() - t0, 1000);
	ck_assert_int_eq(sl_etcd_put(e, "x", 1, "y", 1, 0, NULL), -ECANCELED);
	sl_etcd_resume(e);
	sl_etcd_destroy(&e);

	/* An idle watch on a live etcd stops at once when destroyed. */
	e = client(th_etcd_suite.url, NULL);
	w = sl_etcd_watch_new(e, "idle/", 5, 0, &rc);
	ck_assert_ptr_nonnull(w);
	usleep(300000);
	t0 = sl_now_ms();
	sl_etcd_watch_destroy(&w);
	ck_assert_uint_lt(sl_now_ms() - t0, 200);
	sl_etcd_destroy(&e);
}
END_TEST

START_TEST(bad_replies)
{
	static const char *const cases[] = {
		/* A call's reply that is not JSON. */
		"not json!",
		/* A stream that is not JSON. */
		"{\"result\":}x",
		/* A stream cut in the middle of an object (raw, chunked). */
		NULL,
		/* Base64 that is not. */
		"{\"result\":{\"events\":[{\"kv\":{\"key\":\"%%%\"}}]}}",
	};
	static const char cut[] =
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		"1c\r\n{\"result\":{\"created\":true}}\r\n"
		"10\r\n{\"result\":{\"eve\r\n";
	static const int want[] = {-EBADMSG, -EBADMSG, -ECONNRESET, -EBADMSG};

	for (size_t c = 0; c < SL_ARRAY_SIZE(cases); c++) {
		fake_t f;
		char url[64], reply[512];
		sl_etcd_t *e;
		sl_etcd_watch_t *w;
		sl_etcd_event_t *ev;
		sl_fifo_t got;
		int rc;

		if (cases[c])
			snprintf(reply, sizeof(reply),
				 "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n"
				 "\r\n%s",
				 strlen(cases[c]), cases[c]);
		else
			snprintf(reply, sizeof(reply), "%s", cut);
		fake_start(&f, reply);
		snprintf(url, sizeof(url), "http://127.0.0.1:%d", f.port);
		e = client(url, NULL);
		if (c == 0) {
			rc = sl_etcd_put(e, "k", 1, "v", 1, 0, NULL);
			ck_assert_int_eq(rc, -EBADMSG);
			ck_assert_ptr_nonnull(
				strstr(sl_etcd_last_error(e), "not JSON"));
		} else {
			w = sl_etcd_watch_new(e, "b/", 2, 0, &rc);
			sl_fifo_init(&got);
			wait_events(w, &got, 1, 5000);
			ck_assert_uint_eq(got.count, 1);
			ev = pop(&got);
			ck_assert_int_eq(ev->type, SL_ETCD_EV_END);
			ck_assert_msg(ev->err == want[c], "case %zu: %d (%s)",
				      c, ev->err, ev->msg);
			sl_etcd_event_free(ev);
			sl_etcd_watch_destroy(&w);
		}
		sl_etcd_destroy(&e);
		fake_stop(&f);
	}
}
END_TEST

START_TEST(endpoint_lists)
{
	static const char *const bad[] = {
		"",
		"http://a:1,,http://b:2",
		"ftp://a:1",
		"http://a:1/v3",
		"127.0.0.1:2379",
		"http://",
	};
	char why[SL_ETCD_ERR_MAX];
	sl_etcd_t *e;
	int rc;

	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
		why[0] = 0;
		e = sl_etcd_new(bad[i], NULL, &rc, why, sizeof(why));
		ck_assert_msg(e == NULL, "accepted '%s'", bad[i]);
		ck_assert_int_eq(rc, -EINVAL);
		ck_assert(why[0] != 0);
	}
	e = sl_etcd_new("http://root:s3cret@127.0.0.1:2379", NULL, &rc, why,
			sizeof(why));
	ck_assert_ptr_null(e);
	ck_assert_ptr_null(strstr(why, "s3cret"));
	ck_assert_ptr_nonnull(strstr(why, "password"));
	e = sl_etcd_new("https://a.example:2379/,http://b:1", NULL, &rc, why,
			sizeof(why));
	ck_assert_ptr_nonnull(e);
	ck_assert_str_eq(sl_etcd_endpoint(e), "https://a.example:2379");
	sl_etcd_destroy(&e);
	sl_etcd_destroy(&e); /* NULL is fine */
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE(
		"etcd",
		{.name = "etcd",
		 .tests = TH_TESTS(binary_round_trip, range_in_pages,
				   range_callback_stops, lease_expires,
				   keepalive_keeps_and_revoke_removes,
				   watch_in_order, watch_compacted,
				   watch_flood_not_taken, watch_etcd_dies,
				   failover_to_second, failover_on_503,
				   nothing_answers, interrupt_is_prompt,
				   bad_replies, endpoint_lists),
		 .timeout = 60});
	th_check_opts_t o = {
		.tmp_tag = "test-etcd",
		.before = th_etcd_suite_start,
		.after = th_etcd_suite_stop,
	};

	if (!th_etcd_available())
		return th_check_skip_suite("etcd", TH_ETCD_BIN
					   " is absent "
					   "(apt-get install etcd-server)");
	signal(SIGPIPE, SIG_IGN);
	return th_check_run(s, &o);
}
