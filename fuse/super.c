/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The supervisor (see proc.h): it mounts, keeps /dev/fuse and the shared
 * state (shared.h) for the life of the mount, and runs one serving worker
 * at a time.  It is one thread around one poll(2): a signalfd (SIGCHLD,
 * SIGTERM, SIGINT, SIGHUP, SIGUSR2), the workers' control sockets, the
 * --upgrade listener, the metrics endpoint's epoll descriptor (when
 * [client] metrics_addr or -o metrics= asks for one: render_metrics) and,
 * once it has given up on workers, /dev/fuse itself.
 *
 * A worker's life.  It starts, fetches the cluster map and says READY;
 * the supervisor gives it the connection (GO); it says SERVING.  The
 * first one is started before the mount, so that a cluster nobody answers
 * for fails the command instead of leaving a mount behind; the kernel's
 * FUSE_INIT is read here, once, and kept for every worker.
 *
 * A worker that dies.  The kernel still holds the requests it had read
 * and not answered, and their callers wait.  On kernels with
 * FUSE_NOTIFY_RESEND (Linux 6.9 and later) one notification puts them
 * back in the queue, for the next worker to read; where the kernel
 * refuses it (the write fails with EINVAL), the supervisor answers each
 * request the dead worker's threads had in hand (their slots in shared
 * memory) with EIO -- a slot whose request was answered after all gets
 * ENOENT from the kernel, harmlessly.  A new worker starts at once, and
 * takes over the inode table as the dead one left it (inode.h).
 *
 * Back-off.  A worker that dies before it has served for FAST_MS is a
 * fast failure (it crashes at start, or on the first request it is
 * given, which the kernel then resends to the next one): the next start
 * waits 100 ms, doubling, from the second in a row on; after MAX_FAST
 * fast failures in a row the supervisor gives up, says so in the log, and
 * answers every request with EIO itself until it is unmounted (or an
 * --upgrade brings a worker that stays up).  A mount that answers EIO is
 * better than one whose callers hang.
 *
 * Upgrade (--upgrade, or SIGUSR2).  A new worker is started from the
 * binary now on disk while the old one serves; when the new one is READY
 * the old one is told to DRAIN: it stops reading, answers what it has in
 * hand and exits; then the new one gets the connection.  Requests that
 * arrive in between wait in the kernel's queue.  A new worker that fails
 * to start leaves the old one serving.  The caller's side of --upgrade,
 * and the listener's address both sides use, are upgrade.c's.
 */
#include "fuse/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fuse.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/promhttp.h"
#include "common/util.h"
#include "fuse/mountinfo.h"
#include "fuse/shared.h"

#ifndef FUSE_NOTIFY_RESEND
#define FUSE_NOTIFY_RESEND 7 /* Linux 6.9; uapi headers may predate it */
#endif
#define FUSE_HAS_RESEND_BIT (1u << (39 - 32)) /* in fuse_init_in.flags2 */

/* A worker that dies before it has served this long failed fast. */
#define FAST_MS	    500
#define MAX_FAST    5	  /* fast failures in a row, then give up */
#define BACKOFF_MS  100	  /* the first wait after a fast failure */
#define READY_MS    60000 /* a new worker's time to say READY */
#define DRAIN_MS    30000 /* an old worker's time to hand over */
#define STOP_MS	    10000 /* a worker's time to go after the unmount */
#define DEV_BUF	    (FUSE_MIN_READ_BUFFER + (1u << 20)) /* one request */
#define MAX_CLIENTS 8 /* --upgrade callers waiting for an answer */

enum { W_NONE, W_STARTING, W_READY, W_SERVING };

struct worker {
	pid_t pid; /* 0: none */
	int ctl;   /* our end of its socket pair, -1: none */
	int state;
	uint64_t started_ms;
	uint64_t serving_ms; /* 0 until SERVING */
};

