/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The RAM <-> NVMe glue, in process and without sockets: a real RAM tier,
 * a real disk tier in a temporary directory and a fake backend fetch,
 * driven the way the fetch engine drives them.  A block fetched from the
 * backend is admitted to RAM and written to disk (an empty or failed one
 * is not written); a RAM miss the disk has is read from it and promoted;
 * a block still being written is served from memory; a RAM eviction
 * demotes without a second write (or writes a block the disk never got,
 * and ignores a block of a dataset no longer served); a corrupt block
 * file is dropped and the same fill refetched from the backend, then
 * written again; a block of an impossible length on disk is dropped; a
 * block that left the disk between lookup and read goes to the backend.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cachenode/tiering.h"
#include "common/log.h"
#include "common/util.h"
#include "test/helper_check.h"
#include "test/helper_proc.h"

#define SIG 0x7137e001u
#define BS  (64u << 10)

static char *tmp;
static cn_metrics_t m;
static cn_ramtier_t *ram;
static cn_disktier_t *disk;
static cn_tiering_t *tiers;
static cn_dataset_t ds;
static int backend_calls;

static const cn_disk_dataset_t disk_ds[] = {{SIG, &cn_policy_lru}};

/* RAM for ram_blocks blocks of BS (and room for one transient). */
static void open_tiers(size_t ram_blocks)
{
	cn_disktier_conf_t c = {.path = tmp, .capacity = 1ull << 30};
	cn_dataset_t *one = &ds;
	char err[512];
	int rc;

	cn_metrics_init(&m);
	ram = cn_ramtier_new(ram_blocks * cn_ramtier_charge(BS),
			     cn_ramtier_charge(BS), &m);
	disk = cn_disktier_new(&c, disk_ds, 1, &m, &rc, err, sizeof(err));
	ck_assert_msg(disk, "%s", err);
	tiers = cn_tiering_new(ram, disk, &m);
	cn_tiering_set_datasets(tiers, &one, 1);
}

static void setup(void)
{
	tmp = th_tmpdir("test-tiering");
	ck_assert_ptr_nonnull(tmp);
	memset(&ds, 0, sizeof(ds));
	strcpy(ds.name, "ds");
	ds.id = 7;
	ds.layout = SIG;
	ds.policy = &cn_policy_lru;
	ds.block_size = BS;
	backend_calls = 0;
	open_tiers(8);
}

static void teardown(void)
{
	cn_tiering_destroy(&tiers);
	cn_disktier_destroy(&disk);
	cn_ramtier_destroy(&ram);
	th_rmtree(tmp);
	free(tmp);
}

static sl_blockkey_t key_of(uint64_t i)
{
	return sl_blockkey_make(ds.name, ds.layout, "shard", "e1", i);
}

static uint8_t byte_of(uint64_t i, size_t j)
{
	return (uint8_t)(i * 17 + j * 13 + (j >> 8));
}

static void settle(void)
{
	ck_assert_int_eq(cn_disktier_flush(disk, 20000), 0);
}

static cn_block_t *alloc(size_t len)
{
	int err;
	cn_block_t *b = cn_ramtier_alloc(ram, ds.policy, ds.id, len, &err);

	ck_assert_ptr_nonnull(b);
	return b;
}

/* The fake backend: block i's bytes into f's buffer (given here). */
static void backend_fill(cn_fill_t *f, uint64_t i)
{
	ck_assert_int_eq(f->src, CN_SRC_BACKEND);
	ck_assert_ptr_null(f->blk);
	f->blk = alloc(f->want);
	for (size_t j = 0; j < f->want; j++)
		cn_block_data(f->blk)[j] = byte_of(i, j);
	backend_calls++;
}

static int disk_rc;

static void on_disk_done(cn_fill_t *f, int rc)
{
	(void)f;
	disk_rc = rc;
}

