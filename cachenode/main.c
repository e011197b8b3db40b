/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluice-cachenode: the cache daemon.  Runs in the foreground (systemd
 * style), serves the node named on the command line from the cluster
 * config, and logs to stderr.  Signals arrive through a signalfd that the
 * server's event loop polls, so a handler never runs in the middle of
 * anything: SIGTERM/SIGINT stop accepting and drain, SIGHUP reloads the
 * config (keeping the old one if the new one is invalid).  Once the loop
 * has ended, a watchdog thread reads the signalfd while the server is
 * torn down, so that a second signal still exits at once, and ends the
 * process itself should the teardown overrun its bound.
 *
 * Exit status: 0 after a stop; 1 for a usage, configuration or start-up
 * error, or when the stop had to leave backend calls running (a store
 * that never answered); 128 + the signal's number when a second
 * SIGTERM or SIGINT cut the stop short.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cachenode/server.h"
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"

#ifndef SL_VERSION
#define SL_VERSION "dev"
#endif

/* The watchdog ends the process this long after the server's own bound
 * for its teardown, should the teardown still hang. */
#define WATCHDOG_SLACK_MS 1000

typedef struct main_ctx {
	cn_server_t *s;
	int sfd;
	int stopping; /* a stop signal came already */
	const char *config_path;
	/* A node given on the command line (membership = etcd). */
	const char *node, *addr, *metrics_addr;
	int drain_on_term;
	uint64_t grace_ms;
} main_ctx_t;

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s -c CLUSTER.conf [--node NAME] [--addr "
		"tcp://IP:PORT\n"
		"       [--metrics-addr IP:PORT]] [--drain-on-term [--grace "
		"T]]\n"
		"       [-v]...\n"
		"\n"
		"Serve one node of a Sluice cluster: a RAM cache of dataset\n"
		"blocks in front of the datasets' backends.\n"
		"\n"
		"  -c, --config FILE  the cluster configuration (required)\n"
		"  -n, --node NAME    the [node NAME] section to serve;\n"
		"                     default: the node named like this\n"
		"                     host, or the config's only node\n"
		"      --addr EP      with membership = etcd: serve NAME at\n"
		"                     EP, with [node-defaults]'s settings\n"
		"      --metrics-addr HOST:PORT  its metrics endpoint\n"
		"      --drain-on-term  on SIGTERM, leave placement and keep\n"
		"                     answering peers for the grace, then "
		"stop\n"
		"      --grace T      the drain's grace period (default 60s)\n"
		"      --no-ram-tier  cache no block in RAM (to measure the\n"
		"                     disk tier): ram_capacity then bounds\n"
		"                     only the buffers of blocks in flight\n"
		"  -v, --verbose      log more (-v info, -vv debug)\n"
		"  -q, --quiet        log errors and warnings only\n"
		"  -h, --help         show this help and exit\n"
		"  -V, --version      show the version and exit\n"
		"\n"
		"Signals: SIGTERM/SIGINT stop (requests in flight get 5 s\n"
		"to finish, the node is gone 2 s later at most; exit status\n"
		"0, or 1 when backend calls never returned; a second signal\n"
		"exits at once, status 128 + its number; SIGTERM drains\n"
		"first with --drain-on-term); SIGHUP reloads the\n"
		"configuration.\n",
		prog);
}

/* --node's default: this host's short name, or the only node. */
static const char *default_node(const sl_config_t *c)
{
	char host[256];
	char *dot;

	if (gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		dot = strchr(host, '.');
		if (dot)
			*dot = '\0';
		for (size_t i = 0; i < c->n_nodes; i++)
			if (strcmp(c->nodes[i].name, host) == 0)
				return c->nodes[i].name;
	}
	return c->n_nodes == 1 ? c->nodes[0].name : NULL;
}

/* The config at path, with the command line's node added: NULL with
 * err. */
static sl_config_t *load(const main_ctx_t *mc, char *err, size_t errlen)
{
	sl_config_t *c = sl_config_load(mc->config_path, err, errlen);

	if (c && mc->addr &&
	    sl_config_add_node(c, mc->node, mc->addr, mc->metrics_addr, err,
			       errlen) < 0)
		sl_config_destroy(&c);
	return c;
}

static void reload(main_ctx_t *mc)
{
	char err[512];
	sl_config_t *c = load(mc, err, sizeof(err));

	if (!c) {
		sl_err("reload failed, keeping the old configuration: %s", err);
		return;
	}
	if (cn_server_reload(mc->s, c, err, sizeof(err)) < 0)
		sl_err("reload failed, keeping the old configuration: %s", err);
}

static void on_signal(void *arg)
{
	main_ctx_t *mc = arg;
	struct signalfd_siginfo si;

	while (read(mc->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			/* A second one (a second ^C) does not wait for the
			 * drain. */
			if (mc->stopping) {
				sl_warn("%s again: exiting now",
					strsignal((int)si.ssi_signo));
				_exit(128 + (int)si.ssi_signo);
			}
			mc->stopping = 1;
			if (si.ssi_signo == SIGTERM && mc->drain_on_term) {
				sl_notice("SIGTERM: draining for %llu ms, then "
					  "stopping",
					  (unsigned long long)mc->grace_ms);
				cn_server_drain(mc->s, mc->grace_ms, 1);
				break;
			}
			sl_notice("%s: stopping", strsignal((int)si.ssi_signo));
			cn_server_stop(mc->s);
			break;
		case SIGHUP:
			sl_notice("SIGHUP: reloading %s", mc->config_path);
			reload(mc);
			break;
		default:
			break;
		}
	}
}

/* The watchdog of the teardown (see the top of the file). */
typedef struct watchdog {
	pthread_t thread;
	int sfd;	      /* the signalfd, borrowed */
	int done_fd;	      /* an eventfd: the teardown finished */
	uint64_t deadline_ms; /* sl_now_ms() clock */
} watchdog_t;

