/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The consistent-hash ring (see ring.h).
 *
 * How it works.  Member m with weight w owns w * SL_RING_VNODES points on a
 * 64-bit circle; point i sits at xxh3-64 of the bytes "NAME#i" (i in decimal,
 * no NUL).  All points go in one array sorted by (point, member index).  A
 * key's owner is the member of the first point at or after the key's own
 * point, wrapping past the top to the start; its fallbacks are the next
 * distinct members met walking on clockwise.
 *
 * Why it moves few keys.  A member's points depend only on its own name, so
 * adding member X inserts X's points and leaves every other point where it
 * was: a key changes owner only when one of X's points lands between it and
 * its old owner's point, and then it moves to X.  Removing X is the reverse:
 * only X's keys move.  With N equal members about 1/N of the keys move.
 *
 * Why virtual nodes.  One point per member would give arcs of wildly uneven
 * length; with k points the relative spread of a member's share falls like
 * 1/sqrt(k).  Weight scales the number of points, so share follows weight.
 *
 * Nothing depends on addresses, hash seeds or the host's byte order, so every
 * process that reads the same member list builds the same ring; the version
 * is a hash of that list, so peers can tell whether they agree.
 */
#include "common/ring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/util.h"

typedef struct ring_point {
	uint64_t point;
	uint32_t member;
} ring_point_t;

struct sl_ring {
	size_t n_members;
	char **names;
	size_t n_points;
	ring_point_t *points; /* sorted by (point, member) */
	uint32_t version;
};

static int point_cmp(const void *a, const void *b)
{
	const ring_point_t *x = a;
	const ring_point_t *y = b;

	if (x->point != y->point)
		return x->point < y->point ? -1 : 1;
	if (x->member != y->member)
		return x->member < y->member ? -1 : 1;
	return 0;
}

/*
 * The version: xxh3-64 of SL_RING_VNODES then, for each member in order, its
 * name's length, the name and its weight (all u32 LE), folded to 32 bits.
 * The length prefix keeps ("ab", "c") and ("a", "bc") apart; the vnode count
 * makes a change of placement rule a change of version.
 */
static uint32_t ring_version(const sl_ring_member_t *members, size_t n)
{
	size_t len = 4;
	uint8_t *buf, *p;
	uint64_t h;
	uint32_t v;

	for (size_t i = 0; i < n; i++)
		len += 8 + strlen(members[i].name);
	buf = sl_xmalloc(len);
	p = buf;
	sl_put_le32(p, SL_RING_VNODES);
	p += 4;
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(members[i].name);

		sl_put_le32(p, (uint32_t)nl);
		memcpy(p + 4, members[i].name, nl);
		sl_put_le32(p + 4 + nl, members[i].weight);
		p += 8 + nl;
	}
	h = XXH3_64bits(buf, len);
	free(buf);
	v = (uint32_t)(h ^ (h >> 32));
	return v ? v : 1;
}

uint64_t sl_ring_weight(const sl_ring_member_t *members, size_t n)
{
	uint64_t total = 0;

	for (size_t i = 0; i < n && total <= UINT32_MAX; i++)
		total += members[i].weight;
	return total;
}

sl_ring_t *sl_ring_new(const sl_ring_member_t *members, size_t n)
{
	sl_ring_t *r;
	size_t k = 0;

	if (sl_ring_weight(members, n) > SL_RING_MAX_WEIGHT)
		return NULL;
	r = sl_xcalloc(1, sizeof(*r));
	SL_ASSERT(n <= UINT32_MAX);
	r->n_members = n;
	r->names = sl_xcalloc(n, sizeof(*r->names));
	for (size_t i = 0; i < n; i++) {
		SL_ASSERT(members[i].name && members[i].weight >= 1);
		r->names[i] = sl_xstrdup(members[i].name);
		r->n_points += (size_t)members[i].weight * SL_RING_VNODES;
	}
	r->points = sl_xcalloc(r->n_points, sizeof(*r->points));
	for (size_t i = 0; i < n; i++) {
		size_t nl = strlen(members[i].name);
		size_t cap = nl + 24; /* '#', up to 20 digits, NUL */
		char *buf = sl_xmalloc(cap);
		size_t pts = (size_t)members[i].weight * SL_RING_VNODES;

		memcpy(buf, members[i].name, nl);
		for (size_t j = 0; j < pts; j++) {
			int len = snprintf(buf + nl, cap - nl, "#%zu", j);

			r->points[k].point = XXH3_64bits(buf, nl + (size_t)len);
			r->points[k].member = (uint32_t)i;
			k++;
		}
		free(buf);
	}
	qsort(r->points, r->n_points, sizeof(*r->points), point_cmp);
	r->version = ring_version(members, n);
	return r;
}

