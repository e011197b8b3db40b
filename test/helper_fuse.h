/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper for integration tests that mount sluice-fuse: a registry of
 * every process started and every mount made, in shared memory so that
 * Check's forked tests add to it, killed by PID and lazily unmounted at
 * the end or on a fatal signal, so a failing run never leaves them
 * behind; and a cluster -- cache nodes on free loopback ports, a posix
 * dataset, a config, a client mounting it -- with the small file and
 * process helpers its tests share.
 *
 * Prefix th_.  Call th_fuse_setup() first and th_fuse_teardown() last,
 * from the test program's main thread.
 */
#ifndef TH_FUSE_H
#define TH_FUSE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "test/helper_proc.h" /* th_xsnprintf */

/* A scratch directory for the run (TAG names it) and the registry.
 * Returns 0, or -1 with a message on stderr. */
int th_fuse_setup(const char *tag);
/* Kill, unmount, and remove the scratch directory when rc is 0 (else
 * say where the logs were kept). */
void th_fuse_teardown(int rc);
/* The run's scratch directory, the binaries' directory (absolute) and
 * the fusermount3 to use.  Static strings. */
const char *th_fuse_work(void);
const char *th_fuse_build(void);
const char *th_fusermount(void);

typedef struct th_cluster {
	char dir[PATH_MAX]; /* scratch for this cluster */
	char conf[PATH_MAX];
	char src[PATH_MAX]; /* the dataset's source directory */
	char mnt[PATH_MAX];
	char data[PATH_MAX]; /* mnt/<dataset> */
	char fclog[PATH_MAX];
	const char *block_size; /* the dataset's; NULL: 64K */
	const char *ds_extra;	/* more keys of [dataset ds], or NULL */
	const char *sections;	/* more sections before [client], or NULL */
	int n_nodes;
	int port[8];
	int mport[8]; /* a node's metrics_addr port; 0: none (the default) */
	pid_t node[8];
	pid_t client;
} th_cluster_t;

void th_msleep(unsigned ms);
/* Create or truncate path with data[0..len), or abort the test. */
void th_put_file(const char *path, const void *data, size_t len);
/* Deterministic contents: xorshift bytes from seed. */
void th_fill_bytes(uint8_t *p, size_t len, uint64_t seed);
void th_make_file(const char *path, size_t len, uint64_t seed, mode_t mode);
/* Start argv (output appended to log), registered for the cleanup. */
pid_t th_fuse_spawn(const char *const argv[], const char *log);
/* pid's wait status within ms, or -1. */
int th_wait_exit(pid_t pid, unsigned ms);
/* argv's exit status within 30 s (output discarded), or < 0. */
int th_run(const char *const argv[]);
int th_is_mounted(const char *path);
/* Processes other than us whose command line mentions s. */
int th_procs_mentioning(const char *s);
int th_file_contains(const char *path, const char *s);
/* A shell command's stdout within 5 minutes (caller frees). */
char *th_capture(const char *cmd);

/* Lay out cluster NAME with n_nodes nodes under the scratch directory. */
void th_cluster_init(th_cluster_t *c, const char *name, int n_nodes);
/* A second client b of cluster c: c's nodes and config, its own mount
 * point, log and scratch (DIR/NAME), registered for the cleanup.  Start
 * it with th_client_start(b, ...), stop it with th_client_stop(b). */
void th_cluster_client(const th_cluster_t *c, th_cluster_t *b,
		       const char *name);
/* Write its config, [client] client_extra appended. */
void th_cluster_conf(th_cluster_t *c, const char *client_extra);
void th_cluster_node_start(th_cluster_t *c, int i);
void th_cluster_node_kill(th_cluster_t *c, int i);
/* Start the client in the foreground with extra arguments; 0 once
 * mounted, -1 if it exited or did not mount within 20 s. */
int th_client_start(th_cluster_t *c, const char *const extra[]);
/* Config, every node, the mount (or fail the test with the log). */
void th_cluster_up(th_cluster_t *c, const char *client_extra,
		   const char *const args[]);
/* fusermount3 -u, then the client must exit 0 on its own: 0 or -1. */
int th_client_stop(th_cluster_t *c);
void th_cluster_stop(th_cluster_t *c);
/* The pid of the client's serving worker (its child), waiting up to ms
 * for one; -1 when there is none. */
pid_t th_client_worker(th_cluster_t *c, unsigned ms);
/* Whether pid (anybody's) has exited: no such process, or a zombie. */
int th_pid_gone(pid_t pid);
/* A node's counter (STATS), or -1; READs and the like answered with
 * success by a node, by all of a cluster's. */
int64_t th_node_value(int port, const char *name);
int64_t th_node_ok(int port, const char *op);
int64_t th_cluster_ok(th_cluster_t *c, const char *op);
/* Whether two files have the same bytes. */
int th_compare_file(const char *src, const char *mnt);
/* rc < 0 with errno want, or fail the test naming what. */
void th_expect_errno(int rc, int want, const char *what);

#endif
