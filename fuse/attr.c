/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Attributes (see fs_i.h): what STAT says of an entry, as the kernel gets
 * it, and the operations that need nothing else: lookup (answered from
 * the dircache when LIST already said, else by STAT), forget and getattr.
 * Immutable datasets keep what they were told forever; the others ask
 * their node again once the metadata TTL has run out.
 */
#include "fuse/fs_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/blockkey.h"
#include "common/log.h"
#include "common/path.h"
#include "common/util.h"
#include "fuse/wire.h"

#define NEGATIVE_S   60.0 /* how long the kernel remembers a missing name */
#define SWEEP_BATCH  256  /* cold names taken from the inode table at once */
#define ROOM_WAIT_MS 1000 /* a lookup waits this long for a full table */

void fc_fs_attr_to_stat(const fc_fs_t *fs, int ds, uint64_t ino,
			const fc_attr_t *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = (a->mode & 07777) |
		      (a->type == PR_TYPE_DIR ? S_IFDIR : S_IFREG);
	st->st_nlink = a->type == PR_TYPE_DIR ? 2 : 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_size = (off_t)a->size;
	st->st_blocks = (blkcnt_t)((a->size + 511) / 512);
	st->st_blksize =
		ds >= 0 ? (blksize_t)SL_MIN(fs->cl->datasets[ds].block_size,
					    FC_MAX_READ)
			: 4096;
	st->st_mtim.tv_sec = (time_t)(a->mtime_ns / 1000000000);
	st->st_mtim.tv_nsec = (long)(a->mtime_ns % 1000000000);
	if (st->st_mtim.tv_nsec < 0) {
		st->st_mtim.tv_sec--;
		st->st_mtim.tv_nsec += 1000000000;
	}
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

static void root_attr(const fc_fs_t *fs, fc_attr_t *a)
{
	memset(a, 0, sizeof(*a));
	a->type = PR_TYPE_DIR;
	a->mode = 0555;
	a->mtime_ns = fs->mount_ns;
}

int fc_fs_stat_call(fc_fs_t *fs, int ds, const char *path, fc_attr_t *out)
{
	return fc_fs_stat_at(fs, ds, path,
			     sl_metakey_make(fc_fs_ds_name(fs, ds), path).lo,
			     out);
}

int fc_fs_stat_at(fc_fs_t *fs, int ds, const char *path, uint64_t point,
		  fc_attr_t *out)
{
	const char *dsn = fc_fs_ds_name(fs, ds);
	zmq_msg_t reply;
	void *body;
	size_t len;
	char why[512];
	int rc;

	rc = fc_wire_stat_req(dsn, path, &body, &len);
	if (rc < 0)
		return rc;
	zmq_msg_init(&reply);
	rc = fc_io_call(fs->io, PR_OP_STAT, point, body, len, &reply, why,
			sizeof(why));
	if (rc == -EIO)
		sl_err("stat %s/%s: every cache node failed: %s", dsn, path,
		       why);
	if (rc < 0)
		goto out;
	rc = fc_wire_stat_reply(zmq_msg_data(&reply), zmq_msg_size(&reply),
				out);
	if (rc < 0) {
		sl_log_ratelimited(SL_LOG_ERR, "stat %s/%s: bad reply: %s", dsn,
				   path, strerror(-rc));
		rc = -EIO;
	}
out:
	zmq_msg_close(&reply);
	return rc;
}

int fc_fs_fresh_attr(fc_fs_t *fs, const fc_inode_t *ip, fc_attr_t *a)
{
	uint64_t ttl;
	int rc;

	if (ip->dataset < 0) {
		root_attr(fs, a);
		return 0;
	}
	if ((size_t)ip->dataset >= fs->cl->n_datasets)
		return -ESTALE; /* a number from a map that had the dataset */
	ttl = fs->cl->datasets[ip->dataset].metadata_ttl_ms;
	rc = fc_acache_get(fs->ac, ip->ino, a);
	if (rc == 0 && (ttl == 0 || sl_now_ms() - a->fetched_ms < ttl))
		return 0;
	rc = fc_fs_stat_call(fs, ip->dataset, ip->path, a);
	if (rc == 0)
		fc_acache_put(fs->ac, ip->ino, a);
	return rc;
}

/* The directory part of path (borrowed) into dir: "" at the top. */
static void dir_of(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	SL_ASSERT(n < cap);
	memcpy(dir, path, n);
	dir[n] = '\0';
}

void fc_fs_changed(fc_fs_t *fs, const fc_inode_t *ip, const fc_attr_t *a)
{
	char dir[SL_PATH_MAX + 1];

	if (ip->dataset < 0)
		return;
	fc_acache_put(fs->ac, ip->ino, a);
	dir_of(ip->path, dir, sizeof(dir));
	fc_dcache_forget(fs->dc, ip->dataset, dir);
	fc_notify_attr_now(fs->notify, ip->ino);
	fc_notify_inode(fs->notify, ip->ino);
}

void fc_fs_gone(fc_fs_t *fs, const fc_inode_t *ip)
{
	char dir[SL_PATH_MAX + 1];

	if (ip->dataset < 0 || !ip->path[0])
		return; /* the root and the datasets are the map's */
	fc_acache_drop(fs->ac, ip->ino);
	dir_of(ip->path, dir, sizeof(dir));
	fc_dcache_forget(fs->dc, ip->dataset, dir);
	fc_notify_attr_now(fs->notify, ip->ino);
	fc_notify_entry(fs->notify, ip->parent, ip->name, strlen(ip->name));
}

/*
 * On the notifier thread (notify.h): have the kernel forget the names the
 * inode table calls cold, a batch at a time, until it needs no more.
 */
static void sweep(fc_notify_t *n, void *arg)
{
	fc_fs_t *fs = arg;
	fc_inode_name_t *batch = sl_xmalloc(SWEEP_BATCH * sizeof(*batch));
	size_t k;

	atomic_store(&fs->sweep_posted, 0);
	while ((k = fc_inode_cold(fs->inodes, batch, SWEEP_BATCH)) > 0)
		for (size_t i = 0; i < k; i++)
			fc_notify_entry_now(n, batch[i].parent, batch[i].name,
					    batch[i].len);
	free(batch);
}

void fc_fs_relieve(fc_fs_t *fs)
{
	if (!fc_inode_pressure(fs->inodes))
		return;
	if (atomic_exchange(&fs->sweep_posted, 1) == 0)
		fc_notify_call(fs->notify, sweep, fs);
}

int fc_fs_learn(fc_fs_t *fs, uint64_t parent, const char *name, int ds,
		const char *path, const fc_attr_t *a, int wait, uint64_t *ino)
{
	int rc = fc_inode_lookup(fs->inodes, parent, name, ds,
				 fc_fs_ds_name(fs, ds), path, ino);

	/* A full table usually has FORGETs on their way: wait for them,
	 * but not again while a wait has just come back empty-handed. */
	if (rc == -ENFILE && wait &&
	    sl_now_ms() >= atomic_load(&fs->full_until_ms)) {
		fc_fs_relieve(fs);
		rc = fc_inode_wait_room(fs->inodes, strlen(name), ROOM_WAIT_MS);
		if (rc == 0)
			rc = fc_inode_lookup(fs->inodes, parent, name, ds,
					     fc_fs_ds_name(fs, ds), path, ino);
		if (rc == -ENFILE)
			atomic_store(&fs->full_until_ms,
				     sl_now_ms() + ROOM_WAIT_MS);
	}
	if (rc == -ENFILE && wait) {
		fc_inode_refused(fs->inodes);
		sl_log_ratelimited(SL_LOG_ERR,
				   "lookup %s/%s: the inode table is "
				   "full (max_inodes = %u, all held "
				   "by the kernel): raise [client] "
				   "max_inodes",
				   fc_fs_ds_name(fs, ds), path,
				   fs->cc.max_inodes);
	}
	if (rc < 0)
		return rc;
	fc_acache_put(fs->ac, *ino, a);
	fc_fs_relieve(fs);
	return 0;
}

void fc_fs_fill_entry(const fc_fs_t *fs, int ds, uint64_t ino,
		      const fc_attr_t *a, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->generation = 0;
	fc_fs_attr_to_stat(fs, ds, ino, a, &e->attr);
	e->attr_timeout = fc_fs_timeout_s(fs, ds);
	e->entry_timeout = fc_fs_timeout_s(fs, ds);
}

/*
 * name in directory dir of dataset ds from what LIST said, without a
 * round trip: 1 with *a, 0 when the directory has no such name, -EAGAIN
 * when the dircache cannot tell (then STAT it).  The second lookup that
 * misses in a directory nobody listed lists it (a few pages at most): a
 * reader opening files by path from an index then pays one LIST per
 * directory instead of one STAT per file.
 */
static int lookup_listed(fc_fs_t *fs, int ds, const char *dir, const char *name,
			 fc_attr_t *a)
{
	uint64_t ttl = fs->cl->datasets[ds].metadata_ttl_ms;
	int fill, rc;

	rc = fc_dcache_lookup(fs->dc, ds, dir, name, sl_now_ms(), ttl, a,
			      &fill);
	if (rc == -EAGAIN && fill) {
		fc_fs_dir_prefill(fs, ds, dir);
		rc = fc_dcache_lookup(fs->dc, ds, dir, name, sl_now_ms(), ttl,
				      a, &fill);
	}
	return rc;
}

void fc_fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fc_fs_t *fs = fc_fs_of(req);
	size_t nl = strlen(name);
	fc_inode_t p;
	char path[SL_PATH_MAX + 1];
	struct fuse_entry_param e;
	fc_attr_t a;
	uint64_t ino;
	int ds, rc, known = 0;

	rc = sl_name_check(name, nl);
	if (rc < 0)
		goto out;
	rc = fc_inode_get(fs->inodes, parent, &p);
	if (rc < 0)
		goto out;
	known = 1;
	if (p.dataset < 0) {
		ds = fc_cluster_dataset(fs->cl, name, nl);
		if (ds < 0) {
			rc = -ENOENT;
			goto out;
		}
		path[0] = '\0';
	} else if ((size_t)p.dataset >= fs->cl->n_datasets) {
		rc = -ESTALE;
		goto out;
	} else {
		ds = p.dataset;
		rc = sl_path_join(path, sizeof(path), p.path, name);
		if (rc < 0)
			goto out;
	}
	rc = p.dataset < 0 ? -EAGAIN : lookup_listed(fs, ds, p.path, name, &a);
	if (rc == -EAGAIN)
		rc = fc_fs_stat_call(fs, ds, path, &a);
	else if (rc == 0)
		rc = -ENOENT;
	else
		rc = 0;
	if (rc < 0)
		goto out;
	rc = fc_fs_learn(fs, parent, name, ds, path, &a, 1, &ino);
	if (rc < 0)
		goto out;
	fc_fs_fill_entry(fs, ds, ino, &a, &e);
	if (fuse_reply_entry(req, &e) != 0)
		fc_fs_unlearn(fs, ino, 1);
out:
	if (rc == -EINVAL)
		rc = -ENOENT; /* not a name the store can hold */
	if (rc == -ENOENT && known) {
		/* A negative entry: the kernel remembers the miss. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fc_fs_immutable(fs, p.dataset)
					  ? NEGATIVE_S
					  : fc_fs_timeout_s(fs, p.dataset);
		fuse_reply_entry(req, &e);
	} else if (rc < 0) {
		fuse_reply_err(req, -rc);
	}
}

void fc_fs_unlearn(fc_fs_t *fs, uint64_t ino, uint64_t n)
{
	if (fc_inode_forget(fs->inodes, ino, n))
		fc_acache_drop(fs->ac, ino);
}

void fc_fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fc_fs_unlearn(fc_fs_of(req), ino, nlookup);
	fuse_reply_none(req);
}

void fc_fs_forget_multi(fuse_req_t req, size_t count,
			struct fuse_forget_data *forgets)
{
	fc_fs_t *fs = fc_fs_of(req);

	for (size_t i = 0; i < count; i++)
		fc_fs_unlearn(fs, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

void fc_fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fc_fs_t *fs = fc_fs_of(req);
	fc_inode_t ip;
	struct stat st;
	fc_attr_t a;
	int rc;

	(void)fi;
	rc = fc_inode_get(fs->inodes, ino, &ip);
	if (rc == 0)
		rc = fc_fs_fresh_attr(fs, &ip, &a);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	fc_fs_attr_to_stat(fs, ip.dataset, ino, &a, &st);
	fuse_reply_attr(req, &st, fc_fs_timeout_s(fs, ip.dataset));
}
