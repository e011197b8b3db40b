#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# `sluicectl plan` on a real cluster: a queue of training jobs over three
# datasets, run in the queue's order (FIFO) and in the order `plan` gives,
# on a cache node whose RAM holds one dataset of the three.  Each run
# starts from the same state: a fresh node with d2 loaded (`sluicectl
# load`), so one dataset is cached when the queue is planned.  Each job is
# a new pod: a fresh mount that reads every file of its dataset EPOCHS
# times, each epoch in its own shuffled order with READERS threads after
# the page cache is dropped; then it unmounts.  The backend is a local
# directory whose every read waits DELAY_MS first (the test module
# `testslow`, like a distant store's first byte), so the node's misses
# cost what they cost against S3.
#
# Prints, per order, the backend bytes the node read (its
# sluice_backend_read_bytes_total) per dataset byte, and the queue's wall
# time, then the ratios FIFO / plan; and one JSON line per order on
# stdout's last lines for tools.
#
#   bench/plan.sh [--files N] [--size KIB] [--delay MS] [--readers N]
#                 (defaults: 96 files of 512 KiB per dataset, 20 ms, 8)
#
# Needs root (FUSE, drop_caches), build/ built with the test modules
# (`make all tests`; the script runs make), /usr/bin/python3.  Everything
# it starts is stopped by PID and its directory removed on exit.
set -euo pipefail

FILES=96 SIZE_KIB=512 DELAY=20 READERS=8
while [ $# -gt 0 ]; do
	case "$1" in
	--files) FILES=$2; shift 2 ;;
	--size) SIZE_KIB=$2; shift 2 ;;
	--delay) DELAY=$2; shift 2 ;;
	--readers) READERS=$2; shift 2 ;;
	-h | --help) sed -n '3,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "plan.sh: unknown option '$1' (see --help)" >&2; exit 1 ;;
	esac
done

HERE=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-${SLUICE_BUILD:-$HERE/build}}
make -s -C "$HERE" B="$BUILD" all "$BUILD/sluice_backend_testslow.so" >/dev/null
WORK=$(mktemp -d /dev/shm/sluice-plan-XXXXXX)
NODE_PID= FUSE_PID=

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

