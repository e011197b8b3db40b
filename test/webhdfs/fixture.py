#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""A WebHDFS server for Sluice's tests, after the published specification.

No HDFS runs where Sluice is tested, so this stands in for one.  It was
written from Hadoop's "WebHDFS REST API" document, and where the document
is silent, from what Hadoop's namenode does:

* The namespace is a local directory (--root): an HDFS path /a/b is
  ROOT/a/b.  A file's FileStatus carries every property the specification
  marks required (accessTime, blockSize, group, length, modificationTime
  in ms, owner, pathSuffix, permission as an octal string, replication,
  type) and fileId (the local inode number plus 16384) and childrenNum;
  symlinks are SYMLINK entries in listings and are resolved by
  GETFILESTATUS and OPEN.
* Operations: GETFILESTATUS, LISTSTATUS (a file lists as itself, with an
  empty pathSuffix), LISTSTATUS_BATCH (startAfter, --ls-limit entries a
  page as dfs.ls.limit, remainingEntries), OPEN with offset and length.
  Children are in HDFS's order: names compared as signed bytes.  Any other
  op is refused as Hadoop refuses it (400 IllegalArgumentException), and
  so is LISTSTATUS_BATCH with --no-batch (as Hadoop before 2.8).
* OPEN on the namenode answers 307 with a Location on a datanode (round
  robin over the live ones), carrying its own parameters: the path, op,
  namenoderpcaddress, offset, length, and the caller's user.name or, in
  secure mode, the delegation token.  The datanode (a separate process,
  so that a test can kill it) needs namenoderpcaddress, checks the token
  in secure mode, and sends the bytes.
* Authentication.  Security off: the user is user.name (or dr.who), and
  --users lists who may read (anyone else gets AccessControlException,
  403).  --secure: a request needs delegation=TOKEN (--token); a wrong one
  is 403 InvalidToken; none at all is 401 with WWW-Authenticate: Negotiate
  and Jetty's non-JSON page (no Kerberos here: SPNEGO is never accepted).
* Errors are RemoteException bodies with the status codes of the
  specification's table: FileNotFoundException 404, AccessControlException
  and other IOExceptions 403, SecurityException 401, IllegalArgument 400,
  and a standby namenode (--standby, or the control interface) answers
  every operation with 403 StandbyException.

A control interface under /__fixture/ lets a test change the state, inject
faults and hostile replies, and read counters (JSON):

  POST /__fixture/state?standby=0|1&batch=0|1&delay=MS
  POST /__fixture/datanodes?live=0,1&next=1          (namenode)
  POST /__fixture/fault?kind=KIND&count=N[&op=OP]&...  (see FAULTS)
  POST /__fixture/stall?after=BYTES&marker=FILE      (datanode: the next
       OPEN sends BYTES, creates FILE and hangs until the process dies)
  GET  /__fixture/stats
  POST /__fixture/reset                               (faults, counters)

Usage: fixture.py namenode|datanode --root DIR [--listen 127.0.0.1:0]
       [--port-file FILE] [--datanodes H:P,...] [--users a,b] [--secure
       --token T --token-user U] [--standby] [--ls-limit N] [--no-batch]
"""
import argparse
import collections
import http.server
import json
import os
import socket
import socketserver
import stat as st_mod
import struct
import sys
import threading
import time
import urllib.parse

PREFIX = "/webhdfs/v1"
RPC_ADDRESS = "localhost:8020"

# Hostile replies a fault can put in place of a good one; `op` limits a
# fault to one operation.
FAULTS = {
    "status":    "answer STATUS with EXCEPTION (and MESSAGE)",
    "reset":     "close the connection without an answer",
    "hang":      "wait MS before answering",
    "body":      "replace the JSON of a 200 by BODY (see BODIES)",
    "redirect":  "OPEN redirects to REDIRECT: file, ftp, loop, none, "
                 "relative, long, self (a datanode to itself)",
    "short":     "datanode: promise the bytes, send half, close",
    "long":      "datanode: send 100 bytes more than asked for",
    "lie":       "datanode: send half the bytes, with a Content-Length "
                 "that says so",
    "errorbody": "answer 500 with an endless error body",
}
BODIES = ["garbage", "array", "empty", "wrongtype", "negative", "float",
          "badtype", "badperm", "truncated", "dupkey", "huge", "deep",
          "unsorted", "ignorestart", "emptymore", "badnames",
          "noremaining", "bigint", "nofield"]


def signed_key(name):
    """HDFS orders children by their names' bytes taken as signed."""
    return bytes(b ^ 0x80 for b in name)


