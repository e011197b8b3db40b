/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An open directory's pages (see dirlist.h).  A reader looking for entry k
 * uses the page it holds if that covers k, else the handle's latest page
 * if that is nearer (at or before k, ahead of its own), else fetches the
 * page after the nearer of the two, or the first page when neither lies
 * at or before k.  Entries are numbered by their place in the listing, so
 * a page found by any reader serves every reader: which page the handle
 * keeps is only a hint, and the last fetch wins.
 */
#include "fuse/dirlist.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/util.h"

struct fc_dirpage {
	atomic_uint refs;
	uint64_t base; /* the listing index of entries[0] */
	uint64_t gen;  /* the listing generation it belongs to */
	pr_list_reply_t page;
	zmq_msg_t msg;		      /* the bytes page points into */
	char next[PR_MAX_CURSOR + 1]; /* "" when this is the last page */
};

struct fc_dirlist {
	fc_dirlist_fetch_fn *fetch;
	void *arg;
	pthread_mutex_t lock;
	fc_dirpage_t *cur; /* protected by dl->lock: the latest page */
	atomic_uint_fast64_t fetches;
};

static fc_dirpage_t *page_ref(fc_dirpage_t *p)
{
	atomic_fetch_add(&p->refs, 1);
	return p;
}

static void page_unref(fc_dirpage_t *p)
{
	if (!p || atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	pr_list_reply_free(&p->page);
	zmq_msg_close(&p->msg);
	free(p);
}

void fc_dirlist_put(fc_dirpage_t **pagep)
{
	page_unref(*pagep);
	*pagep = NULL;
}

fc_dirlist_t *fc_dirlist_new(fc_dirlist_fetch_fn *fetch, void *arg)
{
	fc_dirlist_t *dl = sl_xcalloc(1, sizeof(*dl));

	dl->fetch = fetch;
	dl->arg = arg;
	pthread_mutex_init(&dl->lock, NULL);
	return dl;
}

void fc_dirlist_destroy(fc_dirlist_t **dlp)
{
	fc_dirlist_t *dl = *dlp;

	if (!dl)
		return;
	page_unref(dl->cur);
	pthread_mutex_destroy(&dl->lock);
	free(dl);
	*dlp = NULL;
}

uint64_t fc_dirlist_fetches(fc_dirlist_t *dl)
{
	return atomic_load(&dl->fetches);
}

static int covers(const fc_dirpage_t *p, uint64_t k)
{
	return p && k >= p->base && k - p->base < p->page.n_entries;
}

/* The handle's latest page, referenced, when it is a better start for k
 * than p: at or before k, and ahead of p (or p is of no use for k). */
static fc_dirpage_t *nearer(fc_dirlist_t *dl, const fc_dirpage_t *p, uint64_t k)
{
	fc_dirpage_t *c;

	pthread_mutex_lock(&dl->lock);
	c = dl->cur;
	if (c && c != p && c->base <= k &&
	    (!p || p->base > k || c->base > p->base))
		page_ref(c);
	else
		c = NULL;
	pthread_mutex_unlock(&dl->lock);
	return c;
}

/* Fetch the page after prev (borrowed; NULL for the first), with no lock
 * held, into *out (one reference, the caller's).  0 or -errno. */
static int fetch_after(fc_dirlist_t *dl, const fc_dirpage_t *prev,
		       fc_dirpage_t **out)
{
	fc_dirpage_t *np = sl_xcalloc(1, sizeof(*np));
	int rc;

	atomic_init(&np->refs, 1);
	zmq_msg_init(&np->msg);
	np->base = prev ? prev->base + prev->page.n_entries : 0;
	np->gen = prev ? prev->gen : 0;
	rc = dl->fetch(dl->arg, prev ? prev->next : "", &np->gen, &np->page,
		       &np->msg);
	if (rc < 0) {
		zmq_msg_close(&np->msg);
		free(np);
		return rc;
	}
	if (pr_str_copy(np->next, sizeof(np->next), np->page.next_cursor) < 0)
		np->next[0] = '\0'; /* cannot happen: the decoder checks */
	atomic_fetch_add(&dl->fetches, 1);
	*out = np;
	return 0;
}

int fc_dirlist_entry(fc_dirlist_t *dl, uint64_t k, fc_dirpage_t **pagep,
		     const pr_dirent_t **de)
{
	fc_dirpage_t *p = *pagep, *np, *old;
	int rc;

	for (;;) {
		if (covers(p, k)) {
			*de = &p->page.entries[k - p->base];
			return 1;
		}
		np = nearer(dl, p, k);
		if (np) {
			page_unref(p);
			*pagep = p = np;
			continue;
		}
		if (p && p->base > k)
			fc_dirlist_put(pagep); /* back: from the first page */
		p = *pagep;
		if (p && !p->next[0])
			return 0; /* past the last page */
		rc = fetch_after(dl, p, &np);
		if (rc < 0)
			return rc;
		pthread_mutex_lock(&dl->lock);
		old = dl->cur;
		dl->cur = page_ref(np);
		pthread_mutex_unlock(&dl->lock);
		page_unref(old);
		page_unref(p);
		*pagep = p = np;
	}
}
