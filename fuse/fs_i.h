/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the files of the FUSE filesystem share (fs.h is the public face):
 * the filesystem's state, the helpers on attributes and metadata round
 * trips that several operations use, and the operations each file
 * provides for the table in fs.c.
 *
 *   fs.c        lifecycle, INIT, the operations table, the summary log
 *   attr.c      attributes and STAT: lookup, forget, getattr
 *   dir.c       opendir, readdir(plus), releasedir; LIST into the dircache
 *   read.c      open, read (blocks, fetches, read-ahead), release
 *   readonly.c  the refusals (EROFS), access, statfs, flush
 *   xattr.c     the extended attributes user.sluice.cached and .nodes
 *   wire.c      request bodies and reply conversion (wire.h)
 *
 * Operations run on libfuse's worker threads, any number at once; struct
 * fc_fs is immutable after fc_fs_new() and fs_init() except its counters
 * (atomic) and the modules it points to (each with its own lock).
 */
#ifndef FC_FS_I_H
#define FC_FS_I_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common/config.h"
#include "common/inbox.h"
#include "common/keymap.h"
#include "fuse/attrcache.h"
#include "fuse/blockcache.h"
#include "fuse/dircache.h"
#include "fuse/fs.h"
#include "fuse/inode.h"
#include "fuse/metrics.h"
#include "fuse/notify.h"
#include "fuse/readahead.h"

#define FC_MAX_READ  (1u << 20)
#define FC_FOREVER_S (86400.0 * 365)

struct fc_fs {
	/* The map at mount: the datasets the mount shows (names, indices,
	 * TTLs), for its life; later maps keep them at their indices.  What
	 * a read needs of the current map -- block sizes, layouts, the ring
	 * -- comes from fc_io_map(io). */
	const fc_cluster_t *cl;
	sl_client_conf_t cc;
	fc_io_t *io;
	fc_inode_table_t *inodes;
	fc_acache_t *ac;
	fc_blockcache_t *bc;
	fc_ra_t *ra;
	fc_dcache_t *dc;
	fc_notify_t *notify; /* NULL until the session exists */
	unsigned flags;	     /* FC_FS_* */
	/*
	 * Set by fs_init, which the kernel's INIT request runs before any
	 * other request: the kernel opens files without asking us (see
	 * fc_fs_open), so reads come with no file handle.
	 */
	int no_open;
	uid_t uid;
	gid_t gid;
	int64_t mount_ns;
	uint64_t wait_ms; /* a block wait's safety limit; see fc_fs_read */
	_Atomic uint64_t own_fh; /* handle numbers when nothing is shared */
	_Atomic uint64_t *fh;	 /* the mount's handle counter (shared.h) */
	pthread_mutex_t dirs_lock;
	sl_keymap_t dirs; /* protected by dirs_lock: open directories, by
			   * handle (dir.c) */
	_Atomic int sweep_posted; /* a sweep waits on the notifier (attr.c) */
	_Atomic uint64_t full_until_ms; /* lookups do not wait for room */
	fc_metrics_t *m; /* shared (metrics.h), or NULL: not counted */
	_Atomic uint64_t reads;
	_Atomic uint64_t read_errors;
	_Atomic uint64_t read_retries; /* reads tried again after a cure */
	/* The retry thread (read.c): reads that failed with a curable error
	 * wait in its inbox; NULL until fc_fs_reads_start. */
	sl_inbox_t *retry;
	pthread_t retry_thread;
	sl_qlink_t retry_stop; /* posted by fc_fs_reads_stop */
	int retry_stopped;
};

static inline fc_fs_t *fc_fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Dataset ds's name; "" for the mount root (-1).  Borrowed. */
static inline const char *fc_fs_ds_name(const fc_fs_t *fs, int ds)
{
	return ds >= 0 ? fs->cl->datasets[ds].name : "";
}

/* Immutable: metadata cached forever (the root always is). */
static inline int fc_fs_immutable(const fc_fs_t *fs, int ds)
{
	return ds < 0 || fs->cl->datasets[ds].metadata_ttl_ms == 0;
}

/* How long the kernel may keep ds's entries and attributes. */
static inline double fc_fs_timeout_s(const fc_fs_t *fs, int ds)
{
	if (fc_fs_immutable(fs, ds))
		return FC_FOREVER_S;
	return (double)fs->cl->datasets[ds].metadata_ttl_ms / 1000.0;
}

/* ---- attr.c -------------------------------------------------------------- */

/* attr a (borrowed) of inode ino of dataset ds as the kernel sees it. */
void fc_fs_attr_to_stat(const fc_fs_t *fs, int ds, uint64_t ino,
			const fc_attr_t *a, struct stat *st);
