/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Membership through etcd (see members.h): the view thread and the
 * registration thread (the record and its JSON are in members_record.c).
 *
 * The view.  Its thread alternates between two states.  Syncing: range the
 * prefix into a fresh table of entries (one per key, decoded and checked),
 * which replaces the old one whole, then publish.  Following: watch from
 * the range's revision + 1, apply each event to the table and publish
 * after each batch.  Any end of the watch (etcd died or restarted, the
 * revision was compacted, the caller fell behind the queue bound, etcd
 * canceled it) sends it back to syncing, because only a range can say
 * what was missed; a range that fails means etcd is lost, and is retried
 * with a jittered back-off up to RETRY_MAX_MS while the last set stands.
 * The watch starts exactly after the range's revision, so nothing between
 * the two is lost or counted twice.
 *
 * Publishing derives the set from the table: the entries whose value is a
 * valid member named as its key, less those whose address an older entry
 * (smaller create revision) already has, so every view picks the same one
 * and a newcomer cannot displace a running node.  A set equal to the
 * current one is not published: a generation moves only when the members
 * do, so a ring built on it is not rebuilt for nothing.  A bad value is
 * logged when it arrives (once per key and revision: a resync does not
 * log it again) and counted.
 *
 * The registration.  Its thread grants a lease, puts the member under it
 * and refreshes it every third of the TTL etcd granted.  A refresh that
 * fails for want of etcd is retried sooner; the key survives while the
 * lease does, so a short outage costs nothing.  A refresh answered "no
 * such lease" (the lease expired during a longer outage, or etcd lost its
 * data) starts over with a new lease and a new put.
 */
#include "common/members.h"
#include "common/members_i.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/etcd.h"
#include "common/keymap.h"
#include "common/log.h"
#include "common/util.h"

#define DEF_TTL_MS	10000
#define DEF_TIMEOUT_MS	5000
#define REG_TIMEOUT_MIN 300 /* ms: a registration call's floor */
#define RETRY_MIN_MS	200
#define RETRY_MAX_MS	2000
#define WATCH_SHORT_MS	1000 /* a watch that ended sooner backs off */
#define MEMBERS_DIR	"members/"

/* ---- published sets ----------------------------------------------------- */

typedef struct set_box {
	_Atomic unsigned refs;
	sl_members_set_t pub;
	sl_member_t members[];
} set_box_t;

static set_box_t *set_new(size_t n, uint64_t generation)
{
	set_box_t *b = sl_xcalloc(1, sizeof(*b) + n * sizeof(sl_member_t));

	atomic_init(&b->refs, 1);
	b->pub.generation = generation;
	b->pub.count = n;
	b->pub.members = b->members;
	return b;
}

static void set_unref(set_box_t *b)
{
	if (b && atomic_fetch_sub(&b->refs, 1) == 1)
		free(b);
}

void sl_members_set_put(const sl_members_set_t **sp)
{
	if (!sp || !*sp)
		return;
	set_unref(sl_container_of(*sp, set_box_t, pub));
	*sp = NULL;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const sl_member_t *)a)->name,
		      ((const sl_member_t *)b)->name);
}

const sl_member_t *sl_members_set_find(const sl_members_set_t *s,
				       const char *name)
{
	sl_member_t key;

	if (sl_strlcpy(key.name, name, sizeof(key.name)) < 0)
		return NULL;
	return bsearch(&key, s->members, s->count, sizeof(sl_member_t),
		       by_name);
}

/* ---- the object ------------------------------------------------------- */

/* One key under PREFIX members/, as the view thread knows it. */
typedef struct entry {
	sl_knode_t node;
	uint8_t *key; /* owned, NUL-terminated */
	size_t klen;
	int64_t create_rev, mod_rev;
	int ok;		/* value valid and named as its key */
	int dup_logged; /* its address was taken; said so once */
	sl_member_t m;
} entry_t;

struct sl_members {
	char *prefix; /* PREFIX members/ */
	size_t plen;
	uint64_t ttl_s;
	size_t max_members;

	pthread_mutex_t lock;
	pthread_cond_t synced_cv; /* signalled with lock when synced */
	set_box_t *current;	  /* protected by lock */
	int synced;		  /* protected by lock */
	sl_members_stats_t st;	  /* protected by lock */
	int pub_fd;		  /* eventfd, written with lock held */

