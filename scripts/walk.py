#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Walk a tree and stat every entry, as `find -exec stat` or an indexer does.

os.walk (scandir, so readdir(plus)) and one os.stat per entry.  With --src
DIR each entry's type, size and mtime are compared with the same path under
DIR.  With --pid PID the VmRSS/VmHWM of that process (the FUSE client) are
sampled during the walk and its peak printed.  Prints one line,
`walk: dirs=D files=F stats=S mismatches=M errors=E seconds=T [rss_peak_kb=R]`,
and exits non-zero on any error or mismatch.  --make N creates N files of
a few bytes under DIR first (directories of 1,000, short names) and exits.
"""
import argparse
import os
import stat
import sys
import threading
import time


def rss_kb(pid):
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def make(root, n):
    per = 1000
    for d in range((n + per - 1) // per):
        dp = os.path.join(root, "d%04d" % d)
        os.makedirs(dp, exist_ok=True)
        for i in range(d * per, min(n, (d + 1) * per)):
            with open(os.path.join(dp, "f%d" % i), "wb") as f:
                f.write(b"x" * (i % 61))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--src")
    ap.add_argument("--pid", type=int)
    ap.add_argument("--make", type=int)
    a = ap.parse_args()
    if a.make is not None:
        make(a.root, a.make)
        return 0
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kb(a.pid).get("VmRSS", 0))
            done.wait(0.05)

    if a.pid:
        th = threading.Thread(target=sample, daemon=True)
        th.start()
    dirs = files = stats = bad = errors = 0
    t0 = time.monotonic()
    for d, subdirs, names in os.walk(a.root, onerror=lambda e: None):
        dirs += 1
        for name in subdirs + names:
            p = os.path.join(d, name)
            try:
                st = os.stat(p)
                stats += 1
            except OSError as e:
                errors += 1
                if errors <= 5:
                    print("stat %s: %s" % (p, e), file=sys.stderr)
                continue
            if name in names:
                files += 1
            if not a.src:
                continue
            try:
                ref = os.stat(os.path.join(a.src, os.path.relpath(p, a.root)))
            except OSError:
                bad += 1
                continue
            same = (stat.S_IFMT(st.st_mode) == stat.S_IFMT(ref.st_mode) and
                    (stat.S_ISDIR(st.st_mode) or
                     (st.st_size == ref.st_size and
                      st.st_mtime_ns == ref.st_mtime_ns)))
            if not same:
                bad += 1
                if bad <= 5:
                    print("differs: %s" % p, file=sys.stderr)
    secs = time.monotonic() - t0
    done.set()
    line = "walk: dirs=%d files=%d stats=%d mismatches=%d errors=%d " \
           "seconds=%.2f" % (dirs, files, stats, bad, errors, secs)
    if a.pid:
        m = rss_kb(a.pid)
        peak[0] = max(peak[0], m.get("VmRSS", 0))
        line += " rss_peak_kb=%d hwm_kb=%d" % (peak[0], m.get("VmHWM", 0))
    print(line, flush=True)
    return 1 if bad or errors else 0


if __name__ == "__main__":
    sys.exit(main())
