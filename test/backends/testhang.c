/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A backend module for tests whose reads never return, like a store that
 * accepts a connection and never answers or a hard NFS mount gone away:
 * every path but the root is a 1 MiB file, and reading it blocks its
 * worker for good.  With uri hang://list its listings never return
 * either (a walk's thread stuck in the store); with hang:// a listing
 * finds nothing.  The node's shutdown must not wait for it.  Built into
 * the build directory as sluice_backend_testhang.so for the integration
 * tests; never installed.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "test/helper_backend.h"

static int h_stat(void *state, const char *path, sb_stat_t *st, char *err,
		  size_t errlen)
{
	TH_UNUSED(state, err, errlen);
	memset(st, 0, sizeof(*st));
	st->type = *path ? SB_TYPE_FILE : SB_TYPE_DIR;
	st->mode = *path ? 0444 : 0555;
	st->size = *path ? 1u << 20 : 0;
	if (*path)
		strcpy(st->version, "v1");
	return 0;
}

static ssize_t h_read(void *state, const char *path, const char *version,
		      uint64_t offset, void *buf, size_t len, char *err,
		      size_t errlen)
{
	TH_UNUSED(state, path, version, offset, buf, len, err, errlen);
	for (;;)
		pause(); /* the node's threads block every signal */
	return -EIO;
}

static int hang_lists; /* its address marks the state of hang://list */

static int h_open(const sb_dataset_t *ds, void **state, char *err,
		  size_t errlen)
{
	TH_UNUSED(err, errlen);
	*state = strcmp(ds->uri, "hang://list") == 0 ? &hang_lists : NULL;
	return 0;
}

static int h_list(void *state, const char *dir, const char *cursor,
		  sb_dirent_t *ents, size_t max, size_t *n, char *next,
		  char *err, size_t errlen)
{
	while (state == &hang_lists)
		pause();
	return th_backend_list_empty(state, dir, cursor, ents, max, n, next,
				     err, errlen);
}

const sb_ops_t sluice_backend_ops = {
	.abi_version = SB_ABI_VERSION,
	.ops_size = sizeof(sb_ops_t),
	.name = "testhang",
	.open = h_open,
	.close = th_backend_close_stateless,
	.stat = h_stat,
	.read = h_read,
	.list = h_list,
};
