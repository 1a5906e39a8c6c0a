"""The pause scenario: how long pausing and resuming a running guest takes through each VMM's control plane, tern's
HTTP API (PUT /api/v1/vm.pause, vm.resume on --api-socket) against QEMU's QMP (stop, cont), on the same guest, which
ticks on its serial console every 20 ms (bench/guests/pause.sh). Each run boots the guest and makes CYCLES pause/
resume cycles over one persistent connection (HTTP keep-alive, one QMP session); a run's figures are the medians of
its cycles."""

import time

from .. import ctl as cp
from ..scenario import Guest, Options, Plan, Scenario

OPTIONS = Options(
    (("--pause-cycles",), {"type": int, "default": 10, "metavar": "N",
                           "help": "pause/resume cycles per run (default 10)"}),
    check=lambda a: None if a.pause_cycles >= 3 else "--pause-cycles: at least 3",
)


class TernApi(cp.TernApi):
    def pause(self):
        self.call("PUT", "vm.pause")

    def resume(self):
        self.call("PUT", "vm.resume")


class Qmp(cp.Qmp):
    def pause(self):
        self.cmd("stop")

    def resume(self):
        self.cmd("cont")


def tick(line):
    """True for a tick line (the guest's TERN-TICK n), else None."""
    return True if line.startswith(b"TERN-TICK ") else None


def pause_run(spec, sysd, rdir):
    def cycles(ctl, con, deadline, raw):
        for _ in range(spec["pause"]["cycles"]):
            time.sleep(0.1)
            t0 = time.monotonic()
            ctl.pause()
            t1 = time.monotonic()
            time.sleep(0.1)
            t2 = time.monotonic()
            ctl.resume()
            t3 = time.monotonic()
            t4 = con.after(t2, min(deadline, t3 + 5))
            if t4 is None:
                raise RuntimeError("no tick within 5 s of a resume")
            raw["pause_ms"].append((t1 - t0) * 1000)
            raw["resume_ms"].append((t3 - t2) * 1000)
            raw["resume_tick_ms"].append((t4 - t2) * 1000)

    raw = {"pause_ms": [], "resume_ms": [], "resume_tick_ms": []}
    return cp.vmm_run(spec, sysd, rdir, raw, tick, (lambda v: True, "a tick"), {"tern": TernApi, "qmp": Qmp},
                      cycles, ("pause_ms", "resume_ms", "resume_tick_ms"))


class Pause(Scenario):
    name = "pause"
    order = 8
    description = ("pause and resume of a running guest through the control plane: tern's API (PUT "
                   "/api/v1/vm.pause and vm.resume over its UNIX socket, one keep-alive connection) against QEMU's "
                   "QMP (stop, cont; -M pc), the same guest ticking on its console every 20 ms; per run the "
                   "medians of --pause-cycles cycles")
    guest = Guest("bench/guests/pause.sh", modules="", cpus=1, memory_mib=256)
    peers = ["qemu-pc"]
    known_peers = ["qemu-pc"]
    options = (OPTIONS,)
    figures = {
        "pause_ms": {"unit": "ms", "better": "lower", "label": "pause: call to acknowledged",
                     "what": "from sending the pause (vm.pause / stop) to its answer: vCPUs out of KVM_RUN and "
                             "the devices paused"},
        "resume_ms": {"unit": "ms", "better": "lower", "label": "resume: call to acknowledged",
                      "what": "from sending the resume (vm.resume / cont) to its answer"},
        "resume_tick_ms": {"unit": "ms", "better": "lower", "label": "resume: call to the guest's next tick",
                           "what": "from sending the resume to the first console tick that arrives after it (the "
                                   "guest ticks every 20 ms: the tick's phase is part of it)"},
    }

    def setup(self, ctx):
        systems = cp.systems(ctx, self.guest)
        cycles = ctx.args.pause_cycles
        return Plan(systems, params={"pause": {"cycles": cycles}},
                    setup={"summary": "%d pause/resume cycles per run, 100 ms apart" % cycles},
                    run_timeout=120)

    def run(self, spec, system, rdir):
        return pause_run(spec, system, rdir)
