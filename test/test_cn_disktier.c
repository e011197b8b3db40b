/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The disk tier on real files in a temporary directory, through the real
 * io_uring engine: blocks of every alignment written and read back (with
 * and without O_DIRECT); the index rebuilt from the names after a restart;
 * unfinished writes, foreign files and blocks of removed datasets cleaned
 * up; a flipped data byte, a flipped header byte and a truncated file
 * each detected, counted and dropped (and a block fetched again while its
 * old file goes is written once it is gone); lru eviction order and pin
 * refusal at capacity; blocks evicted while being written; destroy with
 * writes queued; demotion without a second write; a block being written
 * served from memory; the lock against a second node; the free-space
 * floor; a reload that purges a dataset and re-files another under a new
 * policy.  test_rebuild_time times the rebuild of many blocks
 * (SLUICE_DISK_SCAN_BLOCKS, default 10,000; bench/disk_rebuild.sh runs
 * 100,000, also with the kernel's caches dropped: SLUICE_DISK_SCAN_COLD)
 * and prints it per 100,000 blocks.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "cachenode/disktier.h"
#include "common/util.h"
#include "test/helper_proc.h"
#include "test/helper_check.h"

#define SIG  0x5eed0001u
#define SIG2 0x5eed0002u

/* The tier's counters now (a copy). */
static cn_disktier_info_t dt_info(const cn_disktier_t *dt)
{
	cn_disktier_info_t i;

	cn_disktier_info(dt, &i);
	return i;
}

static char *tmp;
static cn_ramtier_t *ram;
static cn_metrics_t m;

static const cn_disk_dataset_t two_ds[] = {
	{SIG, &cn_policy_lru},
	{SIG2, &cn_policy_pin},
};

static void setup(void)
{
	tmp = th_tmpdir("test-disk");
	ck_assert_ptr_nonnull(tmp);
	cn_metrics_init(&m);
	ram = cn_ramtier_new(1ull << 30, 256ull << 20, NULL);
}

static void teardown(void)
{
	cn_ramtier_destroy(&ram);
	th_rmtree(tmp);
	free(tmp);
}

static sl_blockkey_t key_of(uint64_t i)
{
	return sl_blockkey_make("ds", 1, "file", "v1", i);
}

static uint8_t byte_of(uint64_t i, size_t j)
{
	return (uint8_t)(i * 131 + j * 7 + (j >> 9));
}

static cn_block_t *make_block(uint64_t i, size_t len)
{
	int err;
	cn_block_t *b = cn_ramtier_alloc(ram, &cn_policy_lru, 1, len, &err);

	ck_assert_ptr_nonnull(b);
	for (size_t j = 0; j < len; j++)
		cn_block_data(b)[j] = byte_of(i, j);
	return b;
}

static cn_disktier_t *open_tier(uint64_t cap, int buffered,
				const cn_disk_dataset_t *ds, size_t n)
{
	cn_disktier_conf_t c = {.path = tmp,
				.capacity = cap,
				.min_free = 0,
				.buffered = buffered};
	char err[512];
	int rc;
	cn_disktier_t *dt =
		cn_disktier_new(&c, ds, n, &m, &rc, err, sizeof(err));

	ck_assert_msg(dt, "%s", err);
	return dt;
}

static void settle(cn_disktier_t *dt)
{
	ck_assert_int_eq(cn_disktier_flush(dt, 20000), 0);
}

static void put(cn_disktier_t *dt, uint64_t i, size_t len, uint32_t sig,
		const cn_policy_ops_t *pol, int want)
{
	cn_block_t *b = make_block(i, len);

	ck_assert_int_eq(cn_disktier_admit(dt, key_of(i), b, sig, pol), want);
	cn_block_unref(b);
}

struct rd {
	int rc;
	int done;
};

static void rd_done(void *arg, int rc)
{
	struct rd *r = arg;

	r->rc = rc;
	r->done = 1;
}

/* Read block i back: its status (0 with the bytes checked). */
static int get(cn_disktier_t *dt, uint64_t i)
{
	size_t len = 0;
	cn_block_t *mem = NULL, *b;
	struct rd r = {0, 0};
	int err, found = cn_disktier_lookup(dt, key_of(i), &len, &mem);

	if (found == CN_DISK_MISS)
		return -ENOENT;
	ck_assert_int_eq(found, CN_DISK_READY);
	b = cn_ramtier_alloc(ram, &cn_policy_lru, 1, len, &err);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(cn_disktier_read(dt, key_of(i), b, rd_done, &r), 0);
	settle(dt);
	ck_assert(r.done);
	if (r.rc == 0)
		for (size_t j = 0; j < len; j++)
			ck_assert_msg(cn_block_data(b)[j] == byte_of(i, j),
				      "block %llu byte %zu",
				      (unsigned long long)i, j);
	cn_block_unref(b);
	return r.rc;
}

static void block_file(uint64_t i, uint32_t sig, size_t len, char *out,
		       size_t cap)
{
	char rel[128];

	ck_assert_int_eq(
		cn_disktier_block_path(key_of(i), sig, len, rel, sizeof(rel)),
		0);
	snprintf(out, cap, "%s/sluice-v2/%s", tmp, rel);
}

static int exists(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0;
}

static const size_t sizes[] = {1,     100,   4095,   4096,	 4097,
			       65535, 65536, 100000, 262144 + 3, 1 << 20};

static void roundtrip(int buffered)
{
	cn_disktier_t *dt = open_tier(1ull << 30, buffered, two_ds, 2);
	size_t n = SL_ARRAY_SIZE(sizes);

	ck_assert_int_eq(dt_info(dt).direct, !buffered);
	for (size_t i = 0; i < n; i++)
		put(dt, i, sizes[i], SIG, &cn_policy_lru, 1);
	/* Already there: not written twice. */
	put(dt, 0, sizes[0], SIG, &cn_policy_lru, 0);
	settle(dt);
	ck_assert_uint_eq(atomic_load(&m.disk_writes), n);
	ck_assert_uint_eq(dt_info(dt).blocks, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(get(dt, i), 0);
	ck_assert_uint_eq(atomic_load(&m.disk_reads), n);
	ck_assert_uint_eq(atomic_load(&m.corrupt_blocks), 0);
	cn_disktier_destroy(&dt);

	/* A restart finds every block from the names alone. */
	dt = open_tier(1ull << 30, buffered, two_ds, 2);
	ck_assert_uint_eq(dt_info(dt).blocks, n);
	ck_assert_uint_eq(dt_info(dt).rebuild_files, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(get(dt, i), 0);
	ck_assert_int_eq(get(dt, 999), -ENOENT);
	cn_disktier_destroy(&dt);
}

START_TEST(test_roundtrip_direct)
{
	roundtrip(0);
}
END_TEST

START_TEST(test_roundtrip_buffered)
{
	roundtrip(1);
}
END_TEST

START_TEST(test_cleanup_at_start)
{
	cn_disktier_t *dt = open_tier(1ull << 30, 0, two_ds, 2);
	char p[1024], stale[1024];

	put(dt, 1, 5000, SIG, &cn_policy_lru, 1);
	put(dt, 2, 5000, SIG2, &cn_policy_pin, 1);
	settle(dt);
	cn_disktier_destroy(&dt);
	/* What a crash and an operator can leave behind. */
	snprintf(p, sizeof(p), "%s/sluice-v2/tmp/7", tmp);
	ck_assert_int_eq(th_write_file(p, "partial", 7), 0);
	snprintf(p, sizeof(p), "%s/sluice-v2/00/not-a-block", tmp);
	ck_assert_int_eq(th_write_file(p, "x", 1), 0);
	block_file(2, SIG2, 5000, stale, sizeof(stale));
	ck_assert(exists(stale));

	/* Dataset SIG2 is gone from the config. */
	dt = open_tier(1ull << 30, 0, two_ds, 1);
	ck_assert_uint_eq(dt_info(dt).blocks, 1);
	settle(dt);
	ck_assert(!exists(stale));
	ck_assert(!exists(p));
	snprintf(p, sizeof(p), "%s/sluice-v2/tmp/7", tmp);
	ck_assert(!exists(p));
	ck_assert_int_eq(get(dt, 1), 0);
	cn_disktier_destroy(&dt);
}
END_TEST

/* A tier of the older format (sluice-v1: keys without the dataset's
 * layout, never asked for again) is removed at start, unless another
 * node still holds its lock. */
START_TEST(test_old_format_removed)
{
	cn_disktier_t *dt;
	char d[1024], p[1100];
	int fd;

	snprintf(d, sizeof(d), "%s/sluice-v1/00", tmp);
	snprintf(p, sizeof(p), "%s/sluice-v1", tmp);
	ck_assert_int_eq(mkdir(p, 0755), 0);
	ck_assert_int_eq(mkdir(d, 0755), 0);
	snprintf(p, sizeof(p), "%s/old-block", d);
	ck_assert_int_eq(th_write_file(p, "x", 1), 0);
	snprintf(p, sizeof(p), "%s/sluice-v1/lock", tmp);
	ck_assert_int_eq(th_write_file(p, "", 0), 0);
	/* Locked: left alone. */
	fd = open(p, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX | LOCK_NB), 0);
	dt = open_tier(1ull << 30, 0, two_ds, 2);
	cn_disktier_destroy(&dt);
	ck_assert(exists(d));
	close(fd);
	/* Unlocked: removed, and the tier of today works. */
	dt = open_tier(1ull << 30, 0, two_ds, 2);
	snprintf(p, sizeof(p), "%s/sluice-v1", tmp);
	ck_assert(!exists(p));
	put(dt, 1, 5000, SIG, &cn_policy_lru, 1);
	settle(dt);
	ck_assert_int_eq(get(dt, 1), 0);
	cn_disktier_destroy(&dt);
}
END_TEST

START_TEST(test_corruption_detected)
{
	cn_disktier_t *dt = open_tier(1ull << 30, 0, two_ds, 2);
	char p[3][1024];
	size_t len = 70000;

	for (uint64_t i = 0; i < 4; i++)
		put(dt, i, len, SIG, &cn_policy_lru, 1);
	settle(dt);
	for (uint64_t i = 0; i < 3; i++)
		block_file(i, SIG, len, p[i], sizeof(p[i]));
	/* A data byte, and one of the key in the header. */
	ck_assert_int_eq(th_flip_bits(p[0], CN_DISK_HEADER + 12345, 0x20), 0);
	ck_assert_int_eq(th_flip_bits(p[1], 20, 0x20), 0);
	ck_assert_int_eq(truncate(p[2], CN_DISK_HEADER + 1000), 0);
	ck_assert_int_eq(get(dt, 0), -EBADMSG);
	ck_assert_int_eq(get(dt, 1), -EBADMSG);
	ck_assert_int_eq(get(dt, 2), -EBADMSG);
	ck_assert_int_eq(get(dt, 3), 0);
	ck_assert_uint_eq(atomic_load(&m.corrupt_blocks), 3);
	settle(dt);
	for (int i = 0; i < 3; i++) {
		ck_assert(!exists(p[i]));
		ck_assert_int_eq(get(dt, (uint64_t)i), -ENOENT);
	}
	ck_assert_uint_eq(dt_info(dt).blocks, 1);
	/* Dropped blocks may be written again. */
	put(dt, 0, len, SIG, &cn_policy_lru, 1);
	settle(dt);
	ck_assert_int_eq(get(dt, 0), 0);
	cn_disktier_destroy(&dt);
}
END_TEST

START_TEST(test_written_again_after_drop)
{
	cn_disktier_t *dt = open_tier(1ull << 30, 0, two_ds, 2);

	put(dt, 1, 70000, SIG, &cn_policy_lru, 1);
	settle(dt);
	/* Dropped (as a corrupt block is), then fetched again before its
	 * file is gone: written once the name is free. */
	cn_disktier_drop(dt, key_of(1));
	ck_assert_int_eq(get(dt, 1), -ENOENT);
	put(dt, 1, 70000, SIG, &cn_policy_lru, 0);
	settle(dt);
	settle(dt);
	ck_assert_int_eq(get(dt, 1), 0);
	ck_assert_uint_eq(atomic_load(&m.disk_writes), 2);
	ck_assert_uint_eq(dt_info(dt).blocks, 1);
	cn_disktier_destroy(&dt);
}
END_TEST

START_TEST(test_lru_and_pin_at_capacity)
{
	size_t len = 60000; /* 4 KiB header + 60 KiB: 64 KiB a file */
	uint64_t c = CN_DISK_HEADER + 61440;
	cn_disktier_t *dt = open_tier(4 * c, 0, two_ds, 2);
	char p[1024];

	for (uint64_t i = 0; i < 4; i++)
		put(dt, i, len, SIG, &cn_policy_lru, 1);
	settle(dt);
	ck_assert_uint_eq(dt_info(dt).used_bytes, 4 * c);
	/* Block 0 is used: block 1 is now the least recent. */
	ck_assert_int_eq(get(dt, 0), 0);
	put(dt, 4, len, SIG, &cn_policy_lru, 1);
	put(dt, 5, len, SIG, &cn_policy_lru, 1);
	settle(dt);
	ck_assert_uint_eq(dt_info(dt).blocks, 4);
	ck_assert_uint_le(dt_info(dt).used_bytes, 4 * c);
	ck_assert_int_eq(get(dt, 1), -ENOENT);
	ck_assert_int_eq(get(dt, 2), -ENOENT);
	ck_assert_int_eq(get(dt, 0), 0);
	block_file(1, SIG, len, p, sizeof(p));
	ck_assert(!exists(p));
	ck_assert_uint_eq(atomic_load(&m.disk_evictions), 2);

	/* pin takes free capacity only, and never pushes lru out... */
	cn_disktier_drop(dt, key_of(0));
	settle(dt);
	put(dt, 10, len, SIG2, &cn_policy_pin, 1);
	put(dt, 11, len, SIG2, &cn_policy_pin, 0);
	ck_assert_uint_eq(atomic_load(&m.disk_not_admitted), 1);
	ck_assert_uint_eq(atomic_load(&m.disk_evictions), 2);
	/* ...and lru cannot push pinned blocks out: with 1 of 4 pinned,
	 * lru blocks still cycle through the other 3. */
	put(dt, 12, len, SIG, &cn_policy_lru, 1);
	settle(dt);
	ck_assert_int_eq(get(dt, 10), 0);
	ck_assert_uint_eq(dt_info(dt).blocks, 4);
	cn_disktier_destroy(&dt);
}
END_TEST

START_TEST(test_demote_and_memory_hit)
{
	cn_disktier_t *dt = open_tier(1ull << 30, 0, two_ds, 2);
	cn_block_t *b = make_block(1, 9000), *mem = NULL;
	size_t len = 0;

	ck_assert_int_eq(
		cn_disktier_admit(dt, key_of(1), b, SIG, &cn_policy_lru), 1);
	/* Not reaped yet: still being written, served from memory. */
	ck_assert_int_eq(cn_disktier_lookup(dt, key_of(1), &len, &mem),
			 CN_DISK_MEM);
	ck_assert_ptr_eq(mem, b);
	ck_assert_uint_eq(len, 9000);
	cn_block_unref(mem);
	settle(dt);
	ck_assert_int_eq(cn_disktier_lookup(dt, key_of(1), &len, &mem),
			 CN_DISK_READY);
	/* A RAM eviction of a block on disk costs no write. */
	ck_assert_int_eq(
		cn_disktier_demote(dt, key_of(1), b, SIG, &cn_policy_lru), 1);
	cn_block_unref(b);
	b = make_block(2, 3000);
	ck_assert_int_eq(
		cn_disktier_demote(dt, key_of(2), b, SIG, &cn_policy_lru), 1);
	cn_block_unref(b);
	settle(dt);
	ck_assert_uint_eq(atomic_load(&m.demotions), 2);
	ck_assert_uint_eq(atomic_load(&m.disk_writes), 2);
	ck_assert_int_eq(get(dt, 2), 0);
	cn_disktier_destroy(&dt);
}
END_TEST

/* Block files below the tier, tmp/ excluded. */
static int count_files(void)
{
	char cmd[1200], *out = NULL;
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", cmd, NULL};
	int n;

	snprintf(cmd, sizeof(cmd),
		 "ls %s/sluice-v2/?? | grep -c '^[0-9a-f]\\{32\\}-'", tmp);
	ck_assert_int_ge(th_run_capture(argv, 10000, &out), 0);
	n = atoi(out);
	free(out);
	return n;
}

START_TEST(test_evicted_while_writing)
{
	uint64_t c = CN_DISK_HEADER + 8192;
	cn_disktier_t *dt = open_tier(2 * c, 0, two_ds, 2);

	/* No reaping in between: the first eight are evicted while their
	 * writes are still queued or in flight, and go once written. */
	for (uint64_t i = 0; i < 10; i++)
		put(dt, i, 5000, SIG, &cn_policy_lru, 1);
	ck_assert_uint_eq(dt_info(dt).blocks, 2);
	settle(dt);
	ck_assert_int_eq(count_files(), 2);
	ck_assert_uint_eq(dt_info(dt).used_bytes, 2 * c);
	ck_assert_int_eq(get(dt, 9), 0);
	ck_assert_int_eq(get(dt, 8), 0);
	ck_assert_int_eq(get(dt, 7), -ENOENT);
	cn_disktier_destroy(&dt);
}
END_TEST

START_TEST(test_destroy_with_writes_queued)
{
	cn_disktier_t *dt = open_tier(1ull << 30, 0, two_ds, 2);
	size_t n, ok = 0;

	for (uint64_t i = 0; i < 300; i++)
		put(dt, i, 70000, SIG, &cn_policy_lru, 1);
	cn_disktier_destroy(&dt); /* cancels what has not started */
	ck_assert_uint_eq(cn_ramtier_used(ram), 0);
	dt = open_tier(1ull << 30, 0, two_ds, 2);
	n = dt_info(dt).blocks;
	ck_assert_uint_le(n, 300);
	for (uint64_t i = 0; i < 300; i++) {
		int rc = get(dt, i);

		ck_assert(rc == 0 || rc == -ENOENT);
		ok += rc == 0;
	}
	ck_assert_uint_eq(ok, n);
	cn_disktier_destroy(&dt);
}
END_TEST

START_TEST(test_lock)
{
	cn_disktier_t *dt = open_tier(1ull << 30, 0, two_ds, 2), *dt2;
	cn_disktier_conf_t c = {.path = tmp, .capacity = 1 << 20};
	char err[512];
	int rc;

	dt2 = cn_disktier_new(&c, two_ds, 2, NULL, &rc, err, sizeof(err));
	ck_assert_ptr_null(dt2);
	ck_assert_int_eq(rc, -EBUSY);
	ck_assert_ptr_nonnull(strstr(err, "in use by another cache node"));
	cn_disktier_destroy(&dt);
	dt2 = cn_disktier_new(&c, two_ds, 2, NULL, &rc, err, sizeof(err));
	ck_assert_ptr_nonnull(dt2);
	cn_disktier_destroy(&dt2);
}
END_TEST

START_TEST(test_floor_stops_admission)
{
	cn_disktier_conf_t c = {.path = tmp, .capacity = 1ull << 30};
	struct statvfs sv;
	uint64_t free_pct;
	char err[512];
	int rc;
	cn_disktier_t *dt;

	/* A floor in percent just above what is free here (if it can be),
	 * else one in bytes no filesystem has. */
	ck_assert_int_eq(statvfs(tmp, &sv), 0);
	free_pct = (uint64_t)sv.f_bavail * 100 / sv.f_blocks;
	if (free_pct < 98)
		c.min_free_pct = (uint32_t)free_pct + 2;
	else
		c.min_free = 1ull << 62;
	dt = cn_disktier_new(&c, two_ds, 2, &m, &rc, err, sizeof(err));
	ck_assert_ptr_nonnull(dt);
	put(dt, 1, 5000, SIG, &cn_policy_lru, 0);
	put(dt, 2, 5000, SIG, &cn_policy_lru, 0);
	ck_assert_uint_eq(atomic_load(&m.disk_full), 1);
	ck_assert_uint_eq(atomic_load(&m.disk_admitting), 0);
	ck_assert_uint_eq(atomic_load(&m.disk_not_admitted), 2);
	ck_assert_uint_gt(atomic_load(&m.disk_free), 0);
	/* A reload with a floor that fits admits again. */
	c.min_free_pct = 0;
	c.min_free = 0;
	cn_disktier_configure(dt, &c, two_ds, 2);
	put(dt, 3, 5000, SIG, &cn_policy_lru, 1);
	settle(dt);
	ck_assert_uint_eq(atomic_load(&m.disk_full), 0);
	ck_assert_int_eq(get(dt, 3), 0);
	cn_disktier_destroy(&dt);
}
END_TEST

START_TEST(test_reload_purges_and_refiles)
{
	cn_disktier_t *dt = open_tier(1ull << 30, 0, two_ds, 2);
	cn_disk_dataset_t now[] = {{SIG, &cn_policy_pin}};
	cn_disktier_conf_t c = {.path = tmp, .capacity = 1ull << 30};
	char p[1024];

	put(dt, 1, 5000, SIG, &cn_policy_lru, 1);
	put(dt, 2, 5000, SIG2, &cn_policy_pin, 1);
	settle(dt);
	cn_disktier_configure(dt, &c, now, 1);
	settle(dt);
	block_file(2, SIG2, 5000, p, sizeof(p));
	ck_assert(!exists(p));
	ck_assert_uint_eq(dt_info(dt).blocks, 1);
	/* Block 1 is pinned now: a capacity of one block keeps it. */
	c.capacity = CN_DISK_HEADER + 8192;
	cn_disktier_configure(dt, &c, now, 1);
	put(dt, 3, 5000, SIG, &cn_policy_pin, 0);
	ck_assert_int_eq(get(dt, 1), 0);
	cn_disktier_destroy(&dt);
}
END_TEST

/* policy = auto flips a dataset's policy with no other change: its blocks
 * move in place.  Pinned, lru misses of another dataset cycle through the
 * rest and never take them; back under lru, they are evicted like any. */
START_TEST(test_auto_flip_moves_blocks)
{
	size_t len = 60000;
	uint64_t c = CN_DISK_HEADER + 61440;
	cn_disk_dataset_t both_lru[] = {{SIG, &cn_policy_lru},
					{SIG2, &cn_policy_lru}};
	cn_disk_dataset_t pinned[] = {{SIG, &cn_policy_pin},
				      {SIG2, &cn_policy_lru}};
	cn_disktier_t *dt = open_tier(4 * c, 0, both_lru, 2);

	put(dt, 0, len, SIG, &cn_policy_lru, 1);
	put(dt, 1, len, SIG, &cn_policy_lru, 1);
	put(dt, 2, len, SIG2, &cn_policy_lru, 1);
	put(dt, 3, len, SIG2, &cn_policy_lru, 1);
	settle(dt);
	cn_disktier_set_policies(dt, pinned, 2);
	ck_assert_uint_eq(dt_info(dt).blocks, 4);
	ck_assert_uint_eq(dt_info(dt).used_bytes, 4 * c);
	for (uint64_t i = 4; i < 8; i++)
		put(dt, i, len, SIG2, &cn_policy_lru, 1);
	settle(dt);
	ck_assert_int_eq(get(dt, 0), 0);
	ck_assert_int_eq(get(dt, 1), 0);
	ck_assert_int_eq(get(dt, 2), -ENOENT);
	ck_assert_uint_eq(dt_info(dt).blocks, 4);
	ck_assert_uint_eq(atomic_load(&m.disk_evictions), 4);
	/* A pinned block that the node now fetches is one more pin. */
	put(dt, 8, len, SIG, &cn_policy_pin, 0);

	cn_disktier_set_policies(dt, both_lru, 2);
	for (uint64_t i = 9; i < 13; i++)
		put(dt, i, len, SIG2, &cn_policy_lru, 1);
	settle(dt);
	ck_assert_int_eq(get(dt, 0), -ENOENT);
	ck_assert_int_eq(get(dt, 1), -ENOENT);
	ck_assert_uint_eq(dt_info(dt).blocks, 4);
	ck_assert_uint_eq(dt_info(dt).used_bytes, 4 * c);
	cn_disktier_destroy(&dt);
}
END_TEST

/* A dataset's quota (policy = auto's pinned share): files up to it, the
 * excess deleted when it shrinks, no bound once lifted. */
START_TEST(test_quota)
{
	size_t len = 60000;
	uint64_t c = CN_DISK_HEADER + 61440;
	cn_disktier_t *dt = open_tier(8 * c, 0, two_ds, 2);

	cn_disktier_set_quota(dt, SIG2, 2 * c);
	put(dt, 0, len, SIG2, &cn_policy_pin, 1);
	put(dt, 1, len, SIG2, &cn_policy_pin, 1);
	put(dt, 2, len, SIG2, &cn_policy_pin, 0);
	put(dt, 3, len, SIG, &cn_policy_lru, 1); /* others: the free room */
	settle(dt);
	ck_assert_uint_eq(dt_info(dt).blocks, 3);
	cn_disktier_set_quota(dt, SIG2, c);
	settle(dt);
	ck_assert_uint_eq(dt_info(dt).blocks, 2);
	ck_assert_int_eq(get(dt, 3), 0);
	ck_assert_uint_eq(atomic_load(&m.disk_evictions), 1);
	cn_disktier_set_quota(dt, SIG2, UINT64_MAX);
	put(dt, 4, len, SIG2, &cn_policy_pin, 1);
	put(dt, 5, len, SIG2, &cn_policy_pin, 1);
	settle(dt);
	ck_assert_uint_eq(dt_info(dt).blocks, 4);
	cn_disktier_destroy(&dt);
}
END_TEST

START_TEST(test_rebuild_time)
{
	const char *env = getenv("SLUICE_DISK_SCAN_BLOCKS");
	size_t n = env ? strtoul(env, NULL, 10) : 10000;
	cn_disktier_t *dt = open_tier(1ull << 40, 0, two_ds, 2);
	uint64_t t0 = sl_now_ns(), ns;
	int cold = 0;
	double per;

	for (size_t i = 0; i < n; i++) {
		cn_block_t *b = make_block(i, 64);

		ck_assert_int_eq(cn_disktier_admit(dt, key_of(i), b, SIG,
						   &cn_policy_lru),
				 1);
		cn_block_unref(b);
		if (dt_info(dt).pending_writes >= 1024)
			settle(dt); /* below the tier's write backlog */
	}
	settle(dt);
	printf("disk tier: wrote %zu block files in %.2f s\n", n,
	       (double)(sl_now_ns() - t0) / 1e9);
	cn_disktier_destroy(&dt);
	env = getenv("SLUICE_DISK_SCAN_COLD");
	if (env && *env) {
		/* As after a reboot: no directory in the dentry cache. */
		sync();
		cold = th_write_file("/proc/sys/vm/drop_caches", "3", 1) == 0;
	}
	dt = open_tier(1ull << 40, 0, two_ds, 2);
	ck_assert_uint_eq(dt_info(dt).blocks, n);
	ns = dt_info(dt).rebuild_ns;
	per = (double)ns / 1e6 * 100000.0 / (double)(n ? n : 1);
	printf("disk tier rebuild: %zu blocks in %.1f ms (%.1f ms per "
	       "100,000 blocks, %s caches)\n",
	       n, (double)ns / 1e6, per, cold ? "cold" : "warm");
	ck_assert_int_eq(get(dt, n / 2), 0);
	cn_disktier_destroy(&dt);
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE(
		"cn_disktier",
		{.name = "disktier",
		 .tests = TH_TESTS(
			 test_roundtrip_direct, test_roundtrip_buffered,
			 test_cleanup_at_start, test_old_format_removed,
			 test_corruption_detected,
			 test_written_again_after_drop,
			 test_lru_and_pin_at_capacity,
			 test_demote_and_memory_hit, test_evicted_while_writing,
			 test_destroy_with_writes_queued, test_lock,
			 test_floor_stops_admission,
			 test_reload_purges_and_refiles,
			 test_auto_flip_moves_blocks, test_quota),
		 .timeout = 120,
		 .setup = setup,
		 .teardown = teardown},
		{.name = "rebuild",
		 .tests = TH_TESTS(test_rebuild_time),
		 .timeout = 1200,
		 .setup = setup,
		 .teardown = teardown});

	return th_check_run(s, &(th_check_opts_t){.tmp_tag = "test-disktier"});
}
