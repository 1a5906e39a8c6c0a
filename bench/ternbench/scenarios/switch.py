"""The switch scenario: a vhost-user switch between two stand-ins for VMs, natively (no KVM). The stand-ins are DPDK
net_virtio_user ports of one generator process on the switch's two vhost-user sockets. Switches: tern-switch
(its server-mode vhost ports), OVS-DPDK (Debian's ovs-vswitchd-dpdk, a netdev bridge with two dpdkvhostuserclient
ports and its default NORMAL flow, which learns MACs) and testpmd forwarding between two net_vhost ports in io
mode (no switching at all: the limit for a forwarder).

Jobs of one run, each on a fresh switch:
  loop-64, loop-1518  the standard loop: `dpdk-testpmd --tx-first`, io forwarding between its two virtio-user
                      ports through the switch (frames of 60 and 1514 bytes, 64 and 1518 on a wire with their FCS;
                      port 0 sends to port 1's MAC and back, so a learning switch forwards learned unicast). Mpps:
                      the generator's per-second Rx-pps of both ports summed, mean over the measured seconds (after
                      the warm-up ones). Cycles per packet: the switch's own count of its PMD core's busy cycles
                      over the frames it forwarded (tern-switch: GET /lcores; OVS: dpif-netdev/pmd-stats-show's
                      processing cycles; testpmd: --record-core-cycles over its whole life).
  ladder              sw-peer (the e2e test's stand-in, tests/switch/sw_peer.c) offers 60-byte frames from port 0
                      to port 1 at each rate of --switch-rates for --switch-rate-ms, paced by TSC, and counts what
                      arrives. zero_loss_mpps: the highest rate reached with no frame lost there or at any lower
                      rate (frames its TX ring refused count as lost: the switch did not take them).
CPUs: the generator and every process's main thread on --switch-cpus' first CPU, the switch's PMD core on the
second. Memory: 2 MiB hugepages (reserved and mounted for the scenario, given back after) or, if that fails,
--no-huge (OVS-DPDK cannot run then: it always asks the EAL for --in-memory)."""

import http.client
import json
import os
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import time

from ..scenario import NATIVE, Options, Plan, Scenario, Unavailable
from ..util import capture, log, read_text

SUBJECT = "tern-switch"
OVS = "ovs-dpdk"
TESTPMD = "testpmd"
OVS_VSWITCHD = "/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk"
OVS_SCHEMA = "/usr/share/openvswitch/vswitch.ovsschema"
TESTPMD_BIN = shutil.which("dpdk-testpmd") or "/usr/bin/dpdk-testpmd"
MAC = ("02:00:00:00:00:01", "02:00:00:00:00:02")
SIZES = (64, 1518)  # on a wire, FCS included; the frames are 4 bytes shorter
HUGE_PAGES = 1024  # 2 MiB pages the scenario wants free (switch 512 MiB, generator 256, sw-peer 256, slack)
SYSTEM_HELP = {
    SUBJECT: "tern-switch, two server-mode vhost ports, one worker lcore",
    OVS: "OVS-DPDK 3.1 (ovs-vswitchd-dpdk), netdev bridge, two dpdkvhostuserclient ports, NORMAL, one PMD core",
    TESTPMD: "dpdk-testpmd, io forwarding between two net_vhost ports, one forwarding core (the limit)",
}


def _rates(text):
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        return None


def _check(args):
    cpus = args.switch_cpus.split(",")
    if len(cpus) != 2 or not all(c.isdigit() for c in cpus) or cpus[0] == cpus[1]:
        return "--switch-cpus %s: two different CPU numbers, GEN,SWITCH" % args.switch_cpus
    if _rates(args.switch_rates) is None or any(r <= 0 for r in _rates(args.switch_rates)):
        return "--switch-rates %s: Mpps values separated by commas" % args.switch_rates
    if not 1 <= args.switch_gen_burst <= 512:
        return "--switch-gen-burst %d: 1 to 512" % args.switch_gen_burst
    if args.switch_time < 1 or args.switch_warmup_s < 1 or args.switch_rate_ms < 100:
        return "--switch-time and --switch-warmup-s: 1 s or more; --switch-rate-ms: 100 or more"
    return None


