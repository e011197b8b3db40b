/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who is on the ring (see server_i.h): the members and their generation,
 * from the config's [node] sections (static) or from etcd, the ring of
 * the generation before (a moved block's previous owner), drains, and the
 * copies of blocks kept on a dataset's further replicas.
 *
 * Generations.  Any process must be able to tell which of two rings is
 * the newer, so each ring has a generation, and every message carries its
 * sender's (with the ring's version, a hash of its members).  With etcd
 * the generation is the etcd revision of the membership's last change:
 * every node and client that watches etcd agrees on it.  Static
 * membership has no shared counter, so the rule is:
 *
 *   - `[cluster] generation = N` when the config sets it (an operator or
 *     a deploy tool raises it with each change of the node list);
 *   - otherwise the node's wall clock (ms) when it applied the ring, and
 *     never less than its previous generation + 1.
 *
 * and the same members make the same ring whatever the generations (a
 * ring is only replaced by another ring), so nodes that loaded one file at
 * different times agree, and a node that restarts with the file everyone
 * has changes nothing.  A rolling SIGHUP cannot flip-flop: a client
 * switches only to a ring with a greater generation than its own, so the
 * nodes not reloaded yet (older generations) are not followed back.  The
 * assumption is clocks within a second or so of each other (NTP), and one
 * file for everyone: a node restarted with an old file would win, being
 * the latest to load.  A drain is sent to every node with the generation
 * of sluicectl's clock, so that all of them apply the same one.
 *
 * Hand-off.  When the ring changes, the previous one is kept: a READ that
 * misses on the node now owning a block asks the node that owned it before
 * (PEER_READ, fetch.c) before the backend.  One previous ring is enough
 * for one change at a time; after two quick changes in a row, blocks of
 * the first are fetched from the backend once more.  A node that starts
 * has seen no ring before its own; it takes its own without itself as the
 * previous one (ring_without), which is exactly the ring before a join.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachenode/server_i.h"
#include "common/log.h"
#include "common/util.h"

#define SYNC_WAIT_MS 2000 /* at start: how long to wait for etcd's members */

static uint64_t wall_ms(void)
{
	return (uint64_t)(sl_wall_ns() / 1000000);
}

static int is_drained(const cn_server_t *s, const char *name)
{
	for (size_t i = 0; i < s->n_drained; i++)
		if (strcmp(s->drained[i], name) == 0)
			return 1;
	return 0;
}

/* The static ring's members: the config's nodes but the drained ones.
 * Caller frees. */
static cn_member_t *static_members(const cn_server_t *s, size_t *n)
{
	const sl_config_t *c = s->cfg;
	cn_member_t *m = sl_xcalloc(c->n_nodes + 1, sizeof(*m));

	*n = 0;
	for (size_t i = 0; i < c->n_nodes; i++) {
		if (is_drained(s, c->nodes[i].name))
			continue;
		sl_strlcpy(m[*n].name, c->nodes[i].name, sizeof(m[*n].name));
		sl_strlcpy(m[*n].addr, c->nodes[i].addr, sizeof(m[*n].addr));
		m[*n].weight = c->nodes[i].weight;
		(*n)++;
	}
	return m;
}

/* etcd's members, in its order (by name).  Caller frees. */
static cn_member_t *set_members(const sl_members_set_t *set, size_t *n)
{
	cn_member_t *m = sl_xcalloc(set->count + 1, sizeof(*m));

	for (size_t i = 0; i < set->count; i++) {
		sl_strlcpy(m[i].name, set->members[i].name, sizeof(m[i].name));
		sl_strlcpy(m[i].addr, set->members[i].addr, sizeof(m[i].addr));
		m[i].weight = set->members[i].weight;
	}
	*n = set->count;
	return m;
}

/* The names of the members of a not in b, ", "-separated into out. */
static void diff_names(const cn_ringmap_t *a, const cn_ringmap_t *b, char *out,
		       size_t cap)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; a && i < a->n && len + 1 < cap; i++) {
		int n;

		if (b && cn_ringmap_find(b, a->m[i].name))
			continue;
		n = snprintf(out + len, cap - len, "%s%s", len ? ", " : "",
			     a->m[i].name);
		if (n < 0)
			break;
		len += (size_t)n;
	}
}

