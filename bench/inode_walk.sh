#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# The FUSE client's memory over a metadata walk.  Makes FILES small files
# (directories of 1,000, short names) in a posix dataset on tmpfs, starts
# one cache node and a mount with [client] max_inodes = MAX, walks the
# mount with scripts/walk.py (os.walk + os.stat of every entry, checked
# against the source), and prints the client's RSS before, at its peak and
# after, with the inode table's peak entries and reserved bytes from the
# client's own summary.  The RSS is the serving worker's (the
# supervisor's stays at a few MB), the shared inode table's pages it
# touched included.
#
#   bench/inode_walk.sh [FILES [MAX]]    defaults: 100000 1048576
#
# Needs root (FUSE), build/ built (make), python3.  Everything it starts
# is stopped by PID, and its directory removed, on exit.
set -eu

FILES=${1:-100000}
MAX=${2:-1048576}
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /dev/shm/sluice-walk-XXXXXX)
. "$HERE/bench/lib_mount.sh"
bench_conf walk "block_cache = 64M
max_inodes = $MAX"

t0=$(date +%s)
python3 "$HERE/scripts/walk.py" "$WORK/src" --make "$FILES"
echo "made $FILES files in $(( $(date +%s) - t0 )) s"
bench_mount -v

rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
WORKER=$(bench_worker)
before=$(rss "$WORKER")
python3 "$HERE/scripts/walk.py" "$WORK/mnt/ds" --src "$WORK/src" \
	--pid "$WORKER" | tee "$WORK/walk.out"
after=$(rss "$WORKER")
peak=$(sed -n 's/.*rss_peak_kb=\([0-9]*\).*/\1/p' "$WORK/walk.out")

bench_unmount
summary=$(grep "reads " "$WORK/fuse.log" | tail -1)
entries=$(echo "$summary" | sed -n 's/.*inodes [0-9]*\/[0-9]*, peak \([0-9]*\).*/\1/p')
bytes=$(echo "$summary" | sed -n 's/.* \([0-9]*\) bytes shared.*/\1/p')
echo "client (worker) RSS: ${before} kB before, ${peak} kB peak, ${after} kB after the walk"
echo "inode table: peak ${entries} entries of ${MAX}, ${bytes} bytes reserved"
echo "growth per file walked: $(( (peak - before) * 1024 / FILES )) bytes"
