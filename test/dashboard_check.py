#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Every metric a Grafana dashboard queries exists in a live /metrics.

Loads the dashboard JSON, takes every PromQL expression of every panel
target, and finds the metric names in it (what is left once strings,
label matchers, ranges, grouping clauses, numbers, functions and
keywords are taken out).  Each must be a sample name in one of the
scraped texts given; with --promtool, every expression (Grafana's
$__rate_interval as 1m) must also parse as PromQL (`promtool check
rules` on a rules file of them).  Also the panels the README promises:
throughput, hit ratio per tier, backend bandwidth, capacity, latency
percentiles, ring members.

With --adapter FILE, the metricsQuery blocks of a prometheus-adapter
rule file (deploy/kubernetes/overlays/autoscaling/adapter-rules.yaml) are
checked the same way, its <<.LabelMatchers>> as namespace="sluice".

usage: dashboard_check.py DASHBOARD.json SCRAPE... [--promtool PATH]
       [--adapter FILE]   (prints what is wrong; exit 1 if anything is)
"""
import json
import os
import re
import subprocess
import sys
import tempfile

WORDS = {
    # aggregations, functions and keywords our dashboard may use
    "sum", "avg", "min", "max", "count", "topk", "bottomk", "quantile",
    "stddev", "rate", "irate", "increase", "delta", "deriv", "resets",
    "histogram_quantile", "scalar", "vector", "clamp_min", "clamp_max",
    "abs", "ceil", "floor", "round", "label_replace", "by", "without",
    "on", "ignoring",
    "group_left", "group_right", "and", "or", "unless", "offset", "bool",
    "time", "absent", "changes", "avg_over_time", "max_over_time",
    "min_over_time", "sum_over_time",
}
PROMISED = ["throughput", "hit ratio per tier", "backend bandwidth",
            "capacity", "latency", "ring members"]


def exprs(dash):
    """(panel title, expression) of every target, rows' panels too."""
    for p in dash.get("panels", []):
        for q in p.get("panels", []) + [p]:
            for t in q.get("targets", []):
                if t.get("expr"):
                    yield q.get("title", "?"), t["expr"]


def adapter_queries(path):
    """The metricsQuery blocks (YAML literal blocks) of an adapter rule
    file, made PromQL: no YAML parser needed for this one shape."""
    lines = open(path, encoding="utf-8").read().splitlines()
    out = []
    for i, ln in enumerate(lines):
        if ln.strip() != "metricsQuery: |":
            continue
        ind = len(ln) - len(ln.lstrip())
        body = []
        for nxt in lines[i + 1:]:
            if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= ind:
                break
            body.append(nxt.strip())
        q = " ".join(body).replace("<<.LabelMatchers>>", 'namespace="sluice"')
        out.append(("adapter rule", q.replace("<<.GroupBy>>", "namespace")))
    return out


def names_in(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*"
               r"\([^)]*\)", "", e)
    toks = re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", e)
    return {t for t in toks if t not in WORDS}


def scraped(paths):
    names = set()
    for p in paths:
        for ln in open(p, encoding="utf-8"):
            if ln.strip() and not ln.startswith("#"):
                names.add(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", ln).group(0))
    return names


def main(argv):
    promtool = adapter = None
    if "--promtool" in argv:
        i = argv.index("--promtool")
        promtool = argv[i + 1]
        del argv[i:i + 2]
    if "--adapter" in argv:
        i = argv.index("--adapter")
        adapter = argv[i + 1]
        del argv[i:i + 2]
    dash = json.load(open(argv[1], encoding="utf-8"))
    live = scraped(argv[2:])
    bad, all_exprs = [], []
    extra = adapter_queries(adapter) if adapter else []
    if adapter and not extra:
        bad.append(f"{adapter}: no metricsQuery")
    for title, e in list(exprs(dash)) + extra:
        all_exprs.append(e)
        names = names_in(e)
        if not names:
            bad.append(f"{title}: no metric in {e}")
        for n in sorted(names - live):
            bad.append(f"{title}: {n} is in no live /metrics ({e})")
    titles = " | ".join(p.get("title", "").lower()
                        for p in dash.get("panels", []))
    for want in PROMISED:
        if want not in titles:
            bad.append(f"no panel about {want!r} (titles: {titles})")
    if promtool and all_exprs:
        rules = {"groups": [{"name": "dashboard", "rules": [
            {"record": f"dashboard:expr{i}",
             "expr": e.replace("$__rate_interval", "1m")}
            for i, e in enumerate(all_exprs)]}]}
        with tempfile.NamedTemporaryFile("w", suffix=".yml",
                                         delete=False) as f:
            json.dump(rules, f)  # JSON is YAML
        r = subprocess.run([promtool, "check", "rules", f.name],
                           capture_output=True, text=True)
        os.unlink(f.name)
        if r.returncode != 0:
            bad.append("promtool: " + (r.stdout + r.stderr).strip())
    for b in bad:
        print(b)
    print(f"dashboard_check: {len(all_exprs)} expressions, "
          f"{len(live)} live metric names, {len(bad)} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