static void check_bytes(cn_block_t *b, uint64_t i, size_t len)
{
	ck_assert_uint_eq(cn_block_len(b), len);
	for (size_t j = 0; j < len; j++)
		ck_assert_msg(cn_block_data(b)[j] == byte_of(i, j),
			      "block %llu byte %zu", (unsigned long long)i, j);
}

/* What the fetch engine does with one READ waiter's fill, done. */
static void fill_done(const cn_fill_t *f, ssize_t rc)
{
	cn_tiering_keep(tiers, f, rc);
	cn_tiering_done(tiers, f, rc, 1, &ds);
}

/*
 * What the fetch engine does for a READ of block i (len bytes) that
 * missed RAM: returns where the bytes came from in the end (CN_SRC_MEM,
 * CN_SRC_DISK, or CN_SRC_BACKEND also after a failed disk read).
 */
static int fetch_block(uint64_t i, size_t len)
{
	cn_fill_t f = {.key = key_of(i), .done = on_disk_done};
	cn_block_t *mem;
	int src = cn_tiering_lookup(tiers, &f, len, 1, &mem);

	if (src == CN_SRC_MEM) {
		check_bytes(mem, i, len);
		cn_block_unref(mem);
		return src;
	}
	ck_assert_uint_eq(f.bwant, len);
	if (src == CN_SRC_DISK) {
		f.blk = alloc(f.want);
		disk_rc = 1;
		if (cn_tiering_read(tiers, &f) == 0) {
			settle();
			ck_assert_int_ne(disk_rc, 1);
		} else {
			disk_rc = -EAGAIN;
		}
		if (disk_rc == -EAGAIN) {
			/* Turned into a backend fill, of the backend's size. */
			ck_assert_int_eq(f.src, CN_SRC_BACKEND);
			ck_assert_uint_eq(f.want, len);
		} else {
			ck_assert_int_eq(disk_rc, 0);
		}
	}
	if (f.src == CN_SRC_BACKEND)
		backend_fill(&f, i);
	check_bytes(f.blk, i, len);
	fill_done(&f, (ssize_t)len);
	cn_block_unref(f.blk);
	return f.src;
}

/* Is block i in RAM (with the right bytes)? */
static int in_ram(uint64_t i, size_t len)
{
	cn_block_t *b = cn_ramtier_get(ram, key_of(i));

	if (!b)
		return 0;
	check_bytes(b, i, len);
	cn_block_unref(b);
	return 1;
}

static int on_disk(uint64_t i)
{
	size_t len;
	cn_block_t *mem = NULL;
	int found = cn_disktier_lookup(disk, key_of(i), &len, &mem);

	if (mem)
		cn_block_unref(mem);
	return found;
}

static void block_file(uint64_t i, size_t len, char *out, size_t cap)
{
	char rel[128];

	ck_assert_int_eq(
		cn_disktier_block_path(key_of(i), SIG, len, rel, sizeof(rel)),
		0);
	snprintf(out, cap, "%s/sluice-v2/%s", tmp, rel);
}

START_TEST(test_admit_after_backend_fetch)
{
	cn_fill_t f = {.key = key_of(2), .done = on_disk_done};
	cn_block_t *mem;

	ck_assert_int_eq(fetch_block(1, BS), CN_SRC_BACKEND);
	ck_assert(in_ram(1, BS));
	ck_assert_uint_eq(atomic_load(&m.disk_admitted), 1);
	ck_assert_uint_eq(atomic_load(&m.disk_misses), 1);
	settle();
	ck_assert_int_eq(on_disk(1), CN_DISK_READY);
	ck_assert_uint_eq(atomic_load(&m.disk_writes), 1);

	/* A failed fetch leaves nothing behind; an empty block (a file of
	 * a whole number of blocks) goes to RAM only. */
	ck_assert_int_eq(cn_tiering_lookup(tiers, &f, BS, 0, &mem),
			 CN_SRC_BACKEND);
	backend_fill(&f, 2);
	fill_done(&f, -EIO);
	cn_block_unref(f.blk);
	ck_assert(!in_ram(2, BS));
	f.blk = alloc(BS);
	cn_block_trim(f.blk, 0);
	f.key = key_of(3);
	fill_done(&f, 0);
	cn_block_unref(f.blk);
	ck_assert(in_ram(3, 0));
	settle();
	ck_assert_uint_eq(atomic_load(&m.disk_admitted), 1);
	ck_assert_int_eq(on_disk(2), CN_DISK_MISS);
	ck_assert_int_eq(on_disk(3), CN_DISK_MISS);
	ck_assert_uint_eq(atomic_load(&m.disk_misses), 3);
}
END_TEST

