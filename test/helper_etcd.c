/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A real etcd for tests (see helper_etcd.h).  Readiness is asked of etcd
 * itself through our own client: the port opens before the member has
 * elected itself, and a range answers only once it has.
 */
#include "test/helper_etcd.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/etcd.h"
#include "common/util.h"
#include "test/helper_proc.h"

#define READY_MS 20000

th_etcd_t th_etcd_suite;

int th_etcd_available(void)
{
	return access(TH_ETCD_BIN, X_OK) == 0;
}

static void print_log(const th_etcd_t *t)
{
	char path[512];
	char *log;

	snprintf(path, sizeof(path), "%s/etcd.log", t->dir);
	log = th_read_file(path, NULL);
	fprintf(stderr, "---- %s\n%s---- end of etcd log\n", path,
		log ? log : "(none)\n");
	free(log);
}

static int wait_ready(th_etcd_t *t)
{
	sl_etcd_opts_t o = {.timeout_ms = 500};
	uint64_t deadline = sl_now_ms() + READY_MS;
	char why[SL_ETCD_ERR_MAX];
	sl_etcd_t *e;
	int rc;

	rc = th_wait_port(t->port, READY_MS);
	if (rc < 0)
		return rc;
	e = sl_etcd_new(t->url, &o, &rc, why, sizeof(why));
	if (!e)
		return rc;
	for (;;) {
		uint8_t *v = NULL;
		size_t n;

		rc = sl_etcd_get(e, "ready?", 6, &v, &n, NULL);
		free(v);
		if (rc == 0 || rc == -ENOENT) {
			rc = 0;
			break;
		}
		if (sl_now_ms() > deadline || !th_proc_alive(t->pid)) {
			fprintf(stderr, "etcd on %s not ready: %s\n", t->url,
				sl_etcd_last_error(e));
			rc = -ETIMEDOUT;
			break;
		}
		usleep(20000);
	}
	sl_etcd_destroy(&e);
	return rc;
}

static int spawn(th_etcd_t *t)
{
	char data[512], log[512], client[64], peer[64], cluster[96];
	/* (char *): execv's argv is not const, though nothing writes it. */
	char *argv[] = {
		(char *)TH_ETCD_BIN,
		(char *)"--name",
		(char *)"default",
		(char *)"--data-dir",
		data,
		(char *)"--listen-client-urls",
		client,
		(char *)"--advertise-client-urls",
		client,
		(char *)"--listen-peer-urls",
		peer,
		(char *)"--initial-advertise-peer-urls",
		peer,
		(char *)"--initial-cluster",
		cluster,
		(char *)"--heartbeat-interval",
		(char *)"10",
		(char *)"--election-timeout",
		(char *)"100",
		(char *)"--log-level",
		(char *)"warn",
		NULL,
	};
	int rc;

	snprintf(data, sizeof(data), "%s/data", t->dir);
	snprintf(log, sizeof(log), "%s/etcd.log", t->dir);
	snprintf(client, sizeof(client), "http://127.0.0.1:%d", t->port);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", t->peer_port);
	snprintf(cluster, sizeof(cluster), "default=%s", peer);
	t->pid = th_proc_spawn(argv, log);
	if (t->pid < 0) {
		rc = t->pid;
		t->pid = 0;
		return rc;
	}
	rc = wait_ready(t);
	if (rc < 0)
		print_log(t);
	return rc;
}

int th_etcd_start(th_etcd_t *t)
{
	memset(t, 0, sizeof(*t));
	t->dir = th_tmpdir("etcd");
	t->port = th_free_port();
	t->peer_port = th_free_port();
	if (!t->dir || t->port < 0 || t->peer_port < 0)
		return -EIO;
	/* th_free_port may hand the same port twice in a row. */
	while (t->peer_port == t->port)
		t->peer_port = th_free_port();
	snprintf(t->url, sizeof(t->url), "http://127.0.0.1:%d", t->port);
	return spawn(t);
}

int th_etcd_stop(th_etcd_t *t, int sig)
{
	int rc;

	if (t->pid <= 0)
		return 0;
	if (sig == SIGKILL) {
		th_proc_kill(t->pid);
		rc = 0;
	} else {
		rc = th_proc_stop(t->pid, sig, 10000, NULL);
	}
	t->pid = 0;
	return rc;
}

int th_etcd_restart(th_etcd_t *t)
{
	if (t->pid > 0)
		return -EBUSY;
	return spawn(t);
}

void th_etcd_fini(th_etcd_t *t)
{
	if (t->pid > 0)
		th_proc_kill(t->pid);
	t->pid = 0;
	if (t->dir)
		th_rmtree(t->dir);
	free(t->dir);
	t->dir = NULL;
}

int th_etcd_suite_start(void)
{
	if (th_etcd_start(&th_etcd_suite) < 0) {
		fprintf(stderr, "cannot start etcd\n");
		return 2;
	}
	return 0;
}

void th_etcd_suite_stop(int failed)
{
	(void)failed;
	th_etcd_fini(&th_etcd_suite);
}
