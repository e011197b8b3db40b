#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make bench`: Sluice against the FUSE ceiling and its peers, over the same
# bytes.  Generates the dataset (scripts/gen_dataset.py), starts each system
# in turn (a local directory, libfuse's passthrough_ll, Sluice over posix,
# over s3rver and over the WebHDFS test fixture, s3fs, rclone mount), runs
# each workload on a fresh start
# (bench/workload.py), stops it by PID, and writes results.csv, results.md
# and chart.png (bench/report.py).  See bench/README.md.
#
# Every process it starts is recorded in $WORK/pids and every mount in
# $WORK/mounts; an exit, an error or a signal unmounts and stops exactly
# those.  `bench/run.sh --stop` does the same after a run that was killed.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BENCH="$ROOT/bench"
PY=/usr/bin/python3

usage() {
	cat <<USAGE
usage: bench/run.sh [options]          (make bench BENCH_ARGS="options")
  --quick             small dataset (2,000 files in 20 classes, 4 x 64M shards)
  --systems LIST      comma-separated, from: $ALL_SYSTEMS
                      (default: all)
  --workloads LIST    from: metawalk,dataloader,shards,fio,memmap,shared
                      (default: all); fio and memmap read one big file
                      (bench/bigfile.py) on local, passthrough and
                      sluice-posix only; shared mounts sluice-s3, s3fs and
                      rclone twice and reads the dataset through both at
                      once (bench/shared.py)
  --big-size SIZE     the big file (1G; 256M with --quick), on a tmpfs
  --fio-runtime S     seconds per fio job (10; 3 with --quick)
  --runs N            runs per figure; the report shows the median (3)
  --out DIR           results folder (bench/results)
  --work DIR          dataset, mounts, caches, logs (build/bench)
  --sluice-build DIR  where sluice-cachenode, sluice-fuse and the backend
                      modules are (\$SLUICE_BUILD or build); 'make B=DIR all'
                      is run there first unless --no-make
  --no-make           use the Sluice binaries as they are
  --nodes N           Sluice cache nodes on loopback (1)
  --block-cache SIZE  Sluice client block cache (256M; 64M with --quick, so
                      that the small dataset is still 4x the client cache
                      and the page-cache-dropped phases reach the nodes)
  --files N --classes N --shards N --shard-size SIZE --median SIZE
  --min SIZE --max SIZE
                      dataset shape (20000, 100, 8, 128M, 110K, 10K, 1M)
  --stop              unmount and stop what a killed run left behind
USAGE
}

ALL_SYSTEMS=local,passthrough,sluice-posix,sluice-curve,sluice-s3,sluice-webhdfs,s3fs,rclone
SYSTEMS=$ALL_SYSTEMS
WORKLOADS=metawalk,dataloader,shards,fio,memmap,shared
BIG_SIZE= FIO_RUNTIME= MEMMAP_SAMPLES=
RUNS=3
OUT="$BENCH/results"
WORK="$ROOT/build/bench"
SB="${SLUICE_BUILD:-${B:-build}}"  # make bench B=DIR works too
MAKE_SLUICE=1
NODES=1
QUICK=0
FILES=20000 CLASSES=100 SHARDS=8 SHARD_SIZE=128M
MEDIAN=110K MINSZ=10K MAXSZ=1M
STOP_ONLY=0
BLOCK_CACHE=256M
BLOCK_CACHE_SET=
S3_BUCKET=sluice-bench

# `make bench` cannot pass arguments; it passes BENCH_ARGS in the environment.
# shellcheck disable=SC2206
ARGS=(${BENCH_ARGS:-} "$@")
set -- "${ARGS[@]+"${ARGS[@]}"}"
shape_set=()
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--systems) SYSTEMS="$2"; shift ;;
	--workloads) WORKLOADS="$2"; shift ;;
	--runs) RUNS="$2"; shift ;;
	--out) OUT="$(realpath -m "$2")"; shift ;;
	--work) WORK="$(realpath -m "$2")"; shift ;;
	--sluice-build) SB="$2"; shift ;;
	--no-make) MAKE_SLUICE=0 ;;
	--nodes) NODES="$2"; shift ;;
	--block-cache) BLOCK_CACHE_SET="$2"; shift ;;
	--big-size) BIG_SIZE="$2"; shift ;;
	--fio-runtime) FIO_RUNTIME="$2"; shift ;;
	--files|--classes|--shards|--shard-size|--median|--min|--max)
		shape_set+=("$1" "$2"); shift ;;
	--stop) STOP_ONLY=1 ;;
	-h|--help) usage; exit 0 ;;
	*) echo "bench: unknown option '$1'" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
if [ "$QUICK" = 1 ]; then
	FILES=2000 CLASSES=20 SHARDS=4 SHARD_SIZE=64M BLOCK_CACHE=64M
	BIG_SIZE=${BIG_SIZE:-256M} FIO_RUNTIME=${FIO_RUNTIME:-3}
	MEMMAP_SAMPLES=20000
