"""The firmware scenario: SeaBIOS boots a disk or a CD to the guest's init (tests/guest/firmware.sh), on tern
--machine pc and on QEMU -M pc with the same bios.bin and the same images (tests/host/mkfwimages: syslinux on a raw
MBR disk, isolinux on an ISO). Each path is a pair: tern (IDE) / qemu-pc, tern-virtio / qemu-pc-virtio, tern-cd /
qemu-pc-cd; tern-kernel, no firmware, is the floor. Figures: start to the guest's init, start to the VMM's exit
after power-off, and the boot to init cut in two where the boot loader has read the kernel and the initramfs."""

import os
import re
import select
import shutil
import subprocess
import time

from ..parsers import MARK_INIT, MarkerClock
from ..scenario import Guest, Plan, Scenario
from ..util import TOP, now_iso
from ..vm import qemu_path, run_errors, stderr_tail

BIOS = "/usr/share/seabios/bios.bin"
MEMORY_MIB = 256
# system -> (VMM, what it boots from)
FW_SYSTEMS = {
    "tern": ("tern", "ide"),
    "tern-kernel": ("tern", "kernel"),
    "tern-virtio": ("tern", "virtio"),
    "tern-cd": ("tern", "cd"),
    "qemu-pc": ("qemu", "ide"),
    "qemu-pc-virtio": ("qemu", "virtio"),
    "qemu-pc-cd": ("qemu", "cd"),
}
# tern opens the images read-only; QEMU's IDE disk cannot be read-only, so QEMU gets copies of the disks the driver
# makes in the test host's /tmp (prepare; its root is read-only), and the ISO itself.
QEMU_COPIES = "/tmp/tern-bench-fw"
QEMU_DRIVES = {
    "ide": ["-drive", "file=%(copies)s/a.img,if=ide,format=raw"],
    "virtio": ["-drive", "file=%(copies)s/v.img,if=none,id=d0,format=raw", "-device", "virtio-blk-pci,drive=d0"],
    "cd": ["-drive", "file=%(dir)s/cd.iso,if=ide,media=cdrom,readonly=on,file.locking=off"],
}
TERN_DISKS = {
    "ide": "path=%(dir)s/a.img,if=ide,readonly=on",
    "virtio": "path=%(dir)s/v.img,readonly=on",
    "cd": "path=%(dir)s/cd.iso,if=ide,media=cdrom",
}


# syslinux's and isolinux's own serial line once they have read the initramfs, "Loading /initrd... ok". It is the
# one point both VMMs' consoles show between the VMM's start and the guest's init; the kernel's own clock is not one
# (its zero is where its timer starts ticking, which follows the machine's timer hardware). On tern SeaBIOS's serial
# console writes the line as well, so the words may come twice, run into each other and carry its cursor moves
# (ESC [ row ; col H) inside a word: those are taken out before the match.
LOADED = re.compile(rb"Loading [^\r\n]*initrd[^\r\n]*ok")
ESCAPES = re.compile(rb"\x1b(?:\[[0-9;?]*[A-Za-z]|c)")


def fw_phases(t_loaded, t_init):
    """The boot to init cut where the boot loader has read the kernel and initramfs: -> figures. Times in seconds
    from the VMM's start; None where the console did not show it."""
    if t_loaded is None:
        return {}
    figures = {"loaded_s": t_loaded}
    if t_init is not None and t_init >= t_loaded:
        figures["kernel_s"] = t_init - t_loaded
    return figures


