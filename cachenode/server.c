/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The cache node's event loop, life cycle and dispatch (see server.h; the
 * other parts of the server are listed in server_i.h).
 *
 * One thread runs the loop: it polls the ROUTER socket, the workers'
 * completion eventfd, the disk tier's, its own wake-up eventfd (a stop, or
 * memory freed while READs wait for buffers) and a caller's hook (the
 * signalfd).  Requests are decoded and dispatched by opcode; finished
 * fetches are answered; READs parked for memory are retried every
 * RETRY_MS as well as on wake-ups.  Only this thread touches the index,
 * the flights, the metadata cache and the fetch queues, so none of them
 * has a lock.
 *
 * Back-pressure is per sender (senders.c): the loop reads every message,
 * and a sender at its caps has its next requests held, then refused;
 * ZeroMQ's queue per sender is bounded both ways (ZMQ_RCVHWM,
 * ZMQ_SNDHWM), so one client (or peer node) that floods or stops reading
 * stalls only itself.  The loop also polls the sockets of this node's own
 * calls to its peers (peers.c) and etcd's view (membership.c).
 *
 * Stopping: new requests get -ESHUTDOWN while the fetches in flight get
 * drain_ms to finish; then whoever still waits is answered -ESHUTDOWN.
 */
#include "cachenode/server.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zmq.h>

#include "cachenode/gate.h"
#include "cachenode/load.h"
#include "cachenode/server_i.h"
#include "common/log.h"
#include "common/util.h"
#include "proto/transport.h"

#define MAX_REQ_FRAME CN_MAX_REQ_BODY /* ZMQ_MAXMSGSIZE: PROTOCOL.md, 1 */
#define RECV_BATCH    256	      /* messages per turn of the loop */
/* ZeroMQ's queues per peer, in messages: requests not read yet, replies
 * not sent yet (above a sender's pending and reply caps together, senders.c,
 * so that only acknowledgements without a body, which no cap counts, can
 * ever find it full: they are dropped then). */
#define PEER_RCVHWM 256
#define PEER_SNDHWM 4096
#define SWEEP_MS    1000 /* forget idle peers at least this often */
#define RECOUNT_MS  5000 /* the per-dataset gauges, this often */
/* One incoming message, as the gate sees it before ZeroMQ keeps it:
 * PROTOCOL.md allows two frames, header and body; up to 4 still get
 * their -EBADMSG, more get the connection cut.  And the connections at
 * once (one per client, as the peers). */
#define GATE_MAX_FRAMES 4
#define GATE_MAX_CONNS	4096
#define DRAIN_MS	5000
#define LINGER_MS	1000
/* After the drain, the rest of the stop (replies leaving, disk writes,
 * the workers) gets this long; a backend call still running then is left
 * behind (cn_server_destroy). */
#define STOP_GRACE_MS 2000
/* A node that answered anything while stopping keeps its connections
 * this long after its last fetch before it closes them.  A client whose
 * connection ends right behind a reply can lose the reply: its ZeroMQ
 * socket is ZMQ_IMMEDIATE, which tears down the pipe of a connection that
 * drops, and a reply not yet read from it went with it (about one stop in
 * six under load, it_cachenode's stuck-backend case; a capture showed the
 * reply on the wire with the FIN 0.1 ms behind).  The client would wait
 * its request_timeout and try another node; the pause lets it read. */
#define FAREWELL_MS 250
#define RETRY_MS    100 /* re-check parked fetches this often */

/* ---- Dispatch ------------------------------------------------------------ */

static void resume_held(cn_server_t *s);

static void begin_stop(cn_server_t *s)
{
	s->stopping = 1;
	s->drain_deadline_ms = sl_now_ms() + s->opts.drain_ms;
	/* No zmq_unbind(): it also drops the connections accepted through
	 * the endpoint, and with them the replies still owed.  New requests
	 * get -ESHUTDOWN instead (handle()). */
	cn_fetch_fail_queued(s, 1);
	resume_held(s); /* held requests: -ESHUTDOWN */
	cn_loads_cancel(s);
	/* Out of every etcd view now, not when the lease runs out. */
	if (s->members)
		sl_members_deregister(s->members);
	sl_notice("stopping: %zu fetches in flight",
		  cn_flights_count(s->flights));
}

