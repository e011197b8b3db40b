/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The FUSE low-level filesystem (see fs.h): its lifecycle, the kernel's
 * INIT, and the operations table.  The operations live by concern in
 * attr.c, dir.c, read.c and readonly.c (fs_i.h lists them): namespace
 * from STAT and LIST, data from READ through the client block cache with
 * sequential prefetch, EROFS for everything that writes.  FUSE threads
 * never touch a socket: metadata calls wait in fc_io_call(); reads wait
 * on their blocks.
 */
#include "fuse/fs_i.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define AHEAD_FRACTION 4     /* read-ahead may hold capacity/4 (readahead.c) */
#define AHEAD_AGE_MS   3000  /* an unread prefetch, or a quiet stream */
#define RA_STREAMS     64    /* sequential readers tracked at once */
#define DC_ENTRIES     32768 /* listed names kept for lookups (~4 MiB) */
#define AC_ENTRIES     16384 /* inodes' attributes kept (~2.5 MiB) */

/* Whether the kernel may open files without asking us: see fc_fs_open. */
static int want_no_open(const fc_fs_t *fs, const struct fuse_conn_info *conn)
{
	if (!(conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) ||
	    !(fs->flags & FC_FS_RO_MOUNT))
		return 0;
	for (size_t i = 0; i < fs->cl->n_datasets; i++)
		if (!fc_fs_immutable(fs, (int)i))
			return 0;
	return 1;
}

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	fc_fs_t *fs = userdata;

	conn->max_read = FC_MAX_READ;
	/* The kernel takes the smaller of this and its own default; an
	 * admin can raise the latter in /sys/class/bdi/0:N/read_ahead_kb. */
	if (conn->max_readahead < FC_MAX_READ)
		conn->max_readahead = FC_MAX_READ;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/*
	 * No FUSE_CAP_SPLICE_*: replies come from block memory in user
	 * space, where splice would only add a vmsplice step; and nothing
	 * is written, so SPLICE_READ has nothing to carry.
	 */
	conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE |
				  FUSE_CAP_SPLICE_MOVE);
	fs->no_open = want_no_open(fs, conn);
	if (fs->no_open)
		conn->want |= FUSE_CAP_NO_OPEN_SUPPORT;
	sl_info("opens: %s", fs->no_open ? "in the kernel (read-only mount, "
					   "immutable datasets)"
					 : "through sluice-fuse");
	sl_debug("init: capable %#x want %#x", conn->capable, conn->want);
	if (conn->max_background < 64) {
		conn->max_background = 64;
		conn->congestion_threshold = 48;
	}
}

static void fs_destroy(void *userdata)
{
	fc_fs_log_stats(userdata);
}

/*
 * Each timed operation is its handler in a wrapper that measures it.
 * Handlers reply before they return (reads wait on their blocks), so
 * the time is the request's as the kernel sees it, give or take the
 * reply's write.  The wrapper takes the metrics before the call: the
 * reply frees req.
 */
#define TIMED(kind, fn, params, ...)                                           \
	static void timed_##fn params                                          \
	{                                                                      \
		fc_metrics_t *m = fc_fs_of(req)->m;                            \
		uint64_t t0 = m ? sl_now_ns() : 0;                             \
                                                                               \
		fc_fs_##fn(__VA_ARGS__);                                       \
		if (m)                                                         \
			fc_metrics_op(m, kind, sl_now_ns() - t0);              \
	}

TIMED(FC_MOP_LOOKUP, lookup, (fuse_req_t req, fuse_ino_t p, const char *n), req,
      p, n)
TIMED(FC_MOP_FORGET, forget, (fuse_req_t req, fuse_ino_t i, uint64_t n), req, i,
      n)
TIMED(FC_MOP_GETATTR, getattr,
      (fuse_req_t req, fuse_ino_t i, struct fuse_file_info *fi), req, i, fi)
TIMED(FC_MOP_OPEN, open,
      (fuse_req_t req, fuse_ino_t i, struct fuse_file_info *fi), req, i, fi)
