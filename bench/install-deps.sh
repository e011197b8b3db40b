#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Debian packages that only the benchmarks need (`make bench` runs this; the
# build and `make check` never do): the peer filesystems s3fs and rclone,
# gnuplot for the chart, and the libfuse example sources for passthrough_ll.
# Idempotent: packages already present are skipped, so a machine that has
# them needs neither root nor the network.
set -euo pipefail

PKGS=(
	# the ceiling: passthrough_ll is built from libfuse3-dev's examples
	libfuse3-dev fuse3 build-essential pkg-config
	# peers over the same S3 server
	s3fs rclone
	# the chart
	gnuplot-nox
	# the DataLoader workload and the upload to s3rver
	python3 python3-torch python3-boto3
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing+=("$p")
	fi
done
# s3rver runs on Node.js; the image may carry its own node and npm.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
	echo "bench/install-deps: all ${#PKGS[@]} packages present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "bench/install-deps: missing packages: ${missing[*]}" >&2
	echo "bench/install-deps: run as root (sudo $0) or install them yourself" >&2
	exit 1
fi
echo "bench/install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
