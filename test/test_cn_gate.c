/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wire gate on plain sockets (no ZeroMQ): a connection accepted on a
 * watched port is followed through accept4/recv/close as libzmq would
 * make those calls.  Whole ZMTP 3 streams pass in any chunking; a message
 * over its frames or bytes, a command over its size, reserved flag bits,
 * another ZMTP version or mechanism get the read failed with ECONNRESET
 * at the header that breaks the rule; connections over the limit are
 * refused; unwatched ports and closed descriptors are not followed.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cachenode/gate.h"
#include "common/log.h"
#include "test/helper_check.h"
#include "test/helper_proc.h"

static const cn_gate_limits_t lim = {
	.max_frames = 4,
	.max_bytes = 1000,
	.max_command = 300,
	.max_conns = 2,
};

static cn_metrics_t m;
static int lfd = -1, port;
static char ep[64];

static void setup(void)
{
	struct sockaddr_in a = {0};
	int one = 1;

	cn_metrics_init(&m);
	port = th_free_port();
	snprintf(ep, sizeof(ep), "tcp://127.0.0.1:%d", port);
	ck_assert_int_eq(cn_gate_watch(ep, &lim, &m), 0);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(lfd, 8), 0);
}

static void teardown(void)
{
	close(lfd);
	cn_gate_unwatch(ep);
	ck_assert_uint_eq(cn_gate_conns(), 0);
}

/* A connected pair: *cl the client's end, the accepted end returned. */
static int pair(int *cl)
{
	struct sockaddr_in a = {0};
	int s;

	*cl = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(*cl, (struct sockaddr *)&a, sizeof(a)), 0);
	s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	return s;
}

/* Send bytes from the client and read them at the server through the
 * gate, chunk bytes at a time: what the last recv said (> 0, or -errno). */
static ssize_t pass(int cl, int s, const uint8_t *p, size_t n, size_t chunk)
{
	uint8_t buf[4096];
	ssize_t r = 0;

	for (size_t off = 0; off < n; off += chunk) {
		size_t k = n - off < chunk ? n - off : chunk;
		size_t got = 0;

		ck_assert_int_eq(write(cl, p + off, k), (ssize_t)k);
		while (got < k) {
			r = recv(s, buf, sizeof(buf), 0);
			if (r < 0)
				return -errno;
			ck_assert_int_gt(r, 0);
			got += (size_t)r;
		}
	}
	return r;
}

static size_t greeting(uint8_t *out, const char *mech, uint8_t major)
{
	memset(out, 0, 64);
	out[0] = 0xff;
	out[9] = 0x7f;
	out[10] = major;
	memcpy(out + 12, mech, strlen(mech));
	return 64;
}

/* A frame of n bytes of 'x': flags, size (long when asked or needed). */
static size_t frame(uint8_t *out, uint8_t flags, size_t n, int is_long)
{
	size_t h;

	if (is_long || n > 255) {
		out[0] = flags | 0x02;
		for (int k = 0; k < 8; k++)
			out[1 + k] = (uint8_t)((uint64_t)n >> (56 - 8 * k));
		h = 9;
	} else {
		out[0] = flags;
		out[1] = (uint8_t)n;
		h = 2;
	}
	memset(out + h, 'x', n);
	return h + n;
}

START_TEST(test_streams_pass)
{
	static uint8_t st[8192];
	size_t n = greeting(st, "NULL", 3);
	int cl, s = pair(&cl);

	ck_assert_int_ge(s, 0);
	ck_assert_uint_eq(cn_gate_conns(), 1);
	n += frame(st + n, 0x04, 30, 0);   /* READY */
	n += frame(st + n, 0x01, 40, 0);   /* header, MORE */
	n += frame(st + n, 0x00, 900, 1);  /* body: 940 bytes in all */
	n += frame(st + n, 0x00, 1000, 0); /* one frame at the limit */
	for (int i = 0; i < 3; i++)	   /* 4 frames */
		n += frame(st + n, 0x01, 0, 0);
	n += frame(st + n, 0x00, 10, 0);
	n += frame(st + n, 0x04, 300, 0); /* a command at its limit */
	/* Whole, and one byte at a time. */
	ck_assert_int_gt(pass(cl, s, st, n, n), 0);
	close(s);
	close(cl);
	s = pair(&cl);
	ck_assert_int_gt(pass(cl, s, st, n, 1), 0);
	ck_assert_uint_eq(atomic_load(&m.connections_cut), 0);
	close(s);
	close(cl);
	ck_assert_uint_eq(cn_gate_conns(), 0);
}
END_TEST

/* Each stream breaks one rule at its end: the read that brings the
 * breaking header fails. */
