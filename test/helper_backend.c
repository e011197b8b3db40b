/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: the do-nothing backend ops of fake stores (see
 * helper_backend.h).
 */
#include "test/helper_backend.h"

#include <stdlib.h>

int th_backend_open_stateless(const sb_dataset_t *ds, void **state, char *err,
			      size_t errlen)
{
	TH_UNUSED(ds, err, errlen);
	*state = NULL;
	return 0;
}

void th_backend_close_stateless(void *state)
{
	(void)state;
}

int th_backend_list_empty(void *state, const char *dir, const char *cursor,
			  sb_dirent_t *ents, size_t max, size_t *n, char *next,
			  char *err, size_t errlen)
{
	TH_UNUSED(state, dir, cursor, ents, max, err, errlen);
	*n = 0;
	next[0] = '\0';
	return 0;
}

int th_backend_open_kv(const sb_ops_t *ops, uint32_t block_size,
		       const char *uri, const char *const *kv,
		       const char *const *more, void **st, char *err)
{
	const char *const *lists[] = {kv, more};
	sb_param_t p[32];
	size_t n = 0;
	sb_dataset_t ds = {.name = "t",
			   .uri = uri,
			   .config_path = "it.ini",
			   .block_size = block_size};

	for (size_t l = 0; l < 2; l++)
		for (const char *const *k = lists[l]; k && *k; k += 2) {
			if (n == sizeof(p) / sizeof(p[0]))
				abort(); /* a test with too many keys */
			p[n] = (sb_param_t){k[0], k[1], (int)(20 + n)};
			n++;
		}
	ds.n_params = n;
	ds.params = p;
	err[0] = '\0';
	*st = NULL;
	return ops->open(&ds, st, err, SB_ERR_MAX);
}
