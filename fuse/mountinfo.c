/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mount seen from outside FUSE (see mountinfo.h): the supervisor
 * finds its mount in /proc/self/mountinfo, raises the read-ahead of its
 * backing device, and, for -o auto_unmount, leaves a watcher behind.
 */
#include "fuse/mountinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "common/log.h"

#define READ_AHEAD_KB 1024 /* the mount's read-ahead: FC_MAX_READ */

/* Undo mountinfo's octal escapes (\040 for a space...) in place. */
static void unescape_octal(char *s)
{
	char *w = s;

	for (; *s; s++, w++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*w = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				    (s[3] - '0'));
			s += 3;
		} else {
			*w = *s;
		}
	}
	*w = '\0';
}

int fc_mount_dev(const char *dir, char *dev, size_t cap)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t n = 0;
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while (getline(&line, &n, f) > 0) {
		char mdev[32], mnt[PATH_MAX];
		const char *sep = strstr(line, " - ");

		/* id parent-id major:minor root mount-point ... - type */
		if (!sep || strncmp(sep, " - fuse.sluice ", 15) != 0 ||
		    sscanf(line, "%*s %*s %31s %*s %4095s", mdev, mnt) != 2)
			continue;
		unescape_octal(mnt);
		if (strcmp(mnt, dir) == 0) {
			snprintf(dev, cap, "%s", mdev);
			rc = 0;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

/*
 * The kernel reads ahead of a FUSE file at most the smaller of what INIT
 * asks for (FC_MAX_READ, see fs_init in fs.c) and its own default for the
 * mount's backing device, 128 KiB: so a sequential reader waits on a FUSE
 * request every 128 KiB, and a 300 KB file takes three.  The device's
 * read_ahead_kb is the kernel's knob for that default; raising it to
 * FC_MAX_READ before INIT is answered (the kernel keeps the smaller of the
 * two then) makes each request up to 1 MiB.  It needs root; without it
 * the default stays, which costs speed only.  Random reads are not
 * inflated: the kernel reads ahead only of sequential ones.
 */
void fc_mount_raise_readahead(const char *dev)
{
	char path[96], val[32];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	snprintf(val, sizeof(val), "%d\n", READ_AHEAD_KB);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, val, strlen(val)) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		sl_info("read-ahead stays at the kernel's default (%s: %s)",
			path, strerror(-rc));
	else
		sl_debug("read-ahead of device %s raised to %d KiB", dev,
			 READ_AHEAD_KB);
}

/*
 * -o auto_unmount, as root.  libfuse's helper (fusermount) unmounts when
 * the daemon's socket closes and the mount answers ENOTCONN; but when the
 * supervisor dies its worker outlives it by a moment, so the helper often
 * finds the mount still answering and leaves it.  Our watcher is a child
 * that holds nothing of the mount but a pipe from us: when that closes
 * (we are gone) and the mount is still this one, it aborts the connection
 * (the worker is going anyway) and unmounts it.
 */
int fc_mount_watch(const char *where, const char *mdev)
{
	int p[2];
	pid_t pid;
	char buf[1], path[96], dev[32];
	const char *minor = strchr(mdev, ':');
	int fd;

	if (!minor || pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		sl_warn("auto_unmount: fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid > 0) {
		close(p[0]);
		return p[1];
	}
	/* Nothing of the mount may stay open here, or it would keep the
	 * connection alive. */
	if (dup2(p[0], 3) < 0)
		_exit(1);
	close_range(4, ~0u, 0);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	for (;;) {
		ssize_t n = read(3, buf, 1);

		if (n == 0)
			break; /* the supervisor is gone */
		if (n < 0 && errno != EINTR)
			_exit(1); /* cannot watch: leave the mount be */
	}
	if (fc_mount_dev(where, dev, sizeof(dev)) == 0 &&
	    strcmp(dev, mdev) == 0) {
		snprintf(path, sizeof(path),
			 "/sys/fs/fuse/connections/%s/abort", minor + 1);
		fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, "1", 1) < 0)
				sl_debug("%s: %s", path, strerror(errno));
			close(fd);
		}
		if (umount2(where, MNT_DETACH) == 0)
			sl_notice("auto_unmount: the supervisor of %s is gone: "
				  "unmounted",
				  where);
	}
	_exit(0);
}
