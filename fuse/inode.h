/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The FUSE client's inode table: which file each inode number the kernel
 * holds stands for, and how many references (lookups) the kernel holds on
 * it.  Numbers are derived, not counted: an entry's number is xxh3-64 of
 * its (dataset, path), or on a collision the next number free, so readdir
 * can show a name's number before anyone looked it up.  Root is 1.
 *
 * The table lives in memory it is given, laid out with no pointers, so
 * that a process which did not build it can take it over: the client's
 * supervisor owns that memory (a memfd), and a worker that replaces a
 * crashed one attaches to the table as its predecessor left it -- same
 * numbers, same counts -- which the kernel, holding those numbers, needs.
 * Everything a crash can leave half done is derived again on attach (see
 * inode.c): an entry counts only once it is published whole.
 *
 * Bounded: at most max entries, each 64 bytes plus 10 bytes of index, and
 * 32 bytes per further 28 bytes of a name longer than 24 (the name space
 * holds max such pieces).  Entries live exactly as long as the kernel
 * references them: every reply that hands the kernel an entry (lookup,
 * readdirplus) counts one lookup, FORGET gives them back, and an entry
 * with no lookups and no child entry is freed.  Past 7/8 of either bound
 * the table is under pressure: fc_inode_cold() then names entries the
 * kernel has not used for a while, for it to forget
 * (fuse_lowlevel_notify_inval_entry), down to 3/4.  When it is truly full
 * a lookup fails with -ENFILE.  Attributes are not kept here (attrcache.h):
 * they are big and need not survive a crash.
 *
 * Thread safety: every function may be called from any thread; one mutex
 * of the process's own handle (t->lock) guards the table.  Only one
 * process may use a table's memory at a time.
 */
#ifndef FC_INODE_H
#define FC_INODE_H

#include <stddef.h>
#include <stdint.h>

#include "common/path.h"

#define FC_INO_ROOT 1

/* What a number stands for, copied out of the table. */
typedef struct fc_inode {
	uint64_t ino;
	uint64_t parent; /* its directory's number; 0 for the mount root */
	int dataset;	 /* index into the cluster's datasets; -1: the root */
	char name[SL_COMPONENT_MAX + 1]; /* in its directory; a dataset's root
					  * has the dataset's name, the mount
					  * root "" */
	char path[SL_PATH_MAX + 1];	 /* dataset-relative; "" for a
					  * dataset's root */
} fc_inode_t;

typedef struct fc_inode_table fc_inode_table_t;

/* Hash of (dataset name, path); the entry's preferred inode number. */
typedef uint64_t fc_inode_hash_fn(const char *dataset, const char *path);

/* The default: xxh3-64 over the length-prefixed dataset name and path. */
uint64_t fc_inode_hash(const char *dataset, const char *path);

/* The bytes a table of max entries needs (all reserved; pages are touched
 * as entries are used). */
size_t fc_inode_table_bytes(uint32_t max);

/*
 * The table in mem[0..bytes) (borrowed; must outlive the table).  Memory
 * of zeros is formatted as a table of max entries holding only the root;
 * memory holding a table (left by another process) is taken over as it
 * is, and max is then ignored.  mem NULL: the table maps zeroed memory of
 * its own.  hash: NULL for fc_inode_hash (tests pass a weak one to force
 * collisions).  Returns NULL with *err = -EINVAL (bytes too small for max,
 * or memory that is neither zeros nor a table of this layout) or -ENOMEM.
 * Caller frees with fc_inode_table_destroy, which leaves mem as it is.
 */
fc_inode_table_t *fc_inode_table_new(void *mem, size_t bytes, uint32_t max,
				     fc_inode_hash_fn *hash, int *err);
void fc_inode_table_destroy(fc_inode_table_t **tp);

/* Whether fc_inode_table_new could use mem[0..bytes) (borrowed; only
 * read): 0 for zeros or a table of this layout, else -EINVAL.  A new
 * binary asks before its predecessor lets go of the table. */
int fc_inode_table_check(const void *mem, size_t bytes);

/* Whether fc_inode_table_new took over a table (1) or made one (0). */
int fc_inode_table_attached(const fc_inode_table_t *t);

/*
 * The kernel is about to learn name (borrowed) in directory parent: find
 * or create its entry and count one lookup.  dataset is its dataset's
 * index, dataset_name its name and path its dataset-relative path (both
 * borrowed, hashed for the number); for a dataset's root, parent is the
 * mount root, name the dataset's name and path "".  On 0, *ino is its
 * number (never 0 or 1); if the reply to the kernel then fails, give the
 * count back with fc_inode_forget(t, *ino, 1).  Returns -ESTALE when the
 * table does not know parent, -ENFILE when it is full, -ENAMETOOLONG for
 * a name over 255 bytes.
 */
int fc_inode_lookup(fc_inode_table_t *t, uint64_t parent, const char *name,
		    int dataset, const char *dataset_name, const char *path,
		    uint64_t *ino);

/*
 * The kernel dropped n references to ino (FORGET).  Returns 1 when that
 * freed the entry (its number may then stand for another file), else 0.
 * Unknown numbers and the root are ignored.
 */
int fc_inode_forget(fc_inode_table_t *t, uint64_t ino, uint64_t n);

/* What ino stands for, into *out; marks it used.  Returns 0, or -ESTALE
 * when the table does not know it. */
int fc_inode_get(fc_inode_table_t *t, uint64_t ino, fc_inode_t *out);

/* Past the high-water mark: time to have the kernel forget cold entries. */
int fc_inode_pressure(fc_inode_table_t *t);

/* A name for the kernel to forget: entry name[0..len) of parent. */
typedef struct fc_inode_name {
	uint64_t parent;
	uint8_t len;
	char name[SL_COMPONENT_MAX + 1];
} fc_inode_name_t;

/*
 * Up to max entries (into out) whose names the kernel should forget to
 * bring the table back to its low-water mark: entries without child
 * entries that were not used since the clock hand last passed them, the
 * mount root and the datasets' roots never.  Each is named once until it
 * is used again.  Returns how many; 0 when the table needs no more.
 */
size_t fc_inode_cold(fc_inode_table_t *t, fc_inode_name_t *out, size_t max);

/* Wait up to ms for room for one more entry with a name of name_len bytes
 * (FORGETs come on other threads).  Returns 0 when there is room, else
 * -ENFILE. */
int fc_inode_wait_room(fc_inode_table_t *t, size_t name_len, uint64_t ms);

/* Count a lookup that the caller answers ENFILE: a full table that room
 * was made in after a wait is no refusal, so fc_inode_lookup's own
 * -ENFILE is not counted. */
void fc_inode_refused(fc_inode_table_t *t);

typedef struct fc_inode_stats {
	uint64_t entries;     /* live, the root included */
	uint64_t peak;	      /* the most live at once, by this process */
	uint64_t max;	      /* the bound */
	uint64_t name_pieces; /* name chunks in use */
	uint64_t name_max;    /* and their bound */
	uint64_t bytes;	      /* of the table's memory */
	uint64_t asked;	      /* names handed to fc_inode_cold's callers */
	uint64_t refused;     /* lookups answered ENFILE (fc_inode_refused) */
} fc_inode_stats_t;

void fc_inode_stats(fc_inode_table_t *t, fc_inode_stats_t *out);

/* The lookup count of ino (0 if unknown), for tests and the debug log. */
uint64_t fc_inode_nlookup(fc_inode_table_t *t, uint64_t ino);

#endif