/* Answer a request m (from peer p, NULL: counted nowhere) -err, not
 * served. */
static void refuse(cn_server_t *s, pr_msg_t *m, cn_sender_t *p, int err,
		   const char *why)
{
	cn_addr_t a = {&m->identity, m->h.opcode, m->h.req_id, 0, p, 0, NULL};

	cn_request_begin(s, &a);
	cn_reply_error(s, &a, err, "%s", why);
}

/* Under CURVE: whether m's key may ask what it asks -- still on the
 * allow-list (a key removed by SIGHUP is refused from then on), and a
 * node's own key for what only nodes ask each other. */
static int permitted(cn_server_t *s, const pr_msg_t *m)
{
	static const char node[] = CN_ZAP_NODE_PREFIX;

	if (!s->zap)
		return 1;
	if (!m->user[0] || !cn_zap_admits(s->zap, m->user))
		return 0;
	if (m->h.opcode == PR_OP_PEER_READ || m->h.opcode == PR_OP_REPLICATE)
		return strncmp(m->user, node, sizeof(node) - 1) == 0;
	return 1;
}

/* Serve request m of peer p (a message that is no reply). */
static void handle(cn_server_t *s, pr_msg_t *m, cn_sender_t *p)
{
	cn_addr_t a = {&m->identity, m->h.opcode, m->h.req_id, 0, p, 0, NULL};
	const void *body = pr_msg_body(m);
	size_t len = pr_msg_body_len(m), raw;
	int rc;

	a.user = m->user;
	cn_request_begin(s, &a);
	if (!permitted(s, m)) {
		atomic_fetch_add(&s->m.access_denied, 1);
		cn_reply_error(s, &a, -EACCES, "key '%s' may not ask %s",
			       m->user[0] ? m->user : "(none)",
			       pr_op_name(m->h.opcode));
		return;
	}
	/* A request sent after cn_server_stop() returned sees the stop. */
	if (!s->stopping && atomic_load(&s->stop_requested))
		begin_stop(s);
	if (s->stopping) {
		cn_reply_error(s, &a, -ESHUTDOWN, "node %s is shutting down",
			       s->node_name);
		return;
	}
	if (m->h.flags & PR_F_LZ4) {
		rc = pr_lz4_unpack(body, len, s->scratch, sizeof(s->scratch),
				   &raw);
		if (rc < 0) {
			atomic_fetch_add(&s->m.bad_messages, 1);
			cn_reply_error(s, &a, rc, "bad LZ4 request body");
			return;
		}
		body = s->scratch;
		len = raw;
	}
	if ((m->h.opcode == PR_OP_HELLO || m->h.opcode == PR_OP_STATS) && len) {
		cn_reply_error(s, &a, -EBADMSG, "%s takes no body",
			       pr_op_name(m->h.opcode));
		return;
	}
	switch (m->h.opcode) {
	case PR_OP_HELLO: {
		uint8_t *mine; /* the datasets this key may see */

		rc = cn_nodemap_hello_for(s, m->user, &mine, &raw);
		if (!s->hello || rc < 0)
			cn_reply_error(s, &a, -EMSGSIZE,
				       "cluster map too large");
		else if (mine)
			cn_reply(s, &a, 0, mine, raw);
		else
			cn_reply(s, &a, 0, s->hello, s->hello_len);
		free(mine);
		break;
	}
	case PR_OP_STAT:
	case PR_OP_LIST:
	case PR_OP_READ:
	case PR_OP_PREFETCH:
	case PR_OP_PEER_READ:
	case PR_OP_REPLICATE:
		cn_handle_path(s, &a, body, len);
		break;
	case PR_OP_DRAIN:
		cn_handle_drain(s, &a, body, len);
		break;
	case PR_OP_STATS:
		cn_handle_stats(s, &a);
		break;
	case PR_OP_LOAD:
		cn_handle_load(s, &a, body, len);
		break;
	case PR_OP_EVICT:
		cn_handle_evict(s, &a, body, len);
		break;
	case PR_OP_HELD:
		cn_handle_held(s, &a, body, len);
		break;
	default:
		cn_reply_error(s, &a, -EOPNOTSUPP, "op %u (%s) not supported",
			       m->h.opcode, pr_op_name(m->h.opcode));
		break;
	}
}

