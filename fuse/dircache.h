/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client's directory-entry cache: what LIST said each directory holds,
 * names with their attributes, so that a LOOKUP can be answered without a
 * STAT round trip.  Listings arrive through readdir (dir.c feeds every LIST
 * page it fetches) or are fetched on purpose when lookups keep missing in
 * a directory nobody listed: a loader that opens files from an index
 * (without listing) then pays one LIST per directory instead of one STAT
 * per file.  A directory whose listing arrived whole answers "no such
 * name" as well.
 *
 * Bounded: at most max_entries entries (a directory's own record counts as
 * one); whole directories are dropped, least recently used first, and one
 * directory may take at most half, past which its listing is not kept.
 * Entries older than the caller's TTL do not count.
 *
 * Listings are filled in generations: fc_dcache_fill_begin drops what a
 * directory held and returns a generation; entries added under an older
 * generation (a fill overtaken by another) are ignored.
 *
 * Thread safety: every function may be called from any thread; one mutex
 * (d->lock) guards everything.
 */
#ifndef FC_DIRCACHE_H
#define FC_DIRCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "fuse/attrcache.h"

typedef struct fc_dcache fc_dcache_t;

/* A cache of at most max_entries (>= 2).  Caller frees with
 * fc_dcache_destroy. */
fc_dcache_t *fc_dcache_new(size_t max_entries);
void fc_dcache_destroy(fc_dcache_t **dp);

/*
 * name in directory dir of dataset ds (both borrowed) at now_ms; listings
 * fetched ttl_ms or longer ago are forgotten (ttl_ms 0: never).  Returns 1
 * with *out (borrowed) filled, 0 when the directory's listing is whole and
 * lacks name, or -EAGAIN when the cache cannot tell.  On -EAGAIN, *fill is
 * set to 1 when this caller should list the directory now (lookups keep
 * missing in it and no lookup has had it listed yet): it then does
 * fc_dcache_fill_begin, fill_add for each entry, fill_end.
 */
int fc_dcache_lookup(fc_dcache_t *d, int ds, const char *dir, const char *name,
		     uint64_t now_ms, uint64_t ttl_ms, fc_attr_t *out,
		     int *fill);

/* Start a fresh listing of (ds, dir) (borrowed) at now_ms: its old
 * entries are dropped.  Returns the generation to pass to fill_add and
 * fill_end. */
uint64_t fc_dcache_fill_begin(fc_dcache_t *d, int ds, const char *dir,
			      uint64_t now_ms);

/* One entry of the listing gen (name and attr borrowed, copied). */
void fc_dcache_fill_add(fc_dcache_t *d, int ds, const char *dir, uint64_t gen,
			const char *name, const fc_attr_t *attr);

/* The listing gen ended; whole: every entry of the directory was added,
 * so a name not among them does not exist. */
void fc_dcache_fill_end(fc_dcache_t *d, int ds, const char *dir, uint64_t gen,
			int whole);

/* Forget what (ds, dir) (borrowed) holds, as if never listed: a name in
 * it changed.  A fill under way for it is ignored from now on. */
void fc_dcache_forget(fc_dcache_t *d, int ds, const char *dir);

/* Entries held (directory records included), for tests and the log. */
size_t fc_dcache_count(fc_dcache_t *d);

#endif