fi
BIG_SIZE=${BIG_SIZE:-1G} FIO_RUNTIME=${FIO_RUNTIME:-10}
MEMMAP_SAMPLES=${MEMMAP_SAMPLES:-100000}
[[ "$BIG_SIZE" =~ ^[1-9][0-9]*[MG]$ ]] ||
	{ echo "bench: --big-size in M or G, like 1G" >&2; exit 2; }
[[ "$FIO_RUNTIME" =~ ^[1-9][0-9]?$ ]] ||
	{ echo "bench: --fio-runtime 1..99" >&2; exit 2; }
BLOCK_CACHE=${BLOCK_CACHE_SET:-$BLOCK_CACHE}
[[ "$BLOCK_CACHE" =~ ^[1-9][0-9]*M$ ]] ||
	{ echo "bench: --block-cache in MiB, like 256M" >&2; exit 2; }
set -- "${shape_set[@]+"${shape_set[@]}"}"
while [ $# -gt 0 ]; do
	case "$1" in
	--files) FILES="$2" ;;
	--classes) CLASSES="$2" ;;
	--shards) SHARDS="$2" ;;
	--shard-size) SHARD_SIZE="$2" ;;
	--median) MEDIAN="$2" ;;
	--min) MINSZ="$2" ;;
	--max) MAXSZ="$2" ;;
	esac
	shift 2
