/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A serving worker (see proc.h): everything that talks to the cluster.
 * Before it has the connection it loads the config, fetches the cluster
 * map and starts the I/O thread, then says READY; the supervisor answers
 * GO with /dev/fuse.  Only then does it touch the shared state's inode
 * table (its predecessor may have been using it until that moment), make
 * the libfuse session on the inherited descriptor, feed it the saved
 * FUSE_INIT -- libfuse answers EIO to everything until it has seen one,
 * and the kernel sends it once per connection; a second worker's INIT
 * reply is refused by the kernel (ENOENT: no such request), which is
 * harmless -- and start the session loop (loop.h).  A control thread
 * waits on the supervisor's socket for DRAIN, or for it to close.
 */
#include "fuse/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/members.h"
#include "common/util.h"
#include "fuse/cluster.h"
#include "fuse/fs.h"
#include "fuse/inode.h"
#include "fuse/io.h"
#include "fuse/loop.h"
#include "fuse/notify.h"
#include "fuse/shared.h"
#include "proto/proto.h"

/* A worker that replaces another keeps asking for the map this long: the
 * nodes may be restarting too, and the kernel holds the requests. */
#define TAKEOVER_HELLO_MS 30000

typedef struct worker {
	const fc_cmdline_t *c;
	sl_config_t *cfg;
	fc_cluster_t *cl;
	fc_io_t *io;
	sl_members_t *members; /* membership = etcd: the view io follows */
	sl_keyring_t *keys;    /* CURVE keys of io's sockets */
	fc_shared_t *sh;
	size_t sh_bytes;
	fc_fs_t *fs;
	struct fuse_session *se;
	fc_notify_t *notify;
	fc_loop_t *loop;
	pthread_t ctl;
	int have_ctl;
} worker_t;

/* The map, from whichever node answers first; a takeover tries again
 * for a while.  Returns 0 or -1 (logged). */
static int fetch_map(worker_t *w, int takeover)
{
	uint64_t end = sl_now_ms() + TAKEOVER_HELLO_MS;
	char err[4096];

	for (int tries = 0;; tries++) {
		w->cl = fc_cluster_hello(w->cfg,
					 w->cfg->client.request_timeout_ms, err,
					 sizeof(err));
		if (w->cl)
			return 0;
		if (!takeover || sl_now_ms() >= end) {
			sl_err("%s", err);
			return -1;
		}
		if (tries == 0)
			sl_warn("%s; trying again for up to %d s", err,
				TAKEOVER_HELLO_MS / 1000);
		nanosleep(&(struct timespec){0, 200000000L}, NULL);
	}
}

/*
 * The map into the shared state sh, as a HELLO body, for the next worker
 * (and its generation and size into the metrics, for a scrape):
 * at start and after every swap (the I/O thread calls it), so that a
 * successor starts from the ring its predecessor last followed.  The
 * client keeps no dataset's backend (it never needs one); the copy says
 * "saved" there to stay a valid body.
 */
static void save_map(fc_shared_t *sh, const fc_cluster_t *cl)
{
	pr_hello_t h = {.cluster = pr_str(cl->name),
			.node = pr_str(cl->source),
			.ring_version = cl->ring_version,
			.generation = cl->generation,
			.n_nodes = (uint32_t)cl->n_nodes,
			.n_datasets = (uint32_t)cl->n_datasets};
	pr_buf_t b;
	int rc;

	atomic_store(&sh->metrics.ring_generation, cl->generation);
	atomic_store(&sh->metrics.ring_members, cl->n_nodes);
	h.nodes = sl_xcalloc(cl->n_nodes + 1, sizeof(*h.nodes));
	h.datasets = sl_xcalloc(cl->n_datasets + 1, sizeof(*h.datasets));
	for (size_t i = 0; i < cl->n_nodes; i++)
		h.nodes[i] =
			(pr_hello_node_t){.name = pr_str(cl->nodes[i].name),
					  .addr = pr_str(cl->nodes[i].addr),
					  .weight = cl->nodes[i].weight};
	for (size_t i = 0; i < cl->n_datasets; i++)
		h.datasets[i] = (pr_hello_dataset_t){
			.name = pr_str(cl->datasets[i].name),
			.backend = pr_str("saved"),
			.block_size = cl->datasets[i].block_size,
			.layout = cl->datasets[i].layout,
			.layout_since_ms = cl->datasets[i].layout_since_ms,
			.policy = pr_str(cl->datasets[i].policy),
			.metadata_ttl_ms = cl->datasets[i].metadata_ttl_ms};
	pr_buf_init(&b);
	rc = pr_hello_encode(&b, &h);
	if (rc == 0)
		rc = fc_shared_save_map(sh, b.data, b.len);
	if (rc < 0)
		sl_info("the cluster map is not kept for the next worker (%s): "
			"it will ask the nodes",
			strerror(-rc));
	pr_buf_fini(&b);
	free(h.nodes);
	free(h.datasets);
}

