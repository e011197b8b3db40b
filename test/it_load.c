/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration: `sluicectl load` and `sluicectl evict` on real nodes and a
 * mount.  What an operator checks: after a load, an epoch read through
 * the mount (kernel pages dropped, the client's block cache off) costs
 * the backend nothing; a second load fetches nothing; --json progress
 * only grows and ends at 100%; evict frees every byte and the next epoch
 * reads all of it from the backend again; a node down during the load
 * has its share loaded by the others; the progress bar in a
 * pseudo-terminal; and bad input gets its message and exit status.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <jansson.h>

#include "common/log.h"
#include "common/util.h"
#include "test/helper_check.h"
#include "test/helper_cluster.h"
#include "test/helper_proc.h"

#define FILES	   120
#define CTL_MS	   60000
#define READS	   "sluice_backend_reads_total"
#define READ_BYTES "sluice_backend_read_bytes_total"

static char work[PATH_MAX];

static uint64_t src_bytes(const th_cluster_t *c)
{
	char p[PATH_MAX + 16];
	uint64_t sum = 0;
	struct stat st;

	for (int i = 0; i < FILES; i++) {
		snprintf(p, sizeof(p), "%s/f%04d", c->src, i);
		ck_assert_int_eq(stat(p, &st), 0);
		sum += (uint64_t)st.st_size;
	}
	return sum;
}

/* Every file through the mount, kernel pages dropped: how many differ. */
static int epoch(const th_cluster_t *c)
{
	int bad = 0;

	for (int i = 0; i < FILES; i++)
		bad += !th_cl_same_file(c, i, 1);
	return bad;
}

/* A cluster of n nodes over FILES files; with slow, a second dataset
 * "slow" over the same files whose every backend read takes 20 ms
 * (test/backends/testslow.c); node_keys for every node. */
static void cluster_with(th_cluster_t *c, const char *name, int n, int slow,
			 const char *node_keys)
{
	ck_assert_int_eq(th_cl_init(c, work, name), 0);
	ck_assert_int_eq(th_cl_make_files(c, FILES, 1000, 40000, 14), 0);
	sl_strlcpy(c->block_size, "16K", sizeof(c->block_size));
	if (slow && strlen(c->src) < 900)
		snprintf(c->sections, sizeof(c->sections), "%s%.900s%s",
			 "[dataset slow]\nbackend = testslow\nuri = file://",
			 c->src, "\nblock_size = 16K\ndelay_ms = 20\n");
	if (node_keys)
		sl_strlcpy(c->node_keys, node_keys, sizeof(c->node_keys));
	/* Every read reaches a node: the backend counts are exact. */
	sl_strlcpy(
		c->client_keys,
		"block_cache = 0\nprefetch_depth = 0\nrequest_timeout = 1s\n",
		sizeof(c->client_keys));
	for (int i = 0; i < n; i++)
		th_cl_add_node(c, NULL, NULL, 1);
	ck_assert_int_eq(th_cl_write_conf(c), 0);
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(th_cl_node_start(c, i, NULL), 0);
}

static void cluster(th_cluster_t *c, const char *name, int n)
{
	cluster_with(c, name, n, 0, NULL);
}

/* Start sluicectl -c CONF ARGS in the background, its output (stdout and
 * stderr) to log: its pid. */
static pid_t ctl_spawn(const th_cluster_t *c, const char *args, const char *log)
{
	static char cmd[PATH_MAX * 3];
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", cmd, NULL};

	snprintf(cmd, sizeof(cmd), "exec %s/sluicectl -c %s %s 2>&1", c->build,
		 c->conf, args);
	return th_proc_spawn(argv, log);
}

/* Wait until log holds what (up to 30 s): 1, or 0. */
static int wait_for(const char *log, const char *what)
{
	uint64_t end = sl_now_ms() + 30000;

	while (sl_now_ms() < end) {
		char *text = th_read_file(log, NULL);
		int found = text && strstr(text, what);

		free(text);
		if (found)
			return 1;
		usleep(20000);
	}
	return 0;
}

/* Every file of dataset slow through the mount, pages dropped: how many
 * differ from the source. */
static int epoch_slow(const th_cluster_t *c)
{
	int bad = 0;

	for (int i = 0; i < FILES; i++)
		bad += !th_cl_same_file_of(c, "slow", i);
	return bad;
}

/* The value of "key": in a JSON line, or -1. */
static double json_num(const char *line, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(line, k);
	return p ? strtod(p + strlen(k), NULL) : -1;
}

/*
 * datasets --json, locate --json and locate --kubectl agree: the dataset
 * is total bytes, held bytes are cached, and the hosts' cached bytes add
 * up to them.
 */
static void assert_cached(const th_cluster_t *c, uint64_t total, uint64_t held)
{
	char *out = NULL, *p;
	double sum = 0;
	int hosts = 0, labels = 0;

	ck_assert_int_eq(th_cl_ctl(c, "datasets --json", &out), 0);
	ck_assert_msg(json_num(out, "bytes") == (double)total &&
			      json_num(out, "cached_bytes") == (double)held &&
			      json_num(out, "files") == FILES,
		      "want %llu of %llu: %s", (unsigned long long)held,
		      (unsigned long long)total, out);
	free(out);
	ck_assert_int_eq(th_cl_ctl(c, "locate ds --json", &out), 0);
	ck_assert_msg(json_num(out, "cached_bytes") == (double)held, "%s", out);
	for (p = strstr(out, "\"host\":"); p; p = strstr(p + 1, "\"host\":")) {
		sum += json_num(p, "cached_bytes");
		hosts++;
	}
	ck_assert_msg(sum == (double)held && hosts == c->n, "%s", out);
	free(out);
	ck_assert_int_eq(th_cl_ctl(c, "locate ds --kubectl", &out), 0);
	for (p = strstr(out, "kubectl label node n"); p;
	     p = strstr(p + 1, "kubectl label node n"))
		labels += strstr(p, " sluice.io/ds=") != NULL;
	ck_assert_msg(labels == c->n, "%s", out);
	free(out);
}

/* The nodes' per-dataset gauges (STATS, the same as /metrics): the
 * bytes of ds in tier, added up over the nodes, are want; every node
 * knows the dataset's size and files. */
static void assert_gauges(const th_cluster_t *c, const char *tier,
			  uint64_t want, uint64_t total)
{
	char name[128];

	snprintf(name, sizeof(name),
		 "sluice_dataset_cached_bytes{dataset=\"ds\",tier=\"%s\"}",
		 tier);
	ck_assert_int_eq(th_cl_sum(c, name), (int64_t)want);
	for (int i = 0; i < c->n; i++) {
		ck_assert_int_eq(
			th_cl_node_value(c, i,
					 "sluice_dataset_bytes{dataset="
					 "\"ds\"}"),
			(int64_t)total);
		ck_assert_int_eq(
			th_cl_node_value(c, i,
					 "sluice_dataset_files{dataset="
					 "\"ds\"}"),
			FILES);
	}
}

/* File i's user.sluice.cached is want; user.sluice.nodes names nodes of
 * the cluster; listxattr names both. */
static void assert_xattr(const th_cluster_t *c, int i, const char *want)
{
	char p[PATH_MAX + 16], v[256], names[256];
	ssize_t n;

	snprintf(p, sizeof(p), "%s/f%04d", c->data, i);
	n = getxattr(p, "user.sluice.cached", v, sizeof(v) - 1);
	ck_assert_int_eq(n, 4);
	v[n] = 0;
	ck_assert_msg(strcmp(v, want) == 0, "f%04d: cached %s, want %s", i, v,
		      want);
	n = getxattr(p, "user.sluice.nodes", v, sizeof(v) - 1);
	ck_assert_int_gt(n, 1);
	v[n] = 0;
	for (char *tok = strtok(v, ","); tok; tok = strtok(NULL, ","))
		ck_assert_msg(tok[0] == 'n' && atoi(tok + 1) < c->n, "%s", v);
	n = listxattr(p, names, sizeof(names));
	ck_assert_int_eq(
		n, (ssize_t)sizeof("user.sluice.cached\0user.sluice.nodes"));
	n = getxattr(p, "user.other", v, sizeof(v));
	ck_assert_int_eq(n, -1);
	ck_assert_int_eq(errno, ENODATA);
}

START_TEST(test_load_epoch_evict)
{
	th_cluster_t c;
	uint64_t total;
	int64_t before, reads;
	double last_pct = -1, last_bytes = -1, last_files = -1;
	char *out = NULL, *line, *save = NULL, args[64];
	int progress = 0, done = 0;

	cluster(&c, "load", 2);
	ck_assert_int_eq(th_cl_mount(&c, NULL), 0);
	total = src_bytes(&c);

	/* The load, as JSON lines. */
	ck_assert_int_eq(th_cl_ctl(&c, "load ds --json --parallel 4", &out), 0);
	for (line = strtok_r(out, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, "\"event\":\"progress\"")) {
			double pct = json_num(line, "percent");
			double bytes = json_num(line, "bytes_done");
			double files = json_num(line, "files_done");

			ck_assert_msg(pct >= last_pct && bytes >= last_bytes &&
					      files >= last_files,
				      "progress went back: %s", line);
			last_pct = pct;
			last_bytes = bytes;
			last_files = files;
			progress++;
		} else if (strstr(line, "\"event\":\"done\"")) {
			ck_assert_double_eq(json_num(line, "percent"), 100.0);
			ck_assert_double_eq(json_num(line, "bytes"),
					    (double)total);
			ck_assert_double_eq(json_num(line, "files"), FILES);
			ck_assert_double_eq(json_num(line, "failures"), 0);
			ck_assert_ptr_nonnull(strstr(line, "\"exit\":0"));
			done++;
		}
	}
	ck_assert_int_ge(progress, 1);
	ck_assert_int_eq(done, 1);
	free(out);
	out = NULL;

	/* What the nodes say they hold: all of it, and the hosts' shares
	 * add up to it; every file's attribute says so. */
	assert_cached(&c, total, total);
	assert_gauges(&c, "ram", total, total);
	for (int i = 0; i < FILES; i++)
		assert_xattr(&c, i, "1.00");

	/* The epoch after it: nothing from the backend. */
	before = th_cl_sum(&c, READS);
	ck_assert_int_eq(epoch(&c), 0);
	ck_assert_int_eq(th_cl_sum(&c, READS), before);

	/* Again: nothing missing, nothing fetched. */
	ck_assert_int_eq(th_cl_ctl(&c, "load ds", &out), 0);
	ck_assert_msg(strstr(out, "loaded ds: 120 files"), "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "(100.0%)"));
	ck_assert_int_eq(th_cl_sum(&c, READS), before);
	free(out);
	out = NULL;

	/* Evict: every byte freed, and the next epoch reads every block of
	 * every file from the backend. */
	ck_assert_int_eq(th_cl_ctl(&c, "evict ds", &out), 0);
	snprintf(args, sizeof(args), "freed on 2 nodes");
	ck_assert_msg(strstr(out, args), "%s", out);
	free(out);
	out = NULL;
	assert_gauges(&c, "ram", 0, total);
	before = th_cl_sum(&c, READ_BYTES);
	reads = th_cl_sum(&c, READS);
	ck_assert_int_eq(epoch(&c), 0);
	ck_assert_int_eq(th_cl_sum(&c, READ_BYTES) - before, (int64_t)total);
	ck_assert_int_ge(th_cl_sum(&c, READS) - reads, FILES);
	/* An operator's eviction is no capacity miss: the ghost forgot. */
	ck_assert_int_eq(th_cl_sum(&c, "sluice_backend_refetched_bytes_total"),
			 0);

	/* The epoch cached it all again; a folder's eviction (the 16K blocks
	 * of f0000) frees its bytes, and the counts say so. */
	assert_cached(&c, total, total);
	ck_assert_int_eq(th_cl_ctl(&c, "evict ds /f0000", &out), 0);
	ck_assert_msg(strstr(out, "evicted ds: ") && !strstr(out, " 0 blocks"),
		      "%s", out);
	free(out);
	out = NULL;
	{
		char p[PATH_MAX + 16];
		struct stat st;

		snprintf(p, sizeof(p), "%s/f0000", c.src);
		ck_assert_int_eq(stat(p, &st), 0);
		assert_cached(&c, total, total - (uint64_t)st.st_size);
	}
	assert_xattr(&c, 0, "0.00");
	assert_xattr(&c, 1, "1.00");

	/* Bad input: a message and exit status 1, nothing started. */
	{
		static const char *const bad[][2] = {
			{"load nosuch", "unknown dataset 'nosuch'"},
			{"load ds ../etc", "not a path inside dataset ds"},
			{"load ds no/such/dir", "No such file or directory"},
			{"load ds no/such/dir", "failed to load ds: 0 files"},
			{"load ds --parallel 0", "--parallel takes"},
			{"evict nosuch", "unknown dataset 'nosuch'"},
			{"evict ds no/such", "No such file or directory"},
		};

		for (size_t i = 0; i < SL_ARRAY_SIZE(bad); i++) {
			ck_assert_int_eq(th_cl_ctl(&c, bad[i][0], &out), 1);
			ck_assert_msg(strstr(out, bad[i][1]), "%s: %s",
				      bad[i][0], out);
			free(out);
			out = NULL;
		}
	}

	/* The progress bar in a pseudo-terminal (util-linux script). */
	{
		char cmd[PATH_MAX * 3];
		char *argv[] = {(char *)"/bin/sh", (char *)"-c", cmd, NULL};

		snprintf(cmd, sizeof(cmd),
			 "script -qec '%s/sluicectl -c %s load ds' /dev/null",
			 c.build, c.conf);
		ck_assert_int_eq(th_run_capture(argv, CTL_MS, &out), 0);
		/* [####...] 100.0% 120/120 files 1.0 MiB/1.0 MiB 3.0 MiB/s
		 * ETA 0s, then the summary. */
		ck_assert_msg(strstr(out, "\r[##############################] "
					  "100.0% 120/120 files "),
			      "%s", out);
		ck_assert_msg(strstr(out, "/s ETA 0s"), "%s", out);
		ck_assert_msg(strstr(out, "loaded ds: 120 files"), "%s", out);
		free(out);
		out = NULL;
	}
	ck_assert_int_eq(th_cl_unmount(&c), 0);
	th_cl_fini(&c);
}
END_TEST

/*
 * A node down when the load starts (killed: its port refuses, the
 * requests wait unanswered): the CLI gives up on it after its silence,
 * says so, and loads again on the others with it skipped, which take its
 * share.  Then an epoch with the node still down -- the client reads its
 * blocks from the next node of each preference list -- costs the backend
 * nothing.
 */
START_TEST(test_load_node_down)
{
	th_cluster_t c;
	int64_t before;
	char *out = NULL;

	cluster(&c, "down", 3);
	ck_assert_int_eq(th_cl_mount(&c, NULL), 0);
	th_cl_node_kill(&c, 1);
	ck_assert_int_eq(th_cl_ctl(&c, "-t 1000 load ds", &out), 0);
	ck_assert_msg(strstr(out, "node n1 failed during the load"), "%s", out);
	ck_assert_msg(strstr(out, "loaded ds: 120 files"), "%s", out);
	ck_assert_msg(strstr(out, "(100.0%)"), "%s", out);
	free(out);
	before = th_cl_sum(&c, READS);
	ck_assert_int_eq(epoch(&c), 0);
	ck_assert_int_eq(th_cl_sum(&c, READS), before);
	ck_assert_int_eq(th_cl_unmount(&c), 0);
	th_cl_fini(&c);
}
END_TEST

/*
 * Loads that last (every backend read 20 ms): a second load of the same
 * dataset is refused while the first runs; Ctrl-C ends the first with
 * status 130 and stops the nodes (their backend reads stop growing, and
 * a new load is accepted at once); a node killed mid-way is reported,
 * the others take its share, and an epoch with it down then costs the
 * backend nothing.
 */
START_TEST(test_load_cancel_and_kill)
{
	th_cluster_t c;
	char log[PATH_MAX + 16], log2[PATH_MAX + 16], log3[PATH_MAX + 16];
	char *out = NULL, *text;
	int64_t reads;
	pid_t pid;
	int st = 0;

	cluster_with(&c, "slow", 3, 1, NULL);
	ck_assert_int_eq(th_cl_mount(&c, NULL), 0);
	snprintf(log, sizeof(log), "%s/load1.log", c.dir);
	snprintf(log2, sizeof(log2), "%s/load2.log", c.dir);
	snprintf(log3, sizeof(log3), "%s/load3.log", c.dir);

	pid = ctl_spawn(&c, "load slow --json --parallel 1", log);
	ck_assert_int_gt(pid, 0);
	ck_assert_msg(wait_for(log, "\"event\":\"progress\""), "no progress");
	/* A second load of the same dataset while the first runs. */
	ck_assert_int_eq(th_cl_ctl(&c, "load slow", &out), 1);
	ck_assert_msg(strstr(out, "slow is being loaded already"), "%s", out);
	free(out);
	out = NULL;
	/* Ctrl-C: status 130, a final line that says so. */
	ck_assert_int_eq(kill(pid, SIGINT), 0);
	ck_assert_int_eq(th_proc_wait(pid, 20000, &st), 0);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 130, "status %x", st);
	text = th_read_file(log, NULL);
	ck_assert_msg(text && strstr(text, "\"cancelled\":true"), "%s", text);
	ck_assert_msg(!strstr(text, "\"percent\":100.0"), "%s", text);
	free(text);
	/* The nodes stopped too. */
	reads = th_cl_sum(&c, READS);
	usleep(300000);
	ck_assert_int_eq(th_cl_sum(&c, READS), reads);

	/* The command killed (no Ctrl-C, no cancel): the nodes notice
	 * their client gone at their next progress reply and stop. */
	pid = ctl_spawn(&c, "load slow --json --parallel 1", log3);
	ck_assert_int_gt(pid, 0);
	ck_assert_msg(wait_for(log3, "\"event\":\"progress\""), "no progress");
	th_proc_kill(pid);
	{
		uint64_t end = sl_now_ms() + 10000;
		int64_t prev = -1;

		reads = th_cl_sum(&c, READS);
		while (reads != prev && sl_now_ms() < end) {
			prev = reads;
			usleep(1500000); /* > 2 progress periods */
			reads = th_cl_sum(&c, READS);
		}
		ck_assert_int_eq(reads, prev);
	}
	ck_assert_int_lt(reads, 150); /* ~180 blocks if it went on */

	/* Again, and node n1 killed once it is under way: once the nodes
	 * have begun to fetch (a fixed wait was not enough on a loaded
	 * machine, where the command could find n1 dead before it began and
	 * report it down instead). */
	reads = th_cl_sum(&c, READS);
	pid = ctl_spawn(&c, "-t 1000 load slow --parallel 1", log2);
	ck_assert_int_gt(pid, 0);
	{
		uint64_t end = sl_now_ms() + 20000;

		while (th_cl_sum(&c, READS) < reads + 3 && sl_now_ms() < end)
			usleep(20000);
		ck_assert_int_ge(th_cl_sum(&c, READS), reads + 3);
	}
	th_cl_node_kill(&c, 1);
	ck_assert_int_eq(th_proc_wait(pid, 60000, &st), 0);
	text = th_read_file(log2, NULL);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %x: %s",
		      st, text);
	ck_assert_msg(strstr(text, "node n1 failed during the load"), "%s",
		      text);
	ck_assert_msg(strstr(text, "loaded slow: 120 files"), "%s", text);
	ck_assert_msg(strstr(text, "(100.0%)"), "%s", text);
	free(text);
	/* Without the hand-off a third of the ~180 blocks (n1's) would come
	 * from the backend.  A few may still: the client gives a node a 1 s
	 * timeout, and on a loaded machine it can fail over past a live
	 * node that was slow to answer. */
	reads = th_cl_sum(&c, READS);
	ck_assert_int_eq(epoch_slow(&c), 0);
	ck_assert_int_le(th_cl_sum(&c, READS) - reads, 8);
	ck_assert_int_eq(th_cl_unmount(&c), 0);
	th_cl_fini(&c);
}
END_TEST

