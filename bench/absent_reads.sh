#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# READs of absent paths per second at one cache node, with ENTRIES entries
# in its metadata cache.  Each such READ answers ENOENT and drops what the
# metadata cache knows about the path and its directory, on the event
# thread, so its cost must not grow with the cache.  Starts a real
# sluice-cachenode with a posix dataset holding a directory of ENTRIES
# empty files, lists it (one STAT entry per file lands in the cache), then
# sends 20,000 READs of absent names, 64 in flight, and reports the rate.
# The load is a case of test/it_cachenode.c (bench_absent_reads), registered
# only when this script asks for it.
#
# usage: bench/absent_reads.sh [ENTRIES]   (default 100000; B=build dir)
set -euo pipefail
cd "$(dirname "$0")/.."

B=${B:-build}
n=${1:-100000}

make -s B="$B" all "$B/test/it_cachenode" >/dev/null
out=$(SLUICE_BUILD="$B" SLUICE_BENCH_ABSENT="$n" CK_RUN_CASE=bench \
	CK_DEFAULT_TIMEOUT=1800 timeout 1900 "$B/test/it_cachenode" 2>&1) ||
	{
		echo "$out" >&2
		echo "absent_reads: the run failed" >&2
		exit 1
	}
grep '^absent reads:' <<<"$out"
