/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Membership through etcd (common/members.h) against a real etcd server
 * (skipped only where /usr/bin/etcd is absent):
 *
 *   - a member record survives encode and decode; bad JSON, missing or
 *     out-of-range fields, bad names and addresses are refused with why;
 *   - two registered members appear in a view within 1 s (one of them
 *     through an endpoint list whose first endpoint is dead), with every
 *     field, and the view's fd says so; one deregistered leaves within 1 s;
 *   - a registered process killed with SIGKILL leaves once its lease
 *     expires (not before, and within TTL + 1 s);
 *   - a lease revoked behind a member's back is replaced: it registers
 *     again and is back in the view;
 *   - etcd stopped for 10 s: the view keeps its set all along, logs one
 *     line when etcd is lost and one when it is back, resyncs, and sees a
 *     member that joined after the restart; the member that was
 *     registered throughout is still there; etcd back with no data:
 *     generations still only grow and the member registers again;
 *   - bad values (not JSON, a bad address, a name that is not its key's,
 *     an address taken by an older member, a value over 4 KiB) are left
 *     out and counted while the good members stand; a bad value made good
 *     joins, and when the older member goes, the younger one with its
 *     address takes its place; keys over max_members are left out;
 *   - a one-shot fetch (no thread) gives the set a view would, bad values
 *     left out, and -EHOSTUNREACH without etcd;
 *   - without etcd, wait() times out, and destroy() is prompt.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/etcd.h"
#include "common/log.h"
#include "common/members.h"
#include "common/util.h"
#include "test/helper_check.h"
#include "test/helper_etcd.h"
#include "test/helper_proc.h"

#define TTL_MS 2000

static sl_member_t member(const char *name, int port)
{
	sl_member_t m;

	memset(&m, 0, sizeof(m));
	snprintf(m.name, sizeof(m.name), "%s", name);
	snprintf(m.addr, sizeof(m.addr), "tcp://127.0.0.1:%d", port);
	snprintf(m.metrics_addr, sizeof(m.metrics_addr), "127.0.0.1:%d",
		 port + 1);
	m.weight = 7;
	m.capacity = 3ull << 40;
	snprintf(m.public_key, sizeof(m.public_key), "Z85key-%s", name);
	return m;
}

static sl_members_t *view(const char *endpoints, const char *prefix)
{
	sl_members_opts_t o = {
		.endpoints = endpoints,
		.prefix = prefix,
		.lease_ttl_ms = TTL_MS,
		.timeout_ms = 1000,
	};
	char why[256];
	sl_members_t *m;
	int rc;

	m = sl_members_new(&o, &rc, why, sizeof(why));
	ck_assert_msg(m != NULL, "sl_members_new: %s", why);
	return m;
}

static void must_register(sl_members_t *m, const sl_member_t *self)
{
	char why[256];

	ck_assert_msg(sl_members_register(m, self, why, sizeof(why)) == 0,
		      "register: %s", why);
}

/* "a,b": exactly these names, in this order. */
static int names_are(const sl_members_set_t *s, const char *names)
{
	char buf[512] = "";

	for (size_t i = 0; i < s->count; i++) {
		if (i)
			strcat(buf, ",");
		strcat(buf, s->members[i].name);
	}
	return strcmp(buf, names) == 0;
}

/* Poll m's snapshots until it holds exactly names, up to ms: the time it
 * took, or -1. */
static long until(sl_members_t *m, const char *names, int ms)
{
	uint64_t t0 = sl_now_ms();

	for (;;) {
		const sl_members_set_t *s = sl_members_snapshot(m);
		int ok = names_are(s, names);

		sl_members_set_put(&s);
		if (ok)
			return (long)(sl_now_ms() - t0);
		if (sl_now_ms() - t0 > (uint64_t)ms)
			return -1;
		usleep(10000);
	}
}

/* Register self through r, the only member under its prefix, and wait
 * for v to see it: v's generation then. */
static uint64_t join(sl_members_t *v, sl_members_t *r, const sl_member_t *self)
{
	sl_members_stats_t st;

	must_register(r, self);
	ck_assert_msg(until(v, self->name, 2000) >= 0, "%s never joined",
		      self->name);
	sl_members_stats(v, &st);
	return st.generation;
}

