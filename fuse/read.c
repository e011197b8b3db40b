/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reads (see fs_i.h): open and release, and read itself -- the read's
 * blocks (readmap.h), each taken from the block cache or fetched with READ
 * (for a random reader, only the pages it wants), the sequential
 * read-ahead around them, and the reply from the blocks' own memory.  FUSE
 * threads never touch a socket: fetches go to the I/O thread in one batch.
 * A sequential reader's read then waits on its blocks; a random reader's
 * is answered by the thread that completes its last block (struct rd),
 * which also lends a buffered reader's pages to the kernel's page cache
 * (rd_store).  Failures a fresh look can cure are retried on a thread of
 * their own (readretry.c).
 */
#include "fuse/read_i.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "common/blockkey.h"
#include "common/inbox.h"
#include "common/log.h"
#include "common/util.h"
#include "fuse/loop.h"
#include "fuse/readmap.h"
#include "fuse/wire.h"

#define DIRECT_FRACTION 4 /* blocks above capacity/4 bypass the cache */

/* Fill f for ip (borrowed; f->path borrows ip->path) from attributes a. */
void fc_read_file_init(struct fc_file *f, const fc_inode_t *ip,
		       const fc_attr_t *a)
{
	f->ds = ip->dataset;
	f->path = ip->path;
	memcpy(f->version, a->version, sizeof(f->version));
	f->size = a->size;
}

/* f's blocks as map (borrowed) cuts them. */
void fc_read_file_layout(const fc_fs_t *fs, const fc_cluster_t *map,
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
	fc_block_waiter_t w; /* an answered read's, on b (struct rd) */
	struct rd *rd;
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
	fc_read_file_init(f, ip, &a);
	return 0;
}

static size_t align_up(size_t n, size_t a)
{
	return (n + a - 1) / a * a;
}

/* A new read of f (copied, with its path) for req; free with fc_read_free. */
static struct rd *rd_new(fc_fs_t *fs, fuse_req_t req, const struct fc_file *f,
			 fc_cluster_t *map, size_t max_parts)
{
	size_t pl = strlen(f->path);
	size_t sz = sizeof(struct rd) + pl + 1;
	size_t at_parts = align_up(sz, _Alignof(struct part));
	size_t at_iov = align_up(at_parts + max_parts * sizeof(struct part),
				 _Alignof(struct iovec));
	struct rd *rd =
		sl_xcalloc(1, at_iov + max_parts * sizeof(struct iovec));

	rd->fs = fs;
	rd->req = req;
	rd->map = map;
	rd->f = *f;
	memcpy(rd->path, f->path, pl + 1);
	rd->f.path = rd->path;
	rd->max_parts = max_parts;
	rd->parts = (struct part *)((char *)rd + at_parts);
	rd->iov = (struct iovec *)((char *)rd + at_iov);
	return rd;
}

/* Put rd's blocks and free it (and its map reference, and its slot: its
 * request must have been answered).  Accepts NULL. */
void fc_read_free(struct rd *rd)
{
	if (!rd)
		return;
	fc_loop_release(&rd->held);
	for (size_t i = 0; i < rd->nparts; i++)
		fc_block_put(rd->fs->bc, rd->parts[i].b);
	fc_cluster_unref(&rd->map);
	free(rd);
}

/* The ring point of rd's part i's block (the node that failed it is
 * its owner). */
static uint64_t part_point(const struct rd *rd, size_t i)
{
	const struct fc_file *f = &rd->f;

	return sl_blockkey_make(fc_fs_ds_name(rd->fs, f->ds), f->layout,
				f->path, f->version, rd->parts[i].bi)
		.lo;
}

/*
 * Plan rd (no parts yet) over m, its blocks: ask the read-ahead planner whether
 * the stream is sequential or random, take each block (or, for a random reader,
 * each page of the bytes wanted: see readahead.c for why) from the block cache
 * or start its fetch, and send every new fetch (and the prefetch window)
 * to the I/O thread in one batch.
 */
