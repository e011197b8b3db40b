/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: an in-process cache node (see helper_node.h).
 */
#include "test/helper_node.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "test/helper_proc.h"

static void *serve(void *arg)
{
	th_node_t *n = arg;

	cn_server_run(n->srv);
	return NULL;
}

int th_node_start(th_node_t *n, const char *node_keys, const char *rest,
		  const cn_server_opts_t *opts, char *err, size_t errlen)
{
	cn_server_opts_t o = {0};
	sl_config_t *cfg;
	char *text = NULL, modules[PATH_MAX];
	int port = th_free_port();

	memset(n, 0, sizeof(*n));
	if (port < 0) {
		snprintf(err, errlen, "no free port: %s", strerror(-port));
		return -EINVAL;
	}
	snprintf(n->endpoint, sizeof(n->endpoint), "tcp://127.0.0.1:%d", port);
	if (!realpath(th_build_dir(), modules)) {
		snprintf(err, errlen, "%s: %s", th_build_dir(),
			 strerror(errno));
		return -EINVAL;
	}
	if (asprintf(&text,
		     "[cluster]\nname = t\nmodule_dir = %s\n"
		     "[node n1]\naddr = %s\n%s\n%s",
		     modules, n->endpoint, node_keys, rest) < 0)
		return -ENOMEM;
	cfg = sl_config_parse(text, "node.conf", err, errlen);
	free(text);
	if (!cfg)
		return -EINVAL;
	if (opts)
		o = *opts;
	o.no_metrics_http = 1;
	n->srv = cn_server_new(cfg, "n1", &o, err, errlen);
	if (!n->srv)
		return -EINVAL;
	if (pthread_create(&n->thread, NULL, serve, n) != 0) {
		snprintf(err, errlen, "pthread_create failed");
		cn_server_destroy(&n->srv);
		return -EINVAL;
	}
	n->running = 1;
	return 0;
}

void th_node_stop(th_node_t *n)
{
	if (!n->srv)
		return;
	if (n->running) {
		cn_server_stop(n->srv);
		pthread_join(n->thread, NULL);
		n->running = 0;
	}
	cn_server_destroy(&n->srv);
}
