/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reads (see fs_i.h): open and release, and read itself -- the read's
 * blocks (readmap.h), each taken from the block cache or fetched with READ,
 * the sequential read-ahead around them, and the reply from the blocks'
 * own memory.  FUSE threads never touch a socket: fetches go to the I/O
 * thread in one batch, and the read waits on its blocks.
 */
#include "fuse/fs_i.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "common/blockkey.h"
#include "common/log.h"
#include "common/util.h"
#include "fuse/readmap.h"
#include "fuse/wire.h"

#define DIRECT_FRACTION 4 /* blocks above capacity/4 bypass the cache */

/*
 * What a read needs of a file, fixed for one read: the inode's dataset and
 * path and the attributes it had when the read began (a recovery replaces
 * them, see read_recover).  File handles carry none of it: every read
 * takes the inode's current attributes, so a change one read discovers is
 * seen by every reader of the file at once, and a handle means nothing
 * but "this reader" (read-ahead's stream) -- which also keeps handles
 * valid for a client process that did not issue them.
 */
struct fc_file {
	int ds;
	const char *path; /* the inode's (borrowed: the reader holds it) */
	char version[PR_MAX_VERSION + 1];
	uint64_t size;
	/* The dataset's layout in the map a read is planned with (set per
	 * read from the map, never kept: see fc_fs_read). */
	uint32_t bs;
	uint32_t layout;
	int direct; /* blocks too large for the cache: range reads */
};

/* Fill f for ip (borrowed; f->path borrows ip->path) from attributes a. */
static void file_init(struct fc_file *f, const fc_inode_t *ip,
		      const fc_attr_t *a)
{
	f->ds = ip->dataset;
	f->path = ip->path;
	memcpy(f->version, a->version, sizeof(f->version));
	f->size = a->size;
}

/* f's blocks as map (borrowed) cuts them. */
static void file_layout(const fc_fs_t *fs, const fc_cluster_t *map,
			struct fc_file *f)
{
	f->bs = map->datasets[f->ds].block_size;
	f->layout = map->datasets[f->ds].layout;
	f->direct = (uint64_t)f->bs > fs->cc.block_cache / DIRECT_FRACTION;
}

/*
 * With no_open (see fs_init in fs.c) the first OPEN answers ENOSYS, which the
 * kernel takes as "success, and never ask again": opens and closes then
 * cost no FUSE request at all, two of the three or four a small file's
 * read takes otherwise.  The kernel then keeps the file's pages as
 * keep_cache would, which is right only because every dataset is
 * immutable, and refuses writable opens itself only because the mount is
 * read-only: fs_init checks both.
 */
void fc_fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fc_fs_t *fs = fc_fs_of(req);
	fc_inode_t ip;
	fc_attr_t a;
	int rc;

	if (fs->no_open) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	rc = fc_inode_get(fs->inodes, ino, &ip);
	if (rc < 0)
		goto out;
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		rc = -EROFS;
		goto out;
	}
	rc = fc_fs_fresh_attr(fs, &ip, &a);
	if (rc < 0)
		goto out;
	if (a.type == PR_TYPE_DIR) {
		rc = -EISDIR;
		goto out;
	}
	fi->fh = fc_fs_new_handle(fs);
	fi->keep_cache = fc_fs_immutable(fs, ip.dataset);
	fi->noflush = 1;
	fuse_reply_open(req, fi);
out:
	if (rc < 0)
		fuse_reply_err(req, -rc);
}

