/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The FUSE low-level operations (see fs.h): namespace from STAT and LIST,
 * data from READ through the client block cache with sequential prefetch,
 * EROFS for everything that writes.  FUSE threads never touch a socket:
 * metadata calls wait in fc_io_call(); reads wait on their blocks.
 */
#include "fuse/fs.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/blockkey.h"
#include "common/log.h"
#include "common/path.h"
#include "common/util.h"
#include "fuse/blockcache.h"
#include "fuse/dircache.h"
#include "fuse/inode.h"
#include "fuse/readahead.h"
#include "proto/proto.h"

#define FC_MAX_READ	(1u << 20)
#define FOREVER_S	(86400.0 * 365)
#define NEGATIVE_S	60.0
#define LIST_PAGE	512
#define DIRECT_FRACTION 4     /* blocks above capacity/4 bypass the cache */
#define AHEAD_FRACTION	4     /* read-ahead may hold capacity/4 (readahead.c) */
#define AHEAD_AGE_MS	3000  /* an unread prefetch, or a quiet stream */
#define RA_STREAMS	64    /* sequential readers tracked at once */
#define DC_ENTRIES	32768 /* listed names kept for lookups (~4 MiB) */
#define DC_PAGES	8 /* a lookup-driven listing reads this many pages */

struct fc_fs {
	const fc_cluster_t *cl;
	sl_client_conf_t cc;
	fc_io_t *io;
	fc_inode_table_t *inodes;
	fc_blockcache_t *bc;
	fc_ra_t *ra;
	fc_dcache_t *dc;
	unsigned flags; /* FC_FS_* */
	/*
	 * Set by fs_init, which the kernel's INIT request runs before any
	 * other request: the kernel opens files without asking us (see
	 * fs_open), so reads come with no file handle.
	 */
	int no_open;
	uid_t uid;
	gid_t gid;
	int64_t mount_ns;
	uint64_t wait_ms; /* a block wait's safety limit; see fs_read */
	_Atomic uint64_t reads;
	_Atomic uint64_t read_errors;
};

/*
 * What a read needs of a file, fixed for the read: copied at open into the
 * handle (fi->fh), or, when the kernel opens files without us, taken from
 * the inode at each read.  Immutable once made, so no lock.  Sequential
 * read-ahead state lives in fs->ra, per stream.
 */
struct fc_file {
	int ds;
	const char *path; /* path_own, or the inode's (borrowed) */
	char *path_own;	  /* a handle's own copy, else NULL */
	char version[PR_MAX_VERSION + 1];
	uint64_t size;
	uint32_t bs;
	int direct; /* blocks too large for the cache: range reads */
};

/* An open directory: one page of its listing at a time. */
struct fc_dir {
	uint64_t ino;
	int ds; /* -1: the mount root, listing datasets */
	char *path;
	pthread_mutex_t lock;
	int have;	      /* protected by d->lock: page is valid */
	uint64_t base;	      /* protected by d->lock: index of entries[0] */
	pr_list_reply_t page; /* protected by d->lock */
	zmq_msg_t msg;	      /* protected by d->lock: page's bytes */
	char next[PR_MAX_CURSOR + 1]; /* protected by d->lock */
	uint64_t fill; /* protected by d->lock: the dircache generation */
};

static fc_fs_t *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static const char *ds_name(const fc_fs_t *fs, int ds)
{
	return ds >= 0 ? fs->cl->datasets[ds].name : "";
}

static int immutable(const fc_fs_t *fs, int ds)
{
	return ds < 0 || fs->cl->datasets[ds].metadata_ttl_ms == 0;
}

static double timeout_s(const fc_fs_t *fs, int ds)
{
	if (immutable(fs, ds))
		return FOREVER_S;
	return (double)fs->cl->datasets[ds].metadata_ttl_ms / 1000.0;
}

/* The number readdir shows before a lookup: the hash, skipping 0 and 1 as
 * the collision rule does. */
static uint64_t preferred_ino(const fc_fs_t *fs, int ds, const char *path)
{
	uint64_t h = fc_inode_hash(ds_name(fs, ds), path);

	return h <= FC_INO_ROOT ? FC_INO_ROOT + 1 : h;
}

