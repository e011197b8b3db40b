#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: a working Sluice cluster on one machine.  Generates a sample
# dataset, starts three cache nodes on loopback, mounts the namespace and
# reads it with a PyTorch DataLoader.  `make demo-stop` (this script with
# --stop) unmounts and stops exactly the processes it started, by PID.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEMO="$ROOT/demo"            # state: data, config, logs, pids
MNT="$ROOT/mnt"
BACKEND=posix
PY=/usr/bin/python3

usage() {
	cat <<USAGE
usage: scripts/demo.sh [--mount DIR] [--backend posix|s3] | --stop
  (normally run as 'make demo [MNT=DIR] [BACKEND=s3]' and 'make demo-stop')
USAGE
}

stop() {
	local m
	if [ -f "$DEMO/mountpoint" ]; then
		m="$(cat "$DEMO/mountpoint")"
		if mountpoint -q "$m" 2>/dev/null; then
			fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m" || true
		fi
	fi
	if [ -f "$DEMO/pids" ]; then
		while read -r pid name; do
			if kill -0 "$pid" 2>/dev/null; then
				kill "$pid" 2>/dev/null || true
				for _ in $(seq 50); do
					kill -0 "$pid" 2>/dev/null || break
					sleep 0.1
				done
				kill -9 "$pid" 2>/dev/null || true
				echo "demo: stopped $name (pid $pid)"
			fi
		done <"$DEMO/pids"
		rm -f "$DEMO/pids"
	fi
	rm -f "$DEMO/mountpoint"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--stop) stop; echo "demo: stopped"; exit 0 ;;
	--mount) MNT="$(realpath -m "$2")"; shift ;;
	--backend) BACKEND="$2"; shift ;;
	-h|--help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
	shift
done

case "$BACKEND" in
posix) ;;
s3) [ -x "$ROOT/scripts/demo-s3.sh" ] || {
	echo "demo: the s3 variant is not there yet (see the S3 backend issue)" >&2
	exit 2; } ;;
*) echo "demo: unknown backend '$BACKEND' (posix or s3)" >&2; exit 2 ;;
esac

if [ "$(id -u)" -ne 0 ]; then
	echo "demo: run as root (it mounts a FUSE filesystem and may install packages)" >&2
	exit 1
fi

"$ROOT/scripts/install-deps.sh"
make -C "$ROOT" -j"$(nproc)" all >/dev/null
stop >/dev/null 2>&1 || true
mkdir -p "$DEMO/logs" "$MNT"

echo "demo: generating the sample dataset in $DEMO/data"
"$PY" "$ROOT/scripts/gen_dataset.py" "$DEMO/data" --files 2000 --classes 20 \
	--shards 2 --shard-size 64M

CONF="$DEMO/cluster.conf"
cat >"$CONF" <<CONF
# Written by scripts/demo.sh: three cache nodes on loopback.
[cluster]
name = demo

[node n1]
addr = tcp://127.0.0.1:7701
metrics_addr = 127.0.0.1:9101
ram_capacity = 256M

[node n2]
addr = tcp://127.0.0.1:7702
metrics_addr = 127.0.0.1:9102
ram_capacity = 256M

[node n3]
addr = tcp://127.0.0.1:7703
metrics_addr = 127.0.0.1:9103
ram_capacity = 256M

[dataset imagenet]
backend = posix
uri = file://$DEMO/data
block_size = 4M
policy = auto
metadata_ttl = 0

[client]
block_cache = 256M
prefetch_depth = 4
CONF

: >"$DEMO/pids"
if [ "$BACKEND" = s3 ]; then
	# Starts the S3 server (its PIDs go to $DEMO/pids), uploads $DEMO/data
	# and rewrites the dataset section of $CONF to read from it.
	# shellcheck source=/dev/null
	. "$ROOT/scripts/demo-s3.sh"
fi
for n in n1 n2 n3; do
	"$ROOT/build/sluice-cachenode" -c "$CONF" --node "$n" \
		>"$DEMO/logs/$n.log" 2>&1 &
	echo "$! sluice-cachenode-$n" >>"$DEMO/pids"
done
sleep 0.5
"$ROOT/build/sluice-fuse" -c "$CONF" "$MNT" -f -o ro \
	>"$DEMO/logs/fuse.log" 2>&1 &
echo "$! sluice-fuse" >>"$DEMO/pids"
echo "$MNT" >"$DEMO/mountpoint"
for _ in $(seq 100); do
	[ -d "$MNT/imagenet/train" ] && break
	sleep 0.1
done
if [ ! -d "$MNT/imagenet/train" ]; then
	echo "demo: the mount did not come up; see $DEMO/logs/" >&2
	tail -5 "$DEMO"/logs/*.log >&2
	stop
	exit 1
fi

echo "demo: cluster up, $MNT mounted; DataLoader, 4 workers, 2 epochs:"
"$PY" "$ROOT/scripts/loader.py" "$MNT/imagenet" --epochs 2 --workers 4 \
	--metrics 127.0.0.1:9101,127.0.0.1:9102,127.0.0.1:9103
echo "demo: once more with the kernel's page cache dropped, so the cache nodes serve it:"
sync
echo 3 >/proc/sys/vm/drop_caches
"$PY" "$ROOT/scripts/loader.py" "$MNT/imagenet" --epochs 1 --first-epoch 3 \
	--workers 4 --metrics 127.0.0.1:9101,127.0.0.1:9102,127.0.0.1:9103 | grep -v '^cluster:'

cat <<DONE

The cluster keeps running.  Look around:
  ls $MNT/imagenet/train | head           # the dataset, as plain files
  md5sum $MNT/imagenet/shards/*           # read the two 64 MiB shards
  curl -s 127.0.0.1:9101/metrics | grep ^sluice_   # a node's metrics
  less $DEMO/logs/n1.log                  # logs of nodes and client
Stop it with:  make demo-stop
DONE
