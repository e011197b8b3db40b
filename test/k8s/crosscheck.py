#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The rendered manifests against this tree (after test/k8s/validate.mjs).

- images: Sluice's own image is `sluice` with the Makefile's VERSION as
  its tag (the image deploy/docker/Dockerfile builds); every other image
  is pinned to a tag other than `latest`;
- commands (command, args, probe and hook execs): every Sluice binary is
  one `make` builds, every option it is given is in its --help, every
  sluicectl command is in sluicectl's --help; every other program run in
  Sluice's image comes from a package its Dockerfile installs or an
  essential Debian package;
- config: every section and key of the ConfigMap's cluster.conf is one
  common/configkeys.c parses (or, in a dataset, one its backend documents);
  every `-c FILE` given to a binary is mounted from a ConfigMap that has
  that file; ConfigMaps, Secrets and ServiceAccounts referred to exist in
  the render (or are optional);
- sizes and ports: the cache node's memory request = limit >= ram_capacity
  + the overhead the README states, the client's >= block_cache + 64 MiB;
  the ports in --addr/--metrics-addr are the container ports the probes
  and the scrape annotation use;
- mounts: the FUSE client's mount point is a Bidirectional hostPath mount
  of a privileged container; every pod that mounts that host path does so
  with HostToContainer.

Names this tree does not have yet may be listed in deploy/kubernetes/PENDING
("flag BIN --opt", "command sluicectl CMD", "key SECTION KEY", "section
SECTION"): they are reported, not failed; a listed name that exists now is
reported too, so that the list can shrink.

usage: crosscheck.py ROOT BUILD OBJECTS.json
"""
import configparser
import json
import os
import re
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import dockerfile_check  # noqa: E402
import docs_keys  # noqa: E402

SLUICE_BINS = ("sluice-cachenode", "sluice-fuse", "sluicectl")
MIB = 1 << 20
# README, "The cache node": RSS <= ram_capacity + transient allowance
# (at most 32 MiB) + about 10 MiB, plus about 80 bytes per block on disk.
NODE_TRANSIENT, NODE_BASE, DISK_INDEX_PER_BLOCK = 32 * MIB, 10 * MIB, 80
CLIENT_OVERHEAD = 64 * MIB

bad, pending_hit = [], set()


class Pending:
    def __init__(self, path):
        self.items = set()
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                for ln in f:
                    ln = ln.split("#")[0].strip()
                    if ln:
                        self.items.add(" ".join(ln.split()[:3]))

    def fail(self, item, msg):
        if item in self.items:
            pending_hit.add(item)
        else:
            bad.append(msg)


def size_bytes(v):
    """cluster.conf sizes (512K, 4M, 2G, 1T, bytes) and Kubernetes
    quantities (Mi, Gi, M, G)."""
    m = re.fullmatch(r"(\d+)\s*([KMGT]i?)?B?", v.strip())
    if not m:
        raise ValueError("bad size %r" % v)
    unit = m.group(2) or ""
    mult = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    if unit.endswith("i"):
        return int(m.group(1)) * mult[unit[0]]
    return int(m.group(1)) * mult[unit]


def help_text(build, b):
    r = subprocess.run([os.path.join(build, b), "--help"],
                       capture_output=True, text=True)
    return r.stdout + r.stderr


def pod_specs(objects):
    for o in objects:
        obj, spec = o["object"], o["object"].get("spec", {})
        tpl = spec.get("template") or spec.get("jobTemplate", {}).get(
            "spec", {}).get("template")
        if tpl:
            yield o["render"], obj, tpl.get("metadata", {}), tpl["spec"]


def containers(pod):
    return pod.get("initContainers", []) + pod.get("containers", [])


def command_lines(c):
    """The command lines a container runs, each a list of words; `sh -c
    SCRIPT` is split into the script's own commands."""
    lines = [c.get("command", []) + c.get("args", [])]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        lines.append(c.get(probe, {}).get("exec", {}).get("command", []))
    for hook in ("preStop", "postStart"):
        lines.append(c.get("lifecycle", {}).get(hook, {}).get(
            "exec", {}).get("command", []))
    out = []
    for words in lines:
        if len(words) >= 3 and os.path.basename(words[0]) == "sh" and \
                words[1] == "-c":
            for part in re.split(r";|&&|\|\||\||\bdo\b|\bthen\b|\bwhile\b|"
                                 r"\buntil\b|\bdone\b", words[2]):
                if part.strip():
                    out.append(shlex.split(part))
        elif words:
            out.append(words)
    return out


def check_images(render, pod, version):
    for c in containers(pod):
        image = c.get("image", "")
        name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] \
            else (image, "", "")
        if name.split("/")[-1] == "sluice":
            if tag != version:
                bad.append("%s: image %s: Sluice's image is tagged %s here "
                           "(Makefile VERSION)" % (render, image, version))
        elif not tag or tag == "latest":
            bad.append("%s: image %s is not pinned to a tag" %
                       (render, image))


