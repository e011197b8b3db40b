/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The inode table (see inode.h), laid out in memory another process can
 * take over:
 *
 *   header | entries[max] | by_ino[slots] | by_name[slots] | pieces[max+1]
 *
 * Entries are a dense array, taken from a free list or from the end
 * (hwm), so pages are touched only as the table grows.  An entry holds
 * its number, the hash of its (dataset, path), the kernel's lookup count,
 * its directory (an entry index: a path is its directory's path and its
 * name, so it costs one name, not a whole path) and the first 24 bytes of
 * its name; the rest of a longer name sits in a chain of 32-byte pieces
 * (28 bytes and the next piece's index), all the same size, so they never
 * fragment.  Two open-addressing indices of entry indices (linear probing,
 * removal by backward shift, at most 80% full) find an entry by number
 * and by name hash.
 *
 * Numbers.  An entry's number is its hash h if free, else the first free
 * number of h+1, h+2, ... (mod 2^64), where 0 and 1 (FUSE's "none" and
 * the root) are never free.  The name index finds an entry whatever
 * number it got, so a freed number in the middle of a run of collisions
 * breaks nothing.
 *
 * Crashes.  A worker may die at any instruction, holding the lock.  What
 * it leaves is made whole by the next one's attach: only entries are
 * kept, and only those published (LIVE set after everything else was
 * written; cleared first on removal) and sound (their directory chain
 * reaches the root); the indices, child counts, free lists and piece
 * allocation are derived again from them, in one pass over entries and
 * one over the indices.  A count the dead worker raised for a reply it
 * never sent stays raised: the entry outlives the kernel's interest a
 * little, which is the safe side.  The lock itself lives in this
 * process's handle, never in the shared memory.
 *
 * Forgetting.  A clock hand walks the entries: a use sets an entry's REF
 * bit, the hand clears it, and an entry found without it, with no child
 * entry, is cold.  The kernel is asked to forget cold entries' names
 * (ASKED marks them, so each is asked once until used again); a FORGET
 * then frees them, and their directories become leaves in turn.
 */
#include "fuse/inode.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <xxhash.h>

#include "common/util.h"

#define MAGIC	 0x31454e49444f4e49ull /* "INODINE1" */
#define LAYOUT	 1u
#define INLINE	 24u /* name bytes in the entry */
#define PIECE	 28u /* name bytes in a piece */
#define NONE	 UINT32_MAX
#define F_LIVE	 0x1u
#define F_REF	 0x2u	/* used since the hand passed */
#define F_ASKED	 0x4u	/* named by fc_inode_cold, not used since */
#define HAND_MAX 65536u /* entries one fc_inode_cold call visits at most */

struct it_hdr {
	uint64_t magic; /* written last by the format */
	uint32_t layout;
	uint32_t max;	  /* entries */
	uint32_t nslots;  /* per index, reserved */
	uint32_t npieces; /* pieces 1..npieces; 0 means none */
	uint32_t hwm;	  /* entries [0, hwm) were ever used */
	uint32_t piece_hwm;
	uint32_t hand; /* the clock hand, an entry index */
	uint32_t pad;
};

struct it_entry {
	uint64_t ino;	   /* 0 while free */
	uint64_t hash;	   /* of (dataset name, path); the name index's key */
	uint64_t nlookup;  /* the kernel's references */
	uint32_t parent;   /* entry index of the directory; NONE: the root.
			    * A free entry: the next free one */
	uint32_t children; /* live entries whose parent this is */
	uint32_t more;	   /* the name's next piece, 0: none */
	uint16_t ds;	   /* dataset index + 1; 0 for the root */
	uint8_t len;	   /* of the name */
	uint8_t flags;	   /* F_* */
	char name[INLINE];
};

struct it_piece {
	uint32_t next;
	char data[PIECE];
};

_Static_assert(sizeof(struct it_entry) == 64, "an entry is a cache line");
_Static_assert(sizeof(struct it_piece) == 32, "a piece is 32 bytes");
_Static_assert(sizeof(struct it_hdr) % 8 == 0, "header alignment");

struct fc_inode_table {
	pthread_mutex_t lock;
	pthread_cond_t room; /* an entry was freed */
	fc_inode_hash_fn *hash;
	struct it_hdr *h;
	struct it_entry *e;
	uint32_t *by_ino; /* entry index + 1; 0 empty */
	uint32_t *by_name;
	struct it_piece *pieces;
	/* The rest is this process's own, derived on attach. */
	uint32_t cap; /* slots in use per index, <= nslots; protected by
		       * t->lock, like all below */
	uint32_t live;
	uint32_t peak;
	uint32_t free_head; /* free entries below hwm, chained */
	uint32_t pieces_used;
	uint32_t piece_free;   /* free pieces below piece_hwm, chained */
	uint32_t asked_out;    /* live entries with F_ASKED */
	uint32_t asked_pieces; /* and their pieces */
	uint64_t asked;
	uint64_t refused;
	void *own; /* memory mapped by the table itself */
	size_t own_bytes;
	size_t bytes;
	int attached;
};

uint64_t fc_inode_hash(const char *dataset, const char *path)
{
	size_t dl = strlen(dataset), pl = strlen(path), n = 8 + dl + pl;
	uint8_t stack[8 + 64 + 4096], *buf = stack;
	uint64_t h;

	/* Length prefixes keep ("ab", "c") and ("a", "bc") apart. */
	if (n > sizeof(stack))
		buf = sl_xmalloc(n);
	sl_put_le32(buf, (uint32_t)dl);
	memcpy(buf + 4, dataset, dl);
	sl_put_le32(buf + 4 + dl, (uint32_t)pl);
	memcpy(buf + 8 + dl, path, pl);
	h = XXH3_64bits(buf, n);
	if (buf != stack)
		free(buf);
	return h;
}

/* ---- layout -------------------------------------------------------------- */

static uint32_t slots_for(uint32_t max)
{
	return max + max / 4 + 1;
}

static size_t off_entries(void)
{
	return (sizeof(struct it_hdr) + 63) & ~(size_t)63;
}

static size_t off_by_ino(uint32_t max)
{
	return off_entries() + (size_t)max * sizeof(struct it_entry);
}

static size_t off_by_name(uint32_t max)
{
	return off_by_ino(max) + (size_t)slots_for(max) * sizeof(uint32_t);
}

static size_t off_pieces(uint32_t max)
{
	size_t o = off_by_name(max) + (size_t)slots_for(max) * sizeof(uint32_t);

	return (o + 31) & ~(size_t)31;
}

size_t fc_inode_table_bytes(uint32_t max)
{
	return off_pieces(max) + ((size_t)max + 1) * sizeof(struct it_piece);
}

/* ---- the indices --------------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
	/* splitmix64's finalizer: numbers h, h+1, h+2 land far apart. */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static uint32_t home(const fc_inode_table_t *t, uint64_t key)
{
	return (uint32_t)(((unsigned __int128)mix(key) * t->cap) >> 64);
}

static uint32_t next_slot(const fc_inode_table_t *t, uint32_t i)
{
	return i + 1 == t->cap ? 0 : i + 1;
}

static uint64_t key_of(const fc_inode_table_t *t, const uint32_t *index,
		       uint32_t v)
{
	const struct it_entry *e = &t->e[v - 1];

	return index == t->by_ino ? e->ino : e->hash;
}

static void index_add(fc_inode_table_t *t, uint32_t *index, uint64_t key,
		      uint32_t idx)
{
	uint32_t i = home(t, key);

	while (index[i])
		i = next_slot(t, i);
	index[i] = idx + 1;
}

/* Remove entry idx from index, keeping every probe run unbroken: slide
 * later members of the run back into the hole unless that would put one
 * before its home slot. */
static void index_del(fc_inode_table_t *t, uint32_t *index, uint64_t key,
		      uint32_t idx)
{
	uint32_t i = home(t, key), j, k;

	while (index[i] != idx + 1) {
		SL_ASSERT(index[i] != 0);
		i = next_slot(t, i);
	}
	for (j = next_slot(t, i); index[j]; j = next_slot(t, j)) {
		k = home(t, key_of(t, index, index[j]));
		/* Stays when its home lies cyclically in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		index[i] = index[j];
		i = j;
	}
	index[i] = 0;
}

/* Slots for n entries at most 80% full: a power of two from 1024 up, so
 * that the indices touch memory in proportion to the entries, not to max
 * (their reservation is max's). */
static uint32_t cap_for(const fc_inode_table_t *t, uint32_t n)
{
	uint64_t c = 1024;

	while (c * 4 < (uint64_t)n * 5 + 4)
		c *= 2;
	return (uint32_t)SL_MIN(c, (uint64_t)t->h->nslots);
}

/* Both indices again, over cap slots, from the live entries (the root is
 * found by number only). */
static void reindex(fc_inode_table_t *t, uint32_t cap)
{
	t->cap = cap;
	memset(t->by_ino, 0, (size_t)cap * sizeof(uint32_t));
	memset(t->by_name, 0, (size_t)cap * sizeof(uint32_t));
	for (uint32_t i = 0; i < t->h->hwm; i++) {
		if (!(t->e[i].flags & F_LIVE))
			continue;
		index_add(t, t->by_ino, t->e[i].ino, i);
		if (i)
			index_add(t, t->by_name, t->e[i].hash, i);
	}
}

static struct it_entry *find_ino(fc_inode_table_t *t, uint64_t ino,
				 uint32_t *idx)
{
	for (uint32_t i = home(t, ino); t->by_ino[i]; i = next_slot(t, i)) {
		struct it_entry *e = &t->e[t->by_ino[i] - 1];

		if (e->ino == ino) {
			*idx = t->by_ino[i] - 1;
			return e;
		}
	}
	return NULL;
}

/* ---- names --------------------------------------------------------------- */

static int name_eq(const fc_inode_table_t *t, const struct it_entry *e,
		   const char *name, size_t len)
{
	size_t n = SL_MIN(len, (size_t)INLINE), done;
	uint32_t p = e->more;

	if (e->len != len || memcmp(e->name, name, n) != 0)
		return 0;
	for (done = n; done < len; done += PIECE, p = t->pieces[p].next) {
		n = SL_MIN(len - done, (size_t)PIECE);
		if (p == 0 || memcmp(t->pieces[p].data, name + done, n) != 0)
			return 0;
	}
	return 1;
}

/* e's name into out (at least SL_COMPONENT_MAX + 1 bytes); its length. */
static size_t name_copy(const fc_inode_table_t *t, const struct it_entry *e,
			char *out)
{
	size_t n = SL_MIN((size_t)e->len, (size_t)INLINE), done;
	uint32_t p = e->more;

	memcpy(out, e->name, n);
	for (done = n; done < e->len; done += PIECE, p = t->pieces[p].next) {
		n = SL_MIN(e->len - done, (size_t)PIECE);
		memcpy(out + done, t->pieces[p].data, n);
	}
	out[e->len] = '\0';
	return e->len;
}

static uint32_t pieces_for(size_t len)
{
	return len <= INLINE ? 0
			     : (uint32_t)((len - INLINE + PIECE - 1) / PIECE);
}

static uint32_t piece_alloc(fc_inode_table_t *t)
{
	uint32_t p = t->piece_free;

	if (p)
		t->piece_free = t->pieces[p].next;
	else
		p = ++t->h->piece_hwm;
	t->pieces_used++;
	return p;
}

static void pieces_free(fc_inode_table_t *t, uint32_t p)
{
	while (p) {
		uint32_t next = t->pieces[p].next;

		t->pieces[p].next = t->piece_free;
		t->piece_free = p;
		t->pieces_used--;
		p = next;
	}
}

static uint32_t pieces_left(const fc_inode_table_t *t)
{
	return t->h->npieces - t->pieces_used;
}

/* ---- entries ------------------------------------------------------------- */

/* A use of e: the hand must pass it once more before it is cold, and a
 * name the kernel was asked to forget is wanted again. */
static void use_locked(fc_inode_table_t *t, struct it_entry *e)
{
	if (e->flags & F_ASKED) {
		t->asked_out--;
		t->asked_pieces -= pieces_for(e->len);
	}
	e->flags = (uint8_t)((e->flags | F_REF) & ~F_ASKED);
}

static struct it_entry *find_name(fc_inode_table_t *t, uint64_t hash,
				  uint32_t parent, const char *name, size_t len,
				  uint32_t *idx)
{
	for (uint32_t i = home(t, hash); t->by_name[i]; i = next_slot(t, i)) {
		struct it_entry *e = &t->e[t->by_name[i] - 1];

		if (e->hash == hash && e->parent == parent &&
		    name_eq(t, e, name, len)) {
			*idx = t->by_name[i] - 1;
			return e;
		}
	}
	return NULL;
}

static uint32_t entry_alloc(fc_inode_table_t *t)
{
	uint32_t idx = t->free_head;

	if (idx != NONE) {
		t->free_head = t->e[idx].parent;
		return idx;
	}
	/* hwm first: an attach scans [0, hwm), so it sees whatever this
	 * entry becomes. */
	return t->h->hwm++;
}

static void entry_free(fc_inode_table_t *t, uint32_t idx)
{
	struct it_entry *e = &t->e[idx];

	if (e->flags & F_ASKED) {
		t->asked_out--;
		t->asked_pieces -= pieces_for(e->len);
	}
	/* Unpublished first: a crash from here on loses the entry, never
	 * keeps half of it. */
	e->flags = 0;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	index_del(t, t->by_ino, e->ino, idx);
	index_del(t, t->by_name, e->hash, idx);
	pieces_free(t, e->more);
	if (e->parent != NONE)
		t->e[e->parent].children--;
	e->ino = 0;
	e->more = 0;
	e->parent = t->free_head;
	t->free_head = idx;
	t->live--;
}

/* Free idx and then each directory above it that nothing holds any more. */
static void maybe_free(fc_inode_table_t *t, uint32_t idx)
{
	while (idx != 0 && idx != NONE) {
		struct it_entry *e = &t->e[idx];
		uint32_t parent = e->parent;

		if (e->nlookup || e->children)
			return;
		entry_free(t, idx);
		pthread_cond_broadcast(&t->room);
		idx = parent;
	}
}

/* A free number for hash h: h, h+1, ... never 0, 1 or one in use. */
static uint64_t free_number(fc_inode_table_t *t, uint64_t h)
{
	uint32_t dummy;

	for (uint64_t ino = h;; ino++)
		if (ino > FC_INO_ROOT && !find_ino(t, ino, &dummy))
			return ino;
}

static int room_locked(const fc_inode_table_t *t, uint32_t pieces)
{
	return t->live < t->h->max && pieces <= pieces_left(t);
}

int fc_inode_lookup(fc_inode_table_t *t, uint64_t parent, const char *name,
		    int dataset, const char *dataset_name, const char *path,
		    uint64_t *ino)
{
	size_t len = strlen(name);
	uint64_t h = t->hash(dataset_name, path);
	uint32_t pidx, idx, need = pieces_for(len), *link;
	struct it_entry *e;
	int rc = 0;

	if (len > SL_COMPONENT_MAX)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&t->lock);
	if (!find_ino(t, parent, &pidx)) {
		rc = -ESTALE;
		goto out;
	}
	e = find_name(t, h, pidx, name, len, &idx);
	if (!e) {
		if (!room_locked(t, need)) {
			rc = -ENFILE;
			goto out;
		}
		if ((uint64_t)(t->live + 1) * 5 > (uint64_t)t->cap * 4)
			reindex(t, cap_for(t, t->live + 1));
		idx = entry_alloc(t);
		e = &t->e[idx];
		memset(e, 0, sizeof(*e));
		e->ino = free_number(t, h);
		e->hash = h;
		e->parent = pidx;
		e->ds = (uint16_t)(dataset + 1);
		e->len = (uint8_t)len;
		memcpy(e->name, name, SL_MIN(len, (size_t)INLINE));
		link = &e->more;
		for (size_t done = INLINE; done < len; done += PIECE) {
			uint32_t p = piece_alloc(t);

			t->pieces[p].next = 0;
			memcpy(t->pieces[p].data, name + done,
			       SL_MIN(len - done, (size_t)PIECE));
			*link = p;
			link = &t->pieces[p].next;
		}
		index_add(t, t->by_ino, e->ino, idx);
		index_add(t, t->by_name, h, idx);
		t->e[pidx].children++;
		t->live++;
		t->peak = SL_MAX(t->peak, t->live);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		e->flags = F_LIVE;
	}
	e->nlookup++;
	use_locked(t, e);
	*ino = e->ino;
out:
	pthread_mutex_unlock(&t->lock);
	return rc;
}

int fc_inode_forget(fc_inode_table_t *t, uint64_t ino, uint64_t n)
{
	struct it_entry *e;
	uint32_t idx;
	int freed = 0;

	if (ino == FC_INO_ROOT)
		return 0;
	pthread_mutex_lock(&t->lock);
	e = find_ino(t, ino, &idx);
	if (e) {
		e->nlookup = e->nlookup > n ? e->nlookup - n : 0;
		freed = e->nlookup == 0 && e->children == 0;
		maybe_free(t, idx);
	}
	pthread_mutex_unlock(&t->lock);
	return freed;
}

/* The path of entry idx into out (SL_PATH_MAX + 1 bytes): its names from
 * below its dataset's root down.  Returns 0, or -EIO for a chain longer
 * than any legal path (the table is not sound). */
static int path_of(fc_inode_table_t *t, uint32_t idx, char *out)
{
	uint32_t chain[SL_PATH_MAX / 2 + 2];
	size_t depth = 0, n = 0;

	/* Up to, not including, the dataset's root (whose parent is the
	 * mount root, entry 0). */
	for (uint32_t i = idx; i != 0 && t->e[i].parent != 0;
	     i = t->e[i].parent) {
		if (depth == SL_ARRAY_SIZE(chain))
			return -EIO;
		chain[depth++] = i;
	}
	while (depth--) {
		const struct it_entry *e = &t->e[chain[depth]];

		if (n + e->len + 1 > SL_PATH_MAX + 1)
			return -EIO;
		if (n)
			out[n++] = '/';
		n += name_copy(t, e, out + n);
	}
	out[n] = '\0';
	return 0;
}

int fc_inode_get(fc_inode_table_t *t, uint64_t ino, fc_inode_t *out)
{
	struct it_entry *e;
	uint32_t idx;
	int rc = -ESTALE;

	pthread_mutex_lock(&t->lock);
	e = find_ino(t, ino, &idx);
	if (e) {
		out->ino = ino;
		out->parent = e->parent == NONE ? 0 : t->e[e->parent].ino;
		out->dataset = (int)e->ds - 1;
		name_copy(t, e, out->name);
		rc = path_of(t, idx, out->path);
		use_locked(t, e);
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

/* ---- pressure ------------------------------------------------------------ */

static int above(uint32_t used, uint32_t max, uint32_t num, uint32_t den)
{
	return (uint64_t)used * den >= (uint64_t)max * num;
}

static int pressure_locked(const fc_inode_table_t *t, uint32_t num,
			   uint32_t den)
{
	return above(t->live, t->h->max, num, den) ||
	       above(t->pieces_used, t->h->npieces, num, den);
}

int fc_inode_pressure(fc_inode_table_t *t)
{
	int p;

	pthread_mutex_lock(&t->lock);
	p = pressure_locked(t, 7, 8);
	pthread_mutex_unlock(&t->lock);
	return p;
}

/* Whether the entries not yet asked to go still pass the low-water mark. */
static int want_more_locked(const fc_inode_table_t *t)
{
	return above(t->live - t->asked_out, t->h->max, 3, 4) ||
	       above(t->pieces_used - t->asked_pieces, t->h->npieces, 3, 4);
}

size_t fc_inode_cold(fc_inode_table_t *t, fc_inode_name_t *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&t->lock);
	/* Two rounds at most: the first may only clear REF bits. */
	for (uint32_t v = 0; v < 2 * t->h->hwm && v < HAND_MAX && n < max &&
			     want_more_locked(t);
	     v++) {
		uint32_t i = t->h->hand;
		struct it_entry *e = &t->e[i];

		t->h->hand = i + 1 >= t->h->hwm ? 0 : i + 1;
		if (!(e->flags & F_LIVE) || e->parent == NONE ||
		    e->parent == 0 || e->children || (e->flags & F_ASKED))
			continue;
		if (e->flags & F_REF) {
			e->flags &= (uint8_t)~F_REF;
			continue;
		}
		e->flags |= F_ASKED;
		t->asked_out++;
		t->asked_pieces += pieces_for(e->len);
		out[n].parent = t->e[e->parent].ino;
		out[n].len = (uint8_t)name_copy(t, e, out[n].name);
		n++;
	}
	t->asked += n;
	pthread_mutex_unlock(&t->lock);
	return n;
}

void fc_inode_refused(fc_inode_table_t *t)
{
	pthread_mutex_lock(&t->lock);
	t->refused++;
	pthread_mutex_unlock(&t->lock);
}

int fc_inode_wait_room(fc_inode_table_t *t, size_t name_len, uint64_t ms)
{
	uint32_t need = pieces_for(name_len);
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&t->lock);
	while (!room_locked(t, need) && rc == 0)
		rc = pthread_cond_timedwait(&t->room, &t->lock, &ts);
	rc = room_locked(t, need) ? 0 : -ENFILE;
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void fc_inode_stats(fc_inode_table_t *t, fc_inode_stats_t *out)
{
	pthread_mutex_lock(&t->lock);
	out->entries = t->live;
	out->peak = SL_MAX(t->peak, t->live);
	out->max = t->h->max;
	out->name_pieces = t->pieces_used;
	out->name_max = t->h->npieces;
	out->bytes = t->bytes;
	out->asked = t->asked;
	out->refused = t->refused;
	pthread_mutex_unlock(&t->lock);
}

uint64_t fc_inode_nlookup(fc_inode_table_t *t, uint64_t ino)
{
	struct it_entry *e;
	uint32_t idx;
	uint64_t n = 0;

	pthread_mutex_lock(&t->lock);
	e = find_ino(t, ino, &idx);
	if (e)
		n = e->nlookup;
	pthread_mutex_unlock(&t->lock);
	return n;
}

/* ---- format and attach --------------------------------------------------- */

static void map_arrays(fc_inode_table_t *t, char *mem, uint32_t max)
{
	t->h = (struct it_hdr *)(void *)mem;
	t->e = (struct it_entry *)(void *)(mem + off_entries());
	t->by_ino = (uint32_t *)(void *)(mem + off_by_ino(max));
	t->by_name = (uint32_t *)(void *)(mem + off_by_name(max));
	t->pieces = (struct it_piece *)(void *)(mem + off_pieces(max));
}

static void format(fc_inode_table_t *t, uint32_t max)
{
	struct it_hdr *h = t->h;
	struct it_entry *root = &t->e[0];

	h->layout = LAYOUT;
	h->max = max;
	h->nslots = slots_for(max);
	h->npieces = max;
	h->hwm = 1;
	h->piece_hwm = 0;
	h->hand = 0;
	root->ino = FC_INO_ROOT;
	root->parent = NONE;
	root->nlookup = 1; /* the kernel never forgets the root */
	root->flags = F_LIVE;
	t->cap = cap_for(t, 1);
	index_add(t, t->by_ino, FC_INO_ROOT, 0);
	t->live = 1;
	t->free_head = NONE;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	h->magic = MAGIC;
}

/* An entry's own fields in range (its directory is checked by sound()). */
static int entry_ok(const fc_inode_table_t *t, uint32_t idx)
{
	const struct it_entry *e = &t->e[idx];
	uint32_t p = e->more, n = 0;

	if (e->ino <= FC_INO_ROOT || e->parent >= t->h->hwm ||
	    e->parent == idx || e->ds == 0)
		return 0;
	for (; p; p = t->pieces[p].next)
		if (p > t->h->piece_hwm || ++n > pieces_for(SL_COMPONENT_MAX))
			return 0;
	return n == pieces_for(e->len);
}

enum { UNKNOWN, GOOD, BAD, ON_PATH };

/* Whether idx's chain of directories reaches the root through entries
 * that are all live and in range; memoised in state[], so the whole pass
 * is linear.  A cycle is bad. */
static int sound(const fc_inode_table_t *t, uint8_t *state, uint32_t idx)
{
	uint32_t i = idx, verdict;

	while (state[i] == UNKNOWN) {
		state[i] = ON_PATH;
		if (!(t->e[i].flags & F_LIVE) || !entry_ok(t, i)) {
			state[i] = BAD;
			break;
		}
		i = t->e[i].parent;
	}
	verdict = state[i] == GOOD ? GOOD : BAD;
	for (i = idx; state[i] == ON_PATH; i = t->e[i].parent)
		state[i] = (uint8_t)verdict;
	return verdict == GOOD;
}

/* A header another process left: one of this layout that fits bytes. */
static int header_ok(const struct it_hdr *h, size_t bytes)
{
	return h->magic == MAGIC && h->layout == LAYOUT && h->max >= 2 &&
	       h->nslots == slots_for(h->max) && h->npieces == h->max &&
	       fc_inode_table_bytes(h->max) <= bytes && h->hwm != 0 &&
	       h->hwm <= h->max && h->piece_hwm <= h->npieces;
}

int fc_inode_table_check(const void *mem, size_t bytes)
{
	const struct it_hdr *h = mem;

	if (bytes < sizeof(*h))
		return -EINVAL;
	if (h->magic == 0 || header_ok(h, bytes))
		return 0;
	return -EINVAL;
}

static int attach(fc_inode_table_t *t, size_t bytes)
{
	struct it_hdr *h = t->h;
	uint32_t hwm = h->hwm;
	uint8_t *state, *piece_used;

	if (!header_ok(h, bytes))
		return -EINVAL;
	map_arrays(t, (char *)h, h->max);
	if (t->e[0].ino != FC_INO_ROOT)
		return -EINVAL;
	state = sl_xcalloc(hwm, 1);
	piece_used = sl_xcalloc((size_t)h->piece_hwm + 1, 1);
	state[0] = GOOD;
	t->e[0].children = 0;
	t->e[0].parent = NONE;
	t->e[0].flags = F_LIVE;
	t->live = 1;
	t->free_head = NONE;
	for (uint32_t i = 1; i < hwm; i++)
		t->e[i].children = 0;
	for (uint32_t i = hwm; i-- > 1;) {
		struct it_entry *e = &t->e[i];

		if (sound(t, state, i)) {
			e->flags = F_LIVE; /* asks and uses start afresh */
			t->e[e->parent].children++;
			t->live++;
			for (uint32_t p = e->more; p; p = t->pieces[p].next)
				piece_used[p] = 1;
			continue;
		}
		/* Half made, half removed, or hanging off such a one. */
		e->flags = 0;
		e->ino = 0;
		e->parent = t->free_head;
		t->free_head = i;
	}
	/* Pieces nobody holds are free. */
	t->pieces_used = 0;
	t->piece_free = 0;
	for (uint32_t p = h->piece_hwm; p >= 1; p--) {
		if (piece_used[p]) {
			t->pieces_used++;
			continue;
		}
		t->pieces[p].next = t->piece_free;
		t->piece_free = p;
	}
	if (h->hand >= hwm)
		h->hand = 0;
	reindex(t, cap_for(t, t->live));
	free(state);
	free(piece_used);
	return 0;
}

fc_inode_table_t *fc_inode_table_new(void *mem, size_t bytes, uint32_t max,
				     fc_inode_hash_fn *hash, int *err)
{
	fc_inode_table_t *t = sl_xcalloc(1, sizeof(*t));
	int rc = 0;

	if (!mem) {
		bytes = fc_inode_table_bytes(max);
		mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (mem == MAP_FAILED) {
			rc = -ENOMEM;
			goto out;
		}
		t->own = mem;
		t->own_bytes = bytes;
	}
	if (bytes < sizeof(struct it_hdr) + sizeof(struct it_entry)) {
		rc = -EINVAL;
		goto out;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->room, NULL);
	t->hash = hash ? hash : fc_inode_hash;
	t->bytes = bytes;
	t->h = mem;
	if (t->h->magic == MAGIC) {
		rc = attach(t, bytes);
		t->attached = 1;
	} else if (t->h->magic != 0 || max < 2 ||
		   fc_inode_table_bytes(max) > bytes) {
		rc = -EINVAL;
	} else {
		map_arrays(t, mem, max);
		format(t, max);
	}
out:
	if (rc < 0) {
		*err = rc;
		if (t->h) {
			pthread_cond_destroy(&t->room);
			pthread_mutex_destroy(&t->lock);
		}
		if (t->own)
			munmap(t->own, t->own_bytes);
		free(t);
		return NULL;
	}
	return t;
}

int fc_inode_table_attached(const fc_inode_table_t *t)
{
	return t->attached;
}

void fc_inode_table_destroy(fc_inode_table_t **tp)
{
	fc_inode_table_t *t = tp ? *tp : NULL;

	if (!t)
		return;
	pthread_cond_destroy(&t->room);
	pthread_mutex_destroy(&t->lock);
	if (t->own)
		munmap(t->own, t->own_bytes);
	free(t);
	*tp = NULL;
}
