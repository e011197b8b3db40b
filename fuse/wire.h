/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The FUSE client's side of the wire protocol's bodies: the requests it
 * sends (STAT, LIST, READ, PREFETCH) built into bodies the I/O thread
 * takes, and the STAT and LIST replies turned into the attributes it
 * keeps.  One conversion from the wire's stat record to fc_attr_t for
 * both STAT and LIST, so the two cannot drift apart.  The rest of fuse/
 * never touches an encoder or a pr_buf_t.
 *
 * Request builders put a malloc'd body in *body (transferred: the caller
 * hands it to fc_io, which frees it) and its length in *len, and return
 * 0 or the encoder's error (-ENAMETOOLONG, -EMSGSIZE, -EINVAL) with
 * *body NULL.  All strings are borrowed.
 *
 * Thread safety: no state; call from anywhere.
 */
#ifndef FC_WIRE_H
#define FC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "fuse/attrcache.h"
#include "proto/proto.h"

/* STAT of (dataset, path). */
int fc_wire_stat_req(const char *dataset, const char *path, void **body,
		     size_t *len);
/* One LIST page of (dataset, path) from cursor ("" = the start). */
int fc_wire_list_req(const char *dataset, const char *path, const char *cursor,
		     uint32_t max_entries, void **body, size_t *len);
/* READ (or PREFETCH, with offset and length 0) of block of a file, cut
 * as the dataset's layout says. */
int fc_wire_read_req(const char *dataset, uint32_t layout, const char *path,
		     const char *version, uint64_t block, uint32_t offset,
		     uint32_t length, void **body, size_t *len);

/* A STAT reply's body (borrowed) into *out, stamped with the time now.
 * Returns 0 or the decoder's error (-EBADMSG, ...). */
int fc_wire_stat_reply(const void *buf, size_t len, fc_attr_t *out);
/* A LIST reply's body (borrowed) into *page, whose strings then borrow
 * buf: keep buf while page lives, free page with pr_list_reply_free.
 * Returns 0 or the decoder's error. */
int fc_wire_list_reply(const void *buf, size_t len, pr_list_reply_t *page);
/* A listing entry's name (into name[PR_MAX_NAME + 1]) and attributes, or
 * -EBADMSG for an entry that cannot be a name here. */
int fc_wire_dirent(const pr_dirent_t *de, char *name, fc_attr_t *a);

#endif