/* Tell the peers module who may still be asked: the members of both
 * rings. */
static void keep_peers(cn_server_t *s)
{
	size_t n = 0, cap = s->map->n + (s->prev ? s->prev->n : 0) + 1;
	const char **names = sl_xcalloc(cap, sizeof(*names));

	for (size_t i = 0; i < s->map->n; i++)
		names[n++] = s->map->m[i].name;
	for (size_t i = 0; s->prev && i < s->prev->n; i++)
		names[n++] = s->prev->m[i].name;
	cn_peers_keep(s->peers, names, n);
	cn_peers_set_ring(s->peers, s->map->version, s->map->generation);
	free(names);
}

/*
 * The ring a node that just started assumes came before its own: r
 * without the node.  A node that joins finds each block that came to it
 * with the node that had it before (for one node joining at a time), and
 * a node that restarts asks a neighbour once per miss, which a replica
 * may answer.  NULL when the node is not in r or alone in it.
 */
static cn_ringmap_t *ring_without(const cn_ringmap_t *r, const char *self)
{
	cn_member_t *m = sl_xcalloc(r->n + 1, sizeof(*m));
	cn_ringmap_t *out = NULL;
	size_t n = 0;

	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->m[i].name, self) != 0)
			m[n++] = r->m[i];
	if (n && n < r->n)
		out = cn_ringmap_new(m, n,
				     r->generation ? r->generation - 1 : 0);
	free(m);
	return out;
}

/*
 * Make m[0..n) (borrowed) the ring at generation, unless it is the ring
 * already (then nothing changes, whatever the generation).  The ring it
 * replaces becomes the previous one.
 */
static void apply(cn_server_t *s, const cn_member_t *m, size_t n,
		  uint64_t generation, const char *why)
{
	cn_ringmap_t *next = cn_ringmap_new(m, n, generation);
	char added[512], removed[512];
	int first = !s->map;
	double moved;

	if (!next) {
		sl_log_ratelimited(SL_LOG_WARNING,
				   "ring of %zu members (%s): their weights "
				   "add up to more than %d, the ring's limit; "
				   "keeping the ring",
				   n, why, SL_RING_MAX_WEIGHT);
		return;
	}
	if (s->map && cn_ringmap_same(s->map, next)) {
		cn_ringmap_destroy(&next);
		return;
	}
	moved = s->map ? sl_ring_moved(s->map->ring, next->ring) : 0.0;
	diff_names(next, s->map, added, sizeof(added));
	diff_names(s->map, next, removed, sizeof(removed));
	if (s->map) {
		cn_ringmap_destroy(&s->prev);
		s->prev = s->map;
		atomic_fetch_add(&s->m.membership_changes, 1);
	} else {
		s->prev = ring_without(next, s->node_name);
	}
	s->map = next;
	atomic_store(&s->m.ring_generation, generation);
	atomic_store(&s->m.ring_members, n);
	atomic_store(&s->m.keys_moved_ppm, (uint64_t)(moved * 1e6 + 0.5));
	keep_peers(s);
	cn_nodemap_hello(s);
	/* The owned shares moved. */
	if (s->autopol)
		cn_server_autopolicy(s, "a ring change");
	if (!first)
		sl_notice("ring %08" PRIx32 " generation %" PRIu64
			  ": %zu members%s%s%s%s, %.1f%% of keys moved (%s)",
			  next->version, generation, n,
			  added[0] ? "; joined " : "", added,
			  removed[0] ? "; left " : "", removed, moved * 100.0,
			  why);
}

/*
 * A static ring's generation now: asked (a DRAIN's), else the config's,
 * else the clock's; and above the current one in any case.  Raising it is
 * always safe: nodes agree on a ring by its members, not its generation,
 * and a client only needs the new ring's to be above the one it has.  (A
 * node that starts takes the config's as it is, so a node restarted with
 * an older explicit generation does not win.)
 */
