/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Prometheus endpoint in the mode the FUSE client's supervisor runs
 * it: no thread, driven from a poll(2) on its one descriptor.  ":PORT"
 * listens on loopback only (the kernel's table says 127.0.0.1), GET
 * /metrics answers the render callback's text, other paths 404, and a
 * port in use is a clear error.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/promhttp.h"
#include "common/util.h"
#include "test/helper_check.h"
#include "test/helper_proc.h"

static int renders;

static char *render(void *arg, size_t *len)
{
	renders++;
	*len = strlen(arg);
	return sl_xstrdup(arg);
}

/* GET path from 127.0.0.1:port, turning h's loop meanwhile; the whole
 * answer (caller frees). */
static char *get(sl_promhttp_t *h, int port, const char *path)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port)};
	char req[256], *out = sl_xcalloc(1, 65536);
	size_t n = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	uint64_t deadline = sl_now_ms() + 10000;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	snprintf(req, sizeof(req),
		 "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
		 path);
	for (int sent = 0; sl_now_ms() < deadline;) {
		struct pollfd p[2] = {
			{.fd = sl_promhttp_fd(h), .events = POLLIN},
			{.fd = fd, .events = POLLIN | POLLOUT}};
		ssize_t r;

		poll(p, 2, 50);
		sl_promhttp_run(h);
		if (!sent && (p[1].revents & POLLOUT)) {
			ck_assert_int_eq(write(fd, req, strlen(req)),
					 (ssize_t)strlen(req));
			sent = 1;
		}
		if (!(p[1].revents & (POLLIN | POLLHUP)))
			continue;
		r = read(fd, out + n, 65535 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	return out;
}

/* Whether /proc/net/tcp has a listener on 127.0.0.1:port. */
static int listens_on_loopback(int port)
{
	char want[32], *tab = th_read_file("/proc/net/tcp", NULL);
	int found;

	snprintf(want, sizeof(want), "0100007F:%04X 00000000:0000 0A", port);
	found = tab && strstr(tab, want) != NULL;
	free(tab);
	return found;
}

START_TEST(test_external_loopback)
{
	int port = th_free_port();
	char addr[32], err[256], *out;
	sl_promhttp_t *h, *h2;

	snprintf(addr, sizeof(addr), ":%d", port);
	h = sl_promhttp_start(addr, SL_PROMHTTP_EXTERNAL | SL_PROMHTTP_LOOPBACK,
			      render, (void *)"sluice_x_total 7\n", err,
			      sizeof(err));
	ck_assert_msg(h != NULL, "%s", err);
	ck_assert_int_ge(sl_promhttp_fd(h), 0);
	ck_assert(listens_on_loopback(port));
	out = get(h, port, "/metrics");
	ck_assert_msg(strstr(out, "200 OK") &&
			      strstr(out, "\r\n\r\nsluice_x_total "
					  "7\n"),
		      "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "text/plain; version=0.0.4"));
	free(out);
	out = get(h, port, "/other");
	ck_assert_msg(strstr(out, "404"), "%s", out);
	free(out);
	ck_assert_int_eq(renders, 1);
	/* The port is taken: a clear error, nothing started. */
	h2 = sl_promhttp_start(addr,
			       SL_PROMHTTP_EXTERNAL | SL_PROMHTTP_LOOPBACK,
			       render, NULL, err, sizeof(err));
	ck_assert_ptr_null(h2);
	ck_assert_msg(strstr(err, addr) && strstr(err, "cannot listen"), "%s",
		      err);
	sl_promhttp_stop(&h);
	ck_assert_ptr_null(h);
	sl_promhttp_stop(&h);
	ck_assert_ptr_null(sl_promhttp_start("nowhere", 0, render, NULL, err,
					     sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "HOST:PORT"));
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE("promhttp",
			    {.name = "promhttp",
			     .tests = TH_TESTS(test_external_loopback)});

	return th_check_run(s, NULL);
}