/*
 * The disk tier alone (--no-ram-tier): a load leaves every block on disk,
 * where the counts, the attributes and the next epoch find them; evict
 * deletes them there, and the epoch after reads it all from the backend.
 */
START_TEST(test_load_disk)
{
	const char *const no_ram[] = {"--no-ram-tier", NULL};
	th_cluster_t c;
	pid_t pid;
	int st;
	char keys[PATH_MAX + 64], *out = NULL;
	uint64_t total;
	int64_t before;

	ck_assert_int_eq(th_cl_init(&c, work, "disk"), 0);
	ck_assert_int_eq(th_cl_make_files(&c, FILES, 1000, 40000, 14), 0);
	sl_strlcpy(c.block_size, "16K", sizeof(c.block_size));
	sl_strlcpy(
		c.client_keys,
		"block_cache = 0\nprefetch_depth = 0\nrequest_timeout = 2s\n",
		sizeof(c.client_keys));
	snprintf(keys, sizeof(keys),
		 "disk_path = %.*s/nvme\ndisk_capacity = 64M\n", PATH_MAX - 64,
		 c.dir);
	sl_strlcpy(c.node_keys, keys, sizeof(c.node_keys));
	th_cl_add_node(&c, NULL, NULL, 1);
	ck_assert_int_eq(th_cl_write_conf(&c), 0);
	ck_assert_int_eq(th_cl_node_start(&c, 0, no_ram), 0);
	ck_assert_int_eq(th_cl_mount(&c, NULL), 0);
	total = src_bytes(&c);

	ck_assert_int_eq(th_cl_ctl(&c, "load ds", &out), 0);
	free(out);
	assert_cached(&c, total, total);
	assert_gauges(&c, "disk", total, total);
	assert_gauges(&c, "ram", 0, total);
	assert_xattr(&c, 3, "1.00");
	before = th_cl_sum(&c, READS);
	/* `dataset`'s hit ratios over an epoch that the disk serves whole
	 * (a fresh mount without a block cache: every byte is a node's). */
	snprintf(keys, sizeof(keys), "%s/dataset.json", c.dir);
	pid = ctl_spawn(&c, "dataset ds --json --interval 4000", keys);
	ck_assert_int_gt(pid, 0);
	usleep(500000);
	ck_assert_int_eq(epoch(&c), 0);
	ck_assert_int_eq(th_proc_wait(pid, 30000, &st), 0);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	out = th_read_file(keys, NULL);
	ck_assert_ptr_nonnull(out);
	{
		const char *d = strstr(out, "\"node_disk\":");

		ck_assert_msg(d && strtoull(d + 12, NULL, 10) >= total, "%s",
			      out);
	}
	ck_assert_msg(strstr(out, "\"node_ram\":0,") &&
			      strstr(out, "\"peer\":0,") &&
			      strstr(out, "\"backend\":0}"),
		      "%s", out);
	free(out);
	out = NULL;
	ck_assert_int_eq(th_cl_sum(&c, READS), before);

	ck_assert_int_eq(th_cl_ctl(&c, "evict ds", &out), 0);
	free(out);
	assert_cached(&c, total, 0);
	assert_gauges(&c, "disk", 0, total);
	assert_xattr(&c, 3, "0.00");
	before = th_cl_sum(&c, READ_BYTES);
	ck_assert_int_eq(epoch(&c), 0);
	ck_assert_int_eq(th_cl_sum(&c, READ_BYTES) - before, (int64_t)total);
	ck_assert_int_eq(th_cl_unmount(&c), 0);
	th_cl_fini(&c);
}
END_TEST

