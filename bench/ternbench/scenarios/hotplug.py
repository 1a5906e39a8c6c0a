"""The hotplug scenario: how long it takes a virtio-blk disk added through each VMM's control plane to appear in the
guest, and one removed to be gone from it. tern's HTTP API on --api-socket (PUT /api/v1/vm.add-disk, vm.remove-
device; PCI hotplug on its default machine, virt: a GED event and the DSDT's slots) against QEMU's QMP (blockdev-add
and device_add of a virtio-blk-pci, device_del; -M pc, whose ACPI PCI hotplug on bus 0 needs no root port). The
guest (bench/guests/hotplug.sh) says on its console each time its set of /sys/block/vd* changes; the driver times
from sending the call to that line's arrival, on its own clock. Each run boots the guest and makes CYCLES add/remove
cycles over one persistent connection; a run's figures are the medians of its cycles."""

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
MARK = b"TERN-BENCH-DISKS "
SEEN_S = 15  # how long the guest has to see a disk come or go; longer is a failure, not a figure
GONE_S = 15  # how long the VMM has to let go of a removed device before the next cycle
IMAGE_MIB = 16

OPTIONS = Options(
    (("--hotplug-cycles",), {"type": int, "default": 5, "metavar": "N",
                             "help": "hotplug: disk add/remove cycles per run (default 5)"}),
    check=lambda a: None if a.hotplug_cycles >= 3 else "--hotplug-cycles: at least 3",
)


class TernApi:
    """tern's control API over its UNIX socket, one keep-alive HTTP/1.1 connection."""

    def __init__(self, path):
        self.conn = http.client.HTTPConnection("localhost", timeout=30)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(path)
        self.conn.sock = s

    def call(self, method, name, body=None, want=204):
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

    def add(self, n, image):
        self.call("PUT", "vm.add-disk", {"path": image, "id": n}, want=200)

    def remove(self, n):
        self.call("PUT", "vm.remove-device", {"id": n})

    def wait_gone(self, n, deadline):
        """Until vm.info no longer lists N: tern destroys the device once the guest has ejected it, and the next
        cycle should meet a VM without it."""
        key = ('"%s"' % n).encode()
        while key in self.call("GET", "vm.info", want=200):
            if time.monotonic() > deadline:
                raise RuntimeError("%s still in vm.info %d s after the guest let go of it" % (n, GONE_S))
            time.sleep(0.02)

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

    def add(self, n, image):
        # the image is already open: blockdev_add() went first, untimed (raw's blockdev_ms), since device_add is
        # the call that puts the disk on the bus; tern's vm.add-disk opens the image within its timed call
        self.cmd("device_add", {"driver": "virtio-blk-pci", "drive": n, "id": n})

    def blockdev_add(self, n, image):
        self.cmd("blockdev-add", {"driver": "raw", "node-name": n,
                                  "file": {"driver": "file", "filename": image}})

    def remove(self, n):
        self.cmd("device_del", {"id": n})

    def wait_gone(self, n, deadline):
        """Until DEVICE_DELETED for N (QEMU has let go of the device after the guest's eject); then its block node
        goes too, so that every cycle starts from the same QEMU."""
        self.s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            while not any(e["event"] == "DEVICE_DELETED" and e.get("data", {}).get("device") == n
                          for e in self.events):
                self.read()
        except socket.timeout:
            raise RuntimeError("no DEVICE_DELETED for %s within %d s of the guest letting go of it" % (n, GONE_S))
        finally:
            self.s.settimeout(30)
        self.events = []
        self.cmd("blockdev-del", {"node-name": n})

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
    """Reads the VMM's console (stdout) on a thread into SERIAL, timestamping each TERN-BENCH-DISKS line's
    arrival with the disk count it says."""

    def __init__(self, stream, serial):
        self.stream, self.serial = stream, serial
        self.seen = []  # (arrival time (time.monotonic()), disks)
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
            got = []
            for ln in lines:
                i = ln.find(MARK)  # the kernel may share the line
                if i >= 0:
                    try:
                        got.append((now, int(ln[i + len(MARK):].split()[0])))
                    except (IndexError, ValueError):
                        pass
            if got:
                with self.cond:
                    self.seen.extend(got)
                    self.cond.notify_all()

    def disks_after(self, t, n, deadline):
        """The arrival time of the first line after T saying N disks, waiting until DEADLINE; None if none came."""
        with self.cond:
            while True:
                hits = [x for x, k in self.seen[-64:] if x > t and k == n]
                if hits:
                    return min(hits)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