static void attr_to_stat(const fc_fs_t *fs, int ds, uint64_t ino,
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

/* ---- metadata calls ------------------------------------------------------ */

static void attr_from_wire(fc_attr_t *a, const pr_stat_t *st)
{
	memset(a, 0, sizeof(*a));
	a->type = st->type;
	a->mode = st->mode & 07777;
	a->size = st->size;
	a->mtime_ns = st->mtime_ns;
	if (pr_str_copy(a->version, sizeof(a->version), st->version) < 0)
		a->version[0] = '\0'; /* cannot happen: the decoder checks */
	a->fetched_ms = sl_now_ms();
}

/* STAT (ds, path) into *out.  Returns 0 or -errno (the node's answer, or
 * -EIO after every node failed, which is logged here with the reasons). */
static int stat_call(fc_fs_t *fs, int ds, const char *path, fc_attr_t *out)
{
	const char *dsn = ds_name(fs, ds);
	pr_target_t t = {.dataset = pr_str(dsn), .path = pr_str(path)};
	pr_buf_t b;
	pr_stat_t st;
	zmq_msg_t reply;
	void *body;
	size_t len;
	char why[512];
	int rc;

	pr_buf_init(&b);
	rc = pr_target_encode(&b, &t);
	if (rc < 0) {
		pr_buf_fini(&b);
		return rc;
	}
	body = pr_buf_release(&b, &len);
	zmq_msg_init(&reply);
	rc = fc_io_call(fs->io, PR_OP_STAT, sl_metakey_make(dsn, path).lo, body,
			len, &reply, why, sizeof(why));
	if (rc == -EIO)
		sl_err("stat %s/%s: every cache node failed: %s", dsn, path,
		       why);
	if (rc < 0)
		goto out;
	rc = pr_stat_decode(&st, zmq_msg_data(&reply), zmq_msg_size(&reply));
	if (rc < 0 || (st.type != PR_TYPE_FILE && st.type != PR_TYPE_DIR)) {
		sl_log_ratelimited(SL_LOG_ERR, "stat %s/%s: bad reply: %s", dsn,
				   path, strerror(rc < 0 ? -rc : EBADMSG));
		rc = -EIO;
		goto out;
	}
	attr_from_wire(out, &st);
out:
	zmq_msg_close(&reply);
	return rc;
}

/* ip's attributes, refreshed from its node when the dataset's metadata TTL
 * has run out.  Returns 0 or -errno. */
static int fresh_attr(fc_fs_t *fs, fc_inode_t *ip, fc_attr_t *a)
{
	uint64_t ttl;
	int rc;

	if (ip->dataset < 0) {
		root_attr(fs, a);
		return 0;
	}
	fc_inode_attr(fs->inodes, ip, a);
	ttl = fs->cl->datasets[ip->dataset].metadata_ttl_ms;
	if (ttl == 0 || sl_now_ms() - a->fetched_ms < ttl)
		return 0;
	rc = stat_call(fs, ip->dataset, ip->path, a);
	if (rc == 0)
		fc_inode_set_attr(fs->inodes, ip, a);
	return rc;
}

static void fill_entry(const fc_fs_t *fs, int ds, uint64_t ino,
		       const fc_attr_t *a, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->generation = 0;
	attr_to_stat(fs, ds, ino, a, &e->attr);
	e->attr_timeout = timeout_s(fs, ds);
	e->entry_timeout = timeout_s(fs, ds);
}

/*
 * LIST one page of (ds, path) from cursor (both borrowed).  On 0, *page is
 * decoded over the bytes of *reply (which the caller zmq_msg_init()ed): the
 * caller frees both, with pr_list_reply_free and zmq_msg_close.  Returns 0
 * or -errno (-EIO after every node failed, logged here).
 */
static int list_call(fc_fs_t *fs, int ds, const char *path, const char *cursor,
		     pr_list_reply_t *page, zmq_msg_t *reply)
{
	const char *dsn = ds_name(fs, ds);
	pr_list_req_t lr = {
		.dataset = pr_str(dsn),
		.path = pr_str(path),
		.cursor = pr_str(cursor),
		.max_entries = LIST_PAGE,
	};
	pr_buf_t b;
	void *body;
	size_t len;
	char why[512];
	int rc;

	pr_buf_init(&b);
	rc = pr_list_req_encode(&b, &lr);
	if (rc < 0) {
		pr_buf_fini(&b);
		return rc;
	}
	body = pr_buf_release(&b, &len);
	rc = fc_io_call(fs->io, PR_OP_LIST, sl_metakey_make(dsn, path).lo, body,
			len, reply, why, sizeof(why));
	if (rc == -EIO)
		sl_err("list %s/%s: every cache node failed: %s", dsn, path,
		       why);
	if (rc < 0)
		return rc;
	rc = pr_list_reply_decode(page, zmq_msg_data(reply),
				  zmq_msg_size(reply));
	if (rc < 0) {
		sl_log_ratelimited(SL_LOG_ERR, "list %s/%s: bad reply: %s", dsn,
				   path, strerror(-rc));
		return -EIO;
	}
	return 0;
}

/* A listing entry's name (into name[PR_MAX_NAME + 1]) and attributes, or
 * -EBADMSG for an entry that cannot be a name here. */
static int dirent_take(const pr_dirent_t *de, char *name, fc_attr_t *a)
{
	if (pr_str_copy(name, PR_MAX_NAME + 1, de->name) < 0 ||
	    sl_name_check(name, strlen(name)) < 0 ||
	    strlen(name) != de->name.len ||
	    (de->st.type != PR_TYPE_FILE && de->st.type != PR_TYPE_DIR))
		return -EBADMSG;
	attr_from_wire(a, &de->st);
	return 0;
}

/* Hand page (borrowed) to the dircache as part of listing gen of (ds, dir);
 * its last page ends the listing, whole. */
static void dir_feed(fc_fs_t *fs, int ds, const char *dir, uint64_t gen,
		     const pr_list_reply_t *page)
{
	char name[PR_MAX_NAME + 1];
	fc_attr_t a;

	for (uint32_t i = 0; i < page->n_entries; i++)
		if (dirent_take(&page->entries[i], name, &a) == 0)
			fc_dcache_fill_add(fs->dc, ds, dir, gen, name, &a);
	if (page->next_cursor.len == 0)
		fc_dcache_fill_end(fs->dc, ds, dir, gen, 1);
}

/* List (ds, dir) into the dircache, up to DC_PAGES pages; a failure
 * leaves what came (lookups fall back to STAT). */
static void dir_prefill(fc_fs_t *fs, int ds, const char *dir)
{
	char cursor[PR_MAX_CURSOR + 1] = "";
	uint64_t gen = fc_dcache_fill_begin(fs->dc, ds, dir, sl_now_ms());

	for (int i = 0; i < DC_PAGES; i++) {
		pr_list_reply_t page;
		zmq_msg_t reply;
		int rc, last = 1;

		zmq_msg_init(&reply);
		rc = list_call(fs, ds, dir, cursor, &page, &reply);
		if (rc == 0) {
			dir_feed(fs, ds, dir, gen, &page);
			last = page.next_cursor.len == 0 ||
			       pr_str_copy(cursor, sizeof(cursor),
					   page.next_cursor) < 0;
			pr_list_reply_free(&page);
		}
		zmq_msg_close(&reply);
		if (rc < 0 || last)
			break;
	}
}

/*
 * name in directory dir of dataset ds from what LIST said, without a
 * round trip: 1 with *a, 0 when the directory has no such name, -EAGAIN
 * when the dircache cannot tell (then STAT it).  The second lookup that
 * misses in a directory nobody listed lists it (DC_PAGES pages at most):
 * a reader opening files by path from an index then pays one LIST per
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
		dir_prefill(fs, ds, dir);
		rc = fc_dcache_lookup(fs->dc, ds, dir, name, sl_now_ms(), ttl,
				      a, &fill);
	}
	return rc;
}

/* ---- lookup, forget, getattr --------------------------------------------- */

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fc_fs_t *fs = fs_of(req);
	size_t nl = strlen(name);
	fc_inode_t *p = NULL;
	char path[SL_PATH_MAX + 1];
	struct fuse_entry_param e;
	fc_attr_t a;
	uint64_t ino;
	int ds, rc;

	rc = sl_name_check(name, nl);
	if (rc < 0)
		goto out;
	p = fc_inode_get(fs->inodes, parent);
	if (!p) {
		rc = -ESTALE;
		goto out;
	}
	if (p->dataset < 0) {
		ds = fc_cluster_dataset(fs->cl, name, nl);
		if (ds < 0) {
			rc = -ENOENT;
			goto out;
		}
		path[0] = '\0';
	} else {
		ds = p->dataset;
		rc = sl_path_join(path, sizeof(path), p->path, name);
		if (rc < 0)
			goto out;
	}
	rc = p->dataset < 0 ? -EAGAIN
			    : lookup_listed(fs, ds, p->path, name, &a);
	if (rc == -EAGAIN)
		rc = stat_call(fs, ds, path, &a);
	else if (rc == 0)
		rc = -ENOENT;
	else
		rc = 0;
	if (rc < 0)
		goto out;
	ino = fc_inode_lookup(fs->inodes, ds, ds_name(fs, ds), path, &a);
	fill_entry(fs, ds, ino, &a, &e);
	if (fuse_reply_entry(req, &e) != 0)
		fc_inode_forget(fs->inodes, ino, 1);
out:
	if (rc == -EINVAL)
		rc = -ENOENT; /* not a name the store can hold */
	if (rc == -ENOENT && p) {
		/* A negative entry: the kernel remembers the miss. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = immutable(fs, p->dataset)
					  ? NEGATIVE_S
					  : timeout_s(fs, p->dataset);
		fuse_reply_entry(req, &e);
	} else if (rc < 0) {
		fuse_reply_err(req, -rc);
	}
	fc_inode_put(fs->inodes, p);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	fc_inode_forget(fs_of(req)->inodes, ino, nlookup);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	fc_fs_t *fs = fs_of(req);

	for (size_t i = 0; i < count; i++)
		fc_inode_forget(fs->inodes, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	fc_fs_t *fs = fs_of(req);
	fc_inode_t *ip = fc_inode_get(fs->inodes, ino);
	struct stat st;
	fc_attr_t a;
	int rc;

	(void)fi;
	if (!ip) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	rc = fresh_attr(fs, ip, &a);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
	} else {
		attr_to_stat(fs, ip->dataset, ino, &a, &st);
		fuse_reply_attr(req, &st, timeout_s(fs, ip->dataset));
	}
	fc_inode_put(fs->inodes, ip);
}

/* ---- open, read, release ------------------------------------------------- */

/* Fill f for ip (borrowed; f->path borrows ip->path) from attributes a. */
static void file_init(const fc_fs_t *fs, struct fc_file *f,
		      const fc_inode_t *ip, const fc_attr_t *a)
{
	f->ds = ip->dataset;
	f->path = ip->path;
	f->path_own = NULL;
	memcpy(f->version, a->version, sizeof(f->version));
	f->size = a->size;
	f->bs = fs->cl->datasets[ip->dataset].block_size;
	f->direct = (uint64_t)f->bs > fs->cc.block_cache / DIRECT_FRACTION;
}

/*
 * With no_open (see fs_init) the first OPEN answers ENOSYS, which the
 * kernel takes as "success, and never ask again": opens and closes then
 * cost no FUSE request at all, two of the three or four a small file's
 * read takes otherwise.  The kernel then keeps the file's pages as
 * keep_cache would, which is right only because every dataset is
 * immutable, and refuses writable opens itself only because the mount is
 * read-only: fs_init checks both.
 */
static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fc_fs_t *fs = fs_of(req);
	fc_inode_t *ip;
	struct fc_file *f;
	fc_attr_t a;
	int rc;

	if (fs->no_open) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	ip = fc_inode_get(fs->inodes, ino);
	if (!ip) {
		rc = -ESTALE;
		goto out;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		rc = -EROFS;
		goto out;
	}
	rc = fresh_attr(fs, ip, &a);
	if (rc < 0)
		goto out;
	if (a.type == PR_TYPE_DIR) {
		rc = -EISDIR;
		goto out;
	}
	f = sl_xcalloc(1, sizeof(*f));
	file_init(fs, f, ip, &a);
	f->path_own = sl_xstrdup(ip->path);
	f->path = f->path_own;
	fi->fh = (uintptr_t)f;
	fi->keep_cache = immutable(fs, ip->dataset);
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) != 0) {
		free(f->path_own);
		free(f);
	}
