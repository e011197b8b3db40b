/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Test helper: a cluster of real node processes and a mount (see
 * helper_cluster.h).
 */
#include "test/helper_cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "test/helper_client.h"
#include "test/helper_proc.h"

#define IP_BIN	       "/usr/sbin/ip"
#define START_MS       20000
#define MOUNT_MS       20000
#define FUSERMOUNT     "/usr/bin/fusermount3"
#define FUSERMOUNT_OLD "/bin/fusermount3"

int th_cl_init(th_cluster_t *c, const char *dir, const char *name)
{
	memset(c, 0, sizeof(*c));
	if (!realpath(th_build_dir(), c->build))
		return -errno;
	if (th_fmt(c->dir, sizeof(c->dir), "%s/%s", dir, name) < 0 ||
	    th_fmt(c->conf, sizeof(c->conf), "%s/cluster.conf", c->dir) < 0 ||
	    th_fmt(c->src, sizeof(c->src), "%s/src", c->dir) < 0 ||
	    th_fmt(c->mnt, sizeof(c->mnt), "%s/mnt", c->dir) < 0 ||
	    th_fmt(c->data, sizeof(c->data), "%s/ds", c->mnt) < 0 ||
	    th_fmt(c->fclog, sizeof(c->fclog), "%s/fuse.log", c->dir) < 0)
		return -ENAMETOOLONG;
	if (mkdir(c->dir, 0755) < 0 || mkdir(c->src, 0755) < 0 ||
	    mkdir(c->mnt, 0755) < 0)
		return -errno;
	sl_strlcpy(c->block_size, "64K", sizeof(c->block_size));
	return 0;
}

int th_cl_add_node(th_cluster_t *c, const char *ip, const char *netns,
		   int listed)
{
	int i = c->n;
	th_cnode_t *n = &c->node[i];

	SL_ASSERT(i < TH_CL_NODES);
	memset(n, 0, sizeof(*n));
	snprintf(n->name, sizeof(n->name), "n%d", i);
	if (!ip)
		ip = "127.0.0.1";
	sl_strlcpy(n->ip, ip, sizeof(n->ip));
	/* A free loopback port is free on a namespace's own address too. */
	n->port = th_free_port();
	SL_ASSERT(n->port > 0);
	snprintf(n->addr, sizeof(n->addr), "tcp://%s:%d", ip, n->port);
	sl_strlcpy(n->netns, netns ? netns : "", sizeof(n->netns));
	n->listed = listed;
	SL_ASSERT(th_fmt(n->log, sizeof(n->log), "%s/%s.log", c->dir,
			 n->name) == 0);
	c->n++;
	return i;
}

int th_cl_write_conf(const th_cluster_t *c)
{
	char tmp[PATH_MAX + 8];
	FILE *f;

	if (th_fmt(tmp, sizeof(tmp), "%s.new", c->conf) < 0)
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "[cluster]\nname = itcl\nmodule_dir = %s\n%s\n", c->build,
		c->cluster_keys);
	/* Nodes in network namespaces bind addresses other than loopback:
	 * in the clear, said so (README, Security). */
	for (int i = 0; i < c->n; i++) {
		if (strncmp(c->node[i].ip, "127.", 4) != 0 &&
		    !strstr(c->cluster_keys, "security")) {
			fprintf(f, "security = none\n");
			break;
		}
	}
	fprintf(f, "\n");
	for (int i = 0; i < c->n; i++)
		if (c->node[i].listed)
			fprintf(f, "[node %s]\naddr = %s\n%s\n\n",
				c->node[i].name, c->node[i].addr, c->node_keys);
	fprintf(f,
		"[dataset ds]\nbackend = posix\nuri = file://%s\n"
		"block_size = %s\n%s\n%s\n[client]\n%s\n",
		c->src, c->block_size, c->dataset_keys, c->sections,
		c->client_keys);
	if (fclose(f) != 0)
		return -EIO;
	return rename(tmp, c->conf) < 0 ? -errno : 0;
}

int th_count_in_file(const char *path, const char *needle)
{
	size_t len, nl = strlen(needle);
	char *buf = th_read_file(path, &len);
	int n = 0;

	for (char *p = buf; p && (p = strstr(p, needle)); p += nl)
		n++;
	free(buf);
	return n;
}