static char *prefix_for(const char *test)
{
	char *p = malloc(128);

	snprintf(p, 128, "/sluice/%s-%d/", test, (int)getpid());
	return p;
}

/* ---- the record --------------------------------------------------------- */

START_TEST(record_codec)
{
	sl_member_t m = member("node-1.a_b", 7000), out;
	static const char *const bad[] = {
		"not json",
		"[1,2]",
		"{\"addr\":\"tcp://h:1\",\"weight\":1,\"capacity\":0}",
		"{\"name\":\"..\",\"addr\":\"tcp://h:1\",\"weight\":1,"
		"\"capacity\":0}",
		"{\"name\":\"n\",\"addr\":\"h:1\",\"weight\":1,\"capacity\":0}",
		"{\"name\":\"n\",\"addr\":\"tcp://h\",\"weight\":1,"
		"\"capacity\":0}",
		"{\"name\":\"n\",\"addr\":\"udp://h:1\",\"weight\":1,"
		"\"capacity\":0}",
		"{\"name\":\"n\",\"addr\":\"tcp://h:1\",\"weight\":0,"
		"\"capacity\":0}",
		"{\"name\":\"n\",\"addr\":\"tcp://h:1\",\"weight\":101,"
		"\"capacity\":0}",
		"{\"name\":\"n\",\"addr\":\"tcp://h:1\",\"weight\":\"5\","
		"\"capacity\":0}",
		"{\"name\":\"n\",\"addr\":\"tcp://h:1\",\"weight\":1,"
		"\"capacity\":-1}",
		"{\"name\":\"n\",\"addr\":\"tcp://h:1\",\"weight\":1}",
		"{\"name\":\"n\",\"name\":\"m\",\"addr\":\"tcp://h:1\","
		"\"weight\":1,\"capacity\":0}",
		"{\"name\":\"n\\u0000x\",\"addr\":\"tcp://h:1\",\"weight\":1,"
		"\"capacity\":0}",
		"{\"name\":\"n\",\"addr\":\"tcp://h:1\",\"weight\":1,"
		"\"capacity\":0,\"metrics_addr\":\"nope\"}",
		"{\"name\":\"n\",\"addr\":\"tcp://h:1\",\"weight\":1,"
		"\"capacity\":0,\"public_key\":\"a b\"}",
	};
	char why[256], *json, big[SL_MEMBERS_VALUE_MAX + 64];
	const char *lean;

	json = sl_members_encode(&m);
	ck_assert_ptr_nonnull(json);
	ck_assert_int_eq(
		sl_members_decode(json, strlen(json), &out, why, sizeof(why)),
		0);
	ck_assert_str_eq(out.name, m.name);
	ck_assert_str_eq(out.addr, "tcp://127.0.0.1:7000");
	ck_assert_str_eq(out.metrics_addr, "127.0.0.1:7001");
	ck_assert_uint_eq(out.weight, 7);
	ck_assert_uint_eq(out.capacity, 3ull << 40);
	ck_assert_str_eq(out.public_key, "Z85key-node-1.a_b");
	free(json);

	/* Optional fields may be absent, unknown ones are ignored. */
	lean = "{\"name\":\"n\",\"addr\":\"tcp://[::1]:1\",\"weight\":100,"
	       "\"capacity\":0,\"zone\":\"eu-1\"}";
	ck_assert_int_eq(
		sl_members_decode(lean, strlen(lean), &out, why, sizeof(why)),
		0);
	ck_assert_str_eq(out.metrics_addr, "");
	ck_assert_str_eq(out.public_key, "");

	for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
		why[0] = 0;
		ck_assert_msg(sl_members_decode(bad[i], strlen(bad[i]), &out,
						why, sizeof(why)) < 0,
			      "accepted %s", bad[i]);
		ck_assert(why[0] != 0);
	}
	memset(big, ' ', sizeof(big));
	big[0] = '{';
	big[sizeof(big) - 1] = '}';
	ck_assert_int_eq(
		sl_members_decode(big, sizeof(big), &out, why, sizeof(why)),
		-EBADMSG);

	m.weight = 0;
	ck_assert_ptr_null(sl_members_encode(&m));
	ck_assert_int_eq(sl_members_check(&m, why, sizeof(why)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "weight"));
}
END_TEST