START_TEST(test_breaches_cut)
{
	static uint8_t st[8192];
	int cl, s;

	for (int k = 0; k < 7; k++) {
		size_t n =
			greeting(st, k == 0 ? "CURVE" : "NULL", k == 1 ? 2 : 3);

		if (k == 2) /* 5 frames */
			for (int i = 0; i < 5; i++)
				n += frame(st + n, i < 4 ? 0x01 : 0, 1, 0);
		if (k == 3) { /* 1001 bytes over two frames */
			n += frame(st + n, 0x01, 500, 0);
			n += frame(st + n, 0x00, 501, 0);
		}
		if (k == 4) /* a command over 300 */
			n += frame(st + n, 0x04, 301, 0);
		if (k == 5) /* reserved flag bits */
			n += frame(st + n, 0x08, 1, 0);
		if (k == 6) { /* a huge frame announced in a long size */
			size_t at = n;

			n += frame(st + n, 0x01, 0, 1);
			st[at + 1] = 0x7f;
		}
		s = pair(&cl);
		ck_assert_int_ge(s, 0);
		ck_assert_msg(pass(cl, s, st, n, n) == -ECONNRESET,
			      "stream %d passed", k);
		/* Cut stays cut. */
		ck_assert_int_eq(recv(s, st, 1, MSG_DONTWAIT), -1);
		close(s);
		close(cl);
	}
	ck_assert_uint_eq(atomic_load(&m.connections_cut), 7);
}
END_TEST

START_TEST(test_conns_and_unwatched)
{
	int cl[3], s[3];
	struct sockaddr_in a = {0};
	socklen_t al = sizeof(a);
	int other = socket(AF_INET, SOCK_STREAM, 0), c2, s2;
	uint8_t g[64];

	for (int i = 0; i < 2; i++) {
		s[i] = pair(&cl[i]);
		ck_assert_int_ge(s[i], 0);
	}
	s[2] = pair(&cl[2]);
	ck_assert_int_eq(s[2], -1);
	ck_assert_int_eq(errno, ECONNABORTED);
	ck_assert_uint_eq(cn_gate_conns(), 2);
	for (int i = 0; i < 3; i++) {
		if (i < 2)
			close(s[i]);
		close(cl[i]);
	}
	ck_assert_uint_eq(cn_gate_conns(), 0);
	/* Another port is not followed: anything passes. */
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(other, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(other, 1), 0);
	getsockname(other, (struct sockaddr *)&a, &al);
	c2 = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(c2, (struct sockaddr *)&a, sizeof(a)), 0);
	s2 = accept4(other, NULL, NULL, 0);
	ck_assert_int_ge(s2, 0);
	ck_assert_uint_eq(cn_gate_conns(), 0);
	memset(g, 'z', sizeof(g));
	ck_assert_int_eq(write(c2, g, sizeof(g)), (ssize_t)sizeof(g));
	ck_assert_int_gt(recv(s2, g, sizeof(g), 0), 0);
	close(s2);
	close(c2);
	close(other);
}
END_TEST

/* Under CURVE: a CURVE greeting, then encrypted frames bounded each by
 * max_bytes plus CURVE's overhead (not counted per message: the MORE flag
 * is inside the box); a NULL greeting, or one frame past the bound, is
 * cut; cn_gate_cut_all ends every connection of the endpoint. */
START_TEST(test_curve)
{
	static uint8_t st[8192];
	cn_gate_limits_t cl_lim = lim;
	size_t n;
	int cl, s;
	uint8_t b;

	cn_gate_unwatch(ep);
	cl_lim.curve = 1;
	ck_assert_int_eq(cn_gate_watch(ep, &cl_lim, &m), 0);
	n = greeting(st, "CURVE", 3);
	n += frame(st + n, 0x04, 200, 0);		/* HELLO */
	n += frame(st + n, 0x04, 300 + 64, 1);		/* INITIATE */
	for (int i = 0; i < 6; i++)			/* six frames of */
		n += frame(st + n, 0x00, 1000 + 64, 1); /* one message */
	s = pair(&cl);
	ck_assert_int_gt(pass(cl, s, st, n, 7), 0);
	ck_assert_uint_eq(atomic_load(&m.connections_cut), 0);
	n = frame(st, 0x00, 1000 + 65, 1);
	ck_assert_int_eq(pass(cl, s, st, n, n), -ECONNRESET);
	ck_assert_uint_eq(atomic_load(&m.connections_cut), 1);
	close(s);
	close(cl);
	s = pair(&cl);
	n = greeting(st, "NULL", 3);
	ck_assert_int_eq(pass(cl, s, st, n, n), -ECONNRESET);
	close(s);
	close(cl);
	/* Cut on demand: the client sees the end of the stream. */
	s = pair(&cl);
	n = greeting(st, "CURVE", 3);
	ck_assert_int_gt(pass(cl, s, st, n, n), 0);
	ck_assert_uint_eq(cn_gate_cut_all(ep), 1);
	ck_assert_int_eq(read(cl, &b, 1), 0);
	close(s);
	close(cl);
	ck_assert_uint_eq(cn_gate_cut_all(ep), 0);
}
END_TEST

int main(void)
{
	Suite *s = TH_SUITE(
		"cn_gate",
		{.name = "gate",
		 .tests = TH_TESTS(test_streams_pass, test_breaches_cut,
				   test_conns_and_unwatched, test_curve),
		 .setup = setup,
		 .teardown = teardown});

	sl_log_init("test_cn_gate", SL_LOG_ERR);
	return th_check_run(s, NULL);
}
