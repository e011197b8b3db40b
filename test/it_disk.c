/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration: the NVMe tier of a real sluice-cachenode, on real files.
 * A dataset three times the RAM tier, read in shuffled epochs through the
 * protocol (8 requests in flight), every byte compared with the source:
 *
 *   tiers        the second epoch hits RAM + disk >= 99% with no backend
 *                read; so do epochs after a clean restart and after a
 *                kill -9 (the index is rebuilt from disk).
 *   pin          a `pin` dataset on a full node keeps the same blocks in
 *                both tiers epoch after epoch: no disk eviction, the same
 *                block files, the same hits.
 *   corruption   flipped data bytes, a flipped header byte and a truncated
 *                file: the reads return the right bytes, corrupt_blocks
 *                counts each, each is refetched once and written again.
 *   enospc       a tmpfs that runs out of inodes: ENOSPC, the log says the
 *                tier is full (once), every read still succeeds.
 *   floor        a tmpfs with disk_min_free = 50%: the tier stops at the
 *                floor and says so.
 *   reload       SIGHUP with a smaller disk_capacity trims the tier; with
 *                a dataset's backend changed, its blocks are deleted.
 *   crash        kill -9 during heavy writes from readers of a sluice-fuse
 *                mount, restart: no block file is partial, no unfinished
 *                write is left, and every file read through a new mount
 *                equals its source, from disk where the disk had it.
 *
 * The tmpfs and FUSE cases need root (they are skipped otherwise).  The
 * "bench" case runs only with SLUICE_DISK_BENCH=1 (bench/disk_tier.sh).
 * Every process started dies with the test (PR_SET_PDEATHSIG) and is
 * stopped by PID in the teardown; every mount is registered in shared
 * memory and lazily unmounted at the end whatever happens.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cachenode/disktier.h"
#include "common/util.h"
#include "proto/proto.h"
#include "test/helper_client.h"
#include "test/helper_fuse.h"
#include "test/helper_proc.h"
#include "test/helper_check.h"

#define BS	   (256u << 10) /* block size */
#define NF	   24		/* files in dataset d and p */
#define FSIZE	   (2u << 20)	/* 8 blocks each: 48 MiB, 192 blocks */
#define BPF	   (FSIZE / BS)
#define NBLK	   (NF * BPF)
#define RAM	   "16M" /* the RAM tier: a third of the dataset */
#define DEPTH	   8	 /* requests in flight */
#define TIMEOUT	   20000
#define MAX_MOUNTS 16

/* ---- mounts, shared with Check's forked tests ------------------------ */

struct registry {
	_Atomic int n;
	int fuse[MAX_MOUNTS];
	char path[MAX_MOUNTS][PATH_MAX];
};

static struct registry *reg;
static pid_t main_pid;
static char fusermount[PATH_MAX] = "/usr/bin/fusermount3";

static void reg_mount(const char *path, int fuse)
{
	int i = atomic_fetch_add(&reg->n, 1);

	if (i < MAX_MOUNTS) {
		reg->fuse[i] = fuse;
		snprintf(reg->path[i], PATH_MAX, "%s", path);
	}
}

static void unmount_all(void)
{
	int n = SL_MIN(atomic_load(&reg->n), MAX_MOUNTS);

	for (int i = n - 1; i >= 0; i--) {
		if (!th_is_mounted(reg->path[i]))
			continue;
		if (reg->fuse[i]) {
			char *argv[] = {fusermount, (char *)"-uz", reg->path[i],
					NULL};

			th_run_capture(argv, 10000, NULL);
		} else {
			umount2(reg->path[i], MNT_DETACH);
		}
	}
}

static void on_fatal(int sig)
{
	if (getpid() == main_pid)
		unmount_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* ---- fixture ----------------------------------------------------------- */

typedef struct node {
	pid_t pid;
	int port;
	char endpoint[64];
	char conf[PATH_MAX];
	char log[PATH_MAX];
	char disk[PATH_MAX]; /* disk_path */
} node_t;

static char *tmp;
static node_t nd;
static th_client_t *cli;
static uint8_t *src[NF]; /* the files of d (and p: the same bytes) */

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < n; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i, &x, SL_MIN((size_t)8, n - i));
	}
}

static void make_dataset(const char *dir)
{
	char p[PATH_MAX];

	ck_assert_int_eq(mkdir(dir, 0755), 0);
	for (int i = 0; i < NF; i++) {
		th_xsnprintf(p, sizeof(p), "%s/f%02d.bin", dir, i);
		ck_assert_int_eq(th_write_file(p, src[i], FSIZE), 0);
	}
}

static void setup(void)
{
	char p[PATH_MAX];

	tmp = th_tmpdir("it-disk");
	ck_assert_ptr_nonnull(tmp);
	memset(&nd, 0, sizeof(nd));
	nd.port = th_free_port();
	ck_assert_int_gt(nd.port, 0);
	th_xsnprintf(nd.endpoint, sizeof(nd.endpoint), "tcp://127.0.0.1:%d",
		     nd.port);
	th_xsnprintf(nd.conf, sizeof(nd.conf), "%s/cluster.conf", tmp);
	th_xsnprintf(nd.log, sizeof(nd.log), "%s/node.log", tmp);
	th_xsnprintf(nd.disk, sizeof(nd.disk), "%s/nvme", tmp);
	for (int i = 0; i < NF; i++) {
		src[i] = sl_xmalloc(FSIZE);
		fill(src[i], FSIZE, (uint64_t)i + 1);
	}
	th_xsnprintf(p, sizeof(p), "%s/data", tmp);
	make_dataset(p);
	th_xsnprintf(p, sizeof(p), "%s/pdata", tmp);
	make_dataset(p);
}