static void map_swapped(void *arg, const fc_cluster_t *cl)
{
	save_map(arg, cl);
}

/* With membership = etcd, a view of the members for the I/O thread to
 * follow (NULL, logged, when it cannot be made: the nodes' replies still
 * bring the ring along). */
static sl_members_t *etcd_view(const sl_config_t *cfg)
{
	sl_members_opts_t o = {.endpoints = cfg->etcd,
			       .prefix = cfg->etcd_prefix,
			       .timeout_ms = cfg->client.request_timeout_ms};
	sl_members_t *m;
	char why[256];
	int rc;

	if (cfg->membership != SL_MEMBERSHIP_ETCD)
		return NULL;
	m = sl_members_new(&o, &rc, why, sizeof(why));
	if (!m)
		sl_err("etcd: %s: following the nodes only", why);
	return m;
}

/* The map the previous worker kept.  Returns 0 or -errno. */
static int load_map(worker_t *w)
{
	char err[256];
	pr_hello_t h;
	void *buf;
	size_t len;
	int rc = fc_shared_load_map(w->sh, &buf, &len);

	if (rc < 0)
		return rc;
	rc = pr_hello_decode(&h, buf, len);
	if (rc == 0) {
		w->cl = fc_cluster_from_hello(&h, NULL, err, sizeof(err));
		if (!w->cl)
			rc = -EINVAL;
		pr_hello_free(&h);
	}
	free(buf);
	return rc;
}

/* The supervisor's orders, on their own thread: DRAIN, or its end. */
static void *ctl_main(void *arg)
{
	worker_t *w = arg;
	struct fc_ctl m;

	for (;;) {
		int rc = fc_ctl_recv(FC_CTL_FD, &m, NULL);

		if (rc == -EPIPE || (rc < 0 && rc != -EBADMSG)) {
			/* No supervisor: nobody could hand the connection
			 * on after us; the kernel ends it with our exit. */
			sl_err("the supervisor is gone: exiting");
			_exit(FC_EXIT_FAILED);
		}
		if (rc == 0 && m.type == FC_CTL_DRAIN) {
			sl_notice("handing over: answering the requests in "
				  "hand, taking no more");
			fc_loop_drain(w->loop);
		}
	}
	return NULL;
}

