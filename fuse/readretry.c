/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The retry thread of reads (read_i.h): a read that failed with an error
 * a fresh look can cure -- -ESTALE, the file changed in the store;
 * -EREMCHG, the dataset's blocks are cut another way; -ENOENT, the file
 * is gone -- cannot take that look on the I/O thread that completed it,
 * since the look itself needs the I/O thread.  It comes here: the cure
 * (read_recover), then the read once more, waiting on this thread.
 */
#include "fuse/read_i.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "fuse/io.h"

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
	fc_read_file_init(f, ip, &a);
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
	fc_read_file_layout(fs, map, f);
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
 * The retry thread's work: rd failed with a curable error (rd->err) on its
 * first attempt.  Take the cure (read_recover) and read once more,
 * waiting here; whatever that gives is the reader's.  Frees rd.
 */
void fc_read_retry(struct rd *rd)
{
	fc_fs_t *fs = rd->fs;
	fc_cluster_t *map = rd->map;
	struct fc_file f = rd->f;
	struct rd *again = NULL;
	fc_inode_t ip;
	int rc;

	rd->map = NULL;
	rc = fc_inode_get(fs->inodes, rd->ino, &ip);
	if (rc == 0)
		rc = read_recover(fs, &ip, &f, rd->err, rd->failed, &map);
	if (rc == 0) {
		atomic_fetch_add(&fs->read_retries, 1);
		again = fc_read_new(fs, rd->req, rd->ino, &f, &map, rd->owner,
				    rd->size, rd->off, rd->store);
		if (again)
			rc = fc_read_wait(again);
	}
	if (rc < 0)
		fc_read_failed(fs, rd->req, rc);
	fc_read_free(again);
	fc_read_free(rd);
	fc_cluster_unref(&map);
}

static void *retry_main(void *arg)
{
	fc_fs_t *fs = arg;
	struct pollfd pfd = {.fd = sl_inbox_fd(fs->retry), .events = POLLIN};
	sl_fifo_t q;
	sl_qlink_t *l;

	sl_fifo_init(&q);
	for (;;) {
		if (sl_fifo_empty(&q)) {
			if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
				break;
			sl_inbox_take(fs->retry, &q);
			continue;
		}
		l = sl_fifo_pop(&q);
		if (l == &fs->retry_stop)
			break;
		fc_read_retry(sl_container_of(l, struct rd, link));
	}
	/* Whatever came after the stop is fc_fs_reads_stop's. */
	while ((l = sl_fifo_pop(&q)) != NULL)
		if (l != &fs->retry_stop)
			sl_inbox_post(fs->retry, l);
	return NULL;
}

int fc_fs_reads_start(fc_fs_t *fs)
{
	int rc;

	fs->retry = sl_inbox_new(&rc);
	if (!fs->retry)
		return rc;
	rc = pthread_create(&fs->retry_thread, NULL, retry_main, fs);
	if (rc != 0) {
		sl_inbox_destroy(&fs->retry);
		return -rc;
	}
	return 0;
}

void fc_fs_reads_stop(fc_fs_t *fs)
{
	sl_fifo_t q;
	sl_qlink_t *l;

	if (!fs->retry || fs->retry_stopped)
		return;
	fs->retry_stopped = 1;
	if (sl_inbox_post(fs->retry, &fs->retry_stop) == 0)
		pthread_join(fs->retry_thread, NULL);
	sl_inbox_close(fs->retry);
	/* Reads that failed after the stop: no cure now, the error is the
	 * reader's.  Later ones are refused by the closed inbox and
	 * answered by their completer (rd_finish). */
	sl_fifo_init(&q);
	sl_inbox_take(fs->retry, &q);
	while ((l = sl_fifo_pop(&q)) != NULL) {
		struct rd *rd = sl_container_of(l, struct rd, link);

		fc_read_failed(fs, rd->req, rd->err);
		fc_read_free(rd);
	}
}
