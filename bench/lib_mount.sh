# SPDX-License-Identifier: Apache-2.0
#
# Sourced by the bench scripts that need one cache node and one mount:
#
#   WORK=$(mktemp -d /dev/shm/sluice-NAME-XXXXXX)
#   . "$HERE/bench/lib_mount.sh"
#   bench_conf NAME "client keys"    # $WORK/c.conf over $WORK/src
#   ...make files in $WORK/src...
#   bench_mount [sluice-fuse options]  # node up, $WORK/mnt mounted
#
# Sets NODE_PID and FUSE_PID; on exit (or INT/TERM) unmounts, stops both
# by PID and removes $WORK.  Uses $BUILD (default: build/ next to bench/).

BUILD=${BUILD:-${SLUICE_BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}}
NODE_PID=
FUSE_PID=

bench_cleanup() {
	if [ -n "$FUSE_PID" ]; then
		fusermount3 -uz "$WORK/mnt" 2>/dev/null || true
		kill "$FUSE_PID" 2>/dev/null || true
	fi
	[ -n "$NODE_PID" ] && kill "$NODE_PID" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap bench_cleanup EXIT INT TERM

bench_conf() {
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	mkdir -p "$WORK/src" "$WORK/mnt"
	cat >"$WORK/c.conf" <<CONF
[cluster]
name = $1
module_dir = $BUILD

[node n0]
addr = tcp://127.0.0.1:$port
ram_capacity = 1G

[dataset ds]
backend = posix
uri = file://$WORK/src

[client]
$2
CONF
}

bench_mount() {
	"$BUILD/sluice-cachenode" -c "$WORK/c.conf" -q 2>"$WORK/node.log" &
	NODE_PID=$!
	"$BUILD/sluice-fuse" -f "$@" -c "$WORK/c.conf" "$WORK/mnt" \
		2>"$WORK/fuse.log" &
	FUSE_PID=$!
	for _ in $(seq 200); do
		grep -q " $WORK/mnt " /proc/self/mounts && return 0
		sleep 0.1
	done
	cat "$WORK/fuse.log"
	exit 1
}

# Unmount and wait for the client to exit.
bench_unmount() {
	fusermount3 -u "$WORK/mnt"
	wait "$FUSE_PID" || true
	FUSE_PID=
}

# The pid of the client's serving worker (the supervisor's child).
bench_worker() {
	cut -d' ' -f1 "/proc/$FUSE_PID/task/$FUSE_PID/children"
}