int th_wait_in_file(const char *path, const char *needle, int n, int timeout_ms)
{
	uint64_t deadline = sl_now_ms() + (uint64_t)timeout_ms;

	while (th_count_in_file(path, needle) < n) {
		if (sl_now_ms() >= deadline)
			return -ETIMEDOUT;
		usleep(20000);
	}
	return 0;
}

static void print_log(const char *what, const char *path)
{
	size_t len;
	char *log = th_read_file(path, &len);

	fprintf(stderr, "---- %s (%s)\n%s\n----\n", what, path,
		log ? log : "(no log)");
	free(log);
}

int th_cl_node_start(th_cluster_t *c, int i, const char *const extra[])
{
	th_cnode_t *n = &c->node[i];
	const char *argv[32];
	char bin[PATH_MAX + 32];
	int k = 0, seen = th_count_in_file(n->log, " serving ");

	SL_ASSERT(th_fmt(bin, sizeof(bin), "%s/sluice-cachenode", c->build) ==
		  0);
	if (n->netns[0]) {
		argv[k++] = IP_BIN;
		argv[k++] = "netns";
		argv[k++] = "exec";
		argv[k++] = n->netns;
	}
	argv[k++] = bin;
	argv[k++] = "-c";
	argv[k++] = c->conf;
	argv[k++] = "--node";
	argv[k++] = n->name;
	for (int j = 0; extra && extra[j] && k < 31; j++)
		argv[k++] = extra[j];
	argv[k] = NULL;
	n->pid = th_proc_spawn((char *const *)argv, n->log);
	if (n->pid < 0)
		return (int)n->pid;
	if (th_wait_in_file(n->log, " serving ", seen + 1, START_MS) < 0) {
		print_log(n->name, n->log);
		return -ETIMEDOUT;
	}
	return 0;
}

int th_cl_node_signal(th_cluster_t *c, int i, int sig)
{
	if (c->node[i].pid <= 0)
		return -ESRCH;
	return kill(c->node[i].pid, sig) < 0 ? -errno : 0;
}

void th_cl_node_kill(th_cluster_t *c, int i)
{
	th_proc_kill(c->node[i].pid);
	c->node[i].pid = 0;
}

int th_cl_node_stop(th_cluster_t *c, int i, int sig, int timeout_ms)
{
	int st = 0, rc;

	if (c->node[i].pid <= 0)
		return -ESRCH;
	rc = th_proc_stop(c->node[i].pid, sig, timeout_ms, &st);
	c->node[i].pid = 0;
	return rc < 0 ? rc : st;
}

int64_t th_cl_node_value(const th_cluster_t *c, int i, const char *name)
{
	th_client_t *cl = c->server_key[0]
				  ? th_client_new_keyed(c->node[i].addr, 5000,
							c->server_key, NULL,
							c->client_secret)
				  : th_client_new(c->node[i].addr, 5000);
	uint64_t v = 0;
	int rc;

	if (!cl)
		return -1;
	rc = th_client_stat_value(cl, name, &v);
	th_client_destroy(&cl);
	return rc == 0 ? (int64_t)v : -1;
}

int64_t th_cl_sum(const th_cluster_t *c, const char *name)
{
	int64_t sum = 0;

	for (int i = 0; i < c->n; i++)
		if (c->node[i].pid > 0)
			sum += SL_MAX(th_cl_node_value(c, i, name), 0);
	return sum;
}

static int is_mounted(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	char line[4096], mp[PATH_MAX];
	int found = 0;

	while (f && !found && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) == 1 &&
		    strcmp(mp, path) == 0)
			found = 1;
	if (f)
		fclose(f);
	return found;
}

