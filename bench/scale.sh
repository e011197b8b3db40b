#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/scale.sh: the cluster grows and shrinks under a training epoch.
#
# Over an S3 dataset (s3rver, the S3 tests' pinned server), 3 cache nodes
# with static membership warm up in a first DataLoader epoch; then, from a
# fresh mount (empty client caches, page cache dropped), a second epoch
# runs while a 4th node joins (config + SIGHUP to every node) a third of
# the way in and is drained and removed (sluicectl drain, config, SIGHUP)
# two thirds in: 3 -> 4 -> 3.  Every second it prints the epoch's files/s,
# the backend reads/s summed over the nodes, and the ring's size; at the
# end the totals: files, errors, backend bytes, and the bytes the new
# owners took from the previous ones (hand-off) instead of the backend.
#
# usage: bench/scale.sh [--files N] [--pace-ms MS] [--keep]
#   --files N     DataLoader files (default 3000, ~110 KB each)
#   --pace-ms MS  each sample takes at least MS (default 40), so that the
#                 epoch lasts long enough for both changes
#   --keep        keep the scratch directory (build/bench/scale)
# Needs root (FUSE), python3 with torch and boto3, node (s3rver).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${SLUICE_BUILD:-$ROOT/build}
FILES=3000
PACE=40
KEEP=0
while [ $# -gt 0 ]; do
	case $1 in
	--files) FILES=$2; shift 2 ;;
	--pace-ms) PACE=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	*) echo "usage: $0 [--files N] [--pace-ms MS] [--keep]" >&2; exit 2 ;;
	esac
done
W=$B/bench/scale
rm -rf "$W"
mkdir -p "$W/mnt" "$W/logs"
PIDS=()
cleanup() {
	fusermount3 -uz "$W/mnt" 2>/dev/null || true
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ "$KEEP" = 1 ] || rm -rf "$W"
}
trap cleanup EXIT
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # SECONDS CMD...: until CMD succeeds
	local t=$(($1 * 10)); shift
	until "$@" >/dev/null 2>&1; do
		t=$((t - 1)); [ $t -gt 0 ] || return 1; sleep 0.1
	done
}

echo "scale: dataset of $FILES files, uploaded to s3rver"
/usr/bin/python3 "$ROOT/scripts/gen_dataset.py" "$W/data" --files "$FILES" \
	--classes 20 --shards 0 >"$W/logs/gen.log"
(cd "$ROOT/test/s3" && [ -e node_modules/.bin/s3rver ] ||
	npm ci --no-audit --no-fund >"$W/logs/npm.log" 2>&1)
mkdir -p "$W/s3"
node --openssl-legacy-provider "$ROOT/test/s3/run_s3rver.js" "$W/s3" \
	127.0.0.1 0 "$W/s3.port" >"$W/logs/s3rver.log" 2>&1 &
PIDS+=($!)
wait_for 30 test -s "$W/s3.port"
S3=http://127.0.0.1:$(cat "$W/s3.port")
/usr/bin/python3 "$ROOT/bench/s3_upload.py" "$W/data" --bucket scale --endpoint "$S3" \
	>"$W/logs/upload.log"
printf '[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n' >"$W/s3.cred"
chmod 600 "$W/s3.cred"

