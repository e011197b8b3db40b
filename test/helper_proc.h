/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: start, watch and stop real processes by PID, always with a
 * timeout, plus the small things integration tests need around them (free
 * loopback ports, temporary trees, /proc/PID/status fields).  A spawned
 * process gets PR_SET_PDEATHSIG = SIGKILL, so it dies with the test process
 * even when a test crashes before its teardown kills it by PID.
 *
 * Prefix th_ ("test helper").  Not thread-safe beyond what fork/exec is.
 */
#ifndef TH_PROC_H
#define TH_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/util.h" /* SL_ASSERT */

/*
 * Spawn argv[0] (a path) with argv; stdout and stderr go to log_path
 * (appended; NULL: inherited).  Returns the pid or -errno.  argv and
 * log_path are borrowed.
 */
pid_t th_proc_spawn(char *const argv[], const char *log_path);

/* Wait up to timeout_ms for pid to exit: 0 with its wait status in
 * *status (may be NULL), -ETIMEDOUT, or -errno. */
int th_proc_wait(pid_t pid, int timeout_ms, int *status);

/* Send sig, wait up to timeout_ms, then SIGKILL and reap.  Returns 0 when
 * it exited in time (status set), -ETIMEDOUT when it had to be killed. */
int th_proc_stop(pid_t pid, int sig, int timeout_ms, int *status);

/* SIGKILL and reap; for cleanup.  Ignores pid <= 0 and dead processes. */
void th_proc_kill(pid_t pid);

/* 1 while pid runs (not exited, not a zombie we reaped). */
int th_proc_alive(pid_t pid);

/* A numeric field of /proc/PID/status in kB ("VmHWM", "VmRSS"), or -errno. */
long th_proc_status_kb(pid_t pid, const char *field);

/*
 * Run argv to completion within timeout_ms, its stdout captured into *out
 * (NUL-terminated, caller frees; may be NULL to discard).  Returns the exit
 * status (0..255), -ETIMEDOUT (killed) or -errno.
 */
int th_run_capture(char *const argv[], int timeout_ms, char **out);

/*
 * A TCP port on 127.0.0.1 that was free a moment ago, below the ephemeral
 * range (so no outgoing connection takes it before the caller binds it),
 * or -errno.
 */
int th_free_port(void);
/* Poll until a TCP connection to 127.0.0.1:port succeeds: 0 or -ETIMEDOUT. */
int th_wait_port(int port, int timeout_ms);

/* A new directory under $TMPDIR (or /tmp) named sluice-TAG-XXXXXX.
 * Caller frees the string and removes the tree with th_rmtree. */
char *th_tmpdir(const char *tag);
/* rm -rf path (no symlink is followed).  Ignores errors. */
void th_rmtree(const char *path);
/* A test's tree from th_tmpdir is done with: removed, or kept and named
 * on stderr when SLUICE_KEEP_TMP is set; *tmp freed and cleared (NULL is
 * fine). */
void th_tmpdir_done(char **tmp);
/* snprintf that says when it did not fit: 0, or -ENAMETOOLONG (buf then
 * holds the cut string). */
int th_fmt(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* th_fmt for what must fit (paths, names): a cut string is a broken
 * test, and the assertion names the caller's line. */
#define th_xsnprintf(buf, cap, ...)                                            \
	SL_ASSERT(th_fmt((buf), (cap), __VA_ARGS__) == 0)

/* Create or truncate path with data[0..len): 0 or -errno. */
int th_write_file(const char *path, const void *data, size_t len);
/* th_write_file of root/rel, making rel's folders below root (which
 * exists) first: 0 or -errno. */
int th_write_file_at(const char *root, const char *rel, const void *data,
		     size_t len);
/* The whole of path, NUL-terminated (caller frees), or NULL. */
char *th_read_file(const char *path, size_t *len);
/* XOR the byte at off of path with mask, in place: a disk's bit flip.
 * 0 or -errno. */
int th_flip_bits(const char *path, off_t off, uint8_t mask);

/*
 * The DataLoader dataset of the end-to-end tests, as the demo makes it:
 * scripts/gen_dataset.py of the tree at src_root writes dir (400 images
 * in 8 classes and one 12M shard: 401 samples).  0, or the script's exit
 * status (< 0: it did not run).
 */
int th_gen_dataset(const char *src_root, const char *dir);
/*
 * One epoch of scripts/loader.py of src_root (4 workers) over root, each
 * sample compared with the same file under src (th_gen_dataset's dir).
 * Returns 0 when it exited 0 with all 401 samples right, else -1; its
 * output (caller frees; may be NULL) in *out.
 */
int th_loader_verify(const char *src_root, const char *root, const char *src,
		     char **out);

/* The build directory the Makefile passes as $SLUICE_BUILD ("build" when
 * unset); static string. */
const char *th_build_dir(void);

#endif