out:
	if (rc < 0)
		fuse_reply_err(req, -rc);
	fc_inode_put(fs->inodes, ip);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fc_file *f = (struct fc_file *)(uintptr_t)fi->fh;

	(void)ino;
	if (f) {
		free(f->path_own);
		free(f);
	}
	fuse_reply_err(req, 0);
}

/* A block fetch in flight: completes a block of the cache from the I/O
 * thread. */
struct fetch {
	fc_fs_t *fs;
	fc_block_t *b; /* a reference of the fetch's own */
	size_t want;
	uint64_t block;
	int ds;
	char path[]; /* for messages */
};

static void free_msg(void *data, void *hint)
{
	(void)data;
	zmq_msg_close(hint);
	free(hint);
}

static void fetch_done(void *arg, const fc_io_result_t *res)
{
	struct fetch *ft = arg;
	fc_fs_t *fs = ft->fs;
	zmq_msg_t *m;
	size_t len;

	if (res->status == 0) {
		len = zmq_msg_size(res->body);
		if (len > ft->want) {
			sl_log_ratelimited(SL_LOG_ERR,
					   "read %s/%s block %llu: node %s "
					   "sent %zu bytes for %zu",
					   ds_name(fs, ft->ds), ft->path,
					   (unsigned long long)ft->block,
					   res->node, len, ft->want);
			fc_block_fail(fs->bc, ft->b, -EIO);
		} else {
			/* Keep the message: the block points into it. */
			m = sl_xmalloc(sizeof(*m));
			zmq_msg_init(m);
			zmq_msg_move(m, res->body);
			fc_block_fill(fs->bc, ft->b, zmq_msg_data(m), len,
				      free_msg, m);
		}
	} else {
		if (res->status == -EIO)
			sl_err("read %s/%s block %llu: all nodes failed: %s",
			       ds_name(fs, ft->ds), ft->path,
			       (unsigned long long)ft->block, res->why);
		fc_block_fail(fs->bc, ft->b, res->status);
	}
	fc_block_put(fs->bc, ft->b);
	free(ft);
}

