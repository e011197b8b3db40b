/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration tests for sluice-fuse: real cache nodes, a real mount, real
 * readers.  The mounted tree equals the source tree (find and ls -lR);
 * every byte and 10,000 random preads equal the source; a PyTorch
 * DataLoader (4 workers, shuffled, 2 epochs) sees the right bytes; two
 * threads sharing one handle of a three-page directory see every entry
 * once; four sequential readers of shards much larger than a small client
 * cache get every block from the nodes once, not twice (the read-ahead
 * budget); files opened by path without a listing cost a LIST per
 * directory, not a STAT per file; with 3 nodes a node killed mid-epoch
 * costs no error and, restarted, serves again; a file rewritten in the
 * store reads its new bytes and size through a descriptor opened before the
 * change, and a deleted one ENOENT (on a TTL dataset and on an immutable
 * one whose pages the kernel keeps); every write is EROFS, on the
 * default read-only mount (where the kernel opens files without asking the
 * client) and on an -o rw one, and hostile names get the right errno;
 * unmount is clean and a killed client's mount can be cleared.  Needs root
 * (or fusermount3 rights) and /dev/fuse; every process started is
 * registered in shared memory and killed by PID, and every mount is lazily
 * unmounted, at the end or on a fatal signal, so a failing run never leaves
 * them behind.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "proto/proto.h"
#include "test/helper_client.h"
#include "test/helper_proc.h"
#include "test/helper_check.h"
#include "test/helper_fuse.h"

#define BLOCK	   (64 * 1024)
#define MAX_PROCS  256
#define MAX_MOUNTS 32
#define N_CLASSES  20
#define WIDE	   1100 /* entries of tree/wide: three LIST pages */
#define PER_CLASS  100	/* 2,000 small files in the tree dataset */
#define N_PREADS   10000
#define FO_FILES   240 /* the fail-over dataset */
#define N_SHARDS   4
#define SHARD_MB   32 /* 4 x 32 MiB over a 16 MiB client cache */

/* ---- the tree dataset ---------------------------------------------------- */

static th_cluster_t tree;

/* Sizes that stress block boundaries with BLOCK = 64K. */
static const size_t edge_sizes[] = {
	0,
	1,
	BLOCK - 1,
	BLOCK,
	BLOCK + 1,
	2 * BLOCK,
	3 * BLOCK - 7,
	1000000,
	3 * 1048576 + 123,
};

static void make_tree(const char *root)
{
	char path[PATH_MAX], dir[PATH_MAX], name[256];
	uint64_t seed = 1;

	for (int c = 0; c < N_CLASSES; c++) {
		th_xsnprintf(dir, sizeof(dir), "%s/train/class%02d", root, c);
		if (c == 0) {
			th_xsnprintf(path, sizeof(path), "%s/train", root);
			mkdir(path, 0755);
		}
		mkdir(dir, 0755);
		for (int i = 0; i < PER_CLASS; i++) {
			size_t len = 1 + (size_t)((seed * 2654435761u) %
						  (80 * 1024));

			th_xsnprintf(path, sizeof(path), "%s/img%04d.jpg", dir,
				     i);
			th_make_file(path, len, seed++, 0644);
		}
	}
	th_xsnprintf(dir, sizeof(dir), "%s/edge", root);
	mkdir(dir, 0750);
	for (size_t i = 0; i < SL_ARRAY_SIZE(edge_sizes); i++) {
		th_xsnprintf(path, sizeof(path), "%s/size%zu", dir,
			     edge_sizes[i]);
		th_make_file(path, edge_sizes[i], seed++, i % 2 ? 0600 : 0444);
	}
	th_xsnprintf(path, sizeof(path), "%s/stream.bin", dir);
	th_make_file(path, 5 * 1048576 + 4321, seed++, 0644);
	th_xsnprintf(path, sizeof(path), "%s/run.sh", dir);
	th_make_file(path, 100, seed++, 0755);
	th_xsnprintf(path, sizeof(path), "%s/sp ace & ünï #1", root);
	th_make_file(path, 4242, seed++, 0644);
	/* The longest legal name: 255 bytes. */
	memset(name, 'x', 255);
	memcpy(name, "n255_", 5);
	name[255] = '\0';
	th_xsnprintf(path, sizeof(path), "%s/%s", root, name);
	th_make_file(path, 10, seed++, 0644);
	th_xsnprintf(path, sizeof(path), "%s/empty-dir", root);
	mkdir(path, 0700);
	th_xsnprintf(path, sizeof(path), "%s/a", root);
	mkdir(path, 0755);
	th_xsnprintf(path, sizeof(path), "%s/a/b", root);
	mkdir(path, 0755);
	th_xsnprintf(path, sizeof(path), "%s/a/b/c", root);
	mkdir(path, 0755);
	th_xsnprintf(path, sizeof(path), "%s/a/b/c/deep.txt", root);
	th_make_file(path, 12345, seed++, 0640);
	/* A directory of many entries, several LIST pages (512 each). */
	th_xsnprintf(dir, sizeof(dir), "%s/many", root);
	mkdir(dir, 0755);
	for (int i = 0; i < 1300; i++) {
		th_xsnprintf(path, sizeof(path), "%s/f%05d", dir, i);
		th_make_file(path, (size_t)(i % 5), seed++, 0644);
	}
	/* Another, listed first by test_shared_dir_handle (so the kernel's
	 * readdir cache does not yet answer for the client). */
	th_xsnprintf(dir, sizeof(dir), "%s/wide", root);
	mkdir(dir, 0755);
	for (int i = 0; i < WIDE; i++) {
		th_xsnprintf(path, sizeof(path), "%s/w%05d", dir, i);
		th_make_file(path, 0, seed++, 0644);
	}
}

static void tree_setup(void)
{
	const char *extra[] = {"-o", "auto_unmount,allow_other", "-v", NULL};

	th_cluster_init(&tree, "tree", 3);
	make_tree(tree.src);
	th_cluster_conf(&tree, "block_cache = 64M\nprefetch_depth = 4\n");
	for (int i = 0; i < tree.n_nodes; i++)
		th_cluster_node_start(&tree, i);
	if (th_client_start(&tree, extra) != 0) {
		size_t len;
		char *log = th_read_file(tree.fclog, &len);

		fprintf(stderr, "sluice-fuse did not mount:\n%s\n",
			log ? log : "");
		free(log);
		ck_abort_msg("mount failed");
	}
}

static void tree_teardown(void)
{
	th_cluster_stop(&tree);
}

/* "path\ttype\tsize\tmode\tmtime" per entry, sorted; directory sizes are
 * the store's business, so they are left out. */
static char *find_listing(const char *dir)
{
	char cmd[PATH_MAX + 256];

	th_xsnprintf(
		cmd, sizeof(cmd),
		"cd '%s' && LC_ALL=C timeout 120 find . -mindepth 1 -printf "
		"'%%P\\t%%y\\t%%s\\t%%m\\t%%TY%%Tm%%Td%%TH%%TM%%TS\\n' | "
		"sed -E 's/\\.[0-9]+$//; s/^([^\\t]*\\td)\\t[0-9]+/\\1\\t-/' "
		"| LC_ALL=C sort",
		dir);
	return th_capture(cmd);
}

/* ls -lR, with link counts, owners and directory sizes blanked. */
static char *ls_listing(const char *dir)
{
	char cmd[PATH_MAX + 256];

	th_xsnprintf(
		cmd, sizeof(cmd),
		"cd '%s' && LC_ALL=C timeout 120 ls -lR --time-style=+%%s . "
		"| awk '/^total /{next} NF>=7 {$2=\"-\"; $3=\"-\"; $4=\"-\";"
		" if (substr($1,1,1)==\"d\") $5=\"-\"} {print}'",
		dir);
	return th_capture(cmd);
}

