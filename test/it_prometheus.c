/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The metrics through a real Prometheus (Debian's package): two cache
 * nodes and two clients on loopback, scraped every second by a
 * Prometheus this test configures and starts.  Client A reads the
 * dataset twice (the second time from its own block cache), client B
 * once (from the nodes' RAM), A a second dataset once (from the
 * backend), then A's worker is killed and A reads one file more.  Asked
 * through the HTTP API, PromQL must give back what was read, to the
 * byte: each client's bytes per tier, the README's hit ratios, the
 * nodes' bytes per tier, each dataset's per tier adding up to them, and
 * A's counters never reset by the crash.  Needs root and /dev/fuse;
 * without the prometheus binary it fails (scripts/install-deps.sh
 * installs it): a test that cannot run must not pass.
 */
#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "test/helper_check.h"
#include "test/helper_fuse.h"
#include "test/helper_proc.h"

#define PROMETHEUS "/usr/bin/prometheus"
#define N_FILES	   24
#define N_FILES2   5	 /* of ds2 */
#define WAIT_MS	   30000 /* for a scrape to show what was read */

static int prom_port;
static pid_t prom_pid;

/* The files' sizes: some within one 64 KiB block, some over several. */
static size_t file_size(int i)
{
	return 1000 + (size_t)i * 23457;
}

static void make_files(th_cluster_t *c, uint64_t *total)
{
	char p[PATH_MAX];

	*total = 0;
	for (int i = 0; i < N_FILES; i++) {
		th_xsnprintf(p, sizeof(p), "%s/f%02d", c->src, i);
		th_make_file(p, file_size(i), (uint64_t)i + 1, 0644);
		*total += file_size(i);
	}
}

/* Read file i through mount c to its end, checking its bytes; evict
 * first drops the kernel's pages of it, so the read reaches the client. */
static uint64_t read_file(const th_cluster_t *c, int i, int evict)
{
	char src[PATH_MAX], mnt[PATH_MAX];
	int fd;

	th_xsnprintf(src, sizeof(src), "%s/f%02d", c->src, i);
	th_xsnprintf(mnt, sizeof(mnt), "%s/f%02d", c->data, i);
	if (evict) {
		fd = open(mnt, O_RDONLY);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED),
				 0);
		close(fd);
	}
	ck_assert_msg(th_compare_file(src, mnt), "%s differs", mnt);
	return file_size(i);
}

/* ds2's files in src2, of other sizes than ds's; their bytes. */
static uint64_t ds2_make(const char *src2)
{
	char src[PATH_MAX];
	uint64_t n = 0;

	for (int i = 0; i < N_FILES2; i++) {
		th_xsnprintf(src, sizeof(src), "%s/g%d", src2, i);
		th_make_file(src, 5000 + (size_t)i * 40001, (uint64_t)i + 77,
			     0644);
		n += 5000 + (uint64_t)i * 40001;
	}
	return n;
}

/* Read ds2 through c's mount, checking its bytes. */
static void ds2_read(const th_cluster_t *c, const char *src2)
{
	char src[PATH_MAX], mnt[PATH_MAX];

	for (int i = 0; i < N_FILES2; i++) {
		th_xsnprintf(src, sizeof(src), "%s/g%d", src2, i);
		th_xsnprintf(mnt, sizeof(mnt), "%s/ds2/g%d", c->mnt, i);
		ck_assert_msg(th_compare_file(src, mnt), "%s differs", mnt);
	}
}

static uint64_t epoch(const th_cluster_t *c, int evict)
{
	uint64_t n = 0;

	for (int i = 0; i < N_FILES; i++)
		n += read_file(c, i, evict);
	return n;
}

/* ---- Prometheus ---------------------------------------------------------- */