OPTIONS = Options(
    (["--switch-time"], {"type": int, "default": 5, "help": "measured seconds of each loop job (default 5)"}),
    (["--switch-warmup-s"], {"type": int, "default": 2,
                             "help": "seconds of each loop job before the measured ones (default 2)"}),
    (["--switch-rates"], {"default": "1,2,3,4,5,6,7,8,9,10",
                          "help": "offered rates of the zero-loss ladder, Mpps (default 1,2,...,10; '' for none)"}),
    (["--switch-rate-ms"], {"type": int, "default": 1000, "help": "milliseconds at each ladder rate (default 1000)"}),
    (["--switch-cpus"], {"default": "0,1", "help": "the generator's CPU and the switch's PMD CPU (default 0,1)"}),
    (["--switch-extra"], {"default": "",
                          "help": "more tern-switch options, e.g. '--burst 64' (for A/B runs of its settings)"}),
    (["--switch-gen-burst"], {"type": int, "default": 32,
                              "help": "the loop generator's burst, also what --tx-first puts in flight per port "
                                      "(default 32, testpmd's)"}),
    check=_check)


def _ladder_text(rates):
    """1,2,...,10 as '1..10' when the steps are even."""
    if len(rates) > 3 and all(abs((rates[i + 1] - rates[i]) - (rates[1] - rates[0])) < 1e-9
                              for i in range(len(rates) - 1)):
        return "%g..%g" % (rates[0], rates[-1])
    return ",".join("%g" % r for r in rates) or "none"


def _figures():
    f = {}
    for size in SIZES:
        f["mpps_%d" % size] = {
            "unit": "Mpps", "better": "higher", "label": "%d B loop" % size, "row": 1,
            "what": "frames per second through the switch in the testpmd --tx-first io loop, both directions "
                    "summed, %d-byte frames on the wire; mean of the generator's per-second Rx-pps" % size}
        f["cycles_per_pkt_%d" % size] = {
            "unit": "cycles", "better": "lower", "label": "%d B cycles/pkt" % size, "row": 2,
            "what": "busy cycles of the switch's PMD core per frame it forwarded, from its own counters (testpmd: "
                    "--record-core-cycles over its life)"}
    f["zero_loss_mpps"] = {
        "unit": "Mpps", "better": "higher", "label": "zero-loss rate", "row": 3, "optional": True, "zero_ok": True,
        "what": "highest offered rate (one direction, 64-byte frames, sw-peer paced) with no frame lost there or "
                "at a lower rate of the ladder (0: a frame was lost at the lowest rate)"}
    f["ladder_loss_pct"] = {
        "unit": "%", "better": "lower", "label": "ladder loss", "row": 3, "optional": True, "zero_ok": True,
        "what": "frames lost over the whole ladder (not received, or refused by the switch's ring) per frame "
                "offered, in percent"}
    return f


# ---------------------------------------------------------------- helpers (driver side)

class _Proc:
    """A process of a job, its output in a log; stopped (SIGNAL, then SIGKILL) at the end of the job."""

    def __init__(self, argv, log_path, stdin=subprocess.DEVNULL, stdout=None):
        self.argv, self.log_path = argv, log_path
        self.log = open(log_path, "ab")
        self.log.write(("$ %s\n" % shlex.join(argv)).encode())
        self.log.flush()
        self.p = subprocess.Popen(argv, stdin=stdin, stdout=stdout or self.log, stderr=self.log,
                                  start_new_session=True)

    def alive(self):
        return self.p.poll() is None

    def stop(self, sig=signal.SIGINT, timeout=15):
        if self.p.poll() is None:
            try:
                self.p.send_signal(sig)
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
        self.log.close()
        return self.p.returncode

    def text(self):
        return read_text(self.log_path) or ""


