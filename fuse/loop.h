/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The worker's session loop: libfuse's multithreaded loop, rewritten for
 * a process that may die or hand over at any moment.  Each request thread
 * reads a request from /dev/fuse, writes its unique id into its slot of
 * shared memory (shared.h) and clears it after the handler replied, so a
 * supervisor that outlives the worker knows which requests it had taken
 * and not answered.  Threads are started as requests find every thread
 * busy, up to a limit.
 *
 * Draining, for a graceful hand-over: fc_loop_drain() makes every thread
 * stop reading once its request in hand is answered; a thread waiting in
 * read(2) is woken by a signal (SIGUSR1, handled by doing nothing), which
 * takes no request off the kernel's queue, so none is lost or left half
 * done: the next worker reads them.
 *
 * There is no clone_fd: requests read on a cloned descriptor that closes
 * with its dead worker are failed by the kernel (ECONNABORTED), while
 * those read on the supervisor's own descriptor wait to be resent.
 *
 * Thread safety: fc_loop_drain() from any thread (not a signal handler);
 * fc_loop_hold() on a request thread, fc_loop_release() from any; the
 * rest from the thread that made the loop.
 */
#ifndef FC_LOOP_H
#define FC_LOOP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct fuse_session;
typedef struct fc_loop fc_loop_t;

/*
 * A loop over se (borrowed) of up to max_threads threads (1..n_slots),
 * thread i recording its request in slots[i] (borrowed shared memory, or
 * NULL).  It installs the process's SIGUSR1 handler.  Caller frees with
 * fc_loop_destroy after fc_loop_run returned.
 */
fc_loop_t *fc_loop_new(struct fuse_session *se, unsigned max_threads,
		       _Atomic uint64_t *slots, size_t n_slots);
void fc_loop_destroy(fc_loop_t **lp);

/*
 * Serve until the session ends (the filesystem was unmounted, or libfuse
 * gave up on it): 0; or until drained: 1; or -errno when reading the
 * device failed otherwise.  Every thread has ended when it returns.
 */
int fc_loop_run(fc_loop_t *l);

/* Stop taking requests; those in hand are answered first. */
void fc_loop_drain(fc_loop_t *l);

/*
 * A request the calling request thread's handler leaves unanswered when
 * it returns, to be answered by another thread (a read, answered by the
 * I/O thread: read.c): it keeps a slot of its own in the shared memory
 * until fc_loop_release, so a supervisor still answers it for a dead
 * worker, and a drained loop waits for it before fc_loop_run returns.
 * Returns 0 with *h set (h->l NULL when not called on a request thread:
 * nothing is kept), or -ENOSPC when no slot is free: then answer before
 * returning, as usual, which bounds what is held.  Release only after the
 * reply is written (answered twice, a request costs nothing; never, a
 * hung caller).
 */
typedef struct fc_held {
	fc_loop_t *l;
	unsigned slot;
} fc_held_t;

int fc_loop_hold(fc_held_t *h);
/* From any thread; accepts an h that holds nothing, and clears it.  Every
 * hold is released before the loop is destroyed. */
void fc_loop_release(fc_held_t *h);

/* Request threads started so far. */
unsigned fc_loop_threads(fc_loop_t *l);

#endif
