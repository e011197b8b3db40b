/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mount seen from outside FUSE, for the supervisor (super.c) and
 * --upgrade: which device a sluice mount is, its read-ahead, and the
 * auto_unmount watcher.  Nothing here holds the mount's descriptor.
 */
#ifndef FC_MOUNTINFO_H
#define FC_MOUNTINFO_H

#include <stddef.h>

/* The "MAJOR:MINOR" of the sluice mount on dir (canonical), from
 * /proc/self/mountinfo, into dev (cap bytes); the last one wins (a mount
 * stacked over another).  Returns 0, -ENOENT (no sluice mount there) or
 * -errno. */
int fc_mount_dev(const char *dir, char *dev, size_t cap);

/* Raise the read-ahead of device dev ("MAJOR:MINOR") to FC_MAX_READ before
 * INIT is answered (why: see mountinfo.c).  Without root it stays at the
 * kernel's default, logged at info: that costs speed only. */
void fc_mount_raise_readahead(const char *dev);

/* Start the -o auto_unmount watcher of the mount on where (device mdev):
 * a child that unmounts it when the returned pipe's write end -- the
 * caller's, kept open for its life and never shared -- closes and the
 * mount is still the same device.  Returns the write end, or -1 when no
 * watcher could be started (logged). */
int fc_mount_watch(const char *where, const char *mdev);

#endif