TIMED(FC_MOP_READ, read,
      (fuse_req_t req, fuse_ino_t i, size_t n, off_t o,
       struct fuse_file_info *fi),
      req, i, n, o, fi)
TIMED(FC_MOP_RELEASE, release,
      (fuse_req_t req, fuse_ino_t i, struct fuse_file_info *fi), req, i, fi)
TIMED(FC_MOP_OPENDIR, opendir,
      (fuse_req_t req, fuse_ino_t i, struct fuse_file_info *fi), req, i, fi)
TIMED(FC_MOP_READDIR, readdir,
      (fuse_req_t req, fuse_ino_t i, size_t n, off_t o,
       struct fuse_file_info *fi),
      req, i, n, o, fi)
TIMED(FC_MOP_READDIRPLUS, readdirplus,
      (fuse_req_t req, fuse_ino_t i, size_t n, off_t o,
       struct fuse_file_info *fi),
      req, i, n, o, fi)
TIMED(FC_MOP_RELEASEDIR, releasedir,
      (fuse_req_t req, fuse_ino_t i, struct fuse_file_info *fi), req, i, fi)
TIMED(FC_MOP_STATFS, statfs, (fuse_req_t req, fuse_ino_t i), req, i)
TIMED(FC_MOP_GETXATTR, getxattr,
      (fuse_req_t req, fuse_ino_t i, const char *n, size_t z), req, i, n, z)
TIMED(FC_MOP_LISTXATTR, listxattr, (fuse_req_t req, fuse_ino_t i, size_t z),
      req, i, z)
TIMED(FC_MOP_ACCESS, access, (fuse_req_t req, fuse_ino_t i, int mask), req, i,
      mask)

static const struct fuse_lowlevel_ops fc_ops = {
	.init = fs_init,
	.destroy = fs_destroy,
	.lookup = timed_lookup,
	.forget = timed_forget,
	.forget_multi = fc_fs_forget_multi,
	.getattr = timed_getattr,
	.setattr = fc_fs_setattr,
	.mknod = fc_fs_mknod,
	.mkdir = fc_fs_mkdir,
	.unlink = fc_fs_unlink,
	.rmdir = fc_fs_unlink,
	.symlink = fc_fs_symlink,
	.rename = fc_fs_rename,
	.link = fc_fs_link,
	.open = timed_open,
	.read = timed_read,
	.write = fc_fs_write,
	.flush = fc_fs_flush,
	.release = timed_release,
	.fsync = fc_fs_fsync,
	.opendir = timed_opendir,
	.readdir = timed_readdir,
	.readdirplus = timed_readdirplus,
	.releasedir = timed_releasedir,
	.fsyncdir = fc_fs_fsync,
	.statfs = timed_statfs,
	.setxattr = fc_fs_setxattr,
	.getxattr = timed_getxattr,
	.listxattr = timed_listxattr,
	.removexattr = fc_fs_removexattr,
	.access = timed_access,
	.create = fc_fs_create,
	.fallocate = fc_fs_fallocate,
};

const struct fuse_lowlevel_ops *fc_fs_ops(void)
{
	return &fc_ops;
}

