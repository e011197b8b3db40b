#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""PyTorch DataLoader over a Sluice mount, for test/it_fuse.c.

usage: it_fuse_loader.py MOUNT_DIR SOURCE_DIR [EPOCHS [WORKERS [STEP_MS]]]

Every regular file below SOURCE_DIR is one sample.  A DataLoader with
WORKERS worker processes and shuffle on reads each sample from MOUNT_DIR
(the same relative path) for EPOCHS epochs; each worker returns the sample's
CRC-32 and length, and the main process compares them with the source.
Prints one summary line and exits 0 only when every sample of every epoch
matched and none was missing or doubled.  STEP_MS (default 0) is the
training step the main process spends on each batch, as a GPU would: it
stretches an epoch to a realistic length without more data.

For tests that change the cluster during an epoch: LOADER_PACE_MS makes
each sample take at least that long (so that an epoch lasts), and
LOADER_PROGRESS names a file that holds, after each batch, how many
samples were read so far.
"""
import os
import sys
import time
import warnings
import zlib

import torch
from torch.utils.data import DataLoader, Dataset


def list_files(root):
    out = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            full = os.path.join(dirpath, f)
            if os.path.isfile(full) and not os.path.islink(full):
                out.append(os.path.relpath(full, root))
    out.sort()
    return out


class MountFiles(Dataset):
    def __init__(self, mount, names):
        self.mount = mount
        self.names = names

    def __len__(self):
        return len(self.names)

    def __getitem__(self, i):
        t0 = time.monotonic()
        with open(os.path.join(self.mount, self.names[i]), "rb") as f:
            data = f.read()
        pace = int(os.environ.get("LOADER_PACE_MS", "0")) / 1000.0
        left = pace - (time.monotonic() - t0)
        if left > 0:
            time.sleep(left)
        return torch.tensor([i, zlib.crc32(data), len(data)],
                            dtype=torch.int64)


def report(path, done):
    if path:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % done)
        os.replace(tmp, path)


def main():
    # 4 workers on a 2-core test machine is the point, not a mistake.
    warnings.filterwarnings("ignore", message=".*worker processes in total")
    mount, source = sys.argv[1], sys.argv[2]
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    step = float(sys.argv[5]) / 1000 if len(sys.argv) > 5 else 0.0
    names = list_files(source)
    want = []
    for n in names:
        with open(os.path.join(source, n), "rb") as f:
            data = f.read()
        want.append((zlib.crc32(data), len(data)))

    torch.manual_seed(1234)
    loader = DataLoader(MountFiles(mount, names), batch_size=16,
                        shuffle=True, num_workers=workers)
    bad = 0
    total = 0
    progress = os.environ.get("LOADER_PROGRESS")
    for epoch in range(epochs):
        seen = [0] * len(names)
        order = []
        for batch in loader:
            if step:
                time.sleep(step)
            for i, crc, length in batch.tolist():
                seen[i] += 1
                order.append(i)
                if (crc, length) != want[i]:
                    bad += 1
                    print("mismatch: %s epoch %d" % (names[i], epoch),
                          file=sys.stderr)
            report(progress, total + len(order))
        missing = sum(1 for s in seen if s != 1)
        shuffled = order != sorted(order)
        total += len(order)
        if missing or not shuffled:
            print("epoch %d: %d samples not seen exactly once, shuffled=%s"
                  % (epoch, missing, shuffled), file=sys.stderr)
            bad += max(missing, 1)
    print("loader: epochs=%d workers=%d files=%d samples=%d mismatches=%d"
          % (epochs, workers, len(names), total, bad))
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
