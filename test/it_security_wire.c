/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Integration: CURVE end to end, through a real mount.  A cluster of real
 * nodes under security = curve (one key pair the nodes share, as etcd's
 * would from a Kubernetes Secret) and a sluice-fuse client with an
 * allowed key reads files equal to the source, the nodes hand replicas to
 * each other over CURVE too; and a tcpdump capture of the loopback
 * traffic of a read holds no 64-byte run of the files' bytes under CURVE,
 * and thousands with security = none (so the check can fail).
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/keys.h"
#include "common/log.h"
#include "common/util.h"
#include "test/helper_check.h"
#include "test/helper_cluster.h"
#include "test/helper_proc.h"

#define TIMEOUT_MS 10000
#define FILES	   24

static char work[PATH_MAX];
static char tcpdump[64]; /* its path */

static void keygen(const char *dir, const char *name)
{
	char bin[PATH_MAX], *out = NULL;
	char *argv[] = {bin,	     (char *)"keygen", (char *)"-o",
			(char *)dir, (char *)name,     NULL};

	snprintf(bin, sizeof(bin), "%s/sluicectl", th_build_dir());
	ck_assert_int_eq(th_run_capture(argv, TIMEOUT_MS, &out), 0);
	free(out);
}

/* c under security = curve: keys in c->dir/keys, alice allowed, the
 * nodes sharing key pair "nodes", the client (and th_cl_node_value)
 * holding alice's. */
static void curve_cluster(th_cluster_t *c)
{
	char keys[256], allowed[256], p[PATH_MAX], q[PATH_MAX];
	char pub[SL_KEY_Z85_LEN + 1], err[256], *buf;
	size_t len;

	ck_assert_uint_lt(strlen(c->dir), 200);
	snprintf(keys, sizeof(keys), "%.200s/keys", c->dir);
	snprintf(allowed, sizeof(allowed), "%.200s/allowed", c->dir);
	ck_assert_int_eq(mkdir(keys, 0700), 0);
	ck_assert_int_eq(mkdir(allowed, 0755), 0);
	keygen(keys, "nodes");
	keygen(keys, "alice");
	snprintf(p, sizeof(p), "%s/alice.pub", keys);
	snprintf(q, sizeof(q), "%s/alice.pub", allowed);
	buf = th_read_file(p, &len);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(th_write_file(q, buf, len), 0);
	free(buf);
	snprintf(c->cluster_keys, sizeof(c->cluster_keys),
		 "security = curve\nallowed_clients = %s\n", allowed);
	snprintf(c->node_keys, sizeof(c->node_keys),
		 "workers = 2\nsecret_key = %s/nodes.key\n"
		 "public_key = %s/nodes.pub\n",
		 keys, keys);
	snprintf(c->client_keys, sizeof(c->client_keys),
		 "request_timeout = %dms\nsecret_key = %s/alice.key\n",
		 TIMEOUT_MS, keys);
	snprintf(p, sizeof(p), "%s/nodes.pub", keys);
	ck_assert_int_eq(sl_keys_read_public(p, pub, err, sizeof(err)), 0);
	sl_strlcpy(c->server_key, pub, sizeof(c->server_key));
	snprintf(p, sizeof(p), "%s/alice.key", keys);
	ck_assert_int_eq(
		sl_keys_read_secret(p, c->client_secret, pub, err, sizeof(err)),
		0);
}

/* src/escape: a symbolic link out of the dataset's root, to a file
 * beside it. */
static void escape_link(th_cluster_t *c)
{
	char p[PATH_MAX + 16], t[PATH_MAX + 16];

	snprintf(t, sizeof(t), "%s/outside", c->dir);
	ck_assert_int_eq(th_write_file(t, "not in the dataset\n", 19), 0);
	snprintf(p, sizeof(p), "%s/escape", c->src);
	ck_assert_int_eq(symlink("../outside", p), 0);
}

/* Through the mount, the link is neither listed nor followed: ENOENT, as
 * for a name the listing lacks (a raw STAT of it is refused EACCES by the
 * node: it_cachenode). */
