/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: the backend ops that the tests' fake stores share.  Most
 * fakes keep no state of their own (what they serve is fixed, or lives in
 * the test's statics), so their open and close do nothing; and a store
 * with nothing to list answers every directory empty.  A fake takes these
 * for the ops it does not care about and writes only the ones its test is
 * about.  And a suite that drives a real module through its ops opens
 * datasets with key, value lists.  Has no dependency beyond
 * sluice/backend.h, so that a test module (test/backends/) links it as
 * well as the suites do.
 */
#ifndef TH_BACKEND_H
#define TH_BACKEND_H

#include "sluice/backend.h"

/* The arguments of a fake op that it has no use for: passing them on keeps
 * -Wunused-parameter quiet in one line instead of a (void) cast each. */
static inline void th_unused_(int first, ...)
{
	(void)first;
}
#define TH_UNUSED(...) th_unused_(0, __VA_ARGS__)

/* open for a store without state: sets *state to NULL and returns 0. */
int th_backend_open_stateless(const sb_dataset_t *ds, void **state, char *err,
			      size_t errlen);

/* close for a store without state: does nothing. */
void th_backend_close_stateless(void *state);

/* list that finds every directory empty: *n = 0, next "" (the last page),
 * returns 0; ents and err are left alone. */
int th_backend_list_empty(void *state, const char *dir, const char *cursor,
			  sb_dirent_t *ents, size_t max, size_t *n, char *next,
			  char *err, size_t errlen);

/*
 * Open dataset "t" on uri (config "it.ini", blocks of block_size) through
 * ops with the NULL-terminated key, value pairs of kv and then of more
 * (either may be NULL; 32 pairs in all at most), pair i on line 20 + i.
 * Returns open's result: on success the state in *st (the caller's, to
 * give back with ops->close), else a message in err[SB_ERR_MAX].  The
 * arguments are borrowed.
 */
int th_backend_open_kv(const sb_ops_t *ops, uint32_t block_size,
		       const char *uri, const char *const *kv,
		       const char *const *more, void **st, char *err);

#endif
