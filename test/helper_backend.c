/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: the do-nothing backend ops of fake stores (see
 * helper_backend.h).
 */
#include "test/helper_backend.h"

int th_backend_open_stateless(const sb_dataset_t *ds, void **state, char *err,
			      size_t errlen)
{
	(void)ds;
	(void)err;
	(void)errlen;
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
	(void)state;
	(void)dir;
	(void)cursor;
	(void)ents;
	(void)max;
	(void)err;
	(void)errlen;
	*n = 0;
	next[0] = '\0';
	return 0;
}