static void escape_refused(const th_cluster_t *c)
{
	char p[PATH_MAX + 16];
	struct stat st;
	DIR *d = opendir(c->data);
	struct dirent *e;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		ck_assert_str_ne(e->d_name, "escape");
	closedir(d);
	snprintf(p, sizeof(p), "%s/escape", c->data);
	ck_assert_int_eq(stat(p, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(open(p, O_RDONLY), -1);
	ck_assert_int_eq(errno, ENOENT);
}

/* Whether the mount root lists name. */
static int root_has(const th_cluster_t *c, const char *name)
{
	DIR *d = opendir(c->mnt);
	struct dirent *e;
	int found = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		found |= strcmp(e->d_name, name) == 0;
	closedir(d);
	return found;
}

/* Through the mount with alice's key: the bytes of the source, and not
 * the dataset only bob may see; the two nodes hand each block's second
 * copy on over CURVE. */
START_TEST(test_mount_over_curve)
{
	th_cluster_t c;
	int64_t copies = 0;

	ck_assert_int_eq(th_cl_init(&c, work, "mount"), 0);
	ck_assert_int_eq(th_cl_make_files(&c, FILES, 1000, 150000, 7), 0);
	escape_link(&c);
	curve_cluster(&c);
	sl_strlcpy(c.dataset_keys, "replicas = 2\n", sizeof(c.dataset_keys));
	/* A dataset for bob only: not in alice's mount root. */
	snprintf(c.sections, sizeof(c.sections),
		 "[dataset hidden]\nbackend = posix\nuri = file://%.200s\n"
		 "allow = bob\n",
		 c.src);
	ck_assert_int_eq(th_cl_up(&c, 2), 0);
	ck_assert_int_eq(root_has(&c, "ds"), 1);
	ck_assert_int_eq(root_has(&c, "hidden"), 0);
	{
		char p[PATH_MAX + 16];
		struct stat st;

		snprintf(p, sizeof(p), "%s/hidden", c.mnt);
		ck_assert_int_eq(stat(p, &st), -1);
		ck_assert_int_eq(errno, ENOENT);
	}
	for (int i = 0; i < FILES; i++)
		ck_assert_msg(th_cl_same_file(&c, i, 1), "file %d differs", i);
	escape_refused(&c);
	for (int t = 0; t < 100 && copies < FILES; t++) {
		copies = th_cl_sum(&c,
				   "sluice_replicas_total{dir=\"received\"}");
		usleep(50000);
	}
	ck_assert_int_ge(copies, FILES);
	ck_assert_int_eq(th_cl_sum(&c, "sluice_auth_refused_total"), 0);
	ck_assert_int_eq(th_cl_unmount(&c), 0);
	th_cl_fini(&c);
}
END_TEST

/* Read every file through the mount while tcpdump records node 0's port
 * on lo; the number of 64-byte runs of the files the capture holds. */
static long captured_runs(int curve)
{
	char cap[PATH_MAX + 16], tlog[PATH_MAX + 16], port[16], *out = NULL;
	char *targv[] = {tcpdump,	 (char *)"-i", (char *)"lo",
			 (char *)"-U",	 (char *)"-s", (char *)"0",
			 (char *)"-w",	 cap,	       (char *)"tcp",
			 (char *)"port", port,	       NULL};
	char *pargv[FILES + 4];
	char paths[FILES][PATH_MAX + 16];
	th_cluster_t c;
	pid_t dump;
	long runs;

	ck_assert_int_eq(
		th_cl_init(&c, work, curve ? "wire-curve" : "wire-none"), 0);
	ck_assert_int_eq(th_cl_make_files(&c, FILES, 4000, 60000, 11), 0);
	if (curve)
		curve_cluster(&c);
	else
		sl_strlcpy(c.cluster_keys, "security = none\n",
			   sizeof(c.cluster_keys));
	th_cl_add_node(&c, NULL, NULL, 1);
	ck_assert_int_eq(th_cl_write_conf(&c), 0);
	ck_assert_int_eq(th_cl_node_start(&c, 0, NULL), 0);
	snprintf(cap, sizeof(cap), "%s/lo.pcap", c.dir);
	snprintf(tlog, sizeof(tlog), "%s/tcpdump.log", c.dir);
	snprintf(port, sizeof(port), "%d", c.node[0].port);
	dump = th_proc_spawn(targv, tlog);
	ck_assert_int_gt(dump, 0);
	ck_assert_int_eq(th_wait_in_file(tlog, "listening on", 1, TIMEOUT_MS),
			 0);
	ck_assert_int_eq(th_cl_mount(&c, NULL), 0);
	for (int i = 0; i < FILES; i++)
		ck_assert_msg(th_cl_same_file(&c, i, 1), "file %d differs", i);
	ck_assert_int_eq(th_cl_unmount(&c), 0);
	ck_assert_int_eq(th_proc_stop(dump, SIGINT, TIMEOUT_MS, NULL), 0);
	pargv[0] = (char *)"/usr/bin/python3";
	pargv[1] = (char *)"test/wire_runs.py";
	pargv[2] = cap;
	for (int i = 0; i < FILES; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/f%04d", c.src, i);
		pargv[3 + i] = paths[i];
	}
	pargv[3 + FILES] = NULL;
	ck_assert_int_eq(th_run_capture(pargv, 120000, &out), 0);
	runs = strtol(out, NULL, 10);
	fprintf(stderr, "wire (%s): %ld runs of 64 file bytes on the wire\n",
		curve ? "curve" : "none", runs);
	free(out);
	th_cl_fini(&c);
	return runs;
}

START_TEST(test_wire_holds_no_plaintext)
{
	ck_assert_int_gt(captured_runs(0), 1000);
	ck_assert_int_eq(captured_runs(1), 0);
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE("it_security_wire",
			    {.name = "wire",
			     .tests = TH_TESTS(test_mount_over_curve,
					       test_wire_holds_no_plaintext),
			     .timeout = 600});
	char *tmp;
	int rc;

	if (!th_have_fuse())
		return th_check_skip_suite("it_security_wire",
					   "needs root and /dev/fuse");
	sl_strlcpy(tcpdump,
		   access("/usr/bin/tcpdump", X_OK) == 0 ? "/usr/bin/tcpdump"
							 : "/usr/sbin/tcpdump",
		   sizeof(tcpdump));
	if (access(tcpdump, X_OK) != 0)
		return th_check_skip_suite("it_security_wire",
					   "needs tcpdump (scripts/"
					   "install-deps.sh)");
	tmp = th_tmpdir("it-secwire");
	SL_ASSERT(tmp);
	sl_strlcpy(work, tmp, sizeof(work));
	free(tmp);
	sl_log_init("it_security_wire", SL_LOG_ERR);
	rc = th_check_run(s, NULL);
	if (rc == 0 && !getenv("SLUICE_KEEP_TMP"))
		th_rmtree(work);
	else
		fprintf(stderr, "it_security_wire: logs kept in %s\n", work);
	return rc;
}