void fc_fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
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
					   fc_fs_ds_name(fs, ft->ds), ft->path,
					   (unsigned long long)ft->block,
					   res->node, len, ft->want);
			fc_block_fail(fs->bc, ft->b, -EIO);
		} else {
			/* A reply that names no tier (none should) is
			 * counted as the backend's: never a hit it was not. */
			fc_block_set_origin(ft->b, res->tier ? res->tier
							     : FC_TIER_BACKEND);
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
			       fc_fs_ds_name(fs, ft->ds), ft->path,
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
	size_t pl = strlen(f->path);
	struct fetch *ft;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = fc_wire_read_req(fc_fs_ds_name(fs, f->ds), f->layout, f->path,
			      f->version, bi, off, len, &out->body, &out->len);
	if (rc < 0)
		return rc;
	out->opcode = opcode;
	out->point = key.lo;
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

static uint32_t block_len(const struct fc_file *f, uint64_t bi)
{
	return fc_readmap_block_len(f->size, f->bs, bi);
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
	uint64_t nblocks = fc_readmap_blocks(f->size, f->bs), now = sl_now_ms();
	uint64_t bi, fetch_next;
	fc_ra_plan_t p;
	size_t n = 0;

	fc_ra_read(fs->ra, ino, owner, first, last, nblocks, f->bs, now, &p);
	*seq = p.seq;
	for (bi = p.fetch_from; bi < p.fetch_end && n < max; bi++) {
		sl_blockkey_t key =
			sl_blockkey_make(fc_fs_ds_name(fs, f->ds), f->layout,
					 f->path, f->version, bi);
		uint32_t bl = block_len(f, bi);
		fc_block_t *b;
		int rc = fc_blockcache_prefetch(fs->bc, key, bl, now, &b);

		if (rc < 0)
			break; /* the read-ahead budget is spent */
		if (rc == 0)
			continue; /* here or on its way already */
		if (fs->m)
			atomic_fetch_add_explicit(&fs->m->readahead_issued, 1,
						  memory_order_relaxed);
		if (make_fetch(fs, f, bi, 0, bl, PR_OP_READ, b, key,
			       &reqs[n]) == 0)
			n++;
		else
			fc_block_fail(fs->bc, b, -EIO);
		fc_block_put(fs->bc, b);
	}
	fetch_next = bi;
	for (bi = p.hint_from; bi < p.hint_end && n < max; bi++) {
		sl_blockkey_t key =
			sl_blockkey_make(fc_fs_ds_name(fs, f->ds), f->layout,
					 f->path, f->version, bi);

		if (make_fetch(fs, f, bi, 0, block_len(f, bi), PR_OP_PREFETCH,
			       NULL, key, &reqs[n]) == 0)
			n++;
	}
	fc_ra_issued(fs->ra, ino, owner, fetch_next, bi);
	return n;
}

/* The file a read of ino is on, made in *f from the inode, which *ip then
 * holds (f borrows its path).  Returns 0 or -errno. */
static int read_file_of(fc_fs_t *fs, fuse_ino_t ino, struct fc_file *f,
			fc_inode_t *ip)
{
	fc_attr_t a;
	int rc = fc_inode_get(fs->inodes, ino, ip);

	if (rc == 0)
		rc = fc_fs_fresh_attr(fs, ip, &a);
	if (rc < 0)
		return rc;
	if (ip->dataset < 0 || a.type != PR_TYPE_FILE)
		return -EISDIR;
	file_init(f, ip, &a);
	return 0;
}

/*
 * One attempt at a read of f: map [off, off+size) to blocks, take each
 * from the block cache or start its fetch, send every new fetch (and the
 * prefetch window) to the I/O thread in one batch, wait for the blocks,
 * and reply with an iovec over the blocks' own memory.  The I/O thread
 * completes every fetch within (candidates x request_timeout), so the
 * wait's limit is only a safety net.  A sequential reader's blocks that
 * this read finished go to the cold end of the cache: the kernel's page
 * cache now holds those bytes, and the blocks ahead of the reader are the
 * ones worth keeping.
 *
 * Returns 0 once it replied, or -errno without replying, *failed_point
 * then being the ring point of the first block that failed (the node that
 * said so is its owner), for read_recover.
 */
static int read_once(fc_fs_t *fs, fuse_req_t req, uint64_t ino,
		     const struct fc_file *f, uint64_t owner, size_t size,
		     uint64_t off, uint64_t *failed_point)
{
	fc_readmap_t m = {0};
	uint64_t bi;
	fc_block_t **blocks = NULL;
	fc_io_req_t *reqs = NULL;
	struct iovec *iov = NULL;
	size_t nreq = 0, niov = 0, max_req;
	int rc = 0, created, seq = 0;

	if (fc_readmap(&m, off, size, f->size, f->bs) == 0) {
		fuse_reply_buf(req, NULL, 0);
		return 0;
	}
	/* This read's blocks, the fetch window and the hints (readahead.h). */
	max_req = m.n + fs->cc.prefetch_depth +
		  2 * SL_MAX((size_t)fs->cc.prefetch_depth, (size_t)m.n);
	blocks = sl_xcalloc(m.n, sizeof(*blocks));
	reqs = sl_xcalloc(max_req, sizeof(*reqs));
	iov = sl_xcalloc(m.n, sizeof(*iov));

	for (bi = m.first; bi <= m.last; bi++) {
		fc_span_t sp = fc_readmap_span(&m, bi);
		sl_blockkey_t key =
			sl_blockkey_make(fc_fs_ds_name(fs, f->ds), f->layout,
					 f->path, f->version, bi);
		uint32_t lo = 0, len = sp.len;
		fc_block_t *b;

		if (f->direct) {
			/* Only the bytes this read wants, in a block of its
			 * own. */
			lo = sp.lo;
			len = sp.hi - sp.lo;
			b = fc_block_new_private(fs->bc, len);
			created = 1;
		} else {
			b = fc_blockcache_acquire(fs->bc, key, len, &created);
		}
		blocks[bi - m.first] = b;
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
		nreq += plan_prefetch(fs, f, ino, owner, m.first, m.last,
				      reqs + nreq, max_req - nreq, &seq);
	fc_io_submit(fs->io, reqs, nreq);

	for (bi = m.first; bi <= m.last; bi++) {
		fc_block_t *b = blocks[bi - m.first];
		fc_span_t sp = fc_readmap_span(&m, bi);
		size_t lo = sp.lo, hi = sp.hi, have;

		rc = fc_block_wait(fs->bc, b, fs->wait_ms);
		if (rc == -ETIMEDOUT) {
			sl_err("read %s/%s block %llu: nothing after %llu ms",
			       fc_fs_ds_name(fs, f->ds), f->path,
			       (unsigned long long)bi,
			       (unsigned long long)fs->wait_ms);
			rc = -EIO;
		}
		if (rc < 0) {
			*failed_point =
				sl_blockkey_make(fc_fs_ds_name(fs, f->ds),
						 f->layout, f->path, f->version,
						 bi)
					.lo;
			goto out;
		}
		have = fc_block_len(b);
		if (f->direct) {
			lo = 0;
			hi = have;
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
	/* Where the bytes came from, once they are the application's:
	 * iov[i] is a piece of blocks[i]. */
	for (size_t i = 0; i < niov; i++) {
		fc_block_t *b = blocks[i];
		size_t lo = (size_t)((const char *)iov[i].iov_base -
				     (const char *)fc_block_data(b));

		fc_metrics_piece(fs->m, fc_block_seen(b), fc_block_origin(b),
				 fc_block_len(b), lo, lo + iov[i].iov_len);
	}
	/* The reply copied the bytes out: blocks read to their end are
	 * done with, for a sequential reader. */
	for (bi = m.first; seq && bi <= m.last; bi++)
		if (fc_readmap_span(&m, bi).hi == block_len(f, bi))
			fc_block_consumed(fs->bc, blocks[bi - m.first]);
out:
	for (uint64_t i = 0; blocks && i < m.n; i++)
		fc_block_put(fs->bc, blocks[i]);
	free(blocks);
	free(reqs);
	free(iov);
	return rc;
}

/*
 * -ESTALE: the node read the file and found another version than the one
 * asked for -- the file changed in the store.  STAT it again, from the
 * node that said so (routed by the stale block's ring point): that node
 * dropped its own metadata for the file when its read failed, so it asks
 * the store, where the owner of the file's metadata key could still hand
 * out the old version for as long as its cache keeps it.  Then the inode
 * takes the new attributes, and the kernel is told to drop the old ones
 * (now: the caller's next stat is fresh) and the file's cached pages
 * (on the notifier thread: see notify.h).  A file gone from the store is
 * ENOENT.  Returns 0 with f replaced, or the errno to report.
 */
static int recover_stale(fc_fs_t *fs, const fc_inode_t *ip, struct fc_file *f,
			 uint64_t point)
{
	fc_attr_t a;
	int rc;

	rc = fc_fs_stat_at(fs, f->ds, f->path, point, &a);
	if (rc == 0 && a.type != PR_TYPE_FILE)
		rc = -EISDIR;
	if (rc < 0) {
		if (rc == -ENOENT)
			fc_fs_gone(fs, ip);
		return rc;
	}
	if (strcmp(a.version, f->version) == 0) {
		sl_log_ratelimited(SL_LOG_WARNING,
				   "read %s/%s: the store has a new version "
				   "but the nodes still describe %s",
				   fc_fs_ds_name(fs, f->ds), f->path,
				   f->version);
		return -ESTALE;
	}
	sl_info("read %s/%s: changed in the store (version %s, now %s, "
		"%llu bytes): reading it again",
		fc_fs_ds_name(fs, f->ds), f->path, f->version, a.version,
		(unsigned long long)a.size);
	fc_fs_changed(fs, ip, &a);
	file_init(f, ip, &a);
	return 0;
}

/*
 * -EREMCHG: the nodes cut the dataset's blocks another way than the map
 * this read was planned with (its block size changed on reload), and the
 * I/O thread is already fetching their map.  Take it (waiting up to one
 * request_timeout) and plan f again with it.  Returns 0 when the read
 * should be tried again, else the errno to report (-EIO: no new map).
 */
static int recover_layout(fc_fs_t *fs, fc_cluster_t **mapp, struct fc_file *f)
{
	fc_cluster_t *map =
		fc_io_map_newer(fs->io, *mapp, fs->cc.request_timeout_ms);

	fc_cluster_unref(mapp);
	*mapp = map;
	if (map->datasets[f->ds].layout == f->layout) {
		sl_log_ratelimited(SL_LOG_ERR,
				   "read %s/%s: the nodes refuse layout %08x "
				   "and sent no other",
				   fc_fs_ds_name(fs, f->ds), f->path,
				   f->layout);
		return -EIO;
	}
	sl_info("read %s/%s: dataset layout %08x is now %08x (block size "
		"%u): reading again",
		fc_fs_ds_name(fs, f->ds), f->path, f->layout,
		map->datasets[f->ds].layout, map->datasets[f->ds].block_size);
	file_layout(fs, map, f);
	return 0;
}

/*
 * The recovery step: a read that failed with an error a fresh look can
 * cure gets that look and one more attempt.  Returns 0 when the read
 * should be tried again with f as it now is, else the errno to report.
 * One case per cure, each its own function:
 *   -ESTALE   the file changed in the store (recover_stale);
 *   -EREMCHG  the dataset's layout changed: a newer map, the read planned
 *             again with it (recover_layout);
 *   -ENOENT   it is gone: the kernel is told to forget the name.
 */
static int read_recover(fc_fs_t *fs, fc_inode_t *ip, struct fc_file *f, int err,
			uint64_t failed_point, fc_cluster_t **mapp)
{
	switch (err) {
	case -ESTALE:
		return recover_stale(fs, ip, f, failed_point);
	case -EREMCHG:
		return recover_layout(fs, mapp, f);
	case -ENOENT:
		fc_fs_gone(fs, ip);
		return err;
	default:
		return err;
	}
}

/*
 * A read of ino through the current map.  The file's layout (block size)
 * is taken from the map for each read, never kept in a handle, so that
 * once a map with another layout is in, every reader plans with it.
 */
void fc_fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	fc_fs_t *fs = fc_fs_of(req);
	fc_cluster_t *map = fc_io_map(fs->io);
	struct fc_file f;
	fc_inode_t ip;
	uint64_t owner, failed = 0;
	int rc;

	atomic_fetch_add(&fs->reads, 1);
	if (off < 0) {
		rc = -EINVAL;
		goto out;
	}
	rc = read_file_of(fs, ino, &f, &ip);
	if (rc < 0)
		goto out;
	file_layout(fs, map, &f);
	/* A stream is one reader of one file: its handle, else its thread
	 * (the kernel sends readahead from the reading thread). */
	owner = fi->fh ? fi->fh : (uint64_t)fuse_req_ctx(req)->pid;
	rc = read_once(fs, req, ino, &f, owner, size, (uint64_t)off, &failed);
	if (rc < 0) {
		rc = read_recover(fs, &ip, &f, rc, failed, &map);
		if (rc == 0) {
			atomic_fetch_add(&fs->read_retries, 1);
			rc = read_once(fs, req, ino, &f, owner, size,
				       (uint64_t)off, &failed);
		}
	}
	/* A second refusal of the new layout is not the reader's to see. */
	if (rc == -EREMCHG)
		rc = -EIO;
out:
	if (rc < 0) {
		atomic_fetch_add(&fs->read_errors, 1);
		if (fs->m)
			atomic_fetch_add_explicit(&fs->m->read_errors, 1,
						  memory_order_relaxed);
		fuse_reply_err(req, -rc);
	}
	fc_cluster_unref(&map);
}
