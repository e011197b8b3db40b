/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Prometheus endpoint (see promhttp.h): libmicrohttpd, with its own
 * polling thread or, for a caller that must stay one thread, in epoll
 * mode driven from the caller's poll(2) -- one descriptor stands for the
 * listening socket and every connection.
 */
#include "common/promhttp.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/util.h"

#define MAX_CONNECTIONS 64u
#define CONN_TIMEOUT_S	10u

struct sl_promhttp {
	struct MHD_Daemon *d;
	sl_promhttp_render_fn *render;
	void *arg;
	int fd; /* the epoll descriptor (external), else -1 */
};

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn,
			      const char *url, const char *method,
			      const char *version, const char *upload_data,
			      size_t *upload_size, void **con_cls)
{
	sl_promhttp_t *h = cls;
	struct MHD_Response *resp;
	unsigned code = MHD_HTTP_OK;
	enum MHD_Result ret;
	char *text;
	size_t len = 0;

	(void)version;
	(void)upload_data;
	(void)con_cls;
	if (*upload_size) {
		*upload_size = 0; /* discard any body */
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		static const char msg[] = "method not allowed\n";

		code = MHD_HTTP_METHOD_NOT_ALLOWED;
		resp = MHD_create_response_from_buffer(
			sizeof(msg) - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
	} else if (strcmp(url, "/metrics") != 0) {
		static const char msg[] = "not found: try /metrics\n";

		code = MHD_HTTP_NOT_FOUND;
		resp = MHD_create_response_from_buffer(
			sizeof(msg) - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
	} else {
		text = h->render(h->arg, &len);
		resp = MHD_create_response_from_buffer(len, text,
						       MHD_RESPMEM_MUST_FREE);
		MHD_add_response_header(resp, "Content-Type",
					"text/plain; version=0.0.4");
	}
	if (!resp)
		return MHD_NO;
	ret = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Split "HOST:PORT" / "[V6]:PORT" into host ("" = any) and port. */
static int split_addr(const char *addr, char *host, size_t hcap, char *port,
		      size_t pcap)
{
	const char *colon;
	size_t hl;

	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');

		if (!end || end[1] != ':')
			return -EINVAL;
		hl = (size_t)(end - addr - 1);
		colon = end + 1;
		addr++;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - addr);
	}
	if (hl >= hcap)
		return -EINVAL;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	if (!colon[1] || strlen(colon + 1) >= pcap ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -EINVAL;
	strcpy(port, colon + 1);
	return 0;
}

sl_promhttp_t *sl_promhttp_start(const char *addr, unsigned flags,
				 sl_promhttp_render_fn *render, void *arg,
				 char *err, size_t errlen)
{
	struct addrinfo hints = {0}, *ai = NULL;
	char host[256], port[16];
	const char *node;
	sl_promhttp_t *h = NULL;
	unsigned mf = (flags & SL_PROMHTTP_EXTERNAL)
			      ? MHD_USE_EPOLL
			      : MHD_USE_INTERNAL_POLLING_THREAD;
	const union MHD_DaemonInfo *info;
	int rc;

	if (split_addr(addr, host, sizeof(host), port, sizeof(port)) < 0) {
		snprintf(err, errlen,
			 "metrics address '%s': expected HOST:PORT", addr);
		goto out;
	}
	node = host;
	if (strcmp(host, "*") == 0)
		node = NULL;
	else if (!host[0])
		node = (flags & SL_PROMHTTP_LOOPBACK) ? "127.0.0.1" : NULL;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(node, port, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errlen, "metrics address '%s': %s", addr,
			 gai_strerror(rc));
		goto out;
	}
	if (ai->ai_family == AF_INET6)
		mf |= MHD_USE_IPv6;
	h = sl_xcalloc(1, sizeof(*h));
	h->render = render;
	h->arg = arg;
	h->fd = -1;
	h->d = MHD_start_daemon(
		mf, 0, NULL, NULL, answer, h, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
		MHD_OPTION_CONNECTION_LIMIT, MAX_CONNECTIONS,
		MHD_OPTION_CONNECTION_TIMEOUT, CONN_TIMEOUT_S, MHD_OPTION_END);
	if (!h->d) {
		snprintf(err, errlen,
			 "metrics address '%s': cannot listen (in use?)", addr);
		goto fail;
	}
	if (flags & SL_PROMHTTP_EXTERNAL) {
		info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
		if (!info || info->epoll_fd < 0) {
			snprintf(err, errlen,
				 "metrics address '%s': no epoll descriptor",
				 addr);
			goto fail;
		}
		h->fd = info->epoll_fd;
	}
	goto out;
fail:
	if (h->d)
		MHD_stop_daemon(h->d);
	free(h);
	h = NULL;
out:
	if (ai)
		freeaddrinfo(ai);
	return h;
}

int sl_promhttp_fd(const sl_promhttp_t *h)
{
	return h->fd;
}

int sl_promhttp_timeout_ms(sl_promhttp_t *h)
{
	MHD_UNSIGNED_LONG_LONG ms;

	if (MHD_get_timeout(h->d, &ms) != MHD_YES)
		return -1;
	return ms > 60000 ? 60000 : (int)ms;
}

void sl_promhttp_run(sl_promhttp_t *h)
{
	MHD_run(h->d);
}

void sl_promhttp_stop(sl_promhttp_t **hp)
{
	sl_promhttp_t *h = hp ? *hp : NULL;

	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
	*hp = NULL;
}