typedef struct super {
	const fc_cmdline_t *c;
	char exe[PATH_MAX];   /* what a worker runs: the binary now there */
	char where[PATH_MAX]; /* the mountpoint, canonical */
	char dev[32];	      /* the mount's MAJOR:MINOR */
	char **wargv;	      /* a worker's command line */
	char **wargv_up;      /* an upgrade's */
	fc_shared_t *sh;
	size_t sh_bytes;
	int shm_fd;
	struct fuse_session *se;
	int fuse_fd; /* -1 until mounted */
	int sigfd;
	int listen_fd;
	int daemon_fd;	    /* the waiting parent's pipe; -1: none */
	int settled;	    /* daemon_done ran */
	int watch_fd;	    /* the auto_unmount watcher's pipe; -1: none */
	struct worker cur;  /* the one that serves (or is to) */
	struct worker next; /* an upgrade's */
	int fast_fails;
	uint64_t respawn_at_ms; /* 0: no start pending */
	uint64_t deadline_ms;	/* READY, DRAIN or STOP, by phase */
	int gave_up;
	int stopping;
	int resend; /* 1 the kernel resends, 0 it cannot, -1 unknown */
	int clients[MAX_CLIENTS];
	int n_clients;
	char *devbuf;	     /* a request read here, DEV_BUF bytes */
	sl_promhttp_t *http; /* the metrics endpoint, or NULL */
	int exit_status;
	int done;
} super_t;

/* ---- the mount ----------------------------------------------------------- */

/* Mount, and read the kernel's INIT into the shared state.  Returns 0 or
 * -errno (logged). */
static int mount_it(super_t *s)
{
	static const struct fuse_lowlevel_ops no_ops;
	const struct fuse_in_header *in = (const void *)s->devbuf;
	const struct fuse_init_in *init;
	ssize_t n;

	s->se = fuse_session_new(s->c->args, &no_ops, sizeof(no_ops), NULL);
	if (!s->se || fuse_session_mount(s->se, s->c->cmd->mountpoint) != 0)
		return -EIO; /* libfuse said why */
	s->fuse_fd = fuse_session_fd(s->se);
	if (fc_mount_dev(s->where, s->dev, sizeof(s->dev)) == 0) {
		fc_mount_raise_readahead(s->dev);
		if (s->c->auto_unmount)
			s->watch_fd = fc_mount_watch(s->where, s->dev);
	} else {
		sl_warn("%s: not in /proc/self/mountinfo", s->where);
	}
	do
		n = read(s->fuse_fd, s->devbuf, DEV_BUF);
	while (n < 0 && errno == EINTR);
	if (n < (ssize_t)(sizeof(*in) + sizeof(init->major) * 4) ||
	    (size_t)n > FC_INIT_MAX || in->opcode != FUSE_INIT) {
		sl_err("%s: the kernel's first message is not an INIT",
		       s->where);
		return -EPROTO;
	}
	memcpy(s->sh->init, s->devbuf, (size_t)n);
	s->sh->init_len = (uint32_t)n;
	init = (const void *)(s->devbuf + sizeof(*in));
	if ((size_t)n >= sizeof(*in) + sizeof(*init) &&
	    (init->flags & FUSE_INIT_EXT))
		s->resend = (init->flags2 & FUSE_HAS_RESEND_BIT) != 0;
	sl_info("kernel FUSE %u.%u; requests of a dead worker are %s",
		init->major, init->minor,
		s->resend == 1 ? "resent (FUSE_NOTIFY_RESEND)"
			       : "answered with EIO unless the kernel takes "
				 "FUSE_NOTIFY_RESEND");
	return 0;
}

/* ---- workers ------------------------------------------------------------- */

static void worker_clear(struct worker *w)
{
	if (w->ctl >= 0)
		close(w->ctl);
	memset(w, 0, sizeof(*w));
	w->ctl = -1;
}

/* fd to target in a child about to exec: never clobbering the other one
 * still needed (dup2 also clears close-on-exec). */
static int child_fd(int fd, int target)
{
	return fd == target ? fcntl(fd, F_SETFD, 0) : dup2(fd, target);
}

