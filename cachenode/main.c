/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluice-cachenode: the cache daemon.  Runs in the foreground (systemd
 * style), serves the node named on the command line from the cluster
 * config, and logs to stderr.  Signals arrive through a signalfd that the
 * server's event loop polls, so a handler never runs in the middle of
 * anything: SIGTERM/SIGINT stop accepting and drain, SIGHUP reloads the
 * config (keeping the old one if the new one is invalid).
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cachenode/server.h"
#include "common/config.h"
#include "common/log.h"
#include "common/util.h"

#ifndef SL_VERSION
#define SL_VERSION "dev"
#endif

typedef struct main_ctx {
	cn_server_t *s;
	int sfd;
	int stopping; /* a stop signal came already */
	const char *config_path;
} main_ctx_t;

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s -c CLUSTER.conf [--node NAME] [-v]...\n"
		"\n"
		"Serve one node of a Sluice cluster: a RAM cache of dataset\n"
		"blocks in front of the datasets' backends.\n"
		"\n"
		"  -c, --config FILE  the cluster configuration (required)\n"
		"  -n, --node NAME    the [node NAME] section to serve;\n"
		"                     default: the node named like this\n"
		"                     host, or the config's only node\n"
		"      --no-ram-tier  cache no block in RAM (to measure the\n"
		"                     disk tier): ram_capacity then bounds\n"
		"                     only the buffers of blocks in flight\n"
		"  -v, --verbose      log more (-v info, -vv debug)\n"
		"  -q, --quiet        log errors and warnings only\n"
		"  -h, --help         show this help and exit\n"
		"  -V, --version      show the version and exit\n"
		"\n"
		"Signals: SIGTERM/SIGINT stop (requests in flight finish;\n"
		"exit status 0; a second one exits at once); SIGHUP reloads\n"
		"the configuration.\n",
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

static void reload(main_ctx_t *mc)
{
	char err[512];
	sl_config_t *c = sl_config_load(mc->config_path, err, sizeof(err));

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
				_exit(1);
			}
			mc->stopping = 1;
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
		{NULL, 0, NULL, 0},
	};
	cn_server_opts_t opts = {0};
	main_ctx_t mc = {.sfd = -1};
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
		case 'V':
			printf("sluice-cachenode %s (backend ABI %d)\n",
			       SL_VERSION, SB_ABI_VERSION);
			return 0;
		default:
			usage(stderr, argv[0]);
			return 2;
		}
	}
	if (!mc.config_path || optind != argc) {
		usage(stderr, argv[0]);
		return 2;
	}
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

	cfg = sl_config_load(mc.config_path, err, sizeof(err));
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
	cn_server_destroy(&mc.s);
out:
	close(mc.sfd);
	return rc;
}
