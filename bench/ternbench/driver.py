"""`tern-bench _driver SPEC`, the inner driver: runs where the systems run (inside the test host's L1 for guests on
KVM, or on this machine). It checks which systems can run here, lets the scenario prepare, runs every system in
rounds (warm-up rounds first: recorded, not counted; then round 1 of every system, round 2, ...), and writes
DIR/<scenario>/raw.json after every run. L1's console is slow, so each run's logs go to files under
DIR/<scenario>/runs/ and one progress line per run crosses the console."""

import json
import os
import shlex
import subprocess
import sys
import time

from . import scenarios
from .results import fmt
from .scenario import Unavailable
from .util import capture, loadavg, log, now_iso, read_text, write_json
from .vm import QEMU


def host_info():
    """The driver's record of where it runs."""
    try:
        with open("/proc/cmdline") as f:
            in_l1 = "TERN_CTL=" in f.read()
    except OSError:
        in_l1 = False
    uname = os.uname()
    qemu_version, qerr = capture([QEMU, "--version"])
    return {
        "host_kind": "test-host" if in_l1 else "native",
        "kernel": uname.release, "kernel_version": uname.version, "machine": uname.machine,
        "nproc": os.cpu_count(), "kvm": os.path.exists("/dev/kvm"), "loadavg_start": loadavg(),
        "qemu_version": qemu_version.splitlines()[0] if qemu_version else "unavailable: %s" % qerr,
        "python": sys.version.split()[0], "started": now_iso(),
        "thp": {k: read_text("/sys/kernel/mm/transparent_hugepage/" + k) for k in ("enabled", "shmem_enabled")},
    }


def system_record(s, info):
    """raw.json's record of system S before its first run: its command lines and whether it can run here."""
    kind = s.get("kind", "vm")
    d = {"kind": kind, "command": s["argv"], "command_line": shlex.join(s["argv"]), "runs": []}
    if s.get("jobs_argv"):
        d["jobs_command"] = s["jobs_argv"]
    if s.get("backend"):
        d["backend_command"] = s["backend"]["argv"]
        d["backend_command_line"] = shlex.join(s["backend"]["argv"])
    missing = [x for x in [s["argv"][0]] + ([s["backend"]["argv"][0]] if s.get("backend") else [])
               if not (os.path.isfile(x) and os.access(x, os.X_OK))]
    if missing:
        d.update(available=False, unavailable="%s is not an executable here" % missing[0])
    elif kind == "vm" and not info["kvm"]:
        d.update(available=False, unavailable="no /dev/kvm here")
    else:
        d["available"] = True
    return d


def driver(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    t_start = time.monotonic()
    scen = scenarios.get(spec["scenario"])
    sdir = spec["dir"]
    rundir = os.path.join(sdir, "runs")
    os.makedirs(rundir, exist_ok=True)
    info = host_info()
    out = {"driver": info, "systems": {}}
    systems = spec["systems"]
    for s in systems:
        out["systems"][s["name"]] = system_record(s, info)
    raw_path = os.path.join(sdir, "raw.json")
    try:
        try:
            scen.prepare(spec, info)
        except (Unavailable, OSError, subprocess.SubprocessError) as e:
            why = str(e) if isinstance(e, Unavailable) else "%s setup failed: %s" % (scen.name, e)
            for d in out["systems"].values():
                d.update(available=False, unavailable=why)
        write_json(raw_path, out)
        log("driver up (%s, kernel %s, %d cpu(s), /dev/kvm %s); %s: %s, %d warm-up + %d runs each"
            % (info["host_kind"], info["kernel"], info["nproc"], "yes" if info["kvm"] else "NO", spec["scenario"],
               ", ".join(s["name"] for s in systems), spec["warmup"], spec["runs"]))
        for s in systems:
            if not out["systems"][s["name"]]["available"]:
                log("%s %s: unavailable: %s" % (spec["scenario"], s["name"], out["systems"][s["name"]]["unavailable"]))
        rounds = [("w", i, True) for i in range(1, spec["warmup"] + 1)] + \
                 [("", i, False) for i in range(1, spec["runs"] + 1)]
        for prefix, i, warm in rounds:
            for s in systems:
                d = out["systems"][s["name"]]
                if not d["available"]:
                    continue
                t = time.monotonic()
                rec = scen.run(spec, s, os.path.join(rundir, "%s-%s%d" % (s["name"], prefix, i)))
                rec["run"] = "%s%d" % (prefix, i)
                rec["warmup"] = warm
                rec["wall_s"] = time.monotonic() - t
                d["runs"].append(rec)
                write_json(raw_path, out)
                what = "warm-up %d/%d" % (i, spec["warmup"]) if warm else "run %d/%d" % (i, spec["runs"])
                figs = "  ".join("%s %s" % (k, fmt(v, spec["figures"][k]["unit"])) for k, v in rec["figures"].items())
                status = "ok" if rec["ok"] else "FAILED: " + "; ".join(rec["errors"])
                log("%s %-15s %-14s %s  %s  (%.1f s, elapsed %.0f s)"
                    % (spec["scenario"], s["name"], what, figs, status, rec["wall_s"], time.monotonic() - t_start))
    finally:
        scen.teardown(spec)
    info["loadavg_end"] = loadavg()
    info["finished"] = now_iso()
    info["elapsed_s"] = time.monotonic() - t_start
    write_json(raw_path, out)
    bad = sum(1 for d in out["systems"].values() for r in d["runs"] if not r["ok"])
    log("driver done in %.0f s, %d failed run(s)" % (info["elapsed_s"], bad))
    return 0
