/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Single flight (see flight.h).
 *
 * Why it matters: a training job's workers often ask for the same cold
 * block at once (several ranks reading one shard, or the FUSE client's
 * prefetch racing the read it anticipates).  Without coalescing, N misses
 * become N backend reads of the same bytes, N buffers and N charges to the
 * tier.  Here, the event thread that sees a miss either joins the fetch
 * already in flight for that key or creates one; since only that thread
 * looks at the table, no two fetches for one key can ever start.  The key
 * includes the file's version, so a request for a newer version never
 * waits on (and is never answered by) a fetch of an older one.
 */
#include "cachenode/flight.h"

#include <stdlib.h>

#include "common/list.h"
#include "common/util.h"

struct cn_flights {
	sl_keymap_t map;
};

cn_flights_t *cn_flights_new(void)
{
	cn_flights_t *ft = sl_xmalloc(sizeof(*ft));

	sl_keymap_init(&ft->map);
	return ft;
}

void cn_flights_destroy(cn_flights_t **fp)
{
	cn_flights_t *ft = fp ? *fp : NULL;

	if (!ft)
		return;
	SL_ASSERT(ft->map.count == 0);
	sl_keymap_fini(&ft->map);
	free(ft);
	*fp = NULL;
}

cn_flight_t *cn_flights_find(cn_flights_t *ft, sl_blockkey_t key)
{
	sl_knode_t *n = sl_keymap_find(&ft->map, key);

	return n ? sl_container_of(n, cn_flight_t, node) : NULL;
}

cn_flight_t *cn_flights_join(cn_flights_t *ft, sl_blockkey_t key, void *waiter,
			     int *created)
{
	cn_flight_t *f = cn_flights_find(ft, key);

	*created = 0;
	if (!f) {
		f = sl_xcalloc(1, sizeof(*f));
		f->node.key = key;
		sl_keymap_insert(&ft->map, &f->node);
		*created = 1;
	}
	if (waiter) {
		if (f->n_waiters == f->cap) {
			f->cap = f->cap ? 2 * f->cap : 4;
			f->waiters = sl_xrealloc(f->waiters,
						 f->cap * sizeof(*f->waiters));
		}
		f->waiters[f->n_waiters++] = waiter;
	}
	return f;
}

void cn_flights_remove(cn_flights_t *ft, cn_flight_t *f)
{
	sl_keymap_remove(&ft->map, &f->node);
}

void cn_flight_free(cn_flight_t *f)
{
	if (!f)
		return;
	free(f->waiters);
	free(f);
}

size_t cn_flights_count(const cn_flights_t *ft)
{
	return ft->map.count;
}
