#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The S3 variant of `make demo` (make demo BACKEND=s3).  scripts/demo.sh
# sources this file after it has written $CONF and emptied $DEMO/pids; it
# uses ROOT, DEMO, PY and CONF from there.  It starts s3rver (installed
# from test/s3/package-lock.json with `npm ci` on first use) and, in front
# of it, the signature-checking proxy of the tests (test/s3/sigv4_proxy.py),
# which also answers ListObjectsV2 correctly where s3rver does not: s3rver
# leaves out a prefix that holds only deeper folders, and train/ here holds
# only train/nXXXXXXXX/.  Both PIDs go to $DEMO/pids, so `make demo-stop`
# stops them with the rest.  Then it uploads $DEMO/data to
# s3://sluice-demo/imagenet/ with boto3 and points the [dataset imagenet]
# section of $CONF at it.

S3_DIR="$ROOT/test/s3"
S3_BUCKET=sluice-demo
S3_KEY_ID=AKIASLUICEDEMO000001
# A fresh secret per run: only the proxy and the credentials file know it.
S3_SECRET="demo/$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')"

# Wait for a server's port file; print the port, or fail with its log.
demo_s3_port() {
	local file="$1" pid="$2" name="$3"
	for _ in $(seq 300); do
		if [ -s "$file" ]; then
			cat "$file"
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "demo: $name did not start; its log:" >&2
	tail -n 20 "$DEMO/logs/$name.log" >&2
	stop >/dev/null 2>&1 || true # demo.sh's: everything in $DEMO/pids
	return 1
}

if [ ! -f "$S3_DIR/node_modules/s3rver/package.json" ]; then
	echo "demo: installing s3rver from test/s3/package-lock.json (npm ci)"
	(cd "$S3_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi

rm -rf "$DEMO/s3rver"
mkdir -p "$DEMO/s3rver"
rm -f "$DEMO/s3rver.port" "$DEMO/s3proxy.port"
# --openssl-legacy-provider: s3rver pages listings with DES tokens.
node --openssl-legacy-provider "$S3_DIR/run_s3rver.js" "$DEMO/s3rver" \
	127.0.0.1 0 "$DEMO/s3rver.port" >"$DEMO/logs/s3rver.log" 2>&1 &
S3_PID=$!
echo "$S3_PID s3rver" >>"$DEMO/pids"
S3_PORT="$(demo_s3_port "$DEMO/s3rver.port" "$S3_PID" s3rver)"

"$PY" "$S3_DIR/sigv4_proxy.py" --upstream "127.0.0.1:$S3_PORT" \
	--key "$S3_KEY_ID:$S3_SECRET" --port-file "$DEMO/s3proxy.port" \
	>"$DEMO/logs/s3proxy.log" 2>&1 &
S3_PROXY_PID=$!
echo "$S3_PROXY_PID sigv4-proxy" >>"$DEMO/pids"
S3_PROXY_PORT="$(demo_s3_port "$DEMO/s3proxy.port" "$S3_PROXY_PID" s3proxy)"
S3_ENDPOINT="http://127.0.0.1:$S3_PROXY_PORT"

(umask 077 && cat >"$DEMO/s3.cred" <<CRED
# Written by scripts/demo-s3.sh for the demo's S3 server.
[default]
aws_access_key_id = $S3_KEY_ID
aws_secret_access_key = $S3_SECRET
CRED
)

echo "demo: s3rver on 127.0.0.1:$S3_PORT, checked by the SigV4 proxy on" \
	"$S3_ENDPOINT; uploading $DEMO/data to s3://$S3_BUCKET/imagenet/"
AWS_ACCESS_KEY_ID="$S3_KEY_ID" AWS_SECRET_ACCESS_KEY="$S3_SECRET" \
	"$PY" "$S3_DIR/s3tool.py" --endpoint "$S3_ENDPOINT" mb "$S3_BUCKET"
AWS_ACCESS_KEY_ID="$S3_KEY_ID" AWS_SECRET_ACCESS_KEY="$S3_SECRET" \
	"$PY" "$S3_DIR/s3tool.py" --endpoint "$S3_ENDPOINT" \
	put-tree "$S3_BUCKET" imagenet/ "$DEMO/data"

# The dataset section: the same name, now read from the bucket.
awk -v ep="$S3_ENDPOINT" -v cred="$DEMO/s3.cred" -v uri="s3://$S3_BUCKET/imagenet/" '
/^\[/ { in_ds = ($0 == "[dataset imagenet]") }
in_ds && /^backend[ \t]*=/ { print "backend = s3"; next }
in_ds && /^uri[ \t]*=/ {
	print "uri = " uri
	print "endpoint = " ep
	print "region = us-east-1"
	print "credentials = " cred
	next
}
{ print }
' "$CONF" >"$CONF.tmp"
mv "$CONF.tmp" "$CONF"
unset S3_SECRET