def check_commands(render, pod, build, helps, pend, runtime_ok):
    for c in containers(pod):
        sluice_image = c.get("image", "").split(":")[0].split("/")[-1] == \
            "sluice"
        for words in command_lines(c):
            prog = os.path.basename(words[0])
            if prog in SLUICE_BINS:
                check_sluice_command(render, prog, words[1:], helps, pend)
            elif sluice_image and prog not in ("kill", "sleep", "exec") \
                    and not runtime_ok(prog):
                bad.append("%s: %s runs %s, which Sluice's image does not "
                           "have" % (render, c["name"], prog))
            if prog == "exec" and len(words) > 1:
                p2 = os.path.basename(words[1])
                if p2 in SLUICE_BINS:
                    check_sluice_command(render, p2, words[2:], helps, pend)


def check_sluice_command(render, prog, args, helps, pend):
    if prog not in helps:
        bad.append("%s: %s is not built by make" % (render, prog))
        return
    text, seen_cmd = helps[prog], False
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("--"):
            opt = a.split("=")[0]
            if not re.search(r"(^|[\s,])%s\b" % re.escape(opt), text, re.M):
                pend.fail("flag %s %s" % (prog, opt),
                          "%s: %s %s: not in %s --help" %
                          (render, prog, opt, prog))
        elif re.fullmatch(r"-[a-zA-Z]", a):
            if not re.search(r"(^|\s)%s[\s,]" % a, text, re.M):
                bad.append("%s: %s %s: not in %s --help" %
                           (render, prog, a, prog))
            if a in ("-c", "-t", "-n", "-o"):
                i += 1
        elif prog == "sluicectl" and not seen_cmd:
            seen_cmd = True
            if not re.search(r"^\s+%s\b" % re.escape(a), text, re.M):
                pend.fail("command sluicectl %s" % a,
                          "%s: sluicectl %s: no such command in sluicectl "
                          "--help" % (render, a))
        i += 1


def config_files(objects):
    """{(render, configmap name): {file: text}}."""
    out = {}
    for o in objects:
        if o["object"]["kind"] == "ConfigMap":
            out[(o["render"], o["object"]["metadata"]["name"])] = \
                o["object"].get("data", {})
    return out


def check_config(render, text, tables, backends, posix_keys, pend):
    cp = configparser.ConfigParser(inline_comment_prefixes=(";", "#"),
                                   comment_prefixes=(";", "#"),
                                   interpolation=None, strict=False)
    cp.read_string(text)
    for sect in cp.sections():
        kind = sect.split()[0]
        table = kind.replace("-", "_")
        if table not in tables:
            pend.fail("section %s" % kind, "%s: cluster.conf: [%s]: no "
                      "such section in common/configkeys.c" % (render, sect))
            continue
        extra = set()
        if kind == "dataset":
            backend = cp[sect].get("backend", "")
            extra = backends.get(backend, posix_keys if backend == "posix"
                                 else set())
        for key in cp[sect]:
            if key not in tables[table] and key not in extra:
                pend.fail("key %s %s" % (kind, key),
                          "%s: cluster.conf: [%s] %s: a key common/configkeys.c"
                          " (or the backend) does not know" %
                          (render, sect, key))
    return cp


def mounted_file(pod, c, path, cms, render):
    """The (configmap, key) c's volume mounts put at path, or None."""
    vols = {v["name"]: v for v in pod.get("volumes", [])}
    for m in c.get("volumeMounts", []):
        v = vols.get(m["name"], {})
        if "configMap" not in v:
            continue
        name = v["configMap"]["name"]
        if m.get("subPath"):
            if m["mountPath"] == path:
                return name, m["subPath"]
        elif os.path.dirname(path) == m["mountPath"].rstrip("/"):
            return name, os.path.basename(path)
    return None


def flag_value(words, flag):
    for i, w in enumerate(words):
        if w == flag and i + 1 < len(words):
            return words[i + 1]
        if w.startswith(flag + "="):
            return w.split("=", 1)[1]
    return None


