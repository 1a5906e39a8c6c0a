"""The hotplug scenario: how long it takes a virtio-blk disk added through each VMM's control plane to appear in the
guest, and one removed to be gone from it. tern's HTTP API on --api-socket (PUT /api/v1/vm.add-disk, vm.remove-
device; PCI hotplug on its default machine, virt: a GED event and the DSDT's slots) against QEMU's QMP (blockdev-add
and device_add of a virtio-blk-pci, device_del; -M pc, whose ACPI PCI hotplug on bus 0 needs no root port). The
guest (bench/guests/hotplug.sh) says on its console each time its set of /sys/block/vd* changes; the driver times
from sending the call to that line's arrival, on its own clock. Each run boots the guest and makes CYCLES add/remove
cycles over one persistent connection; a run's figures are the medians of its cycles."""

import os
import shutil
import socket
import time

from .. import ctl as cp
from ..scenario import Guest, Options, Plan, Scenario

MARK = b"TERN-BENCH-DISKS "
SEEN_S = 15  # how long the guest has to see a disk come or go; longer is a failure, not a figure
GONE_S = 15  # how long the VMM has to let go of a removed device before the next cycle
IMAGE_MIB = 16

OPTIONS = Options(
    (("--hotplug-cycles",), {"type": int, "default": 5, "metavar": "N",
                             "help": "hotplug: disk add/remove cycles per run (default 5)"}),
    check=lambda a: None if a.hotplug_cycles >= 3 else "--hotplug-cycles: at least 3",
)


class TernApi(cp.TernApi):
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


class Qmp(cp.Qmp):
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


def disks(line):
    """The disk count a TERN-BENCH-DISKS line says (the kernel may share the line), else None."""
    i = line.find(MARK)
    if i < 0:
        return None
    try:
        return int(line[i + len(MARK):].split()[0])
    except (IndexError, ValueError):
        return None


def hotplug_run(spec, sysd, rdir):
    params = spec["hotplug"]
    image = params["image"]
    what = {"tern": ("vm.add-disk", "vm.remove-device"), "qmp": ("device_add", "device_del")}[sysd["ctl"]]

    def cycles(ctl, con, deadline, raw):
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
            t2 = con.after(t0, min(deadline, t1 + SEEN_S), lambda k: k == 1)
            if t2 is None:
                raise RuntimeError("cycle %d: the guest did not see the disk within %d s of %s"
                                   % (c + 1, SEEN_S, what[0]))
            time.sleep(0.2)
            t3 = time.monotonic()
            ctl.remove(n)
            t4 = time.monotonic()
            t5 = con.after(t3, min(deadline, t4 + SEEN_S), lambda k: k == 0)
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

    raw = {"add_ms": [], "remove_ms": [], "add_answer_ms": [], "remove_answer_ms": [], "gone_ms": []}
    if sysd["ctl"] == "qmp":
        raw["blockdev_ms"] = []
    return cp.vmm_run(spec, sysd, rdir, raw, disks, (lambda k: k == 0, "it had no disks (TERN-BENCH-DISKS 0)"),
                      {"tern": TernApi, "qmp": Qmp}, cycles, ("add_ms", "remove_ms"))


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
        # tern's default machine, virt: PCI hotplug is there (not on pc)
        systems = cp.systems(ctx, self.guest)
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