/* ---- join and leave ----------------------------------------------------- */

START_TEST(join_and_leave)
{
	char *pfx = prefix_for("join");
	char list[256];
	sl_members_t *v = view(th_etcd_suite.url, pfx), *a, *b;
	sl_member_t ma = member("a", 7100), mb = member("b", 7200);
	const sl_members_set_t *s;
	sl_members_stats_t st;
	uint64_t gen;
	long t;

	snprintf(list, sizeof(list), "http://127.0.0.1:%d,%s", th_free_port(),
		 th_etcd_suite.url);
	a = view(th_etcd_suite.url, pfx);
	b = view(list, pfx);
	ck_assert_int_eq(sl_members_wait(v, 5000), 0);
	s = sl_members_snapshot(v);
	ck_assert_uint_eq(s->count, 0);
	ck_assert_uint_gt(s->generation, 0);
	gen = s->generation;
	sl_members_set_put(&s);
	ck_assert_ptr_null(s);
	ck_assert(!poll(
		&(struct pollfd){.fd = sl_members_fd(v), .events = POLLIN}, 1,
		0));

	must_register(a, &ma);
	must_register(b, &mb);
	/* The fd says a new set is out; snapshot() clears it. */
	ck_assert(
		poll(&(struct pollfd){.fd = sl_members_fd(v), .events = POLLIN},
		     1, 1000) == 1);
	t = until(v, "a,b", 1000);
	ck_assert_msg(t >= 0, "a and b not in the view within 1 s");
	s = sl_members_snapshot(v);
	ck_assert_uint_gt(s->generation, gen);
	gen = s->generation;
	ck_assert_str_eq(sl_members_set_find(s, "b")->addr,
			 "tcp://127.0.0.1:7200");
	ck_assert_str_eq(sl_members_set_find(s, "b")->metrics_addr,
			 "127.0.0.1:7201");
	ck_assert_uint_eq(sl_members_set_find(s, "a")->weight, 7);
	ck_assert_uint_eq(sl_members_set_find(s, "a")->capacity, 3ull << 40);
	ck_assert_str_eq(sl_members_set_find(s, "a")->public_key, "Z85key-a");
	ck_assert_ptr_null(sl_members_set_find(s, "c"));
	/* The view may see b's put before b's thread has noted its lease. */
	for (int i = 0; i < 100; i++) {
		sl_members_stats(b, &st);
		if (st.lease)
			break;
		usleep(10000);
	}
	ck_assert_int_ne(st.lease, 0);
	ck_assert_uint_eq(st.registrations, 1);
	ck_assert_int_eq(sl_members_register(b, &mb, (char[64]){0}, 64),
			 -EALREADY);

	/* Taken sets stay valid while newer ones come. */
	ck_assert_int_eq(sl_members_deregister(b), 0);
	t = until(v, "a", 1000);
	ck_assert_msg(t >= 0, "b still in the view 1 s after deregister");
	ck_assert_uint_eq(s->count, 2);
	ck_assert_str_eq(s->members[1].name, "b");
	sl_members_set_put(&s);
	s = sl_members_snapshot(v);
	ck_assert_uint_gt(s->generation, gen);
	sl_members_set_put(&s);
	sl_members_stats(b, &st);
	ck_assert_int_eq(st.lease, 0);
	ck_assert_int_eq(sl_members_deregister(b), -ENOENT);

	/* Destroy deregisters. */
	sl_members_destroy(&a);
	ck_assert_ptr_null(a);
	ck_assert_msg(until(v, "", 1000) >= 0,
		      "a still in the view after destroy");
	sl_members_destroy(&b);
	sl_members_destroy(&v);
	free(pfx);
}
END_TEST

/* The child of killed_member: register argv[3] under prefix argv[2] at
 * etcd argv[1], then wait to be killed.  No ck_assert here: this process
 * runs no test. */
