/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The single-flight table: key -> the one fetch in progress for it and the
 * requests waiting on that fetch.  The first miss on a key creates the
 * flight and starts the fetch; every later miss on the same key joins it
 * instead of starting another; when the fetch completes, the flight is
 * removed and each waiter is answered from the one result.  Block reads,
 * STATs and LIST pages all fly through one table (their keys live in
 * different hash domains).
 *
 * Not thread-safe: only the event thread touches the table, which is what
 * makes "check, then join or create" atomic without a lock.
 */
#ifndef CN_FLIGHT_H
#define CN_FLIGHT_H

#include <stddef.h>

#include "common/keymap.h"

typedef struct cn_flight {
	sl_knode_t node; /* owned by the table */
	void **waiters;	 /* borrowed pointers, in arrival order */
	size_t n_waiters;
	size_t cap;
	void *fetch; /* the creator's fetch state; borrowed */
} cn_flight_t;

typedef struct cn_flights cn_flights_t;

cn_flights_t *cn_flights_new(void);
/* The table must be empty (asserted).  Accepts NULL; clears *fp. */
void cn_flights_destroy(cn_flights_t **fp);

/* The flight for key, or NULL. */
cn_flight_t *cn_flights_find(cn_flights_t *ft, sl_blockkey_t key);

/*
 * Join the flight for key, creating it when there is none (*created = 1:
 * the caller must start the fetch and set f->fetch).  waiter (borrowed; may
 * be NULL for a fetch nobody waits for, such as a prefetch) is appended.
 */
cn_flight_t *cn_flights_join(cn_flights_t *ft, sl_blockkey_t key, void *waiter,
			     int *created);

/* Take f out of the table; the caller now owns it (its waiters array
 * included) and frees it with cn_flight_free. */
void cn_flights_remove(cn_flights_t *ft, cn_flight_t *f);
void cn_flight_free(cn_flight_t *f);

size_t cn_flights_count(const cn_flights_t *ft);

#endif
