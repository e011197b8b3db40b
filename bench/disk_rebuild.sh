#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# How long a cache node takes to rebuild its disk tier's index at start,
# per 100,000 blocks.  Writes N small block files through the real tier
# (io_uring, the node's own code: test/test_cn_disktier.c, case
# "rebuild"), reopens the tier and times the rebuild, once with the
# kernel's caches warm and once dropped (as after a reboot; needs root,
# else reported warm).  The rebuild reads directory entries only -- no
# stat, no header -- so its cost follows the number of blocks, not their
# size: a 1 TB tier of 4 MiB blocks is 250,000 of them.
#
# usage: bench/disk_rebuild.sh [N]   (default 100000; B=build dir, default
#        build; TMPDIR picks the filesystem, default /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."

B=${B:-build}
n=${1:-100000}

make -s B="$B" all "$B/test/test_cn_disktier" >/dev/null
for cold in "" 1; do
	out=$(env SLUICE_BUILD="$B" SLUICE_DISK_SCAN_BLOCKS="$n" \
		SLUICE_DISK_SCAN_COLD="$cold" CK_RUN_CASE=rebuild \
		CK_DEFAULT_TIMEOUT=1800 timeout 1900 \
		"$B/test/test_cn_disktier" 2>&1) || {
		echo "$out" >&2
		echo "disk_rebuild: the run failed" >&2
		exit 1
	}
	grep -E '^disk tier( rebuild)?:' <<<"$out"
done