static void dump_log(void)
{
	char *log = th_read_file(nd.log, NULL);

	fprintf(stderr, "node log:\n%s\n", log ? log : "");
	free(log);
}

/* SIGTERM: the node must exit 0 (LeakSanitizer's verdict included). */
static void node_stop(void)
{
	int status = -1, clean;

	th_client_destroy(&cli);
	if (nd.pid <= 0)
		return;
	clean = th_proc_stop(nd.pid, SIGTERM, TIMEOUT, &status) == 0 &&
		WIFEXITED(status) && WEXITSTATUS(status) == 0;
	nd.pid = 0;
	if (!clean)
		dump_log();
	ck_assert_msg(clean, "node did not stop cleanly: status %d", status);
}

static void node_kill9(void)
{
	th_client_destroy(&cli);
	th_proc_kill(nd.pid);
	nd.pid = 0;
}

static void teardown(void)
{
	if (nd.pid > 0 && th_proc_alive(nd.pid))
		node_stop();
	th_proc_kill(nd.pid);
	nd.pid = 0;
	for (int i = 0; i < NF; i++) {
		free(src[i]);
		src[i] = NULL;
	}
	th_tmpdir_done(&tmp);
}

/* Node n1 with a disk tier in nd.disk (disk_extra: more node keys), d
 * (lru) and p (pin) over the same bytes, and client keys. */
static void write_conf(const char *ram, const char *disk_cap,
		       const char *disk_extra, const char *client)
{
	char text[4096];
	int n;

	n = snprintf(text, sizeof(text),
		     "[cluster]\nname = itdisk\nmodule_dir = %s\n\n"
		     "[node n1]\naddr = %s\nram_capacity = %s\nworkers = 4\n"
		     "disk_path = %s\ndisk_capacity = %s\n%s\n"
		     "[dataset d]\nbackend = posix\nuri = file://%s/data\n"
		     "block_size = 256K\npolicy = lru\n\n"
		     "[dataset p]\nbackend = posix\nuri = file://%s/pdata\n"
		     "block_size = 256K\npolicy = pin\n\n[client]\n%s",
		     th_build_dir(), nd.endpoint, ram, nd.disk, disk_cap,
		     disk_extra, tmp, tmp, client);
	ck_assert_int_lt(n, (int)sizeof(text));
	ck_assert_int_eq(th_write_file(nd.conf, text, strlen(text)), 0);
}

static char *bin_path(const char *name)
{
	static char p[2][PATH_MAX];
	static int k;

	k ^= 1;
	th_xsnprintf(p[k], sizeof(p[k]), "%s/%s", th_build_dir(), name);
	return p[k];
}

/* Start the node (extra: one more argument, or NULL) and wait until it
 * answers HELLO. */
static void node_start(const char *extra)
{
	char *argv[] = {bin_path("sluice-cachenode"),
			(char *)"-c",
			nd.conf,
			(char *)"--node",
			(char *)"n1",
			(char *)extra,
			NULL};
	int rc;

	nd.pid = th_proc_spawn(argv, nd.log);
	ck_assert_int_gt(nd.pid, 0);
	cli = th_client_await_node(nd.endpoint, nd.pid, TIMEOUT, &rc);
	if (rc == -ESRCH) {
		dump_log();
		ck_abort_msg("node died at start");
	}
	ck_assert_msg(cli, "node did not answer HELLO: %d", rc);
}

static uint64_t stat_of(const char *name)
{
	uint64_t v = 0;

	ck_assert_msg(th_client_stat_value(cli, name, &v) == 0, "no stat %s",
		      name);
	return v;
}

typedef struct snap {
	uint64_t ram_hits, ram_misses, disk_hits, backend, corrupt;
	uint64_t served[PR_TIER_MAX + 1]; /* sluice_served_blocks_total */
} snap_t;

static const char *const tier_label[PR_TIER_MAX + 1] = {"", "ram", "disk",
							"backend", "peer"};

static snap_t snap(void)
{
	snap_t n = {
		stat_of("sluice_cache_hits_total{tier=\"ram\"}"),
		stat_of("sluice_cache_misses_total{tier=\"ram\"}"),
		stat_of("sluice_cache_hits_total{tier=\"disk\"}"),
		stat_of("sluice_backend_reads_total"),
		stat_of("sluice_corrupt_blocks_total"),
		{0},
	};
	char name[96];

	for (int t = PR_TIER_RAM; t <= PR_TIER_MAX; t++) {
		th_xsnprintf(name, sizeof(name),
			     "sluice_served_blocks_total{tier=\"%s\"}",
			     tier_label[t]);
		n.served[t] = stat_of(name);
	}
	return n;
}

/* What an epoch did, from the node's counters and its replies' headers
 * (tier: the replies naming each tier, PROTOCOL.md section 2). */
typedef struct result {
	uint64_t lookups, hits, disk_hits, backend, corrupt;
	uint64_t tier[PR_TIER_MAX + 1];
	double ratio; /* as scripts/loader.py computes it */
} result_t;