/*
 * A dataset larger than the cluster's capacity (two nodes of 1 MiB for
 * 2.3 MiB): the load stops short, exits 2 and says at what percentage.
 */
START_TEST(test_load_short)
{
	th_cluster_t c;
	char *out = NULL;

	cluster_with(&c, "short", 2, 0, "ram_capacity = 1M\n");
	ck_assert_int_eq(th_cl_ctl(&c, "load ds", &out), 2);
	ck_assert_msg(strstr(out, "stopped short"), "%s", out);
	ck_assert_msg(!strstr(out, "(100.0%)"), "%s", out);
	free(out);
	th_cl_fini(&c);
}
END_TEST

/*
 * plan: one node whose RAM holds one of its two datasets, ds loaded: the
 * queue slow, ds, slow, ds becomes ds, ds, slow, slow (the cached one
 * first, each dataset's jobs together), and its estimate reads the
 * backend once per dataset not cached where the queue's order reads
 * each dataset every time it comes back.  Bad job files are refused.
 */
START_TEST(test_plan)
{
	th_cluster_t c;
	char jobs[PATH_MAX + 16], args[PATH_MAX + 32], *out = NULL, *p;
	static const char queue[] =
		"[{\"name\": \"j1\", \"dataset\": \"slow\", \"epochs\": 2},\n"
		" {\"name\": \"j2\", \"dataset\": \"ds\", \"epochs\": 1},\n"
		" {\"name\": \"j3\", \"dataset\": \"slow\", \"epochs\": 1},\n"
		" {\"name\": \"j4\", \"dataset\": \"ds\", \"epochs\": 3}]\n";
	static const char bad[] =
		"[{\"name\": \"j1\", \"dataset\": \"nosuch\", \"epochs\": 2}]";

	cluster_with(&c, "plan", 1, 1, "ram_capacity = 4M\n");
	ck_assert_int_eq(th_cl_ctl(&c, "load ds", &out), 0);
	free(out);
	snprintf(jobs, sizeof(jobs), "%s/jobs.json", c.dir);
	ck_assert_int_eq(th_write_file(jobs, queue, strlen(queue)), 0);
	snprintf(args, sizeof(args), "plan %s", jobs);
	ck_assert_int_eq(th_cl_ctl(&c, args, &out), 0);
	p = strstr(out, "\n1    j2 ");
	ck_assert_msg(p && (p = strstr(p, "\n2    j4 ")) &&
			      (p = strstr(p, "\n3    j1 ")) &&
			      strstr(p, "\n4    j3 "),
		      "%s", out);
	/* slow read once against each dataset twice (both are the same
	 * files, total bytes each). */
	{
		double planned = 0, queued = 0, mib = 1024.0 * 1024;
		const char *e = strstr(out, "estimated backend reads: ");

		ck_assert_msg(e && sscanf(e,
					  "estimated backend reads: %lf MiB "
					  "in this order, %lf MiB",
					  &planned, &queued) == 2,
			      "%s", out);
		ck_assert_double_eq_tol(planned, src_bytes(&c) / mib, 0.06);
		ck_assert_double_eq_tol(queued, 4 * src_bytes(&c) / mib, 0.06);
	}
	free(out);
	/* --json: the same order and estimate, for tools. */
	snprintf(args, sizeof(args), "plan --json %s", jobs);
	ck_assert_int_eq(th_cl_ctl(&c, args, &out), 0);
	{
		json_t *root = json_loads(out, 0, NULL), *order;
		const char *want[] = {"j2", "j4", "j1", "j3"};

		ck_assert_msg(root, "%s", out);
		order = json_object_get(root, "order");
		ck_assert_uint_eq(json_array_size(order), 4);
		for (size_t i = 0; i < 4; i++)
			ck_assert_str_eq(
				json_string_value(json_object_get(
					json_array_get(order, i), "job")),
				want[i]);
		ck_assert_uint_eq(json_integer_value(json_object_get(
					  root, "planned_backend_bytes")),
				  src_bytes(&c));
		ck_assert_uint_eq(json_integer_value(json_object_get(
					  root, "queue_backend_bytes")),
				  4 * src_bytes(&c));
		json_decref(root);
	}
	free(out);
	ck_assert_int_eq(th_write_file(jobs, bad, strlen(bad)), 0);
	ck_assert_int_eq(th_cl_ctl(&c, args, &out), 1);
	ck_assert_msg(strstr(out, "unknown dataset 'nosuch'"), "%s", out);
	free(out);
	th_cl_fini(&c);
}
END_TEST

static Suite *load_suite(void)
{
	return TH_SUITE(
		"it_load",
		{.name = "load",
		 .tests = TH_TESTS(test_load_epoch_evict, test_load_node_down,
				   test_load_cancel_and_kill, test_load_short,
				   test_load_disk, test_plan),
		 .timeout = 240});
}

int main(void)
{
	char *tmp;
	int rc;

	if (!th_have_fuse())
		return th_check_skip_suite("it_load",
					   "needs root and /dev/fuse");
	tmp = th_tmpdir("it-load");
	SL_ASSERT(tmp);
	sl_strlcpy(work, tmp, sizeof(work));
	free(tmp);
	sl_log_init("it_load", SL_LOG_ERR);
	rc = th_check_run(load_suite(), NULL);
	if (rc == 0 && !getenv("SLUICE_KEEP_TMP"))
		th_rmtree(work);
	else
		fprintf(stderr, "it_load: logs kept in %s\n", work);
	return rc;
}
