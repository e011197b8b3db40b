/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Requests (see server_i.h): each STAT, LIST and READ-like body goes
 * through one prologue (decode, find the dataset, check the path again),
 * then asks the caches, and either answers at once or waits on a flight
 * whose fetch fetch.c runs.  Replies are built here too.
 *
 * Life of a READ.  One made under another layout of the dataset than the
 * node's (a block size changed on reload) is refused with -EREMCHG.  It is
 * clipped to the block and its block key (dataset, layout, path, version,
 * block index) looked up in the RAM tier.  A hit is
 * answered at once with a zero-copy view into the cached block.  A miss
 * joins the block's flight (single flight, flight.h) or creates it, after
 * asking the disk tier where the block can be had (tiering.h): a block
 * still being written to disk is answered from its bytes in memory; for
 * the rest the fetch engine fills the block from the disk or the backend
 * and answers every waiter with its own range.  A READ without a version
 * first resolves the file's current version through the metadata cache or
 * a STAT flight, then continues as above.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cachenode/server_i.h"
#include "common/log.h"
#include "common/path.h"
#include "common/util.h"
#include "proto/transport.h"

/* ---- Replies ------------------------------------------------------------- */

void cn_request_begin(cn_server_t *s, const cn_addr_t *a)
{
	atomic_fetch_add(&s->m.in_flight, 1);
	s->pending_reqs++;
	if (a->sender)
		cn_sender_begin(a->sender);
}

void cn_request_done(cn_server_t *s, const cn_addr_t *a, int status)
{
	cn_metrics_request(&s->m, a->op, status);
	atomic_fetch_sub(&s->m.in_flight, 1);
	s->pending_reqs--;
	if (s->stopping)
		s->stop_answers++;
	if (a->sender) {
		cn_sender_end(a->sender, a->reserve);
		cn_senders_release(s->senders, a->sender);
	}
}

/* Send h and len bytes at data, without copying them: from block b, or,
 * b NULL, from a copy.  Either way the reply counts against a's sender
 * until ZeroMQ has sent it (senders.h).  A whole block's body hash is
 * the block's own (cn_block_hash): hashing 4 MiB on every send cost about
 * a quarter of a node's time serving sequential readers.  pr_send's
 * result. */
static int send_reply(cn_server_t *s, const cn_addr_t *a, pr_header_t *h,
		      cn_block_t *b, const void *data, size_t len)
{
	void *tk, *bytes;

	if (!len)
		return pr_send(s->router, a->identity, h, NULL, 0,
			       ZMQ_DONTWAIT);
	tk = cn_ticket_new(a->sender, b, data, len, &bytes);
	if (b && data == cn_block_data(b) && len == cn_block_len(b))
		return pr_send_zc_hashed(s->router, a->identity, h, bytes, len,
					 cn_block_hash(b), cn_ticket_free, tk,
					 ZMQ_DONTWAIT);
	return pr_send_zc(s->router, a->identity, h, bytes, len, cn_ticket_free,
			  tk, ZMQ_DONTWAIT);
}

void cn_reply(cn_server_t *s, const cn_addr_t *a, int status, const void *body,
	      size_t len)
{
	pr_header_t h = {0};
	int rc;

	if (a->silent)
		return;
	h.opcode = a->op;
	h.flags = PR_F_REPLY;
	h.req_id = a->req_id;
	h.status = status;
	h.ring_version = s->map->version;
	h.generation = s->map->generation;
	rc = send_reply(s, a, &h, NULL, body, len);
	if (rc < 0)
		sl_log_ratelimited(SL_LOG_INFO, "reply to %s: %s",
				   pr_op_name(a->op), strerror(-rc));
	cn_request_done(s, a, status);
}

void cn_reply_error(cn_server_t *s, const cn_addr_t *a, int status,
		    const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	pr_buf_t b;

	if (a->silent)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The header carries -PR_ERRNO_MAX..-1 only: anything else would go
	 * unanswered (the encoder refuses it), so it is an EIO. */
	if (status >= 0 || status < -PR_ERRNO_MAX) {
		sl_log_ratelimited(SL_LOG_WARNING,
				   "%s request failed with status %d, not an "
				   "errno: answered EIO (%s)",
				   pr_op_name(a->op), status, msg);
		status = -EIO;
	}
	sl_log_ratelimited(SL_LOG_INFO, "%s request failed: %s (%s)",
			   pr_op_name(a->op), msg, strerror(-status));
	pr_buf_init(&b);
	pr_errmsg_encode(&b, msg);
	cn_reply(s, a, status, b.data, b.len);
	pr_buf_fini(&b);
}