static void prom_start(const th_cluster_t *nodes, const int *cports,
		       int n_clients)
{
	char conf[PATH_MAX], data[PATH_MAX], log[PATH_MAX], listen[64];
	char cfg[4096], url[128];
	size_t n = 0;
	char *out;

	n += (size_t)snprintf(cfg + n, sizeof(cfg) - n,
			      "global:\n  scrape_interval: 1s\n"
			      "  evaluation_interval: 1s\n"
			      "scrape_configs:\n  - job_name: sluice-nodes\n"
			      "    static_configs:\n      - targets: [");
	for (int i = 0; i < nodes->n_nodes; i++)
		n += (size_t)snprintf(cfg + n, sizeof(cfg) - n,
				      "%s'127.0.0.1:%d'", i ? ", " : "",
				      nodes->mport[i]);
	n += (size_t)snprintf(cfg + n, sizeof(cfg) - n,
			      "]\n  - job_name: sluice-clients\n"
			      "    static_configs:\n");
	for (int i = 0; i < n_clients; i++)
		n += (size_t)snprintf(cfg + n, sizeof(cfg) - n,
				      "      - targets: ['127.0.0.1:%d']\n"
				      "        labels: {client: '%c'}\n",
				      cports[i], 'a' + i);
	SL_ASSERT(n < sizeof(cfg));
	th_xsnprintf(conf, sizeof(conf), "%s/prometheus.yml", nodes->dir);
	th_xsnprintf(data, sizeof(data), "%s/tsdb", nodes->dir);
	th_xsnprintf(log, sizeof(log), "%s/prometheus.log", nodes->dir);
	th_put_file(conf, cfg, n);
	prom_port = th_free_port();
	th_xsnprintf(listen, sizeof(listen),
		     "--web.listen-address=127.0.0.1:%d", prom_port);
	{
		char cf[PATH_MAX + 16], df[PATH_MAX + 24];
		const char *argv[] = {PROMETHEUS,	  cf,  df, listen,
				      "--log.level=warn", NULL};

		th_xsnprintf(cf, sizeof(cf), "--config.file=%s", conf);
		th_xsnprintf(df, sizeof(df), "--storage.tsdb.path=%s", data);
		prom_pid = th_fuse_spawn(argv, log);
	}
	th_xsnprintf(url, sizeof(url),
		     "curl -s -o /dev/null -w '%%{http_code}' "
		     "http://127.0.0.1:%d/-/ready",
		     prom_port);
	for (int t = 0; t < 300; t++) {
		out = th_capture(url);
		if (out && strcmp(out, "200") == 0) {
			free(out);
			return;
		}
		free(out);
		ck_assert_msg(!th_pid_gone(prom_pid),
			      "prometheus exited: see %s", log);
		th_msleep(100);
	}
	ck_abort_msg("prometheus not ready within 30 s: see %s", log);
}

static void prom_stop(void)
{
	if (prom_pid > 0) {
		kill(prom_pid, SIGTERM);
		if (th_wait_exit(prom_pid, 10000) < 0) {
			kill(prom_pid, SIGKILL);
			waitpid(prom_pid, NULL, 0);
		}
	}
	prom_pid = 0;
}

typedef struct sample {
	char label[64]; /* the value of the label asked for, or "" */
	double value;
} sample_t;

/*
 * Evaluate expr (no single quote in it) now; the samples of its vector
 * go to out[0..max), each with its label's value.  Returns how many, or
 * -1 when the API said no (its answer in why).
 */
static int prom_query(const char *expr, const char *label, sample_t *out,
		      int max, char *why, size_t whylen)
{
	char cmd[4096];
	json_error_t jerr;
	json_t *root, *res;
	char *body;
	size_t i;
	int n = -1;

	th_xsnprintf(cmd, sizeof(cmd),
		     "curl -s -G --data-urlencode 'query=%s' "
		     "http://127.0.0.1:%d/api/v1/query",
		     expr, prom_port);
	body = th_capture(cmd);
	root = body ? json_loads(body, 0, &jerr) : NULL;
	res = json_object_get(json_object_get(root, "data"), "result");
	snprintf(why, whylen, "%s", body ? body : "(no answer)");
	if (!json_is_array(res))
		goto out;
	n = 0;
	for (i = 0; i < json_array_size(res) && n < max; i++) {
		json_t *s = json_array_get(res, i);
		const char *l = json_string_value(json_object_get(
			json_object_get(s, "metric"), label ? label : ""));
		const char *v = json_string_value(
			json_array_get(json_object_get(s, "value"), 1));

		if (!v)
			continue;
		snprintf(out[n].label, sizeof(out[n].label), "%s", l ? l : "");
		out[n].value = strtod(v, NULL);
		n++;
	}
out:
	json_decref(root);
	free(body);
	return n;
}