/* Start a worker into w.  Returns 0 or -errno (logged). */
static int spawn(super_t *s, struct worker *w)
{
	int sv[2];
	pid_t pid, me = getpid();
	sigset_t all;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		sl_err("worker: socketpair: %s", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		sl_err("worker: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (pid == 0) {
		int ctl = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
		int shm = fcntl(s->shm_fd, F_DUPFD_CLOEXEC, 10);

		/* It dies with us: without a supervisor it would serve a
		 * connection nobody can hand on. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != me || ctl < 0 || shm < 0 ||
		    child_fd(ctl, FC_CTL_FD) < 0 ||
		    child_fd(shm, FC_SHM_FD) < 0)
			_exit(127);
		/* Only 0-2 and ours: not /dev/fuse, not auto_unmount's
		 * socket (fusermount must watch the supervisor alone). */
		close_range(FC_SHM_FD + 1, ~0u, 0);
		sigfillset(&all);
		sigprocmask(SIG_UNBLOCK, &all, NULL);
		execv(s->exe, w == &s->next ? s->wargv_up : s->wargv);
		_exit(127);
	}
	close(sv[1]);
	/* The supervisor must never wait on a worker's socket. */
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	w->pid = pid;
	w->ctl = sv[0];
	w->state = W_STARTING;
	w->started_ms = sl_now_ms();
	sl_info("worker %d started (%s)", (int)pid, s->exe);
	return 0;
}

/* What a wait status says, for the log. */
static void describe(int status, char *buf, size_t cap)
{
	if (WIFSIGNALED(status))
		snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, cap, "exit status %d", WEXITSTATUS(status));
}

/* The requests the dead worker had taken: resent, or failed with EIO. */
static void recover_requests(super_t *s)
{
	struct fuse_out_header h = {
		.len = sizeof(h), .error = FUSE_NOTIFY_RESEND, .unique = 0};
	unsigned failed = 0;

	if (s->fuse_fd < 0)
		return;
	if (s->resend != 0) {
		if (write(s->fuse_fd, &h, sizeof(h)) == (ssize_t)sizeof(h)) {
			s->resend = 1;
			for (unsigned i = 0; i < FC_SHARED_SLOTS; i++)
				atomic_store(&s->sh->slots[i], 0);
			sl_info("the kernel resends the requests the dead "
				"worker had taken");
			return;
		}
		sl_notice("the kernel cannot resend requests (%s: Linux 6.9 "
			  "or later can): the dead worker's get EIO",
			  strerror(errno));
		s->resend = 0;
	}
	for (unsigned i = 0; i < FC_SHARED_SLOTS; i++) {
		uint64_t u = atomic_exchange(&s->sh->slots[i], 0);

		if (!u)
			continue;
		h.error = -EIO;
		h.unique = u;
		/* ENOENT: it was answered after all. */
		if (write(s->fuse_fd, &h, sizeof(h)) == (ssize_t)sizeof(h))
			failed++;
	}
	if (failed)
		sl_warn("answered %u request%s of the dead worker with EIO",
			failed, failed == 1 ? "" : "s");
}