static void rd_plan(struct rd *rd, const fc_readmap_t *mp, size_t max_req)
{
	fc_fs_t *fs = rd->fs;
	const struct fc_file *f = &rd->f;
	fc_readmap_t m = *mp;
	fc_ra_plan_t plan;
	fc_io_req_t *reqs;
	uint32_t page = fs->cc.page_size;
	size_t nreq = 0;
	int paged;

	fc_ra_read(fs->ra, rd->ino, rd->owner, m.first, m.last,
		   fc_readmap_blocks(f->size, f->bs), f->bs, sl_now_ms(),
		   &plan);
	rd->seq = plan.seq;
	paged = plan.random && page > 0 && page < f->bs;
	rd->paged = paged;
	reqs = sl_xcalloc(max_req, sizeof(*reqs));
	for (uint64_t bi = m.first; bi <= m.last; bi++) {
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
				nreq += plan_pages(fs, f, key, sp, rd->parts,
						   &rd->nparts, reqs + nreq);
				continue;
			}
			pt = &rd->parts[rd->nparts++];
			pt->b = b;
			pt->bi = bi;
			pt->lo = sp.lo;
			pt->hi = sp.hi;
			continue;
		}
		pt = &rd->parts[rd->nparts++];
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
	SL_ASSERT(rd->nparts <= rd->max_parts);
	if (!f->direct)
		nreq += plan_prefetch(fs, f, rd->ino, rd->owner, &plan,
				      reqs + nreq, max_req - nreq);
	fc_io_submit(fs->io, reqs, nreq);
	free(reqs);
}

/* A page lent to the notifier (fc_notify_store). */
struct lent {
	fc_blockcache_t *bc;
	fc_block_t *b;
};

static void lent_back(void *arg)
{
	struct lent *l = arg;

	fc_block_put(l->bc, l->b);
	free(l);
}

/*
 * A random reader's read takes a page (64 KiB by default) for the few
 * bytes it wants -- fetched as a page, or cut from a whole block the
 * cache has -- and the rest of that page then waits in the block cache,
 * where a later read of it still costs a FUSE request.  For a buffered
 * reader, give the kernel the whole page for its page cache too (after
 * the reply: the store waits for the page locks the read held), so that
 * the page's other reads never leave the kernel: what the kernel's own
 * read-around does for a sequential or mmap reader, and a random one
 * (fio, LMDB, HDF5 under POSIX_FADV_RANDOM) turns off.  The cost is a
 * copy of the page per read that reaches us, and page cache: a reader
 * whose reads never share a page gets nothing for it, and page_size = 4K
 * turns it off.  Only for immutable datasets: a store racing a change's
 * invalidation could keep old bytes.  The notifier bounds what it holds.
 */
static void rd_store(struct rd *rd)
{
	fc_fs_t *fs = rd->fs;
	uint32_t page = fs->cc.page_size;

	for (size_t i = 0; i < rd->nparts; i++) {
		struct part *pt = &rd->parts[i];
		uint32_t len = (uint32_t)fc_block_len(pt->b);
		/* The page around [lo, hi), inside what b holds. */
		uint32_t p0 = SL_MAX(pt->lo / page * page, pt->base);
		uint32_t p1 = SL_MIN((pt->hi + page - 1) / page * page,
				     pt->base + len);
		struct lent *l;

		if (p1 <= p0 || (p0 == pt->lo && p1 <= pt->hi))
			continue; /* the reply gave the kernel all of it */
		l = sl_xmalloc(sizeof(*l));
		l->bc = fs->bc;
		l->b = fc_block_ref(fs->bc, pt->b);
		fc_notify_store(fs->notify, rd->ino, pt->bi * rd->f.bs + p0,
				(const char *)fc_block_data(pt->b) +
					(p0 - pt->base),
				p1 - p0, lent_back, l);
	}
}

/*
 * Reply to rd's request from its parts, every one complete, with an
 * iovec over their own memory.  A sequential reader's blocks that this
 * read finished go to the cold end of the cache: the kernel's page cache
 * now holds those bytes, and the blocks ahead of the reader are the ones
 * worth keeping.  Returns 0 once it replied, or the -errno of the first
 * part that failed without replying (rd->failed is then its block's ring
 * point: the node that said so is its owner, for readretry.c's read_recover).
 */
