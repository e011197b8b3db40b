/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NVMe tier's files (see disktier.h for the layout): names, headers
 * and checksums, and the start-up that finds the blocks again -- the lock,
 * the probes, the self-test and the index rebuilt from the names.
 *
 * Crash consistency.  A block becomes visible under its final name only by
 * a rename after all its bytes were written (diskio.c), and is read from
 * disk only once that rename completed (until then it is served from its
 * bytes in memory); at start, tmp/ is emptied and only final names are
 * indexed.  After kill -9 every named file is therefore complete.  There
 * is no fsync: after a power loss a named file may hold zeros or old
 * bytes, which the header and data checksums catch on read: the block is
 * dropped, counted in corrupt_blocks, refetched, and the client gets the
 * right bytes.
 *
 * Rebuild.  The file name carries all the index needs (key, dataset
 * signature, length), so the rebuild reads 256 directories and no file:
 * no stat, no header.  Checking happens lazily, on each block's first
 * read.  Blocks of datasets that are no longer configured (or whose
 * backend changed) are deleted in the background.
 *
 * O_DIRECT.  Used when the filesystem takes it (checked at start): the
 * tier's reads then neither fill the page cache with bytes that RAM
 * already caches nor evict the training job's pages, and a write is on the
 * device when it completes.  It needs 4 KiB-aligned buffers and lengths:
 * the header is 4 KiB, the data is padded to 4 KiB, and blocks of 64 KiB
 * and more already live in page-aligned mappings; smaller ones go through
 * an aligned bounce buffer.
 */
#define XXH_INLINE_ALL
#include "cachenode/disktier.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "cachenode/disktier_i.h"
#include "common/log.h"
#include "common/util.h"

#define LAYOUT	   "sluice-v2"
#define OLD_LAYOUT "sluice-v1" /* keys without the dataset's layout */
#define MAGIC	   "SLUICEBK"
#define FORMAT	   1
#define HDR_SUMMED 56 /* header bytes covered by the header checksum */
#define NAME_LEN   (32 + 1 + 8 + 1 + 8)

/* ---- Format -------------------------------------------------------------- */

