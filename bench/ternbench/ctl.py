"""What the control-plane scenarios (pause, hotplug) share: tern's HTTP API and QEMU's QMP over their UNIX sockets, a
console reader that timestamps marked lines as they arrive, the two VMMs' command lines, and one run of a VMM whose
control connection a scenario's cycles drive, with its teardown and its figures."""

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

from .util import now_iso
from .vm import GUEST_CMDLINE, qemu_argv, stderr_tail, tern_argv

SOCK = "@SOCK@"  # replaced by the run's socket path (in the driver's /tmp: it must be short)


class TernApi:
    """tern's control API over its UNIX socket, one keep-alive HTTP/1.1 connection."""

    def __init__(self, path):
        self.conn = http.client.HTTPConnection("localhost", timeout=30)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(path)
        self.conn.sock = s

    def call(self, method, name, body=None, want=204):
        """The reply's body; an answer other than WANT raises RuntimeError naming the call."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Host": "localhost"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        self.conn.request(method, "/api/v1/" + name, body=data, headers=headers)
        r = self.conn.getresponse()
        answer = r.read()
        if r.status != want:
            raise RuntimeError("%s: %d %s" % (name, r.status, answer[:200].decode(errors="replace")))
        return answer

    def quit(self):
        self.call("PUT", "vmm.shutdown")


class Qmp:
    """QEMU's QMP over its UNIX socket: one session, keeping the events that come between answers."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(30)
        self.s.connect(path)
        self.f = self.s.makefile("rwb")
        self.events = []
        json.loads(self.f.readline())  # the greeting
        self.cmd("qmp_capabilities")

    def read(self):
        line = self.f.readline()
        if not line:
            raise RuntimeError("QMP closed")
        o = json.loads(line)
        if "event" in o:
            self.events.append(o)
        return o

    def cmd(self, name, args=None):
        msg = {"execute": name}
        if args is not None:
            msg["arguments"] = args
        self.f.write(json.dumps(msg).encode() + b"\n")
        self.f.flush()
        while True:
            o = self.read()
            if "return" in o:
                return o["return"]
            if "error" in o:
                raise RuntimeError("%s: %s" % (name, o["error"]))

    def quit(self):
        try:
            self.cmd("quit")
        except (RuntimeError, OSError):
            pass  # QEMU may close before it answers


class Console:
    """Reads the VMM's console (stdout) on a thread into SERIAL; each line PARSE turns into a value (not None) is
    kept with its arrival time (time.monotonic())."""

    def __init__(self, stream, serial, parse):
        self.stream, self.serial, self.parse = stream, serial, parse
        self.seen = []  # (arrival time, value)
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
            got = [(now, v) for v in map(self.parse, lines) if v is not None]
            if got:
                with self.cond:
                    self.seen.extend(got)
                    self.cond.notify_all()

    def after(self, t, deadline, match=lambda v: True):
        """The arrival time of the first kept line after T whose value MATCH accepts, waiting until DEADLINE; None
        if none came."""
        with self.cond:
            while True:
                hits = [x for x, v in self.seen[-64:] if x > t and match(v)]
                if hits:
                    return min(hits)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


def systems(ctx, guest):
    """tern on its default machine (virt) with --api-socket, QEMU -M pc with QMP: the same kernel and guest."""
    k, i = ctx.guest["kernel"], ctx.guest["initramfs"]
    out = []
    for n in ctx.systems:
        if n == "tern":
            argv = tern_argv(ctx.tern, k, i, 1, guest.memory_mib, GUEST_CMDLINE) + ["--api-socket", "path=" + SOCK]
            out.append({"name": n, "kind": "vm", "argv": argv, "ctl": "tern"})
        else:
            argv = qemu_argv("pc", k, i, 1, guest.memory_mib, GUEST_CMDLINE) + [
                "-qmp", "unix:%s,server=on,wait=off" % SOCK]
            out.append({"name": n, "kind": "vm", "argv": argv, "ctl": "qmp"})
    return out


def connect(kinds, kind, path, deadline):
    """The control connection (KINDS[KIND], a TernApi or Qmp class), once the VMM listens."""
    while True:
        try:
            return kinds[kind](path)
        except (OSError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def vmm_run(spec, sysd, rdir, raw, parse, ready, kinds, cycles, figures):
    """One run: starts the VMM, reads its console through PARSE, waits for a line READY = (match, what) accepts
    (else the run fails saying the guest never said WHAT), and once connected (a class of KINDS) calls
    CYCLES(ctl, con, deadline, raw), which fills RAW's lists; the figures are the medians of RAW's FIGURES. Any
    failure is the run's error, with the VMM's stderr tail; the VMM is always told to quit, then waited for."""
    tmp = tempfile.mkdtemp(prefix="tbc-")
    sock = os.path.join(tmp, "ctl.sock")
    argv = [a.replace(SOCK, sock) for a in sysd["argv"]]
    serial_path, stderr_path = rdir + ".serial", rdir + ".stderr"
    rec = {"started": now_iso(), "serial_log": serial_path, "stderr_log": stderr_path, "argv": argv}
    errors = []
    deadline = time.monotonic() + spec["run_timeout"]
    with open(serial_path, "wb") as serial, open(stderr_path, "wb") as err:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, close_fds=True)
        con = Console(p.stdout, serial, parse)
        ctl = None
        try:
            if con.after(0, deadline, ready[0]) is None:
                raise RuntimeError("the guest never said %s" % ready[1])
            ctl = connect(kinds, sysd["ctl"], sock, deadline)
            cycles(ctl, con, deadline, raw)
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
    figs = {}
    if not errors:
        for k in figures:
            figs[k] = statistics.median(raw[k])
    else:
        stderr_tail(stderr_path, raw, errors)
    rec.update(ok=not errors, errors=errors, figures=figs, raw=raw)
    return rec