static int rd_reply(struct rd *rd)
{
	fc_fs_t *fs = rd->fs;
	const struct fc_file *f = &rd->f;
	struct iovec *iov = rd->iov;
	size_t niov = 0, i;
	int rc;

	for (i = 0; i < rd->nparts; i++) {
		struct part *pt = &rd->parts[i];
		size_t have, lo, hi;

		rc = fc_block_status(fs->bc, pt->b);
		if (rc < 0) {
			rd->failed = part_point(rd, i);
			return rc;
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
	if (niov)
		fuse_reply_iov(rd->req, iov, (int)niov);
	else
		fuse_reply_buf(rd->req, NULL, 0);
	/* Where the bytes came from, once they are the application's:
	 * iov[i] is a piece of parts[i]'s block. */
	for (i = 0; i < niov; i++) {
		fc_block_t *b = rd->parts[i].b;
		size_t lo = (size_t)((const char *)iov[i].iov_base -
				     (const char *)fc_block_data(b));

		fc_metrics_piece(fs->m, fc_block_seen(b), fc_block_origin(b),
				 fc_block_len(b), lo, lo + iov[i].iov_len);
	}
	/* The reply copied the bytes out: blocks read to their end are
	 * done with, for a sequential reader. */
	for (i = 0; rd->seq && i < rd->nparts; i++)
		if (rd->parts[i].base == 0 &&
		    rd->parts[i].hi == block_len(f, rd->parts[i].bi))
			fc_block_consumed(fs->bc, rd->parts[i].b);
	if (rd->store && rd->paged)
		rd_store(rd);
	return 0;
}

/* Count a read that failed with err and tell the kernel. */
void fc_read_failed(fc_fs_t *fs, fuse_req_t req, int err)
{
	/* A second refusal of the new layout is not the reader's to see. */
	if (err == -EREMCHG)
		err = -EIO;
	atomic_fetch_add(&fs->read_errors, 1);
	if (fs->m)
		atomic_fetch_add_explicit(&fs->m->read_errors, 1,
					  memory_order_relaxed);
	fuse_reply_err(req, -err);
}

/* Whether read_recover (readretry.c) has a cure for err that needs a look at
 * the store. */
static int curable(int err)
{
	return err == -ESTALE || err == -EREMCHG || err == -ENOENT;
}

/*
 * rd's last part is complete: reply, or hand a curable failure to the
 * retry thread (a failure of the retry itself, or after the thread has
 * stopped, is the reader's).  Frees rd, or gives it to the thread.
 */
static void rd_finish(struct rd *rd, int retried)
{
	fc_fs_t *fs = rd->fs;
	int rc = rd_reply(rd);

	if (rc < 0 && !retried && curable(rc) && fs->retry) {
		rd->err = rc;
		if (sl_inbox_post(fs->retry, &rd->link) == 0)
			return;
	}
	if (rc < 0)
		fc_read_failed(fs, rd->req, rc);
	fc_read_free(rd);
}

/* A waiter's call: one more of its read's parts is complete. */
static void part_done(fc_block_waiter_t *w)
{
	struct part *pt = sl_container_of(w, struct part, w);
	struct rd *rd = pt->rd;

	if (atomic_fetch_sub(&rd->left, 1) == 1)
		rd_finish(rd, 0);
}

/* Register a waiter on each of rd's parts still pending; the thread that
 * completes the last of them (or this one, when none is) replies. */
static void rd_answer_when_done(struct rd *rd)
{
	atomic_store(&rd->left, rd->nparts + 1);
	for (size_t i = 0; i < rd->nparts; i++) {
		struct part *pt = &rd->parts[i];

		pt->rd = rd;
		pt->w.fn = part_done;
		if (fc_block_when_done(rd->fs->bc, pt->b, &pt->w))
			atomic_fetch_sub(&rd->left, 1);
	}
	if (atomic_fetch_sub(&rd->left, 1) == 1)
		rd_finish(rd, 0);
}

/*
 * A read of [off, off+size) of f (copied) for req, planned and sent:
 * its fetches are on their way.  Takes *mapp (the map f was laid out
 * with).  Returns NULL when the read is past the end of the file, having
 * replied with no bytes.
 */
struct rd *fc_read_new(fc_fs_t *fs, fuse_req_t req, uint64_t ino,
		       const struct fc_file *f, fc_cluster_t **mapp,
		       uint64_t owner, size_t size, uint64_t off, int buffered)
{
	fc_readmap_t m = {0};
	uint32_t page = fs->cc.page_size;
	size_t max_parts, max_req;
	struct rd *rd;

	if (fc_readmap(&m, off, size, f->size, f->bs) == 0) {
		fuse_reply_buf(req, NULL, 0);
		return NULL;
	}
	/* A block's span of s bytes lies in at most s / page + 2 pages (a
	 * random reader's); a sequential one takes whole blocks. */
	max_parts = (size_t)m.n;
	if (page > 0 && page < f->bs)
		max_parts = (size_t)((m.end - m.off) / page + 2 * m.n);
	/* This read's fetches, the fetch window and the hints (readahead.h). */
	max_req = max_parts + fs->cc.prefetch_depth +
		  2 * SL_MAX((size_t)fs->cc.prefetch_depth, (size_t)m.n);
	rd = rd_new(fs, req, f, *mapp, max_parts);
	*mapp = NULL;
	rd->ino = ino;
	rd->owner = owner;
	rd->size = size;
	rd->off = off;
	rd->store = buffered && fs->notify && fc_fs_immutable(fs, f->ds);
	rd_plan(rd, &m, max_req);
	return rd;
}

/*
 * Wait for rd's blocks on this thread and reply: the retry thread's way
 * (the wait's limit is only a safety net).  Returns 0 once it replied, or
 * -errno without replying (rd->failed set).
 */
int fc_read_wait(struct rd *rd)
{
	fc_fs_t *fs = rd->fs;
	int rc;

	for (size_t i = 0; i < rd->nparts; i++) {
		rc = fc_block_wait(fs->bc, rd->parts[i].b, fs->wait_ms);
		if (rc == -ETIMEDOUT) {
			sl_err("read %s/%s block %llu: nothing after %llu ms",
			       fc_fs_ds_name(fs, rd->f.ds), rd->f.path,
			       (unsigned long long)rd->parts[i].bi,
			       (unsigned long long)fs->wait_ms);
			rd->failed = part_point(rd, i);
			return -EIO;
		}
		if (rc < 0)
			break; /* rd_reply finds it first */
	}
	return rd_reply(rd);
}

/* Wait for rd on this thread, and answer it (the cure too, here).  Frees
 * rd. */
static void read_here(struct rd *rd)
{
	int rc = fc_read_wait(rd);

	if (rc < 0 && curable(rc)) {
		rd->err = rc;
		fc_read_retry(rd);
		return;
	}
	if (rc < 0)
		fc_read_failed(rd->fs, rd->req, rc);
	fc_read_free(rd);
}

/*
 * A read of ino through the current map, answered when its blocks are
 * in (struct rd); a buffered one (the kernel says how the file was
 * opened) may also fill the page cache around it (rd_store).  The file's layout
 * (block size) is taken from the map for each read, never kept in a handle, so
 * that once a map with another layout is in, every reader plans with it.
 */
void fc_fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	fc_fs_t *fs = fc_fs_of(req);
	fc_cluster_t *map = fc_io_map(fs->io);
	struct fc_file f;
	fc_inode_t ip;
	struct rd *rd;
	uint64_t owner;
	int rc;

	atomic_fetch_add(&fs->reads, 1);
	if (off < 0) {
		rc = -EINVAL;
		goto out;
	}
	rc = read_file_of(fs, ino, &f, &ip);
	if (rc < 0)
		goto out;
	fc_read_file_layout(fs, map, &f);
	/* A stream is one reader of one file: its handle, else its thread
	 * (the kernel sends readahead from the reading thread). */
	owner = fi->fh ? fi->fh : (uint64_t)fuse_req_ctx(req)->pid;
	rd = fc_read_new(fs, req, ino, &f, &map, owner, size, (uint64_t)off,
			 !(fi->flags & O_DIRECT));
	/* A random reader's read is answered by the thread that completes
	 * it.  A sequential reader's stays on its FUSE thread: read-ahead
	 * hides its latency, so there is no hand-off worth saving, and its
	 * replies (up to 1 MiB each, several at once as a block arrives)
	 * are copies the FUSE threads make side by side rather than the I/O
	 * thread one after another, between its sockets.  (One quick run
	 * with every read answered on the I/O thread measured 256 KiB
	 * sequential buffered reads at 1.12x passthrough_ll against 1.85x;
	 * the machine's noise is as large, but nothing argued for it.) */
	if (rd && rd->paged && fc_loop_hold(&rd->held) == 0)
		rd_answer_when_done(rd);
	else if (rd)
		read_here(rd);
out:
	if (rc < 0)
		fc_read_failed(fs, req, rc);
	fc_cluster_unref(&map);
}