void cn_reply_block(cn_server_t *s, const cn_addr_t *a, cn_dataset_t *ds,
		    cn_block_t *b, uint32_t off, uint32_t len, unsigned tier)
{
	size_t bl = cn_block_len(b);
	size_t start = SL_MIN((size_t)off, bl);
	size_t end = SL_MIN((size_t)off + len, bl);
	pr_header_t h = {0};
	int rc;

	if (a->silent)
		return;
	if (end == start) {
		cn_reply(s, a, 0, NULL, 0);
		return;
	}
	h.opcode = a->op;
	h.flags = pr_flags_with_tier(PR_F_REPLY, tier);
	h.req_id = a->req_id;
	h.ring_version = s->map->version;
	h.generation = s->map->generation;
	rc = send_reply(s, a, &h, b, cn_block_data(b) + start, end - start);
	if (rc < 0)
		sl_log_ratelimited(SL_LOG_INFO, "reply to READ: %s",
				   strerror(-rc));
	else {
		atomic_fetch_add(&s->m.bytes_served, end - start);
		atomic_fetch_add(&s->m.served[tier], 1);
		atomic_fetch_add(&s->m.served_bytes[tier], end - start);
		atomic_fetch_add(&ds->counts->served_bytes[tier], end - start);
	}
	cn_request_done(s, a, 0);
}

/*
 * The wire carries the permission bits and the entry's type, so file type
 * bits a module leaves in mode (S_IFREG | 0644) are dropped here, for STAT
 * and LIST alike, rather than refused by the encoder.
 */
pr_stat_t cn_wire_stat(const sb_stat_t *st)
{
	return (pr_stat_t){
		.type = (uint8_t)st->type,
		.mode = st->mode & 07777,
		.size = st->size,
		.mtime_ns = st->mtime_ns,
		.version = pr_str(st->version),
	};
}

void cn_reply_stat(cn_server_t *s, const cn_addr_t *a, const sb_stat_t *st)
{
	pr_stat_t ps = cn_wire_stat(st);
	pr_buf_t b;
	int rc;

	pr_buf_init(&b);
	rc = pr_stat_encode(&b, &ps);
	if (rc < 0)
		cn_reply_error(s, a, -EIO, "backend stat cannot be encoded");
	else
		cn_reply(s, a, 0, b.data, b.len);
	pr_buf_fini(&b);
}

/* ---- Requests that wait -------------------------------------------------- */

static cn_req_t *req_new(cn_server_t *s, const cn_addr_t *a)
{
	cn_req_t *r = sl_xcalloc(1, sizeof(*r));

	zmq_msg_init(&r->identity);
	if (a->identity)
		zmq_msg_copy(&r->identity, a->identity);
	r->op = a->op;
	r->req_id = a->req_id;
	r->silent = a->silent;
	r->reserve = a->reserve;
	if (a->sender)
		r->sender = cn_sender_ref(a->sender);
	if (r->silent) {
		s->silent_reqs++;
		/* A hint waiting counts against its sender until it ends. */
		if (r->sender)
			cn_sender_hint_add(r->sender);
	}
	return r;
}

/* A waiter for a block: the range it wants. */
static cn_req_t *req_range(cn_server_t *s, const cn_addr_t *a, uint64_t block,
			   uint32_t offset, uint32_t length)
{
	cn_req_t *r = req_new(s, a);

	r->block = block;
	r->offset = offset;
	r->length = length;
	return r;
}

cn_addr_t cn_req_addr(cn_req_t *r)
{
	return (cn_addr_t){&r->identity, r->op,	     r->req_id, r->silent,
			   r->sender,	 r->reserve, NULL};
}

void cn_req_release(cn_server_t *s, cn_req_t *r)
{
	if (!r)
		return;
	if (r->silent)
		s->silent_reqs--;
	if (r->sender) {
		if (r->silent)
			cn_sender_hint_put(r->sender);
		cn_senders_release(s->senders, r->sender);
		cn_sender_unref(r->sender);
	}
	zmq_msg_close(&r->identity);
	cn_dataset_unref(&r->ds);
	free(r->path);
	free(r);
}

/* ---- Serving ------------------------------------------------------------- */

