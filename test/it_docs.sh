#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# it_docs: the man pages and the README say what the code does.  Builds
# the pages (`make man`), renders each with groff's warnings on (none
# allowed), checks that every option a binary's --help lists is in its
# page, and that the configuration keys of the README's tables are the
# parser's and all in sluice.conf(5) (test/docs_keys.py).
set -euo pipefail
T=it_docs
source "$(dirname "$0")/helper.sh"

command -v help2man >/dev/null || th_fail "help2man missing (scripts/install-deps.sh)"
B=${SLUICE_BUILD:-build}
make -s -C "$ROOT" B="$B" man
man=$ROOT/$B/man

for p in "$man"/*.[58]; do
	warn=$(groff -man -ww -z "$p" 2>&1)
	[ -z "$warn" ] || th_fail "groff warns about $p: $warn"
done
th_ok "groff renders $(ls "$man" | wc -l) pages without a warning"

for b in sluice-cachenode sluice-fuse sluicectl; do
	page=$(sed 's/\\-/-/g; s/\\f[BIRP]//g' "$man/$b.8")
	grep -q '^\.SH SYNOPSIS' "$man/$b.8" || th_fail "$b.8 has no SYNOPSIS (--help's Usage: line)"
	for opt in $("$ROOT/$B/$b" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
		grep -q -- "$opt" <<<"$page" || th_fail "$b --help lists $opt, $b.8 does not"
	done
done
th_ok "every --help option is in its man page"

/usr/bin/python3 "$ROOT/test/docs_keys.py" "$ROOT" "$man/sluice.conf.5" ||
	th_fail "README, common/configkeys.c and sluice.conf(5) disagree (above)"
echo "it_docs: 1 passed, 0 failed"