/* Build the request that fetches block bi of f (or bytes [off, off+len) of
 * it) into b.  opcode READ completes b; PREFETCH is a bare hint (b NULL).
 * Returns 0 or -errno (then b is failed by the caller). */
static int make_fetch(fc_fs_t *fs, const struct fc_file *f, uint64_t bi,
		      uint32_t off, uint32_t len, uint8_t opcode, fc_block_t *b,
		      sl_blockkey_t key, fc_io_req_t *out)
{
	const char *dsn = ds_name(fs, f->ds);
	pr_read_req_t rr = {
		.dataset = pr_str(dsn),
		.path = pr_str(f->path),
		.version = pr_str(f->version),
		.block = bi,
		.offset = off,
		.length = len,
	};
	size_t pl = strlen(f->path);
	struct fetch *ft;
	pr_buf_t pb;
	int rc;

	pr_buf_init(&pb);
	rc = pr_read_req_encode(&pb, &rr);
	if (rc < 0) {
		pr_buf_fini(&pb);
		return rc;
	}
	memset(out, 0, sizeof(*out));
	out->opcode = opcode;
	out->point = key.lo;
	out->body = pr_buf_release(&pb, &out->len);
	if (!b)
		return 0;
	ft = sl_xmalloc(sizeof(*ft) + pl + 1);
	ft->fs = fs;
	ft->b = fc_block_ref(fs->bc, b);
	ft->want = len;
	ft->block = bi;
	ft->ds = f->ds;
	memcpy(ft->path, f->path, pl + 1);
	out->done = fetch_done;
	out->arg = ft;
	return 0;
}

static size_t block_len(const struct fc_file *f, uint64_t bi)
{
	uint64_t start = bi * f->bs;

	return (size_t)SL_MIN((uint64_t)f->bs, f->size - start);
}

/*
 * Sequential prefetch: readahead.c plans which blocks to fetch ahead of
 * this stream (its essay says why the depth is a share of one budget) and
 * which to hint to the nodes; here the fetches are made.  A block the
 * cache refuses (the budget is spent) ends the fetch window, and the
 * stream asks again from there on its next read.  Returns the requests
 * added to reqs (at most max); *seq says whether the read was sequential.
 */
