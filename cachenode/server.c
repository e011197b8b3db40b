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
 * Back-pressure: with CN_MAX_PENDING requests unanswered the loop stops
 * reading the socket, so ZeroMQ's queues and then TCP push back on
 * clients instead of the node growing without bound.
 *
 * Stopping: new requests get -ESHUTDOWN while the fetches in flight get
 * drain_ms to finish; then whoever still waits is answered -ESHUTDOWN.
 */
#include "cachenode/server.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zmq.h>

#include "cachenode/server_i.h"
#include "common/log.h"
#include "common/util.h"
#include "proto/transport.h"

#define MAX_REQ_FRAME (1 << 20) /* ZMQ_MAXMSGSIZE: PROTOCOL.md, 1 */
#define RECV_BATCH    256	/* messages per turn of the loop */
#define DRAIN_MS      5000
#define LINGER_MS     1000
#define RETRY_MS      100 /* re-check parked fetches this often */

/* ---- Dispatch ------------------------------------------------------------ */

static void begin_stop(cn_server_t *s)
{
	s->stopping = 1;
	s->drain_deadline_ms = sl_now_ms() + s->opts.drain_ms;
	/* No zmq_unbind(): it also drops the connections accepted through
	 * the endpoint, and with them the replies still owed.  New requests
	 * get -ESHUTDOWN instead (handle()). */
	cn_fetch_fail_queued(s, 1);
	sl_notice("stopping: %zu fetches in flight",
		  cn_flights_count(s->flights));
}

static void handle(cn_server_t *s, pr_msg_t *m)
{
	cn_addr_t a = {&m->identity, m->h.opcode, m->h.req_id, 0};
	const void *body = pr_msg_body(m);
	size_t len = pr_msg_body_len(m), raw;
	int rc;

	if (m->h.flags & PR_F_REPLY) {
		/* Never answer a reply: two peers would bounce forever. */
		atomic_fetch_add(&s->m.bad_messages, 1);
		sl_log_ratelimited(SL_LOG_NOTICE,
				   "dropped a reply sent to the node");
		return;
	}
	atomic_fetch_add(&s->m.in_flight, 1);
	s->pending_reqs++;
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
	case PR_OP_HELLO:
		if (!s->hello)
			cn_reply_error(s, &a, -EMSGSIZE,
				       "cluster map too large");
		else
			cn_reply(s, &a, 0, s->hello, s->hello_len);
		break;
	case PR_OP_STAT:
	case PR_OP_LIST:
	case PR_OP_READ:
	case PR_OP_PREFETCH:
	case PR_OP_PEER_READ:
		cn_handle_path(s, &a, body, len);
		break;
	case PR_OP_STATS:
		cn_handle_stats(s, &a);
		break;
	default:
		cn_reply_error(s, &a, -EOPNOTSUPP, "op %u (%s) not supported",
			       m->h.opcode, pr_op_name(m->h.opcode));
		break;
	}
}

static int drain_socket(cn_server_t *s)
{
	pr_msg_t m;
	int rc = 0;

	pr_msg_init(&m);
	for (int i = 0; i < RECV_BATCH && s->pending_reqs < CN_MAX_PENDING;
	     i++) {
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
				cn_addr_t a = {&m.identity, m.h.opcode,
					       m.h.req_id, 0};

				atomic_fetch_add(&s->m.in_flight, 1);
				s->pending_reqs++;
				cn_reply_error(s, &a, rc, "malformed message");
			}
			rc = 0;
			continue;
		}
		handle(s, &m);
	}
	pr_msg_close(&m);
	return rc;
}

/* ---- Life cycle ---------------------------------------------------------- */