/* Park a READ without a version on its file's STAT flight. */
static void wait_for_version(cn_server_t *s, const cn_addr_t *a,
			     cn_dataset_t *ds, const char *path, uint64_t block,
			     uint32_t offset, uint32_t length)
{
	cn_req_t *r = req_range(s, a, block, offset, length);
	cn_flight_t *fl;
	int created;

	r->ds = cn_dataset_ref(ds);
	r->path = sl_xstrdup(path);
	fl = cn_flights_join(s->flights, cn_stat_key(ds, path), r, &created);
	if (created)
		cn_fetch_stat(s, fl, ds, path);
}

/* The cached stat of path, or NULL.  Borrowed until the cache changes. */
static const sb_stat_t *cached_stat(cn_server_t *s, const cn_dataset_t *ds,
				    const char *path)
{
	size_t len;
	const sb_stat_t *st = cn_metacache_get(s->meta, cn_stat_key(ds, path),
					       sl_now_ms(), &len);

	return st && len == sizeof(*st) ? st : NULL;
}

void cn_serve_read(cn_server_t *s, const cn_addr_t *a, cn_dataset_t *ds,
		   const char *path, const char *version, uint64_t block,
		   uint32_t offset, uint32_t length)
{
	const sb_stat_t *st;
	int exact = 0, src = CN_SRC_BACKEND;
	uint64_t bs = ds->block_size, start, want = ds->block_size;
	cn_fill_t fill = {0};
	const cn_member_t *from;
	cn_block_t *b;
	cn_flight_t *fl;
	cn_req_t *r = NULL;
	int created;

	/* length 0: to the end of the block (PROTOCOL.md, READ). */
	if ((uint64_t)offset + length > bs) {
		cn_reply_error(s, a, -EINVAL,
			       "range %" PRIu32 "+%" PRIu32
			       " is beyond the block size %" PRIu64,
			       offset, length, bs);
		return;
	}
	if (length == 0)
		length = (uint32_t)(bs - offset);
	if (block > (uint64_t)INT64_MAX / bs) {
		cn_reply_error(s, a, -EINVAL,
			       "block index %" PRIu64 " out of range", block);
		return;
	}
	start = block * bs;
	st = cached_stat(s, ds, path);
	if (!*version) {
		if (!st) {
			wait_for_version(s, a, ds, path, block, offset, length);
			return;
		}
		version = st->version;
	}
	if (st && strcmp(st->version, version) == 0) {
		if (st->type == SB_TYPE_DIR) {
			cn_reply_error(s, a, -EISDIR, "%s: is a directory",
				       path);
			return;
		}
		if (start >= st->size) {
			cn_reply(s, a, 0, NULL, 0); /* past EOF */
			return;
		}
		want = SL_MIN(bs, st->size - start);
		exact = 1;
	}
	fill.key = sl_blockkey_make(ds->name, ds->layout, path, version, block);
	b = cn_ramtier_get(s->tier, fill.key);
	if (b) {
		if (!a->silent)
			atomic_fetch_add(&s->m.ram_hits, 1);
		cn_reply_block(s, a, ds, b, offset, length, PR_TIER_RAM);
		cn_block_unref(b);
		return;
	}
	if (!a->silent)
		atomic_fetch_add(&s->m.ram_misses, 1);
	/* A block in flight is not looked for on disk: it is joined. */
	if (!cn_flights_find(s->flights, fill.key))
		src = cn_tiering_lookup(s->tiers, &fill, want, exact, &b);
	if (src == CN_SRC_MEM) {
		if (!a->silent)
			atomic_fetch_add(&s->m.disk_hits, 1);
		cn_reply_block(s, a, ds, b, offset, length, PR_TIER_DISK);
		cn_block_unref(b);
		return;
	}
	if (!a->silent)
		r = req_range(s, a, block, offset, length);
	fl = cn_flights_join(s->flights, fill.key, r, &created);
	if (!created) {
		if (r)
			atomic_fetch_add(&s->m.flight_joins, 1);
		return;
	}
	/* The ring changed and the block came with it: its previous owner
	 * is asked before the backend (membership.c). */
	from = fill.src == CN_SRC_BACKEND
		       ? cn_membership_prev_owner(s, fill.key.lo)
		       : NULL;
	if (from)
		fill.src = CN_SRC_PEER;
	cn_fetch_read(s, fl, ds, path, version, block, &fill, 0, from,
		      a->silent ? a->sender : NULL);
}

