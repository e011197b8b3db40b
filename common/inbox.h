/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A hand-off between threads: any thread posts elements (an embedded
 * sl_qlink_t, list.h) into one owner thread's inbox; the owner polls the
 * inbox's eventfd next to its sockets and takes everything at once.  One
 * mutex guards the queue and is held only to link or unlink, never across
 * I/O or a callback.
 *
 * Wake-ups are batched: only a post into an empty inbox writes the
 * eventfd, and take() clears it, so a burst of posts costs the owner one
 * wake-up.  The eventfd may be readable while the inbox is empty (a post
 * raced with a take); take() then returns nothing.  The fd is never
 * unreadable while something waits.
 *
 * After sl_inbox_close, posts are refused with -ESHUTDOWN (the poster
 * keeps its element and completes it itself), so a thread that stops
 * can hand back whatever is still queued without racing new posts.
 *
 * Thread safety: post and close from any thread; take and fd by the
 * owner; new and destroy by one thread while no other uses the inbox.
 */
#ifndef SL_INBOX_H
#define SL_INBOX_H

#include <stddef.h>

#include "common/list.h"

typedef struct sl_inbox sl_inbox_t;

/* A new, open, empty inbox, or NULL with *err = -errno (no eventfd). */
sl_inbox_t *sl_inbox_new(int *err);
/* Accepts NULL; clears *ibp.  Elements still queued are not touched:
 * take them first. */
void sl_inbox_destroy(sl_inbox_t **ibp);

/* Readable while elements may wait.  Borrowed. */
int sl_inbox_fd(const sl_inbox_t *ib);

/* Queue l (owned by the inbox until taken).  0, or -ESHUTDOWN after
 * sl_inbox_close (l is then still the caller's). */
int sl_inbox_post(sl_inbox_t *ib, sl_qlink_t *l);
/* Queue every element of batch, in order, with one wake-up; batch is
 * left empty.  0, or -ESHUTDOWN (batch untouched). */
int sl_inbox_post_all(sl_inbox_t *ib, sl_fifo_t *batch);

/* Move everything queued, oldest first, to the back of out (the caller
 * owns the elements again) and clear the eventfd.  Returns how many. */
size_t sl_inbox_take(sl_inbox_t *ib, sl_fifo_t *out);

/* Refuse posts from now on.  Elements already queued stay for take(). */
void sl_inbox_close(sl_inbox_t *ib);

#endif
