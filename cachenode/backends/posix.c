/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The posix backend: a dataset is a local or NFS directory, named by
 * `uri = file:///ABSOLUTE/PATH`.  Built as sluice_backend_posix.so.
 *
 * Confinement.  Every path is resolved relative to a descriptor of the
 * dataset root that the module holds open, never as a string joined onto
 * the root.  Paths are checked first (no absolute path, no empty, "." or
 * ".." component); then openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
 * makes the kernel refuse any resolution that would leave the root, which
 * covers symlinks pointing outside, absolute symlinks and /proc magic
 * links.  Symlinks that stay inside the root are followed.  Where openat2
 * is missing (Linux < 5.6: ENOSYS) or `confine = walk` is set, the path is
 * walked one component at a time with O_NOFOLLOW and every symlink is
 * refused, inside the root or not.  An escape is reported as -EACCES.
 *
 * Versions are "s<size>-m<mtime_ns>".  A read checks the version before
 * and after it reads, so bytes of a file that changed underneath are never
 * returned under the old version: -ESTALE.
 *
 * LIST pages follow the directory's own order; the cursor is the kernel's
 * directory offset (d_off) after the last entry returned, which is stable
 * for an unchanging directory on ext4, xfs, tmpfs and NFS, and lets a page
 * start anywhere without reading the entries before it.
 *
 * Dataset parameters: `confine = auto | walk` (default auto).  Thread
 * safety: after open, all calls may run concurrently; the state is
 * read-only but for the openat2 fallback flag, which is atomic.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sluice/backend.h"

#define GETDENTS_BUF   (32u << 10)
#define POSIX_PATH_MAX 4095
#define POSIX_NAME_MAX 255

typedef struct posix_state {
	int rootfd;
	char *root;
	_Atomic int use_openat2; /* 0 once openat2 said ENOSYS, or walk */
} posix_state_t;

/* The layout getdents64(2) fills in. */
struct linux_dirent64 {
	uint64_t d_ino;
	int64_t d_off;
	unsigned short d_reclen;
	unsigned char d_type;
	char d_name[];
};

static int path_ok(const char *path, char *err, size_t errlen)
{
	size_t len = strlen(path), start = 0;

	if (len == 0)
		return 0;
	if (len > POSIX_PATH_MAX) {
		snprintf(err, errlen, "path too long");
		return -ENAMETOOLONG;
	}
	if (path[0] == '/') {
		snprintf(err, errlen, "absolute path refused");
		return -EINVAL;
	}
	while (start <= len) {
		const char *c = path + start;
		const char *slash = strchr(c, '/');
		size_t n = slash ? (size_t)(slash - c) : len - start;

		if (n == 0 || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.')) {
			snprintf(err, errlen,
				 "path has an empty, '.' or '..' component");
			return -EINVAL;
		}
		if (n > POSIX_NAME_MAX) {
			snprintf(err, errlen, "path component too long");
			return -ENAMETOOLONG;
		}
		start += n + 1;
	}
	return 0;
}

static int escape_error(char *err, size_t errlen)
{
	snprintf(err, errlen,
		 "path leaves the dataset root or crosses a "
		 "symlink that is not followed");
	return -EACCES;
}

/* -errno for a failed open, the escape cases folded into -EACCES. */
static int open_error(int e, char *err, size_t errlen)
{
	if (e == EXDEV || e == ELOOP)
		return escape_error(err, errlen);
	snprintf(err, errlen, "%s", strerror(e));
	return -e;
}

/* Walk path from the root with O_NOFOLLOW, refusing every symlink. */
static int walk_open(posix_state_t *st, const char *path, int flags, char *err,
		     size_t errlen)
{
	char buf[POSIX_PATH_MAX + 1];
	char *comp, *slash;
	int cur = st->rootfd, fd, rc;
	struct stat sb;

	if (!*path) {
		fd = openat(st->rootfd, ".", flags | O_CLOEXEC);
		return fd >= 0 ? fd : open_error(errno, err, errlen);
	}
	snprintf(buf, sizeof(buf), "%s", path);
	comp = buf;
	while ((slash = strchr(comp, '/'))) {
		*slash = '\0';
		/* O_PATH | O_NOFOLLOW opens a symlink as itself: see it. */
		fd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			rc = open_error(errno, err, errlen);
			goto out;
		}
		if (fstat(fd, &sb) < 0 || !S_ISDIR(sb.st_mode)) {
			rc = S_ISLNK(sb.st_mode) ? escape_error(err, errlen)
						 : -ENOTDIR;
			if (rc == -ENOTDIR)
				snprintf(err, errlen, "%s", strerror(ENOTDIR));
			close(fd);
			goto out;
		}
		if (cur != st->rootfd)
			close(cur);
		cur = fd;
		comp = slash + 1;
	}
	fd = openat(cur, comp, flags | O_NOFOLLOW | O_CLOEXEC);
	rc = fd >= 0 ? fd : open_error(errno, err, errlen);
out:
	if (cur != st->rootfd)
		close(cur);
	return rc;
}