START_TEST(test_tree_listing)
{
	char *a = find_listing(tree.src), *b = find_listing(tree.data);
	char *c = ls_listing(tree.src), *d = ls_listing(tree.data);
	char root[PATH_MAX];
	DIR *dir;
	struct dirent *de;
	int n = 0;

	ck_assert_uint_gt(strlen(a), 2000 * 20);
	ck_assert_msg(strcmp(a, b) == 0, "find listings differ");
	ck_assert_msg(strcmp(c, d) == 0, "ls -lR listings differ");
	free(a);
	free(b);
	free(c);
	free(d);
	/* The root lists exactly the datasets. */
	th_xsnprintf(root, sizeof(root), "%s", tree.mnt);
	dir = opendir(root);
	ck_assert_ptr_nonnull(dir);
	while ((de = readdir(dir)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			ck_assert_str_eq(de->d_name, "ds");
			n++;
		}
	closedir(dir);
	ck_assert_int_eq(n, 1);
}
END_TEST

START_TEST(test_inode_numbers)
{
	char path[PATH_MAX];
	struct stat st1, st2, rst;
	DIR *dir;
	struct dirent *de;
	int checked = 0;

	ck_assert_int_eq(stat(tree.mnt, &rst), 0);
	ck_assert_uint_eq(rst.st_ino, 1);
	th_xsnprintf(path, sizeof(path), "%s/train/class03", tree.data);
	dir = opendir(path);
	ck_assert_ptr_nonnull(dir);
	while ((de = readdir(dir)) && checked < 50) {
		char p[PATH_MAX];

		if (de->d_name[0] == '.')
			continue;
		th_xsnprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		ck_assert_int_eq(stat(p, &st1), 0);
		ck_assert_uint_eq(st1.st_ino, de->d_ino);
		checked++;
	}
	closedir(dir);
	ck_assert_int_eq(checked, 50);
	/* Stable while mounted: read a lot, then ask again. */
	th_xsnprintf(path, sizeof(path), "%s/a/b/c/deep.txt", tree.data);
	ck_assert_int_eq(stat(path, &st1), 0);
	free(find_listing(tree.data));
	ck_assert_int_eq(stat(path, &st2), 0);
	ck_assert_uint_eq(st1.st_ino, st2.st_ino);
	ck_assert_uint_ne(st1.st_ino, 0);
}
END_TEST

/* Two threads read one directory handle with small getdents64 calls:
 * together they see every entry exactly once (the client's pages are
 * shared by the handle's readers), and a rewind lists it all again. */
struct dirreader {
	int fd;
	int seen[WIDE];
	int dots, bad;
};

static void *read_dirents(void *arg)
{
	struct dirreader *r = arg;
	char buf[1024];
	long n;

	while ((n = syscall(SYS_getdents64, r->fd, buf, sizeof(buf))) > 0) {
		for (long pos = 0; pos < n;) {
			struct dirent64 *de = (struct dirent64 *)(buf + pos);
			int k;

			if (de->d_name[0] == '.')
				r->dots++;
			else if (sscanf(de->d_name, "w%05d", &k) == 1 &&
				 k >= 0 && k < WIDE)
				r->seen[k]++;
			else
				r->bad++;
			pos += de->d_reclen;
		}
	}
	if (n < 0)
		r->bad++;
	return NULL;
}

START_TEST(test_shared_dir_handle)
{
	static struct dirreader r[2];
	char path[PATH_MAX];
	pthread_t t[2];
	int64_t lists = th_cluster_ok(&tree, "LIST");
	int fd;

	th_xsnprintf(path, sizeof(path), "%s/wide", tree.data);
	fd = open(path, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(fd, 0);
	for (int round = 0; round < 2; round++) {
		memset(r, 0, sizeof(r));
		for (int i = 0; i < 2; i++) {
			r[i].fd = fd;
			ck_assert_int_eq(pthread_create(&t[i], NULL,
							read_dirents, &r[i]),
					 0);
		}
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		ck_assert_int_eq(r[0].bad + r[1].bad, 0);
		/* The first round came from the client: three pages. */
		if (round == 0)
			ck_assert_int_ge(th_cluster_ok(&tree, "LIST") - lists,
					 3);
		ck_assert_int_eq(r[0].dots + r[1].dots, 2);
		for (int k = 0; k < WIDE; k++)
			ck_assert_msg(r[0].seen[k] + r[1].seen[k] == 1,
				      "round %d: w%05d seen %d times", round, k,
				      r[0].seen[k] + r[1].seen[k]);
		/* Back to the start: the client walks from the first page. */
		ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	}
	close(fd);
}
END_TEST

/* A sequential reader makes the client fetch ahead: READs for blocks it
 * has not asked for yet, and PREFETCH hints to the nodes.  Runs first, on
 * a file nothing has read yet. */
START_TEST(test_prefetch)
{
	char a[PATH_MAX];
	int64_t reads0 = th_cluster_ok(&tree, "READ");
	int64_t hints0 = th_cluster_ok(&tree, "PREFETCH"), reads, hints;
	size_t len, blocks = (5 * 1048576 + 4321 + BLOCK - 1) / BLOCK;
	char *buf = sl_xmalloc(128 * 1024), *src;
	int fd;
	ssize_t n;
	size_t got = 0;

	th_xsnprintf(a, sizeof(a), "%s/edge/stream.bin", tree.src);
	src = th_read_file(a, &len);
	th_xsnprintf(a, sizeof(a), "%s/edge/stream.bin", tree.data);
	fd = open(a, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	while ((n = read(fd, buf, 128 * 1024)) > 0) {
		ck_assert(memcmp(buf, src + got, (size_t)n) == 0);
		got += (size_t)n;
	}
	ck_assert_uint_eq(got, len);
	close(fd);
	reads = th_cluster_ok(&tree, "READ") - reads0;
	hints = th_cluster_ok(&tree, "PREFETCH") - hints0;
	fprintf(stderr,
		"prefetch: %zu blocks read with %lld READs and %lld "
		"PREFETCH hints\n",
		blocks, (long long)reads, (long long)hints);
	/* Every block fetched once: prefetched blocks are not fetched
	 * again when the reader reaches them. */
	ck_assert_int_eq(reads, (int64_t)blocks);
	ck_assert_int_gt(hints, (int64_t)blocks / 2);
	free(buf);
	free(src);
}
END_TEST

START_TEST(test_every_file)
{
	char *list = find_listing(tree.src), *line, *save = NULL;
	int files = 0;

	for (line = strtok_r(list, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(line, '\t'), a[PATH_MAX], b[PATH_MAX];

		if (!tab || tab[1] != 'f')
			continue;
		*tab = '\0';
		th_xsnprintf(a, sizeof(a), "%s/%s", tree.src, line);
		th_xsnprintf(b, sizeof(b), "%s/%s", tree.data, line);
		ck_assert_msg(th_compare_file(a, b), "%s differs", line);
		files++;
	}
	free(list);
	ck_assert_int_gt(files, 3000);
}
END_TEST

START_TEST(test_random_preads)
{
	const char *names[] = {"edge/size1000000",	   "edge/size3145851",
			       "edge/size196601",	   "edge/size65537",
			       "edge/size65535",	   "edge/size1",
			       "train/class07/img0042.jpg"};
	int fds[SL_ARRAY_SIZE(names)];
	char *src[SL_ARRAY_SIZE(names)];
	size_t len[SL_ARRAY_SIZE(names)];
	uint8_t *buf = sl_xmalloc(600000);
	unsigned seed = 42;
	int odd = 0;

	for (size_t i = 0; i < SL_ARRAY_SIZE(names); i++) {
		char p[PATH_MAX];

		th_xsnprintf(p, sizeof(p), "%s/%s", tree.src, names[i]);
		src[i] = th_read_file(p, &len[i]);
		ck_assert_ptr_nonnull(src[i]);
		th_xsnprintf(p, sizeof(p), "%s/%s", tree.data, names[i]);
		fds[i] = open(p, O_RDONLY | O_CLOEXEC);
		ck_assert_int_ge(fds[i], 0);
	}
	for (int k = 0; k < N_PREADS; k++) {
		size_t f = (size_t)rand_r(&seed) % SL_ARRAY_SIZE(names);
		size_t flen = len[f], off, size, want;
		ssize_t got;
		int kind = rand_r(&seed) % 10;

		/* Mostly anywhere; some at block edges, at EOF, past EOF. */
		off = (size_t)rand_r(&seed) % (flen + 1);
		if (kind == 0)
			off = (off / BLOCK) * BLOCK + BLOCK - 1 -
			      (size_t)rand_r(&seed) % 3;
		else if (kind == 1)
			off = flen;
		else if (kind == 2)
			off = flen + (size_t)rand_r(&seed) % 200000;
		size = (size_t)rand_r(&seed) % (kind == 3 ? 600000 : 150000);
		want = off >= flen ? 0 : SL_MIN(size, flen - off);
		got = pread(fds[f], buf, size, (off_t)off);
		ck_assert_msg(got == (ssize_t)want,
			      "%s: pread(%zu, %zu) = %zd, want %zu", names[f],
			      size, off, got, want);
		ck_assert_msg(
			memcmp(buf, src[f] + SL_MIN(off, flen), want) == 0,
			"%s: bytes at %zu+%zu differ", names[f], off, size);
		/* Drop the page cache now and then, so reads reach us. */
		if (k % 97 == 0)
			posix_fadvise(fds[f], 0, 0, POSIX_FADV_DONTNEED);
		odd += kind < 3;
	}
	ck_assert_int_gt(odd, 2000);
	for (size_t i = 0; i < SL_ARRAY_SIZE(names); i++) {
		close(fds[i]);
		free(src[i]);
	}
	free(buf);
}
END_TEST

START_TEST(test_dataloader)
{
	pid_t worker;
	char cmd[3 * PATH_MAX], script[PATH_MAX], train[PATH_MAX],
		status[PATH_MAX];
	char *out, *rss;

	ck_assert_msg(access("/usr/bin/python3", X_OK) == 0, "no python3");
	th_xsnprintf(script, sizeof(script), "%s/test/it_fuse_loader.py",
		     getenv("SLUICE_SRC") ? getenv("SLUICE_SRC") : ".");
	th_xsnprintf(train, sizeof(train), "%s/train", tree.src);
	th_xsnprintf(
		cmd, sizeof(cmd),
		"timeout 600 /usr/bin/python3 '%s' '%s/train' '%s' 2 4 2>&1",
		script, tree.data, train);
	out = th_capture(cmd);
	fprintf(stderr, "%s", out);
	ck_assert_msg(strstr(out, "mismatches=0") && strstr(out, "epochs=2") &&
			      strstr(out, "files=2000"),
		      "DataLoader failed: %s", out);
	free(out);
	/* Report the client's memory after two epochs: its worker's, and
	 * its supervisor's. */
	worker = th_client_worker(&tree, 1000);
	ck_assert_int_gt(worker, 0);
	th_xsnprintf(status, sizeof(status),
		     "grep -E 'VmRSS|VmHWM' /proc/%d/status", (int)worker);
	rss = th_capture(status);
	fprintf(stderr,
		"sluice-fuse's worker after 2 DataLoader epochs over 2,000 "
		"files: %s",
		rss);
	free(rss);
	fprintf(stderr, "sluice-fuse's supervisor: VmRSS %ld kB\n",
		th_proc_status_kb(tree.client, "VmRSS"));
	/* Bounded by the block cache (64M here), not by the data read
	 * (sanitizer builds carry their own large overhead); the supervisor
	 * by nearly nothing. */
	th_xsnprintf(status, sizeof(status), "/proc/%d/maps", (int)worker);
	if (!th_file_contains(status, "libasan")) {
		ck_assert_int_lt(th_proc_status_kb(worker, "VmRSS"),
				 (64 + 48) * 1024);
		ck_assert_int_lt(th_proc_status_kb(tree.client, "VmRSS"),
				 16 * 1024);
	}
}
END_TEST

static char *mount_line(const char *mnt)
{
	char cmd[PATH_MAX + 64];

	th_xsnprintf(cmd, sizeof(cmd),
		     "grep ' %s fuse.sluice ' /proc/self/mounts", mnt);
	return th_capture(cmd);
}

/* Every write under data fails with EROFS and changes nothing; file is a
 * file there and empty an empty directory. */
static void check_erofs(const char *data, const char *file, const char *empty)
{
	char f[PATH_MAX], n[PATH_MAX], x[PATH_MAX];
	struct timeval tv[2] = {{0, 0}, {0, 0}};

	th_xsnprintf(f, sizeof(f), "%s/%s", data, file);
	th_xsnprintf(n, sizeof(n), "%s/newfile", data);
	th_xsnprintf(x, sizeof(x), "%s/%s", data, empty);
	th_expect_errno(open(f, O_WRONLY), EROFS, "open O_WRONLY");
	th_expect_errno(open(f, O_RDWR), EROFS, "open O_RDWR");
	th_expect_errno(open(f, O_RDONLY | O_TRUNC), EROFS, "open O_TRUNC");
	th_expect_errno(open(n, O_WRONLY | O_CREAT, 0644), EROFS, "create");
	th_expect_errno(mkdir(n, 0755), EROFS, "mkdir");
	th_expect_errno(mknod(n, S_IFREG | 0644, 0), EROFS, "mknod");
	th_expect_errno(unlink(f), EROFS, "unlink");
	th_expect_errno(rmdir(x), EROFS, "rmdir");
	th_expect_errno(rename(f, n), EROFS, "rename");
	th_expect_errno(link(f, n), EROFS, "link");
	th_expect_errno(symlink("x", n), EROFS, "symlink");
	th_expect_errno(chmod(f, 0777), EROFS, "chmod");
	th_expect_errno(chown(f, 1, 1), EROFS, "chown");
	th_expect_errno(truncate(f, 0), EROFS, "truncate");
	th_expect_errno(utimes(f, tv), EROFS, "utimes");
	th_expect_errno(setxattr(f, "user.x", "1", 1, 0), EROFS, "setxattr");
	th_expect_errno(removexattr(f, "user.x"), EROFS, "removexattr");
	/* Nothing changed. */
	ck_assert_int_eq(access(n, F_OK), -1);
	ck_assert_int_eq(access(f, R_OK), 0);
}

/* The default mount is read-only, and the kernel opens its files without
 * asking the client. */
START_TEST(test_erofs)
{
	char *out;

	check_erofs(tree.data, "edge/size1", "empty-dir");
	out = mount_line(tree.mnt);
	ck_assert_msg(strstr(out, " ro,"), "%s", out);
	free(out);
	ck_assert(th_file_contains(tree.fclog, "opens: in the kernel"));
}
END_TEST

START_TEST(test_hostile_names)
{
	char p[PATH_MAX + 600], name[300];
	struct stat st, root;

	memset(name, 'x', 256);
	name[256] = '\0';
	th_xsnprintf(p, sizeof(p), "%s/%s", tree.data, name);
	th_expect_errno(stat(p, &st), ENAMETOOLONG, "256-byte name");
	th_expect_errno(open(p, O_RDONLY), ENAMETOOLONG, "open 256-byte name");
	name[255] = '\0';
	th_xsnprintf(p, sizeof(p), "%s/%s", tree.data, name);
	th_expect_errno(stat(p, &st), ENOENT, "255-byte name");
	memcpy(name, "n255_", 5);
	th_xsnprintf(p, sizeof(p), "%s/%s", tree.data, name);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_size, 10);
	th_xsnprintf(p, sizeof(p), "%s/a\nb", tree.data);
	th_expect_errno(stat(p, &st), ENOENT, "newline");
	th_xsnprintf(p, sizeof(p), "%s/edge\n/size1", tree.data);
	th_expect_errno(stat(p, &st), ENOENT, "newline dir");
	th_xsnprintf(p, sizeof(p), "%s/\\..", tree.data);
	th_expect_errno(stat(p, &st), ENOENT, "backslash dots");
	th_xsnprintf(p, sizeof(p), "%s/...", tree.data);
	th_expect_errno(stat(p, &st), ENOENT, "three dots");
	th_xsnprintf(p, sizeof(p), "%s/nosuch/../edge", tree.data);
	th_expect_errno(stat(p, &st), ENOENT, "through a missing dir");
	th_xsnprintf(p, sizeof(p), "%s/edge/size1/x", tree.data);
	th_expect_errno(stat(p, &st), ENOTDIR, "through a file");
	/* ".." climbs inside the mount only: dataset root's parent is the
	 * mount root, whose parent is the real directory above it. */
	ck_assert_int_eq(stat(tree.mnt, &root), 0);
	th_xsnprintf(p, sizeof(p), "%s/a/b/../../..", tree.data);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_uint_eq(st.st_ino, root.st_ino);
	ck_assert_uint_eq(st.st_dev, root.st_dev);
	th_xsnprintf(p, sizeof(p), "%s/a/../edge/../a/b/c/deep.txt", tree.data);
	ck_assert_int_eq(stat(p, &st), 0);
	ck_assert_int_eq(st.st_size, 12345);
	th_xsnprintf(p, sizeof(p), "%s/nosuchdataset", tree.mnt);
	th_expect_errno(stat(p, &st), ENOENT, "unknown dataset");
}
END_TEST

START_TEST(test_xattr_statfs)
{
	char f[PATH_MAX], v[16];
	struct statvfs sv;
	int fd;

	th_xsnprintf(f, sizeof(f), "%s/edge/size1", tree.data);
	th_expect_errno((int)getxattr(f, "user.foo", v, sizeof(v)), ENODATA,
			"getxattr");
	/* A file lists Sluice's own two (xattr.c), a directory none. */
	ck_assert_int_eq(
		listxattr(f, NULL, 0),
		(ssize_t)sizeof("user.sluice.cached\0user.sluice.nodes"));
	ck_assert_int_eq(listxattr(tree.data, NULL, 0), 0);
	ck_assert_int_eq(statvfs(tree.mnt, &sv), 0);
	ck_assert_uint_eq(sv.f_namemax, 255);
	/* A directory cannot be opened for reading bytes. */
	th_xsnprintf(f, sizeof(f), "%s/a", tree.data);
	fd = open(f, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq((int)read(fd, v, 1), -1);
	ck_assert_int_eq(errno, EISDIR);
	close(fd);
}
END_TEST

/* ---- fail-over ----------------------------------------------------------- */

struct fo_reader {
	th_cluster_t *c;
	int from, to, step; /* files from, from+step, ... < to */
	_Atomic int *progress;
	_Atomic int errors;
	char first_error[256];
};

static void *fo_read(void *arg)
{
	struct fo_reader *r = arg;
	char a[PATH_MAX], b[PATH_MAX];

	for (int i = r->from; i < r->to; i += r->step) {
		th_xsnprintf(a, sizeof(a), "%s/f%04d", r->c->src, i);
		th_xsnprintf(b, sizeof(b), "%s/f%04d", r->c->data, i);
		if (!th_compare_file(a, b)) {
			if (atomic_fetch_add(&r->errors, 1) == 0)
				snprintf(r->first_error, sizeof(r->first_error),
					 "f%04d: %s", i, strerror(errno));
		}
		atomic_fetch_add(r->progress, 1);
	}
	return NULL;
}

/* Read files [from, to) with 4 threads; kill node `victim` (if >= 0) once
 * a third of them are read.  Returns the number of errors. */
static int fo_epoch(th_cluster_t *c, int from, int to, int victim)
{
	struct fo_reader r[4];
	pthread_t th[4];
	_Atomic int progress = 0;
	int errors = 0;

	for (int i = 0; i < 4; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].c = c;
		r[i].from = from + i;
		r[i].to = to;
		r[i].step = 4;
		r[i].progress = &progress;
		pthread_create(&th[i], NULL, fo_read, &r[i]);
	}
	if (victim >= 0) {
		while (atomic_load(&progress) < (to - from) / 3)
			th_msleep(5);
		th_cluster_node_kill(c, victim);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		if (r[i].errors)
			fprintf(stderr, "fail-over reader: %s\n",
				r[i].first_error);
		errors += r[i].errors;
	}
	return errors;
}

START_TEST(test_failover)
{
	th_cluster_t c;
	char path[PATH_MAX];
	int victim = 1, errors;
	int64_t served;
	uint64_t t0;

	th_cluster_init(&c, "failover", 3);
	for (int i = 0; i < FO_FILES; i++) {
		th_xsnprintf(path, sizeof(path), "%s/f%04d", c.src, i);
		th_make_file(path, 20000 + (size_t)i * 1500, 1000 + (uint64_t)i,
			     0644);
	}
	th_cluster_conf(&c, "block_cache = 4M\nprefetch_depth = 2\n"
			    "request_timeout = 700ms\ndown_backoff = 1s\n");
	for (int i = 0; i < c.n_nodes; i++)
		th_cluster_node_start(&c, i);
	ck_assert_int_eq(th_client_start(&c, NULL), 0);
	/* Past the client's connect grace (one request_timeout after it
	 * opened its sockets): within it, a node without a connection is
	 * skipped quietly as one still connecting, and this test is about
	 * a dead node being marked down. */
	th_msleep(1500);

	/* First half, with node 1 killed a third of the way in. */
	t0 = sl_now_ms();
	errors = fo_epoch(&c, 0, FO_FILES / 2, victim);
	fprintf(stderr,
		"fail-over: half an epoch with a node killed: %d "
		"errors, %llu ms\n",
		errors, (unsigned long long)(sl_now_ms() - t0));
	ck_assert_int_eq(errors, 0);
	ck_assert(th_file_contains(c.fclog, "not using it"));

	/* Restart it; the client probes it back into use. */
	th_cluster_node_start(&c, victim);
	for (int t = 0; t < 300 && !th_file_contains(c.fclog, "answers again");
	     t++)
		th_msleep(50);
	ck_assert_msg(th_file_contains(c.fclog, "answers again"),
		      "restarted node not taken back");
	errors = fo_epoch(&c, FO_FILES / 2, FO_FILES, -1);
	ck_assert_int_eq(errors, 0);
	served = th_node_ok(c.port[victim], "READ");
	fprintf(stderr, "fail-over: restarted node served %lld reads\n",
		(long long)served);
	ck_assert_int_gt(served, 0);
	ck_assert_int_eq(th_client_stop(&c), 0);
	th_cluster_stop(&c);
}
END_TEST

/* ---- sequential shards over a small client cache --------------------------
 */

static void small_tree(th_cluster_t *c)
{
	char p[PATH_MAX];

	th_xsnprintf(p, sizeof(p), "%s/hello.txt", c->src);
	th_put_file(p, "hello\n", 6);
}

struct shard_reader {
	const char *path; /* in the mount */
	const uint8_t *want;
	size_t len;
	size_t got;
	int bad; /* bytes differed, or a read failed */
};

/* Read a whole shard with 1 MiB read(2) calls, as bench/workload.py does. */
static void *shard_read(void *arg)
{
	struct shard_reader *r = arg;
	uint8_t *buf = sl_xmalloc(1u << 20);
	int fd = open(r->path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		r->bad = 1;
		free(buf);
		return NULL;
	}
	while ((n = read(fd, buf, 1u << 20)) > 0) {
		if (r->got + (size_t)n > r->len ||
		    memcmp(buf, r->want + r->got, (size_t)n) != 0)
			r->bad = 1;
		r->got += (size_t)n;
	}
	if (n < 0)
		r->bad = 1;
	close(fd);
	free(buf);
	return NULL;
}

static int64_t cluster_value(th_cluster_t *c, const char *name)
{
	int64_t sum = 0;

	for (int i = 0; i < c->n_nodes; i++)
		sum += SL_MAX(th_node_value(c->port[i], name), 0);
	return sum;
}

/*
 * Four sequential readers, 1 MiB blocks, a 16 MiB client cache and a
 * prefetch depth of 4: a fixed depth per reader would want the whole cache
 * for read-ahead, evict prefetched blocks before their reader got there
 * and fetch them again (the nodes served ~1.9x the bytes read).  With the
 * shared read-ahead budget every block crosses the network about once.
 */
START_TEST(test_shard_readers)
{
	th_cluster_t c;
	struct shard_reader r[N_SHARDS];
	pthread_t th[N_SHARDS];
	char mnt[N_SHARDS][PATH_MAX];
	uint8_t *src[N_SHARDS];
	size_t len = (size_t)SHARD_MB << 20, total = 0;
	int64_t served0, served, reads0, reads;

	th_cluster_init(&c, "shards", 2);
	c.block_size = "1M";
	for (int i = 0; i < N_SHARDS; i++) {
		char p[PATH_MAX];

		src[i] = sl_xmalloc(len);
		th_fill_bytes(src[i], len, 5000 + (uint64_t)i);
		th_xsnprintf(p, sizeof(p), "%s/shard%d.tar", c.src, i);
		th_put_file(p, src[i], len);
		th_xsnprintf(mnt[i], sizeof(mnt[i]), "%s/shard%d.tar", c.data,
			     i);
	}
	th_cluster_conf(&c, "block_cache = 16M\nprefetch_depth = 4\n");
	for (int i = 0; i < c.n_nodes; i++)
		th_cluster_node_start(&c, i);
	ck_assert_int_eq(th_client_start(&c, NULL), 0);
	served0 = cluster_value(&c, "sluice_bytes_served_total");
	reads0 = th_cluster_ok(&c, "READ");
	for (int i = 0; i < N_SHARDS; i++) {
		r[i] = (struct shard_reader){
			.path = mnt[i], .want = src[i], .len = len};
		pthread_create(&th[i], NULL, shard_read, &r[i]);
	}
	for (int i = 0; i < N_SHARDS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(!r[i].bad && r[i].got == len, "%s: %zu of %zu",
			      mnt[i], r[i].got, len);
		total += r[i].got;
		free(src[i]);
	}
	served = cluster_value(&c, "sluice_bytes_served_total") - served0;
	reads = th_cluster_ok(&c, "READ") - reads0;
	fprintf(stderr,
		"shards: %d readers read %zu MiB; the nodes served %lld MiB "
		"(%.2fx) in %lld READs\n",
		N_SHARDS, total >> 20, (long long)(served >> 20),
		(double)served / (double)total, (long long)reads);
	ck_assert_int_le(served * 100, (int64_t)total * 115);
	ck_assert_int_eq(th_client_stop(&c), 0);
	th_cluster_stop(&c);
}
END_TEST

/*
 * A random reader of a big file moves pages, not blocks.  A 64 MiB file
 * in 4 MiB blocks, a 16 MiB client cache with 64 KiB pages: 300 random
 * 4 KiB O_DIRECT reads each cost the node at most a page once the stream
 * is known to be random (its first read is a whole block), where whole
 * blocks cost about 900 MiB; then 10,000 random windows of 1 byte to
 * 300 KiB, across page and block edges and mixing cached and missing
 * pages, are byte for byte the file's.
 */
#define RP_MB	  64
#define RP_PAGE	  (64 * 1024)
#define RP_DIRECT 300

START_TEST(test_random_pages)
{
	th_cluster_t c;
	size_t len = (size_t)RP_MB << 20;
	uint8_t *src = sl_xmalloc(len), *buf;
	char p[PATH_MAX];
	int64_t served0, served;
	unsigned seed = 7;
	int fd;

	th_cluster_init(&c, "pages", 1);
	c.block_size = "4M";
	th_fill_bytes(src, len, 1313);
	th_xsnprintf(p, sizeof(p), "%s/tokens.bin", c.src);
	th_put_file(p, src, len);
	th_cluster_conf(&c, "block_cache = 16M\nprefetch_depth = 4\n"
			    "page_size = 64K\n");
	th_cluster_node_start(&c, 0);
	ck_assert_int_eq(th_client_start(&c, NULL), 0);
	ck_assert_int_eq(posix_memalign((void **)&buf, 4096, 300 << 10), 0);
	th_xsnprintf(p, sizeof(p), "%s/tokens.bin", c.data);

	fd = open(p, O_RDONLY | O_DIRECT | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	served0 = cluster_value(&c, "sluice_bytes_served_total");
	for (int k = 0; k < RP_DIRECT; k++) {
		size_t off = ((size_t)rand_r(&seed) % (len / 4096)) * 4096;

		ck_assert_int_eq(pread(fd, buf, 4096, (off_t)off), 4096);
		ck_assert_msg(memcmp(buf, src + off, 4096) == 0,
			      "O_DIRECT bytes at %zu differ", off);
	}
	close(fd);
	served = cluster_value(&c, "sluice_bytes_served_total") - served0;
	fprintf(stderr,
		"random pages: %d reads of 4 KiB: the node served %lld KiB "
		"(%.1f KiB a read)\n",
		RP_DIRECT, (long long)(served >> 10),
		(double)served / 1024.0 / RP_DIRECT);
	/* The first read's whole block, then a page a read at most. */
	ck_assert_int_le(served, (4 << 20) + (int64_t)RP_DIRECT * RP_PAGE);

	fd = open(p, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	for (int k = 0; k < 10000; k++) {
		size_t off = (size_t)rand_r(&seed) % len;
		size_t size = 1 + (size_t)rand_r(&seed) % (300 << 10);
		size_t want = SL_MIN(size, len - off);

		ck_assert_int_eq(pread(fd, buf, size, (off_t)off),
				 (ssize_t)want);
		ck_assert_msg(memcmp(buf, src + off, want) == 0,
			      "bytes at %zu+%zu differ", off, size);
		/* Now and then, so that reads keep reaching the client. */
		if (k % 50 == 0)
			posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	}
	close(fd);
	free(buf);
	free(src);
	ck_assert_int_eq(th_client_stop(&c), 0);
	th_cluster_stop(&c);
}
END_TEST

/*
 * A buffered random reader's page goes to the kernel's page cache whole
 * (read.c, rd_store): after one 4 KiB read, under POSIX_FADV_RANDOM (no
 * kernel read-ahead), mincore(2) finds every 4 KiB of its 64 KiB page
 * resident, and the page's other reads are the file's bytes.  O_DIRECT
 * reads of another page leave it out of the page cache.  (Only for an
 * immutable dataset: see rd_store.)
 */
static int resident_pages(int fd, size_t off, size_t len)
{
	unsigned char vec[RP_PAGE / 4096];
	void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)off);
	int n = 0;

	ck_assert_ptr_ne(m, MAP_FAILED);
	ck_assert_int_eq(mincore(m, len, vec), 0);
	for (size_t i = 0; i < len / 4096; i++)
		n += vec[i] & 1;
	munmap(m, len);
	return n;
}

START_TEST(test_random_pages_cached)
{
	th_cluster_t c;
	size_t len = (size_t)RP_MB << 20, page, other;
	uint8_t *src = sl_xmalloc(len), *buf;
	char p[PATH_MAX];
	const char *verbose[] = {"-v", NULL};
	unsigned seed = 11, touched = 0; /* one bit a block */
	int fd, dfd, n = 0;

	th_cluster_init(&c, "pagecache", 1);
	c.block_size = "4M";
	c.ds_extra = "metadata_ttl = 0\n"; /* immutable: stores are made */
	th_fill_bytes(src, len, 1717);
	th_xsnprintf(p, sizeof(p), "%s/tokens.bin", c.src);
	th_put_file(p, src, len);
	th_cluster_conf(&c, "block_cache = 16M\npage_size = 64K\n");
	th_cluster_node_start(&c, 0);
	ck_assert_int_eq(th_client_start(&c, verbose), 0);
	ck_assert_int_eq(posix_memalign((void **)&buf, 4096, RP_PAGE), 0);
	th_xsnprintf(p, sizeof(p), "%s/tokens.bin", c.data);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM), 0);
	/* Reads far apart, until the client takes the reader for random. */
	for (int k = 0; k < 8; k++) {
		size_t off = ((size_t)rand_r(&seed) % (len / 4096)) * 4096;

		touched |= 1u << (off >> 22);
		ck_assert_int_eq(pread(fd, buf, 4096, (off_t)off), 4096);
	}
	th_msleep(300); /* their pages' stores land first */
	posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	page = (size_t)(rand_r(&seed) % (len / RP_PAGE)) * RP_PAGE;
	ck_assert_int_eq(resident_pages(fd, page, RP_PAGE), 0);
	ck_assert_int_eq(pread(fd, buf, 4096, (off_t)(page + 8192)), 4096);
	ck_assert(memcmp(buf, src + page + 8192, 4096) == 0);
	/* The store is the notifier thread's: soon, not at once. */
	for (int i = 0; i < 200; i++) {
		n = resident_pages(fd, page, RP_PAGE);
		if (n == RP_PAGE / 4096)
			break;
		th_msleep(10);
	}
	ck_assert_int_eq(n, RP_PAGE / 4096);
	for (size_t o = 0; o < RP_PAGE; o += 4096) {
		ck_assert_int_eq(pread(fd, buf, 4096, (off_t)(page + o)), 4096);
		ck_assert_msg(memcmp(buf, src + page + o, 4096) == 0,
			      "bytes at %zu differ", page + o);
	}

	other = (page + len / 2) % len;
	touched |= 1u << (page >> 22) | 1u << (other >> 22);
	dfd = open(p, O_RDONLY | O_DIRECT | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	ck_assert_int_eq(pread(dfd, buf, 4096, (off_t)other), 4096);
	ck_assert(memcmp(buf, src + other, 4096) == 0);
	close(dfd);
	th_msleep(200);
	ck_assert_int_eq(resident_pages(fd, other, RP_PAGE), 0);
	close(fd);

	/* The file changes in the store (a shorter one): a random reader's
	 * read of a block no read has touched meets ESTALE on the node,
	 * which the retry thread cures (read.c): the new bytes, the new
	 * size, no error. */
	th_fill_bytes(src, len - 4096, 1919);
	th_xsnprintf(p, sizeof(p), "%s/tokens.bin", c.src);
	th_put_file(p, src, len - 4096);
	th_xsnprintf(p, sizeof(p), "%s/tokens.bin", c.data);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM), 0);
	for (other = 0; touched & 1u << (other >> 22); other += 4u << 20)
		;
	ck_assert_uint_lt(other, len - 4096);
	other += 4u << 19; /* the middle of a block no read touched */
	ck_assert_int_eq(pread(fd, buf, 4096, (off_t)other), 4096);
	ck_assert_msg(memcmp(buf, src + other, 4096) == 0,
		      "old bytes after the change");
	ck_assert(th_file_contains(c.fclog, "changed in the store"));
	close(fd);
	free(buf);
	free(src);
	ck_assert_int_eq(th_client_stop(&c), 0);
	th_cluster_stop(&c);
}
END_TEST

