/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Metrics: requests counted by op and status, the latency histogram's
 * buckets cumulative, the STATS pairs and the Prometheus text generated
 * from the same values, and the HTTP endpoint answering GET /metrics on a
 * loopback port (404 elsewhere), with clear errors for bad addresses.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cachenode/metrics.h"
#include "test/helper_proc.h"
#include "test/helper_check.h"

struct find {
	const char *name;
	uint64_t value;
	int found;
	int count;
};

static void find_fn(void *arg, const char *name, uint64_t value)
{
	struct find *f = arg;

	f->count++;
	if (!strcmp(name, f->name)) {
		f->value = value;
		f->found = 1;
	}
}

static uint64_t stat_of(cn_metrics_t *m, const char *name)
{
	struct find f = {name, 0, 0, 0};

	cn_metrics_foreach(m, find_fn, &f);
	ck_assert_msg(f.found, "no %s", name);
	return f.value;
}

START_TEST(test_counts_and_names)
{
	cn_metrics_t m;
	char *text;
	size_t len;

	cn_metrics_init(&m);
	cn_metrics_request(&m, PR_OP_READ, 0);
	cn_metrics_request(&m, PR_OP_READ, 0);
	cn_metrics_request(&m, PR_OP_READ, -ENOENT);
	cn_metrics_request(&m, PR_OP_STAT, -EXDEV); /* "other" */
	cn_metrics_request(&m, 200, -EOPNOTSUPP);
	cn_metrics_backend_latency(&m, 50000);	    /* 50 us */
	cn_metrics_backend_latency(&m, 3000000);    /* 3 ms */
	cn_metrics_backend_latency(&m, 9000000000); /* 9 s: +Inf */
	atomic_store(&m.ram_used, 12345);
	ck_assert_str_eq(cn_mstatus_name(-ENOENT), "ENOENT");
	ck_assert_str_eq(cn_mstatus_name(0), "ok");
	ck_assert_str_eq(cn_mstatus_name(-EXDEV), "other");
	ck_assert_uint_eq(
		stat_of(&m, "sluice_requests_total{op=\"READ\",status=\"ok\"}"),
		2);
	ck_assert_uint_eq(
		stat_of(&m,
			"sluice_requests_total{op=\"READ\",status=\"ENOENT\"}"),
		1);
	ck_assert_uint_eq(
		stat_of(&m,
			"sluice_requests_total{op=\"STAT\",status=\"other\"}"),
		1);
	ck_assert_uint_eq(stat_of(&m,
				  "sluice_requests_total{op=\"UNKNOWN\",status="
				  "\"EOPNOTSUPP\"}"),
			  1);
	ck_assert_uint_eq(stat_of(&m, "sluice_ram_used_bytes"), 12345);
	ck_assert_uint_eq(
		stat_of(&m,
			"sluice_backend_read_seconds_bucket{le=\"0.0001\"}"),
		1);
	ck_assert_uint_eq(
		stat_of(&m, "sluice_backend_read_seconds_bucket{le=\"0.005\"}"),
		2);
	ck_assert_uint_eq(
		stat_of(&m, "sluice_backend_read_seconds_bucket{le=\"+Inf\"}"),
		3);
	ck_assert_uint_eq(stat_of(&m, "sluice_backend_read_seconds_count"), 3);

	text = cn_metrics_render(&m, &len);
	ck_assert_uint_eq(strlen(text), len);
	ck_assert_ptr_nonnull(
		strstr(text, "# TYPE sluice_requests_total counter\n"));
	ck_assert_ptr_nonnull(strstr(
		text, "sluice_requests_total{op=\"READ\",status=\"ok\"} 2\n"));
	ck_assert_ptr_nonnull(strstr(text, "sluice_ram_used_bytes 12345\n"));
	ck_assert_ptr_nonnull(
		strstr(text, "# TYPE sluice_backend_read_seconds histogram\n"));
	ck_assert_ptr_nonnull(strstr(
		text, "sluice_backend_read_seconds_bucket{le=\"+Inf\"} 3\n"));
	ck_assert_ptr_nonnull(
		strstr(text, "sluice_backend_read_seconds_sum 9.003050000\n"));
	ck_assert_ptr_nonnull(
		strstr(text, "# TYPE sluice_cache_hits_total counter\n"));
	free(text);
}
END_TEST

static char *http_get(int port, const char *req)
{
	struct sockaddr_in a = {0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char *buf = calloc(1, 1 << 16);
	size_t len = 0;
	ssize_t n;

	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while ((n = read(fd, buf + len, (1 << 16) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	return buf;
}

START_TEST(test_http)
{
	cn_metrics_t m;
	char addr[64], err[256];
	int port = th_free_port();
	cn_metrics_http_t *h;
	char *resp;

	cn_metrics_init(&m);
	atomic_store(&m.ram_hits, 77);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
	h = cn_metrics_http_start(&m, addr, err, sizeof(err));
	ck_assert_msg(h != NULL, "%s", err);
	resp = http_get(port, "GET /metrics HTTP/1.0\r\n\r\n");
	ck_assert_msg(!strncmp(resp, "HTTP/1.0 200", 12) ||
			      !strncmp(resp, "HTTP/1.1 200", 12),
		      "%s", resp);
	ck_assert_ptr_nonnull(strstr(resp, "text/plain; version=0.0.4"));
	ck_assert_ptr_nonnull(
		strstr(resp, "sluice_cache_hits_total{tier=\"ram\"} 77\n"));
	free(resp);
	resp = http_get(port, "GET /other HTTP/1.0\r\n\r\n");
	ck_assert_ptr_nonnull(strstr(resp, " 404 "));
	free(resp);
	/* The port is taken now. */
	ck_assert_ptr_null(cn_metrics_http_start(&m, addr, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, addr));
	cn_metrics_http_stop(&h);
	ck_assert_ptr_null(h);
	ck_assert_ptr_null(
		cn_metrics_http_start(&m, "no-port-here", err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "HOST:PORT"));
	ck_assert_ptr_null(
		cn_metrics_http_start(&m, "127.0.0.1:port", err, sizeof(err)));
}
END_TEST

int main(void)
{
	Suite *s =
		TH_SUITE("cn_metrics",
			 {.name = "metrics",
			  .tests = TH_TESTS(test_counts_and_names, test_http)});

	return th_check_run(s, NULL);
}
