"""Plots of a results document: one PNG per scenario, drawn by gnuplot (gnuplot-nox, pngcairo), one panel per
figure with a bar per system (median), min-max whiskers and the subject's ratio to each peer."""

import os
import shutil
import subprocess
import sys
import tempfile

from . import scenarios
from .results import fmt, fmt_ratio, load_results
from .scenario import NATIVE
from .stats import NOVHOST, applies


# Bar colours of the systems most scenarios have; a scenario adds its own (Scenario.colors), others get COLOR.
COLORS = {"tern": 0xD9622B, "qemu-pc": 0x4C72B0, "qemu-microvm": 0x55A868, "host": 0x8C8C8C,
          "tern" + NOVHOST: 0xF2A679, "qemu-pc" + NOVHOST: 0x9BB3DB, "qemu-microvm" + NOVHOST: 0x9FD1AC}
COLOR = 0x8172B2


def style(sname):
    """(colours, labels) of the systems of scenario SNAME: the common ones and the scenario's own (none for a
    scenario this tern-bench does not have)."""
    scen = scenarios.registry().get(sname)
    return dict(COLORS, **(scen.colors if scen else {})), dict(scen.plot_labels if scen else {})


def plot_label(name, labels=None):
    """A system's name under its bar: the scenario's LABELS' if it has one (Scenario.plot_labels), else the name
    with "-novhost" on a line of its own, so that four bars fit a panel."""
    labels = labels or {}
    if name in labels:
        return labels[name]
    return name[:-len(NOVHOST)] + "\n(no vhost)" if name.endswith(NOVHOST) else name