/*
 * A request m read off the socket: served now, held until its peer is
 * below its caps, refused -EAGAIN, or dropped (senders.c says why).
 */
static void take(cn_server_t *s, pr_msg_t *m)
{
	cn_sender_t *p;

	if (m->h.flags & PR_F_REPLY) {
		/* Never answer a reply: two peers would bounce forever. */
		atomic_fetch_add(&s->m.bad_messages, 1);
		sl_log_ratelimited(SL_LOG_NOTICE,
				   "dropped a reply sent to the node");
		return;
	}
	p = cn_senders_get(s->senders, &m->identity);
	if (!p) {
		atomic_fetch_add(&s->m.requests_busy, 1);
		refuse(s, m, NULL, -EAGAIN, "too many clients in flight");
		return;
	}
	if (s->stopping || (!cn_sender_holds(p) &&
			    cn_sender_admits(s->senders, p, s->pending_reqs,
					     CN_MAX_PENDING))) {
		handle(s, m, p);
		return;
	}
	if (cn_senders_hold(s->senders, p, m) == 0)
		return;
	if (!cn_sender_reads(s->senders, p)) {
		atomic_fetch_add(&s->m.requests_dropped, 1);
		cn_senders_release(s->senders, p);
		return;
	}
	atomic_fetch_add(&s->m.requests_busy, 1);
	refuse(s, m, p, -EAGAIN,
	       "too many requests in flight from this client");
}

/* Start the requests peers hold while their caps allow (and all of them,
 * to be refused, once stopping). */
static void resume_held(cn_server_t *s)
{
	cn_sender_t *p, *next;
	pr_msg_t m;

	pr_msg_init(&m);
	for (p = cn_senders_next_holding(s->senders, NULL); p; p = next) {
		/* Taken before p's requests run: they may end p's hold. */
		next = cn_senders_next_holding(s->senders, p);
		cn_sender_ref(p);
		while ((s->stopping ||
			cn_sender_admits(s->senders, p, s->pending_reqs,
					 CN_MAX_PENDING)) &&
		       cn_senders_unhold(s->senders, p, &m) == 0)
			handle(s, &m, p);
		cn_sender_unref(p);
	}
	pr_msg_close(&m);
}

static int drain_socket(cn_server_t *s)
{
	pr_msg_t m;
	int rc = 0;

	pr_msg_init(&m);
	for (int i = 0; i < RECV_BATCH; i++) {
		rc = pr_recv(s->router, &m, 1, ZMQ_DONTWAIT);
		if (rc == -EAGAIN || rc == -EINTR) {
			rc = 0;
			break;
		}
		if (rc == -ETERM)
			break;
		if (rc < 0) {
			atomic_fetch_add(&s->m.bad_messages, 1);
			sl_log_ratelimited(SL_LOG_NOTICE,
					   "bad message from a peer: %s",
					   strerror(-rc));
			if (m.header_ok && !(m.h.flags & PR_F_REPLY)) {
				cn_sender_t *p =
					cn_senders_get(s->senders, &m.identity);

				if (!p || cn_sender_reads(s->senders, p))
					refuse(s, &m, p, rc,
					       "malformed message");
				else if (p)
					cn_senders_release(s->senders, p);
			}
			rc = 0;
			continue;
		}
		take(s, &m);
	}
	pr_msg_close(&m);
	return rc;
}

/* ---- Life cycle ---------------------------------------------------------- */

