/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client's attribute cache: what STAT or LIST last said of each inode,
 * by number, so that getattr, open and read need no round trip.  Kept
 * apart from the inode table (inode.h), which must survive a crash and so
 * holds only what the kernel's numbers need: attributes are big (the
 * version string) and cheap to fetch again, so they stay in the process,
 * bounded, least recently used first out.  A miss costs one STAT.
 *
 * Thread safety: every function may be called from any thread; one mutex
 * (c->lock) guards everything.
 */
#ifndef FC_ATTRCACHE_H
#define FC_ATTRCACHE_H

#include <stddef.h>
#include <stdint.h>

/* The attributes the client keeps for an entry (a STAT reply, copied). */
typedef struct fc_attr {
	uint8_t type;  /* PR_TYPE_FILE or PR_TYPE_DIR */
	uint32_t mode; /* permission bits only */
	uint64_t size;
	int64_t mtime_ns;
	char version[129];   /* PR_MAX_VERSION + NUL; "" for directories */
	uint64_t fetched_ms; /* sl_now_ms() when the node said so */
} fc_attr_t;

/* What the caches (this one, and the listed names of dircache.h) keep of
 * an fc_attr_t in each entry: all but the version, which they store after
 * the entry sized to fit, and the fetch time, which one keeps per entry
 * and the other per listing.  One conversion each way, so that the two
 * caches cannot come to disagree on what an entry says. */
typedef struct fc_attr_core {
	uint8_t type;
	uint32_t mode;
	uint64_t size;
	int64_t mtime_ns;
} fc_attr_core_t;

/* a's core (a borrowed). */
fc_attr_core_t fc_attr_core(const fc_attr_t *a);
/* *out, whole, from core, version (NUL-terminated, at most PR_MAX_VERSION
 * bytes) and fetched_ms; all borrowed. */
void fc_attr_from_core(fc_attr_t *out, const fc_attr_core_t *core,
		       const char *version, uint64_t fetched_ms);

typedef struct fc_acache fc_acache_t;

/* A cache of at most max (>= 1) inodes' attributes.  Caller frees with
 * fc_acache_destroy. */
fc_acache_t *fc_acache_new(size_t max);
void fc_acache_destroy(fc_acache_t **cp);

/* ino's attributes into *out (the most recently used from now): 0, or
 * -ENOENT when the cache has none. */
int fc_acache_get(fc_acache_t *c, uint64_t ino, fc_attr_t *out);
/* Keep a (borrowed, copied) as ino's, evicting the least recently used
 * inode past the bound. */
void fc_acache_put(fc_acache_t *c, uint64_t ino, const fc_attr_t *a);
/* Forget ino's (its number may stand for another file next). */
void fc_acache_drop(fc_acache_t *c, uint64_t ino);

/* Inodes held and bytes of their entries, for tests and the log. */
size_t fc_acache_count(fc_acache_t *c);
size_t fc_acache_bytes(fc_acache_t *c);

#endif