	/* The view thread's alone (after new). */
	sl_etcd_t *view_etcd;
	sl_keymap_t entries;
	pthread_t view_thread;
	int view_stop_fd;

	/* The owner's, and the registration thread's while it runs. */
	sl_etcd_t *reg_etcd;
	pthread_t reg_thread;
	int reg_running;
	int reg_stop_fd;
	sl_member_t self;
	char *reg_key, *reg_value;
	int64_t reg_lease; /* written by the thread, read after join */
};

static int fd_ready(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, timeout_ms) == 1;
}

/* Sleep ms unless stop_fd turns readable; 1 when it did. */
static int nap(int stop_fd, uint64_t ms)
{
	uint64_t end = sl_now_ms() + ms, now;

	while ((now = sl_now_ms()) < end)
		if (fd_ready(stop_fd, (int)(end - now)))
			return 1;
	return fd_ready(stop_fd, 0);
}

/* ms/2 .. ms, so that nodes that lost etcd together do not come back in
 * step. */
static uint64_t jittered(uint64_t ms)
{
	return ms / 2 + (sl_now_ns() / 1000) % (ms / 2 + 1);
}

static sl_blockkey_t key_hash(const void *k, size_t n)
{
	XXH128_hash_t h = XXH3_128bits(k, n);
	sl_blockkey_t b = {.hi = h.high64, .lo = h.low64};

	return b;
}

static entry_t *entry_find(const sl_keymap_t *t, const void *k, size_t n)
{
	sl_knode_t *kn = sl_keymap_find(t, key_hash(k, n));

	for (; kn; kn = sl_keymap_find_next(t, kn)) {
		entry_t *e = sl_container_of(kn, entry_t, node);

		if (e->klen == n && memcmp(e->key, k, n) == 0)
			return e;
	}
	return NULL;
}

static void entry_free(sl_knode_t *kn, void *arg)
{
	entry_t *e = sl_container_of(kn, entry_t, node);

	sl_keymap_remove(arg, kn);
	free(e->key);
	free(e);
}

static void table_clear(sl_keymap_t *t)
{
	sl_keymap_foreach(t, entry_free, t);
	sl_keymap_fini(t);
}

/*
 * Fill e from a value.  seen: the same key in the table being replaced
 * (NULL if none): when it held this very revision, its verdict is reused
 * and nothing is logged or counted again.
 */
static void entry_set(sl_members_t *m, entry_t *e, const uint8_t *v,
		      size_t vlen, int64_t create_rev, int64_t mod_rev,
		      const entry_t *seen)
{
	const char *name = (const char *)e->key + m->plen;
	size_t nlen = e->klen - m->plen;
	char why[200], b[80];
	int rc;

	e->create_rev = create_rev;
	e->dup_logged = 0;
	if (seen && seen->mod_rev == mod_rev) {
		e->mod_rev = mod_rev;
		e->ok = seen->ok;
		e->m = seen->m;
		e->dup_logged = seen->dup_logged;
		return;
	}
	e->mod_rev = mod_rev;
	rc = sl_members_decode(v, vlen, &e->m, why, sizeof(why));
	if (rc == 0 &&
	    (strlen(e->m.name) != nlen || memcmp(e->m.name, name, nlen) != 0)) {
		snprintf(why, sizeof(why),
			 "names '%s', not the key's name: a member is listed "
			 "under its own name only",
			 e->m.name);
		rc = -EINVAL;
	}
	e->ok = rc == 0;
	if (e->ok)
		return;
	pthread_mutex_lock(&m->lock);
	m->st.bad_values++;
	pthread_mutex_unlock(&m->lock);
	sl_warn("members: %s%s (revision %" PRId64 "): %s; ignored", m->prefix,
		members_shown(name, nlen, b, sizeof(b)), mod_rev, why);
}

/* A new entry for key k[0..n) in t, or NULL (counted, logged) when the
 * table is full. */
