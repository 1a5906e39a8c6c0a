"""The Scenario interface: what a benchmark scenario of tern-bench declares and does. A scenario is one module in
ternbench/scenarios/ holding one Scenario subclass; the registry (ternbench/scenarios/__init__.py) finds it there.

Two sides. `tern-bench run` (harness.py) runs on the machine you type on: it builds the scenario's guest, calls
setup() for the systems' command lines, writes them into a spec (DIR/<scenario>/spec.json) and starts the driver,
inside the test host (tests/host/run: guests on nested KVM) or directly on this machine. The driver (driver.py,
`tern-bench _driver SPEC`) calls prepare() once, run() for each system in rounds, teardown() at the end, and
writes raw.json after every run; the harness then calls finish() and writes results.json. The two sides share
nothing but the spec, so whatever run() needs comes from setup() through Plan.params.

Where the systems run (runs_in): TEST_HOST for guests on KVM (the test host by default, this machine's /dev/kvm
with --host native); NATIVE for systems that need no KVM (a userspace driver against block backends, a DPDK
switch, fio on the host): the driver always runs on this machine then, and without a guest none is built.
"""

TEST_HOST = "test-host"
NATIVE = "native"


class Guest:
    """The guest a scenario boots: tests/host/mkguest's --script (a path in the repository, bench/guests/...),
    --modules, --tools and --files ("SRC:DST", SRC in the repository); its vCPUs (None: chosen per run by
    setup(), e.g. one per queue) and memory in MiB."""

    def __init__(self, script, modules="", tools="", files=(), cpus=1, memory_mib=256):
        self.script, self.modules, self.tools, self.files = script, modules, tools, list(files)
        self.cpus, self.memory_mib = cpus, memory_mib


class Options:
    """A group of `run` options some scenarios read (ctx.args in setup()). ARGUMENTS are (flags, argparse keywords)
    pairs; CHECK(args) returns what is wrong with their values, or None. Scenarios that share a workload share its
    group (fio.OPTIONS, iperf.OPTIONS); `run` adds each group once and checks it whichever scenarios run."""

    def __init__(self, *arguments, check=None):
        self.arguments, self.check = arguments, check

    def add_to(self, parser):
        for flags, kw in self.arguments:
            parser.add_argument(*flags, **kw)


class Context:
    """What setup() gets on the harness side. args: the parsed `run` command line; name: the scenario's; dir: its
    results directory (DIR/<scenario>); tern: the copy of tern every run uses; binaries: {name: copy} of the
    scenario's build_binaries; guest: what mkguest built (kernel, initramfs, script, ...; it goes into the results,
    and setup() may add to it what else the guest gets, such as a tools image), None without a guest; systems: the
    names to run, the subject first, then the peers."""

    def __init__(self, args, name, dir, tern, binaries, guest, systems):
        self.args, self.name, self.dir, self.tern, self.binaries = args, name, dir, tern, binaries
        self.guest, self.systems = guest, systems


class Plan:
    """What setup() returns. systems: [{"name", "kind", "argv", ...}] in ctx.systems' order, everything the driver
    needs to run each (kind "vm" needs /dev/kvm; "host" does not, and vm_only figures do not apply to it; "argv"[0]
    must be an executable where the driver runs, or the system is unavailable; a "backend" {"name", "argv",
    "socket"} is started around each run). params: the scenario's own part of the spec (JSON), e.g. {"blk": {...}},
    which prepare(), run() and teardown() read from the spec. setup: the results' record of how the systems were
    set up (its "summary" line is printed under the table); run_timeout: seconds before one run is killed, unless
    --run-timeout says otherwise; figures: the part of the scenario's figures this run measures, when its options
    chose fewer (the results, their table and plot then hold only those), else None: all of them."""

    def __init__(self, systems, params=None, setup=None, run_timeout=90, figures=None):
        self.systems, self.params, self.setup, self.run_timeout = systems, params or {}, setup, run_timeout
        self.figures = figures


class Unavailable(Exception):
    """prepare() cannot get the scenario ready here: every system is recorded unavailable with this text."""


class Scenario:
    """One benchmark scenario: a subject system (tern, one way or another) against peers, the same workload on
    each, figures per run. Subclass it in a module of ternbench/scenarios/ and set the class attributes; setup()
    and run() are required, the other methods are hooks."""

    name = None  # as on the command line (`tern-bench run NAME`) and in DIR/NAME/: lower case, digits, '-'
    description = ""  # one paragraph, printed by `tern-bench list` and kept in the results
    subject = "tern"  # the system whose median is divided by each peer's
    unpaired = ()  # systems shown beside the others with no ratio (a reference, such as a floor)
    peers = ()  # the peers that run unless --peers names others
    known_peers = ()  # every peer --peers accepts
    # figure -> {"unit", "better": "lower" | "higher", "label" (the plot's panel), "what" (how it is measured);
    # optional: "row" (the plot's panel row), "vm_only" (not for a "host" system), "zero_ok" (0 is a value, as
    # exits per I/O can be), "optional" (a successful run may lack it), "plot": False (in the table and the
    # results, not the plot)}. Written into the results as it is.
    figures = {}
    runs_in = TEST_HOST
    guest = None  # a Guest, or None: no guest is built
    options = ()  # Options groups of `run` that setup() reads
    build_binaries = ()  # programs of the build besides tern that runs use (copied to DIR/NAME.bin; --NAME PATH)
    # {key in the results' versions: a command printing the version of a peer's program (its first line is kept)};
    # every registered scenario's are asked, so that each results file has the same keys.
    tool_versions = {}
    colors = {}  # system -> 0xRRGGBB of its bars (tern, qemu-pc, qemu-microvm, host and *-novhost have theirs)
    plot_labels = {}  # system -> the name under its bar, where the system's name is too long for one line
    order = 100  # its place in `tern-bench list`

    # -- the harness side (the machine you type on) --

    def setup(self, ctx):
        """The systems' command lines and the scenario's parameters for this run: a Plan. ctx: a Context. Raise
        SystemExit with a message for what cannot work (a missing image, a bad option)."""
        raise NotImplementedError

    def finish(self, setup, raw):
        """After the driver: add what it found (raw["driver"], its info dict; raw["systems"]) to the results'
        SETUP record, in place. Only called when there is a setup record and raw.json was read."""

    def systems_help(self):
        """One line about the systems for `tern-bench list`, or None."""
        return None

    # -- the driver side (where the systems run: inside the test host, or natively) --

    def prepare(self, spec, info):
        """Once, before the first run: what every run needs (an image, debugfs, a tap's tools). Put what it found in
        INFO[key] (raw.json's and the results' driver record) as it goes; raise Unavailable if the scenario cannot
        run here."""

    def run(self, spec, system, rdir):
        """One run of SYSTEM (a dict from Plan.systems): the run record {"ok", "errors", "figures", "raw"[,
        "warnings", "started", "serial_log", ...]}. Figures are never pass/fail: a run that failed says why in
        "errors" and gives no figure it could not measure. RDIR is the run's path prefix
        (DIR/<scenario>/runs/<system>-<run>): its logs go to RDIR + ".serial", ".stderr", ..."""
        raise NotImplementedError

    def teardown(self, spec):
        """After the last run (also after a failed one): remove what prepare() made."""