/*
 * -o rw: the kernel sends every open to the client, which refuses writes
 * itself, and read-ahead follows each open file's handle.
 */
START_TEST(test_rw_mount)
{
	th_cluster_t c;
	const char *extra[] = {"-o", "rw", "-v", NULL};
	char a[PATH_MAX], b[PATH_MAX], *out;
	size_t blocks = (2 * 1048576 + BLOCK - 1) / BLOCK;
	int64_t reads0, reads;

	th_cluster_init(&c, "rw", 1);
	small_tree(&c);
	th_xsnprintf(a, sizeof(a), "%s/stream.bin", c.src);
	th_make_file(a, 2 * 1048576, 77, 0644);
	th_xsnprintf(a, sizeof(a), "%s/empty", c.src);
	mkdir(a, 0755);
	th_cluster_conf(&c, NULL);
	th_cluster_node_start(&c, 0);
	ck_assert_int_eq(th_client_start(&c, extra), 0);
	out = mount_line(c.mnt);
	ck_assert_msg(strstr(out, " rw,"), "%s", out);
	free(out);
	check_erofs(c.data, "hello.txt", "empty");
	reads0 = th_cluster_ok(&c, "READ");
	th_xsnprintf(a, sizeof(a), "%s/stream.bin", c.src);
	th_xsnprintf(b, sizeof(b), "%s/stream.bin", c.data);
	ck_assert(th_compare_file(a, b));
	reads = th_cluster_ok(&c, "READ") - reads0;
	ck_assert_int_eq(reads, (int64_t)blocks); /* each block once */
	ck_assert(th_file_contains(c.fclog, "opens: through sluice-fuse"));
	ck_assert_int_eq(th_client_stop(&c), 0);
	th_cluster_stop(&c);
}
END_TEST

