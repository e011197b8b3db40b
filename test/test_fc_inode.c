/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for fuse/inode: numbers derived from (dataset, path) and the
 * same in another table, the collision rule (linear probing, skipping 0
 * and 1, a freed number inside a run breaking nothing), lookup counting
 * and FORGET freeing entries (a directory only after its children), names
 * of every length, the bound (-ENFILE when full, pressure past 7/8, cold
 * entries named for the kernel to forget down to 3/4, each once until
 * used), a table taken over by another handle as it was, a table taken
 * over after its writer was SIGKILLed at random moments (sound and usable,
 * every number still naming its path), memory that is no table refused,
 * and four threads at once.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "fuse/inode.h"
#include "test/helper_check.h"

#define DS "imagenet"

static fc_inode_table_t *table(uint32_t max, fc_inode_hash_fn *hash)
{
	int err = 0;
	fc_inode_table_t *t = fc_inode_table_new(NULL, 0, max, hash, &err);

	ck_assert_msg(t != NULL, "table: %s", strerror(-err));
	return t;
}

/* Look up path (its last component in directory parent) in dataset 0. */
static uint64_t look(fc_inode_table_t *t, uint64_t parent, const char *path)
{
	const char *slash = strrchr(path, '/');
	uint64_t ino = 0;
	int rc = fc_inode_lookup(t, parent, slash ? slash + 1 : path, 0, DS,
				 path, &ino);

	ck_assert_msg(rc == 0, "lookup %s: %s", path, strerror(-rc));
	return ino;
}

static uint64_t ds_root(fc_inode_table_t *t)
{
	uint64_t ino = 0;

	ck_assert_int_eq(fc_inode_lookup(t, FC_INO_ROOT, DS, 0, DS, "", &ino),
			 0);
	return ino;
}

static void expect_path(fc_inode_table_t *t, uint64_t ino, const char *path,
			uint64_t parent)
{
	fc_inode_t ip;
	const char *slash = strrchr(path, '/');

	ck_assert_int_eq(fc_inode_get(t, ino, &ip), 0);
	ck_assert_uint_eq(ip.ino, ino);
	ck_assert_int_eq(ip.dataset, 0);
	ck_assert_str_eq(ip.path, path);
	ck_assert_str_eq(ip.name, path[0] ? (slash ? slash + 1 : path) : DS);
	ck_assert_uint_eq(ip.parent, parent);
}

static uint64_t entries(fc_inode_table_t *t)
{
	fc_inode_stats_t st;

	fc_inode_stats(t, &st);
	return st.entries;
}

START_TEST(test_root)
{
	fc_inode_table_t *t = table(1000, NULL);
	fc_inode_t ip;

	ck_assert_int_eq(fc_inode_get(t, FC_INO_ROOT, &ip), 0);
	ck_assert_int_eq(ip.dataset, -1);
	ck_assert_str_eq(ip.path, "");
	ck_assert_str_eq(ip.name, "");
	ck_assert_uint_eq(ip.parent, 0);
	ck_assert_int_eq(fc_inode_forget(t, FC_INO_ROOT, 100), 0);
	ck_assert_int_eq(fc_inode_get(t, FC_INO_ROOT, &ip), 0);
	ck_assert_uint_eq(entries(t), 1);
	ck_assert_int_eq(fc_inode_get(t, 12345, &ip), -ESTALE);
	ck_assert_int_eq(fc_inode_table_attached(t), 0);
	fc_inode_table_destroy(&t);
	ck_assert_ptr_null(t);
	fc_inode_table_destroy(NULL);
}
END_TEST

