#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# it_fstab: sluice-fuse from an fstab line.  With a temporary fstab, `mount
# --fstab FILE MOUNTPOINT` (what `mount /datasets` does with /etc/fstab)
# runs mount.fuse3, which runs "sluice-fuse CONFIG MOUNTPOINT -o OPTIONS";
# the mount must come up read-only as fuse.sluice, read a dataset right,
# log where `log=` says, and go away with `umount`, the client with it.  A
# line whose config does not exist must fail the mount and say why.  The
# binary is named by its path here; test/it_deb.sh mounts with the bare
# name and the `fuse.sluice-fuse` type from the installed package.
set -euo pipefail
T=it_fstab
source "$(dirname "$0")/helper.sh"

[ "$(id -u)" -eq 0 ] || th_skip "needs root (mount)"
[ -c /dev/fuse ] || th_skip "no /dev/fuse"
[ -x /sbin/mount.fuse3 ] || th_fail "mount.fuse3 missing (fuse3, scripts/install-deps.sh)"
B=${SLUICE_BUILD:-build}
bin=$ROOT/$B/sluice-fuse

th_cluster
th_start "$TMP/node.log" "$ROOT/$B/sluice-cachenode" -c "$TMP/cluster.conf"
th_wait 20 "$ROOT/$B/sluicectl" -c "$TMP/cluster.conf" status ||
	th_fail "the node is not up: $(cat "$TMP/node.log")"

mnt=$TMP/datasets
mkdir -p "$mnt" "$TMP/bad"
th_mounts+=("$mnt" "$TMP/bad")
# The client daemonizes: its PID is the one whose command line names our
# scratch config.
th_at_exit 'for p in $(pgrep -f "sluice-fuse $TMP/cluster.conf"); do kill -KILL "$p"; done'
cat >"$TMP/fstab" <<END
# the README's line, with this build's binary and scratch paths
$bin#$TMP/cluster.conf $mnt fuse ro,allow_other,_netdev,log=$TMP/fuse.log 0 0
$bin#$TMP/missing.conf $TMP/bad fuse ro,_netdev 0 0
END

mount --fstab "$TMP/fstab" "$mnt" || th_fail "mount --fstab $TMP/fstab $mnt failed"
grep -q " $mnt fuse.sluice ro," /proc/mounts ||
	th_fail "$mnt is not a ro fuse.sluice mount: $(grep " $mnt " /proc/mounts)"
th_check_mount "$mnt"
grep -q "mounted 1 dataset" "$TMP/fuse.log" || th_fail "log= did not take: $(cat "$TMP/fuse.log")"
pid=$(pgrep -f "sluice-fuse $TMP/cluster.conf")
th_ok "mount --fstab: $mnt is up (client $pid), reads right, logs to log="

umount "$mnt" || th_fail "umount $mnt failed"
! mountpoint -q "$mnt" || th_fail "$mnt still mounted after umount"
timeout 10 tail --pid="$pid" -f /dev/null || th_fail "the client outlived umount"
th_ok "umount: gone, and the client exited"

if out=$(mount --fstab "$TMP/fstab" "$TMP/bad" 2>&1); then
	th_fail "a line with a missing config mounted"
fi
! mountpoint -q "$TMP/bad" || th_fail "$TMP/bad is mounted"
[[ $out == *missing.conf* ]] || th_fail "the failed mount does not name the config: $out"
th_ok "a missing config fails the mount: $out"
echo "it_fstab: 1 passed, 0 failed"
