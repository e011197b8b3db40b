/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The filesystem the kernel sees: libfuse low-level operations over the
 * cluster.  The mount root lists one directory per dataset; below that,
 * entries come from the cache nodes' STAT and LIST, file bytes from READ
 * through the client block cache, with sequential prefetch.  Everything is
 * read-only: any operation that would change the tree answers EROFS.
 *
 * Thread safety: the operations run on libfuse's worker threads, any number
 * at once; shared state lives in the inode table, the block cache and the
 * I/O thread, each with its own lock.  fc_fs_new/destroy and fc_fs_set_io
 * run before the session loop starts or after it ends.
 */
#ifndef FC_FS_H
#define FC_FS_H

#include <stdatomic.h>
#include <stdint.h>

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include "common/config.h"
#include "fuse/cluster.h"
#include "fuse/io.h"
#include "fuse/notify.h"

typedef struct fc_fs fc_fs_t;

/* fc_fs_new flags. */
#define FC_FS_RO_MOUNT 0x1u /* mounted read-only: the kernel refuses writes */

/*
 * A filesystem over cl (borrowed; must outlive the fs) with the client
 * settings cc (copied) and FC_FS_* flags.  With FC_FS_RO_MOUNT, and every
 * dataset immutable, it lets the kernel open files without a FUSE request.
 * Its inode table lives in inode_mem[0..inode_bytes) (borrowed; NULL: its
 * own memory), made there of zeros or taken over from a predecessor
 * (inode.h).  It has no I/O thread yet: attach one with fc_fs_set_io
 * before the session loop starts.  Returns NULL with *err = -errno when
 * the table cannot be had there.  Caller frees with fc_fs_destroy after
 * the session ended.
 */
fc_fs_t *fc_fs_new(const fc_cluster_t *cl, const sl_client_conf_t *cc,
		   unsigned flags, void *inode_mem, size_t inode_bytes,
		   int *err);
void fc_fs_destroy(fc_fs_t **fsp);

/* io is borrowed: the caller destroys it after the session ended and
 * before fc_fs_destroy. */
void fc_fs_set_io(fc_fs_t *fs, fc_io_t *io);

/*
 * Reads are answered by whichever thread completes their last block
 * (read.c), so a read that fails with an error a fresh look at the store
 * can cure goes to a thread of its own: start it once the I/O thread is
 * attached, before the session loop (0 or -errno; without it such a
 * failure is the reader's at once).  Stop it after the loop ended and
 * before destroying the I/O thread, while the session still exists: it
 * finishes what it holds, and reads failing later are answered with the
 * error.  fc_fs_destroy frees what is left.
 */
int fc_fs_reads_start(fc_fs_t *fs);
void fc_fs_reads_stop(fc_fs_t *fs);

/* n is borrowed, like io: attach the session's notifier (notify.h) once
 * the session exists, before its loop starts; destroy it after the loop
 * ended, before fc_fs_destroy. */
void fc_fs_set_notify(fc_fs_t *fs, fc_notify_t *n);

/* Number handles from counter (borrowed; shared memory outliving the fs)
 * instead of the fs's own: a worker taking over a mount must never issue
 * a number its predecessor did.  Before the session loop starts. */
void fc_fs_set_handles(fc_fs_t *fs, _Atomic uint64_t *counter);

/* Count into m (borrowed; shared memory outliving the fs): FUSE ops,
 * where read bytes came from, read-ahead.  Before the session loop
 * starts; without it nothing is counted. */
void fc_fs_set_metrics(fc_fs_t *fs, fc_metrics_t *m);

/* The operations table, to pass to fuse_session_new with the fs as
 * userdata. */
const struct fuse_lowlevel_ops *fc_fs_ops(void);

/* Log a one-line summary (cache use, inode count) at info level. */
void fc_fs_log_stats(fc_fs_t *fs);

#endif
