/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What sluice-fuse's supervisor and its serving workers share: one memfd
 * the supervisor makes before the first worker starts and keeps for the
 * life of the mount, which every worker maps.  It holds what must outlive
 * a worker:
 *
 *   - the FUSE_INIT request the kernel sent, once per connection: every
 *     worker's libfuse session is fed this copy before it reads;
 *   - the counter that numbers file and directory handles, so a number
 *     is never issued twice on the mount, whichever worker issues it;
 *   - one slot per request thread, holding the unique id of the request
 *     it works on (0 between requests): what the supervisor answers with
 *     EIO for a dead worker when the kernel cannot resend requests;
 *   - the cluster map the last worker had (a HELLO body), so that the
 *     next one takes over without asking a node first: a crash while the
 *     nodes are out of reach must not leave the mount without a worker;
 *   - the client's metrics (metrics.h): workers count, the supervisor
 *     serves them, and the counts outlive any one worker;
 *   - the inode table (inode.h), at inode_off.
 *
 * A plain layout with no pointers; fields that change while a worker runs
 * are atomics.  The supervisor writes init, the header and nothing else
 * while a worker runs; it reads the slots only once that worker is dead,
 * and the metrics whenever it is scraped.
 */
#ifndef FC_SHARED_H
#define FC_SHARED_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "fuse/metrics.h"

#define FC_SHARED_SLOTS 1024	     /* request threads a worker may run */
#define FC_INIT_MAX	512	     /* bytes of FUSE_INIT kept */
#define FC_MAP_MAX	(128u << 10) /* bytes of a saved map, each copy */

typedef struct fc_shared {
	uint64_t magic;
	uint32_t layout;
	uint32_t init_len; /* 0 until the mount's INIT is in */
	uint64_t inode_off;
	uint64_t inode_bytes;
	uint32_t max_inodes;
	uint32_t pad;
	_Atomic uint64_t next_fh;
	_Atomic uint64_t workers; /* workers given the connection so far */
	uint8_t init[FC_INIT_MAX];
	_Atomic uint64_t slots[FC_SHARED_SLOTS];
	/* Two copies: one is written while the other stays whole. */
	_Atomic uint32_t map_cur; /* 1 + the copy that is whole, 0: none */
	uint32_t map_len[2];
	uint8_t maps[2][FC_MAP_MAX];
	fc_metrics_t metrics;
} fc_shared_t;

/* Make the memfd for a table of max_inodes entries and map it at *out
 * (*bytes long).  Returns the descriptor (close-on-exec) or -errno. */
int fc_shared_create(uint32_t max_inodes, fc_shared_t **out, size_t *bytes);

/* Map the shared state of descriptor fd (borrowed) at *out, *bytes long.
 * Returns 0, or -EINVAL when fd holds no shared state of this layout. */
int fc_shared_map(int fd, fc_shared_t **out, size_t *bytes);

/* Keep map[0..len) (borrowed) as the latest map; -EMSGSIZE when it does
 * not fit (nothing is kept then). */
int fc_shared_save_map(fc_shared_t *sh, const void *map, size_t len);
/* The latest map, copied into *out (caller frees) and *len; -ENOENT when
 * there is none. */
int fc_shared_load_map(fc_shared_t *sh, void **out, size_t *len);

/* Unmap what fc_shared_create or fc_shared_map mapped; NULL is fine. */
void fc_shared_unmap(fc_shared_t *sh, size_t bytes);

/* The inode table's memory inside sh. */
static inline void *fc_shared_inodes(fc_shared_t *sh)
{
	return (char *)sh + sh->inode_off;
}

#endif