/*
 * Opening files by path, as a loader with an index does, without listing
 * first: the kernel looks up each name.  After the second lookup in a
 * directory the client lists it, and answers the rest, and names that do
 * not exist, from the listing: a LIST per directory, not a STAT per file.
 */
START_TEST(test_lookup_by_path)
{
	th_cluster_t c;
	char a[PATH_MAX], b[PATH_MAX];
	int64_t stats0, lists0, stats, lists;
	struct stat st;

	th_cluster_init(&c, "bypath", 1);
	for (int d = 0; d < 3; d++) {
		th_xsnprintf(a, sizeof(a), "%s/d%d", c.src, d);
		mkdir(a, 0755);
		for (int i = 0; i < 50; i++) {
			th_xsnprintf(a, sizeof(a), "%s/d%d/f%02d", c.src, d, i);
			th_make_file(a, 100 + (size_t)i * 37,
				     (uint64_t)(d * 100 + i), 0644);
		}
	}
	th_cluster_conf(&c, NULL);
	th_cluster_node_start(&c, 0);
	ck_assert_int_eq(th_client_start(&c, NULL), 0);
	stats0 = th_cluster_ok(&c, "STAT");
	lists0 = th_cluster_ok(&c, "LIST");
	for (int d = 0; d < 3; d++)
		for (int i = 0; i < 50; i++) {
			th_xsnprintf(a, sizeof(a), "%s/d%d/f%02d", c.src, d, i);
			th_xsnprintf(b, sizeof(b), "%s/d%d/f%02d", c.data, d,
				     i);
			ck_assert_msg(th_compare_file(a, b), "d%d/f%02d", d, i);
		}
	th_xsnprintf(b, sizeof(b), "%s/d1/nosuch", c.data);
	th_expect_errno(stat(b, &st), ENOENT, "a name the listing lacks");
	stats = th_cluster_ok(&c, "STAT") - stats0;
	lists = th_cluster_ok(&c, "LIST") - lists0;
	fprintf(stderr,
		"by path: 150 files opened with %lld STATs, %lld LISTs\n",
		(long long)stats, (long long)lists);
	ck_assert_int_le(stats, 10);
	ck_assert_int_ge(lists, 3);
	ck_assert_int_eq(th_client_stop(&c), 0);
	th_cluster_stop(&c);
}
END_TEST