def fw_argv(system, tern, images, direct=None):
    """The exact command line of SYSTEM booting from the images in IMAGES (a mkfwimages directory). tern-kernel is
    no firmware boot: tern boots the kernel and initramfs of the virtio-blk image itself (DIRECT: their paths and
    the command line, kernel.cmdline), with that disk attached, the floor a firmware boot adds to."""
    vmm, medium = FW_SYSTEMS[system]
    if medium == "kernel":
        kernel, initramfs, cmdline = direct
        return [tern, "--machine", "pc", "--kernel", kernel, "--initramfs", initramfs, "--cmdline", cmdline,
                "--memory", "%dM" % MEMORY_MIB, "--serial", "stdio", "--disk", TERN_DISKS["virtio"] % {"dir": images}]
    if vmm == "tern":
        return [tern, "--machine", "pc", "--firmware", BIOS, "--memory", "%dM" % MEMORY_MIB, "--serial", "stdio",
                "--disk", TERN_DISKS[medium] % {"dir": images}]
    return [qemu_path(), "-enable-kvm", "-M", "pc", "-cpu", "host", "-m", str(MEMORY_MIB),
            "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
            "-bios", BIOS] + [a % {"dir": images, "copies": QEMU_COPIES} for a in QEMU_DRIVES[medium]]


def fw_systems(names, tern, images, direct):
    """The plan's systems: each one's command line, and "loader" where a boot loader's line is expected on the
    console (every firmware boot; not tern-kernel)."""
    return [{"name": n, "kind": "vm", "argv": fw_argv(n, tern, images, direct), "loader": FW_SYSTEMS[n][1] != "kernel"}
            for n in names]


