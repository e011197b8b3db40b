/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reads (see fs_i.h): open and release, and read itself -- the read's
 * blocks (readmap.h), each taken from the block cache or fetched with READ
 * (for a random reader, only the pages it wants), the sequential
 * read-ahead around them, and the reply from the blocks' own memory.  FUSE
 * threads never touch a socket: fetches go to the I/O thread in one batch, and
 * the read waits on its blocks.
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

/*
 * A fetch in flight: n blocks of the cache (a whole block, a direct range,
 * or a run of pages of one block) that one READ fills, completed from the
 * I/O thread.
 */
struct fetch {
	fc_fs_t *fs;
	size_t want;   /* bytes asked for */
	uint32_t page; /* bytes of each of b but the last (n > 1) */
	uint64_t block;
	int ds;
	char *path; /* for messages; in this allocation, after b */
	size_t n;
	fc_block_t *b[]; /* references of the fetch's own */
};

static void free_msg(void *data, void *hint)
{
	(void)data;
	zmq_msg_close(hint);
	free(hint);
}

static void free_copy(void *data, void *hint)
{
	(void)hint;
	free(data);
}

/*
 * Fill ft's blocks from body (len bytes, at most ft->want).  One block
 * keeps the message itself: it points into it.  A run of pages copies
 * each page out, so that a page kept long after its neighbours holds its
 * own bytes only and the cache's count stays the memory it holds.  A
 * body shorter than asked (the file is shorter than its attributes said)
 * leaves the pages past its end empty, which the reader takes for EOF.
 */
static void fetch_fill(struct fetch *ft, zmq_msg_t *body, size_t len)
{
	fc_blockcache_t *bc = ft->fs->bc;
	const char *src = zmq_msg_data(body);
	zmq_msg_t *m;

	if (ft->n == 1) {
		m = sl_xmalloc(sizeof(*m));
		zmq_msg_init(m);
		zmq_msg_move(m, body);
		fc_block_fill(bc, ft->b[0], zmq_msg_data(m), len, free_msg, m);
		return;
	}
	for (size_t i = 0; i < ft->n; i++) {
		size_t off = i * ft->page;
		size_t pl = off < len ? SL_MIN((size_t)ft->page, len - off) : 0;
		void *copy = pl ? malloc(pl) : NULL;

		if (pl && !copy) {
			fc_block_fail(bc, ft->b[i], -ENOMEM);
			continue;
		}
		if (pl)
			memcpy(copy, src + off, pl);
		fc_block_fill(bc, ft->b[i], copy, pl, free_copy, NULL);
	}
}

static void fetch_done(void *arg, const fc_io_result_t *res)
{
	struct fetch *ft = arg;
	fc_fs_t *fs = ft->fs;
	int err = res->status;
	size_t len;

	if (err == 0) {
		len = zmq_msg_size(res->body);
		if (len <= ft->want) {
			/* A reply that names no tier (none should) is
			 * counted as the backend's: never a hit it was not. */
			for (size_t i = 0; i < ft->n; i++)
				fc_block_set_origin(
					ft->b[i], res->tier ? res->tier
							    : FC_TIER_BACKEND);
			fetch_fill(ft, res->body, len);
		} else {
			sl_log_ratelimited(SL_LOG_ERR,
					   "read %s/%s block %llu: node %s "
					   "sent %zu bytes for %zu",
					   fc_fs_ds_name(fs, ft->ds), ft->path,
					   (unsigned long long)ft->block,
					   res->node, len, ft->want);
			err = -EIO;
		}
	} else if (err == -EIO) {
		sl_err("read %s/%s block %llu: all nodes failed: %s",
		       fc_fs_ds_name(fs, ft->ds), ft->path,
		       (unsigned long long)ft->block, res->why);
	}
	for (size_t i = 0; i < ft->n; i++) {
		if (err < 0)
			fc_block_fail(fs->bc, ft->b[i], err);
		fc_block_put(fs->bc, ft->b[i]);
	}
	free(ft);
}