def _wait(pred, timeout, proc=None, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        if proc is not None and not proc.alive():
            return False
        time.sleep(step)
    return pred()


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(10)
        self.sock.connect(self.unix_path)


def _api(ctl, path):
    c = _UnixHTTP(ctl)
    try:
        c.request("GET", path)
        return json.loads(c.getresponse().read())
    finally:
        c.close()


def _eal(mem, prefix, lcores, frontend=False):
    """EAL options: hugepages on MEM["huge_dir"] (frontends in one file each, so the switch can map them) or
    --no-huge (memfd)."""
    a = ["--no-pci", "--file-prefix", prefix, "--lcores", lcores, "--log-level", "lib.eal:error"]
    if mem["huge_dir"]:
        a += ["--huge-dir", mem["huge_dir"], "-m", str(mem["mib"])]
    else:
        a += ["--no-huge", "-m", str(mem["mib"])]
    return a + (["--single-file-segments"] if frontend else [])


def _socks(sw):
    return [os.path.join(sw["dir"], "vhu%d.sock" % i) for i in (0, 1)]


class _Switch:
    """One switch under test for one job: start() returns None or an error; counters() a snapshot for cycles per
    packet; cycles(before, after) the figure; stop() its exit record."""

    def __init__(self, spec, system, rdir, job):
        self.sw, self.system, self.rdir, self.job = spec["switch"], system["name"], rdir, job
        self.procs, self.ctl = [], None
        gen, pmd = self.sw["cpus"]
        self.gen_cpu, self.pmd_cpu = gen, pmd
        self.socks = _socks(self.sw)
        self.client_mode = self.system == OVS  # the generator listens, OVS connects

    def log(self, what):
        return "%s.%s.%s.log" % (self.rdir, self.job, what)

    def start(self):
        for s in self.socks:
            try:
                os.unlink(s)
            except FileNotFoundError:
                pass
        mem = dict(self.sw["mem"], mib=512)
        if self.system == SUBJECT:
            self.ctl = os.path.join(self.sw["dir"], "ctl.sock")
            argv = [self.sw["tern_switch"]] + _eal(mem, "tb-tsw", "0@%d,1@%d" % (self.gen_cpu, self.pmd_cpu)) + \
                ["--", "--ctl", self.ctl] + self.sw.get("extra", []) + \
                sum((["--vhost", "p%d,path=%s" % (i, s)] for i, s in enumerate(self.socks)), [])
            p = _Proc(argv, self.log("switch"))
            self.procs.append(p)
            ok = _wait(lambda: all(os.path.exists(s) for s in self.socks + [self.ctl]), 30, p)
            return None if ok else "tern-switch did not come up: %s" % p.text()[-400:]
        if self.system == TESTPMD:
            argv = [TESTPMD_BIN] + _eal(mem, "tb-tpsw", "0@%d,1@%d" % (self.gen_cpu, self.pmd_cpu)) + \
                sum((["--vdev", "net_vhost%d,iface=%s" % (i, s)] for i, s in enumerate(self.socks)), []) + \
                ["--", "--forward-mode=io", "--auto-start", "--nb-cores=1", "--total-num-mbufs=32768",
                 "--record-core-cycles", "--stats-period", "100000"]
            p = _Proc(argv, self.log("switch"))
            self.procs.append(p)
            ok = _wait(lambda: all(os.path.exists(s) for s in self.socks), 30, p)
            return None if ok else "testpmd did not come up: %s" % p.text()[-400:]
        return self.start_ovs(mem)

    def start_ovs(self, mem):
        if not mem["huge_dir"]:
            return "OVS-DPDK needs hugepages (it gives the EAL --in-memory, which --no-huge refuses)"
        d = os.path.join(self.sw["dir"], "ovs")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        env = dict(os.environ, OVS_RUNDIR=d, OVS_LOGDIR=d, OVS_DBDIR=d, OVS_SYSCONFDIR=d)
        self.ovs_env, self.ovs_dir = env, d
        db = os.path.join(d, "conf.db")
        out, err = capture(["ovsdb-tool", "create", db, OVS_SCHEMA], env=env)
        if err:
            return "ovsdb-tool create: %s" % err
        pin = ["taskset", "-c", str(self.gen_cpu)]
        self.procs.append(_Proc(pin + ["ovsdb-server", db, "--remote=punix:%s/db.sock" % d,
                                       "--unixctl=%s/ovsdb-server.ctl" % d, "--log-file=%s/ovsdb-server.log" % d],
                                self.log("ovsdb")))
        if not _wait(lambda: os.path.exists(d + "/db.sock"), 20, self.procs[-1]):
            return "ovsdb-server did not come up"
        vsctl = ["ovs-vsctl", "--db=unix:%s/db.sock" % d, "--timeout=30"]
        cfg = ["--no-wait", "set", "Open_vSwitch", ".", "other_config:dpdk-init=true",
               "other_config:dpdk-lcore-mask=0x%x" % (1 << self.gen_cpu),
               "other_config:pmd-cpu-mask=0x%x" % (1 << self.pmd_cpu),
               "other_config:dpdk-socket-mem=%d" % mem["mib"],
               "other_config:dpdk-hugepage-dir=%s" % mem["huge_dir"],
               "other_config:dpdk-extra=--file-prefix=tb-ovs --no-pci"]
        for c in (["--no-wait", "init"], cfg):
            out, err = capture(vsctl + c, env=env)
            if err:
                return "ovs-vsctl %s: %s" % (" ".join(c), err)
        self.procs.append(_Proc(pin + [OVS_VSWITCHD, "unix:%s/db.sock" % d, "--unixctl=%s/ovs-vswitchd.ctl" % d,
                                       "--log-file=%s/ovs-vswitchd.log" % d], self.log("vswitchd")))
        if not _wait(lambda: os.path.exists(d + "/ovs-vswitchd.ctl"), 60, self.procs[-1]):
            return "ovs-vswitchd did not come up: %s" % (read_text(d + "/ovs-vswitchd.log") or "")[-400:]
        cmd = ["add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev"]
        for i, s in enumerate(self.socks):
            cmd += ["--", "add-port", "br0", "vhu%d" % i, "--", "set", "Interface", "vhu%d" % i,
                    "type=dpdkvhostuserclient", "options:vhost-server-path=%s" % s]
        out, err = capture(vsctl + cmd, env=env)
        if err:
            return "ovs-vsctl add-br/add-port: %s" % err
        return None

    def ready(self, timeout):
        """Whether both of the switch's ports have their peer (OVS: link_state up; tern-switch: the API says up;
        testpmd's vhost ports: up once the generator, their client, got its prompt)."""
        if self.system == SUBJECT:
            return _wait(lambda: all(p["up"] for p in _api(self.ctl, "/ports")["ports"]), timeout, None, 0.1)
        if self.system == OVS:
            def up():
                for i in (0, 1):
                    out, _ = capture(["ovs-vsctl", "--db=unix:%s/db.sock" % self.ovs_dir, "get", "Interface",
                                      "vhu%d" % i, "link_state"], env=self.ovs_env)
                    if out != "up":
                        return False
                return True
            return _wait(up, timeout, None, 0.2)
        return True

    def appctl(self, *cmd):
        return capture(["ovs-appctl", "-t", "%s/ovs-vswitchd.ctl" % self.ovs_dir] + list(cmd), env=self.ovs_env)

    def counters(self):
        """A snapshot at the start of the measured window (None where the switch counts its whole life)."""
        if self.system == SUBJECT:
            w = _api(self.ctl, "/lcores")["lcores"][0]
            return (w["busy_cycles"], w["rx_packets"])
        if self.system == OVS:
            self.appctl("dpif-netdev/pmd-stats-clear")
        return None

    def cycles(self, before):
        """Busy cycles per frame since BEFORE (OVS: since the clear), or None and the reason."""
        if self.system == SUBJECT:
            w = _api(self.ctl, "/lcores")["lcores"][0]
            busy, pkts = w["busy_cycles"] - before[0], w["rx_packets"] - before[1]
            return (busy / pkts, None) if pkts and busy else (None, "no frames counted")
        if self.system == OVS:
            out, err = self.appctl("dpif-netdev/pmd-stats-show")
            self.pmd_stats = out
            m = re.search(r"core_id %d:.*?avg processing cycles per packet: ([0-9.]+)" % self.pmd_cpu, out or "",
                          re.S)
            if m and float(m.group(1)) > 0:
                return float(m.group(1)), None
            return None, "pmd-stats-show: %s" % (err or "no PMD figure with frames")
        return None, None  # testpmd: read when it stops

    def stop(self):
        """Stops every process; returns (cycles per packet from testpmd's exit totals or None, errors)."""
        errors, cpp = [], None
        if self.system == OVS:
            self.appctl("exit")
        for p in reversed(self.procs):
            st = p.stop(signal.SIGINT if self.system == TESTPMD else signal.SIGTERM)
            if st not in (0, None, -signal.SIGTERM, -signal.SIGINT) and self.system != OVS:
                errors.append("%s exited %s" % (os.path.basename(p.argv[0]), st))
        if self.system == TESTPMD and self.procs:
            m = re.findall(r"CPU cycles/packet=([0-9.]+)", self.procs[0].text())
            cpp = float(m[-1]) if m else None
        return cpp, errors


class _Testpmd:
    """The loop generator: dpdk-testpmd in interactive mode on a pipe, so that forwarding starts only once the
    switch has both ports up, and its port counters can be read at the ends of the measured window."""

    PROMPT = b"testpmd> "

    def __init__(self, argv, log_path):
        # Unbuffered: on a pipe, testpmd's printf output would trail its prompt.
        self.proc = _Proc(["stdbuf", "-o0"] + argv, log_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.buf = b""

    def until_prompt(self, timeout):
        end = time.monotonic() + timeout
        fd = self.proc.p.stdout.fileno()
        while self.PROMPT not in self.buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise RuntimeError("testpmd: no prompt in %d s" % timeout)
            d = os.read(fd, 65536)
            if not d:
                raise RuntimeError("testpmd exited: %s" % self.proc.text()[-300:])
            self.buf += d
        out, self.buf = self.buf.split(self.PROMPT, 1)
        self.proc.log.write(out + self.PROMPT)
        self.proc.log.flush()
        return out.decode(errors="replace")

    def cmd(self, line, timeout=30):
        self.proc.p.stdin.write((line + "\n").encode())
        self.proc.p.stdin.flush()
        return self.until_prompt(timeout)

    def rx_packets(self):
        """(time, RX packets of port 0 + port 1)."""
        out = self.cmd("show port stats all")
        t = time.monotonic()
        counts = {int(p): int(n) for p, n in re.findall(r"NIC statistics for port (\d+).*?RX-packets:\s+(\d+)",
                                                         out, re.S)}
        if sorted(counts) != [0, 1]:
            raise RuntimeError("testpmd: no RX counts in %r" % out[-300:])
        return t, counts[0] + counts[1]

    def stop(self):
        try:
            self.cmd("stop", 10)
            self.proc.p.stdin.write(b"quit\n")
            self.proc.p.stdin.flush()
        except (RuntimeError, OSError):
            pass
        return self.proc.stop(signal.SIGINT)


def _vdevs(sw, server):
    return sum((["--vdev", "net_virtio_user%d,path=%s,mac=%s,queue_size=1024%s" % (i, s, MAC[i],
                                                                                   ",server=1" if server else "")]
                for i, s in enumerate(_socks(sw))), [])


def _loop_job(spec, system, rdir, size, figures, raw, errors):
    sw = spec["switch"]
    job = "loop-%d" % size
    s = _Switch(spec, system, rdir, job)
    gen = None
    try:
        err = s.start()
        if err:
            errors.append("%s: %s" % (job, err))
            return
        argv = [TESTPMD_BIN] + _eal(dict(sw["mem"], mib=256), "tb-gen", "0@%d,1@%d" % (s.gen_cpu, s.gen_cpu),
                                    frontend=True) + _vdevs(sw, s.client_mode) + \
            ["--", "-i", "--forward-mode=io", "--nb-cores=1", "--total-num-mbufs=16384",
             "--txpkts=%d" % (size - 4), "--burst=%d" % sw["gen_burst"],
             "--eth-peer=0,%s" % MAC[1], "--eth-peer=1,%s" % MAC[0]]
        gen = _Testpmd(argv, "%s.%s.generator.log" % (rdir, job))
        gen.until_prompt(60)
        if not s.ready(30):
            errors.append("%s: the switch's ports did not come up" % job)
            return
        gen.cmd("start tx_first")
        time.sleep(sw["warmup_s"])
        t0, n0 = gen.rx_packets()
        before = s.counters()
        time.sleep(sw["time_s"])
        t1, n1 = gen.rx_packets()
        cpp, why = s.cycles(before)
        raw[job] = {"rx_packets": n1 - n0, "seconds": t1 - t0, "generator": shlex.join(argv)}
        if getattr(s, "pmd_stats", None):
            raw[job]["pmd_stats_show"] = s.pmd_stats
        if n1 <= n0:
            errors.append("%s: no frames went round in the measured window" % job)
        else:
            figures["mpps_%d" % size] = (n1 - n0) / (t1 - t0) / 1e6
        if why:
            errors.append("%s: cycles per packet: %s" % (job, why))
        elif cpp is not None:
            figures["cycles_per_pkt_%d" % size] = cpp
    except (RuntimeError, OSError, ValueError, KeyError) as e:
        errors.append("%s: %s" % (job, e))
    finally:
        if gen:
            gen.stop()
        tp_cpp, errs = s.stop()
        errors += ["%s: %s" % (job, e) for e in errs]
        if system["name"] == TESTPMD and "mpps_%d" % size in figures:
            if tp_cpp:
                figures["cycles_per_pkt_%d" % size] = tp_cpp
            else:
                errors.append("%s: testpmd printed no CPU cycles/packet" % job)


def _peer_line(peer, timeout):
    """sw-peer's next answer line, split; raises RuntimeError unless it starts with "ok"."""
    end = time.monotonic() + timeout
    buf = b""
    fd = peer.p.stdout.fileno()
    while not buf.endswith(b"\n"):
        left = end - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise RuntimeError("no answer in %d s" % timeout)
        c = os.read(fd, 1)
        if not c:
            raise RuntimeError("sw-peer exited: %s" % peer.text()[-300:])
        buf += c
    ans = buf.decode().split()
    if not ans or ans[0] != "ok":
        raise RuntimeError(buf.decode().strip())
    return ans[1:]


def _peer_cmd(peer, line, timeout=60):
    peer.p.stdin.write((line + "\n").encode())
    peer.p.stdin.flush()
    try:
        return _peer_line(peer, timeout)
    except RuntimeError as e:
        raise RuntimeError("sw-peer: %s: %s" % (line, e))


def _ladder_job(spec, system, rdir, figures, raw, errors):
    sw = spec["switch"]
    if not sw["rates"]:
        return
    s = _Switch(spec, system, rdir, "ladder")
    peer = None
    steps = []
    try:
        err = s.start()
        if err:
            errors.append("ladder: %s" % err)
            return
        argv = [sw["sw_peer"]] + _eal(dict(sw["mem"], mib=256), "tb-peer", "0@%d" % s.gen_cpu, frontend=True) + \
            _vdevs(sw, s.client_mode)
        peer = _Proc(argv, rdir + ".ladder.peer.log", stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        # Its first line (ok ready) comes once both ports started; then both MACs are taught to the switch.
        ready = _peer_line(peer, 60)
        if not s.ready(30):
            errors.append("ladder: the switch's ports did not come up")
            return
        learned = False
        for _ in range(20):
            _peer_cmd(peer, "send 1 %s 4 60" % MAC[0])
            _peer_cmd(peer, "send 0 %s 4 60" % MAC[1])
            got = int(_peer_cmd(peer, "wait 1 4 500")[-1])
            _peer_cmd(peer, "wait 0 4 500")
            if got == 4:
                learned = True
                break
        if not learned:
            errors.append("ladder: frames did not get through the switch (port 0 %s)" % ready)
            return
        # A warm-up step at the lowest rate, not counted: the first frames
        # after the switch started meet cold caches and pools.
        warm = _peer_cmd(peer, "rate 0 %s %d 500 60 1" % (MAC[1], int(sw["rates"][0] * 1e6)), 30)
        raw["ladder_warmup"] = " ".join(warm)
        zero = 0.0
        clean = True
        total_sent = total_lost = 0
        for mpps in sw["rates"]:
            a = _peer_cmd(peer, "rate 0 %s %d %d 60 1" % (MAC[1], int(mpps * 1e6), sw["rate_ms"]),
                          sw["rate_ms"] / 1000 + 30)
            sent, recv, refused, skipped = int(a[1]), int(a[3]), int(a[5]), int(a[7])
            offered = sent / (sw["rate_ms"] / 1000) / 1e6
            steps.append({"asked_mpps": mpps, "offered_mpps": offered, "sent": sent, "received": recv,
                          "lost": sent - recv, "refused_by_tx_ring": refused, "not_offered": skipped})
            total_sent += sent
            total_lost += max(0, sent - recv)
            if sent - recv > 0:
                clean = False
            elif clean:
                zero = max(zero, offered)
        figures["zero_loss_mpps"] = zero
        if total_sent:
            figures["ladder_loss_pct"] = 100.0 * total_lost / total_sent
    except (RuntimeError, ValueError, OSError) as e:
        errors.append("ladder: %s" % e)
    finally:
        raw["ladder"] = steps
        if peer:
            try:
                peer.p.stdin.write(b"quit\n")
                peer.p.stdin.flush()
            except OSError:
                pass
            peer.stop(signal.SIGTERM)
        _, errs = s.stop()
        errors += ["ladder: %s" % e for e in errs]


# ---------------------------------------------------------------- hugepages (driver side)

def _meminfo(key):
    for line in (read_text("/proc/meminfo") or "").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _hugepages_up(d):
    """Reserves and mounts 2 MiB pages for the scenario: (huge_dir, record) or (None, record)."""
    rec = {"nr_hugepages_before": int(read_text("/proc/sys/vm/nr_hugepages") or 0)}
    try:
        free = _meminfo("HugePages_Free")
        if free < HUGE_PAGES:
            with open("/proc/sys/vm/nr_hugepages", "w") as f:
                f.write(str(rec["nr_hugepages_before"] + HUGE_PAGES - free))
        if _meminfo("HugePages_Free") < HUGE_PAGES:
            rec["why_not"] = "only %d of %d 2 MiB pages free" % (_meminfo("HugePages_Free"), HUGE_PAGES)
            return None, rec
        huge = os.path.join(d, "huge")
        os.makedirs(huge, exist_ok=True)
        out, err = capture(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "none", huge])
        if err:
            rec["why_not"] = "mount hugetlbfs: %s" % err
            return None, rec
        rec["mounted"] = huge
        return huge, rec
    except OSError as e:
        rec["why_not"] = str(e)
        return None, rec


def _hugepages_down(rec):
    if rec.get("mounted"):
        capture(["umount", rec["mounted"]])
    try:
        with open("/proc/sys/vm/nr_hugepages", "w") as f:
            f.write(str(rec["nr_hugepages_before"]))
    except OSError:
        pass


class Switch(Scenario):
    name = "switch"
    order = 6
    description = ("a vhost-user L2 switch between two DPDK net_virtio_user ports (stand-ins for VMs), natively: "
                   "the testpmd --tx-first io loop through the switch with 64- and 1518-byte frames (Mpps, busy "
                   "cycles per packet from the switch's own counters), then a zero-loss ladder of offered rates "
                   "(sw-peer, 64-byte frames). tern-switch against OVS-DPDK (dpdkvhostuserclient ports, NORMAL) and "
                   "testpmd io forwarding between two vhost ports (the limit); one PMD core each.")
    runs_in = NATIVE
    subject = SUBJECT
    peers = [OVS, TESTPMD]
    known_peers = [OVS, TESTPMD]
    figures = _figures()
    options = (OPTIONS,)
    build_binaries = ("tern-switch", "sw-peer")
    tool_versions = {"ovs_vswitchd_dpdk": [OVS_VSWITCHD, "--version"], "dpdk_testpmd": ["dpkg-query", "-W", "-f",
                                                                                         "${Version}", "dpdk-dev"]}
    colors = {SUBJECT: 0xD9622B, OVS: 0x4C72B0, TESTPMD: 0x8C8C8C}

    def setup(self, ctx):
        a = ctx.args
        gen, pmd = (int(c) for c in a.switch_cpus.split(","))
        d = "/tmp/tern-bench-switch-%d" % os.getpid()
        sw = {"dir": d, "cpus": [gen, pmd], "time_s": a.switch_time, "warmup_s": a.switch_warmup_s,
              "rates": _rates(a.switch_rates), "rate_ms": a.switch_rate_ms, "gen_burst": a.switch_gen_burst,
              "tern_switch": ctx.binaries["tern-switch"], "sw_peer": ctx.binaries["sw-peer"],
              "extra": shlex.split(a.switch_extra)}
        argv0 = {SUBJECT: ctx.binaries["tern-switch"], OVS: OVS_VSWITCHD, TESTPMD: TESTPMD_BIN}
        systems = [{"name": n, "kind": "host", "argv": [argv0[n]], "help": SYSTEM_HELP[n]} for n in ctx.systems]
        setup = {
            "systems": {n: SYSTEM_HELP[n] for n in ctx.systems},
            "cpus": {"generator_and_main_threads": gen, "switch_pmd": pmd},
            "loop": "testpmd --tx-first --burst=%d io between two net_virtio_user ports (queue_size 1024): %d frames "
                    "in flight; %d s warm-up then %d s measured per size, a fresh switch per job"
                    % (a.switch_gen_burst, 2 * a.switch_gen_burst, a.switch_warmup_s, a.switch_time),
            "frames": "64 and 1518 bytes on a wire (60 and 1514 in the mbuf: FCS not counted)",
            "tern_switch_extra": a.switch_extra,
            "ladder": {"rates_mpps": sw["rates"], "ms_each": a.switch_rate_ms},
            "summary": "1 queue pair, 1 PMD core (CPU %d), generator on CPU %d, burst %d; loop %d s (+%d s warm-up); "
                       "ladder %s Mpps x %d ms" % (pmd, gen, a.switch_gen_burst, a.switch_time, a.switch_warmup_s,
                                                   _ladder_text(sw["rates"]), a.switch_rate_ms),
            "two_queues": "not run: 2 queues on 2 PMD cores needs 2 more CPUs for the switch than this scenario's "
                          "generator leaves on a %d-CPU machine" % os.cpu_count() if os.cpu_count() < 5 else
                          "not implemented yet",
        }
        # Each run is 2 loop jobs and a ladder, a fresh switch for each (OVS takes seconds to start).
        timeout = 3 * 60 + 2 * (a.switch_time + a.switch_warmup_s) + len(sw["rates"]) * (a.switch_rate_ms / 1000 + 1)
        return Plan(systems, {"switch": sw}, setup, int(timeout))

    def finish(self, setup, raw):
        setup["memory"] = raw.get("driver", {}).get("switch_memory")

    def prepare(self, spec, info):
        sw = spec["switch"]
        os.makedirs(sw["dir"], exist_ok=True)
        huge, rec = _hugepages_up(sw["dir"])
        sw["mem"] = {"huge_dir": huge}
        sw["huge_rec"] = rec
        info["switch_memory"] = "2 MiB hugepages on %s" % huge if huge else "--no-huge (%s)" % rec.get("why_not")
        log("switch: memory: %s" % info["switch_memory"])

    def run(self, spec, system, rdir):
        figures, raw, errors = {}, {}, []
        for size in SIZES:
            _loop_job(spec, system, rdir, size, figures, raw, errors)
        _ladder_job(spec, system, rdir, figures, raw, errors)
        ok = all(k in figures for k in self.figures if not self.figures[k].get("optional"))
        return {"ok": ok and not errors, "errors": errors, "figures": figures, "raw": raw}

    def teardown(self, spec):
        sw = spec["switch"]
        if sw.get("huge_rec"):
            _hugepages_down(sw["huge_rec"])
        shutil.rmtree(sw["dir"], ignore_errors=True)

    def systems_help(self):
        return "switch systems: " + "; ".join("%s: %s" % kv for kv in SYSTEM_HELP.items())