static void answer_clients(super_t *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Tell every waiting --upgrade caller, and let them go. */
static void answer_clients(super_t *s, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	n = SL_MIN(n, (int)sizeof(line) - 2);
	line[n++] = '\n';
	for (int i = 0; i < s->n_clients; i++) {
		if (send(s->clients[i], line, (size_t)n, MSG_NOSIGNAL) < 0)
			sl_debug("upgrade caller: %s", strerror(errno));
		close(s->clients[i]);
	}
	s->n_clients = 0;
}

static void give_up(super_t *s, const char *why)
{
	s->gave_up = 1;
	s->respawn_at_ms = 0;
	sl_err("giving up on workers: %d in a row died before serving for "
	       "%d ms (the last %s); %s now answers every request with EIO, "
	       "until unmounted or `sluice-fuse --upgrade %s` brings a "
	       "worker that stays up",
	       s->fast_fails, FAST_MS, why, s->where, s->where);
}

/* The serving worker is gone with status. */
static void cur_died(super_t *s, int status)
{
	char why[128];
	uint64_t now = sl_now_ms(), lived = now - s->cur.started_ms;
	int fast = !s->cur.serving_ms || now - s->cur.serving_ms < FAST_MS;
	int drained =
		WIFEXITED(status) && WEXITSTATUS(status) == FC_EXIT_DRAINED;
	struct pollfd p = {.fd = s->fuse_fd, .events = 0};

	describe(status, why, sizeof(why));
	worker_clear(&s->cur);
	if (s->stopping) {
		s->done = 1;
		return;
	}
	if (s->fuse_fd < 0) {
		sl_err("the worker did not start (%s)", why);
		s->done = 1;
		s->exit_status = 1;
		return;
	}
	if (poll(&p, 1, 0) == 1 && (p.revents & POLLERR)) {
		/* Unmounted (or aborted): the worker's end was ours too. */
		sl_notice("%s is unmounted", s->where);
		s->done = 1;
		return;
	}
	if (!drained) {
		sl_err("worker died (%s) after %llu ms: starting another", why,
		       (unsigned long long)lived);
		recover_requests(s);
	}
	if (s->next.state == W_READY) {
		/* An upgrade's new worker takes the connection. */
		s->cur = s->next;
		memset(&s->next, 0, sizeof(s->next));
		s->next.ctl = -1;
		s->cur.state = W_READY;
		s->deadline_ms = 0;
		return;
	}
	s->fast_fails = fast ? s->fast_fails + 1 : 0;
	if (s->fast_fails >= MAX_FAST) {
		give_up(s, why);
		return;
	}
	/* The first at once (that is the recovery time); then back off. */
	s->respawn_at_ms =
		now + (s->fast_fails >= 2
			       ? (uint64_t)BACKOFF_MS << (s->fast_fails - 2)
			       : 0);
}

static void next_died(super_t *s, int status)
{
	char why[128];

	describe(status, why, sizeof(why));
	worker_clear(&s->next);
	s->deadline_ms = 0;
	sl_err("upgrade failed: the new worker %s before it was ready; the "
	       "old one keeps serving",
	       why);
	answer_clients(s,
		       "error: the new worker %s before it was ready "
		       "(see the log); the old one keeps serving",
		       why);
}

static void reap(super_t *s)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == s->cur.pid)
			cur_died(s, status);
		else if (pid == s->next.pid)
			next_died(s, status);
	}
}

/* A READY worker gets the connection. */
static void go(super_t *s)
{
	/* value: leave the terminal for --log (a daemon's: or nothing). */
	struct fc_ctl m = {.type = FC_CTL_GO,
			   .value = !s->c->cmd->foreground ||
				    s->c->log_file != NULL};

	if (fc_ctl_send(s->cur.ctl, &m, s->fuse_fd) < 0) {
		sl_err("worker %d: cannot hand over the connection: %s",
		       (int)s->cur.pid, strerror(errno));
		kill(s->cur.pid, SIGKILL); /* reaped as a failure */
		return;
	}
	atomic_fetch_add(&s->sh->workers, 1);
	s->cur.state = W_STARTING; /* until SERVING */
}

/* The mount is up (status 0) or failed: the daemon's parent may go, and
 * from now on the log goes to --log (a daemon's to /dev/null without). */