static result_t delta(snap_t a, snap_t b)
{
	result_t r = {0};

	r.lookups = (b.ram_hits - a.ram_hits) + (b.ram_misses - a.ram_misses);
	r.hits = (b.ram_hits - a.ram_hits) + (b.disk_hits - a.disk_hits);
	r.disk_hits = b.disk_hits - a.disk_hits;
	r.backend = b.backend - a.backend;
	r.corrupt = b.corrupt - a.corrupt;
	r.ratio = r.lookups ? (double)r.hits / (double)r.lookups : 0;
	for (int t = PR_TIER_RAM; t <= PR_TIER_MAX; t++)
		r.tier[t] = b.served[t] - a.served[t];
	return r;
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ull;
}

/* Read every block of ds once in a shuffled order, DEPTH in flight,
 * comparing every byte with the source. */
static result_t epoch(const char *ds, uint64_t seed)
{
	uint32_t order[NBLK];
	int64_t ids[DEPTH];
	uint32_t which[DEPTH];
	size_t next = 0, done = 0;
	uint64_t s = seed | 1;
	uint64_t tiers[PR_TIER_MAX + 1] = {0};
	snap_t a = snap();
	result_t res;

	for (uint32_t i = 0; i < NBLK; i++)
		order[i] = i;
	for (uint32_t i = NBLK - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(rnd(&s) % (i + 1)), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (int k = 0; k < DEPTH; k++)
		ids[k] = -1;
	while (done < NBLK) {
		th_reply_t r;
		int k;

		for (k = 0; k < DEPTH && next < NBLK; k++) {
			char path[32];
			pr_buf_t b;

			if (ids[k] >= 0)
				continue;
			which[k] = order[next++];
			snprintf(path, sizeof(path), "f%02u.bin",
				 which[k] / BPF);
			ck_assert_int_eq(
				th_encode_read(&b, ds,
					       th_client_layout(cli, ds), path,
					       "", which[k] % BPF, 0, 0),
				0);
			ids[k] = th_client_send(cli, PR_OP_READ, b.data, b.len);
			pr_buf_fini(&b);
			ck_assert_int_gt(ids[k], 0);
		}
		ck_assert_int_eq(th_client_recv(cli, &r, TIMEOUT), 0);
		for (k = 0; k < DEPTH && ids[k] != (int64_t)r.h.req_id; k++)
			;
		ck_assert_int_lt(k, DEPTH);
		ck_assert_msg(r.h.status == 0, "READ %s block %u: %d", ds,
			      which[k], r.h.status);
		ck_assert_uint_eq(r.len, BS);
		ck_assert_msg(memcmp(r.body,
				     src[which[k] / BPF] +
					     (size_t)(which[k] % BPF) * BS,
				     BS) == 0,
			      "%s block %u: wrong bytes", ds, which[k]);
		ck_assert_uint_le(pr_flags_tier(r.h.flags), PR_TIER_MAX);
		tiers[pr_flags_tier(r.h.flags)]++;
		th_reply_free(&r);
		ids[k] = -1;
		done++;
	}
	res = delta(a, snap());
	/* Every reply names one tier, and the node counts each where its
	 * header says. */
	ck_assert_uint_eq(tiers[PR_TIER_NONE], 0);
	for (int t = PR_TIER_RAM; t <= PR_TIER_MAX; t++)
		ck_assert_msg(res.tier[t] == tiers[t],
			      "tier %s: %llu replies, node counted %llu",
			      tier_label[t], (unsigned long long)tiers[t],
			      (unsigned long long)res.tier[t]);
	return res;
}

static void print_epoch(const char *what, result_t r)
{
	printf("it_disk: %-28s hit ratio %.4f (%llu of %llu; %llu from "
	       "disk), %llu backend reads\n",
	       what, r.ratio, (unsigned long long)r.hits,
	       (unsigned long long)r.lookups, (unsigned long long)r.disk_hits,
	       (unsigned long long)r.backend);
	fflush(stdout);
}

/* Until no disk write is queued or in flight. */
static void wait_writes(void)
{
	uint64_t deadline = sl_now_ms() + TIMEOUT;

	while (stat_of("sluice_disk_pending_writes") != 0) {
		ck_assert_msg(sl_now_ms() < deadline, "disk writes stuck");
		th_msleep(20);
	}
}

static int count_in_file(const char *path, const char *needle)
{
	char *buf = th_read_file(path, NULL), *p = buf;
	int n = 0;

	while (p && (p = strstr(p, needle))) {
		n++;
		p += strlen(needle);
	}
	free(buf);
	return n;
}

/* Sorted, newline-separated names of the block files (caller frees). */
static char *block_files(void)
{
	char cmd[PATH_MAX + 128], *out = NULL;
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", cmd, NULL};

	th_xsnprintf(cmd, sizeof(cmd),
		     "cd '%s/sluice-v2' && ls ?? | grep -- - | LC_ALL=C sort",
		     nd.disk);
	ck_assert_int_ge(th_run_capture(argv, 30000, &out), 0);
	return out;
}

/* ---- Tests ------------------------------------------------------------- */

START_TEST(test_tiers_and_restart)
{
	result_t r;

	write_conf(RAM, "256M", "", "");
	node_start(NULL);
	r = epoch("d", 1);
	print_epoch("d epoch 1 (cold)", r);
	ck_assert_uint_eq(r.backend, NBLK);
	ck_assert_uint_eq(r.tier[PR_TIER_BACKEND], NBLK);
	wait_writes();
	ck_assert_uint_eq(stat_of("sluice_disk_blocks"), NBLK);
	ck_assert_uint_gt(stat_of("sluice_evictions_total{tier=\"ram\"}"), 0);

	r = epoch("d", 2);
	print_epoch("d epoch 2", r);
	ck_assert_msg(r.ratio >= 0.99, "hit ratio %.4f", r.ratio);
	ck_assert_uint_eq(r.backend, 0);
	ck_assert_uint_gt(r.disk_hits, NBLK / 2);
	/* The replies say where: the disk's, the rest RAM's. */
	ck_assert_uint_eq(r.tier[PR_TIER_DISK], r.disk_hits);
	ck_assert_uint_eq(r.tier[PR_TIER_RAM], NBLK - r.disk_hits);
	ck_assert_uint_gt(stat_of("sluice_promotions_total"), 0);
	ck_assert_uint_gt(stat_of("sluice_demotions_total"), 0);
	ck_assert_uint_gt(stat_of("sluice_disk_read_bytes_total"), 0);
	ck_assert_uint_gt(stat_of("sluice_disk_read_seconds_count"), 0);
	ck_assert_uint_eq(stat_of("sluice_disk_capacity_bytes"), 256u << 20);
	ck_assert_uint_eq(stat_of("sluice_disk_used_bytes"),
			  (uint64_t)NBLK * (CN_DISK_HEADER + BS));

	/* A clean restart: RAM is empty, the disk is not. */
	node_stop();
	node_start(NULL);
	ck_assert_uint_eq(stat_of("sluice_disk_blocks"), NBLK);
	r = epoch("d", 3);
	print_epoch("d epoch 3 (after restart)", r);
	ck_assert_msg(r.ratio >= 0.99, "hit ratio %.4f", r.ratio);
	ck_assert_uint_eq(r.backend, 0);
	ck_assert_uint_ge(r.disk_hits, NBLK - NBLK / 100);

	/* kill -9 needs no shutdown to stay warm. */
	wait_writes();
	node_kill9();
	node_start(NULL);
	r = epoch("d", 4);
	print_epoch("d epoch 4 (after kill -9)", r);
	ck_assert_msg(r.ratio >= 0.99, "hit ratio %.4f", r.ratio);
	ck_assert_uint_eq(r.backend, 0);
	ck_assert_int_eq(count_in_file(nd.log, "indexed from"), 3);
}
END_TEST

START_TEST(test_pin_both_tiers)
{
	result_t r1, r2, r3;
	uint64_t on_disk;
	char *before, *after;

	/* Room for about half the dataset on disk. */
	write_conf(RAM, "24M", "", "");
	node_start(NULL);
	r1 = epoch("p", 1);
	print_epoch("p epoch 1 (cold)", r1);
	wait_writes();
	on_disk = stat_of("sluice_disk_blocks");
	ck_assert_uint_gt(on_disk, NBLK / 4);
	ck_assert_uint_lt(on_disk, NBLK);
	ck_assert_uint_gt(stat_of("sluice_not_admitted_total{tier=\"disk\"}"),
			  0);
	before = block_files();
	r2 = epoch("p", 2);
	print_epoch("p epoch 2", r2);
	r3 = epoch("p", 3);
	print_epoch("p epoch 3", r3);
	after = block_files();
	/* The same blocks stay, in both tiers, and keep hitting. */
	ck_assert_str_eq(before, after);
	ck_assert_uint_eq(stat_of("sluice_evictions_total{tier=\"disk\"}"), 0);
	ck_assert_uint_eq(stat_of("sluice_evictions_total{tier=\"ram\"}"), 0);
	ck_assert_uint_eq(stat_of("sluice_disk_blocks"), on_disk);
	ck_assert_uint_ge(r2.hits, on_disk);
	ck_assert_uint_le(r2.hits, on_disk + DEPTH);
	ck_assert_uint_eq(r2.hits, r3.hits);
	ck_assert_uint_eq(r2.backend, NBLK - r2.hits);
	ck_assert_uint_gt(r2.disk_hits, 0);
	free(before);
	free(after);
}
END_TEST

START_TEST(test_corruption)
{
	char *names, *line, *save = NULL, p[5][PATH_MAX];
	result_t r;
	int n = 0;

	write_conf(RAM, "256M", "", "");
	node_start(NULL);
	epoch("d", 1);
	wait_writes();
	node_stop();
	names = block_files();
	for (line = strtok_r(names, "\n", &save); line && n < 5;
	     line = strtok_r(NULL, "\n", &save)) {
		th_xsnprintf(p[n], sizeof(p[n]), "%s/sluice-v2/%.2s/%s",
			     nd.disk, line, line);
		n++;
	}
	free(names);
	ck_assert_int_eq(n, 5);
	/* The first data byte, one in the middle, the last, and the data
	 * checksum in the header. */
	ck_assert_int_eq(th_flip_bits(p[0], CN_DISK_HEADER, 0x01), 0);
	ck_assert_int_eq(th_flip_bits(p[1], CN_DISK_HEADER + 100000, 0x01), 0);
	ck_assert_int_eq(th_flip_bits(p[2], CN_DISK_HEADER + BS - 1, 0x01), 0);
	ck_assert_int_eq(th_flip_bits(p[3], 40, 0x01), 0);
	ck_assert_int_eq(truncate(p[4], CN_DISK_HEADER + 4096), 0);

	node_start(NULL);
	r = epoch("d", 2); /* every byte checked */
	print_epoch("d epoch 2 (5 blocks corrupt)", r);
	ck_assert_uint_eq(r.corrupt, 5);
	ck_assert_uint_eq(r.backend, 5);
	ck_assert_uint_eq(r.disk_hits, NBLK - 5);
	ck_assert_int_ge(count_in_file(nd.log, "failed its checksum"), 1);
	/* The refetched blocks were written again, whole: after a restart
	 * nothing is corrupt and everything is on disk. */
	wait_writes();
	node_stop();
	node_start(NULL);
	r = epoch("d", 3);
	print_epoch("d epoch 3 (after restart)", r);
	ck_assert_uint_eq(r.corrupt, 0);
	ck_assert_uint_eq(r.backend, 0);
}
END_TEST

/* Until stat name is at most v (20 s). */
static void wait_stat_le(const char *name, uint64_t v)
{
	uint64_t deadline = sl_now_ms() + TIMEOUT;

	while (stat_of(name) > v) {
		ck_assert_msg(sl_now_ms() < deadline, "%s stays above %llu",
			      name, (unsigned long long)v);
		th_msleep(20);
	}
}

START_TEST(test_reload)
{
	char text[1024], *names;
	int n;

	write_conf(RAM, "256M", "", "");
	node_start(NULL);
	epoch("d", 1);
	wait_writes();
	ck_assert_uint_eq(stat_of("sluice_disk_blocks"), NBLK);
	/* A smaller disk: the least recent blocks go. */
	write_conf(RAM, "8M", "", "");
	ck_assert_int_eq(kill(nd.pid, SIGHUP), 0);
	wait_stat_le("sluice_disk_capacity_bytes", 8u << 20);
	wait_stat_le("sluice_disk_used_bytes", 8u << 20);
	ck_assert_uint_gt(stat_of("sluice_disk_blocks"), 0);
	ck_assert_uint_gt(stat_of("sluice_evictions_total{tier=\"disk\"}"), 0);
	/* Dataset d pointed elsewhere: its blocks on disk are stale. */
	n = snprintf(text, sizeof(text),
		     "[cluster]\nname = itdisk\nmodule_dir = %s\n\n"
		     "[node n1]\naddr = %s\nram_capacity = %s\nworkers = 4\n"
		     "disk_path = %s\ndisk_capacity = 8M\n\n"
		     "[dataset d]\nbackend = posix\nuri = file://%s/pdata\n"
		     "block_size = 256K\n",
		     th_build_dir(), nd.endpoint, RAM, nd.disk, tmp);
	ck_assert_int_lt(n, (int)sizeof(text));
	ck_assert_int_eq(th_write_file(nd.conf, text, strlen(text)), 0);
	ck_assert_int_eq(kill(nd.pid, SIGHUP), 0);
	wait_stat_le("sluice_disk_blocks", 0);
	wait_stat_le("sluice_disk_used_bytes", 0);
	names = block_files();
	ck_assert_str_eq(names, "");
	free(names);
	ck_assert_int_eq(count_in_file(nd.log, "blocks of removed or changed "
					       "datasets deleted"),
			 1);
}
END_TEST

static void after_all(int failed)
{
	(void)failed;
	unmount_all();
}

/* A tmpfs of its own at tmp/small with opts; disk_path in it. */
static void small_fs(const char *opts)
{
	char mnt[PATH_MAX];

	th_xsnprintf(mnt, sizeof(mnt), "%s/small", tmp);
	ck_assert_int_eq(mkdir(mnt, 0755), 0);
	ck_assert_msg(mount("sluice-it", mnt, "tmpfs", 0, opts) == 0,
		      "mount tmpfs: %s", strerror(errno));
	reg_mount(mnt, 0);
	th_xsnprintf(nd.disk, sizeof(nd.disk), "%s/cache", mnt);
}

static void small_fs_done(void)
{
	char mnt[PATH_MAX];

	th_xsnprintf(mnt, sizeof(mnt), "%s/small", tmp);
	node_stop();
	ck_assert_int_eq(umount2(mnt, MNT_DETACH), 0);
}

/* A node whose tier is on a small filesystem (mount options opts; node
 * keys floor), after a first epoch of d and the disk writes it queued. */
static void small_fs_epoch(const char *opts, const char *floor,
			   const char *what)
{
	small_fs(opts);
	write_conf(RAM, "1G", floor, "");
	node_start(NULL);
	print_epoch(what, epoch("d", 1));
	wait_writes();
}

START_TEST(test_enospc)
{
	result_t r;

	if (!th_is_root()) {
		th_check_skip_case("it_disk", "enospc", "needs root");
		return;
	}
	/* Bytes to spare but few inodes: the 256 fan-out directories and
	 * about 40 block files.  No floor: only the kernel says "full". */
	small_fs_epoch("size=256m,nr_inodes=300,mode=0755",
		       "disk_min_free = 0\n", "d epoch 1 (inodes run out)");
	ck_assert_uint_eq(stat_of("sluice_disk_full"), 1);
	ck_assert_uint_eq(stat_of("sluice_disk_admitting"), 0);
	ck_assert_uint_ge(stat_of("sluice_disk_write_errors_total"), 1);
	ck_assert_uint_gt(stat_of("sluice_disk_blocks"), 0);
	ck_assert_uint_lt(stat_of("sluice_disk_blocks"), NBLK);
	th_msleep(2500); /* free-space readings come and go: no flapping */
	r = epoch("d", 2);
	print_epoch("d epoch 2 (tier full)", r);
	ck_assert_uint_gt(r.disk_hits, 0);
	ck_assert_uint_eq(stat_of("sluice_disk_full"), 1);
	ck_assert_int_eq(count_in_file(nd.log, "is full (No space left on "
					       "device)"),
			 1);
	small_fs_done();
}
END_TEST

START_TEST(test_floor)
{
	uint64_t used;
	result_t r;

	if (!th_is_root()) {
		th_check_skip_case("it_disk", "floor", "needs root");
		return;
	}
	small_fs_epoch("size=32m,mode=0755", "disk_min_free = 50%\n",
		       "d epoch 1 (32 MiB fs, 50% floor)");
	used = stat_of("sluice_disk_used_bytes");
	printf("it_disk: tier stopped at %llu KiB of a 32 MiB filesystem\n",
	       (unsigned long long)(used >> 10));
	ck_assert_uint_gt(used, 8u << 20);
	ck_assert_uint_le(used, 16u << 20);
	ck_assert_uint_eq(stat_of("sluice_disk_full"), 1);
	ck_assert_int_eq(count_in_file(nd.log, "below disk_min_free"), 1);
	r = epoch("d", 2);
	ck_assert_uint_gt(r.disk_hits, 0);
	small_fs_done();
}
END_TEST

/* ---- through a sluice-fuse mount ------------------------------------ */

static pid_t client_start(const char *mnt, const char *log)
{
	char *argv[] = {bin_path("sluice-fuse"),
			(char *)"-f",
			(char *)"-c",
			nd.conf,
			(char *)mnt,
			NULL};
	pid_t pid = th_proc_spawn(argv, log);

	ck_assert_int_gt(pid, 0);
	for (int t = 0; t < 1000 && !th_is_mounted(mnt); t++) {
		ck_assert_msg(th_proc_alive(pid), "sluice-fuse exited");
		th_msleep(20);
	}
	ck_assert_msg(th_is_mounted(mnt), "no mount at %s", mnt);
	return pid;
}

/* Unmount; strict: the client must then exit 0 on its own. */
static void client_stop(const char *mnt, pid_t pid, int strict)
{
	char *argv[] = {fusermount, (char *)"-u", (char *)mnt, NULL};
	int st = -1;

	ck_assert_int_eq(th_run_capture(argv, 20000, NULL), 0);
	ck_assert_int_eq(th_proc_wait(pid, 20000, &st), 0);
	ck_assert_msg(!strict || (WIFEXITED(st) && WEXITSTATUS(st) == 0),
		      "sluice-fuse (%s) exit status %#x", mnt, st);
}

/* Every named block file is whole: its size covers header and data. */
static void check_files_whole(void)
{
	char *names = block_files(), *line, *save = NULL, p[PATH_MAX];
	size_t n = 0;

	for (line = strtok_r(names, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *dash = strrchr(line, '-');
		unsigned long len = strtoul(dash + 1, NULL, 16);
		struct stat st;

		th_xsnprintf(p, sizeof(p), "%s/sluice-v2/%.2s/%s", nd.disk,
			     line, line);
		ck_assert_int_eq(stat(p, &st), 0);
		ck_assert_msg((uint64_t)st.st_size >= CN_DISK_HEADER + len,
			      "%s is partial: %lld bytes", line,
			      (long long)st.st_size);
		n++;
	}
	free(names);
	printf("it_disk: %zu block files after kill -9, all whole\n", n);
	fflush(stdout);
}

/* Read a third of the files through the mount (from two readers, in
 * opposite orders: many block writes at once) and kill -9 the node while
 * writes are in flight.  Returns 1 when some were. */
static int crash_round(const char *mnt, const char *log, int round)
{
	char files[NF][PATH_MAX], *fwd[NF + 2], *rev[NF + 2];
	uint64_t writes = 0, pending = 0, deadline;
	pid_t client, readers[2];
	int n = 0, mid_write = 0;

	node_start(NULL);
	client = client_start(mnt, log);
	fwd[0] = rev[0] = (char *)"/bin/cat";
	for (int i = round; i < NF; i += 3)
		th_xsnprintf(files[n++], sizeof(files[0]), "%s/d/f%02d.bin",
			     mnt, i);
	for (int i = 0; i < n; i++) {
		fwd[1 + i] = files[i];
		rev[n - i] = files[i];
	}
	fwd[n + 1] = rev[n + 1] = NULL;
	readers[0] = th_proc_spawn(fwd, "/dev/null");
	readers[1] = th_proc_spawn(rev, "/dev/null");
	ck_assert_int_gt(readers[0], 0);
	ck_assert_int_gt(readers[1], 0);
	deadline = sl_now_ms() + 60000;
	while (sl_now_ms() < deadline) {
		writes = stat_of("sluice_disk_writes_total");
		pending = stat_of("sluice_disk_pending_writes");
		if (writes >= 8 && pending >= 1) {
			mid_write = 1;
			break;
		}
		if (writes >= (uint64_t)n * BPF)
			break;
	}
	node_kill9();
	printf("it_disk: crash %d: kill -9 after %llu block writes, %llu "
	       "pending%s\n",
	       round + 1, (unsigned long long)writes,
	       (unsigned long long)pending,
	       mid_write ? "" : " (the readers were done first)");
	for (int i = 0; i < 2; i++)
		th_proc_kill(readers[i]);
	/* The kernel sends the readers' RELEASEs in the background: let the
	 * client see them before the unmount.  Its readers were killed
	 * during an outage: only the node's state is under test here. */
	th_msleep(500);
	client_stop(mnt, client, 0);
	/* Before any node looks at it: no named block file is partial. */
	check_files_whole();
	return mid_write;
}

START_TEST(test_kill9_mount)
{
	char mnt[PATH_MAX], log[PATH_MAX], p[PATH_MAX];
	pid_t client;
	int left, mid_write = 0;

	if (!th_have_fuse()) {
		th_check_skip_case("it_disk", "crash",
				   "needs root and /dev/fuse");
		return;
	}
	th_xsnprintf(mnt, sizeof(mnt), "%s/mnt", tmp);
	th_xsnprintf(log, sizeof(log), "%s/fuse.log", tmp);
	ck_assert_int_eq(mkdir(mnt, 0755), 0);
	reg_mount(mnt, 1);
	write_conf(RAM, "256M", "",
		   "block_cache = 0\nprefetch_depth = 8\n"
		   "request_timeout = 1s\n");
	for (int round = 0; round < 3; round++)
		mid_write += crash_round(mnt, log, round);
	ck_assert_msg(mid_write > 0, "no kill came during writes");
	node_start(NULL);
	th_xsnprintf(p, sizeof(p), "%s/sluice-v2/tmp", nd.disk);
	{
		DIR *d = opendir(p);
		struct dirent *de;

		ck_assert_ptr_nonnull(d);
		left = 0;
		while ((de = readdir(d)))
			left += de->d_name[0] != '.';
		closedir(d);
	}
	ck_assert_int_eq(left, 0);
	ck_assert_uint_gt(stat_of("sluice_disk_blocks"), 0);

	/* Every byte of every file, through a fresh mount. */
	client = client_start(mnt, log);
	for (int i = 0; i < NF; i++) {
		size_t len = 0;
		char *got;

		th_xsnprintf(p, sizeof(p), "%s/d/f%02d.bin", mnt, i);
		got = th_read_file(p, &len);
		ck_assert_msg(got, "cannot read %s", p);
		ck_assert_uint_eq(len, FSIZE);
		ck_assert_msg(memcmp(got, src[i], FSIZE) == 0,
			      "%s differs from its source", p);
		free(got);
	}
	printf("it_disk: after the crash, %llu blocks came from disk, %llu "
	       "from the backend; %llu corrupt\n",
	       (unsigned long long)stat_of(
		       "sluice_cache_hits_total{tier=\"disk\"}"),
	       (unsigned long long)stat_of("sluice_backend_reads_total"),
	       (unsigned long long)stat_of("sluice_corrupt_blocks_total"));
	ck_assert_uint_gt(stat_of("sluice_cache_hits_total{tier=\"disk\"}"), 0);
	ck_assert_uint_eq(stat_of("sluice_corrupt_blocks_total"), 0);
	client_stop(mnt, client, 1);
}
END_TEST

/* ---- benchmark (bench/disk_tier.sh) ---------------------------------- */

static size_t env_size(const char *name, size_t dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 10) : dflt;
}

typedef struct bench {
	size_t nblocks, bpf, bs, depth;
	th_client_t *c[4];
} bench_t;

/* Read every block once, depth in flight over 4 sockets; print a line
 * and return MB/s. */
static double bench_pass(bench_t *b, const char *what)
{
	size_t next = 0, done = 0, inflight[4] = {0};
	uint64_t t0 = sl_now_ns(), ns, bytes = 0;
	char p[64];

	while (done < b->nblocks) {
		for (int k = 0; k < 4; k++) {
			while (next < b->nblocks &&
			       inflight[k] < (b->depth + 3) / 4) {
				pr_buf_t buf;

				snprintf(p, sizeof(p), "b%04zu", next / b->bpf);
				th_encode_read(&buf, "b",
					       th_client_layout(b->c[k], "b"),
					       p, "", next % b->bpf, 0, 0);
				ck_assert_int_gt(
					th_client_send(b->c[k], PR_OP_READ,
						       buf.data, buf.len),
					0);
				pr_buf_fini(&buf);
				inflight[k]++;
				next++;
			}
		}
		for (int k = 0; k < 4; k++) {
			th_reply_t r;

			if (!inflight[k])
				continue;
			ck_assert_int_eq(th_client_recv(b->c[k], &r, 60000), 0);
			ck_assert_int_eq(r.h.status, 0);
			ck_assert_uint_eq(r.len, b->bs);
			bytes += r.len;
			th_reply_free(&r);
			inflight[k]--;
			done++;
		}
	}
	ns = sl_now_ns() - t0;
	printf("disk tier bench %s: %zu blocks of %zu KiB, %.0f MiB in %.2f "
	       "s: %.0f block reads/s, %.1f MB/s\n",
	       what, b->nblocks, b->bs >> 10, (double)bytes / 1048576.0,
	       (double)ns / 1e9, (double)b->nblocks * 1e9 / (double)ns,
	       (double)bytes * 1e3 / (double)ns);
	fflush(stdout);
	return (double)bytes * 1e3 / (double)ns;
}

static void bench_node(bench_t *b, const char *dir, size_t ram_mb,
		       size_t disk_mb, const char *flag)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "[cluster]\nmodule_dir = %s\n\n[node n1]\naddr = %s\n"
		 "ram_capacity = %zuM\nworkers = 8\ndisk_path = %s\n"
		 "disk_capacity = %zuM\n\n[dataset b]\nbackend = posix\n"
		 "uri = file://%s/bdata\nblock_size = %zuK\n",
		 th_build_dir(), nd.endpoint, ram_mb, dir, disk_mb, tmp,
		 b->bs >> 10);
	ck_assert_int_eq(th_write_file(nd.conf, text, strlen(text)), 0);
	node_start(flag);
	for (int k = 0; k < 4; k++) {
		b->c[k] = th_client_new(nd.endpoint, 60000);
		ck_assert_ptr_nonnull(b->c[k]);
	}
}

