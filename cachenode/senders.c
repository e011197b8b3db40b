/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-sender bounds of a cache node (see senders.h).
 *
 * Why per peer.  A node answers READs with zero-copy views of its blocks,
 * and a block stays charged to the RAM tier until ZeroMQ frees the reply.
 * A client that sends 64 READs and never reads the replies therefore pins
 * 64 blocks: enough to fill a small tier and its transient slack, after
 * which every cold read of every other client waits for memory that only
 * that client's departure frees.  Requests were capped too, but for all
 * clients together: one client could use the whole allowance.  So the
 * node keeps, for each peer it is serving, what that peer has in flight,
 * and holds the peer to its own caps: requests pending; reply bytes with
 * ZeroMQ plus what its pending READs will need (reserved when a READ is
 * accepted, so that 64 READs sent at once do not all get through while
 * the peer holds nothing yet); reply messages with ZeroMQ; hints being
 * fetched.  A peer whose cap is reached stalls itself; the others go on.
 *
 * Why hold, and then refuse.  With one ROUTER socket the node must read a
 * message to learn whose it is: it cannot leave one peer's requests in
 * ZeroMQ's queue and take another's.  Stopping reading altogether (what
 * the global cap did) stalls everybody.  So every request is read; one
 * from a peer at its cap is held, in the peer's own FIFO, up to
 * max_deferred of them (and a bound for all peers' held bytes), and
 * started as soon as the peer is below its caps again -- when one of its
 * requests is answered, or when ZeroMQ frees one of its replies on its I/O
 * thread, which then wakes the event thread.  Beyond that the request is
 * answered -EAGAIN at once (a "later" status: the client tries another
 * node or comes back), unless even those answers would only pile up
 * behind replies the peer does not read: then it is dropped, and the
 * client's own timeout tells it.  A burst from a healthy client is thus
 * smoothed, not refused; a client that never reads costs the node at
 * most its caps, its held requests and ZeroMQ's send queue for it
 * (ZMQ_SNDHWM, set by the server).  A peer with nothing pending may
 * always start one request, so every client moves on, whatever the
 * others do.
 *
 * Forgetting.  An entry lives while its peer has anything in flight; the
 * last answer or freed reply makes it idle and it is removed (freed replies
 * on ZeroMQ's thread leave that to a sweep).  A peer that disconnects
 * takes its replies with it (ZeroMQ frees them), so it is forgotten too.
 * The table holds at most max_peers entries; a peer beyond is refused.
 */
#include "cachenode/senders.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/keymap.h"
#include "common/list.h"
#include "common/util.h"

struct cn_sender {
	sl_knode_t node;   /* in the table's index; key: xxh3-128 of id */
	sl_list_t holding; /* t->holding while it holds requests */
	_Atomic int refs;  /* the table's, and waiters' and replies' */
	_Atomic uint64_t out_bytes; /* reply bytes ZeroMQ holds */
	_Atomic uint32_t out_msgs;  /* replies ZeroMQ holds */
	_Atomic int waking;	    /* held requests: wake on a freed reply */
	int wake_fd;
	cn_metrics_t *m; /* borrowed from the table */
	int in_table;
	uint32_t pending;  /* event thread: requests begun, not ended */
	uint32_t hints;	   /* event thread: hints waiting or fetched */
	uint64_t reserved; /* event thread: bytes pending READs will need */
	sl_fifo_t held;	   /* event thread: held_t, oldest first */
	uint32_t n_held;
	size_t held_bytes;
	size_t id_len;
	uint8_t id[]; /* the routing identity */
};

typedef struct held {
	sl_qlink_t link;
	pr_msg_t m;
	size_t bytes;
} held_t;

struct cn_senders {
	sl_keymap_t index;
	sl_list_t holding;
	cn_sender_limits_t lim;
	size_t held_bytes; /* every held request's */
	int wake_fd;
	cn_metrics_t *m;
};

/* What ZeroMQ sends for one reply body, and whose it is. */
typedef struct ticket {
	cn_sender_t *peer; /* a reference, or NULL */
	cn_block_t *block;
	cn_metrics_t *m;
	size_t len;
	uint8_t data[];
} ticket_t;

cn_senders_t *cn_senders_new(const cn_sender_limits_t *lim, int wake_fd,
			     cn_metrics_t *m)
{
	cn_senders_t *t = sl_xcalloc(1, sizeof(*t));

	sl_keymap_init(&t->index);
	sl_list_init(&t->holding);
	t->lim = *lim;
	t->wake_fd = wake_fd;
	t->m = m;
	return t;
}

void cn_senders_set_limits(cn_senders_t *t, const cn_sender_limits_t *lim)
{
	t->lim = *lim;
}

cn_sender_t *cn_sender_ref(cn_sender_t *p)
{
	atomic_fetch_add(&p->refs, 1);
	return p;
}

void cn_sender_unref(cn_sender_t *p)
{
	if (p && atomic_fetch_sub(&p->refs, 1) == 1) {
		SL_ASSERT(p->n_held == 0);
		free(p);
	}
}

static held_t *held_of(sl_qlink_t *l)
{
	return l ? sl_container_of(l, held_t, link) : NULL;
}

static void drop_held(cn_senders_t *t, cn_sender_t *p)
{
	held_t *h;

	while ((h = held_of(sl_fifo_pop(&p->held)))) {
		t->held_bytes -= h->bytes;
		p->held_bytes -= h->bytes;
		pr_msg_close(&h->m);
		free(h);
	}
	p->n_held = 0;
}

/* Out of the table; freed with the last reference. */
static void forget(cn_senders_t *t, cn_sender_t *p)
{
	sl_keymap_remove(&t->index, &p->node);
	p->in_table = 0;
	if (!sl_list_unlinked(&p->holding))
		sl_list_del(&p->holding);
	atomic_fetch_sub(&t->m->peers, 1);
	cn_sender_unref(p);
}

static void forget_one(sl_knode_t *n, void *arg)
{
	cn_senders_t *t = arg;
	cn_sender_t *p = sl_container_of(n, cn_sender_t, node);

	drop_held(t, p);
	forget(t, p);
}

void cn_senders_destroy(cn_senders_t **tp)
{
	cn_senders_t *t = tp ? *tp : NULL;

	if (!t)
		return;
	sl_keymap_foreach(&t->index, forget_one, t);
	sl_keymap_fini(&t->index);
	free(t);
	*tp = NULL;
}

static int idle(const cn_sender_t *p)
{
	return p->pending == 0 && p->hints == 0 && p->n_held == 0 &&
	       atomic_load(&p->out_msgs) == 0;
}

void cn_senders_release(cn_senders_t *t, cn_sender_t *p)
{
	if (p->in_table && idle(p))
		forget(t, p);
}

static void release_one(sl_knode_t *n, void *arg)
{
	cn_senders_release(arg, sl_container_of(n, cn_sender_t, node));
}

void cn_senders_sweep(cn_senders_t *t)
{
	sl_keymap_foreach(&t->index, release_one, t);
}

size_t cn_senders_count(const cn_senders_t *t)
{
	return t->index.count;
}

cn_sender_t *cn_senders_get(cn_senders_t *t, zmq_msg_t *identity)
{
	const uint8_t *id = zmq_msg_data(identity);
	size_t len = zmq_msg_size(identity);
	XXH128_hash_t h = XXH3_128bits(id, len);
	sl_blockkey_t key = {.hi = h.high64, .lo = h.low64};
	sl_knode_t *n;
	cn_sender_t *p;

	for (n = sl_keymap_find(&t->index, key); n;
	     n = sl_keymap_find_next(&t->index, n)) {
		p = sl_container_of(n, cn_sender_t, node);
		if (p->id_len == len && memcmp(p->id, id, len) == 0)
			return p;
	}
	if (t->index.count >= t->lim.max_peers)
		cn_senders_sweep(t);
	if (t->index.count >= t->lim.max_peers)
		return NULL;
	p = sl_xcalloc(1, sizeof(*p) + len);
	p->node.key = key;
	sl_list_init(&p->holding);
	atomic_init(&p->refs, 1);
	p->wake_fd = t->wake_fd;
	p->m = t->m;
	p->in_table = 1;
	sl_fifo_init(&p->held);
	p->id_len = len;
	memcpy(p->id, id, len);
	sl_keymap_insert(&t->index, &p->node);
	atomic_fetch_add(&t->m->peers, 1);
	return p;
}

int cn_sender_admits(const cn_senders_t *t, const cn_sender_t *p,
		     int64_t all_pending, int64_t max_all)
{
	uint64_t out = atomic_load(&p->out_bytes);

	if (p->pending == 0 && out == 0)
		return 1;
	return p->pending < t->lim.max_pending &&
	       atomic_load(&p->out_msgs) < t->lim.max_replies &&
	       out + p->reserved < t->lim.max_bytes && all_pending < max_all;
}

int cn_sender_reads(const cn_senders_t *t, const cn_sender_t *p)
{
	return atomic_load(&p->out_msgs) < t->lim.max_replies;
}

void cn_sender_begin(cn_sender_t *p)
{
	p->pending++;
}

void cn_sender_reserve(cn_sender_t *p, uint64_t bytes)
{
	p->reserved += bytes;
}

void cn_sender_end(cn_sender_t *p, uint64_t reserved)
{
	SL_ASSERT(p->pending > 0 && p->reserved >= reserved);
	p->pending--;
	p->reserved -= reserved;
}

int cn_sender_hint_take(const cn_senders_t *t, cn_sender_t *p)
{
	if (p->hints >= t->lim.max_hints)
		return -EAGAIN;
	p->hints++;
	return 0;
}

void cn_sender_hint_add(cn_sender_t *p)
{
	p->hints++;
}

void cn_sender_hint_put(cn_sender_t *p)
{
	SL_ASSERT(p->hints > 0);
	p->hints--;
}

int cn_senders_hold(cn_senders_t *t, cn_sender_t *p, pr_msg_t *m)
{
	size_t bytes = sizeof(held_t) + zmq_msg_size(&m->identity) +
		       zmq_msg_size(&m->body);
	held_t *h;

	if (p->n_held >= t->lim.max_deferred ||
	    p->held_bytes + bytes > t->lim.max_deferred_bytes ||
	    t->held_bytes + bytes > t->lim.max_held_bytes)
		return -ENOBUFS;
	h = sl_xmalloc(sizeof(*h));
	pr_msg_init(&h->m);
	zmq_msg_move(&h->m.identity, &m->identity);
	zmq_msg_move(&h->m.body, &m->body);
	memcpy(h->m.user, m->user, sizeof(m->user));
	h->m.has_identity = m->has_identity;
	h->m.h = m->h;
	h->m.header_ok = m->header_ok;
	h->bytes = bytes;
	sl_fifo_push(&p->held, &h->link);
	p->n_held++;
	p->held_bytes += bytes;
	t->held_bytes += bytes;
	if (sl_list_unlinked(&p->holding)) {
		sl_list_add_back(&t->holding, &p->holding);
		atomic_store(&p->waking, 1);
	}
	atomic_fetch_add(&t->m->requests_held, 1);
	return 0;
}

int cn_sender_holds(const cn_sender_t *p)
{
	return p->n_held > 0;
}

int cn_senders_unhold(cn_senders_t *t, cn_sender_t *p, pr_msg_t *m)
{
	held_t *h = held_of(sl_fifo_pop(&p->held));

	if (!h)
		return -ENOENT;
	p->n_held--;
	p->held_bytes -= h->bytes;
	t->held_bytes -= h->bytes;
	if (!p->n_held) {
		atomic_store(&p->waking, 0);
		if (!sl_list_unlinked(&p->holding))
			sl_list_del(&p->holding);
	}
	pr_msg_close(m);
	zmq_msg_move(&m->identity, &h->m.identity);
	zmq_msg_move(&m->body, &h->m.body);
	memcpy(m->user, h->m.user, sizeof(m->user));
	m->has_identity = h->m.has_identity;
	m->h = h->m.h;
	m->header_ok = h->m.header_ok;
	pr_msg_close(&h->m);
	free(h);
	return 0;
}

cn_sender_t *cn_senders_next_holding(cn_senders_t *t, cn_sender_t *prev)
{
	sl_list_t *l = prev ? prev->holding.next : t->holding.next;

	return l == &t->holding ? NULL
				: sl_container_of(l, cn_sender_t, holding);
}

void *cn_ticket_new(cn_sender_t *p, cn_block_t *b, const void *bytes,
		    size_t len, void **data)
{
	ticket_t *tk = sl_xmalloc(sizeof(*tk) + (b ? 0 : len));

	tk->peer = p ? cn_sender_ref(p) : NULL;
	tk->block = b ? cn_block_ref(b) : NULL;
	tk->m = p ? p->m : NULL;
	tk->len = len;
	if (b) {
		*data = (void *)bytes;
	} else {
		if (len)
			memcpy(tk->data, bytes, len);
		*data = tk->data;
	}
	if (p) {
		atomic_fetch_add(&p->out_bytes, len);
		atomic_fetch_add(&p->out_msgs, 1);
		atomic_fetch_add(&tk->m->reply_bytes, len);
	}
	return tk;
}

void cn_ticket_free(void *data, void *hint)
{
	ticket_t *tk = hint;
	cn_sender_t *p = tk->peer;

	(void)data;
	if (tk->block)
		cn_block_unref(tk->block);
	if (p) {
		atomic_fetch_sub(&tk->m->reply_bytes, tk->len);
		atomic_fetch_sub(&p->out_bytes, tk->len);
		atomic_fetch_sub(&p->out_msgs, 1);
		if (atomic_load(&p->waking)) {
			uint64_t one = 1;

			(void)!write(p->wake_fd, &one, sizeof(one));
		}
		cn_sender_unref(p);
	}
	free(tk);
}
