#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A signature-verifying S3 front for s3rver, used by Sluice's S3 tests.

s3rver (the test S3 server) accepts any SigV4 signature from a known key id
and ignores If-Match, so on its own it would let a signing bug through that
real S3 rejects.  This proxy stands in front of it and behaves like S3 where
it matters to a client:

* Every request must carry a SigV4 Authorization header.  The proxy
  recomputes the signature with an independent implementation, botocore's
  S3SigV4Auth, from the secret it was given, over the canonical request that
  S3 itself would build: the path percent-decoded once and re-encoded the
  AWS way, the query parameters decoded, re-encoded and sorted, the headers
  that SignedHeaders names.  A mismatch is 403 SignatureDoesNotMatch; a
  missing x-amz-content-sha256, an unsigned x-amz-* header, a wrong region
  or a payload whose hash differs are refused as S3 refuses them.  Good
  requests are forwarded to s3rver under its own key id, and the reply is
  streamed back.
* If-Match on GET/HEAD is honoured (412 PreconditionFailed), unless the
  control endpoint switches it off to imitate servers that ignore it.
* ListObjectsV2 is answered here, from s3rver's flat listing, because
  s3rver's own delimiter listing omits a common prefix that holds only
  deeper folders (train/ whose objects are all under train/nXXXX/) and does
  not count common prefixes against max-keys.  The answer is S3's: keys and
  common prefixes merged in byte order, both counted by max-keys, opaque
  continuation tokens, encoding-type=url.
* Virtual-hosted requests (Host: BUCKET.localhost:PORT) are mapped to
  path-style ones before they are forwarded.

A control interface under /__proxy/ (unsigned; bucket names cannot start
with '_') lets a test inject faults (an S3 error status, a connection
reset, a delay, a hang), switch If-Match handling and read counters:

  POST /__proxy/fault?kind=status&status=503&code=SlowDown&count=3
  POST /__proxy/fault?kind=reset&count=2         (also: delay&ms=, hang&ms=)
  POST /__proxy/if-match?mode=ignore|honour
  POST /__proxy/delay?ms=50                      (every object GET, for overlap)
  GET  /__proxy/stats                            (JSON counters)
  POST /__proxy/reset                            (clear faults and counters)

Usage: sigv4_proxy.py --upstream 127.0.0.1:PORT --key ID:SECRET[:TOKEN]
       [--listen 127.0.0.1:0] [--port-file FILE] [--region us-east-1]
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import http.client
import http.server
import json
import os
import re
import socket
import struct
import sys
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

UPSTREAM_KEY = "S3RVER"  # s3rver's built-in key id; it checks no v4 signature
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te",
              "trailer", "transfer-encoding", "upgrade", "host",
              "authorization"}
UNSIGNED = ("UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
CHUNK = 256 * 1024


class S3Error(Exception):
    def __init__(self, status, code, message, **extra):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = (
            status, code, message, extra)


class State:
    """Everything the handler threads share, under one lock."""

    def __init__(self, args):
        self.lock = threading.Lock()
        self.region = args.region
        self.keys = {}  # key id -> (secret, token or None)
        for k in args.key:
            parts = k.split(":", 2)
            if len(parts) < 2:
                sys.exit("sigv4_proxy: --key wants ID:SECRET[:TOKEN]")
            self.keys[parts[0]] = (parts[1],
                                   (parts[2] or None) if len(parts) > 2 else None)
        host, port = args.upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        self.verbose = args.verbose
        self.reset()

    def reset(self):
        with self.lock:
            self.faults = []  # [kind, count, params]
            self.honour_if_match = True
            self.get_delay_ms = 0
            self.stats = dict(requests=0, connections=0, inflight=0,
                              max_inflight=0, sig_failures=0, lists=0,
                              list_tokens=0, gets=0, heads=0, faults=0,
                              precondition_failed=0)

    def bump(self, name, n=1):
        with self.lock:
            self.stats[name] += n
            if name == "inflight":
                self.stats["max_inflight"] = max(self.stats["max_inflight"],
                                                 self.stats["inflight"])

    def take_fault(self):
        with self.lock:
            if not self.faults:
                return None
            f = self.faults[0]
            f[1] -= 1
            if f[1] <= 0:
                self.faults.pop(0)
            self.stats["faults"] += 1
            return f[0], f[2]


def error_xml(code, message, extra):
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<Error>',
             "<Code>%s</Code><Message>%s</Message>" % (escape(code),
                                                        escape(message))]
    for k, v in extra.items():
        parts.append("<%s>%s</%s>" % (k, escape(str(v)), k))
    parts.append("<RequestId>%s</RequestId></Error>" % os.urandom(8).hex())
    return "".join(parts).encode()


