/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluicectl load and evict: the dataset walks, which the nodes do
 * (PROTOCOL.md, LOAD and EVICT); this side sends one request to every
 * node, adds up what they report and shows it.
 *
 * A load runs in rounds.  Each round sends LOAD to every node still up,
 * naming the nodes that failed so far in `skip`, and waits for the final
 * replies, showing the progress replies meanwhile.  A node that fails
 * mid-way (an error reply, or silence for longer than a few progress
 * periods) is reported, and when the round is over the load runs again on
 * the others with it skipped: they take its share, and what they hold
 * already costs them nothing.  The counts shown are the last round's: it
 * restates the whole prefix.
 *
 * Ctrl-C sets a flag; the wait notices it within one slice, sends a
 * cancel (the same load id) to every node and collects their final
 * replies for a short while, so no node keeps loading after the command
 * is gone.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "common/log.h"
#include "common/path.h"
#include "common/util.h"
#include "ctl/ctl.h"
#include "proto/call.h"
#include "proto/proto.h"

#define SLICE_MS 200 /* the wait's slice: Ctrl-C, the bar */
/* A node this long without a reply (it sends progress every 500 ms) has
 * failed: 2 x the timeout, at least SILENT_MIN_MS. */
#define SILENT_MIN_MS	 3000
#define LINE_MS		 5000  /* a plain progress line this often */
#define JSON_MS		 1000  /* a JSON progress line at most this often */
#define CANCEL_WAIT_MS	 3000  /* the nodes' answers to a cancel */
#define EVICT_TIMEOUT	 60000 /* an EVICT walks the prefix */
#define DEFAULT_PARALLEL 8
#define BAR_WIDTH	 30

enum { OUT_BAR, OUT_LINE, OUT_JSON, OUT_NONE };

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* One node's part of a round. */
typedef struct part {
	void *sock;
	pr_call_t call;
	pr_load_progress_t p; /* the latest (its failed path: failed[]) */
	char failed[PR_MAX_PATH + 1];
	char err[256];	/* why it failed */
	int rc;		/* 1: running, 0: done, < 0: failed */
	uint64_t heard; /* sl_now_ms of its last reply */
} part_t;

typedef struct load {
	ctl_t *c;
	const char *dataset;
	const char *path;
	uint32_t parallel;
	int out;
	uint64_t id;
	int skip[PR_MAX_NODES]; /* nodes failed so far */
	size_t n_skip;
	part_t *parts;
	uint64_t started, last_shown;
	/* The round's sums. */
	uint64_t files_done, files_total, bytes_done, bytes_total, errors;
	int is_short, running;
	/* What was shown: it never goes back (see show()). */
	double shown_pct;
	uint64_t shown_files, shown_bytes;
} load_t;

const char *ctl_human(uint64_t v, char *buf, size_t cap)
{
	static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double d = (double)v;
	size_t u = 0;

	while (d >= 1024 && u + 1 < SL_ARRAY_SIZE(unit)) {
		d /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, cap, "%" PRIu64 " B", v);
	else
		snprintf(buf, cap, "%.1f %s", d, unit[u]);
	return buf;
}

static double percent(uint64_t done, uint64_t total)
{
	return total ? 100.0 * (double)done / (double)total : 100.0;
}

/* Add the parts up: files as the slowest node has them, bytes summed. */
static void sum(load_t *l)
{
	int first = 1;

	l->files_done = l->files_total = l->bytes_done = l->bytes_total = 0;
	l->errors = 0;
	l->is_short = 0;
	l->running = 0;
	for (size_t i = 0; i < l->c->n_nodes; i++) {
		const part_t *p = &l->parts[i];

		/* A cancelled part keeps what it reported last. */
		if ((p->rc < 0 && p->rc != -ECANCELED) || !p->sock)
			continue;
		l->running += p->rc == 1;
		l->files_total = SL_MAX(l->files_total, p->p.files_total);
		l->files_done = first ? p->p.files_done
				      : SL_MIN(l->files_done, p->p.files_done);
		first = 0;
		l->bytes_done += p->p.bytes_done;
		l->bytes_total += p->p.bytes_total;
		l->errors += p->p.errors;
		l->is_short |= p->p.state == PR_LOAD_SHORT;
	}
}