/* ---- files that change in the store -------------------------------------- */

/*
 * Read the first block of dir/name (dir: a dataset's source, mnt: the
 * same in the mount), rewrite it in the store with other bytes and
 * another size, and read on through the same descriptor: the part not
 * read yet is the new bytes (the node refuses the old version with
 * ESTALE), fstat and stat show the new size, the first block read again
 * is new too (the kernel dropped its pages) and a fresh open reads the
 * whole new file.
 */
static void check_rewrite(const char *dir, const char *mnt, const char *name)
{
	size_t old_len = 3 * BLOCK + 100, new_len = 5 * BLOCK + 7;
	uint8_t *old = sl_xmalloc(old_len), *nw = sl_xmalloc(new_len);
	uint8_t *buf = sl_xmalloc(new_len + 1);
	char src[PATH_MAX], path[PATH_MAX];
	struct stat st;
	ssize_t n;
	int fd;

	th_fill_bytes(old, old_len, 11);
	th_fill_bytes(nw, new_len, 12);
	th_xsnprintf(src, sizeof(src), "%s/%s", dir, name);
	th_xsnprintf(path, sizeof(path), "%s/%s", mnt, name);
	th_put_file(src, old, old_len);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	/* No kernel read-ahead: the part not read stays unread. */
	ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM), 0);
	ck_assert_int_eq(pread(fd, buf, BLOCK, 0), BLOCK);
	ck_assert(memcmp(buf, old, BLOCK) == 0);
	th_put_file(src, nw, new_len);

	n = pread(fd, buf, BLOCK, BLOCK);
	ck_assert_msg(n == BLOCK, "%s: pread after the change: %zd (%s)", name,
		      n, n < 0 ? strerror(errno) : "short");
	ck_assert_msg(memcmp(buf, nw + BLOCK, BLOCK) == 0,
		      "%s: old bytes after the change", name);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, (off_t)new_len);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, (off_t)new_len);
	n = pread(fd, buf, new_len + 1, 0);
	ck_assert_int_eq(n, (ssize_t)new_len);
	ck_assert_msg(memcmp(buf, nw, new_len) == 0,
		      "%s: the kernel kept old pages", name);
	close(fd);
	ck_assert(th_compare_file(src, path));
	free(old);
	free(nw);
	free(buf);
}