PORTS=() MPORTS=()
for i in 0 1 2 3; do PORTS+=("$(free_port)"); MPORTS+=("$(free_port)"); done
conf() { # NODES...: the config with these nodes listed
	{
		printf '[cluster]\nname = scale\nmodule_dir = %s\n\n' "$B"
		for i in "$@"; do
			printf '[node n%s]\naddr = tcp://127.0.0.1:%s\n' "$i" "${PORTS[$i]}"
			printf 'metrics_addr = 127.0.0.1:%s\nram_capacity = 512M\n\n' "${MPORTS[$i]}"
		done
		printf '[dataset ds]\nbackend = s3\nuri = s3://scale/\nendpoint = %s\n' "$S3"
		printf 'region = us-east-1\npath_style = true\ncredentials = %s\n' "$W/s3.cred"
		printf 'block_size = 4M\n\n[client]\nblock_cache = 64M\nrequest_timeout = 2s\n'
	} >"$W/cluster.conf.new"
	mv "$W/cluster.conf.new" "$W/cluster.conf"
}
NODE=()
start_node() { # I
	"$B/sluice-cachenode" -c "$W/cluster.conf" --node "n$1" \
		>>"$W/logs/n$1.log" 2>&1 &
	NODE[$1]=$!
	PIDS+=($!)
	wait_for 30 curl -sf -o /dev/null "http://127.0.0.1:${MPORTS[$1]}/metrics"
}
hup() { for i in "$@"; do kill -HUP "${NODE[$i]}"; done; }
mount_fs() {
	"$B/sluice-fuse" -f -c "$W/cluster.conf" "$W/mnt" -o ro,auto_unmount \
		-v >>"$W/logs/fuse.log" 2>&1 &
	FUSE=$!
	PIDS+=($!)
	wait_for 30 mountpoint -q "$W/mnt"
}
# Sum of a counter over the nodes' metrics endpoints.
metric() { # NAME
	local sum=0 v
	for i in 0 1 2 3; do
		v=$(curl -sf "http://127.0.0.1:${MPORTS[$i]}/metrics" 2>/dev/null |
			awk -v n="$1" '$1 == n {print $2}') || v=
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}
loader() { # EPOCH-NAME PACE
	env LOADER_PACE_MS="$2" LOADER_PROGRESS="$W/progress" \
		/usr/bin/python3 "$ROOT/test/it_fuse_loader.py" "$W/mnt/ds/train" \
		"$W/data/train" 1 4 >"$W/logs/loader-$1.log" 2>&1 &
	LOADER=$!
	PIDS+=($!)
}

conf 0 1 2
for i in 0 1 2; do start_node "$i"; done
mount_fs
echo "scale: epoch 1 warms 3 nodes"
rm -f "$W/progress"
loader warm 0
wait "$LOADER" || { cat "$W/logs/loader-warm.log"; exit 1; }
fusermount3 -u "$W/mnt"
wait "$FUSE" || true
sync
echo 3 >/proc/sys/vm/drop_caches
mount_fs

B0=$(metric sluice_backend_read_bytes_total)
R0=$(metric sluice_backend_reads_total)
H0=$(metric sluice_handoff_bytes_total)
rm -f "$W/progress"
loader scale "$PACE"
echo "scale: epoch 2 over 3 nodes; a 4th joins at 1/3, leaves at 2/3"
printf '%6s %9s %17s %6s\n' "t(s)" "files/s" "backend reads/s" "nodes"
t=0 last=0 lastr=$R0 nodes=3 phase=0
while kill -0 "$LOADER" 2>/dev/null; do
	sleep 1
	t=$((t + 1))
	done_n=$(cat "$W/progress" 2>/dev/null || echo 0)
	r=$(metric sluice_backend_reads_total)
	printf '%6d %9d %17d %6d\n' "$t" $((done_n - last)) $((r - lastr)) "$nodes"
	last=$done_n lastr=$r
	if [ $phase = 0 ] && [ "$done_n" -ge $((FILES / 3)) ]; then
		conf 0 1 2 3
		start_node 3
		hup 0 1 2
		nodes=4 phase=1
	elif [ $phase = 1 ] && [ "$done_n" -ge $((2 * FILES / 3)) ]; then
		"$B/sluicectl" -c "$W/cluster.conf" drain n3 --no-wait >/dev/null
		conf 0 1 2
		hup 0 1 2
		nodes=3 phase=2
	fi
done
wait "$LOADER" && ok=1 || ok=0
tail -1 "$W/logs/loader-scale.log"
BB=$(($(metric sluice_backend_read_bytes_total) - B0))
RR=$(($(metric sluice_backend_reads_total) - R0))
HB=$(($(metric sluice_handoff_bytes_total) - H0))
echo "scale: epoch 2: $FILES files in ${t} s; backend: $RR reads, $((BB / 1048576)) MiB;" \
	"moved by hand-off: $((HB / 1048576)) MiB; backend bytes / moved bytes =" \
	"$(python3 -c "print('%.3f' % ($BB / max($HB, 1)))")"
[ "$ok" = 1 ]
