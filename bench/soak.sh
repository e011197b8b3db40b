#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# The soak: 64 concurrent readers for DURATION over 3 cache nodes, one
# node restarted every minute (SIGTERM, then started again on its
# address), under CURVE unless --plain.  Every read is checked against
# the source file; the client's and the nodes' RSS are sampled every 10 s.
# Prints the read errors (want 0), and for the client and the nodes (each
# sample: the sum of the three) the first and last minute's mean RSS and
# the peak (want flat: the last minute's mean near the first's).
#
#   bench/soak.sh [--plain] [DURATION_S]     default 600 (10 minutes)
#
# Needs root (FUSE), build/ built (make), python3.  Everything it starts
# is stopped by PID, and its directory removed, on exit.
set -eu

SEC=curve
if [ "${1:-}" = --plain ]; then
	SEC=plain
	shift
fi
DURATION=${1:-600}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-${SLUICE_BUILD:-$HERE/build}}
WORK=$(mktemp -d /dev/shm/sluice-soak-XXXXXX)
NODES="0 1 2"
FUSE_PID=
N0= N1= N2=

cleanup() {
	if [ -n "$FUSE_PID" ]; then
		fusermount3 -uz "$WORK/mnt" 2>/dev/null || true
		kill "$FUSE_PID" 2>/dev/null || true
	fi
	for p in $N0 $N1 $N2; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

mkdir -p "$WORK/src" "$WORK/mnt" "$WORK/keys/allowed"
# 400 files of 10 KB..1 MB: about 200 MB, more than the client keeps.
python3 - "$WORK/src" <<'EOF'
import os, random, sys
r = random.Random(16)
for i in range(400):
    with open(os.path.join(sys.argv[1], "f%03d" % i), "wb") as f:
        f.write(os.urandom(r.randint(10_000, 1_000_000)))
EOF
ports=$(python3 -c 'import socket
ss=[socket.socket() for _ in range(3)]
[s.bind(("127.0.0.1",0)) for s in ss]
print(" ".join(str(s.getsockname()[1]) for s in ss))')
{
	printf '[cluster]\nname = soak\nmodule_dir = %s\n' "$BUILD"
	if [ "$SEC" = curve ]; then
		"$BUILD/sluicectl" keygen -o "$WORK/keys" nodes >/dev/null
		"$BUILD/sluicectl" keygen -o "$WORK/keys" client >/dev/null
		cp "$WORK/keys/client.pub" "$WORK/keys/allowed/"
		printf 'security = curve\nallowed_clients = %s/keys/allowed\n' \
			"$WORK"
	fi
	i=0
	for p in $ports; do
		printf '\n[node n%d]\naddr = tcp://127.0.0.1:%d\n' "$i" "$p"
		printf 'ram_capacity = 256M\nworkers = 4\n'
		[ "$SEC" = curve ] &&
			printf 'secret_key = %s/keys/nodes.key\npublic_key = %s/keys/nodes.pub\n' \
				"$WORK" "$WORK"
		i=$((i + 1))
	done
	printf '\n[dataset ds]\nbackend = posix\nuri = file://%s/src\n' "$WORK"
	printf 'block_size = 256K\n\n[client]\nblock_cache = 64M\n'
	printf 'request_timeout = 1s\ndown_backoff = 2s\n'
	[ "$SEC" = curve ] && printf 'secret_key = %s/keys/client.key\n' "$WORK"
} >"$WORK/c.conf"

start_node() { # I: starts node nI, sets NI to its pid
	"$BUILD/sluice-cachenode" -c "$WORK/c.conf" --node "n$1" \
		>>"$WORK/n$1.log" 2>&1 &
	eval "N$1=$!"
}
for i in $NODES; do start_node "$i"; done
sleep 1
"$BUILD/sluice-fuse" -c "$WORK/c.conf" "$WORK/mnt" -f -o ro \
	>>"$WORK/fuse.log" 2>&1 &
FUSE_PID=$!
for _ in $(seq 100); do
	[ -e "$WORK/mnt/ds/f000" ] && break
	sleep 0.1
done
[ -e "$WORK/mnt/ds/f000" ] || { cat "$WORK/fuse.log"; exit 1; }

# The readers run in the background; this shell restarts a node every
# minute and writes the node PIDs for the sampler to read.
python3 "$HERE/bench/soak_readers.py" "$WORK/mnt/ds" "$WORK/src" \
	"$DURATION" "$FUSE_PID" "$WORK/nodes.pids" &
READERS=$!
echo "$N0 $N1 $N2" >"$WORK/nodes.pids"
t=0 k=0
while kill -0 "$READERS" 2>/dev/null; do
	sleep 1
	t=$((t + 1))
	[ $((t % 60)) -eq 0 ] || continue
	i=$((k % 3))
	k=$((k + 1))
	eval "pid=\$N$i"
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	start_node "$i"
	echo "$N0 $N1 $N2" >"$WORK/nodes.pids"
	echo "soak: t=${t}s restarted n$i" >&2
done
wait "$READERS"