/* The value of the one sample of expr, waiting up to WAIT_MS for it to
 * be want (within tol): a scrape may not have seen the last reads yet.
 * Fails the test with what Prometheus said. */
static void expect(const char *expr, double want, double tol)
{
	uint64_t deadline = sl_now_ms() + WAIT_MS;
	char why[2048];
	sample_t s;
	int n;

	for (;;) {
		n = prom_query(expr, NULL, &s, 1, why, sizeof(why));
		if (n == 1 && fabs(s.value - want) <= tol)
			return;
		if (sl_now_ms() > deadline)
			break;
		th_msleep(250);
	}
	ck_abort_msg("%s: want %.6g, Prometheus says %s", expr, want, why);
}

/* ---- The test ------------------------------------------------------------ */

START_TEST(test_epoch_through_prometheus)
{
	th_cluster_t a, b;
	uint64_t total, one, total2;
	int cports[2];
	char opt_a[64], opt_b[64], q[1024], src2[PATH_MAX];
	char sections[PATH_MAX + 128];
	const char *args_a[] = {opt_a, NULL}, *args_b[] = {opt_b, NULL};
	pid_t w;

	th_cluster_init(&a, "prom", 2);
	for (int i = 0; i < a.n_nodes; i++)
		a.mport[i] = th_free_port();
	make_files(&a, &total);
	th_xsnprintf(src2, sizeof(src2), "%s/src2", a.dir);
	ck_assert_int_eq(mkdir(src2, 0755), 0);
	total2 = ds2_make(src2);
	th_xsnprintf(sections, sizeof(sections),
		     "[dataset ds2]\nbackend = posix\nuri = file://%s\n"
		     "block_size = 64K\n",
		     src2);
	a.sections = sections;
	cports[0] = th_free_port();
	cports[1] = th_free_port();
	th_xsnprintf(opt_a, sizeof(opt_a), "--metrics=:%d", cports[0]);
	th_xsnprintf(opt_b, sizeof(opt_b), "-ometrics=127.0.0.1:%d", cports[1]);
	th_cluster_up(&a, NULL, args_a);
	th_cluster_client(&a, &b, "b");
	ck_assert_int_eq(th_client_start(&b, args_b), 0);
	prom_start(&a, cports, 2);
	/* Every target scraped once before anything is read, so a rate
	 * sees the reads as increases. */
	expect("sum(up)", 4, 0);

	/* A: cold, then again from its block cache; B: from the nodes. */
	ck_assert_uint_eq(epoch(&a, 0), total);
	ck_assert_uint_eq(epoch(&a, 1), total);
	ck_assert_uint_eq(epoch(&b, 0), total);

	expect("sluice_client_read_bytes_total{client=\"a\"}", 2.0 * total, 0);
	expect("sluice_client_read_bytes_total{client=\"b\"}", total, 0);
	expect("sluice_client_block_read_bytes_total{client=\"a\","
	       "tier=\"backend\"}",
	       total, 0);
	expect("sluice_client_block_read_bytes_total{client=\"a\","
	       "tier=\"client\"}",
	       total, 0);
	expect("sluice_client_block_read_bytes_total{client=\"b\","
	       "tier=\"ram\"}",
	       total, 0);
	/* Every byte in exactly one tier, on every client. */
	expect("sum(sluice_client_block_read_bytes_total) - "
	       "sum(sluice_client_read_bytes_total)",
	       0, 0);
	/* README's ratio (over counters here, so exact): a's thirds. */
	expect("sum by (tier) (sluice_client_block_read_bytes_total{tier="
	       "\"backend\"}) / ignoring (tier) group_left "
	       "sum(sluice_client_read_bytes_total)",
	       1.0 / 3, 1e-9);
	/* The nodes: every block fetched from the backend once (by A),
	 * served from RAM once (to B). */
	expect("sum(sluice_served_bytes_total{tier=\"backend\"})", total, 0);
	expect("sum(sluice_served_bytes_total{tier=\"ram\"})", total, 0);
	expect("sum(sluice_served_bytes_total) - "
	       "sum(sluice_bytes_served_total)",
	       0, 0);
	expect("max(sluice_client_ring_members)", 2, 0);
	/* Per dataset: ds as the nodes above, ds2 (A, once) all from the
	 * backend; the datasets add up to the node, tier by tier. */
	ds2_read(&a, src2);
	expect("sum(sluice_dataset_served_bytes_total{dataset=\"ds\","
	       "tier=\"backend\"})",
	       total, 0);
	expect("sum(sluice_dataset_served_bytes_total{dataset=\"ds\","
	       "tier=\"ram\"})",
	       total, 0);
	expect("sum(sluice_dataset_served_bytes_total{dataset=\"ds2\","
	       "tier=\"backend\"})",
	       total2, 0);
	expect("sum(sluice_dataset_served_bytes_total{dataset=\"ds2\"})",
	       total2, 0);
	expect("count(sum by (tier) (sluice_dataset_served_bytes_total) == "
	       "sum by (tier) (sluice_served_bytes_total))",
	       4, 0);
	expect("sum(sluice_dataset_backend_read_bytes_total{dataset="
	       "\"ds2\"})",
	       total2, 0);
	expect("sum(sluice_dataset_backend_read_bytes_total) - "
	       "sum(sluice_backend_read_bytes_total)",
	       0, 0);
	/* Every node shows each dataset's refetches, 0 here (read once). */
	expect("count(sluice_dataset_backend_refetched_bytes_total == 0)", 4,
	       0);
	/* README's per-dataset node hit ratio: half of ds came from RAM. */
	expect("sum by (dataset) (sluice_dataset_served_bytes_total{dataset="
	       "\"ds\",tier!=\"backend\"}) / sum by (dataset) "
	       "(sluice_dataset_served_bytes_total{dataset=\"ds\"})",
	       0.5, 1e-9);
	/* README's rate form answers too, and its tiers add up to 1. */
	expect("sum(sum by (tier) "
	       "(rate(sluice_client_block_read_bytes_total[1m])) / ignoring "
	       "(tier) group_left "
	       "sum(rate(sluice_client_read_bytes_total[1m])))",
	       1, 1e-6);

	/* A's worker dies; the endpoint and its counts live on. */
	w = th_client_worker(&a, 5000);
	ck_assert_int_gt(w, 0);
	kill(w, SIGKILL);
	for (int t = 0; t < 500; t++) {
		pid_t nw = th_client_worker(&a, 100);

		if (nw > 0 && nw != w)
			break;
		th_msleep(10);
	}
	one = read_file(&a, N_FILES - 1, 1);
	expect("sluice_client_worker_starts_total{client=\"a\"}", 2, 0);
	expect("sluice_client_read_bytes_total{client=\"a\"}",
	       2.0 * total + (double)total2 + one, 0);
	expect("sluice_client_block_read_bytes_total{client=\"a\","
	       "tier=\"ram\"}",
	       one, 0);
	th_xsnprintf(q, sizeof(q),
		     "max(resets(sluice_client_read_bytes_total{client=\"a\"}"
		     "[5m]))");
	expect(q, 0, 0);

	prom_stop();
	ck_assert_int_eq(th_client_stop(&b), 0);
	th_cluster_stop(&a);
}
END_TEST

int main(void)
{
	Suite *s;
	TCase *tc;
	int rc;

	if (!th_have_fuse())
		return th_check_skip_suite("it_prometheus",
					   "needs root and /dev/fuse");
	if (access(PROMETHEUS, X_OK) != 0) {
		fprintf(stderr,
			"it_prometheus: %s is missing: run "
			"scripts/install-deps.sh (Debian's prometheus)\n",
			PROMETHEUS);
		return 1;
	}
	if (th_fuse_setup("it-prometheus") < 0)
		return 1;
	s = suite_create("it_prometheus");
	tc = tcase_create("prometheus");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_epoch_through_prometheus);
	suite_add_tcase(s, tc);
	rc = th_check_run(s, NULL);
	th_fuse_teardown(rc);
	return rc;
}
