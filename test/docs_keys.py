#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The configuration keys the README documents are the ones the code reads.

Core sections: the README's "Configuration reference" table against the
`*_keys[]` tables of common/configkeys.c, section by section ([node NAME] is
node_keys, [node-defaults] would be node_defaults_keys).  Backends: every
key of the README's S3 and HDFS tables is a string in the backend's
sources or in a common/ module they include.  Then every README key must
be in sluice.conf(5).

usage: docs_keys.py ROOT MAN5_FILE   (prints what differs; exit 1 if any)
"""
import os
import re
import sys


def readme_tables(readme):
    """{section heading: [rows]} of the README's key tables."""
    out, heading, rows = {}, None, None
    for ln in readme.splitlines():
        if ln.startswith("## "):
            heading = ln[3:].strip()
        if ln.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", ln)[1:-1]]
            if rows is None:
                rows = [cells]
            else:
                rows.append(cells)
        elif rows is not None:
            if rows[0][-3:] == ["key", "default", "meaning"]:
                out.setdefault(heading, []).extend(rows[2:])
            rows = None
    return out


def config_tables(config_c):
    """{table prefix: set of keys} of common/configkeys.c's *_keys[] tables:
    node_keys is [node NAME]'s, node_defaults_keys [node-defaults]'s."""
    return {name: set(re.findall(r'"([^"]+)"', body)) for name, body in
            re.findall(r"static const char \*const (\w+)_keys\[\] = "
                       r"\{(.*?)\};", config_c, re.S)}


def key_of(cell):
    """The key of a README key cell (`name`), or None for prose rows."""
    m = re.fullmatch(r"`([a-z_]+)`", cell)
    return m.group(1) if m else None


def backend_source(root, folder):
    """The text of a backend's .c files and of the common/ modules they
    include (the HTTP backends share their key parsing in common/)."""
    d = os.path.join(root, "cachenode/backends", folder)
    src = ""
    for fn in sorted(os.listdir(d)):
        if fn.endswith(".c"):
            with open(os.path.join(d, fn), encoding="utf-8") as f:
                src += f.read()
    for mod in sorted(set(re.findall(r'#include "common/(\w+)\.h"', src))):
        path = os.path.join(root, "common", mod + ".c")
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                src += f.read()
    return src


BACKEND_SECTIONS = (("S3 datasets", "s3"), ("HDFS datasets", "webhdfs"))


def backend_keys(tables):
    """{backend: set of keys} from the README's backend key tables."""
    return {folder: {key_of(r[0]) for r in tables.get(heading, [])
                     if key_of(r[0])}
            for heading, folder in BACKEND_SECTIONS}


def main():
    root, man5 = sys.argv[1], sys.argv[2]
    with open(os.path.join(root, "README.md"), encoding="utf-8") as f:
        tables = readme_tables(f.read())
    with open(os.path.join(root, "common/configkeys.c"), encoding="utf-8") as f:
        config_c = f.read()
    with open(man5, encoding="utf-8") as f:
        page = f.read().replace("\\-", "-").replace("\\fB", "").replace(
            "\\fR", "")
    bad = []

    code = config_tables(config_c)
    if not code:
        bad.append("common/configkeys.c: no *_keys[] tables found")

    documented, section = {}, None
    for row in tables.get("Configuration reference", []):
        if row[0]:
            section = re.sub(r"[\[\]`]", "", row[0]).split()[0]
            section = section.replace("-", "_")
        key = key_of(row[1])
        if key:
            documented.setdefault(section, set()).add(key)
    for sect in sorted(set(code) | set(documented)):
        c, d = code.get(sect, set()), documented.get(sect, set())
        for k in sorted(c - d):
            bad.append("[%s] %s: parsed by common/configkeys.c, not in the "
                       "README's configuration table" % (sect, k))
        for k in sorted(d - c):
            bad.append("[%s] %s: in the README's configuration table, "
                       "unknown to common/configkeys.c" % (sect, k))

    all_keys = set().union(*documented.values()) if documented else set()
    for heading, folder in BACKEND_SECTIONS:
        src = backend_source(root, folder)
        rows = tables.get(heading, [])
        if not rows:
            bad.append("README: no key table under '## %s'" % heading)
        for row in rows:
            key = key_of(row[0])
            if not key:
                continue
            all_keys.add(key)
            if key != "uri" and '"%s"' % key not in src:
                bad.append("%s key %s: in the README, not in "
                           "cachenode/backends/%s/" % (folder, key, folder))

    for k in sorted(all_keys):
        if not re.search(r"^\.TP\n%s\n" % re.escape(k), page, re.M):
            bad.append("sluice.conf(5) has no entry for %s" % k)

    for b in bad:
        print("docs_keys: " + b)
    print("docs_keys: %d keys in %d core sections and 2 backends: %s" %
          (len(all_keys), len(documented), "DIFFER" if bad else "agree"))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