static entry_t *entry_add(sl_members_t *m, sl_keymap_t *t, const void *k,
			  size_t n)
{
	entry_t *e;

	if (t->count >= m->max_members) {
		pthread_mutex_lock(&m->lock);
		m->st.bad_values++;
		pthread_mutex_unlock(&m->lock);
		sl_log_ratelimited(SL_LOG_WARNING,
				   "members: over %zu keys under %s; the "
				   "others are ignored",
				   m->max_members, m->prefix);
		return NULL;
	}
	e = sl_xcalloc(1, sizeof(*e));
	e->key = sl_xmalloc(n + 1);
	memcpy(e->key, k, n);
	e->key[n] = 0;
	e->klen = n;
	e->node.key = key_hash(k, n);
	sl_keymap_insert(t, &e->node);
	return e;
}

/* ---- publishing ------------------------------------------------------- */

typedef struct collect {
	entry_t **v;
	size_t n;
} collect_t;

static void collect_ok(sl_knode_t *kn, void *arg)
{
	collect_t *c = arg;
	entry_t *e = sl_container_of(kn, entry_t, node);

	if (e->ok)
		c->v[c->n++] = e;
}

/* By address, then age: the first of each address keeps it. */
static int by_addr_age(const void *a, const void *b)
{
	const entry_t *x = *(entry_t *const *)a, *y = *(entry_t *const *)b;
	int c = strcmp(x->m.addr, y->m.addr);

	if (c)
		return c;
	if (x->create_rev != y->create_rev)
		return x->create_rev < y->create_rev ? -1 : 1;
	return strcmp((const char *)x->key, (const char *)y->key);
}

/* Derive the set from the table and publish it at generation gen when it
 * differs from the current one (or none was published yet). */
static void publish(sl_members_t *m, int64_t gen)
{
	collect_t c = {
		.v = sl_xmalloc((m->entries.count + 1) * sizeof(entry_t *))};
	set_box_t *b, *old = NULL;
	size_t n = 0, ignored;
	int same;

	sl_keymap_foreach(&m->entries, collect_ok, &c);
	qsort(c.v, c.n, sizeof(*c.v), by_addr_age);
	b = set_new(c.n, (uint64_t)gen);
	for (size_t i = 0; i < c.n; i++) {
		entry_t *e = c.v[i];

		if (n && strcmp(b->members[n - 1].addr, e->m.addr) == 0) {
			if (!e->dup_logged) {
				sl_warn("members: %s has addr %s, which %s "
					"has already; ignored",
					e->m.name, e->m.addr,
					b->members[n - 1].name);
				pthread_mutex_lock(&m->lock);
				m->st.bad_values++;
				pthread_mutex_unlock(&m->lock);
				e->dup_logged = 1;
			}
			continue;
		}
		e->dup_logged = 0;
		b->members[n++] = e->m;
	}
	free(c.v);
	b->pub.count = n;
	qsort(b->members, n, sizeof(sl_member_t), by_name);
	ignored = m->entries.count - n;

	pthread_mutex_lock(&m->lock);
	same = m->synced && m->current->pub.count == n;
	for (size_t i = 0; same && i < n; i++)
		same = members_eq(&m->current->members[i], &b->members[i]);
	m->st.ignored = ignored;
	/* An etcd that lost its data counts revisions from 1 again; the
	 * generation must still grow. */
	if (!same && m->synced && (uint64_t)gen <= m->st.generation) {
		sl_notice("members: etcd's revision %" PRId64 " is behind "
			  "generation %" PRIu64 " (etcd lost its data?)",
			  gen, m->st.generation);
		gen = (int64_t)m->st.generation + 1;
		b->pub.generation = (uint64_t)gen;
	}
	if (!same) {
		uint64_t one = 1;

		old = m->current;
		m->current = b;
		b = NULL;
		m->st.generation = (uint64_t)gen;
		m->st.members = n;
		if (write(m->pub_fd, &one, sizeof(one)) < 0)
			(void)0; /* the counter is already huge: readable */
	}
	if (!m->synced) {
		m->synced = 1;
		pthread_cond_broadcast(&m->synced_cv);
	}
	pthread_mutex_unlock(&m->lock);
	set_unref(old);
	set_unref(b);
}

static void set_online(sl_members_t *m, int online)
{
	pthread_mutex_lock(&m->lock);
	m->st.online = online;
	pthread_mutex_unlock(&m->lock);
}