/* The socket, bound to the node's addr: 0, or -1 with err. */
static int open_socket(cn_server_t *s, char *err, size_t errlen)
{
	int zero = 0, one = 1, rcvhwm = PEER_RCVHWM, sndhwm = PEER_SNDHWM;
	int64_t maxmsg = MAX_REQ_FRAME;
	cn_gate_limits_t gate = {
		.max_frames = GATE_MAX_FRAMES,
		.max_bytes = PR_HEADER_SIZE + CN_MAX_REQ_BODY,
		.max_command = CN_MAX_REQ_BODY,
		.max_conns = GATE_MAX_CONNS,
	};
	size_t elen = sizeof(s->endpoint);

	if (sl_keys_check_exposure(s->cfg, s->node, err, errlen) < 0)
		return -1;
	s->keys = sl_keyring_new(s->cfg, s->node_name, err, errlen);
	if (!s->keys)
		return -1;
	gate.curve = sl_keyring_on(s->keys);
	s->zctx = zmq_ctx_new();
	if (!s->zctx) {
		snprintf(err, errlen, "zmq_ctx_new: %s", zmq_strerror(errno));
		return -1;
	}
	s->router = zmq_socket(s->zctx, ZMQ_ROUTER);
	if (!s->router) {
		snprintf(err, errlen, "zmq_socket: %s", zmq_strerror(errno));
		return -1;
	}
	zmq_setsockopt(s->router, ZMQ_LINGER, &zero, sizeof(zero));
	/* A frame over the largest request cuts its peer off.  Per peer,
	 * at most PEER_RCVHWM messages wait to be read and PEER_SNDHWM
	 * replies to be sent; a reply to a full queue (or a peer gone) fails
	 * with -EAGAIN (-EHOSTUNREACH) instead of vanishing unseen. */
	if (zmq_setsockopt(s->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof(maxmsg)) <
		    0 ||
	    zmq_setsockopt(s->router, ZMQ_RCVHWM, &rcvhwm, sizeof(rcvhwm)) <
		    0 ||
	    zmq_setsockopt(s->router, ZMQ_SNDHWM, &sndhwm, sizeof(sndhwm)) <
		    0 ||
	    zmq_setsockopt(s->router, ZMQ_ROUTER_MANDATORY, &one, sizeof(one)) <
		    0) {
		snprintf(err, errlen, "zmq_setsockopt: %s",
			 zmq_strerror(errno));
		return -1;
	}
	/* The ZAP handler is bound before the socket, so that no handshake
	 * finds it missing (libzmq would then admit every key). */
	if (sl_keyring_on(s->keys)) {
		s->zap = cn_zap_new(s->zctx, s->cfg, &s->m, err, errlen);
		if (!s->zap)
			return -1;
		if (sl_keyring_server(s->keys, s->router) < 0) {
			snprintf(err, errlen, "CURVE: %s", zmq_strerror(errno));
			return -1;
		}
	}
	/* Watched before the bind, so that no connection comes in unseen.
	 * An inproc endpoint (tests) has no bytes to follow. */
	s->gated = cn_gate_watch(s->node->addr, &gate, &s->m) == 0;
	if (zmq_bind(s->router, s->node->addr) < 0) {
		snprintf(err, errlen, "cannot bind %s: %s", s->node->addr,
			 zmq_strerror(errno));
		return -1;
	}
	if (zmq_getsockopt(s->router, ZMQ_LAST_ENDPOINT, s->endpoint, &elen) <
	    0)
		sl_strlcpy(s->endpoint, s->node->addr, sizeof(s->endpoint));
	return 0;
}

void cn_server_reload_keys(cn_server_t *s)
{
	char err[512];
	sl_keyring_t *k;
	int removed;

	if ((s->cfg->security == SL_SECURITY_CURVE) != (s->zap != NULL))
		sl_warn("reload: security changes take effect on restart");
	if (!s->zap)
		return;
	/* Peer sockets opened from now on use the new node keys. */
	k = sl_keyring_new(s->cfg, s->node_name, err, sizeof(err));
	if (!k) {
		sl_err("reload: keeping the old keys: %s", err);
		return;
	}
	cn_peers_set_keys(s->peers, k);
	sl_keyring_destroy(&s->keys);
	s->keys = k;
	removed = cn_zap_load(s->zap, s->cfg, err, sizeof(err));
	if (removed < 0) {
		sl_err("reload: keeping the old allow-list: %s", err);
		return;
	}
	if (removed == 0)
		return;
	/* Their requests are refused from now on (permitted()); their
	 * connections are closed, everyone's, as only the handshake knew
	 * which carried them: allowed keys connect again. */
	sl_notice("reload: %d keys removed from the allow-list; closed %zu "
		  "connections",
		  removed, s->gated ? cn_gate_cut_all(s->endpoint) : 0);
}

