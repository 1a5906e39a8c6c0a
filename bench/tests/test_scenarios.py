#!/usr/bin/python3
"""Unit tests of tern-bench's Scenario interface and registry (bench/ternbench/scenario.py, scenarios/__init__.py):
every module of ternbench/scenarios/ registers one scenario that declares what the harness needs; a new module
in a directory is found and a broken one refused with its file named; a native scenario made here runs through
the driver (prepare, rounds, teardown, raw.json) and shows up in `list` and `run --help`.

Run: /usr/bin/python3 bench/tests/test_scenarios.py   (or: meson test -C build bench-scenarios)
"""

import contextlib
import io
import json
import os
import sys
import tempfile
import textwrap
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in bench/
HERE = os.path.dirname(os.path.realpath(__file__))
BENCH = os.path.dirname(HERE)
sys.path.insert(0, BENCH)

from ternbench import cli, driver, harness, scenarios  # noqa: E402
from ternbench.scenario import NATIVE, TEST_HOST, Scenario  # noqa: E402
from ternbench.scenarios import ScenarioError, check, discover  # noqa: E402

SCENARIOS_DIR = os.path.join(BENCH, "ternbench", "scenarios")
TOP = os.path.dirname(BENCH)

# A scenario that needs no KVM and no guest: its "systems" are this Python, its figure a number per system.
DUMMY = '''
import os
import sys

from ternbench.scenario import NATIVE, Options, Plan, Scenario

OPTIONS = Options((("--dummy-answer",), dict(type=float, default=1.5, help="dummy: the subject's answer")),
                  check=lambda a: None if a.dummy_answer > 0 else "--dummy-answer > 0")


class Dummy(Scenario):
    name = "{name}"
    description = "a scenario the unit test wrote"
    runs_in = NATIVE
    peers = ["peer"]
    known_peers = ["peer", "other"]
    figures = {{"answer_s": {{"unit": "s", "better": "lower", "label": "answer", "what": "seconds to the answer"}}}}
    options = (OPTIONS,)

    def setup(self, ctx):
        return Plan([{{"name": n, "kind": "host", "argv": [sys.executable]}} for n in ctx.systems],
                    {{"dummy": {{"answer": ctx.args.dummy_answer}}}}, {{"summary": "dummy"}}, run_timeout=10)

    def prepare(self, spec, info):
        with open(os.path.join(spec["dir"], "prepared"), "w") as f:
            f.write("x")
        info["dummy"] = {{"prepared": True}}

    def run(self, spec, system, rdir):
        with open(rdir + ".log", "w") as f:
            f.write(system["name"])
        if system["name"] == "other":
            return {{"ok": False, "errors": ["no answer"], "figures": {{}}, "raw": {{}}}}
        answer = spec["dummy"]["answer"] if system["name"] == "tern" else 3.0
        return {{"ok": True, "errors": [], "figures": {{"answer_s": answer}}, "raw": {{"argv": system["argv"]}}}}

    def teardown(self, spec):
        os.unlink(os.path.join(spec["dir"], "prepared"))
'''


def write(d, name, text):
    with open(os.path.join(d, name + ".py"), "w") as f:
        f.write(textwrap.dedent(text))


_packages = iter(range(1 << 30))


def package():
    """A module-name prefix no other discovery in this process used."""
    return "ternbench_test_scenarios_%d" % next(_packages)


@contextlib.contextmanager
def registered(scen):
    """SCEN in the package's registry for the time of a test."""
    reg = scenarios.registry()
    reg[scen.name] = scen
    try:
        yield scen
    finally:
        del reg[scen.name]


def dummy(name="dummy"):
    with tempfile.TemporaryDirectory() as d:
        write(d, "dummy", DUMMY.format(name=name))
        return discover([d], package())[name]


