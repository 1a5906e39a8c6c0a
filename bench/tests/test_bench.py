#!/usr/bin/python3
"""Unit tests of tern-bench's arithmetic and parsers (bench/ternbench/), on outputs recorded in the test host
(bench/tests/data/: tern and QEMU microvm smaps/smaps_rollup sampled while the boot guest idled, and their
serial consoles; qemu-microvm.smaps is trimmed to 18 of its 303 mappings, the guest RAM among them.
blk: the serial consoles of one tern and one QEMU pc run of the blk scenario (blk-*.serial), the KVM debugfs
samples the driver took at their markers with the guest's TERN-FIO values and the figures the driver computed
(blk-windows.json), and the JSON of the host peer's randread fio run (blk-host-randread.fio.json).
net: the serial consoles of one tern (vhost=on) and one QEMU pc (vhost=on) run of the net scenario (net-*.serial),
the KVM samples, guest TERN-NET values, iperf3 server summaries and figures of run 1 of all four systems
(net-windows.json; that tern did not yet offer VIRTIO_NET_F_MAC with vhost-net, so its guest MAC is random), the test-host iperf3 server's JSON of tern's three jobs (net-server-JOB.json), and iperf3
3.12 client text output (-f k) of the three kinds of job, made on this machine's loopback with the same iperf3
the guest gets (net-iperf3-JOB.txt), for the guest script's awk).
legacy: the serial consoles of run 1 of tern-legacy (IDE + e1000) and tern (virtio + vhost-net) and their fio and
iperf3 windows, READY values, vhost workers and figures (legacy-windows.json).
vhost-user: the same for run 1 of tern-ternblk, tern-qsd and qemu-ternblk (vu-*.serial, vu-windows.json, with
each backend's exit record).
blk-native: vdrive's JSON of tern-blk's 4k randread QD32 O_DIRECT run (blk-native-vdrive.json) and fio's of the
128k sequential read, buffered, 2 jobs (blk-native-fio.json), from one short run of the scenario.

Run: /usr/bin/python3 bench/tests/test_bench.py   (or: meson test -C build bench-unit)
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import re

sys.dont_write_bytecode = True  # no __pycache__ in bench/
HERE = os.path.dirname(os.path.realpath(__file__))
DATA = os.path.join(HERE, "data")
sys.path.insert(0, os.path.dirname(HERE))

from ternbench import backend, fio, harness, iperf, kvm, parsers, plot, results, scenarios, stats, windows  # noqa: E402
from ternbench.scenarios import blk as blk_scenario, boot as boot_scenario, legacy as legacy_scenario  # noqa: E402
from ternbench.scenarios import net as net_scenario, vhost_user as vu_scenario  # noqa: E402
from ternbench.scenarios import blk_native as bn_scenario  # noqa: E402
from ternbench.scenarios import firmware as fw_scenario  # noqa: E402


def data(name):
    with open(os.path.join(DATA, name)) as f:
        return f.read()


def run(n, ok=True, warmup=False, **figures):
    return {"run": n, "ok": ok, "warmup": warmup, "figures": figures, "errors": [] if ok else ["boom"]}


class Arithmetic(unittest.TestCase):
    def test_median(self):
        self.assertEqual(stats.median([3.0]), 3.0)
        self.assertEqual(stats.median([5, 1, 3]), 3)
        self.assertEqual(stats.median([4, 1, 3, 2]), 2.5)
        self.assertEqual(stats.median([2.5, 2.5, 9.0]), 2.5)
        with self.assertRaises(ValueError):
            stats.median([])

    def test_is_figure(self):
        for x in (1, 0.001, 7.5):
            self.assertTrue(stats.is_figure(x))
        for x in (0, -1.0, float("nan"), float("inf"), None, "3", True):
            self.assertFalse(stats.is_figure(x))

    def test_summarize_counts_only_successful_measured_runs(self):
        runs = [run("w1", warmup=True, init_s=99.0), run(1, init_s=7.0), run(2, ok=False, init_s=1.0),
                run(3, init_s=5.0), run(4, init_s=6.0)]
        st = stats.summarize(runs, "init_s")
        self.assertEqual(st, {"n": 3, "median": 6.0, "min": 5.0, "max": 7.0, "values": [7.0, 5.0, 6.0]})
        self.assertIsNone(stats.summarize([run(1, ok=False, init_s=3.0)], "init_s"))
        self.assertIsNone(stats.summarize(runs, "exit_s"))

    def test_ratio(self):
        self.assertAlmostEqual(stats.ratio(7.63, 5.96), 1.28020134, places=6)
        self.assertAlmostEqual(stats.ratio(1.0, 4.0), 0.25)
        self.assertIsNone(stats.ratio(None, 4.0))
        self.assertIsNone(stats.ratio(1.0, 0))
        self.assertIsNone(stats.ratio(1.0, None))

    def test_scenario_stats_and_ratios(self):
        scen = {"figures": {"init_s": {"unit": "s"}, "pss_overhead_mib": {"unit": "MiB"}},
                "systems": {
                    "tern": {"available": True, "runs": [run(1, init_s=8.0, pss_overhead_mib=1.0),
                                                         run(2, init_s=6.0, pss_overhead_mib=1.2),
                                                         run(3, init_s=7.0, pss_overhead_mib=1.1)]},
                    "qemu-pc": {"available": True, "runs": [run(1, init_s=10.0, pss_overhead_mib=50.0),
                                                            run(2, init_s=14.0, pss_overhead_mib=55.0),
                                                            run(3, ok=False)]},
                    "qemu-microvm": {"available": True, "runs": [run(1, ok=False)]}}}
        stats.scenario_stats(scen)
        self.assertEqual(scen["systems"]["tern"]["stats"]["init_s"]["median"], 7.0)
        self.assertEqual(scen["systems"]["qemu-pc"]["stats"]["init_s"]["median"], 12.0)
        self.assertEqual(scen["systems"]["qemu-pc"]["failed_runs"], 1)
        self.assertAlmostEqual(scen["ratios"]["qemu-pc"]["init_s"], 7.0 / 12.0)
        self.assertAlmostEqual(scen["ratios"]["qemu-pc"]["pss_overhead_mib"], 1.1 / 52.5)
        self.assertIsNone(scen["ratios"]["qemu-microvm"]["init_s"])
        self.assertNotIn("tern", scen["ratios"])


class Smaps(unittest.TestCase):
    def test_rollup(self):
        r = parsers.parse_smaps_rollup(data("tern.smaps_rollup"))
        self.assertEqual(r["Pss"], 107625)
        self.assertEqual(r["Rss"], 108424)
        self.assertEqual(r["Pss_Shmem"], 106532)
        with self.assertRaises(ValueError):
            parsers.parse_smaps_rollup("Rss: 1 kB\n")

    def test_smaps_sums_to_rollup(self):
        maps = parsers.parse_smaps(data("tern.smaps"))
        self.assertEqual(len(maps), 33)
        self.assertEqual(sum(m["kb"]["Pss"] for m in maps),
                         parsers.parse_smaps_rollup(data("tern.smaps_rollup"))["Pss"])

    def test_tern_guest_ram_is_the_memfd(self):
        g = parsers.guest_ram(parsers.parse_smaps(data("tern.smaps")))
        self.assertEqual(g["name"], "/memfd:tern-ram (deleted)")
        self.assertEqual((g["mappings"], g["size_kb"], g["rss_kb"], g["pss_kb"], g["huge_kb"]),
                         (1, 262144, 106532, 106532, 0))

    def test_qemu_guest_ram_is_anonymous_and_huge(self):
        g = parsers.guest_ram(parsers.parse_smaps(data("qemu-microvm.smaps")))
        self.assertEqual((g["name"], g["size_kb"], g["pss_kb"], g["huge_kb"]), ("[anon]", 262144, 122880, 122880))

    def test_overhead(self):
        res, err = parsers.memory_overhead(data("tern.smaps_rollup"), data("tern.smaps"), 256)
        self.assertEqual(err, [])
        self.assertEqual(res["overhead_kb"], 107625 - 106532)
        self.assertAlmostEqual(res["pss_overhead_mib"], 1093 / 1024)
        self.assertEqual(res["other_anon_huge_kb"], 0)
        res, err = parsers.memory_overhead(data("qemu-microvm.smaps_rollup"), data("qemu-microvm.smaps"), 256)
        self.assertEqual(err, [])
        self.assertEqual(res["overhead_kb"], 170887 - 122880)
        self.assertEqual(res["other_anon_huge_kb"], 139264 - 122880)  # QEMU's own THP, outside guest RAM

    def test_overhead_refuses_a_mapping_smaller_than_guest_ram(self):
        res, err = parsers.memory_overhead(data("tern.smaps_rollup"), data("tern.smaps"), 512)
        self.assertEqual(len(err), 1)
        self.assertIn("guest RAM not found", err[0])

    def test_memfd_aliases_count_as_guest_ram(self):
        text = ("7f0000000000-7f0010000000 rw-s 00000000 00:01 4242 /memfd:tern-ram (deleted)\n"
                "Size: 262144 kB\nRss: 1000 kB\nPss: 500 kB\n"
                "7f0020000000-7f0030000000 rw-s 00000000 00:01 4242 /memfd:tern-ram (deleted)\n"
                "Size: 262144 kB\nRss: 1000 kB\nPss: 500 kB\n"
                "55d000000000-55d000001000 rw-p 00000000 00:00 0 [heap]\n"
                "Size: 4 kB\nRss: 4 kB\nPss: 4 kB\nVmFlags: rd wr mr mw me ac sd\n")
        g = parsers.guest_ram(parsers.parse_smaps(text))
        self.assertEqual((g["mappings"], g["pss_kb"], g["rss_kb"]), (2, 1000, 2000))
        res, err = parsers.memory_overhead("Pss: 1004 kB\n", text, 256)
        self.assertEqual((res["overhead_kb"], err), (4, []))


class Serial(unittest.TestCase):
    def feed(self, text, step):
        clock = parsers.MarkerClock([parsers.MARK_INIT, parsers.MARK_IDLE, parsers.MARK_NOGO], t0=100.0)
        b = text.encode()
        for i in range(0, len(b), step):
            clock.feed(b[i:i + step], 100.0 + i + step)  # "arrival time" = offset of the chunk's end
        return clock

    def test_markers_are_timed_at_the_chunk_that_completes_them(self):
        text = data("qemu-microvm.serial")
        end_init = text.encode().index(b"TERN-GUEST-INIT") + len("TERN-GUEST-INIT")
        for step in (1, 3, 7, 64, 4096):
            c = self.feed(text, step)
            chunk_end = -(-end_init // step) * step  # the chunk holding the marker's last byte
            self.assertEqual(c.seen["TERN-GUEST-INIT"], chunk_end, step)
            self.assertIn("TERN-BENCH-IDLE", c.seen)
            self.assertNotIn("TERN-BENCH-NOGO", c.seen)
            self.assertEqual(c.guest_exit_status(), 0)

    def test_guest_exit_status(self):
        c = self.feed(data("tern.serial") + "TERN-GUEST-EXIT 3\n", 5)
        self.assertEqual(c.guest_exit_status(), 3)
        self.assertIsNone(self.feed("TERN-GUEST-INIT\n", 4).guest_exit_status())


class BootFigures(unittest.TestCase):
    seen = {"TERN-GUEST-INIT": 7.6, "TERN-BENCH-IDLE": 7.7}

    def overhead(self):
        return parsers.memory_overhead(data("tern.smaps_rollup"), data("tern.smaps"), 256)

    def test_ok(self):
        ov, oerr = self.overhead()
        f, err = boot_scenario.boot_figures(self.seen, (7.7, 7.8), 8.0, 0, 0, ov, oerr)
        self.assertEqual(err, [])
        self.assertEqual(f["init_s"], 7.6)
        self.assertAlmostEqual(f["exit_s"], 7.9)  # the 0.1 s pause for the sample is not the VMM's time
        self.assertAlmostEqual(f["pss_overhead_mib"], 1093 / 1024)

    def test_failures_never_become_figures(self):
        ov, oerr = self.overhead()
        f, err = boot_scenario.boot_figures(self.seen, (7.7, 7.8), 8.0, 1, 0, ov, oerr)
        self.assertIn("exit status 1", err)
        self.assertNotIn("exit_s", f)
        f, err = boot_scenario.boot_figures({}, None, None, None, None, None, [])
        self.assertEqual(f, {})
        self.assertEqual(len(err), 4)
        f, err = boot_scenario.boot_figures(dict(self.seen, **{"TERN-BENCH-NOGO": 68.0}), (7.7, 7.8), 70.0, 0, 1, ov, oerr)
        self.assertTrue(any("NOGO" in e for e in err))
        self.assertTrue(any("guest script exited 1" in e for e in err))
        f, err = boot_scenario.boot_figures({}, None, 0.5, -6, None, None, [])
        self.assertIn("killed by signal 6 (SIGABRT)", err)
        f, err = boot_scenario.boot_figures(self.seen, (7.7, 7.8), 8.0, 0, 0, None, ["memory sample failed: gone"])
        self.assertNotIn("pss_overhead_mib", f)
        self.assertIn("memory sample failed: gone", err)


class BootSystems(unittest.TestCase):
    """Which kernel file each boot system gets: tern the vmlinux beside the bzImage, the others as named."""
    K, I = "/k/6.1/bzImage", "/g/initrd"

    def kernel_of(self, system):
        argv = boot_scenario.system_argv(system, self.K, self.I, 1, 256, "/b/tern")
        return argv[argv.index("--kernel" if "--kernel" in argv else "-kernel") + 1]

    def test_kernels(self):
        self.assertEqual(self.kernel_of("tern"), "/k/6.1/vmlinux")
        self.assertEqual(self.kernel_of("tern-bzimage"), self.K)
        self.assertEqual(self.kernel_of("qemu-pc"), self.K)
        self.assertEqual(self.kernel_of("qemu-microvm"), self.K)
        self.assertEqual(self.kernel_of("qemu-microvm-vmlinux"), "/k/6.1/vmlinux")

    def test_every_default_peer_is_known(self):
        scen = scenarios.get("boot")
        self.assertTrue(set(scen.peers) <= set(scen.known_peers))
        for p in scen.known_peers:
            self.kernel_of(p)
        with self.assertRaises(KeyError):
            self.kernel_of("qemu-q35")


class Document(unittest.TestCase):
    def doc(self):
        figs = scenarios.get("boot").figures
        ok = dict(init_s=7.0, exit_s=7.5, pss_overhead_mib=1.1)
        scen = {"description": "", "figures": figs, "host_kind": "test-host", "guest": {}, "driver": {},
                "systems": {
                    "tern": {"available": True, "command": ["tern"], "runs": [run(1, **ok), run(2, **ok)]},
                    "qemu-microvm": {"available": True, "command": ["qemu"],
                                     "runs": [run(1, init_s=6.0, exit_s=6.3, pss_overhead_mib=47.0)]}}}
        return results_doc("boot", scen)

    def test_validate_accepts_a_good_document(self):
        self.assertEqual(results.validate(self.doc()), [])

    def test_validate_rejects_bad_figures_and_missing_keys(self):
        d = self.doc()
        d["scenarios"]["boot"]["systems"]["tern"]["runs"][0]["figures"]["init_s"] = -1.0
        del d["versions"]["qemu"]
        p = results.validate(d)
        self.assertTrue(any("init_s = -1.0" in x for x in p), p)
        self.assertIn("missing versions.qemu", p)
        d = self.doc()
        for r in d["scenarios"]["boot"]["systems"]["qemu-microvm"]["runs"]:
            r.update(ok=False, errors=["timeout after 90 s"])
        stats.scenario_stats(d["scenarios"]["boot"])
        self.assertIn("scenarios.boot.systems.qemu-microvm: no successful run", results.validate(d))

    def test_table_and_json_round_trip(self):
        d = json.loads(json.dumps(self.doc()))
        t = results.table(d)
        self.assertIn("vs qemu-microvm", t)
        self.assertIn("1.17", t)  # init_s ratio 7.0 / 6.0

    def test_plot(self):
        d = self.doc()
        with tempfile.TemporaryDirectory() as work:
            png = os.path.join(work, "boot.png")
            script = plot.plot_script(d, "boot", png, work)
            self.assertIn("with vectors nohead", script)  # the min-max whiskers
            with open(os.path.join(work, "boot-init_s.dat")) as f:
                dat = f.read()
            self.assertIn('"tern/peer 1.17"', dat)  # 7.0 / 6.0, above the peer's bar
            self.assertIn('"7 s\\n(n=2)"', dat)  # two lines in the plot
            if not shutil.which("gnuplot"):
                self.skipTest("no gnuplot")
            subprocess.run(["gnuplot"], input=script, text=True, check=True)
            with open(png, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


def results_doc(sname, scen):
    """A results document holding the one scenario SCEN (its stats and ratios filled in), as cmd_run writes it."""
    stats.scenario_stats(scen)
    return {"tool": "tern-bench", "format": 1, "started": "x", "elapsed_s": 1.0, "command": ["x"],
            "versions": {"tern": None, "tern_sha256": "0", "qemu": "QEMU", "guest_kernel": "6.1", "l1_kernel": "6.1"},
            "scenarios": {sname: scen}}


def blk_windows():
    with open(os.path.join(DATA, "blk-windows.json")) as f:
        return json.load(f)


class BlkGuestLines(unittest.TestCase):
    def lines(self, name, step):
        sp = parsers.Lines()
        b = data(name).encode()
        out = []
        for i in range(0, len(b), step):
            out += sp.feed(b[i:i + step])
        return out

    def test_lines_are_whole_whatever_the_chunks(self):
        want = self.lines("blk-tern.serial", 1 << 20)
        self.assertIn("TERN-FIO-START randread", want)  # \r stripped
        for step in (1, 2, 5, 13, 64):
            self.assertEqual(self.lines("blk-tern.serial", step), want, step)

    def test_recorded_consoles(self):
        for name in ("blk-tern.serial", "blk-qemu-pc.serial"):
            got = [parsers.parse_guest_line(ln) for ln in self.lines(name, 7)]
            got = [g for g in got if g]
            markers = [(m, n) for m, n, _ in got]
            want = [("TERN-BLK-READY", None)]
            for w in ["null"] + list(fio.BLK_JOBS):
                want += [("TERN-FIO-START", w), ("TERN-FIO-END", w), ("TERN-FIO", w)]
            self.assertEqual(markers, want, name)
            self.assertEqual(got[0][2], {"queues": 1, "cpus": 1, "sectors": 524288})
            self.assertEqual(got[3][2], {"status": 0, "vda_ios": 0, "vdb_ios": 0})  # null

    def test_fio_line(self):
        line = "TERN-FIO randread status=0 vda_ios=5528 vdb_ios=0 iops=1340.220 bw_kib=5403 ios=4022 " \
               "runtime_ms=3001 fio_err=0\r"
        self.assertIn(line.rstrip("\r"), data("blk-tern.serial"))
        self.assertEqual(parsers.parse_guest_line(line),
                         ("TERN-FIO", "randread", {"status": 0, "vda_ios": 5528, "vdb_ios": 0, "iops": 1340.22,
                                                   "bw_kib": 5403, "ios": 4022, "runtime_ms": 3001, "fio_err": 0}))

    def test_odd_lines(self):
        self.assertEqual(parsers.parse_guest_line("[   3.1] virtio_blk: x TERN-FIO-END seqread"),
                         ("TERN-FIO-END", "seqread", {}))
        kv = parsers.parse_guest_line("TERN-FIO x status=0 fio_err=0 iops=-nan")[2]
        errs = []
        self.assertEqual(fio.blk_job_figures("x", kv, errs), {})  # NaN is no figure
        self.assertEqual(errs, ["x: iops nan"])
        kv = parsers.parse_guest_line("TERN-FIO x fio_err=none iops=oops")[2]
        self.assertEqual(kv, {"fio_err": "none", "iops": "oops"})
        for ln in ("TERN-FIO-START", "TERN-FIO status=0", "TERN-GUEST-EXIT 0", "go", ""):
            self.assertIsNone(parsers.parse_guest_line(ln), ln)


class BlkExits(unittest.TestCase):
    def test_arith_on_recorded_windows(self):
        w = blk_windows()["tern"]["windows"]
        null, err = kvm.exit_arith(w["null"]["before"], w["null"]["after"], 0)
        self.assertEqual(err, [])
        self.assertEqual((null["user_exits"], null["delta"]["exits"]), (54, 116))  # the protocol alone
        g = w["randread"]["guest"]
        res, err = kvm.exit_arith(w["randread"]["before"], w["randread"]["after"], g["vda_ios"] + g["vdb_ios"], null)
        self.assertEqual(err, [])
        self.assertEqual((res["delta"]["io_exits"], res["delta"]["mmio_exits"], res["delta"]["exits"]), (58, 0, 13472))
        self.assertEqual((res["net_user_exits"], res["net_exits"], res["ios"]), (58 - 54, 13472 - 116, 5528))
        self.assertAlmostEqual(res["user_exits_per_io"], 4 / 5528)
        self.assertAlmostEqual(res["exits_per_io"], 13356 / 5528)
        self.assertAlmostEqual(res["gross_user_exits_per_io"], 58 / 5528)
        self.assertAlmostEqual(res["window_s"], 5.41, places=2)

    def test_net_is_floored_at_zero(self):
        b = {"dirs": ["1-7"], "exits": 100, "io_exits": 10, "mmio_exits": 0}
        a = {"dirs": ["1-7"], "exits": 150, "io_exits": 40, "mmio_exits": 5}
        null = {"user_exits": 54, "delta": {"exits": 116}}
        res, err = kvm.exit_arith(b, a, 1000, null)
        self.assertEqual(err, [])
        self.assertEqual((res["net_user_exits"], res["user_exits_per_io"], res["exits_per_io"]), (0, 0, 0))
        figs = scenarios.get("blk").figures
        self.assertTrue(stats.is_value(res["user_exits_per_io"], figs["randread_user_exits_per_io"]))
        self.assertFalse(stats.is_value(0, figs["randread_exits_per_io"]))

    def test_bad_windows(self):
        b = {"dirs": ["1-7"], "exits": 100, "io_exits": 10, "mmio_exits": 0}
        a = dict(b, exits=90)
        null = {"user_exits": 0, "delta": {"exits": 0}}
        _, err = kvm.exit_arith(b, a, 10, null)
        self.assertIn("KVM counter exits went backwards (-10)", err)
        _, err = kvm.exit_arith(b, dict(b, dirs=["2-7"]), 10, null)
        self.assertTrue(any("directories changed" in e for e in err), err)
        res, err = kvm.exit_arith(b, dict(b, exits=200), 0, null)
        self.assertIn("no block I/O in the window (0)", err)
        self.assertNotIn("exits_per_io", res)
        _, err = kvm.exit_arith({"dirs": []}, {"dirs": []}, 10, null)
        self.assertIn("no KVM counter io_exits", err)

    def test_kvm_sample_reads_debugfs_of_the_pid(self):
        with tempfile.TemporaryDirectory() as root:
            for d, v in (("%d-7" % os.getpid(), 5), ("%d-9" % os.getpid(), 1), ("1-7", 1000)):
                os.mkdir(os.path.join(root, d))
                for k in kvm.KVM_STATS:
                    with open(os.path.join(root, d, k), "w") as f:
                        f.write("%d\n" % v)
            s = kvm.kvm_sample(os.getpid(), root)
            self.assertEqual(s["dirs"], sorted(["%d-7" % os.getpid(), "%d-9" % os.getpid()]))
            self.assertEqual((s["exits"], s["io_exits"], s["mmio_exits"]), (6, 6, 6))
            with self.assertRaises(OSError):
                kvm.kvm_sample(2 ** 22 + 1, root)


class BlkFigures(unittest.TestCase):
    def test_recorded_runs_give_the_recorded_figures(self):
        for name, rec in blk_windows().items():
            f, err, exits = fio.blk_vm_figures(rec["windows"], list(fio.BLK_JOBS), rec["ready"], 1, 0, 0)
            self.assertEqual(err, [], name)
            # Recorded before CPU sampling existed: the optional figures are absent.
            self.assertEqual(set(f), {k for k, d in scenarios.get("blk").figures.items()
                                      if not d.get("optional")}, name)
            for k, v in rec["figures"].items():
                self.assertAlmostEqual(f[k], v, msg="%s %s" % (name, k))
            self.assertEqual(set(exits), {"null"} | set(fio.BLK_JOBS))
        f, _, _ = fio.blk_vm_figures(blk_windows()["qemu-pc"]["windows"], list(fio.BLK_JOBS), {"queues": 1}, 1, 0, 0)
        self.assertAlmostEqual(f["seqread_mibs"], 138236 / 1024)
        self.assertAlmostEqual(f["randread_exits_per_io"], (8987 - 110) / 4147)

    def test_failures_never_become_figures(self):
        rec = blk_windows()["tern"]
        w = json.loads(json.dumps(rec["windows"]))
        del w["randwrite"]["after"]
        w["seqread"]["guest"]["status"] = 1
        f, err, _ = fio.blk_vm_figures(w, list(fio.BLK_JOBS), rec["ready"], 2, 0, 1)
        self.assertIn("guest sees 1 queues on vda, want 2", err)
        self.assertIn("guest script exited 1", err)
        self.assertTrue(any(e.startswith("randwrite: KVM counters not sampled") for e in err), err)
        self.assertIn("seqread: fio exited 1", err)
        self.assertNotIn("randwrite_exits_per_io", f)
        self.assertIn("randwrite_iops", f)  # the guest's own figure stands; the run is failed anyway
        del w["null"]
        f, err, _ = fio.blk_vm_figures(w, list(fio.BLK_JOBS), None, 1, None, None)
        self.assertIn("no exit (killed at the timeout)", err)
        self.assertIn("null: no TERN-FIO line", err)
        self.assertIn("randread: no null window to subtract the protocol's exits", err)
        self.assertFalse(any(k.endswith("_per_io") for k in f))

    def test_host_fio_json(self):
        with open(os.path.join(DATA, "blk-host-randread.fio.json")) as fh:
            doc = json.load(fh)
        iops, bw, ios, rt, ferr = parsers.fio_json_figures(doc)
        self.assertEqual((round(iops, 3), bw, ios, rt, ferr), (77714.857, 310900, 233300, 3002, 0))
        errs = []
        self.assertEqual(fio.blk_job_figures("randread", {"status": 0, "iops": iops, "fio_err": ferr}, errs),
                         {"randread_iops": iops})
        self.assertEqual(errs, [])
        with self.assertRaises(ValueError):
            parsers.fio_json_figures({"jobs": []})

    def test_guest_awk_agrees_with_the_python_parser(self):
        """bench/guests/blk.sh's fio_summary (busybox awk, as in the guest) on the same fio JSON."""
        if not os.path.exists("/bin/busybox"):
            self.skipTest("no busybox")
        fn = guest_function("windows.sh", "fio_summary")
        path = os.path.join(DATA, "blk-host-randread.fio.json")
        out = subprocess.run(["/bin/busybox", "sh", "-c", fn + 'fio_summary "$1"', "sh", path],
                             stdout=subprocess.PIPE, text=True, check=True).stdout
        _, _, kv = parsers.parse_guest_line("TERN-FIO randread status=0 " + out.strip())
        with open(path) as fh:
            iops, bw, ios, rt, ferr = parsers.fio_json_figures(json.load(fh))
        self.assertAlmostEqual(kv["iops"], iops, places=2)
        self.assertEqual((kv["bw_kib"], kv["ios"], kv["runtime_ms"], kv["fio_err"]), (bw, ios, rt, ferr))


