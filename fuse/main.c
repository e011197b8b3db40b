/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluice-fuse: mount the cluster's datasets.  Parses the command line
 * (our -c/-v/--log, then libfuse's own options), loads the cluster config,
 * fetches the cluster map with HELLO from the first node that answers,
 * mounts, daemonizes unless -f, starts the I/O thread and runs libfuse's
 * multithreaded session loop until unmounted or signalled.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/util.h"
#include "fuse/cluster.h"
#include "fuse/fs.h"
#include "fuse/io.h"

/* max_read must be given to the session too (see fuse_conn_info), and
 * fsname/subtype also stop libfuse adding subtype=<argv[0]>.  ro: nothing
 * here writes, so the kernel may as well refuse writes itself, and then
 * it can open files without asking us (read.c, fc_fs_open); -o rw undoes
 * it. */
#define FC_MOUNT_OPTS                                                          \
	"-omax_read=1048576,fsname=sluice,subtype=sluice,default_permissions," \
	"ro"

/* The read-ahead sluice-fuse gives its mount (raise_readahead): max_read. */
#define FC_READ_AHEAD_KB 1024

/* Reads wait on the network in FUSE threads: allow more than libfuse's 10
 * so that the kernel's parallel readahead keeps the nodes busy. */
#define FC_LOOP_OPTS "-omax_threads=64"

struct fc_opts {
	char *config;
	char *log_file;
	int verbose;
	int rw; /* the last of -o ro / -o rw was rw */
};

enum { KEY_VERBOSE, KEY_RO, KEY_RW };

#define FC_OPT(t, p)                                                           \
	{                                                                      \
		t, offsetof(struct fc_opts, p), 1                              \
	}

static const struct fuse_opt fc_opt_spec[] = {
	FC_OPT("-c %s", config),
	FC_OPT("--config=%s", config),
	FC_OPT("--log=%s", log_file),
	FUSE_OPT_KEY("-v", KEY_VERBOSE),
	FUSE_OPT_KEY("--verbose", KEY_VERBOSE),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("rw", KEY_RW),
	FUSE_OPT_END,
};

static int fc_opt_proc(void *data, const char *arg, int key,
		       struct fuse_args *outargs)
{
	struct fc_opts *o = data;

	(void)arg;
	(void)outargs;
	if (key == KEY_VERBOSE) {
		o->verbose++;
		return 0;
	}
	if (key == KEY_RO || key == KEY_RW)
		o->rw = key == KEY_RW; /* noted, and kept for the mount */
	return 1; /* libfuse's: keep for fuse_parse_cmdline */
}

static void usage(const char *prog)
{
	printf("usage: %s -c CLUSTER.conf MOUNTPOINT [options]\n"
	       "\n"
	       "Mount the datasets of a Sluice cluster read-only at "
	       "MOUNTPOINT.\n"
	       "\n"
	       "Sluice options:\n"
	       "    -c FILE, --config=FILE  cluster configuration (required)\n"
	       "    -v, --verbose          more log output (repeat for "
	       "debug)\n"
	       "    --log=FILE             append log lines to FILE (the "
	       "daemon's\n"
	       "                           stderr is /dev/null without it)\n"
	       "\n",
	       prog);
}

/* libfuse's own messages, into our log (one line each). */
static void fuse_log_to_sl(enum fuse_log_level level, const char *fmt,
			   va_list ap)
{
	int sl_level = (int)level;
	char line[1024];
	size_t n;

	if (sl_level < SL_LOG_ERR)
		sl_level = SL_LOG_ERR;
	if (sl_level > sl_log_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	if (n)
		sl_log_write(
			sl_level, "%s%s",
			strncmp(line, "fuse: ", 6) == 0 ? "" : "fuse: ", line);
}

/* Undo mountinfo's octal escapes (\040 for a space...) in place. */
static void unescape_octal(char *s)
{
	char *w = s;

	for (; *s; s++, w++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*w = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				    (s[3] - '0'));
			s += 3;
		} else {
			*w = *s;
		}
	}
	*w = '\0';
}

/* The "MAJOR:MINOR" of the sluice mount on dir (canonical), from
 * /proc/self/mountinfo; the last one wins (a mount stacked over another).
 * Returns 0 or -errno. */
