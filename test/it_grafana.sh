#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# it_grafana: the Grafana dashboard (deploy/grafana/sluice-dashboard.json)
# and the prometheus-adapter rule of the HPA example
# (deploy/kubernetes/overlays/autoscaling) query only metrics that exist.  A node and a client with their metrics
# endpoints on loopback read a dataset; both /metrics are scraped, and
# test/dashboard_check.py checks that every metric name of every panel's
# PromQL is in one of them, that each expression parses (promtool, from
# Debian's prometheus), and that the promised panels are there.  The
# client's endpoint must be on loopback when given as :PORT.
set -euo pipefail
T=it_grafana
source "$(dirname "$0")/helper.sh"

[ "$(id -u)" -eq 0 ] || th_skip "needs root (FUSE)"
[ -c /dev/fuse ] || th_skip "no /dev/fuse"
command -v promtool >/dev/null || th_fail "promtool missing (prometheus, scripts/install-deps.sh)"
B=${SLUICE_BUILD:-build}
dash=$ROOT/deploy/grafana/sluice-dashboard.json

th_cluster
nport=$(th_free_port)
cport=$(th_free_port)
sed -i "s/^\[node n1\]$/[node n1]\nmetrics_addr = 127.0.0.1:$nport/" "$TMP/cluster.conf"
th_start "$TMP/node.log" "$ROOT/$B/sluice-cachenode" -c "$TMP/cluster.conf"
th_wait 20 curl -sf "http://127.0.0.1:$nport/metrics" ||
	th_fail "the node's metrics are not up: $(cat "$TMP/node.log")"
mnt=$TMP/mnt
mkdir -p "$mnt"
th_mounts+=("$mnt")
th_start "$TMP/fuse.log" "$ROOT/$B/sluice-fuse" -f -c "$TMP/cluster.conf" "$mnt" -o metrics=:$cport
th_wait 20 mountpoint -q "$mnt" || th_fail "no mount: $(cat "$TMP/fuse.log")"
th_check_mount "$mnt"
curl -sf "http://127.0.0.1:$nport/metrics" >"$TMP/node.prom" || th_fail "node /metrics"
curl -sf "http://127.0.0.1:$cport/metrics" >"$TMP/client.prom" || th_fail "client /metrics"
ss -Hltn "sport = :$cport" | grep -q "127.0.0.1:$cport" ||
	th_fail "the client's :$cport is not on loopback: $(ss -Hltn "sport = :$cport")"
th_ok "a node's and a client's /metrics scraped; the client's on 127.0.0.1"

/usr/bin/python3 "$ROOT/test/dashboard_check.py" "$dash" "$TMP/node.prom" \
	"$TMP/client.prom" --promtool "$(command -v promtool)" \
	--adapter "$ROOT/deploy/kubernetes/overlays/autoscaling/adapter-rules.yaml" ||
	th_fail "the dashboard or the HPA's adapter rule queries what /metrics does not have (above)"
# The check can fail: a name no endpoint has is refused.
sed 's/sluice_client_read_bytes_total/sluice_client_no_such_total/' "$dash" >"$TMP/bad.json"
if /usr/bin/python3 "$ROOT/test/dashboard_check.py" "$TMP/bad.json" \
	"$TMP/node.prom" "$TMP/client.prom" >"$TMP/bad.out"; then
	th_fail "a dashboard with an unknown metric passed"
fi
grep -q "sluice_client_no_such_total is in no live /metrics" "$TMP/bad.out" ||
	th_fail "the unknown metric is not named: $(cat "$TMP/bad.out")"
th_ok "every metric of every panel is live; an unknown one is caught"
echo "it_grafana: 1 passed, 0 failed"