class Registry(unittest.TestCase):
    def test_every_module_registers_one_scenario(self):
        reg = scenarios.registry()
        modules = sorted(f[:-3] for f in os.listdir(SCENARIOS_DIR) if f.endswith(".py") and not f.startswith("_"))
        self.assertEqual(sorted(type(s).__module__.rsplit(".", 1)[1] for s in reg.values()), modules)
        self.assertTrue({"boot", "blk", "net", "legacy", "vhost-user"} <= set(reg), list(reg))
        self.assertEqual(list(reg)[:5], ["boot", "blk", "net", "legacy", "vhost-user"])  # `list` order
        self.assertIs(scenarios.get("net"), reg["net"])
        with self.assertRaises(KeyError):
            scenarios.get("no-such-scenario")

    def test_every_scenario_declares_what_the_harness_needs(self):
        for name, s in scenarios.registry().items():
            self.assertEqual(check(s), [], name)
            self.assertEqual(s.name, name)
            self.assertIn(s.runs_in, (TEST_HOST, NATIVE), name)
            for f, fd in s.figures.items():
                self.assertIn(fd["better"], ("lower", "higher"), (name, f))
                self.assertTrue(fd["unit"] and fd["label"] and fd["what"], (name, f))
            self.assertNotIn(s.subject, s.known_peers, name)
            self.assertTrue(set(s.peers) <= set(s.known_peers), name)
            if s.guest:
                self.assertTrue(os.path.isfile(os.path.join(TOP, s.guest.script)), (name, s.guest.script))
                for f in s.guest.files:
                    self.assertTrue(os.path.isfile(os.path.join(TOP, f.split(":", 1)[0])), (name, f))
            for b in s.build_binaries:
                self.assertRegex(b, r"^[a-z][a-z0-9-]*$", name)

    def test_a_new_module_is_found(self):
        with tempfile.TemporaryDirectory() as d:
            write(d, "dummy", DUMMY.format(name="dummy"))
            write(d, "_helper", "VALUE = 1\n")  # not a scenario: skipped
            found = discover([d], package())
        self.assertEqual(list(found), ["dummy"])
        s = found["dummy"]
        self.assertIsInstance(s, Scenario)
        self.assertEqual((s.runs_in, s.guest, s.subject), (NATIVE, None, "tern"))

    def test_names_are_unique(self):
        with tempfile.TemporaryDirectory() as d:
            write(d, "one", DUMMY.format(name="twice"))
            write(d, "two", DUMMY.format(name="twice"))
            with self.assertRaises(ScenarioError) as e:
                discover([d], package())
        self.assertIn("scenario twice is also in", str(e.exception))
        self.assertIn("one.py", str(e.exception))
        self.assertIn("two.py", str(e.exception))

    def test_broken_modules_are_refused_by_file(self):
        cases = {
            "nothing": ("X = 1\n", "want one Scenario subclass, found 0"),
            "two": (DUMMY.format(name="a") + "\n\nclass Again(Dummy):\n    name = 'b'\n",
                    "want one Scenario subclass, found 2"),
            "syntax": ("def (:\n", "cannot import: SyntaxError"),
            "nofigures": (DUMMY.format(name="nofig") + "\n\nDummy.figures = {}\n", "no figures"),
            "better": (DUMMY.format(name="better").replace('"better": "lower"', '"better": "less"'),
                       "figure answer_s: better 'less', want lower or higher"),
            "peers": (DUMMY.format(name="peers").replace('peers = ["peer"]', 'peers = ["stranger"]'),
                      "default peers not in known_peers: stranger"),
            "subject": (DUMMY.format(name="subject").replace('known_peers = ["peer", "other"]',
                                                              'known_peers = ["peer", "tern"]'),
                        "the subject tern is among its peers"),
            "unpaired": (DUMMY.format(name="unpaired").replace('peers = ["peer"]', 'peers = ["peer"]\n    unpaired = "other"'),
                         "unpaired 'other': want a list of known peers"),
            "stranger": (DUMMY.format(name="stranger").replace('peers = ["peer"]',
                                                               'peers = ["peer"]\n    unpaired = ["nobody"]'),
                         "unpaired ['nobody']: want a list of known peers"),
            "norun": (DUMMY.format(name="norun").replace("def run(", "def walk("), "no run()"),
            "name": (DUMMY.format(name="Bad Name"), "name 'Bad Name'"),
            "where": (DUMMY.format(name="where").replace("runs_in = NATIVE", "runs_in = 'moon'"), "runs_in 'moon'"),
        }
        for mod, (text, want) in cases.items():
            with tempfile.TemporaryDirectory() as d:
                write(d, mod, text)
                with self.assertRaises(ScenarioError, msg=mod) as e:
                    discover([d], package())
            self.assertIn(mod + ".py", str(e.exception), mod)
            self.assertIn(want, str(e.exception), mod)


