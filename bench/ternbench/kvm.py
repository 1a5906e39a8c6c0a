"""KVM's view of a VMM: its per-VM debugfs counters, the CPU time of the VMM (and of its vhost workers and a backend),
and the arithmetic that turns two samples around a window into exits and CPU time per I/O or per packet."""

import os
import subprocess
import time

from .util import read_text

# KVM's per-VM debugfs counters (/sys/kernel/debug/kvm/<pid>-<fd>/, summed over the vCPUs) sampled around each
# window. exits: every exit; io_exits: every PIO exit (those KVM handles itself, like the in-kernel PIT or
# a PIO ioeventfd, too); mmio_exits: MMIO exits that went to userspace.
KVM_STATS = ("exits", "io_exits", "mmio_exits", "halt_exits", "irq_exits", "irq_window_exits", "signal_exits",
             "request_irq_exits", "insn_emulation", "halt_wakeup", "hypercalls")
KVM_DEBUGFS = "/sys/kernel/debug/kvm"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def mount_debugfs():
    """Mounts debugfs if KVM's directory is not there yet; whether it is there now."""
    if not os.path.isdir(KVM_DEBUGFS):
        subprocess.run(["mount", "-t", "debugfs", "none", "/sys/kernel/debug"], stderr=subprocess.DEVNULL)
    return os.path.isdir(KVM_DEBUGFS)


def kvm_vm_dirs(pid, root=KVM_DEBUGFS):
    """The debugfs directories of the VMs process PID (or one of its threads) created: '<tid>-<fd>'."""
    try:
        tids = {str(pid)} | set(os.listdir("/proc/%d/task" % pid))
    except OSError:
        tids = {str(pid)}
    try:
        names = os.listdir(root)
    except OSError:
        return []
    return sorted(n for n in names if n.split("-")[0] in tids and os.path.isdir(os.path.join(root, n)))


def proc_ticks(pid, proc="/proc"):
    """utime + stime (clock ticks) of process PID, all its threads."""
    with open(os.path.join(proc, str(pid), "stat")) as f:
        stat = f.read()
    # comm may hold spaces and parentheses: the fields start after the last ')'.
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def vmm_cpu_ticks(pid, proc="/proc"):
    """CPU time (utime + stime, clock ticks) of the VMM process PID, all its threads, plus the kernel's vhost
    workers that serve it ("vhost-PID"): where a VMM's work per I/O runs, whichever datapath it uses."""
    total = proc_ticks(pid, proc)
    vhost = "vhost-%d" % pid
    for d in os.listdir(proc):
        if not d.isdigit() or d == str(pid):
            continue
        try:
            with open(os.path.join(proc, d, "comm")) as f:
                if f.read().strip() != vhost:
                    continue
            total += proc_ticks(d, proc)
        except (OSError, ValueError, IndexError):
            pass
    return total


def kvm_sample(pid, root=KVM_DEBUGFS, cpu_pids=()):
    """{"dirs": [...], "t": monotonic, "cpu_ticks": VMM CPU (plus that of CPU_PIDS: a vhost-user backend),
    ["backend_cpu_ticks": CPU_PIDS' share,] stat: value summed over the process's VMs} or raises OSError."""
    dirs = kvm_vm_dirs(pid, root)
    if not dirs:
        raise OSError("no %s/%d-* directory (debugfs mounted? a VM created?)" % (root, pid))
    out = {"dirs": dirs, "t": time.monotonic()}
    try:
        out["cpu_ticks"] = vmm_cpu_ticks(pid)
        if cpu_pids:
            out["backend_cpu_ticks"] = sum(proc_ticks(p) for p in cpu_pids)
            out["cpu_ticks"] += out["backend_cpu_ticks"]
    except (OSError, ValueError, IndexError):
        out.pop("cpu_ticks", None)
        out.pop("backend_cpu_ticks", None)
    for k in KVM_STATS:
        tot, seen = 0, False
        for d in dirs:
            try:
                with open(os.path.join(root, d, k)) as f:
                    tot += int(f.read().strip())
                seen = True
            except (OSError, ValueError):
                pass
        if seen:
            out[k] = tot
    return out


def exit_arith(before, after, ios, null=None, per="io", what="block I/O"):
    """(result, errors) for one window: counter deltas, user_exits = io_exits + mmio_exits, and both per I/O.
    NULL, the null window's result, is the marker protocol's own cost (the START/END lines and the two "go"
    lines typed on the serial console: ~55 PIO exits, no block I/O); it is subtracted (floored at 0) from the
    per-I/O figures; the gross counts stay in the result. A window with no I/O or a counter that went
    backwards (another VM) gives no per-I/O figure. The net scenario counts packets instead: per="pkt",
    what="packets" (IOS is then the packets the guest's NIC moved in the window)."""
    errors = []
    if before.get("dirs") != after.get("dirs"):
        errors.append("KVM debugfs directories changed in the window: %s -> %s"
                      % (before.get("dirs"), after.get("dirs")))
    delta = {k: after[k] - before[k] for k in KVM_STATS if k in before and k in after}
    for k in ("exits", "io_exits", "mmio_exits"):
        if k not in delta:
            errors.append("no KVM counter %s" % k)
        elif delta[k] < 0:
            errors.append("KVM counter %s went backwards (%d)" % (k, delta[k]))
    res = {"delta": delta, "ios": ios}
    if "t" in before and "t" in after:
        res["window_s"] = after["t"] - before["t"]
    if errors:
        return res, errors
    res["user_exits"] = delta["io_exits"] + delta["mmio_exits"]
    if "cpu_ticks" in before and "cpu_ticks" in after:
        res["cpu_s"] = (after["cpu_ticks"] - before["cpu_ticks"]) / CLK_TCK
    if "backend_cpu_ticks" in before and "backend_cpu_ticks" in after:
        res["backend_cpu_s"] = (after["backend_cpu_ticks"] - before["backend_cpu_ticks"]) / CLK_TCK
    if null is None:
        return res, errors
    if "user_exits" not in null:
        return res, ["null window unusable: no baseline for the protocol's exits"]
    res["net_user_exits"] = max(0, res["user_exits"] - null["user_exits"])
    res["net_exits"] = max(0, delta["exits"] - null["delta"]["exits"])
    if not isinstance(ios, int) or ios <= 0:
        return res, errors + ["no %s in the window (%r)" % (what, ios)]
    if "cpu_s" in res and "cpu_s" in null:
        res["net_cpu_s"] = max(0.0, res["cpu_s"] - null["cpu_s"])
        res["cpu_us_per_" + per] = res["net_cpu_s"] * 1e6 / ios
    if "backend_cpu_s" in res and "backend_cpu_s" in null:
        res["backend_cpu_us_per_" + per] = max(0.0, res["backend_cpu_s"] - null["backend_cpu_s"]) * 1e6 / ios
    res["user_exits_per_" + per] = res["net_user_exits"] / ios
    res["exits_per_" + per] = res["net_exits"] / ios
    res["gross_user_exits_per_" + per] = res["user_exits"] / ios
    res["gross_exits_per_" + per] = delta["exits"] / ios
    return res, errors


def vhost_workers(pid):
    """The vhost-net workers serving process PID: kernel threads "vhost-PID" (Linux < 6.4), or threads of PID with
    that name (6.4 on)."""
    name = "vhost-%d" % pid
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            if read_text("/proc/%s/comm" % d) == name:
                found.append(int(d))
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            if read_text("/proc/%d/task/%s/comm" % (pid, t)) == name and int(t) not in found:
                found.append(int(t))
    except OSError:
        pass
    return sorted(found)
