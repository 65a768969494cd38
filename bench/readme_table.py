#!/usr/bin/env python3
"""Print the benchmark table of bench/results/latest.json as Markdown, or
put it into README.md between the bench markers (--update README.md).

    make bench && python3 bench/readme_table.py --update README.md
"""
import argparse
import json
import math
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def fmt(st, unit):
    m = st.get("median")
    if unit == "none" or m is None or (isinstance(m, float) and math.isnan(m)):
        return "-"
    if m >= 1e6:
        return "%.2f s" % (m / 1e6)
    if m >= 10e3:
        return "%.1f ms" % (m / 1e3)
    return "%.0f µs" % m


def met_text(met):
    if met is None:
        return ""
    if isinstance(met, bool):
        return "yes" if met else "**no**"
    missed = [name for name, ok in met if not ok]
    return "**no**: " + ", ".join(missed) if missed else "yes"


def table(data):
    m = data["machine"]
    out = ["Measured %s UTC on a %s-core %s VM (%s, kernel %s), commit %s, profile `%s`." % (
        m.get("date", "?")[:16].replace("T", " "), m.get("nproc", "?"), m.get("cpu", "?"),
        m.get("memory", "?"), m.get("kernel", "?"), m.get("commit", "?"),
        data.get("profile", "?")), "",
        "| benchmark | implementation | median | vs baselines (same run) | target | met | notes |",
        "|---|---|---|---|---|---|---|"]
    last = None
    for r in data["rows"]:
        bench = r["bench"] if r["bench"] != last else ""
        last = r["bench"]
        vs = ", ".join("%.2fx %s" % (v, k) for k, v in r.get("vs", []) if v is not None)
        note = r.get("note", "").replace("|", "\\|")
        if len(note) > 110:
            note = note[:107] + "..."
        out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            bench.replace("|", "\\|"), r["impl"].replace("|", "\\|"),
            fmt(r["stats"], r.get("unit", "us")), vs, r.get("target", ""),
            met_text(r.get("met")), note))
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", default=os.path.join(HERE, "results", "latest.json"))
    ap.add_argument("--update", metavar="README", help="replace the table in this file")
    a = ap.parse_args()
    with open(a.json) as f:
        data = json.load(f)
    t = table(data)
    if not a.update:
        sys.stdout.write(t)
        return
    with open(a.update) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        sys.exit("%s has no %s ... %s block" % (a.update, BEGIN, END))
    text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END),
                  lambda _: BEGIN + "\n" + t + END, text, flags=re.S)
    with open(a.update, "w") as f:
        f.write(text)
    print("updated the benchmark table in %s" % a.update)


if __name__ == "__main__":
    main()