int th_cl_mount(th_cluster_t *c, const char *const extra[])
{
	const char *argv[32];
	char bin[PATH_MAX + 32];
	uint64_t deadline = sl_now_ms() + MOUNT_MS;
	int k = 0;

	SL_ASSERT(th_fmt(bin, sizeof(bin), "%s/sluice-fuse", c->build) == 0);
	argv[k++] = bin;
	argv[k++] = "-f";
	argv[k++] = "-c";
	argv[k++] = c->conf;
	argv[k++] = c->mnt;
	argv[k++] = "-o";
	argv[k++] = "auto_unmount,allow_other";
	for (int j = 0; extra && extra[j] && k < 31; j++)
		argv[k++] = extra[j];
	argv[k] = NULL;
	c->client = th_proc_spawn((char *const *)argv, c->fclog);
	while (c->client > 0 && !is_mounted(c->mnt)) {
		if (!th_proc_alive(c->client) || sl_now_ms() >= deadline) {
			print_log("sluice-fuse", c->fclog);
			th_proc_kill(c->client);
			c->client = 0;
			return -1;
		}
		usleep(20000);
	}
	return c->client > 0 ? 0 : -1;
}

int th_cl_up(th_cluster_t *c, int n)
{
	int rc;

	for (int i = 0; i < n; i++)
		th_cl_add_node(c, NULL, NULL, 1); /* asserts room */
	rc = th_cl_write_conf(c);
	for (int i = 0; rc == 0 && i < c->n; i++)
		rc = th_cl_node_start(c, i, NULL);
	return rc == 0 ? th_cl_mount(c, NULL) : rc;
}

int th_cl_ctl(const th_cluster_t *c, const char *args, char **out)
{
	char cmd[PATH_MAX * 5];
	char *argv[] = {(char *)"/bin/sh", (char *)"-c", cmd, NULL};

	snprintf(cmd, sizeof(cmd), "%s/sluicectl -c %s %s 2>&1", c->build,
		 c->conf, args);
	return th_run_capture(argv, 60000, out);
}

static const char *fusermount(void)
{
	return access(FUSERMOUNT, X_OK) == 0 ? FUSERMOUNT : FUSERMOUNT_OLD;
}

int th_cl_unmount(th_cluster_t *c)
{
	const char *argv[] = {fusermount(), "-u", c->mnt, NULL};
	int st = -1;

	th_run_capture((char *const *)argv, 30000, NULL);
	if (c->client > 0 && th_proc_wait(c->client, 15000, &st) < 0) {
		th_proc_kill(c->client);
		st = -1;
	}
	c->client = 0;
	return st;
}

void th_cl_fini(th_cluster_t *c)
{
	const char *argv[] = {fusermount(), "-uz", c->mnt, NULL};

	if (c->client > 0)
		th_cl_unmount(c);
	if (is_mounted(c->mnt))
		th_run_capture((char *const *)argv, 30000, NULL);
	for (int i = 0; i < c->n; i++)
		th_cl_node_kill(c, i);
}

/* Deterministic bytes for file i. */
static void file_bytes(uint8_t *p, size_t len, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;

	for (size_t j = 0; j < len; j++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[j] = (uint8_t)(x >> 24);
	}
}

int th_cl_make_files(th_cluster_t *c, int n, size_t min, size_t max,
		     uint64_t seed)
{
	return th_cl_make_files_in(c, "", n, min, max, seed);
}

int th_cl_make_files_in(th_cluster_t *c, const char *sub, int n, size_t min,
			size_t max, uint64_t seed)
{
	uint8_t *buf = sl_xmalloc(max + 1);
	char path[PATH_MAX + 80];
	int rc = 0;

	if (*sub) {
		rc = th_fmt(path, sizeof(path), "%s/%s", c->src, sub);
		if (rc == 0 && mkdir(path, 0755) < 0)
			rc = -errno;
	}
	for (int i = 0; i < n && rc == 0; i++) {
		size_t len = min + (size_t)((seed + (uint64_t)i) * 2654435761u %
					    (max - min + 1));

		file_bytes(buf, len, seed + (uint64_t)i);
		rc = th_fmt(path, sizeof(path), "%s/%s%sf%04d", c->src, sub,
			    *sub ? "/" : "", i);
		if (rc == 0)
			rc = th_write_file(path, buf, len);
	}
	free(buf);
	return rc;
}

/* Whether the file at b (through the mount) equals the one at a; with
 * uncached, b's pages are dropped first. */