/*
 * Show the sums.  The totals grow while the nodes list, a node that has
 * not answered yet counts nothing, and a round after a failure counts
 * again from its start: so what is shown holds at its highest so far, and
 * stays below 100% until every node has finished.
 */
static void show(load_t *l, int final)
{
	uint64_t now = sl_now_ms();
	double secs = (double)(now - l->started) / 1000.0;
	double rate = secs > 0 ? (double)l->bytes_done / secs : 0;
	double pct = percent(l->bytes_done, l->bytes_total);
	char a[32], b[32], r[32], eta[32] = "--";

	if (l->out == OUT_NONE)
		return;
	if (!final && l->out == OUT_LINE && now - l->last_shown < LINE_MS)
		return;
	if (!final && l->out == OUT_JSON && now - l->last_shown < JSON_MS)
		return;
	l->last_shown = now;
	if (l->running)
		pct = l->bytes_total ? SL_MIN(pct, 99.9) : 0;
	l->shown_pct = pct = SL_MAX(pct, l->shown_pct);
	l->shown_files = l->files_done = SL_MAX(l->files_done, l->shown_files);
	l->shown_bytes = l->bytes_done = SL_MAX(l->bytes_done, l->shown_bytes);
	l->bytes_total = SL_MAX(l->bytes_total, l->bytes_done);
	if (rate > 0 && l->bytes_done < l->bytes_total)
		snprintf(eta, sizeof(eta), "%.0fs",
			 (double)(l->bytes_total - l->bytes_done) / rate);
	else if (l->bytes_done >= l->bytes_total)
		snprintf(eta, sizeof(eta), "0s");
	ctl_human(l->bytes_done, a, sizeof(a));
	ctl_human(l->bytes_total, b, sizeof(b));
	ctl_human((uint64_t)rate, r, sizeof(r));
	if (l->out == OUT_JSON) {
		printf("{\"event\":\"progress\",\"files_done\":%" PRIu64
		       ",\"files_total\":%" PRIu64 ",\"bytes_done\":%" PRIu64
		       ",\"bytes_total\":%" PRIu64 ",\"percent\":%.1f,"
		       "\"errors\":%" PRIu64 ",\"seconds\":%.1f}\n",
		       l->files_done, l->files_total, l->bytes_done,
		       l->bytes_total, floor(pct * 10) / 10, l->errors, secs);
	} else if (l->out == OUT_LINE) {
		printf("load %s: %" PRIu64 "/%" PRIu64 " files, %s/%s "
		       "(%.1f%%), %s/s, ETA %s\n",
		       l->dataset, l->files_done, l->files_total, a, b, pct, r,
		       eta);
	} else {
		int fill = (int)(pct / 100.0 * BAR_WIDTH);
		char bar[BAR_WIDTH + 1];

		for (int i = 0; i < BAR_WIDTH; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[BAR_WIDTH] = 0;
		printf("\r[%s] %5.1f%% %" PRIu64 "/%" PRIu64 " files %s/%s "
		       "%s/s ETA %s\033[K",
		       bar, pct, l->files_done, l->files_total, a, b, r, eta);
		if (final)
			printf("\n");
	}
	fflush(stdout);
}

static int load_body(const load_t *l, int cancel, pr_buf_t *b);

/* Send the round's LOAD to node i. */
static int send_load(load_t *l, size_t i)
{
	ctl_t *c = l->c;
	part_t *p = &l->parts[i];
	pr_header_t h = {.opcode = PR_OP_LOAD,
			 .req_id = ++c->next_id,
			 .ring_version = sl_ring_version(c->ring)};
	pr_buf_t b;
	int rc;

	pr_buf_init(&b);
	rc = load_body(l, 0, &b);
	if (rc == 0) {
		pr_call_clear(&p->call);
		rc = pr_call_post(&p->call, p->sock, &h, b.data, b.len);
	}
	pr_buf_fini(&b);
	return rc;
}

static void part_fail(load_t *l, size_t i, int rc, const char *why)
{
	part_t *p = &l->parts[i];

	p->rc = rc;
	snprintf(p->err, sizeof(p->err), "%s",
		 why && *why ? why : strerror(-rc));
	pr_call_clear(&p->call);
}

/* A reply m for part i. */
static void take_reply(load_t *l, size_t i, pr_msg_t *m)
{
	part_t *p = &l->parts[i];
	pr_str_t msg = {"", 0};
	char why[256];
	int rc = m->h.status;

	p->heard = sl_now_ms();
	if (rc < 0) {
		pr_errmsg_decode(&msg, pr_msg_body(m), pr_msg_body_len(m));
		snprintf(why, sizeof(why), "%.*s", (int)msg.len,
			 msg.ptr ? msg.ptr : "");
		part_fail(l, i, rc, why);
		return;
	}
	rc = pr_load_progress_decode(&p->p, pr_msg_body(m), pr_msg_body_len(m));
	if (rc < 0) {
		part_fail(l, i, rc, "malformed progress");
		return;
	}
	pr_str_copy(p->failed, sizeof(p->failed), p->p.failed);
	p->p.failed = pr_str(p->failed);
	if (!(m->h.flags & PR_F_MORE))
		p->rc = 0;
}

/* Wait for every running part until deadline, taking replies. */
static int wait_parts(load_t *l, uint64_t deadline, int watch)
{
	ctl_t *c = l->c;
	pr_call_t *calls = sl_xcalloc(c->n_nodes, sizeof(*calls));
	uint64_t silent = SL_MAX((uint64_t)SILENT_MIN_MS, 2ull * c->timeout_ms);
	pr_msg_t m;
	int running;

	pr_msg_init(&m);
	for (;;) {
		uint64_t now = sl_now_ms();
		int idx;

		running = 0;
		for (size_t i = 0; i < c->n_nodes; i++) {
			part_t *p = &l->parts[i];

			if (p->rc == 1 && now - p->heard > silent)
				part_fail(l, i, -ETIMEDOUT, "no reply in time");
			running += p->rc == 1;
		}
		if (!running || now >= deadline || (watch && interrupted))
			break;
		for (size_t i = 0; i < c->n_nodes; i++)
			calls[i] = l->parts[i].call;
		idx = pr_call_wait(calls, c->n_nodes,
				   SL_MIN(deadline, now + SLICE_MS), &m);
		for (size_t i = 0; i < c->n_nodes; i++)
			l->parts[i].call = calls[i];
		if (idx >= 0)
			take_reply(l, (size_t)idx, &m);
		pr_msg_close(&m);
		if (watch) {
			sum(l);
			show(l, 0);
		}
	}
	free(calls);
	return running;
}

/* Encode the round's LOAD (cancel: its cancel) into b: 0 or -errno. */
static int load_body(const load_t *l, int cancel, pr_buf_t *b)
{
	const ctl_t *c = l->c;
	pr_load_req_t q = {.dataset = pr_str(l->dataset),
			   .path = pr_str(l->path),
			   .load_id = l->id,
			   .parallel = l->parallel,
			   .cancel = (uint8_t)cancel};

	for (size_t k = 0; k < l->n_skip && q.n_skip < PR_MAX_LOAD_SKIP; k++)
		q.skip[q.n_skip++] = pr_str(c->nodes[l->skip[k]].name);
	return pr_load_req_encode(b, &q);
}

/*
 * Cancel the round on every node still running it: the cancel goes on a
 * socket of its own, and the load's own request ends with -ECANCELED
 * once the node's fetches in flight are back, which is waited for, so
 * that nothing is still loading when the command exits.
 */
static void cancel_round(load_t *l)
{
	ctl_t *c = l->c;
	pr_buf_t b;

	pr_buf_init(&b);
	if (load_body(l, 1, &b) == 0)
		for (size_t i = 0; i < c->n_nodes; i++) {
			pr_msg_t m;

			if (l->parts[i].rc != 1)
				continue;
			pr_msg_init(&m);
			ctl_call(c, i, PR_OP_LOAD, b.data, b.len, &m);
			pr_msg_close(&m);
		}
	pr_buf_fini(&b);
	wait_parts(l, sl_now_ms() + CANCEL_WAIT_MS, 0);
}

/* One round over the nodes not skipped: 0, or -EINTR on Ctrl-C. */
static int round_run(load_t *l)
{
	ctl_t *c = l->c;
	int rc = 0;

	for (size_t i = 0; i < c->n_nodes; i++) {
		part_t *p = &l->parts[i];
		int skipped = 0;

		for (size_t k = 0; k < l->n_skip; k++)
			skipped |= l->skip[k] == (int)i;
		memset(&p->p, 0, sizeof(p->p));
		p->p.failed = pr_str("");
		p->rc = skipped ? -EHOSTDOWN : 1;
		p->heard = sl_now_ms();
		if (skipped || p->sock)
			continue;
		p->sock = pr_dealer_open_keyed(c->zctx, c->nodes[i].addr,
					       c->keys, c->nodes[i].name, &rc);
		if (!p->sock)
			part_fail(l, i, rc, NULL);
	}
	for (size_t i = 0; i < c->n_nodes; i++) {
		part_t *p = &l->parts[i];

		if (p->rc == 1 && (rc = send_load(l, i)) < 0)
			part_fail(l, i, rc, NULL);
	}
	wait_parts(l, UINT64_MAX, 1);
	if (interrupted) {
		cancel_round(l);
		return -EINTR;
	}
	return 0;
}

/* Whether node i failed in a way its share can be given to others (the
 * node is down or went away), not an answer about the request. */
static int node_down(int rc)
{
	return rc == -ETIMEDOUT || rc == -ESHUTDOWN || rc == -EHOSTUNREACH ||
	       rc == -ECONNREFUSED || rc == -EHOSTDOWN;
}

typedef struct totals {
	uint64_t files, bytes, bytes_total, errors;
	int is_short, failed, cancelled;
} totals_t;

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

/* Load one prefix, adding to t.  The rounds' messages go to stderr. */
static void load_prefix(load_t *l, totals_t *t)
{
	ctl_t *c = l->c;
	int again;

	l->id = (((uint64_t)getpid() << 32) ^ (uint64_t)sl_wall_ns()) | 1;
	l->shown_pct = 0;
	l->shown_files = l->shown_bytes = 0;
	do {
		int up = 0;

		again = 0;
		if (round_run(l) < 0) {
			t->cancelled = 1;
			break;
		}
		for (size_t i = 0; i < c->n_nodes; i++) {
			part_t *p = &l->parts[i];
			int skipped = 0;

			for (size_t k = 0; k < l->n_skip; k++)
				skipped |= l->skip[k] == (int)i;
			if (skipped)
				continue;
			if (p->rc < 0 && node_down(p->rc) &&
			    l->n_skip < PR_MAX_LOAD_SKIP) {
				fprintf(stderr,
					"sluicectl: node %s failed during the "
					"load (%s): its share goes to the "
					"next nodes\n",
					c->nodes[i].name, p->err);
				l->skip[l->n_skip++] = (int)i;
				if (p->sock)
					zmq_close(p->sock);
				p->sock = NULL;
				again = 1;
			} else if (p->rc < 0) {
				fprintf(stderr, "sluicectl: node %s: %s\n",
					c->nodes[i].name, p->err);
				t->failed = 1;
			} else {
				up++;
			}
		}
		if (again && !up) {
			fprintf(stderr, "sluicectl: no node is left to load "
					"on\n");
			t->failed = 1;
			again = 0;
		}
	} while (again);
	sum(l);
	if (l->out == OUT_BAR && !t->cancelled)
		show(l, 1);
	else if (l->out == OUT_BAR)
		printf("\n");
	t->files += l->files_done;
	t->bytes += l->bytes_done;
	t->bytes_total += l->bytes_total;
	t->errors += l->errors;
	t->is_short |= l->is_short;
	for (size_t i = 0; i < c->n_nodes; i++)
		if (l->parts[i].rc == 0 && l->parts[i].failed[0]) {
			if (l->out == OUT_JSON) {
				printf("{\"event\":\"failed\",\"node\":");
				json_str(c->nodes[i].name);
				printf(",\"path\":");
				json_str(l->parts[i].failed);
				printf("}\n");
			} else {
				fprintf(stderr,
					"sluicectl: failed: %s/%s "
					"(on %s)\n",
					l->dataset, l->parts[i].failed,
					c->nodes[i].name);
			}
		}
}

/* NAME's PATH as the wire wants it (no leading or trailing '/') into
 * out: 0, or -EINVAL with a message printed. */
static int norm_path(const char *name, const char *arg, char *out, size_t cap)
{
	size_t len;

	while (*arg == '/')
		arg++;
	len = strlen(arg);
	while (len && arg[len - 1] == '/')
		len--;
	if (len >= cap || sl_path_check(arg, len) < 0) {
		fprintf(stderr,
			"sluicectl: '%s' is not a path inside dataset %s (no "
			"'.' or '..' components, at most %d bytes)\n",
			arg, name, PR_MAX_PATH);
		return -EINVAL;
	}
	memcpy(out, arg, len);
	out[len] = 0;
	return 0;
}

int ctl_known_dataset(ctl_t *c, const char *name)
{
	if (sl_config_dataset(c->conf, name))
		return 1;
	fprintf(stderr, "sluicectl: unknown dataset '%s' (the config has",
		name);
	for (size_t i = 0; i < c->conf->n_datasets; i++)
		fprintf(stderr, " %s", c->conf->datasets[i].name);
	fprintf(stderr, "%s)\n", c->conf->n_datasets ? "" : " none");
	return 0;
}

int ctl_cmd_load(ctl_t *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"parallel", required_argument, NULL, 'p'},
		{"json", no_argument, NULL, 'j'},
		{NULL, 0, NULL, 0},
	};
	load_t l = {.c = c, .parallel = DEFAULT_PARALLEL};
	struct sigaction sa = {.sa_handler = on_sigint};
	char path[PR_MAX_PATH + 1];
	totals_t t = {0};
	int opt, json = 0, rc;
	double secs, pct;

	optind = 0;
	while ((opt = getopt_long(argc + 1, argv - 1, "p:j", opts, NULL)) !=
	       -1) {
		if (opt == 'p') {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 1 || v > PR_MAX_LOAD_PARALLEL) {
				fprintf(stderr,
					"sluicectl: --parallel takes 1..%d\n",
					PR_MAX_LOAD_PARALLEL);
				return 1;
			}
			l.parallel = (uint32_t)v;
		} else if (opt == 'j') {
			json = 1;
		} else {
			return 1;
		}
	}
	argc -= optind - 1;
	argv += optind - 1;
	if (argc < 1) {
		fprintf(stderr, "sluicectl: load NAME [PATH...] [--parallel "
				"N] [--json]\n");
		return 1;
	}
	l.dataset = argv[0];
	if (!ctl_known_dataset(c, l.dataset))
		return 1;
	for (int i = 1; i < argc; i++)
		if (norm_path(l.dataset, argv[i], path, sizeof(path)) < 0)
			return 1;
	l.out = json ? OUT_JSON : isatty(STDOUT_FILENO) ? OUT_BAR : OUT_LINE;
	l.parts = sl_xcalloc(c->n_nodes, sizeof(*l.parts));
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	l.started = sl_now_ms();
	for (int i = argc > 1 ? 1 : 0; i < argc && !t.cancelled; i++) {
		path[0] = 0;
		if (i > 0)
			norm_path(l.dataset, argv[i], path, sizeof(path));
		l.path = path;
		load_prefix(&l, &t);
	}
	for (size_t i = 0; i < c->n_nodes; i++) {
		pr_call_clear(&l.parts[i].call);
		if (l.parts[i].sock)
			zmq_close(l.parts[i].sock);
	}
	free(l.parts);
	signal(SIGINT, SIG_DFL);
	secs = (double)(sl_now_ms() - l.started) / 1000.0;
	pct = t.bytes_total || !(t.cancelled || t.failed)
		      ? percent(t.bytes, t.bytes_total)
		      : 0;
	rc = t.cancelled ? 130 : t.failed || t.errors ? 1 : t.is_short ? 2 : 0;
	if (json) {
		printf("{\"event\":\"done\",\"files\":%" PRIu64
		       ",\"bytes\":%" PRIu64 ",\"bytes_total\":%" PRIu64
		       ",\"percent\":%.1f,\"seconds\":%.1f,\"failures\":"
		       "%" PRIu64
		       ",\"short\":%s,\"cancelled\":%s,\"exit\":%d}\n",
		       t.files, t.bytes, t.bytes_total, floor(pct * 10) / 10,
		       secs, t.errors, t.is_short ? "true" : "false",
		       t.cancelled ? "true" : "false", rc);
	} else {
		char a[32];

		printf("%s %s: %" PRIu64 " files, %s (%.1f%%) in %.1f s, "
		       "%" PRIu64 " failures%s\n",
		       t.cancelled	      ? "cancelled"
		       : t.failed || t.errors ? "failed to load"
					      : "loaded",
		       l.dataset, t.files, ctl_human(t.bytes, a, sizeof(a)),
		       pct, secs, t.errors,
		       t.is_short ? "; stopped short: the cluster's capacity "
				    "(or the pin policy) holds no more"
				  : "");
	}
	fflush(stdout);
	return rc;
}