def check_pod(render, obj, meta, pod, cms, objects, confs):
    names = {(o["render"], o["object"]["kind"], o["object"]["metadata"]
              ["name"]) for o in objects}
    sa = pod.get("serviceAccountName")
    if sa and (render, "ServiceAccount", sa) not in names:
        bad.append("%s: %s uses ServiceAccount %s, not in the render" %
                   (render, obj["metadata"]["name"], sa))
    for v in pod.get("volumes", []):
        for kind, field, ref in (("ConfigMap", "configMap", "name"),
                                 ("Secret", "secret", "secretName")):
            if field in v and not v[field].get("optional") and \
                    (render, kind, v[field][ref]) not in names:
                bad.append("%s: %s: volume %s needs %s %s, not in the "
                           "render" % (render, obj["metadata"]["name"],
                                       v["name"], kind, v[field][ref]))
    for c in containers(pod):
        for words in command_lines(c):
            if words[0] == "exec":
                words = words[1:]
            prog = os.path.basename(words[0])
            if prog not in SLUICE_BINS:
                continue
            conf = flag_value(words, "-c")
            if not conf:
                continue
            got = mounted_file(pod, c, conf, cms, render)
            if not got or got[1] not in cms.get((render, got[0]), {}):
                bad.append("%s: %s -c %s: no ConfigMap file mounted there" %
                           (render, prog, conf))
                continue
            confs.append((render, obj, pod, c, prog, words,
                          cms[(render, got[0])][got[1]]))


def node_conf_values(cp, key, default):
    """The largest value of key over [node-defaults] and [node ...]."""
    vals = [cp[s][key] for s in cp.sections()
            if s.split()[0] in ("node", "node-defaults") and key in cp[s]]
    return max((size_bytes(v) for v in vals), default=size_bytes(default))


def memory(c):
    r = c.get("resources", {})
    return (size_bytes(str(r.get("requests", {}).get("memory", "0"))),
            size_bytes(str(r.get("limits", {}).get("memory", "0"))))


