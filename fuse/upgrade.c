/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sluice-fuse --upgrade MOUNTPOINT`, the caller's side (see proc.h): find
 * the mount's MAJOR:MINOR, connect to its supervisor's listener, ask, and
 * print the answer.  The listener's address, which both sides derive from
 * the mount's device number, is made here too; the supervisor's side of
 * the exchange (listen_ctl, on_client, start_upgrade) is super.c's.
 */
#include "fuse/proc.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuse/mountinfo.h"

#define CTL_NAME "sluice-fuse/" /* + MAJOR:MINOR, abstract */

int fc_upgrade_addr(const char *dev, struct sockaddr_un *a, socklen_t *len)
{
	size_t n = strlen(CTL_NAME) + strlen(dev);

	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (n + 1 > sizeof(a->sun_path))
		return -ENAMETOOLONG;
	/* Abstract: sun_path[0] is NUL, the name is not NUL-terminated. */
	memcpy(a->sun_path + 1, CTL_NAME, strlen(CTL_NAME));
	memcpy(a->sun_path + 1 + strlen(CTL_NAME), dev, strlen(dev));
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	return 0;
}

int fc_super_upgrade(const char *mountpoint)
{
	char dir[PATH_MAX], where[PATH_MAX], dev[32], answer[512];
	const char *base = strrchr(mountpoint, '/');
	struct sockaddr_un a;
	socklen_t len;
	ssize_t n, got = 0;
	int fd, rc;

	/* The directory's path, not the mount's own (which the worker being
	 * replaced would have to answer for). */
	snprintf(dir, sizeof(dir), "%.*s", base ? (int)(base - mountpoint) : 1,
		 base ? mountpoint : ".");
	if (!dir[0])
		snprintf(dir, sizeof(dir), "/");
	if (!realpath(dir, where)) {
		fprintf(stderr, "sluice-fuse: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	snprintf(where + strlen(where), sizeof(where) - strlen(where), "%s%s",
		 strcmp(where, "/") ? "/" : "", base ? base + 1 : mountpoint);
	rc = fc_mount_dev(where, dev, sizeof(dev));
	if (rc < 0) {
		fprintf(stderr, "sluice-fuse: %s: no sluice mount there\n",
			where);
		return 1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || fc_upgrade_addr(dev, &a, &len) < 0 ||
	    connect(fd, (void *)&a, len) < 0 ||
	    send(fd, "upgrade\n", 8, MSG_NOSIGNAL) != 8) {
		fprintf(stderr,
			"sluice-fuse: %s: its supervisor does not answer: %s\n",
			where, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 1;
	}
	while (got < (ssize_t)sizeof(answer) - 1 &&
	       (n = recv(fd, answer + got, sizeof(answer) - 1 - (size_t)got,
			 0)) > 0)
		got += n;
	close(fd);
	answer[got] = '\0';
	printf("%s%s", answer, got && answer[got - 1] == '\n' ? "" : "\n");
	return strncmp(answer, "ok", 2) == 0 ? 0 : 1;
}