done
case "$SB" in /*) ;; *) SB="$ROOT/$SB" ;; esac
[[ "$RUNS" =~ ^[1-9][0-9]?$ ]] || { echo "bench: --runs 1..99" >&2; exit 2; }
[[ "$NODES" =~ ^[1-9]$ ]] || { echo "bench: --nodes 1..9" >&2; exit 2; }
IFS=, read -r -a SYS_LIST <<<"$SYSTEMS"
IFS=, read -r -a WL_LIST <<<"$WORKLOADS"
for s in "${SYS_LIST[@]}"; do
	[[ ",$ALL_SYSTEMS," == *",$s,"* ]] ||
		{ echo "bench: unknown system '$s' ($ALL_SYSTEMS)" >&2; exit 2; }
done
for w in "${WL_LIST[@]}"; do
	[[ ",metawalk,dataloader,shards,fio,memmap,shared," == *",$w,"* ]] ||
		{ echo "bench: unknown workload '$w'" >&2; exit 2; }
done

# S3 clients must talk plain HTTP to the loopback server only: a CA bundle
# or profile from the environment breaks rclone's SDK and could redirect
# boto3.  Nothing here needs a proxy.
unset AWS_CA_BUNDLE AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY \
	AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_CONFIG_FILE \
	AWS_SHARED_CREDENTIALS_FILE http_proxy https_proxy HTTP_PROXY \
	HTTPS_PROXY all_proxy ALL_PROXY 2>/dev/null || true
export no_proxy=127.0.0.1,localhost NO_PROXY=127.0.0.1,localhost

# passthrough_ll holds an O_PATH descriptor for every inode the kernel
# knows, which is every file and folder of the dataset by the end of an
# epoch: raise the open-file limit, for every system alike.  Where the hard
# limit cannot be raised (no CAP_SYS_RESOURCE, as in some containers) and
# is below that, the default dataset shrinks to fit, for every system
# alike (whichever are chosen, so that every run on this machine uses the
# same dataset), and the report says so; an explicit --files is kept, and
# passthrough_ll then fails with EMFILE.
ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
SHRUNK_NOTE=
if [ "$STOP_ONLY" = 0 ] && [ "$NOFILE" != unlimited ]; then
	spare=$((CLASSES + SHARDS + 3 + 128)) # folders, shards, fds of its own
	if [ $((FILES + spare)) -gt "$NOFILE" ]; then
		fit=$(((NOFILE - spare) / 100 * 100))
		if [[ " ${shape_set[*]-} " == *" --files "* ]]; then
			echo "bench: warning: open-file limit $NOFILE < $((FILES + spare)) descriptors passthrough_ll needs for --files $FILES" >&2
		else
			SHRUNK_NOTE="files reduced from $FILES to $fit: the open-file limit is $NOFILE and cannot be raised here (no CAP_SYS_RESOURCE), and passthrough_ll holds a descriptor for every file and folder"
			echo "bench: $SHRUNK_NOTE" >&2
			FILES=$fit
		fi
	fi
fi

LOGS="$WORK/logs"
PIDS="$WORK/pids"      # "PID START NAME": everything this run started
MOUNTS="$WORK/mounts"  # one mount point per line

log() { printf 'bench: %s\n' "$*" >&2; }

# -- process and mount tracking -------------------------------------------

alive() { kill -0 "$1" 2>/dev/null; }

# The start time of a process (field 22 of /proc/PID/stat), which tells a
# process of ours from a later one that got the same PID.
proc_start() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }

# track PID NAME: remember a process we started.
track() { echo "$1 $(proc_start "$1") $2" >>"$PIDS"; }

# stop_pid PID: SIGTERM, up to 10 s, then SIGKILL.  Only our own PIDs.
stop_pid() {
	local pid=$1 i
	sed -i "/^$pid /d" "$PIDS" 2>/dev/null || true
	alive "$pid" || { wait "$pid" 2>/dev/null || true; return 0; }
	kill "$pid" 2>/dev/null || true
	for i in $(seq 100); do
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		log "pid $pid did not stop in 10 s: SIGKILL"
		kill -9 "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# unmount MNT [PID]: fusermount3 -u (retried while busy, 10 s), wait for the
# daemon to leave, lazy unmount as the last resort.
unmount() {
	local m=$1 pid=${2:-} i
	for i in $(seq 50); do
		mountpoint -q "$m" 2>/dev/null || break
		fusermount3 -u "$m" 2>/dev/null && break
		sleep 0.2
	done
	if mountpoint -q "$m" 2>/dev/null; then
		log "$m still busy: lazy unmount"
		fusermount3 -uz "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	fi
	if [ -n "$pid" ]; then
		for i in $(seq 100); do
			alive "$pid" || break
			sleep 0.1
		done
		stop_pid "$pid"
	fi
	sed -i "\\#^$m\$#d" "$MOUNTS" 2>/dev/null || true
}

cleanup() {
	local m pid start name
	# The workload first: it holds the mounts busy.
	if [ -f "$PIDS" ]; then
		while read -r pid start name; do
			[ "$name" = workload ] && [ "$(proc_start "$pid")" = "$start" ] &&
				stop_pid "$pid"
		done < <(cat "$PIDS")
	fi
	if [ -f "$MOUNTS" ]; then
		while read -r m; do
			[ -n "$m" ] && unmount "$m"
		done < <(cat "$MOUNTS")
	fi
	if [ -f "$PIDS" ]; then
		# Reverse order: clients before the servers they talk to.
		while read -r pid start name; do
			if alive "$pid" && [ "$(proc_start "$pid")" = "$start" ]; then
				stop_pid "$pid"
				log "stopped $name (pid $pid)"
			fi
		done < <(tac "$PIDS")
	fi
	rm -f "$PIDS" "$MOUNTS"
	# The big file's tmpfs (see BIG_DIR), after every mount over it.
	if mountpoint -q "$WORK/big" 2>/dev/null; then
		umount "$WORK/big" 2>/dev/null || umount -l "$WORK/big" || true
	fi
}

if [ "$STOP_ONLY" = 1 ]; then
	cleanup
	log "stopped"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	log "run as root: it mounts FUSE filesystems and drops the page cache"
	exit 1
fi
mkdir -p "$WORK" "$LOGS" "$OUT"
if [ -s "$PIDS" ] || [ -s "$MOUNTS" ]; then
	log "cleaning up after an earlier run"
	cleanup
fi
: >"$PIDS"
: >"$MOUNTS"
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for SECONDS PID CMD...: poll CMD every 0.1 s until it succeeds;
# fails early if PID (the process that should make it true) died.
wait_for() {
	local secs=$1 pid=$2 i
	shift 2
	for i in $(seq $((secs * 10))); do
		"$@" >/dev/null 2>&1 && return 0
		[ -n "$pid" ] && ! alive "$pid" && return 1
		sleep 0.1
	done
	return 1
}

free_ports() { # N: N distinct loopback ports that were free a moment ago
	"$PY" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

jsonl() { # KEY=VALUE...: one JSON object on raw.jsonl
	"$PY" -c 'import json,sys
d = {}
for a in sys.argv[1:]:
    k, _, v = a.partition("=")
    d[k] = int(v) if v.isdigit() else v
print(json.dumps(d, sort_keys=True))' "$@" >>"$RAW"
}

# -- set-up ------------------------------------------------------------------

T_START=$(date +%s)
"$ROOT/scripts/install-deps.sh" --bench

TAG="f${FILES}-c${CLASSES}-s${SHARDS}x${SHARD_SIZE}-${MEDIAN}-${MINSZ}-${MAXSZ}"
DATA="$WORK/data-$TAG"
log "dataset $DATA"
"$PY" "$ROOT/scripts/gen_dataset.py" "$DATA" --files "$FILES" \
	--classes "$CLASSES" --shards "$SHARDS" --shard-size "$SHARD_SIZE" \
	--median "$MEDIAN" --min "$MINSZ" --max "$MAXSZ"
DATA_BYTES=$(du -sb "$DATA" | cut -f1)

# The big file of the fio and memmap workloads, on a tmpfs of its own
# (mounted here, unmounted by cleanup), so that passthrough_ll reads it
# from memory as Sluice's nodes do: random bytes, made again each run.
BIG_DIR="$WORK/big"
BIG_BYTES=0
big_workload() { [[ "$1" == fio || "$1" == memmap ]]; }
if [[ ",$WORKLOADS," == *,fio,* || ",$WORKLOADS," == *,memmap,* ]]; then
	BIG_BYTES=$(numfmt --from=iec "$BIG_SIZE")
	mkdir -p "$BIG_DIR"
	mountpoint -q "$BIG_DIR" ||
		mount -t tmpfs -o size=$((BIG_BYTES / 1048576 + 64))m tmpfs "$BIG_DIR"
	log "big file $BIG_DIR/tokens.bin ($BIG_SIZE)"
	head -c "$BIG_BYTES" /dev/urandom >"$BIG_DIR/tokens.bin"
fi

PT="$WORK/passthrough_ll"
PT_SRC=/usr/share/doc/libfuse3-dev/examples/passthrough_ll.c
if [ ! -x "$PT" ] || [ "$PT_SRC" -nt "$PT" ]; then
	log "building passthrough_ll from $PT_SRC"
	# shellcheck disable=SC2046 # pkg-config's words are separate flags
	gcc -O2 -o "$PT" "$PT_SRC" -I"$(dirname "$PT_SRC")" \
		$(pkg-config --cflags --libs fuse3)
fi

RAW="$OUT/raw.jsonl"
: >"$RAW"
jsonl workload=meta mode="$([ "$QUICK" = 1 ] && echo quick || echo full)" \
	runs="$RUNS" nodes="$NODES" files="$FILES" classes="$CLASSES" \
	shards="$SHARDS" shard_size="$SHARD_SIZE" median="$MEDIAN" \
	min="$MINSZ" max="$MAXSZ" data_bytes="$DATA_BYTES" \
	block_cache="$BLOCK_CACHE" systems="$SYSTEMS" workloads="$WORKLOADS" \
	loadavg_start="$(cut -d' ' -f1-3 /proc/loadavg)"

[ -n "$SHRUNK_NOTE" ] && jsonl workload=note text="$SHRUNK_NOTE"
[ "$BIG_BYTES" -gt 0 ] &&
	jsonl workload=meta_big big_bytes="$BIG_BYTES" \
		fio_runtime="$FIO_RUNTIME" memmap_samples="$MEMMAP_SAMPLES"

declare -A SKIP=()

want() { [[ ",$SYSTEMS," == *",$1,"* ]]; }

skip() { # SYSTEM REASON
	SKIP[$1]="$2"
	log "skipped: $1: $2"
	jsonl workload=skip system="$1" reason="$2"
}

# Sluice: build, then size the RAM tier to hold the whole dataset (the
# "cached" phases measure the cache nodes serving it) with 25% to spare.
if want sluice-posix || want sluice-curve || want sluice-s3 ||
	want sluice-webhdfs; then
	if [ "$MAKE_SLUICE" = 1 ]; then
		log "building Sluice into $SB"
		if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
			make -C "$ROOT" B="$SB" -j"$(nproc)" all \
			>"$LOGS/build.log" 2>&1; then
			log "make failed; see $LOGS/build.log"
			if [ -x "$SB/sluice-fuse" ]; then
				jsonl workload=note text="make failed (the tree was being edited); Sluice binaries already in $SB were used, built $(date -u -r "$SB/sluice-fuse" '+%Y-%m-%d %H:%M UTC')"
			fi
		fi
	fi
	for s in sluice-posix sluice-curve sluice-s3 sluice-webhdfs; do
		want "$s" || continue
		if [ ! -x "$SB/sluice-cachenode" ] || [ ! -x "$SB/sluice-fuse" ]; then
			skip "$s" "no $SB/sluice-cachenode or sluice-fuse (not built yet)"
			continue
		fi
		b=${s#sluice-}
		[ "$b" = curve ] && b=posix
		if [ ! -f "$SB/sluice_backend_$b.so" ]; then
			skip "$s" "no $SB/sluice_backend_$b.so (backend not built yet)"
		elif ! nm -D --defined-only "$SB/sluice_backend_$b.so" 2>/dev/null |
			grep -qw sluice_backend_ops; then
			skip "$s" "$SB/sluice_backend_$b.so has no sluice_backend_ops yet (backend incomplete)"
		fi
	done
fi
MIB=$((1024 * 1024))
# shellcheck disable=SC2017 # rounding up to whole 256 MiB on purpose
RAM_CAP_MIB=$((((DATA_BYTES + BIG_BYTES) * 5 / 4 / NODES + 256 * MIB - 1) / (256 * MIB) * 256))
[ "$RAM_CAP_MIB" -ge 256 ] || RAM_CAP_MIB=256
jsonl workload=meta_sluice ram_capacity_mib="$RAM_CAP_MIB" \
	block_cache_mib=$((${BLOCK_CACHE%M})) nodes="$NODES"

# s3rver: one server for every S3 system, over one upload of the dataset.
S3_PORT=
S3_PID=
S3_SYSTEMS=()
for s in sluice-s3 s3fs rclone; do
	if want "$s" && [ -z "${SKIP[$s]:-}" ]; then
		S3_SYSTEMS+=("$s")
	fi
done
start_s3rver() {
	local bin="$ROOT/test/s3/node_modules/.bin/s3rver" dir="$WORK/s3rver-$TAG"
	if [ ! -e "$bin" ]; then
		log "installing s3rver (npm ci in test/s3, pinned by its package-lock.json)"
		(cd "$ROOT/test/s3" && npm ci --no-audit --no-fund) \
			>"$LOGS/npm.log" 2>&1 || return 1
	fi
	mkdir -p "$dir"
	# --openssl-legacy-provider: s3rver encrypts ListObjectsV2 continuation
	# tokens with DES, which OpenSSL 3 keeps in its legacy provider.  The
	# S3 tests' launcher (test/s3/run_s3rver.js) binds port 0 and writes
	# the port it got; without it, the s3rver command on a port picked here.
	if [ -f "$ROOT/test/s3/run_s3rver.js" ]; then
		rm -f "$WORK/s3rver.port"
		node --openssl-legacy-provider "$ROOT/test/s3/run_s3rver.js" \
			"$dir" 127.0.0.1 0 "$WORK/s3rver.port" \
			>"$LOGS/s3rver.log" 2>&1 &
		S3_PID=$!
		track "$S3_PID" s3rver
		wait_for 30 "$S3_PID" test -s "$WORK/s3rver.port" || return 1
		S3_PORT=$(cat "$WORK/s3rver.port")
	else
		S3_PORT=$(free_ports 1)
		node --openssl-legacy-provider "$bin" -d "$dir" -a 127.0.0.1 \
			-p "$S3_PORT" --silent --no-vhost-buckets \
			>"$LOGS/s3rver.log" 2>&1 &
		S3_PID=$!
		track "$S3_PID" s3rver
	fi
	wait_for 30 "$S3_PID" curl -s -o /dev/null "http://127.0.0.1:$S3_PORT/" ||
		return 1
	if [ ! -f "$dir.uploaded" ]; then
		log "uploading the dataset to s3rver (once per dataset shape)"
		"$PY" "$BENCH/s3_upload.py" "$DATA" --bucket "$S3_BUCKET" \
			--endpoint "http://127.0.0.1:$S3_PORT" || return 1
		touch "$dir.uploaded"
	fi
}
if [ ${#S3_SYSTEMS[@]} -gt 0 ]; then
	if ! start_s3rver; then
		for s in "${S3_SYSTEMS[@]}"; do
			skip "$s" "s3rver did not start (see $LOGS/s3rver.log, npm.log)"
		done
	fi
fi
# The WebHDFS fixture (test/webhdfs/fixture.py, the server the webhdfs
# module's tests use): a namenode and two datanodes over the dataset
# directory itself, which it serves as HDFS's /.
WH_NN=
start_webhdfs_fixture() {
	local fx="$ROOT/test/webhdfs/fixture.py" i pid dns=
	for i in 1 2; do
		rm -f "$WORK/webhdfs-dn$i.port"
		"$PY" "$fx" datanode --root "$DATA" \
			--port-file "$WORK/webhdfs-dn$i.port" \
			>"$LOGS/webhdfs-dn$i.log" 2>&1 &
		pid=$!
		track "$pid" "webhdfs-dn$i"
		wait_for 30 "$pid" test -s "$WORK/webhdfs-dn$i.port" || return 1
		dns+="${dns:+,}127.0.0.1:$(cat "$WORK/webhdfs-dn$i.port")"
	done
	rm -f "$WORK/webhdfs-nn.port"
	"$PY" "$fx" namenode --root "$DATA" --datanodes "$dns" \
		--users bench --port-file "$WORK/webhdfs-nn.port" \
		>"$LOGS/webhdfs-nn.log" 2>&1 &
	pid=$!
	track "$pid" webhdfs-nn
	wait_for 30 "$pid" test -s "$WORK/webhdfs-nn.port" || return 1
	WH_NN=127.0.0.1:$(cat "$WORK/webhdfs-nn.port")
}
if want sluice-webhdfs && [ -z "${SKIP[sluice-webhdfs]:-}" ]; then
	start_webhdfs_fixture ||
		skip sluice-webhdfs "the WebHDFS fixture did not start (see $LOGS/webhdfs-*.log)"
fi

echo "S3RVER:S3RVER" >"$WORK/s3.passwd"
chmod 600 "$WORK/s3.passwd"

# -- the systems ---------------------------------------------------------------
#
# start_SYSTEM sets FS_ROOT (the dataset root as the workloads see it),
# FS_PIDS (NAME=PID,... whose RSS is recorded) and FS_MNT/FS_MAIN (the
# mount and the FUSE daemon's PID, if any); stop_SYSTEM undoes it.  Each
# start begins with empty caches.

FS_ROOT='' FS_PIDS='' FS_MNT='' FS_MAIN='' FS_METRICS=
FS2_MNT='' FS2_MAIN=''
NODE_PIDS=()

fresh_mnt() { # SYSTEM: an empty mount point, recorded for cleanup
	local m="$WORK/mnt/$1"
	mountpoint -q "$m" 2>/dev/null && unmount "$m"
	mkdir -p "$m"
	echo "$m" >>"$MOUNTS"
	FS_MNT=$m
}

wait_mounted() { # SECONDS PID PATH
	wait_for "$1" "$2" test -e "$3"
}

# FS_BIG: the big file's folder as the workloads see it; passthrough_ll
# is then mounted over BIG_DIR instead of the dataset (PT_SOURCE).
FS_BIG=
PT_SOURCE=
start_local() { FS_ROOT=$DATA; FS_BIG=$BIG_DIR; FS_PIDS=; FS_MNT=; FS_MAIN=; }
stop_local() { :; }

start_passthrough() {
	fresh_mnt passthrough
	"$PT" -f -o source="${PT_SOURCE:-$DATA}" "$FS_MNT" \
		>>"$LOGS/passthrough.log" 2>&1 &
	FS_MAIN=$!
	track "$FS_MAIN" passthrough_ll
	FS_ROOT=$FS_MNT FS_BIG=$FS_MNT FS_PIDS="passthrough_ll=$FS_MAIN"
	if [ -n "$PT_SOURCE" ]; then
		wait_mounted 30 "$FS_MAIN" "$FS_MNT/tokens.bin"
	else
		wait_mounted 30 "$FS_MAIN" "$FS_MNT/train"
	fi
}

# sluice-curve: keys for the nodes (one pair they share) and the client,
# made once per run with sluicectl keygen.
curve_keys() {
	local k="$WORK/keys"
	[ -f "$k/client.key" ] && return 0
	rm -rf "$k" && mkdir -p "$k/allowed"
	"$SB/sluicectl" keygen -o "$k" nodes >/dev/null
	"$SB/sluicectl" keygen -o "$k" client >/dev/null
	cp "$k/client.pub" "$k/allowed/"
}

sluice_conf() { # BACKEND [curve]: writes $WORK/sluice-BACKEND.conf
	local b=$1 curve=${2:-} conf="$WORK/sluice-$1.conf" ports i
	read -r -a ports <<<"$(free_ports $((2 * NODES)))"
	[ -n "$curve" ] && curve_keys
	{
		echo "# Written by bench/run.sh: $NODES cache node(s) on loopback."
		echo "[cluster]"
		echo "name = bench"
		echo "module_dir = $SB"
		if [ -n "$curve" ]; then
			echo "security = curve"
			echo "allowed_clients = $WORK/keys/allowed"
		fi
		for i in $(seq "$NODES"); do
			echo
			echo "[node n$i]"
			echo "addr = tcp://127.0.0.1:${ports[$((2 * i - 2))]}"
			echo "metrics_addr = 127.0.0.1:${ports[$((2 * i - 1))]}"
			echo "ram_capacity = ${RAM_CAP_MIB}M"
			if [ -n "$curve" ]; then
				echo "secret_key = $WORK/keys/nodes.key"
				echo "public_key = $WORK/keys/nodes.pub"
			fi
		done
		echo
		echo "[dataset bench]"
		if [ "$b" = posix ]; then
			echo "backend = posix"
			echo "uri = file://$DATA"
		elif [ "$b" = webhdfs ]; then
			echo "backend = webhdfs"
			echo "uri = webhdfs://$WH_NN/"
			echo "user = bench"
		else
			echo "backend = s3"
			echo "uri = s3://$S3_BUCKET/"
			echo "endpoint = http://127.0.0.1:$S3_PORT"
			echo "region = us-east-1"
			echo "path_style = true"
			echo "credentials = $WORK/s3.cred"
		fi
		echo "block_size = 4M"
		echo "policy = lru"
		echo "metadata_ttl = 0"
		if [ "$b" = posix ] && [ "$BIG_BYTES" -gt 0 ]; then
			echo
			echo "[dataset big]"
			echo "backend = posix"
			echo "uri = file://$BIG_DIR"
			echo "block_size = 4M"
			echo "metadata_ttl = 0"
		fi
		echo
		echo "[client]"
		echo "block_cache = $BLOCK_CACHE"
		echo "prefetch_depth = 4"
		[ -z "$curve" ] || echo "secret_key = $WORK/keys/client.key"
	} >"$conf"
	METRICS=()
	for i in $(seq "$NODES"); do
		METRICS+=("127.0.0.1:${ports[$((2 * i - 1))]}")
	done
}

start_sluice() { # BACKEND [curve]
	local b=$1 conf="$WORK/sluice-$1.conf" i pid
	if [ "$b" = s3 ]; then
		printf '[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n' \
			>"$WORK/s3.cred"
		chmod 600 "$WORK/s3.cred"
	fi
	sluice_conf "$b" "${2:-}"
	NODE_PIDS=()
	FS_PIDS=
	for i in $(seq "$NODES"); do
		"$SB/sluice-cachenode" -c "$conf" --node "n$i" \
			>>"$LOGS/sluice-$b-n$i.log" 2>&1 &
		pid=$!
		track "$pid" "sluice-cachenode-n$i"
		NODE_PIDS+=("$pid")
		FS_PIDS+="cachenode-n$i=$pid,"
	done
	for i in $(seq "$NODES"); do
		wait_for 30 "${NODE_PIDS[$((i - 1))]}" \
			curl -sf -o /dev/null "http://${METRICS[$((i - 1))]}/metrics" ||
			return 1
	done
	fresh_mnt "sluice-$b"
	"$SB/sluice-fuse" -c "$conf" "$FS_MNT" -f -o ro \
		>>"$LOGS/sluice-$b-fuse.log" 2>&1 &
	FS_MAIN=$!
	track "$FS_MAIN" sluice-fuse
	FS_PIDS="sluice-fuse=$FS_MAIN,${FS_PIDS%,}"
	FS_METRICS=$(IFS=,; echo "${METRICS[*]}")
	FS_ROOT="$FS_MNT/bench" FS_BIG="$FS_MNT/big"
	wait_mounted 60 "$FS_MAIN" "$FS_ROOT/train"
}
stop_sluice() {
	local pid
	stop_fuse
	for pid in "${NODE_PIDS[@]+"${NODE_PIDS[@]}"}"; do
		stop_pid "$pid"
	done
	NODE_PIDS=()
}
start_sluice-posix() { start_sluice posix; }
stop_sluice-posix() { stop_sluice; }
start_sluice-curve() { start_sluice posix curve; }
stop_sluice-curve() { stop_sluice; }
start_sluice-s3() { start_sluice s3; }
stop_sluice-s3() { stop_sluice; }
start_sluice-webhdfs() { start_sluice webhdfs; }
stop_sluice-webhdfs() { stop_sluice; }

# run_webhdfs_raw RUN: the fixture's own rate for the DataLoader's files
# (bench/webhdfs_raw.py), the ceiling of Sluice-over-WebHDFS's cold epoch.
run_webhdfs_raw() {
	log "run $1/$RUNS: webhdfs-raw: dataloader files straight from the fixture"
	timeout -k 10 "$WL_TIMEOUT" "$PY" "$BENCH/webhdfs_raw.py" "$DATA" \
		--namenode "$WH_NN" --tag system=webhdfs-raw --tag run="$1" \
		>>"$RAW" 2>"$LOGS/webhdfs-raw.err" ||
		jsonl workload=error system=webhdfs-raw run="$1" \
			what="$(tail -c 300 "$LOGS/webhdfs-raw.err" | tr '\n' ' ')"
	sed 's/^/  /' "$LOGS/webhdfs-raw.err" >&2
}

# SFX: a suffix for a second mount of the same system (the shared workload).
SFX=
start_s3fs() {
	rm -rf "$WORK/cache/s3fs$SFX"
	mkdir -p "$WORK/cache/s3fs$SFX"
	fresh_mnt "s3fs$SFX"
	s3fs "$S3_BUCKET" "$FS_MNT" -f -o ro,use_path_request_style \
		-o "url=http://127.0.0.1:$S3_PORT,passwd_file=$WORK/s3.passwd" \
		-o use_cache="$WORK/cache/s3fs$SFX" >>"$LOGS/s3fs$SFX.log" 2>&1 &
	FS_MAIN=$!
	track "$FS_MAIN" "s3fs$SFX"
	FS_ROOT=$FS_MNT FS_PIDS="s3fs=$FS_MAIN"
	wait_mounted 30 "$FS_MAIN" "$FS_MNT/train"
}

start_rclone() {
	rm -rf "$WORK/cache/rclone$SFX"
	mkdir -p "$WORK/cache/rclone$SFX"
	cat >"$WORK/rclone.conf" <<CONF
[s3rver]
type = s3
provider = Other
access_key_id = S3RVER
secret_access_key = S3RVER
endpoint = http://127.0.0.1:$S3_PORT
region = us-east-1
force_path_style = true
CONF
	fresh_mnt "rclone$SFX"
	rclone --config "$WORK/rclone.conf" mount "s3rver:$S3_BUCKET" "$FS_MNT" \
		--read-only --vfs-cache-mode full \
		--cache-dir "$WORK/cache/rclone$SFX" >>"$LOGS/rclone$SFX.log" 2>&1 &
	FS_MAIN=$!
	track "$FS_MAIN" "rclone$SFX"
	FS_ROOT=$FS_MNT FS_PIDS="rclone=$FS_MAIN"
	wait_mounted 30 "$FS_MAIN" "$FS_MNT/train"
}

stop_fuse() {
	if [ -n "$FS_MNT" ]; then
		unmount "$FS_MNT" "$FS_MAIN"
	fi
	FS_MNT=
}
stop_passthrough() { stop_fuse; }
# Their disk caches go with them (a full dataset each); the next start
# begins empty anyway.
stop_s3fs() { stop_fuse; rm -rf "$WORK/cache/s3fs$SFX"; }
stop_rclone() { stop_fuse; rm -rf "$WORK/cache/rclone$SFX"; }

# second_mount SYSTEM: a second mount of the running system, as a second
# training pod's: another sluice-fuse of the same cache nodes, or another
# s3fs or rclone with a cache of its own.  Sets FS_MNT, FS_MAIN, FS_ROOT.
second_mount() {
	case "$1" in
	sluice-s3)
		fresh_mnt sluice-s3-2
		"$SB/sluice-fuse" -c "$WORK/sluice-s3.conf" "$FS_MNT" -f -o ro \
			>>"$LOGS/sluice-s3-fuse-2.log" 2>&1 &
		FS_MAIN=$!
		track "$FS_MAIN" sluice-fuse-2
		FS_ROOT="$FS_MNT/bench"
		wait_mounted 60 "$FS_MAIN" "$FS_ROOT/train"
		;;
	*) SFX=-2 "start_$1" ;;
	esac
}

# -- the runs ------------------------------------------------------------------

# A workload may not run longer than this (a hung mount must not hang us).
WL_TIMEOUT=$([ "$QUICK" = 1 ] && echo 600 || echo 3600)

run_one() { # SYSTEM WORKLOAD RUN
	local s=$1 w=$2 r=$3 rc=0 extra=() wl cmd m1 p1 r1 pids1
	PT_SOURCE=
	if big_workload "$w"; then
		case "$s" in
		local|passthrough|sluice-posix) PT_SOURCE=$BIG_DIR ;;
		*) return 0 ;; # the big file is on a local tmpfs only
		esac
	fi
	if [ "$w" = shared ]; then
		case "$s" in
		sluice-s3|s3fs|rclone) [ -n "$S3_PID" ] || return 0 ;;
		*) return 0 ;; # two pods over one S3 bucket
		esac
	fi
	log "run $r/$RUNS: $s: $w"
	FS_MNT='' FS_MAIN='' FS_METRICS=
	if ! "start_$s" 2>>"$LOGS/$s.err"; then
		"stop_$s" || true
		# Its last log line says why; a system that cannot start is
		# skipped for the rest of the run.
		skip "$s" "did not start: $(cat "$LOGS/$s"*.log "$LOGS/$s.err" \
			2>/dev/null | grep -v '^\s*$' | tail -n 1 | cut -c1-300)"
		return 0
	fi
	[ "$w" = dataloader ] && extra=(--workers 4 --batch 64)
	cmd=("$BENCH/workload.py" "$w" "$FS_ROOT")
	case "$w" in
	fio) cmd=("$BENCH/bigfile.py" fio "$FS_BIG/tokens.bin"
		--runtime "$FIO_RUNTIME") ;;
	memmap) cmd=("$BENCH/bigfile.py" memmap "$FS_BIG/tokens.bin"
		--samples "$MEMMAP_SAMPLES") ;;
	shared)
		m1=$FS_MNT p1=$FS_MAIN r1=$FS_ROOT pids1=$FS_PIDS
		if ! second_mount "$s" 2>>"$LOGS/$s.err"; then
			jsonl workload=error system="$s" run="$r" \
				what="shared: the second mount did not start"
			[ -n "$FS_MNT" ] && [ "$FS_MNT" != "$m1" ] &&
				unmount "$FS_MNT" "$FS_MAIN"
			FS_MNT=$m1 FS_MAIN=$p1
			"stop_$s"
			return 0
		fi
		FS2_MNT=$FS_MNT FS2_MAIN=$FS_MAIN
		cmd=("$BENCH/shared.py" "$r1" "$FS_ROOT" --s3-pid "$S3_PID")
		FS_MNT=$m1 FS_MAIN=$p1 FS_ROOT=$r1 FS_PIDS=$pids1
		;;
	esac
	# In the background and waited for, so that a signal reaches our trap
	# at once rather than after the workload.
	timeout -k 10 "$WL_TIMEOUT" "$PY" "${cmd[@]}" \
		"${extra[@]+"${extra[@]}"}" --pids "$FS_PIDS" \
		--metrics "$FS_METRICS" \
		--tag system="$s" --tag run="$r" >>"$RAW" 2>"$LOGS/workload.err" &
	wl=$!
	track "$wl" workload
	wait "$wl" || rc=$?
	sed -i "/^$wl /d" "$PIDS"
	sed 's/^/  /' "$LOGS/workload.err" >&2
	if [ "$rc" -ne 0 ]; then
		log "  $s $w failed (exit $rc)"
		jsonl workload=error system="$s" run="$r" \
			what="$w: exit $rc: $(tail -c 300 "$LOGS/workload.err" | tr '\n' ' ')"
	fi
	if [ -n "$FS2_MNT" ]; then
		unmount "$FS2_MNT" "$FS2_MAIN"
		rm -rf "$WORK/cache/s3fs-2" "$WORK/cache/rclone-2"
		FS2_MNT= FS2_MAIN=
	fi
	"stop_$s"
}

for r in $(seq "$RUNS"); do
	for s in "${SYS_LIST[@]}"; do
		[ -n "${SKIP[$s]:-}" ] && continue
		for w in "${WL_LIST[@]}"; do
			[ -n "${SKIP[$s]:-}" ] && break
			if [ "$s" = sluice-webhdfs ] && [ "$w" = dataloader ]; then
				run_webhdfs_raw "$r"
			fi
			run_one "$s" "$w" "$r"
		done
	done
done

jsonl workload=meta_end seconds=$(($(date +%s) - T_START)) \
	loadavg_end="$(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" "$BENCH/report.py" "$OUT" --work "$WORK" --data "$DATA" \
	--sluice-build "$SB"
log "done in $(($(date +%s) - T_START)) s: $OUT/results.md"