int ctl_count(ctl_t *c, const char *dataset, ctl_held_t *held)
{
	load_t l = {.c = c, .dataset = dataset, .path = "", .out = OUT_NONE};
	int answered = 0;

	l.id = (((uint64_t)getpid() << 32) ^ (uint64_t)sl_wall_ns()) | 1;
	l.parts = sl_xcalloc(c->n_nodes, sizeof(*l.parts));
	round_run(&l);
	for (size_t i = 0; i < c->n_nodes; i++) {
		part_t *p = &l.parts[i];

		held[i] = (ctl_held_t){.rc = p->rc,
				       .files = p->p.files_total,
				       .bytes_total = p->p.bytes_total,
				       .bytes_held = p->p.bytes_done};
		if (p->rc < 0)
			snprintf(held[i].err, sizeof(held[i].err), "%s",
				 p->err);
		answered += p->rc == 0;
		pr_call_clear(&p->call);
		if (p->sock)
			zmq_close(p->sock);
	}
	free(l.parts);
	return answered ? 0 : -EHOSTUNREACH;
}

int ctl_cmd_evict(ctl_t *c, int argc, char **argv)
{
	char path[PR_MAX_PATH + 1], a[32];
	uint64_t blocks = 0, bytes = 0;
	int fail = 0, saved = c->timeout_ms;

	if (argc < 1) {
		fprintf(stderr, "sluicectl: evict NAME [PATH...]\n");
		return 1;
	}
	if (!ctl_known_dataset(c, argv[0]))
		return 1;
	for (int i = 1; i < argc; i++)
		if (norm_path(argv[0], argv[i], path, sizeof(path)) < 0)
			return 1;
	c->timeout_ms = SL_MAX(c->timeout_ms, EVICT_TIMEOUT);
	for (int i = argc > 1 ? 1 : 0; i < argc; i++) {
		pr_target_t q = {pr_str(argv[0]), pr_str("")};
		pr_buf_t b;

		path[0] = 0;
		if (i > 0)
			norm_path(argv[0], argv[i], path, sizeof(path));
		q.path = pr_str(path);
		pr_buf_init(&b);
		pr_target_encode(&b, &q);
		for (size_t n = 0; n < c->n_nodes; n++) {
			pr_evict_reply_t r = {0};
			pr_msg_t m;
			int rc;

			pr_msg_init(&m);
			rc = ctl_call(c, n, PR_OP_EVICT, b.data, b.len, &m);
			if (rc == 0)
				rc = pr_evict_reply_decode(&r, pr_msg_body(&m),
							   pr_msg_body_len(&m));
			if (rc < 0) {
				pr_str_t msg = {"", 0};

				if (m.header_ok)
					pr_errmsg_decode(&msg, pr_msg_body(&m),
							 pr_msg_body_len(&m));
				fprintf(stderr,
					"sluicectl: node %s: %.*s%s%s\n",
					c->nodes[n].name, (int)msg.len,
					msg.ptr ? msg.ptr : "",
					msg.len ? ": " : "", strerror(-rc));
				fail = 1;
			}
			blocks += r.blocks;
			bytes += r.bytes;
			pr_msg_close(&m);
		}
		pr_buf_fini(&b);
	}
	c->timeout_ms = saved;
	printf("evicted %s: %" PRIu64 " blocks, %s freed on %zu nodes%s\n",
	       argv[0], blocks, ctl_human(bytes, a, sizeof(a)), c->n_nodes,
	       fail ? " (some failed)" : "");
	return fail;
}
