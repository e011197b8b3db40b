# SPDX-License-Identifier: Apache-2.0
"""Stand-in for a training loop: every file under ROOT is a sample, read
whole by DataLoader workers in shuffled order, for EPOCHS epochs; prints
files/s and MB/s per epoch.  Replace the loop body with your model."""
import os
import sys
import time

import torch
from torch.utils.data import DataLoader, Dataset


class Files(Dataset):
    def __init__(self, root):
        self.paths = sorted(os.path.join(d, f)
                            for d, _, fs in os.walk(root) for f in fs)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        with open(self.paths[i], "rb") as f:
            return torch.frombuffer(bytearray(f.read()), dtype=torch.uint8)


def main():
    root = sys.argv[1]
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    data = Files(root)
    loader = DataLoader(data, batch_size=64, shuffle=True, num_workers=8,
                        collate_fn=lambda batch: batch)
    for epoch in range(1, epochs + 1):
        t0, n, size = time.monotonic(), 0, 0
        for batch in loader:
            n += len(batch)
            size += sum(len(x) for x in batch)
        dt = time.monotonic() - t0
        print("epoch %d: %d files, %.1f MB in %.1f s: %.0f files/s, %.1f MB/s"
              % (epoch, n, size / 1e6, dt, n / dt, size / 1e6 / dt),
              flush=True)


if __name__ == "__main__":
    main()
