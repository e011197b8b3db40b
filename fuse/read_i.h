/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the two halves of reads share: read.c plans, fetches and answers
 * reads; readretry.c is the retry thread, which cures a read that failed
 * with an error a fresh look can cure (a file changed in the store, a
 * dataset cut another way) and reads it once more.  Internal to fuse/.
 */
#ifndef FC_READ_I_H
#define FC_READ_I_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "common/inbox.h"
#include "fuse/fs_i.h"
#include "fuse/loop.h"
#include "proto/proto.h"

struct part; /* one block of a read (read.c) */

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

/*
 * A read in flight, from its plan to its reply.  For a random reader,
 * the FUSE thread that takes the request plans it and returns; the reply
 * is sent by whichever thread completes its last block -- usually the I/O
 * thread, as the READ's reply arrives -- so a miss costs no FUSE thread
 * sleeping on a condition variable and no wake-up of it: one hand-off
 * fewer per miss (perf stat, random 4 KiB O_DIRECT: client context
 * switches per read 7.1-7.6 -> 5.3-5.7 with 1 job, 4.3-4.8 -> 2.8-3.1
 * with 4).  A read whose blocks are all here already replies on the FUSE
 * thread; a sequential reader's waits there (see fc_fs_read).  One
 * allocation holds it all: the parts, the iovec the reply is built in,
 * the path.
 *
 * An answered read waits on no timeout: the I/O thread completes every
 * fetch within (candidates x request_timeout) and a block another read
 * fetches is completed by that read's fetch, so every registered waiter
 * is called.  A read that failed with an error a fresh look can cure
 * (read_recover) cannot take that look on the I/O thread, which the look
 * itself needs: it goes to the retry thread, which recovers and reads
 * once more the old way, waiting.
 */
struct rd {
	fc_fs_t *fs;
	fuse_req_t req;
	fc_cluster_t *map; /* the map it was planned with (a reference) */
	struct fc_file f;  /* f.path points at path, below */
	uint64_t ino, owner, off;
	size_t size;
	int seq;	     /* the planner took the stream for sequential */
	int paged;	     /* a random reader's: pages (rd_plan) */
	int store;	     /* give the kernel the pages it read (rd_store) */
	uint64_t failed;     /* the ring point of the first block that failed */
	int err;	     /* what failed, for the retry thread */
	_Atomic size_t left; /* parts not complete, +1 while planning */
	sl_qlink_t link;     /* on the retry thread's inbox */
	fc_held_t held;	     /* its slot (loop.h), until fc_read_free */
	size_t nparts, max_parts;
	struct part *parts; /* max_parts, in this allocation */
	struct iovec *iov;  /* max_parts, in this allocation */
	char path[];
};

/* Fill f for ip (borrowed; f->path borrows ip->path) from attributes a. */
void fc_read_file_init(struct fc_file *f, const fc_inode_t *ip,
		       const fc_attr_t *a);
/* f's blocks as map (borrowed) cuts them. */
void fc_read_file_layout(const fc_fs_t *fs, const fc_cluster_t *map,
			 struct fc_file *f);

/*
 * A read of [off, off+size) of f (copied) for req, planned and sent: its
 * fetches are on their way.  Takes *mapp (the map f was laid out with).
 * Returns NULL when the read is past the end of the file, having replied
 * with no bytes.  Free with fc_read_free.
 */
struct rd *fc_read_new(fc_fs_t *fs, fuse_req_t req, uint64_t ino,
		       const struct fc_file *f, fc_cluster_t **mapp,
		       uint64_t owner, size_t size, uint64_t off, int buffered);
/* Wait for rd's blocks on this thread and reply.  0 once it replied, or
 * -errno without replying (rd->failed set). */
int fc_read_wait(struct rd *rd);
/* Put rd's blocks and free it (and its map reference, and its slot: its
 * request must have been answered).  Accepts NULL. */
void fc_read_free(struct rd *rd);
/* Count a read that failed with err and tell the kernel. */
void fc_read_failed(fc_fs_t *fs, fuse_req_t req, int err);

/* readretry.c: cure rd's failure (rd->err) and read once more, waiting,
 * on the calling thread; whatever that gives is the reader's.  Frees
 * rd. */
void fc_read_retry(struct rd *rd);

#endif