START_TEST(test_numbers)
{
	fc_inode_table_t *a = table(1000, NULL), *b = table(1000, NULL);
	uint64_t ia[200], da[7], ra, rb, db[7], ino;
	char path[64];

	ra = ds_root(a);
	ck_assert_uint_eq(ra, fc_inode_hash(DS, ""));
	for (int d = 0; d < 7; d++) {
		snprintf(path, sizeof(path), "d%d", d);
		da[d] = look(a, ra, path);
	}
	for (int i = 0; i < 200; i++) {
		snprintf(path, sizeof(path), "d%d/f%d", i % 7, i);
		ia[i] = look(a, da[i % 7], path);
		ck_assert_uint_eq(ia[i], fc_inode_hash(DS, path));
		expect_path(a, ia[i], path, da[i % 7]);
	}
	expect_path(a, ra, "", FC_INO_ROOT);
	/* Another table (another client), another order: same numbers. */
	rb = ds_root(b);
	ck_assert_uint_eq(rb, ra);
	for (int d = 6; d >= 0; d--) {
		snprintf(path, sizeof(path), "d%d", d);
		db[d] = look(b, rb, path);
		ck_assert_uint_eq(db[d], da[d]);
	}
	for (int i = 199; i >= 0; i--) {
		snprintf(path, sizeof(path), "d%d/f%d", i % 7, i);
		ck_assert_uint_eq(look(b, db[i % 7], path), ia[i]);
	}
	/* Again: the same number, counted. */
	ck_assert_uint_eq(look(a, da[0], "d0/f0"), ia[0]);
	ck_assert_uint_eq(fc_inode_nlookup(a, ia[0]), 2);
	/* Same path in another dataset: another number. */
	ck_assert_int_eq(
		fc_inode_lookup(a, FC_INO_ROOT, "coco", 1, "coco", "", &ino),
		0);
	ck_assert_uint_ne(ino, ra);
	/* Length prefixes: ("ab","c") differs from ("a","bc"). */
	ck_assert_uint_ne(fc_inode_hash("ab", "c"), fc_inode_hash("a", "bc"));
	/* An unknown directory, a name too long. */
	ck_assert_int_eq(fc_inode_lookup(a, 999, "x", 0, DS, "x", &ino),
			 -ESTALE);
	{
		char name[300];

		memset(name, 'n', 256);
		name[256] = '\0';
		ck_assert_int_eq(
			fc_inode_lookup(a, ra, name, 0, DS, name, &ino),
			-ENAMETOOLONG);
	}
	fc_inode_table_destroy(&a);
	fc_inode_table_destroy(&b);
}
END_TEST

/* A hash with few values, to force collisions; the dataset's root apart. */
static uint64_t weak_hash(const char *dataset, const char *path)
{
	(void)dataset;
	if (!path[0])
		return 1000;
	return strlen(path) % 2 ? 41 : UINT64_MAX;
}

START_TEST(test_collisions)
{
	fc_inode_table_t *t = table(1000, weak_hash);
	uint64_t r = ds_root(t), x, y, z, w;

	ck_assert_uint_eq(r, 1000);
	/* "a", "c", "e": hash 41: linear probing gives 41, 42, 43. */
	x = look(t, r, "a");
	y = look(t, r, "c");
	z = look(t, r, "e");
	ck_assert_uint_eq(x, 41);
	ck_assert_uint_eq(y, 42);
	ck_assert_uint_eq(z, 43);
	ck_assert_uint_eq(look(t, r, "c"), 42);
	/* Free 42: "e" (hash 41, number 43) is still found by name, and a
	 * new colliding name takes the first free number. */
	ck_assert_int_eq(fc_inode_forget(t, y, 2), 1);
	ck_assert_uint_eq(fc_inode_nlookup(t, 42), 0);
	ck_assert_uint_eq(look(t, r, "e"), 43);
	ck_assert_uint_eq(look(t, r, "g"), 42);
	/* Wrap-around skips 0 and 1: UINT64_MAX, then 2, 3. */
	w = look(t, r, "bb");
	ck_assert_uint_eq(w, UINT64_MAX);
	ck_assert_uint_eq(look(t, r, "dd"), 2);
	ck_assert_uint_eq(look(t, r, "ff"), 3);
	expect_path(t, 2, "dd", r);
	expect_path(t, 43, "e", r);
	expect_path(t, 42, "g", r);
	fc_inode_table_destroy(&t);
}
END_TEST

START_TEST(test_forget_frees)
{
	fc_inode_table_t *t = table(20000, NULL);
	uint64_t r = ds_root(t), dir = look(t, r, "train"), ino[5000];
	char path[64];

	for (int i = 0; i < 5000; i++) {
		snprintf(path, sizeof(path), "train/%d.jpg", i);
		ino[i] = look(t, dir, path);
		look(t, dir, path);
	}
	ck_assert_uint_eq(entries(t), 5003);
	for (int i = 0; i < 5000; i++)
		ck_assert_int_eq(fc_inode_forget(t, ino[i], 1), 0);
	ck_assert_uint_eq(entries(t), 5003);
	/* The kernel forgets the directory first (a batch may): it stays
	 * while its children do. */
	ck_assert_int_eq(fc_inode_forget(t, dir, 1), 0);
	expect_path(t, dir, "train", r);
	for (int i = 0; i < 5000; i++)
		ck_assert_int_eq(fc_inode_forget(t, ino[i], 1), 1);
	ck_assert_uint_eq(entries(t), 2);
	ck_assert_int_eq(fc_inode_get(t, dir, &(fc_inode_t){0}), -ESTALE);
	ck_assert_int_eq(fc_inode_get(t, ino[0], &(fc_inode_t){0}), -ESTALE);
	ck_assert_int_eq(fc_inode_forget(t, r, 1), 1);
	ck_assert_uint_eq(entries(t), 1);
	/* Unknown numbers are ignored. */
	ck_assert_int_eq(fc_inode_forget(t, 12345, 1), 0);
	fc_inode_table_destroy(&t);
}
END_TEST