static int same_bytes(const char *a, const char *b, int uncached)
{
	size_t la, lb;
	char *x, *y;
	int same, fd;

	if (uncached) {
		fd = open(b, O_RDONLY);
		if (fd >= 0) {
			posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
			close(fd);
		}
	}
	x = th_read_file(a, &la);
	y = th_read_file(b, &lb);
	same = x && y && la == lb && memcmp(x, y, la) == 0;
	if (x && y && !same) {
		size_t k = 0;

		while (k < la && k < lb && x[k] == y[k])
			k++;
		fprintf(stderr, "%s differs from byte %zu (of %zu, %zu)\n", b,
			k + 1, la, lb);
	} else if (!y) {
		fprintf(stderr, "%s: cannot read it through the mount: %s\n", b,
			strerror(errno));
	}
	free(x);
	free(y);
	return same;
}

int th_cl_same_file(const th_cluster_t *c, int i, int uncached)
{
	char a[PATH_MAX + 16], b[PATH_MAX + 16];

	if (th_fmt(a, sizeof(a), "%s/f%04d", c->src, i) < 0 ||
	    th_fmt(b, sizeof(b), "%s/f%04d", c->data, i) < 0)
		return 0;
	return same_bytes(a, b, uncached);
}

int th_cl_same_file_in(const th_cluster_t *c, const char *sub, int i)
{
	char a[PATH_MAX + 80], b[PATH_MAX + 80];

	if (th_fmt(a, sizeof(a), "%s/%s/f%04d", c->src, sub, i) < 0 ||
	    th_fmt(b, sizeof(b), "%s/%s/f%04d", c->data, sub, i) < 0)
		return 0;
	return same_bytes(a, b, 0);
}

int th_cl_same_file_of(const th_cluster_t *c, const char *dataset, int i)
{
	char a[PATH_MAX + 80], b[PATH_MAX + 80];

	if (th_fmt(a, sizeof(a), "%s/f%04d", c->src, i) < 0 ||
	    th_fmt(b, sizeof(b), "%s/%s/f%04d", c->mnt, dataset, i) < 0)
		return 0;
	return same_bytes(a, b, 1);
}

pid_t th_cl_loader_start(th_cluster_t *c, const char *sub, int epochs,
			 int workers, int pace_ms)
{
	char pace[48], progress[PATH_MAX + 32], script[PATH_MAX];
	char data[PATH_MAX + 80], from[PATH_MAX + 80];
	char ep[16], wk[16], log[PATH_MAX + 16];
	const char *src = getenv("SLUICE_SRC");
	const char *argv[] = {"/usr/bin/env",
			      pace,
			      progress,
			      "/usr/bin/python3",
			      script,
			      data,
			      from,
			      ep,
			      wk,
			      NULL};

	snprintf(pace, sizeof(pace), "LOADER_PACE_MS=%d", pace_ms);
	if (th_fmt(progress, sizeof(progress), "LOADER_PROGRESS=%s/loader.n",
		   c->dir) < 0 ||
	    th_fmt(script, sizeof(script), "%s/test/it_fuse_loader.py",
		   src ? src : ".") < 0 ||
	    th_fmt(data, sizeof(data), "%s/%s", c->data, sub) < 0 ||
	    th_fmt(from, sizeof(from), "%s/%s", c->src, sub) < 0 ||
	    th_fmt(log, sizeof(log), "%s/loader.log", c->dir) < 0)
		return -ENAMETOOLONG;
	snprintf(ep, sizeof(ep), "%d", epochs);
	snprintf(wk, sizeof(wk), "%d", workers);
	unlink(log);
	unlink(progress + strlen("LOADER_PROGRESS="));
	return th_proc_spawn((char *const *)argv, log);
}

int th_cl_loader_done(const th_cluster_t *c)
{
	char path[PATH_MAX + 16];
	char *s;
	int n;

	if (th_fmt(path, sizeof(path), "%s/loader.n", c->dir) < 0)
		return 0;
	s = th_read_file(path, NULL);
	n = s ? atoi(s) : 0;
	free(s);
	return n;
}

int th_cl_loader_wait(th_cluster_t *c, pid_t pid, int timeout_ms)
{
	char path[PATH_MAX + 16];
	char *out;
	int st = -1, ok;

	if (th_proc_wait(pid, timeout_ms, &st) < 0) {
		th_proc_kill(pid);
		st = -1;
	}
	if (th_fmt(path, sizeof(path), "%s/loader.log", c->dir) < 0)
		return -1;
	out = th_read_file(path, NULL);
	fprintf(stderr, "%s", out ? out : "loader: no output\n");
	ok = st == 0 && out && strstr(out, "mismatches=0");
	free(out);
	return ok ? 0 : -1;
}