class BlkSetup(unittest.TestCase):
    blk = {"image": "/tmp/tern-bench-blk/disk.img", "image_bytes": 256 << 20, "tools": "/b/tools.img",
           "tools_bytes": 107913216, "queues": 2, "runtime_s": 3, "ramp_s": 1, "jobs": list(fio.BLK_JOBS)}

    def test_guest_cmdline(self):
        line = fio.blk_guest_cmdline(self.blk)
        self.assertLess(len(line), 2048)
        self.assertIn(" tern.jobs=randread,randwrite,seqread ", line)
        self.assertIn("tern.fio.seqread=rw=read:bs=128k:iodepth=8", line)
        # The guest tells the disks apart by size and adds the disk under test as filename=.
        self.assertIn(" tern.sectors=524288 tern.tools_sectors=210768 ", line)
        common = re.search(r"tern\.fio=(\S+)", line).group(1).split(":")
        self.assertFalse(any(o.startswith("filename=") for o in common), common)
        for o in ("direct=1", "ioengine=io_uring", "numjobs=2", "size=134217728",
                  "offset_increment=134217728", "runtime=3", "ramp_time=1"):
            self.assertIn(o, common)
        one = fio.blk_guest_cmdline(dict(self.blk, queues=1))
        self.assertNotIn("offset_increment", one)

    def test_argv(self):
        t = blk_scenario.blk_system("tern", "K", "I", 512, "/b/tern", self.blk)["argv"]
        self.assertIn("path=/tmp/tern-bench-blk/disk.img,queues=2,direct=off", t)
        self.assertIn("path=/b/tools.img,readonly=on,direct=off", t)
        self.assertEqual(t[t.index("--cpus") + 1], "2")
        q = blk_scenario.blk_system("qemu-pc", "K", "I", 512, "/b/tern", self.blk)
        a = q["argv"]
        self.assertEqual((q["kind"], a[a.index("-M") + 1], a[a.index("-smp") + 1]), ("vm", "pc", "2"))
        self.assertIn("file=/tmp/tern-bench-blk/disk.img,if=none,id=d0,format=raw,aio=io_uring,cache.direct=off", a)
        self.assertIn("virtio-blk-pci,drive=d0,iothread=io0,num-queues=2", a)
        self.assertIn("file=/b/tools.img,if=none,id=d1,format=raw,readonly=on", a)
        self.assertEqual(a[a.index("-append") + 1], fio.blk_guest_cmdline(self.blk))
        m = blk_scenario.blk_system("qemu-microvm", "K", "I", 512, "/b/tern", self.blk)["argv"]
        self.assertIn("pcie=on", m[m.index("-M") + 1])
        h = blk_scenario.blk_system("host", "K", "I", 512, "/b/tern", self.blk)
        self.assertEqual(h["kind"], "host")
        rr = h["jobs_argv"]["randread"]
        for o in ("--filename=/tmp/tern-bench-blk/disk.img", "--direct=0", "--ioengine=io_uring", "--rw=randread",
                  "--iodepth=32", "--numjobs=2", "--output-format=json"):
            self.assertIn(o, rr)