/* ---- the view thread -------------------------------------------------- */

typedef struct ranging {
	sl_members_t *m;
	sl_keymap_t fresh;
} ranging_t;

static int on_kv(const sl_etcd_kv_t *kv, void *ud)
{
	ranging_t *r = ud;
	entry_t *e = entry_add(r->m, &r->fresh, kv->key, kv->key_len);

	if (e)
		entry_set(r->m, e, kv->value, kv->value_len,
			  kv->create_revision, kv->mod_revision,
			  entry_find(&r->m->entries, kv->key, kv->key_len));
	return 0;
}

/* Range the prefix into a new table that replaces the old; publish.
 * Returns the range's revision in *rev. */
static int resync(sl_members_t *m, int64_t *rev)
{
	ranging_t r = {.m = m};
	int rc;

	sl_keymap_init(&r.fresh);
	rc = sl_etcd_range_prefix(m->view_etcd, m->prefix, m->plen, on_kv, &r,
				  rev);
	if (rc < 0) {
		table_clear(&r.fresh);
		return rc;
	}
	table_clear(&m->entries);
	m->entries = r.fresh;
	pthread_mutex_lock(&m->lock);
	m->st.resyncs++;
	pthread_mutex_unlock(&m->lock);
	publish(m, *rev);
	return 0;
}

static void apply(sl_members_t *m, const sl_etcd_event_t *ev)
{
	entry_t *e = entry_find(&m->entries, ev->key, ev->key_len);

	if (ev->type == SL_ETCD_EV_DELETE) {
		if (e)
			entry_free(&e->node, &m->entries);
		return;
	}
	if (!e)
		e = entry_add(m, &m->entries, ev->key, ev->key_len);
	if (e)
		entry_set(m, e, ev->value, ev->value_len, ev->create_revision,
			  ev->revision, NULL);
}

/* Follow the prefix from rev + 1 until the watch ends (its END's error)
 * or the view is stopped (-ECANCELED). */
