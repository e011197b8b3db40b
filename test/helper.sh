# SPDX-License-Identifier: Apache-2.0
# Shared by the shell tests (test/it_*.sh, run by test/run_suites.sh):
# skip and fail in run_suites' terms, a scratch directory, processes and
# mounts that are cleaned up by PID and path whatever happens, and a small
# cluster (one posix dataset, one node on a free loopback port).
# Source it after setting T (the suite's name).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SL_VERSION=$(sed -n 's/^VERSION := //p' "$ROOT/Makefile")
th_pids=()
th_mounts=()
th_cleanups=()
TMP=$(mktemp -d "/tmp/sluice-$T.XXXXXX")

th_skip() {
	echo "SKIP: $T: $*"
	exit 77
}

th_fail() {
	echo "FAIL: $T: $*" >&2
	exit 1
}

th_ok() {
	echo "ok: $*"
}

# th_at_exit CMD...: run CMD (a string) at exit, before the processes die.
th_at_exit() {
	th_cleanups+=("$1")
}

th_cleanup() {
	local m p c
	for c in "${th_cleanups[@]}"; do
		eval "$c" || true
	done
	for m in "${th_mounts[@]}"; do
		mountpoint -q "$m" 2>/dev/null && fusermount3 -uz "$m" 2>/dev/null
	done
	# SIGTERM first (a node then stops cleanly), SIGKILL what is left;
	# disowned, so that bash does not report their deaths.
	for p in "${th_pids[@]}"; do
		disown "$p" 2>/dev/null || true
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${th_pids[@]}"; do
		timeout 5 tail --pid="$p" -f /dev/null 2>/dev/null ||
			kill -KILL "$p" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap th_cleanup EXIT

# th_free_port: a TCP port free now, below the ephemeral range so that no
# outgoing connection (or its TIME_WAIT) takes it before it is bound; see
# th_free_port in helper_proc.c.
th_free_port() {
	/usr/bin/python3 - <<'PY'
import random, socket
low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
cands = random.sample(range(10000, low), 200) if low > 11000 else []
for port in cands + [0]:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        print(s.getsockname()[1])
        break
    except OSError:
        pass
    finally:
        s.close()
PY
}

# th_wait SECONDS CMD...: run CMD until it succeeds, at most SECONDS.
th_wait() {
	local limit=$(($1 * 10)) i
	shift
	for ((i = 0; i < limit; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# th_cluster: $TMP/data holds a dataset (a 3 MiB file and a small one in a
# folder), $TMP/cluster.conf one node n1 on a free port serving it, with
# no module_dir (the binaries' own default is used).
th_cluster() {
	mkdir -p "$TMP/data/d1/sub"
	head -c $((3 << 20)) /dev/urandom >"$TMP/data/d1/big.bin"
	echo "hello from sluice" >"$TMP/data/d1/sub/small.txt"
	cat >"$TMP/cluster.conf" <<EOF
[cluster]
name = $T

[node n1]
addr = tcp://127.0.0.1:$(th_free_port)
ram_capacity = 64M
workers = 2

[dataset d1]
backend = posix
uri = file://$TMP/data/d1
block_size = 1M

[client]
block_cache = 16M
request_timeout = 1s
EOF
}

# th_start LOG CMD...: start CMD in the background, output to LOG; sets
# th_pid and remembers it for the clean-up.
th_start() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 &
	th_pid=$!
	th_pids+=("$th_pid")
}

# th_check_mount MNT: the dataset of th_cluster reads right through MNT.
th_check_mount() {
	local mnt=$1
	[ "$(ls "$mnt")" = d1 ] || th_fail "ls $mnt: '$(ls "$mnt" 2>&1)', not d1"
	cmp "$TMP/data/d1/big.bin" "$mnt/d1/big.bin" ||
		th_fail "$mnt/d1/big.bin differs from the backend's file"
	[ "$(cat "$mnt/d1/sub/small.txt")" = "hello from sluice" ] ||
		th_fail "$mnt/d1/sub/small.txt reads wrong"
}