def hotplug_run(spec, sysd, rdir):
    params = spec["hotplug"]
    image = params["image"]
    tmp = tempfile.mkdtemp(prefix="tbh-")
    sock = os.path.join(tmp, "ctl.sock")
    argv = [a.replace(SOCK, sock) for a in sysd["argv"]]
    serial_path, stderr_path = rdir + ".serial", rdir + ".stderr"
    rec = {"started": now_iso(), "serial_log": serial_path, "stderr_log": stderr_path, "argv": argv}
    raw = {"add_ms": [], "remove_ms": [], "add_answer_ms": [], "remove_answer_ms": [], "gone_ms": []}
    if sysd["ctl"] == "qmp":
        raw["blockdev_ms"] = []
    errors = []
    deadline = time.monotonic() + spec["run_timeout"]
    what = {"tern": ("vm.add-disk", "vm.remove-device"), "qmp": ("device_add", "device_del")}[sysd["ctl"]]
    with open(serial_path, "wb") as serial, open(stderr_path, "wb") as err:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, close_fds=True)
        con = Console(p.stdout, serial)
        ctl = None
        try:
            if con.disks_after(0, 0, deadline) is None:
                raise RuntimeError("the guest never said it had no disks (TERN-BENCH-DISKS 0)")
            ctl = connect(sysd["ctl"], sock, deadline)
            for c in range(params["cycles"]):
                n = "hp%d" % c
                time.sleep(0.2)
                if sysd["ctl"] == "qmp":
                    tb = time.monotonic()
                    ctl.blockdev_add(n, image)
                    raw["blockdev_ms"].append((time.monotonic() - tb) * 1000)
                t0 = time.monotonic()
                ctl.add(n, image)
                t1 = time.monotonic()
                t2 = con.disks_after(t0, 1, min(deadline, t1 + SEEN_S))
                if t2 is None:
                    raise RuntimeError("cycle %d: the guest did not see the disk within %d s of %s"
                                       % (c + 1, SEEN_S, what[0]))
                time.sleep(0.2)
                t3 = time.monotonic()
                ctl.remove(n)
                t4 = time.monotonic()
                t5 = con.disks_after(t3, 0, min(deadline, t4 + SEEN_S))
                if t5 is None:
                    raise RuntimeError("cycle %d: the disk was still in the guest %d s after %s"
                                       % (c + 1, SEEN_S, what[1]))
                ctl.wait_gone(n, min(deadline, t5 + GONE_S))
                t6 = time.monotonic()
                raw["add_ms"].append((t2 - t0) * 1000)
                raw["add_answer_ms"].append((t1 - t0) * 1000)
                raw["remove_ms"].append((t5 - t3) * 1000)
                raw["remove_answer_ms"].append((t4 - t3) * 1000)
                raw["gone_ms"].append((t6 - t3) * 1000)
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
        for k in ("add_ms", "remove_ms"):
            figures[k] = statistics.median(raw[k])
    else:
        stderr_tail(stderr_path, raw, errors)
    rec.update(ok=not errors, errors=errors, figures=figures, raw=raw)
    return rec


class Hotplug(Scenario):
    name = "hotplug"
    order = 9
    description = ("a virtio-blk disk hotplugged and removed through the control plane: tern's API (PUT "
                   "/api/v1/vm.add-disk and vm.remove-device over its UNIX socket, one keep-alive connection; "
                   "virt's ACPI PCI hotplug) against QEMU's QMP (blockdev-add + device_add virtio-blk-pci, "
                   "device_del; -M pc's ACPI PCI hotplug), timed to the guest seeing the disk come and go; per "
                   "run the medians of --hotplug-cycles cycles")
    guest = Guest("bench/guests/hotplug.sh", modules="virtio_pci virtio_blk", cpus=1, memory_mib=256)
    peers = ["qemu-pc"]
    known_peers = ["qemu-pc"]
    options = (OPTIONS,)
    figures = {
        "add_ms": {"unit": "ms", "better": "lower", "label": "add: call to the guest's disk",
                   "what": "from sending the add (vm.add-disk / device_add, after QEMU's blockdev-add) to the "
                           "guest's console line saying /sys/block has the disk (the guest polls every 5 ms)"},
        "remove_ms": {"unit": "ms", "better": "lower", "label": "remove: call to the disk gone",
                      "what": "from sending the removal (vm.remove-device / device_del) to the guest's console "
                              "line saying /sys/block no longer has it (the guest polls every 5 ms)"},
    }

    def setup(self, ctx):
        k, i = ctx.guest["kernel"], ctx.guest["initramfs"]
        systems = []
        for n in ctx.systems:
            if n == "tern":
                # tern's default machine, virt: PCI hotplug is there (not on pc)
                argv = tern_argv(ctx.tern, k, i, 1, self.guest.memory_mib, GUEST_CMDLINE) + [
                    "--api-socket", "path=" + SOCK]
                systems.append({"name": n, "kind": "vm", "argv": argv, "ctl": "tern"})
            else:
                argv = qemu_argv("pc", k, i, 1, self.guest.memory_mib, GUEST_CMDLINE) + [
                    "-qmp", "unix:%s,server=on,wait=off" % SOCK]
                systems.append({"name": n, "kind": "vm", "argv": argv, "ctl": "qmp"})
        cycles = ctx.args.hotplug_cycles
        image = "/tmp/tern-bench-hotplug-%d/disk.img" % os.getpid()
        return Plan(systems, params={"hotplug": {"cycles": cycles, "image": image}},
                    setup={"summary": "%d add/remove cycles per run of a %d MiB raw image, 200 ms apart"
                                      % (cycles, IMAGE_MIB),
                           "image": image, "image_mib": IMAGE_MIB},
                    run_timeout=60 + 20 * cycles)

    def prepare(self, spec, info):
        # In the driver's /tmp (tmpfs in the test host), written out so that both VMMs read allocated blocks;
        # the guest only probes it
        img = spec["hotplug"]["image"]
        os.makedirs(os.path.dirname(img), exist_ok=True)
        with open(img, "wb") as f:
            f.write(bytes(IMAGE_MIB << 20))
        info["hotplug_image"] = img

    def teardown(self, spec):
        shutil.rmtree(os.path.dirname(spec["hotplug"]["image"]), ignore_errors=True)

    def run(self, spec, system, rdir):
        return hotplug_run(spec, system, rdir)
