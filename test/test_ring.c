/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for common/ring: balance between equal and weighted members,
 * how many keys move (and where to) when a member joins or leaves,
 * preference lists, the ring version, and that a separate process builds the
 * same ring (run as "test_ring --owner-digest" it prints its digest).
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/blockkey.h"
#include "common/ring.h"
#include "common/util.h"
#include "test/helper_check.h"

#define N_KEYS 100000

/*
 * Ring points of N_KEYS realistic block keys (key.lo is the ring point).
 * This and make_ring also run outside any test (--owner-digest), where
 * Check's assertions may not be used: they check with SL_ASSERT.
 */
static uint64_t *make_keys(void)
{
	uint64_t *keys = malloc(N_KEYS * sizeof(*keys));
	char path[64];

	SL_ASSERT(keys);
	for (int i = 0; i < N_KEYS; i++) {
		snprintf(path, sizeof(path), "train/n%05d/img%d.jpg", i % 1000,
			 i);
		keys[i] = sl_blockkey_make("imagenet", 1, path, "etag", 0).lo;
	}
	return keys;
}

/* A ring of members "node1".."nodeN", all weight 1 unless weights given. */
static sl_ring_t *make_ring(size_t n, const uint32_t *weights, char names[][16])
{
	sl_ring_member_t m[16];

	SL_ASSERT(n <= 16);
	for (size_t i = 0; i < n; i++) {
		snprintf(names[i], 16, "node%zu", i + 1);
		m[i].name = names[i];
		m[i].weight = weights ? weights[i] : 1;
	}
	return sl_ring_new(m, n);
}

/* The ring of make_ring's n names but names[gone], all weight 1. */
static sl_ring_t *ring_without(char names[][16], size_t n, size_t gone)
{
	sl_ring_member_t m[16];
	size_t j = 0;

	SL_ASSERT(n <= 16);
	for (size_t i = 0; i < n; i++) {
		if (i == gone)
			continue;
		m[j].name = names[i];
		m[j].weight = 1;
		j++;
	}
	return sl_ring_new(m, j);
}

static void count_owners(const sl_ring_t *r, const uint64_t *keys,
			 size_t *counts)
{
	memset(counts, 0, sl_ring_members(r) * sizeof(*counts));
	for (int i = 0; i < N_KEYS; i++)
		counts[sl_ring_owner(r, keys[i])]++;
}

/* 8 equal members: each owns within 10% of an eighth of the keys. */
START_TEST(test_equal_share)
{
	char names[8][16];
	sl_ring_t *r = make_ring(8, NULL, names);
	uint64_t *keys = make_keys();
	size_t counts[8];
	double mean = N_KEYS / 8.0;

	count_owners(r, keys, counts);
	for (int i = 0; i < 8; i++)
		ck_assert_msg(counts[i] >= 0.9 * mean &&
				      counts[i] <= 1.1 * mean,
			      "node%d owns %zu keys, mean %.0f", i + 1,
			      counts[i], mean);
	sl_ring_destroy(&r);
	ck_assert_ptr_null(r);
	free(keys);
}
END_TEST

/* Share follows weight: a weight-2 member owns about twice the keys of each
 * weight-1 member. */
START_TEST(test_weighted_share)
{
	static const uint32_t w[4] = {1, 2, 1, 1};
	char names[4][16];
	sl_ring_t *r = make_ring(4, w, names);
	uint64_t *keys = make_keys();
	size_t counts[4];

	count_owners(r, keys, counts);
	for (int i = 0; i < 4; i++) {
		double ratio = (double)counts[1] / counts[i];

		if (i == 1)
			continue;
		ck_assert_msg(ratio >= 1.8 && ratio <= 2.2,
			      "weight 2 owns %zu keys, node%d (weight 1) %zu: "
			      "%.3f",
			      counts[1], i + 1, counts[i], ratio);
	}
	sl_ring_destroy(&r);
	free(keys);
}
END_TEST

/* sl_ring_share agrees with the keys each member owns (within 1% of the
 * key space, for N_KEYS random keys), the shares add up to 1, weight 2
 * owns twice a weight 1's, and an index the ring lacks owns nothing. */
