#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Run one benchmark workload over a directory and print JSON lines.

"Drop caches" below is `sync; echo N > /proc/sys/vm/drop_caches`: N = 3
(page cache, dentries and inodes) before a cold phase, N = 1 (page cache
only) before a "cached" phase.

Workloads (each one invocation, against a freshly started filesystem):

  dataloader ROOT   PyTorch DataLoader over ROOT/train (4 workers, batch 64,
                    shuffle, whole files, no decode).  Drops the page cache,
                    lists the files (untimed, like ImageFolder's scan), then
                    times epoch 1 ("cold") and epoch 2 ("warm"), samples the
                    RSS of --pids, drops the kernel page cache again (only
                    the page cache: dentries and inodes stay warm, as in a
                    real second epoch) and times epoch 3 ("cached": served
                    by the filesystem's own cache, if it has one), and
                    samples RSS again.
  shards ROOT       ROOT/shards/*: N reader threads take whole shards from a
                    queue and read them with 1 MiB read(2) calls.  Phases
                    cold, warm, cached as above.
  metawalk ROOT     `find ROOT -printf '%s'` (an lstat per entry): drops the
                    page cache and walks ("cold"), then walks again ("warm").

Every record is one JSON object per line on stdout, carrying the --tag
key=value pairs given (system, run).  Progress goes to stderr.  Needs root
for /proc/sys/vm/drop_caches.
"""
import argparse
import json
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))

TAGS = {}


def emit(**rec):
    out = dict(TAGS)
    out.update(rec)
    print(json.dumps(out, sort_keys=True), flush=True)


def common_args(ap):
    """The options every workload script takes: --pids, --metrics, --tag."""
    ap.add_argument("--pids", default="",
                    help="NAME=PID,... whose RSS to record")
    ap.add_argument("--metrics", default="",
                    help="HOST:PORT,... of cache-node metrics to record")
    ap.add_argument("--tag", action="append", default=[],
                    help="KEY=VALUE added to every record (repeatable)")


def run_threads(ts):
    """Start the threads ts, wait for them all; returns the seconds."""
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return time.monotonic() - t0


def set_tags(tags):
    """--tag KEY=VALUE pairs into TAGS (numbers as numbers)."""
    for t in tags:
        k, _, v = t.partition("=")
        TAGS[k] = int(v) if v.isdigit() else v


def say(msg):
    print("    %s" % msg, file=sys.stderr, flush=True)


def drop_caches(what=3):
    """Flush dirty pages, then drop the page cache (1) or the page cache,
    dentries and inodes (3, for cold phases)."""
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("%d\n" % what)


def proc_mem(pid):
    """(VmRSS, VmHWM) of a process in KiB, or (None, None) if gone."""
    rss = hwm = None
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


def children(pid):
    """The pids of a process's children (none when it is gone)."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def sample_rss(pids, when):
    """One "rss" record per process, its children's memory added (the
    sluice-fuse PID the harness starts is the supervisor; the worker that
    holds the block cache is its child); `when` names the workload and
    moment."""
    for name, pid in pids:
        rss, hwm = proc_mem(pid)
        if rss is None:
            continue
        for c in children(pid):
            crss, chwm = proc_mem(c)
            rss += crss or 0
            hwm += chwm or 0
        emit(workload="rss", proc=name, when=when, vmrss_kib=rss,
             vmhwm_kib=hwm)


def parse_pids(s):
    out = []
    for item in filter(None, s.split(",")):
        name, _, pid = item.partition("=")
        out.append((name, int(pid)))
    return out


# Cache-node counters recorded per phase (summed over nodes), to show who
# served it: block hits and misses, bytes the nodes served, bytes they
# fetched from the backend.
COUNTERS = {"sluice_cache_hits_total": "node_hits",
            "sluice_cache_misses_total": "node_misses",
            "sluice_bytes_served_total": "node_bytes",
            "sluice_backend_read_bytes_total": "backend_bytes"}


def scrape(addrs):
    """Sum COUNTERS over the nodes' Prometheus endpoints; {} without any."""
    out = {}
    for a in addrs:
        try:
            text = urllib.request.urlopen("http://%s/metrics" % a,
                                          timeout=5).read().decode()
        except OSError:
            continue
        for line in text.splitlines():
            if line.startswith("#") or " " not in line:
                continue
            name, _, val = line.rpartition(" ")
            key = COUNTERS.get(name.split("{", 1)[0])
            if key:
                out[key] = out.get(key, 0) + float(val)
    return out


class Counters:
    """Deltas of the cache nodes' counters across one phase."""

    def __init__(self, addrs):
        self.addrs = [x for x in addrs.split(",") if x]
        self.before = {}

    def start(self):
        self.before = scrape(self.addrs) if self.addrs else {}

    def delta(self):
        if not self.addrs:
            return {}
        after = scrape(self.addrs)
        return {k: int(after.get(k, 0) - self.before.get(k, 0))
                for k in COUNTERS.values() if k in after}


# -- DataLoader ------------------------------------------------------------

def run_dataloader(a):
    import torch
    from torch.utils.data import DataLoader
    # scripts/loader.py: one listing rule, one dataset of whole files
    from loader import Files, collate, list_files

    class Sizes(Files):
        """One sample = one whole file's size: read and thrown away, no
        digest (the reads are what is measured)."""

        def __getitem__(self, i):
            with open(self.path(i), "rb", buffering=0) as f:
                return len(f.read())

    root = os.path.join(a.root, "train")
    drop_caches()
    t0 = time.monotonic()
    names = list_files(root, set())
    say("listed %d files in %.2f s" % (len(names), time.monotonic() - t0))
    if not names:
        print("workload: no files under %s" % root, file=sys.stderr)
        return 1
    warnings.filterwarnings("ignore", message=".*worker processes in total.*")
    torch.manual_seed(0)
    # Persistent workers: the fork happens once, in the cold epoch, and the
    # warm epochs time reads rather than process start-up.
    dl = DataLoader(Sizes(root, names), batch_size=a.batch, shuffle=True,
                    num_workers=a.workers, collate_fn=collate,
                    persistent_workers=a.workers > 0)
    pids = parse_pids(a.pids)
    ctr = Counters(a.metrics)
    phases = ["cold", "warm"] + (["cached"] if a.cached else [])
    for ep, phase in enumerate(phases, 1):
        if phase == "cached":
            sample_rss(pids, "dataloader-after-2-epochs")
            drop_caches(1)
        nfiles = nbytes = 0
        ctr.start()
        t0 = time.monotonic()
        for batch in dl:
            nfiles += len(batch)
            nbytes += sum(batch)
        dt = time.monotonic() - t0
        if nfiles != len(names):
            print("workload: epoch %d read %d of %d files" %
                  (ep, nfiles, len(names)), file=sys.stderr)
            return 1
        say("epoch %d (%s): %d files, %.1f MiB in %.2f s: %.0f files/s"
            % (ep, phase, nfiles, nbytes / 2**20, dt, nfiles / dt))
        emit(workload="dataloader", phase=phase, files=nfiles, bytes=nbytes,
             seconds=round(dt, 4), files_per_s=round(nfiles / dt, 2),
             mb_per_s=round(nbytes / dt / 1e6, 2), **ctr.delta())
    sample_rss(pids, "dataloader-end")
    return 0


# -- Sequential shards -------------------------------------------------------

def read_shards(paths, readers, bs):
    """Read every path once with `readers` threads; returns (bytes, secs)."""
    q = queue.Queue()
    for p in paths:
        q.put(p)
    total = [0] * readers
    errors = []

    def reader(k):
        buf = bytearray(bs)
        while True:
            try:
                p = q.get_nowait()
            except queue.Empty:
                return
            try:
                with open(p, "rb", buffering=0) as f:
                    while True:
                        n = f.readinto(buf)  # one read(2), GIL released
                        if not n:
                            break
                        total[k] += n
            except OSError as e:
                errors.append("%s: %s" % (p, e))
                return

    dt = run_threads([threading.Thread(target=reader, args=(k,))
                      for k in range(readers)])
    if errors:
        raise OSError("; ".join(errors))
    return sum(total), dt


def run_shards(a):
    d = os.path.join(a.root, "shards")
    paths = sorted(os.path.join(d, n) for n in os.listdir(d))
    want = sum(os.stat(p).st_size for p in paths)
    pids = parse_pids(a.pids)
    ctr = Counters(a.metrics)
    phases = ["cold", "warm"] + (["cached"] if a.cached else [])
    for phase in phases:
        if phase in ("cold", "cached"):
            drop_caches(3 if phase == "cold" else 1)
        ctr.start()
        nbytes, dt = read_shards(paths, a.readers, a.block)
        if nbytes != want:
            print("workload: read %d of %d bytes" % (nbytes, want),
                  file=sys.stderr)
            return 1
        say("shards (%s): %d x %.0f MiB in %.2f s: %.1f MB/s"
            % (phase, len(paths), want / len(paths) / 2**20, dt,
               nbytes / dt / 1e6))
        emit(workload="shards", phase=phase, files=len(paths), bytes=nbytes,
             seconds=round(dt, 4), mb_per_s=round(nbytes / dt / 1e6, 2),
             **ctr.delta())
    sample_rss(pids, "shards-end")
    return 0


# -- Metadata walk -------------------------------------------------------------

def run_metawalk(a):
    for phase in ("cold", "warm"):
        if phase == "cold":
            drop_caches()
        t0 = time.monotonic()
        p = subprocess.run(["find", a.root, "-printf", "%s\n"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           check=False)
        dt = time.monotonic() - t0
        n = p.stdout.count(b"\n")
        if p.returncode != 0:
            print("workload: find failed: %s" % p.stderr.decode()[-500:],
                  file=sys.stderr)
            return 1
        say("metawalk (%s): %d entries in %.2f s: %.0f entries/s"
            % (phase, n, dt, n / dt))
        emit(workload="metawalk", phase=phase, files=n, seconds=round(dt, 4),
             entries_per_s=round(n / dt, 2))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workload", choices=["dataloader", "shards", "metawalk"])
    ap.add_argument("root", help="dataset root (holds train/ and shards/)")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--readers", type=int, default=4)
    ap.add_argument("--block", type=int, default=1 << 20)
    ap.add_argument("--no-cached", dest="cached", action="store_false",
                    help="skip the page-cache-dropped warm phase")
    common_args(ap)
    a = ap.parse_args()
    set_tags(a.tag)
    fn = {"dataloader": run_dataloader, "shards": run_shards,
          "metawalk": run_metawalk}[a.workload]
    try:
        return fn(a)
    except Exception as e:  # a worker's I/O error arrives re-raised
        print("workload: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