static void *watchdog_main(void *arg)
{
	watchdog_t *w = arg;
	struct signalfd_siginfo si;

	for (;;) {
		struct pollfd p[2] = {{w->sfd, POLLIN, 0},
				      {w->done_fd, POLLIN, 0}};
		uint64_t now = sl_now_ms();
		int rc = poll(p, 2,
			      w->deadline_ms > now
				      ? (int)SL_MIN(w->deadline_ms - now,
						    (uint64_t)INT32_MAX)
				      : 0);

		if (rc < 0 && errno == EINTR)
			continue;
		if (p[1].revents)
			return NULL;
		if (rc == 0) {
			sl_err("stopping took too long: exiting now");
			_exit(1);
		}
		while (read(w->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			if (si.ssi_signo != SIGTERM && si.ssi_signo != SIGINT)
				continue;
			sl_warn("%s again: exiting now",
				strsignal((int)si.ssi_signo));
			_exit(128 + (int)si.ssi_signo);
		}
	}
}

/*
 * Tear the server down with the watchdog on; returns only when the
 * teardown finished and left nothing running, else ends the process
 * with status 1 (backend calls left behind must not see their module
 * unloaded by exit()).
 */
static void teardown(main_ctx_t *mc)
{
	uint64_t end = cn_server_stop_deadline(mc->s);
	watchdog_t w = {.sfd = mc->sfd, .done_fd = -1};
	uint64_t one = 1;
	int rc, started = 0;

	w.deadline_ms = (end ? end : sl_now_ms() + 7000) + WATCHDOG_SLACK_MS;
	w.done_fd = eventfd(0, EFD_CLOEXEC);
	if (w.done_fd >= 0 &&
	    pthread_create(&w.thread, NULL, watchdog_main, &w) == 0)
		started = 1;
	else
		sl_warn("no watchdog for the stop: a second signal will wait");
	rc = cn_server_destroy(&mc->s);
	if (started) {
		(void)!write(w.done_fd, &one, sizeof(one));
		pthread_join(w.thread, NULL);
	}
	if (w.done_fd >= 0)
		close(w.done_fd);
	if (rc < 0) {
		sl_err("stopped, leaving backend calls that never returned");
		_exit(1);
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"node", required_argument, NULL, 'n'},
		{"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{"no-ram-tier", no_argument, NULL, 'R'},
		{"addr", required_argument, NULL, 'A'},
		{"metrics-addr", required_argument, NULL, 'M'},
		{"drain-on-term", no_argument, NULL, 'D'},
		{"grace", required_argument, NULL, 'G'},
		{NULL, 0, NULL, 0},
	};
	cn_server_opts_t opts = {0};
	main_ctx_t mc = {.sfd = -1, .grace_ms = 60000};
	const char *node = NULL;
	int level = SL_LOG_NOTICE, opt, rc = 1;
	sl_config_t *cfg = NULL;
	char err[512];
	sigset_t mask;

	while ((opt = getopt_long(argc, argv, "c:n:vqhV", longopts, NULL)) !=
	       -1) {
		switch (opt) {
		case 'c':
			mc.config_path = optarg;
			break;
		case 'n':
			node = optarg;
			break;
		case 'v':
			level++;
			break;
		case 'q':
			level = SL_LOG_WARNING;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 0;
		case 'R':
			opts.no_ram_tier = 1;
			break;
		case 'A':
			mc.addr = optarg;
			break;
		case 'M':
			mc.metrics_addr = optarg;
			break;
		case 'D':
			mc.drain_on_term = 1;
			break;
		case 'G':
			if (sl_parse_duration_ms(optarg, &mc.grace_ms) < 0) {
				fprintf(stderr,
					"%s: --grace: '%s' is not a "
					"duration\n",
					argv[0], optarg);
				return 2;
			}
			break;
		case 'V':
			printf("sluice-cachenode %s (backend ABI %d)\n",
			       SL_VERSION, SB_ABI_VERSION);
			return 0;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	if (!mc.config_path || optind != argc || (mc.addr && !node) ||
	    (mc.metrics_addr && !mc.addr)) {
		usage(stderr, argv[0]);
		return 2;
	}
	mc.node = node;
	sl_log_init("sluice-cachenode", level);

	/* Blocks of 64 KiB and more are mmap()ed by the tier itself; keep
	 * glibc from moving its own threshold up, so that large control
	 * allocations go back to the kernel too and RSS follows the cache's
	 * accounting. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	mallopt(M_ARENA_MAX, 4);

	/* Before any thread exists, so that every thread inherits the mask
	 * and the signals reach only the signalfd. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
		sl_err("sigprocmask: %s", strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	mc.sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (mc.sfd < 0) {
		sl_err("signalfd: %s", strerror(errno));
		return 1;
	}

	cfg = load(&mc, err, sizeof(err));
	if (!cfg) {
		sl_err("%s", err);
		goto out;
	}
	if (!node)
		node = default_node(cfg);
	if (!node) {
		sl_err("%s has %zu nodes and none is named like this host: "
		       "say which with --node",
		       mc.config_path, cfg->n_nodes);
		sl_config_destroy(&cfg);
		goto out;
	}
	/* The server takes cfg, also on failure. */
	mc.s = cn_server_new(cfg, node, &opts, err, sizeof(err));
	if (!mc.s) {
		sl_err("%s", err);
		goto out;
	}
	cn_server_set_hook(mc.s, mc.sfd, on_signal, &mc);
	rc = cn_server_run(mc.s) < 0 ? 1 : 0;
	teardown(&mc);
out:
	close(mc.sfd);
	return rc;
}