/*
 * One piece of a read: b holds bytes [base, base + fc_block_len(b)) of
 * block bi (a whole block, a direct range or a page), and the read wants
 * [lo, hi) of the block from it.  fresh: this read created b, so it must
 * see b fetched.
 */
struct part {
	fc_block_t *b;
	uint64_t bi;
	uint32_t base, lo, hi;
	int fresh;
};

/*
 * Build the request that fetches bytes [off, off+len) of block bi of f
 * (whose key is key: the request goes to its owner) into the blocks of
 * pt[0..n), each page bytes long but the last (n is 1 for a whole block
 * or a range).
 * opcode READ completes the blocks, which stay the caller's (the fetch
 * takes references of its own); PREFETCH is a bare hint (n 0).  Returns
 * 0 or -errno (then the caller fails the blocks).
 */
static int make_fetch(fc_fs_t *fs, const struct fc_file *f, uint64_t bi,
		      uint32_t off, uint32_t len, uint8_t opcode,
		      const struct part *pt, size_t n, uint32_t page,
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
	if (!n)
		return 0;
	ft = sl_xmalloc(sizeof(*ft) + n * sizeof(ft->b[0]) + pl + 1);
	ft->fs = fs;
	ft->want = len;
	ft->page = page;
	ft->block = bi;
	ft->ds = f->ds;
	ft->n = n;
	for (size_t i = 0; i < n; i++)
		ft->b[i] = fc_block_ref(fs->bc, pt[i].b);
	ft->path = (char *)&ft->b[n];
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
 * Sequential prefetch: readahead.c planned (p) which blocks to fetch
 * ahead of this stream (its essay says why the depth is a share of one
 * budget) and which to hint to the nodes; here the fetches are made.  A
 * block the cache refuses (the budget is spent) ends the fetch window,
 * and the stream asks again from there on its next read.  Returns the
 * requests added to reqs (at most max).
 */
static size_t plan_prefetch(fc_fs_t *fs, const struct fc_file *f, uint64_t ino,
			    uint64_t owner, const fc_ra_plan_t *p,
			    fc_io_req_t *reqs, size_t max)
{
	uint64_t bi, fetch_next, now = sl_now_ms();
	size_t n = 0;

	for (bi = p->fetch_from; bi < p->fetch_end && n < max; bi++) {
		sl_blockkey_t key =
			sl_blockkey_make(fc_fs_ds_name(fs, f->ds), f->layout,
					 f->path, f->version, bi);
		uint32_t bl = block_len(f, bi);
		struct part pt = {0};
		int rc = fc_blockcache_prefetch(fs->bc, key, bl, now, &pt.b);

		if (rc < 0)
			break; /* the read-ahead budget is spent */
		if (rc == 0)
			continue; /* here or on its way already */
		if (fs->m)
			atomic_fetch_add_explicit(&fs->m->readahead_issued, 1,
						  memory_order_relaxed);
		if (make_fetch(fs, f, bi, 0, bl, PR_OP_READ, &pt, 1, bl, key,
			       &reqs[n]) == 0)
			n++;
		else
			fc_block_fail(fs->bc, pt.b, -EIO);
		fc_block_put(fs->bc, pt.b);
	}
	fetch_next = bi;
	for (bi = p->hint_from; bi < p->hint_end && n < max; bi++) {
		sl_blockkey_t key =
			sl_blockkey_make(fc_fs_ds_name(fs, f->ds), f->layout,
					 f->path, f->version, bi);

		if (make_fetch(fs, f, bi, 0, block_len(f, bi), PR_OP_PREFETCH,
			       NULL, 0, 0, key, &reqs[n]) == 0)
			n++;
	}
	fc_ra_issued(fs->ra, ino, owner, fetch_next, bi);
	return n;
}

/* Fail the fresh blocks of parts[0..n) with err (their fetch was never
 * sent). */
static void fail_parts(fc_fs_t *fs, struct part *pt, size_t n, int err)
{
	for (size_t i = 0; i < n; i++)
		if (pt[i].fresh)
			fc_block_fail(fs->bc, pt[i].b, err);
}

/* Start the fetch of parts[0..n), one block or a run of pages of block bi
 * (key), into *req.  Returns 1 when a request was made, else 0 (the
 * blocks failed). */
static size_t fetch_parts(fc_fs_t *fs, const struct fc_file *f,
			  sl_blockkey_t key, struct part *pt, size_t n,
			  uint32_t page, fc_io_req_t *req)
{
	uint32_t off = pt[0].base;
	uint32_t len = pt[n - 1].base + (uint32_t)fc_block_len(pt[n - 1].b) -
		       pt[0].base;
	int rc;

	rc = make_fetch(fs, f, pt[0].bi, off, len, PR_OP_READ, pt, n, page, key,
			req);
	if (rc < 0) {
		fail_parts(fs, pt, n, rc);
		return 0;
	}
	return 1;
}

/*
 * A random reader's span sp of block bi (key): the pages of fs's page
 * size that hold it, each from the cache or fetched, one READ per run of
 * missing pages (the node sends the range from its whole block, filling
 * the block once if it is cold).  Appends the pages to parts (*np) and
 * the READs to reqs; returns how many READs.
 */
static size_t plan_pages(fc_fs_t *fs, const struct fc_file *f,
			 sl_blockkey_t key, fc_span_t sp, struct part *parts,
			 size_t *np, fc_io_req_t *reqs)
{
	uint32_t page = fs->cc.page_size, p0, p1;
	size_t first = *np, nreq = 0, i, j;

	fc_readmap_pages(&sp, page, &p0, &p1);
	for (uint32_t p = p0; p <= p1; p++) {
		struct part *pt = &parts[(*np)++];
		uint32_t pl = fc_readmap_page_len(sp.len, page, p);

		pt->bi = sp.block;
		pt->base = p * page;
		pt->lo = SL_MAX(sp.lo, pt->base);
		pt->hi = SL_MIN(sp.hi, pt->base + pl);
		pt->b = fc_blockcache_acquire(
			fs->bc, sl_pagekey_make(key, page, p), pl, &pt->fresh);
	}
	for (i = first; i < *np; i = j) {
		for (j = i; j < *np && parts[j].fresh == parts[i].fresh; j++)
			;
		if (parts[i].fresh)
			nreq += fetch_parts(fs, f, key, parts + i, j - i, page,
					    reqs + nreq);
	}
	return nreq;
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
 * One attempt at a read of f: map [off, off+size) to blocks, ask the
 * read-ahead planner whether the stream is sequential or random, take
 * each block (or, for a random reader, each page of the bytes wanted: see
 * readahead.c for why) from the block cache or start its fetch, send every
 * new fetch (and the prefetch window) to the I/O thread in one batch, wait
 * for them, and reply with an iovec over their own memory.  The I/O
 * thread completes every fetch within (candidates x request_timeout), so
 * the wait's limit is only a safety net.  A sequential reader's blocks
 * that this read finished go to the cold end of the cache: the kernel's
 * page cache now holds those bytes, and the blocks ahead of the reader are
 * the ones worth keeping.
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
	fc_ra_plan_t plan;
	uint64_t bi;
	struct part *parts = NULL;
	fc_io_req_t *reqs = NULL;
	struct iovec *iov = NULL;
	size_t nparts = 0, max_parts, nreq = 0, niov = 0, max_req, i;
	uint32_t page = fs->cc.page_size;
	int rc = 0, paged;

	if (fc_readmap(&m, off, size, f->size, f->bs) == 0) {
		fuse_reply_buf(req, NULL, 0);
		return 0;
	}
	fc_ra_read(fs->ra, ino, owner, m.first, m.last,
		   fc_readmap_blocks(f->size, f->bs), f->bs, sl_now_ms(),
		   &plan);
	paged = plan.random && page > 0 && page < f->bs;
	/* A block's span of s bytes lies in at most s / page + 2 pages. */
	max_parts = paged ? (size_t)((m.end - m.off) / page + 2 * m.n)
			  : (size_t)m.n;
	/* This read's fetches, the fetch window and the hints (readahead.h). */
	max_req = max_parts + fs->cc.prefetch_depth +
		  2 * SL_MAX((size_t)fs->cc.prefetch_depth, (size_t)m.n);
	parts = sl_xcalloc(max_parts, sizeof(*parts));
	reqs = sl_xcalloc(max_req, sizeof(*reqs));
	iov = sl_xcalloc(max_parts, sizeof(*iov));

	for (bi = m.first; bi <= m.last; bi++) {
		fc_span_t sp = fc_readmap_span(&m, bi);
		sl_blockkey_t key =
			sl_blockkey_make(fc_fs_ds_name(fs, f->ds), f->layout,
					 f->path, f->version, bi);
		struct part *pt;

		/* A random read takes the whole block if it is here, else
		 * pages; a block no larger than a page is its one page. */
		if (paged && sp.len > page) {
			fc_block_t *b = fc_blockcache_lookup(fs->bc, key);

			if (!b) {
				nreq += plan_pages(fs, f, key, sp, parts,
						   &nparts, reqs + nreq);
				continue;
			}
			pt = &parts[nparts++];
			*pt = (struct part){b, bi, 0, sp.lo, sp.hi, 0};
			continue;
		}
		pt = &parts[nparts++];
		pt->bi = bi;
		pt->lo = sp.lo;
		pt->hi = sp.hi;
		if (f->direct && !paged) {
			/* Only the bytes this read wants, in a block of its
			 * own. */
			pt->base = sp.lo;
			pt->b = fc_block_new_private(fs->bc, sp.hi - sp.lo);
			pt->fresh = 1;
		} else {
			pt->base = 0;
			pt->b = fc_blockcache_acquire(fs->bc, key, sp.len,
						      &pt->fresh);
		}
		if (pt->fresh)
			nreq += fetch_parts(fs, f, key, pt, 1,
					    (uint32_t)fc_block_len(pt->b),
					    reqs + nreq);
	}
	if (!f->direct)
		nreq += plan_prefetch(fs, f, ino, owner, &plan, reqs + nreq,
				      max_req - nreq);
	fc_io_submit(fs->io, reqs, nreq);

	for (i = 0; i < nparts; i++) {
		struct part *pt = &parts[i];
		size_t have, lo, hi;

		rc = fc_block_wait(fs->bc, pt->b, fs->wait_ms);
		if (rc == -ETIMEDOUT) {
			sl_err("read %s/%s block %llu: nothing after %llu ms",
			       fc_fs_ds_name(fs, f->ds), f->path,
			       (unsigned long long)pt->bi,
			       (unsigned long long)fs->wait_ms);
			rc = -EIO;
		}
		if (rc < 0) {
			*failed_point =
				sl_blockkey_make(fc_fs_ds_name(fs, f->ds),
						 f->layout, f->path, f->version,
						 pt->bi)
					.lo;
			goto out;
		}
		have = fc_block_len(pt->b);
		lo = pt->lo - pt->base;
		hi = pt->hi - pt->base;
		if (lo >= have)
			break; /* the block is shorter than the file said */
		iov[niov].iov_base = (char *)fc_block_data(pt->b) + lo;
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
	 * iov[i] is a piece of parts[i]'s block. */
	for (size_t i = 0; i < niov; i++) {
		fc_block_t *b = parts[i].b;
		size_t lo = (size_t)((const char *)iov[i].iov_base -
				     (const char *)fc_block_data(b));

		fc_metrics_piece(fs->m, fc_block_seen(b), fc_block_origin(b),
				 fc_block_len(b), lo, lo + iov[i].iov_len);
	}
	/* The reply copied the bytes out: blocks read to their end are
	 * done with, for a sequential reader. */
	for (i = 0; plan.seq && i < nparts; i++)
		if (parts[i].base == 0 &&
		    parts[i].hi == block_len(f, parts[i].bi))
			fc_block_consumed(fs->bc, parts[i].b);
out:
	for (i = 0; i < nparts; i++)
		fc_block_put(fs->bc, parts[i].b);
	free(parts);
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
