"""The iperf3 workload of the net and legacy scenarios: iperf3 in the guest against a one-off server in the test
host, over a tap the driver creates afresh for every run. Its figures (Mbit/s, packets/s, exits and CPU per
packet or per MiB), the guest's words, the tap, the server, the driver's preparation and one run."""

import json
import os
import re
import shlex
import shutil
import subprocess
import time

from .kvm import mount_debugfs, vhost_workers
from .parsers import MARK_NET, MARK_NET_READY, NET_MARKERS, net_server_summary, virtio_features
from .scenario import Options, Unavailable
from .stats import is_figure
from .util import capture, log, now_iso, read_through
from .vm import failed_rec, guest_cmdline, run_errors, vm_finish, vm_session
from .windows import WindowKind, Windows, window_figures

# The network of the iperf3 jobs: a tap in the test host, iperf3 in the guest, its server in the test host. The
# addresses are IPv4 link-local (169.254/16): the test host has no NIC and nothing may leave it anyway.
NET_TAP = "tbnet0"
NET_HOST_ADDR = "169.254.77.1"
NET_GUEST_ADDR = "169.254.77.2"
NET_PREFIX = 24
NET_MAC = "52:54:00:7e:4d:02"
NET_PORT = 5201

# iperf3 jobs, in the order the guest runs them: client words of their own (the common ones come
# from net_iperf_common()) and the figure each gives.
NET_JOBS = {
    "tcp_tx": {"label": "TCP guest to host", "opts": [], "figure": "mbps"},
    "tcp_rx": {"label": "TCP host to guest", "opts": ["-R"], "figure": "mbps"},
    "udp_tx": {"label": "UDP 64 B guest to host", "opts": ["-u", "-l", "64", "-b", "{udp_rate}"], "figure": "pps"},
}
NET_DEFAULTS = {"time_s": 3, "udp_rate": "0"}


def _check_options(args):
    if not (1 <= args.net_time <= 600 and re.fullmatch(r"\d+[KMG]?", args.net_udp_rate)):
        return "--net-time 1..600, --net-udp-rate N[K|M|G]"
    return None


# The `run` options of every scenario with iperf3 jobs.
OPTIONS = Options(
    (("--net-time",), dict(type=int, default=NET_DEFAULTS["time_s"],
                           help="net: seconds each iperf3 job runs (-t, default %(default)s)")),
    (("--net-udp-rate",), dict(default=NET_DEFAULTS["udp_rate"],
                               help="net: the UDP job's iperf3 -b (bit/s, K/M/G suffix; 0: as fast as it can, the "
                                    "default)")),
    check=_check_options)