static int child_main(char **argv)
{
	sl_members_opts_t o = {
		.endpoints = argv[1],
		.prefix = argv[2],
		.lease_ttl_ms = TTL_MS,
		.timeout_ms = 1000,
	};
	sl_member_t self = member(argv[3], 7300);
	char why[256];
	sl_members_t *m;
	int rc;

	m = sl_members_new(&o, &rc, why, sizeof(why));
	if (!m || sl_members_register(m, &self, why, sizeof(why)) < 0) {
		fprintf(stderr, "register-child: %s\n", why);
		return 1;
	}
	while (getppid() != 1)
		pause(); /* until SIGKILL, or the test's death */
	return 0;
}

START_TEST(killed_member)
{
	char *pfx = prefix_for("kill");
	sl_members_t *v = view(th_etcd_suite.url, pfx);
	char *argv[] = {(char *)"/proc/self/exe", (char *)"register-child",
			th_etcd_suite.url,	  pfx,
			(char *)"victim",	  NULL};
	pid_t pid;
	uint64_t t0;
	long t;

	pid = th_proc_spawn(argv, NULL);
	ck_assert_int_gt(pid, 0);
	ck_assert_msg(until(v, "victim", 5000) >= 0,
		      "the child never showed up");
	/* A keepalive or two: the lease is fresh when it dies. */
	usleep(TTL_MS * 1000 / 2);
	th_proc_kill(pid);
	t0 = sl_now_ms();
	t = until(v, "", TTL_MS + 1000);
	ck_assert_msg(t >= 0, "still there %d ms after SIGKILL", TTL_MS + 1000);
	/* Gone by expiry, not by anything faster. */
	ck_assert_uint_ge(sl_now_ms() - t0, TTL_MS / 2);
	sl_members_destroy(&v);
	free(pfx);
}
END_TEST

START_TEST(lease_lost_registers_again)
{
	char *pfx = prefix_for("relet");
	sl_members_t *v = view(th_etcd_suite.url, pfx),
		     *a = view(th_etcd_suite.url, pfx);
	sl_member_t ma = member("a", 7400);
	sl_members_stats_t st;
	char why[256];
	sl_etcd_t *e = sl_etcd_new(th_etcd_suite.url, NULL, &(int){0}, why,
				   sizeof(why));
	int64_t old;

	must_register(a, &ma);
	ck_assert(until(v, "a", 2000) >= 0);
	sl_members_stats(a, &st);
	old = st.lease;
	/* As if it had expired while etcd was away. */
	ck_assert_int_eq(sl_etcd_lease_revoke(e, old), 0);
	ck_assert(until(v, "", 1000) >= 0);
	ck_assert_msg(until(v, "a", 2000) >= 0, "a did not register again");
	sl_members_stats(a, &st);
	ck_assert_uint_eq(st.registrations, 2);
	ck_assert_int_ne(st.lease, 0);
	ck_assert_int_ne(st.lease, old);
	sl_etcd_destroy(&e);
	sl_members_destroy(&a);
	sl_members_destroy(&v);
	free(pfx);
}
END_TEST

/* ---- etcd goes away ----------------------------------------------------- */