/* Open path (checked) below the root; returns an fd or -errno. */
static int open_beneath(posix_state_t *st, const char *path, int flags,
			char *err, size_t errlen)
{
	struct open_how how = {0};
	long fd;

	if (atomic_load(&st->use_openat2)) {
		how.flags = (uint64_t)(flags | O_CLOEXEC);
		how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
		fd = syscall(SYS_openat2, st->rootfd, *path ? path : ".", &how,
			     sizeof(how));
		if (fd >= 0)
			return (int)fd;
		if (errno != ENOSYS)
			return open_error(errno, err, errlen);
		atomic_store(&st->use_openat2, 0);
	}
	return walk_open(st, path, flags, err, errlen);
}

static void make_version(const struct stat *sb, char *out, size_t cap)
{
	int64_t mt =
		(int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;

	snprintf(out, cap, "s%" PRIu64 "-m%" PRId64, (uint64_t)sb->st_size, mt);
}

static int fill_stat(const struct stat *sb, sb_stat_t *st, char *err,
		     size_t errlen)
{
	memset(st, 0, sizeof(*st));
	st->mode = sb->st_mode & 07777;
	st->mtime_ns =
		(int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
	if (S_ISREG(sb->st_mode)) {
		st->type = SB_TYPE_FILE;
		st->size = (uint64_t)sb->st_size;
		make_version(sb, st->version, sizeof(st->version));
		return 0;
	}
	if (S_ISDIR(sb->st_mode)) {
		st->type = SB_TYPE_DIR;
		return 0;
	}
	if (S_ISLNK(sb->st_mode))
		return escape_error(err, errlen);
	snprintf(err, errlen, "not a regular file or directory");
	return -EACCES;
}

/* ---- open / close ---------------------------------------------------- */

static int posix_open(const sb_dataset_t *ds, void **state, char *err,
		      size_t errlen)
{
	const char *uri = ds->uri ? ds->uri : "";
	const char *cpath = ds->config_path ? ds->config_path : "(config)";
	posix_state_t *st;
	int walk = 0, fd;
	size_t n;

	for (size_t i = 0; i < ds->n_params; i++) {
		const sb_param_t *p = &ds->params[i];

		if (strcmp(p->key, "confine") == 0 &&
		    (strcmp(p->value, "auto") == 0 ||
		     strcmp(p->value, "walk") == 0)) {
			walk = strcmp(p->value, "walk") == 0;
			continue;
		}
		if (strcmp(p->key, "confine") == 0)
			snprintf(err, errlen,
				 "%s:%d: [dataset %s] confine: '%s' is not "
				 "auto or walk",
				 cpath, p->line, ds->name, p->value);
		else
			snprintf(err, errlen,
				 "%s:%d: [dataset %s] %s: unknown posix "
				 "parameter (known: confine)",
				 cpath, p->line, ds->name, p->key);
		return -EINVAL;
	}
	if (strncmp(uri, "file:///", 8) != 0) {
		snprintf(err, errlen,
			 "%s: [dataset %s] uri '%s': expected "
			 "file:///ABSOLUTE/PATH",
			 cpath, ds->name, uri);
		return -EINVAL;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	st->root = strdup(uri + 7);
	if (!st->root) {
		free(st);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	n = strlen(st->root);
	while (n > 1 && st->root[n - 1] == '/')
		st->root[--n] = '\0';
	fd = open(st->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		snprintf(err, errlen, "%s: [dataset %s] cannot open %s: %s",
			 cpath, ds->name, st->root, strerror(e));
		free(st->root);
		free(st);
		return -e;
	}
	st->rootfd = fd;
	atomic_init(&st->use_openat2, !walk);
	*state = st;
	return 0;
}

static void posix_close(void *state)
{
	posix_state_t *st = state;

	if (!st)
		return;
	close(st->rootfd);
	free(st->root);
	free(st);
}

/* ---- stat / read ----------------------------------------------------- */

static int posix_stat(void *state, const char *path, sb_stat_t *st, char *err,
		      size_t errlen)
{
	struct stat sb;
	int fd, rc;

	rc = path_ok(path, err, errlen);
	if (rc < 0)
		return rc;
	fd = open_beneath(state, path, O_PATH, err, errlen);
	if (fd < 0)
		return fd;
	if (fstat(fd, &sb) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s", strerror(errno));
	} else {
		rc = fill_stat(&sb, st, err, errlen);
	}
	close(fd);
	return rc;
}

static int check_file(int fd, const char *version, char *err, size_t errlen)
{
	char cur[SB_VERSION_MAX + 1];
	struct stat sb;

	if (fstat(fd, &sb) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -errno;
	}
	if (S_ISDIR(sb.st_mode)) {
		snprintf(err, errlen, "is a directory");
		return -EISDIR;
	}
	if (!S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		return -EACCES;
	}
	make_version(&sb, cur, sizeof(cur));
	if (version && *version && strcmp(cur, version) != 0) {
		snprintf(err, errlen, "file changed: version %s, asked for %s",
			 cur, version);
		return -ESTALE;
	}
	return 0;
}

static ssize_t posix_read(void *state, const char *path, const char *version,
			  uint64_t offset, void *buf, size_t len, char *err,
			  size_t errlen)
{
	size_t done = 0;
	ssize_t rc;
	int fd;

	rc = path_ok(path, err, errlen);
	if (rc < 0)
		return rc;
	if (offset > INT64_MAX || len > INT64_MAX - offset) {
		snprintf(err, errlen, "offset out of range");
		return -EINVAL;
	}
	fd = open_beneath(state, path, O_RDONLY | O_NONBLOCK | O_NOCTTY, err,
			  errlen);
	if (fd < 0)
		return fd;
	rc = check_file(fd, version, err, errlen);
	while (rc == 0 && done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
				  (off_t)(offset + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(err, errlen, "read: %s", strerror(errno));
			break;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	/* A writer may have raced us: never return mixed bytes as the old
	 * version. */
	if (rc == 0)
		rc = check_file(fd, version, err, errlen);
	close(fd);
	return rc < 0 ? rc : (ssize_t)done;
}

/* ---- list ------------------------------------------------------------ */

static int parse_cursor(const char *cursor, off_t *off, char *err,
			size_t errlen)
{
	char *end;
	unsigned long long v;

	*off = 0;
	if (!*cursor)
		return 0;
	errno = 0;
	v = strtoull(cursor, &end, 10);
	if (errno || *end || cursor[0] < '0' || cursor[0] > '9' ||
	    v > INT64_MAX) {
		snprintf(err, errlen, "bad cursor");
		return -EINVAL;
	}
	*off = (off_t)v;
	return 0;
}

static int is_dot(const char *n)
{
	return n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2]));
}

/* Fill ent for name in directory fd (dir is its dataset path); 0 or < 0 to
 * skip the entry. */
static int dirent_stat(posix_state_t *st, int dfd, const char *dir,
		       const char *name, sb_dirent_t *ent)
{
	char path[POSIX_PATH_MAX + 1], err[SB_ERR_MAX];
	struct stat sb;
	int n, fd, rc;

	if (strlen(name) > POSIX_NAME_MAX)
		return -EINVAL;
	if (fstatat(dfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (S_ISLNK(sb.st_mode)) {
		/* Follow it only as a path from the root would be. */
		if (!atomic_load(&st->use_openat2))
			return -EACCES;
		n = snprintf(path, sizeof(path), "%s%s%s", dir, *dir ? "/" : "",
			     name);
		if (n < 0 || (size_t)n >= sizeof(path))
			return -ENAMETOOLONG;
		fd = open_beneath(st, path, O_PATH, err, sizeof(err));
		if (fd < 0)
			return fd;
		rc = fstat(fd, &sb) < 0 ? -errno : 0;
		close(fd);
		if (rc < 0)
			return rc;
	}
	snprintf(ent->name, sizeof(ent->name), "%s", name);
	return fill_stat(&sb, &ent->st, err, sizeof(err));
}

static int posix_list(void *state, const char *dir, const char *cursor,
		      sb_dirent_t *ents, size_t max, size_t *n,
		      char *next_cursor, char *err, size_t errlen)
{
	posix_state_t *st = state;
	char *buf = NULL;
	int64_t last_off = 0;
	int fd, rc, full = 0, more = 0;
	off_t off;

	*n = 0;
	next_cursor[0] = '\0';
	rc = path_ok(dir, err, errlen);
	if (rc < 0)
		return rc;
	rc = parse_cursor(cursor, &off, err, errlen);
	if (rc < 0)
		return rc;
	fd = open_beneath(st, dir, O_RDONLY | O_DIRECTORY, err, errlen);
	if (fd < 0)
		return fd;
	if (off && lseek(fd, off, SEEK_SET) < 0) {
		rc = -EINVAL;
		snprintf(err, errlen, "bad cursor");
		goto out;
	}
	buf = malloc(GETDENTS_BUF);
	if (!buf) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	while (!more) {
		long got = syscall(SYS_getdents64, fd, buf, GETDENTS_BUF);

		if (got < 0) {
			rc = -errno;
			snprintf(err, errlen, "getdents: %s", strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		for (long pos = 0; pos < got && !more;) {
			struct linux_dirent64 *de =
				(struct linux_dirent64 *)(buf + pos);

			pos += de->d_reclen;
			if (is_dot(de->d_name))
				continue;
			if (full) {
				more = 1; /* something follows the page */
				break;
			}
			if (dirent_stat(st, fd, dir, de->d_name, &ents[*n]) < 0)
				continue;
			last_off = de->d_off;
			if (++*n == max)
				full = 1;
		}
		if (full && !more)
			continue; /* peek into the next batch */
	}
	if (more)
		snprintf(next_cursor, SB_CURSOR_MAX + 1, "%" PRIu64,
			 (uint64_t)last_off);
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

const sb_ops_t sluice_backend_ops = {
	.abi_version = SB_ABI_VERSION,
	.ops_size = sizeof(sb_ops_t),
	.name = "posix",
	.open = posix_open,
	.close = posix_close,
	.stat = posix_stat,
	.list = posix_list,
	.read = posix_read,
};
