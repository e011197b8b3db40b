/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An open directory's listing, page by page: which LIST page holds entry
 * k, fetched as readdir's offset advances, and again from the first page
 * when it moves back.  Pages are reference-counted and immutable once
 * fetched: a reader holds the page it reads from, and the handle keeps
 * the latest one for the next reader.  The fetch itself runs with no lock
 * held (STYLE: never hold a lock across a round trip): it goes into a
 * fresh page, which is then swapped in under the lock, so one reader
 * waiting on a node never stalls another reading a page already here.
 *
 * Memory: the handle's latest page, plus one page per reader inside a
 * call; never the whole directory.
 *
 * Thread safety: fc_dirlist_entry() and fc_dirlist_put() from any thread
 * at once; fc_dirlist_new()/destroy() not concurrently with them.  A page
 * a caller holds may be read without any lock.
 */
#ifndef FC_DIRLIST_H
#define FC_DIRLIST_H

#include <stdint.h>
#include <zmq.h>

#include "proto/proto.h"

typedef struct fc_dirlist fc_dirlist_t;
typedef struct fc_dirpage fc_dirpage_t;

/*
 * Fetch one page of the listing from cursor (borrowed; "" for the first
 * page).  *gen: for the first page, set it to a new listing generation;
 * for a later page it holds the generation of the page before (the
 * caller's dircache fill continues under it).  On 0, *page is decoded
 * over *msg's bytes (msg was zmq_msg_init()ed); both pass to the dirlist.
 * Returns 0 or -errno.  Called with no dirlist lock held.
 */
typedef int fc_dirlist_fetch_fn(void *arg, const char *cursor, uint64_t *gen,
				pr_list_reply_t *page, zmq_msg_t *msg);

/* A listing fetched through fetch(arg, ...) (arg borrowed).  Caller frees
 * with fc_dirlist_destroy once no reader holds a page. */
fc_dirlist_t *fc_dirlist_new(fc_dirlist_fetch_fn *fetch, void *arg);
void fc_dirlist_destroy(fc_dirlist_t **dlp);

/*
 * Entry k (counting from 0) of the listing.  *pagep is the page the
 * caller holds, NULL at first: it is moved along as needed (so a caller
 * reading k, k + 1, ... fetches each page once) and must finally be given
 * back with fc_dirlist_put().  Returns 1 with *de borrowed from *pagep,
 * 0 when the listing has no entry k, or -errno from the fetch.
 */
int fc_dirlist_entry(fc_dirlist_t *dl, uint64_t k, fc_dirpage_t **pagep,
		     const pr_dirent_t **de);
/* Give back a held page (NULL is fine); clears *pagep. */
void fc_dirlist_put(fc_dirpage_t **pagep);

/* Pages fetched so far, for tests. */
uint64_t fc_dirlist_fetches(fc_dirlist_t *dl);

#endif