/*
 * Read the first block of dir/name, delete it from the store: the rest
 * reads ENOENT, not ESTALE, and within wait_ms (the dataset's metadata
 * TTL, for the nodes' caches, plus a moment for the kernel's) so do stat
 * and open.
 */
static void check_delete(const char *dir, const char *mnt, const char *name,
			 unsigned wait_ms)
{
	size_t len = 2 * BLOCK + 5;
	uint8_t *want = sl_xmalloc(len), buf[BLOCK];
	char src[PATH_MAX], path[PATH_MAX];
	struct stat st;
	int fd, rc = 0;

	th_fill_bytes(want, len, 13);
	th_xsnprintf(src, sizeof(src), "%s/%s", dir, name);
	th_xsnprintf(path, sizeof(path), "%s/%s", mnt, name);
	th_put_file(src, want, len);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM), 0);
	ck_assert_int_eq(pread(fd, buf, BLOCK, 0), BLOCK);
	ck_assert(memcmp(buf, want, BLOCK) == 0);
	ck_assert_int_eq(unlink(src), 0);
	th_expect_errno((int)pread(fd, buf, BLOCK, BLOCK), ENOENT,
			"read of a deleted file");
	close(fd);
	for (unsigned t = 0; t <= wait_ms / 50; t++) {
		rc = stat(path, &st);
		if (rc < 0)
			break;
		th_msleep(50);
	}
	th_expect_errno(rc, ENOENT, "stat of a deleted file");
	th_expect_errno(open(path, O_RDONLY | O_CLOEXEC), ENOENT,
			"open of a deleted file");
	free(want);
}

