/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: a real, single-member etcd server (/usr/bin/etcd, Debian's
 * etcd-server) on free loopback ports with its data in a temporary
 * directory, started, stopped and restarted on the same data and ports by
 * PID (it dies with the process that started it, see helper_proc.h).
 * Elections are tuned short (heartbeat 10 ms, election 100 ms) so that it
 * is ready in well under a second and lease TTLs of 1 s are honoured.
 */
#ifndef TH_ETCD_H
#define TH_ETCD_H

#include <sys/types.h>

#define TH_ETCD_BIN "/usr/bin/etcd"

typedef struct th_etcd {
	pid_t pid; /* 0 while stopped */
	int port;  /* client port on 127.0.0.1 */
	int peer_port;
	char *dir;    /* data dir and log; removed by th_etcd_fini */
	char url[64]; /* "http://127.0.0.1:PORT" */
} th_etcd_t;

/* 1 when TH_ETCD_BIN can be run. */
int th_etcd_available(void);

/* Start a new etcd into *t (zeroed first) and wait until it answers a
 * range: 0, or -errno (its log is printed to stderr). */
int th_etcd_start(th_etcd_t *t);
/* SIGTERM and wait (SIGKILL when sig is SIGKILL).  0 or -errno. */
int th_etcd_stop(th_etcd_t *t, int sig);
/* Start it again on the same data dir and ports; waits as start does. */
int th_etcd_restart(th_etcd_t *t);
/* Kill it if running and remove its directory.  Accepts a zeroed *t. */
void th_etcd_fini(th_etcd_t *t);

/* One etcd for a whole suite, for th_check_opts_t's before and after: it
 * starts in the runner's process, so it outlives every test's fork, and
 * the tests (forked children) read th_etcd_suite.url. */
extern th_etcd_t th_etcd_suite;
int th_etcd_suite_start(void);
void th_etcd_suite_stop(int failed);

#endif