/* The daemon's log instead of the terminal the first worker started on. */
static void leave_terminal(const fc_cmdline_t *c)
{
	int fd = c->log_file
			 ? open(c->log_file,
				O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)
			 : open("/dev/null", O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
}

/* Take the connection fd (ours now): the session, INIT, the loop. */
static int take_over(worker_t *w, int fd)
{
	char path[32];
	void *init;
	struct fuse_buf b;
	int rc;

	w->fs = fc_fs_new(w->cl, &w->cfg->client, w->c->rw ? 0 : FC_FS_RO_MOUNT,
			  fc_shared_inodes(w->sh), w->sh->inode_bytes, &rc);
	if (!w->fs) {
		sl_err("cannot use the inode table: %s", strerror(-rc));
		close(fd);
		return -1;
	}
	fc_fs_set_io(w->fs, w->io);
	rc = fc_fs_reads_start(w->fs);
	if (rc < 0) {
		sl_err("cannot start the read retry thread: %s", strerror(-rc));
		close(fd);
		return -1;
	}
	fc_fs_set_handles(w->fs, &w->sh->next_fh);
	fc_fs_set_metrics(w->fs, &w->sh->metrics);
	w->se = fuse_session_new(w->c->args, fc_fs_ops(),
				 sizeof(struct fuse_lowlevel_ops), w->fs);
	snprintf(path, sizeof(path), "/dev/fd/%d", fd);
	if (!w->se || fuse_session_mount(w->se, path) != 0) {
		close(fd);
		return -1;
	}
	w->notify = fc_notify_new(w->se, &rc);
	if (!w->notify) {
		sl_err("cannot start the notifier: %s", strerror(-rc));
		return -1;
	}
	fc_fs_set_notify(w->fs, w->notify);
	/* libfuse may keep pointers into the buffer while it works. */
	init = sl_xmalloc(FC_INIT_MAX);
	memcpy(init, w->sh->init, w->sh->init_len);
	memset(&b, 0, sizeof(b));
	b.mem = init;
	b.size = w->sh->init_len;
	fuse_session_process_buf(w->se, &b);
	free(init);
	if (fuse_session_exited(w->se)) {
		sl_err("libfuse refused the connection's INIT");
		return -1;
	}
	w->loop = fc_loop_new(
		w->se, w->c->cmd->singlethread ? 1 : w->c->cmd->max_threads,
		w->sh->slots, FC_SHARED_SLOTS);
	return 0;
}

int fc_worker_main(const fc_cmdline_t *c)
{
	worker_t w;
	struct fc_ctl m;
	fc_io_opts_t io_opts = {0};
	char ident[64], err[4096];
	int fd = -1, rc, ret = FC_EXIT_FAILED, takeover;

	memset(&w, 0, sizeof(w));
	w.c = c;
	snprintf(ident, sizeof(ident), "sluice-fuse[worker %d]", (int)getpid());
	sl_log_init(ident, c->level);
	/* The supervisor handles the terminal's signals and unmounts. */
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	rc = fc_shared_map(FC_SHM_FD, &w.sh, &w.sh_bytes);
	if (rc == 0)
		rc = fc_inode_table_check(fc_shared_inodes(w.sh),
					  w.sh->inode_bytes);
	if (rc < 0) {
		/* Another layout: this binary cannot take over. */
		sl_err("the shared state is not one this sluice-fuse %s can "
		       "take over (%s): unmount and mount again to change to "
		       "it",
		       SL_VERSION, strerror(-rc));
		goto out;
	}
	takeover = w.sh->init_len > 0;
	w.cfg = sl_config_load(c->config, err, sizeof(err));
	if (!w.cfg) {
		sl_err("%s", err);
		goto out;
	}
	/* A crash's successor takes the map it had, at once; a first
	 * worker, or an upgrade's (which may come with another config),
	 * asks the nodes. */
	rc = takeover && !c->upgrade ? load_map(&w) : -ENOENT;
	if (rc == 0) {
		sl_info("cluster map as the previous worker had it (ring %08x)",
			w.cl->ring_version);
	} else if (fetch_map(&w, takeover && !c->upgrade) == 0) {
		save_map(w.sh, w.cl);
	} else if (!takeover || load_map(&w) < 0) {
		goto out;
	}
	io_opts.timeout_ms = w.cfg->client.request_timeout_ms;
	io_opts.backoff_ms = w.cfg->client.down_backoff_ms;
	io_opts.on_map = map_swapped;
	io_opts.on_map_arg = w.sh;
	w.keys = sl_keyring_new(w.cfg, NULL, err, sizeof(err));
	if (!w.keys) {
		sl_err("%s", err);
		goto out;
	}
	io_opts.keys = w.keys;
	io_opts.metrics = &w.sh->metrics;
	w.members = etcd_view(w.cfg);
	w.io = fc_io_new(w.cl, &io_opts, w.members, &rc);
	if (!w.io) {
		sl_err("cannot start the I/O thread: %s", strerror(-rc));
		goto out;
	}
	m = (struct fc_ctl){.type = FC_CTL_READY};
	if (fc_ctl_send(FC_CTL_FD, &m, -1) < 0)
		goto out;
	rc = fc_ctl_recv(FC_CTL_FD, &m, &fd);
	if (rc < 0 || m.type != FC_CTL_GO || fd < 0) {
		sl_err("no connection from the supervisor");
		goto out;
	}
	if (m.value)
		leave_terminal(c);
	if (take_over(&w, fd) < 0)
		goto out;
	rc = pthread_create(&w.ctl, NULL, ctl_main, &w);
	if (rc != 0) {
		sl_err("cannot start the control thread: %s", strerror(rc));
		goto out;
	}
	w.have_ctl = 1;
	m = (struct fc_ctl){.type = FC_CTL_SERVING, .value = takeover};
	if (fc_ctl_send(FC_CTL_FD, &m, -1) < 0)
		goto out;
	sl_notice("%s %zu dataset%s of cluster %s at %s (%zu nodes, map "
		  "from %s)",
		  takeover ? "took over" : "mounted", w.cl->n_datasets,
		  w.cl->n_datasets == 1 ? "" : "s", w.cl->name,
		  c->cmd->mountpoint, w.cl->n_nodes, w.cl->source);
	rc = fc_loop_run(w.loop);
	if (rc < 0)
		sl_err("reading /dev/fuse: %s", strerror(-rc));
	if (rc == 1) {
		/* Handed over: go now.  Tidying up could wait on the kernel
		 * (the notifier may be blocked on a directory lock that a
		 * lookup holds, and the lookup waits for our successor, who
		 * waits for us to exit). */
		fc_fs_log_stats(w.fs);
		_exit(FC_EXIT_DRAINED);
	}
	ret = rc == 0 ? FC_EXIT_UNMOUNTED : FC_EXIT_FAILED;
out:
	if (w.have_ctl) {
		/* Blocked in recvmsg, a cancellation point. */
		pthread_cancel(w.ctl);
		pthread_join(w.ctl, NULL);
	}
	/* Reads in flight are answered by the retry thread and the I/O
	 * thread (read.c): both stop while the session can still take
	 * their replies, and before the loop whose slots the reads hold. */
	if (w.fs)
		fc_fs_reads_stop(w.fs);
	fc_io_destroy(&w.io);
	fc_loop_destroy(&w.loop);
	fc_notify_destroy(&w.notify);
	if (w.se)
		fuse_session_destroy(w.se);
	sl_keyring_destroy(&w.keys);
	sl_members_destroy(&w.members);
	fc_fs_destroy(&w.fs);
	fc_cluster_unref(&w.cl);
	sl_config_destroy(&w.cfg);
	fc_shared_unmap(w.sh, w.sh_bytes);
	return ret;
}