/* The backend registry with the caller's built-ins: 0, or -1 with err. */
static int open_backends(cn_server_t *s, char *err, size_t errlen)
{
	char *dir = s->cfg->module_dir ? sl_xstrdup(s->cfg->module_dir)
				       : cn_backends_default_dir();

	s->backends = cn_backends_new(dir);
	free(dir);
	for (size_t i = 0; i < s->opts.n_builtins; i++) {
		if (cn_backends_add_builtin(s->backends, s->opts.builtins[i]) <
		    0) {
			snprintf(err, errlen,
				 "built-in backend %zu is malformed", i);
			return -1;
		}
	}
	return 0;
}

/* The series other modules keep (metrics.h): the per-dataset gauges and
 * policy = auto's choices.  HTTP or event thread; both lock their own. */
static void extra_emit(void *arg, cn_metrics_emit_fn *emit, void *ctx)
{
	cn_server_t *s = arg;

	cn_dsstats_emit(s->dss, emit, ctx);
	cn_autopol_emit(s->autopol, emit, ctx);
}

/* The smallest block of the datasets served now (the ghost's unit); a
 * reload keeps the ghost the node started with. */
static uint64_t min_block_size(const cn_server_t *s)
{
	uint64_t m = SL_BLOCK_SIZE_MAX;

	for (size_t i = 0; i < s->n_ds; i++)
		m = SL_MIN(m, (uint64_t)s->ds[i]->block_size);
	return m;
}

