#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install every Debian package that Sluice's build, tests and demo need; with
# --bench also what only the benchmarks need (`make bench`): the peer
# filesystems s3fs and rclone, fio for the big-file jobs, and gnuplot for
# the chart.  Idempotent and
# non-interactive: packages already present are skipped, so a machine that
# has everything needs neither root nor the network.
set -euo pipefail

PKGS=(
	# build
	build-essential pkg-config
	libfuse3-dev fuse3 libzmq3-dev liblz4-dev libxxhash-dev liburing-dev
	libmicrohttpd-dev libcurl4-openssl-dev libexpat1-dev libjansson-dev
	# tests (etcd-server: a real etcd for the membership tests;
	# prometheus: a real one scrapes nodes and clients in it_prometheus)
	check curl procps psmisc python3 python3-torch python3-boto3
	python3-botocore etcd-server prometheus
	# tests: tcpdump (what CURVE leaves on the wire); fuzzing: clang
	tcpdump clang
	# packaging: `make man`, `make deb` and their tests (dpkg-shlibdeps is
	# in build-essential's dpkg-dev; systemd for systemd-analyze verify)
	help2man man-db systemd
)
if [ "${1:-}" = "--bench" ]; then
	PKGS+=(s3fs rclone gnuplot-nox fio)
elif [ $# -gt 0 ]; then
	echo "usage: $0 [--bench]" >&2
	exit 2
fi

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing+=("$p")
	fi
done

# Node.js runs the test S3 server (s3rver). The machine image may carry its own
# node and npm, which Debian's npm package conflicts with: count the commands.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	missing+=(nodejs npm)
fi

# kubectl renders the Kubernetes manifests (`kubectl kustomize`, test/it_k8s.sh);
# Debian's kubernetes-client has it, but the machine may carry its own.
if ! command -v kubectl >/dev/null 2>&1; then
	missing+=(kubernetes-client)
fi

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#PKGS[@]} packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root (sudo $0) or install them yourself" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