def aws_canonical_path(raw_path):
    """What S3 signs for a request path: decoded once, re-encoded with only
    A-Za-z0-9-._~ and '/' left bare."""
    return urllib.parse.quote(urllib.parse.unquote_to_bytes(raw_path),
                              safe="/~")


def query_pairs(raw_query):
    """The query as (name, value) pairs, each percent-decoded once ('+' is
    a plus sign, as S3 reads it)."""
    out = []
    if not raw_query:
        return out
    for part in raw_query.split("&"):
        if part == "":
            continue
        k, _, v = part.partition("=")
        out.append((urllib.parse.unquote(k), urllib.parse.unquote(v)))
    return out


class _Signer(S3SigV4Auth):
    """botocore's S3 signer, told which headers the client signed."""

    def __init__(self, creds, region, signed):
        super().__init__(creds, "s3", region)
        self._signed = signed

    def headers_to_sign(self, request):
        hm = HTTPHeaders()
        for name in self._signed:
            for v in request.headers.get_all(name) or []:
                hm[name] = v
        return hm


def parse_authorization(value):
    if not value.startswith("AWS4-HMAC-SHA256 "):
        raise S3Error(400, "InvalidArgument",
                      "Unsupported Authorization Type")
    fields = {}
    for item in value[len("AWS4-HMAC-SHA256 "):].split(","):
        k, _, v = item.strip().partition("=")
        fields[k] = v
    try:
        cred = fields["Credential"].split("/")
        signed = fields["SignedHeaders"].split(";")
        sig = fields["Signature"]
    except KeyError:
        raise S3Error(400, "AuthorizationHeaderMalformed",
                      "The authorization header is malformed")
    if len(cred) != 5 or cred[4] != "aws4_request":
        raise S3Error(400, "AuthorizationHeaderMalformed",
                      "The authorization header is malformed; the "
                      "Credential is mal-formed")
    return cred, signed, sig


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sluice-sigv4-proxy"
    upstream_conn = None

    # ---- plumbing -------------------------------------------------------

    def setup(self):
        super().setup()
        self.server.state.bump("connections")

    def log_message(self, fmt, *args):
        if self.server.state.verbose:
            sys.stderr.write("sigv4_proxy: %s %s\n" % (
                self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

    def send_error_doc(self, e):
        body = error_xml(e.code, e.message, e.extra)
        self.send_response(e.status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amz-request-id", os.urandom(8).hex())
        if "Region" in e.extra:
            # As S3 does when a request is signed for another region.
            self.send_header("x-amz-bucket-region", e.extra["Region"])
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_body(self, status, body, ctype="application/xml", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def dispatch(self):
        raw_path, _, raw_query = self.path.partition("?")
        if raw_path.startswith("/__proxy/"):
            self.read_body()
            return self.control(raw_path[len("/__proxy/"):],
                                dict(query_pairs(raw_query)))
        st = self.server.state
        st.bump("requests")
        st.bump("inflight")
        try:
            body = self.read_body()
            fault = st.take_fault()
            if fault and self.inject(*fault):
                return
            try:
                self.verify(raw_path, raw_query, body)
                self.serve(raw_path, raw_query, body)
            except S3Error as e:
                self.send_error_doc(e)
        finally:
            st.bump("inflight", -1)

    # ---- faults and control --------------------------------------------

    def inject(self, kind, p):
        """Apply one injected fault; True when the request is consumed."""
        if kind == "delay":
            time.sleep(int(p.get("ms", "100")) / 1000)
            return False
        if kind == "status":
            self.send_error_doc(S3Error(int(p.get("status", "503")),
                                        p.get("code", "SlowDown"),
                                        p.get("message",
                                              "Please reduce your request "
                                              "rate.")))
            return True
        if kind == "hang":
            time.sleep(int(p.get("ms", "60000")) / 1000)
        # reset (and the end of a hang): drop the connection with an RST.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
        self.close_connection = True
        return True

    def control(self, what, q):
        st = self.server.state
        if what == "stats":
            with st.lock:
                body = json.dumps(st.stats).encode()
            return self.send_body(200, body, "application/json")
        if what == "reset":
            st.reset()
        elif what == "fault":
            with st.lock:
                st.faults.append([q.get("kind", "status"),
                                  int(q.get("count", "1")), q])
        elif what == "if-match":
            with st.lock:
                st.honour_if_match = q.get("mode", "honour") == "honour"
        elif what == "delay":
            with st.lock:
                st.get_delay_ms = int(q.get("ms", "0"))
        else:
            return self.send_body(404, b"unknown control\n", "text/plain")
        self.send_body(200, b"ok\n", "text/plain")

    # ---- signature verification ------------------------------------------

    def verify(self, raw_path, raw_query, body):
        st = self.server.state
        auth = self.headers.get("Authorization")
        if not auth:
            raise S3Error(403, "AccessDenied", "Access Denied")
        cred, signed, sig = parse_authorization(auth)
        key_id, date, region, service, _ = cred
        if key_id not in st.keys:
            st.bump("sig_failures")
            raise S3Error(403, "InvalidAccessKeyId",
                          "The AWS Access Key Id you provided does not "
                          "exist in our records.", AWSAccessKeyId=key_id)
        secret, token = st.keys[key_id]
        if region != st.region or service != "s3":
            raise S3Error(400, "AuthorizationHeaderMalformed",
                          "The authorization header is malformed; the "
                          "region '%s' is wrong; expecting '%s'" %
                          (region, st.region), Region=st.region)
        amz_date = self.headers.get("x-amz-date", "")
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")
        except ValueError:
            raise S3Error(403, "AccessDenied",
                          "AWS authentication requires a valid Date or "
                          "x-amz-date header")
        now = datetime.datetime.utcnow()
        if abs((now - when).total_seconds()) > 15 * 60:
            raise S3Error(403, "RequestTimeTooSkewed",
                          "The difference between the request time and "
                          "the current time is too large.")
        if date != amz_date[:8]:
            raise S3Error(403, "SignatureDoesNotMatch",
                          "Credential date does not match x-amz-date")
        sha = self.headers.get("x-amz-content-sha256")
        if sha is None:
            raise S3Error(400, "InvalidRequest",
                          "Missing required header for this request: "
                          "x-amz-content-sha256")
        signed_set = set(signed)
        if "host" not in signed_set:
            raise S3Error(403, "SignatureDoesNotMatch",
                          "host must be a signed header")
        for name in self.headers.keys():
            n = name.lower()
            if n.startswith("x-amz-") and n not in signed_set:
                raise S3Error(403, "AccessDenied",
                              "There were headers present in the request "
                              "which were not signed",
                              HeadersNotSigned=n)
        if token is not None or "x-amz-security-token" in signed_set:
            if self.headers.get("x-amz-security-token") != token:
                st.bump("sig_failures")
                raise S3Error(403, "InvalidToken",
                              "The provided token is malformed or "
                              "otherwise invalid.")
        if sha not in UNSIGNED and not sha.startswith("STREAMING-"):
            if hashlib.sha256(body).hexdigest() != sha:
                raise S3Error(400, "XAmzContentSHA256Mismatch",
                              "The provided 'x-amz-content-sha256' header "
                              "does not match what was computed.")

        host = self.headers.get("Host", "")
        req = AWSRequest(method=self.command,
                         url="http://%s%s" % (host,
                                              aws_canonical_path(raw_path)),
                         params=query_pairs(raw_query))
        for name in signed:
            for v in self.headers.get_all(name) or []:
                req.headers[name] = v
        req.context["timestamp"] = amz_date
        signer = _Signer(Credentials(key_id, secret, token), region, signed)
        canonical = signer.canonical_request(req)
        sts = signer.string_to_sign(req, canonical)
        expected = signer.signature(sts, req)
        if not hmac.compare_digest(expected, sig):
            st.bump("sig_failures")
            if st.verbose:
                sys.stderr.write("sigv4_proxy: signature mismatch; "
                                 "canonical request:\n%s\n" % canonical)
            raise S3Error(403, "SignatureDoesNotMatch",
                          "The request signature we calculated does not "
                          "match the signature you provided. Check your "
                          "key and signing method.",
                          CanonicalRequest=canonical, StringToSign=sts)

    # ---- forwarding ---------------------------------------------------------

    def bucket_and_path(self, raw_path):
        """(bucket, path-style raw path) for a path-style or virtual-hosted
        request."""
        host = self.headers.get("Host", "").rsplit(":", 1)[0]
        if host.endswith(".localhost"):
            bucket = host[:-len(".localhost")]
            return bucket, "/" + bucket + raw_path
        parts = raw_path.split("/", 2)
        return urllib.parse.unquote(parts[1]) if len(parts) > 1 else "", \
            raw_path

    def upstream(self, method, path, headers, body=b""):
        """One request to s3rver on this handler's kept-alive connection."""
        for attempt in (0, 1):
            if self.upstream_conn is None:
                self.upstream_conn = http.client.HTTPConnection(
                    *self.server.state.upstream, timeout=60)
            try:
                self.upstream_conn.request(method, path, body=body,
                                           headers=headers)
                return self.upstream_conn.getresponse()
            except (OSError, http.client.HTTPException):
                self.upstream_conn.close()
                self.upstream_conn = None
                if attempt:
                    raise S3Error(503, "ServiceUnavailable",
                                  "The upstream S3 server is unreachable.")

    def forward_headers(self):
        out = {}
        for k, v in self.headers.items():
            if k.lower() in HOP_BY_HOP:
                continue
            out[k] = v
        up = "%s:%d" % self.server.state.upstream
        out["Host"] = up
        # s3rver wants a known key id; it checks no v4 signature.
        auth = self.headers.get("Authorization", "")
        key_id = auth.split("Credential=", 1)[1].split("/", 1)[0]
        out["Authorization"] = auth.replace("Credential=" + key_id,
                                            "Credential=" + UPSTREAM_KEY, 1)
        return out

    def serve(self, raw_path, raw_query, body):
        st = self.server.state
        bucket, path = self.bucket_and_path(raw_path)
        q = dict(query_pairs(raw_query))
        is_bucket = path[1:].partition("/")[2] == ""
        if self.command in ("GET", "HEAD") and is_bucket and \
                q.get("list-type") == "2":
            return self.list_v2(bucket, q)
        if self.command == "GET":
            st.bump("gets")
        elif self.command == "HEAD":
            st.bump("heads")
        with st.lock:
            delay = st.get_delay_ms if self.command == "GET" else 0
            honour = st.honour_if_match
        if delay:
            time.sleep(delay / 1000)
        target = path + ("?" + raw_query if raw_query else "")
        resp = self.upstream(self.command, target, self.forward_headers(),
                             body)
        if resp.status == 206 and self.command == "GET":
            # s3rver answers a range of an empty object with a 206 that
            # promises a byte it never sends; S3 says 416 InvalidRange.
            m = re.match(r"bytes (\d+)-\d+/(\d+)$",
                         resp.getheader("Content-Range", ""))
            if m and int(m.group(1)) >= int(m.group(2)):
                self.upstream_conn.close()
                self.upstream_conn = None
                raise S3Error(416, "InvalidRange",
                              "The requested range is not satisfiable",
                              ActualObjectSize=m.group(2))
        if_match = self.headers.get("If-Match")
        if honour and if_match and self.command in ("GET", "HEAD") and \
                resp.status in (200, 206):
            etag = (resp.getheader("ETag") or "").strip('"')
            wanted = [t.strip().strip('"') for t in if_match.split(",")]
            if "*" not in wanted and etag not in wanted:
                resp.read()
                st.bump("precondition_failed")
                raise S3Error(412, "PreconditionFailed",
                              "At least one of the pre-conditions you "
                              "specified did not hold",
                              Condition="If-Match")
        self.relay(resp)

    def relay(self, resp):
        length = resp.getheader("Content-Length")
        buffered = None
        if length is None and self.command != "HEAD":
            buffered = resp.read()
            length = str(len(buffered))
        self.send_response(resp.status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() in HOP_BY_HOP or k.lower() == "content-length":
                continue
            self.send_header(k, v)
        if length is not None:
            self.send_header("Content-Length", length)
        self.end_headers()
        if self.command == "HEAD":
            resp.read()
            return
        if buffered is not None:
            self.wfile.write(buffered)
            return
        while True:
            chunk = resp.read(CHUNK)
            if not chunk:
                break
            self.wfile.write(chunk)

    # ---- ListObjectsV2, answered here ---------------------------------------

    def flat_listing(self, bucket, prefix):
        """Every key under prefix, from s3rver's own (paged) listing."""
        keys = {}
        token = None
        while True:
            q = [("list-type", "2"), ("prefix", prefix)]
            if token:
                q.append(("continuation-token", token))
            target = "/%s?%s" % (urllib.parse.quote(bucket),
                                 urllib.parse.urlencode(q))
            resp = self.upstream("GET", target, {"Host": "%s:%d" %
                                                 self.server.state.upstream})
            data = resp.read()
            if resp.status != 200:
                root = ET.fromstring(data)
                raise S3Error(resp.status, root.findtext("Code") or "Error",
                              root.findtext("Message") or "")
            root = ET.fromstring(data)
            for el in root.iter():
                el.tag = el.tag.split("}", 1)[-1]
            for c in root.findall("Contents"):
                k = c.findtext("Key")
                keys[k] = (int(c.findtext("Size")), c.findtext("LastModified"),
                           c.findtext("ETag"))
            if root.findtext("IsTruncated") != "true":
                return keys
            token = root.findtext("NextContinuationToken")

    def list_v2(self, bucket, q):
        st = self.server.state
        st.bump("lists")
        prefix = q.get("prefix", "")
        delim = q.get("delimiter", "")
        try:
            max_keys = int(q.get("max-keys", "1000"))
        except ValueError:
            raise S3Error(400, "InvalidArgument",
                          "Provided max-keys not an integer or within "
                          "integer range")
        max_keys = max(0, min(1000, max_keys))
        url_enc = q.get("encoding-type") == "url"
        after = q.get("start-after", "")
        token = q.get("continuation-token")
        if token is not None:
            st.bump("list_tokens")
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except ValueError:
                raise S3Error(400, "InvalidArgument",
                              "The continuation token provided is "
                              "incorrect")
        keys = self.flat_listing(bucket, prefix)
        entries = {}
        for k, meta in keys.items():
            if not k.startswith(prefix):
                continue
            i = k.find(delim, len(prefix)) if delim else -1
            if i >= 0:
                entries[k[:i + len(delim)]] = None
            else:
                entries[k] = meta
        names = sorted(entries, key=lambda s: s.encode())
        names = [n for n in names if n.encode() > after.encode()]
        page, rest = names[:max_keys], names[max_keys:]

        def enc(s):
            return urllib.parse.quote_plus(s.encode(), safe="/") \
                if url_enc else s

        out = ['<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult '
               'xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
               "<Name>%s</Name>" % escape(bucket),
               "<Prefix>%s</Prefix>" % escape(enc(prefix))]
        if delim:
            out.append("<Delimiter>%s</Delimiter>" % escape(enc(delim)))
        if token is not None:
            out.append("<ContinuationToken>%s</ContinuationToken>" %
                       escape(token))
        out.append("<MaxKeys>%d</MaxKeys><KeyCount>%d</KeyCount>"
                   "<IsTruncated>%s</IsTruncated>" %
                   (max_keys, len(page), "true" if rest else "false"))
        if rest:
            nxt = base64.urlsafe_b64encode(page[-1].encode()).decode() \
                if page else token
            out.append("<NextContinuationToken>%s</NextContinuationToken>" %
                       escape(nxt))
        if url_enc:
            out.append("<EncodingType>url</EncodingType>")
        for n in page:
            meta = entries[n]
            if meta is None:
                continue
            out.append("<Contents><Key>%s</Key><LastModified>%s"
                       "</LastModified><ETag>%s</ETag><Size>%d</Size>"
                       "<StorageClass>STANDARD</StorageClass></Contents>" %
                       (escape(enc(n)), escape(meta[1]), escape(meta[2]),
                        meta[0]))
        for n in page:
            if entries[n] is None:
                out.append("<CommonPrefixes><Prefix>%s</Prefix>"
                           "</CommonPrefixes>" % escape(enc(n)))
        out.append("</ListBucketResult>")
        self.send_body(200, "".join(out).encode())


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # many clients connect at once

    def handle_error(self, request, client_address):
        # A client that goes away mid-reply (timeouts, injected resets) is
        # normal here.
        if self.state.verbose:
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--upstream", required=True, help="s3rver's HOST:PORT")
    ap.add_argument("--key", action="append", default=[],
                    help="ID:SECRET[:SESSION_TOKEN] (repeatable)")
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--port-file", help="write the bound port here")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if not args.key:
        sys.exit("sigv4_proxy: at least one --key")
    host, port = args.listen.rsplit(":", 1)
    srv = Server((host, int(port)), Handler)
    srv.state = State(args)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.rename(tmp, args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