cn_server_t *cn_server_new(sl_config_t *cfg, const char *node,
			   const cn_server_opts_t *opts, char *err,
			   size_t errlen)
{
	cn_server_t *s = sl_xcalloc(1, sizeof(*s));
	uint64_t blocks, slack, meta;
	int rc;

	s->cfg = cfg;
	s->wake_fd = -1;
	s->hook_fd = -1;
	s->next_ds_id = 1;
	cn_metrics_init(&s->m);
	if (opts)
		s->opts = *opts;
	if (!s->opts.drain_ms)
		s->opts.drain_ms = DRAIN_MS;
	s->node = sl_config_node(cfg, node);
	if (!s->node) {
		snprintf(err, errlen, "%s: no node named '%s'",
			 cfg->path ? cfg->path : "config", node);
		goto out_err;
	}
	sl_strlcpy(s->node_name, node, sizeof(s->node_name));
	cn_fetch_init(s);
	if (cn_policy_check_extra(s->opts.policies, s->opts.n_policies) < 0) {
		snprintf(err, errlen, "the extra policies are malformed");
		goto out_err;
	}
	if (open_backends(s, err, errlen) < 0 ||
	    cn_nodemap_open(s, err, errlen) < 0)
		goto out_err;

	cn_nodemap_budgets(s, &blocks, &slack, &meta);
	s->tier = cn_ramtier_new(blocks, slack, &s->m);
	s->meta = cn_metacache_new(meta, CN_META_ENTRIES, &s->m);
	atomic_store(&s->m.ram_capacity, s->node->ram_capacity);
	s->flights = cn_flights_new();

	s->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->wake_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto out_err;
	}
	cn_ramtier_set_wake_fd(s->tier, s->wake_fd);
	s->loads = cn_loads_new(&rc);
	if (!s->loads) {
		snprintf(err, errlen, "eventfd: %s", strerror(-rc));
		goto out_err;
	}
	{
		cn_sender_limits_t lim;

		cn_nodemap_sender_limits(s, &lim);
		s->senders = cn_senders_new(&lim, s->wake_fd, &s->m);
	}
	s->workers = cn_workers_new(s->node->workers, &rc);
	if (!s->workers) {
		snprintf(err, errlen, "cannot start %u workers: %s",
			 s->node->workers, strerror(-rc));
		goto out_err;
	}
	if (s->node->disk_path && cn_nodemap_open_disk(s, err, errlen) < 0)
		goto out_err;
	s->tiers = cn_tiering_new(s->tier, s->disk, &s->m);
	cn_tiering_set_datasets(s->tiers, s->ds, s->n_ds);
	s->dss = cn_dsstats_new();
	cn_server_recount(s);
	s->autopol = cn_autopol_new();
	cn_server_autopolicy(s, "the start");
	s->dss_hook = (cn_metrics_extra_t){extra_emit, s};
	s->m.extra = &s->dss_hook;
	s->ghost = cn_ghost_new(cn_ghost_entries_for(
		s->node->ram_capacity + (s->disk ? s->node->disk_capacity : 0),
		min_block_size(s)));
	atomic_store(&s->m.ghost_slots, cn_ghost_slots(s->ghost));
	atomic_store(&s->m.ghost_bytes, cn_ghost_bytes(s->ghost));

	if (open_socket(s, err, errlen) < 0 ||
	    cn_membership_open(s, err, errlen) < 0)
		goto out_err;
	cn_peers_set_keys(s->peers, s->keys);
	if (s->node->metrics_addr[0] && !s->opts.no_metrics_http) {
		s->http = cn_metrics_http_start(&s->m, s->node->metrics_addr,
						err, errlen);
		if (!s->http)
			goto out_err;
	}
	sl_notice("node %s serving %s: %zu datasets, ram_capacity %" PRIu64
		  " bytes, %u workers, ring %08" PRIx32 " generation %" PRIu64
		  " (%zu members, %s), %s, modules from %s%s%s",
		  s->node_name, s->endpoint, s->n_ds, s->node->ram_capacity,
		  s->node->workers, s->map->version, s->map->generation,
		  s->map->n, s->members ? "etcd" : "static",
		  s->zap				 ? "CURVE"
		  : s->cfg->security == SL_SECURITY_NONE ? "no security"
							 : "loopback only",
		  cn_backends_dir(s->backends),
		  s->http ? ", metrics on http://" : "",
		  s->http ? s->node->metrics_addr : "");
	if (s->opts.no_ram_tier)
		sl_notice("RAM tier off: no block is cached in RAM; "
			  "ram_capacity bounds the buffers in flight");
	cn_server_autopolicy_walks(s);
	return s;
out_err:
	cn_server_destroy(&s);
	return NULL;
}

void cn_server_stop(cn_server_t *s)
{
	uint64_t one = 1;
	ssize_t n;

	atomic_store(&s->stop_requested, 1);
	n = write(s->wake_fd, &one, sizeof(one));
	(void)n;
}

void cn_server_set_hook(cn_server_t *s, int fd, void (*fn)(void *arg),
			void *arg)
{
	s->hook_fd = fn ? fd : -1;
	s->hook_fn = fn;
	s->hook_arg = arg;
}

cn_metrics_t *cn_server_metrics(cn_server_t *s)
{
	return &s->m;
}

const sl_config_t *cn_server_config(const cn_server_t *s)
{
	return s->cfg;
}

/* The items one turn of the loop polls, into *items (grown as needed):
 * the socket (always: a sender over its caps is held by senders.c, not
 * by leaving the socket unread, which would stall every sender), the
 * workers, the wake-up fd, the disk, the hook, the etcd view and the
 * peers' sockets. */
typedef struct loop_items {
	zmq_pollitem_t *v;
	size_t cap;
	int n, router, workers, wake, disk, hook, members, peers, loads;
} loop_items_t;

static void loop_add(loop_items_t *li, int *slot, void *sock, int fd)
{
	*slot = li->n;
	li->v[li->n++] = (zmq_pollitem_t){sock, fd, ZMQ_POLLIN, 0};
}