static void daemon_done(super_t *s, int status)
{
	char c = (char)status;
	int fd;

	if (s->settled)
		return;
	s->settled = 1;
	if (s->daemon_fd >= 0) {
		if (write(s->daemon_fd, &c, 1) < 0)
			sl_debug("daemon parent: %s", strerror(errno));
		close(s->daemon_fd);
		s->daemon_fd = -1;
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
	}
	if (s->c->log_file) {
		fd = open(s->c->log_file,
			  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0) {
			sl_err("%s: %s", s->c->log_file, strerror(errno));
			return;
		}
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
}

static void on_ctl(super_t *s, struct worker *w)
{
	struct fc_ctl m;
	int rc = fc_ctl_recv(w->ctl, &m, NULL);

	if (rc == -EAGAIN)
		return; /* nothing after all (the socket does not block) */
	if (rc < 0) {
		/* Gone: reaped soon.  Stop polling its socket. */
		close(w->ctl);
		w->ctl = -1;
		return;
	}
	if (m.type == FC_CTL_READY && w->state == W_STARTING) {
		w->state = W_READY;
		if (w == &s->next) {
			struct fc_ctl d = {.type = FC_CTL_DRAIN};

			sl_notice("upgrade: worker %d ready, worker %d hands "
				  "over",
				  (int)s->next.pid, (int)s->cur.pid);
			if (fc_ctl_send(s->cur.ctl, &d, -1) < 0)
				kill(s->cur.pid, SIGKILL);
			s->deadline_ms = sl_now_ms() + DRAIN_MS;
		}
	} else if (m.type == FC_CTL_SERVING && w == &s->cur) {
		w->state = W_SERVING;
		w->serving_ms = sl_now_ms();
		s->deadline_ms = 0;
		sl_notice("worker %d serves %s%s", (int)w->pid, s->where,
			  m.value ? " (took over its inode table)" : "");
		if (s->n_clients)
			answer_clients(s, "ok: worker %d serves %s (%s)",
				       (int)w->pid, s->where, s->exe);
		daemon_done(s, 0);
	}
}

/* ---- --upgrade: the supervisor's side (the caller's is upgrade.c) --- */

static void listen_ctl(super_t *s)
{
	struct sockaddr_un a;
	socklen_t len;

	if (!s->dev[0] || fc_upgrade_addr(s->dev, &a, &len) < 0)
		return;
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0 || bind(s->listen_fd, (void *)&a, len) < 0 ||
	    listen(s->listen_fd, 4) < 0) {
		sl_warn("--upgrade %s will not be heard: %s", s->where,
			strerror(errno));
		if (s->listen_fd >= 0)
			close(s->listen_fd);
		s->listen_fd = -1;
	}
}

static void start_upgrade(super_t *s)
{
	if (s->stopping || s->next.pid || s->cur.state == W_STARTING ||
	    s->cur.state == W_READY || s->respawn_at_ms) {
		answer_clients(s, "error: busy (a worker is starting); try "
				  "again");
		return;
	}
	sl_notice("upgrade: starting a worker from %s", s->exe);
	if (s->gave_up) {
		/* No worker to drain: this one serves once it is ready. */
		s->gave_up = 0;
		s->fast_fails = 0;
		if (spawn(s, &s->cur) < 0)
			answer_clients(s, "error: cannot start a worker");
		return;
	}
	if (spawn(s, &s->next) < 0) {
		answer_clients(s, "error: cannot start a worker");
		return;
	}
	s->deadline_ms = sl_now_ms() + READY_MS;
}

static void on_client(super_t *s)
{
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	struct ucred cr;
	socklen_t len = sizeof(cr);
	struct timeval tv = {.tv_sec = 1};
	char req[16] = "";
	ssize_t n;

	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
	    (cr.uid != 0 && cr.uid != geteuid()) ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		close(fd);
		return;
	}
	/* One short line from a local caller that just connected. */
	n = recv(fd, req, sizeof(req) - 1, 0);
	if (n <= 0 || strncmp(req, "upgrade", 7) != 0 ||
	    s->n_clients == MAX_CLIENTS) {
		close(fd);
		return;
	}
	s->clients[s->n_clients++] = fd;
	if (s->n_clients == 1 && !s->next.pid)
		start_upgrade(s);
}

/* ---- giving up: EIO for everything ----------------------------------------
 */

static void serve_eio(super_t *s)
{
	const struct fuse_in_header *in = (const void *)s->devbuf;
	struct fuse_out_header h = {.len = sizeof(h), .error = -EIO};
	ssize_t n = read(s->fuse_fd, s->devbuf, DEV_BUF);

	if (n < 0 && errno == ENODEV) {
		sl_notice("%s is unmounted", s->where);
		s->done = 1;
		s->exit_status = 1; /* it had failed */
		return;
	}
	if (n < (ssize_t)sizeof(*in))
		return;
	if (in->opcode == FUSE_FORGET || in->opcode == FUSE_BATCH_FORGET ||
	    in->opcode == FUSE_INTERRUPT)
		return; /* no reply expected */
	h.unique = in->unique;
	if (write(s->fuse_fd, &h, sizeof(h)) < 0)
		sl_debug("EIO reply: %s", strerror(errno));
}

