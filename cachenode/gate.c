/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wire gate (see gate.h).
 *
 * Why a gate.  ZMQ_MAXMSGSIZE bounds one frame, and ZeroMQ delivers a
 * multipart message only whole: until its last frame arrives, every frame
 * before it sits in the connection's pipe, out of the application's sight,
 * and the pipe's high-water mark counts whole messages, so it never
 * fills.  One peer sending frames with MORE set and no end (1,500 frames
 * of just under 1 MiB raised a node with ram_capacity 64M to 1.6 GB) takes
 * the node's memory, and no check on what ZeroMQ hands over can help: the
 * memory is gone before there is anything to check.  libzmq has no limit
 * on a message's frames or total size, and no hook between its socket
 * reads and its buffers.
 *
 * How.  The one place a message can be judged before it is kept is the
 * read itself.  libzmq reads each TCP (and IPC) connection with recv(2)
 * and accepts them with accept4(2), through the dynamic linker; this
 * module defines recv, accept, accept4 and close in the node's
 * executable, which takes precedence over libc's, and passes every call
 * on to the kernel with the system call itself.  A connection accepted on
 * a watched endpoint gets a small parser that follows ZMTP 3 as the bytes
 * come (RFC 23/ZMTP: a 64-byte greeting, then frames of a flags byte, a
 * 1- or 8-byte size and the body, which it skips without looking).  Each
 * frame's size is known when its header arrives, before libzmq holds the
 * body: when the message would pass max_frames frames or max_bytes bytes,
 * or a command max_command, the read fails with ECONNRESET instead, and
 * libzmq drops the connection and everything it had buffered of it.  So a
 * connection never makes libzmq hold more than one message's limits of an
 * unfinished message (plus one read's 8 KiB batch); complete messages
 * wait under ZMQ_RCVHWM, and connections are counted (max_conns).  Every
 * other descriptor (curl's, the metrics server's, anything not accepted
 * on a watched endpoint) costs one table lookup per call.
 *
 * ZMTP 3 with the endpoint's mechanism is gated, and anything else is cut.
 * With CurveZMQ every frame travels inside an encrypted MESSAGE command
 * whose MORE flag the gate cannot see (libzmq sends each as one frame of
 * its own, without MORE): the gate bounds each frame by the largest
 * plaintext plus CURVE's overhead, and commands (HELLO, INITIATE) by
 * max_command, but cannot count a message's frames; ZMQ_MAXMSGSIZE still
 * bounds each frame.  Only a key the ZAP handler admitted gets that far,
 * so the unbounded message is a risk from allowed clients only (README,
 * Security).
 *
 * Cutting on demand (a key removed).  ZeroMQ has no per-peer disconnect
 * on a ROUTER, and which connection carries which key is known only
 * inside the CURVE handshake (the client's key travels encrypted), so
 * cn_gate_cut_all shuts down every connection of an endpoint; allowed
 * peers reconnect.  cut_lock makes that safe against descriptors being
 * reused: close() takes a followed descriptor out of the table under it
 * before the number is freed, so every descriptor in the table while the
 * lock is held is still the connection it was.
 *
 * State.  Watches (a few endpoints) are guarded by watch_lock.  Each
 * connection's parser is reached through an atomic pointer in a table
 * indexed by descriptor, set by accept on libzmq's I/O thread, used by
 * recv on the same thread, and taken away by close -- the one call that
 * can hand the descriptor number to someone else, which is why it is
 * wrapped too.
 */
#include "cachenode/gate.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define GATE_FDS     65536 /* descriptors a watched connection may have */
#define GATE_WATCHES 16

/* The ZMTP 3 greeting: signature, version, mechanism, as-server, filler. */
#define GREETING   64
#define MECH_AT	   12
#define MECH_LEN   20
#define F_MORE	   0x01
#define F_LONG	   0x02
#define F_COMMAND  0x04
#define F_RESERVED 0xf8

enum { S_GREETING, S_FLAGS, S_SIZE, S_BODY, S_CUT };

typedef struct watch {
	int used;
	int family; /* AF_INET (v4 and v6 alike, by port), AF_UNIX */
	uint16_t port;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	cn_gate_limits_t lim;
	cn_metrics_t *m;
	_Atomic uint32_t conns;
} watch_t;

/* One followed connection: the parser's state. */
typedef struct gconn {
	watch_t *w;
	int state;
	uint8_t flags;
	uint8_t buf[GREETING]; /* the greeting, then a frame's size */
	uint32_t have, need;
	uint64_t left;	 /* body bytes still to come */
	uint32_t frames; /* of the message under way */
	uint64_t bytes;
} gconn_t;

static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static watch_t watches[GATE_WATCHES]; /* protected by watch_lock */
static _Atomic int n_watches;	      /* a quick "none": no lock */
static _Atomic(gconn_t *) conns[GATE_FDS];
static pthread_mutex_t cut_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic size_t n_conns;

/* ---- Watches ------------------------------------------------------------- */

/* The family and port or path of endpoint into w: 0 or -EINVAL. */
static int parse_endpoint(const char *ep, watch_t *w)
{
	const char *colon;
	char *end;
	unsigned long port;

	if (strncmp(ep, "ipc://", 6) == 0) {
		if (sl_strlcpy(w->path, ep + 6, sizeof(w->path)) < 0 ||
		    !w->path[0])
			return -EINVAL;
		w->family = AF_UNIX;
		return 0;
	}
	if (strncmp(ep, "tcp://", 6) != 0)
		return -EINVAL;
	colon = strrchr(ep + 6, ':');
	if (!colon)
		return -EINVAL;
	port = strtoul(colon + 1, &end, 10);
	if (*end || port == 0 || port > 65535)
		return -EINVAL;
	w->family = AF_INET;
	w->port = (uint16_t)port;
	return 0;
}

static int same_place(const watch_t *a, const watch_t *b)
{
	return a->family == b->family &&
	       (a->family == AF_UNIX ? strcmp(a->path, b->path) == 0
				     : a->port == b->port);
}

int cn_gate_watch(const char *endpoint, const cn_gate_limits_t *lim,
		  cn_metrics_t *m)
{
	watch_t w = {0};
	int rc = parse_endpoint(endpoint, &w);

	if (rc < 0)
		return rc;
	w.lim = *lim;
	w.m = m;
	pthread_mutex_lock(&watch_lock);
	rc = -ENOSPC;
	for (int i = 0; i < GATE_WATCHES; i++) {
		if (watches[i].used)
			continue;
		watches[i].family = w.family;
		watches[i].port = w.port;
		memcpy(watches[i].path, w.path, sizeof(w.path));
		watches[i].lim = w.lim;
		watches[i].m = w.m;
		atomic_store(&watches[i].conns, 0);
		watches[i].used = 1;
		atomic_fetch_add(&n_watches, 1);
		rc = 0;
		break;
	}
	pthread_mutex_unlock(&watch_lock);
	return rc;
}

void cn_gate_unwatch(const char *endpoint)
{
	watch_t w = {0};

	if (parse_endpoint(endpoint, &w) < 0)
		return;
	pthread_mutex_lock(&watch_lock);
	for (int i = 0; i < GATE_WATCHES; i++) {
		if (watches[i].used && same_place(&watches[i], &w)) {
			watches[i].used = 0;
			atomic_fetch_sub(&n_watches, 1);
			break;
		}
	}
	pthread_mutex_unlock(&watch_lock);
}

size_t cn_gate_conns(void)
{
	return atomic_load(&n_conns);
}

/* The watch of the endpoint fd was accepted on, or NULL.  A watch slot
 * outlives its connections' use of it: it is only ever reused for another
 * endpoint, and a server unwatches after its connections are gone. */
static watch_t *watch_of(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	watch_t here = {0}, *found = NULL;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return NULL;
	if (ss.ss_family == AF_INET) {
		here.family = AF_INET;
		here.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		here.family = AF_INET;
		here.port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	} else if (ss.ss_family == AF_UNIX) {
		here.family = AF_UNIX;
		sl_strlcpy(here.path, ((struct sockaddr_un *)&ss)->sun_path,
			   sizeof(here.path));
	} else {
		return NULL;
	}
	pthread_mutex_lock(&watch_lock);
	for (int i = 0; i < GATE_WATCHES && !found; i++)
		if (watches[i].used && same_place(&watches[i], &here))
			found = &watches[i];
	pthread_mutex_unlock(&watch_lock);
	return found;
}

/* ---- The parser ---------------------------------------------------------- */

static int cut(gconn_t *c, const char *why)
{
	c->state = S_CUT;
	atomic_fetch_add(&c->w->m->connections_cut, 1);
	sl_log_ratelimited(SL_LOG_WARNING, "cut a client's connection: %s",
			   why);
	return -1;
}

/* The greeting so far: ZMTP 3 or later, the endpoint's mechanism. */
static int greeting_ok(const gconn_t *c)
{
	static const uint8_t null_mech[MECH_LEN] = {'N', 'U', 'L', 'L'};
	static const uint8_t curve_mech[MECH_LEN] = {'C', 'U', 'R', 'V', 'E'};

	if (c->have >= 1 && c->buf[0] != 0xff)
		return 0;
	if (c->have >= 10 && c->buf[9] != 0x7f)
		return 0;
	if (c->have >= 11 && c->buf[10] < 3)
		return 0;
	if (c->have == GREETING &&
	    memcmp(c->buf + MECH_AT, c->w->lim.curve ? curve_mech : null_mech,
		   MECH_LEN) != 0)
		return 0;
	return 1;
}

/* A frame header is complete: judge the frame by its size. */
static int frame_ok(gconn_t *c, uint64_t size)
{
	const cn_gate_limits_t *lim = &c->w->lim;

	/* Under CURVE a frame is a handshake command or a MESSAGE command
	 * (which libzmq may flag as a command or not) boxing one message
	 * part: each is bounded alone, by the larger plaintext. */
	if (lim->curve)
		return size <= SL_MAX(lim->max_bytes, lim->max_command) +
				       CN_GATE_CURVE_OVERHEAD;
	if (c->flags & F_COMMAND)
		return size <= lim->max_command;
	c->frames++;
	c->bytes += size;
	if (c->frames > lim->max_frames || c->bytes > lim->max_bytes)
		return 0;
	if (!(c->flags & F_MORE)) { /* the message's last frame */
		c->frames = 0;
		c->bytes = 0;
	}
	return 1;
}

/* Follow n more bytes of the stream: 0, or -1 when the connection is cut. */
static int feed(gconn_t *c, const uint8_t *p, size_t n)
{
	while (n) {
		switch (c->state) {
		case S_GREETING: {
			size_t k = SL_MIN(n, (size_t)(GREETING - c->have));

			memcpy(c->buf + c->have, p, k);
			c->have += (uint32_t)k;
			p += k;
			n -= k;
			if (!greeting_ok(c))
				return cut(c, c->w->lim.curve
						      ? "not ZMTP 3 with CURVE"
						      : "not ZMTP 3 with the "
							"NULL mechanism");
			if (c->have == GREETING)
				c->state = S_FLAGS;
			break;
		}
		case S_FLAGS:
			c->flags = *p++;
			n--;
			if (c->flags & F_RESERVED)
				return cut(c, "a frame with reserved flags");
			c->need = c->flags & F_LONG ? 8 : 1;
			c->have = 0;
			c->state = S_SIZE;
			break;
		case S_SIZE: {
			uint64_t size = 0;

			while (n && c->have < c->need) {
				c->buf[c->have++] = *p++;
				n--;
			}
			if (c->have < c->need)
				break;
			for (uint32_t k = 0; k < c->need; k++)
				size = size << 8 | c->buf[k];
			if (!frame_ok(c, size))
				return cut(c, "a message over its size or "
					      "frame count");
			c->left = size;
			c->state = size ? S_BODY : S_FLAGS;
			break;
		}
		case S_BODY: {
			uint64_t k = SL_MIN(c->left, (uint64_t)n);

			p += k;
			n -= (size_t)k;
			c->left -= k;
			if (!c->left)
				c->state = S_FLAGS;
			break;
		}
		default: /* S_CUT */
			return -1;
		}
	}
	return 0;
}

/* ---- The calls libzmq makes ------------------------------------------------
 *
 * Declared by the system's headers; defined here, they are the ones every
 * library of the process reaches.  Each is the plain system call, plus the
 * gate's bookkeeping for the descriptors it follows.
 */

/* Forget what was followed on fd (closed, or never to be followed). */
static void unfollow(int fd)
{
	gconn_t *c;

	if (fd < 0 || fd >= GATE_FDS)
		return;
	c = atomic_exchange(&conns[fd], NULL);
	if (!c)
		return;
	atomic_fetch_sub(&c->w->conns, 1);
	atomic_fetch_sub(&n_conns, 1);
	free(c);
}

/* fd was just accepted: follow it when it came in on a watched endpoint.
 * Returns fd, or -1 (ECONNABORTED) when it cannot be followed. */
static int accepted(int fd)
{
	watch_t *w;
	gconn_t *c;

	if (fd < 0 || !atomic_load(&n_watches))
		return fd;
	w = watch_of(fd);
	if (!w)
		return fd;
	unfollow(fd); /* a number closed behind our back */
	if (fd >= GATE_FDS ||
	    atomic_fetch_add(&w->conns, 1) >= w->lim.max_conns) {
		if (fd < GATE_FDS)
			atomic_fetch_sub(&w->conns, 1);
		atomic_fetch_add(&w->m->connections_cut, 1);
		sl_log_ratelimited(SL_LOG_WARNING,
				   "refused a connection: %u connections "
				   "already",
				   w->lim.max_conns);
		syscall(SYS_close, fd);
		errno = ECONNABORTED;
		return -1;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		atomic_fetch_sub(&w->conns, 1);
		syscall(SYS_close, fd);
		errno = ENOMEM;
		return -1;
	}
	c->w = w;
	c->state = S_GREETING;
	atomic_fetch_add(&n_conns, 1);
	atomic_store(&conns[fd], c);
	return fd;
}

/* glibc declares the address a transparent union (__SOCKADDR_ARG). */
int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *len, int flags)
{
	return accepted(
		(int)syscall(SYS_accept4, fd, addr.__sockaddr__, len, flags));
}

int accept(int fd, __SOCKADDR_ARG addr, socklen_t *len)
{
	return accepted(
		(int)syscall(SYS_accept4, fd, addr.__sockaddr__, len, 0));
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	ssize_t n = syscall(SYS_recvfrom, fd, buf, len, flags, NULL, NULL);
	gconn_t *c;

	if (n <= 0 || fd < 0 || fd >= GATE_FDS || (flags & MSG_PEEK))
		return n;
	c = atomic_load(&conns[fd]);
	if (c && feed(c, buf, (size_t)n) < 0) {
		errno = ECONNRESET;
		return -1;
	}
	return n;
}

int close(int fd)
{
	if (fd >= 0 && fd < GATE_FDS && atomic_load(&conns[fd])) {
		pthread_mutex_lock(&cut_lock);
		unfollow(fd);
		pthread_mutex_unlock(&cut_lock);
	}
	return (int)syscall(SYS_close, fd);
}

size_t cn_gate_cut_all(const char *endpoint)
{
	watch_t here = {0};
	size_t n = 0;

	if (parse_endpoint(endpoint, &here) < 0)
		return 0;
	pthread_mutex_lock(&cut_lock);
	for (int fd = 0; fd < GATE_FDS && atomic_load(&n_conns); fd++) {
		gconn_t *c = atomic_load(&conns[fd]);

		if (!c || !same_place(c->w, &here))
			continue;
		/* libzmq's I/O thread sees the end of the stream and drops
		 * the connection; the number stays ours until it closes. */
		if (shutdown(fd, SHUT_RDWR) == 0) {
			atomic_fetch_add(&c->w->m->connections_cut, 1);
			n++;
		}
	}
	pthread_mutex_unlock(&cut_lock);
	return n;
}
