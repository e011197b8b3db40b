/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: a Sluice cluster of real processes -- sluice-cachenode
 * nodes, each on a loopback port or in a network namespace of its own,
 * one config file they share, and a sluice-fuse mount over them -- for
 * integration tests that change the cluster while it serves (reloads,
 * nodes joining, leaving, dying).  Every process is started through
 * th_proc_spawn, so it dies with the test's process whatever happens; the
 * mount uses auto_unmount, so it goes with its client; th_cl_fini stops
 * everything by PID and unmounts lazily.
 *
 * Node i is named "n<i>".  The config is rewritten in place (a new file
 * renamed over the old one, as an operator's tool would) by
 * th_cl_write_conf, from the fields below; nodes not `listed` are left out
 * of its [node] sections (they join some other way, or have left).
 *
 * Prefix th_cl_.  One thread.
 */
#ifndef TH_CLUSTER_H
#define TH_CLUSTER_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#define TH_CL_NODES 8

typedef struct th_cnode {
	char name[16];
	char ip[32];	/* its address: 127.0.0.1 or a namespace's */
	int port;	/* of its ROUTER socket */
	char addr[64];	/* tcp://IP:PORT */
	char netns[32]; /* "": the test's own namespace */
	int listed;	/* in the config's [node] sections */
	pid_t pid;	/* 0 when not running */
	char log[PATH_MAX];
} th_cnode_t;

typedef struct th_cluster {
	char dir[PATH_MAX];   /* the cluster's scratch directory */
	char conf[PATH_MAX];  /* dir/cluster.conf */
	char src[PATH_MAX];   /* dir/src: dataset "ds"'s files */
	char mnt[PATH_MAX];   /* dir/mnt */
	char data[PATH_MAX];  /* mnt/ds */
	char fclog[PATH_MAX]; /* the client's log */
	char build[PATH_MAX]; /* the binaries */
	/* What th_cl_write_conf writes, besides the nodes and dataset ds
	 * (posix over src): */
	char block_size[16];	/* ds's block size ("64K" by default) */
	char dataset_keys[256]; /* more keys of ds */
	char cluster_keys[512]; /* more [cluster] keys */
	char node_keys[768];	/* keys of every [node] section */
	char sections[1024];	/* more sections, as they are */
	char client_keys[512];	/* the [client] section's keys */
	/* Under CURVE: the nodes' public key and a client's secret key
	 * (Z85), which th_cl_node_value asks with; "" = plain. */
	char server_key[48];
	char client_secret[48];
	int n;
	th_cnode_t node[TH_CL_NODES];
	pid_t client;
} th_cluster_t;

/* A cluster in a new directory dir/name (dir must exist); no node yet.
 * 0 or -errno. */
int th_cl_init(th_cluster_t *c, const char *dir, const char *name);
/* Add node n<i> (i returned) at ip (NULL: 127.0.0.1) on a free port, in
 * namespace netns (NULL: none), listed in the config or not. */
int th_cl_add_node(th_cluster_t *c, const char *ip, const char *netns,
		   int listed);
/* Write the config: 0 or -errno. */
int th_cl_write_conf(const th_cluster_t *c);

/* Start node i with the extra arguments extra (NULL-terminated, may be
 * NULL) and wait until its log says it serves: 0, or -ETIMEDOUT (its log
 * is printed). */
int th_cl_node_start(th_cluster_t *c, int i, const char *const extra[]);
/* Send node i a signal: 0 or -errno. */
int th_cl_node_signal(th_cluster_t *c, int i, int sig);
/* SIGKILL node i and reap it. */
void th_cl_node_kill(th_cluster_t *c, int i);
/* Send sig and wait up to timeout_ms for node i to exit: its wait status,
 * or -ETIMEDOUT (then it was killed). */
int th_cl_node_stop(th_cluster_t *c, int i, int sig, int timeout_ms);
/* One counter of node i (its STATS, by exact name), or -1. */
int64_t th_cl_node_value(const th_cluster_t *c, int i, const char *name);
/* The sum of that counter over the nodes running now. */
int64_t th_cl_sum(const th_cluster_t *c, const char *name);

/* Mount with sluice-fuse -f (auto_unmount, allow_other) and the extra
 * arguments: 0 once mounted, -1 (its log printed) when it did not. */
int th_cl_mount(th_cluster_t *c, const char *const extra[]);
/* Add n listed nodes on 127.0.0.1, write the config, start them all and
 * mount (no extra arguments): 0, or the first step's failure (its log
 * printed). */
int th_cl_up(th_cluster_t *c, int n);
/* sluicectl -c CONF ARGS 2>&1, for up to 60 s: its exit status (as
 * th_run_capture), its output in *out (the caller frees it). */
int th_cl_ctl(const th_cluster_t *c, const char *args, char **out);
/* fusermount3 -u and wait for the client to exit: its wait status, or -1. */
int th_cl_unmount(th_cluster_t *c);
/* Stop every process by PID, unmount lazily.  Idempotent. */
void th_cl_fini(th_cluster_t *c);

/* Write n files src/f%04d of sizes from min to max bytes (deterministic
 * bytes per file, seeded by seed).  0 or -errno. */
int th_cl_make_files(th_cluster_t *c, int n, size_t min, size_t max,
		     uint64_t seed);
/* The same in src/sub/ (made). */
int th_cl_make_files_in(th_cluster_t *c, const char *sub, int n, size_t min,
			size_t max, uint64_t seed);
/* Whether mnt/ds/f%04d equals src/f%04d, byte for byte; with uncached,
 * the kernel's pages of it are dropped first (so the mount is asked). */
int th_cl_same_file(const th_cluster_t *c, int i, int uncached);
/* The same for src/sub/f%04d (read through the mount). */
int th_cl_same_file_in(const th_cluster_t *c, const char *sub, int i);
/* Whether mnt/DATASET/f%04d (kernel pages dropped) equals src/f%04d: for
 * another dataset of the config over the same files. */
int th_cl_same_file_of(const th_cluster_t *c, const char *dataset, int i);

/*
 * A PyTorch DataLoader (test/it_fuse_loader.py, workers processes) over
 * every file of src/sub (sub "" for all of src) read through the mount,
 * for epochs epochs, each sample taking at least pace_ms, writing its
 * progress to dir/loader.n; output to dir/loader.log.  Returns its pid,
 * or -errno.  (Files read once stay in the kernel's page cache and the
 * client's block cache: an epoch that must reach the nodes reads files
 * no epoch read before.)
 */
pid_t th_cl_loader_start(th_cluster_t *c, const char *sub, int epochs,
			 int workers, int pace_ms);
/* Samples it read so far (its progress file), or 0. */
int th_cl_loader_done(const th_cluster_t *c);
/* Wait up to timeout_ms for it to end: 0 when it said every sample of
 * every epoch matched (its summary line printed), else -1. */
int th_cl_loader_wait(th_cluster_t *c, pid_t pid, int timeout_ms);

/*
 * Hosts of their own: network namespaces TAG-n<i>, each with a veth into
 * a bridge TAGb in the test's namespace, on 10.77.SUBNET.0/24 (the bridge
 * .1, host i .(10 + i)).  TAG is "slt" and the given run id, so that
 * concurrent runs on one machine do not meet.  Needs root and ip(8).
 */
typedef struct th_net {
	char tag[16];
	int subnet;
	int n;
} th_net_t;

/* Make n hosts for run id: 0, or -errno (what exists is torn down). */
int th_net_setup(th_net_t *net, unsigned id, int n);
/* Host i's namespace name and address, into out[cap]. */
void th_net_ns(const th_net_t *net, int i, char *out, size_t cap);
void th_net_ip(const th_net_t *net, int i, char *out, size_t cap);
/* Remove every namespace and link of run id, whatever exists of them
 * (also after a test died half way). */
void th_net_teardown(unsigned id);

/* How many times needle occurs in the file at path (0 when it cannot be
 * read). */
int th_count_in_file(const char *path, const char *needle);
/* Wait up to timeout_ms until needle occurs at least n times in path:
 * 0 or -ETIMEDOUT. */
int th_wait_in_file(const char *path, const char *needle, int n,
		    int timeout_ms);

#endif