static size_t plan_prefetch(fc_fs_t *fs, const struct fc_file *f, uint64_t ino,
			    uint64_t owner, uint64_t first, uint64_t last,
			    fc_io_req_t *reqs, size_t max, int *seq)
{
	uint64_t nblocks = (f->size + f->bs - 1) / f->bs, now = sl_now_ms();
	uint64_t bi, fetch_next;
	fc_ra_plan_t p;
	size_t n = 0;

	fc_ra_read(fs->ra, ino, owner, first, last, nblocks, f->bs, now, &p);
	*seq = p.seq;
	for (bi = p.fetch_from; bi < p.fetch_end && n < max; bi++) {
		sl_blockkey_t key = sl_blockkey_make(ds_name(fs, f->ds),
						     f->path, f->version, bi);
		size_t bl = block_len(f, bi);
		fc_block_t *b;
		int rc = fc_blockcache_prefetch(fs->bc, key, bl, now, &b);

		if (rc < 0)
			break; /* the read-ahead budget is spent */
		if (rc == 0)
			continue; /* here or on its way already */
		if (make_fetch(fs, f, bi, 0, (uint32_t)bl, PR_OP_READ, b, key,
			       &reqs[n]) == 0)
			n++;
		else
			fc_block_fail(fs->bc, b, -EIO);
		fc_block_put(fs->bc, b);
	}
	fetch_next = bi;
	for (bi = p.hint_from; bi < p.hint_end && n < max; bi++) {
		sl_blockkey_t key = sl_blockkey_make(ds_name(fs, f->ds),
						     f->path, f->version, bi);

		if (make_fetch(fs, f, bi, 0, (uint32_t)block_len(f, bi),
			       PR_OP_PREFETCH, NULL, key, &reqs[n]) == 0)
			n++;
	}
	fc_ra_issued(fs->ra, ino, owner, fetch_next, bi);
	return n;
}

/* The file a read is on: its handle's, or, when the kernel opens files
 * without us, one made in *tmp from the inode, which *ipp then holds (the
 * caller puts it after the read).  Returns 0 or -errno. */
static int read_file_of(fc_fs_t *fs, fuse_ino_t ino, struct fuse_file_info *fi,
			struct fc_file *tmp, struct fc_file **fp,
			fc_inode_t **ipp)
{
	fc_inode_t *ip;
	fc_attr_t a;

	*ipp = NULL;
	*fp = (struct fc_file *)(uintptr_t)fi->fh;
	if (*fp)
		return 0;
	ip = fc_inode_get(fs->inodes, ino);
	if (!ip)
		return -ESTALE;
	*ipp = ip;
	if (ip->dataset < 0)
		return -EISDIR;
	fc_inode_attr(fs->inodes, ip, &a);
	if (a.type != PR_TYPE_FILE)
		return -EISDIR;
	file_init(fs, tmp, ip, &a);
	*fp = tmp;
	return 0;
}

/*
 * A read: map [off, off+size) to blocks, take each from the block cache or
 * start its fetch, send every new fetch (and the prefetch window) to the
 * I/O thread in one batch, wait for the blocks, and reply with an iovec
 * over the blocks' own memory.  The I/O thread completes every fetch within
 * (candidates x request_timeout), so the wait's limit is only a safety net.
 * A sequential reader's blocks that this read finished go to the cold end
 * of the cache: the kernel's page cache now holds those bytes, and the
 * blocks ahead of the reader are the ones worth keeping.
 */
static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off_,
		    struct fuse_file_info *fi)
{
	fc_fs_t *fs = fs_of(req);
	struct fc_file tmp, *f = NULL;
	fc_inode_t *ip = NULL;
	uint64_t off = (uint64_t)off_, end = 0, first, last, n = 0, bi, owner;
	fc_block_t **blocks = NULL;
	fc_io_req_t *reqs = NULL;
	struct iovec *iov = NULL;
	size_t nreq = 0, niov = 0, max_req;
	int rc = 0, created, seq = 0;

	atomic_fetch_add(&fs->reads, 1);
	if (off_ < 0) {
		rc = -EINVAL;
		goto out;
	}
	rc = read_file_of(fs, ino, fi, &tmp, &f, &ip);
	if (rc < 0)
		goto out;
	if (off >= f->size || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		goto out;
	}
	/* A stream is one reader of one file: its handle, else its thread
	 * (the kernel sends readahead from the reading thread). */
	owner = fi->fh ? fi->fh : (uint64_t)fuse_req_ctx(req)->pid;
	end = SL_MIN(off + size, f->size);
	first = off / f->bs;
	last = (end - 1) / f->bs;
	n = last - first + 1;
	/* This read's blocks, the fetch window and the hints (readahead.h). */
	max_req = n + fs->cc.prefetch_depth +
		  2 * SL_MAX((size_t)fs->cc.prefetch_depth, (size_t)n);
	blocks = sl_xcalloc(n, sizeof(*blocks));
	reqs = sl_xcalloc(max_req, sizeof(*reqs));
	iov = sl_xcalloc(n, sizeof(*iov));

	for (bi = first; bi <= last; bi++) {
		uint64_t bstart = bi * f->bs;
		sl_blockkey_t key = sl_blockkey_make(ds_name(fs, f->ds),
						     f->path, f->version, bi);
		uint32_t lo = 0, len = (uint32_t)block_len(f, bi);
		fc_block_t *b;

		if (f->direct) {
			lo = (uint32_t)(SL_MAX(off, bstart) - bstart);
			len = (uint32_t)(SL_MIN(end, bstart + f->bs) - bstart) -
			      lo;
			b = fc_block_new_private(fs->bc, len);
			created = 1;
		} else {
			b = fc_blockcache_acquire(fs->bc, key, len, &created);
		}
		blocks[bi - first] = b;
		if (!created)
			continue;
		rc = make_fetch(fs, f, bi, lo, len, PR_OP_READ, b, key,
				&reqs[nreq]);
		if (rc < 0) {
			fc_block_fail(fs->bc, b, rc);
			continue;
		}
		nreq++;
	}
	if (!f->direct)
		nreq += plan_prefetch(fs, f, ino, owner, first, last,
				      reqs + nreq, max_req - nreq, &seq);
	fc_io_submit(fs->io, reqs, nreq);