START_TEST(test_long_names)
{
	static const size_t lens[] = {1, 23, 24, 25, 52, 53, 80, 255};
	fc_inode_table_t *t = table(1000, NULL);
	uint64_t r = ds_root(t), ino[SL_ARRAY_SIZE(lens)];
	fc_inode_stats_t st;
	char name[256];

	for (size_t i = 0; i < SL_ARRAY_SIZE(lens); i++) {
		for (size_t k = 0; k < lens[i]; k++)
			name[k] = (char)('a' + (k + i) % 26);
		name[lens[i]] = '\0';
		ino[i] = look(t, r, name);
		expect_path(t, ino[i], name, r);
		/* Same start, other end: another entry. */
		name[lens[i] - 1] = '#';
		ck_assert_uint_ne(look(t, r, name), ino[i]);
	}
	fc_inode_stats(t, &st);
	/* Past 24 bytes, one 28-byte piece per started 28 bytes, twice. */
	ck_assert_uint_eq(st.name_pieces, 2 * (0 + 0 + 0 + 1 + 1 + 2 + 2 + 9));
	ck_assert_uint_eq(st.name_max, 1000);
	fc_inode_table_destroy(&t);
}
END_TEST

/* Fill a table of 1000 to the brim: -ENFILE; the cold entries named are
 * leaves, each once until used, enough to get to 3/4 once forgotten. */
START_TEST(test_bound_and_cold)
{
	fc_inode_table_t *t = table(1000, NULL);
	uint64_t r = ds_root(t), dirs[10], ino = 0, named = 0;
	fc_inode_name_t out[64];
	char path[64];
	size_t n;
	int i, rc = 0;

	for (i = 0; i < 10; i++) {
		snprintf(path, sizeof(path), "d%d", i);
		dirs[i] = look(t, r, path);
	}
	ck_assert(!fc_inode_pressure(t));
	for (i = 0; rc == 0; i++) {
		snprintf(path, sizeof(path), "d%d/f%d", i % 10, i);
		rc = fc_inode_lookup(t, dirs[i % 10], strrchr(path, '/') + 1, 0,
				     DS, path, &ino);
	}
	ck_assert_int_eq(rc, -ENFILE);
	ck_assert_uint_eq(entries(t), 1000);
	ck_assert(fc_inode_pressure(t));
	ck_assert_int_eq(fc_inode_wait_room(t, 5, 50), -ENFILE);
	/* A full table is no refusal until its caller gives up: only
	 * fc_inode_refused counts (a lookup that waits for FORGETs and then
	 * finds room was counted once, and it_fuse's walk failed under load).
	 */
	{
		fc_inode_stats_t st;

		fc_inode_stats(t, &st);
		ck_assert_uint_eq(st.refused, 0);
		fc_inode_refused(t);
		fc_inode_stats(t, &st);
		ck_assert_uint_eq(st.refused, 1);
	}
	/* Used just now: the hand passes everything once, then names. */
	for (;;) {
		n = fc_inode_cold(t, out, SL_ARRAY_SIZE(out));
		if (n == 0)
			break;
		for (size_t k = 0; k < n; k++) {
			ck_assert_uint_ne(out[k].parent, FC_INO_ROOT);
			ck_assert_uint_ne(out[k].parent, r); /* dirs have
							      * children */
			ck_assert_uint_eq(out[k].len, strlen(out[k].name));
			ck_assert_int_eq(out[k].name[0], 'f');
		}
		named += n;
		ck_assert_uint_le(named, 1000);
	}
	/* Enough to reach 3/4 (750) once the kernel forgets them. */
	ck_assert_uint_ge(entries(t) - named, 700);
	ck_assert_uint_le(entries(t) - named, 750);
	fc_inode_table_destroy(&t);
}
END_TEST

