#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# The FUSE client's memory over a metadata walk.  Makes FILES small files
# (directories of 1,000, short names) in a posix dataset on tmpfs, starts
# one cache node and a mount with [client] max_inodes = MAX, walks the
# mount with scripts/walk.py (os.walk + os.stat of every entry, checked
# against the source), and prints the client's RSS before, at its peak and
# after, with the inode table's peak entries and reserved bytes from the
# client's own summary.
#
#   bench/inode_walk.sh [FILES [MAX]]    defaults: 100000 1048576
#
# Needs root (FUSE), build/ built (make), python3.  Everything it starts
# is stopped by PID, and its directory removed, on exit.
set -eu

FILES=${1:-100000}
MAX=${2:-1048576}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${SLUICE_BUILD:-$HERE/build}
WORK=$(mktemp -d /dev/shm/sluice-walk-XXXXXX)
NODE_PID=
FUSE_PID=

cleanup() {
	if [ -n "$FUSE_PID" ]; then
		fusermount3 -uz "$WORK/mnt" 2>/dev/null || true
		kill "$FUSE_PID" 2>/dev/null || true
	fi
	[ -n "$NODE_PID" ] && kill "$NODE_PID" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/src" "$WORK/mnt"
cat >"$WORK/c.conf" <<EOF
[cluster]
name = walk
module_dir = $BUILD

[node n0]
addr = tcp://127.0.0.1:$PORT
ram_capacity = 1G

[dataset ds]
backend = posix
uri = file://$WORK/src

[client]
block_cache = 64M
max_inodes = $MAX
EOF

t0=$(date +%s)
python3 "$HERE/scripts/walk.py" "$WORK/src" --make "$FILES"
echo "made $FILES files in $(( $(date +%s) - t0 )) s"

"$BUILD/sluice-cachenode" -c "$WORK/c.conf" -q 2>"$WORK/node.log" &
NODE_PID=$!
"$BUILD/sluice-fuse" -f -v -c "$WORK/c.conf" "$WORK/mnt" 2>"$WORK/fuse.log" &
FUSE_PID=$!
for _ in $(seq 200); do
	grep -q " $WORK/mnt " /proc/self/mounts && break
	sleep 0.1
done
grep -q " $WORK/mnt " /proc/self/mounts || { cat "$WORK/fuse.log"; exit 1; }

rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
before=$(rss "$FUSE_PID")
python3 "$HERE/scripts/walk.py" "$WORK/mnt/ds" --src "$WORK/src" \
	--pid "$FUSE_PID" | tee "$WORK/walk.out"
after=$(rss "$FUSE_PID")
peak=$(sed -n 's/.*rss_peak_kb=\([0-9]*\).*/\1/p' "$WORK/walk.out")

fusermount3 -u "$WORK/mnt"
wait "$FUSE_PID" || true
FUSE_PID=
summary=$(grep "reads " "$WORK/fuse.log" | tail -1)
entries=$(echo "$summary" | sed -n 's/.*inodes [0-9]*\/[0-9]*, peak \([0-9]*\).*/\1/p')
bytes=$(echo "$summary" | sed -n 's/.* \([0-9]*\) bytes shared.*/\1/p')
echo "client RSS: ${before} kB before, ${peak} kB peak, ${after} kB after the walk"
echo "inode table: peak ${entries} entries of ${MAX}, ${bytes} bytes reserved"
echo "growth per file walked: $(( (peak - before) * 1024 / FILES )) bytes"