	for (bi = first; bi <= last; bi++) {
		fc_block_t *b = blocks[bi - first];
		uint64_t bstart = bi * f->bs;
		size_t lo, hi, have;

		rc = fc_block_wait(fs->bc, b, fs->wait_ms);
		if (rc == -ETIMEDOUT) {
			sl_err("read %s/%s block %llu: nothing after %llu ms",
			       ds_name(fs, f->ds), f->path,
			       (unsigned long long)bi,
			       (unsigned long long)fs->wait_ms);
			rc = -EIO;
		}
		if (rc < 0)
			goto out;
		have = fc_block_len(b);
		if (f->direct) {
			lo = 0;
			hi = have;
		} else {
			lo = (size_t)(SL_MAX(off, bstart) - bstart);
			hi = (size_t)(SL_MIN(end, bstart + f->bs) - bstart);
		}
		if (lo >= have)
			break; /* the block is shorter than the file said */
		iov[niov].iov_base = (char *)fc_block_data(b) + lo;
		iov[niov].iov_len = SL_MIN(hi, have) - lo;
		niov++;
		if (have < hi)
			break;
	}
	rc = 0;
	if (niov)
		fuse_reply_iov(req, iov, (int)niov);
	else
		fuse_reply_buf(req, NULL, 0);
	/* The reply copied the bytes out: blocks read to their end are
	 * done with, for a sequential reader. */
	for (bi = first; seq && bi <= last; bi++)
		if (bi * f->bs + block_len(f, bi) <= end)
			fc_block_consumed(fs->bc, blocks[bi - first]);
out:
	if (rc < 0) {
		atomic_fetch_add(&fs->read_errors, 1);
		fuse_reply_err(req, -rc);
	}
	for (uint64_t i = 0; blocks && i < n; i++)
		fc_block_put(fs->bc, blocks[i]);
	free(blocks);
	free(reqs);
	free(iov);
	fc_inode_put(fs->inodes, ip);
}

/*
 * Nothing is written, so a close has nothing to flush.  ENOSYS tells the
 * kernel so once and for all (it then closes without asking us); noflush
 * says the same per handle, but files the kernel opens without us (see
 * fs_open) have no handle to say it with.
 */
static void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, ENOSYS);
}

static void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	(void)ino;
	(void)datasync;
	(void)fi;
	fuse_reply_err(req, 0);
}

/* ---- directories --------------------------------------------------------- */

static void dir_free(struct fc_dir *d)
{
	if (d->have)
		pr_list_reply_free(&d->page);
	zmq_msg_close(&d->msg);
	pthread_mutex_destroy(&d->lock);
	free(d->path);
	free(d);
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	fc_fs_t *fs = fs_of(req);
	fc_inode_t *ip = fc_inode_get(fs->inodes, ino);
	struct fc_dir *d;
	fc_attr_t a;
	int rc;

	if (!ip) {
		rc = -ESTALE;
		goto out;
	}
	rc = fresh_attr(fs, ip, &a);
	if (rc < 0)
		goto out;
	if (a.type != PR_TYPE_DIR) {
		rc = -ENOTDIR;
		goto out;
	}
	d = sl_xcalloc(1, sizeof(*d));
	d->ino = ino;
	d->ds = ip->dataset;
	d->path = sl_xstrdup(ip->path);
	pthread_mutex_init(&d->lock, NULL);
	zmq_msg_init(&d->msg);
	fi->fh = (uintptr_t)d;
	fi->cache_readdir = immutable(fs, ip->dataset);
	fi->keep_cache = immutable(fs, ip->dataset);
	if (fuse_reply_open(req, fi) != 0)
		dir_free(d);
out:
	if (rc < 0)
		fuse_reply_err(req, -rc);
	fc_inode_put(fs->inodes, ip);
}

