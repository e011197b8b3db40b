/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metadata cache: STAT results and LIST pages per dataset, each kept
 * for the dataset's metadata_ttl (0 = for ever: immutable datasets) and the
 * whole bounded in bytes and entries, least recently used first out.
 * Values are opaque bytes (the server stores a STAT's sb_stat_t and a LIST
 * page's encoded reply body).
 *
 * Each entry carries a tag (the dataset's id, to drop a dataset on reload)
 * and a group key (the metadata key of the path it describes: a file for a
 * STAT, the directory for a LIST page), so that everything cached about one
 * path can be dropped at once when the backend says it changed (-ESTALE).
 * Groups are indexed: a purge by group visits only the entries it drops.
 *
 * Not thread-safe: only the event thread touches it.
 */
#ifndef CN_METACACHE_H
#define CN_METACACHE_H

#include <stddef.h>
#include <stdint.h>

#include "cachenode/metrics.h"
#include "common/blockkey.h"

enum { CN_META_STAT = 1, CN_META_LIST = 2 };

typedef struct cn_metacache cn_metacache_t;

/* m: borrowed gauges (meta_bytes, meta_entries, ram_used), may be NULL. */
cn_metacache_t *cn_metacache_new(uint64_t max_bytes, size_t max_entries,
				 cn_metrics_t *m);
void cn_metacache_destroy(cn_metacache_t **mcp);
/* New bounds; evicts down to them. */
void cn_metacache_set_limits(cn_metacache_t *mc, uint64_t max_bytes,
			     size_t max_entries);

/*
 * The key of a STAT (cursor NULL, max 0) or of one LIST page (dataset,
 * directory, cursor, page size): xxh3-128 of length-prefixed fields in a
 * domain of its own, so it never equals a block key.
 */
sl_blockkey_t cn_metacache_key(int kind, const char *dataset, const char *path,
			       const char *cursor, uint32_t max);

/*
 * The value under key, or NULL when absent or expired (an expired entry is
 * dropped).  Borrowed: valid until the next call that modifies the cache.
 */
const void *cn_metacache_get(cn_metacache_t *mc, sl_blockkey_t key,
			     uint64_t now_ms, size_t *len);

/*
 * Store a copy of val[0..len) under key (replacing any), expiring ttl_ms
 * after now_ms (0 = never).  A value larger than an eighth of the byte
 * bound is not cached.
 */
void cn_metacache_put(cn_metacache_t *mc, sl_blockkey_t key,
		      sl_blockkey_t group, uint32_t tag, uint64_t ttl_ms,
		      uint64_t now_ms, const void *val, size_t len);

/* Drop every entry with this tag / group; returns how many.  A purge by
 * tag looks at every entry (a reload's work); one by group only at the
 * group's. */
size_t cn_metacache_purge_tag(cn_metacache_t *mc, uint32_t tag);
size_t cn_metacache_purge_group(cn_metacache_t *mc, sl_blockkey_t group);
/* Entries purges have looked at since the cache was made (for tests). */
uint64_t cn_metacache_visits(const cn_metacache_t *mc);

size_t cn_metacache_count(const cn_metacache_t *mc);
uint64_t cn_metacache_bytes(const cn_metacache_t *mc);

#endif
