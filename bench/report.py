#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Turn bench/run.sh's raw.jsonl into results.csv, results.md and chart.png.

Each figure is the median over the runs of one (system, workload, phase).
Ratios are taken inside this one result set: against the ceiling
(passthrough_ll; for the "cached" phase, passthrough_ll warm, since both
then serve from RAM through FUSE) and against the best peer (the better of
s3fs and rclone in the same workload and phase).  The issue's targets are
checked and reported met or missed with the numbers behind them.
"""
import argparse
import csv
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys

SYSTEMS = ["local", "passthrough", "sluice-posix", "sluice-curve", "sluice-s3",
           "sluice-webhdfs", "webhdfs-raw", "s3fs", "rclone"]
LABEL = {"local": "local dir", "passthrough": "passthrough_ll",
         "sluice-posix": "Sluice posix",
         "sluice-curve": "Sluice posix, CURVE", "sluice-s3": "Sluice s3",
         "sluice-webhdfs": "Sluice webhdfs",
         "webhdfs-raw": "WebHDFS fixture, raw",
         "s3fs": "s3fs", "rclone": "rclone"}
CEILING = "passthrough"
PEERS = ["s3fs", "rclone"]
SLUICE = ["sluice-posix", "sluice-curve", "sluice-s3", "sluice-webhdfs"]
# (workload, phase, metric, unit, label)
FIGURES = [
    ("dataloader", "cold", "files_per_s", "files/s", "DataLoader, cold"),
    ("dataloader", "warm", "files_per_s", "files/s", "DataLoader, warm"),
    ("dataloader", "cached", "files_per_s", "files/s",
     "DataLoader, warm, page cache dropped"),
    ("shards", "cold", "mb_per_s", "MB/s", "Shards, cold"),
    ("shards", "warm", "mb_per_s", "MB/s", "Shards, warm"),
    ("shards", "cached", "mb_per_s", "MB/s", "Shards, warm, page cache dropped"),
    ("metawalk", "cold", "entries_per_s", "entries/s", "Metadata walk, cold"),
    ("metawalk", "warm", "entries_per_s", "entries/s", "Metadata walk, warm"),
]
EXTRA = [("dataloader", p, "mb_per_s", "MB/s") for p in ("cold", "warm",
                                                          "cached")]
PHASE_TEXT = {"cold": "cold", "warm": "warm",
              "cached": "page cache dropped"}
# The big-file workloads (bench/bigfile.py): fio jobs are phases of the
# "fio" workload, named rw-bs-jobs-mode.
FIO_JOBS = ["%s-%s-%dj-%s" % (rw, bs, n, d)
            for rw in ("read", "randread") for bs in ("4k", "256k")
            for n in (1, 4) for d in ("direct", "buffered")]


def sh(*cmd):
    try:
        return subprocess.run(cmd, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True,
                              timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def first_line(s):
    return s.splitlines()[0] if s else "?"


def machine(data):
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    osname = "?"
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    df = sh("df", "--output=source,fstype", data).splitlines()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram": "%.1f GiB" % (mem / 2**30),
        "kernel": platform.release(),
        "os": osname,
        "disk": " ".join(df[-1].split()) if len(df) > 1 else "?",
    }


def versions(root):
    s3rver = "?"
    try:
        with open(os.path.join(root, "test/s3/node_modules/s3rver/"
                               "package.json")) as f:
            s3rver = json.load(f)["version"]
    except (OSError, ValueError, KeyError):
        pass
    return {
        "sluice": sh("git", "-C", root, "describe", "--always", "--dirty"),
        "libfuse": sh("pkg-config", "--modversion", "fuse3"),
        "s3fs": first_line(sh("s3fs", "--version")).replace(
            "Amazon Simple Storage Service File System ", ""),
        "rclone": first_line(sh("rclone", "version")),
        "s3rver": s3rver,
        "node": sh("node", "--version"),
        "torch": sh("dpkg-query", "-W", "-f=${Version}", "python3-torch"),
        "python": platform.python_version(),
    }


def fmt(v):
    if v is None:
        return "–"
    if v >= 100:
        return "{:,.0f}".format(v)
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def ratio(v):
    return "–" if v is None else "%.2f×" % v


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="results folder holding raw.jsonl")
    ap.add_argument("--work", default="", help="bench work folder")
    ap.add_argument("--data", default="", help="dataset folder")
    ap.add_argument("--sluice-build", default="")
    a = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    recs = []
    with open(os.path.join(a.out, "raw.jsonl")) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                recs.append(json.loads(line))
    meta = next((r for r in recs if r["workload"] == "meta"), {})
    msl = next((r for r in recs if r["workload"] == "meta_sluice"), {})
    mend = next((r for r in recs if r["workload"] == "meta_end"), {})
    skipped = {r["system"]: r["reason"] for r in recs
               if r["workload"] == "skip"}
    errors = [r for r in recs if r["workload"] == "error"]
    asked = meta.get("systems", ",".join(SYSTEMS)).split(",")
    if "sluice-webhdfs" in asked:
        asked.append("webhdfs-raw")  # measured with it: its ceiling
    systems = [s for s in SYSTEMS if s in asked]

    vals = {}  # (system, workload, phase, metric) -> [values by run]
    for r in recs:
        for m in ("files_per_s", "mb_per_s", "entries_per_s", "iops",
                  "samples_per_s", "seconds", "backend_per_dataset"):
            if m in r and "phase" in r:
                vals.setdefault((r["system"], r["workload"], r["phase"], m),
                                []).append(r[m])

    def med(s, w, p, m):
        v = vals.get((s, w, p, m))
        return statistics.median(v) if v else None

    def ceiling(w, p, m):
        return med(CEILING, w, "warm" if p == "cached" else p, m)

    def best_peer(w, p, m):
        got = [(med(s, w, p, m), s) for s in PEERS]
        got = [g for g in got if g[0] is not None]
        return max(got) if got else (None, None)

    def div(x, y):
        return x / y if x is not None and y else None

    # -- CSV ------------------------------------------------------------------
    rows = []
    big = [("fio", j, "iops", "IOPS") for j in FIO_JOBS] + \
        [("fio", j, "mb_per_s", "MB/s") for j in FIO_JOBS] + \
        [("memmap", "warm", "samples_per_s", "samples/s")]
    for w, p, m, unit, *_ in FIGURES + EXTRA + big:
        c = ceiling(w, p, m)
        bp, bps = best_peer(w, p, m)
        for s in systems:
            v = vals.get((s, w, p, m))
            if not v:
                continue
            md = statistics.median(v)
            rows.append({
                "system": s, "workload": w, "phase": p, "metric": m,
                "unit": unit, "median": round(md, 2), "runs": len(v),
                "values": " ".join("%g" % x for x in v),
                "vs_ceiling": ("%.3f" % (md / c)) if c and s != CEILING
                else "",
                "vs_best_peer": ("%.3f" % (md / bp)) if bp and s not in PEERS
                else "",
                "best_peer": bps or ""})
    rss = {}  # (system, proc, when) -> [(rss, hwm)]
    for r in recs:
        if r["workload"] == "rss":
            rss.setdefault((r["system"], r["proc"], r["when"]), []).append(
                (r["vmrss_kib"], r["vmhwm_kib"]))
    for (s, proc, when), v in sorted(rss.items()):
        for i, m in ((0, "vmrss_mib"), (1, "vmhwm_mib")):
            xs = [x[i] / 1024 for x in v]
            rows.append({
                "system": s, "workload": "rss:" + proc, "phase": when,
                "metric": m, "unit": "MiB",
                "median": round(statistics.median(xs), 1), "runs": len(xs),
                "values": " ".join("%.1f" % x for x in xs),
                "vs_ceiling": "", "vs_best_peer": "", "best_peer": ""})
    cols = ["system", "workload", "phase", "metric", "unit", "median", "runs",
            "values", "vs_ceiling", "vs_best_peer", "best_peer"]
    with open(os.path.join(a.out, "results.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=cols)
        wr.writeheader()
        wr.writerows(rows)

    # -- targets --------------------------------------------------------------
    targets = []  # (what, figure, value, goal, met)

    def target(what, fig, val, goal, show=ratio):
        """goal None: a figure to report, with no goal to meet."""
        met = None if val is None or goal is None else val >= goal
        targets.append((what, fig, show(val) if val is not None
                        else "not measured",
                        "–" if goal is None else "≥ %.1f×" % goal, met))

    for s in SLUICE:
        if s not in systems:
            continue
        v, c = med(s, "dataloader", "cached", "files_per_s"), \
            med(CEILING, "dataloader", "warm", "files_per_s")
        target("Warm DataLoader, page cache dropped (cache nodes serve), "
               "vs ceiling", "%s %s / passthrough_ll warm %s files/s"
               % (LABEL[s], fmt(v), fmt(c)), div(v, c), 0.8)
        v, c = med(s, "shards", "cached", "mb_per_s"), \
            med(CEILING, "shards", "warm", "mb_per_s")
        target("Warm shards, page cache dropped (cache nodes serve), "
               "vs ceiling", "%s %s / passthrough_ll warm %s MB/s"
               % (LABEL[s], fmt(v), fmt(c)), div(v, c), 0.7)
    if "sluice-curve" in systems and "sluice-posix" in systems:
        # What encryption costs: the same nodes and client, CURVE on.
        for w, p, m, u in (("dataloader", "cached", "files_per_s", "files/s"),
                           ("shards", "cached", "mb_per_s", "MB/s")):
            v, c = med("sluice-curve", w, p, m), med("sluice-posix", w, p, m)
            target("CURVE's cost: %s, page cache dropped, with / without "
                   "CURVE" % w, "Sluice posix CURVE %s / plain %s %s"
                   % (fmt(v), fmt(c), u), div(v, c), None)
    if "sluice-webhdfs" in systems:
        v = med("sluice-webhdfs", "dataloader", "cold", "files_per_s")
        raw = med("webhdfs-raw", "dataloader", "cold", "files_per_s")
        target("Cold DataLoader epoch over WebHDFS vs the fixture's raw GET "
               "rate (the backend ceiling: OPEN + datanode GET per file, 4 "
               "processes)", "Sluice webhdfs %s / raw %s files/s"
               % (fmt(v), fmt(raw)), div(v, raw), None)
    if "sluice-s3" in systems:
        v = med("sluice-s3", "dataloader", "cold", "files_per_s")
        bp, bps = best_peer("dataloader", "cold", "files_per_s")
        target("Cold DataLoader epoch from s3rver vs better of s3fs, rclone",
               "Sluice s3 %s / %s %s files/s" % (fmt(v), LABEL.get(bps, "–"),
                                                 fmt(bp)), div(v, bp), 1.5)
        for p in ("cold", "warm"):
            v = med("sluice-s3", "metawalk", p, "entries_per_s")
            bp, bps = best_peer("metawalk", p, "entries_per_s")
            target("Metadata walk (%s) vs better of s3fs, rclone" % p,
                   "Sluice s3 %s / %s %s entries/s"
                   % (fmt(v), LABEL.get(bps, "–"), fmt(bp)), div(v, bp), 2.0)
    for s in SLUICE:
        if s not in systems:
            continue
        for j in FIO_JOBS:
            v, c = med(s, "fio", j, "iops"), med(CEILING, "fio", j, "iops")
            if v is None:
                continue
            rnd = j.startswith("randread")
            seq256 = j == "read-256k-1j-direct"
            target("fio %s on a file warm in the nodes, vs ceiling" % j,
                   "%s %s / passthrough_ll %s IOPS" % (LABEL[s], fmt(v),
                                                      fmt(c)),
                   div(v, c), 0.5 if rnd else 1.0 if seq256 else None)
        v, c = med(s, "memmap", "warm", "samples_per_s"), \
            med(CEILING, "memmap", "warm", "samples_per_s")
        if v is not None:
            target("memmap 2 KiB windows (DataLoader) on a file warm in the "
                   "nodes, vs ceiling", "%s %s / passthrough_ll %s samples/s"
                   % (LABEL[s], fmt(v), fmt(c)), div(v, c), None)
    v = med("sluice-s3", "shared", "cold", "backend_per_dataset")
    if v is not None:
        peers = ", ".join("%s %.2f×" % (LABEL[p], med(p, "shared", "cold",
                                                     "backend_per_dataset"))
                          for p in PEERS
                          if med(p, "shared", "cold", "backend_per_dataset"))
        targets.append(("Shared dataset, two mounts at once, cold: S3 "
                        "bytes read per dataset byte",
                        "Sluice s3 %.2f×%s" % (v, "; " + peers if peers
                                                 else ""),
                        "%.2f×" % v, "≤ 1.05×", v <= 1.05))
    bc = msl.get("block_cache_mib")
    cap = msl.get("ram_capacity_mib")
    mem_rows = []
    for s in SLUICE:
        if s not in systems:
            continue
        v = rss.get((s, "sluice-fuse", "dataloader-after-2-epochs"))
        if v and bc is not None:
            worst = max(x[0] for x in v) / 1024
            hwm = max(x[1] for x in v) / 1024
            targets.append((
                "Client RSS after 2 epochs ≤ block cache + 64 MiB",
                "%s sluice-fuse VmRSS %.0f MiB (VmHWM %.0f), worst of %d runs"
                % (LABEL[s], worst, hwm, len(v)),
                "%.0f MiB" % worst, "≤ %d MiB" % (bc + 64),
                worst <= bc + 64))
        nodes = sorted({k[1] for k in rss if k[0] == s
                        and k[1].startswith("cachenode")})
        for n in nodes:
            xs = [x for k, v in rss.items() if k[:2] == (s, n) for x in v]
            if not xs or cap is None:
                continue
            worst = max(max(x[0], x[1]) for x in xs) / 1024
            targets.append((
                "Cache node RSS ≤ RAM capacity + 64 MiB",
                "%s %s peak VmHWM %.0f MiB, worst of all runs"
                % (LABEL[s], n, worst),
                "%.0f MiB" % worst, "≤ %d MiB" % (cap + 64),
                worst <= cap + 64))
    for (s, proc, when), v in sorted(rss.items()):
        mem_rows.append((LABEL.get(s, s), proc, when,
                         statistics.median(x[0] for x in v) / 1024,
                         max(x[1] for x in v) / 1024))

    # -- chart ----------------------------------------------------------------
    chart_ok = chart(a.out, systems, med, meta)

    # -- markdown -------------------------------------------------------------
    mach = machine(a.data or a.out)
    ver = versions(root)
    have = [s for s in systems if s not in skipped]
    now = datetime.datetime.now(datetime.timezone.utc)
    L = []
    mode = meta.get("mode", "?")
    L.append("# Sluice benchmark results")
    L.append("")
    L.append("Mode **%s**: %s files in %s class folders (log-normal sizes "
             "around %s, %s–%s) and %s shards of %s, %.2f GiB in all; "
             "%s run(s) per figure, the median shown.  %s UTC, %s s "
             "wall clock.  Reproduce with `make bench%s` (see "
             "[bench/README.md](../README.md))."
             % (mode, "{:,}".format(meta.get("files", 0)),
                meta.get("classes"), meta.get("median"), meta.get("min"),
                meta.get("max"), meta.get("shards"), meta.get("shard_size"),
                meta.get("data_bytes", 0) / 2**30, meta.get("runs"),
                now.strftime("%Y-%m-%d %H:%M"), mend.get("seconds", "?"),
                ' BENCH_ARGS=--quick' if mode == "quick" else ""))
    L.append("")
    L.append("| machine | |")
    L.append("|---|---|")
    L.append("| CPU | %s, %s cores |" % (mach["cpu"], mach["cores"]))
    L.append("| RAM | %s |" % mach["ram"])
    L.append("| OS, kernel | %s, Linux %s |" % (mach["os"], mach["kernel"]))
    L.append("| dataset disk | %s |" % mach["disk"])
    L.append("| load average at start, end | %s; %s |"
             % (meta.get("loadavg_start", "?"), mend.get("loadavg_end", "?")))
    L.append("| versions | Sluice %s, libfuse %s, s3fs %s, %s, s3rver %s "
             "(Node %s), PyTorch %s, Python %s |"
             % (ver["sluice"], ver["libfuse"], ver["s3fs"], ver["rclone"],
                ver["s3rver"], ver["node"], ver["torch"], ver["python"]))
    L.append("")
    L.append("## Throughput (median of %s runs)" % meta.get("runs"))
    L.append("")
    L.append("| workload | unit | " + " | ".join(LABEL[s] for s in systems)
             + " |")
    L.append("|---|---|" + "---:|" * len(systems))
    for w, p, m, unit, label in FIGURES:
        cells = []
        for s in systems:
            if s in skipped:
                cells.append("skipped")
            else:
                cells.append(fmt(med(s, w, p, m)))
        L.append("| %s | %s | %s |" % (label, unit, " | ".join(cells)))
    L.append("")
    L.append("## Ratios")
    L.append("")
    L.append("Against the ceiling, passthrough_ll in the same phase (for "
             "\"page cache dropped\", passthrough_ll warm: both then serve "
             "from RAM through FUSE), and against the better of s3fs and "
             "rclone in the same phase.")
    L.append("")
    rsys = [s for s in have if s != CEILING]
    hdr = []
    for s in rsys:
        hdr.append("%s vs ceiling" % LABEL[s])
    for s in rsys:
        if s not in PEERS:
            hdr.append("%s vs best peer" % LABEL[s])
    L.append("| workload | " + " | ".join(hdr) + " |")
    L.append("|---|" + "---:|" * len(hdr))
    for w, p, m, unit, label in FIGURES:
        c = ceiling(w, p, m)
        bp, _ = best_peer(w, p, m)
        cells = [ratio(div(med(s, w, p, m), c)) for s in rsys]
        cells += [ratio(div(med(s, w, p, m), bp)) for s in rsys
                  if s not in PEERS]
        L.append("| %s | %s |" % (label, " | ".join(cells)))
    L.append("")
    bigsys = [s for s in have if med(s, "fio", FIO_JOBS[0], "iops")
              or med(s, "memmap", "warm", "samples_per_s")]
    if bigsys:
        mb = next((r for r in recs if r["workload"] == "meta_big"), {})
        L.append("## Big file: fio and memmap")
        L.append("")
        L.append("One file of %.0f MiB of random bytes on a tmpfs, read "
                 "once sequentially before the jobs (warm in the cache "
                 "nodes, for Sluice); fio `psync`, %s s per job, the page "
                 "cache dropped before each job; memmap: %s random 2 KiB "
                 "windows of `numpy.memmap` in a PyTorch Dataset, "
                 "DataLoader with 4 workers, batch 64.  Ratios against "
                 "passthrough_ll over the same file."
                 % (mb.get("big_bytes", 0) / 2**20, mb.get("fio_runtime"),
                    "{:,}".format(mb.get("memmap_samples", 0))))
        L.append("")
        rs = [s for s in bigsys if s != CEILING]
        L.append("| job | unit | " + " | ".join(LABEL[s] for s in bigsys)
                 + " | " + " | ".join("%s vs ceiling" % LABEL[s] for s in rs)
                 + " |")
        L.append("|---|---|" + "---:|" * (len(bigsys) + len(rs)))
        for w, p, m, unit in ([("fio", j, "iops", "IOPS") for j in FIO_JOBS]
                              + [("memmap", "warm", "samples_per_s",
                                  "samples/s")]):
            if not any(med(s, w, p, m) for s in bigsys):
                continue
            c = med(CEILING, w, p, m)
            L.append("| %s | %s | %s | %s |" % (
                p if w == "fio" else "memmap windows", unit,
                " | ".join(fmt(med(s, w, p, m)) for s in bigsys),
                " | ".join(ratio(div(med(s, w, p, m), c)) for s in rs)))
        L.append("")
    shsys = [s for s in have
             if med(s, "shared", "cold", "backend_per_dataset") is not None]
    if shsys:
        L.append("## Shared dataset: two mounts, one bucket, cold")
        L.append("")
        L.append("Two mounts of one system (two training pods: two Sluice "
                 "clients of the same cache nodes; two s3fs or rclone mounts "
                 "with caches of their own) read every file of the dataset "
                 "at the same time, cold, each in its own shuffled order, 4 "
                 "threads each.  S3 bytes: what s3rver read from its store "
                 "meanwhile (its rchar), per byte of the dataset.")
        L.append("")
        L.append("| system | S3 bytes / dataset | pair's wall time s |")
        L.append("|---|---:|---:|")
        for sy in shsys:
            L.append("| %s | %.2f× | %s |" % (
                LABEL[sy], med(sy, "shared", "cold", "backend_per_dataset"),
                fmt(med(sy, "shared", "cold", "seconds"))))
        L.append("")
    if targets:
        L.append("## Targets")
        L.append("")
        L.append("| target | figures | measured | goal | |")
        L.append("|---|---|---:|---:|---|")
        for what, fig, val, goal, met in targets:
            L.append("| %s | %s | %s | %s | %s |"
                     % (what, fig, val, goal,
                        "–" if met is None else "met" if met else "**missed**"))
        L.append("")
    if mem_rows:
        L.append("## Memory")
        L.append("")
        L.append("VmRSS (median) and VmHWM (worst) of each process, sampled "
                 "after the DataLoader's 2nd epoch and at the end of the "
                 "DataLoader and shards workloads.  Sluice: %s cache node(s) with ram_capacity "
                 "%s MiB each, client block_cache %s MiB."
                 % (msl.get("nodes", "?"), cap, bc))
        L.append("")
        L.append("| system | process | when | VmRSS MiB | VmHWM MiB |")
        L.append("|---|---|---|---:|---:|")
        for row in mem_rows:
            L.append("| %s | %s | %s | %.0f | %.0f |" % row)
        L.append("")
    served = {}  # (system, workload, phase) -> [(bytes, node, hits, miss, be)]
    for r in recs:
        if r.get("system") in SLUICE and "node_bytes" in r and "bytes" in r:
            served.setdefault((r["system"], r["workload"], r["phase"]),
                              []).append((r["bytes"], r["node_bytes"],
                                          r.get("node_hits", 0),
                                          r.get("node_misses", 0),
                                          r.get("backend_bytes", 0)))
    if served:
        L.append("## Who served Sluice's reads")
        L.append("")
        L.append("Cache-node counters over each phase (median of the runs): "
                 "bytes the nodes served, against the bytes the workload "
                 "read; the rest came from the kernel page cache or the "
                 "client's block cache.  Backend bytes are what the nodes "
                 "fetched from the slow store.")
        L.append("")
        L.append("| system | workload | phase | read MiB | nodes served MiB "
                 "| node block hits / misses | backend MiB |")
        L.append("|---|---|---|---:|---:|---:|---:|")
        order = {"cold": 0, "warm": 1, "cached": 2}
        for (sy, w, p), v in sorted(served.items(), key=lambda kv: (
                SYSTEMS.index(kv[0][0]), kv[0][1], order.get(kv[0][2], 9))):
            m = [statistics.median(x[i] for x in v) for i in range(5)]
            L.append("| %s | %s | %s | %.0f | %.0f (%.0f%%) | %.0f / %.0f "
                     "| %.0f |" % (LABEL[sy], w, PHASE_TEXT.get(p, p),
                                   m[0] / 2**20, m[1] / 2**20,
                                   100.0 * m[1] / m[0] if m[0] else 0,
                                   m[2], m[3], m[4] / 2**20))
        L.append("")
    if chart_ok:
        L.append("![throughput by system and phase](chart.png)")
        L.append("")
    L.append("## How it was measured")
    L.append("")
    L.append("- Every figure is measured on a fresh start of the system "
             "(empty Sluice, s3fs and rclone caches) after "
             "`sync; echo 3 > /proc/sys/vm/drop_caches`. *cold*: first "
             "pass; *warm*: second pass; *page cache dropped*: the page "
             "cache alone is dropped (`echo 1`: dentries and inodes stay "
             "warm, as in a real later epoch) and a third pass is served by the "
             "system's own cache (Sluice: the cache nodes' RAM; s3fs, rclone: "
             "their disk caches; local and passthrough_ll: the disk).")
    L.append("- DataLoader: PyTorch DataLoader, 4 workers, batch 64, "
             "shuffle, each sample one whole file read and thrown away (no "
             "decode); the file list is built before timing.  Shards: 4 "
             "reader threads, 1 MiB read(2) calls, whole shards from a "
             "queue.  Metadata walk: `find -printf %s` (an lstat per "
             "entry) over the whole dataset.")
    L.append("- passthrough_ll is libfuse's example, built from "
             "libfuse3-dev's source, run with its defaults "
             "(`-o source=DIR`, multithreaded).  s3fs: `use_cache`, "
             "`use_path_request_style`; rclone mount: `--vfs-cache-mode "
             "full`; Sluice: %s cache node(s) on loopback, 4 MiB blocks, "
             "LRU.  All S3 systems read the same s3rver bucket."
             % msl.get("nodes", "?"))
    L.append("- s3rver lists no common prefix whose folder holds only "
             "deeper folders (`train/`), so a zero-byte folder-marker "
             "object `train/` is uploaded; every S3 system sees the same "
             "bucket with it.")
    if "sluice-webhdfs" in systems:
        L.append("- Sluice webhdfs reads the dataset directory through "
                 "test/webhdfs/fixture.py, the Python WebHDFS server of the "
                 "module's tests (one namenode, two datanode processes, "
                 "simple authentication), not a Hadoop cluster; *WebHDFS "
                 "fixture, raw* is that server read directly "
                 "(bench/webhdfs_raw.py: OPEN, then the datanode's GET, for "
                 "every DataLoader file, 4 processes, cold), the ceiling of "
                 "a cold epoch over it.")
    L.append("- The machine is shared: other processes may have been "
             "running (see the load average).  Ratios are between figures "
             "of this one run.")
    for r in recs:
        if r["workload"] == "note":
            L.append("- note: %s" % r["text"])
    for s, why in skipped.items():
        L.append("- skipped: %s: %s" % (LABEL.get(s, s), why))
    for e in errors:
        L.append("- failed: %s run %s: %s" % (LABEL.get(e["system"],
                                                       e["system"]),
                                               e.get("run"), e.get("what")))
    L.append("")
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write("\n".join(L))
    print("\n".join(L))
    return 0


def chart(out, systems, med, meta):
    """Three log-scale clustered bar panels with gnuplot; False if none."""
    gp = shutil.which("gnuplot")
    if not gp:
        print("report: no gnuplot, no chart", file=sys.stderr)
        return False
    panels = [("dataloader", "files_per_s", "DataLoader (files/s)",
               ["cold", "warm", "cached"]),
              ("shards", "mb_per_s", "Sequential shards (MB/s)",
               ["cold", "warm", "cached"]),
              ("metawalk", "entries_per_s", "Metadata walk (entries/s)",
               ["cold", "warm"]),
              ("fio", "iops", "fio jobs, big file (IOPS)", FIO_JOBS),
              ("memmap", "samples_per_s", "memmap windows (samples/s)",
               ["warm"])]
    panels = [pn for pn in panels
              if any(med(s, pn[0], p, pn[1]) for s in systems for p in pn[3])]
    shown = [s for s in systems
             if any(med(s, w, p, m) for w, m, _, ps in panels for p in ps)]
    if not shown:
        return False
    phase_label = {"cold": "cold", "warm": "warm",
                   "cached": "page cache dropped"}
    plots = []
    for i, (w, m, title, phases) in enumerate(panels):
        dat = os.path.join(out, "chart-%s.dat.tmp" % w)
        with open(dat, "w") as f:
            f.write("phase " + " ".join('"%s"' % LABEL[s] for s in shown)
                    + "\n")
            for p in phases:
                f.write('"%s" ' % phase_label.get(p, p) + " ".join(
                    "%.3f" % med(s, w, p, m) if med(s, w, p, m) else "-"
                    for s in shown) + "\n")
        plots.append(
            ("set xtics rotate by -45\n" if len(phases) > 4 else
             "set xtics norotate\n") +
            "set title '%s'\nplot for [i=2:%d] '%s' using i:xtic(1) "
            "title columnheader(i) lt i-1\n"
            % (title, len(shown) + 1, dat))
    script = os.path.join(out, "chart.gp.tmp")
    with open(script, "w") as f:
        f.write("""set terminal pngcairo size %d,520 font "sans,10"
set output '%s'
set multiplot layout 1,%d title "Sluice benchmark, %s mode, median of %s runs (log scale)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y
set grid ytics
set termoption noenhanced
set key outside below center horizontal maxrows 2 font ",9"
set bmargin %d
set datafile missing '-'
set xtics nomirror
%s
unset multiplot
""" % (100 + sum(max(470, 70 * len(pn[3])) for pn in panels),
       os.path.join(out, "chart.png"), len(panels), meta.get("mode", "?"),
       meta.get("runs", "?"),
       12 if any(len(pn[3]) > 4 for pn in panels) else 7, "\n".join(plots)))
    r = subprocess.run([gp, script], stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        print("report: gnuplot failed: %s" % r.stderr[-500:], file=sys.stderr)
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
