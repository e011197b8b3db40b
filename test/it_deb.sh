#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# it_deb: the Debian package as an operator meets it.  Builds it (`make
# deb`), installs it with dpkg -i, runs each binary's --version from
# /usr/bin, reads the man pages with man, checks the example config, runs
# `systemd-analyze verify` on the installed units, then starts a cache node
# and a mount with the units' own command lines (ExecStart, ExecStartPost,
# ExecReload, ExecStop, paths rewritten to a scratch config and mount
# point) and reads a dataset through it; no module_dir is set, so the node
# must find its backends in /usr/lib/sluice.  Then dpkg -r (the conffile
# stays), dpkg -P, and the file lists of /usr, /etc and dpkg's database
# must be what they were before.  Between, both fstab forms the README
# gives mount the installed client.  systemd itself is not PID 1 here: what
# systemd does with the units beyond their command lines is not covered.
set -euo pipefail
T=it_deb
source "$(dirname "$0")/helper.sh"

[ "$(id -u)" -eq 0 ] || th_skip "needs root (dpkg -i)"
[ -c /dev/fuse ] || th_skip "no /dev/fuse"
if dpkg-query -W -f='${Status}' sluice 2>/dev/null | grep -q 'ok installed'; then
	th_skip "a sluice package is installed on this machine; not replacing it"
fi
command -v systemd-analyze >/dev/null || th_fail "systemd-analyze missing (scripts/install-deps.sh)"

B=${SLUICE_BUILD:-build}
deb=$ROOT/$B/sluice_${SL_VERSION}_$(dpkg --print-architecture).deb
make -s -C "$ROOT" B="$B" deb
[ -f "$deb" ] || th_fail "make deb made no $deb"

# What the machine holds before; __pycache__ comes and goes with Python.
snapshot() {
	find /usr /etc /var/lib/dpkg/info -xdev 2>/dev/null |
		grep -v '/__pycache__' | sort
}
snapshot >"$TMP/before"
th_at_exit 'dpkg-query -W sluice >/dev/null 2>&1 && dpkg -P sluice >/dev/null'

dpkg -i "$deb" >"$TMP/dpkg.log" 2>&1 || {
	cat "$TMP/dpkg.log"
	th_fail "dpkg -i $deb failed"
}
th_ok "dpkg -i"

for f in /usr/bin/sluice-cachenode /usr/bin/sluice-fuse /usr/bin/sluicectl \
	/usr/lib/sluice/sluice_backend_posix.so \
	/usr/lib/sluice/sluice_backend_s3.so \
	/usr/lib/sluice/sluice_backend_webhdfs.so \
	/usr/lib/systemd/system/sluice-cachenode@.service \
	/usr/lib/systemd/system/sluice-fuse.service \
	/etc/sluice/cluster.conf; do
	dpkg -S "$f" >/dev/null 2>&1 || th_fail "$f is not in the package"
done
grep -qx /etc/sluice/cluster.conf /var/lib/dpkg/info/sluice.conffiles ||
	th_fail "/etc/sluice/cluster.conf is not a conffile"

for b in sluice-cachenode sluice-fuse sluicectl; do
	out=$("/usr/bin/$b" --version 2>&1) || th_fail "$b --version failed: $out"
	[[ $out == "$b $SL_VERSION"* ]] || th_fail "$b --version: '$out'"
done
th_ok "each binary's --version says $SL_VERSION"

# The pages man finds, rendered, with what each is about.
for page in "8 sluice-cachenode --node" "8 sluice-fuse --config" \
	"8 sluicectl --timeout" "5 sluice.conf ram_capacity"; do
	set -- $page
	where=$(man -w "$2")
	[ "$where" = "/usr/share/man/man$1/$2.$1.gz" ] ||
		th_fail "man -w $2: '$where'"
	MANWIDTH=100 man "$1" "$2" 2>/dev/null | grep -q -- "$3" ||
		th_fail "man $1 $2 does not mention $3"
done
th_ok "man pages sluice-cachenode(8) sluice-fuse(8) sluicectl(8) sluice.conf(5)"

/usr/bin/sluicectl -c /etc/sluice/cluster.conf ring >/dev/null ||
	th_fail "the example /etc/sluice/cluster.conf does not load"

# systemd-analyze verify prints warnings (unknown keys, bad values) and
# still exits 0: any output fails too.
unitdir=/usr/lib/systemd/system
cp "$unitdir/sluice-cachenode@.service" "$TMP/sluice-cachenode@n1.service"
for u in "$TMP/sluice-cachenode@n1.service" "$unitdir/sluice-fuse.service"; do
	if ! out=$(systemd-analyze verify "$u" 2>&1) || [ -n "$out" ]; then
		th_fail "systemd-analyze verify $u: $out"
	fi
done
th_ok "systemd-analyze verify: both units"

th_cluster
mnt=$TMP/datasets
th_mounts+=("$mnt")

# unit_cmds UNIT KEY: the unit's KEY= command lines as a shell runs them:
# our config and mount point for the packaged ones, instance n1, systemd's
# $$ as the shell's $, and no prefix characters (-, @, +, !, :).
unit_cmds() {
	sed -n "s/^$2=[-@+!:]*//p" "$unitdir/$1" |
		sed -e "s|/etc/sluice/cluster.conf|$TMP/cluster.conf|g" \
			-e "s|/datasets|$mnt|g" -e 's|%i|n1|g' -e 's|\$\$|$|g'
}
run_unit_cmds() {
	local c
	while IFS= read -r c; do
		timeout 60 bash -c "$c" || th_fail "$1 $2: '$c' failed"
	done < <(unit_cmds "$1" "$2")
}