static int mount_dev(const char *dir, char *dev, size_t cap)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t n = 0;
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &n, f) > 0) {
		char mdev[32], mnt[PATH_MAX];
		const char *sep = strstr(line, " - ");

		/* id parent-id major:minor root mount-point ... - type */
		if (!sep || strncmp(sep, " - fuse.sluice ", 15) != 0 ||
		    sscanf(line, "%*s %*s %31s %*s %4095s", mdev, mnt) != 2)
			continue;
		unescape_octal(mnt);
		if (strcmp(mnt, dir) == 0) {
			snprintf(dev, cap, "%s", mdev);
			rc = 0;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

/*
 * The kernel reads ahead of a FUSE file at most the smaller of what INIT
 * asks for (FC_MAX_READ, see fs_init in fs.c) and its own default for the
 * mount's backing device, 128 KiB: so a sequential reader waits on a FUSE
 * request every 128 KiB, and a 300 KB file takes three.  The device's
 * read_ahead_kb is the kernel's knob for that default; raising it to
 * FC_MAX_READ before INIT (the kernel keeps the smaller of the two then)
 * makes each request up to 1 MiB.  It needs root; without it the default
 * stays, which costs speed only.  Random reads are not inflated: the kernel
 * reads ahead only of sequential ones.
 */
static void raise_readahead(const char *dir)
{
	const char *what = "/proc/self/mountinfo";
	char dev[32], path[96], val[32];
	int fd, rc;

	rc = mount_dev(dir, dev, sizeof(dev));
	if (rc == 0) {
		snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb",
			 dev);
		snprintf(val, sizeof(val), "%d\n", FC_READ_AHEAD_KB);
		what = path;
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, val, strlen(val)) < 0)
			rc = -errno;
		if (fd >= 0)
			close(fd);
	}
	if (rc < 0)
		sl_info("read-ahead stays at the kernel's default (%s: %s)",
			what, strerror(-rc));
	else
		sl_debug("read-ahead of device %s raised to %d KiB", dev,
			 FC_READ_AHEAD_KB);
}