def net_figures_def(jobs=None, row0=0, per_mib=False):
    """The figures of iperf3 jobs JOBS (default all of NET_JOBS): per job the throughput (Mbit/s for TCP, received
    packets/s for UDP) and the KVM exits per packet (PER_MIB: per MiB too, for NICs whose packets differ in size).
    "row" groups the plot's panels, one row per job, from ROW0."""
    figs = {}
    for row, job in enumerate(jobs or NET_JOBS, row0):
        jd = NET_JOBS[job]
        if jd["figure"] == "mbps":
            figs[job + "_mbps"] = {
                "unit": "Mbit/s", "better": "higher", "row": row, "label": jd["label"],
                "what": "iperf3 %s, the receiving side's bit rate: %s" % (
                    jd["label"], "the server's in the test host (its JSON, sum_received)" if job == "tcp_tx" else
                    "the guest client's own (-R: its 'receiver' summary line)")}
        else:
            figs[job + "_pps"] = {
                "unit": "pkt/s", "better": "higher", "row": row, "label": jd["label"],
                "what": "iperf3 %s: datagrams the server in the test host received per second (its JSON: "
                        "packets - lost_packets over seconds)" % jd["label"]}
        figs[job + "_user_exits_per_pkt"] = {
            "unit": "exits/pkt", "better": "lower", "zero_ok": True, "row": row,
            "label": "%s: PIO+MMIO exits" % jd["label"],
            "what": "KVM's io_exits + mmio_exits (debugfs, all vCPUs) over the job's window (START..END marker, "
                    "iperf3's start, connection and results exchange included), less those of the run's null "
                    "window (the marker protocol alone), per packet the guest's NIC moved in the window (rx + tx "
                    "in /sys/class/net/DEV/statistics; a GSO/GRO buffer is one packet)"}
        figs[job + "_exits_per_pkt"] = {
            "unit": "exits/pkt", "better": "lower", "row": row,
            "label": "%s: all exits" % jd["label"],
            "what": "KVM's exits counter over the same window, less the null window's, per packet"}
        if per_mib:
            figs[job + "_user_exits_per_mib"] = {
                "unit": "exits/MiB", "better": "lower", "zero_ok": True, "row": row,
                "label": "%s: PIO+MMIO exits per MiB" % jd["label"],
                "what": "the same PIO+MMIO exits per MiB the guest's NIC moved in the window (rx_bytes + tx_bytes): "
                        "a virtio-net packet with TSO/GRO is up to 64 KiB, an e1000 receive one frame"}
            figs[job + "_exits_per_mib"] = {
                "unit": "exits/MiB", "better": "lower", "row": row,
                "label": "%s: all exits per MiB" % jd["label"],
                "what": "KVM's exits counter over the same window, less the null window's, per MiB moved"}
        figs[job + "_cpu_us_per_pkt"] = {
            "unit": "us/pkt", "better": "lower", "zero_ok": True, "optional": True, "row": row,
            "label": "%s: VMM CPU per packet" % jd["label"],
            "what": "CPU time (utime + stime) of the VMM process, all threads, plus its vhost-PID kernel "
                    "workers (the datapath with vhost=on), over the same window less the null window's, "
                    "per packet"}
    return figs


def net_iperf_common(net):
    """iperf3 client words every net job shares (the guest adds its job's own)."""
    return ["-c", net["host_addr"], "-p", str(net["port"]), "-t", str(net["time_s"]), "-f", "k",
            "--connect-timeout", "5000"]


def net_job_opts(job, net):
    return [w.format(udp_rate=net["udp_rate"]) for w in NET_JOBS[job]["opts"]]


def net_guest_words(net):
    """The tern.* words of the iperf3 part of bench/guests/windows.sh."""
    words = ["tern.host=" + net["host_addr"], "tern.addr=%s/%d" % (net["guest_addr"], net["prefix"]),
             "tern.netjobs=" + ",".join(net["jobs"]), "tern.limit=%d" % (net["time_s"] + 30),
             "tern.iperf=" + ":".join(net_iperf_common(net))]
    return words + ["tern.iperf.%s=%s" % (j, ":".join(net_job_opts(j, net))) for j in net["jobs"]]


def net_guest_cmdline(net):
    """The kernel command line of bench/guests/net.sh."""
    return guest_cmdline(net_guest_words(net))


def tern_net(net, vhost, model=None):
    """tern's --net on the scenario's tap."""
    nic = "tap=%s,%s,mac=%s" % (net["tap"], "model=" + model if model else "vhost=%s" % ("on" if vhost else "off"),
                               net["mac"])
    return ["--net", nic]