/* A dataset with a metadata TTL (opens go through the client) on three
 * nodes, and one with a short TTL for deletions. */
START_TEST(test_changed_ttl)
{
	th_cluster_t c;
	const char *verbose[] = {"-v", NULL};
	char sections[PATH_MAX + 256], short_src[PATH_MAX], short_mnt[PATH_MAX];

	th_cluster_init(&c, "changed", 3);
	small_tree(&c);
	th_xsnprintf(short_src, sizeof(short_src), "%s/short", c.dir);
	th_xsnprintf(short_mnt, sizeof(short_mnt), "%s/short", c.mnt);
	mkdir(short_src, 0755);
	th_xsnprintf(sections, sizeof(sections),
		     "[dataset short]\nbackend = posix\nuri = file://%s\n"
		     "block_size = 64K\nmetadata_ttl = 1s\n\n",
		     short_src);
	c.ds_extra = "metadata_ttl = 60s\n";
	c.sections = sections;
	th_cluster_up(&c, NULL, verbose);
	for (int i = 0; i < 4; i++) {
		char name[32];

		th_xsnprintf(name, sizeof(name), "rewritten%d.bin", i);
		check_rewrite(c.src, c.data, name);
	}
	check_delete(short_src, short_mnt, "deleted.bin", 5000);
	ck_assert(th_file_contains(c.fclog, "changed in the store"));
	ck_assert_int_eq(th_client_stop(&c), 0);
	th_cluster_stop(&c);
}
END_TEST

/* An immutable dataset on the default read-only mount: the kernel opens
 * files itself and keeps their pages for good, until told otherwise. */
START_TEST(test_changed_immutable)
{
	th_cluster_t c;
	const char *verbose[] = {"-v", NULL};

	th_cluster_init(&c, "changed-imm", 1);
	small_tree(&c);
	th_cluster_up(&c, NULL, verbose);
	check_rewrite(c.src, c.data, "rewritten.bin");
	check_delete(c.src, c.data, "deleted.bin", 2000);
	ck_assert(th_file_contains(c.fclog, "opens: in the kernel"));
	ck_assert_int_eq(th_client_stop(&c), 0);
	th_cluster_stop(&c);
}
END_TEST

/* ---- a metadata walk past the inode table's bound ------------------------ */

#define WALK_FILES 20000
#define WALK_MAX   5000 /* the client's max_inodes */

/* A number after key (e.g. "peak ") in the client's last summary line. */
static long long summary_value(const char *log, const char *key)
{
	const char *line = NULL, *p = log, *k;

	while ((p = strstr(p, "reads ")) != NULL)
		line = p++;
	k = line ? strstr(line, key) : NULL;
	return k ? atoll(k + strlen(key)) : -1;
}

/*
 * os.walk and a stat of every entry over four times more files than the
 * client's inode table holds, twice: every stat right, no error, the
 * table never past its bound -- the kernel was asked to forget cold names
 * and did, so no lookup was refused -- and the client's memory grows by
 * the bounded caches only.
 */
START_TEST(test_inode_bound)
{
	pid_t worker;
	th_cluster_t c;
	const char *verbose[] = {"-v", NULL};
	char cmd[3 * PATH_MAX], script[PATH_MAX];
	const char *src = getenv("SLUICE_SRC") ? getenv("SLUICE_SRC") : ".";
	long rss0, peak_kb;
	size_t len;
	char *out, *log;

	th_cluster_init(&c, "walk", 1);
	th_xsnprintf(script, sizeof(script), "%s/scripts/walk.py", src);
	th_xsnprintf(cmd, sizeof(cmd), "/usr/bin/python3 '%s' '%s' --make %d",
		     script, c.src, WALK_FILES);
	free(th_capture(cmd));
	th_cluster_up(&c, "max_inodes = 5000\n", verbose);
	worker = th_client_worker(&c, 1000);
	ck_assert_int_gt(worker, 0);
	rss0 = th_proc_status_kb(worker, "VmRSS");
	for (int round = 0; round < 2; round++) {
		th_xsnprintf(
			cmd, sizeof(cmd),
			"timeout 600 /usr/bin/python3 '%s' '%s' --src '%s' "
			"--pid %d 2>&1",
			script, c.data, c.src, (int)worker);
		out = th_capture(cmd);
		fprintf(stderr, "max_inodes = %d, round %d: %s", WALK_MAX,
			round, out);
		ck_assert_msg(strstr(out, "files=20000 ") &&
				      strstr(out, "mismatches=0 errors=0"),
			      "walk failed: %s", out);
		peak_kb = atol(strstr(out, "rss_peak_kb=") + 12);
		/* The table (~0.5 MB here), 16,384 attributes (~2.5 MiB),
		 * 32,768 listed names (~4 MiB), and slack. */
		th_xsnprintf(cmd, sizeof(cmd), "/proc/%d/maps", (int)worker);
		if (!th_file_contains(cmd, "libasan"))
			ck_assert_int_lt(peak_kb - rss0, 12 * 1024);
		free(out);
	}
	ck_assert_int_eq(th_client_stop(&c), 0);
	log = th_read_file(c.fclog, &len);
	ck_assert_ptr_nonnull(log);
	fprintf(stderr,
		"walk: table peak %lld of %d, %lld names forgotten, "
		"%lld lookups refused\n",
		summary_value(log, "peak "), WALK_MAX,
		summary_value(log, "forget "), summary_value(log, "refused "));
	ck_assert_int_le(summary_value(log, "peak "), WALK_MAX);
	ck_assert_int_gt(summary_value(log, "peak "), WALK_MAX / 2);
	ck_assert_int_ge(summary_value(log, "forget "), WALK_FILES - WALK_MAX);
	ck_assert_int_eq(summary_value(log, "refused "), 0);
	free(log);
	th_cluster_stop(&c);
}
END_TEST

/*
 * Every entry held open, so the kernel cannot forget any: the next lookup
 * fails with ENFILE, and the log says what to do; once the files are
 * closed, lookups work again.
 */
START_TEST(test_inode_full)
{
	th_cluster_t c;
	char p[PATH_MAX];
	int fds[1100], n = 0, fd = -1;

	th_cluster_init(&c, "full", 1);
	for (int d = 0; d < 2; d++) {
		th_xsnprintf(p, sizeof(p), "%s/d%d", c.src, d);
		mkdir(p, 0755);
		for (int i = 0; i < 600; i++) {
			th_xsnprintf(p, sizeof(p), "%s/d%d/f%d", c.src, d, i);
			th_put_file(p, "x", 1);
		}
	}
	th_cluster_up(&c, "max_inodes = 1000\n", NULL);
	for (n = 0; n < (int)SL_ARRAY_SIZE(fds); n++) {
		th_xsnprintf(p, sizeof(p), "%s/d%d/f%d", c.data, n % 2, n / 2);
		fds[n] = open(p, O_RDONLY | O_CLOEXEC);
		if (fds[n] < 0)
			break;
	}
	/* The table holds 1000: the root, ds, d0, d1 and the open files. */
	ck_assert_int_eq(n, 1000 - 4);
	ck_assert_int_eq(errno, ENFILE);
	ck_assert(th_file_contains(c.fclog, "raise [client] max_inodes"));
	for (int i = 0; i < n; i++)
		close(fds[i]);
	th_xsnprintf(p, sizeof(p), "%s/d1/f599", c.data);
	for (int t = 0; t < 100 && fd < 0; t++) {
		fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			th_msleep(50);
	}
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(th_client_stop(&c), 0);
	th_cluster_stop(&c);
}
END_TEST

/* ---- lifecycle ----------------------------------------------------------- */

START_TEST(test_unmount_clean)
{
	th_cluster_t c;
	const char *extra[] = {"-o", "auto_unmount", NULL};
	char p[PATH_MAX];
	size_t len;
	char *s;

	th_cluster_init(&c, "unmount", 1);
	small_tree(&c);
	th_cluster_conf(&c, NULL);
	th_cluster_node_start(&c, 0);
	ck_assert_int_eq(th_client_start(&c, extra), 0);
	th_xsnprintf(p, sizeof(p), "%s/hello.txt", c.data);
	s = th_read_file(p, &len);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "hello\n");
	free(s);
	ck_assert_int_eq(th_client_stop(&c), 0);
	ck_assert(!th_is_mounted(c.mnt));
	/* Neither the client nor auto_unmount's helper is left. */
	for (int t = 0; t < 100 && th_procs_mentioning(c.mnt); t++)
		th_msleep(50);
	ck_assert_int_eq(th_procs_mentioning(c.mnt), 0);
	th_cluster_stop(&c);
}
END_TEST