static int loop(struct fuse_session *se, const struct fuse_cmdline_opts *cmd)
{
	struct fuse_loop_config *lc;
	int ret;

	if (cmd->singlethread)
		return fuse_session_loop(se);
	lc = fuse_loop_cfg_create();
	fuse_loop_cfg_set_clone_fd(lc, (unsigned)cmd->clone_fd);
	if (cmd->max_idle_threads != UINT_MAX) /* UINT_MAX: not given */
		fuse_loop_cfg_set_idle_threads(lc, cmd->max_idle_threads);
	fuse_loop_cfg_set_max_threads(lc, cmd->max_threads);
	ret = fuse_session_loop_mt(se, lc);
	fuse_loop_cfg_destroy(lc);
	return ret;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_cmdline_opts cmd;
	struct fuse_session *se = NULL;
	struct fc_opts o = {0};
	sl_config_t *cfg = NULL;
	fc_cluster_t *cl = NULL;
	fc_fs_t *fs = NULL;
	fc_io_t *io = NULL;
	fc_notify_t *notify = NULL;
	fc_io_opts_t io_opts;
	int ret = 1, mounted = 0, handlers = 0, level, rc, log_fd = -1;
	char err[4096], where[PATH_MAX];

	memset(&cmd, 0, sizeof(cmd));
	sl_log_init("sluice-fuse", SL_LOG_NOTICE);
	fuse_set_log_func(fuse_log_to_sl);
	/* A copy libfuse may edit; our defaults go first, so that the user's
	 * -o options win. */
	for (int i = 0; i < argc; i++)
		if (fuse_opt_add_arg(&args, argv[i]) != 0)
			goto out;
	if (fuse_opt_insert_arg(&args, 1, FC_MOUNT_OPTS) != 0 ||
	    fuse_opt_insert_arg(&args, 1, FC_LOOP_OPTS) != 0 ||
	    fuse_opt_parse(&args, &o, fc_opt_spec, fc_opt_proc) < 0 ||
	    fuse_parse_cmdline(&args, &cmd) != 0) {
		ret = 2;
		goto out;
	}
	if (cmd.show_help) {
		usage(argv[0]);
		printf("FUSE options:\n");
		fflush(stdout);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out;
	}
	if (cmd.show_version) {
		printf("sluice-fuse %s\n", SL_VERSION);
		fflush(stdout);
		fuse_lowlevel_version();
		ret = 0;
		goto out;
	}
	if (!o.config || !cmd.mountpoint) {
		fprintf(stderr, "%s: %s\nTry '%s --help'.\n", argv[0],
			!o.config ? "missing -c CLUSTER.conf"
				  : "missing MOUNTPOINT",
			argv[0]);
		ret = 2;
		goto out;
	}
	level = cmd.debug ? SL_LOG_DEBUG : SL_LOG_NOTICE + o.verbose;
	sl_log_init("sluice-fuse", level);
	if (o.log_file) {
		log_fd = open(o.log_file,
			      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (log_fd < 0) {
			sl_err("%s: %s", o.log_file, strerror(errno));
			goto out;
		}
	}

	cfg = sl_config_load(o.config, err, sizeof(err));
	if (!cfg) {
		sl_err("%s", err);
		goto out;
	}
	cl = fc_cluster_hello(cfg, cfg->client.request_timeout_ms, err,
			      sizeof(err));
	if (!cl) {
		sl_err("%s", err);
		goto out;
	}
	fs = fc_fs_new(cl, &cfg->client, o.rw ? 0 : FC_FS_RO_MOUNT, NULL, 0,
		       &rc);
	if (!fs) {
		sl_err("cannot make the inode table (max_inodes = %u): %s",
		       cfg->client.max_inodes, strerror(-rc));
		goto out;
	}

	se = fuse_session_new(&args, fc_fs_ops(),
			      sizeof(struct fuse_lowlevel_ops), fs);
	if (!se)
		goto out;
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	handlers = 1;
	/* Before the mount: once mounted, resolving the path would wait on
	 * a FUSE request that nobody serves yet. */
	if (!realpath(cmd.mountpoint, where))
		sl_strlcpy(where, cmd.mountpoint, sizeof(where));
	if (fuse_session_mount(se, cmd.mountpoint) != 0)
		goto out;
	mounted = 1;
	raise_readahead(where);
	/* Forks: no thread and no ZeroMQ context may exist before this. */
	if (fuse_daemonize(cmd.foreground) != 0)
		goto out;
	if (log_fd >= 0 && dup2(log_fd, STDERR_FILENO) < 0)
		sl_warn("%s: %s", o.log_file, strerror(errno));

	io_opts.timeout_ms = cfg->client.request_timeout_ms;
	io_opts.backoff_ms = cfg->client.down_backoff_ms;
	io = fc_io_new(cl, &io_opts, &rc);
	if (!io) {
		sl_err("cannot start the I/O thread: %s", strerror(-rc));
		goto out;
	}
	fc_fs_set_io(fs, io);
	notify = fc_notify_new(se, &rc);
	if (!notify) {
		sl_err("cannot start the notifier: %s", strerror(-rc));
		goto out;
	}
	fc_fs_set_notify(fs, notify);
	sl_notice("mounted %zu dataset%s of cluster %s at %s (%zu nodes, "
		  "map from %s)",
		  cl->n_datasets, cl->n_datasets == 1 ? "" : "s", cl->name,
		  cmd.mountpoint, cl->n_nodes, cl->source);

	rc = loop(se, &cmd);
	/* > 0: ended by that signal, which is how a daemon is told to go. */
	ret = rc < 0 ? 1 : 0;
	sl_notice("unmounting %s", cmd.mountpoint);
out:
	if (mounted)
		fuse_session_unmount(se);
	if (handlers)
		fuse_remove_signal_handlers(se);
	fc_notify_destroy(&notify);
	if (se)
		fuse_session_destroy(se);
	fc_io_destroy(&io);
	fc_fs_destroy(&fs);
	fc_cluster_destroy(&cl);
	sl_config_destroy(&cfg);
	if (log_fd >= 0)
		close(log_fd);
	free(cmd.mountpoint);
	free(o.config);
	free(o.log_file);
	fuse_opt_free_args(&args);
	return ret;
}