static uint64_t static_generation(const cn_server_t *s, uint64_t asked)
{
	uint64_t g = asked ? asked : s->cfg->generation;

	if (!g)
		g = wall_ms();
	if (s->map && g <= s->map->generation) {
		if (!asked && s->cfg->generation)
			sl_warn("[cluster] generation %" PRIu64
				" is not above the ring's: using %" PRIu64
				" (raise it with the node list)",
				g, s->map->generation + 1);
		g = s->map->generation + 1;
	}
	return g;
}

static void apply_static(cn_server_t *s, uint64_t asked, const char *why)
{
	size_t n;
	cn_member_t *m = static_members(s, &n);
	cn_ringmap_t *probe = cn_ringmap_new(m, n, 0);

	/* The generation moves only with the ring.  (The config bounds the
	 * static nodes' weight, so probe is a ring.) */
	if (!s->map || !probe || !cn_ringmap_same(s->map, probe))
		apply(s, m, n, static_generation(s, asked), why);
	cn_ringmap_destroy(&probe);
	free(m);
}

/* Take etcd's members when they are newer than the ring. */
static void apply_set(cn_server_t *s, const sl_members_set_t *set)
{
	size_t n;
	cn_member_t *m;

	if (s->map && set->generation <= s->map->generation)
		return;
	m = set_members(set, &n);
	apply(s, m, n, set->generation, "etcd");
	free(m);
}

/* ---- etcd ---------------------------------------------------------------- */

static int open_etcd(cn_server_t *s, char *err, size_t errlen)
{
	const sl_config_t *c = s->cfg;
	sl_members_opts_t o = {
		.endpoints = c->etcd,
		.prefix = c->etcd_prefix,
		.lease_ttl_ms = c->lease_ttl_ms,
		.timeout_ms = SL_MAX(c->lease_ttl_ms / 3, (uint64_t)1000),
	};
	sl_member_t self = {0};
	const sl_members_set_t *set;
	char why[256];
	int rc;

	s->members = sl_members_new(&o, &rc, why, sizeof(why));
	if (!s->members) {
		snprintf(err, errlen, "etcd: %s", why);
		return rc;
	}
	/* The ring as it is without this node first, then registered: the
	 * watch brings the ring with it, and the one before is the ring its
	 * blocks come from (hand-off).  Serve either way: without etcd, the
	 * ring is this node alone until the view syncs (etcd never sits on
	 * the read path). */
	if (sl_members_wait(s->members, SYNC_WAIT_MS) < 0)
		sl_warn("etcd (%s) not answering yet: serving, the ring "
			"follows once it does",
			c->etcd);
	set = sl_members_snapshot(s->members);
	if (set->generation)
		apply_set(s, set);
	if (!s->map) { /* none yet, or too heavy a ring */
		cn_member_t me = {0};

		sl_strlcpy(me.name, s->node->name, sizeof(me.name));
		sl_strlcpy(me.addr, s->node->addr, sizeof(me.addr));
		me.weight = s->node->weight;
		apply(s, &me, 1, 0, "start");
	}
	sl_members_set_put(&set);
	sl_strlcpy(self.name, s->node->name, sizeof(self.name));
	sl_strlcpy(self.addr, s->node->addr, sizeof(self.addr));
	sl_strlcpy(self.metrics_addr, s->node->metrics_addr,
		   sizeof(self.metrics_addr));
	self.weight = s->node->weight;
	self.capacity = s->node->ram_capacity + s->node->disk_capacity;
	/* Published for whoever wants to check it; trust comes from the
	 * keys a client holds, never from etcd (README, Security). */
	sl_strlcpy(self.public_key, sl_keyring_public(s->keys),
		   sizeof(self.public_key));
	rc = sl_members_register(s->members, &self, why, sizeof(why));
	if (rc < 0) {
		snprintf(err, errlen, "etcd: cannot register %s: %s", self.name,
			 why);
		return rc;
	}
	return 0;
}

