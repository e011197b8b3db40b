#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""sluice.conf(5) from README.md, the one place the configuration is written.

The README's "Configuration reference" section (its prose, its example and
its key table) becomes the page's DESCRIPTION and KEYS; the example and the
key table of each backend's section ("S3 datasets", "HDFS datasets") become
sections of their own.  Nothing here knows a key: a key documented in the
README is in the page, and test/it_docs.sh checks that the README's keys are
the parser's (common/configkeys.c) and that the page holds them all.

The README is the source, not the other way round, because operators read
it first and it already had the tables; generating the README from a
separate file would leave two files to edit for one key.

usage: conf2man.py README.md VERSION > sluice.conf.5
"""
import re
import sys


def ascii_only(s):
    """Characters beyond ASCII as groff's \\[uXXXX] escapes, so that the
    page reads the same whatever encoding man assumes."""
    return "".join(c if ord(c) < 128 else "\\[u%04X]" % ord(c) for c in s)


def roff_text(s):
    """Markdown inline text to roff: `code` and **bold** in bold."""
    s = s.replace("\\", "\\e")
    s = s.replace("\\e|", "|")  # markdown's escaped pipe inside tables
    s = s.replace("-", "\\-")
    s = re.sub(r"\*\*(.+?)\*\*", r"\\fB\1\\fR", s)
    s = re.sub(r"`([^`]+)`", r"\\fB\1\\fR", s)
    return ascii_only(s)


def roff_line(s):
    """A line of running text; a leading dot or quote must not start a
    request."""
    s = roff_text(s)
    return "\\&" + s if s[:1] in (".", "'") else s


def sections(lines):
    """{heading: [lines]} for every '## ' heading."""
    out, name = {}, None
    for ln in lines:
        if ln.startswith("## "):
            name = ln[3:].strip()
            out[name] = []
        elif name is not None:
            out[name].append(ln)
    return out


def blocks(body):
    """Split a section into ('code', lines), ('table', rows) and
    ('para', text) blocks; list items are paragraphs of their own."""
    out, i = [], 0
    while i < len(body):
        ln = body[i]
        if ln.startswith("```"):
            j = i + 1
            while j < len(body) and not body[j].startswith("```"):
                j += 1
            out.append(("code", body[i + 1:j]))
            i = j + 1
        elif ln.startswith("|"):
            rows = []
            while i < len(body) and body[i].startswith("|"):
                cells = re.split(r"(?<!\\)\|", body[i].strip())[1:-1]
                rows.append([c.strip() for c in cells])
                i += 1
            # rows[0] is the header, rows[1] the --- line
            out.append(("table", (rows[0], rows[2:])))
        elif ln.strip() == "" or ln.startswith("#"):
            i += 1
        else:
            text = [ln]
            i += 1
            while (i < len(body) and body[i].strip() and
                   not body[i].startswith(("```", "|", "#", "- "))):
                text.append(body[i])
                i += 1
            out.append(("para", " ".join(t.strip() for t in text)))
    return out


def emit_code(lines, w):
    w(".PP\n.nf\n.RS 4\n")
    for ln in lines:
        ln = ln.replace("\\", "\\e").replace("-", "\\-")
        w("\\&" + ascii_only(ln) + "\n")
    w(".RE\n.fi\n")


def emit_para(text, w):
    if text.startswith("- "):
        w(".IP \\(bu 2\n" + roff_line(text[2:]) + "\n")
    else:
        w(".PP\n" + roff_line(text) + "\n")


def emit_table(table, w):
    """Key tables: | section | key | default | meaning | (the core one,
    whose section cell is empty on a section's later rows) or
    | key | default | meaning | (a backend's).  Other tables (metrics,
    errors) are not about the file and are left out."""
    head, rows = table
    if head[-3:] != ["key", "default", "meaning"]:
        return
    for row in rows:
        if len(row) == 4:
            if row[0]:
                w(".SS " + row[0].strip("`") + "\n")
            row = row[1:]
        key, default, meaning = row
        w(".TP\n" + roff_line(key) + "\n")
        if default == "required":
            meaning += "; required"
        elif default:
            meaning += "; default: " + default
        w(roff_line(meaning) + ".\n")


def emit(body, w, want=("para", "code", "table")):
    for kind, data in blocks(body):
        if kind not in want:
            continue
        {"para": emit_para, "code": emit_code, "table": emit_table}[kind](
            data, w)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: conf2man.py README.md VERSION")
    with open(sys.argv[1], encoding="utf-8") as f:
        secs = sections(f.read().splitlines())
    version = sys.argv[2]
    w = sys.stdout.write
    try:
        ref = secs["Configuration reference"]
        backends = [("S3 DATASETS", secs["S3 datasets"]),
                    ("HDFS DATASETS", secs["HDFS datasets"])]
    except KeyError as e:
        sys.exit("conf2man.py: README.md has no section '## %s'" % e.args[0])
    w('.\\" Generated from README.md by deploy/man/conf2man.py; '
      'edit the README.\n')
    w('.TH SLUICE.CONF 5 "" "sluice %s" "File Formats"\n' % version)
    w(".SH NAME\nsluice.conf \\- Sluice cluster configuration\n")
    w(".SH SYNOPSIS\n/etc/sluice/cluster.conf\n")
    w(".SH DESCRIPTION\n")
    emit(ref, w, ("para", "code"))
    w(".SH KEYS\n")
    emit(ref, w, ("table",))
    for title, body in backends:
        w(".SH " + title + "\n")
        emit(body, w, ("code", "table"))
    w(".SH FILES\n.TP\n/etc/sluice/cluster.conf\n"
      "the cluster configuration the packaged systemd units read\n")
    w(".SH SEE ALSO\n\\fBsluice-cachenode\\fR(8), \\fBsluice-fuse\\fR(8), "
      "\\fBsluicectl\\fR(8)\n")


if __name__ == "__main__":
    main()