static int follow(sl_members_t *m, int64_t rev)
{
	sl_etcd_watch_t *w;
	int rc = 0, end = 0;

	w = sl_etcd_watch_new(m->view_etcd, m->prefix, m->plen, rev + 1, &rc);
	if (!w)
		return rc;
	while (!end) {
		struct pollfd p[2] = {
			{.fd = sl_etcd_watch_fd(w), .events = POLLIN},
			{.fd = m->view_stop_fd, .events = POLLIN},
		};
		int64_t last = 0;
		sl_qlink_t *l;
		sl_fifo_t got;

		if (poll(p, 2, -1) < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		if (p[1].revents) {
			rc = -ECANCELED;
			break;
		}
		sl_fifo_init(&got);
		sl_etcd_watch_take(w, &got);
		while ((l = sl_fifo_pop(&got)) != NULL) {
			sl_etcd_event_t *ev =
				sl_container_of(l, sl_etcd_event_t, link);

			if (ev->type == SL_ETCD_EV_END) {
				rc = ev->err;
				sl_info("members: %s; ranging %s again",
					ev->msg, m->prefix);
				end = 1;
			} else {
				apply(m, ev);
				last = ev->revision;
			}
			sl_etcd_event_free(ev);
		}
		if (last)
			publish(m, last);
	}
	sl_etcd_watch_destroy(&w);
	return rc;
}

static void *view_main(void *arg)
{
	sl_members_t *m = arg;
	uint64_t wait = RETRY_MIN_MS;
	int lost = 0;

	while (!fd_ready(m->view_stop_fd, 0)) {
		uint64_t t0;
		int64_t rev = 0;
		int rc = resync(m, &rev);

		if (rc == -ECANCELED)
			break;
		if (rc == -ESTALE)
			continue; /* compacted between two pages: again */
		if (rc < 0) {
			/* Unreachable, or answering nonsense: either way
			 * the last set stands. */
			set_online(m, 0);
			if (!lost) {
				sl_members_stats_t st;

				sl_members_stats(m, &st);
				sl_warn("members: etcd lost: %s; keeping the "
					"last %zu members (generation %" PRIu64
					") until it is back",
					sl_etcd_last_error(m->view_etcd),
					st.members, st.generation);
				lost = 1;
			}
			if (nap(m->view_stop_fd, jittered(wait)))
				break;
			wait = SL_MIN(wait * 2, RETRY_MAX_MS);
			continue;
		}
		set_online(m, 1);
		if (lost) {
			sl_notice("members: etcd is back (%s): resynced at "
				  "revision %" PRId64,
				  sl_etcd_endpoint(m->view_etcd), rev);
			lost = 0;
		}
		t0 = sl_now_ms();
		rc = follow(m, rev);
		if (rc == -ECANCELED && fd_ready(m->view_stop_fd, 0))
			break;
		/* A watch that keeps ending at once must not spin. */
		if (sl_now_ms() - t0 < WATCH_SHORT_MS) {
			if (nap(m->view_stop_fd, jittered(wait)))
				break;
			wait = SL_MIN(wait * 2, RETRY_MAX_MS);
		} else {
			wait = RETRY_MIN_MS;
		}
	}
	return NULL;
}

/* ---- the registration thread ----------------------------------------- */

static void set_lease(sl_members_t *m, int64_t lease, int registered)
{
	pthread_mutex_lock(&m->lock);
	m->st.lease = lease;
	if (registered)
		m->st.registrations++;
	pthread_mutex_unlock(&m->lock);
}

/* Grant a lease and put the member under it: the lease, or -errno. */
static int64_t put_under_lease(sl_members_t *m, uint64_t *period_ms)
{
	int64_t id = 0, granted = 0;
	int rc;

	rc = sl_etcd_lease_grant(m->reg_etcd, (int64_t)m->ttl_s, &id, &granted);
	if (rc < 0)
		return rc;
	rc = sl_etcd_put(m->reg_etcd, m->reg_key, strlen(m->reg_key),
			 m->reg_value, strlen(m->reg_value), id, NULL);
	if (rc < 0)
		return rc; /* the lease expires unused */
	*period_ms = (uint64_t)SL_MAX(granted, 1) * 1000 / 3;
	return id;
}

static void *reg_main(void *arg)
{
	sl_members_t *m = arg;
	const char *name = m->self.name;
	uint64_t period = m->ttl_s * 1000 / 3, next = 0;
	int64_t lease = 0;
	int trouble = 0;

	while (!fd_ready(m->reg_stop_fd, 0)) {
		int rc;

		if (!lease) {
			int64_t id = put_under_lease(m, &period);

			if (id == -ECANCELED)
				break;
			if (id < 0) {
				if (!trouble)
					sl_warn("members: cannot register %s: "
						"%s; retrying",
						name,
						sl_etcd_last_error(
							m->reg_etcd));
				trouble = 1;
				if (nap(m->reg_stop_fd,
					jittered(SL_MIN(period, RETRY_MAX_MS))))
					break;
				continue;
			}
			lease = id;
			set_lease(m, lease, 1);
			if (trouble)
				sl_notice("members: %s registered again (lease "
					  "%" PRIx64 ")",
					  name, (uint64_t)lease);
			else
				sl_info("members: %s registered (lease %" PRIx64
					")",
					name, (uint64_t)lease);
			trouble = 0;
			next = sl_now_ms() + period;
			continue;
		}
		if (nap(m->reg_stop_fd,
			next > sl_now_ms() ? next - sl_now_ms() : 0))
			break;
		rc = sl_etcd_lease_keepalive(m->reg_etcd, lease, NULL);
		if (rc == 0) {
			if (trouble)
				sl_notice("members: %s kept its lease; etcd "
					  "answers again",
					  name);
			trouble = 0;
			next = sl_now_ms() + period;
		} else if (rc == -ENOENT) {
			sl_notice("members: the lease of %s is gone (expired "
				  "or etcd lost it); registering again",
				  name);
			lease = 0;
			set_lease(m, 0, 0);
		} else if (rc == -ECANCELED) {
			break;
		} else {
			if (!trouble)
				sl_warn("members: cannot refresh the lease of "
					"%s: %s; retrying",
					name, sl_etcd_last_error(m->reg_etcd));
			trouble = 1;
			next = sl_now_ms() + SL_MIN(period, RETRY_MIN_MS * 2);
		}
	}
	m->reg_lease = lease;
	return NULL;
}

/* ---- lifecycle -------------------------------------------------------- */

/* Free what new built, threads stopped (or never started). */
static void members_free(sl_members_t *m)
{
	table_clear(&m->entries);
	set_unref(m->current);
	sl_etcd_destroy(&m->view_etcd);
	sl_etcd_destroy(&m->reg_etcd);
	if (m->view_stop_fd >= 0)
		close(m->view_stop_fd);
	if (m->reg_stop_fd >= 0)
		close(m->reg_stop_fd);
	if (m->pub_fd >= 0)
		close(m->pub_fd);
	pthread_cond_destroy(&m->synced_cv);
	pthread_mutex_destroy(&m->lock);
	free(m->prefix);
	free(m);
}

/* A view with no thread yet: NULL with *err and why. */
static sl_members_t *members_init(const sl_members_opts_t *o, int *err,
				  char *why, size_t whylen)
{
	sl_members_t *m = sl_xcalloc(1, sizeof(*m));
	uint64_t ttl_ms = o->lease_ttl_ms ? o->lease_ttl_ms : DEF_TTL_MS;
	uint64_t timeout = o->timeout_ms ? o->timeout_ms : DEF_TIMEOUT_MS;
	sl_etcd_opts_t vo = {.timeout_ms = timeout};
	sl_etcd_opts_t ro = {.timeout_ms = SL_MAX(SL_MIN(timeout, ttl_ms / 3),
						  REG_TIMEOUT_MIN)};
	pthread_condattr_t ca;
	size_t n = o->prefix ? strlen(o->prefix) : 0;
	int rc;

	m->view_stop_fd = m->reg_stop_fd = m->pub_fd = -1;
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->synced_cv, &ca);
	pthread_condattr_destroy(&ca);
	sl_keymap_init(&m->entries);
	m->current = set_new(0, 0);
	if (n == 0) {
		snprintf(why, whylen, "the etcd prefix is empty");
		rc = -EINVAL;
		goto fail;
	}
	m->prefix = sl_xmalloc(n + 1 + sizeof(MEMBERS_DIR));
	snprintf(m->prefix, n + 1 + sizeof(MEMBERS_DIR), "%s%s" MEMBERS_DIR,
		 o->prefix, o->prefix[n - 1] == '/' ? "" : "/");
	m->plen = strlen(m->prefix);
	m->ttl_s = (ttl_ms + 999) / 1000;
	m->max_members = o->max_members ? o->max_members : SL_MEMBERS_MAX;
	m->view_etcd = sl_etcd_new(o->endpoints, &vo, &rc, why, whylen);
	if (!m->view_etcd)
		goto fail;
	m->reg_etcd = sl_etcd_new(o->endpoints, &ro, &rc, why, whylen);
	if (!m->reg_etcd)
		goto fail;
	m->view_stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	m->reg_stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	m->pub_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->view_stop_fd < 0 || m->reg_stop_fd < 0 || m->pub_fd < 0) {
		rc = -errno;
		snprintf(why, whylen, "eventfd: %s", strerror(-rc));
		goto fail;
	}
	*err = 0;
	return m;