/* The socket, bound to the node's addr: 0, or -1 with err. */
static int open_socket(cn_server_t *s, char *err, size_t errlen)
{
	int zero = 0;
	int64_t maxmsg = MAX_REQ_FRAME;
	size_t elen = sizeof(s->endpoint);

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
	/* Best effort: the decoder bounds every frame anyway. */
	(void)zmq_setsockopt(s->router, ZMQ_MAXMSGSIZE, &maxmsg,
			     sizeof(maxmsg));
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

	if (open_socket(s, err, errlen) < 0)
		goto out_err;
	if (s->node->metrics_addr[0] && !s->opts.no_metrics_http) {
		s->http = cn_metrics_http_start(&s->m, s->node->metrics_addr,
						err, errlen);
		if (!s->http)
			goto out_err;
	}
	sl_notice("node %s serving %s: %zu datasets, ram_capacity %" PRIu64
		  " bytes, %u workers, ring version %08" PRIx32
		  ", modules from %s%s%s",
		  s->node_name, s->endpoint, s->n_ds, s->node->ram_capacity,
		  s->node->workers, s->ring_version,
		  cn_backends_dir(s->backends),
		  s->http ? ", metrics on http://" : "",
		  s->http ? s->node->metrics_addr : "");
	if (s->opts.no_ram_tier)
		sl_notice("RAM tier off: no block is cached in RAM; "
			  "ram_capacity bounds the buffers in flight");
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

int cn_server_run(cn_server_t *s)
{
	zmq_pollitem_t items[5];
	int rc = 0;

	for (;;) {
		int n = 0, ir = -1, iw, ik, ih = -1, id = -1;
		long timeout = -1;
		uint64_t now;

		if (!s->stopping && atomic_load(&s->stop_requested))
			begin_stop(s);
		if (s->stopping) {
			now = sl_now_ms();
			if (sl_list_empty(&s->live))
				break;
			if (now >= s->drain_deadline_ms) {
				sl_warn("stopping: %zu fetches did not finish "
					"in time",
					cn_flights_count(s->flights));
				cn_fetch_abandon(s);
				break;
			}
			timeout = (long)SL_MIN(s->drain_deadline_ms - now,
					       (uint64_t)RETRY_MS);
		} else if (cn_fetch_queued(s)) {
			timeout = RETRY_MS;
		}
		if (s->pending_reqs < CN_MAX_PENDING) {
			ir = n;
			items[n++] =
				(zmq_pollitem_t){s->router, 0, ZMQ_POLLIN, 0};
		}
		iw = n;
		items[n++] = (zmq_pollitem_t){NULL, cn_workers_fd(s->workers),
					      ZMQ_POLLIN, 0};
		ik = n;
		items[n++] = (zmq_pollitem_t){NULL, s->wake_fd, ZMQ_POLLIN, 0};
		if (s->disk) {
			id = n;
			items[n++] = (zmq_pollitem_t){
				NULL, cn_disktier_fd(s->disk), ZMQ_POLLIN, 0};
		}
		if (s->hook_fd >= 0) {
			ih = n;
			items[n++] = (zmq_pollitem_t){NULL, s->hook_fd,
						      ZMQ_POLLIN, 0};
		}
		if (zmq_poll(items, n, timeout) < 0) {
			if (zmq_errno() == EINTR)
				continue;
			rc = -zmq_errno();
			sl_err("zmq_poll: %s", zmq_strerror(-rc));
			break;
		}
		if (items[ik].revents & ZMQ_POLLIN) {
			uint64_t v;
			ssize_t r = read(s->wake_fd, &v, sizeof(v));

			(void)r;
		}
		if (items[iw].revents & ZMQ_POLLIN)
			cn_fetch_reap(s);
		if (id >= 0 && (items[id].revents & ZMQ_POLLIN)) {
			cn_disktier_reap(s->disk);
			cn_fetch_pump(s);
		}
		if (cn_fetch_queued(s))
			cn_fetch_pump(s);
		if (ih >= 0 && (items[ih].revents & ZMQ_POLLIN))
			s->hook_fn(s->hook_arg);
		if (ir >= 0 && (items[ir].revents & ZMQ_POLLIN)) {
			rc = drain_socket(s);
			if (rc == -ETERM)
				break;
			rc = 0;
		}
	}
	sl_notice("node %s stopped", s->node_name);
	return rc;
}

void cn_server_destroy(cn_server_t **sp)
{
	cn_server_t *s = sp ? *sp : NULL;
	int linger = LINGER_MS;

	if (!s)
		return;
	/* Replies already queued get LINGER_MS to leave; terminating the
	 * context releases every zero-copy block reference. */
	if (s->router) {
		zmq_setsockopt(s->router, ZMQ_LINGER, &linger, sizeof(linger));
		zmq_close(s->router);
	}
	if (s->zctx)
		zmq_ctx_term(s->zctx);
	s->router = NULL;
	cn_metrics_http_stop(&s->http);
	if (s->tier)
		cn_fetch_fail_queued(s, 0);
	/* Writes in flight and queued get drain_ms to finish, so that a
	 * restart finds them; reads still out free their fetches. */
	s->destroying = 1;
	cn_tiering_destroy(&s->tiers);
	if (s->disk) {
		if (cn_disktier_flush(s->disk, s->opts.drain_ms) < 0)
			sl_warn("stopping: disk writes did not finish in time");
		cn_disktier_destroy(&s->disk);
	}
	cn_workers_destroy(&s->workers, cn_fetch_discard, s);
	cn_flights_destroy(&s->flights);
	cn_metacache_destroy(&s->meta);
	cn_ramtier_destroy(&s->tier);
	cn_nodemap_close(s);
	cn_backends_destroy(&s->backends);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	sl_config_destroy(&s->cfg);
	free(s);
	*sp = NULL;
}