/* An entry used between two passes of the hand is not named; what was
 * named, once forgotten, brings the table below 3/4. */
START_TEST(test_cold_forgotten)
{
	fc_inode_table_t *t = table(1000, NULL);
	uint64_t r = ds_root(t), d = look(t, r, "d"), ino[900];
	fc_inode_name_t out[64];
	char path[64], seen[900] = {0};
	size_t n;
	int i;

	for (i = 0; i < 900; i++) {
		snprintf(path, sizeof(path), "d/f%d", i);
		ino[i] = look(t, d, path);
	}
	ck_assert(fc_inode_pressure(t));
	/* A first pass clears every use bit, then f0 is named. */
	ck_assert_uint_eq(fc_inode_cold(t, out, 1), 1);
	ck_assert_str_eq(out[0].name, "f0");
	ck_assert_int_eq(fc_inode_forget(t, ino[0], 1), 1);
	for (i = 0; i < 900; i += 2)
		ck_assert_int_eq(fc_inode_get(t, ino[i], &(fc_inode_t){0}),
				 i == 0 ? -ESTALE : 0);
	while ((n = fc_inode_cold(t, out, SL_ARRAY_SIZE(out))) > 0) {
		for (size_t k = 0; k < n; k++) {
			ck_assert_uint_eq(out[k].parent, d);
			i = atoi(out[k].name + 1);
			ck_assert_msg(i % 2 == 1, "f%d was used", i);
			ck_assert_int_eq(seen[i], 0); /* once */
			seen[i] = 1;
		}
		/* Not named again before the kernel forgets them. */
		for (size_t k = 0; k < n; k++)
			ck_assert_int_eq(
				fc_inode_forget(t, ino[atoi(out[k].name + 1)],
						1),
				1);
	}
	ck_assert(!fc_inode_pressure(t));
	ck_assert_uint_le(entries(t), 750);
	ck_assert_uint_ge(entries(t), 740);
	fc_inode_table_destroy(&t);
}
END_TEST

/* A second handle on the same memory takes the table over as it was. */
START_TEST(test_attach)
{
	size_t bytes = fc_inode_table_bytes(5000);
	void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	fc_inode_table_t *t;
	uint64_t r, d, ino[300], x;
	char path[512];
	int err = 0;

	ck_assert(mem != MAP_FAILED);
	t = fc_inode_table_new(mem, bytes, 5000, NULL, &err);
	ck_assert_ptr_nonnull(t);
	r = ds_root(t);
	d = look(t, r, "a-directory-with-a-long-name-over-24-bytes");
	for (int i = 0; i < 300; i++) {
		snprintf(path, sizeof(path),
			 "a-directory-with-a-long-name-over-24-bytes/%0*d",
			 i % 200 + 1, i);
		ino[i] = look(t, d, path);
	}
	ck_assert_int_eq(fc_inode_forget(t, ino[7], 1), 1);
	fc_inode_table_destroy(&t);

	/* max is the table's, whatever the new handle says. */
	t = fc_inode_table_new(mem, bytes, 1000, NULL, &err);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(fc_inode_table_attached(t), 1);
	ck_assert_uint_eq(entries(t), 302);
	for (int i = 0; i < 300; i++) {
		snprintf(path, sizeof(path),
			 "a-directory-with-a-long-name-over-24-bytes/%0*d",
			 i % 200 + 1, i);
		if (i == 7) {
			ck_assert_int_eq(
				fc_inode_get(t, ino[i], &(fc_inode_t){0}),
				-ESTALE);
			continue;
		}
		expect_path(t, ino[i], path, d);
		ck_assert_uint_eq(fc_inode_nlookup(t, ino[i]), 1);
		ck_assert_uint_eq(look(t, d, path), ino[i]);
	}
	x = look(t, d, "a-directory-with-a-long-name-over-24-bytes/new");
	expect_path(t, x, "a-directory-with-a-long-name-over-24-bytes/new", d);
	fc_inode_table_destroy(&t);
	munmap(mem, bytes);
}
END_TEST

START_TEST(test_not_a_table)
{
	size_t bytes = fc_inode_table_bytes(1000);
	char *mem = calloc(1, bytes);
	int err = 0;

	/* Too small for max. */
	ck_assert_ptr_null(
		fc_inode_table_new(mem, bytes - 1, 1000, NULL, &err));
	ck_assert_int_eq(err, -EINVAL);
	/* Not zeros, not a table. */
	memset(mem, 0x5a, 64);
	err = 0;
	ck_assert_ptr_null(fc_inode_table_new(mem, bytes, 1000, NULL, &err));
	ck_assert_int_eq(err, -EINVAL);
	free(mem);
}
END_TEST

