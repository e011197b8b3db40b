#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""How many 64-byte runs of the source files a packet capture holds.

usage: wire_runs.py CAPTURE FILE...   (prints the count)

Every 64-byte window of the capture file (pcap framing and all) goes into
a set; every 64-byte window of each source file is looked up in it.  A
run split across two packets is missed, so a plain-text transfer of more
than a few segments always shows thousands; an encrypted one shows none.
"""
import sys

RUN = 64


def windows(data):
    return {data[i:i + RUN] for i in range(len(data) - RUN + 1)}


def main():
    with open(sys.argv[1], "rb") as f:
        seen = windows(f.read())
    found = 0
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            data = f.read()
        found += sum(1 for i in range(len(data) - RUN + 1)
                     if data[i:i + RUN] in seen)
    print(found)


main()
