/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration: `policy = auto` on two real nodes of 8 MiB RAM and a
 * mount.  Two datasets under the default policy: "small" (1 MiB) fits and
 * stays lru; "ds" (32 MiB, about twice what the cluster can keep) is
 * pinned once the nodes have counted it, which they do by themselves at
 * start, and `sluicectl dataset` says both choices and why.  Two epochs over ds
 * in shuffled order: the second hits its cached fraction (within 0.15), where
 * the same run with `policy = lru` forced hits clearly less; a reload that
 * raises ram_capacity makes ds fit and the nodes go back to lru without a walk.
 */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "test/helper_check.h"
#include "test/helper_cluster.h"
#include "test/helper_proc.h"

#define FILES	     64
#define FILE_BYTES   (512u << 10)
#define SMALL_FILES  4
#define RAM_TIER     "sluice_served_bytes_total{tier=\"ram\"}"
#define BACKEND	     "sluice_served_bytes_total{tier=\"backend\"}"
#define POLICY(d, p) "sluice_dataset_policy{dataset=\"" d "\",policy=\"" p "\"}"

static char work[PATH_MAX];

/* How many times needle is in text. */
static int count_in(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Wait up to 20 s until every node says name = want. */
static int await_value(const th_cluster_t *c, const char *name, int64_t want)
{
	uint64_t end = sl_now_ms() + 20000;

	while (sl_now_ms() < end) {
		int all = 1;

		for (int i = 0; i < c->n; i++)
			all &= th_cl_node_value(c, i, name) == want;
		if (all)
			return 1;
		usleep(50000);
	}
	return 0;
}

/* One epoch: ds's files in an order shuffled by seed, each read whole
 * through the mount (kernel pages dropped); how many differ. */
static int epoch(const th_cluster_t *c, uint32_t seed)
{
	int order[FILES], bad = 0;

	for (int i = 0; i < FILES; i++)
		order[i] = i;
	for (int i = FILES - 1; i > 0; i--) {
		int j, k;

		seed = seed * 1103515245u + 12345u;
		j = (int)((seed >> 8) % (uint32_t)(i + 1));
		k = order[i];
		order[i] = order[j];
		order[j] = k;
	}
	for (int i = 0; i < FILES; i++)
		bad += !th_cl_same_file(c, order[i], 1);
	return bad;
}

/* The share of the bytes the nodes served from RAM during an epoch. */
static double epoch_hits(const th_cluster_t *c, uint32_t seed)
{
	int64_t ram = th_cl_sum(c, RAM_TIER), be = th_cl_sum(c, BACKEND);

	ck_assert_int_eq(epoch(c, seed), 0);
	ram = th_cl_sum(c, RAM_TIER) - ram;
	be = th_cl_sum(c, BACKEND) - be;
	ck_assert_int_gt(ram + be, 0);
	return (double)ram / (double)(ram + be);
}

/* ds's cached bytes over its size, from `sluicectl dataset ds --json`. */
static double cached_fraction(const th_cluster_t *c)
{
	char *out = NULL, *p, *q;
	double bytes, held;

	ck_assert_int_eq(th_cl_ctl(c, "dataset ds --json --interval 0", &out),
			 0);
	p = strstr(out, "\"bytes\":");
	q = strstr(out, "\"cached_bytes\":");
	ck_assert_msg(p && q, "%s", out);
	bytes = strtod(p + 8, NULL);
	held = strtod(q + 15, NULL);
	ck_assert_msg(bytes == (double)FILES * FILE_BYTES, "%s", out);
	free(out);
	return held / bytes;
}

/* Read every file of the small dataset through the mount, the kernel's
 * pages of it dropped first (so the nodes are asked). */
static void read_small(const th_cluster_t *c)
{
	char p[PATH_MAX + 32];

	for (int i = 0; i < SMALL_FILES; i++) {
		size_t len = 0;
		char *data;
		int fd;

		snprintf(p, sizeof(p), "%s/small/s%d", c->mnt, i);
		fd = open(p, O_RDONLY);
		ck_assert_int_ge(fd, 0);
		posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
		data = th_read_file(p, &len);
		ck_assert_msg(data && len == (256u << 10), "%s", p);
		free(data);
	}
}

/* Reconfigure every node (ram_capacity, ds's policy keys) and SIGHUP. */
static void reload(th_cluster_t *c, const char *ram, const char *ds_keys)
{
	snprintf(c->node_keys, sizeof(c->node_keys), "ram_capacity = %s\n",
		 ram);
	sl_strlcpy(c->dataset_keys, ds_keys, sizeof(c->dataset_keys));
	ck_assert_int_eq(th_cl_write_conf(c), 0);
	for (int i = 0; i < c->n; i++)
		ck_assert_int_eq(th_cl_node_signal(c, i, SIGHUP), 0);
}

START_TEST(test_auto_chooses)
{
	char small[PATH_MAX + 8], *out = NULL;
	double auto_hits, auto_cached, lru_hits, first;
	th_cluster_t c;

	ck_assert_int_eq(th_cl_init(&c, work, "auto"), 0);
	ck_assert_int_eq(th_cl_make_files(&c, FILES, FILE_BYTES, FILE_BYTES, 9),
			 0);
	snprintf(small, sizeof(small), "%s/small", c.dir);
	ck_assert_int_eq(mkdir(small, 0755), 0);
	for (int i = 0; i < SMALL_FILES; i++) {
		char rel[16], *data = malloc(256u << 10);

		memset(data, 'a' + i, 256u << 10);
		snprintf(rel, sizeof(rel), "s%d", i);
		ck_assert_int_eq(th_write_file_at(small, rel, data, 256u << 10),
				 0);
		free(data);
	}
	sl_strlcpy(c.block_size, "64K", sizeof(c.block_size));
	snprintf(c.sections, sizeof(c.sections),
		 "[dataset small]\nbackend = posix\nuri = file://%.900s\n"
		 "block_size = 64K\n",
		 small);
	/* Every read reaches a node: the nodes' counts are the epoch's. */
	sl_strlcpy(
		c.client_keys,
		"block_cache = 0\nprefetch_depth = 0\nrequest_timeout = 2s\n",
		sizeof(c.client_keys));
	sl_strlcpy(c.node_keys, "ram_capacity = 8M\n", sizeof(c.node_keys));
	ck_assert_int_eq(th_cl_up(&c, 2), 0);

	/* The nodes count both datasets by themselves at start: ds is
	 * pinned before anyone asked (a node still counting says lru). */
	ck_assert(await_value(&c, POLICY("ds", "pin"), 1));
	ck_assert(await_value(&c, POLICY("small", "lru"), 1));
	/* `dataset` counts again, and says what the nodes chose and why. */
	ck_assert_int_eq(th_cl_ctl(&c, "dataset small --interval 0", &out), 0);
	ck_assert_msg(strstr(out, "policy auto\n") && strstr(out, "  n0 ") &&
			      strstr(out, "  n1 ") &&
			      count_in(out, "auto -> lru (fits: "
					    "owns ") == 2,
		      "%s", out);
	free(out);
	ck_assert_int_eq(th_cl_ctl(&c, "dataset ds --interval 0", &out), 0);
	ck_assert_msg(count_in(out, "auto -> pin (larger: owns ") == 2 &&
			      strstr(out, " MiB usable)"),
		      "%s", out);
	free(out);
	ck_assert_int_eq(th_cl_ctl(&c, "dataset ds --json --interval 0", &out),
			 0);
	ck_assert_msg(strstr(out, "\"policy\":\"auto\"") &&
			      count_in(out, "\"policy\":\"pin\","
					    "\"auto\":{\"why\":"
					    "\"larger\"") == 2,
		      "%s", out);
	free(out);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(th_cl_node_value(&c, i, POLICY("ds", "pin")),
				 1);
		ck_assert_int_eq(th_cl_node_value(&c, i, POLICY("ds", "lru")),
				 0);
		ck_assert_int_eq(
			th_cl_node_value(&c, i, POLICY("small", "lru")), 1);
	}

	/* Shuffled epochs under auto (pin): the second hits what stayed. */
	first = epoch_hits(&c, 1);
	/* Read after ds filled what it may: small still finds its room. */
	read_small(&c);
	auto_cached = cached_fraction(&c);
	auto_hits = epoch_hits(&c, 2);
	ck_assert_msg(auto_cached > 0.25 && auto_cached < 0.6, "cached %.3f",
		      auto_cached);
	ck_assert_msg(auto_hits > auto_cached - 0.15 &&
			      auto_hits < auto_cached + 0.15,
		      "auto: epoch 2 hit %.3f, cached %.3f (epoch 1 %.3f)",
		      auto_hits, auto_cached, first);
	/* small stays whole beside the pinned one (ds keeps to its share). */
	{
		int64_t be = th_cl_sum(&c, BACKEND);

		read_small(&c);
		ck_assert_int_eq(th_cl_sum(&c, BACKEND), be);
	}

	/* A reload that makes room: ds fits now, lru again, no walk. */
	reload(&c, "64M", "");
	ck_assert(await_value(&c, POLICY("ds", "lru"), 1));
	ck_assert(await_value(
		&c, "sluice_dataset_auto{dataset=\"ds\",why=\"fits\"}", 1));

	/* The same epochs with lru forced (8 MiB again): ds is reopened
	 * (another policy), so it starts empty, as under auto. */
	reload(&c, "8M", "policy = lru\n");
	ck_assert(await_value(&c, "sluice_ram_capacity_bytes", 8 << 20));
	ck_assert(await_value(&c, POLICY("ds", "lru"), 1));
	first = epoch_hits(&c, 1);
	lru_hits = epoch_hits(&c, 2);
	fprintf(stderr,
		"it_autopolicy: epoch 2 hit ratio auto %.3f (cached %.3f), "
		"lru %.3f (epoch 1 %.3f)\n",
		auto_hits, auto_cached, lru_hits, first);
	ck_assert_msg(lru_hits < auto_hits - 0.1,
		      "lru %.3f is not clearly below auto %.3f", lru_hits,
		      auto_hits);
	ck_assert_int_eq(th_cl_ctl(&c, "dataset ds --interval 0", &out), 0);
	ck_assert_msg(strstr(out, "policy lru\n") && !strstr(out, "auto -> "),
		      "%s", out);
	free(out);
	ck_assert_int_eq(th_cl_unmount(&c), 0);
	th_cl_fini(&c);
}
END_TEST

static Suite *auto_suite(void)
{
	Suite *s = suite_create("it_autopolicy");
	TCase *tc = tcase_create("auto");

	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_auto_chooses);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	char *tmp;
	int rc;

	if (!th_have_fuse())
		return th_check_skip_suite("it_autopolicy",
					   "needs root and /dev/fuse");
	tmp = th_tmpdir("it-auto");
	SL_ASSERT(tmp);
	sl_strlcpy(work, tmp, sizeof(work));
	free(tmp);
	sl_log_init("it_autopolicy", SL_LOG_ERR);
	rc = th_check_run(auto_suite(), NULL);
	if (rc == 0 && !getenv("SLUICE_KEEP_TMP"))
		th_rmtree(work);
	else
		fprintf(stderr, "it_autopolicy: logs kept in %s\n", work);
	return rc;
}
