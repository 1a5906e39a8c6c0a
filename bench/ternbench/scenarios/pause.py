"""The pause scenario: how long pausing and resuming a running guest takes through each VMM's control plane, tern's
HTTP API (PUT /api/v1/vm.pause, vm.resume on --api-socket) against QEMU's QMP (stop, cont), on the same guest, which
ticks on its serial console every 20 ms (bench/guests/pause.sh). Each run boots the guest and makes CYCLES pause/
resume cycles over one persistent connection (HTTP keep-alive, one QMP session); a run's figures are the medians of
its cycles."""

import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time

from ..scenario import Guest, Options, Plan, Scenario
from ..util import now_iso
from ..vm import GUEST_CMDLINE, qemu_argv, stderr_tail, tern_argv

SOCK = "@SOCK@"  # replaced by the run's socket path (in the driver's /tmp: it must be short)

OPTIONS = Options(
    (("--pause-cycles",), {"type": int, "default": 10, "metavar": "N",
                           "help": "pause/resume cycles per run (default 10)"}),
    check=lambda a: None if a.pause_cycles >= 3 else "--pause-cycles: at least 3",
)


class TernApi:
    """tern's control API over its UNIX socket, one keep-alive HTTP/1.1 connection."""

    def __init__(self, path):
        self.conn = http.client.HTTPConnection("localhost", timeout=30)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(path)
        self.conn.sock = s

    def put(self, name):
        self.conn.request("PUT", "/api/v1/" + name, headers={"Host": "localhost"})
        r = self.conn.getresponse()
        body = r.read()
        if r.status != 204:
            raise RuntimeError("%s: %d %s" % (name, r.status, body[:200]))

    def pause(self):
        self.put("vm.pause")

    def resume(self):
        self.put("vm.resume")

    def quit(self):
        self.put("vmm.shutdown")


class Qmp:
    """QEMU's QMP over its UNIX socket: one session."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(30)
        self.s.connect(path)
        self.f = self.s.makefile("rwb")
        json.loads(self.f.readline())  # the greeting
        self.cmd("qmp_capabilities")

    def cmd(self, name):
        self.f.write(json.dumps({"execute": name}).encode() + b"\n")
        self.f.flush()
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError("%s: QMP closed" % name)
            o = json.loads(line)
            if "return" in o:
                return o["return"]
            if "error" in o:
                raise RuntimeError("%s: %s" % (name, o["error"]))
            # an event ({"event": "STOP"}, ...): not the answer

    def pause(self):
        self.cmd("stop")

    def resume(self):
        self.cmd("cont")

    def quit(self):
        try:
            self.cmd("quit")
        except (RuntimeError, OSError):
            pass  # QEMU may close before it answers


def connect(kind, path, deadline):
    """The control connection, once the VMM listens."""
    while True:
        try:
            return TernApi(path) if kind == "tern" else Qmp(path)
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Console:
    """Reads the VMM's console (stdout) on a thread into SERIAL, timestamping each TERN-TICK line's arrival."""

    def __init__(self, stream, serial):
        self.stream, self.serial = stream, serial
        self.ticks = []  # arrival times (time.monotonic())
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self.pump, daemon=True)
        self.thread.start()

    def pump(self):
        buf = b""
        fd = self.stream.fileno()
        while True:
            chunk = os.read(fd, 65536)
            now = time.monotonic()
            if not chunk:
                break
            self.serial.write(chunk)
            buf += chunk
            *lines, buf = buf.split(b"\n")
            n = sum(1 for ln in lines if ln.startswith(b"TERN-TICK "))
            if n:
                with self.cond:
                    self.ticks.extend([now] * n)
                    self.cond.notify_all()

    def tick_after(self, t, deadline):
        """The arrival time of the first tick that came after T, waiting until DEADLINE; None if none came."""
        with self.cond:
            while True:
                later = [x for x in self.ticks[-64:] if x > t]
                if later:
                    return min(later)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


def pause_run(spec, sysd, rdir):
    params = spec["pause"]
    tmp = tempfile.mkdtemp(prefix="tbp-")
    sock = os.path.join(tmp, "ctl.sock")
    argv = [a.replace(SOCK, sock) for a in sysd["argv"]]
    serial_path, stderr_path = rdir + ".serial", rdir + ".stderr"
    rec = {"started": now_iso(), "serial_log": serial_path, "stderr_log": stderr_path, "argv": argv}
    raw = {"pause_ms": [], "resume_ms": [], "resume_tick_ms": []}
    errors = []
    deadline = time.monotonic() + spec["run_timeout"]
    with open(serial_path, "wb") as serial, open(stderr_path, "wb") as err:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, close_fds=True)
        con = Console(p.stdout, serial)
        ctl = None
        try:
            if con.tick_after(0, deadline) is None:
                raise RuntimeError("the guest never ticked")
            ctl = connect(sysd["ctl"], sock, deadline)
            for _ in range(params["cycles"]):
                time.sleep(0.1)
                t0 = time.monotonic()
                ctl.pause()
                t1 = time.monotonic()
                time.sleep(0.1)
                t2 = time.monotonic()
                ctl.resume()
                t3 = time.monotonic()
                t4 = con.tick_after(t2, min(deadline, t3 + 5))
                if t4 is None:
                    raise RuntimeError("no tick within 5 s of a resume")
                raw["pause_ms"].append((t1 - t0) * 1000)
                raw["resume_ms"].append((t3 - t2) * 1000)
                raw["resume_tick_ms"].append((t4 - t2) * 1000)
        except (OSError, RuntimeError, ValueError, http.client.HTTPException) as e:
            errors.append("%s" % e)
        finally:
            if ctl:
                try:
                    ctl.quit()
                except (OSError, RuntimeError, http.client.HTTPException):
                    pass
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                errors.append("the VMM did not exit after its quit command")
            con.thread.join(5)
    shutil.rmtree(tmp, ignore_errors=True)
    raw["exit_status"] = p.returncode
    figures = {}
    if not errors:
        for k in ("pause_ms", "resume_ms", "resume_tick_ms"):
            figures[k] = statistics.median(raw[k])
    else:
        stderr_tail(stderr_path, raw, errors)
    rec.update(ok=not errors, errors=errors, figures=figures, raw=raw)
    return rec


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
        k, i = ctx.guest["kernel"], ctx.guest["initramfs"]
        systems = []
        for n in ctx.systems:
            if n == "tern":
                argv = tern_argv(ctx.tern, k, i, 1, self.guest.memory_mib, GUEST_CMDLINE) + [
                    "--api-socket", "path=" + SOCK]
                systems.append({"name": n, "kind": "vm", "argv": argv, "ctl": "tern"})
            else:
                argv = qemu_argv("pc", k, i, 1, self.guest.memory_mib, GUEST_CMDLINE) + [
                    "-qmp", "unix:%s,server=on,wait=off" % SOCK]
                systems.append({"name": n, "kind": "vm", "argv": argv, "ctl": "qmp"})
        cycles = ctx.args.pause_cycles
        return Plan(systems, params={"pause": {"cycles": cycles}},
                    setup={"summary": "%d pause/resume cycles per run, 100 ms apart" % cycles},
                    run_timeout=120)

    def run(self, spec, system, rdir):
        return pause_run(spec, system, rdir)