static void fs_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	(void)ino;
	if (fi->fh)
		dir_free((struct fc_dir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* Replace d's page with the one LIST returns for cursor (borrowed; may
 * point into the old page, so it is copied first), and hand it to the
 * dircache: a listing read from its start is one generation there. */
static int dir_fetch_locked(fc_fs_t *fs, struct fc_dir *d, const char *cursor)
{
	char cur[PR_MAX_CURSOR + 1];
	pr_list_reply_t page;
	zmq_msg_t reply;
	int rc;

	sl_strlcpy(cur, cursor, sizeof(cur));
	zmq_msg_init(&reply);
	rc = list_call(fs, d->ds, d->path, cur, &page, &reply);
	if (rc < 0) {
		zmq_msg_close(&reply);
		return rc;
	}
	if (!cur[0])
		d->fill = fc_dcache_fill_begin(fs->dc, d->ds, d->path,
					       sl_now_ms());
	dir_feed(fs, d->ds, d->path, d->fill, &page);
	if (d->have)
		pr_list_reply_free(&d->page);
	zmq_msg_close(&d->msg);
	zmq_msg_init(&d->msg);
	zmq_msg_move(&d->msg, &reply);
	d->page = page;
	d->have = 1;
	if (pr_str_copy(d->next, sizeof(d->next), page.next_cursor) < 0)
		d->next[0] = '\0';
	return 0;
}

/* Position d's page on listing index k.  Returns 1 when entry k is in the
 * page, 0 at the end of the listing, or -errno.  Pages are fetched as the
 * offset advances; seeking backwards starts again from the first page. */
static int dir_seek_locked(fc_fs_t *fs, struct fc_dir *d, uint64_t k)
{
	int rc;

	if (!d->have || k < d->base) {
		rc = dir_fetch_locked(fs, d, "");
		if (rc < 0)
			return rc;
		d->base = 0;
	}
	while (k >= d->base + d->page.n_entries) {
		uint64_t n = d->page.n_entries;

		if (!d->next[0])
			return 0;
		rc = dir_fetch_locked(fs, d, d->next);
		if (rc < 0)
			return rc;
		d->base += n;
	}
	return 1;
}

/* One listing entry: name and attributes. */
struct dent {
	char name[PR_MAX_NAME + 1];
	fc_attr_t a;
	int have_attr;
};

/* Entry k of d (k counts from 0 after "." and ".."), or 0 at the end. */
static int dir_entry_locked(fc_fs_t *fs, struct fc_dir *d, uint64_t k, int plus,
			    struct dent *out)
{
	const pr_dirent_t *de;
	int rc;

	out->have_attr = 0;
	if (d->ds < 0) {
		if (k >= fs->cl->n_datasets)
			return 0;
		sl_strlcpy(out->name, fs->cl->datasets[k].name,
			   sizeof(out->name));
		if (plus && stat_call(fs, (int)k, "", &out->a) == 0)
			out->have_attr = 1;
		else
			out->a.type = PR_TYPE_DIR;
		return 1;
	}
	rc = dir_seek_locked(fs, d, k);
	if (rc <= 0)
		return rc;
	de = &d->page.entries[k - d->base];
	if (dirent_take(de, out->name, &out->a) < 0) {
		sl_log_ratelimited(SL_LOG_WARNING,
				   "list %s/%s: skipping a bad entry",
				   ds_name(fs, d->ds), d->path);
		out->name[0] = '\0';
		return 1;
	}
	out->have_attr = 1;
	return 1;
}

/*
 * readdir and readdirplus.  Offsets: 0 is the start, "." is followed by 1,
 * ".." by 2, and listing entry k by k + 3, so an offset always names the
 * next entry and the page holding it can be found again (by walking LIST
 * from the start) even after the directory handle's page moved on.
 */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, int plus)
{
	fc_fs_t *fs = fs_of(req);
	struct fc_dir *d = (struct fc_dir *)(uintptr_t)fi->fh;
	char *buf = sl_xmalloc(size ? size : 1);
	char path[SL_PATH_MAX + 1];
	size_t used = 0, need;
	uint64_t pos = off < 0 ? 0 : (uint64_t)off;
	struct dent de;
	int rc = 0;

	(void)ino;
	pthread_mutex_lock(&d->lock);
	for (;; pos++) {
		struct fuse_entry_param e;
		uint64_t child = 0;
		const char *name;

		memset(&e, 0, sizeof(e));
		if (pos < 2) {
			name = pos == 0 ? "." : "..";
			e.attr.st_ino =
				pos == 0 || d->ds < 0 ? d->ino : FC_INO_ROOT;
			e.attr.st_mode = S_IFDIR;
		} else {
			rc = dir_entry_locked(fs, d, pos - 2, plus, &de);
			if (rc <= 0)
				break;
			rc = 0;
			if (!de.name[0])
				continue;
			name = de.name;
			if (d->ds < 0) {
				path[0] = '\0';
			} else if (sl_path_join(path, sizeof(path), d->path,
						name) < 0) {
				continue;
			}
			e.attr.st_mode =
				de.a.type == PR_TYPE_DIR ? S_IFDIR : S_IFREG;
			e.attr.st_ino = preferred_ino(
				fs, d->ds < 0 ? (int)(pos - 2) : d->ds, path);
		}
		if (plus)
			need = fuse_add_direntry_plus(req, NULL, 0, name, NULL,
						      0);
		else
			need = fuse_add_direntry(req, NULL, 0, name, NULL, 0);
		if (used + need > size)
			break;
		if (plus && pos >= 2 && de.have_attr) {
			int ds = d->ds < 0 ? (int)(pos - 2) : d->ds;

			child = fc_inode_lookup(fs->inodes, ds, ds_name(fs, ds),
						path, &de.a);
			fill_entry(fs, ds, child, &de.a, &e);
		}
		if (plus)
			fuse_add_direntry_plus(req, buf + used, size - used,
					       name, &e, (off_t)(pos + 1));
		else
			fuse_add_direntry(req, buf + used, size - used, name,
					  &e.attr, (off_t)(pos + 1));
		used += need;
	}
	pthread_mutex_unlock(&d->lock);
	if (rc < 0 && used == 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 0);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 1);
}

/* ---- the rest ------------------------------------------------------------ */

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_namemax = SL_COMPONENT_MAX;
	sv.f_flag = ST_RDONLY | ST_NOSUID | ST_NODEV;
	fuse_reply_statfs(req, &sv);
}

static void fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	(void)ino;
	(void)name;
	(void)size;
	/* The store keeps no extended attributes: none exists. */
	fuse_reply_err(req, ENODATA);
}

