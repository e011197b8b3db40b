/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The FUSE client's inode table: which (dataset, path) each inode number the
 * kernel holds stands for, and the attributes last seen for it.  Numbers are
 * derived, not counted: an entry's number is xxh3-64 of its (dataset, path)
 * with a fixed probing rule on collision, so a restarted client (the planned
 * /dev/fuse supervisor) derives the same numbers again.  Root is 1.
 *
 * Entries live exactly as long as the kernel references them: every reply
 * that hands the kernel an entry (lookup, readdirplus) counts one lookup, and
 * FORGET gives them back; an entry whose count drops to zero is freed once
 * no FUSE thread still holds a reference from fc_inode_get().  So memory
 * tracks what the kernel caches, never the size of the dataset.
 *
 * Thread safety: every function may be called from any thread; one mutex
 * (table->lock) guards the indices, the counts and the attributes.
 */
#ifndef FC_INODE_H
#define FC_INODE_H

#include <stddef.h>
#include <stdint.h>

#define FC_INO_ROOT 1

/* The attributes the client keeps for an entry (a STAT reply, copied). */
typedef struct fc_attr {
	uint8_t type;  /* PR_TYPE_FILE or PR_TYPE_DIR */
	uint32_t mode; /* permission bits only */
	uint64_t size;
	int64_t mtime_ns;
	char version[129];   /* PR_MAX_VERSION + NUL; "" for directories */
	uint64_t fetched_ms; /* sl_now_ms() when the node said so */
} fc_attr_t;

/*
 * One entry.  dataset (an index into the cluster's dataset array, -1 for
 * the mount root), ino and path are immutable while the entry lives, so a
 * holder of a reference may read them without the lock; attributes are read
 * and written only through fc_inode_attr()/fc_inode_set_attr().
 */
typedef struct fc_inode {
	uint64_t ino;
	int dataset;
	const char *path; /* dataset-relative, "" for a dataset's root */
} fc_inode_t;

typedef struct fc_inode_table fc_inode_table_t;

/* Hash of (dataset name, path); the entry's preferred inode number. */
typedef uint64_t fc_inode_hash_fn(const char *dataset, const char *path);

/* The default: xxh3-64 over the length-prefixed dataset name and path. */
uint64_t fc_inode_hash(const char *dataset, const char *path);

/*
 * A new table holding only the root (ino 1, dataset -1).  hash: NULL for
 * fc_inode_hash (tests pass a weak one to force collisions).  Caller frees
 * with fc_inode_table_destroy, which frees every entry whatever its counts.
 */
fc_inode_table_t *fc_inode_table_new(fc_inode_hash_fn *hash);
void fc_inode_table_destroy(fc_inode_table_t **tp);

/*
 * The kernel is about to learn (dataset, path): find or create its entry,
 * count one lookup and store attr (borrowed; copied).  dataset_name is the
 * dataset's name (borrowed; hashed only), dataset its index.  Returns the
 * inode number (never 0 or 1).  If the reply to the kernel then fails, give
 * the count back with fc_inode_forget(t, ino, 1).
 */
uint64_t fc_inode_lookup(fc_inode_table_t *t, int dataset,
			 const char *dataset_name, const char *path,
			 const fc_attr_t *attr);

/* The number of the entry for (dataset, path) (borrowed), or 0 when the
 * table has none.  Counts nothing. */
uint64_t fc_inode_find(fc_inode_table_t *t, int dataset,
		       const char *dataset_name, const char *path);

/*
 * The kernel dropped n references to ino (FORGET).  Frees the entry when no
 * lookup and no fc_inode_get() reference remain.  Unknown numbers and the
 * root are ignored.
 */
void fc_inode_forget(fc_inode_table_t *t, uint64_t ino, uint64_t n);

/*
 * A reference to ino's entry, or NULL when the table does not know it.  The
 * caller releases it with fc_inode_put(); until then the entry and its path
 * stay valid even if the kernel forgets it.
 */
fc_inode_t *fc_inode_get(fc_inode_table_t *t, uint64_t ino);
void fc_inode_put(fc_inode_table_t *t, fc_inode_t *ip);

/* Copy ip's attributes into out / replace them with attr (both borrowed). */
void fc_inode_attr(fc_inode_table_t *t, const fc_inode_t *ip, fc_attr_t *out);
void fc_inode_set_attr(fc_inode_table_t *t, fc_inode_t *ip,
		       const fc_attr_t *attr);

/* Entries alive (root included) and the lookup count of ino (0 if unknown):
 * for tests and the debug log. */
size_t fc_inode_count(fc_inode_table_t *t);
uint64_t fc_inode_nlookup(fc_inode_table_t *t, uint64_t ino);

#endif
