"""The window protocol of bench/guests/windows.sh, whatever the workload: the guest prints a READY line, then for
each window (first "null", the protocol alone, then one per job) a START marker, runs the job, an END marker and
one result line. At START and END the driver samples KVM's counters of the VMM and answers with a go line. A
workload (fio.py, iperf.py) names its markers and says what a job's figures are and what the exits are divided
by (a WindowKind); window_figures does the rest."""

import time

from .kvm import exit_arith, kvm_sample
from .parsers import parse_guest_line


class Windows:
    """One family of windows in one VM run: the READY line and the START/END/result lines of MARKERS. At each START
    and END marker KVM's counters of the VMM (and the CPU time of it and of CPU_PIDS, a vhost-user backend) are
    sampled, then the guest gets its go line. A workload subclasses it with its markers and what a window needs
    besides (fio.FioWindows; iperf.NetWindows: the iperf3 server)."""
    markers = None  # (ready, start, end, result): the subclass's

    def __init__(self, cpu_pids=()):
        self.windows, self.ready, self.cpu_pids = {}, None, list(cpu_pids)

    def feed(self, line, pid, t0, go):
        """Handles one console line; False if it is none of this family's."""
        parsed = parse_guest_line(line, self.markers)
        if parsed is None:
            return False
        marker, name, kv = parsed
        if marker == self.markers[0]:
            self.on_ready(kv)
            return True
        w = self.windows.setdefault(name, {})
        if marker in self.markers[1:3]:
            key = "before" if marker == self.markers[1] else "after"
            if key == "before":
                self.start(name, w, pid)
            try:
                w[key] = kvm_sample(pid, cpu_pids=self.cpu_pids)
            except OSError as e:
                w["sample_error"] = str(e)
            w["t_" + key] = time.monotonic() - t0
            go()
            if key == "after":
                self.end(name, w)
        else:
            w["guest"] = kv
        return True

    def on_ready(self, kv):
        self.ready = kv

    def start(self, name, w, pid):
        pass

    def end(self, name, w):
        pass

    def close(self):
        pass


class WindowKind:
    """What window_figures needs of one workload's windows: the guest's result MARKER; FIGURES(job, guest values,
    window, errors), the job's own figures; COUNT(guest values), what the exits are divided by (PER names it in the
    figures, WHAT in errors); MIB(guest values) -> (MiB the NIC moved or None, why not), for per-MiB figures."""

    def __init__(self, marker, figures, count, per, what, mib=None):
        self.marker, self.figures, self.count, self.per, self.what, self.mib = marker, figures, count, per, what, mib


def window_figures(kind, windows, jobs, per_mib=False):
    """(figures, errors, exits) of one KIND's windows ("null", then JOBS): each job's own figures and its exits per
    I/O (or packet; with PER_MIB also per MiB the NIC moved) less the null window's. windows: {name: {"before",
    "after", "guest"[, "server"]}}, each optional. exits: {name: exit_arith result} including the null window."""
    per = kind.per
    figures, errors, exits = {}, [], {}
    for w in ["null"] + list(jobs):
        wd = windows.get(w, {})
        g = wd.get("guest")
        if g is None:
            errors.append("%s: no %s line" % (w, kind.marker))
            continue
        if w != "null":
            figures.update(kind.figures(w, g, wd, errors))
        if "before" not in wd or "after" not in wd:
            errors.append("%s: KVM counters not sampled (%s)" % (w, wd.get("sample_error", "no marker")))
            continue
        n = kind.count(g)
        if w == "null":
            # The protocol's own exits: the baseline of every job window, no figure of its own.
            res, errs = exit_arith(wd["before"], wd["after"], n, per=per, what=kind.what)
            exits[w] = res
            errors.extend("null: %s" % e for e in errs)
            continue
        if "null" not in exits:
            errors.append("%s: no null window to subtract the protocol's exits" % w)
            continue
        res, errs = exit_arith(wd["before"], wd["after"], n, exits["null"], per=per, what=kind.what)
        exits[w] = res
        errors.extend("%s: %s" % (w, e) for e in errs)
        if not errs:
            for f in ("user_exits_per_", "exits_per_", "cpu_us_per_", "backend_cpu_us_per_"):
                if f + per in res:
                    figures["%s_%s%s" % (w, f, per)] = res[f + per]
            if per_mib:
                mib, why = kind.mib(g)
                if mib is None:
                    errors.append("%s: %s" % (w, why))
                else:
                    res["mib"] = mib
                    figures[w + "_user_exits_per_mib"] = res["net_user_exits"] / mib
                    figures[w + "_exits_per_mib"] = res["net_exits"] / mib
    return figures, errors, exits