def net_setup(args, jobs=None):
    """The net scenario's parameters (the spec's "net") and the record of the network setup (results' "setup").
    JOBS: the iperf3 jobs (default all)."""
    jobs = jobs or list(NET_JOBS)
    net = {"tap": NET_TAP, "mac": NET_MAC, "host_addr": NET_HOST_ADDR, "guest_addr": NET_GUEST_ADDR,
           "prefix": NET_PREFIX, "port": NET_PORT, "time_s": args.net_time, "udp_rate": args.net_udp_rate,
           "jobs": jobs, "ip": shutil.which("ip") or "/usr/sbin/ip",
           "iperf3": shutil.which("iperf3") or "/usr/bin/iperf3"}
    setup = {
        "tap": "%s, recreated before every run: ip tuntap add dev %s mode tap vnet_hdr (one queue), IPv6 off, "
               "%s/%d, up; deleted after the run" % (NET_TAP, NET_TAP, NET_HOST_ADDR, NET_PREFIX),
        "guest": "%s/%d on eth0, IPv6 off, 1 vCPU, one queue pair, mac %s" % (NET_GUEST_ADDR, NET_PREFIX, NET_MAC),
        "iperf3_client": net_iperf_common(net), "jobs": {j: net_job_opts(j, net) for j in jobs},
        "iperf3_server": "in the test host, one-off per job: iperf3 -s -1 -J -B %s -p %d" % (NET_HOST_ADDR, NET_PORT),
        "vmm_net": {"tern": "--net tap=%s,vhost=on|off,mac=%s" % (NET_TAP, NET_MAC),
                    "qemu": "-netdev tap,id=n0,ifname=%s,script=no,downscript=no,vhost=on|off "
                            "-device virtio-net-pci,netdev=n0,mac=%s" % (NET_TAP, NET_MAC)},
        "figures": "tcp_tx and udp_tx from the server's JSON (its received bytes and datagrams), tcp_rx from the "
                   "guest client's 'receiver' line",
        "exits": "KVM per-VM debugfs counters of the VMM's pid sampled when the guest prints TERN-NET-START (after "
                 "the job's server listens) and TERN-NET-END around one iperf3 run, divided by the packets the "
                 "guest's NIC moved in that window (rx + tx), after subtracting the counts of the run's 'null' "
                 "window (the same markers, no iperf3); gross figures are in each run's raw.exits",
        "summary": "iperf3 -t %d per job (UDP: -l 64 -b %s), server in the test host; tap %s recreated per run, "
                   "%s <-> %s; 1 guest vCPU, 1 queue pair" % (args.net_time, args.net_udp_rate, NET_TAP,
                                                             NET_HOST_ADDR, NET_GUEST_ADDR),
    }
    return net, setup


def net_prepare(spec):
    """Once per driver: debugfs for KVM's counters, the devices and tools the net runs need, and tern, QEMU, the
    guest and iperf3 read once so that the test host's page cache holds them before the first run. Returns what it
    found, for the results."""
    net = spec["net"]
    res = {"kvm_debugfs": mount_debugfs(), "vhost_net": os.path.exists("/dev/vhost-net"),
           "tun": os.path.exists("/dev/net/tun"), "ip": net["ip"], "iperf3": net["iperf3"]}
    iperf_v, err = capture([net["iperf3"], "--version"])
    res["iperf3_version"] = iperf_v.splitlines()[0] if iperf_v else "unavailable: %s" % err
    t = time.monotonic()
    read_through(sorted({sd["argv"][0] for sd in spec["systems"]} | {spec["kernel"], spec["initramfs"], net["iperf3"]}))
    res["prewarm_s"] = time.monotonic() - t
    missing = [k for k in ("kvm_debugfs", "vhost_net", "tun") if not res[k]]
    log("net: /dev/vhost-net %s, /dev/net/tun %s, debugfs %s, %s; binaries and guest read in %.1f s"
        % ("ok" if res["vhost_net"] else "MISSING", "ok" if res["tun"] else "MISSING",
           "ok" if res["kvm_debugfs"] else "MISSING", res["iperf3_version"], res["prewarm_s"]))
    if not res["tun"] or not shutil.which(net["ip"]) or not os.access(net["iperf3"], os.X_OK):
        raise OSError("no /dev/net/tun, %s or %s" % (net["ip"], net["iperf3"]))
    res["missing"] = missing
    return res