/* ---- network namespaces ---------------------------------------------- */

/* Run ip(8) with the blank-separated words of the formatted command:
 * 0, or -EIO. */
static int ipcmd(const char *f, ...) __attribute__((format(printf, 1, 2)));

static int ipcmd(const char *f, ...)
{
	char line[512], *argv[24], *save = NULL;
	va_list ap;
	int n = 0, rc;

	va_start(ap, f);
	vsnprintf(line, sizeof(line), f, ap);
	va_end(ap);
	argv[n++] = (char *)IP_BIN;
	for (char *w = strtok_r(line, " ", &save); w && n < 23;
	     w = strtok_r(NULL, " ", &save))
		argv[n++] = w;
	argv[n] = NULL;
	rc = th_run_capture(argv, 10000, NULL);
	return rc == 0 ? 0 : -EIO;
}

static void net_tag(unsigned id, char *out, size_t cap)
{
	snprintf(out, cap, "slt%u", id % 100000000u);
}

void th_net_ns(const th_net_t *net, int i, char *out, size_t cap)
{
	snprintf(out, cap, "%s-n%d", net->tag, i);
}

void th_net_ip(const th_net_t *net, int i, char *out, size_t cap)
{
	snprintf(out, cap, "10.77.%d.%d", net->subnet, 10 + i);
}

int th_net_setup(th_net_t *net, unsigned id, int n)
{
	const char *t = net->tag;
	char ns[32], ip[32];
	int rc;

	memset(net, 0, sizeof(*net));
	net_tag(id, net->tag, sizeof(net->tag));
	net->subnet = 1 + (int)(id % 250);
	net->n = n;
	rc = ipcmd("link add %sb type bridge", t);
	if (rc == 0)
		rc = ipcmd("addr add 10.77.%d.1/24 dev %sb", net->subnet, t);
	if (rc == 0)
		rc = ipcmd("link set %sb up", t);
	for (int i = 0; i < n && rc == 0; i++) {
		th_net_ns(net, i, ns, sizeof(ns));
		th_net_ip(net, i, ip, sizeof(ip));
		rc = ipcmd("netns add %s", ns);
		if (rc == 0)
			rc = ipcmd("link add %sv%d type veth peer name %sp%d",
				   t, i, t, i);
		if (rc == 0)
			rc = ipcmd("link set %sp%d netns %s", t, i, ns);
		if (rc == 0)
			rc = ipcmd("link set %sv%d master %sb", t, i, t);
		if (rc == 0)
			rc = ipcmd("link set %sv%d up", t, i);
		if (rc == 0)
			rc = ipcmd("netns exec %s ip addr add %s/24 dev %sp%d",
				   ns, ip, t, i);
		if (rc == 0)
			rc = ipcmd("netns exec %s ip link set %sp%d up", ns, t,
				   i);
		if (rc == 0)
			rc = ipcmd("netns exec %s ip link set lo up", ns);
	}
	if (rc < 0)
		th_net_teardown(id);
	return rc;
}

void th_net_teardown(unsigned id)
{
	const char *lsns[] = {IP_BIN, "netns", "list", NULL};
	const char *lslink[] = {IP_BIN, "-o", "link", "show", NULL};
	char tag[16], want[32], *out = NULL, *save = NULL;
	size_t tl;

	net_tag(id, tag, sizeof(tag));
	tl = strlen(tag);
	/* A namespace's end takes its veth end, and the pair with it. */
	if (th_run_capture((char *const *)lsns, 10000, &out) == 0 && out)
		for (char *l = strtok_r(out, "\n", &save); l;
		     l = strtok_r(NULL, "\n", &save))
			if (strncmp(l, tag, tl) == 0 && l[tl] == '-')
				ipcmd("netns del %.*s", (int)strcspn(l, " "),
				      l);
	free(out);
	out = NULL;
	snprintf(want, sizeof(want), " %sb:", tag);
	if (th_run_capture((char *const *)lslink, 10000, &out) == 0 && out &&
	    strstr(out, want))
		ipcmd("link del %sb", tag);
	free(out);
}
