"""`tern-bench run`, the outer harness: on the machine you type on, for each scenario it builds the guest, asks the
scenario for its systems (setup), writes the spec, starts the driver inside the test host (tests/host/run, one L1
per scenario) or natively, relays its output, and writes DIR/results.json: every run's figures, the statistics
and ratios, versions and command lines. Then it prints the table."""

import datetime
import json
import os
import re
import select
import shlex
import shutil
import subprocess
import sys
import time

from . import scenarios
from .results import FORMAT, table, validate
from .scenario import NATIVE, TEST_HOST, Context
from .stats import scenario_stats
from .util import (COMMAND, PYTHON, TOP, bzimage_version, capture, loadavg, now_iso, other_test_hosts, sha256,
                   write_json)
from .vm import QEMU


def where(scen, args):
    """Where SCEN's driver runs: TEST_HOST or NATIVE (--host, unless the scenario needs no KVM)."""
    return NATIVE if scen.runs_in == NATIVE else args.host


def build_binaries():
    """The programs of the build besides tern that some scenario runs, each once, in registry order."""
    names = []
    for s in scenarios.registry().values():
        names += [b for b in s.build_binaries if b not in names]
    return names


def option_dest(binary):
    """The `run` option of a build binary (--tern-blk) as argparse names it."""
    return binary.replace("-", "_")