/* A lookup's reply for ino with attributes a (borrowed). */
void fc_fs_fill_entry(const fc_fs_t *fs, int ds, uint64_t ino,
		      const fc_attr_t *a, struct fuse_entry_param *e);
/* STAT (ds, path) (borrowed) into *out.  Returns 0 or -errno (the node's
 * answer, or -EIO after every node failed, which is logged here). */
int fc_fs_stat_call(fc_fs_t *fs, int ds, const char *path, fc_attr_t *out);
/* As fc_fs_stat_call, asking the nodes of ring point point first. */
int fc_fs_stat_at(fc_fs_t *fs, int ds, const char *path, uint64_t point,
		  fc_attr_t *out);
/* ip's attributes (borrowed ip): the attribute cache's, or fetched from
 * its node when the cache has none or the dataset's metadata TTL has run
 * out.  Returns 0 or -errno. */
int fc_fs_fresh_attr(fc_fs_t *fs, const fc_inode_t *ip, fc_attr_t *a);

/*
 * The kernel is about to learn name (borrowed) in directory parent, entry
 * path of dataset ds, with attributes a (borrowed): count the lookup in
 * the inode table and keep a.  wait: a full table may be waited on (a
 * lookup) or not (readdirplus, which then leaves the entry out).  Returns
 * 0 with *ino, or -errno (-ENFILE: the table is full, logged here).  Give
 * a lookup back with fc_fs_unlearn(fs, ino, 1).
 */
int fc_fs_learn(fc_fs_t *fs, uint64_t parent, const char *name, int ds,
		const char *path, const fc_attr_t *a, int wait, uint64_t *ino);
/* The kernel dropped n lookups of ino. */
void fc_fs_unlearn(fc_fs_t *fs, uint64_t ino, uint64_t n);
/* Under pressure, have the notifier ask the kernel to forget cold names. */
void fc_fs_relieve(fc_fs_t *fs);

/*
 * What the client learnt of ip (borrowed) outside a lookup, passed on to
 * the caches that hold the old view: fc_fs_changed when its attributes are
 * now a (borrowed; kept), which the kernel's are dropped for before this
 * returns, its pages soon after, and the listing of its directory too;
 * fc_fs_gone when the store no longer has it (the kernel forgets the
 * name soon after).  Both are safe inside any request handler.
 */
void fc_fs_changed(fc_fs_t *fs, const fc_inode_t *ip, const fc_attr_t *a);
void fc_fs_gone(fc_fs_t *fs, const fc_inode_t *ip);

/* A new handle number, never 0 and never issued before on the mount: a
 * file's names one reader (read.c), a directory's one listing (dir.c). */
static inline uint64_t fc_fs_new_handle(fc_fs_t *fs)
{
	return atomic_fetch_add(fs->fh, 1) + 1;
}

/* Free what dir.c keeps of directory handles still open. */
void fc_fs_dirs_fini(fc_fs_t *fs);

void fc_fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fc_fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void fc_fs_forget_multi(fuse_req_t req, size_t count,
			struct fuse_forget_data *forgets);
void fc_fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/* ---- dir.c --------------------------------------------------------------- */

/* List (ds, dir) (borrowed) into the dircache, a few pages at most, for
 * lookups; a failure leaves what came (lookups fall back to STAT). */
void fc_fs_dir_prefill(fc_fs_t *fs, int ds, const char *dir);

void fc_fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fc_fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);
void fc_fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi);
void fc_fs_releasedir(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi);

/* ---- read.c -------------------------------------------------------------- */

void fc_fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fc_fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void fc_fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

/* ---- xattr.c ------------------------------------------------------------- */

void fc_fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    size_t size);
void fc_fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);

/* ---- readonly.c ---------------------------------------------------------- */

void fc_fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fc_fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi);
void fc_fs_statfs(fuse_req_t req, fuse_ino_t ino);
void fc_fs_access(fuse_req_t req, fuse_ino_t ino, int mask);
void fc_fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		   int to_set, struct fuse_file_info *fi);
void fc_fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode, dev_t rdev);
void fc_fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode);
void fc_fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fc_fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		   const char *name);
void fc_fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		  fuse_ino_t newparent, const char *newname,
		  unsigned int flags);
void fc_fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		const char *newname);
void fc_fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		 off_t off, struct fuse_file_info *fi);
void fc_fs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		  mode_t mode, struct fuse_file_info *fi);
void fc_fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    const char *value, size_t size, int flags);
void fc_fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);
void fc_fs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		     off_t length, struct fuse_file_info *fi);

#endif