class BlkDocument(unittest.TestCase):
    def doc(self):
        figs = scenarios.get("blk").figures
        rec = blk_windows()

        def vm(name):
            return {"available": True, "kind": "vm", "command": [name],
                    "runs": [run(i, **rec[name]["figures"]) for i in (1, 2)]}
        host = {k: v * 60 for k, v in rec["tern"]["figures"].items() if not figs[k].get("vm_only")}
        tern = vm("tern")
        tern["runs"][1]["figures"]["randread_user_exits_per_io"] = 0.0
        tern["runs"].append(run(3, **dict(rec["tern"]["figures"], randread_user_exits_per_io=0.0)))
        scen = {"description": "", "figures": figs, "host_kind": "test-host", "guest": {}, "driver": {},
                "setup": {"summary": "queues=1, runtime 3 s after 1 s ramp; guest fio O_DIRECT"},
                "systems": {"tern": tern, "qemu-pc": vm("qemu-pc"),
                            "host": {"available": True, "kind": "host", "command": ["fio"],
                                     "runs": [run(1, **host)]}}}
        return results_doc("blk", scen)

    def test_host_has_no_exit_figures_and_zero_exits_are_figures(self):
        d = self.doc()
        self.assertEqual(results.validate(d), [])
        scen = d["scenarios"]["blk"]
        self.assertIsNone(scen["systems"]["host"]["stats"]["randread_exits_per_io"])
        self.assertIsNone(scen["ratios"]["host"]["randread_exits_per_io"])
        self.assertAlmostEqual(scen["ratios"]["host"]["randread_iops"], 1 / 60)
        self.assertEqual(scen["systems"]["tern"]["stats"]["randread_user_exits_per_io"]["median"], 0.0)
        self.assertEqual(scen["ratios"]["qemu-pc"]["randread_user_exits_per_io"], 0.0)
        d["scenarios"]["blk"]["systems"]["tern"]["runs"][0]["figures"]["randread_exits_per_io"] = 0.0
        self.assertTrue(any("randread_exits_per_io = 0.0" in p for p in results.validate(d)))

    def test_table(self):
        t = results.table(self.doc())
        self.assertIn("vs host", t)
        self.assertIn("guest fio O_DIRECT", t)
        rows = [ln for ln in t.splitlines() if ln.startswith("randread_exits_per_io")]
        self.assertEqual(len(rows), 1)
        self.assertFalse(any(ln.split()[:1] == ["host"] and "exits" in ln for ln in t.splitlines()))

    def test_plot_grid(self):
        d = self.doc()
        with tempfile.TemporaryDirectory() as work:
            png = os.path.join(work, "blk.png")
            script = plot.plot_script(d, "blk", png, work)
            self.assertIn("set multiplot layout 3,5", script)
            self.assertEqual(script.count("set multiplot next"), 2)  # randread, randwrite: 3 panels of 4
            self.assertIn("set logscale y", script)  # VMs beside host fio
            self.assertIn("O\\\\_DIRECT", script)  # a literal underscore, not a subscript
            with open(os.path.join(work, "blk-randread_exits_per_io.dat")) as f:
                self.assertNotIn('"host"', f.read())
            if not shutil.which("gnuplot"):
                self.skipTest("no gnuplot")
            subprocess.run(["gnuplot"], input=script, text=True, check=True)
            with open(png, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


def net_windows():
    with open(os.path.join(DATA, "net-windows.json")) as f:
        return json.load(f)


def guest_function(script, name):
    """The text of shell function NAME in bench/guests/SCRIPT."""
    with open(os.path.join(os.path.dirname(HERE), "guests", script)) as f:
        text = f.read()
    return re.search(r"^%s\(\) \{.*?^\}\n" % name, text, re.S | re.M).group(0)


class NetGuestLines(unittest.TestCase):
    def test_recorded_consoles(self):
        for name in ("net-tern.serial", "net-qemu-pc.serial"):
            sp = parsers.Lines()
            got = [parsers.parse_net_line(ln) for ln in sp.feed(data(name).encode())]
            got = [g for g in got if g]
            want = [("TERN-NET-READY", None)]
            for w in ["null"] + list(iperf.NET_JOBS):
                want += [("TERN-NET-START", w), ("TERN-NET-END", w), ("TERN-NET", w)]
            self.assertEqual([(m, n) for m, n, _ in got], want, name)
            ready = got[0][2]
            self.assertEqual((ready["dev"], ready["ping"], ready["pairs"], ready["mtu"]), ("eth0", 1, 1, 1500))
            self.assertTrue(ready["features"].startswith("b"))  # kept a string, not an int
            self.assertEqual(got[3][2], {"status": 0, "rx_pkts": 0, "tx_pkts": 0})  # null
            # blk's parser sees none of them, nor the other way round
            self.assertEqual([g for g in (parsers.parse_guest_line(ln) for ln in data(name).splitlines()) if g], [])
        self.assertEqual([g for g in (parsers.parse_net_line(ln) for ln in data("blk-tern.serial").splitlines()) if g], [])

    def test_net_lines(self):
        line = "TERN-NET udp_tx status=0 rx_pkts=15 tx_pkts=6244 rcv_kbps=1060 snd_kbps=1062 secs=3.01 lost=0 " \
               "dgrams=6230 sent_dgrams=6230\r"
        self.assertIn(line.rstrip("\r"), data("net-tern.serial"))
        self.assertEqual(parsers.parse_net_line(line),
                         ("TERN-NET", "udp_tx", {"status": 0, "rx_pkts": 15, "tx_pkts": 6244, "rcv_kbps": 1060,
                                                 "snd_kbps": 1062, "secs": 3.01, "lost": 0, "dgrams": 6230,
                                                 "sent_dgrams": 6230}))
        self.assertEqual(parsers.parse_net_line("[ 9.1] virtio_net: x TERN-NET-END tcp_rx"), ("TERN-NET-END", "tcp_rx", {}))
        self.assertEqual(parsers.parse_net_line("TERN-NET-READY dev=none"), ("TERN-NET-READY", None, {"dev": "none"}))
        kv = parsers.parse_net_line("TERN-NET tcp_rx status=1 rx_pkts=3 tx_pkts=4 rcv_kbps=none snd_kbps=none secs=none")[2]
        self.assertEqual((kv["rcv_kbps"], kv["status"]), ("none", 1))
        # tests/guest/net.sh's markers carry no window name; TERN-NETX is no marker of ours
        for ln in ("TERN-NET-START", "TERN-NET-END", "TERN-NET status=0", "TERN-GUEST-EXIT 0", "go", ""):
            self.assertIsNone(parsers.parse_net_line(ln), ln)

    def test_features(self):
        ready = net_windows()["tern"]["ready"]
        self.assertEqual(parsers.virtio_features(ready["features"]),
                         ["CSUM", "GUEST_CSUM", "GUEST_TSO4", "GUEST_TSO6", "GUEST_ECN", "HOST_TSO4", "HOST_TSO6",
                          "HOST_ECN", "MRG_RXBUF", "INDIRECT_DESC", "EVENT_IDX", "VERSION_1"])
        self.assertEqual(parsers.virtio_features("b0000001"), ["GSO"])
        for bad in ("", "b", "b012", 1100, None):
            self.assertIsNone(parsers.virtio_features(bad), bad)

    def test_warnings(self):
        w = net_windows()
        ready = dict(w["tern"]["ready"], feature_names=parsers.virtio_features(w["tern"]["ready"]["features"]))
        self.assertEqual(iperf.net_warnings(ready, iperf.NET_MAC),
                         ["guest MAC is not the configured one (VIRTIO_NET_F_MAC not negotiated)"])
        self.assertEqual(iperf.net_warnings(dict(ready, mac=iperf.NET_MAC.upper()), iperf.NET_MAC), [])
        self.assertEqual(iperf.net_warnings(None, iperf.NET_MAC), [])

    def test_guest_awk_agrees_with_iperf3(self):
        """bench/guests/net.sh's iperf_summary (busybox awk, as in the guest) on iperf3 3.12's client output."""
        if not os.path.exists("/bin/busybox"):
            self.skipTest("no busybox")
        fn = guest_function("windows.sh", "iperf_summary")
        want = {"tcp_tx": {"rcv_kbps": 23774001, "snd_kbps": 23774761, "secs": 1.0},
                "tcp_rx": {"rcv_kbps": 23397419, "snd_kbps": 23361068, "secs": 1.0},
                "udp_tx": {"rcv_kbps": 142278, "snd_kbps": 145501, "secs": 1.0, "lost": 6252, "dgrams": 284190,
                           "sent_dgrams": 284190}}
        for job, kv in want.items():
            path = os.path.join(DATA, "net-iperf3-%s.txt" % job)
            out = subprocess.run(["/bin/busybox", "sh", "-c", fn + 'iperf_summary "$1"', "sh", path],
                                 stdout=subprocess.PIPE, text=True, check=True).stdout
            self.assertEqual(parsers.parse_net_line("TERN-NET %s status=0 %s" % (job, out.strip()))[2],
                             dict(kv, status=0), job)
        out = subprocess.run(["/bin/busybox", "sh", "-c", fn + "iperf_summary /dev/null"],
                             stdout=subprocess.PIPE, text=True, check=True).stdout
        self.assertEqual(out, "rcv_kbps=none snd_kbps=none secs=none\n")  # iperf3 failed: no figures


class NetServer(unittest.TestCase):
    def load(self, job):
        with open(os.path.join(DATA, "net-server-%s.json" % job)) as f:
            return json.load(f)

    def test_recorded_server_json(self):
        s = parsers.net_server_summary(self.load("tcp_tx"))
        self.assertEqual((s["protocol"], s["reverse"], s["rcv_bytes"]), ("TCP", False, 127139840))
        self.assertAlmostEqual(s["rcv_bps"], 335420166.1273749)
        self.assertNotIn("rcv_pps", s)
        s = parsers.net_server_summary(self.load("tcp_rx"))
        self.assertEqual((s["reverse"], s["rcv_bytes"], s["snd_bytes"]), (True, 0, 302675440))
        s = parsers.net_server_summary(self.load("udp_tx"))
        self.assertEqual((s["protocol"], s["packets"], s["lost"]), ("UDP", 6230, 0))
        self.assertAlmostEqual(s["rcv_pps"], 6230 / 3.00864)
        self.assertEqual(s["rcv_bytes"], 6230 * 64)

    def test_lost_datagrams_are_not_received(self):
        doc = self.load("udp_tx")
        doc["end"]["sum_received"].update(packets=1000, lost_packets=250, seconds=2.0)
        self.assertEqual(parsers.net_server_summary(doc)["rcv_pps"], 375.0)

    def test_bad_documents(self):
        self.assertEqual(parsers.net_server_summary({"error": "unable to receive control message"}),
                         {"error": "unable to receive control message"})
        with self.assertRaises(ValueError):
            parsers.net_server_summary({"start": {}, "end": {}})


class NetExits(unittest.TestCase):
    def test_arith_on_recorded_windows(self):
        w = net_windows()["tern"]["windows"]
        null, err = kvm.exit_arith(w["null"]["before"], w["null"]["after"], 0, per="pkt", what="packets")
        self.assertEqual(err, [])
        self.assertEqual((null["user_exits"], null["delta"]["exits"]), (54, 238))  # the protocol alone
        g = w["tcp_tx"]["guest"]
        pkts = g["rx_pkts"] + g["tx_pkts"]
        self.assertEqual(pkts, 5902)
        res, err = kvm.exit_arith(w["tcp_tx"]["before"], w["tcp_tx"]["after"], pkts, null, per="pkt", what="packets")
        self.assertEqual(err, [])
        self.assertEqual((res["delta"]["io_exits"], res["delta"]["mmio_exits"], res["delta"]["exits"]), (56, 0, 12398))
        self.assertEqual((res["net_user_exits"], res["net_exits"]), (2, 12398 - 238))
        self.assertAlmostEqual(res["user_exits_per_pkt"], 2 / 5902)
        self.assertAlmostEqual(res["exits_per_pkt"], 12160 / 5902)
        self.assertAlmostEqual(res["gross_exits_per_pkt"], 12398 / 5902)
        self.assertNotIn("exits_per_io", res)
        self.assertAlmostEqual(res["window_s"], 3.336, places=3)

    def test_no_packets(self):
        w = net_windows()["tern"]["windows"]
        null = {"user_exits": 54, "delta": {"exits": 238}}
        res, err = kvm.exit_arith(w["udp_tx"]["before"], w["udp_tx"]["after"], 0, null, per="pkt", what="packets")
        self.assertEqual(err, ["no packets in the window (0)"])
        self.assertNotIn("exits_per_pkt", res)


class NetFigures(unittest.TestCase):
    def test_recorded_runs_give_the_recorded_figures(self):
        for name, rec in net_windows().items():
            f, err, exits = iperf.net_vm_figures(rec["windows"], list(iperf.NET_JOBS), rec["ready"], 0, 0,
                                              rec["vhost"], rec["vhost_workers"])
            self.assertEqual(err, [], name)
            # Recorded before CPU sampling existed: the optional figures are absent.
            self.assertEqual(set(f), {k for k, d in scenarios.get("net").figures.items()
                                      if not d.get("optional")}, name)
            for k, v in rec["figures"].items():
                self.assertAlmostEqual(f[k], v, msg="%s %s" % (name, k))
            self.assertEqual(set(exits), {"null"} | set(iperf.NET_JOBS))
        rec = net_windows()["qemu-pc"]
        f, _, _ = iperf.net_vm_figures(rec["windows"], list(iperf.NET_JOBS), rec["ready"], 0, 0)
        self.assertAlmostEqual(f["tcp_rx_mbps"], 834.148)  # the guest's receiver line, in kbit/s
        self.assertAlmostEqual(f["udp_tx_pps"], rec["windows"]["udp_tx"]["server"]["rcv_pps"])
        self.assertAlmostEqual(f["tcp_tx_exits_per_pkt"], (10935 - 245) / (2631 + 2632))
        self.assertEqual(net_windows()["tern-novhost"]["vhost_workers"], [])

    def test_failures_never_become_figures(self):
        rec = net_windows()["tern"]
        w = json.loads(json.dumps(rec["windows"]))
        del w["tcp_rx"]["after"]
        w["udp_tx"]["guest"]["status"] = 1
        w["tcp_tx"]["server"] = {"error": "iperf3 server still running 10 s after the job: killed"}
        f, err, _ = iperf.net_vm_figures(w, list(iperf.NET_JOBS), dict(rec["ready"], ping=0), 0, 1, True, [])
        self.assertIn("guest could not ping the test host (eth0)", err)
        self.assertIn("guest script exited 1", err)
        self.assertIn("vhost=on but 0 vhost worker(s) for the VMM", err)
        self.assertIn("tcp_tx: iperf3 server: iperf3 server still running 10 s after the job: killed", err)
        self.assertTrue(any(e.startswith("tcp_rx: KVM counters not sampled") for e in err), err)
        self.assertIn("udp_tx: iperf3 exited 1", err)
        self.assertNotIn("tcp_tx_mbps", f)
        self.assertNotIn("tcp_rx_exits_per_pkt", f)
        self.assertIn("tcp_rx_mbps", f)  # the guest's own figure stands; the run is failed anyway
        w["tcp_rx"]["guest"]["rcv_kbps"] = "none"
        del w["null"]
        f, err, _ = iperf.net_vm_figures(w, list(iperf.NET_JOBS), None, None, None, False, [4242])
        self.assertIn("no exit (killed at the timeout)", err)
        self.assertIn("no TERN-NET-READY line (no NIC?)", err)
        self.assertIn("vhost=off but 1 vhost worker(s) for the VMM", err)
        self.assertIn("null: no TERN-NET line", err)
        self.assertIn("tcp_rx: guest's receiver rate 'none'", err)
        self.assertIn("udp_tx: no null window to subtract the protocol's exits", err)
        self.assertFalse(any(k.endswith("_per_pkt") for k in f))


class NetSetup(unittest.TestCase):
    net = {"tap": "tbnet0", "mac": iperf.NET_MAC, "host_addr": "169.254.77.1", "guest_addr": "169.254.77.2",
           "prefix": 24, "port": 5201, "time_s": 3, "udp_rate": "0", "jobs": list(iperf.NET_JOBS)}

    def test_guest_cmdline(self):
        line = iperf.net_guest_cmdline(self.net)
        self.assertLess(len(line), 2048)
        for word in ("tern.host=169.254.77.1", "tern.addr=169.254.77.2/24", "tern.netjobs=tcp_tx,tcp_rx,udp_tx",
                     "tern.limit=33", "tern.iperf=-c:169.254.77.1:-p:5201:-t:3:-f:k:--connect-timeout:5000",
                     "tern.iperf.tcp_tx=", "tern.iperf.tcp_rx=-R", "tern.iperf.udp_tx=-u:-l:64:-b:0"):
            self.assertIn(word, line.split())
        self.assertIn("tern.iperf.udp_tx=-u:-l:64:-b:50M", iperf.net_guest_cmdline(dict(self.net, udp_rate="50M")))

    def test_guest_reads_its_words(self):
        """windows.sh's arg (busybox sed) on that command line: each job gets its own words and no one else's."""
        if not os.path.exists("/bin/busybox"):
            self.skipTest("no busybox")
        with open(os.path.join(os.path.dirname(HERE), "guests", "windows.sh")) as f:
            arg = re.search(r"^arg\(\) \{.*\}$", f.read(), re.M).group(0)
        with tempfile.NamedTemporaryFile("w", suffix=".cmdline") as c:
            c.write(iperf.net_guest_cmdline(self.net) + "\n")
            c.flush()
            arg = arg.replace("/proc/cmdline", c.name)
            for name, want in (("iperf", "-c:169.254.77.1:-p:5201:-t:3:-f:k:--connect-timeout:5000"),
                               ("iperf\\.tcp_tx", ""), ("iperf\\.tcp_rx", "-R"), ("iperf\\.udp_tx", "-u:-l:64:-b:0"),
                               ("netjobs", "tcp_tx,tcp_rx,udp_tx"), ("jobs", None), ("addr", "169.254.77.2/24"),
                               ("limit", "33")):
                out = subprocess.run(["/bin/busybox", "sh", "-c", arg + '\narg "$1"', "sh", name],
                                     stdout=subprocess.PIPE, text=True, check=True).stdout
                self.assertEqual(out, want + "\n" if want is not None else "", name)  # None: not there at all

    def test_argv(self):
        t = net_scenario.net_system("tern", "K", "I", 256, "/b/tern", self.net)
        self.assertTrue(t["vhost"])
        self.assertIn("tap=tbnet0,vhost=on,mac=%s" % iperf.NET_MAC, t["argv"])
        self.assertEqual(t["argv"][t["argv"].index("--cmdline") + 1], iperf.net_guest_cmdline(self.net))
        t = net_scenario.net_system("tern-novhost", "K", "I", 256, "/b/tern", self.net)
        self.assertFalse(t["vhost"])
        self.assertIn("tap=tbnet0,vhost=off,mac=%s" % iperf.NET_MAC, t["argv"])
        q = net_scenario.net_system("qemu-pc", "K", "I", 256, "/b/tern", self.net)["argv"]
        self.assertEqual((q[q.index("-M") + 1], q[q.index("-smp") + 1], q[q.index("-m") + 1]), ("pc", "1", "256"))
        self.assertIn("tap,id=n0,ifname=tbnet0,script=no,downscript=no,vhost=on", q)
        self.assertIn("virtio-net-pci,netdev=n0,mac=%s" % iperf.NET_MAC, q)
        q = net_scenario.net_system("qemu-pc-novhost", "K", "I", 256, "/b/tern", self.net)["argv"]
        self.assertIn("tap,id=n0,ifname=tbnet0,script=no,downscript=no,vhost=off", q)
        m = net_scenario.net_system("qemu-microvm-novhost", "K", "I", 256, "/b/tern", self.net)["argv"]
        self.assertIn("pcie=on", m[m.index("-M") + 1])
        with self.assertRaises(KeyError):
            net_scenario.net_system("host", "K", "I", 256, "/b/tern", self.net)

    def test_known_peers(self):
        s = scenarios.get("net")
        self.assertEqual(s.peers, ["qemu-pc", "tern-novhost", "qemu-pc-novhost"])
        self.assertEqual(set(s.known_peers), {"qemu-pc", "qemu-pc-novhost", "qemu-microvm",
                                                 "qemu-microvm-novhost", "tern-novhost"})


class NetDocument(unittest.TestCase):
    def doc(self):
        figs = scenarios.get("net").figures
        rec = net_windows()

        def vm(name, scale=1.0):
            return {"available": True, "kind": "vm", "command": [name],
                    "runs": [run(i, **{k: v * scale for k, v in rec[name]["figures"].items()}) for i in (1, 2)]}
        systems = {"tern": vm("tern"), "qemu-pc": vm("qemu-pc"), "tern-novhost": vm("tern-novhost"),
                   "qemu-pc-novhost": vm("qemu-pc-novhost")}
        systems["tern"]["runs"][0]["warnings"] = ["guest MAC is not the configured one"]
        scen = {"description": "", "figures": figs, "host_kind": "test-host", "guest": {}, "driver": {},
                "setup": {"summary": "iperf3 -t 3 per job (UDP: -l 64 -b 0)"}, "systems": systems}
        return results_doc("net", scen)

    def test_pairs(self):
        d = self.doc()
        self.assertEqual(results.validate(d), [])
        scen = d["scenarios"]["net"]
        self.assertEqual(scen["ratio_base"], {"qemu-pc": "tern", "qemu-pc-novhost": "tern-novhost"})
        self.assertEqual(set(scen["ratios"]), {"qemu-pc", "qemu-pc-novhost"})
        rec = net_windows()
        self.assertAlmostEqual(scen["ratios"]["qemu-pc"]["tcp_tx_mbps"],
                               rec["tern"]["figures"]["tcp_tx_mbps"] / rec["qemu-pc"]["figures"]["tcp_tx_mbps"])
        self.assertAlmostEqual(scen["ratios"]["qemu-pc-novhost"]["udp_tx_pps"],
                               rec["tern-novhost"]["figures"]["udp_tx_pps"] /
                               rec["qemu-pc-novhost"]["figures"]["udp_tx_pps"])
        # Without tern-novhost in the run, the vhost=off peer is compared with tern.
        self.assertEqual(stats.ratio_base("qemu-pc-novhost", {"tern": {}, "qemu-pc-novhost": {}}), "tern")
        self.assertIsNone(stats.ratio_base("tern-novhost", {}))
        self.assertEqual(stats.ratio_base("qemu-pc", {"tern-novhost": {}}), "tern")

    def test_table(self):
        t = results.table(self.doc())
        self.assertIn("tern vs qemu-pc, tern-novhost vs qemu-pc-novhost", t)
        rows = {ln.split()[0]: ln for ln in t.splitlines() if ln.startswith("tcp_tx_mbps")}
        head = [ln for ln in t.splitlines() if ln.startswith("figure")][0]
        self.assertTrue(head.rstrip().endswith("vs qemu-pc vs qemu-pc-novhost"), head)
        self.assertTrue(rows["tcp_tx_mbps"].rstrip().endswith("%.2f" % (335.42 / 300.45)), rows)
        novhost = [ln for ln in t.splitlines() if ln.split()[:1] == ["tern-novhost"]][0]
        self.assertTrue(novhost.endswith("%.2f" % (301.628 / 224.339)), novhost)  # in the vhost=off column
        self.assertGreater(len(novhost), len(rows["tcp_tx_mbps"]))
        self.assertIn("note: tern guest MAC is not the configured one (run 1)", t)

    def test_plot(self):
        d = self.doc()
        with tempfile.TemporaryDirectory() as work:
            png = os.path.join(work, "net.png")
            script = plot.plot_script(d, "net", png, work)
            self.assertIn("set multiplot layout 3,4", script)
            self.assertIn("compared with tern (no vhost)", script)
            self.assertNotIn("tcp_tx:", script)
            with open(os.path.join(work, "net-tcp_tx_mbps.dat")) as f:
                dat = f.read().splitlines()[1:]
            self.assertEqual(len(dat), 4)
            self.assertIn('"tern\\n(no vhost)"', dat[2])
            self.assertIn('""', dat[2])  # tern's own variant gets no ratio
            self.assertIn('"tern/peer %.2f"' % (301.628 / 224.339), dat[3])
            self.assertIn('"335\\n(n=2)"', dat[0])  # four bars: no unit in the label
            if not shutil.which("gnuplot"):
                self.skipTest("no gnuplot")
            subprocess.run(["gnuplot"], input=script, text=True, check=True)
            with open(png, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


class CpuPerIo(unittest.TestCase):
    def test_cpu_per_io_less_the_null_window(self):
        before = {"dirs": ["1-2"], "t": 0.0, "cpu_ticks": 100, "exits": 0, "io_exits": 0, "mmio_exits": 0}
        after = {"dirs": ["1-2"], "t": 1.0, "cpu_ticks": 100 + 2 * kvm.CLK_TCK, "exits": 10, "io_exits": 1,
                 "mmio_exits": 0}
        null = {"user_exits": 0, "delta": {"exits": 0}, "cpu_s": 0.5}
        res, errs = kvm.exit_arith(before, after, 1000, null)
        self.assertEqual(errs, [])
        self.assertAlmostEqual(res["cpu_us_per_io"], 1500.0)

    def test_vmm_cpu_ticks_counts_vhost_workers(self):
        with tempfile.TemporaryDirectory() as d:
            def proc(pid, comm, ut, st):
                os.makedirs(os.path.join(d, str(pid)))
                with open(os.path.join(d, str(pid), "comm"), "w") as f:
                    f.write(comm + "\n")
                fields = ["S"] + ["0"] * 10 + [str(ut), str(st)] + ["0"] * 30
                with open(os.path.join(d, str(pid), "stat"), "w") as f:
                    f.write("%d (%s) %s\n" % (pid, comm, " ".join(fields)))
            proc(42, "tern (x)", 10, 5)
            proc(43, "vhost-42", 7, 1)
            proc(44, "vhost-99", 100, 100)
            self.assertEqual(kvm.vmm_cpu_ticks(42, proc=d), 23)


def legacy_windows():
    with open(os.path.join(DATA, "legacy-windows.json")) as f:
        return json.load(f)


def busybox_fn(script, fn, call, *args):
    """Runs shell function FN of bench/guests/SCRIPT with busybox sh: CALL is the command line after it."""
    out = subprocess.run(["/bin/busybox", "sh", "-c", guest_function(script, fn) + call, "sh"] + list(args),
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    return out


class Legacy(unittest.TestCase):
    def test_recorded_consoles(self):
        """One boot: the fio windows, then the NIC's; the slow path's disk is sda behind ata_piix, its NIC an e1000."""
        for name, disk, tools, drv in (("tern-legacy", "sda", "vda", "e1000"), ("tern", "vda", "vdb", "virtio_net")):
            got = []
            for ln in parsers.Lines().feed(data("legacy-%s.serial" % name).encode()):
                g = parsers.parse_guest_line(ln) or parsers.parse_net_line(ln)
                if g:
                    got.append(g)
            want = [("TERN-BLK-READY", None)]
            for w in ["null"] + legacy_scenario.LEGACY_BLK_JOBS:
                want += [("TERN-FIO-START", w), ("TERN-FIO-END", w), ("TERN-FIO", w)]
            want += [("TERN-NET-READY", None)]
            for w in ["null"] + legacy_scenario.LEGACY_NET_JOBS:
                want += [("TERN-NET-START", w), ("TERN-NET-END", w), ("TERN-NET", w)]
            self.assertEqual([(m, n) for m, n, _ in got], want, name)
            self.assertEqual((got[0][2]["disk"], got[0][2]["tools"]), (disk, tools), name)
            self.assertEqual(got[3][2], {"status": 0, disk + "_ios": 0, tools + "_ios": 0})  # null
            self.assertEqual(got[10][2]["driver"], drv)

    def test_recorded_runs_give_the_recorded_figures(self):
        figs = scenarios.get("legacy").figures
        for name, rec in legacy_windows().items():
            f, err, exits = legacy_scenario.legacy_vm_figures(rec["windows"], rec["net_windows"], legacy_scenario.LEGACY_BLK_JOBS,
                                                 legacy_scenario.LEGACY_NET_JOBS, rec["ready"], rec["net_ready"], 0, 0,
                                                 rec["system"], rec["vhost_workers"])
            self.assertEqual(err, [], name)
            self.assertEqual(set(f), set(figs), name)
            for k, v in rec["figures"].items():
                self.assertAlmostEqual(f[k], v, msg="%s %s" % (name, k))
            self.assertEqual((set(exits["blk"]), set(exits["net"])),
                             ({"null"} | set(legacy_scenario.LEGACY_BLK_JOBS), {"null"} | set(legacy_scenario.LEGACY_NET_JOBS)))
        # IDE: every request is PIO exits to tern (the taskfile, bus-master DMA, status), none for virtio-blk.
        w = legacy_windows()["tern-legacy"]["windows"]
        d = {k: w["randread"]["after"][k] - w["randread"]["before"][k] for k in ("io_exits", "mmio_exits")}
        n = {k: w["null"]["after"][k] - w["null"]["before"][k] for k in ("io_exits", "mmio_exits")}
        g = w["randread"]["guest"]
        f, _, _ = legacy_scenario.legacy_vm_figures(w, legacy_windows()["tern-legacy"]["net_windows"], ["randread"], [], None,
                                       None, 0, 0, {})
        self.assertAlmostEqual(f["randread_user_exits_per_io"],
                               (d["io_exits"] + d["mmio_exits"] - n["io_exits"] - n["mmio_exits"]) /
                               (g["sda_ios"] + g["vda_ios"]))
        self.assertGreater(f["randread_user_exits_per_io"], 10)

    def test_the_wrong_path_fails_the_run(self):
        rec = legacy_windows()["tern-legacy"]
        _, err, _ = legacy_scenario.legacy_vm_figures(rec["windows"], rec["net_windows"], legacy_scenario.LEGACY_BLK_JOBS, legacy_scenario.LEGACY_NET_JOBS,
                                         rec["ready"], rec["net_ready"], 0, 0, legacy_windows()["tern"]["system"],
                                         rec["vhost_workers"])
        self.assertIn("disk under test is 'sda' in the guest, want vd*", err)
        self.assertIn("guest NIC driven by 'e1000', want virtio_net", err)
        self.assertIn("vhost=on but 0 vhost worker(s) for the VMM", err)
        _, err, _ = legacy_scenario.legacy_vm_figures(rec["windows"], {}, legacy_scenario.LEGACY_BLK_JOBS, legacy_scenario.LEGACY_NET_JOBS,
                                         dict(rec["ready"], disk="vdb"), None, 0, 0, rec["system"])
        self.assertIn("disk under test is 'vdb' in the guest, want sd*", err)
        self.assertIn("no TERN-NET-READY line (no NIC?)", err)
        self.assertIn("tcp_tx: no TERN-NET line", err)

    def test_counts(self):
        self.assertEqual(fio.blk_count({"status": 0, "sda_ios": 5, "vda_ios": 2, "ios": 100, "iops": 3.5}), 7)
        self.assertEqual(fio.blk_count({"status": 0, "vda_ios": 0, "vdb_ios": 0}), 0)
        self.assertIsNone(fio.blk_count({"status": 0, "ios": 100}))
        self.assertIsNone(fio.blk_count({"sda_ios": 5, "vda_ios": "x"}))
        self.assertEqual(iperf.net_count({"rx_pkts": 3, "tx_pkts": 4, "rx_bytes": 9}), 7)
        self.assertAlmostEqual(iperf.net_mib({"rx_bytes": 3 << 20, "tx_bytes": 1 << 19}), 3.5)
        self.assertIsNone(iperf.net_mib({"rx_bytes": 0, "tx_bytes": 0}))
        self.assertIsNone(iperf.net_mib({"rx_pkts": 3}))

    def test_exits_per_mib(self):
        rec = legacy_windows()["tern-legacy"]
        w = json.loads(json.dumps(rec["net_windows"]))
        g = w["tcp_rx"]["guest"]
        g.update(rx_bytes=20 << 20, tx_bytes=4 << 20)
        f, err, ex = windows.window_figures(iperf.WINDOWS, w, ["tcp_rx"], per_mib=True)
        self.assertEqual(err, [])
        self.assertAlmostEqual(f["tcp_rx_user_exits_per_mib"], ex["tcp_rx"]["net_user_exits"] / 24)
        self.assertAlmostEqual(f["tcp_rx_exits_per_mib"], ex["tcp_rx"]["net_exits"] / 24)
        self.assertAlmostEqual(f["tcp_rx_user_exits_per_pkt"] * (g["rx_pkts"] + g["tx_pkts"]),
                               ex["tcp_rx"]["net_user_exits"])
        del g["rx_bytes"]
        f, err, _ = windows.window_figures(iperf.WINDOWS, w, ["tcp_rx"], per_mib=True)
        self.assertIn("tcp_rx: no bytes moved (rx_bytes None, tx_bytes 4194304)", err)
        self.assertNotIn("tcp_rx_exits_per_mib", f)
        f, err, _ = windows.window_figures(iperf.WINDOWS, w, ["tcp_rx"])  # the net scenario has no per-MiB figures
        self.assertEqual(err, [])
        self.assertNotIn("tcp_rx_exits_per_mib", f)

    def test_argv(self):
        blk = dict(BlkSetup.blk, queues=1, jobs=legacy_scenario.LEGACY_BLK_JOBS)
        net = dict(NetSetup.net, jobs=legacy_scenario.LEGACY_NET_JOBS)
        old = legacy_scenario.legacy_system("tern-legacy", "K", "I", 512, "/b/tern", blk, net)
        new = legacy_scenario.legacy_system("tern", "K", "I", 512, "/b/tern", blk, net)
        a, b = old["argv"], new["argv"]
        self.assertEqual(a[a.index("--machine") + 1], "pc")
        self.assertNotIn("--machine", b)
        self.assertIn("path=/tmp/tern-bench-blk/disk.img,if=ide,direct=off", a)
        self.assertIn("path=/tmp/tern-bench-blk/disk.img,direct=off", b)
        for x in (a, b):
            self.assertIn("path=/b/tools.img,readonly=on,direct=off", x)  # virtio in both
            self.assertEqual(x[x.index("--cpus") + 1], "1")
        self.assertIn("tap=tbnet0,model=e1000,mac=%s" % iperf.NET_MAC, a)
        self.assertIn("tap=tbnet0,vhost=on,mac=%s" % iperf.NET_MAC, b)
        self.assertEqual((old["vhost"], old["disk_dev"], old["nic_driver"]), (False, "sd", "e1000"))
        self.assertEqual((new["vhost"], new["disk_dev"], new["nic_driver"]), (True, "vd", "virtio_net"))
        line = a[a.index("--cmdline") + 1].split()
        self.assertEqual(line, b[b.index("--cmdline") + 1].split())  # the same guest
        for w in ("tern.jobs=randread,seqread", "tern.netjobs=tcp_tx,tcp_rx", "tern.sectors=524288",
                  "tern.iperf.tcp_rx=-R", "tern.fio.seqread=rw=read:bs=128k:iodepth=8"):
            self.assertIn(w, line)

    def doc(self):
        figs = scenarios.get("legacy").figures
        rec = legacy_windows()

        def vm(name):
            return {"available": True, "kind": "vm", "command": [name], "runs": [run(1, **rec[name]["figures"])]}
        scen = {"description": "", "figures": figs, "host_kind": "test-host", "guest": {}, "driver": {},
                "subject": "tern-legacy", "setup": {"summary": "one boot"},
                "systems": {"tern-legacy": vm("tern-legacy"), "tern": vm("tern")}}
        return results_doc("legacy", scen)

    def test_ratio_is_the_slow_path_over_the_fast_one(self):
        d = self.doc()
        self.assertEqual(results.validate(d), [])
        scen = d["scenarios"]["legacy"]
        self.assertEqual(scen["ratio_base"], {"tern": "tern-legacy"})
        rec = legacy_windows()
        self.assertAlmostEqual(scen["ratios"]["tern"]["randread_iops"],
                               rec["tern-legacy"]["figures"]["randread_iops"] / rec["tern"]["figures"]["randread_iops"])
        self.assertLess(scen["ratios"]["tern"]["randread_iops"], 1)
        t = results.table(d)
        self.assertIn("ratio = tern-legacy median / peer median", t)
        row = [ln for ln in t.splitlines() if ln.startswith("randread_iops")][0]
        self.assertEqual(row.split()[2], "tern-legacy")
        self.assertTrue(row.endswith("%.2f" % scen["ratios"]["tern"]["randread_iops"]), row)
        del d["scenarios"]["legacy"]["systems"]["tern-legacy"]
        self.assertIn("scenarios.legacy: no tern-legacy", results.validate(d))

    def test_plot(self):
        d = self.doc()
        with tempfile.TemporaryDirectory() as work:
            png = os.path.join(work, "legacy.png")
            script = plot.plot_script(d, "legacy", png, work)
            self.assertIn("set multiplot layout 4,6", script)  # 2 fio rows, 2 iperf3 rows with per-MiB panels
            self.assertIn("tern-legacy/peer: tern-legacy's median", script)
            with open(os.path.join(work, "legacy-randread_iops.dat")) as f:
                dat = f.read().splitlines()[1:]
            self.assertIn('""', dat[0])  # the subject's own bar carries no ratio
            self.assertIn('"ratio %.2f"' % d["scenarios"]["legacy"]["ratios"]["tern"]["randread_iops"], dat[1])
            if not shutil.which("gnuplot"):
                self.skipTest("no gnuplot")
            subprocess.run(["gnuplot"], input=script, text=True, check=True)

    def test_guest_deltas(self):
        """windows.sh's deltas (busybox awk): per key, the first line's order, counters past 2^31."""
        if not os.path.exists("/bin/busybox"):
            self.skipTest("no busybox")
        out = busybox_fn("windows.sh", "deltas", '\ndeltas "$1" "$2"', "sda_ios=5 vda_ios=100 rx_bytes=1",
                         "vda_ios=101 rx_bytes=16721905092 sda_ios=17")
        self.assertEqual(out, "sda_ios=12 vda_ios=1 rx_bytes=16721905091\n")
        _, _, kv = parsers.parse_guest_line("TERN-FIO x status=0 " + out.strip())
        self.assertEqual(fio.blk_count(kv), 13)  # DEV_ios only


class VhostUser(unittest.TestCase):
    blk = dict(BlkSetup.blk, queues=1)
    vu = {"socket": "/tmp/tern-bench-vhost-user-1/vu.sock", "tern_blk": "/o/tern-blk.bin",
          "qsd": "/usr/bin/qemu-storage-daemon"}

    def test_argv(self):
        t = vu_scenario.vu_system("tern-ternblk", "K", "I", 512, "/o/tern.bin", self.blk, self.vu)
        self.assertIn("vhost-user=/tmp/tern-bench-vhost-user-1/vu.sock,queues=1", t["argv"])
        self.assertIn("path=/b/tools.img,readonly=on,direct=off", t["argv"])
        self.assertEqual(t["backend"]["argv"], ["/o/tern-blk.bin", "--socket", self.vu["socket"], "--image",
                                                self.blk["image"], "--queues", "1"])
        q = vu_scenario.vu_system("tern-qsd", "K", "I", 512, "/o/tern.bin", self.blk, self.vu)
        self.assertEqual(q["argv"], t["argv"])  # the same frontend
        b = q["backend"]["argv"]
        self.assertEqual(b[0], "/usr/bin/qemu-storage-daemon")
        self.assertEqual(b[b.index("--blockdev") + 1], "driver=file,node-name=f,filename=%s,cache.direct=off,"
                                                       "aio=io_uring" % self.blk["image"])
        self.assertEqual(b[b.index("--export") + 1], "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,"
                                                     "addr.path=%s,writable=on,num-queues=1" % self.vu["socket"])
        m = vu_scenario.vu_system("qemu-ternblk", "K", "I", 512, "/o/tern.bin", self.blk, self.vu)
        a = m["argv"]
        self.assertEqual(m["backend"]["argv"], t["backend"]["argv"])
        self.assertEqual(a[a.index("-m") + 1], "512")
        self.assertIn("memory-backend-memfd,id=mem,size=512M,share=on", a)
        self.assertEqual(a[a.index("-numa") + 1], "node,memdev=mem")
        self.assertIn("socket,id=c0,path=%s" % self.vu["socket"], a)
        self.assertIn("vhost-user-blk-pci,chardev=c0,num-queues=1", a)
        self.assertEqual(a[a.index("-append") + 1], fio.blk_guest_cmdline(self.blk))
        self.assertEqual(vu_scenario.vu_system("host", "K", "I", 512, "/o/tern.bin", self.blk, self.vu)["kind"], "host")
        with self.assertRaises(KeyError):
            vu_scenario.vu_system("qemu-pc", "K", "I", 512, "/o/tern.bin", self.blk, self.vu)

    def test_recorded_runs_give_the_recorded_figures(self):
        """Run 1 of the three VMs: tern puts the vhost-user disk after its local tools disk (vdb), QEMU in command
        line order (vda); the guest found each by size. CPU per I/O counts the backend too."""
        recs = json.load(open(os.path.join(DATA, "vu-windows.json")))
        figs = scenarios.get("vhost-user").figures
        for name, disk in (("tern-ternblk", "vdb"), ("tern-qsd", "vdb"), ("qemu-ternblk", "vda")):
            rec = recs[name]
            ready = [parsers.parse_guest_line(ln) for ln in parsers.Lines().feed(data("vu-%s.serial" % name).encode())]
            ready = [g[2] for g in ready if g and g[0] == "TERN-BLK-READY"]
            self.assertEqual(ready, [rec["ready"]], name)
            self.assertEqual(rec["ready"]["disk"], disk, name)
            f, err, exits = fio.blk_vm_figures(rec["windows"], list(fio.BLK_JOBS), rec["ready"], 1, 0, 0)
            self.assertEqual(err, [], name)
            self.assertEqual(set(f), set(figs), name)
            for k, v in rec["figures"].items():
                self.assertAlmostEqual(f[k], v, msg="%s %s" % (name, k))
            g = rec["windows"]["randread"]["guest"]
            self.assertEqual(fio.blk_count(g), g[disk + "_ios"] + g[rec["ready"]["tools"] + "_ios"])
            for j in fio.BLK_JOBS:
                e = exits[j]
                self.assertGreater(e["backend_cpu_s"], 0, name)
                self.assertAlmostEqual(f[j + "_cpu_us_per_io"], (e["cpu_s"] - exits["null"]["cpu_s"]) * 1e6 / e["ios"])
                self.assertAlmostEqual(f[j + "_backend_cpu_us_per_io"],
                                       (e["backend_cpu_s"] - exits["null"]["backend_cpu_s"]) * 1e6 / e["ios"])
                self.assertLess(f[j + "_backend_cpu_us_per_io"], f[j + "_cpu_us_per_io"])
            self.assertEqual(rec["backend"]["exit_status"], 0)  # both backends stop cleanly on SIGTERM
        self.assertEqual(recs["tern-qsd"]["backend"]["name"], "qsd")

    def test_ratios_are_tern_blk_over_each(self):
        systems = {n: {} for n in ("tern-ternblk", "tern-qsd", "qemu-ternblk", "host")}
        self.assertEqual({n: stats.ratio_base(n, systems, "tern-ternblk") for n in systems},
                         {"tern-ternblk": None, "tern-qsd": "tern-ternblk", "qemu-ternblk": "tern-ternblk",
                          "host": "tern-ternblk"})
        s = scenarios.get("vhost-user")
        self.assertEqual((s.subject, s.peers), ("tern-ternblk", ["tern-qsd", "qemu-ternblk", "host"]))
        self.assertIn("backend", s.figures["randread_cpu_us_per_io"]["what"])

    def test_unix_listening(self):
        with tempfile.TemporaryDirectory() as d:
            import socket
            path = os.path.join(d, "s")
            lst = socket.socket(socket.AF_UNIX)
            lst.bind(path)
            try:
                self.assertFalse(backend.unix_listening(path))  # bound, not yet listening
                lst.listen(1)
                self.assertTrue(backend.unix_listening(path))
                self.assertFalse(backend.unix_listening(path + "x"))
            finally:
                lst.close()
            fake = os.path.join(d, "unix")
            with open(fake, "w") as f:
                f.write("Num       RefCount Protocol Flags    Type St Inode Path\n"
                        "0000000000000000: 00000002 00000000 00010000 0001 01 27 /run/a.sock\n"
                        "0000000000000000: 00000003 00000000 00000000 0001 03 28 /run/b.sock\n")
            self.assertTrue(backend.unix_listening("/run/a.sock", fake))
            self.assertFalse(backend.unix_listening("/run/b.sock", fake))

    def backend(self, d, code):
        sock = os.path.join(d, "vu.sock")
        return {"backend": {"name": "fake", "socket": sock, "argv": [sys.executable, "-c", code, sock]}}

    def test_backend_lives_around_the_run(self):
        listen = "import socket, sys, time\ns = socket.socket(socket.AF_UNIX)\ns.bind(sys.argv[1])\ns.listen(1)\n" \
                 "time.sleep(60)\n"
        with tempfile.TemporaryDirectory() as d:
            sysd = self.backend(d, listen)
            seen = []

            def run(pids):
                seen.append(pids)
                self.assertTrue(backend.unix_listening(sysd["backend"]["socket"]))
                return {"ok": True, "errors": [], "figures": {}, "raw": {}}
            rec = backend.with_backend(sysd, os.path.join(d, "r1"), run)
            self.assertEqual(len(seen[0]), 1)
            self.assertEqual(rec["raw"]["backend"]["exit_status"], -15)  # SIGTERM
            self.assertEqual(rec["raw"]["backend"]["pid"], seen[0][0])
            self.assertNotIn("warnings", rec)
            with self.assertRaises(OSError):
                os.kill(seen[0][0], 0)  # gone
            rec = backend.with_backend(self.backend(d, "import sys\nprint('no image')\nsys.exit(3)\n"),
                                  os.path.join(d, "r2"), run)
            self.assertFalse(rec["ok"])
            self.assertEqual(rec["errors"], ["backend fake: exited 3 before listening: no image"])
            self.assertEqual(len(seen), 1)  # no VM without its backend
            rec = backend.with_backend({}, os.path.join(d, "r3"), lambda pids: seen.append(pids) or {})
            self.assertEqual(seen[-1], [])  # no backend, no extra CPU

    def test_backend_cpu_is_sampled_with_the_vmm(self):
        with tempfile.TemporaryDirectory() as root:
            os.mkdir(os.path.join(root, "%d-7" % os.getpid()))
            for k in kvm.KVM_STATS:
                with open(os.path.join(root, "%d-7" % os.getpid(), k), "w") as f:
                    f.write("1\n")
            alone = kvm.kvm_sample(os.getpid(), root)
            both = kvm.kvm_sample(os.getpid(), root, cpu_pids=[os.getppid()])
            self.assertNotIn("backend_cpu_ticks", alone)
            self.assertEqual(both["backend_cpu_ticks"], kvm.proc_ticks(os.getppid()))
            self.assertGreaterEqual(both["cpu_ticks"], alone["cpu_ticks"] + both["backend_cpu_ticks"])
        b = {"dirs": ["1-7"], "cpu_ticks": 100, "backend_cpu_ticks": 40, "exits": 0, "io_exits": 0, "mmio_exits": 0}
        a = dict(b, cpu_ticks=100 + 3 * kvm.CLK_TCK, backend_cpu_ticks=40 + kvm.CLK_TCK, exits=5)
        res, err = kvm.exit_arith(b, a, 1000, {"user_exits": 0, "delta": {"exits": 0}, "cpu_s": 1.0,
                                              "backend_cpu_s": 0.25})
        self.assertEqual(err, [])
        self.assertAlmostEqual(res["backend_cpu_s"], 1.0)
        self.assertAlmostEqual(res["backend_cpu_us_per_io"], 750.0)
        self.assertAlmostEqual(res["cpu_us_per_io"], 2000.0)  # VMM and backend, less the null window


class BlkNative(unittest.TestCase):
    def test_configurations_and_figures(self):
        confs = bn_scenario.configs()
        self.assertEqual(len(confs), 5 * 2 * 2)
        self.assertEqual(confs[0], ("randread-qd1_direct_1q", "randread-qd1", "direct", 1))
        figs = bn_scenario.figures_def()
        # 7 metrics for seqread (MB/s), 6 for the others, per mode and queue count.
        self.assertEqual(len(figs), 4 * (4 * 6 + 7))
        rows = {}
        for f, fd in figs.items():
            self.assertTrue(fd["unit"] and fd["better"] in ("lower", "higher") and fd["optional"], f)
            if fd.get("plot", True):
                rows.setdefault(fd["row"], []).append(f)
        self.assertEqual(sorted(rows), list(range(len(bn_scenario.PLOTTED))))
        self.assertTrue(all(len(v) == 4 for v in rows.values()))
        self.assertIn("seqread_buffered_2q_mbps", rows[5])
        self.assertNotIn("randread-qd32_direct_1q_mbps", figs)

    def test_a_run_of_some_configurations_holds_only_their_figures(self):
        from ternbench import cli
        from ternbench.scenario import Context
        captured, real = {}, cli.cmd_run
        cli.cmd_run = lambda a: captured.setdefault("args", a) and 0
        try:
            cli.main(["run", "blk-native", "--blk-native-jobs", "randread-qd1,seqread", "--blk-native-modes",
                      "direct", "--blk-native-queues", "1", "--blk-native-complete", "poll"])
        finally:
            cli.cmd_run = real
        args = captured["args"]
        with tempfile.TemporaryDirectory() as d:
            plan = scenarios.get("blk-native").setup(Context(args, "blk-native", d, "/x/tern",
                                                             {"tern-blk": "/x/tern-blk", "vdrive": "/x/vdrive"},
                                                             None, ["tern-blk", "tern-inproc", "qsd", "fio"]))
        keys = ("randread-qd1_direct_1q_", "seqread_direct_1q_")
        self.assertTrue(all(f.startswith(keys) for f in plan.figures), list(plan.figures))
        self.assertIn("randread-qd1_direct_1q_p99_us", plan.figures)
        self.assertIn("seqread_direct_1q_mbps", plan.figures)
        self.assertEqual(len(plan.figures), 6 + 7)
        self.assertEqual(plan.figures["seqread_direct_1q_mbps"], bn_scenario.figures_def()["seqread_direct_1q_mbps"])
        self.assertIn("--complete poll", plan.setup["commands"]["randread-qd1_direct_1q"]["tern-blk"])
        self.assertEqual(plan.setup["vdrive_complete"], "poll")

    def test_vdrive_figures(self):
        doc = json.loads(data("blk-native-vdrive.json"))
        f, errs = bn_scenario.vdrive_figures(doc, "randread-qd32")
        self.assertEqual(errs, [])
        self.assertEqual(f, {"iops": 48890.7, "p50_us": 391.17, "p99_us": 4620.29, "p999_us": 7700.48,
                             "cpu_us_per_io": 3.116, "driver_us_per_io": 0.25})
        f, _ = bn_scenario.vdrive_figures(doc, "seqread")
        self.assertEqual(f["mbps"], 200.26)
        doc.update(ok=False, error="q0: sector 8 read back wrong")
        f, errs = bn_scenario.vdrive_figures(doc, "randread-qd32")
        self.assertEqual((f, errs), ({}, ["vdrive: q0: sector 8 read back wrong"]))

    def test_fio_figures(self):
        text = "fio: note: something\n" + data("blk-native-fio.json")
        doc = bn_scenario.parse_json(text)
        f, errs = bn_scenario.fio_figures(doc, "seqread", 0.5)
        self.assertEqual(errs, [])
        self.assertAlmostEqual(f["iops"], 20933.266932)
        self.assertAlmostEqual(f["mbps"], 2743.765163)
        self.assertAlmostEqual(f["p50_us"], 126.464)
        self.assertAlmostEqual(f["p99_us"], 12648.448)
        self.assertAlmostEqual(f["p999_us"], 147849.216)
        self.assertAlmostEqual(f["cpu_us_per_io"], 0.5e6 / 20933.266932)
        self.assertNotIn("driver_us_per_io", f)
        f, _ = bn_scenario.fio_figures(doc, "seqread", None)
        self.assertIsNone(f["cpu_us_per_io"])
        del doc["jobs"][0]["read"]["lat_ns"]
        f, errs = bn_scenario.fio_figures(doc, "seqread", 0.5)
        self.assertEqual(f, {})
        self.assertTrue(errs and "lat_ns" in errs[0])
        self.assertIsNone(bn_scenario.parse_json("no json here"))

    def test_command_lines(self):
        bn = {"image": "/d/f.img", "socket": "/d/vu.sock", "size": 1 << 30, "runtime_s": 3, "ramp_s": 1,
              "poll_us": 0, "vdrive": "/b/vdrive", "tern_blk": "/b/tern-blk", "qsd": "/usr/bin/qsd",
              "fio": "/usr/bin/fio"}
        tb = bn_scenario.backend_argv("tern-blk", bn, "direct", 2, bn["socket"])
        self.assertEqual(tb, ["/b/tern-blk", "--socket", "/d/vu.sock", "--image", "/d/f.img", "--queues", "2",
                              "--direct"])
        self.assertNotIn("--direct", bn_scenario.backend_argv("tern-blk", bn, "buffered", 1, bn["socket"]))
        q = " ".join(bn_scenario.backend_argv("qsd", bn, "buffered", 2, bn["socket"]))
        self.assertIn("cache.direct=off", q)
        self.assertIn("num-queues=2,iothread=io0", q)
        self.assertIn("iothread,id=io0 ", q)
        q = bn_scenario.backend_argv("qsd", dict(bn, poll_us=50), "direct", 1, bn["socket"])
        self.assertEqual(q[q.index("--object") + 1], "iothread,id=io0,poll-max-ns=50000")
        v = bn_scenario.system_argv("tern-inproc", dict(bn, poll_us=50), "randwrite-qd1", "direct", 1)
        self.assertEqual(v[v.index("--rw") + 1], "randwrite")
        self.assertEqual(v[v.index("--qd") + 1], "1")
        self.assertEqual(v[-5:], ["--image", "/d/f.img", "--direct", "--poll-us", "50"])
        v = bn_scenario.system_argv("tern-blk", bn, "seqread", "buffered", 2, backend_pid=42)
        self.assertEqual(v[-4:], ["--vhost-user", "/d/vu.sock", "--backend-pid", "42"])
        self.assertNotIn("--hugepages", v)
        self.assertNotIn("--complete", v)
        for system in ("tern-blk", "tern-inproc", "qsd"):
            v = bn_scenario.system_argv(system, dict(bn, complete="poll"), "randread-qd1", "direct", 1,
                                        backend_pid=42)
            self.assertEqual(v[v.index("--complete") + 1], "poll")
        self.assertFalse(any(x.startswith("--complete") for x in
                             bn_scenario.system_argv("fio", dict(bn, complete="poll"), "randread-qd1", "direct", 1)))
        for system in ("tern-blk", "tern-inproc", "qsd"):
            self.assertIn("--hugepages", bn_scenario.system_argv(system, dict(bn, hugepages=True), "seqread",
                                                                 "direct", 1, backend_pid=42))
        self.assertNotIn("--hugepages", bn_scenario.system_argv("fio", dict(bn, hugepages=True), "seqread",
                                                                "direct", 1))
        f = bn_scenario.system_argv("fio", bn, "seqread", "direct", 2)
        self.assertIn("--numjobs=2", f)
        self.assertIn("--direct=1", f)
        self.assertIn("--offset_increment=%d" % (512 << 20), f)
        f = bn_scenario.system_argv("fio", bn, "randread-qd32", "buffered", 2)
        self.assertIn("--invalidate=0", f)
        self.assertFalse(any(x.startswith("--offset_increment") for x in f))


class FirmwareSystems(unittest.TestCase):
    """Each firmware pair boots the same image with the same bios.bin; a run's figures come from the console's
    init line and the VMM's exit, and a run that fails says why instead of giving figures."""

    def test_pairs_boot_the_same_image_and_firmware(self):
        for medium, image in (("", "a.img"), ("-virtio", "v.img"), ("-cd", "cd.iso")):
            t = fw_scenario.fw_argv("tern" + medium, "/b/tern", "/img")
            q = fw_scenario.fw_argv("qemu-pc" + medium, "/b/tern", "/img")
            self.assertIn("/img/" + image, " ".join(t))
            self.assertIn(image, " ".join(q))
            self.assertEqual(t[t.index("--firmware") + 1], q[q.index("-bios") + 1])
            self.assertNotIn("--kernel", t)
            self.assertNotIn("-kernel", q)
            self.assertTrue(os.path.isabs(q[0]) and os.access(q[0], os.X_OK))  # the driver's rule
        # The floor: tern-virtio's machine, memory, console and disk, with the image's own kernel, initramfs and
        # command line in place of the firmware.
        k = fw_scenario.fw_argv("tern-kernel", "/b/tern", "/img", ("/k/bzImage", "/k/initrd", "tern.boot=kernel"))
        v = fw_scenario.fw_argv("tern-virtio", "/b/tern", "/img")
        i = v.index("--firmware")
        self.assertEqual(sorted(k), sorted(v[:i] + v[i + 2:] + ["--kernel", "/k/bzImage", "--initramfs", "/k/initrd",
                                                               "--cmdline", "tern.boot=kernel"]))
        self.assertEqual(k[k.index("--kernel") + 1], "/k/bzImage")
        self.assertEqual(k[k.index("--initramfs") + 1], "/k/initrd")
        self.assertEqual(k[k.index("--cmdline") + 1], "tern.boot=kernel")
        scen = scenarios.get("firmware")
        self.assertTrue(set(scen.peers) <= set(scen.known_peers))
        self.assertIn("tern-kernel", scen.peers)
        # The floor is compared with nothing; the pairs stay as they were.
        systems = ["tern"] + scen.peers
        self.assertIsNone(stats.ratio_base("tern-kernel", systems, "tern", scen.unpaired))
        self.assertEqual(stats.ratio_base("qemu-pc-virtio", systems, "tern", scen.unpaired), "tern-virtio")
        # Nor is the floor any peer's base, whatever its name ends in.
        self.assertEqual(stats.ratio_base("qemu-pc-kernel", systems, "tern", scen.unpaired), "tern")
        # The results say which systems have no ratio, as the harness writes them.
        self.assertEqual(harness.scenario_head(scen, {}, None, None)["unpaired"], ["tern-kernel"])
        # A boot loader's line is expected of every firmware boot, not of the floor.
        plan = fw_scenario.fw_systems(["tern", "tern-virtio", "tern-cd", "qemu-pc-virtio", "tern-kernel"], "/b/tern",
                                      "/img", ("/k/bzImage", "/k/initrd", "tern.boot=kernel"))
        self.assertEqual({p["name"]: p["loader"] for p in plan},
                         {"tern": True, "tern-virtio": True, "tern-cd": True, "qemu-pc-virtio": True,
                          "tern-kernel": False})
        self.assertEqual(plan[-1]["argv"], k)
        # Each QEMU peer meets the tern system on the same medium.
        self.assertEqual(stats.ratio_base("qemu-pc", systems), "tern")
        self.assertEqual(stats.ratio_base("qemu-pc-virtio", systems), "tern-virtio")
        self.assertEqual(stats.ratio_base("qemu-pc-cd", systems), "tern-cd")
        self.assertEqual(stats.ratio_base("tern-cd", systems), "tern")

    def fake_vmm(self, script):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        path = os.path.join(d, "vmm")
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + script)
        os.chmod(path, 0o755)
        return d, {"name": "x", "argv": [path]}

    def test_run_figures(self):
        d, sysd = self.fake_vmm("echo SeaBIOS; sleep 0.2; echo TERN-GUEST-INIT; echo TERN-GUEST-EXIT 0\n")
        rec = fw_scenario.fw_run({"run_timeout": 20}, sysd, os.path.join(d, "r"))
        self.assertTrue(rec["ok"], rec["errors"])
        self.assertGreaterEqual(rec["figures"]["init_s"], 0.2)
        self.assertGreaterEqual(rec["figures"]["exit_s"], rec["figures"]["init_s"])

    def test_phases(self):
        self.assertEqual(fw_scenario.fw_phases(1.0, 3.5), {"loaded_s": 1.0, "kernel_s": 2.5})
        # What the console did not show is no figure.
        self.assertEqual(fw_scenario.fw_phases(None, 3.5), {})
        self.assertEqual(fw_scenario.fw_phases(1.0, None), {"loaded_s": 1.0})
        # An init before the loader was done is no phase.
        self.assertEqual(fw_scenario.fw_phases(2.0, 1.5), {"loaded_s": 2.0})

    def test_run_phases_from_the_console(self):
        # The loader's line as tern's console shows it (syslinux and SeaBIOS's serial console both write it),
        # its "ok" late.
        d, sysd = self.fake_vmm("printf 'Loading /vmlinuz... ok\\r\\nLoading /initrd..Loading ./initrd...o'; "
                                "sleep 0.3; echo ok; sleep 0.2; echo TERN-GUEST-INIT; echo TERN-GUEST-EXIT 0\n")
        rec = fw_scenario.fw_run({"run_timeout": 20}, sysd, os.path.join(d, "r"))
        self.assertTrue(rec["ok"], rec["errors"])
        f = rec["figures"]
        self.assertGreaterEqual(f["loaded_s"], 0.3)  # not before the "ok"
        self.assertGreaterEqual(f["kernel_s"], 0.2)
        self.assertAlmostEqual(f["loaded_s"] + f["kernel_s"], f["init_s"])
        self.assertEqual(rec["raw"]["t_loaded"], f["loaded_s"])

    def test_loader_line_through_seabios_cursor_moves(self):
        # Both copies of the line cut by SeaBIOS's serial console's cursor moves, as tern's console has shown.
        d, sysd = self.fake_vmm("printf 'Loading /in\\033[06;11H\\033[06;12Hitrd..Loading /in\\033[06;27Hitrd....o'; "
                                "sleep 0.2; printf 'o\\033[06;19H\\033[06;20Hk\\r\\n'; sleep 0.2; "
                                "echo TERN-GUEST-INIT; echo TERN-GUEST-EXIT 0\n")
        sysd["loader"] = True
        rec = fw_scenario.fw_run({"run_timeout": 20}, sysd, os.path.join(d, "r"))
        self.assertTrue(rec["ok"], rec["errors"])
        self.assertGreaterEqual(rec["figures"]["loaded_s"], 0.2)

    def test_a_firmware_boot_without_the_loader_line_fails(self):
        d, sysd = self.fake_vmm("echo SeaBIOS; echo TERN-GUEST-INIT; echo TERN-GUEST-EXIT 0\n")
        sysd["loader"] = True
        rec = fw_scenario.fw_run({"run_timeout": 20}, sysd, os.path.join(d, "r"))
        self.assertFalse(rec["ok"])
        self.assertIn("no 'Loading /initrd... ok' from the boot loader on the console", rec["errors"])
        # The floor has no boot loader.
        sysd["loader"] = False
        rec = fw_scenario.fw_run({"run_timeout": 20}, sysd, os.path.join(d, "r"))
        self.assertTrue(rec["ok"], rec["errors"])

    def test_the_floor_has_no_loader_figures(self):
        # tern-kernel's runs give no loaded_s or kernel_s: the results are still valid, the plot says "not
        # measured" rather than "no successful run".
        fw = dict(init_s=5.0, exit_s=6.0, loaded_s=0.8, kernel_s=4.2)
        scen = {"description": "", "figures": scenarios.get("firmware").figures, "host_kind": "test-host",
                "guest": {}, "driver": {},
                "systems": {
                    "tern": {"available": True, "command": ["tern"], "runs": [run(1, **fw)]},
                    "tern-kernel": {"available": True, "command": ["tern"], "runs": [run(1, init_s=4.5, exit_s=5.5)]}}}
        d = results_doc("firmware", scen)
        self.assertEqual(results.validate(d), [])
        dat = self.plot_data(d)
        self.assertIn("not measured", dat["loaded_s"])
        self.assertNotIn("not measured", dat["init_s"])
        # A system whose runs all failed, or a successful one missing a figure it must give, is no "not measured".
        scen["systems"]["tern-kernel"]["runs"] = [dict(run(1), ok=False, errors=["timeout"])]
        scen["systems"]["tern"]["runs"] = [run(1, init_s=5.0, loaded_s=0.8, kernel_s=4.2)]
        d = results_doc("firmware", scen)
        self.assertIn("scenarios.firmware.systems.tern run 1: exit_s = None", results.validate(d))
        dat = self.plot_data(d)
        self.assertIn("no successful run", dat["loaded_s"])
        self.assertNotIn("not measured", dat["exit_s"])

    @staticmethod
    def plot_data(doc):
        """The firmware plot's script and, by figure, the data file of each panel."""
        with tempfile.TemporaryDirectory() as work:
            out = {"script": plot.plot_script(doc, "firmware", os.path.join(work, "f.png"), work)}
            for f in scenarios.get("firmware").figures:
                with open(os.path.join(work, "firmware-%s.dat" % f)) as fh:
                    out[f] = fh.read()
        return out

    def test_plot_title_names_the_pairs_and_the_floor(self):
        ok = dict(init_s=5.0, exit_s=6.0, loaded_s=0.8, kernel_s=4.2)
        scen = {"description": "", "figures": scenarios.get("firmware").figures, "host_kind": "test-host",
                "guest": {}, "driver": {}, "unpaired": ["tern-kernel"],
                "systems": {n: {"available": True, "command": ["x"], "runs": [run(1, **ok)]}
                            for n in ("tern", "tern-virtio", "qemu-pc-virtio", "tern-kernel")}}
        d = results_doc("firmware", scen)
        self.assertNotIn("tern-kernel", d["scenarios"]["firmware"]["ratios"])
        self.assertNotIn("vs tern-kernel", results.table(d))
        script = self.plot_data(d)["script"]
        self.assertIn("peers are compared with tern, but qemu-pc-virtio with tern-virtio", script)
        self.assertIn("no ratio for tern-kernel", script)
        self.assertIn("no ratio for tern-kernel", results.table(d))
        self.assertNotIn("no vhost", script)
        # A run without the floor does not speak of it.
        del scen["systems"]["tern-kernel"]
        d = results_doc("firmware", scen)
        self.assertNotIn("no ratio", self.plot_data(d)["script"])
        self.assertNotIn("no ratio", results.table(d))

    def test_plot_title_with_vhost_pairs_and_others(self):
        # Only when every pair is a vhost=off one does the title speak of vhost.
        scen = {"description": "", "figures": scenarios.get("firmware").figures, "host_kind": "test-host",
                "guest": {}, "driver": {},
                "systems": {n: {"available": True, "command": ["x"], "runs": [run(1, init_s=5.0, exit_s=6.0)]}
                            for n in ("tern", "tern-novhost", "qemu-novhost", "tern-virtio", "qemu-pc-virtio")}}
        script = self.plot_data(results_doc("firmware", scen))["script"]
        self.assertNotIn("peers marked (no vhost)", script)
        self.assertIn("but qemu-novhost with tern-novhost, qemu-pc-virtio with tern-virtio", script)

    def test_failed_runs_have_no_figures(self):
        d, sysd = self.fake_vmm("echo TERN-GUEST-INIT; echo TERN-GUEST-EXIT 1; exit 3\n")
        rec = fw_scenario.fw_run({"run_timeout": 20}, sysd, os.path.join(d, "r"))
        self.assertFalse(rec["ok"])
        self.assertNotIn("exit_s", rec["figures"])
        self.assertTrue(any("exit status 3" in e for e in rec["errors"]))
        d, sysd = self.fake_vmm("sleep 30\n")
        rec = fw_scenario.fw_run({"run_timeout": 1}, sysd, os.path.join(d, "r"))
        self.assertFalse(rec["ok"])
        self.assertEqual(rec["figures"], {})


if __name__ == "__main__":
    unittest.main(verbosity=2)
