/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The supervisor's and workers' shared state (see shared.h): a memfd of
 * the header, rounded to a page, then the inode table.  ftruncate gives
 * zeros, which the first worker's inode table formats; nothing is touched
 * before it is used, so the supervisor's share of it stays one page or
 * two.
 */
#include "fuse/shared.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "fuse/inode.h"

#define MAGIC  0x5244485345554653ull /* "SFUESHDR" */
#define LAYOUT 2u		     /* 2: the metrics */
#define PAGE   4096u

static size_t header_bytes(void)
{
	return (sizeof(fc_shared_t) + PAGE - 1) / PAGE * PAGE;
}

int fc_shared_create(uint32_t max_inodes, fc_shared_t **out, size_t *bytes)
{
	size_t n = header_bytes() + fc_inode_table_bytes(max_inodes);
	fc_shared_t *sh;
	int fd, rc;

	fd = memfd_create("sluice-fuse", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)n) < 0) {
		rc = -errno;
		goto fail;
	}
	sh = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (sh == MAP_FAILED) {
		rc = -errno;
		goto fail;
	}
	sh->layout = LAYOUT;
	sh->inode_off = header_bytes();
	sh->inode_bytes = fc_inode_table_bytes(max_inodes);
	sh->max_inodes = max_inodes;
	sh->magic = MAGIC;
	*out = sh;
	*bytes = n;
	return fd;
fail:
	close(fd);
	return rc;
}

int fc_shared_map(int fd, fc_shared_t **out, size_t *bytes)
{
	struct stat st;
	fc_shared_t *sh;
	size_t n;

	if (fstat(fd, &st) < 0)
		return -errno;
	n = (size_t)st.st_size;
	if (n < header_bytes())
		return -EINVAL;
	sh = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (sh == MAP_FAILED)
		return -errno;
	if (sh->magic != MAGIC || sh->layout != LAYOUT ||
	    sh->inode_off != header_bytes() || sh->init_len > FC_INIT_MAX ||
	    sh->inode_bytes > n - sh->inode_off) {
		munmap(sh, n);
		return -EINVAL;
	}
	*out = sh;
	*bytes = n;
	return 0;
}

int fc_shared_save_map(fc_shared_t *sh, const void *map, size_t len)
{
	uint32_t cur = atomic_load(&sh->map_cur), next = cur == 1 ? 1 : 0;

	if (len > FC_MAP_MAX)
		return -EMSGSIZE;
	/* The copy not in use, then the switch: a crash between leaves the
	 * other whole. */
	memcpy(sh->maps[next], map, len);
	sh->map_len[next] = (uint32_t)len;
	atomic_store(&sh->map_cur, next + 1);
	return 0;
}

int fc_shared_load_map(fc_shared_t *sh, void **out, size_t *len)
{
	uint32_t cur = atomic_load(&sh->map_cur);

	if (cur != 1 && cur != 2)
		return -ENOENT;
	*len = SL_MIN(sh->map_len[cur - 1], FC_MAP_MAX);
	*out = sl_xmalloc(*len ? *len : 1);
	memcpy(*out, sh->maps[cur - 1], *len);
	return 0;
}

void fc_shared_unmap(fc_shared_t *sh, size_t bytes)
{
	if (sh)
		munmap(sh, bytes);
}
