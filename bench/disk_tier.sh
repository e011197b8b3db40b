#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The disk tier against the disk it sits on.  A real sluice-cachenode with
# its RAM tier off (--no-ram-tier: every block is read from disk, every
# time) and its disk tier in DIR is filled with DATASET_MB of BLOCK_KB
# blocks (posix backend), then every block is read once more over the
# protocol with DEPTH requests in flight (4 sockets), three times, and the
# node must not touch the backend (the load is test/it_disk.c, case
# "bench", which also shows the same reads served from RAM: the ceiling
# of the protocol on this machine).  Then the same bytes -- the tier's
# block files, concatenated into one file on the same filesystem -- are
# read three times with `dd iflag=direct bs=BLOCK_KB`, and the script
# reports the medians of block reads/s and MB/s and their ratio.  dd reads
# one contiguous file sequentially, one request at a time; the node reads
# one file per block, several at once, through io_uring, and sends every
# byte over loopback TCP to a client in another process.
#
# usage: bench/disk_tier.sh [DIR [DATASET_MB [BLOCK_KB [DEPTH]]]]
#        (defaults: build/disk-bench, 1024, 4096, 32; B=build dir,
#        default build).  DIR is emptied first and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

B=${B:-build}
dir=${1:-$B/disk-bench}
mb=${2:-1024}
kb=${3:-4096}
depth=${4:-32}

make -s B="$B" all "$B/test/it_disk" >/dev/null
rm -rf "$dir"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
trap 'rm -rf "$dir"' EXIT

out=$(SLUICE_BUILD="$B" SLUICE_DISK_BENCH=1 SLUICE_DISK_BENCH_DIR="$dir/tier" \
	SLUICE_DISK_BENCH_MB="$mb" SLUICE_DISK_BENCH_KB="$kb" \
	SLUICE_DISK_BENCH_DEPTH="$depth" CK_DEFAULT_TIMEOUT=1800 \
	timeout 1900 "$B/test/it_disk" 2>&1) || {
	echo "$out" >&2
	echo "disk_tier: the run failed" >&2
	exit 1
}
grep -E '^disk tier bench' <<<"$out"
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
node_rps=$(grep 'bench pass 2' <<<"$out" |
	sed -E 's/.* ([0-9.]+) block reads\/s.*/\1/' | median)
node_mbs=$(grep 'bench pass 2' <<<"$out" |
	sed -E 's/.* ([0-9.]+) MB\/s.*/\1/' | median)

# The same bytes, read straight from the filesystem, as many times.
find "$dir/tier/sluice-v2" -mindepth 2 -path '*/[0-9a-f][0-9a-f]/*' \
	-type f -print0 | sort -z | xargs -0 cat >"$dir/dd.bin"
sync
runs=$(grep -c 'bench pass 2' <<<"$out")
for _ in $(seq "$runs"); do
	dd if="$dir/dd.bin" of=/dev/null bs="${kb}K" iflag=direct 2>&1 |
		grep copied
done >"$dir/dd.out"
dd_bytes=$(awk 'NR == 1 {print $1}' "$dir/dd.out")
dd_secs=$(sed -E 's/.*copied, ([0-9.e-]+) s.*/\1/' "$dir/dd.out" |
	sort -g -r | median)
awk -v nr="$node_rps" -v nm="$node_mbs" -v b="$dd_bytes" -v s="$dd_secs" \
	-v kb="$kb" -v runs="$runs" 'BEGIN {
	dm = b / s / 1e6; dr = b / s / (kb * 1024 + 4096);
	printf "dd iflag=direct bs=%dK over the same %.0f MiB (median of " \
		"%d): %.0f block reads/s, %.1f MB/s\n", kb, b / 1048576, runs,
		dr, dm;
	printf "disk tier (median of %d) / dd O_DIRECT: %.2f x the block " \
		"reads/s, %.2f x the MB/s\n", runs, nr / dr, nm / dm }'
