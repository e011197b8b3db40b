#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Big-file workloads: fio jobs and numpy.memmap windows over one file.

Training reads big files at random as often as it streams them: memmap
windows over a tokenized corpus, LMDB and HDF5 datasets, indexed shards.
These workloads measure that on one big file (bench/run.sh makes it, 1 GiB;
256 MiB with --quick), on a freshly started filesystem:

  fio FILE      reads FILE once, sequentially, so that it is warm in the
                filesystem's own cache (the cache nodes, for Sluice), then
                runs each fio job of JOBS (as Alluxio publishes its FUSE
                figures: sequential and random, 4 KiB and 256 KiB, 1 and 4
                jobs, O_DIRECT and buffered), each for --runtime seconds;
                buffered jobs start with the page cache dropped and read
                the file at most once per job (see fio() for why).
  memmap FILE   reads FILE once as above, drops the page cache, then a
                PyTorch DataLoader (4 workers, batch 64) over a Dataset of
                random --window-byte windows of numpy.memmap(FILE):
                samples/s.

Records are JSON lines on stdout, with workload.py's tags and node
counters (bytes the nodes served per phase).  Needs root (drop_caches).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import workload as wl

# (name, fio rw, block size, jobs, direct)
JOBS = [(f"{rw}-{bs}-{n}j-{'direct' if d else 'buffered'}", rw, bs, n, d)
        for rw in ("read", "randread")
        for bs in ("4k", "256k")
        for n in (1, 4)
        for d in (1, 0)]


def warm(path):
    """Read path once with 1 MiB reads; returns seconds."""
    t0 = time.monotonic()
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(1 << 20)
        while f.readinto(buf):
            pass
    return time.monotonic() - t0


def fio(path, rw, bs, jobs, direct, runtime):
    """One fio job over path; returns (iops, bytes per second, bytes).

    An O_DIRECT job loops over the file for the whole runtime.  A buffered
    one stops after one pass (each job's random map touches every block of
    the file once) or at the runtime, whichever comes first: looped, the
    job that finishes its first pass sooner then reads nothing but the
    page cache, at millions of IOPS, for the rest of the time -- with a
    256 MiB file passthrough_ll's 4 KiB random job did after about 1.5 s
    of its 3, and measured 30x Sluice for 3x the per-miss speed.  One pass
    measures what the reads cost, misses and the hits the readers make for
    each other, the same work on every system."""
    cmd = ["fio", "--name=bench", "--filename=" + path, "--readonly",
           "--rw=" + rw, "--bs=" + bs, "--numjobs=%d" % jobs,
           "--direct=%d" % direct, "--ioengine=psync",
           "--runtime=%d" % runtime, "--group_reporting",
           "--size=%d" % os.stat(path).st_size, "--invalidate=0",
           "--randrepeat=0", "--output-format=json"]
    if direct:
        cmd.append("--time_based")
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       check=False)
    if p.returncode != 0:
        raise OSError("fio %s: %s" % (rw, p.stderr.decode()[-300:]))
    r = json.loads(p.stdout)["jobs"][0]
    if r.get("error"):
        raise OSError("fio %s: error %d" % (rw, r["error"]))
    return r["read"]["iops"], r["read"]["bw_bytes"], r["read"]["io_bytes"]


def run_fio(a):
    ctr = wl.Counters(a.metrics)
    wl.say("warm-up: %.1f s" % warm(a.file))
    for name, rw, bs, jobs, direct in JOBS:
        if a.only and name not in a.only.split(","):
            continue
        wl.drop_caches(1)
        ctr.start()
        iops, bw, nbytes = fio(a.file, rw, bs, jobs, direct, a.runtime)
        wl.say("fio %s: %.0f IOPS, %.1f MB/s" % (name, iops, bw / 1e6))
        wl.emit(workload="fio", phase=name, iops=round(iops, 1),
                mb_per_s=round(bw / 1e6, 2), seconds=a.runtime, bytes=nbytes,
                **ctr.delta())
    wl.sample_rss(wl.parse_pids(a.pids), "fio-end")
    return 0


def run_memmap(a):
    import numpy as np
    import torch
    from torch.utils.data import DataLoader, Dataset, RandomSampler

    size = os.stat(a.file).st_size
    windows = size // a.window

    class Windows(Dataset):
        """Sample i = bytes [i * window, (i + 1) * window) of a memmap
        (opened in each worker, after the fork)."""

        def __init__(self):
            self.mm = None

        def __len__(self):
            return windows

        def __getitem__(self, i):
            if self.mm is None:
                self.mm = np.memmap(a.file, dtype=np.uint8, mode="r")
            w = self.mm[i * a.window:(i + 1) * a.window]
            return torch.from_numpy(np.array(w))

    ctr = wl.Counters(a.metrics)
    wl.say("warm-up: %.1f s" % warm(a.file))
    wl.drop_caches(1)
    torch.manual_seed(0)
    dl = DataLoader(Windows(), batch_size=a.batch, num_workers=a.workers,
                    sampler=RandomSampler(range(windows), replacement=True,
                                          num_samples=a.samples))
    n = 0
    ctr.start()
    t0 = time.monotonic()
    for batch in dl:
        n += batch.shape[0]
    dt = time.monotonic() - t0
    if n != a.samples:
        print("bigfile: %d of %d samples" % (n, a.samples), file=sys.stderr)
        return 1
    wl.say("memmap: %d windows of %d bytes in %.2f s: %.0f samples/s"
           % (n, a.window, dt, n / dt))
    wl.emit(workload="memmap", phase="warm", files=n, bytes=n * a.window,
            seconds=round(dt, 4),
            samples_per_s=round(n / dt, 2), **ctr.delta())
    wl.sample_rss(wl.parse_pids(a.pids), "memmap-end")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workload", choices=["fio", "memmap"])
    ap.add_argument("file", help="the big file, as the filesystem shows it")
    ap.add_argument("--runtime", type=int, default=10,
                    help="seconds per fio job")
    ap.add_argument("--only", default="",
                    help="fio jobs to run, comma-separated names")
    ap.add_argument("--samples", type=int, default=100000)
    ap.add_argument("--window", type=int, default=2048)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    wl.common_args(ap)
    a = ap.parse_args()
    wl.set_tags(a.tag)
    try:
        return {"fio": run_fio, "memmap": run_memmap}[a.workload](a)
    except Exception as e:  # a worker's I/O error arrives re-raised
        print("bigfile: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