def check_sizes_ports(render, obj, meta, pod, c, prog, words, cp):
    what = "%s: %s" % (render, obj["metadata"]["name"])
    req, lim = memory(c)
    if prog == "sluice-cachenode":
        ram = node_conf_values(cp, "ram_capacity", "1G")
        disk = node_conf_values(cp, "disk_capacity", "0")
        blocks = [size_bytes(cp[s].get("block_size", "4M"))
                  for s in cp.sections() if s.startswith("dataset ")]
        need = ram + NODE_TRANSIENT + NODE_BASE + \
            DISK_INDEX_PER_BLOCK * disk // min(blocks or [4 * MIB])
        if not (req == lim and lim >= need):
            bad.append("%s: memory request %d MiB, limit %d MiB: both must "
                       "be at least %d MiB (ram_capacity + overhead)" %
                       (what, req // MIB, lim // MIB, -(-need // MIB)))
        ports = {p.get("name"): p["containerPort"]
                 for p in c.get("ports", [])}
        for flag, name in (("--addr", "sluice"),
                           ("--metrics-addr", "metrics")):
            v = flag_value(words, flag)
            if v is not None and int(v.rsplit(":", 1)[1]) != ports.get(name):
                bad.append("%s: %s %s, but container port %s is %s" %
                           (what, flag, v, name, ports.get(name)))
        ann = meta.get("annotations", {}).get("prometheus.io/port")
        if ann and int(ann) != ports.get("metrics"):
            bad.append("%s: prometheus.io/port %s is not the metrics port" %
                       (what, ann))
        for probe in ("readinessProbe", "livenessProbe"):
            p = c.get(probe, {})
            port = (p.get("httpGet") or p.get("tcpSocket") or {}).get("port")
            if port is not None and port not in ports and \
                    port not in ports.values():
                bad.append("%s: %s port %s is no container port" %
                           (what, probe, port))
    elif prog == "sluice-fuse":
        cache = size_bytes(cp["client"].get("block_cache", "256M")) \
            if cp.has_section("client") else 256 * MIB
        if not (req and lim >= cache + CLIENT_OVERHEAD):
            bad.append("%s: memory limit %d MiB under block_cache + %d MiB" %
                       (what, lim // MIB, CLIENT_OVERHEAD // MIB))


def check_mounts(objects):
    fuse_paths = set()
    for render, obj, meta, pod in pod_specs(objects):
        vols = {v["name"]: v for v in pod.get("volumes", [])}
        for c in containers(pod):
            runs_fuse = any(os.path.basename(w) == "sluice-fuse"
                            for words in command_lines(c) for w in words)
            for m in c.get("volumeMounts", []):
                hp = vols.get(m["name"], {}).get("hostPath", {}).get("path")
                if runs_fuse and hp and m["mountPath"] != "/dev/fuse":
                    if m.get("mountPropagation") != "Bidirectional" or \
                            not c.get("securityContext", {}).get(
                                "privileged"):
                        bad.append("%s: %s: the mount point needs a "
                                   "privileged container and Bidirectional"
                                   " propagation" % (render, c["name"]))
                    fuse_paths.add(hp)
    if not fuse_paths:
        bad.append("no render has a sluice-fuse container with a hostPath")
    for render, obj, meta, pod in pod_specs(objects):
        vols = {v["name"]: v for v in pod.get("volumes", [])}
        for c in containers(pod):
            if any(os.path.basename(w) == "sluice-fuse"
                   for words in command_lines(c) for w in words):
                continue
            for m in c.get("volumeMounts", []):
                hp = vols.get(m["name"], {}).get("hostPath", {}).get("path")
                if hp in fuse_paths and \
                        m.get("mountPropagation") != "HostToContainer":
                    bad.append("%s: %s mounts the datasets' host path %s "
                               "without HostToContainer" %
                               (render, c["name"], hp))


def main():
    root, build, objects_json = sys.argv[1:4]
    with open(objects_json, encoding="utf-8") as f:
        objects = json.load(f)
    with open(os.path.join(root, "Makefile"), encoding="utf-8") as f:
        version = re.search(r"^VERSION := (\S+)", f.read(), re.M).group(1)
    with open(os.path.join(root, "common/configkeys.c"), encoding="utf-8") as f:
        tables = docs_keys.config_tables(f.read())
    with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
        backends = docs_keys.backend_keys(docs_keys.readme_tables(f.read()))
    with open(os.path.join(root, "cachenode/backends/posix.c"),
              encoding="utf-8") as f:
        posix_keys = set(re.findall(r'strcmp\(p->key, "(\w+)"\)', f.read()))
    pend = Pending(os.path.join(root, "deploy/kubernetes/PENDING"))
    helps = {b: help_text(build, b) for b in SLUICE_BINS
             if os.access(os.path.join(build, b), os.X_OK)}

    ins = dockerfile_check.instructions(
        os.path.join(root, "deploy/docker/Dockerfile"))
    last = max(s for s, _, _ in ins)
    image_pkgs = set(sum((dockerfile_check.apt_packages(a) for s, w, a in ins
                          if s == last and w == "RUN"), []))

    def runtime_ok(prog):
        """prog is in a package the image installs, or an essential one
        (bookworm-slim has those)."""
        path = subprocess.run(["sh", "-c", "command -v " + shlex.quote(prog)],
                              capture_output=True, text=True).stdout.strip()
        if not path:
            return False
        real = os.path.realpath(path)
        for p in (path, real, real.replace("/usr/bin/", "/bin/"),
                  real.replace("/usr/sbin/", "/sbin/")):
            r = subprocess.run(["dpkg", "-S", p], capture_output=True,
                               text=True)
            if r.returncode == 0:
                pkg = r.stdout.split(":")[0]
                ess = subprocess.run(
                    ["dpkg-query", "-W", "-f=${Essential}", pkg],
                    capture_output=True, text=True).stdout
                return pkg in image_pkgs or ess == "yes"
        return False

    cms = config_files(objects)
    confs = []
    for render, obj, meta, pod in pod_specs(objects):
        check_images(render, pod, version)
        check_commands(render, pod, build, helps, pend, runtime_ok)
        check_pod(render, obj, meta, pod, cms, objects, confs)
    checked = set()
    for render, obj, pod, c, prog, words, text in confs:
        meta = next(m for r, o, m, p in pod_specs(objects)
                    if r == render and o is obj)
        cp = check_config(render, text, tables, backends, posix_keys,
                          pend) if (render, text) not in checked else None
        checked.add((render, text))
        if cp is None:
            cp = configparser.ConfigParser(
                inline_comment_prefixes=(";", "#"), interpolation=None,
                strict=False)
            cp.read_string(text)
        check_sizes_ports(render, obj, meta, pod, c, prog, words, cp)
    if not confs:
        bad.append("no Sluice binary is given a -c config anywhere")
    check_mounts(objects)

    for b in bad:
        print("crosscheck: " + b)
    for item in sorted(pend.items - pending_hit):
        print("crosscheck: PENDING lists '%s', which this tree has now: "
              "take it off the list" % item)
    for item in sorted(pending_hit):
        print("crosscheck: pending (deploy/kubernetes/PENDING): %s" % item)
    print("crosscheck: %d objects, %d Sluice command lines with a config: "
          "%s" % (len(objects), len(confs), "FAILED" if bad else "ok"))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