/*
 * Answer a from the metadata cache (key) or join the flight that fetches
 * it: 0, or -EAGAIN when the caller must start the fetch of *flp, a new
 * flight.
 */
static int meta_or_flight(cn_server_t *s, const cn_addr_t *a, sl_blockkey_t key,
			  int stat, cn_flight_t **flp)
{
	size_t len;
	const void *v = cn_metacache_get(s->meta, key, sl_now_ms(), &len);
	int created;

	if (v && (!stat || len == sizeof(sb_stat_t))) {
		atomic_fetch_add(&s->m.meta_hits, 1);
		if (stat)
			cn_reply_stat(s, a, v);
		else
			cn_reply(s, a, 0, v, len);
		return 0;
	}
	atomic_fetch_add(&s->m.meta_misses, 1);
	*flp = cn_flights_join(s->flights, key, req_new(s, a), &created);
	if (!created) {
		atomic_fetch_add(&s->m.flight_joins, 1);
		return 0;
	}
	return -EAGAIN;
}

static void serve_stat(cn_server_t *s, const cn_addr_t *a, cn_dataset_t *ds,
		       const char *path)
{
	cn_flight_t *fl;

	if (meta_or_flight(s, a, cn_stat_key(ds, path), 1, &fl) < 0)
		cn_fetch_stat(s, fl, ds, path);
}

/* cursor is the wire's; the backend gets its own bytes back
 * (sl_cursor_decode: one wire form each, so either keys the cache). */
static void serve_list(cn_server_t *s, const cn_addr_t *a, cn_dataset_t *ds,
		       const char *path, const char *cursor, uint32_t max)
{
	sl_blockkey_t key =
		cn_metacache_key(CN_META_LIST, ds->name, path, cursor, max);
	char raw[SB_CURSOR_MAX + 1];
	cn_flight_t *fl;

	if (sl_cursor_decode(cursor, strlen(cursor), raw, sizeof(raw)) < 0) {
		cn_reply_error(s, a, -EINVAL, "unusable cursor");
		return;
	}
	if (meta_or_flight(s, a, key, 0, &fl) < 0)
		cn_fetch_list(s, fl, ds, path, raw, max);
}

/* PEER_READ: from the cache (RAM or disk) only, never the backend
 * (-ENODATA).  A block on disk gets a flight of its own, read from the
 * disk; later READs of the block may join it. */
static void peer_read(cn_server_t *s, const cn_addr_t *a, cn_dataset_t *ds,
		      const char *path, const char *version, uint64_t block,
		      uint32_t offset, uint32_t length)
{
	const sb_stat_t *st = NULL;
	cn_fill_t fill = {0};
	cn_block_t *b = NULL;
	cn_flight_t *fl;
	int created;

	if ((uint64_t)offset + length > ds->block_size) {
		cn_reply_error(s, a, -EINVAL, "range beyond the block size");
		return;
	}
	if (length == 0)
		length = ds->block_size - offset;
	if (!*version) {
		st = cached_stat(s, ds, path);
		if (st && st->type == SB_TYPE_FILE)
			version = st->version;
	}
	if (*version) {
		fill.key = sl_blockkey_make(ds->name, ds->layout, path, version,
					    block);
		b = cn_ramtier_get(s->tier, fill.key);
		if (!b && !cn_flights_find(s->flights, fill.key) &&
		    cn_tiering_lookup(s->tiers, &fill, ds->block_size, 0, &b) ==
			    CN_SRC_DISK) {
			fl = cn_flights_join(
				s->flights, fill.key,
				req_range(s, a, block, offset, length),
				&created);
			SL_ASSERT(created); /* no flight, checked above */
			atomic_fetch_add(&s->m.peer_reads_served, 1);
			cn_fetch_read(s, fl, ds, path, version, block, &fill, 1,
				      NULL, NULL);
			return;
		}
	}
	if (!b) {
		atomic_fetch_add(&s->m.peer_reads_failed, 1);
		cn_reply_error(s, a, -ENODATA,
			       "%s block %" PRIu64 " is not cached here", path,
			       block);
		return;
	}
	atomic_fetch_add(&s->m.peer_reads_served, 1);
	cn_reply_block(s, a, ds, b, offset, length, PR_TIER_RAM);
	cn_block_unref(b);
}

/* REPLICATE: the owner of a block of a dataset with replicas fetched it;
 * take a copy from it (its PEER_READ), never from the backend.  Nothing
 * when the block is here already or on its way.  The copy counts as a
 * hint of sender (borrowed; NULL: counted nowhere) until it is in. */