def gp_str(s):
    """A gnuplot double-quoted string (newlines become \\n, which gnuplot turns back into line breaks)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def plot_script(doc, sname, png, workdir):
    """A gnuplot script drawing one panel per figure: bars per system (median), min-max whiskers, the
    median above each bar, the number of runs in it, and tern's ratio to each peer above the peer's bar."""
    scen = doc["scenarios"][sname]
    colors, labels = style(sname)
    # Figures marked "plot": False are in the table and the results only (a scenario with many).
    figs = [(f, fd) for f, fd in scen["figures"].items() if fd.get("plot", True)]
    host = scen.get("host_kind", "?")
    # Panels: one row per "row" of the figures (blk: one per job), else all in one row.
    grid = {}
    for f, fd in figs:
        grid.setdefault(fd.get("row", 0), []).append((f, fd))
    grid = [grid[k] for k in sorted(grid)]
    ncols = max(len(r) for r in grid)
    known = scenarios.registry().get(sname)
    where = ("test host: guests on nested KVM inside a QEMU-TCG L1 (absolute values are TCG's; compare ratios)"
             if host == "test-host" else "native" if known and known.runs_in == NATIVE else "native KVM")
    subject = scen.get("subject", "tern")
    title = ("tern-bench %s   —   %s\nbar: median of n successful runs, whisker: min–max;  "
             "%s/peer: %s's median ÷ that peer's median (< 1: %s lower)" % (sname, where, subject, subject, subject))
    paired = {p: b for p, b in (scen.get("ratio_base") or {}).items() if b != subject}
    if paired and all(b == subject + NOVHOST for b in paired.values()):
        title += "\npeers marked (no vhost) are compared with tern (no vhost), the others with tern"
    elif paired:
        title += "\npeers are compared with %s, but %s" % (
            subject, ", ".join("%s with %s" % (p, b) for p, b in sorted(paired.items())))
    unpaired = [n for n in scen.get("unpaired") or () if n in scen["systems"]]
    if unpaired:
        title += "\nno ratio for %s (shown for reference)" % ", ".join(unpaired)
    if (scen.get("setup") or {}).get("summary"):
        title += "\n" + scen["setup"]["summary"]
    title = title.replace("_", "\\_")  # literal underscores in gnuplot's enhanced text
    # A panel holds its bars at 140 px each (five systems in boot), at least 440 px.
    width = max(440, 140 * len(scen["systems"]) + 60) * ncols + 60
    # and at least the title's longest line (a run of one configuration is a single column).
    width = max(width, 60 + 9 * max(len(line) for line in title.split("\n")))
    height = 640 if len(grid) == 1 else 120 + 500 * len(grid)
    g = ["set terminal pngcairo enhanced size %d,%d font 'DejaVu Sans,11' linewidth 1.2" % (width, height),
         "set output %s" % gp_str(png),
         "set multiplot layout %d,%d title %s font ',12'" % (len(grid), ncols, gp_str(title)),
         "set style fill solid 0.85 border rgb '#333333'",
         "set boxwidth 0.62",
         "set grid ytics lc rgb '#dddddd' lw 1 dt 1",
         "set border 3", "set xtics nomirror scale 0 font ',11'", "set ytics nomirror",
         "set key off", "set tmargin 6",
         "set bmargin %d" % (4 if any("\n" in plot_label(n, labels) for n in scen["systems"]) else 3), "set lmargin 11",
         ]
    panels = []
    for row in grid:
        panels += [(f, fd) for f, fd in row] + [(None, None)] * (ncols - len(row))
    for f, fd in panels:
        if f is None:
            g.append("set multiplot next")
            continue
        systems = [(n, sd) for n, sd in scen["systems"].items() if applies(fd, sd)]
        rows, top, low = [], 0.0, None
        for i, (name, sysd) in enumerate(systems):
            st = (sysd.get("stats") or {}).get(f)
            if st:
                r = scen["ratios"].get(name, {}).get(f)
                # Four bars leave no room for the unit in each label: it is in the title and on the axis.
                rows.append((i, plot_label(name, labels), st["median"], st["min"], st["max"], colors.get(name, COLOR),
                             "%s%s\n(n=%d)" % (fmt(st["median"]), " " + fd["unit"] if len(systems) <= 3 else "",
                                               st["n"]),
                             # "tern/peer" (the title says what it is), "ratio" for longer names
                             "%s %s" % ("tern/peer" if subject == "tern" else "ratio", fmt_ratio(r))
                             if r is not None else ""))
                top = max(top, st["max"])
                if st["min"] > 0:
                    low = st["min"] if low is None else min(low, st["min"])
            else:
                # An optional figure a system's runs do not give (tern-kernel has no boot loader) is no failure.
                why = "not measured" if fd.get("optional") and sysd.get("ok_runs") else "no successful run"
                rows.append((i, plot_label(name, labels), 0, 0, 0, 0xBBBBBB, why, ""))
        dat = os.path.join(workdir, "%s-%s.dat" % (sname, f))
        with open(dat, "w") as fh:
            fh.write("# idx system median min max rgb value_label ratio_label\n")
            for r in rows:
                fh.write("%d %s %.6g %.6g %.6g %d %s %s\n" % (r[0], gp_str(r[1]), r[2], r[3], r[4], r[5],
                                                             gp_str(r[6]), gp_str(r[7])))
        top = top or 1.0
        # Bars 20x apart (VMs beside fio on the host) share a log axis, or the small ones vanish.
        log = low is not None and top / low > 20
        g += ["set title %s font ',12'" % gp_str(("%s [%s]" % (fd["label"], fd["unit"])).replace("_", "\\_")),
              "set ylabel %s" % gp_str(fd["unit"] + (" (log scale)" if log else "")),
              "set xrange [-0.6:%f]" % (len(systems) - 0.4),
              "set logscale y" if log else "unset logscale y",
              "set yrange [%f:%f]" % ((low / 3, top * 12) if log else (0, top * 1.45)),
              "plot %s using 1:3:6:xtic(2) with boxes lc rgb variable, \\" % gp_str(dat),
              "  '' using 1:4:(0):($5-$4) with vectors nohead lc rgb '#222222' lw 1.5, \\",
              "  '' using ($1-0.07):4:(0.14):(0) with vectors nohead lc rgb '#222222' lw 1.5, \\",
              "  '' using ($1-0.07):5:(0.14):(0) with vectors nohead lc rgb '#222222' lw 1.5, \\",
              "  '' using 1:5:7 with labels offset 0,1.4 font ',10', \\",
              "  '' using 1:5:8 with labels offset 0,3.0 font 'DejaVu Sans Bold,10' tc rgb '#B84A18'"]
    g.append("unset multiplot")
    return "\n".join(g) + "\n"


def need_gnuplot():
    if shutil.which("gnuplot"):
        return
    print("tern-bench: installing gnuplot-nox", flush=True)
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "gnuplot-nox"]
    if subprocess.run(cmd, stdout=sys.stderr).returncode:
        subprocess.run(["apt-get", "update", "-q"], stdout=sys.stderr)
        subprocess.run(cmd, stdout=sys.stderr, check=True)


def plot(path):
    """Draws DIR/<scenario>.png for every scenario of the results at PATH (a directory or the file), keeps the
    gnuplot script beside it and prints each PNG's path. Returns 0, or 1 if gnuplot failed for one."""
    doc, path = load_results(path)
    need_gnuplot()
    outdir = os.path.dirname(os.path.abspath(path))
    rc = 0
    with tempfile.TemporaryDirectory() as work:
        for sname in doc["scenarios"]:
            png = os.path.join(outdir, "%s.png" % sname)
            script = plot_script(doc, sname, png, work)
            gp = os.path.join(outdir, "%s.gnuplot" % sname)
            p = subprocess.run(["gnuplot"], input=script, text=True, stderr=subprocess.PIPE)
            if p.returncode:
                print("tern-bench: gnuplot failed for %s:\n%s" % (sname, p.stderr), file=sys.stderr)
                rc = 1
                continue
            with open(gp, "w") as f:  # kept for the record; its data files were temporary
                f.write(script)
            print(png)
    return rc
