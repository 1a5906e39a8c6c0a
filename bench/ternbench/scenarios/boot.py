"""The boot scenario: Linux boots a busybox initramfs (bench/guests/boot.sh) to its first userspace line and to
power-off; while the guest idles the driver samples the VMM's memory. tern boots the ELF vmlinux beside the
bzImage (no decompressor in the guest), tern-bzimage the bzImage; QEMU pc and microvm boot the bzImage,
qemu-microvm-vmlinux the vmlinux through its PVH entry."""

import os
import subprocess
import time

from ..parsers import MARK_EXIT, MARK_IDLE, MARK_INIT, MARK_NOGO, MarkerClock, memory_overhead
from ..scenario import Guest, Plan, Scenario
from ..stats import is_figure
from ..util import now_iso, signal_name
from ..vm import GUEST_CMDLINE, QEMU, pump_console, qemu_argv, stderr_tail, tern_argv

# Machine options per QEMU peer. microvm: rtc=on avoids a 6 s RTC probe stall; pit and pic off, as measured when
# this scenario was designed.
QEMU_MACHINES = {
    "qemu-pc": "pc",
    "qemu-microvm": "microvm,rtc=on,pit=off,pic=off",
}


def vmlinux_of(kernel):
    """The uncompressed ELF vmlinux that tests/host/kernel keeps beside each bzImage."""
    return os.path.join(os.path.dirname(kernel), "vmlinux")


def system_argv(system, kernel, initrd, cpus, memory_mib, tern):
    """The exact command line of SYSTEM booting KERNEL/INITRD (boot scenario). tern boots the ELF vmlinux
    inside KERNEL (no decompressor in the guest), tern-bzimage the bzImage itself; QEMU boots the bzImage, and
    qemu-microvm-vmlinux the same vmlinux through its PVH entry."""
    if system == "tern":
        return tern_argv(tern, vmlinux_of(kernel), initrd, cpus, memory_mib, GUEST_CMDLINE)
    if system == "tern-bzimage":
        return tern_argv(tern, kernel, initrd, cpus, memory_mib, GUEST_CMDLINE)
    if system == "qemu-microvm-vmlinux":
        return qemu_argv(QEMU_MACHINES["qemu-microvm"], vmlinux_of(kernel), initrd, cpus, memory_mib,
                         GUEST_CMDLINE)
    if system in QEMU_MACHINES:
        return qemu_argv(QEMU_MACHINES[system], kernel, initrd, cpus, memory_mib, GUEST_CMDLINE)
    raise KeyError(system)


def boot_figures(seen, sample_window, t_exit, exit_status, guest_status, overhead, overhead_errors):
    """Turns one boot run's observations into (figures, errors). Times are seconds from the VMM's start.
    seen: {marker: t}; sample_window: (t_idle_seen, t_go) or None."""
    figures, errors = {}, []
    if exit_status is None:
        errors.append("no exit (killed at the timeout)")
    elif exit_status < 0:
        errors.append("killed by signal %d (%s)" % (-exit_status, signal_name(-exit_status)))
    elif exit_status != 0:
        errors.append("exit status %d" % exit_status)
    if MARK_INIT in seen:
        figures["init_s"] = seen[MARK_INIT]
    else:
        errors.append("no %s on the console" % MARK_INIT)
    if MARK_NOGO in seen:
        errors.append("guest got no go line (%s)" % MARK_NOGO)
    if guest_status is None:
        errors.append("no %s line" % MARK_EXIT)
    elif guest_status != 0:
        errors.append("guest script exited %d" % guest_status)
    if sample_window is None:
        errors.append("no %s: memory not sampled" % MARK_IDLE)
    elif t_exit is not None and exit_status == 0:
        figures["exit_s"] = t_exit - (sample_window[1] - sample_window[0])
    if overhead is not None and not overhead_errors:
        figures["pss_overhead_mib"] = overhead["pss_overhead_mib"]
    errors.extend(overhead_errors)
    for k, v in list(figures.items()):
        if not is_figure(v):
            errors.append("%s = %r is not a positive number" % (k, v))
            del figures[k]
    return figures, errors