def relay(argv, t0, timeout):
    """Runs ARGV, copying its output line by line with the harness's elapsed time in front."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    buf = b""
    fd = p.stdout.fileno()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            p.kill()
            print("[%7.1fs] tern-bench: killed %s after %d s" % (time.monotonic() - t0, argv[0], timeout), flush=True)
            break
        r, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not r:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            line = line.rstrip(b"\r").decode(errors="replace")
            print("[%7.1fs] %s" % (time.monotonic() - t0, line), flush=True)
    if buf:
        print("[%7.1fs] %s" % (time.monotonic() - t0, buf.decode(errors="replace")), flush=True)
    return p.wait()


def build_guest(guest):
    """tests/host/mkguest for GUEST (a scenario.Guest): the results' record of the guest, with its kernel and
    initramfs."""
    argv = [os.path.join(TOP, "tests/host/mkguest"), "--script", os.path.join(TOP, guest.script),
            "--modules", guest.modules]
    if guest.tools:
        argv += ["--tools", guest.tools]
    for f in guest.files:
        src, dst = f.split(":", 1)
        argv += ["--files", "%s:%s" % (os.path.join(TOP, src), dst)]
    p = subprocess.run(argv, stdout=subprocess.PIPE, text=True)
    lines = p.stdout.split()
    if p.returncode or len(lines) < 2:
        raise SystemExit("tern-bench: %s failed (exit %d)" % (shlex.join(argv), p.returncode))
    return {"kernel": lines[0], "initramfs": lines[1], "script": guest.script, "modules": guest.modules,
            "tools": guest.tools, "files": guest.files, "command": argv,
            "kernel_version": bzimage_version(lines[0])}


def copy_binary(source, out, name):
    """A copy of SOURCE as OUT/NAME.bin that every run uses: a rebuild while the scenarios run (someone's ninja)
    would otherwise put two binaries into one set of figures."""
    copy = os.path.join(out, name + ".bin")
    shutil.copyfile(source, copy)
    os.chmod(copy, 0o755)
    return copy


def cmd_run(args):
    t0 = time.monotonic()
    started = now_iso()
    registry = scenarios.registry()
    for s in args.scenario:
        if s not in registry:
            raise SystemExit("tern-bench: unknown scenario %r (see: bench/tern-bench list)" % s)
    chosen = [registry[s] for s in args.scenario]
    build = os.path.realpath(os.environ.get("TERN_BUILD", os.path.join(TOP, "build")))
    tern = os.path.realpath(args.tern or os.path.join(build, "tern"))
    if not os.access(tern, os.X_OK):
        raise SystemExit("tern-bench: no tern at %s (build it: meson setup build && ninja -C build, or --tern PATH)"
                         % tern)
    out = os.path.realpath(args.out or os.path.join(build, "bench", datetime.datetime.now().strftime("%Y%m%d-%H%M%S")))
    if any(where(s, args) == TEST_HOST for s in chosen):
        if re.search(r"[ ,]", out) or out.startswith(("/tmp/", "/run/")):
            raise SystemExit("tern-bench: --out %s: the test host needs a path without spaces or commas, "
                             "outside /tmp and /run" % out)
    os.makedirs(out, exist_ok=True)
    tern_source, tern = tern, copy_binary(tern, out, "tern")
    binaries = {}  # build binary -> (copy, source)
    for name in build_binaries():
        if not any(name in s.build_binaries for s in chosen):
            continue
        source = os.path.realpath(getattr(args, option_dest(name)) or os.path.join(build, name))
        if not os.access(source, os.X_OK):
            raise SystemExit("tern-bench: no %s at %s (ninja -C build %s, or --%s PATH)" % (name, source, name, name))
        binaries[name] = (copy_binary(source, out, name), source)
    describe, derr = capture(["git", "-C", TOP, "describe", "--always", "--dirty"])
    qemu_v, qerr = capture([QEMU, "--version"])
    tern_v, _ = capture([tern, "--version"])
    versions = {"tern": describe, "tern_describe_error": derr, "tern_version": tern_v, "tern_binary": tern,
                "tern_binary_source": tern_source, "tern_sha256": sha256(tern)}
    for name in build_binaries():  # every one's keys, whether this run used it or not
        copy, source = binaries.get(name, (None, None))
        key = option_dest(name)
        versions.update({key + "_binary": copy, key + "_binary_source": source,
                         key + "_sha256": sha256(copy) if copy else None})
    for s in registry.values():
        for key, argv in s.tool_versions.items():
            versions[key] = next(iter((capture(argv)[0] or "").splitlines()), None)
    versions.update({"qemu": qemu_v.splitlines()[0] if qemu_v else None, "qemu_error": qerr,
                     "guest_kernel": None, "l1_kernel": None})
    doc = {
        "tool": "tern-bench", "format": FORMAT, "started": started,
        "command": [os.path.relpath(COMMAND, os.getcwd())] + sys.argv[1:], "cwd": os.getcwd(), "out_dir": out,
        "runs": args.runs, "warmup": args.warmup,
        "versions": versions,
        "outer_host": {"hostname": os.uname().nodename, "kernel": os.uname().release, "nproc": os.cpu_count(),
                       "loadavg_start": loadavg(), "other_test_hosts_start": len(other_test_hosts())},
        "scenarios": {},
    }
    if doc["outer_host"]["other_test_hosts_start"]:
        print("tern-bench: note: %d other test host(s) running on this machine; figures share its %d cores"
              % (doc["outer_host"]["other_test_hosts_start"], os.cpu_count()), flush=True)
    res_path = os.path.join(out, "results.json")
    for scen in chosen:
        run_scenario(scen, args, doc, t0, tern, binaries, out)
        write_json(res_path, doc)
    doc["finished"] = now_iso()
    doc["elapsed_s"] = time.monotonic() - t0
    doc["outer_host"]["loadavg_end"] = loadavg()
    doc["outer_host"]["other_test_hosts_end"] = len(other_test_hosts())
    write_json(res_path, doc)
    print(table(doc))
    print("\nresults: %s  (elapsed %.0f s)" % (res_path, doc["elapsed_s"]))
    print("plot:    %s plot %s" % (os.path.relpath(COMMAND, os.getcwd()), out))
    if doc["outer_host"]["other_test_hosts_start"] or doc["outer_host"]["other_test_hosts_end"]:
        print("note: other test hosts were running (%d at start, %d at end): the machine's cores were shared"
              % (doc["outer_host"]["other_test_hosts_start"], doc["outer_host"]["other_test_hosts_end"]))
    problems = validate(doc)
    for p in problems:
        print("problem: " + p)
    return 1 if problems else 0


def scenario_head(scen, figures, guest, setup):
    """What a scenario's part of the results says of itself, before its systems."""
    return {"description": scen.description, "figures": figures, "guest": guest, "setup": setup,
            "subject": scen.subject, "unpaired": list(scen.unpaired)}


def run_scenario(scen, args, doc, t0, tern, binaries, out):
    """One scenario of `run`: guest, setup, the driver where the scenario runs, and its part of the results DOC."""
    sname = scen.name
    peers = list(scen.peers) if args.peers is None else [p for p in args.peers.split(",") if p]
    for p in peers:
        if p not in scen.known_peers:
            raise SystemExit("tern-bench: %s: unknown peer %r (known: %s)" % (sname, p, ", ".join(scen.known_peers)))
    guest = None
    if scen.guest:
        print("[%7.1fs] tern-bench: %s: building the guest (tests/host/mkguest)" % (time.monotonic() - t0, sname),
              flush=True)
        guest = build_guest(scen.guest)
        doc["versions"]["guest_kernel"] = guest["kernel_version"]
    sdir = os.path.join(out, sname)
    os.makedirs(sdir, exist_ok=True)
    ctx = Context(args, sname, sdir, tern, {b: binaries[b][0] for b in scen.build_binaries}, guest,
                  [scen.subject] + peers)
    plan = scen.setup(ctx)
    systems, setup = plan.systems, plan.setup
    figures = plan.figures or scen.figures
    run_timeout = args.run_timeout or plan.run_timeout
    host = where(scen, args)
    spec = {"scenario": sname, "dir": sdir, "runs": args.runs, "warmup": args.warmup, "run_timeout": run_timeout,
            "memory_mib": scen.guest.memory_mib if scen.guest else None, "figures": figures,
            "systems": systems, "kernel": guest["kernel"] if guest else None,
            "initramfs": guest["initramfs"] if guest else None}
    spec.update(plan.params)
    spec_path = os.path.join(sdir, "spec.json")
    write_json(spec_path, spec)
    inner = [PYTHON, COMMAND, "_driver", spec_path]
    budget = 240 + (args.runs + args.warmup) * len(systems) * run_timeout
    if host == TEST_HOST:
        argv = [os.path.join(TOP, "tests/host/run"), "--timeout", str(budget), "--results", out,
                "--log", os.path.join(sdir, "l1-console.log"), "--"] + inner
    else:
        argv = inner
    print("[%7.1fs] tern-bench: %s: %s" % (time.monotonic() - t0, sname, shlex.join(argv)), flush=True)
    ts = time.monotonic()
    rc = relay(argv, t0, budget + 120)
    raw_path = os.path.join(sdir, "raw.json")
    raw = None
    try:
        with open(raw_path) as f:
            raw = json.load(f)
    except (OSError, ValueError) as e:
        print("tern-bench: %s: no driver results (%s)" % (sname, e), flush=True)
    if setup is not None and raw:
        scen.finish(setup, raw)
    sd = scenario_head(scen, figures, guest, setup)
    sd.update({"host_kind": raw["driver"]["host_kind"] if raw else host,
               "driver": {"command": argv, "exit_status": rc, "elapsed_s": time.monotonic() - ts,
                          "spec": spec_path, "raw": raw_path,
                          "console_log": os.path.join(sdir, "l1-console.log") if host == TEST_HOST else None,
                          "info": raw["driver"] if raw else None},
               "systems": {}})
    if rc:
        sd["driver"]["error"] = "driver or test host exited %d" % rc
    for s in systems:
        d = (raw or {}).get("systems", {}).get(s["name"])
        if d is None:
            d = {"command": s["argv"], "command_line": shlex.join(s["argv"]), "available": False,
                 "unavailable": "the driver recorded nothing (exit %d)" % rc, "runs": []}
        sd["systems"][s["name"]] = d
        done = [r for r in d.get("runs", []) if not r.get("warmup")]
        if d.get("available") and len(done) < args.runs:
            d.setdefault("incomplete", "%d of %d runs recorded (driver/test host exit %d)"
                         % (len(done), args.runs, rc))
    if raw:
        doc["versions"]["l1_kernel"] = "%s %s" % (raw["driver"]["kernel"], raw["driver"]["kernel_version"])
        if raw["driver"].get("qemu_version") and not doc["versions"]["qemu"]:
            doc["versions"]["qemu"] = raw["driver"]["qemu_version"]
    doc["scenarios"][sname] = scenario_stats(sd)