START_TEST(test_share_exact)
{
	static const uint32_t w[4] = {1, 2, 1, 1};
	char names[4][16];
	sl_ring_t *r = make_ring(4, w, names);
	uint64_t *keys = make_keys();
	size_t counts[4];
	double sum = 0;

	count_owners(r, keys, counts);
	for (int i = 0; i < 4; i++) {
		double share = sl_ring_share(r, (size_t)i);

		ck_assert_msg(fabs(share - (double)counts[i] / N_KEYS) < 0.01,
			      "node%d: share %.4f, keys %.4f", i + 1, share,
			      (double)counts[i] / N_KEYS);
		sum += share;
	}
	ck_assert_double_eq_tol(sum, 1.0, 1e-9);
	ck_assert_double_eq_tol(sl_ring_share(r, 1), 0.4, 0.04);
	ck_assert(sl_ring_share(r, 9) == 0.0);
	ck_assert(sl_ring_share(NULL, 0) == 0.0);
	sl_ring_destroy(&r);
	free(keys);
}
END_TEST

/* A 5th member joining 4 takes about a fifth of the keys, all of them from
 * the others, and no key moves between old members. */
START_TEST(test_add_member)
{
	char names[5][16];
	sl_ring_t *r4 = make_ring(4, NULL, names);
	sl_ring_t *r5 = make_ring(5, NULL, names);
	uint64_t *keys = make_keys();
	size_t moved = 0;
	double frac;

	for (int i = 0; i < N_KEYS; i++) {
		size_t before = sl_ring_owner(r4, keys[i]);
		size_t after = sl_ring_owner(r5, keys[i]);

		if (before == after)
			continue;
		ck_assert_msg(after == 4,
			      "key %d moved from node%zu to node%zu", i,
			      before + 1, after + 1);
		moved++;
	}
	frac = (double)moved / N_KEYS;
	ck_assert_msg(frac >= 0.17 && frac <= 0.23, "%.3f of the keys moved",
		      frac);
	sl_ring_destroy(&r4);
	sl_ring_destroy(&r5);
	free(keys);
}
END_TEST

/* sl_ring_moved is the share of keys whose owner changes by name: it
 * agrees with 100,000 sampled keys, is 0 for a ring of the same members
 * in another order, 1 for disjoint ones, and the same both ways. */
START_TEST(test_moved_share)
{
	char names[5][16], other[2][16];
	sl_ring_t *r3 = make_ring(3, NULL, names);
	sl_ring_t *r4 = make_ring(4, NULL, names);
	sl_ring_member_t swapped[3] = {
		{names[2], 1}, {names[0], 1}, {names[1], 1}};
	sl_ring_member_t far[2] = {{other[0], 1}, {other[1], 1}};
	sl_ring_t *rs = sl_ring_new(swapped, 3), *rf;
	uint64_t *keys = make_keys();
	size_t moved = 0;
	double share = sl_ring_moved(r3, r4), sampled;

	snprintf(other[0], sizeof(other[0]), "x");
	snprintf(other[1], sizeof(other[1]), "y");
	rf = sl_ring_new(far, 2);
	for (int i = 0; i < N_KEYS; i++)
		moved += sl_ring_owner(r3, keys[i]) !=
			 sl_ring_owner(r4, keys[i]);
	sampled = (double)moved / N_KEYS;
	ck_assert_msg(share > sampled - 0.01 && share < sampled + 0.01,
		      "moved %.4f, sampled %.4f", share, sampled);
	ck_assert_msg(share > 0.22 && share < 0.28, "moved %.4f", share);
	ck_assert(sl_ring_moved(r4, r3) == share);
	ck_assert(sl_ring_moved(r3, r3) == 0.0);
	ck_assert(sl_ring_moved(r3, rs) == 0.0);
	ck_assert(sl_ring_moved(r3, rf) > 0.999999);
	ck_assert(sl_ring_moved(NULL, r3) == 1.0);
	ck_assert(sl_ring_moved(NULL, NULL) == 0.0);
	sl_ring_destroy(&r3);
	sl_ring_destroy(&r4);
	sl_ring_destroy(&rs);
	sl_ring_destroy(&rf);
	free(keys);
}
END_TEST

