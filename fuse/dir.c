/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Directories (see fs_i.h): opendir, readdir and readdirplus over LIST,
 * page by page (dirlist.h), and releasedir.  The mount root lists the
 * datasets from the cluster map.  Every LIST page fetched also feeds the
 * dircache, so that lookups after a listing need no STAT; lookups that
 * keep missing in a directory nobody listed have it listed here too
 * (fc_fs_dir_prefill).
 */
#include "fuse/fs_i.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/blockkey.h"
#include "common/log.h"
#include "common/path.h"
#include "common/util.h"
#include "fuse/dirlist.h"
#include "fuse/wire.h"

#define LIST_PAGE 512 /* entries asked for per LIST */
#define DC_PAGES  8   /* a lookup-driven listing reads this many pages */

/*
 * An open directory.  Immutable once open; its pages live in list.  It is
 * found by its handle number in fs->dirs, not by a pointer in the handle:
 * a worker that takes over a mount gets handles its predecessor issued,
 * and makes their directories again from the inode (dir_of_handle).
 */
struct fc_dir {
	sl_knode_t node; /* in fs->dirs (fs->dirs_lock); key: fh */
	uint64_t fh;
	fc_fs_t *fs;
	uint64_t ino;
	int ds; /* -1: the mount root, listing datasets */
	char *path;
	fc_dirlist_t *list; /* NULL for the mount root */
};

/*
 * LIST one page of (ds, path) from cursor (both borrowed).  On 0, *page is
 * decoded over the bytes of *reply (which the caller zmq_msg_init()ed): the
 * caller frees both, with pr_list_reply_free and zmq_msg_close.  Returns 0
 * or -errno (-EIO after every node failed, logged here).
 */
static int list_call(fc_fs_t *fs, int ds, const char *path, const char *cursor,
		     pr_list_reply_t *page, zmq_msg_t *reply)
{
	const char *dsn = fc_fs_ds_name(fs, ds);
	void *body;
	size_t len;
	char why[512];
	int rc;

	rc = fc_wire_list_req(dsn, path, cursor, LIST_PAGE, &body, &len);
	if (rc < 0)
		return rc;
	rc = fc_io_call(fs->io, PR_OP_LIST, sl_metakey_make(dsn, path).lo, body,
			len, reply, why, sizeof(why));
	if (rc == -EIO)
		sl_err("list %s/%s: every cache node failed: %s", dsn, path,
		       why);
	if (rc < 0)
		return rc;
	rc = fc_wire_list_reply(zmq_msg_data(reply), zmq_msg_size(reply), page);
	if (rc < 0) {
		sl_log_ratelimited(SL_LOG_ERR, "list %s/%s: bad reply: %s", dsn,
				   path, strerror(-rc));
		return -EIO;
	}
	return 0;
}

/* Hand page (borrowed) to the dircache as part of listing gen of (ds, dir);
 * its last page ends the listing, whole. */
static void dir_feed(fc_fs_t *fs, int ds, const char *dir, uint64_t gen,
		     const pr_list_reply_t *page)
{
	char name[PR_MAX_NAME + 1];
	fc_attr_t a;

	for (uint32_t i = 0; i < page->n_entries; i++)
		if (fc_wire_dirent(&page->entries[i], name, &a) == 0)
			fc_dcache_fill_add(fs->dc, ds, dir, gen, name, &a);
	if (page->next_cursor.len == 0)
		fc_dcache_fill_end(fs->dc, ds, dir, gen, 1);
}

void fc_fs_dir_prefill(fc_fs_t *fs, int ds, const char *dir)
{
	char cursor[PR_MAX_CURSOR + 1] = "";
	uint64_t gen = fc_dcache_fill_begin(fs->dc, ds, dir, sl_now_ms());

	for (int i = 0; i < DC_PAGES; i++) {
		pr_list_reply_t page;
		zmq_msg_t reply;
		int rc, last = 1;

		zmq_msg_init(&reply);
		rc = list_call(fs, ds, dir, cursor, &page, &reply);
		if (rc == 0) {
			dir_feed(fs, ds, dir, gen, &page);
			last = page.next_cursor.len == 0 ||
			       pr_str_copy(cursor, sizeof(cursor),
					   page.next_cursor) < 0;
			pr_list_reply_free(&page);
		}
		zmq_msg_close(&reply);
		if (rc < 0 || last)
			break;
	}
}

/* The dirlist's fetch (dirlist.h): one LIST page of d, fed to the
 * dircache; a listing read from its start is one generation there. */