static int count_lines(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* Wait up to ms for m's view to say etcd is gone (or back). */
static int online_is(sl_members_t *m, int online, int ms)
{
	uint64_t t0 = sl_now_ms();
	sl_members_stats_t st;

	do {
		sl_members_stats(m, &st);
		if (st.online == online)
			return 1;
		usleep(10000);
	} while (sl_now_ms() - t0 < (uint64_t)ms);
	return 0;
}

static int goes_offline(sl_members_t *m, int ms)
{
	return online_is(m, 0, ms);
}

static int comes_back(sl_members_t *m, int ms)
{
	return online_is(m, 1, ms);
}

START_TEST(etcd_outage)
{
	th_etcd_t own;
	char *pfx = prefix_for("outage"), *log, logpath[512];
	sl_members_t *v, *a, *b;
	sl_member_t ma = member("a", 7500), mb = member("b", 7600);
	sl_members_stats_t st;
	uint64_t gen, t0;
	int saved, fd;

	ck_assert_int_eq(th_etcd_start(&own), 0);
	snprintf(logpath, sizeof(logpath), "%s/members.log", own.dir);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ck_assert_int_ge(fd, 0);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);

	v = view(own.url, pfx);
	a = view(own.url, pfx);
	b = view(own.url, pfx);
	gen = join(v, a, &ma);

	ck_assert_int_eq(th_etcd_stop(&own, SIGTERM), 0);
	ck_assert_msg(goes_offline(v, 5000),
		      "the view did not notice etcd is gone");
	/* Ten seconds without etcd: the set stands, never empty. */
	t0 = sl_now_ms();
	while (sl_now_ms() - t0 < 10000) {
		const sl_members_set_t *s = sl_members_snapshot(v);

		ck_assert(names_are(s, "a"));
		ck_assert_uint_eq(s->generation, gen);
		sl_members_set_put(&s);
		usleep(100000);
	}
	ck_assert_int_eq(th_etcd_restart(&own), 0);
	/* A member that joins after the outage is seen. */
	must_register(b, &mb);
	ck_assert_msg(until(v, "a,b", 8000) >= 0,
		      "b not seen after etcd came back");
	sl_members_stats(v, &st);
	ck_assert(st.online);
	ck_assert_uint_gt(st.generation, gen);
	ck_assert_uint_ge(st.resyncs, 2);
	/* Each of the three objects has a view: all back before we count. */
	ck_assert(comes_back(a, 5000) && comes_back(b, 5000));

	sl_members_destroy(&b);
	sl_members_destroy(&a);
	sl_members_destroy(&v);
	dup2(saved, STDERR_FILENO);
	close(saved);
	log = th_read_file(logpath, NULL);
	ck_assert_ptr_nonnull(log);
	/* One line when lost, one when back, from each view: v, a, b. */
	ck_assert_msg(count_lines(log, "members: etcd lost") == 3, "log:\n%s",
		      log);
	ck_assert_msg(count_lines(log, "members: etcd is back") == 3,
		      "log:\n%s", log);
	free(log);
	th_etcd_fini(&own);
	free(pfx);
}
END_TEST

/* etcd comes back empty (its data dir lost): revisions restart from 1,
 * yet every generation the view publishes is greater than the last, and
 * the member registers again under a new lease. */
START_TEST(etcd_loses_its_data)
{
	th_etcd_t own;
	char *pfx = prefix_for("wiped"), data[512], why[256];
	sl_members_t *v, *a;
	sl_member_t ma = member("a", 7550);
	sl_members_stats_t st;
	sl_etcd_t *e;
	uint64_t gen, before, t0;

	ck_assert_int_eq(th_etcd_start(&own), 0);
	e = sl_etcd_new(own.url, NULL, &(int){0}, why, sizeof(why));
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(sl_etcd_put(e, "x", 1, "y", 1, 0, NULL), 0);
	v = view(own.url, pfx);
	a = view(own.url, pfx);
	gen = before = join(v, a, &ma);
	ck_assert_uint_gt(gen, 20);

	ck_assert_int_eq(th_etcd_stop(&own, SIGKILL), 0);
	snprintf(data, sizeof(data), "%s/data", own.dir);
	th_rmtree(data);
	ck_assert_int_eq(th_etcd_restart(&own), 0);
	t0 = sl_now_ms();
	for (;;) {
		const sl_members_set_t *s = sl_members_snapshot(v);
		int done;

		ck_assert_uint_ge(s->generation, gen);
		if (s->generation > gen)
			gen = s->generation;
		done = gen > before && names_are(s, "a");
		sl_members_set_put(&s);
		if (done)
			break;
		ck_assert_msg(sl_now_ms() - t0 < 8000,
			      "a not back after etcd lost its data");
		usleep(10000);
	}
	sl_members_stats(a, &st);
	ck_assert_uint_eq(st.registrations, 2);
	sl_members_destroy(&a);
	sl_members_destroy(&v);
	sl_etcd_destroy(&e);
	th_etcd_fini(&own);
	free(pfx);
}
END_TEST

/* ---- bad values ---------------------------------------------------------- */

static void put_raw(sl_etcd_t *e, const char *pfx, const char *name,
		    const char *value)
{
	char key[256];
	int rc;

	snprintf(key, sizeof(key), "%smembers/%s", pfx, name);
	rc = sl_etcd_put(e, key, strlen(key), value, strlen(value), 0, NULL);
	ck_assert_msg(rc == 0, "put %s: %s", key, sl_etcd_last_error(e));
}