/* Removing a member moves exactly its keys; the rest stay put. */
START_TEST(test_remove_member)
{
	char names[5][16];
	sl_ring_t *r5 = make_ring(5, NULL, names);
	/* Drop node3 from the middle: member indices shift, names do not. */
	sl_ring_t *r4 = ring_without(names, 5, 2);
	uint64_t *keys = make_keys();
	size_t moved = 0, owned = 0;

	for (int i = 0; i < N_KEYS; i++) {
		const char *before =
			sl_ring_member_name(r5, sl_ring_owner(r5, keys[i]));
		const char *after =
			sl_ring_member_name(r4, sl_ring_owner(r4, keys[i]));
		int was_node3 = strcmp(before, "node3") == 0;

		owned += was_node3;
		if (strcmp(before, after) != 0) {
			ck_assert_msg(was_node3, "key %d moved from %s to %s",
				      i, before, after);
			moved++;
		} else {
			ck_assert(!was_node3);
		}
	}
	ck_assert_uint_eq(moved, owned);
	ck_assert_uint_gt(moved, N_KEYS / 10);
	sl_ring_destroy(&r4);
	sl_ring_destroy(&r5);
	free(keys);
}
END_TEST

/* n distinct members, owner first; asking for more than there are gives
 * them all.  When the owner leaves, its keys go to their first fallback. */
START_TEST(test_preference_list)
{
	char names[8][16];
	sl_ring_t *r = make_ring(8, NULL, names);
	sl_ring_t *r7;
	uint64_t *keys = make_keys();
	size_t out[12];

	for (int i = 0; i < 2000; i++) {
		size_t n = sl_ring_preference_list(r, keys[i], out, 3);

		ck_assert_uint_eq(n, 3);
		ck_assert_uint_eq(out[0], sl_ring_owner(r, keys[i]));
		ck_assert(out[0] != out[1] && out[1] != out[2] &&
			  out[0] != out[2]);

		n = sl_ring_preference_list(r, keys[i], out, 12);
		ck_assert_uint_eq(n, 8);
		for (size_t a = 0; a < n; a++)
			for (size_t b = a + 1; b < n; b++)
				ck_assert_uint_ne(out[a], out[b]);
	}
	ck_assert_uint_eq(sl_ring_preference_list(r, keys[0], out, 0), 0);
	/* The extremes of the circle wrap around like any other point. */
	ck_assert_uint_eq(sl_ring_preference_list(r, 0, out, 8), 8);
	ck_assert_uint_eq(sl_ring_preference_list(r, UINT64_MAX, out, 8), 8);

	/* Without node1, node1's keys belong to their first fallback. */
	r7 = ring_without(names, 8, 0);
	for (int i = 0; i < 2000; i++) {
		sl_ring_preference_list(r, keys[i], out, 2);
		if (out[0] != 0)
			continue;
		ck_assert_str_eq(
			sl_ring_member_name(r7, sl_ring_owner(r7, keys[i])),
			names[out[1]]);
	}
	sl_ring_destroy(&r7);
	sl_ring_destroy(&r);
	free(keys);
}
END_TEST

/* Same membership, same version; any change of names, weights or order
 * changes it; never 0. */
START_TEST(test_version)
{
	static const uint32_t w2[3] = {1, 2, 1};
	char names[4][16];
	sl_ring_t *a = make_ring(3, NULL, names);
	sl_ring_t *b = make_ring(3, NULL, names);
	sl_ring_t *c = make_ring(4, NULL, names);
	sl_ring_t *d = make_ring(3, w2, names);
	sl_ring_member_t m[3] = {
		{"node2", 1},
		{"node1", 1},
		{"node3", 1},
	};
	sl_ring_t *e = sl_ring_new(m, 3);
	sl_ring_t *empty = sl_ring_new(NULL, 0);

	ck_assert_uint_ne(sl_ring_version(a), 0);
	ck_assert_uint_ne(sl_ring_version(empty), 0);
	ck_assert_uint_eq(sl_ring_version(a), sl_ring_version(b));
	ck_assert_uint_ne(sl_ring_version(a), sl_ring_version(c));
	ck_assert_uint_ne(sl_ring_version(a), sl_ring_version(d));
	ck_assert_uint_ne(sl_ring_version(a), sl_ring_version(e));
	ck_assert_uint_ne(sl_ring_version(a), sl_ring_version(empty));
	m[0].name = "node1";
	m[1].name = "node2";
	sl_ring_destroy(&e);
	e = sl_ring_new(m, 3);
	ck_assert_uint_eq(sl_ring_version(a), sl_ring_version(e));

	sl_ring_destroy(&a);
	sl_ring_destroy(&b);
	sl_ring_destroy(&c);
	sl_ring_destroy(&d);
	sl_ring_destroy(&e);
	sl_ring_destroy(&empty);
	sl_ring_destroy(&empty); /* clears the pointer; NULL is fine */
	sl_ring_destroy(NULL);
}
END_TEST