START_TEST(test_promotion_and_memory_hit)
{
	ck_assert_int_eq(fetch_block(1, 1000), CN_SRC_BACKEND);
	/* Its write is queued, not reaped: served from its bytes. */
	ck_assert_int_eq(fetch_block(1, 1000), CN_SRC_MEM);
	settle();
	ck_assert_uint_eq(cn_ramtier_purge(ram, ds.id), 1);
	ck_assert_int_eq(fetch_block(1, 1000), CN_SRC_DISK);
	ck_assert_uint_eq(atomic_load(&m.promotions), 1);
	ck_assert_uint_eq(atomic_load(&m.disk_hits), 1);
	ck_assert_uint_eq(atomic_load(&m.disk_reads), 1);
	ck_assert(in_ram(1, 1000));
	ck_assert_int_eq(backend_calls, 1);
	settle();
	ck_assert_uint_eq(atomic_load(&m.disk_writes), 1);
}
END_TEST

START_TEST(test_demotion)
{
	cn_dataset_t *none = NULL;
	cn_block_t *b;

	cn_tiering_destroy(&tiers);
	cn_disktier_destroy(&disk);
	cn_ramtier_destroy(&ram);
	open_tiers(2);
	ck_assert_int_eq(fetch_block(1, BS), CN_SRC_BACKEND);
	ck_assert_int_eq(fetch_block(2, BS), CN_SRC_BACKEND);
	settle();
	/* Block 1 is evicted for block 3, and is already on disk. */
	ck_assert_int_eq(fetch_block(3, BS), CN_SRC_BACKEND);
	ck_assert(!in_ram(1, BS));
	ck_assert_uint_eq(atomic_load(&m.demotions), 1);
	settle();
	ck_assert_uint_eq(atomic_load(&m.disk_writes), 3);

	/* A block the disk never got is written when RAM evicts it.  RAM
	 * is {3, 9} (2 was demoted for 9); 3 goes for 4. */
	b = alloc(BS);
	for (size_t j = 0; j < BS; j++)
		cn_block_data(b)[j] = byte_of(9, j);
	ck_assert_int_eq(cn_ramtier_insert(ram, key_of(9), b), 1);
	cn_block_unref(b);
	ck_assert_uint_eq(atomic_load(&m.demotions), 2);
	ck_assert_int_eq(on_disk(9), CN_DISK_MISS);
	settle();
	ck_assert_int_eq(fetch_block(4, BS), CN_SRC_BACKEND);
	ck_assert_uint_eq(atomic_load(&m.demotions), 3);
	settle();
	/* For 5, 9 is demoted by a write, which holds its bytes until it
	 * ends, so 4 has to go as well (demoted without a write). */
	ck_assert_int_eq(fetch_block(5, BS), CN_SRC_BACKEND);
	ck_assert_uint_eq(atomic_load(&m.demotions), 5);
	ck_assert_uint_eq(atomic_load(&m.disk_admitted), 6);
	ck_assert_uint_le(cn_ramtier_used(ram), cn_ramtier_capacity(ram));
	settle();
	ck_assert_int_eq(on_disk(9), CN_DISK_READY);
	ck_assert_int_eq(fetch_block(9, BS), CN_SRC_DISK);
	ck_assert_uint_eq(atomic_load(&m.promotions), 1);

	/* A dataset no longer served: its blocks leave RAM, not demoted. */
	cn_tiering_set_datasets(tiers, &none, 0);
	ck_assert_int_eq(fetch_block(6, BS), CN_SRC_BACKEND);
	ck_assert_int_eq(fetch_block(7, BS), CN_SRC_BACKEND);
	ck_assert(!in_ram(5, BS) && !in_ram(9, BS));
	ck_assert_uint_eq(atomic_load(&m.demotions), 5);
}
END_TEST

