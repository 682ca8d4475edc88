#!/usr/bin/env python3
"""Scores one tool's report against the corpus labels, the same way tests/corpus.rs does.

    score-corpus.py LABELS TOOL OUTPUT REPO [--root DIR] [--negatives NEGATIVES] [--json]

LABELS    labels.json written by `cargo test --test corpus -- --ignored write_corpus`
TOOL      keytrail | kingfisher | gitleaks | betterleaks
OUTPUT    the tool's JSON report
REPO      monorepo | history (which labels to score against)
--root    the scanned directory, stripped from absolute paths (default: LABELS' folder/REPO)

A finding is a true positive when its path equals a label's path and its line lies within
[first_line, last_line]; a label is recalled when at least one finding hits it; findings hitting no
label are false positives. Precision = recalled / (recalled + false positives).
"""
import argparse
import json
import os
import sys


def load_json_lenient(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not text.strip():
        return []
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        # several JSON documents (or JSON lines) in one file
        dec, docs, i = json.JSONDecoder(), [], 0
        while i < len(text):
            while i < len(text) and text[i].isspace():
                i += 1
            if i >= len(text):
                break
            doc, i = dec.raw_decode(text, i)
            docs.append(doc)
        return docs


def findings_of(tool, data):
    """Yields (path, line, rule) from a tool's report."""
    if tool == "keytrail":
        for f in data.get("findings", []) if isinstance(data, dict) else data:
            yield f["path"], int(f["line"]), f.get("rule_id", "")
    elif tool == "kingfisher":
        docs = data if isinstance(data, list) else [data]
        for doc in docs:
            fs = doc.get("findings") if isinstance(doc, dict) else None
            if not isinstance(fs, list):
                continue
            for f in fs:
                fi = f.get("finding", f)
                rule = (f.get("rule") or {}).get("id", "")
                path = fi.get("path") or ((fi.get("git_metadata") or {}).get("file") or {}).get("path", "")
                yield path, int(fi.get("line", 0)), rule
    elif tool in ("gitleaks", "betterleaks"):
        fs = data.get("findings", []) if isinstance(data, dict) else data
        for f in fs:
            if "location" in f:  # betterleaks 2.x schema
                loc = f["location"]
                yield loc.get("path", ""), int(loc.get("start_line", 0)), f.get("rule_id", "")
            else:  # gitleaks schema
                yield f.get("File", ""), int(f.get("StartLine", 0)), f.get("RuleID", "")
    else:
        sys.exit(f"unknown tool {tool}")


def normalise(path, root):
    p = path.replace("\\", "/")
    if root:
        r = os.path.realpath(root).rstrip("/") + "/"
        for prefix in (r, root.rstrip("/") + "/"):
            if p.startswith(prefix):
                p = p[len(prefix):]
                break
    while p.startswith("./"):
        p = p[2:]
    return p


def score(labels, negatives, findings):
    hit = [False] * len(labels)
    fps = []
    for path, line, rule in findings:
        matched = False
        for i, l in enumerate(labels):
            if l["path"] == path and l["first_line"] <= line <= l["last_line"]:
                hit[i] = True
                matched = True
        if not matched:
            neg = next((n for n in negatives if n["path"] == path and n["first_line"] <= line <= n["last_line"]), None)
            fps.append((path, line, rule, neg))
    return hit, fps


def ratio(a, b):
    return 1.0 if b == 0 else a / b


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("labels")
    ap.add_argument("tool", choices=["keytrail", "kingfisher", "gitleaks", "betterleaks"])
    ap.add_argument("output")
    ap.add_argument("repo", choices=["monorepo", "history"])
    ap.add_argument("--root")
    ap.add_argument("--negatives")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    a = ap.parse_args()

    labels = [l for l in json.load(open(a.labels)) if l["repo"] == a.repo]
    neg_path = a.negatives or os.path.join(os.path.dirname(os.path.abspath(a.labels)), "negatives.json")
    negatives = [n for n in json.load(open(neg_path)) if n["repo"] == a.repo] if os.path.exists(neg_path) else []
    root = a.root or os.path.join(os.path.dirname(os.path.abspath(a.labels)), a.repo)
    data = load_json_lenient(a.output)
    findings = [(normalise(p, root), line, rule) for p, line, rule in findings_of(a.tool, data)]
    hit, fps = score(labels, negatives, findings)
    tp = sum(hit)
    recall, precision = ratio(tp, len(labels)), ratio(tp, tp + len(fps))
    f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
    if a.json:
        print(json.dumps({"tool": a.tool, "repo": a.repo, "labels": len(labels), "recalled": tp, "fp": len(fps),
                          "findings": len(findings), "recall": recall, "precision": precision, "f1": f1}))
        return
    print(f"{a.tool} on {a.repo}: {len(findings)} findings, {tp}/{len(labels)} labels recalled, {len(fps)} false positives")
    print(f"recall {recall:.3f}  precision {precision:.3f}  F1 {f1:.3f}\n")
    print("| family | labels | recalled | recall |\n|---|---:|---:|---:|")
    for fam in sorted({l["family"] for l in labels}):
        idx = [i for i, l in enumerate(labels) if l["family"] == fam]
        h = sum(hit[i] for i in idx)
        print(f"| {fam} | {len(idx)} | {h} | {ratio(h, len(idx)):.3f} |")
    missed = {}
    for i, l in enumerate(labels):
        if not hit[i]:
            missed.setdefault(l["format"], []).append(f"{l['path']}:{l['first_line']}")
    print(f"\nmissed ({len(labels) - tp}):")
    for fmt in sorted(missed):
        print(f"  {fmt}: {', '.join(missed[fmt])}")
    print(f"\nfalse positives ({len(fps)}):")
    for path, line, rule, neg in fps:
        what = f"hard negative: {neg['kind']}" if neg else "unlabelled line"
        print(f"  {path}:{line}:{rule}  ({what})")


if __name__ == "__main__":
    main()
