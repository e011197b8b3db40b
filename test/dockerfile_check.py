#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""What can be checked of deploy/docker/Dockerfile without a Docker engine.

- every stage starts FROM debian:bookworm-slim, and the last one runs as a
  user other than root;
- every apt package it installs exists in Debian's lists (apt-cache show);
- the runtime stage installs every library package of the .deb's Depends
  (dpkg-shlibdeps' answer for the same binaries), and the build stage every
  -dev package scripts/install-deps.sh builds with;
- the build stage builds: its COPY sources, and nothing else, are copied
  into a scratch context where its RUN lines (after WORKDIR) run as they
  are, with its output folder swapped for a scratch one; what the runtime
  stage copies out of that folder exists, and every /usr/bin path the
  file names is a binary there.

usage: dockerfile_check.py ROOT DEB_CONTROL SCRATCH
"""
import os
import re
import shlex
import shutil
import subprocess
import sys

bad = []


def instructions(path):
    """[(stage index, INSTRUCTION, argument string)] with continuations
    joined and comments dropped."""
    out, stage, cur = [], -1, ""
    with open(path, encoding="utf-8") as f:
        for ln in f:
            ln = ln.rstrip("\n")
            if not cur and (ln.lstrip().startswith("#") or not ln.strip()):
                continue
            if ln.lstrip().startswith("#"):
                continue
            if ln.endswith("\\"):
                cur += ln[:-1] + " "
                continue
            cur += ln
            word, _, rest = cur.strip().partition(" ")
            word = word.upper()
            if word == "FROM":
                stage += 1
            out.append((stage, word, rest.strip()))
            cur = ""
    return out


def apt_packages(run):
    """Packages named by the apt-get install commands of a RUN line."""
    pkgs = []
    for cmd in re.split(r"&&|;", run):
        words = shlex.split(cmd)
        if words[:2] == ["apt-get", "install"]:
            pkgs += [w for w in words[2:] if not w.startswith("-")]
    return pkgs


def main():
    root, control, scratch = sys.argv[1:4]
    dockerfile = os.path.join(root, "deploy/docker/Dockerfile")
    ins = instructions(dockerfile)
    nstages = max(s for s, _, _ in ins) + 1
    apt = [[] for _ in range(nstages)]
    for stage, word, arg in ins:
        if word == "FROM":
            image = arg.split()[0]
            if image != "debian:bookworm-slim":
                bad.append("stage %d is FROM %s, not debian:bookworm-slim" %
                           (stage, image))
        elif word == "RUN":
            apt[stage] += apt_packages(arg)
    users = [arg for s, w, arg in ins if w == "USER" and s == nstages - 1]
    if not users or users[-1].split(":")[0] in ("0", "root"):
        bad.append("the runtime stage runs as root (no USER, or USER 0)")

    for pkg in sorted(set(sum(apt, []))):
        r = subprocess.run(["apt-cache", "show", "--no-all-versions", pkg],
                           capture_output=True, text=True)
        if r.returncode != 0 or not r.stdout.startswith("Package:"):
            bad.append("apt package %s: not in Debian's lists (%s)" %
                       (pkg, r.stderr.strip() or "virtual?"))

    with open(control, encoding="utf-8") as f:
        deps = re.search(r"^Depends: (.*)$", f.read(), re.M).group(1)
    for dep in deps.split(","):
        name = dep.split()[0]
        if name != "libc6" and name not in apt[-1]:
            bad.append("the .deb depends on %s; the runtime stage does not "
                       "install it" % name)
    with open(os.path.join(root, "scripts/install-deps.sh")) as f:
        build_group = re.search(r"# build\n(.*?)\n\s*#", f.read(), re.S)
    for pkg in build_group.group(1).split():
        if pkg.endswith("-dev") and pkg not in apt[0]:
            bad.append("install-deps.sh builds with %s; the build stage "
                       "does not install it" % pkg)

    # The build stage, run here: Debian 12 too, with the same packages.
    ctx = os.path.join(scratch, "context")
    out = os.path.join(scratch, "out")
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(ctx)
    workdir, started = ctx, False
    for stage, word, arg in ins:
        if stage != 0:
            continue
        if word == "WORKDIR":
            started = True
        elif word == "COPY" and not arg.startswith("--from"):
            *srcs, dst = shlex.split(arg)
            for src in srcs:
                path = os.path.join(root, src)
                target = os.path.join(workdir, dst, os.path.basename(src)
                                      if dst.endswith("/") and
                                      not os.path.isdir(path) else "")
                if not os.path.exists(path):
                    bad.append("COPY %s: no such file in the tree" % src)
                elif os.path.isdir(path):
                    shutil.copytree(path, os.path.join(workdir, dst),
                                    dirs_exist_ok=True)
                else:
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    shutil.copy(path, target)
        elif word == "RUN" and started:
            cmd = arg.replace("/out", out)
            r = subprocess.run(["sh", "-c", cmd], cwd=workdir,
                               capture_output=True, text=True)
            if r.returncode != 0:
                bad.append("build stage: RUN %s failed:\n%s" %
                           (arg, (r.stdout + r.stderr)[-3000:]))
    for stage, word, arg in ins:
        if stage == nstages - 1 and word == "COPY":
            words = shlex.split(arg)
            if words[0] == "--from=build":
                src = words[1].replace("/out", out, 1)
            else:
                src = os.path.join(root, words[0])
            if not os.path.exists(src):
                bad.append("runtime stage: COPY %s: nothing there" % arg)
    with open(dockerfile, encoding="utf-8") as f:
        named = set(re.findall(r"/usr/bin/[\w.-]+", f.read()))
    for path in sorted(named):
        if not os.access(out + path, os.X_OK):
            bad.append("%s: named in the Dockerfile, not built by make "
                       "install" % path)

    for b in bad:
        print("dockerfile_check: " + b)
    print("dockerfile_check: %d stages, %d apt packages, %d binaries named:"
          " %s" % (nstages, len(set(sum(apt, []))), len(named),
                   "FAILED" if bad else "ok"))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