/* ---- the loop ------------------------------------------------------------ */

static void stop(super_t *s)
{
	if (s->stopping)
		return;
	s->stopping = 1;
	sl_notice("unmounting %s", s->where);
	if (s->next.pid)
		kill(s->next.pid, SIGKILL);
	if (s->fuse_fd >= 0) {
		/* Closes our descriptor too; the worker's read then ends. */
		fuse_session_unmount(s->se);
		s->fuse_fd = -1;
	}
	if (!s->cur.pid)
		s->done = 1;
	else if (s->cur.state != W_SERVING)
		kill(s->cur.pid, SIGKILL); /* it has nothing to finish */
	s->deadline_ms = sl_now_ms() + STOP_MS;
}

static void on_signal(super_t *s)
{
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			reap(s);
		else if (si.ssi_signo == SIGUSR2)
			start_upgrade(s);
		else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT ||
			 si.ssi_signo == SIGHUP)
			stop(s); /* as libfuse's own handlers would */
	}
}

/* Deadlines and pending starts. */
static void on_time(super_t *s)
{
	uint64_t now = sl_now_ms();

	if (s->respawn_at_ms && now >= s->respawn_at_ms && !s->stopping) {
		s->respawn_at_ms = 0;
		if (spawn(s, &s->cur) < 0)
			give_up(s, "could not be started");
	}
	if (!s->deadline_ms || now < s->deadline_ms)
		return;
	s->deadline_ms = 0;
	if (s->stopping) {
		sl_warn("worker %d still there after the unmount: killed",
			(int)s->cur.pid);
		kill(s->cur.pid, SIGKILL);
	} else if (s->next.state == W_STARTING) {
		sl_err("upgrade: the new worker was not ready within %d s: "
		       "killed",
		       READY_MS / 1000);
		kill(s->next.pid, SIGKILL);
	} else if (s->next.state == W_READY) {
		sl_err("upgrade: worker %d did not hand over within %d s: "
		       "killed",
		       (int)s->cur.pid, DRAIN_MS / 1000);
		kill(s->cur.pid, SIGKILL);
	}
}

static int poll_timeout(const super_t *s)
{
	uint64_t now = sl_now_ms(), t = UINT64_MAX;
	int http = s->http ? sl_promhttp_timeout_ms(s->http) : -1;

	if (s->respawn_at_ms)
		t = s->respawn_at_ms;
	if (s->deadline_ms && s->deadline_ms < t)
		t = s->deadline_ms;
	if (http >= 0 && now + (uint64_t)http < t)
		t = now + (uint64_t)http;
	if (t == UINT64_MAX)
		return -1;
	return t <= now ? 0 : (int)SL_MIN(t - now, (uint64_t)60000);
}

/*
 * The metrics endpoint is the supervisor's, not a worker's: it stays up
 * (same port, same counters) while workers crash, restart and are
 * upgraded, and the counters they leave in the shared state keep going
 * up.  A scrape reads atomics and two /proc files, and is served from
 * this loop: the supervisor stays one thread.
 */
static char *render_metrics(void *arg, size_t *len)
{
	super_t *s = arg;
	fc_metrics_proc_t p = {
		.worker_starts = atomic_load(&s->sh->workers),
		.rss_supervisor = fc_metrics_rss((int)getpid()),
		.rss_worker = s->cur.pid ? fc_metrics_rss((int)s->cur.pid) : 0,
	};

	return fc_metrics_render(&s->sh->metrics, &p, len);
}

/* Serve [client] metrics_addr (or -o metrics=) when one is set.  Returns
 * 0, or -1 when it cannot be listened on (logged). */
