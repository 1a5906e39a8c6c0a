"""The results document (results.json): its format number, the check of its shape and figures (validate), and the
table `run` and `show` print."""

import json
import os

from .stats import applies, is_value, ratio_base

FORMAT = 1


def validate(doc):
    """Problems with a results document (empty list: fine). Every available system must have at least one
    successful run, every successful run positive figures, stats consistent with the runs."""
    problems = []
    for k in ("tool", "format", "started", "elapsed_s", "versions", "scenarios", "command"):
        if k not in doc:
            problems.append("missing key %s" % k)
    for k in ("tern", "tern_sha256", "qemu", "guest_kernel", "l1_kernel"):
        if k not in doc.get("versions", {}):
            problems.append("missing versions.%s" % k)
    if not doc.get("scenarios"):
        problems.append("no scenarios")
    for sname, scen in doc.get("scenarios", {}).items():
        p = "scenarios.%s" % sname
        for k in ("host_kind", "figures", "systems", "ratios", "guest", "driver"):
            if k not in scen:
                problems.append("%s: missing %s" % (p, k))
        if scen.get("host_kind") not in ("test-host", "native"):
            problems.append("%s: host_kind %r" % (p, scen.get("host_kind")))
        figs = scen.get("figures", {})
        if scen.get("subject", "tern") not in scen.get("systems", {}):
            problems.append("%s: no %s" % (p, scen.get("subject", "tern")))
        for name, sysd in scen.get("systems", {}).items():
            q = "%s.systems.%s" % (p, name)
            if not sysd.get("command"):
                problems.append("%s: no command line" % q)
            if not sysd.get("available", False):
                problems.append("%s: unavailable (%s)" % (q, sysd.get("unavailable")))
                continue
            runs = [r for r in sysd.get("runs", []) if not r.get("warmup")]
            if not any(r.get("ok") for r in runs):
                problems.append("%s: no successful run" % q)
            for r in runs:
                if r.get("ok"):
                    for f in figs:
                        if figs[f].get("optional") and f not in r.get("figures", {}):
                            continue	# not measurable there (e.g. no /proc of the VMM)
                        if applies(figs[f], sysd) and not is_value(r.get("figures", {}).get(f), figs[f]):
                            problems.append("%s run %s: %s = %r" % (q, r.get("run"), f,
                                                                    r.get("figures", {}).get(f)))
                elif not r.get("errors"):
                    problems.append("%s run %s: failed without an error" % (q, r.get("run")))
            for f in figs:
                st = sysd.get("stats", {}).get(f)
                if st is None:
                    continue
                if not all(is_value(st.get(k), figs[f]) for k in ("median", "min", "max")):
                    problems.append("%s: stats.%s not positive numbers" % (q, f))
                elif not st["min"] <= st["median"] <= st["max"]:
                    problems.append("%s: stats.%s min <= median <= max fails" % (q, f))
        for peer, rs in scen.get("ratios", {}).items():
            for f, r in rs.items():
                if r is not None and not is_value(r, figs.get(f)):
                    problems.append("%s.ratios.%s.%s = %r" % (p, peer, f, r))
    return problems


def fmt(x, unit=""):
    if x is None:
        return "-"
    s = "%.3g" % x if abs(x) < 100 else "%.0f" % x
    return s + (" " + unit if unit else "")


def fmt_ratio(r):
    if r is None:
        return "-"
    return "%.2f" % r if r >= 0.095 else "%.3f" % r


def table(doc):
    """The human-readable table of a results document."""
    lines = []
    for sname, scen in doc["scenarios"].items():
        systems = scen["systems"]
        subject = scen.get("subject", "tern")
        bases = scen.get("ratio_base")
        if bases is None:
            bases = {n: b for n in systems for b in [ratio_base(n, systems, subject, scen.get("unpaired", ()))] if b}
        peers = [n for n in systems if n in bases]
        lines.append("")
        lines.append("%s  (%s; median of the successful runs; ratio = %s median / peer median, < 1: %s lower)"
                     % (sname, scen.get("host_kind", "?"), subject, subject))
        if any(b != subject for b in bases.values()):
            lines.append("  each peer's ratio is on the row of the tern system it is compared with: "
                         + ", ".join("%s vs %s" % (b, p) for p, b in bases.items()))
        unpaired = [n for n in scen.get("unpaired") or () if n in systems]
        if unpaired:
            lines.append("  no ratio for %s (shown for reference)" % ", ".join(unpaired))
        if (scen.get("setup") or {}).get("summary"):
            lines.append("  " + scen["setup"]["summary"])
        w = max([28] + [len("%s [%s]" % (f, fd["unit"])) + 1 for f, fd in scen["figures"].items()])
        sw = max([13] + [len(n) for n in systems])
        cw = max([14] + [len(p) + 3 for p in peers])
        head = "%-*s %-*s %9s %9s %9s %6s" % (w, "figure", sw, "system", "median", "min", "max", "ok")
        head += "".join(" %*s" % (cw, "vs " + p) for p in peers)
        lines.append(head)
        lines.append("-" * len(head))
        for f, fd in scen["figures"].items():
            first = True
            for name, sysd in systems.items():
                if not applies(fd, sysd):
                    continue
                st = (sysd.get("stats") or {}).get(f)
                label = ("%s [%s]" % (f, fd["unit"])) if first else ""
                first = False
                counted = [r for r in sysd.get("runs", []) if not r.get("warmup")]
                if not sysd.get("available", True):
                    lines.append("%-*s %-*s unavailable: %s" % (w, label, sw, name, sysd.get("unavailable")))
                    continue
                row = "%-*s %-*s %9s %9s %9s %6s" % (
                    w, label, sw, name, fmt(st and st["median"]), fmt(st and st["min"]), fmt(st and st["max"]),
                    "%d/%d" % (sum(1 for r in counted if r.get("ok")), len(counted)))
                if name in bases.values():
                    row += "".join(" %*s" % (cw, fmt_ratio(scen["ratios"].get(p, {}).get(f))
                                             if bases.get(p) == name else "") for p in peers)
                lines.append(row.rstrip())
        for name, sysd in systems.items():
            for r in sysd.get("runs", []):
                if not r.get("ok"):
                    lines.append("  FAILED %s %s run %s: %s" % (sname, name, r.get("run"), "; ".join(r.get("errors", []))))
        for name, sysd in systems.items():
            notes = {}
            for r in sysd.get("runs", []):
                for wn in r.get("warnings") or []:
                    notes.setdefault(wn, []).append(str(r.get("run")))
            for wn, runs in notes.items():
                lines.append("  note: %s %s (run%s %s)" % (name, wn, "s" if len(runs) > 1 else "", ", ".join(runs)))
    return "\n".join(lines)


def load_results(path):
    if os.path.isdir(path):
        path = os.path.join(path, "results.json")
    with open(path) as f:
        return json.load(f), path