static void replicate(cn_server_t *s, cn_dataset_t *ds, const char *path,
		      const char *version, uint64_t block, cn_sender_t *sender)
{
	cn_fill_t fill = {0};
	const cn_member_t *owner;
	cn_block_t *b = NULL;
	cn_flight_t *fl;
	int created;

	if (!*version || ds->replicas < 2)
		return;
	fill.key = sl_blockkey_make(ds->name, ds->layout, path, version, block);
	owner = cn_ringmap_owner(s->map, fill.key.lo);
	if (!owner || strcmp(owner->name, s->node_name) == 0)
		return;
	b = cn_ramtier_get(s->tier, fill.key);
	if (b || cn_flights_find(s->flights, fill.key) ||
	    cn_tiering_lookup(s->tiers, &fill, ds->block_size, 0, &b) !=
		    CN_SRC_BACKEND) {
		if (b)
			cn_block_unref(b);
		return;
	}
	atomic_fetch_add(&s->m.replicas_received, 1);
	fill.src = CN_SRC_PEER;
	fl = cn_flights_join(s->flights, fill.key, NULL, &created);
	SL_ASSERT(created);
	cn_fetch_read(s, fl, ds, path, version, block, &fill, 1, owner, sender);
}

/* ---- Request bodies ------------------------------------------------------ */

/* A decoded request on a dataset's path. */
typedef union path_req {
	pr_target_t stat;
	pr_list_req_t list;
	pr_read_req_t read; /* READ, PREFETCH, PEER_READ */
} path_req_t;

/*
 * What every request on a dataset's path starts with: decode the body as
 * a->op says into q, find the dataset named and copy the path into path
 * (PR_MAX_PATH + 1 bytes), checking it again (defence in depth).  0, or
 * -errno after an error reply.
 */
static int prologue(cn_server_t *s, const cn_addr_t *a, const void *body,
		    size_t len, path_req_t *q, cn_dataset_t **ds, char *path)
{
	pr_str_t name, p;
	int rc;

	if (a->op == PR_OP_STAT) {
		rc = pr_target_decode(&q->stat, body, len);
		name = q->stat.dataset;
		p = q->stat.path;
	} else if (a->op == PR_OP_LIST) {
		rc = pr_list_req_decode(&q->list, body, len);
		name = q->list.dataset;
		p = q->list.path;
	} else {
		rc = pr_read_req_decode(&q->read, body, len);
		name = q->read.dataset;
		p = q->read.path;
	}
	if (rc < 0) {
		cn_reply_error(s, a, rc, "bad %s request body",
			       pr_op_name(a->op));
		return rc;
	}
	*ds = cn_nodemap_dataset(s, name);
	if (!*ds) {
		cn_reply_error(s, a, -ENOENT, "no dataset '%.*s' on this node",
			       (int)SL_MIN(name.len, 64u), name.ptr);
		return -ENOENT;
	}
	if (a->user &&
	    !cn_dataset_allows(s, a->user,
			       sl_config_dataset(s->cfg, (*ds)->name))) {
		atomic_fetch_add(&s->m.access_denied, 1);
		cn_reply_error(s, a, -EACCES, "key '%s' may not read %s",
			       a->user, (*ds)->name);
		return -EACCES;
	}
	rc = pr_str_copy(path, PR_MAX_PATH + 1, p);
	if (rc == 0)
		rc = sl_path_check(p.len ? p.ptr : "", p.len);
	if (rc < 0)
		cn_reply_error(s, a, rc, "bad path");
	return rc;
}

