#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Peak RSS of a cache node under a read load over a dataset three times its
# ram_capacity.  Starts a real sluice-cachenode with a posix dataset of
# DATASET_MB (4 MiB files, 1 MiB blocks), reads every block twice in
# shuffled order from 4 clients with 8 requests each in flight, and reports
# the node's VmHWM from /proc/PID/status next to the bound, capacity +
# 64 MiB.  The load is the memory case of the integration test
# (test/it_cachenode.c, test_rss_bound), which also asserts the bound.
#
# usage: bench/cachenode_rss.sh [CAPACITY_MB [DATASET_MB]]
#        (default 64 and 3 x CAPACITY_MB; B=build dir, default build)
set -euo pipefail
cd "$(dirname "$0")/.."

B=${B:-build}
cap=${1:-64}
ds=${2:-$((3 * cap))}

make -s B="$B" all "$B/test/it_cachenode" >/dev/null
out=$(SLUICE_BUILD="$B" SLUICE_RSS_CAPACITY_MB="$cap" \
	SLUICE_RSS_DATASET_MB="$ds" CK_RUN_CASE=memory \
	CK_DEFAULT_TIMEOUT=1800 timeout 1900 "$B/test/it_cachenode" 2>&1) ||
	{
		echo "$out" >&2
		echo "cachenode_rss: the run failed" >&2
		exit 1
	}
line=$(grep '^cachenode RSS:' <<<"$out")
hwm=$(sed -E 's/.*peak VmHWM ([0-9]+) MiB.*/\1/' <<<"$line")
echo "$line"
echo "bound: ram_capacity + 64 MiB = $((cap + 64)) MiB; measured $hwm MiB" \
	"($((hwm - cap)) MiB over capacity)"