fail:
	*err = rc;
	members_free(m);
	return NULL;
}

sl_members_t *sl_members_new(const sl_members_opts_t *o, int *err, char *why,
			     size_t whylen)
{
	sl_members_t *m = members_init(o, err, why, whylen);
	int rc;

	if (!m)
		return NULL;
	rc = -pthread_create(&m->view_thread, NULL, view_main, m);
	if (rc < 0) {
		snprintf(why, whylen, "cannot start a thread: %s",
			 strerror(-rc));
		*err = rc;
		members_free(m);
		return NULL;
	}
	return m;
}

const sl_members_set_t *sl_members_fetch(const sl_members_opts_t *o, int *err,
					 char *why, size_t whylen)
{
	sl_members_t *m = members_init(o, err, why, whylen);
	const sl_members_set_t *set = NULL;
	int64_t rev = 0;
	int rc;

	if (!m)
		return NULL;
	do {
		rc = resync(m, &rev);
	} while (rc == -ESTALE); /* compacted between two pages */
	if (rc < 0) {
		snprintf(why, whylen, "%s", sl_etcd_last_error(m->view_etcd));
		*err = rc;
	} else {
		atomic_fetch_add(&m->current->refs, 1);
		set = &m->current->pub;
	}
	members_free(m);
	return set;
}