def net_tap_delete(net):
    if os.path.exists("/sys/class/net/" + net["tap"]):
        subprocess.run([net["ip"], "tuntap", "del", "dev", net["tap"], "mode", "tap"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def net_tap_create(net):
    """A fresh persistent tap for one run (single-queue, vnet_hdr: QEMU with one queue cannot join a multi_queue
    tap), IPv6 off (no router solicitations or DAD in the windows), the test host's address on it. Errors."""
    net_tap_delete(net)
    tap = net["tap"]
    for argv in ([net["ip"], "tuntap", "add", "dev", tap, "mode", "tap", "vnet_hdr"],
                 None,
                 [net["ip"], "addr", "add", "%s/%d" % (net["host_addr"], net["prefix"]), "dev", tap],
                 [net["ip"], "link", "set", tap, "up"]):
        if argv is None:
            try:
                with open("/proc/sys/net/ipv6/conf/%s/disable_ipv6" % tap, "w") as f:
                    f.write("1\n")
            except OSError:
                pass  # no IPv6 in this kernel: nothing to switch off
            continue
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode:
            return ["tap setup: %s: %s" % (shlex.join(argv), p.stderr.strip() or "exit %d" % p.returncode)]
    return []


def run_timeout(net, slack=60, per_job=20):
    """Seconds before one run of NET's jobs is killed: SLACK for the boot, the tap and the null window, then each
    job's time with PER_JOB to spare (server start, connection, results)."""
    return slack + len(net["jobs"]) * (net["time_s"] + per_job)


def prepare(spec):
    """net_prepare, or Unavailable saying why it failed."""
    try:
        return net_prepare(spec)
    except (OSError, subprocess.SubprocessError) as e:
        raise Unavailable("net setup failed: %s" % e) from e


def net_teardown(spec):
    """After the driver's last run: no tap left behind."""
    net_tap_delete(spec["net"])


def finish_setup(part, setup, raw):
    """What the driver's net_prepare found, into the results' record of the network setup PART, and per system
    the virtio-net features its guest negotiated (SETUP's negotiated_features: the first run that got that far)."""
    if not raw["driver"].get("net"):
        return
    part["driver"] = raw["driver"]["net"]
    setup["negotiated_features"] = {}
    for name, d in raw["systems"].items():
        for r in d.get("runs", []):
            fn = ((r.get("raw") or {}).get("ready") or {}).get("feature_names")
            if fn is not None:
                setup["negotiated_features"][name] = fn
                break


def tcp_listening(port):
    """Whether something listens on TCP PORT (any address), from /proc/net/tcp{,6}."""
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f, None)
                for line in f:
                    w = line.split()
                    if len(w) > 3 and w[3] == "0A" and w[1].rsplit(":", 1)[-1] == "%04X" % port:
                        return True
        except OSError:
            pass
    return False


def iperf_server_start(net, base):
    """A one-off iperf3 server (-s -1 -J) on the tap's address, its JSON to BASE.server.json; (process, error).
    Returns once it listens."""
    try:
        out = open(base + ".server.json", "wb")
        err = open(base + ".server.stderr", "wb")
    except OSError as e:
        return None, "iperf3 server: %s" % e
    argv = [net["iperf3"], "-s", "-1", "-J", "-B", net["host_addr"], "-p", str(net["port"])]
    try:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, close_fds=True)
    except OSError as e:
        return None, "iperf3 server: %s" % e
    finally:
        out.close()
        err.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if tcp_listening(net["port"]):
            return p, None
        if p.poll() is not None:
            return None, "iperf3 server exited %d before listening" % p.returncode
        time.sleep(0.02)
    p.kill()
    p.wait()
    return None, "iperf3 server not listening after 10 s"


def iperf_server_finish(p, base, timeout=10):
    """Waits for the one-off server (killed after TIMEOUT s) and reads its JSON: (net_server_summary, error)."""
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return None, "iperf3 server still running %d s after the job: killed" % timeout
    try:
        with open(base + ".server.json") as f:
            return net_server_summary(json.load(f)), None
    except (OSError, ValueError, KeyError, TypeError) as e:
        return None, "iperf3 server's JSON (exit %d): %s" % (p.returncode, e)


