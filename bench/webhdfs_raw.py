#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The backend ceiling of the Sluice-over-WebHDFS benchmark: how fast the
WebHDFS server itself hands out the DataLoader's files.

Every file under ROOT/train (the same list, by scripts/loader.py's rule, that
the DataLoader workload reads) is fetched once through the namenode at
--namenode, as a WebHDFS client does: OPEN (307 to a datanode), then GET
from the datanode, whole files, in shuffled order, by --workers processes
(the DataLoader's 4 workers), each on kept-alive connections.  After
`sync; echo 3 > /proc/sys/vm/drop_caches`, as the cold epoch it is compared
with.  Prints one JSON line: workload dataloader, phase cold, files/s, MB/s,
tagged like bench/workload.py's records.
"""
import argparse
import http.client
import json
import multiprocessing
import os
import random
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "scripts"))


class Client:
    """Kept-alive connections, one per host:port."""

    def __init__(self):
        self.conns = {}

    def get(self, url):
        u = urllib.parse.urlsplit(url)
        c = self.conns.get(u.netloc)
        if c is None:
            c = self.conns[u.netloc] = http.client.HTTPConnection(
                u.netloc, timeout=60)
        c.request("GET", u.path + ("?" + u.query if u.query else ""))
        r = c.getresponse()
        body = r.read()
        return r.status, r.getheader("Location"), body


def fetch(job):
    """Worker: read each (path, size) of the slice; bytes read."""
    namenode, user, paths = job
    cl = Client()
    total = 0
    for p in paths:
        url = "http://%s/webhdfs/v1%s?op=OPEN&user.name=%s" % (
            namenode, urllib.parse.quote(p), urllib.parse.quote(user))
        status, loc, _ = cl.get(url)
        if status != 307 or not loc:
            raise RuntimeError("OPEN %s: %d" % (p, status))
        status, _, body = cl.get(loc)
        if status != 200:
            raise RuntimeError("GET %s: %d" % (loc, status))
        total += len(body)
    return total


def main():
    from loader import list_files  # scripts/loader.py: one listing rule

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="the dataset directory the server serves "
                                 "as /")
    ap.add_argument("--namenode", required=True, help="HOST:PORT")
    ap.add_argument("--user", default="bench")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--tag", action="append", default=[],
                    help="key=value added to the record")
    a = ap.parse_args()
    names = ["/train/" + n for n in list_files(os.path.join(a.root, "train"),
                                               set())]
    if not names:
        print("webhdfs_raw: no files under %s/train" % a.root,
              file=sys.stderr)
        return 1
    random.Random(0).shuffle(names)
    slices = [names[i::a.workers] for i in range(a.workers)]
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")
    with multiprocessing.Pool(a.workers) as pool:
        t0 = time.monotonic()
        nbytes = sum(pool.map(fetch, [(a.namenode, a.user, s)
                                      for s in slices]))
        dt = time.monotonic() - t0
    rec = {}
    for t in a.tag:  # as bench/workload.py takes them
        k, _, v = t.partition("=")
        rec[k] = int(v) if v.isdigit() else v
    rec.update(workload="dataloader", phase="cold", files=len(names),
               bytes=nbytes, seconds=round(dt, 4),
               files_per_s=round(len(names) / dt, 2),
               mb_per_s=round(nbytes / dt / 1e6, 2))
    print(json.dumps(rec, sort_keys=True), flush=True)
    print("    raw WebHDFS: %d files, %.1f MiB in %.2f s: %.0f files/s"
          % (len(names), nbytes / 2**20, dt, len(names) / dt),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