static void loop_build(cn_server_t *s, loop_items_t *li)
{
	size_t want = 8 + cn_peers_count(s->peers);

	if (li->cap < want) {
		li->cap = want;
		li->v = sl_xrealloc(li->v, li->cap * sizeof(*li->v));
	}
	li->n = 0;
	li->disk = li->hook = li->members = -1;
	loop_add(li, &li->router, s->router, 0);
	loop_add(li, &li->workers, NULL, cn_workers_fd(s->workers));
	loop_add(li, &li->wake, NULL, s->wake_fd);
	loop_add(li, &li->loads, NULL, cn_loads_fd(s->loads));
	if (s->disk)
		loop_add(li, &li->disk, NULL, cn_disktier_fd(s->disk));
	if (s->hook_fd >= 0)
		loop_add(li, &li->hook, NULL, s->hook_fd);
	if (cn_membership_fd(s) >= 0)
		loop_add(li, &li->members, NULL, cn_membership_fd(s));
	li->peers = li->n;
	li->n += (int)cn_peers_items(s->peers, li->v + li->n,
				     li->cap - (size_t)li->n);
}

static int ready(const loop_items_t *li, int slot)
{
	return slot >= 0 && (li->v[slot].revents & ZMQ_POLLIN);
}

int cn_server_run(cn_server_t *s)
{
	loop_items_t li = {0};
	int rc = 0;

	for (;;) {
		long timeout = -1;
		uint64_t now = sl_now_ms(), next;

		if (!s->stopping && atomic_load(&s->stop_requested))
			begin_stop(s);
		if (s->stopping && !s->farewell_ms) {
			if (!sl_list_empty(&s->live) &&
			    now >= s->drain_deadline_ms) {
				sl_warn("stopping: %zu fetches did not finish "
					"in time",
					cn_flights_count(s->flights));
				cn_fetch_abandon(s);
			}
			if ((sl_list_empty(&s->live) && !cn_loads_running(s)) ||
			    now >= s->drain_deadline_ms)
				s->farewell_ms =
					now +
					(s->stop_answers ? FAREWELL_MS : 0);
		}
		if (s->farewell_ms) {
			if (now >= s->farewell_ms)
				break;
			timeout = (long)(s->farewell_ms - now);
		} else if (s->stopping) {
			timeout = (long)SL_MIN(s->drain_deadline_ms - now,
					       (uint64_t)RETRY_MS);
		} else if (cn_fetch_queued(s) ||
			   cn_senders_next_holding(s->senders, NULL)) {
			timeout = RETRY_MS;
		}
		/* Peer calls and a drain's grace have deadlines of their
		 * own. */
		next = SL_MIN(cn_peers_expire(s->peers, now),
			      cn_membership_tick(s, now));
		next = SL_MIN(next, cn_loads_poll(s, now));
		if (next != UINT64_MAX) {
			long t = next > now ? (long)(next - now) : 0;

			timeout = timeout < 0 ? t : SL_MIN(timeout, t);
		}
		loop_build(s, &li);
		if (zmq_poll(li.v, li.n, timeout) < 0) {
			if (zmq_errno() == EINTR)
				continue;
			rc = -zmq_errno();
			sl_err("zmq_poll: %s", zmq_strerror(-rc));
			break;
		}
		if (ready(&li, li.wake)) {
			uint64_t v;
			ssize_t r = read(s->wake_fd, &v, sizeof(v));

			(void)r;
		}
		if (ready(&li, li.workers))
			cn_fetch_reap(s);
		cn_peers_reap(s->peers, li.v + li.peers,
			      (size_t)(li.n - li.peers));
		if (ready(&li, li.disk)) {
			cn_disktier_reap(s->disk);
			cn_fetch_pump(s);
		}
		if (cn_fetch_queued(s))
			cn_fetch_pump(s);
		if (ready(&li, li.members))
			cn_membership_poll(s);
		if (ready(&li, li.hook))
			s->hook_fn(s->hook_arg);
		resume_held(s);
		if (ready(&li, li.router)) {
			rc = drain_socket(s);
			if (rc == -ETERM)
				break;
			rc = 0;
		}
		now = sl_now_ms();
		if (now - s->last_recount_ms >= RECOUNT_MS)
			cn_server_recount(s);
		if (now - s->last_sweep_ms >= SWEEP_MS) {
			cn_senders_sweep(s->senders);
			s->last_sweep_ms = now;
		}
	}
	free(li.v);
	sl_notice("node %s stopped", s->node_name);
	return rc;
}