void sl_ring_destroy(sl_ring_t **rp)
{
	sl_ring_t *r = rp ? *rp : NULL;

	if (!r)
		return;
	for (size_t i = 0; i < r->n_members; i++)
		free(r->names[i]);
	free(r->names);
	free(r->points);
	free(r);
	*rp = NULL;
}

uint32_t sl_ring_version(const sl_ring_t *r)
{
	return r->version;
}

size_t sl_ring_members(const sl_ring_t *r)
{
	return r->n_members;
}

const char *sl_ring_member_name(const sl_ring_t *r, size_t idx)
{
	SL_ASSERT(idx < r->n_members);
	return r->names[idx];
}

/* Index of the first point >= point, wrapping to 0 past the last. */
static size_t ring_search(const sl_ring_t *r, uint64_t point)
{
	size_t lo = 0, hi = r->n_points;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->points[mid].point < point)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == r->n_points ? 0 : lo;
}

size_t sl_ring_preference_list(const sl_ring_t *r, uint64_t point, size_t *out,
			       size_t n)
{
	size_t want = SL_MIN(n, r->n_members);
	size_t got = 0;
	size_t pos;

	if (want == 0)
		return 0;
	pos = ring_search(r, point);
	/* Every member has at least one point, so one lap finds them all. */
	for (size_t step = 0; step < r->n_points && got < want; step++) {
		size_t m = r->points[pos].member;
		size_t i;

		for (i = 0; i < got && out[i] != m; i++)
			;
		if (i == got)
			out[got++] = m;
		if (++pos == r->n_points)
			pos = 0;
	}
	SL_ASSERT(got == want);
	return got;
}

size_t sl_ring_owner(const sl_ring_t *r, uint64_t point)
{
	SL_ASSERT(r->n_points > 0);
	return r->points[ring_search(r, point)].member;
}

/*
 * sl_ring_moved.  A ring's owner function is constant between two of its
 * points: a key in (p[k-1], p[k]] belongs to p[k]'s member, and keys past
 * the last point wrap to p[0].  The boundaries of both rings, merged in
 * order, cut the circle into intervals on which both owners are constant;
 * the interval ending at boundary q is owned in a by a's first point >= q
 * and in b by b's.  Adding up the intervals whose two owners differ by
 * name gives the moved share exactly.
 */
static int same_owner(const sl_ring_t *a, size_t i, const sl_ring_t *b,
		      size_t j)
{
	return strcmp(a->names[a->points[i].member],
		      b->names[b->points[j].member]) == 0;
}

double sl_ring_moved(const sl_ring_t *a, const sl_ring_t *b)
{
	size_t i = 0, j = 0;
	uint64_t prev = 0;
	long double moved = 0;

	if (!a || !b || !a->n_points || !b->n_points)
		return (!a || !a->n_points) && (!b || !b->n_points) ? 0.0 : 1.0;
	while (i < a->n_points || j < b->n_points) {
		/* Past either ring's last point, its owner wraps to p[0]. */
		size_t ia = i < a->n_points ? i : 0,
		       jb = j < b->n_points ? j : 0;
		uint64_t next = UINT64_MAX;

		if (i < a->n_points)
			next = a->points[i].point;
		if (j < b->n_points && b->points[j].point < next)
			next = b->points[j].point;
		if (!same_owner(a, ia, b, jb))
			moved += (long double)(next - prev);
		prev = next;
		if (i < a->n_points && a->points[i].point == next)
			i++;
		if (j < b->n_points && b->points[j].point == next)
			j++;
	}
	if (!same_owner(a, 0, b, 0))
		moved += (long double)(UINT64_MAX - prev);
	return (double)(moved / 18446744073709551616.0L);
}

/* As sl_ring_moved: the interval ending at p[k] is p[k]'s member's, and
 * what lies past the last point wraps to p[0]'s. */
double sl_ring_share(const sl_ring_t *r, size_t idx)
{
	long double own = 0;
	uint64_t prev = 0;

	if (!r || !r->n_points)
		return 0.0;
	for (size_t k = 0; k < r->n_points; k++) {
		if (r->points[k].member == idx)
			own += (long double)(r->points[k].point - prev);
		prev = r->points[k].point;
	}
	if (r->points[0].member == idx)
		own += (long double)(UINT64_MAX - prev);
	return (double)(own / 18446744073709551616.0L);
}
