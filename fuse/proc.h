/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluice-fuse's process model.  The process the user starts becomes the
 * supervisor (super.c): it mounts, holds /dev/fuse and the kernel's
 * FUSE_INIT, and runs the serving worker (worker.c) as a child -- the
 * same binary, re-executed with an internal flag, so that a new worker
 * is whatever binary is on disk now.  A worker that dies is replaced and
 * takes over the same connection; an upgrade replaces a live one with no
 * request lost.  The supervisor uses no ZeroMQ, no cache and no threads:
 * it cannot crash from the causes a worker can.  It serves the client's
 * metrics (metrics.h) from the shared state, so they outlive workers.
 *
 * Between the two, a SOCK_SEQPACKET socket pair (the worker's FC_CTL_FD)
 * carries these messages, one struct fc_ctl each:
 *
 *   worker -> supervisor  READY     the map is fetched, the I/O thread up:
 *                                   give me the connection
 *   supervisor -> worker  GO        the /dev/fuse descriptor (SCM_RIGHTS);
 *                                   the shared state is FC_SHM_FD's
 *   worker -> supervisor  SERVING   INIT fed, requests being read; value:
 *                                   1 when it took over an inode table
 *   supervisor -> worker  DRAIN     stop reading, answer what is in hand,
 *                                   exit FC_EXIT_DRAINED
 *
 * A worker whose socket closes (its supervisor is gone) exits at once.
 */
#ifndef FC_PROC_H
#define FC_PROC_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#define FC_CTL_FD 3 /* a worker's end of the socket pair */
#define FC_SHM_FD 4 /* a worker's shared state (shared.h) */

/* A worker's exit status. */
#define FC_EXIT_UNMOUNTED 0 /* the session ended: the mount is gone */
#define FC_EXIT_FAILED	  1 /* could not start or serve (logged) */
#define FC_EXIT_DRAINED	  3 /* handed over after DRAIN */

enum fc_ctl_type {
	FC_CTL_READY = 1,
	FC_CTL_GO,
	FC_CTL_SERVING,
	FC_CTL_DRAIN,
};

struct fc_ctl {
	uint32_t type; /* enum fc_ctl_type */
	int32_t value;
};

/* Send m (borrowed) on sock, with descriptor fd (borrowed; -1: none).
 * Returns 0 or -errno. */
int fc_ctl_send(int sock, const struct fc_ctl *m, int fd);

/* Receive one message into *m; a descriptor that came with it goes to
 * *fd (caller closes; -1 when none; fd may be NULL to refuse any).
 * Returns 0, -EPIPE at end of stream (the peer is gone), or -errno. */
int fc_ctl_recv(int sock, struct fc_ctl *m, int *fd);

/* What main() parsed from the command line, for both kinds of process. */
typedef struct fc_cmdline {
	char **argv; /* as given, argv[0] the program */
	int argc;
	struct fuse_args *args; /* libfuse's options, our defaults first */
	const struct fuse_cmdline_opts *cmd;
	const char *config; /* absolute */
	const char *log_file;
	const char *metrics; /* -o metrics=: over [client] metrics_addr */
	int level;	     /* sl_log level */
	int rw;		     /* -o rw */
	int upgrade; /* a worker started by an upgrade (--sluice-upgrade) */
	int auto_unmount; /* -o auto_unmount, as root: the supervisor's */
} fc_cmdline_t;

/* The supervisor, for the whole life of the mount.  Returns the exit
 * status: 0 after an unmount or SIGTERM, 1 when the mount could not be
 * had or went wrong (logged). */
int fc_super_main(const fc_cmdline_t *c);

/* `sluice-fuse --upgrade MOUNTPOINT`: ask that mount's supervisor to
 * replace its worker with the binary now on disk, and print its answer.
 * Returns the exit status. */
int fc_super_upgrade(const char *mountpoint);

/* The abstract unix socket address of the supervisor of the mount whose
 * device is dev ("MAJOR:MINOR", borrowed), into *a and *len: where it
 * listens for --upgrade callers.  Returns 0 or -ENAMETOOLONG. */
int fc_upgrade_addr(const char *dev, struct sockaddr_un *a, socklen_t *len);

/* A worker, on FC_CTL_FD and FC_SHM_FD.  Returns its exit status
 * (FC_EXIT_*). */
int fc_worker_main(const fc_cmdline_t *c);

/* libfuse's messages, into our log (one line each). */
void fc_fuse_log(enum fuse_log_level level, const char *fmt, va_list ap);

#endif