/* The paths the crash test's writer works on: 20 directories of 100. */
static void crash_path(int i, char *path, size_t cap, char *dir, size_t dcap)
{
	snprintf(dir, dcap, "dir%02d-with-a-name-long-enough-for-a-piece",
		 i % 20);
	snprintf(path, cap, "%s/file-%05d-and-a-long-tail-for-pieces-too", dir,
		 i);
}

/* The writer: random lookups and forgets until killed. */
static void crash_writer(void *mem, size_t bytes)
{
	int err;
	fc_inode_table_t *t = fc_inode_table_new(mem, bytes, 3000, NULL, &err);
	uint64_t r, dirs[20], x = (uint64_t)getpid();
	char path[256], dir[128];

	if (!t)
		_exit(1);
	r = ds_root(t);
	for (int i = 0; i < 20; i++) {
		crash_path(i, path, sizeof(path), dir, sizeof(dir));
		dirs[i] = look(t, r, dir);
	}
	for (;;) {
		uint64_t ino;
		int i;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		i = (int)(x % 2000);
		crash_path(i, path, sizeof(path), dir, sizeof(dir));
		if (fc_inode_lookup(t, dirs[i % 20], strrchr(path, '/') + 1, 0,
				    DS, path, &ino) == 0 &&
		    (x >> 32) % 2)
			fc_inode_forget(t, ino, 1);
	}
}

START_TEST(test_crash_takeover)
{
	size_t bytes = fc_inode_table_bytes(3000);
	void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	ck_assert(mem != MAP_FAILED);
	srand((unsigned)time(NULL));
	for (int round = 0; round < 20; round++) {
		pid_t pid = fork();
		struct timespec ts = {0, 1000000L + rand() % 20000000L};
		fc_inode_table_t *t;
		uint64_t r, dir, ino;
		fc_inode_stats_t st;
		char path[256], d[128];
		int err = 0;

		ck_assert_int_ge(pid, 0);
		if (pid == 0)
			crash_writer(mem, bytes);
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);

		t = fc_inode_table_new(mem, bytes, 3000, NULL, &err);
		ck_assert_msg(t != NULL, "round %d: %s", round, strerror(-err));
		fc_inode_stats(t, &st);
		ck_assert_uint_le(st.entries, 2000 + 20 + 2);
		r = ds_root(t);
		/* Every path: found or made, and its number names it. */
		for (int i = 0; i < 2000; i++) {
			crash_path(i, path, sizeof(path), d, sizeof(d));
			dir = look(t, r, d);
			ino = look(t, dir, path);
			expect_path(t, ino, path, dir);
			ck_assert_uint_eq(ino, fc_inode_hash(DS, path));
			fc_inode_forget(t, ino, 1);
			fc_inode_forget(t, dir, 1);
		}
		fc_inode_forget(t, r, 1);
		fc_inode_table_destroy(&t);
	}
	munmap(mem, bytes);
}
END_TEST

struct race {
	fc_inode_table_t *t;
	uint64_t dir;
};

static void *racer(void *arg)
{
	struct race *r = arg;
	char path[64];

	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 50; i++) {
			uint64_t ino;

			snprintf(path, sizeof(path), "d/f%d", i);
			ino = look(r->t, r->dir, path);
			expect_path(r->t, ino, path, r->dir);
			fc_inode_forget(r->t, ino, 1);
		}
	}
	return NULL;
}

START_TEST(test_threads)
{
	fc_inode_table_t *t = table(1000, NULL);
	uint64_t root = ds_root(t);
	struct race r = {t, look(t, root, "d")};
	pthread_t th[4];

	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, racer, &r);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	ck_assert_uint_eq(entries(t), 3);
	fc_inode_table_destroy(&t);
}
END_TEST

static Suite *inode_suite(void)
{
	return TH_SUITE(
		"fc_inode",
		{.name = "core",
		 .tests = TH_TESTS(test_root, test_numbers, test_collisions,
				   test_forget_frees, test_long_names,
				   test_bound_and_cold, test_cold_forgotten,
				   test_attach, test_not_a_table,
				   test_crash_takeover, test_threads)});
}

int main(void)
{
	return th_check_run(inode_suite(), NULL);
}