node_unit=sluice-cachenode@.service
SLUICE_DRAIN_GRACE=1s th_start "$TMP/node.log" bash -c "exec $(unit_cmds $node_unit ExecStart)"
node=$th_pid
th_wait 20 /usr/bin/sluicectl -c "$TMP/cluster.conf" status ||
	th_fail "the node from the unit's ExecStart is not up: $(cat "$TMP/node.log")"
MAINPID=$node run_unit_cmds $node_unit ExecReload
th_wait 10 grep -q 'SIGHUP: reloading' "$TMP/node.log" ||
	th_fail "ExecReload: the node did not reload"
th_ok "cache node from $node_unit (modules from /usr/lib/sluice), reloaded"

fuse_unit=sluice-fuse.service
run_unit_cmds $fuse_unit ExecStartPre
th_start "$TMP/fuse.log" bash -c "exec $(unit_cmds $fuse_unit ExecStart)"
fuse=$th_pid
MAINPID=$fuse run_unit_cmds $fuse_unit ExecStartPost
th_check_mount "$mnt"
grep -q " $mnt fuse.sluice ro," /proc/mounts || th_fail "$mnt is not a ro fuse.sluice mount"
MAINPID=$fuse run_unit_cmds $fuse_unit ExecStop
rc=0
timeout 20 tail --pid="$fuse" -f /dev/null || th_fail "the client outlived ExecStop"
wait "$fuse" || rc=$?
[ "$rc" -eq 0 ] || th_fail "the client exited $rc after ExecStop: $(cat "$TMP/fuse.log")"
! mountpoint -q "$mnt" || th_fail "$mnt still mounted after ExecStop"
th_ok "mount from $fuse_unit read right, unmounted by ExecStop, client exit 0"

# fstab, as the README writes it: the installed client by its bare name
# (mount.fuse3 finds it in /usr/bin), and the fuse.sluice-fuse type.
mnt2=$TMP/datasets2
mkdir -p "$mnt2"
th_mounts+=("$mnt2")
th_at_exit 'for p in $(pgrep -f "sluice-fuse $TMP/cluster.conf"); do kill -KILL "$p"; done'
cat >"$TMP/fstab" <<END
sluice-fuse#$TMP/cluster.conf $mnt fuse ro,allow_other,_netdev 0 0
$TMP/cluster.conf $mnt2 fuse.sluice-fuse ro,allow_other,_netdev 0 0
END
for m in "$mnt" "$mnt2"; do
	mount --fstab "$TMP/fstab" "$m" || th_fail "mount --fstab: $(grep " $m " "$TMP/fstab")"
	th_check_mount "$m"
	umount "$m" || th_fail "umount $m"
done
th_wait 10 sh -c "! pgrep -f 'sluice-fus[e] $TMP/cluster.conf'" ||
	th_fail "a client outlived its umount"
th_ok "fstab lines 'sluice-fuse#CONF' and type fuse.sluice-fuse mount, read, umount"

# systemctl stop: SIGTERM, a drain for the unit's grace, then the stop;
# SIGKILL after TimeoutStopSec, which must cover the grace plus the
# node's 7 s.  The node ran with a 1 s grace (SLUICE_DRAIN_GRACE above).
stop_s=$(sed -n 's/^TimeoutStopSec=//p' "$unitdir/$node_unit")
grace=$(sed -n 's/^Environment=SLUICE_DRAIN_GRACE=\([0-9]*\)s$/\1/p' "$unitdir/$node_unit")
[ -n "$grace" ] && [ "$stop_s" -ge $((grace + 10)) ] ||
	th_fail "TimeoutStopSec=$stop_s does not cover SLUICE_DRAIN_GRACE=${grace}s plus 10 s"
kill -TERM "$node"
rc=0
timeout "$stop_s" tail --pid="$node" -f /dev/null ||
	th_fail "the node outlived TimeoutStopSec=$stop_s after SIGTERM"
wait "$node" || rc=$?
[ "$rc" -eq 0 ] || th_fail "the node exited $rc on SIGTERM: $(cat "$TMP/node.log")"
grep -q 'SIGTERM: draining for 1000 ms' "$TMP/node.log" ||
	th_fail "the unit's node did not drain on SIGTERM: $(cat "$TMP/node.log")"
th_ok "the node drained on SIGTERM (grace ${grace}s in the unit) and stopped within TimeoutStopSec=$stop_s, exit 0"

# Enabled units leave links in /etc; a purge takes them away.
systemctl enable sluice-cachenode@n1.service sluice-fuse.service >/dev/null 2>&1 ||
	th_fail "systemctl enable of the installed units failed"
ls /etc/systemd/system/multi-user.target.wants/sluice-cachenode@n1.service >/dev/null ||
	th_fail "systemctl enable made no link"

dpkg -r sluice >"$TMP/dpkg.log" 2>&1 || th_fail "dpkg -r: $(cat "$TMP/dpkg.log")"
[ ! -e /usr/bin/sluice-cachenode ] && [ ! -e /usr/lib/sluice ] ||
	th_fail "dpkg -r left binaries or modules"
[ -f /etc/sluice/cluster.conf ] || th_fail "dpkg -r removed the conffile"
dpkg -P sluice >"$TMP/dpkg.log" 2>&1 || th_fail "dpkg -P: $(cat "$TMP/dpkg.log")"
snapshot >"$TMP/after"
if ! diff "$TMP/before" "$TMP/after" >"$TMP/diff"; then
	cat "$TMP/diff"
	th_fail "dpkg -P left the machine different (above)"
fi
th_ok "dpkg -r kept /etc/sluice/cluster.conf; dpkg -P left nothing behind"
echo "it_deb: 1 passed, 0 failed"