class NetWindows(Windows):
    """The TERN-NET-READY line and the TERN-NET-* windows of one VM run: before sampling at a job's START the
    job's one-off iperf3 server is started, after the END's go line its JSON is collected; the VMM's vhost workers
    are looked up at the first START."""
    markers = NET_MARKERS

    def __init__(self, net, rdir, cpu_pids=()):
        super().__init__(cpu_pids)
        self.net, self.rdir, self.servers, self.workers = net, rdir, {}, None

    def on_ready(self, kv):
        names = virtio_features(kv.get("features"))
        if names is not None:
            kv["feature_names"] = names
        self.ready = kv

    def start(self, name, w, pid):
        if self.workers is None:
            self.workers = vhost_workers(pid)
        if name != "null":
            base = "%s.%s" % (self.rdir, name)
            srv, e = iperf_server_start(self.net, base)
            if srv is None:
                w["server_error"] = e
            else:
                self.servers[name] = srv
                w["server_json"] = base + ".server.json"

    def end(self, name, w):
        if name in self.servers:
            w["server"], e = iperf_server_finish(self.servers.pop(name), "%s.%s" % (self.rdir, name))
            if e:
                w["server_error"] = e

    def close(self):
        for name, srv in self.servers.items():  # a job that never ended
            srv.kill()
            srv.wait()
            self.windows[name].setdefault("server_error", "iperf3 server killed: the job never ended")
        self.servers = {}
        for w in self.windows.values():
            if w.get("server_error") and not w.get("server"):
                w["server"] = {"error": w["server_error"]}


def net_job_figures(job, g, server, errors):
    """The throughput figure of one job from the guest's 'TERN-NET job ...' values G and the server's summary
    (net_server_summary, or None); adds errors. tcp_tx and udp_tx: the server's received bit rate / datagrams per
    second; tcp_rx: the guest's own 'receiver' line (the server only knows what it sent)."""
    figs = {}
    if g.get("status", 0) != 0:
        errors.append("%s: iperf3 exited %s%s" % (job, g.get("status"),
                                                   " (killed by the guest's timeout)" if g.get("status") == 143 else ""))
    if job == "tcp_rx":
        if is_figure(g.get("rcv_kbps")):
            figs[job + "_mbps"] = g["rcv_kbps"] / 1000.0
        else:
            errors.append("%s: guest's receiver rate %r" % (job, g.get("rcv_kbps")))
        if server is None or server.get("error"):
            errors.append("%s: iperf3 server: %s" % (job, (server or {}).get("error", "no result")))
        return figs
    if server is None or server.get("error"):
        errors.append("%s: iperf3 server: %s" % (job, (server or {}).get("error", "no result")))
        return figs
    if NET_JOBS[job]["figure"] == "pps":
        if is_figure(server.get("rcv_pps")):
            figs[job + "_pps"] = float(server["rcv_pps"])
        else:
            errors.append("%s: server received %r datagrams (%r lost) in %r s" % (
                job, server.get("packets"), server.get("lost"), server.get("seconds")))
    else:
        if is_figure(server.get("rcv_bps")):
            figs[job + "_mbps"] = server["rcv_bps"] / 1e6
        else:
            errors.append("%s: server's received rate %r" % (job, server.get("rcv_bps")))
    return figs


def net_count(g):
    """Packets the guest's NIC moved in a window (rx + tx); None if unknown."""
    if isinstance(g.get("rx_pkts"), int) and isinstance(g.get("tx_pkts"), int):
        return g["rx_pkts"] + g["tx_pkts"]
    return None


def net_mib(g):
    """MiB the guest's NIC moved in a window (rx_bytes + tx_bytes); None if unknown or nothing."""
    b = [g.get("rx_bytes"), g.get("tx_bytes")]
    if all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in b) and sum(b) > 0:
        return sum(b) / float(1 << 20)
    return None


def _mib_moved(g):
    mib = net_mib(g)
    return mib, None if mib is not None else "no bytes moved (rx_bytes %r, tx_bytes %r)" % (g.get("rx_bytes"),
                                                                                          g.get("tx_bytes"))


