"""A guest on a VMM: the command lines of tern and QEMU booting a kernel with the serial console on stdio, the
guest's kernel command line, and one run of a VMM whose console lines go to the scenario's marker families
(vm_session), with the errors of its ending."""

import os
import select
import shutil
import subprocess
import time

from .parsers import MARK_EXIT, MARK_INIT, MARK_NOGO, Lines, MarkerClock
from .util import now_iso, signal_name

GUEST_CMDLINE = "console=ttyS0 quiet panic=-1"

QEMU = "qemu-system-x86_64"

# Machines for QEMU peers with PCI devices (virtio-blk-pci, virtio-net-pci): microvm needs pcie=on (its ECAM host
# bridge; the guest logs "PCI: Fatal: No config space access function found" for the legacy ports and then finds
# ECAM).
QEMU_PCI_MACHINES = {
    "qemu-pc": "pc",
    "qemu-microvm": "microvm,rtc=on,pit=off,pic=off,pcie=on",
}


def qemu_path():
    return shutil.which(QEMU) or "/usr/bin/" + QEMU


def tern_argv(tern, kernel, initrd, cpus, memory_mib, cmdline):
    """tern booting KERNEL/INITRD with the serial console on stdio; the scenario adds its devices."""
    return [tern, "--kernel", kernel, "--initramfs", initrd, "--cpus", str(cpus), "--memory", "%dM" % memory_mib,
            "--serial", "stdio", "--cmdline", cmdline]


def qemu_argv(machine, kernel, initrd, cpus, memory_mib, cmdline):
    """QEMU (KVM, -M MACHINE, no default devices) booting KERNEL/INITRD, serial on stdio; the scenario adds its
    devices."""
    return [qemu_path(), "-enable-kvm", "-M", machine, "-cpu", "host", "-m", str(memory_mib), "-smp", str(cpus),
            "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
            "-kernel", kernel, "-initrd", initrd, "-append", cmdline]


def guest_cmdline(words):
    """The kernel command line: GUEST_CMDLINE and the tern.* WORDS that tell the guest script what to run (':'
    separates a word's options, since the command line splits on spaces). x86 allows 2047 characters."""
    line = " ".join([GUEST_CMDLINE] + words)
    if len(line) > 2047 or any(c in w for w in words for c in " \t"):
        raise ValueError("guest command line too long or with blanks: %r" % line)
    return line


def run_errors(exit_status, guest_status):
    """Errors of a VM run's ending: the VMM's exit status and the guest script's (TERN-GUEST-EXIT)."""
    errors = []
    if exit_status is None:
        errors.append("no exit (killed at the timeout)")
    elif exit_status < 0:
        errors.append("killed by signal %d (%s)" % (-exit_status, signal_name(-exit_status)))
    elif exit_status != 0:
        errors.append("exit status %d" % exit_status)
    if guest_status is None:
        errors.append("no %s line" % MARK_EXIT)
    elif guest_status != 0:
        errors.append("guest script exited %d" % guest_status)
    return errors


def stderr_tail(path, raw, errors):
    """The VMM's own last words, if any, belong next to a failure."""
    try:
        with open(path, "rb") as f:
            tail = [ln for ln in f.read()[-4096:].decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        tail = []
    if tail:
        raw["stderr_tail"] = tail[-5:]
        errors.append("stderr: " + tail[-1].strip())


def failed_rec(rec, errors):
    rec.update(ok=False, errors=errors, figures={}, raw={})
    return rec


def pump_console(p, serial, deadline, on_chunk):
    """Copies the VMM P's console (its stdout) into the file SERIAL and hands each chunk, with the time it came, to
    ON_CHUNK, until the VMM closes it or DEADLINE (time.monotonic()) passes; then P is killed. True if it was."""
    fd = p.stdout.fileno()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            p.kill()
            return True
        r, _, _ = select.select([fd], [], [], min(left, 1.0))
        if not r:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return False
        serial.write(chunk)
        on_chunk(chunk, time.monotonic())


def vm_session(spec, sysd, rdir, families):
    """Starts SYSD's VMM with the guest's serial console on a pipe and hands every console line to FAMILIES (their
    feed() samples and answers the markers) until the VMM exits or the run's timeout kills it. Returns (rec, raw,
    clock, errors): raw None if the VMM could not start; errors are the session's own (go lines, NOGO)."""
    argv = sysd["argv"]
    timeout = spec["run_timeout"]
    serial_path, stderr_path = rdir + ".serial", rdir + ".stderr"
    rec = {"started": now_iso(), "serial_log": serial_path, "stderr_log": stderr_path}
    errors = []
    with open(serial_path, "wb") as serial, open(stderr_path, "wb") as err:
        t0 = time.monotonic()
        try:
            p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, close_fds=True)
        except OSError as e:
            return rec, None, None, ["cannot start: %s" % e]
        clock = MarkerClock([MARK_INIT, MARK_NOGO] + [f.markers[0] for f in families], t0)
        lines = Lines()
        deadline = t0 + timeout

        def go():
            try:
                p.stdin.write(b"go\n")
                p.stdin.flush()
            except OSError as e:
                errors.append("go line not sent: %s" % e)

        def on_chunk(chunk, now):
            clock.feed(chunk, now)
            for line in lines.feed(chunk):
                for f in families:
                    if f.feed(line, p.pid, t0, go):
                        break

        killed = pump_console(p, serial, deadline, on_chunk)
        p.wait()
        t_exit = time.monotonic() - t0
        try:
            p.stdin.close()
        except OSError:
            pass
    raw = {"t_" + k.lower().replace("-", "_"): v for k, v in clock.seen.items()}
    raw.update(t_exit=t_exit, exit_status=None if killed else p.returncode, killed=killed)
    if MARK_NOGO in clock.seen:
        errors.append("guest got no go line (%s)" % MARK_NOGO)
    return rec, raw, clock, errors


def vm_finish(rec, raw, figures, errors, timeout):
    """Completes a VM run's record: a timeout first among the errors, the VMM's last words beside a failure."""
    if raw.get("killed"):
        errors = ["timeout: killed after %d s" % timeout] + [e for e in errors if not e.startswith("no exit")]
    if errors:
        stderr_tail(rec["stderr_log"], raw, errors)
    rec.update(ok=not errors, errors=errors, figures=figures, raw=raw)
    return rec
