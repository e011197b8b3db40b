#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The soak's readers and sampler (bench/soak.sh).

usage: soak_readers.py MOUNT_DIR SOURCE_DIR DURATION_S FUSE_PID NODE_PIDS_FILE

64 threads read random whole files from MOUNT_DIR for DURATION_S seconds
and compare each with its source, dropping its pages from the kernel's
cache after each read (so that reads reach the client and the nodes); every 10 s the RSS of the client (its
supervisor and worker processes) and of the nodes (the PIDs the file
names now, summed) is sampled.  Prints one line per sample, then the
summary: reads, read errors, and first/last minute mean and peak RSS.
Exits 1 when any read failed.
"""
import os
import random
import sys
import threading
import time

READERS = 64
SAMPLE_S = 10


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
    except OSError:
        pass
    return 0


def client_rss(sup):
    kids = []
    try:
        with open("/proc/%d/task/%d/children" % (sup, sup)) as f:
            kids = [int(k) for k in f.read().split()]
    except OSError:
        pass
    return rss_kib(sup) + sum(rss_kib(k) for k in kids)


def node_rss(path):
    try:
        with open(path) as f:
            return sum(rss_kib(int(p)) for p in f.read().split())
    except (OSError, ValueError):
        return 0


def main():
    mnt, src, duration = sys.argv[1], sys.argv[2], float(sys.argv[3])
    sup, pids = int(sys.argv[4]), sys.argv[5]
    names = sorted(os.listdir(src))
    want = {}
    for n in names:
        with open(os.path.join(src, n), "rb") as f:
            want[n] = f.read()
    end = time.monotonic() + duration
    lock = threading.Lock()
    count = {"reads": 0, "errors": 0}

    def reader(seed):
        r = random.Random(seed)
        while time.monotonic() < end:
            n = r.choice(names)
            try:
                with open(os.path.join(mnt, n), "rb") as f:
                    ok = f.read() == want[n]
                    # Out of the page cache, so that the next read of it
                    # reaches the client and, past its cache, the nodes.
                    os.posix_fadvise(f.fileno(), 0, 0,
                                     os.POSIX_FADV_DONTNEED)
                why = "bytes differ"
            except OSError as e:
                ok, why = False, str(e)
            with lock:
                count["reads"] += 1
                if not ok:
                    count["errors"] += 1
                    print("read error: %s: %s" % (n, why), file=sys.stderr)

    threads = [threading.Thread(target=reader, args=(i,))
               for i in range(READERS)]
    for t in threads:
        t.start()
    samples = []  # (t, client KiB, nodes KiB)
    t0 = time.monotonic()
    while time.monotonic() < end:
        time.sleep(min(SAMPLE_S, max(0, end - time.monotonic())))
        s = (time.monotonic() - t0, client_rss(sup), node_rss(pids))
        samples.append(s)
        with lock:
            print("soak: t=%4.0fs reads %d errors %d client %d KiB nodes "
                  "%d KiB" % (s[0], count["reads"], count["errors"], s[1],
                              s[2]), flush=True)
    for t in threads:
        t.join()

    def summary(k, what):
        first = [s[k] for s in samples if s[0] <= 60]
        last = [s[k] for s in samples if s[0] >= samples[-1][0] - 60]
        mean = lambda v: sum(v) / len(v) / 1024 if v else 0
        print("soak: %s RSS: first minute %.1f MiB, last minute %.1f MiB, "
              "peak %.1f MiB" % (what, mean(first), mean(last),
                                 max(s[k] for s in samples) / 1024))

    print("soak: %d readers, %.0f s: %d reads, %d read errors"
          % (READERS, duration, count["reads"], count["errors"]))
    if samples:
        summary(1, "client")
        summary(2, "nodes (3, summed)")
    sys.exit(1 if count["errors"] else 0)


main()