static void put_member(sl_etcd_t *e, const char *pfx, const char *key,
		       const sl_member_t *m)
{
	char *json = sl_members_encode(m);

	put_raw(e, pfx, key, json);
	free(json);
}

START_TEST(bad_values_ignored)
{
	char *pfx = prefix_for("bad");
	char why[256], key[256], *big = calloc(1, SL_MEMBERS_VALUE_MAX + 64);
	sl_etcd_t *e = sl_etcd_new(th_etcd_suite.url, NULL, &(int){0}, why,
				   sizeof(why));
	sl_member_t g1 = member("good1", 7700), g2 = member("good2", 7800);
	sl_member_t late = member("late", 7700); /* good1's address */
	sl_member_t evil = member("good2", 7900);
	const sl_members_set_t *s;
	sl_members_stats_t st;
	sl_members_t *v;

	put_member(e, pfx, "good1", &g1);
	put_member(e, pfx, "good2", &g2);
	put_raw(e, pfx, "notjson", "{\"name\": \"notjson\", oops");
	put_raw(e, pfx, "badaddr",
		"{\"name\":\"badaddr\",\"addr\":\"127.0.0.1:7000\","
		"\"weight\":1,\"capacity\":0}");
	put_member(e, pfx, "evil", &evil); /* says it is good2 */
	memset(big, ' ', SL_MEMBERS_VALUE_MAX + 10);
	big[0] = '{';
	big[SL_MEMBERS_VALUE_MAX + 9] = '}';
	put_raw(e, pfx, "big", big);

	/* Some before the view starts (the range), some after (the watch). */
	v = view(th_etcd_suite.url, pfx);
	ck_assert_int_eq(sl_members_wait(v, 5000), 0);
	put_member(e, pfx, "late", &late);
	put_raw(e, pfx, "../x", "{}");
	ck_assert(until(v, "good1,good2", 2000) >= 0);
	usleep(300000); /* let the watch deliver the last two */
	sl_members_stats(v, &st);
	ck_assert_uint_eq(st.members, 2);
	ck_assert_uint_eq(st.ignored, 6);
	ck_assert_uint_ge(st.bad_values, 6);
	s = sl_members_snapshot(v);
	ck_assert_str_eq(sl_members_set_find(s, "good2")->addr,
			 "tcp://127.0.0.1:7800");
	sl_members_set_put(&s);

	/* Fixed, it joins; the older holder of an address leaves, the
	 * younger one takes it. */
	put_raw(e, pfx, "badaddr",
		"{\"name\":\"badaddr\",\"addr\":\"tcp://127.0.0.1:7000\","
		"\"weight\":1,\"capacity\":0}");
	ck_assert(until(v, "badaddr,good1,good2", 2000) >= 0);
	snprintf(key, sizeof(key), "%smembers/good1", pfx);
	ck_assert_int_eq(sl_etcd_delete(e, key, strlen(key)), 1);
	ck_assert(until(v, "badaddr,good2,late", 2000) >= 0);
	sl_members_destroy(&v);
	sl_etcd_destroy(&e);
	free(big);
	free(pfx);
}
END_TEST

/* sl_members_fetch: one range, on this thread, of the same set a view
 * would publish (bad values left out); -EHOSTUNREACH without etcd. */