int cn_disktier_block_path(sl_blockkey_t key, uint32_t sig, size_t len,
			   char *out, size_t cap)
{
	char hex[SL_BLOCKKEY_HEX];
	int n;

	sl_blockkey_hex(key, hex);
	n = snprintf(out, cap, "%.2s/%s-%08" PRIx32 "-%zx", hex, hex, sig, len);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Parse n (1..16) lowercase hex digits. */
static int parse_hex(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		int d = hexval(s[i]);

		if (d < 0)
			return -EINVAL;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return 0;
}

/* "<32 hex>-<8 hex>-<1..8 hex>" in directory dir (the key's first byte).
 * Strict, so that every name maps to one file and back. */
static int parse_name(const char *name, unsigned dir, sl_blockkey_t *key,
		      uint32_t *sig, uint32_t *len)
{
	size_t n = strlen(name), ll;
	uint64_t hi, lo, s, l;

	if (n < 32 + 1 + 8 + 1 + 1 || n > NAME_LEN || name[32] != '-' ||
	    name[41] != '-')
		return -EINVAL;
	ll = n - 42;
	if (parse_hex(name, 16, &hi) < 0 || parse_hex(name + 16, 16, &lo) < 0 ||
	    parse_hex(name + 33, 8, &s) < 0 || parse_hex(name + 42, ll, &l) < 0)
		return -EINVAL;
	if ((hi >> 56) != dir || l == 0 || l > SL_BLOCK_SIZE_MAX ||
	    (ll > 1 && name[42] == '0'))
		return -EINVAL;
	key->hi = hi;
	key->lo = lo;
	*sig = (uint32_t)s;
	*len = (uint32_t)l;
	return 0;
}

static void hdr_encode(uint8_t *h, sl_blockkey_t key, uint32_t sig,
		       uint64_t len, uint64_t sum)
{
	memset(h, 0, HDR_SIZE);
	memcpy(h, MAGIC, 8);
	sl_put_le32(h + 8, FORMAT);
	sl_put_le32(h + 12, HDR_SIZE);
	sl_put_le64(h + 16, key.hi);
	sl_put_le64(h + 24, key.lo);
	sl_put_le64(h + 32, len);
	sl_put_le64(h + 40, sum);
	sl_put_le32(h + 48, sig);
	sl_put_le32(h + 52, 0); /* flags */
	sl_put_le64(h + HDR_SUMMED, XXH3_64bits(h, HDR_SUMMED));
}

/* 0 when h is the header of (key, sig, len); *sum is its data checksum. */
static int hdr_check(const uint8_t *h, sl_blockkey_t key, uint32_t sig,
		     uint64_t len, uint64_t *sum)
{
	if (memcmp(h, MAGIC, 8) != 0 || sl_get_le32(h + 8) != FORMAT ||
	    sl_get_le32(h + 12) != HDR_SIZE ||
	    sl_get_le64(h + HDR_SUMMED) != XXH3_64bits(h, HDR_SUMMED))
		return -EBADMSG;
	if (sl_get_le64(h + 16) != key.hi || sl_get_le64(h + 24) != key.lo ||
	    sl_get_le64(h + 32) != len || sl_get_le32(h + 48) != sig)
		return -EBADMSG;
	*sum = sl_get_le64(h + 40);
	return 0;
}

/* ---- Disk-thread hooks --------------------------------------------------- */

/* Before a write: checksum the data, fill the header, copy the data into
 * the bounce buffer when it needs one. */
void cn_dt_write_prep(cn_dio_op_t *io)
{
	dop_t *op = sl_container_of(io, dop_t, io);
	const uint8_t *data = cn_block_data(op->blk);

	hdr_encode(op->hdr, op->key, op->sig, op->len,
		   XXH3_64bits(data, op->len));
	if (op->bounce) {
		memcpy(op->bounce, data, op->len);
		memset(op->bounce + op->len, 0, op->padded - op->len);
	}
}

/* After a read: the header must describe this block and the data must
 * match its checksum; only then are the bytes the block's. */
void cn_dt_read_post(cn_dio_op_t *io)
{
	dop_t *op = sl_container_of(io, dop_t, io);
	uint8_t *data = op->bounce ? op->bounce : cn_block_data(op->blk);
	uint64_t sum;

	if (io->res < 0)
		return;
	if ((size_t)io->res < HDR_SIZE + op->len ||
	    hdr_check(op->hdr, op->key, op->sig, op->len, &sum) < 0 ||
	    XXH3_64bits(data, op->len) != sum) {
		io->res = -EBADMSG;
		return;
	}
	if (op->bounce)
		memcpy(cn_block_data(op->blk), op->bounce, op->len);
	io->res = 0;
}

/* ---- Start-up --------------------------------------------------------------
 */

/* mkdir -p: 0, or -errno. */
static int mkdir_p(const char *path)
{
	char *p = sl_xstrdup(path);
	int rc = 0;

	for (char *s = p + 1;; s++) {
		char c = *s;

		if (c != '/' && c != '\0')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			rc = -errno;
			break;
		}
		*s = c;
		if (!c)
			break;
	}
	free(p);
	return rc;
}

