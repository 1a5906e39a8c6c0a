"""tern-bench: runs tern and its peers (QEMU) through benchmark scenarios and compares them.

usage: bench/tern-bench list
       bench/tern-bench run SCENARIO... [--runs N] [--warmup N] [--out DIR] [--peers P1,P2,...]
                                        [--tern PATH] [--tern-blk PATH] [--host test-host|native] [--run-timeout S]
                                        [the scenarios' own options: --blk-queues N, --net-time S, ... (run --help)]
       bench/tern-bench show DIR|FILE        the table of a finished run
       bench/tern-bench plot DIR|FILE        one PNG per scenario (gnuplot), next to the JSON
       bench/tern-bench validate DIR|FILE    checks a results file's shape and figures (exit 0 ok, 1 not)

Run it from anywhere; paths are resolved from the repository the command sits in. There is no usable /dev/kvm
here, so by default each scenario runs in the test host (tests/host/run): the outer harness (harness.py) builds
the guest, writes a spec, starts one L1 per scenario, and a driver inside L1 (driver.py, `tern-bench _driver
SPEC`) boots every system run after run (interleaved: round 1 of every system, then round 2, ...; warm-up rounds
first, recorded but left out of the statistics), timestamps the VMM's serial output as it arrives and writes every
raw figure to DIR/<scenario>/raw.json after each run. L1's console is slow (~200 KB/s), so serial logs, stderr and
smaps samples go to files under DIR/<scenario>/runs/ and only one progress line per run crosses the console. The
outer harness then writes DIR/results.json (one object per scenario: every run's figures, median/min/max per
system, the subject's median over each peer's median, host kind, versions and the exact command lines) and prints
the table. A scenario that needs no KVM runs natively, without the test host.

The scenarios are the modules of ternbench/scenarios/ (`tern-bench list` describes each; bench/README.md has the
details and how to add one). Figures are never pass/fail. A run that fails (exit status, timeout, missing marker,
unreadable smaps) is recorded with its errors and left out of the statistics; nothing is ever filled in.

Standard library only; runs with Debian's /usr/bin/python3 (3.11).
"""

import argparse

from . import plot, scenarios
from .driver import driver
from .harness import build_binaries, cmd_run, option_dest
from .results import load_results, table, validate
from .scenario import NATIVE, TEST_HOST


def where_text(s):
    """Where scenario S runs and on what, for `list`."""
    g = s.guest
    guest = "--cpus %s, %d MiB; " % (g.cpus, g.memory_mib) if g else "no guest; "
    return guest + ("one L1, runs interleaved" if s.runs_in == TEST_HOST else "natively (no test host), runs "
                    "interleaved")


def cmd_list(args):
    registry = scenarios.registry()
    print("scenarios (bench/tern-bench run SCENARIO...):")
    for name, s in registry.items():
        print("\n  %s — %s" % (name, s.description))
        print("    systems: %s, %s (default; known peers: %s); %s"
              % (s.subject, ", ".join(s.peers), ", ".join(s.known_peers), where_text(s)))
        for f, fd in s.figures.items():
            print("    %-28s [%s, %s is better%s] %s" % (f, fd["unit"], fd["better"],
                                                      ", VMs only" if fd.get("vm_only") else "", fd["what"]))
    lines = [line for line in (s.systems_help() for s in registry.values()) if line]
    if lines:
        print("\n" + "\n".join(lines))
    return 0


def cmd_plot(args):
    return plot.plot(args.dir)


def cmd_show(args):
    doc, path = load_results(args.dir)
    print(table(doc))
    print("\nresults: %s" % path)
    return 0


def cmd_validate(args):
    doc, path = load_results(args.dir)
    problems = validate(doc)
    for p in problems:
        print("%s: %s" % (path, p))
    if not problems:
        print("%s: ok" % path)
    return 1 if problems else 0


def main(argv):
    ap = argparse.ArgumentParser(prog="tern-bench", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="scenarios and what they measure")
    r = sub.add_parser("run", help="run scenarios for tern and its peers")
    r.add_argument("scenario", nargs="+")
    r.add_argument("--runs", type=int, default=3, help="measured runs per system (default 3)")
    r.add_argument("--warmup", type=int, default=1, help="warm-up runs per system, recorded, not counted (default 1)")
    r.add_argument("--out", help="results directory (default $TERN_BUILD/bench/<timestamp>, TERN_BUILD=build)")
    r.add_argument("--peers", help="comma-separated peers (default: all of the scenario's; '' for none)")
    r.add_argument("--tern", help="tern binary (default $TERN_BUILD/tern)")
    registry = scenarios.registry()
    for name in build_binaries():
        users = [s.name for s in registry.values() if name in s.build_binaries]
        r.add_argument("--" + name, dest=option_dest(name),
                       help="%s binary for the %s scenario (default $TERN_BUILD/%s)" % (name, ", ".join(users), name))
    r.add_argument("--host", choices=[TEST_HOST, NATIVE], default=TEST_HOST,
                   help="where guests run: inside tests/host/run (default) or on this machine's /dev/kvm")
    r.add_argument("--run-timeout", type=int, help="seconds before one guest run is killed (default: boot 90, "
                   "blk 45 + jobs x (runtime + ramp + 15), net 60 + jobs x (time + 20))")
    groups = []
    for s in registry.values():
        groups += [g for g in s.options if g not in groups]
    for g in groups:
        g.add_to(r)
    for name in ("plot", "show", "validate"):
        p = sub.add_parser(name)
        p.add_argument("dir", metavar="DIR|FILE")
    d = sub.add_parser("_driver")
    d.add_argument("spec")
    args = ap.parse_args(argv)
    if args.cmd == "run":
        if args.runs < 1 or args.warmup < 0:
            ap.error("--runs must be >= 1 and --warmup >= 0")
        for g in groups:
            err = g.check and g.check(args)
            if err:
                ap.error(err)
    return {"list": cmd_list, "run": cmd_run, "plot": cmd_plot, "show": cmd_show, "validate": cmd_validate,
            "_driver": lambda a: driver(a.spec)}[args.cmd](args)