/* ---- For the server ------------------------------------------------------ */

int cn_membership_open(cn_server_t *s, char *err, size_t errlen)
{
	uint64_t rt = s->cfg->client.request_timeout_ms;

	/* A peer read must leave the client time to try the backend
	 * through this node before its own request_timeout. */
	s->peers = cn_peers_new(s->zctx, SL_MAX(rt / 4, (uint64_t)100),
				s->cfg->client.down_backoff_ms);
	if (s->cfg->membership == SL_MEMBERSHIP_ETCD)
		return open_etcd(s, err, errlen);
	apply_static(s, 0, "start");
	return 0;
}

void cn_membership_close(cn_server_t *s)
{
	sl_members_destroy(&s->members);
	cn_ringmap_destroy(&s->map);
	cn_ringmap_destroy(&s->prev);
	free(s->drained);
	s->drained = NULL;
	s->n_drained = 0;
}

void cn_membership_reload(cn_server_t *s)
{
	size_t k = 0;

	/* etcd or not is chosen at start: a reload keeps what runs. */
	if (s->members || s->cfg->membership == SL_MEMBERSHIP_ETCD) {
		cn_nodemap_hello(s); /* the datasets may have changed */
		return;
	}
	/* A drained node that left the file is gone for good. */
	for (size_t i = 0; i < s->n_drained; i++)
		if (sl_config_node(s->cfg, s->drained[i]))
			memmove(s->drained[k++], s->drained[i],
				sizeof(s->drained[i]));
	s->n_drained = k;
	apply_static(s, 0, "SIGHUP");
	cn_nodemap_hello(s);
}

int cn_membership_fd(const cn_server_t *s)
{
	return s->members ? sl_members_fd(s->members) : -1;
}

void cn_membership_poll(cn_server_t *s)
{
	const sl_members_set_t *set = sl_members_snapshot(s->members);

	if (set->generation)
		apply_set(s, set);
	sl_members_set_put(&set);
}

const cn_member_t *cn_membership_prev_owner(const cn_server_t *s,
					    uint64_t point)
{
	const cn_member_t *p, *now;

	if (!s->prev)
		return NULL;
	p = cn_ringmap_owner(s->prev, point);
	if (!p || strcmp(p->name, s->node_name) == 0)
		return NULL;
	/* Not moved: the client came here because the owner did not
	 * answer it, so neither would it answer us. */
	now = cn_ringmap_owner(s->map, point);
	if (now && strcmp(now->name, p->name) == 0)
		return NULL;
	return p;
}

/* ---- Drains -------------------------------------------------------------- */

static void start_draining(cn_server_t *s, uint64_t grace_ms)
{
	if (s->drain != PR_DRAIN_NONE)
		return;
	s->drain = PR_DRAIN_DRAINING;
	s->drain_until = sl_now_ms() + grace_ms;
	atomic_store(&s->m.drain_state, PR_DRAIN_DRAINING);
	sl_notice("draining: out of placement, answering peers for %" PRIu64
		  " ms",
		  grace_ms);
	cn_nodemap_hello(s);
}

/* The ring without target (static), at generation (0: our clock). */
static int drain_static(cn_server_t *s, const char *target, uint64_t generation)
{
	char why[SL_NAME_MAX + 16];

	if (!sl_config_node(s->cfg, target))
		return -ENOENT;
	if (!is_drained(s, target)) {
		s->drained = sl_xrealloc(
			s->drained, (s->n_drained + 1) * sizeof(*s->drained));
		sl_strlcpy(s->drained[s->n_drained++], target,
			   sizeof(*s->drained));
	}
	snprintf(why, sizeof(why), "drain %s", target);
	apply_static(s, generation, why);
	return 0;
}

int cn_membership_drain(cn_server_t *s, const char *target, uint64_t grace_ms,
			uint64_t generation)
{
	int self = strcmp(target, s->node_name) == 0, rc = 0;

	if (!s->members) {
		rc = drain_static(s, target, generation);
	} else if (self) {
		/* Out of every view at once; the peers follow etcd. */
		rc = sl_members_deregister(s->members);
		if (rc == -ENOENT)
			rc = 0;
	} else {
		return -EINVAL;
	}
	if (rc == 0 && self)
		start_draining(s, grace_ms);
	return rc;
}

