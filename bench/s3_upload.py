#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Upload a benchmark dataset directory to an S3 server (s3rver), once.

Keys are the paths relative to the directory (train/nNNN/NNN.JPEG,
shards/shard-NNNNN.tar), at the root of the bucket.  Objects already there
with the right size are skipped, so an interrupted upload resumes.

s3rver quirk: a ListObjects with a delimiter omits a common prefix whose
folder holds only deeper folders (train/ when every object is
train/nXXX/...), so no client could list the dataset root.  We upload a
zero-byte folder-marker object ("train/") for every such folder; s3rver
then lists it, and every S3 client in the benchmark sees the same bucket.
"""
import argparse
import concurrent.futures
import os
import sys
import time

import boto3
import botocore.config


def client(endpoint, key, secret, region):
    cfg = botocore.config.Config(s3={"addressing_style": "path"},
                                 retries={"max_attempts": 10},
                                 max_pool_connections=32)
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=key,
                        aws_secret_access_key=secret, region_name=region,
                        config=cfg)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", help="dataset directory")
    ap.add_argument("--endpoint", required=True, help="http://127.0.0.1:PORT")
    ap.add_argument("--bucket", required=True)
    ap.add_argument("--key", default="S3RVER")
    ap.add_argument("--secret", default="S3RVER")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--threads", type=int, default=8)
    a = ap.parse_args()

    s3 = client(a.endpoint, a.key, a.secret, a.region)
    try:
        s3.head_bucket(Bucket=a.bucket)
    except Exception:  # botocore raises ClientError for 404
        s3.create_bucket(Bucket=a.bucket)

    have = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=a.bucket):
        for o in page.get("Contents", []):
            have[o["Key"]] = o["Size"]

    files, markers = [], []
    for d, dirs, names in os.walk(a.src):
        dirs.sort()
        rel = os.path.relpath(d, a.src)
        if rel != "." and not names:
            markers.append(rel.replace(os.sep, "/") + "/")
        for n in sorted(names):
            p = os.path.join(d, n)
            k = os.path.relpath(p, a.src).replace(os.sep, "/")
            if have.get(k) != os.path.getsize(p):
                files.append((p, k))
    markers = [m for m in markers if m not in have]

    def put(item):
        p, k = item
        with open(p, "rb") as f:
            s3.put_object(Bucket=a.bucket, Key=k, Body=f)
        return os.path.getsize(p)

    t0 = time.monotonic()
    total = 0
    with concurrent.futures.ThreadPoolExecutor(a.threads) as ex:
        for n in ex.map(put, files):
            total += n
    for m in markers:
        s3.put_object(Bucket=a.bucket, Key=m, Body=b"")
    dt = time.monotonic() - t0
    print("s3_upload: %d objects (%.1f MiB) and %d folder markers in %.1f s; "
          "%d already there" % (len(files), total / 2**20, len(markers), dt,
                                len(have)), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