static int start_metrics(super_t *s, const char *addr)
{
	char err[512];

	if (!addr || !*addr)
		return 0;
	s->http = sl_promhttp_start(addr,
				    SL_PROMHTTP_EXTERNAL | SL_PROMHTTP_LOOPBACK,
				    render_metrics, s, err, sizeof(err));
	if (!s->http) {
		sl_err("%s", err);
		return -1;
	}
	sl_info("metrics on http://%s/metrics", addr);
	return 0;
}

/* One turn: wait for something, handle it. */
static void turn(super_t *s)
{
	struct pollfd p[6];
	int n = 0, i_sig, i_cur = -1, i_next = -1, i_lis = -1, i_dev = -1;

	if (s->cur.state == W_READY && s->fuse_fd >= 0 && !s->stopping)
		go(s);
	p[i_sig = n++] = (struct pollfd){.fd = s->sigfd, .events = POLLIN};
	if (s->cur.ctl >= 0)
		p[i_cur = n++] =
			(struct pollfd){.fd = s->cur.ctl, .events = POLLIN};
	if (s->next.ctl >= 0)
		p[i_next = n++] =
			(struct pollfd){.fd = s->next.ctl, .events = POLLIN};
	if (s->listen_fd >= 0)
		p[i_lis = n++] =
			(struct pollfd){.fd = s->listen_fd, .events = POLLIN};
	if (s->gave_up && !s->cur.pid && s->fuse_fd >= 0)
		p[i_dev = n++] =
			(struct pollfd){.fd = s->fuse_fd, .events = POLLIN};
	if (s->http)
		p[n++] = (struct pollfd){.fd = sl_promhttp_fd(s->http),
					 .events = POLLIN};
	if (poll(p, (nfds_t)n, poll_timeout(s)) < 0 && errno != EINTR)
		sl_err("poll: %s", strerror(errno));
	if (p[i_sig].revents)
		on_signal(s);
	/* A reap above may have replaced a worker: only its own socket. */
	if (i_cur >= 0 && p[i_cur].revents && p[i_cur].fd == s->cur.ctl)
		on_ctl(s, &s->cur);
	if (i_next >= 0 && p[i_next].revents && p[i_next].fd == s->next.ctl)
		on_ctl(s, &s->next);
	if (i_lis >= 0 && p[i_lis].revents)
		on_client(s);
	if (i_dev >= 0 && p[i_dev].revents && s->gave_up && !s->cur.pid)
		serve_eio(s);
	/* Every turn, not only on POLLIN: it also times out idle scrapers. */
	if (s->http)
		sl_promhttp_run(s->http);
	on_time(s);
}

/* A worker's command line: ours, marked (and marked as an upgrade's
 * when upgrade), with the config made absolute (the daemon works from /). */
static char **worker_argv(const fc_cmdline_t *c, int upgrade)
{
	char **v = sl_xcalloc((size_t)c->argc + 4, sizeof(*v));
	size_t cl = strlen(c->config) + 10;
	int n = 0;

	v[n++] = c->argv[0];
	v[n++] = (char *)"--sluice-worker";
	if (upgrade)
		v[n++] = (char *)"--sluice-upgrade";
	for (int i = 1; i < c->argc; i++)
		v[n++] = c->argv[i];
	v[n] = sl_xmalloc(cl);
	snprintf(v[n++], cl, "--config=%s", c->config);
	v[n] = NULL;
	return v;
}

static void argv_free(char **v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	if (n)
		free(v[n - 1]); /* the --config=, ours */
	free(v);
}

/* Fork; the parent waits for the child to say how the mount went, and
 * exits with that.  Returns in the child, with *fd to say it on. */
static int daemon_begin(int *fd)
{
	int p[2];
	char c = 1;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(c);
	}
	close(p[0]);
	setsid();
	if (chdir("/") < 0)
		sl_debug("chdir /: %s", strerror(errno));
	*fd = p[1];
	return 0;
}

