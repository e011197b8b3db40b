/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Extended attributes of the mount's files: what the cluster holds of a
 * file, for a sampler or a curious user (`getfattr -d FILE`).
 *
 *   user.sluice.nodes   the owner nodes of the file's blocks, in the
 *                       order of the blocks ("n0,n2"), from the client's
 *                       own ring: no round trip
 *   user.sluice.cached  the fraction of its blocks the nodes hold,
 *                       "0.00".."1.00": one HELD request per block to its
 *                       owner (the next node when the owner is down, as a
 *                       READ would), all at once
 *
 * A file of more than MAX_BLOCKS blocks is sampled evenly: MAX_BLOCKS of
 * them, so one getxattr costs a bounded number of requests.  Directories
 * and the mount's roots have none (listxattr is empty, getxattr ENODATA).
 * The store keeps no attributes of its own, so the set is fixed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/blockkey.h"
#include "common/util.h"
#include "fuse/fs_i.h"
#include "fuse/io.h"
#include "fuse/wire.h"
#include "proto/proto.h"

#define XA_CACHED  "user.sluice.cached"
#define XA_NODES   "user.sluice.nodes"
#define MAX_BLOCKS 1024

/* The HELD answers of one getxattr, counted on the I/O thread. */
typedef struct held_wait {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	size_t left; /* protected by lock: requests not answered yet */
	size_t held; /* protected by lock */
	int failed;  /* protected by lock: the first error */
} held_wait_t;

static void held_done(void *arg, const fc_io_result_t *res)
{
	held_wait_t *w = arg;
	uint8_t yes = 0;
	int rc = res->status;

	if (rc == 0)
		rc = pr_held_reply_decode(&yes, zmq_msg_data(res->body),
					  zmq_msg_size(res->body));
	pthread_mutex_lock(&w->lock);
	if (rc < 0 && !w->failed)
		w->failed = rc;
	w->held += yes;
	if (--w->left == 0)
		pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* A file's blocks as the current map cuts them. */
typedef struct xfile {
	fc_inode_t ip;
	fc_attr_t a;
	fc_cluster_t *map; /* a reference */
	const fc_dataset_t *ds;
	uint64_t nblk;
} xfile_t;

/* ino as a file: 0, -ENODATA for anything else, or -errno. */
static int xfile_get(fc_fs_t *fs, fuse_ino_t ino, xfile_t *x)
{
	int rc = fc_inode_get(fs->inodes, ino, &x->ip);

	x->map = NULL;
	if (rc == 0 && x->ip.dataset < 0)
		rc = -ENODATA;
	if (rc == 0)
		rc = fc_fs_fresh_attr(fs, &x->ip, &x->a);
	if (rc == 0 && x->a.type != PR_TYPE_FILE)
		rc = -ENODATA;
	if (rc < 0)
		return rc;
	x->map = fc_io_map(fs->io);
	if ((size_t)x->ip.dataset >= x->map->n_datasets) {
		fc_cluster_unref(&x->map);
		return -ENODATA;
	}
	x->ds = &x->map->datasets[x->ip.dataset];
	x->nblk = (x->a.size + x->ds->block_size - 1) / x->ds->block_size;
	return 0;
}

/* The i-th block looked at, of n: every block, or an even sample. */
static uint64_t nth_block(const xfile_t *x, uint64_t i, uint64_t n)
{
	return n == x->nblk ? i : i * x->nblk / n;
}

static sl_blockkey_t key_of(const xfile_t *x, uint64_t block)
{
	return sl_blockkey_make(x->ds->name, x->ds->layout, x->ip.path,
				x->a.version, block);
}

/* user.sluice.nodes into out[cap]: 0, or -ERANGE. */
static int nodes_value(const xfile_t *x, char *out, size_t cap)
{
	uint64_t n = SL_MIN(x->nblk, (uint64_t)MAX_BLOCKS);
	uint8_t *seen = sl_xcalloc(x->map->n_nodes + 1, 1);
	size_t used = 0;
	int rc = 0;

	out[0] = 0;
	for (uint64_t i = 0; i < n && x->map->ring && rc == 0; i++) {
		size_t idx = sl_ring_owner(x->map->ring,
					   key_of(x, nth_block(x, i, n)).lo);
		int len;

		if (idx >= x->map->n_nodes || seen[idx])
			continue;
		seen[idx] = 1;
		len = snprintf(out + used, cap - used, "%s%s", used ? "," : "",
			       x->map->nodes[idx].name);
		if (len < 0 || (size_t)len >= cap - used)
			rc = -ERANGE;
		else
			used += (size_t)len;
	}
	free(seen);
	return rc;
}

/* user.sluice.cached into out[cap]: 0 or -errno (-EIO: no node said). */
static int cached_value(fc_fs_t *fs, const xfile_t *x, char *out, size_t cap)
{
	uint64_t n = SL_MIN(x->nblk, (uint64_t)MAX_BLOCKS);
	fc_io_req_t *reqs = sl_xcalloc(n + 1, sizeof(*reqs));
	held_wait_t w = {.left = n};
	size_t made = 0;
	int rc = 0;

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	for (uint64_t i = 0; i < n && rc == 0; i++) {
		uint64_t b = nth_block(x, i, n);

		rc = fc_wire_read_req(x->ds->name, x->ds->layout, x->ip.path,
				      x->a.version, b, 0, 0, &reqs[i].body,
				      &reqs[i].len);
		reqs[i].opcode = PR_OP_HELD;
		reqs[i].point = key_of(x, b).lo;
		reqs[i].done = held_done;
		reqs[i].arg = &w;
		made += rc == 0;
	}
	if (rc < 0) {
		for (size_t i = 0; i < made; i++)
			free(reqs[i].body);
	} else if (n) {
		/* Each request completes once, with -ESHUTDOWN at worst. */
		fc_io_submit(fs->io, reqs, n);
		pthread_mutex_lock(&w.lock);
		while (w.left)
			pthread_cond_wait(&w.cond, &w.lock);
		pthread_mutex_unlock(&w.lock);
		if (w.failed && !w.held)
			rc = -EIO;
	}
	if (rc == 0)
		snprintf(out, cap, "%.2f",
			 n ? (double)w.held / (double)n : 1.0);
	pthread_mutex_destroy(&w.lock);
	pthread_cond_destroy(&w.cond);
	free(reqs);
	return rc;
}

/* Reply with value (NUL not included) as getxattr wants it for size. */
static void reply_value(fuse_req_t req, const char *value, size_t len,
			size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, value, len);
}

void fc_fs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    size_t size)
{
	fc_fs_t *fs = fc_fs_of(req);
	char value[4096];
	xfile_t x;
	int rc;

	if (strcmp(name, XA_CACHED) != 0 && strcmp(name, XA_NODES) != 0) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	rc = xfile_get(fs, ino, &x);
	if (rc == 0)
		rc = strcmp(name, XA_NODES) == 0
			     ? nodes_value(&x, value, sizeof(value))
			     : cached_value(fs, &x, value, sizeof(value));
	fc_cluster_unref(&x.map);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		reply_value(req, value, strlen(value), size);
}

void fc_fs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	static const char names[] = XA_CACHED "\0" XA_NODES;
	fc_fs_t *fs = fc_fs_of(req);
	xfile_t x;
	int rc = xfile_get(fs, ino, &x);

	fc_cluster_unref(&x.map);
	if (rc == -ENODATA)
		reply_value(req, "", 0, size);
	else if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		reply_value(req, names, sizeof(names), size);
}
