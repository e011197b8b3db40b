/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sluice-fuse: mount the cluster's datasets.  Parses the command line
 * (our -c/-v/--log/--upgrade, then libfuse's own options) and becomes
 * what it asks for: the supervisor of a new mount (super.c), which runs
 * this same binary again as its serving worker (worker.c, with the
 * internal --sluice-worker flag), or the client of a running
 * supervisor's upgrade (--upgrade MOUNTPOINT).  proc.h tells the model.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/confval.h"
#include "common/log.h"
#include "common/util.h"
#include "fuse/proc.h"

/* max_read must be given to the session too (see fuse_conn_info), and
 * fsname/subtype also stop libfuse adding subtype=<argv[0]>.  ro: nothing
 * here writes, so the kernel may as well refuse writes itself, and then
 * it can open files without asking us (read.c, fc_fs_open); -o rw undoes
 * it. */
#define FC_MOUNT_OPTS                                                          \
	"-omax_read=1048576,fsname=sluice,subtype=sluice,default_permissions," \
	"ro"

/* Reads wait on the network in FUSE threads: allow more than libfuse's 10
 * so that the kernel's parallel readahead keeps the nodes busy. */
#define FC_LOOP_OPTS "-omax_threads=64"

struct fc_opts {
	char *config;
	char *log_file;
	char *metrics; /* -o metrics=HOST:PORT: [client] metrics_addr */
	int verbose;
	int rw;		   /* the last of -o ro / -o rw was rw */
	char *operand[2];  /* the words that are no option, in order */
	size_t n_operands; /* how many of them */
	int worker;	   /* --sluice-worker: run as a supervisor's worker */
	int standby;	   /* --sluice-upgrade: a worker an upgrade starts */
	int upgrade;	   /* --upgrade MOUNTPOINT */
	int auto_unmount;  /* -o auto_unmount, taken over from libfuse */
};

enum { KEY_VERBOSE, KEY_RO, KEY_RW, KEY_AUTO_UNMOUNT };

#define FC_OPT(t, p)                                                           \
	{                                                                      \
		t, offsetof(struct fc_opts, p), 1                              \
	}

static const struct fuse_opt fc_opt_spec[] = {
	FC_OPT("-c %s", config),
	FC_OPT("--config=%s", config),
	FC_OPT("--log=%s", log_file),
	FC_OPT("config=%s", config), /* -o config=FILE, -o log=FILE (fstab) */
	FC_OPT("log=%s", log_file),
	FC_OPT("metrics=%s", metrics),
	FC_OPT("--metrics=%s", metrics),
	FC_OPT("--sluice-worker", worker),
	FC_OPT("--sluice-upgrade", standby),
	FC_OPT("--upgrade", upgrade),
	FUSE_OPT_KEY("-v", KEY_VERBOSE),
	FUSE_OPT_KEY("--verbose", KEY_VERBOSE),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("rw", KEY_RW),
	FUSE_OPT_KEY("auto_unmount", KEY_AUTO_UNMOUNT),
	FUSE_OPT_END,
};

static int fc_opt_proc(void *data, const char *arg, int key,
		       struct fuse_args *outargs)
{
	struct fc_opts *o = data;

	(void)outargs;
	if (key == FUSE_OPT_KEY_NONOPT) {
		if (o->n_operands == 2) {
			fprintf(stderr,
				"sluice-fuse: one operand too many: %s\n", arg);
			return -1;
		}
		o->operand[o->n_operands++] = sl_xstrdup(arg);
		return 0; /* placed by place_operands */
	}
	if (key == KEY_VERBOSE) {
		o->verbose++;
		return 0;
	}
	if (key == KEY_RO || key == KEY_RW)
		o->rw = key == KEY_RW; /* noted, and kept for the mount */
	/* As root the supervisor unmounts by itself (super.c, watch); else
	 * libfuse's fusermount helper does. */
	if (key == KEY_AUTO_UNMOUNT && geteuid() == 0) {
		o->auto_unmount = 1;
		return 0;
	}
	return 1; /* libfuse's: keep for fuse_parse_cmdline */
}

/*
 * mount(8) with an fstab line of type fuse runs mount.fuse3, which runs
 * "sluice-fuse CONFIG MOUNTPOINT -o OPTIONS": so two operands are the
 * config and the mount point, one is the mount point (with -c).  The mount
 * point goes back to args for fuse_parse_cmdline.  Returns 0 or -1.
 */
static int place_operands(struct fc_opts *o, struct fuse_args *args)
{
	if (o->n_operands == 2) {
		if (o->config && !o->worker) {
			fprintf(stderr,
				"sluice-fuse: the config is given twice "
				"(-c and an operand)\n");
			return -1;
		}
		/* A worker's --config= is its supervisor's, made absolute. */
		if (!o->config) {
			o->config = o->operand[0];
			o->operand[0] = NULL;
		}
	}
	if (o->n_operands == 0)
		return 0;
	return fuse_opt_add_arg(args, o->operand[o->n_operands - 1]);
}

static void usage(const char *prog)
{
	printf("Usage: %s -c CLUSTER.conf MOUNTPOINT [options]\n"
	       "  or:  %s CLUSTER.conf MOUNTPOINT [options]  (as mount.fuse3 "
	       "runs it)\n"
	       "  or:  %s --upgrade MOUNTPOINT\n"
	       "\n"
	       "Mount the datasets of a Sluice cluster read-only at "
	       "MOUNTPOINT.\n"
	       "\n"
	       "Sluice options:\n"
	       "    -c FILE, --config=FILE  cluster configuration (or the\n"
	       "                           first of two operands)\n"
	       "    -v, --verbose          more log output (repeat for "
	       "debug)\n"
	       "    --log=FILE             append log lines to FILE (the "
	       "daemon's\n"
	       "                           stderr is /dev/null without it)\n"
	       "    --metrics=HOST:PORT    serve Prometheus metrics there "
	       "(:PORT:\n"
	       "                           loopback); [client] "
	       "metrics_addr\n"
	       "    -o config=FILE, -o log=FILE, -o metrics=HOST:PORT  the "
	       "same,\n"
	       "                           as mount options (fstab)\n"
	       "    --upgrade              replace the worker serving "
	       "MOUNTPOINT with\n"
	       "                           this binary, without unmounting\n"
	       "\n",
	       prog, prog, prog);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_cmdline_opts cmd;
	struct fc_opts o = {0};
	char config[PATH_MAX], cwd[PATH_MAX];
	fc_cmdline_t c;
	int ret = 1;

	memset(&cmd, 0, sizeof(cmd));
	sl_log_init("sluice-fuse", SL_LOG_NOTICE);
	fuse_set_log_func(fc_fuse_log);
	/* A copy libfuse may edit; our defaults go first, so that the user's
	 * -o options win. */
	for (int i = 0; i < argc; i++)
		if (fuse_opt_add_arg(&args, argv[i]) != 0)
			goto out;
	if (fuse_opt_insert_arg(&args, 1, FC_MOUNT_OPTS) != 0 ||
	    fuse_opt_insert_arg(&args, 1, FC_LOOP_OPTS) != 0 ||
	    fuse_opt_parse(&args, &o, fc_opt_spec, fc_opt_proc) < 0 ||
	    place_operands(&o, &args) != 0 ||
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
	if (o.upgrade && cmd.mountpoint) {
		ret = fc_super_upgrade(cmd.mountpoint);
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
	if (o.metrics && *o.metrics && !sl_metrics_addr_valid(o.metrics)) {
		fprintf(stderr,
			"%s: metrics=%s: expected HOST:PORT or :PORT with a "
			"port in 1..65535\n",
			argv[0], o.metrics);
		ret = 2;
		goto out;
	}
	if (cmd.clone_fd)
		fprintf(stderr,
			"%s: -o clone_fd ignored: requests read on a "
			"cloned descriptor die with its worker\n",
			argv[0]);
	/* Absolute: the daemon works from /. */
	if (!realpath(o.config, config))
		sl_strlcpy(config, o.config, sizeof(config));
	if (o.log_file && o.log_file[0] != '/' && getcwd(cwd, sizeof(cwd))) {
		char *abs = sl_xmalloc(strlen(cwd) + strlen(o.log_file) + 2);

		strcpy(abs, cwd);
		strcat(abs, "/");
		strcat(abs, o.log_file);
		free(o.log_file);
		o.log_file = abs;
	}
	memset(&c, 0, sizeof(c));
	c.argv = argv;
	c.argc = argc;
	c.args = &args;
	c.cmd = &cmd;
	c.config = config;
	c.log_file = o.log_file;
	c.metrics = o.metrics;
	c.level = cmd.debug ? SL_LOG_DEBUG : SL_LOG_NOTICE + o.verbose;
	c.rw = o.rw;
	c.upgrade = o.standby;
	c.auto_unmount = o.auto_unmount;
	sl_log_init("sluice-fuse", c.level);
	ret = o.worker ? fc_worker_main(&c) : fc_super_main(&c);
out:
	free(cmd.mountpoint);
	free(o.config);
	free(o.log_file);
	free(o.metrics);
	free(o.operand[0]);
	free(o.operand[1]);
	fuse_opt_free_args(&args);
	return ret;
}