class State:
    """Everything the handlers share, behind one lock."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.standby = args.standby
        self.batch = not args.no_batch
        self.delay_ms = 0
        self.datanodes = [d for d in (args.datanodes or "").split(",") if d]
        self.live = list(range(len(self.datanodes)))
        self.rr = 0
        self.faults = []
        self.stall = None
        self.reset_counters()

    def reset_counters(self):
        self.stats = collections.Counter()
        self.users = collections.Counter()
        self.inflight = 0

    def take_fault(self, op):
        with self.lock:
            for f in self.faults:
                if f["count"] > 0 and f.get("op") in (None, op):
                    f["count"] -= 1
                    self.stats["faults"] += 1
                    return dict(f)
        return None

    def next_datanode(self):
        with self.lock:
            if not self.live:
                return None
            i = self.live[self.rr % len(self.live)]
            self.rr += 1
            return self.datanodes[i]


def remote(exc, java, msg):
    return {"RemoteException": {"exception": exc, "javaClassName": java,
                                "message": msg}}


class Refusal(Exception):
    """An error reply: status, RemoteException body."""

    def __init__(self, status, exc, java, msg):
        super().__init__(msg)
        self.status = status
        self.body = remote(exc, java, msg)


class Answered(Exception):
    """The reply was sent already (a non-JSON one)."""


def not_found(path):
    return Refusal(404, "FileNotFoundException",
                   "java.io.FileNotFoundException",
                   "File does not exist: " + path)


def bad_param(name, value, why):
    return Refusal(400, "IllegalArgumentException",
                   "java.lang.IllegalArgumentException",
                   'Invalid value for webhdfs parameter "%s": %s: %s'
                   % (name, value, why))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # A reply's head and body leave as they are written: with Nagle's
    # algorithm on, the body of a small reply waits for the client's
    # delayed ACK of the head (40 ms) on every kept-alive connection, which
    # no real server does.
    disable_nagle_algorithm = True
    def version_string(self):
        return "Jetty(9.4.20.v20190813)"

    def log_message(self, fmt, *a):  # quiet: tests read counters instead
        pass

    @property
    def st(self):
        return self.server.state

    def setup(self):
        super().setup()
        self.counted = False  # a connection counts once it asks WebHDFS

    # -- replies ----------------------------------------------------------

    def send_json(self, status, obj):
        data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        # The head and a small body in one write, as Jetty sends them.
        self._headers_buffer.append(b"\r\n" + data)
        self.flush_headers()

    def reset_connection(self):
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- requests ---------------------------------------------------------

    def do_GET(self):
        raw_path, _, query = self.path.partition("?")
        if raw_path.startswith("/__fixture/"):
            return self.control("GET", raw_path[11:], query)
        with self.st.lock:
            if not self.counted:
                self.counted = True
                self.st.stats["connections"] += 1
            self.st.inflight += 1
            self.st.stats["requests"] += 1
            self.st.stats["max_inflight"] = max(self.st.stats["max_inflight"],
                                                self.st.inflight)
        try:
            self.serve(raw_path, query)
        except Refusal as r:
            self.send_json(r.status, r.body)
        except Answered:
            pass
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            with self.st.lock:
                self.st.inflight -= 1

    def do_POST(self):
        raw_path, _, query = self.path.partition("?")
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        if raw_path.startswith("/__fixture/"):
            return self.control("POST", raw_path[11:], query)
        self.send_json(400, remote(
            "IllegalArgumentException", "java.lang.IllegalArgumentException",
            "Invalid value for webhdfs parameter \"op\": this read-only "
            "server takes GET operations only"))

    do_PUT = do_POST
    do_DELETE = do_POST

    def serve(self, raw_path, query):
        st = self.st
        pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
        params = {}
        for k, v in pairs:
            if k in params:
                with st.lock:
                    st.stats["dup_params"] += 1
            params[k] = v
        if not raw_path.startswith(PREFIX + "/") and raw_path != PREFIX:
            raise Refusal(404, "FileNotFoundException",
                          "java.io.FileNotFoundException",
                          "no WebHDFS resource " + raw_path[:80])
        hpath_b = urllib.parse.unquote_to_bytes(raw_path[len(PREFIX):]) or b"/"
        op = params.get("op", "").upper()
        with st.lock:
            st.stats["op_" + op] += 1
            if "delegation" in params:
                st.stats["tokens_seen"] += 1
            if self.headers.get("Authorization"):
                st.stats["auth_headers"] += 1
            delay = st.delay_ms
        if delay:
            time.sleep(delay / 1000)
        fault = st.take_fault(op)
        if fault and fault["kind"] == "reset":
            return self.reset_connection()
        if fault and fault["kind"] == "hang":
            time.sleep(fault.get("ms", 60000) / 1000)
        if fault and fault["kind"] == "status":
            raise Refusal(fault["status"], fault["exception"],
                          fault.get("java", "java.io.IOException"),
                          fault.get("message", "injected"))
        if fault and fault["kind"] == "errorbody":
            return self.endless_error()
        try:
            hpath = hpath_b.decode("utf-8")
        except UnicodeDecodeError:
            raise bad_param("path", "(bytes)", "not UTF-8")
        comps = [c for c in hpath.split("/") if c]
        if any(c in (".", "..") for c in comps) or "//" in hpath:
            raise bad_param("path", hpath[:80], "Invalid path name")
        hpath = "/" + "/".join(comps)
        user = self.authenticate(params)
        if self.server.role == "datanode":
            return self.dn_open(hpath, params, fault)
        if st.standby:
            with st.lock:
                st.stats["standby_refusals"] += 1
            raise Refusal(403, "StandbyException",
                          "org.apache.hadoop.ipc.StandbyException",
                          "Operation category READ is not supported in "
                          "state standby. Visit "
                          "https://s.apache.org/sbnn-error")
        self.authorize(user, hpath)
        if op == "GETFILESTATUS":
            return self.reply(fault, op, {"FileStatus": self.status(
                hpath, b"", follow=True)})
        if op == "LISTSTATUS":
            return self.reply(fault, op, {"FileStatuses": {
                "FileStatus": self.listing(hpath, None, None)[0]}})
        if op == "LISTSTATUS_BATCH" and st.batch:
            after = params.get("startAfter")
            ents, remaining = self.listing(hpath, after, st.args.ls_limit)
            if fault and fault["kind"] == "body" and \
                    fault["body"] == "ignorestart":
                ents, remaining = self.listing(hpath, None,
                                               st.args.ls_limit)
                fault = None
            return self.reply(fault, op, {"DirectoryListing": {
                "partialListing": {"FileStatuses": {"FileStatus": ents}},
                "remainingEntries": remaining}})
        if op == "OPEN":
            return self.nn_open(hpath, params, user, fault)
        raise bad_param("op", op, "No enum constant "
                        "org.apache.hadoop.hdfs.web.resources."
                        "GetOpParam.Op." + op)

    def authenticate(self, params):
        st = self.st
        if st.args.secure:
            tok = params.get("delegation")
            if tok is None:
                # Counted before the answer: a test reads the count as
                # soon as its request returns.
                with st.lock:
                    st.stats["unauthenticated"] += 1
                self.send_response(401)
                page = (b"<html><head><title>Error 401 Authentication "
                        b"required</title></head><body><h2>HTTP ERROR 401"
                        b"</h2></body></html>")
                self.send_header("WWW-Authenticate", "Negotiate")
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)
                raise Answered()
            if tok != st.args.token:
                with st.lock:
                    st.stats["bad_tokens"] += 1
                raise Refusal(
                    403, "InvalidToken",
                    "org.apache.hadoop.security.token.SecretManager"
                    "$InvalidToken",
                    "token (HDFS_DELEGATION_TOKEN token 17 for %s) can't "
                    "be found in cache" % st.args.token_user)
            user = st.args.token_user
        else:
            user = params.get("user.name", "dr.who")
        with st.lock:
            st.users[user] += 1
        return user

    def authorize(self, user, hpath):
        allowed = self.st.args.users
        if allowed and user not in allowed.split(","):
            with self.st.lock:
                self.st.stats["access_denied"] += 1
            raise Refusal(403, "AccessControlException",
                          "org.apache.hadoop.security.AccessControlException",
                          'Permission denied: user=%s, access=READ_EXECUTE, '
                          'inode="%s":%s:supergroup:drwx------'
                          % (user, hpath, self.st.args.owner))

    def reply(self, fault, op, obj):
        if fault and fault["kind"] == "body":
            return self.send_json(200, hostile(fault["body"], obj, op))
        self.send_json(200, obj)

    def endless_error(self):
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.close_connection = True
        chunk = b" " * 65536
        try:
            for _ in range(100000):
                self.wfile.write(chunk)
        except OSError:
            pass

    # -- the namespace ----------------------------------------------------

    def local(self, hpath):
        return os.path.join(self.st.args.root.encode(),
                            hpath.encode("utf-8").lstrip(b"/"))

    def status(self, hpath, name, follow):
        p = self.local(hpath)
        try:
            s = os.stat(p) if follow else os.lstat(p)
        except FileNotFoundError:
            raise not_found(hpath)
        return self.status_of(p, s, name)

    def status_of(self, p, s, name):
        mode = s.st_mode
        is_dir = st_mod.S_ISDIR(mode)
        d = {
            "accessTime": int(s.st_atime_ns // 1000000),
            "blockSize": 0 if is_dir else 134217728,
            "childrenNum": len(os.listdir(p)) if is_dir else 0,
            "fileId": s.st_ino + 16384,
            "group": "supergroup",
            "length": 0 if is_dir else s.st_size,
            "modificationTime": int(s.st_mtime_ns // 1000000),
            "owner": self.st.args.owner,
            "pathSuffix": name.decode("utf-8"),
            "permission": "%o" % (mode & 0o1777),
            "replication": 0 if is_dir else 3,
            "storagePolicy": 0,
            "type": "DIRECTORY" if is_dir else "FILE",
        }
        if st_mod.S_ISLNK(mode):
            d["type"] = "SYMLINK"
            d["symlink"] = os.readlink(p).decode("utf-8", "replace")
            d["length"] = 0
        return d

    def listing(self, hpath, after, limit):
        p = self.local(hpath)
        try:
            s = os.stat(p)
        except FileNotFoundError:
            raise not_found(hpath)
        if not st_mod.S_ISDIR(s.st_mode):
            return [self.status_of(p, s, b"")], 0
        names = []
        for n in os.listdir(p):
            try:
                n.decode("utf-8")
            except UnicodeDecodeError:
                continue
            names.append(n)
        names.sort(key=signed_key)
        if after is not None:
            a = signed_key(after.encode("utf-8"))
            names = [n for n in names if signed_key(n) > a]
        rest = 0
        if limit is not None and len(names) > limit:
            rest = len(names) - limit
            names = names[:limit]
        ents = []
        for n in names:
            q = os.path.join(p, n)
            try:
                ents.append(self.status_of(q, os.lstat(q), n))
            except FileNotFoundError:
                continue
        return ents, rest

    # -- OPEN ---------------------------------------------------------------

    def open_args(self, params):
        out = {}
        for k in ("offset", "length"):
            v = params.get(k)
            if v is None:
                continue
            if not v.isdigit():
                raise bad_param(k, v, "Failed to parse \"%s\" as a long" % v)
            out[k] = int(v)
        return out.get("offset", 0), out.get("length")

    def nn_open(self, hpath, params, user, fault):
        s = self.status(hpath, b"", follow=True)
        if s["type"] != "FILE":
            raise Refusal(404, "FileNotFoundException",
                          "java.io.FileNotFoundException",
                          "Path is not a file: " + hpath)
        offset, length = self.open_args(params)
        dn = self.st.next_datanode()
        if dn is None:
            raise Refusal(403, "IOException", "java.io.IOException",
                          "No live datanode holds a block of " + hpath)
        q = [("op", "OPEN"), ("namenoderpcaddress", RPC_ADDRESS),
             ("offset", str(offset))]
        if length is not None:
            q.append(("length", str(length)))
        if self.st.args.secure:
            q.append(("delegation", params["delegation"]))
        else:
            q.append(("user.name", user))
        loc = "http://%s%s%s?%s" % (
            dn, PREFIX, urllib.parse.quote(hpath.encode("utf-8"), safe="/"),
            urllib.parse.urlencode(q))
        if fault and fault["kind"] == "redirect":
            loc = {
                "file": "file:///etc/passwd",
                "ftp": "ftp://%s/x" % dn,
                "loop": "http://%s:%d%s" % (self.server.host,
                                            self.server.port, self.path),
                "none": None,
                "relative": "%s%s?op=OPEN" % (PREFIX, hpath),
                "long": "http://%s/%s" % (dn, "x" * 9000),
            }[fault["redirect"]]
        self.send_response(307)
        if loc is not None:
            self.send_header("Location", loc)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def dn_open(self, hpath, params, fault):
        st = self.st
        if params.get("op", "").upper() != "OPEN":
            raise bad_param("op", params.get("op"), "not a datanode op")
        if "namenoderpcaddress" not in params:
            raise bad_param("namenoderpcaddress", "null",
                            "Namenode RPC address is not set")
        if fault and fault["kind"] == "redirect":
            self.send_response(307)
            self.send_header("Location", "http://%s:%d%s" % (
                self.server.host, self.server.port, self.path))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        offset, length = self.open_args(params)
        p = self.local(hpath)
        try:
            f = open(p, "rb")
        except FileNotFoundError:
            raise not_found(hpath)
        with f:
            size = os.fstat(f.fileno()).st_size
            if offset > size:
                raise Refusal(403, "IOException", "java.io.EOFException",
                              "Cannot seek after EOF")
            n = size - offset if length is None else min(length,
                                                         size - offset)
            f.seek(offset)
            data = f.read(n)
        with st.lock:
            stall, st.stall = st.stall, None
            st.stats["bytes_sent"] += len(data)
        kind = fault["kind"] if fault else None
        promised = len(data)
        if kind == "long":
            data += b"\xee" * 100
            promised = len(data)
        elif kind == "lie":
            data = data[:len(data) // 2]
            promised = len(data)
        elif kind == "short":
            data = data[:len(data) // 2]
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(promised))
        self.end_headers()
        if stall:
            self.wfile.write(data[:stall["after"]])
            self.wfile.flush()
            with open(stall["marker"], "w") as m:
                m.write("stalled\n")
            while True:  # until the test kills this process
                time.sleep(1)
        for i in range(0, len(data), 1 << 18):
            self.wfile.write(data[i:i + (1 << 18)])
        if kind == "short":
            self.wfile.flush()
            self.reset_connection()

    # -- control ------------------------------------------------------------

    def control(self, method, what, query):
        st = self.st
        q = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        out = {"ok": True}
        with st.lock:
            if what == "stats" and method == "GET":
                out = dict(st.stats)
                out["users"] = dict(st.users)
                out["inflight"] = st.inflight
            elif what == "reset":
                st.faults = []
                st.stall = None
                st.delay_ms = 0
                st.reset_counters()
            elif what == "state":
                if "standby" in q:
                    st.standby = q["standby"] == "1"
                if "batch" in q:
                    st.batch = q["batch"] == "1"
                if "delay" in q:
                    st.delay_ms = int(q["delay"])
            elif what == "datanodes":
                if "live" in q:
                    st.live = [int(i) for i in q["live"].split(",") if i]
                if "next" in q:
                    st.rr = st.live.index(int(q["next"]))
            elif what == "fault" and q.get("kind") in FAULTS:
                f = {"kind": q["kind"], "count": int(q.get("count", 1))}
                for k in ("op", "exception", "java", "message", "body",
                          "redirect"):
                    if k in q:
                        f[k] = q[k]
                for k in ("status", "ms"):
                    if k in q:
                        f[k] = int(q[k])
                if f["kind"] == "body" and f.get("body") not in BODIES:
                    out = {"ok": False, "error": "unknown body"}
                else:
                    st.faults.append(f)
            elif what == "stall":
                st.stall = {"after": int(q["after"]), "marker": q["marker"]}
            else:
                out = {"ok": False, "error": "unknown control " + what}
        self.send_json(200 if out.get("ok", True) else 400, out)


def hostile(kind, good, op):
    """A reply that is not what the specification says, for kind."""
    fs = None
    if "FileStatus" in good:
        fs = good["FileStatus"]
    elif "FileStatuses" in good:
        fs = good["FileStatuses"]["FileStatus"]
    else:
        fs = good["DirectoryListing"]["partialListing"]["FileStatuses"][
            "FileStatus"]
    one = fs if isinstance(fs, dict) else (fs[0] if fs else {
        "pathSuffix": "x", "type": "FILE", "length": 1,
        "modificationTime": 1, "permission": "644"})

    def with_one(change):
        e = dict(one)
        change(e)
        if "FileStatus" in good:
            return {"FileStatus": e}
        lst = [e] + (fs[1:] if isinstance(fs, list) else [])
        if "FileStatuses" in good:
            return {"FileStatuses": {"FileStatus": lst}}
        return {"DirectoryListing": {"partialListing": {"FileStatuses": {
            "FileStatus": lst}}, "remainingEntries": 0}}

    if kind == "garbage":
        return b"<html><body>Service temporarily down</body></html>"
    if kind == "array":
        return b"[1, 2, 3]"
    if kind == "empty":
        return b""
    if kind == "wrongtype":
        return {k: [] for k in good}
    if kind == "negative":
        return with_one(lambda e: e.update(length=-5))
    if kind == "float":
        return with_one(lambda e: e.update(length=1.5))
    if kind == "bigint":
        return with_one(lambda e: e.update(modificationTime=10 ** 30))
    if kind == "badtype":
        return with_one(lambda e: e.update(type="BLOCKDEVICE"))
    if kind == "badperm":
        return with_one(lambda e: e.update(permission="rwxr-xr-x"))
    if kind == "nofield":
        return with_one(lambda e: e.pop("modificationTime"))
    if kind == "truncated":
        return json.dumps(good).encode()[:-7]
    if kind == "dupkey":
        return b'{"FileStatus": {}, "FileStatus": {}}'
    if kind == "huge":
        pad = " " * (17 << 20)
        return ('{"pad": "%s"}' % pad).encode()
    if kind == "deep":
        return b"[" * 30000 + b"]" * 30000
    if kind == "noremaining":
        d = json.loads(json.dumps(good))
        d.get("DirectoryListing", {}).pop("remainingEntries", None)
        return d
    if kind == "emptymore":
        return {"DirectoryListing": {"partialListing": {"FileStatuses": {
            "FileStatus": []}}, "remainingEntries": 5}}
    if kind == "unsorted":
        d = json.loads(json.dumps(good))
        lst = (d.get("FileStatuses") or
               d["DirectoryListing"]["partialListing"]["FileStatuses"])
        lst["FileStatus"].reverse()
        return d
    if kind == "badnames":
        base = dict(one)
        extra = []
        for n in ["bad\nname", "a/b", "..", ".", "", "x" * 300,
                  "tab\there", "del\x7f"]:
            e = dict(base)
            e["pathSuffix"] = n
            extra.append(e)
        lnk = dict(base)
        lnk["pathSuffix"] = "zz-link"
        lnk["type"] = "SYMLINK"
        lnk["symlink"] = "/elsewhere"
        lst = list(fs) + extra + [lnk]
        lst.sort(key=lambda e: signed_key(e["pathSuffix"].encode()))
        return {"DirectoryListing": {"partialListing": {"FileStatuses": {
            "FileStatus": lst}}, "remainingEntries": 0}}
    raise ValueError(kind)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("role", choices=["namenode", "datanode"])
    ap.add_argument("--root", required=True)
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--port-file")
    ap.add_argument("--datanodes", default="")
    ap.add_argument("--users", default="")
    ap.add_argument("--owner", default="alice")
    ap.add_argument("--secure", action="store_true")
    ap.add_argument("--token", default="")
    ap.add_argument("--token-user", default="alice")
    ap.add_argument("--standby", action="store_true")
    ap.add_argument("--ls-limit", type=int, default=1000)
    ap.add_argument("--no-batch", action="store_true")
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    srv = Server((host, int(port)), Handler)
    srv.role = args.role
    srv.state = State(args)
    srv.host, srv.port = srv.server_address[:2]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.port)
        os.rename(tmp, args.port_file)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