static void fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	(void)ino;
	if (size == 0)
		fuse_reply_xattr(req, 0);
	else
		fuse_reply_buf(req, NULL, 0);
}

static void fs_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	(void)ino;
	fuse_reply_err(req, (mask & W_OK) ? EROFS : 0);
}

/* Everything that would change the tree. */
static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	(void)ino;
	(void)attr;
	(void)to_set;
	(void)fi;
	fuse_reply_err(req, EROFS);
}

static void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)rdev;
	fuse_reply_err(req, EROFS);
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	(void)parent;
	(void)name;
	(void)mode;
	fuse_reply_err(req, EROFS);
}

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent;
	(void)name;
	fuse_reply_err(req, EROFS);
}

static void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	(void)link;
	(void)parent;
	(void)name;
	fuse_reply_err(req, EROFS);
}

static void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	(void)parent;
	(void)name;
	(void)newparent;
	(void)newname;
	(void)flags;
	fuse_reply_err(req, EROFS);
}

static void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	(void)ino;
	(void)newparent;
	(void)newname;
	fuse_reply_err(req, EROFS);
}

static void fs_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	(void)ino;
	(void)buf;
	(void)size;
	(void)off;
	(void)fi;
	fuse_reply_err(req, EROFS);
}

static void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	(void)parent;
	(void)name;
	(void)mode;
	(void)fi;
	fuse_reply_err(req, EROFS);
}

static void fs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	(void)ino;
	(void)name;
	(void)value;
	(void)size;
	(void)flags;
	fuse_reply_err(req, EROFS);
}

static void fs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino;
	(void)name;
	fuse_reply_err(req, EROFS);
}

static void fs_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
			 off_t length, struct fuse_file_info *fi)
{
	(void)ino;
	(void)mode;
	(void)offset;
	(void)length;
	(void)fi;
	fuse_reply_err(req, EROFS);
}

/* Whether the kernel may open files without asking us: see fs_open. */
static int want_no_open(const fc_fs_t *fs, const struct fuse_conn_info *conn)
{
	if (!(conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) ||
	    !(fs->flags & FC_FS_RO_MOUNT))
		return 0;
	for (size_t i = 0; i < fs->cl->n_datasets; i++)
		if (!immutable(fs, (int)i))
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

static const struct fuse_lowlevel_ops fc_ops = {
	.init = fs_init,
	.destroy = fs_destroy,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.mknod = fs_mknod,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_unlink,
	.symlink = fs_symlink,
	.rename = fs_rename,
	.link = fs_link,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.release = fs_release,
	.fsync = fs_fsync,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.releasedir = fs_releasedir,
	.fsyncdir = fs_fsync,
	.statfs = fs_statfs,
	.setxattr = fs_setxattr,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.removexattr = fs_removexattr,
	.access = fs_access,
	.create = fs_create,
	.fallocate = fs_fallocate,
};

const struct fuse_lowlevel_ops *fc_fs_ops(void)
{
	return &fc_ops;
}

fc_fs_t *fc_fs_new(const fc_cluster_t *cl, const sl_client_conf_t *cc,
		   unsigned flags)
{
	fc_fs_t *fs = sl_xcalloc(1, sizeof(*fs));
	size_t tries = SL_MIN(cl->n_nodes, (size_t)16);
	fc_ra_conf_t rc = {
		.max_depth = cc->prefetch_depth,
		.budget = cc->block_cache / AHEAD_FRACTION,
		.slots = RA_STREAMS,
		.idle_ms = AHEAD_AGE_MS,
	};

	fs->cl = cl;
	fs->cc = *cc;
	fs->flags = flags;
	fs->inodes = fc_inode_table_new(NULL);
	fs->bc = fc_blockcache_new(cc->block_cache);
	fc_blockcache_set_ahead(fs->bc, rc.budget, AHEAD_AGE_MS);
	fs->ra = fc_ra_new(&rc);
	fs->dc = fc_dcache_new(DC_ENTRIES);
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

void fc_fs_destroy(fc_fs_t **fsp)
{
	fc_fs_t *fs = fsp ? *fsp : NULL;

	if (!fs)
		return;
	fc_ra_destroy(&fs->ra);
	fc_dcache_destroy(&fs->dc);
	fc_blockcache_destroy(&fs->bc);
	fc_inode_table_destroy(&fs->inodes);
	free(fs);
	*fsp = NULL;
}

void fc_fs_log_stats(fc_fs_t *fs)
{
	fc_blockcache_stats_t st;

	fc_blockcache_stats(fs->bc, &st);
	sl_info("reads %llu (%llu failed); block cache %llu/%llu bytes in "
		"%llu blocks, %llu hits, %llu misses, %llu evictions; "
		"read-ahead %llu used, %llu lost, %llu expired; %zu inodes; "
		"%zu listed names; opens %s",
		(unsigned long long)atomic_load(&fs->reads),
		(unsigned long long)atomic_load(&fs->read_errors),
		(unsigned long long)st.used, (unsigned long long)st.capacity,
		(unsigned long long)st.blocks, (unsigned long long)st.hits,
		(unsigned long long)st.misses, (unsigned long long)st.evictions,
		(unsigned long long)st.ahead_used,
		(unsigned long long)st.ahead_lost,
		(unsigned long long)st.ahead_expired,
		fc_inode_count(fs->inodes), fc_dcache_count(fs->dc),
		fs->no_open ? "in the kernel" : "through us");
}