/* Past SL_RING_MAX_WEIGHT no ring is built (and nothing allocated). */
START_TEST(test_weight_limit)
{
	static char names[1024][16];
	static sl_ring_member_t m[1024];
	sl_ring_t *r;

	for (int i = 0; i < 1024; i++) {
		snprintf(names[i], sizeof(names[i]), "n%d", i);
		m[i] = (sl_ring_member_t){names[i], 100};
	}
	ck_assert_uint_eq(sl_ring_weight(m, 1024), 102400);
	ck_assert_ptr_null(sl_ring_new(m, 1024));
	for (int i = 0; i < 1024; i++)
		m[i].weight = 2;
	ck_assert_uint_eq(sl_ring_weight(m, 1024), SL_RING_MAX_WEIGHT);
	r = sl_ring_new(m, 1024);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(sl_ring_members(r), 1024);
	sl_ring_destroy(&r);
	m[0].weight = 3;
	ck_assert_ptr_null(sl_ring_new(m, 1024));
	m[0].weight = UINT32_MAX;
	ck_assert_ptr_null(sl_ring_new(m, 1024));
}
END_TEST

/* The ring copies names: the caller's buffers may change after new(). */
START_TEST(test_names_copied)
{
	char n1[16] = "alpha", n2[16] = "beta";
	sl_ring_member_t m[2] = {{n1, 1}, {n2, 3}};
	sl_ring_t *r = sl_ring_new(m, 2);

	memset(n1, 'X', sizeof(n1) - 1);
	memset(n2, 'Y', sizeof(n2) - 1);
	ck_assert_uint_eq(sl_ring_members(r), 2);
	ck_assert_str_eq(sl_ring_member_name(r, 0), "alpha");
	ck_assert_str_eq(sl_ring_member_name(r, 1), "beta");
	sl_ring_destroy(&r);
}
END_TEST

/* xxh3-64 of every owner's name for N_KEYS keys, with the ring version. */
static uint64_t owner_digest(void)
{
	static const uint32_t w[6] = {1, 3, 1, 2, 1, 1};
	char names[6][16];
	sl_ring_t *r = make_ring(6, w, names);
	uint64_t *keys = make_keys();
	uint64_t h = sl_ring_version(r);

	for (int i = 0; i < N_KEYS; i++) {
		const char *name =
			sl_ring_member_name(r, sl_ring_owner(r, keys[i]));
		char buf[64];
		int len = snprintf(buf, sizeof(buf), "%016llx%s",
				   (unsigned long long)h, name);

		h = XXH3_64bits(buf, (size_t)len);
	}
	sl_ring_destroy(&r);
	free(keys);
	return h;
}

/* A fresh process (exec'd, so another address-space layout) that builds the
 * ring on its own maps every key to the same member. */
START_TEST(test_other_process)
{
	int fds[2];
	pid_t pid;
	char buf[64] = "";
	ssize_t n;
	size_t got = 0;
	int status;
	char mine[32];

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execl("/proc/self/exe", "test_ring", "--owner-digest",
		      (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while (got < sizeof(buf) - 1) {
		n = read(fds[0], buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	snprintf(mine, sizeof(mine), "%016llx\n",
		 (unsigned long long)owner_digest());
	ck_assert_str_eq(buf, mine);
}
END_TEST

static Suite *ring_suite(void)
{
	return TH_SUITE("ring", {.name = "core",
				 .tests = TH_TESTS(
					 test_equal_share, test_weighted_share,
					 test_share_exact, test_add_member,
					 test_remove_member, test_moved_share,
					 test_preference_list, test_version,
					 test_names_copied, test_weight_limit,
					 test_other_process)});
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--owner-digest") == 0) {
		printf("%016llx\n", (unsigned long long)owner_digest());
		return 0;
	}
	return th_check_run(ring_suite(), NULL);
}