int fc_super_main(const fc_cmdline_t *c)
{
	super_t s;
	sigset_t set;
	ssize_t n;
	int rc;

	memset(&s, 0, sizeof(s));
	s.c = c;
	s.fuse_fd = s.sigfd = s.listen_fd = s.daemon_fd = s.shm_fd = -1;
	s.watch_fd = -1;
	s.cur.ctl = s.next.ctl = -1;
	s.resend = -1;
	s.exit_status = 0;
	n = readlink("/proc/self/exe", s.exe, sizeof(s.exe) - 1);
	if (n <= 0) {
		sl_err("/proc/self/exe: %s", strerror(errno));
		return 1;
	}
	s.exe[n] = '\0';
	/* Before the mount: once mounted, resolving the path would wait on
	 * a FUSE request that nobody serves yet. */
	if (!realpath(c->cmd->mountpoint, s.where))
		sl_strlcpy(s.where, c->cmd->mountpoint, sizeof(s.where));
	s.wargv = worker_argv(c, 0);
	s.wargv_up = worker_argv(c, 1);
	s.devbuf = mmap(NULL, DEV_BUF, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s.devbuf == MAP_FAILED) {
		s.devbuf = NULL;
		goto fail;
	}
	if (!c->cmd->foreground && daemon_begin(&s.daemon_fd) < 0) {
		sl_err("cannot start the daemon: %s", strerror(errno));
		goto fail;
	}
	{
		sl_config_t *cfg;
		char err[4096];

		cfg = sl_config_load(c->config, err, sizeof(err));
		if (!cfg) {
			sl_err("%s", err);
			goto fail;
		}
		rc = fc_shared_create(cfg->client.max_inodes, &s.sh,
				      &s.sh_bytes);
		if (rc >= 0) {
			s.shm_fd = rc;
			rc = start_metrics(
				&s, c->metrics ? c->metrics
					       : cfg->client.metrics_addr);
		}
		sl_config_destroy(&cfg);
	}
	if (rc < 0) {
		if (s.shm_fd < 0)
			sl_err("cannot make the shared state: %s",
			       strerror(-rc));
		goto fail;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	s.sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s.sigfd < 0 || spawn(&s, &s.cur) < 0)
		goto fail;
	/* The first worker must say READY (the cluster answered) before
	 * there is a mount to leave behind. */
	while (!s.done && s.cur.state != W_READY && !s.stopping)
		turn(&s);
	if (s.done || s.stopping)
		goto fail;
	if (mount_it(&s) < 0)
		goto fail;
	/* For tests of what kernels before 6.9 get. */
	if (getenv("SLUICE_FUSE_RESEND") &&
	    strcmp(getenv("SLUICE_FUSE_RESEND"), "0") == 0)
		s.resend = 0;
	listen_ctl(&s);
	while (!s.done)
		turn(&s);
	goto out;
fail:
	s.exit_status = 1;
	if (s.cur.pid) {
		kill(s.cur.pid, SIGKILL);
		waitpid(s.cur.pid, NULL, 0);
	}
out:
	if (s.next.pid) {
		kill(s.next.pid, SIGKILL);
		waitpid(s.next.pid, NULL, 0);
	}
	if (s.n_clients)
		answer_clients(&s, "error: %s is going away", s.where);
	daemon_done(&s, s.exit_status);
	if (s.se) {
		if (s.fuse_fd >= 0)
			fuse_session_unmount(s.se);
		fuse_session_destroy(s.se);
	}
	worker_clear(&s.cur);
	worker_clear(&s.next);
	sl_promhttp_stop(&s.http);
	if (s.listen_fd >= 0)
		close(s.listen_fd);
	if (s.sigfd >= 0)
		close(s.sigfd);
	if (s.watch_fd >= 0)
		close(s.watch_fd); /* the mount is gone: the watcher goes */
	fc_shared_unmap(s.sh, s.sh_bytes);
	if (s.shm_fd >= 0)
		close(s.shm_fd);
	if (s.devbuf)
		munmap(s.devbuf, DEV_BUF);
	argv_free(s.wargv);
	argv_free(s.wargv_up);
	return s.exit_status;
}
