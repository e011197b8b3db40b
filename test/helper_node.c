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
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/config.h"
#include "test/helper_proc.h"

static void *serve(void *arg)
{
	th_node_t *n = arg;

	cn_server_run(n->srv);
	return NULL;
}

/* The config of node n1 at n->endpoint, or NULL with err. */
static sl_config_t *make_config(th_node_t *n, const char *node_keys,
				const char *rest, char *err, size_t errlen)
{
	char *text = NULL, modules[PATH_MAX];
	sl_config_t *cfg;

	if (!realpath(th_build_dir(), modules)) {
		snprintf(err, errlen, "%s: %s", th_build_dir(),
			 strerror(errno));
		return NULL;
	}
	if (asprintf(&text,
		     "[cluster]\nname = t\nmodule_dir = %s\n"
		     "[node n1]\naddr = %s\n%s\n%s",
		     modules, n->endpoint, node_keys, rest) < 0)
		return NULL;
	cfg = sl_config_parse(text, "node.conf", err, errlen);
	free(text);
	return cfg;
}

/* On the event thread: apply the pending config. */
static void on_reload(void *arg)
{
	th_node_t *n = arg;
	uint64_t v;
	char err[256] = "";
	sl_config_t *cfg;
	int rc;

	if (read(n->reload_fd, &v, sizeof(v)) < 0)
		return;
	pthread_mutex_lock(&n->lock);
	cfg = n->next;
	n->next = NULL;
	pthread_mutex_unlock(&n->lock);
	if (!cfg)
		return;
	rc = cn_server_reload(n->srv, cfg, err, sizeof(err));
	pthread_mutex_lock(&n->lock);
	n->reload_rc = rc;
	snprintf(n->reload_err, sizeof(n->reload_err), "%s", err);
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

int th_node_start(th_node_t *n, const char *node_keys, const char *rest,
		  const cn_server_opts_t *opts, char *err, size_t errlen)
{
	cn_server_opts_t o = {0};
	sl_config_t *cfg;
	int port = th_free_port();

	memset(n, 0, sizeof(*n));
	n->reload_fd = -1;
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->cond, NULL);
	if (port < 0) {
		snprintf(err, errlen, "no free port: %s", strerror(-port));
		return -EINVAL;
	}
	snprintf(n->endpoint, sizeof(n->endpoint), "tcp://127.0.0.1:%d", port);
	cfg = make_config(n, node_keys, rest, err, errlen);
	if (!cfg)
		return -EINVAL;
	if (opts)
		o = *opts;
	o.no_metrics_http = 1;
	n->srv = cn_server_new(cfg, "n1", &o, err, errlen);
	if (!n->srv)
		return -EINVAL;
	n->reload_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (n->reload_fd >= 0)
		cn_server_set_hook(n->srv, n->reload_fd, on_reload, n);
	if (pthread_create(&n->thread, NULL, serve, n) != 0) {
		snprintf(err, errlen, "pthread_create failed");
		cn_server_destroy(&n->srv);
		return -EINVAL;
	}
	n->running = 1;
	return 0;
}

int th_node_reload(th_node_t *n, const char *node_keys, const char *rest,
		   char *err, size_t errlen)
{
	sl_config_t *cfg = make_config(n, node_keys, rest, err, errlen);
	uint64_t one = 1;
	int rc;

	if (!cfg)
		return -EINVAL;
	pthread_mutex_lock(&n->lock);
	n->next = cfg;
	n->reload_rc = 1;
	pthread_mutex_unlock(&n->lock);
	if (write(n->reload_fd, &one, sizeof(one)) < 0)
		return -errno;
	pthread_mutex_lock(&n->lock);
	while (n->reload_rc == 1)
		pthread_cond_wait(&n->cond, &n->lock);
	rc = n->reload_rc;
	snprintf(err, errlen, "%s", n->reload_err);
	pthread_mutex_unlock(&n->lock);
	return rc;
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
	if (n->reload_fd >= 0)
		close(n->reload_fd);
	n->reload_fd = -1;
	pthread_mutex_lock(&n->lock);
	sl_config_destroy(&n->next);
	pthread_mutex_unlock(&n->lock);
}