def fw_run(spec, sysd, rdir):
    """One boot: the time the guest's init line shows on the console and the time the VMM exits."""
    serial_path, stderr_path = rdir + ".serial", rdir + ".stderr"
    rec = {"started": now_iso(), "serial_log": serial_path, "stderr_log": stderr_path}
    raw, figures = {}, {}
    with open(serial_path, "wb") as serial, open(stderr_path, "wb") as err:
        t0 = time.monotonic()
        try:
            p = subprocess.Popen(sysd["argv"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                                 close_fds=True)
        except OSError as e:
            rec.update(ok=False, errors=["cannot start: %s" % e], figures={}, raw={})
            return rec
        clock = MarkerClock([MARK_INIT], t0)
        fd, deadline, killed = p.stdout.fileno(), t0 + spec["run_timeout"], False
        t_loaded = None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                p.kill()
                killed = True
                break
            r, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not r:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            serial.write(chunk)
            now = time.monotonic()
            clock.feed(chunk, now)
            # The line is short: look at this chunk and what came just before it.
            if t_loaded is None and LOADED.search(
                    ESCAPES.sub(b"", bytes(clock.buf[max(0, len(clock.buf) - len(chunk) - 512):]))):
                t_loaded = now - t0
        p.wait()
        p.stdout.close()
        t_exit = time.monotonic() - t0
    status = None if killed else p.returncode
    errors = run_errors(status, clock.guest_exit_status())
    if MARK_INIT in clock.seen:
        figures["init_s"] = clock.seen[MARK_INIT]
    else:
        errors.append("no %s on the console" % MARK_INIT)
    if status == 0:
        figures["exit_s"] = t_exit
    if sysd.get("loader") and t_loaded is None and MARK_INIT in clock.seen:
        errors.append("no 'Loading /initrd... ok' from the boot loader on the console")
    figures.update(fw_phases(t_loaded, clock.seen.get(MARK_INIT)))
    raw.update(t_init=clock.seen.get(MARK_INIT), t_exit=t_exit, exit_status=status, t_loaded=t_loaded)
    if errors:
        stderr_tail(stderr_path, raw, errors)
    rec.update(ok=not errors, errors=errors, figures=figures, raw=raw)
    return rec


class Firmware(Scenario):
    name = "firmware"
    order = 6
    description = ("SeaBIOS (Debian's bios.bin) boots syslinux from a raw disk over IDE or virtio-blk, or isolinux "
                   "from an ISO over ATAPI, to the guest's init, on tern --machine pc and on QEMU -M pc (KVM) with "
                   "the same firmware and images. Pairs: tern / qemu-pc (IDE), tern-virtio / qemu-pc-virtio, "
                   "tern-cd / qemu-pc-cd; tern-kernel boots the virtio-blk image's kernel and initramfs without "
                   "firmware, the floor under a firmware boot of the same guest.")
    guest = Guest("tests/guest/firmware.sh", modules="ata_piix sd_mod e1000 virtio_pci virtio_blk cdrom sr_mod isofs",
                  cpus=1, memory_mib=MEMORY_MIB)
    peers = ["qemu-pc", "tern-virtio", "qemu-pc-virtio", "tern-cd", "qemu-pc-cd", "tern-kernel"]
    unpaired = ("tern-kernel",)  # the floor: its init_s is read against qemu-pc-virtio's by hand
    known_peers = [s for s in FW_SYSTEMS if s != "tern"]
    figures = {
        "init_s": {"unit": "s", "better": "lower", "label": "start to TERN-GUEST-INIT",
                   "what": "wall time from the VMM process start, through the firmware and the boot loader's "
                           "reads, to the guest init's first line on the serial console"},
        "exit_s": {"unit": "s", "better": "lower", "label": "start to VMM exit",
                   "what": "wall time from the VMM process start to its exit after the guest's checks and "
                           "power-off"},
        # Both optional: tern-kernel has no boot loader.
        "loaded_s": {"unit": "s", "better": "lower", "label": "start to boot loader done", "optional": True,
                     "what": "wall time from the VMM process start, through the firmware, to the boot loader's "
                             "'Loading /initrd... ok' on the serial console: the VMM's start, the firmware and the "
                             "boot loader's reads through the BIOS"},
        "kernel_s": {"unit": "s", "better": "lower", "label": "boot loader done to TERN-GUEST-INIT", "optional": True,
                     "what": "the kernel's setup code, its decompressing itself and its boot to init: mostly the "
                             "guest's own work, with the exits it makes"},
    }
    colors = {"tern-virtio": 0x6BAED6, "tern-cd": 0x9ECAE1, "tern-kernel": 0xC6DBEF, "qemu-pc-virtio": 0xFD8D3C,
              "qemu-pc-cd": 0xFDAE6B}

    def setup(self, ctx):
        p = subprocess.run([os.path.join(TOP, "tests/host/mkfwimages"), ctx.guest["kernel"],
                            ctx.guest["initramfs"]], stdout=subprocess.PIPE, text=True)
        if p.returncode != 0:
            raise SystemExit("tern-bench: tests/host/mkfwimages failed (exit %d)" % p.returncode)
        images = p.stdout.strip()
        ctx.guest["fw_images"] = images
        with open(os.path.join(images, "kernel.cmdline")) as f:
            direct = (ctx.guest["kernel"], ctx.guest["initramfs"], f.read().strip())
        setup = {"images": images, "bios": BIOS, "systems": FW_SYSTEMS,
                 "summary": "SeaBIOS %s; 1 vCPU, %d MiB; images from tests/host/mkfwimages (read-only for tern; "
                            "QEMU boots copies of the disks and the ISO itself)" % (BIOS, MEMORY_MIB)}
        return Plan(fw_systems(ctx.systems, ctx.tern, images, direct), {"fw_images": images}, setup,
                    run_timeout=300)

    def prepare(self, spec, info):
        """QEMU's disks: fresh copies, once per harness run (the guest only reads them)."""
        os.makedirs(QEMU_COPIES, exist_ok=True)
        for name in ("a.img", "v.img"):
            shutil.copyfile(os.path.join(spec["fw_images"], name), os.path.join(QEMU_COPIES, name))
        info["qemu_copies"] = QEMU_COPIES

    def teardown(self, spec):
        shutil.rmtree(QEMU_COPIES, ignore_errors=True)

    def run(self, spec, system, rdir):
        return fw_run(spec, system, rdir)

    def systems_help(self):
        return "firmware systems: " + ", ".join("%s (%s, %s)" % (n, v, m) for n, (v, m) in FW_SYSTEMS.items())