START_TEST(test_refetch_after_corrupt_block)
{
	char path[1024];
	uint8_t byte;
	int fd;

	ck_assert_int_eq(fetch_block(1, BS), CN_SRC_BACKEND);
	settle();
	cn_ramtier_purge(ram, ds.id);
	block_file(1, BS, path, sizeof(path));
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &byte, 1, CN_DISK_HEADER + 100), 1);
	byte ^= 0x40;
	ck_assert_int_eq(pwrite(fd, &byte, 1, CN_DISK_HEADER + 100), 1);
	close(fd);

	/* The disk read fails its checksum: the same fill goes to the
	 * backend, and the client's bytes are right. */
	ck_assert_int_eq(fetch_block(1, BS), CN_SRC_BACKEND);
	ck_assert_uint_eq(atomic_load(&m.corrupt_blocks), 1);
	ck_assert_int_eq(backend_calls, 2);
	ck_assert_uint_eq(atomic_load(&m.promotions), 0);
	ck_assert(in_ram(1, BS));
	/* Written again once the bad file is gone. */
	settle();
	settle();
	cn_ramtier_purge(ram, ds.id);
	ck_assert_int_eq(fetch_block(1, BS), CN_SRC_DISK);
	ck_assert_int_eq(backend_calls, 2);
}
END_TEST

START_TEST(test_bad_length_and_vanished_block)
{
	cn_fill_t f = {.key = key_of(1), .done = on_disk_done};
	cn_block_t *mem;

	ck_assert_int_eq(fetch_block(1, 5000), CN_SRC_BACKEND);
	settle();
	cn_ramtier_purge(ram, ds.id);
	/* The file is now known to be 6000 bytes: 5000 on disk is wrong. */
	ck_assert_int_eq(cn_tiering_lookup(tiers, &f, 6000, 1, &mem),
			 CN_SRC_BACKEND);
	ck_assert_ptr_null(mem);
	ck_assert_uint_eq(f.want, 6000);
	settle();
	ck_assert_int_eq(on_disk(1), CN_DISK_MISS);

	/* Looked up, then gone before the read starts. */
	ck_assert_int_eq(fetch_block(2, 5000), CN_SRC_BACKEND);
	settle();
	f.key = key_of(2);
	ck_assert_int_eq(cn_tiering_lookup(tiers, &f, 5000, 1, &mem),
			 CN_SRC_DISK);
	f.blk = alloc(f.want);
	cn_disktier_drop(disk, key_of(2));
	ck_assert_int_eq(cn_tiering_read(tiers, &f), -EAGAIN);
	ck_assert_int_eq(f.src, CN_SRC_BACKEND);
	ck_assert_ptr_null(f.blk);
	ck_assert_uint_eq(f.want, 5000);
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE(
		"cn_tiering",
		{.name = "tiering",
		 .tests = TH_TESTS(test_admit_after_backend_fetch,
				   test_promotion_and_memory_hit, test_demotion,
				   test_refetch_after_corrupt_block,
				   test_bad_length_and_vanished_block),
		 .timeout = 120,
		 .setup = setup,
		 .teardown = teardown});

	sl_log_init("test_cn_tiering", SL_LOG_ERR);
	return th_check_run(s,
			    &(th_check_opts_t){.tmp_tag = "test-cn-tiering"});
}