void cn_membership_drain_self(cn_server_t *s, uint64_t grace_ms)
{
	pr_drain_req_t d = {.node = pr_str(s->node_name),
			    .grace_ms = grace_ms,
			    .generation = wall_ms()};
	pr_buf_t b;

	if (!s->members && s->map) {
		/* Static: every peer must take us out, at one generation. */
		pr_buf_init(&b);
		if (pr_drain_req_encode(&b, &d) == 0)
			for (size_t i = 0; i < s->map->n; i++)
				if (strcmp(s->map->m[i].name, s->node_name))
					cn_peers_call(
						s->peers, s->map->m[i].name,
						s->map->m[i].addr, PR_OP_DRAIN,
						b.data, b.len, NULL, NULL);
		pr_buf_fini(&b);
	}
	if (cn_membership_drain(s, s->node_name, grace_ms, d.generation) < 0)
		start_draining(s, grace_ms);
}

void cn_handle_drain(cn_server_t *s, const cn_addr_t *a, const void *body,
		     size_t len)
{
	char target[SL_NAME_MAX + 1];
	pr_drain_req_t q;
	int rc = pr_drain_req_decode(&q, body, len);

	if (rc < 0) {
		cn_reply_error(s, a, rc, "bad DRAIN request body");
		return;
	}
	pr_str_copy(target, sizeof(target), q.node);
	rc = cn_membership_drain(s, target, q.grace_ms, q.generation);
	if (rc == -ENOENT)
		cn_reply_error(s, a, rc, "no node %s in %s", target,
			       s->cfg->path ? s->cfg->path : "the config");
	else if (rc == -EINVAL)
		cn_reply_error(s, a, rc,
			       "membership = etcd: DRAIN goes to %s itself",
			       target);
	else if (rc < 0)
		cn_reply_error(s, a, rc, "drain %s: etcd: %s", target,
			       strerror(-rc));
	else
		cn_reply(s, a, 0, NULL, 0);
}

uint64_t cn_membership_tick(cn_server_t *s, uint64_t now)
{
	if (s->drain != PR_DRAIN_DRAINING)
		return UINT64_MAX;
	if (now < s->drain_until)
		return s->drain_until;
	s->drain = PR_DRAIN_DRAINED;
	atomic_store(&s->m.drain_state, PR_DRAIN_DRAINED);
	sl_notice("drained: the grace period is over");
	cn_nodemap_hello(s);
	if (s->stop_when_drained)
		cn_server_stop(s);
	return UINT64_MAX;
}

/* ---- Replicas ------------------------------------------------------------ */

void cn_membership_replicate(cn_server_t *s, const cn_dataset_t *ds,
			     const char *path, const char *version,
			     uint64_t block, uint64_t point)
{
	const cn_member_t *prefs[SL_REPLICAS_MAX];
	pr_read_req_t q = {
		.dataset = pr_str(ds->name),
		.layout = ds->layout,
		.path = pr_str(path),
		.version = pr_str(version),
		.block = block,
	};
	size_t n;
	pr_buf_t b;

	if (ds->replicas < 2 || !s->map)
		return;
	n = cn_ringmap_prefs(s->map, point, prefs, ds->replicas);
	/* Only the owner hands copies on: one copy each, not a chain. */
	if (n < 2 || strcmp(prefs[0]->name, s->node_name) != 0)
		return;
	pr_buf_init(&b);
	if (pr_read_req_encode(&b, &q) == 0)
		for (size_t i = 1; i < n; i++)
			if (cn_peers_call(s->peers, prefs[i]->name,
					  prefs[i]->addr, PR_OP_REPLICATE,
					  b.data, b.len, NULL, NULL) == 0)
				atomic_fetch_add(&s->m.replicas_sent, 1);
	pr_buf_fini(&b);
}