static void bench_node_stop(bench_t *b)
{
	for (int k = 0; k < 4; k++)
		th_client_destroy(&b->c[k]);
	node_stop();
}

/*
 * Block reads from the disk tier alone (--no-ram-tier): fill the tier
 * with SLUICE_DISK_BENCH_MB of SLUICE_DISK_BENCH_KB blocks, then read
 * every block once more with SLUICE_DISK_BENCH_DEPTH requests in flight
 * over 4 sockets, SLUICE_DISK_BENCH_RUNS times, and print reads/s and
 * MB/s.  For reference, the same
 * pass served from RAM (the protocol's own ceiling on this machine).  The
 * tier lives in SLUICE_DISK_BENCH_DIR, left in place for the dd
 * comparison.
 */
START_TEST(test_bench)
{
	const char *dir = getenv("SLUICE_DISK_BENCH_DIR");
	size_t mb = env_size("SLUICE_DISK_BENCH_MB", 1024);
	size_t kb = env_size("SLUICE_DISK_BENCH_KB", 4096);
	size_t runs = env_size("SLUICE_DISK_BENCH_RUNS", 3);
	size_t per_file = 64u << 20, nfiles;
	bench_t b = {.depth = env_size("SLUICE_DISK_BENCH_DEPTH", 32)};
	char p[PATH_MAX];
	uint64_t backend0;
	uint8_t *buf;

	ck_assert_msg(dir && *dir, "SLUICE_DISK_BENCH_DIR is not set");
	b.bs = kb << 10;
	per_file = SL_MAX(per_file / b.bs, (size_t)1) * b.bs;
	b.bpf = per_file / b.bs;
	nfiles = SL_MAX((mb << 20) / per_file, (size_t)1);
	b.nblocks = nfiles * b.bpf;
	th_xsnprintf(p, sizeof(p), "%s/bdata", tmp);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	buf = sl_xmalloc(per_file);
	for (size_t i = 0; i < nfiles; i++) {
		fill(buf, per_file, i + 100);
		th_xsnprintf(p, sizeof(p), "%s/bdata/b%04zu", tmp, i);
		ck_assert_int_eq(th_write_file(p, buf, per_file), 0);
	}
	free(buf);
	th_xsnprintf(nd.disk, sizeof(nd.disk), "%s", dir);

	bench_node(&b, dir, 1024, 2 * mb + 64, "--no-ram-tier");
	bench_pass(&b, "pass 1 (backend, filling the disk)");
	wait_writes();
	backend0 = stat_of("sluice_backend_reads_total");
	for (size_t i = 0; i < runs; i++)
		bench_pass(&b, "pass 2 (disk tier, RAM tier off)");
	ck_assert_uint_eq(stat_of("sluice_backend_reads_total"), backend0);
	printf("disk tier bench: O_DIRECT %s\n",
	       count_in_file(nd.log, "O_DIRECT on") ? "on" : "off");
	bench_node_stop(&b);

	/* The reference: the same reads from RAM. */
	bench_node(&b, dir, mb * 5 / 4 + 256, 2 * mb + 64, NULL);
	bench_pass(&b, "pass 3 (disk, filling RAM)");
	bench_pass(&b, "pass 4 (RAM tier)");
	bench_node_stop(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("it_disk");

	reg = mmap(NULL, sizeof(*reg), PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	SL_ASSERT(reg != MAP_FAILED);
	main_pid = getpid();
	signal(SIGTERM, on_fatal);
	signal(SIGINT, on_fatal);
	if (access(fusermount, X_OK) != 0)
		th_xsnprintf(fusermount, sizeof(fusermount),
			     "/bin/fusermount3");
	if (getenv("SLUICE_DISK_BENCH"))
		th_suite_add(s, TH_CASES({.name = "bench",
					  .tests = TH_TESTS(test_bench),
					  .timeout = 1800,
					  .setup = setup,
					  .teardown = teardown}));
	else
		th_suite_add(s, TH_CASES({.name = "disk",
					  .tests = TH_TESTS(
						  test_tiers_and_restart,
						  test_pin_both_tiers,
						  test_corruption, test_reload,
						  test_enospc, test_floor,
						  test_kill9_mount),
					  .timeout = 300,
					  .setup = setup,
					  .teardown = teardown}));
	return th_check_run(s, &(th_check_opts_t){.tmp_tag = "it-disk-run",
						  .after = after_all});
}
