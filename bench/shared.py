#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The shared dataset: two mounts of one system read one dataset at once.

Two training pods on two hosts that train on the same S3 dataset at the
same time each mount it; what the slow store serves is the cost that a
shared cache exists to cut.  Given the dataset root as two mounts show it
(ROOT1, ROOT2: two sluice-fuse clients of the same cache nodes, or two
s3fs or rclone mounts with caches of their own), this drops the page
cache, then reads every file under both roots at the same time, each root
with --readers threads in its own shuffled order (as two shuffled epochs
would), and reports the pair's wall time and the bytes the S3 server read
from its store meanwhile (/proc/PID/io rchar of --s3-pid: the objects it
served, plus its small metadata files) per byte of the dataset.

One JSON line on stdout (workload "shared", phase "cold"), with
workload.py's tags and node counters.  Needs root (drop_caches, another
process's /proc/PID/io).
"""
import argparse
import os
import random
import sys
import threading

import workload as wl


def rchar(pid):
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise OSError("no rchar for pid %d" % pid)


def files_under(root):
    out = []
    for d, _, names in os.walk(root):
        out.extend(os.path.relpath(os.path.join(d, n), root) for n in names)
    return sorted(out)


def read_all(root, names, readers, seed, got, errors):
    """Read names under root with `readers` threads in a shuffled order;
    adds the bytes read to got[0]."""
    order = list(names)
    random.Random(seed).shuffle(order)
    lock = threading.Lock()

    def reader():
        buf = bytearray(1 << 20)
        while True:
            with lock:
                if not order:
                    return
                name = order.pop()
            try:
                with open(os.path.join(root, name), "rb", buffering=0) as f:
                    while True:
                        n = f.readinto(buf)
                        if not n:
                            break
                        with lock:
                            got[0] += n
            except OSError as e:
                errors.append("%s: %s" % (name, e))
                return

    ts = [threading.Thread(target=reader) for _ in range(readers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root1")
    ap.add_argument("root2")
    ap.add_argument("--s3-pid", type=int, required=True)
    ap.add_argument("--readers", type=int, default=4)
    wl.common_args(ap)
    a = ap.parse_args()
    wl.set_tags(a.tag)
    names = files_under(a.root1)
    want = sum(os.stat(os.path.join(a.root1, n)).st_size for n in names)
    if not names or files_under(a.root2) != names:
        print("shared: the two mounts list different files", file=sys.stderr)
        return 1
    ctr = wl.Counters(a.metrics)
    wl.drop_caches()
    ctr.start()
    r0 = rchar(a.s3_pid)
    got = [[0], [0]]
    errors = []
    dt = wl.run_threads([
        threading.Thread(target=read_all,
                         args=(root, names, a.readers, seed, g, errors))
        for root, seed, g in ((a.root1, 1, got[0]), (a.root2, 2, got[1]))])
    backend = rchar(a.s3_pid) - r0
    if errors or got[0][0] != want or got[1][0] != want:
        print("shared: read %d and %d of %d bytes; %s"
              % (got[0][0], got[1][0], want, "; ".join(errors[:3])),
              file=sys.stderr)
        return 1
    wl.say("shared: 2 mounts x %d files, %.0f MiB each, in %.2f s; the S3 "
           "server read %.0f MiB (%.2f x the dataset)"
           % (len(names), want / 2**20, dt, backend / 2**20, backend / want))
    wl.emit(workload="shared", phase="cold", files=len(names), bytes=2 * want,
            dataset_bytes=want, seconds=round(dt, 4),
            s3_read_bytes=backend,
            backend_per_dataset=round(backend / want, 3), **ctr.delta())
    wl.sample_rss(wl.parse_pids(a.pids), "shared-end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