/* Remove every entry of directory name (below root): unfinished writes. */
static size_t empty_dir(int root_fd, const char *name)
{
	int fd = openat(root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	size_t n = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (unlinkat(fd, de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* Does the filesystem take O_DIRECT for our files? */
static int probe_direct(int root_fd)
{
	static const char probe[] = "tmp/direct-probe";
	void *buf = NULL;
	int fd, ok = 0;

	fd = openat(root_fd, probe,
		    O_WRONLY | O_CREAT | O_TRUNC | O_DIRECT | O_CLOEXEC, 0644);
	if (fd >= 0 && posix_memalign(&buf, ALIGN, ALIGN) == 0) {
		memset(buf, 0, ALIGN);
		ok = pwrite(fd, buf, ALIGN, 0) == ALIGN;
	}
	free(buf);
	if (fd >= 0)
		close(fd);
	unlinkat(root_fd, probe, 0);
	return ok;
}

/* Run op on the engine and wait for it (start-up only). */
static ssize_t run_sync(cn_disktier_t *dt, dop_t *op)
{
	struct pollfd pfd = {cn_diskio_fd(dt->io), POLLIN, 0};
	sl_fifo_t done;

	sl_fifo_init(&done);
	cn_dt_submit(dt, op);
	while (sl_fifo_empty(&done)) {
		if (poll(&pfd, 1, 10000) <= 0)
			return -ETIMEDOUT; /* op stays the engine's */
		cn_diskio_reap(dt->io, &done);
	}
	SL_ASSERT(done.count == 1 && sl_fifo_peek(&done) == &op->io.link);
	dt->busy--;
	return op->io.res;
}

static uint8_t probe_byte(size_t i)
{
	return (uint8_t)(i * 7 + 1);
}

/*
 * Write, read back and delete one file through the engine, the way blocks
 * go: a kernel without direct descriptors (before 5.15), a seccomp filter
 * or a filesystem that refuses something fails here, at start, and not
 * block by block later.
 */
static int self_test(cn_disktier_t *dt)
{
	static const char probe[] = "tmp/self-test";
	dop_t *op = cn_dt_op_get(dt);
	ssize_t rc;

	op->self_test = 1;
	for (size_t i = 0; i < HDR_SIZE; i++)
		op->hdr[i] = probe_byte(i);
	op->io.kind = CN_DIO_WRITE;
	sl_strlcpy(op->io.path, probe, sizeof(op->io.path));
	op->io.iov[0] = (struct iovec){op->hdr, HDR_SIZE};
	op->io.niov = 1;
	rc = run_sync(dt, op);
	if (rc >= 0) {
		memset(op->hdr, 0, HDR_SIZE);
		op->io.kind = CN_DIO_READ;
		rc = run_sync(dt, op);
		for (size_t i = 0; rc >= 0 && i < HDR_SIZE; i++)
			if (rc != HDR_SIZE || op->hdr[i] != probe_byte(i))
				rc = -EIO;
	}
	if (rc == -ETIMEDOUT)
		return (int)rc; /* op is freed when the engine stops */
	unlinkat(dt->root_fd, probe, 0);
	cn_dt_op_put(dt, op);
	return rc < 0 ? (int)rc : 0;
}

/* Delete dir/name, a file with no entry. */
static void submit_unlink_name(cn_disktier_t *dt, const char *dir,
			       const char *name)
{
	dop_t *op = cn_dt_op_get(dt);
	int n;

	op->io.kind = CN_DIO_UNLINK;
	n = snprintf(op->io.path, sizeof(op->io.path), "%s/%s", dir, name);
	SL_ASSERT(n > 0 && (size_t)n < sizeof(op->io.path));
	cn_dt_submit(dt, op);
}

struct scan_stats {
	size_t files;
	size_t stale;
	size_t foreign;
};

/* Index the names in fan-out directory i. */
static int scan_dir(cn_disktier_t *dt, unsigned i, struct scan_stats *st)
{
	char name[3];
	int fd;
	DIR *d;
	struct dirent *de;
	sl_blockkey_t key;
	uint32_t sig, len;
	const cn_disk_dataset_t *ds;

	snprintf(name, sizeof(name), "%02x", i);
	if (mkdirat(dt->root_fd, name, 0755) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(dt->root_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		st->files++;
		if (parse_name(de->d_name, i, &key, &sig, &len) < 0 ||
		    cn_dt_find(dt, key)) {
			/* Not a name the tier writes: not ours to serve. */
			unlinkat(fd, de->d_name, 0);
			st->foreign++;
			continue;
		}
		ds = cn_dt_dataset_of(dt, sig);
		if (!ds) {
			/* A dataset removed or changed while the node was
			 * down: delete in the background. */
			submit_unlink_name(dt, name, de->d_name);
			st->stale++;
			continue;
		}
		cn_dt_entry_new(dt, key, sig, len, ds->policy, E_READY);
	}
	closedir(d);
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/*
 * Remove disk_path/sluice-v1, the tier of a node that keyed blocks without
 * their dataset's layout: none of its blocks can ever be asked for again,
 * and they would hold their space (a pin policy for good).  Unless a node
 * still holds its lock (an older node on the same directory): then it is
 * left alone and said so.
 */
static void remove_old_layout(const char *disk_path)
{
	char old[PATH_MAX], lock[PATH_MAX + 8];
	struct stat st;
	int fd = -1;

	snprintf(old, sizeof(old), "%s/" OLD_LAYOUT, disk_path);
	if (stat(old, &st) < 0 || !S_ISDIR(st.st_mode))
		return;
	snprintf(lock, sizeof(lock), "%s/lock", old);
	fd = open(lock, O_RDWR | O_CLOEXEC);
	if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		sl_warn("disk_path %s: %s is in use by an older cache node: "
			"left alone",
			disk_path, old);
	} else {
		nftw(old, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		sl_notice("disk_path %s: removed %s, blocks of an older format "
			  "(keys without the dataset's layout)",
			  disk_path, old);
	}
	if (fd >= 0)
		close(fd);
}

cn_disktier_t *cn_disktier_new(const cn_disktier_conf_t *c,
			       const cn_disk_dataset_t *ds, size_t n_ds,
			       cn_metrics_t *m, int *rc, char *err,
			       size_t errlen)
{
	cn_disktier_t *dt = sl_xcalloc(1, sizeof(*dt));
	struct scan_stats st = {0};
	size_t len = strlen(c->path) + sizeof("/" LAYOUT), unfinished;
	uint64_t t0;

	dt->root_fd = -1;
	dt->lock_fd = -1;
	dt->m = m ? m : &dt->own_metrics;
	sl_keymap_init(&dt->index);
	cn_dt_apply_limits(dt, c);
	cn_dt_set_datasets(dt, ds, n_ds);
	dt->root_path = sl_xmalloc(len);
	snprintf(dt->root_path, len, "%s/" LAYOUT, c->path);
	remove_old_layout(c->path);
	*rc = mkdir_p(dt->root_path);
	if (*rc < 0) {
		snprintf(err, errlen, "disk_path %s: cannot create %s: %s",
			 c->path, dt->root_path, strerror(-*rc));
		goto out_err;
	}
	dt->root_fd = open(dt->root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dt->root_fd < 0)
		goto out_errno;
	dt->lock_fd =
		openat(dt->root_fd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (dt->lock_fd < 0)
		goto out_errno;
	if (flock(dt->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		*rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		snprintf(err, errlen,
			 "disk_path %s: %s is in use by another cache node",
			 c->path, dt->root_path);
		goto out_err;
	}
	if (mkdirat(dt->root_fd, "tmp", 0755) < 0 && errno != EEXIST)
		goto out_errno;
	unfinished = empty_dir(dt->root_fd, "tmp");
	dt->direct = !c->buffered && probe_direct(dt->root_fd);
	dt->io = cn_diskio_new(dt->root_fd, c->qd, dt->direct, rc);
	if (!dt->io) {
		snprintf(err, errlen,
			 "disk_path %s: io_uring is not available (%s): the "
			 "disk tier needs Linux 5.15 or later, with io_uring "
			 "allowed (seccomp, kernel.io_uring_disabled)",
			 c->path, strerror(-*rc));
		goto out_err;
	}
	*rc = self_test(dt);
	if (*rc < 0) {
		snprintf(err, errlen,
			 "disk_path %s: a test block cannot be written and "
			 "read back through io_uring: %s",
			 c->path, strerror(-*rc));
		goto out_err;
	}

	t0 = sl_now_ns();
	for (unsigned i = 0; i < 256; i++) {
		*rc = scan_dir(dt, i, &st);
		if (*rc < 0) {
			snprintf(err, errlen, "disk_path %s: %s/%02x: %s",
				 c->path, dt->root_path, i, strerror(-*rc));
			goto out_err;
		}
	}
	dt->rebuild_ns = sl_now_ns() - t0;
	dt->rebuild_files = st.files;
	cn_dt_trim(dt);
	cn_dt_gauges(dt);
	sl_notice("disk tier %s: %zu blocks, %" PRIu64 " of %" PRIu64
		  " MiB, indexed from %zu names in %.1f ms (O_DIRECT %s); "
		  "removed %zu blocks of other datasets, %zu foreign files "
		  "and %zu unfinished writes",
		  dt->root_path, dt->n_live, dt->live_bytes >> 20,
		  dt->capacity >> 20, st.files, (double)dt->rebuild_ns / 1e6,
		  dt->direct ? "on" : "off", st.stale, st.foreign, unfinished);
	*rc = 0;
	return dt;
out_errno:
	*rc = -errno;
	snprintf(err, errlen, "disk_path %s: %s: %s", c->path, dt->root_path,
		 strerror(errno));
out_err:
	cn_disktier_destroy(&dt);
	return NULL;
}