WINDOWS = WindowKind(MARK_NET, lambda job, g, wd, errors: net_job_figures(job, g, wd.get("server"), errors), net_count,
                     "pkt", "packets", _mib_moved)


def net_ready_errors(ready, vhost=None, vhost_threads=None, nic_driver=None):
    """What is wrong with the guest's TERN-NET-READY values READY (None: no line) and the VMM's vhost workers
    VHOST_THREADS (seen in the test host) for a system that should (VHOST) use vhost-net or not, and whose NIC the
    guest driver NIC_DRIVER must drive."""
    errors = []
    if ready is None:
        errors.append("no %s line (no NIC?)" % MARK_NET_READY)
    elif ready.get("ping") != 1:
        errors.append("guest could not ping the test host (%s)" % ready.get("dev"))
    if ready is not None and nic_driver and ready.get("driver") != nic_driver:
        errors.append("guest NIC driven by %r, want %s" % (ready.get("driver"), nic_driver))
    if vhost is not None and vhost_threads is not None and bool(vhost_threads) != vhost:
        errors.append("vhost=%s but %d vhost worker(s) for the VMM" % ("on" if vhost else "off", len(vhost_threads)))
    return errors


def net_vm_figures(windows, jobs, ready, exit_status, guest_status, vhost=None, vhost_threads=None):
    """(figures, errors, exits) of one net run. windows: {name: {"before", "after", "guest", "server"}}, each
    optional (server: net_server_summary of the job's iperf3 server); ready: the TERN-NET-READY values or None;
    vhost: whether the system should use vhost-net, vhost_threads: the vhost workers of the VMM seen in the test
    host (a check that vhost=on/off is what it says). exits: {name: exit_arith result} including the null window."""
    errors = run_errors(exit_status, guest_status) + net_ready_errors(ready, vhost, vhost_threads)
    figures, errs, exits = window_figures(WINDOWS, windows, jobs)
    return figures, errors + errs, exits


def net_warnings(ready, mac):
    """Oddities of one net run that do not make its figures wrong: the guest's MAC is not the configured one."""
    if not ready or not isinstance(ready.get("mac"), str) or ready["mac"].lower() == mac.lower():
        return []
    why = " (VIRTIO_NET_F_MAC not negotiated)" if "MAC" not in (ready.get("feature_names") or ["MAC"]) else ""
    return ["guest MAC is not the configured one%s" % why]


def tap_session(spec, sysd, rdir, families):
    """vm_session on a fresh tap (created before the VMM starts, deleted after), FAMILIES closed before the tap
    goes. Returns vm_session's (rec, raw, clock, errors)."""
    net = spec["net"]
    tap_errors = net_tap_create(net)
    if tap_errors:
        return {"started": now_iso()}, None, None, tap_errors
    try:
        return vm_session(spec, sysd, rdir, families)
    finally:
        for f in families:
            f.close()
        net_tap_delete(net)


def net_vm_run(spec, sysd, rdir):
    """One boot of a VM running the net jobs on a fresh tap: for each TERN-NET-START marker starts the job's
    iperf3 server and samples KVM's counters for the VMM's pid, for each TERN-NET-END samples again and collects
    the server's JSON, collects the TERN-NET lines. Returns the run record."""
    net = spec["net"]
    fam = NetWindows(net, rdir)
    rec, raw, clock, errors = tap_session(spec, sysd, rdir, [fam])
    if raw is None:
        return failed_rec(rec, errors)
    raw.update(ready=fam.ready, windows=fam.windows, vhost_workers=fam.workers)
    figures, ferrors, raw["exits"] = net_vm_figures(fam.windows, net["jobs"], fam.ready, raw["exit_status"],
                                                    clock.guest_exit_status(), sysd.get("vhost"), fam.workers)
    rec["warnings"] = net_warnings(fam.ready, net["mac"])
    return vm_finish(rec, raw, figures, ferrors + errors, spec["run_timeout"])
