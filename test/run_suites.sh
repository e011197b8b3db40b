#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Run test programs one after another, each under a time limit, and print
# one summary: how many passed, failed and were skipped, and every skip's
# reason.  A program is a test binary or a `*.sh` script; exit 0 = passed,
# 77 = skipped (the whole suite), anything else = failed.  A case that
# could not run prints "SKIP: SUITE/CASE: WHY" (test/helper_check.h) and is
# listed too.  Exits 1 when any program failed.
#
# usage: test/run_suites.sh LABEL LIMIT_SECONDS PROGRAM...
set -uo pipefail

label=$1 limit=$2
shift 2
pass=0 fail=0 skip=0
failed=() skips=() why=()
out=$(mktemp)
trap 'rm -f "$out"' EXIT

for t in "$@"; do
	echo "== $t"
	if [[ $t == *.sh ]]; then
		timeout "$limit" bash "$t" 2>&1 | tee "$out"
	else
		timeout "$limit" "$t" 2>&1 | tee "$out"
	fi
	rc=${PIPESTATUS[0]}
	while IFS= read -r line; do
		skips+=("$line")
	done < <(grep -a '^SKIP: ' "$out")
	case $rc in
	0) pass=$((pass + 1)) ;;
	77) skip=$((skip + 1)) ;;
	124) fail=$((fail + 1)); failed+=("$t (timed out after ${limit}s)") ;;
	*) fail=$((fail + 1)); failed+=("$t (exit $rc)") ;;
	esac
	# A failure's own words, repeated under the summary: CI keeps only
	# the tail of the output.  Check prints FILE:LINE:F|E:CASE:...;
	# a script or a setup that failed before Check ran leaves its last
	# lines instead.
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		lines=$(grep -aE '^[^ :]+:[0-9]+:[EF]:' "$out" | head -n 8)
		[ -n "$lines" ] || lines=$(tail -n 8 "$out")
		while IFS= read -r line; do
			why+=("$t: $line")
		done <<<"$lines"
	fi
done

echo "== $label: $# suites: $pass passed, $fail failed, $skip skipped;" \
	"${#skips[@]} skip notices"
for s in "${skips[@]}"; do
	echo "   $s"
done
for f in "${failed[@]}"; do
	echo "   FAILED: $f"
done
for w in "${why[@]}"; do
	echo "   $w"
done
[ "$fail" -eq 0 ]