void cn_server_drain(cn_server_t *s, uint64_t grace_ms, int then_stop)
{
	s->stop_when_drained = then_stop;
	cn_membership_drain_self(s, grace_ms);
}

uint64_t cn_server_stop_deadline(const cn_server_t *s)
{
	return s->stopping ? s->drain_deadline_ms + STOP_GRACE_MS : 0;
}

/* Milliseconds from now until end, 0 once passed. */
static unsigned ms_until(uint64_t end)
{
	uint64_t now = sl_now_ms();

	return end > now ? (unsigned)SL_MIN(end - now, (uint64_t)UINT_MAX) : 0;
}

/*
 * Stopping is bounded: once the drain is over (or from now, when the loop
 * did not drain), queued replies, disk writes and the workers share
 * STOP_GRACE_MS.  A worker still inside a backend call then (a store that
 * never answers, a hard NFS mount gone) cannot be joined, and whatever it
 * may touch -- its fetch, the dataset and module, the RAM tier, the
 * metrics in s -- must outlive it, so everything from the workers on is
 * left allocated for the process's last moments.
 */
int cn_server_destroy(cn_server_t **sp)
{
	cn_server_t *s = sp ? *sp : NULL;
	uint64_t end;
	int linger;

	if (!s)
		return 0;
	end = (s->stopping ? s->drain_deadline_ms : sl_now_ms()) +
	      STOP_GRACE_MS;
	linger = (int)SL_MIN(ms_until(end), (unsigned)LINGER_MS);
	if (s->router)
		cn_loads_destroy(s, &s->loads);
	/* Replies already queued get up to LINGER_MS to leave; terminating
	 * the context releases every zero-copy block reference. */
	if (s->router) {
		zmq_setsockopt(s->router, ZMQ_LINGER, &linger, sizeof(linger));
		zmq_close(s->router);
	}
	s->router = NULL;
	/* From here nothing is answered: peer reads still out free their
	 * fetches, and the peers' sockets close before the context that
	 * would otherwise wait for them. */
	s->destroying = 1;
	cn_peers_destroy(&s->peers);
	cn_zap_destroy(&s->zap);
	if (s->zctx)
		zmq_ctx_term(s->zctx);
	sl_keyring_destroy(&s->keys);
	if (s->gated) /* its connections closed with the context */
		cn_gate_unwatch(s->node->addr);
	cn_metrics_http_stop(&s->http);
	if (s->tier)
		cn_fetch_fail_queued(s, 0);
	/* Writes in flight and queued get what is left, so that a restart
	 * finds them; reads still out free their fetches. */
	cn_tiering_destroy(&s->tiers);
	if (s->disk) {
		if (cn_disktier_flush(s->disk, ms_until(end)) < 0)
			sl_warn("stopping: disk writes did not finish in time");
		cn_disktier_destroy(&s->disk);
	}
	if (s->workers && cn_workers_stop(s->workers, end) < 0) {
		sl_warn("stopping: %zu backend calls did not return in time; "
			"leaving them behind",
			cn_workers_pending(s->workers));
		cn_workers_destroy(&s->workers, NULL, NULL);
		*sp = NULL;
		return -ETIMEDOUT;
	}
	cn_workers_destroy(&s->workers, cn_fetch_discard, s);
	cn_flights_destroy(&s->flights);
	cn_senders_destroy(&s->senders);
	cn_metacache_destroy(&s->meta);
	cn_ramtier_destroy(&s->tier);
	cn_loads_destroy(s, &s->loads);
	cn_dsstats_destroy(&s->dss);
	cn_autopol_destroy(&s->autopol);
	cn_ghost_destroy(&s->ghost);
	cn_nodemap_close(s);
	cn_membership_close(s);
	cn_backends_destroy(&s->backends);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	sl_config_destroy(&s->cfg);
	free(s);
	*sp = NULL;
	return 0;
}