def boot_run(spec, sysd, rdir):
    """One boot of one system. Returns the run record."""
    argv = sysd["argv"]
    timeout = spec["run_timeout"]
    serial_path, stderr_path = rdir + ".serial", rdir + ".stderr"
    rec = {"started": now_iso(), "serial_log": serial_path, "stderr_log": stderr_path}
    raw = {}
    overhead, overhead_errors, window = None, [], None
    with open(serial_path, "wb") as serial, open(stderr_path, "wb") as err:
        t0 = time.monotonic()
        try:
            p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, close_fds=True)
        except OSError as e:
            rec.update(ok=False, errors=["cannot start: %s" % e], figures={}, raw={})
            return rec
        clock = MarkerClock([MARK_INIT, MARK_IDLE, MARK_NOGO], t0)
        deadline = t0 + timeout

        def on_chunk(chunk, now):
            nonlocal overhead, overhead_errors, window
            seen = clock.feed(chunk, now)
            if MARK_IDLE in seen and window is None:
                # The guest idles in `read`: sample the VMM's memory, then send the go line.
                t_idle = seen[MARK_IDLE]
                raw["t_sample_start"] = time.monotonic() - t0
                try:
                    with open("/proc/%d/smaps_rollup" % p.pid) as f:
                        rollup = f.read()
                    with open("/proc/%d/smaps" % p.pid) as f:
                        smaps = f.read()
                    raw["t_sample_end"] = time.monotonic() - t0
                    with open(rdir + ".smaps_rollup", "w") as f:
                        f.write(rollup)
                    with open(rdir + ".smaps", "w") as f:
                        f.write(smaps)
                    overhead, overhead_errors = memory_overhead(rollup, smaps, spec["memory_mib"])
                except (OSError, ValueError) as e:
                    overhead_errors = ["memory sample failed: %s" % e]
                try:
                    p.stdin.write(b"\n")
                    p.stdin.flush()
                except OSError as e:
                    overhead_errors.append("go line not sent: %s" % e)
                window = (t_idle, time.monotonic() - t0)
                raw["t_go"] = window[1]

        killed = pump_console(p, serial, deadline, on_chunk)
        p.wait()
        t_exit = time.monotonic() - t0
        try:
            p.stdin.close()
        except OSError:
            pass
    raw.update({"t_" + k.lower().replace("-", "_"): v for k, v in clock.seen.items()})
    raw["t_exit"] = t_exit
    raw["exit_status"] = None if killed else p.returncode
    if window:
        raw["pause_s"] = window[1] - window[0]
    if overhead:
        raw["memory"] = overhead
    figures, errors = boot_figures(clock.seen, window, None if killed else t_exit, raw["exit_status"],
                                   clock.guest_exit_status(), overhead, overhead_errors)
    if killed:
        errors = ["timeout: killed after %d s" % timeout] + [e for e in errors if not e.startswith("no exit")]
    if errors:
        stderr_tail(stderr_path, raw, errors)
    rec.update(ok=not errors, errors=errors, figures=figures, raw=raw)
    return rec


class Boot(Scenario):
    name = "boot"
    order = 1
    description = ("Linux boot of a busybox initramfs (Debian's stock kernel, no modules) to its first userspace "
                   "line and to power-off; the VMM's own memory while the guest idles. tern boots the ELF vmlinux "
                   "inside the bzImage; tern-bzimage, qemu-pc and qemu-microvm the bzImage; qemu-microvm-vmlinux "
                   "the vmlinux (PVH).")
    guest = Guest("bench/guests/boot.sh", modules="", cpus=1, memory_mib=256)
    peers = ["qemu-pc", "qemu-microvm", "qemu-microvm-vmlinux", "tern-bzimage"]
    known_peers = list(QEMU_MACHINES) + ["qemu-microvm-vmlinux", "tern-bzimage"]
    figures = {
        "init_s": {"unit": "s", "better": "lower",
                   "label": "start to TERN-GUEST-INIT",
                   "what": "wall time from the VMM process start to the guest init's first line on the "
                           "serial console"},
        "exit_s": {"unit": "s", "better": "lower",
                   "label": "start to VMM exit",
                   "what": "wall time from the VMM process start to its exit after the guest powered off, "
                           "less the driver's pause while the guest idled for the memory sample"},
        "pss_overhead_mib": {"unit": "MiB", "better": "lower",
                             "label": "VMM memory overhead (PSS)",
                             "what": "Pss of the VMM process (smaps_rollup) minus the Pss of its guest-RAM "
                                     "mapping (the largest mapping, with its memfd aliases), sampled while "
                                     "the guest idles after init"},
    }
    colors = {"tern-bzimage": 0xF2A679, "qemu-microvm-vmlinux": 0x9FD1AC}
    plot_labels = {"tern-bzimage": "tern\n(bzImage)", "qemu-microvm-vmlinux": "qemu-microvm\n(vmlinux)"}

    def setup(self, ctx):
        k, i = ctx.guest["kernel"], ctx.guest["initramfs"]
        return Plan([{"name": n, "kind": "vm",
                      "argv": system_argv(n, k, i, self.guest.cpus, self.guest.memory_mib, ctx.tern)}
                     for n in ctx.systems], run_timeout=90)

    def run(self, spec, system, rdir):
        return boot_run(spec, system, rdir)

    def systems_help(self):
        return "boot peers: " + ", ".join("%s (%s -M %s)" % (p, QEMU, m) for p, m in QEMU_MACHINES.items())