static int dir_fetch(void *arg, const char *cursor, uint64_t *gen,
		     pr_list_reply_t *page, zmq_msg_t *msg)
{
	struct fc_dir *d = arg;
	fc_fs_t *fs = d->fs;
	int rc = list_call(fs, d->ds, d->path, cursor, page, msg);

	if (rc < 0)
		return rc;
	if (!cursor[0])
		*gen = fc_dcache_fill_begin(fs->dc, d->ds, d->path,
					    sl_now_ms());
	dir_feed(fs, d->ds, d->path, *gen, page);
	return 0;
}

/* The number readdir shows before a lookup: the hash, skipping 0 and 1 as
 * the collision rule does. */
static uint64_t preferred_ino(const fc_fs_t *fs, int ds, const char *path)
{
	uint64_t h = fc_inode_hash(fc_fs_ds_name(fs, ds), path);

	return h <= FC_INO_ROOT ? FC_INO_ROOT + 1 : h;
}

static void dir_free(struct fc_dir *d)
{
	fc_dirlist_destroy(&d->list);
	free(d->path);
	free(d);
}

static struct fc_dir *dir_new(fc_fs_t *fs, uint64_t ino, const fc_inode_t *ip,
			      uint64_t fh)
{
	struct fc_dir *d = sl_xcalloc(1, sizeof(*d));

	d->node.key = sl_keymap_key64(fh);
	d->fh = fh;
	d->fs = fs;
	d->ino = ino;
	d->ds = ip->dataset;
	d->path = sl_xstrdup(ip->path);
	if (d->ds >= 0)
		d->list = fc_dirlist_new(dir_fetch, d);
	return d;
}

static struct fc_dir *find_dir_locked(fc_fs_t *fs, uint64_t fh)
{
	sl_knode_t *n = sl_keymap_find(&fs->dirs, sl_keymap_key64(fh));

	return n ? sl_container_of(n, struct fc_dir, node) : NULL;
}

/* File d under its handle, unless one is there already: then d is freed
 * and that one returned. */
static struct fc_dir *dir_add(fc_fs_t *fs, struct fc_dir *d)
{
	struct fc_dir *have;

	pthread_mutex_lock(&fs->dirs_lock);
	have = find_dir_locked(fs, d->fh);
	if (!have)
		sl_keymap_insert(&fs->dirs, &d->node);
	pthread_mutex_unlock(&fs->dirs_lock);
	if (!have)
		return d;
	dir_free(d);
	return have;
}

/*
 * The directory of handle fh on ino.  One this worker did not open (its
 * predecessor did, before it died or handed over) is made again from the
 * inode: a listing's offsets name entries, not pages (do_readdir), so a
 * new listing continues where the old one stood.  Returns NULL with *err.
 */
static struct fc_dir *dir_of_handle(fc_fs_t *fs, uint64_t ino, uint64_t fh,
				    int *err)
{
	struct fc_dir *d;
	fc_inode_t ip;

	pthread_mutex_lock(&fs->dirs_lock);
	d = find_dir_locked(fs, fh);
	pthread_mutex_unlock(&fs->dirs_lock);
	if (d)
		return d;
	*err = fc_inode_get(fs->inodes, ino, &ip);
	if (*err < 0)
		return NULL;
	return dir_add(fs, dir_new(fs, ino, &ip, fh));
}

void fc_fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fc_fs_t *fs = fc_fs_of(req);
	fc_inode_t ip;
	struct fc_dir *d;
	fc_attr_t a;
	int rc;

	rc = fc_inode_get(fs->inodes, ino, &ip);
	if (rc == 0)
		rc = fc_fs_fresh_attr(fs, &ip, &a);
	if (rc < 0)
		goto out;
	if (a.type != PR_TYPE_DIR) {
		rc = -ENOTDIR;
		goto out;
	}
	fi->fh = fc_fs_new_handle(fs);
	d = dir_add(fs, dir_new(fs, ino, &ip, fi->fh));
	fi->cache_readdir = fc_fs_immutable(fs, ip.dataset);
	fi->keep_cache = fc_fs_immutable(fs, ip.dataset);
	if (fuse_reply_open(req, fi) != 0) {
		pthread_mutex_lock(&fs->dirs_lock);
		sl_keymap_remove(&fs->dirs, &d->node);
		pthread_mutex_unlock(&fs->dirs_lock);
		dir_free(d);
	}
out:
	if (rc < 0)
		fuse_reply_err(req, -rc);
}

void fc_fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fc_fs_t *fs = fc_fs_of(req);
	struct fc_dir *d;

	(void)ino;
	pthread_mutex_lock(&fs->dirs_lock);
	d = find_dir_locked(fs, fi->fh);
	if (d)
		sl_keymap_remove(&fs->dirs, &d->node);
	pthread_mutex_unlock(&fs->dirs_lock);
	if (d)
		dir_free(d);
	fuse_reply_err(req, 0);
}

static void free_node(sl_knode_t *n, void *arg)
{
	(void)arg;
	dir_free(sl_container_of(n, struct fc_dir, node));
}