class ReadmeExample(unittest.TestCase):
    def test_the_readme_example_is_a_scenario_that_runs(self):
        """bench/README.md's "Adding a scenario" example, as a module of the scenarios package."""
        with open(os.path.join(BENCH, "README.md")) as f:
            text = f.read()
        section = text[text.index("## Adding a scenario"):]
        code = section[section.index("```python\n") + 10:section.index("```\n", section.index("```python"))]
        with tempfile.TemporaryDirectory() as d:
            write(d, "startup", code)
            try:
                found = discover([d], "ternbench.scenarios")  # its relative imports are the package's
            finally:
                sys.modules.pop("ternbench.scenarios.startup", None)
        s = found["startup"]
        self.assertEqual((s.runs_in, s.guest, list(s.figures)), (NATIVE, None, ["version_s"]))
        from ternbench.scenario import Context
        plan = s.setup(Context(None, "startup", "/x", sys.executable, {}, None, ["tern", "qemu"]))
        self.assertEqual([sd["name"] for sd in plan.systems], ["tern", "qemu"])
        rec = s.run({"run_timeout": plan.run_timeout}, plan.systems[0], "/x/runs/tern-1")  # python3 --version
        self.assertTrue(rec["ok"], rec)
        self.assertGreater(rec["figures"]["version_s"], 0)
        rec = s.run({"run_timeout": plan.run_timeout}, {"name": "x", "argv": ["/nonexistent/x"]}, "/x/runs/x-1")
        self.assertEqual((rec["ok"], rec["figures"]), (False, {}))