START_TEST(test_killed_client)
{
	pid_t worker;
	th_cluster_t c;
	const char *argv[] = {th_fusermount(), "-u", NULL, NULL};
	struct stat st;

	th_cluster_init(&c, "killed", 1);
	small_tree(&c);
	th_cluster_conf(&c, NULL);
	th_cluster_node_start(&c, 0);
	ck_assert_int_eq(th_client_start(&c, NULL), 0);
	worker = th_client_worker(&c, 1000);
	ck_assert_int_gt(worker, 0);
	/* The supervisor, which holds the mount: its worker goes with it. */
	kill(c.client, SIGKILL);
	waitpid(c.client, NULL, 0);
	c.client = 0;
	for (int t = 0; t < 200 && !th_pid_gone(worker); t++)
		th_msleep(10);
	ck_assert(th_pid_gone(worker));
	ck_assert(th_is_mounted(c.mnt));
	th_expect_errno(stat(c.data, &st), ENOTCONN, "dead mount");
	argv[2] = c.mnt;
	ck_assert_int_eq(th_run(argv), 0);
	ck_assert(!th_is_mounted(c.mnt));
	ck_assert_int_eq(stat(c.mnt, &st), 0);
	th_cluster_stop(&c);
}
END_TEST

/* With every candidate gone a read fails with EIO, and the log says which
 * node failed how; the node back, the same read succeeds. */
START_TEST(test_all_nodes_down)
{
	th_cluster_t c;
	char p[PATH_MAX], buf[16];
	int fd;

	th_cluster_init(&c, "alldown", 1);
	small_tree(&c);
	th_cluster_conf(&c, "request_timeout = 300ms\ndown_backoff = 300ms\n");
	th_cluster_node_start(&c, 0);
	ck_assert_int_eq(th_client_start(&c, NULL), 0);
	th_xsnprintf(p, sizeof(p), "%s/hello.txt", c.data);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	th_cluster_node_kill(&c, 0);
	th_expect_errno((int)pread(fd, buf, sizeof(buf), 0), EIO, "read");
	ck_assert(th_file_contains(c.fclog,
				   "hello.txt block 0: all nodes "
				   "failed: n0: no connection within 300 ms"));
	th_cluster_node_start(&c, 0);
	for (int t = 0; t < 100 && !th_file_contains(c.fclog, "answers again");
	     t++)
		th_msleep(50);
	ck_assert_int_eq((int)pread(fd, buf, sizeof(buf), 0), 6);
	ck_assert(memcmp(buf, "hello\n", 6) == 0);
	close(fd);
	ck_assert_int_eq(th_client_stop(&c), 0);
	th_cluster_stop(&c);
}
END_TEST

START_TEST(test_no_node_answers)
{
	th_cluster_t c;

	th_cluster_init(&c, "nonode", 2);
	th_cluster_conf(&c, "request_timeout = 300ms\n");
	/* No node started: the client must say whom it asked, and fail. */
	ck_assert_int_eq(th_client_start(&c, NULL), -1);
	ck_assert(!th_is_mounted(c.mnt));
	ck_assert(th_file_contains(c.fclog, "no cache node answered"));
	for (int i = 0; i < 2; i++) {
		char addr[64];

		th_xsnprintf(addr, sizeof(addr), "tcp://127.0.0.1:%d",
			     c.port[i]);
		ck_assert_msg(th_file_contains(c.fclog, addr), "%s not named",
			      addr);
	}
	th_cluster_stop(&c);
}
END_TEST

START_TEST(test_daemon_and_options)
{
	th_cluster_t c;
	char bin[PATH_MAX], p[PATH_MAX], logopt[PATH_MAX + 8], log[PATH_MAX];
	const char *argv[8];
	char *out;
	pid_t pid;
	int st, fd;

	th_cluster_init(&c, "daemon", 1);
	small_tree(&c);
	th_cluster_conf(&c, NULL);
	th_cluster_node_start(&c, 0);
	th_xsnprintf(bin, sizeof(bin), "%s/sluice-fuse", th_fuse_build());
	th_xsnprintf(log, sizeof(log), "%s/daemon.log", c.dir);
	th_xsnprintf(logopt, sizeof(logopt), "--log=%s", log);

	/* --help and --version. */
	th_xsnprintf(p, sizeof(p), "'%s' --help 2>&1; echo rc=$?", bin);
	out = th_capture(p);
	ck_assert_msg(strstr(out, "-c FILE") && strstr(out, "allow_other") &&
			      strstr(out, "rc=0"),
		      "%s", out);
	free(out);
	th_xsnprintf(p, sizeof(p), "'%s' --version 2>&1; echo rc=$?", bin);
	out = th_capture(p);
	ck_assert_msg(strstr(out, "sluice-fuse ") && strstr(out, "rc=0"), "%s",
		      out);
	free(out);

	/* Without -f: returns once mounted, serving from the background;
	 * -o ro reaches the kernel. */
	argv[0] = bin;
	argv[1] = "-c";
	argv[2] = c.conf;
	argv[3] = c.mnt;
	argv[4] = "-o";
	argv[5] = "ro";
	argv[6] = logopt;
	argv[7] = NULL;
	pid = th_fuse_spawn(argv, c.fclog);
	st = th_wait_exit(pid, 20000);
	ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		      "daemon start failed");
	ck_assert(th_is_mounted(c.mnt));
	th_xsnprintf(p, sizeof(p), "%s/hello.txt", c.data);
	{
		size_t len;
		char *s = th_read_file(p, &len);

		ck_assert_ptr_nonnull(s);
		ck_assert_str_eq(s, "hello\n");
		free(s);
	}
	fd = open(p, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(access(p, W_OK), -1);
	ck_assert_int_eq(errno, EROFS); /* the kernel says so itself */
	out = th_capture("grep ' fuse.sluice ' /proc/self/mounts");
	ck_assert_msg(strstr(out, c.mnt) && strstr(out, " ro,"), "%s", out);
	ck_assert_msg(strstr(out, "sluice "), "fsname: %s", out);
	free(out);
	/* The daemon logs into --log (its stderr is /dev/null). */
	ck_assert(th_file_contains(log, "mounted 1 dataset"));
	argv[0] = th_fusermount();
	argv[1] = "-u";
	argv[2] = c.mnt;
	argv[3] = NULL;
	ck_assert_int_eq(th_run(argv), 0);
	for (int t = 0; t < 200 && th_procs_mentioning(c.mnt); t++)
		th_msleep(50);
	ck_assert_int_eq(th_procs_mentioning(c.mnt), 0);
	th_cluster_stop(&c);
}
END_TEST

/* ---- main ---------------------------------------------------------------- */

static Suite *fuse_suite(void)
{
	return TH_SUITE(
		"it_fuse",
		{.name = "tree",
		 .tests = TH_TESTS(test_prefetch,
				   test_shared_dir_handle /* before any find */,
				   test_tree_listing, test_inode_numbers,
				   test_every_file, test_random_preads,
				   test_erofs, test_hostile_names,
				   test_xattr_statfs, test_dataloader),
		 .timeout = 600,
		 .once_setup = tree_setup,
		 .once_teardown = tree_teardown},
		{.name = "shards",
		 .tests = TH_TESTS(test_shard_readers, test_rw_mount,
				   test_lookup_by_path),
		 .timeout = 300},
		{.name = "pages",
		 .tests = TH_TESTS(test_random_pages, test_random_pages_cached),
		 .timeout = 300},
		{.name = "changes",
		 .tests = TH_TESTS(test_changed_ttl, test_changed_immutable),
		 .timeout = 120},
		{.name = "walk",
		 .tests = TH_TESTS(test_inode_bound, test_inode_full),
		 .timeout = 600},
		{.name = "failover",
		 .tests = TH_TESTS(test_failover),
		 .timeout = 300},
		{.name = "lifecycle",
		 .tests = TH_TESTS(test_unmount_clean, test_killed_client,
				   test_all_nodes_down, test_no_node_answers,
				   test_daemon_and_options),
		 .timeout = 120});
}

int main(void)
{
	int rc;

	if (!th_have_fuse())
		return th_check_skip_suite("it_fuse",
					   "needs root and /dev/fuse");
	if (th_fuse_setup("it-fuse") < 0)
		return 1;
	rc = th_check_run(fuse_suite(), NULL);
	th_fuse_teardown(rc);
	return rc;
}