static void raise_fd(int fd)
{
	uint64_t one = 1;

	if (write(fd, &one, sizeof(one)) < 0)
		(void)0; /* only when already raised */
}

void sl_members_destroy(sl_members_t **mp)
{
	sl_members_t *m = mp ? *mp : NULL;

	if (!m)
		return;
	if (m->reg_running)
		sl_members_deregister(m);
	raise_fd(m->view_stop_fd);
	sl_etcd_interrupt(m->view_etcd);
	pthread_join(m->view_thread, NULL);
	members_free(m);
	*mp = NULL;
}

int sl_members_fd(const sl_members_t *m)
{
	return m->pub_fd;
}

const sl_members_set_t *sl_members_snapshot(sl_members_t *m)
{
	set_box_t *b;
	uint64_t v;

	pthread_mutex_lock(&m->lock);
	if (read(m->pub_fd, &v, sizeof(v)) < 0)
		(void)0; /* EAGAIN: nothing new */
	b = m->current;
	atomic_fetch_add(&b->refs, 1);
	pthread_mutex_unlock(&m->lock);
	return &b->pub;
}

int sl_members_wait(sl_members_t *m, uint64_t timeout_ms)
{
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(timeout_ms / 1000);
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&m->lock);
	while (!m->synced && rc == 0)
		rc = pthread_cond_timedwait(&m->synced_cv, &m->lock, &ts);
	rc = m->synced ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&m->lock);
	return rc;
}

int sl_members_register(sl_members_t *m, const sl_member_t *self, char *why,
			size_t whylen)
{
	size_t n;
	int rc;

	if (m->reg_running) {
		snprintf(why, whylen, "already registered as %s", m->self.name);
		return -EALREADY;
	}
	rc = sl_members_check(self, why, whylen);
	if (rc < 0)
		return rc;
	m->self = *self;
	m->reg_value = sl_members_encode(self);
	n = m->plen + strlen(self->name) + 1;
	m->reg_key = sl_xmalloc(n);
	snprintf(m->reg_key, n, "%s%s", m->prefix, self->name);
	m->reg_lease = 0;
	rc = -pthread_create(&m->reg_thread, NULL, reg_main, m);
	if (rc < 0) {
		snprintf(why, whylen, "cannot start a thread: %s",
			 strerror(-rc));
		free(m->reg_key);
		free(m->reg_value);
		m->reg_key = m->reg_value = NULL;
		return rc;
	}
	m->reg_running = 1;
	return 0;
}

int sl_members_deregister(sl_members_t *m)
{
	uint64_t v;
	int rc = 0;

	if (!m->reg_running)
		return -ENOENT;
	raise_fd(m->reg_stop_fd);
	sl_etcd_interrupt(m->reg_etcd);
	pthread_join(m->reg_thread, NULL);
	m->reg_running = 0;
	sl_etcd_resume(m->reg_etcd);
	if (read(m->reg_stop_fd, &v, sizeof(v)) < 0)
		(void)0; /* lowered for a later register */
	if (m->reg_lease) {
		rc = sl_etcd_lease_revoke(m->reg_etcd, m->reg_lease);
		if (rc == -ENOENT)
			rc = 0;
		if (rc < 0)
			sl_warn("members: cannot revoke the lease of %s: %s; "
				"it expires within %" PRIu64 " s",
				m->self.name, sl_etcd_last_error(m->reg_etcd),
				m->ttl_s);
		else
			sl_info("members: %s deregistered", m->self.name);
	}
	set_lease(m, 0, 0);
	m->reg_lease = 0;
	free(m->reg_key);
	free(m->reg_value);
	m->reg_key = m->reg_value = NULL;
	return rc;
}

void sl_members_stats(sl_members_t *m, sl_members_stats_t *out)
{
	pthread_mutex_lock(&m->lock);
	*out = m->st;
	pthread_mutex_unlock(&m->lock);
}
