#!/usr/bin/python3
"""Unit tests of bench/tern-bench's arithmetic and parsers, on outputs recorded in the test host
(bench/tests/data/: tern and QEMU microvm smaps/smaps_rollup sampled while the boot guest idled, and their
serial consoles; qemu-microvm.smaps is trimmed to 18 of its 303 mappings, the guest RAM among them).

Run: /usr/bin/python3 bench/tests/test_bench.py   (or: meson test -C build bench-unit)
"""

import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True  # no __pycache__ beside bench/tern-bench
HERE = os.path.dirname(os.path.realpath(__file__))
DATA = os.path.join(HERE, "data")
SCRIPT = os.path.join(os.path.dirname(HERE), "tern-bench")


def load():
    loader = importlib.machinery.SourceFileLoader("tern_bench", SCRIPT)
    spec = importlib.util.spec_from_loader("tern_bench", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


tb = load()


def data(name):
    with open(os.path.join(DATA, name)) as f:
        return f.read()


def run(n, ok=True, warmup=False, **figures):
    return {"run": n, "ok": ok, "warmup": warmup, "figures": figures, "errors": [] if ok else ["boom"]}


class Arithmetic(unittest.TestCase):
    def test_median(self):
        self.assertEqual(tb.median([3.0]), 3.0)
        self.assertEqual(tb.median([5, 1, 3]), 3)
        self.assertEqual(tb.median([4, 1, 3, 2]), 2.5)
        self.assertEqual(tb.median([2.5, 2.5, 9.0]), 2.5)
        with self.assertRaises(ValueError):
            tb.median([])

    def test_is_figure(self):
        for x in (1, 0.001, 7.5):
            self.assertTrue(tb.is_figure(x))
        for x in (0, -1.0, float("nan"), float("inf"), None, "3", True):
            self.assertFalse(tb.is_figure(x))

    def test_summarize_counts_only_successful_measured_runs(self):
        runs = [run("w1", warmup=True, init_s=99.0), run(1, init_s=7.0), run(2, ok=False, init_s=1.0),
                run(3, init_s=5.0), run(4, init_s=6.0)]
        st = tb.summarize(runs, "init_s")
        self.assertEqual(st, {"n": 3, "median": 6.0, "min": 5.0, "max": 7.0, "values": [7.0, 5.0, 6.0]})
        self.assertIsNone(tb.summarize([run(1, ok=False, init_s=3.0)], "init_s"))
        self.assertIsNone(tb.summarize(runs, "exit_s"))

    def test_ratio(self):
        self.assertAlmostEqual(tb.ratio(7.63, 5.96), 1.28020134, places=6)
        self.assertAlmostEqual(tb.ratio(1.0, 4.0), 0.25)
        self.assertIsNone(tb.ratio(None, 4.0))
        self.assertIsNone(tb.ratio(1.0, 0))
        self.assertIsNone(tb.ratio(1.0, None))

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
        tb.scenario_stats(scen)
        self.assertEqual(scen["systems"]["tern"]["stats"]["init_s"]["median"], 7.0)
        self.assertEqual(scen["systems"]["qemu-pc"]["stats"]["init_s"]["median"], 12.0)
        self.assertEqual(scen["systems"]["qemu-pc"]["failed_runs"], 1)
        self.assertAlmostEqual(scen["ratios"]["qemu-pc"]["init_s"], 7.0 / 12.0)
        self.assertAlmostEqual(scen["ratios"]["qemu-pc"]["pss_overhead_mib"], 1.1 / 52.5)
        self.assertIsNone(scen["ratios"]["qemu-microvm"]["init_s"])
        self.assertNotIn("tern", scen["ratios"])


class Smaps(unittest.TestCase):
    def test_rollup(self):
        r = tb.parse_smaps_rollup(data("tern.smaps_rollup"))
        self.assertEqual(r["Pss"], 107625)
        self.assertEqual(r["Rss"], 108424)
        self.assertEqual(r["Pss_Shmem"], 106532)
        with self.assertRaises(ValueError):
            tb.parse_smaps_rollup("Rss: 1 kB\n")

    def test_smaps_sums_to_rollup(self):
        maps = tb.parse_smaps(data("tern.smaps"))
        self.assertEqual(len(maps), 33)
        self.assertEqual(sum(m["kb"]["Pss"] for m in maps),
                         tb.parse_smaps_rollup(data("tern.smaps_rollup"))["Pss"])

    def test_tern_guest_ram_is_the_memfd(self):
        g = tb.guest_ram(tb.parse_smaps(data("tern.smaps")))
        self.assertEqual(g["name"], "/memfd:tern-ram (deleted)")
        self.assertEqual((g["mappings"], g["size_kb"], g["rss_kb"], g["pss_kb"], g["huge_kb"]),
                         (1, 262144, 106532, 106532, 0))

    def test_qemu_guest_ram_is_anonymous_and_huge(self):
        g = tb.guest_ram(tb.parse_smaps(data("qemu-microvm.smaps")))
        self.assertEqual((g["name"], g["size_kb"], g["pss_kb"], g["huge_kb"]), ("[anon]", 262144, 122880, 122880))

    def test_overhead(self):
        res, err = tb.memory_overhead(data("tern.smaps_rollup"), data("tern.smaps"), 256)
        self.assertEqual(err, [])
        self.assertEqual(res["overhead_kb"], 107625 - 106532)
        self.assertAlmostEqual(res["pss_overhead_mib"], 1093 / 1024)
        self.assertEqual(res["other_anon_huge_kb"], 0)
        res, err = tb.memory_overhead(data("qemu-microvm.smaps_rollup"), data("qemu-microvm.smaps"), 256)
        self.assertEqual(err, [])
        self.assertEqual(res["overhead_kb"], 170887 - 122880)
        self.assertEqual(res["other_anon_huge_kb"], 139264 - 122880)  # QEMU's own THP, outside guest RAM

    def test_overhead_refuses_a_mapping_smaller_than_guest_ram(self):
        res, err = tb.memory_overhead(data("tern.smaps_rollup"), data("tern.smaps"), 512)
        self.assertEqual(len(err), 1)
        self.assertIn("guest RAM not found", err[0])

    def test_memfd_aliases_count_as_guest_ram(self):
        text = ("7f0000000000-7f0010000000 rw-s 00000000 00:01 4242 /memfd:tern-ram (deleted)\n"
                "Size: 262144 kB\nRss: 1000 kB\nPss: 500 kB\n"
                "7f0020000000-7f0030000000 rw-s 00000000 00:01 4242 /memfd:tern-ram (deleted)\n"
                "Size: 262144 kB\nRss: 1000 kB\nPss: 500 kB\n"
                "55d000000000-55d000001000 rw-p 00000000 00:00 0 [heap]\n"
                "Size: 4 kB\nRss: 4 kB\nPss: 4 kB\nVmFlags: rd wr mr mw me ac sd\n")
        g = tb.guest_ram(tb.parse_smaps(text))
        self.assertEqual((g["mappings"], g["pss_kb"], g["rss_kb"]), (2, 1000, 2000))
        res, err = tb.memory_overhead("Pss: 1004 kB\n", text, 256)
        self.assertEqual((res["overhead_kb"], err), (4, []))


class Serial(unittest.TestCase):
    def feed(self, text, step):
        clock = tb.MarkerClock([tb.MARK_INIT, tb.MARK_IDLE, tb.MARK_NOGO], t0=100.0)
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
        return tb.memory_overhead(data("tern.smaps_rollup"), data("tern.smaps"), 256)

    def test_ok(self):
        ov, oerr = self.overhead()
        f, err = tb.boot_figures(self.seen, (7.7, 7.8), 8.0, 0, 0, ov, oerr)
        self.assertEqual(err, [])
        self.assertEqual(f["init_s"], 7.6)
        self.assertAlmostEqual(f["exit_s"], 7.9)  # the 0.1 s pause for the sample is not the VMM's time
        self.assertAlmostEqual(f["pss_overhead_mib"], 1093 / 1024)

    def test_failures_never_become_figures(self):
        ov, oerr = self.overhead()
        f, err = tb.boot_figures(self.seen, (7.7, 7.8), 8.0, 1, 0, ov, oerr)
        self.assertIn("exit status 1", err)
        self.assertNotIn("exit_s", f)
        f, err = tb.boot_figures({}, None, None, None, None, None, [])
        self.assertEqual(f, {})
        self.assertEqual(len(err), 4)
        f, err = tb.boot_figures(dict(self.seen, **{"TERN-BENCH-NOGO": 68.0}), (7.7, 7.8), 70.0, 0, 1, ov, oerr)
        self.assertTrue(any("NOGO" in e for e in err))
        self.assertTrue(any("guest script exited 1" in e for e in err))
        f, err = tb.boot_figures({}, None, 0.5, -6, None, None, [])
        self.assertIn("killed by signal 6 (SIGABRT)", err)
        f, err = tb.boot_figures(self.seen, (7.7, 7.8), 8.0, 0, 0, None, ["memory sample failed: gone"])
        self.assertNotIn("pss_overhead_mib", f)
        self.assertIn("memory sample failed: gone", err)


class Document(unittest.TestCase):
    def doc(self):
        figs = tb.SCENARIOS["boot"]["figures"]
        ok = dict(init_s=7.0, exit_s=7.5, pss_overhead_mib=1.1)
        scen = {"description": "", "figures": figs, "host_kind": "test-host", "guest": {}, "driver": {},
                "systems": {
                    "tern": {"available": True, "command": ["tern"], "runs": [run(1, **ok), run(2, **ok)]},
                    "qemu-microvm": {"available": True, "command": ["qemu"],
                                     "runs": [run(1, init_s=6.0, exit_s=6.3, pss_overhead_mib=47.0)]}}}
        tb.scenario_stats(scen)
        return {"tool": "tern-bench", "format": 1, "started": "x", "elapsed_s": 1.0, "command": ["x"],
                "versions": {"tern": None, "tern_sha256": "0", "qemu": "QEMU", "guest_kernel": "6.1",
                             "l1_kernel": "6.1"},
                "scenarios": {"boot": scen}}

    def test_validate_accepts_a_good_document(self):
        self.assertEqual(tb.validate(self.doc()), [])

    def test_validate_rejects_bad_figures_and_missing_keys(self):
        d = self.doc()
        d["scenarios"]["boot"]["systems"]["tern"]["runs"][0]["figures"]["init_s"] = -1.0
        del d["versions"]["qemu"]
        p = tb.validate(d)
        self.assertTrue(any("init_s = -1.0" in x for x in p), p)
        self.assertIn("missing versions.qemu", p)
        d = self.doc()
        for r in d["scenarios"]["boot"]["systems"]["qemu-microvm"]["runs"]:
            r.update(ok=False, errors=["timeout after 90 s"])
        tb.scenario_stats(d["scenarios"]["boot"])
        self.assertIn("scenarios.boot.systems.qemu-microvm: no successful run", tb.validate(d))

    def test_table_and_json_round_trip(self):
        d = json.loads(json.dumps(self.doc()))
        t = tb.table(d)
        self.assertIn("vs qemu-microvm", t)
        self.assertIn("1.17", t)  # init_s ratio 7.0 / 6.0

    def test_plot(self):
        d = self.doc()
        with tempfile.TemporaryDirectory() as work:
            png = os.path.join(work, "boot.png")
            script = tb.plot_script(d, "boot", png, work)
            self.assertIn("with vectors nohead", script)  # the min-max whiskers
            with open(os.path.join(work, "boot-init_s.dat")) as f:
                dat = f.read()
            self.assertIn('"tern/peer 1.17"', dat)  # 7.0 / 6.0, above the peer's bar
            self.assertIn('"7 s  (n=2)"', dat)
            if not shutil.which("gnuplot"):
                self.skipTest("no gnuplot")
            subprocess.run(["gnuplot"], input=script, text=True, check=True)
            with open(png, "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")


if __name__ == "__main__":
    unittest.main(verbosity=2)
