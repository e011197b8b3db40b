#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The S3 tests' own client (boto3): make buckets, upload files and trees,
delete objects.  Credentials come from the standard AWS environment
variables, the endpoint from --endpoint; path-style addressing.  Requests
normally go through sigv4_proxy.py, so every upload is also a check of the
proxy's verifier against botocore's own signer.

  s3tool.py --endpoint URL mb BUCKET
  s3tool.py --endpoint URL put BUCKET KEY FILE
  s3tool.py --endpoint URL put-tree BUCKET PREFIX DIR   (parallel)
  s3tool.py --endpoint URL rm BUCKET KEY
  s3tool.py --endpoint URL etag BUCKET KEY              (prints it, unquoted)
"""
import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config


def client(args):
    return boto3.client(
        "s3", endpoint_url=args.endpoint, region_name=args.region,
        config=Config(s3={"addressing_style": "path"},
                      signature_version="s3v4",
                      retries={"max_attempts": 5, "mode": "standard"},
                      max_pool_connections=32))


def put_file(s3, bucket, key, path):
    with open(path, "rb") as f:
        s3.put_object(Bucket=bucket, Key=key, Body=f.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("cmd", choices=["mb", "put", "put-tree", "rm", "etag"])
    ap.add_argument("rest", nargs="*")
    args = ap.parse_args()
    s3 = client(args)
    r = args.rest
    if args.cmd == "mb":
        s3.create_bucket(Bucket=r[0])
    elif args.cmd == "put":
        put_file(s3, r[0], r[1], r[2])
    elif args.cmd == "rm":
        s3.delete_object(Bucket=r[0], Key=r[1])
    elif args.cmd == "etag":
        print(s3.head_object(Bucket=r[0], Key=r[1])["ETag"].strip('"'))
    elif args.cmd == "put-tree":
        bucket, prefix, top = r[0], r[1], r[2]
        jobs = []
        for d, dirs, files in os.walk(top):
            dirs.sort()
            for f in sorted(files):
                p = os.path.join(d, f)
                jobs.append((prefix + os.path.relpath(p, top), p))
        with ThreadPoolExecutor(args.jobs) as ex:
            for fut in [ex.submit(put_file, s3, bucket, k, p)
                        for k, p in jobs]:
                fut.result()
        print("s3tool: uploaded %d objects to s3://%s/%s" %
              (len(jobs), bucket, prefix), file=sys.stderr)


if __name__ == "__main__":
    main()
