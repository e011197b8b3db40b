/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NVMe tier (see disktier.h): the index, the policies, space and the
 * operations, on top of the io_uring engine (diskio.c); the file format
 * and the start-up rebuild are in diskformat.c.
 *
 * Tiering.  The tier is inclusive: every block the backend delivers is
 * queued for a write to disk right after it was served, whether or not RAM
 * admitted it, and a RAM eviction is then a "demotion" that costs no I/O:
 * the block is already on disk and only becomes recent in the disk's LRU
 * (a block that never reached the disk -- a write dropped under a backlog,
 * say -- is written at that moment instead).  Writing at eviction time
 * (exclusive tiers, as memcached's extstore does) would save disk writes
 * for blocks that live in RAM until the node stops, but it loses exactly
 * those blocks on a restart, holds evicted RAM hostage until its write
 * ends, and puts a write on the path of every allocation under pressure.
 * For a dataset cache whose point is a warm restart, disk space is the
 * cheap resource: the overlap costs at most ram_capacity of disk.  A disk
 * hit is read into a buffer from the RAM tier and offered to it, so RAM's
 * own policy decides on promotion; with RAM full of `pin` blocks the block
 * is served once from the buffer.  A block whose write is still queued
 * holds its RAM buffer (charged to the RAM tier, evicted or not) until the
 * write ends, and is served from it meanwhile: a disk slower than the
 * backend slows the fetches down (they wait for memory) instead of
 * growing it, and nothing is fetched twice for being in flight to disk.
 *
 * Policies over both tiers.  The disk keeps its own instance of each
 * policy (the same tables as the RAM tier's, policy.h), with the RAM
 * tier's rule: a policy only evicts its own blocks.  Admission evicts the
 * victims of the new block's policy until it fits (and first checks that
 * evicting all its blocks would be enough, so it never empties the tier
 * for nothing); `pin` offers no victims, so it takes free capacity only.
 * So a `pin` dataset on a full node keeps what it has in both tiers and
 * serves the rest from the backend, and `lru` blocks fall out of RAM onto
 * disk and out of the disk last.
 *
 * Space.  disk_capacity bounds the bytes of the block files (header and
 * 4 KiB rounding included).  Independently, the filesystem's free space
 * (read once a second by the I/O thread, less the writes queued and done
 * since) must stay above the floor, disk_min_free.  Below it, or after an
 * ENOSPC, the tier stops admitting and says so once; it admits again when
 * a fresh reading shows the floor plus a margin (1% of the filesystem up
 * to 1 GiB, at least two blocks) free -- after an ENOSPC, that much more
 * than when the kernel said no -- so it does not flap.  A write error other
 * than a full disk (EIO) stops admission until a restart or a reload.  Reads go
 * on in all these states; clients never see a disk error, only a slower reply
 * from the backend.
 */
#include "cachenode/disktier.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cachenode/disktier_i.h"
#include "common/log.h"
#include "common/util.h"

#define WRITE_BACKLOG 4096 /* writes queued or in flight, at most */
#define OP_CACHE      64   /* finished operations kept for reuse */
#define MIN_INODES    64   /* free inodes needed to resume after ENOSPC */

/* ---- Operations ---------------------------------------------------------- */

dop_t *cn_dt_op_get(cn_disktier_t *dt)
{
	dop_t *op = dt->free_ops;
	void *p;

	if (op) {
		dt->free_ops = op->next_free;
		dt->n_free_ops--;
	} else {
		if (posix_memalign(&p, ALIGN, sizeof(*op)) != 0)
			sl_assert_fail("posix_memalign", __FILE__, __LINE__,
				       __func__);
		op = p;
	}
	memset(&op->io, 0, sizeof(*op) - offsetof(dop_t, io));
	op->dt = dt;
	return op;
}

void cn_dt_op_put(cn_disktier_t *dt, dop_t *op)
{
	free(op->bounce);
	op->bounce = NULL;
	if (dt->n_free_ops >= OP_CACHE) {
		free(op);
		return;
	}
	op->next_free = dt->free_ops;
	dt->free_ops = op;
	dt->n_free_ops++;
}

/*
 * Point the op's data vector at b's bytes, or at an aligned bounce buffer
 * when O_DIRECT cannot use them: padded bytes must be addressable and the
 * start 4 KiB-aligned.
 */
static void op_data(cn_disktier_t *dt, dop_t *op, cn_block_t *b)
{
	uint8_t *data = cn_block_data(b);
	void *p;

	op->padded = dt->direct ? cn_dt_round_up(op->len, ALIGN) : op->len;
	if (dt->direct && ((uintptr_t)data % ALIGN != 0 ||
			   cn_block_capacity(b) < op->padded)) {
		if (posix_memalign(&p, ALIGN, op->padded) != 0)
			sl_assert_fail("posix_memalign", __FILE__, __LINE__,
				       __func__);
		op->bounce = p;
		data = op->bounce;
	}
	op->io.iov[0].iov_base = op->hdr;
	op->io.iov[0].iov_len = HDR_SIZE;
	op->io.iov[1].iov_base = data;
	op->io.iov[1].iov_len = op->padded;
	op->io.niov = 2;
}

static void op_path(dop_t *op, sl_blockkey_t key, uint32_t sig, size_t len)
{
	int rc = cn_disktier_block_path(key, sig, len, op->io.path,
					sizeof(op->io.path));

	SL_ASSERT(rc == 0);
}

/* ---- Entries ------------------------------------------------------------- */

void cn_dt_gauges(cn_disktier_t *dt)
{
	cn_diskio_space_t sp;

	if (dt->io) {
		cn_diskio_space(dt->io, &sp);
		atomic_store(&dt->m->disk_free, sp.avail);
	}
	atomic_store(&dt->m->disk_used, dt->used_bytes);
	atomic_store(&dt->m->disk_blocks, dt->n_live);
	atomic_store(&dt->m->disk_pending_writes, dt->pending_writes);
	atomic_store(&dt->m->disk_full, (uint64_t)dt->full);
	atomic_store(&dt->m->disk_admitting,
		     (uint64_t)(!dt->full && !dt->failed));
}

dentry_t *cn_dt_find(cn_disktier_t *dt, sl_blockkey_t key)
{
	sl_knode_t *n = sl_keymap_find(&dt->index, key);

	return n ? sl_container_of(n, dentry_t, node) : NULL;
}

static struct cn_dt_quota *quota_of(cn_disktier_t *dt, uint32_t sig)
{
	for (size_t i = 0; i < dt->n_quotas; i++)
		if (dt->quotas[i].sig == sig)
			return &dt->quotas[i];
	return NULL;
}

/* Put e under the policy in slot (e counted). */
static void policy_add(cn_disktier_t *dt, dentry_t *e, unsigned slot)
{
	cn_policy_t *p = dt->policies.p[slot];
	struct cn_dt_quota *q = quota_of(dt, e->sig);

	e->pslot = (uint8_t)slot;
	p->ops->insert(p->st, &e->plink);
	dt->policy_bytes[slot] += cn_dt_charge(e->len);
	if (q)
		q->used += cn_dt_charge(e->len);
}

static void policy_del(cn_disktier_t *dt, dentry_t *e)
{
	cn_policy_t *p = dt->policies.p[e->pslot];
	struct cn_dt_quota *q = quota_of(dt, e->sig);

	p->ops->remove(p->st, &e->plink);
	dt->policy_bytes[e->pslot] -= cn_dt_charge(e->len);
	if (q)
		q->used -= cn_dt_charge(e->len);
}

dentry_t *cn_dt_entry_new(cn_disktier_t *dt, sl_blockkey_t key, uint32_t sig,
			  uint32_t len, const cn_policy_ops_t *policy,
			  int state)
{
	dentry_t *e = sl_xcalloc(1, sizeof(*e));
	uint64_t c = cn_dt_charge(len);

	e->node.key = key;
	e->sig = sig;
	e->len = len;
	e->state = (uint8_t)state;
	e->refs = 1;
	e->counted = 1;
	sl_keymap_insert(&dt->index, &e->node);
	policy_add(dt, e, cn_policy_slot(&dt->policies, policy));
	dt->live_bytes += c;
	dt->used_bytes += c;
	dt->n_live++;
	dt->max_charge = SL_MAX(dt->max_charge, c);
	return e;
}

static void entry_put(dentry_t *e)
{
	SL_ASSERT(e->refs > 0);
	if (--e->refs == 0) {
		SL_ASSERT(!e->blk && !e->again);
		free(e);
	}
}

/* Take e out of the live accounting and its policy (it is going). */
static void uncount(cn_disktier_t *dt, dentry_t *e)
{
	uint64_t c = cn_dt_charge(e->len);

	if (!e->counted)
		return;
	e->counted = 0;
	policy_del(dt, e);
	dt->live_bytes -= c;
	dt->n_live--;
}

/* e's file is gone (or never was): out of the index for good. */
static void entry_remove(cn_disktier_t *dt, dentry_t *e)
{
	uncount(dt, e);
	dt->used_bytes -= cn_dt_charge(e->len);
	sl_keymap_remove(&dt->index, &e->node);
	entry_put(e);
}

static void op_done(cn_disktier_t *dt, dop_t *op);

void cn_dt_submit(cn_disktier_t *dt, dop_t *op)
{
	dt->busy++;
	if (dt->stopping) {
		/* From a completion while the engine stops: too late. */
		op->io.res = -ECANCELED;
		op->io.cancelled = 1;
		op_done(dt, op);
		return;
	}
	cn_diskio_submit(dt->io, &op->io);
}

static void submit_unlink(cn_disktier_t *dt, dentry_t *e)
{
	dop_t *op = cn_dt_op_get(dt);

	op->io.kind = CN_DIO_UNLINK;
	op_path(op, e->node.key, e->sig, e->len);
	op->e = e;
	e->refs++;
	cn_dt_submit(dt, op);
}

/*
 * Evict e (counted: for capacity, as opposed to a drop or a purge).  Its
 * bytes leave the capacity at once; the entry stays indexed, dying, until
 * its file is unlinked, so that nothing writes the same name meanwhile.
 */
static void evict(cn_disktier_t *dt, dentry_t *e, int counted)
{
	if (!e->counted)
		return;
	uncount(dt, e);
	if (counted) {
		atomic_fetch_add(&dt->m->disk_evictions, 1);
		atomic_fetch_add(&dt->m->disk_evicted_bytes,
				 cn_dt_charge(e->len));
	}
	if (e->state == E_WRITING) {
		e->doomed = 1; /* unlinked once its write completes */
		return;
	}
	e->state = E_DYING;
	submit_unlink(dt, e);
}

/* Room for need more bytes under policy: 0, or -ENOSPC.  Nothing is
 * evicted when evicting every block of the policy would not be enough (a
 * policy evicts only its own blocks). */
static int make_room(cn_disktier_t *dt, uint64_t need,
		     const cn_policy_ops_t *policy)
{
	unsigned slot = cn_policy_slot(&dt->policies, policy);
	cn_policy_t *p = dt->policies.p[slot];
	sl_list_t *v;

	if (dt->live_bytes + need <= dt->capacity)
		return 0;
	if (dt->live_bytes - dt->policy_bytes[slot] + need > dt->capacity)
		return -ENOSPC;
	while (dt->live_bytes + need > dt->capacity) {
		v = p->ops->victim(p->st);
		if (!v)
			return -ENOSPC;
		evict(dt, sl_container_of(v, dentry_t, plink), 1);
	}
	return 0;
}

/* While the tier is over capacity, evict each policy's victims (or, with
 * oldest, what it would rather keep, oldest first). */
static void trim_by(cn_disktier_t *dt, int oldest)
{
	for (unsigned i = 0; i < dt->policies.n; i++) {
		cn_policy_t *p = dt->policies.p[i];
		sl_list_t *v;

		while (dt->live_bytes > dt->capacity) {
			v = oldest ? p->ops->oldest(p->st)
				   : p->ops->victim(p->st);
			if (!v)
				break;
			evict(dt, sl_container_of(v, dentry_t, plink), 1);
		}
	}
}

/* Shrink to the capacity: the policies' victims first, then what they
 * would keep (pinned blocks), oldest first. */
void cn_dt_trim(cn_disktier_t *dt)
{
	trim_by(dt, 0);
	trim_by(dt, 1);
}

static void touch(cn_disktier_t *dt, dentry_t *e)
{
	cn_policy_t *p = dt->policies.p[e->pslot];

	if (e->counted)
		p->ops->hit(p->st, &e->plink);
}

/* ---- Space --------------------------------------------------------------- */

static uint64_t floor_bytes(const cn_disktier_t *dt, uint64_t fs_size)
{
	return dt->min_free_pct ? fs_size / 100 * dt->min_free_pct
				: dt->min_free;
}

static void set_full(cn_disktier_t *dt, const char *why, uint64_t avail,
		     uint64_t floor)
{
	if (dt->full)
		return;
	dt->full = 1;
	sl_warn("disk tier %s is full (%s): %" PRIu64
		" MiB free, floor %" PRIu64
		" MiB: not admitting new blocks; serving from RAM, the disk "
		"and the backend",
		dt->root_path, why, avail >> 20, floor >> 20);
	cn_dt_gauges(dt);
}

/* May a file of need bytes be added without crossing the floor? */
static int space_ok(cn_disktier_t *dt, uint64_t need)
{
	cn_diskio_space_t sp;
	uint64_t floor, avail, spent, margin;
	int fresh;

	cn_diskio_space(dt->io, &sp);
	fresh = sp.gen != dt->space_gen;
	if (fresh) {
		dt->space_gen = sp.gen;
		dt->written_since = 0;
	}
	floor = floor_bytes(dt, sp.size);
	spent = dt->pending_bytes + dt->written_since;
	avail = sp.avail > spent ? sp.avail - spent : 0;
	if (dt->full) {
		/* After an ENOSPC the free space the kernel reports was not
		 * enough (reserved blocks, inodes, quotas): wait until more
		 * than that is free. */
		margin = SL_MAX(SL_MIN(sp.size / 100, 1ull << 30),
				2 * dt->max_charge);
		if (!fresh ||
		    avail < SL_MAX(floor, dt->enospc_avail) + margin ||
		    sp.files < MIN_INODES)
			return 0;
		dt->full = 0;
		dt->enospc_avail = 0;
		sl_notice("disk tier %s: %" PRIu64
			  " MiB free again: admitting blocks",
			  dt->root_path, avail >> 20);
		cn_dt_gauges(dt);
	}
	if (avail < floor + need) {
		set_full(dt, "free space below disk_min_free", avail, floor);
		return 0;
	}
	return 1;
}

static void write_failed(cn_disktier_t *dt, int rc)
{
	cn_diskio_space_t sp;

	if (rc == -ENOSPC || rc == -EDQUOT) {
		cn_diskio_space(dt->io, &sp);
		dt->enospc_avail = SL_MAX(dt->enospc_avail, sp.avail);
		set_full(dt, strerror(-rc), sp.avail, floor_bytes(dt, sp.size));
		/* Wait for a reading taken after the error. */
		dt->space_gen = sp.gen;
		cn_diskio_refresh_space(dt->io);
		return;
	}
	if (dt->failed)
		return;
	dt->failed = 1;
	sl_err("disk tier %s: a block write failed: %s: not admitting new "
	       "blocks until a restart or reload; serving from RAM, the disk "
	       "and the backend",
	       dt->root_path, strerror(-rc));
	cn_dt_gauges(dt);
}

/* ---- Completions --------------------------------------------------------- */

static void read_done(cn_disktier_t *dt, dop_t *op)
{
	dentry_t *e = op->e;
	int rc = (int)op->io.res;
	char hex[SL_BLOCKKEY_HEX];

	if (op->io.cancelled) {
		rc = -ESHUTDOWN;
	} else {
		atomic_fetch_add(&dt->m->disk_reads, 1);
		cn_metrics_disk_latency(dt->m, 0, op->io.lat_ns);
		if (rc >= 0)
			atomic_fetch_add(&dt->m->disk_read_bytes,
					 HDR_SIZE + op->len);
	}
	if (rc < 0 && rc != -ESHUTDOWN) {
		sl_blockkey_hex(op->key, hex);
		if (rc == -EBADMSG) {
			atomic_fetch_add(&dt->m->corrupt_blocks, 1);
			sl_log_ratelimited(SL_LOG_WARNING,
					   "disk tier %s: block %s failed its "
					   "checksum: dropped, refetching",
					   dt->root_path, hex);
		} else if (rc != -ENOENT) {
			atomic_fetch_add(&dt->m->disk_read_errors, 1);
			sl_log_ratelimited(SL_LOG_WARNING,
					   "disk tier %s: reading block %s: "
					   "%s: dropped, refetching",
					   dt->root_path, hex, strerror(-rc));
		}
		if (e->state == E_READY)
			evict(dt, e, 0);
	}
	entry_put(e);
	op->done(op->arg, rc);
}

static void write_done(cn_disktier_t *dt, dop_t *op)
{
	dentry_t *e = op->e;
	int rc = (int)op->io.res;

	dt->pending_writes--;
	dt->pending_bytes -= cn_dt_charge(op->len);
	cn_block_unref(e->blk);
	e->blk = NULL;
	if (rc >= 0) {
		atomic_fetch_add(&dt->m->disk_writes, 1);
		atomic_fetch_add(&dt->m->disk_write_bytes,
				 HDR_SIZE + op->padded);
		cn_metrics_disk_latency(dt->m, 1, op->io.lat_ns);
		dt->written_since += cn_dt_charge(op->len);
		if (e->doomed) {
			e->state = E_DYING;
			submit_unlink(dt, e);
		} else {
			e->state = E_READY;
		}
	} else {
		if (!op->io.cancelled) {
			atomic_fetch_add(&dt->m->disk_write_errors, 1);
			write_failed(dt, rc);
		}
		cn_block_unref(e->again);
		e->again = NULL;
		entry_remove(dt, e);
	}
	entry_put(e);
}

int cn_disktier_admit(cn_disktier_t *dt, sl_blockkey_t key, cn_block_t *b,
		      uint32_t sig, const cn_policy_ops_t *policy);

static void unlink_done(cn_disktier_t *dt, dop_t *op)
{
	dentry_t *e = op->e;
	cn_block_t *again = e ? e->again : NULL;

	if (op->io.res < 0 && op->io.res != -ENOENT && !op->io.cancelled)
		sl_log_ratelimited(
			SL_LOG_WARNING, "disk tier %s: cannot delete %s: %s",
			dt->root_path, op->io.path, strerror((int)-op->io.res));
	if (!e)
		return;
	e->again = NULL;
	entry_remove(dt, e);
	/* The block was fetched again while its old file went: write it
	 * now that the name is free. */
	if (again && !dt->stopping)
		cn_disktier_admit(dt, e->node.key, again, e->sig,
				  dt->policies.p[e->pslot]->ops);
	cn_block_unref(again);
	entry_put(e);
}

static void op_done(cn_disktier_t *dt, dop_t *op)
{
	dt->busy--;
	if (op->self_test) {
		cn_dt_op_put(dt, op);
		return;
	}
	switch (op->io.kind) {
	case CN_DIO_READ:
		read_done(dt, op);
		break;
	case CN_DIO_WRITE:
		write_done(dt, op);
		break;
	default:
		unlink_done(dt, op);
		break;
	}
	cn_dt_op_put(dt, op);
}

static void destroy_done(cn_dio_op_t *io, void *arg)
{
	op_done(arg, sl_container_of(io, dop_t, io));
}

void cn_disktier_reap(cn_disktier_t *dt)
{
	sl_fifo_t done;
	sl_qlink_t *l;

	sl_fifo_init(&done);
	cn_diskio_reap(dt->io, &done);
	while ((l = sl_fifo_pop(&done)))
		op_done(dt, sl_container_of(l, dop_t, io.link));
	cn_dt_gauges(dt);
}

/* ---- The event thread's calls -------------------------------------------- */

int cn_disktier_lookup(cn_disktier_t *dt, sl_blockkey_t key, size_t *len,
		       cn_block_t **mem)
{
	dentry_t *e = cn_dt_find(dt, key);

	if (!e || !e->counted)
		return CN_DISK_MISS;
	touch(dt, e);
	*len = e->len;
	if (e->state == E_WRITING) {
		*mem = cn_block_ref(e->blk);
		return CN_DISK_MEM;
	}
	return CN_DISK_READY;
}

int cn_disktier_read(cn_disktier_t *dt, sl_blockkey_t key, cn_block_t *b,
		     void (*done)(void *arg, int rc), void *arg)
{
	dentry_t *e = cn_dt_find(dt, key);
	dop_t *op;

	if (!e || !e->counted || e->state != E_READY)
		return -ENOENT;
	SL_ASSERT(cn_block_len(b) == e->len);
	op = cn_dt_op_get(dt);
	op->io.kind = CN_DIO_READ;
	op->io.post = cn_dt_read_post;
	op->e = e;
	e->refs++;
	op->blk = b;
	op->len = e->len;
	op->key = key;
	op->sig = e->sig;
	op->done = done;
	op->arg = arg;
	op_path(op, key, e->sig, e->len);
	op_data(dt, op, b);
	cn_dt_submit(dt, op);
	return 0;
}

int cn_disktier_admit(cn_disktier_t *dt, sl_blockkey_t key, cn_block_t *b,
		      uint32_t sig, const cn_policy_ops_t *policy)
{
	size_t len = cn_block_len(b);
	uint64_t need = cn_dt_charge(len);
	const struct cn_dt_quota *q;
	dentry_t *e;
	dop_t *op;

	if (len == 0 || len > SL_BLOCK_SIZE_MAX)
		return 0;
	e = cn_dt_find(dt, key);
	if (e) {
		/* Its old file is going (dropped as corrupt, evicted): write
		 * this one after it. */
		if (!e->counted && !e->again && e->sig == sig)
			e->again = cn_block_ref(b);
		return 0;
	}
	q = quota_of(dt, sig);
	if (dt->failed || dt->pending_writes >= WRITE_BACKLOG ||
	    (q && q->used + need > q->limit) || !space_ok(dt, need) ||
	    make_room(dt, need, policy) < 0) {
		atomic_fetch_add(&dt->m->disk_not_admitted, 1);
		return 0;
	}
	e = cn_dt_entry_new(dt, key, sig, (uint32_t)len, policy, E_WRITING);
	e->blk = cn_block_ref(b);
	op = cn_dt_op_get(dt);
	op->io.kind = CN_DIO_WRITE;
	op->io.prep = cn_dt_write_prep;
	op->e = e;
	e->refs++;
	op->blk = e->blk;
	op->len = len;
	op->key = key;
	op->sig = sig;
	op_path(op, key, sig, len);
	op_data(dt, op, b);
	dt->pending_writes++;
	dt->pending_bytes += need;
	atomic_fetch_add(&dt->m->disk_admitted, 1);
	cn_dt_submit(dt, op);
	cn_dt_gauges(dt);
	return 1;
}

int cn_disktier_demote(cn_disktier_t *dt, sl_blockkey_t key, cn_block_t *b,
		       uint32_t sig, const cn_policy_ops_t *policy)
{
	dentry_t *e = cn_dt_find(dt, key);

	if (e) {
		if (!e->counted)
			return 0;
		touch(dt, e);
	} else if (!cn_disktier_admit(dt, key, b, sig, policy)) {
		return 0;
	}
	atomic_fetch_add(&dt->m->demotions, 1);
	return 1;
}

struct quota_walk {
	cn_disktier_t *dt;
	struct cn_dt_quota *q;
	int trim; /* 0: add up the charges; 1: evict down to the limit */
};

static void quota_one(sl_knode_t *n, void *arg)
{
	struct quota_walk *w = arg;
	dentry_t *e = sl_container_of(n, dentry_t, node);

	if (!e->counted || e->sig != w->q->sig)
		return;
	if (!w->trim)
		w->q->used += cn_dt_charge(e->len);
	else if (w->q->used > w->q->limit)
		evict(w->dt, e, 1);
}

void cn_disktier_set_quota(cn_disktier_t *dt, uint32_t sig, uint64_t limit)
{
	struct cn_dt_quota *q = quota_of(dt, sig);
	struct quota_walk w = {dt, NULL, 0};

	if (limit == UINT64_MAX) {
		if (q)
			*q = dt->quotas[--dt->n_quotas];
		return;
	}
	if (!q) {
		dt->quotas = sl_xrealloc(
			dt->quotas, (dt->n_quotas + 1) * sizeof(*dt->quotas));
		q = &dt->quotas[dt->n_quotas++];
		*q = (struct cn_dt_quota){.sig = sig};
		w.q = q;
		sl_keymap_foreach(&dt->index, quota_one, &w);
	}
	q->limit = limit;
	w.q = q;
	w.trim = 1;
	if (q->used > limit) {
		sl_keymap_foreach(&dt->index, quota_one, &w);
		cn_dt_gauges(dt);
	}
}

void cn_disktier_drop(cn_disktier_t *dt, sl_blockkey_t key)
{
	dentry_t *e = cn_dt_find(dt, key);

	if (e) {
		evict(dt, e, 0);
		cn_dt_gauges(dt);
	}
}

void cn_disktier_info(const cn_disktier_t *dt, cn_disktier_info_t *out)
{
	out->blocks = dt->n_live;
	out->used_bytes = dt->used_bytes;
	out->pending_writes = dt->pending_writes;
	out->direct = dt->direct;
	out->rebuild_ns = dt->rebuild_ns;
	out->rebuild_files = dt->rebuild_files;
}

int cn_disktier_fd(const cn_disktier_t *dt)
{
	return cn_diskio_fd(dt->io);
}

int cn_disktier_flush(cn_disktier_t *dt, unsigned timeout_ms)
{
	uint64_t deadline = sl_now_ms() + timeout_ms;
	struct pollfd pfd = {cn_disktier_fd(dt), POLLIN, 0};

	while (dt->busy > 0) {
		uint64_t now = sl_now_ms();

		if (now >= deadline)
			return -ETIMEDOUT;
		poll(&pfd, 1, (int)SL_MIN(deadline - now, 100u));
		cn_disktier_reap(dt);
	}
	return 0;
}

/* ---- Configuration ---------------------------------------------------------
 */

const cn_disk_dataset_t *cn_dt_dataset_of(const cn_disktier_t *dt, uint32_t sig)
{
	for (size_t i = 0; i < dt->n_ds; i++)
		if (dt->ds[i].sig == sig)
			return &dt->ds[i];
	return NULL;
}

void cn_dt_set_datasets(cn_disktier_t *dt, const cn_disk_dataset_t *ds,
			size_t n)
{
	free(dt->ds);
	dt->ds = sl_xcalloc(n ? n : 1, sizeof(*ds));
	memcpy(dt->ds, ds, n * sizeof(*ds));
	dt->n_ds = n;
}

struct regroup {
	cn_disktier_t *dt;
	int keep; /* leave blocks of datasets not in ds (for the reload) */
	size_t purged;
};

/* Purge blocks of datasets that went away; move those whose dataset
 * changed policy. */
static void regroup_one(sl_knode_t *n, void *arg)
{
	struct regroup *r = arg;
	cn_disktier_t *dt = r->dt;
	dentry_t *e = sl_container_of(n, dentry_t, node);
	const cn_disk_dataset_t *d;

	if (!e->counted)
		return;
	d = cn_dt_dataset_of(dt, e->sig);
	if (!d && r->keep)
		return;
	if (!d) {
		evict(dt, e, 0);
		r->purged++;
		return;
	}
	if (d->policy == dt->policies.p[e->pslot]->ops)
		return;
	policy_del(dt, e);
	policy_add(dt, e, cn_policy_slot(&dt->policies, d->policy));
}

void cn_dt_apply_limits(cn_disktier_t *dt, const cn_disktier_conf_t *c)
{
	dt->capacity = c->capacity;
	dt->min_free = c->min_free;
	dt->min_free_pct = c->min_free_pct;
	atomic_store(&dt->m->disk_capacity, c->capacity);
}

/* The datasets are now ds[0..n): regroup the entries (keep: those of
 * other datasets stay); how many went. */
static size_t regroup(cn_disktier_t *dt, const cn_disk_dataset_t *ds, size_t n,
		      int keep)
{
	struct regroup r = {dt, keep, 0};

	cn_dt_set_datasets(dt, ds, n);
	sl_keymap_foreach(&dt->index, regroup_one, &r);
	/* The limits of datasets that went go with them. */
	for (size_t i = 0; !keep && i < dt->n_quotas;)
		if (!cn_dt_dataset_of(dt, dt->quotas[i].sig))
			dt->quotas[i] = dt->quotas[--dt->n_quotas];
		else
			i++;
	return r.purged;
}

void cn_disktier_set_policies(cn_disktier_t *dt, const cn_disk_dataset_t *ds,
			      size_t n_ds)
{
	(void)regroup(dt, ds, n_ds, 1);
	cn_dt_gauges(dt);
}

void cn_disktier_configure(cn_disktier_t *dt, const cn_disktier_conf_t *c,
			   const cn_disk_dataset_t *ds, size_t n_ds)
{
	size_t purged;

	cn_dt_apply_limits(dt, c);
	purged = regroup(dt, ds, n_ds, 0);
	cn_dt_trim(dt);
	if (purged)
		sl_notice("disk tier %s: %zu blocks of removed or changed "
			  "datasets deleted",
			  dt->root_path, purged);
	if (dt->failed)
		sl_notice("disk tier %s: admitting blocks again after the "
			  "reload",
			  dt->root_path);
	dt->failed = 0;
	dt->full = 0;
	cn_dt_gauges(dt);
}

static void free_entry(sl_knode_t *n, void *arg)
{
	dentry_t *e = sl_container_of(n, dentry_t, node);

	(void)arg;
	SL_ASSERT(e->refs == 1 && !e->blk && !e->again);
	free(e);
}

void cn_disktier_destroy(cn_disktier_t **dp)
{
	cn_disktier_t *dt = dp ? *dp : NULL;
	dop_t *op;

	if (!dt)
		return;
	/* Every operation completes (or is cancelled) through op_done,
	 * which drops the references it held. */
	dt->stopping = 1;
	cn_diskio_destroy(&dt->io, destroy_done, dt);
	/* The policies unlink the entries they still hold: first. */
	cn_policy_slots_fini(&dt->policies);
	sl_keymap_foreach(&dt->index, free_entry, NULL);
	sl_keymap_fini(&dt->index);
	while ((op = dt->free_ops)) {
		dt->free_ops = op->next_free;
		free(op);
	}
	if (dt->lock_fd >= 0)
		close(dt->lock_fd);
	if (dt->root_fd >= 0)
		close(dt->root_fd);
	free(dt->ds);
	free(dt->root_path);
	free(dt->quotas);
	free(dt);
	*dp = NULL;
}

struct each_arg {
	void (*fn)(void *arg, uint32_t sig, size_t len);
	void *arg;
};

static void each_one(sl_knode_t *n, void *arg)
{
	struct each_arg *a = arg;
	dentry_t *e = sl_container_of(n, dentry_t, node);

	if (e->counted)
		a->fn(a->arg, e->sig, e->len);
}

void cn_disktier_foreach(cn_disktier_t *dt,
			 void (*fn)(void *arg, uint32_t sig, size_t len),
			 void *arg)
{
	struct each_arg a = {fn, arg};

	sl_keymap_foreach(&dt->index, each_one, &a);
}
