#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# What a worker crash and an upgrade cost a reader of the mount.  Starts
# one cache node and a mount over a small posix dataset, and a reader
# that reads 4 KiB with O_DIRECT (so every read is a FUSE request) over
# and over; then kills the client's worker with SIGKILL ROUNDS times and
# upgrades it ROUNDS times, and prints, for each, the time from the kill
# (or the upgrade command) to the next read served, the longest read, and
# the reads that failed; then the supervisor's and the worker's RSS.
#
#   bench/restart.sh [ROUNDS]      default 10
#
# Needs root (FUSE), build/ built (make), python3.  Everything it starts
# is stopped by PID, and its directory removed, on exit.
set -eu

ROUNDS=${1:-10}
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /dev/shm/sluice-restart-XXXXXX)
. "$HERE/bench/lib_mount.sh"
bench_conf restart ""
for i in $(seq 0 99); do
	head -c 262144 /dev/urandom >"$WORK/src/f$i"
done
bench_mount

python3 - "$WORK/mnt/ds" "$FUSE_PID" "$ROUNDS" "$BUILD/sluice-fuse" "$WORK/mnt" <<'EOF'
import mmap, os, signal, statistics, subprocess, sys, threading, time

root, sup, rounds, binary, mnt = sys.argv[1], int(sys.argv[2]), \
    int(sys.argv[3]), sys.argv[4], sys.argv[5]
done = []          # (start, end) of every read served
failed = [0]
stop = threading.Event()

def reader():
    buf = mmap.mmap(-1, 4096)
    fds = [os.open(os.path.join(root, "f%d" % i), os.O_RDONLY | os.O_DIRECT)
           for i in range(100)]
    k = 0
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            os.preadv(fds[k % 100], [buf], (k * 4096) % 262144)
            done.append((t0, time.monotonic()))
        except OSError as e:
            failed[0] += 1
            print("read failed: %s" % e, file=sys.stderr)
        k += 1

def worker():
    with open("/proc/%d/task/%d/children" % (sup, sup)) as f:
        kids = f.read().split()
    return int(kids[0]) if kids else None

def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        return {l.split(":")[0]: int(l.split()[1]) for l in f
                if l.startswith(("VmRSS", "VmHWM"))}

def gap_after(t):
    # The end of the first read started after t: when the mount
    # answered a new request again.
    ends = [e for s, e in list(done) if s >= t]
    return (min(ends) - t) * 1000 if ends else float("nan")

def longest(t0, t1):
    return max(((e - s) * 1000 for s, e in list(done) if e > t0 and s < t1),
               default=float("nan"))

def wait_worker(old):
    for _ in range(2000):
        w = worker()
        if w and w != old:
            return w
        time.sleep(0.005)
    raise SystemExit("no new worker")

th = threading.Thread(target=reader, daemon=True)
th.start()
time.sleep(1)
for what in ("kill -9", "upgrade"):
    gaps, worst = [], []
    for r in range(rounds):
        w = worker()
        time.sleep(0.3)
        t = time.monotonic()
        if what == "kill -9":
            os.kill(w, signal.SIGKILL)
            wait_worker(w)
        else:
            subprocess.run([binary, "--upgrade", mnt], check=True,
                           stdout=subprocess.DEVNULL)
        time.sleep(0.3)
        gaps.append(gap_after(t))
        worst.append(longest(t - 0.01, time.monotonic()))
    print("%-8s x%d: next read served %.1f ms after (median; max %.1f); "
          "longest read %.1f ms (median; max %.1f)"
          % (what, rounds, statistics.median(gaps), max(gaps),
             statistics.median(worst), max(worst)))
stop.set()
th.join()
print("reads: %d served, %d failed" % (len(done), failed[0]))
s, w = rss(sup), rss(worker())
print("RSS: supervisor %d kB (peak %d), worker %d kB (peak %d)"
      % (s["VmRSS"], s["VmHWM"], w["VmRSS"], w["VmHWM"]))
sys.exit(1 if failed[0] else 0)
EOF
