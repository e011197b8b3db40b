#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# it_docker: deploy/docker/Dockerfile, as far as a machine without a Docker
# engine can tell (test/dockerfile_check.py): base images, a non-root
# runtime user, apt packages that exist, runtime libraries that match the
# .deb's computed Depends, and the build stage run for real from exactly
# the files it COPYs.  Building and running the image needs Docker.
set -euo pipefail
T=it_docker
source "$(dirname "$0")/helper.sh"

B=${SLUICE_BUILD:-build}
known=$(apt-cache stats 2>/dev/null | sed -n 's/^Total package names: \([0-9]*\).*/\1/p')
[ "${known:-0}" -ge 1000 ] || th_fail "apt knows ${known:-no} packages: run apt-get update"
make -s -C "$ROOT" B="$B" deb >/dev/null
/usr/bin/python3 "$ROOT/test/dockerfile_check.py" "$ROOT" \
	"$ROOT/$B/deb/debian/sluice/DEBIAN/control" "$TMP/build" ||
	th_fail "deploy/docker/Dockerfile (above)"
echo "it_docker: 1 passed, 0 failed"
