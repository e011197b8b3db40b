/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: a real cache node (event loop, tiers, workers, flights) run
 * in a thread of the test process, on a free loopback port, usually with
 * built-in backends of the test's own making.  Tests then talk to it with
 * th_client (helper_client.h) and read its counters directly, and can
 * reload it with another configuration, as SIGHUP does.
 *
 * One node per th_node_t; the test's thread starts, reloads and stops it.
 */
#ifndef TH_NODE_H
#define TH_NODE_H

#include <pthread.h>

#include "cachenode/server.h"

typedef struct th_node {
	cn_server_t *srv;
	pthread_t thread;
	int running;	   /* the thread was started */
	char endpoint[64]; /* "tcp://127.0.0.1:PORT" */
	/* A reload handed to the event thread (th_node_reload). */
	int reload_fd;		/* an eventfd the loop polls */
	pthread_mutex_t lock;	/* guards the three below */
	pthread_cond_t cond;	/* signalled when a reload is done */
	struct sl_config *next; /* protected by lock: to apply */
	int reload_rc;		/* protected by lock: 1 while pending */
	char reload_err[256];	/* protected by lock */
} th_node_t;

/*
 * Start node n1 of a cluster whose config ("node.conf") is "[cluster]"
 * (modules from the build directory), "[node n1]" with its addr and the
 * keys in node_keys (may be ""), then the sections in rest (datasets,
 * ...): rest starts on line 7 plus a line per line of node_keys.  opts is
 * borrowed (metrics HTTP is turned off); NULL for none.  Returns 0, or -EINVAL
 * with the config's or the server's message in err.
 */
int th_node_start(th_node_t *n, const char *node_keys, const char *rest,
		  const cn_server_opts_t *opts, char *err, size_t errlen);

/*
 * Reload the running node with the config th_node_start would make of
 * node_keys and rest (same address), applied on its event thread as
 * SIGHUP does; waits for the result.  0, or the reload's -errno with its
 * message in err.
 */
int th_node_reload(th_node_t *n, const char *node_keys, const char *rest,
		   char *err, size_t errlen);

/* Stop the loop, join the thread and destroy the server.  Idempotent. */
void th_node_stop(th_node_t *n);

#endif