/* READ, PREFETCH and PEER_READ of q (decoded). */
static void handle_read(cn_server_t *s, cn_addr_t *a, cn_dataset_t *ds,
			const char *path, pr_read_req_t *q)
{
	char version[PR_MAX_VERSION + 1];
	cn_sender_t *p = a->sender;

	/* Block N means what the asker's layout says: with another block
	 * size it is other bytes, so a request made under a layout this
	 * node no longer serves is refused, never answered with them. */
	if (q->layout != ds->layout) {
		cn_reply_error(s, a, -EREMCHG,
			       "dataset %s: layout %08" PRIx32
			       " is not this node's (%08" PRIx32
			       ", block size %" PRIu32 "): fetch the map again",
			       ds->name, q->layout, ds->layout, ds->block_size);
		return;
	}
	pr_str_copy(version, sizeof(version), q->version);
	if (a->op == PR_OP_PREFETCH || a->op == PR_OP_REPLICATE) {
		/* A hint (a REPLICATE is one from the block's owner):
		 * acknowledge now, fetch the whole block in the background.
		 * Its slot, taken first, keeps the sender while the
		 * acknowledgement ends the request. */
		int slot = p ? cn_sender_hint_take(s->senders, p) : 0;

		cn_reply(s, a, 0, NULL, 0);
		if (slot < 0 || s->n_live + s->silent_reqs >= CN_MAX_PENDING) {
			sl_log_ratelimited(SL_LOG_INFO,
					   "%s backlog full: hint dropped",
					   pr_op_name(a->op));
			if (slot == 0 && p) {
				cn_sender_hint_put(p);
				cn_senders_release(s->senders, p);
			}
			return;
		}
		if (a->op == PR_OP_REPLICATE) {
			replicate(s, ds, path, version, q->block, p);
			if (p) {
				cn_sender_hint_put(p);
				cn_senders_release(s->senders, p);
			}
			return;
		}
		a->silent = 1;
		a->reserve = 0;
		q->offset = 0;
		q->length = 0;
		cn_serve_read(s, a, ds, path, version, q->block, q->offset,
			      q->length);
		if (p) {
			cn_sender_hint_put(p);
			cn_senders_release(s->senders, p);
		}
		return;
	}
	/* What the reply will take, counted against the sender until then
	 * (a PEER_READ's too: a node asking is a sender like a client). */
	a->reserve = q->length ? q->length : ds->block_size;
	if (p)
		cn_sender_reserve(p, a->reserve);
	if (a->op == PR_OP_PEER_READ) {
		peer_read(s, a, ds, path, version, q->block, q->offset,
			  q->length);
		return;
	}
	cn_serve_read(s, a, ds, path, version, q->block, q->offset, q->length);
}

void cn_handle_path(cn_server_t *s, cn_addr_t *a, const void *body, size_t len)
{
	char path[PR_MAX_PATH + 1], cursor[PR_MAX_CURSOR + 1];
	path_req_t q;
	cn_dataset_t *ds;

	if (prologue(s, a, body, len, &q, &ds, path) < 0)
		return;
	if (a->op == PR_OP_STAT) {
		serve_stat(s, a, ds, path);
	} else if (a->op == PR_OP_LIST) {
		pr_str_copy(cursor, sizeof(cursor), q.list.cursor);
		serve_list(s, a, ds, path, cursor,
			   SL_MIN(q.list.max_entries,
				  (uint32_t)PR_MAX_LIST_ENTRIES));
	} else {
		handle_read(s, a, ds, path, &q.read);
	}
}

struct stats_acc {
	pr_stats_item_t *items;
	char **names;
	size_t n, cap;
};

static void stats_add(void *arg, const char *name, uint64_t value)
{
	struct stats_acc *acc = arg;

	if (acc->n == PR_MAX_STATS)
		return;
	if (acc->n == acc->cap) {
		acc->cap = acc->cap ? 2 * acc->cap : 64;
		acc->items =
			sl_xrealloc(acc->items, acc->cap * sizeof(*acc->items));
		acc->names =
			sl_xrealloc(acc->names, acc->cap * sizeof(*acc->names));
	}
	acc->names[acc->n] =
		sl_xstrndup(name, SL_MIN(strlen(name), (size_t)PR_MAX_NAME));
	acc->items[acc->n].name = pr_str(acc->names[acc->n]);
	acc->items[acc->n].value = value;
	acc->n++;
}

void cn_handle_stats(cn_server_t *s, const cn_addr_t *a)
{
	struct stats_acc acc = {0};
	pr_stats_t st;
	pr_buf_t b;
	int rc;

	/* Count this request first, so a STATS reply sees itself. */
	cn_metrics_foreach(&s->m, stats_add, &acc);
	st.n_items = (uint32_t)acc.n;
	st.items = acc.items;
	pr_buf_init(&b);
	rc = pr_stats_encode(&b, &st);
	if (rc < 0)
		cn_reply_error(s, a, rc, "stats cannot be encoded");
	else
		cn_reply(s, a, 0, b.data, b.len);
	pr_buf_fini(&b);
	for (size_t i = 0; i < acc.n; i++)
		free(acc.names[i]);
	free(acc.names);
	free(acc.items);
}
