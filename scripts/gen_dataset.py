#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Generate a deterministic ImageNet-like sample dataset.

Small files: log-normal sizes around 110 KB, clipped to [10 KB, 1 MB], spread
over class folders (train/nNNNNNNNN/NNNNNNNN.JPEG), incompressible bytes like
real JPEGs.  Shards: a few large files (shards/shard-NNNNN.tar).  The same
arguments always produce the same bytes, so runs can be compared.
"""
import argparse
import math
import os
import random
import sys


def parse_size(s):
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    s = s.strip().lower().rstrip("b").rstrip("i")
    if s and s[-1] in mult:
        return int(float(s[:-1]) * mult[s[-1]])
    return int(s)


def write_file(path, rng, size):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        left = size
        while left > 0:
            n = min(left, 4 << 20)
            f.write(rng.randbytes(n))
            left -= n
    os.rename(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="output directory (created)")
    ap.add_argument("--files", type=int, default=2000, help="small files (2000)")
    ap.add_argument("--classes", type=int, default=20, help="class folders (20)")
    ap.add_argument("--median", default="110K", help="median file size (110K)")
    ap.add_argument("--min", default="10K", help="smallest file (10K)")
    ap.add_argument("--max", default="1M", help="largest file (1M)")
    ap.add_argument("--shards", type=int, default=2, help="large files (2)")
    ap.add_argument("--shard-size", default="64M", help="size of each (64M)")
    ap.add_argument("--seed", type=int, default=1, help="random seed (1)")
    a = ap.parse_args()

    rng = random.Random(a.seed)
    median, lo, hi = parse_size(a.median), parse_size(a.min), parse_size(a.max)
    mu, sigma = math.log(median), 0.6
    total = 0
    for i in range(a.files):
        cls = i % max(a.classes, 1)
        size = int(min(max(rng.lognormvariate(mu, sigma), lo), hi))
        path = os.path.join(a.out, "train", "n%08d" % (1440764 + cls),
                            "%08d.JPEG" % i)
        if not os.path.exists(path) or os.path.getsize(path) != size:
            write_file(path, random.Random(a.seed * 1000003 + i), size)
        total += size
    ssize = parse_size(a.shard_size)
    for s in range(a.shards):
        path = os.path.join(a.out, "shards", "shard-%05d.tar" % s)
        if not os.path.exists(path) or os.path.getsize(path) != ssize:
            write_file(path, random.Random(a.seed * 7919 + 100000 + s), ssize)
        total += ssize
    print("dataset: %d files in %d classes + %d shards of %s, %.1f MiB in %s"
          % (a.files, a.classes, a.shards, a.shard_size, total / (1 << 20),
             a.out), file=sys.stderr)


if __name__ == "__main__":
    main()