void fc_fs_dirs_fini(fc_fs_t *fs)
{
	sl_keymap_foreach(&fs->dirs, free_node, NULL);
	sl_keymap_fini(&fs->dirs);
}

/* One listing entry: name and attributes. */
struct dent {
	char name[PR_MAX_NAME + 1];
	fc_attr_t a;
	int have_attr;
};

/* Entry k of d (k counts from 0 after "." and ".."), or 0 at the end;
 * *pg is the page this readdir holds (dirlist.h).  For the mount root,
 * readdirplus STATs each dataset's root. */
static int dir_entry(fc_fs_t *fs, struct fc_dir *d, uint64_t k, int plus,
		     fc_dirpage_t **pg, struct dent *out)
{
	const pr_dirent_t *de;
	int rc;

	out->have_attr = 0;
	if (d->ds < 0) {
		if (k >= fs->cl->n_datasets)
			return 0;
		sl_strlcpy(out->name, fs->cl->datasets[k].name,
			   sizeof(out->name));
		if (plus && fc_fs_stat_call(fs, (int)k, "", &out->a) == 0)
			out->have_attr = 1;
		else
			out->a.type = PR_TYPE_DIR;
		return 1;
	}
	rc = fc_dirlist_entry(d->list, k, pg, &de);
	if (rc <= 0)
		return rc;
	if (fc_wire_dirent(de, out->name, &out->a) < 0) {
		sl_log_ratelimited(SL_LOG_WARNING,
				   "list %s/%s: skipping a bad entry",
				   fc_fs_ds_name(fs, d->ds), d->path);
		out->name[0] = '\0';
		return 1;
	}
	out->have_attr = 1;
	return 1;
}

/*
 * readdir and readdirplus.  Offsets: 0 is the start, "." is followed by 1,
 * ".." by 2, and listing entry k by k + 3, so an offset always names the
 * next entry and the page holding it can be found again (by walking LIST
 * from the start) even after the directory handle's page moved on.
 */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, int plus)
{
	fc_fs_t *fs = fc_fs_of(req);
	struct fc_dir *d;
	char *buf;
	char path[SL_PATH_MAX + 1];
	size_t used = 0, need;
	uint64_t pos = off < 0 ? 0 : (uint64_t)off;
	fc_dirpage_t *pg = NULL;
	struct dent de;
	int rc = 0;

	d = dir_of_handle(fs, ino, fi->fh, &rc);
	if (!d) {
		fuse_reply_err(req, -rc);
		return;
	}
	buf = sl_xmalloc(size ? size : 1);
	for (;; pos++) {
		struct fuse_entry_param e;
		uint64_t child = 0;
		const char *name;

		memset(&e, 0, sizeof(e));
		if (pos < 2) {
			name = pos == 0 ? "." : "..";
			e.attr.st_ino =
				pos == 0 || d->ds < 0 ? d->ino : FC_INO_ROOT;
			e.attr.st_mode = S_IFDIR;
		} else {
			rc = dir_entry(fs, d, pos - 2, plus, &pg, &de);
			if (rc <= 0)
				break;
			rc = 0;
			if (!de.name[0])
				continue;
			name = de.name;
			if (d->ds < 0) {
				path[0] = '\0';
			} else if (sl_path_join(path, sizeof(path), d->path,
						name) < 0) {
				continue;
			}
			e.attr.st_mode =
				de.a.type == PR_TYPE_DIR ? S_IFDIR : S_IFREG;
			e.attr.st_ino = preferred_ino(
				fs, d->ds < 0 ? (int)(pos - 2) : d->ds, path);
		}
		if (plus)
			need = fuse_add_direntry_plus(req, NULL, 0, name, NULL,
						      0);
		else
			need = fuse_add_direntry(req, NULL, 0, name, NULL, 0);
		if (used + need > size)
			break;
		/* Under pressure, entries go without attributes (ino 0):
		 * the kernel then looks up only what it uses. */
		if (plus && pos >= 2 && de.have_attr &&
		    !fc_inode_pressure(fs->inodes)) {
			int ds = d->ds < 0 ? (int)(pos - 2) : d->ds;

			if (fc_fs_learn(fs, d->ino, name, ds, path, &de.a, 0,
					&child) == 0)
				fc_fs_fill_entry(fs, ds, child, &de.a, &e);
		}
		if (plus)
			fuse_add_direntry_plus(req, buf + used, size - used,
					       name, &e, (off_t)(pos + 1));
		else
			fuse_add_direntry(req, buf + used, size - used, name,
					  &e.attr, (off_t)(pos + 1));
		used += need;
	}
	fc_dirlist_put(&pg);
	if (rc < 0 && used == 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

void fc_fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 0);
}

void fc_fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, 1);
}