ds_bytes=$((FILES * SIZE_KIB * 1024))
# RAM for one dataset and a half: two never fit together.
ram_mib=$((ds_bytes * 3 / 2 / 1048576 + 1))
read -r port mport < <(/usr/bin/python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')

mkdir -p "$WORK/mnt"
for d in d1 d2 d3; do
	mkdir -p "$WORK/src/$d"
	for i in $(seq "$FILES"); do
		head -c $((SIZE_KIB * 1024)) /dev/urandom >"$WORK/src/$d/f$i"
	done
done
{
	cat <<CONF
[cluster]
name = plan-bench
module_dir = $BUILD

[node n0]
addr = tcp://127.0.0.1:$port
metrics_addr = 127.0.0.1:$mport
ram_capacity = ${ram_mib}M
workers = 8
CONF
	for d in d1 d2 d3; do
		printf '\n[dataset %s]\nbackend = testslow\nuri = file://%s\n' \
			"$d" "$WORK/src/$d"
		printf 'delay_ms = %s\npolicy = lru\n' "$DELAY"
	done
} >"$WORK/c.conf"
cat >"$WORK/jobs.json" <<'JOBS'
[{"name": "resnet-a", "dataset": "d1", "epochs": 2},
 {"name": "vit-a", "dataset": "d2", "epochs": 1},
 {"name": "bert-a", "dataset": "d3", "epochs": 2},
 {"name": "resnet-b", "dataset": "d1", "epochs": 1},
 {"name": "bert-b", "dataset": "d3", "epochs": 1},
 {"name": "vit-b", "dataset": "d2", "epochs": 2}]
JOBS

backend_bytes() {
	curl -s "http://127.0.0.1:$mport/metrics" |
		awk '$1 == "sluice_backend_read_bytes_total" {print $2}'
}

node_start() {
	"$BUILD/sluice-cachenode" -c "$WORK/c.conf" -q 2>>"$WORK/node.log" &
	NODE_PID=$!
	for _ in $(seq 100); do
		[ -n "$(backend_bytes 2>/dev/null)" ] && return 0
		sleep 0.1
	done
	cat "$WORK/node.log" >&2
	exit 1
}

node_stop() {
	kill "$NODE_PID"
	wait "$NODE_PID" || true
	NODE_PID=
}

# One job: DATASET EPOCHS, on a fresh mount.
job() {
	"$BUILD/sluice-fuse" -f -c "$WORK/c.conf" "$WORK/mnt" \
		2>>"$WORK/fuse.log" &
	FUSE_PID=$!
	for _ in $(seq 100); do
		grep -q " $WORK/mnt " /proc/self/mounts && break
		sleep 0.1
	done
	/usr/bin/python3 - "$WORK/mnt/$1" "$2" "$READERS" <<'PY'
import os, random, sys, threading
root, epochs, readers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for _ in range(epochs):
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3")
    names = sorted(os.listdir(root))
    random.shuffle(names)
    def read(part):
        for n in part:
            with open(os.path.join(root, n), "rb") as f:
                while f.read(1 << 20):
                    pass
    ts = [threading.Thread(target=read, args=(names[i::readers],))
          for i in range(readers)]
    for t in ts: t.start()
    for t in ts: t.join()
PY
	fusermount3 -u "$WORK/mnt"
	wait "$FUSE_PID" || true
	FUSE_PID=
}

# One order: NAME [--plan].  Prints its JSON line.
run_order() {
	local name=$1 order t0 t1 b0 b1
	node_start
	"$BUILD/sluicectl" -c "$WORK/c.conf" load d2 >/dev/null
	if [ "$name" = plan ]; then
		order=$("$BUILD/sluicectl" -c "$WORK/c.conf" plan --json \
			"$WORK/jobs.json" | /usr/bin/python3 -c '
import json, sys
for j in json.load(sys.stdin)["order"]:
    print(j["dataset"], j["epochs"], j["job"])')
	else
		order=$(/usr/bin/python3 -c '
import json, sys
for j in json.load(open(sys.argv[1])):
    print(j["dataset"], j["epochs"], j["name"])' "$WORK/jobs.json")
	fi
	b0=$(backend_bytes)
	t0=$(date +%s.%N)
	while read -r ds ep jname; do
		job "$ds" "$ep"
		printf '%s ' "$jname" >&2
	done <<<"$order"
	t1=$(date +%s.%N)
	b1=$(backend_bytes)
	node_stop
	echo >&2
	printf '{"order": "%s", "jobs": "%s", "backend_bytes": %s, "dataset_bytes": %s, "seconds": %s}\n' \
		"$name" "$(echo "$order" | awk '{print $3}' | paste -sd,)" \
		"$((b1 - b0))" "$ds_bytes" "$(echo "$t1 - $t0" | bc)"
}

echo "plan bench: 3 datasets of $FILES x $SIZE_KIB KiB, node RAM ${ram_mib}M, backend delay $DELAY ms, $READERS readers" >&2
fifo=$(run_order fifo)
plan=$(run_order plan)
/usr/bin/python3 - "$fifo" "$plan" <<'PY'
import json, sys
f, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for r in (f, p):
    print("%-5s %-50s backend %6.2f x the dataset, %6.2f s" % (
        r["order"], r["jobs"], r["backend_bytes"] / r["dataset_bytes"],
        r["seconds"]))
print("fifo / plan: %.2f x the backend bytes, %.2f x the time" % (
    f["backend_bytes"] / max(p["backend_bytes"], 1),
    f["seconds"] / p["seconds"]))
PY
echo "$fifo"
echo "$plan"
