"""Statistics over a scenario's runs: what counts as a figure, median/min/max of the successful measured runs, and
the ratio of the scenario's subject to each peer (which system a peer is compared with: ratio_base)."""

import math

# A peer named "...-novhost" (QEMU with vhost=off) is compared with the subject's own "-novhost" variant (tern's
# userspace datapath) when that one runs too.
NOVHOST = "-novhost"


def median(values):
    v = sorted(values)
    if not v:
        raise ValueError("median of nothing")
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def is_figure(x):
    """A figure is a finite number > 0 (bool is not a number here)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def is_value(x, fd=None):
    """A figure's value: a figure, or 0 where the figure's definition FD says zero_ok (exits per I/O)."""
    if is_figure(x):
        return True
    return bool(fd and fd.get("zero_ok")) and isinstance(x, (int, float)) and not isinstance(x, bool) and x == 0


def applies(fd, sysd):
    """Whether a figure is measured for a system: vm_only figures (KVM exits) are not for the 'host' peer."""
    return not (fd.get("vm_only") and sysd.get("kind") == "host")


def summarize(runs, figure, fd=None):
    """Median/min/max of FIGURE over the successful, non-warm-up runs; None if there is none."""
    vals = [r["figures"][figure] for r in runs
            if r.get("ok") and not r.get("warmup") and is_value(r.get("figures", {}).get(figure), fd)]
    if not vals:
        return None
    return {"n": len(vals), "median": median(vals), "min": min(vals), "max": max(vals), "values": vals}


def ratio(tern_median, peer_median, zero_ok=False):
    """tern's median over the peer's: < 1 means tern's figure is lower (for time and memory: better; for IOPS:
    worse). With zero_ok, tern's 0 gives 0; a peer's 0 gives no ratio."""
    if not is_figure(peer_median):
        return None
    if not (is_figure(tern_median) or (zero_ok and is_value(tern_median, {"zero_ok": True}))):
        return None
    return tern_median / peer_median


def ratio_base(name, systems, subject="tern", unpaired=()):
    """The system a peer's figures are compared with (the ratio's numerator): SUBJECT (the scenario's, "tern" unless
    it says otherwise), or the subject's variant with the same suffix when that system is in SYSTEMS: SUBJECT +
    "-novhost" for a peer named "...-novhost" (QEMU with vhost=off beside tern's userspace datapath), tern-cd for
    qemu-pc-cd (firmware); None for the subject and its -novhost variant themselves, and for UNPAIRED (the
    scenario's references, compared with nothing)."""
    if name == subject or name == subject + NOVHOST or name in unpaired:
        return None
    for s in sorted(systems, key=len, reverse=True):
        if s.startswith(subject + "-") and s != name and s not in unpaired and name.endswith(s[len(subject):]):
            return s
    return subject


def scenario_stats(scen):
    """Fills stats per system and the ratio of each peer's base system (ratio_base, kept in "ratio_base") to that
    peer, in place."""
    figures = list(scen["figures"])
    fds = scen["figures"]
    for sysd in scen["systems"].values():
        runs = sysd.get("runs", [])
        sysd["stats"] = {f: summarize(runs, f, fds[f]) if applies(fds[f], sysd) else None for f in figures}
        counted = [r for r in runs if not r.get("warmup")]
        sysd["ok_runs"] = sum(1 for r in counted if r.get("ok"))
        sysd["failed_runs"] = sum(1 for r in counted if not r.get("ok"))
    scen["ratios"] = {}
    scen["ratio_base"] = {}
    for name, sysd in scen["systems"].items():
        base = ratio_base(name, scen["systems"], scen.get("subject", "tern"), scen.get("unpaired", ()))
        if base is None:
            continue
        scen["ratio_base"][name] = base
        tern = scen["systems"].get(base, {}).get("stats") or {}
        scen["ratios"][name] = {
            f: ratio((tern.get(f) or {}).get("median"), ((sysd.get("stats") or {}).get(f) or {}).get("median"),
                     bool(fds[f].get("zero_ok")))
            for f in figures}
    return scen