class NativeScenario(unittest.TestCase):
    """A scenario with no guest and no test host fits: the CLI offers it and its options, the driver runs it here."""

    def test_cli_lists_it_and_adds_its_options_once(self):
        with registered(dummy()):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                self.assertEqual(cli.main(["list"]), 0)
            text = out.getvalue()
            self.assertIn("dummy — a scenario the unit test wrote", text)
            self.assertIn("no guest; natively (no test host), runs interleaved", text)
            self.assertIn("answer_s", text)
            out = io.StringIO()
            with contextlib.redirect_stdout(out), self.assertRaises(SystemExit) as e:
                cli.main(["run", "--help"])
            self.assertEqual(e.exception.code, 0)
            described = [ln.split()[0] for ln in out.getvalue().splitlines() if ln.startswith("  --")]
            self.assertEqual(described.count("--dummy-answer"), 1)
            self.assertEqual(described.count("--blk-queues"), 1)  # blk, legacy and vhost-user share it
            err = io.StringIO()
            with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as e:
                cli.main(["run", "dummy", "--dummy-answer", "-1"])
            self.assertEqual(e.exception.code, 2)
            self.assertIn("--dummy-answer > 0", err.getvalue())
        self.assertNotIn("dummy", scenarios.registry())

    def test_option_checks_run_whatever_the_scenario(self):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), self.assertRaises(SystemExit) as e:
            cli.main(["run", "boot", "--blk-queues", "0"])
        self.assertEqual(e.exception.code, 2)
        self.assertIn("--blk-queues 1..16", err.getvalue())

    def test_it_runs_natively_whatever_host_says(self):
        s = dummy()
        for host in (TEST_HOST, NATIVE):
            args = cli_args(["run", "dummy", "--host", host])
            self.assertEqual(harness.where(s, args), NATIVE)
        self.assertEqual(harness.where(scenarios.get("boot"), cli_args(["run", "boot"])), TEST_HOST)
        self.assertEqual(harness.where(scenarios.get("boot"), cli_args(["run", "boot", "--host", "native"])), NATIVE)

    def test_the_driver_runs_it(self):
        s = dummy()
        with registered(s), tempfile.TemporaryDirectory() as d:
            ctx_args = cli_args(["run", "dummy", "--peers", "peer,other", "--dummy-answer", "2"])
            from ternbench.scenario import Context
            plan = s.setup(Context(ctx_args, "dummy", d, "/x/tern.bin", {}, None, ["tern", "peer", "other"]))
            spec = {"scenario": "dummy", "dir": d, "runs": 2, "warmup": 1, "run_timeout": plan.run_timeout,
                    "memory_mib": None, "figures": s.figures, "systems": plan.systems, "kernel": None,
                    "initramfs": None}
            spec.update(plan.params)
            path = os.path.join(d, "spec.json")
            with open(path, "w") as f:
                json.dump(spec, f)
            with contextlib.redirect_stdout(io.StringIO()) as out:
                self.assertEqual(driver.driver(path), 0)
            with open(os.path.join(d, "raw.json")) as f:
                raw = json.load(f)
            self.assertFalse(os.path.exists(os.path.join(d, "prepared")))  # teardown ran
            self.assertEqual(raw["driver"]["dummy"], {"prepared": True})
            self.assertEqual(list(raw["systems"]), ["tern", "peer", "other"])
            for name, sysd in raw["systems"].items():
                self.assertTrue(sysd["available"], name)
                self.assertEqual([r["run"] for r in sysd["runs"]], ["w1", "1", "2"], name)
                self.assertEqual([r["warmup"] for r in sysd["runs"]], [True, False, False], name)
                self.assertTrue(os.path.isfile(os.path.join(d, "runs", name + "-1.log")), name)
            self.assertEqual(raw["systems"]["tern"]["runs"][1]["figures"], {"answer_s": 2.0})
            self.assertEqual(raw["systems"]["other"]["runs"][2]["errors"], ["no answer"])
            self.assertIn("dummy tern            run 2/2        answer_s 2 s  ok", out.getvalue())
            self.assertIn("dummy other           run 2/2          FAILED: no answer", out.getvalue())

    def test_a_system_that_cannot_run_here_is_unavailable(self):
        s = dummy()
        with registered(s), tempfile.TemporaryDirectory() as d:
            spec = {"scenario": "dummy", "dir": d, "runs": 1, "warmup": 0, "run_timeout": 10, "memory_mib": None,
                    "figures": s.figures, "kernel": None, "initramfs": None, "dummy": {"answer": 1.0},
                    "systems": [{"name": "tern", "kind": "host", "argv": [sys.executable]},
                                {"name": "peer", "kind": "host", "argv": [os.path.join(d, "nothing")]}]}
            path = os.path.join(d, "spec.json")
            with open(path, "w") as f:
                json.dump(spec, f)
            with contextlib.redirect_stdout(io.StringIO()):
                driver.driver(path)
            with open(os.path.join(d, "raw.json")) as f:
                raw = json.load(f)
            self.assertEqual(len(raw["systems"]["tern"]["runs"]), 1)
            self.assertEqual(raw["systems"]["peer"]["runs"], [])
            self.assertIn("is not an executable here", raw["systems"]["peer"]["unavailable"])


def cli_args(argv):
    """The parsed command line, as cli.main would hand it to the command (without running it)."""
    captured = {}
    real = cli.cmd_run
    cli.cmd_run = lambda a: captured.setdefault("args", a) and 0
    try:
        cli.main(argv)
    finally:
        cli.cmd_run = real
    return captured["args"]


if __name__ == "__main__":
    unittest.main(verbosity=2)
