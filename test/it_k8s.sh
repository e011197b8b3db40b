#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# it_k8s: the Kubernetes manifests, offline.  Renders deploy/kubernetes/base
# and every overlay with `kubectl kustomize`, validates every object
# against the Kubernetes API of the pinned kubernetes-models
# (test/k8s/package-lock.json, `npm ci`): JSON schemas and, through tsc,
# unknown fields (test/k8s/validate.mjs); then checks the images, commands,
# flags, config keys, references, sizes, ports and mounts against this tree
# (test/k8s/crosscheck.py).  What only a cluster shows is in the README.
set -euo pipefail
T=it_k8s
source "$(dirname "$0")/helper.sh"

B=${SLUICE_BUILD:-build}
command -v kubectl >/dev/null || th_fail "kubectl missing (scripts/install-deps.sh)"
command -v npm >/dev/null || th_fail "npm missing (scripts/install-deps.sh)"
k8s=$ROOT/test/k8s
if ! cmp -s "$k8s/package-lock.json" "$k8s/node_modules/.sluice-lock" 2>/dev/null; then
	echo "it_k8s: installing test/k8s (npm ci)"
	(cd "$k8s" && npm ci --no-audit --no-fund --loglevel=error >&2)
	cp "$k8s/package-lock.json" "$k8s/node_modules/.sluice-lock"
fi

kdir=$ROOT/deploy/kubernetes
renders=()
for k in "$kdir/base" "$kdir"/overlays/*/; do
	name=$(basename "$k")
	# kustomize 5 warns about the fields kept for kustomize 2.0.3.
	if ! kubectl kustomize "$k" >"$TMP/$name.yaml" 2>"$TMP/$name.err" ||
		grep -v -i 'deprecated' "$TMP/$name.err" | grep -q .; then
		cat "$TMP/$name.err"
		th_fail "kubectl kustomize ${k#"$ROOT/"} failed"
	fi
	renders+=("$TMP/$name.yaml")
done
th_ok "rendered ${#renders[@]} kustomizations ($(kubectl version --client 2>/dev/null | head -1))"

node "$k8s/validate.mjs" "$TMP/objects.json" "$TMP" "${renders[@]}" ||
	th_fail "objects invalid against the Kubernetes API (above)"
/usr/bin/python3 "$k8s/crosscheck.py" "$ROOT" "$ROOT/$B" "$TMP/objects.json" ||
	th_fail "the manifests use what this tree does not have (above)"
echo "it_k8s: 1 passed, 0 failed"