START_TEST(fetch_once)
{
	char *pfx = prefix_for("fetch");
	char why[256], list[64];
	sl_etcd_t *e = sl_etcd_new(th_etcd_suite.url, NULL, &(int){0}, why,
				   sizeof(why));
	sl_member_t a = member("a", 7100), b = member("b", 7200);
	sl_members_opts_t o = {.endpoints = th_etcd_suite.url,
			       .prefix = pfx,
			       .timeout_ms = 1000};
	const sl_members_set_t *s;
	int rc = 0;

	s = sl_members_fetch(&o, &rc, why, sizeof(why));
	ck_assert_msg(s, "%s", why);
	ck_assert_uint_eq(s->count, 0);
	sl_members_set_put(&s);
	put_member(e, pfx, "b", &b);
	put_member(e, pfx, "a", &a);
	put_raw(e, pfx, "junk", "[1, 2");
	s = sl_members_fetch(&o, &rc, why, sizeof(why));
	ck_assert_msg(s, "%s", why);
	ck_assert(names_are(s, "a,b"));
	ck_assert_str_eq(sl_members_set_find(s, "b")->addr,
			 "tcp://127.0.0.1:7200");
	ck_assert_uint_gt(s->generation, 0);
	sl_members_set_put(&s);

	snprintf(list, sizeof(list), "http://127.0.0.1:%d", th_free_port());
	o.endpoints = list;
	ck_assert_ptr_null(sl_members_fetch(&o, &rc, why, sizeof(why)));
	ck_assert_int_eq(rc, -EHOSTUNREACH);
	ck_assert_ptr_nonnull(strstr(why, "127.0.0.1"));
	sl_etcd_destroy(&e);
	free(pfx);
}
END_TEST

START_TEST(too_many_keys)
{
	char *pfx = prefix_for("many");
	char why[256];
	sl_etcd_t *e = sl_etcd_new(th_etcd_suite.url, NULL, &(int){0}, why,
				   sizeof(why));
	sl_members_opts_t o = {.endpoints = th_etcd_suite.url,
			       .prefix = pfx,
			       .max_members = 3};
	sl_members_stats_t st;
	sl_members_t *v;
	int rc;

	for (int i = 0; i < 5; i++) {
		char name[16];
		sl_member_t m;

		snprintf(name, sizeof(name), "n%d", i);
		m = member(name, 8000 + 10 * i);
		put_member(e, pfx, name, &m);
	}
	v = sl_members_new(&o, &rc, why, sizeof(why));
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(sl_members_wait(v, 5000), 0);
	sl_members_stats(v, &st);
	ck_assert_uint_eq(st.members, 3);
	ck_assert_uint_eq(st.bad_values, 2);
	sl_members_destroy(&v);
	sl_etcd_destroy(&e);
	free(pfx);
}
END_TEST

START_TEST(without_etcd)
{
	char list[64];
	sl_members_t *v;
	sl_member_t self = member("lonely", 8100);
	sl_members_opts_t bad = {.endpoints = "ftp://x", .prefix = "/p/"};
	char why[256];
	uint64_t t0;
	int rc;

	snprintf(list, sizeof(list), "http://127.0.0.1:%d", th_free_port());
	v = view(list, "/sluice/none");
	t0 = sl_now_ms();
	ck_assert_int_eq(sl_members_wait(v, 300), -ETIMEDOUT);
	ck_assert_uint_ge(sl_now_ms() - t0, 290);
	must_register(v, &self);
	usleep(300000);
	t0 = sl_now_ms();
	sl_members_destroy(&v);
	ck_assert_uint_lt(sl_now_ms() - t0, 1500);

	ck_assert_ptr_null(sl_members_new(&bad, &rc, why, sizeof(why)));
	ck_assert_int_eq(rc, -EINVAL);
	bad.endpoints = list;
	bad.prefix = "";
	ck_assert_ptr_null(sl_members_new(&bad, &rc, why, sizeof(why)));
	ck_assert_int_eq(rc, -EINVAL);
}
END_TEST

int main(int argc, char **argv)
{
	Suite *s;
	th_check_opts_t o = {
		.tmp_tag = "test-members",
		.before = th_etcd_suite_start,
		.after = th_etcd_suite_stop,
	};

	if (argc == 5 && strcmp(argv[1], "register-child") == 0)
		return child_main(argv + 1);
	if (!th_etcd_available())
		return th_check_skip_suite("members",
					   TH_ETCD_BIN " is absent "
						       "(apt-get install "
						       "etcd-server)");
	signal(SIGPIPE, SIG_IGN);
	s = TH_SUITE(
		"members",
		{.name = "members",
		 .tests = TH_TESTS(record_codec, join_and_leave, killed_member,
				   lease_lost_registers_again, etcd_outage,
				   etcd_loses_its_data, bad_values_ignored,
				   fetch_once, too_many_keys, without_etcd),
		 .timeout = 90});
	return th_check_run(s, &o);
}