fc_fs_t *fc_fs_new(const fc_cluster_t *cl, const sl_client_conf_t *cc,
		   unsigned flags, void *inode_mem, size_t inode_bytes,
		   int *err)
{
	fc_fs_t *fs = sl_xcalloc(1, sizeof(*fs));
	/* The most candidates a request tries (io.c): the cluster may grow
	 * after the mount, so not the node count of today. */
	size_t tries = 16;
	fc_ra_conf_t rc = {
		.max_depth = cc->prefetch_depth,
		.budget = cc->block_cache / AHEAD_FRACTION,
		.slots = RA_STREAMS,
		.idle_ms = AHEAD_AGE_MS,
	};

	fs->cl = cl;
	fs->cc = *cc;
	fs->flags = flags;
	fs->inodes = fc_inode_table_new(inode_mem, inode_bytes, cc->max_inodes,
					NULL, err);
	if (!fs->inodes) {
		free(fs);
		return NULL;
	}
	fs->ac = fc_acache_new(AC_ENTRIES);
	fs->bc = fc_blockcache_new(cc->block_cache);
	fc_blockcache_set_ahead(fs->bc, rc.budget, AHEAD_AGE_MS);
	fs->ra = fc_ra_new(&rc);
	fs->dc = fc_dcache_new(DC_ENTRIES);
	fs->fh = &fs->own_fh;
	pthread_mutex_init(&fs->dirs_lock, NULL);
	sl_keymap_init(&fs->dirs);
	fs->uid = geteuid();
	fs->gid = getegid();
	fs->mount_ns = sl_wall_ns();
	fs->wait_ms =
		(tries + 1) * SL_MAX(cc->request_timeout_ms, 100u) + 10000;
	return fs;
}

void fc_fs_set_io(fc_fs_t *fs, fc_io_t *io)
{
	fs->io = io;
}

void fc_fs_set_handles(fc_fs_t *fs, _Atomic uint64_t *counter)
{
	fs->fh = counter;
}

void fc_fs_set_metrics(fc_fs_t *fs, fc_metrics_t *m)
{
	fs->m = m;
	fc_blockcache_count_wasted(fs->bc, m ? &m->readahead_wasted : NULL);
}

void fc_fs_set_notify(fc_fs_t *fs, fc_notify_t *n)
{
	fs->notify = n;
}

void fc_fs_destroy(fc_fs_t **fsp)
{
	fc_fs_t *fs = fsp ? *fsp : NULL;

	if (!fs)
		return;
	fc_fs_reads_stop(fs);
	sl_inbox_destroy(&fs->retry);
	fc_fs_dirs_fini(fs);
	pthread_mutex_destroy(&fs->dirs_lock);
	fc_ra_destroy(&fs->ra);
	fc_dcache_destroy(&fs->dc);
	fc_blockcache_destroy(&fs->bc);
	fc_acache_destroy(&fs->ac);
	fc_inode_table_destroy(&fs->inodes);
	free(fs);
	*fsp = NULL;
}

void fc_fs_log_stats(fc_fs_t *fs)
{
	fc_blockcache_stats_t st;
	fc_inode_stats_t is;

	fc_blockcache_stats(fs->bc, &st);
	fc_inode_stats(fs->inodes, &is);
	sl_info("reads %llu (%llu failed, %llu tried again); block cache "
		"%llu/%llu bytes in %llu blocks, %llu hits, %llu misses, %llu "
		"evictions; read-ahead %llu used, %llu lost, %llu expired; "
		"inodes %llu/%llu, peak %llu, %llu bytes shared (%llu/%llu "
		"name pieces), asked the kernel to forget %llu names, refused "
		"%llu lookups; %zu attributes (%zu bytes); %zu listed names; "
		"opens %s",
		(unsigned long long)atomic_load(&fs->reads),
		(unsigned long long)atomic_load(&fs->read_errors),
		(unsigned long long)atomic_load(&fs->read_retries),
		(unsigned long long)st.used, (unsigned long long)st.capacity,
		(unsigned long long)st.blocks, (unsigned long long)st.hits,
		(unsigned long long)st.misses, (unsigned long long)st.evictions,
		(unsigned long long)st.ahead_used,
		(unsigned long long)st.ahead_lost,
		(unsigned long long)st.ahead_expired,
		(unsigned long long)is.entries, (unsigned long long)is.max,
		(unsigned long long)is.peak, (unsigned long long)is.bytes,
		(unsigned long long)is.name_pieces,
		(unsigned long long)is.name_max, (unsigned long long)is.asked,
		(unsigned long long)is.refused, fc_acache_count(fs->ac),
		fc_acache_bytes(fs->ac), fc_dcache_count(fs->dc),
		fs->no_open ? "in the kernel" : "through us");
}
