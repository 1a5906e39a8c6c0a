"""The blk-native scenario: tern's block data path measured natively, without KVM or a guest. vdrive
(bench/vdrive/, a userspace virtio-blk driver: split virtqueues in a memfd, kicks and interrupts through eventfds)
drives tern-blk and qemu-storage-daemon over vhost-user and tern's in-process virtio-blk engine (virtio/blk.c on
block/uring.c, in vdrive's own process); fio with io_uring on the same file is the limit. All on one file of the
machine's disk, O_DIRECT and buffered, 1 and 2 queues, the systems interleaved by the driver's rounds.

A system's run is every configuration (job x mode x queues) in turn; a vhost-user backend is started afresh for
each, with that configuration's queues and O_DIRECT or not, and stopped after it. Buffered configurations read
the whole file first so that it sits in the page cache (this is checked nowhere else: a machine that reclaims
cold page cache in the background would otherwise mix disk reads into them), and every configuration starts
after an fsync of the file; an O_DIRECT one also with none of the file in the page cache, whatever the system before
left there."""

import json
import os
import shlex
import shutil
import subprocess
import time

from ..backend import backend_start, backend_stop
from ..scenario import NATIVE, Options, Plan, Scenario, Unavailable
from ..util import fs_type, read_text

SHMEM_THP = "/sys/kernel/mm/transparent_hugepage/shmem_enabled"

SUBJECT = "tern-blk"
INPROC = "tern-inproc"
QSD_PEER = "qsd"
FIO_PEER = "fio"
QSD = "qemu-storage-daemon"
FIO = "fio"

# The jobs, in the order a run does them; bs and queue depth per queue.
JOBS = {
    "randread-qd1": {"rw": "randread", "bs": "4k", "qd": 1, "label": "4k random read QD1"},
    "randread-qd32": {"rw": "randread", "bs": "4k", "qd": 32, "label": "4k random read QD32"},
    "randwrite-qd1": {"rw": "randwrite", "bs": "4k", "qd": 1, "label": "4k random write QD1"},
    "randwrite-qd32": {"rw": "randwrite", "bs": "4k", "qd": 32, "label": "4k random write QD32"},
    "seqread": {"rw": "read", "bs": "128k", "qd": 8, "label": "128k sequential read QD8"},
}
MODES = ("direct", "buffered")
QUEUES = (1, 2)
DEFAULTS = {"runtime_s": 3, "ramp_s": 1, "size_mib": 2048}

# The metrics of every configuration: (suffix, unit, better, what).
CPU_WHAT = ("CPU time (utime + stime) over the measured window, per I/O, of the device: tern-blk's or "
            "qemu-storage-daemon's process (all threads, io_uring's workers included), tern's in-process engine "
            "(vdrive's process less vdrive's own threads), or for fio fio's own usr + sys over the job's runtime")
METRICS = (
    ("iops", "IOPS", "higher", "I/Os completed in the measured window per second (vdrive's, or fio's iops)"),
    ("mbps", "MB/s", "higher", "bytes moved in the measured window per second, 10^6 bytes"),
    ("p50_us", "us", "lower", "median latency, request posted to its completion seen (fio: lat, not clat)"),
    ("p99_us", "us", "lower", "99th percentile latency, as p50"),
    ("p999_us", "us", "lower", "99.9th percentile latency, as p50"),
    ("cpu_us_per_io", "us/IO", "lower", CPU_WHAT),
    ("driver_us_per_io", "us/IO", "lower", "CPU time of vdrive's own threads (the stand-in for the guest) per I/O; "
                                           "fio has none"),
)
# What the plot shows (every figure is in the table and results.json): one row per (job, metric), one panel per
# mode and queue count.
PLOTTED = [("randread-qd32", "iops"), ("randread-qd32", "cpu_us_per_io"), ("randread-qd1", "p99_us"),
           ("randwrite-qd32", "iops"), ("randwrite-qd1", "p99_us"), ("seqread", "mbps")]


def config_key(job, mode, queues):
    return "%s_%s_%dq" % (job, mode, queues)


def configs(jobs=None, modes=None, queues=None):
    """[(key, job, mode, queues)] in run order: every job of JOBS (or the named ones) per mode, per queue count."""
    return [(config_key(j, m, q), j, m, q) for m in (modes or MODES) for q in (queues or QUEUES)
            for j in (jobs or JOBS)]


def figures_def(chosen=None):
    """Every configuration's figures, or those of the CHOSEN configurations ([(key, job, mode, queues)]). All are
    optional: `run` options choose which configurations run (a run that was asked for one and could not measure it
    fails instead)."""
    figs = {}
    for key, job, mode, q in chosen or configs():
        for metric, unit, better, what in METRICS:
            if metric == "mbps" and job != "seqread":
                continue
            fd = {"unit": unit, "better": better, "optional": True,
                  "label": "%s, %s, %d queue%s" % (JOBS[job]["label"], "O_DIRECT" if mode == "direct" else
                                                   "buffered", q, "s" if q > 1 else ""),
                  "what": what}
            if (job, metric) in PLOTTED:
                fd["row"] = PLOTTED.index((job, metric))
            else:
                fd["plot"] = False
            figs[key + "_" + metric] = fd
    return figs


def _csv(text, known, what):
    items = [x for x in (text or "").split(",") if x]
    bad = [x for x in items if x not in known]
    if bad or not items:
        raise ValueError("%s: %s (known: %s)" % (what, ",".join(bad) or "none", ", ".join(map(str, known))))
    return items


def _check_options(args):
    try:
        _csv(args.blk_native_jobs, list(JOBS), "--blk-native-jobs")
        _csv(args.blk_native_modes, MODES, "--blk-native-modes")
        _csv(args.blk_native_queues, [str(q) for q in QUEUES], "--blk-native-queues")
    except ValueError as e:
        return str(e)
    if not (args.blk_native_runtime >= 1 and args.blk_native_ramp >= 0 and args.blk_native_size_mib >= 64
            and 0 <= args.blk_native_poll_us <= 1000000):
        return ("--blk-native-runtime >= 1, --blk-native-ramp >= 0, --blk-native-size-mib >= 64, "
                "--blk-native-poll-us 0..1000000")
    return None


OPTIONS = Options(
    (("--blk-native-runtime",), dict(type=float, default=DEFAULTS["runtime_s"],
                                     help="blk-native: seconds each configuration measures (default %(default)s)")),
    (("--blk-native-ramp",), dict(type=float, default=DEFAULTS["ramp_s"],
                                  help="blk-native: seconds before that, not counted (default %(default)s)")),
    (("--blk-native-size-mib",), dict(type=int, default=DEFAULTS["size_mib"],
                                      help="blk-native: the file's size (default %(default)s)")),
    (("--blk-native-dir",), dict(help="blk-native: where the file goes: a directory on the disk to measure, not "
                                      "tmpfs (default: the scenario's results directory)")),
    (("--blk-native-jobs",), dict(default=",".join(JOBS), help="blk-native: jobs (default all: %(default)s)")),
    (("--blk-native-modes",), dict(default=",".join(MODES), help="blk-native: direct, buffered (default both)")),
    (("--blk-native-queues",), dict(default=",".join(map(str, QUEUES)),
                                    help="blk-native: queue counts (default %(default)s)")),
    (("--blk-native-poll-us",), dict(type=int, default=0,
                                     help="blk-native: tern-blk's and the in-process engine's --poll-us, and "
                                          "qemu-storage-daemon's iothread poll-max-ns to match (default 0: tern "
                                          "off, as it ships; qsd at QEMU's default)")),
    (("--blk-native-complete",), dict(choices=("call", "poll"), default="call",
                                      help="blk-native: how vdrive takes completions, for every vdrive system: "
                                           "sleeping on the call eventfd (default, a guest's interrupt) or "
                                           "spinning on the used ring (a guest's poll queues)")),
    (("--blk-native-hugepages",), dict(action="store_true",
                                       help="blk-native: vdrive's guest RAM on 2 MiB hugetlbfs pages, for every "
                                            "vdrive system (reserve them first in /proc/sys/vm/nr_hugepages)")),
    check=_check_options)


def backend_argv(name, bn, mode, queues, sock):
    """The vhost-user backend NAME serving bn's file with QUEUES queues, O_DIRECT when MODE is direct."""
    direct = mode == "direct"
    if name == SUBJECT:
        argv = [bn["tern_blk"], "--socket", sock, "--image", bn["image"], "--queues", str(queues)]
        argv += ["--direct"] if direct else []
        argv += ["--poll-us", str(bn["poll_us"])] if bn["poll_us"] else []
        return argv
    if name == QSD_PEER:
        # QEMU's iothreads poll 32 us by default; given a budget for tern's,
        # qsd gets the same one, so that neither polls longer.
        poll = ",poll-max-ns=%d" % (bn["poll_us"] * 1000) if bn["poll_us"] else ""
        return [bn["qsd"], "--object", "iothread,id=io0" + poll,
                "--blockdev", "driver=file,node-name=f,filename=%s,cache.direct=%s,aio=io_uring"
                % (bn["image"], "on" if direct else "off"),
                "--export", "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=%s,writable=on,"
                "num-queues=%d,iothread=io0" % (sock, queues)]
    raise KeyError(name)


def vdrive_argv(bn, job, queues):
    """vdrive's workload words for JOB on QUEUES queues over the whole file."""
    jd = JOBS[job]
    return [bn["vdrive"], "--rw", jd["rw"], "--bs", jd["bs"], "--qd", str(jd["qd"]), "--queues", str(queues),
            "--size", str(bn["size"]), "--runtime", "%g" % bn["runtime_s"], "--ramp", "%g" % bn["ramp_s"]] + \
        (["--hugepages"] if bn.get("hugepages") else []) + \
        (["--complete", "poll"] if bn.get("complete") == "poll" else [])


def system_argv(name, bn, job, mode, queues, backend_pid=None):
    """The measuring command of system NAME for one configuration (a vhost-user system's backend runs beside)."""
    if name == FIO_PEER:
        return fio_argv(bn, job, mode, queues)
    argv = vdrive_argv(bn, job, queues)
    if name == INPROC:
        return argv + ["--image", bn["image"]] + (["--direct"] if mode == "direct" else []) + \
            (["--poll-us", str(bn["poll_us"])] if bn["poll_us"] else [])
    return argv + ["--vhost-user", bn["socket"]] + (["--backend-pid", str(backend_pid)] if backend_pid else [])


def fio_argv(bn, job, mode, queues):
    """fio on the file: io_uring, numjobs = queues (random jobs over the whole file, sequential ones over a slice
    each, as vdrive's queues), its latency percentiles over submission + completion, nothing invalidated (the
    buffered file stays cached)."""
    jd = JOBS[job]
    argv = [bn["fio"], "--name=blk-native", "--filename=" + bn["image"], "--ioengine=io_uring",
            "--direct=%d" % (mode == "direct"), "--rw=" + jd["rw"], "--bs=" + jd["bs"], "--iodepth=%d" % jd["qd"],
            "--numjobs=%d" % queues, "--thread", "--group_reporting", "--time_based",
            "--runtime=%gs" % bn["runtime_s"], "--ramp_time=%gs" % bn["ramp_s"], "--norandommap", "--randrepeat=0",
            "--invalidate=0", "--lat_percentiles=1", "--percentile_list=50:99:99.9", "--output-format=json"]
    if queues > 1 and jd["rw"] in ("read", "write"):
        per = bn["size"] // queues // (1 << 20) * (1 << 20)
        argv += ["--size=%d" % per, "--offset_increment=%d" % per]
    return argv


def vdrive_figures(doc, job):
    """Figures of one vdrive JSON document: ({metric: value}, errors)."""
    if not doc.get("ok"):
        return {}, ["vdrive: %s" % (doc.get("error") or "not ok")]
    lat = doc.get("lat_us") or {}
    f = {"iops": doc.get("iops"), "p50_us": lat.get("p50"), "p99_us": lat.get("p99"),
         "p999_us": lat.get("p99.9"), "cpu_us_per_io": doc.get("backend_us_per_io"),
         "driver_us_per_io": doc.get("driver_us_per_io")}
    if job == "seqread":
        f["mbps"] = doc.get("mbps")
    return f, []


def fio_figures(doc, job, cpu_share):
    """Figures of fio's JSON for one configuration (group_reporting: one job entry): ({metric: value}, errors).
    CPU_SHARE is fio's process's CPU time per second inside its measured window (all threads: fio's own usr_cpu and
    sys_cpu count only the job threads, not the io_uring workers that take buffered writes), so per I/O it is
    CPU_SHARE / IOPS; None when it could not be sampled."""
    try:
        j = doc["jobs"][0]
        part = j["write"] if JOBS[job]["rw"] in ("randwrite", "write") else j["read"]
        pct = part["lat_ns"]["percentile"]
        iops = part["iops"]
        f = {"iops": iops, "p50_us": pct["50.000000"] / 1e3, "p99_us": pct["99.000000"] / 1e3,
             "p999_us": pct["99.900000"] / 1e3,
             "cpu_us_per_io": cpu_share * 1e6 / iops if cpu_share is not None and iops else None}
        if job == "seqread":
            f["mbps"] = part["bw_bytes"] / 1e6
    except (KeyError, IndexError, TypeError, ZeroDivisionError) as e:
        return {}, ["fio's JSON lacks %s" % e]
    if j.get("error"):
        return {}, ["fio job error %s" % j["error"]]
    return f, []


def parse_json(text):
    """The JSON object in TEXT (fio may print notes before it), or None."""
    i = (text or "").find("{")
    if i < 0:
        return None
    try:
        return json.loads(text[i:])
    except ValueError:
        return None


def warm(path):
    """Reads PATH whole so it sits in the page cache."""
    with open(path, "rb") as f:
        while f.read(8 << 20):
            pass


def settle(path, drop=False):
    """Writes back what a write job left dirty, so that it is not flushed during the next one; with DROP, also
    takes the file out of the page cache. An O_DIRECT configuration starts that way for every system: otherwise
    the system after one whose buffered configurations cached the file (or that read it whole first) would find it
    cached and the first run of the first system would not. A direct write over cached pages cannot go without
    blocking: io_uring hands it to an io-wq worker (~1% of a QD32 random write run's requests here, since one
    write's invalidation takes the whole large folio around it)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        if drop:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


class BlkNative(Scenario):
    name = "blk-native"
    order = 6
    description = ("the block data path natively, no KVM: vdrive (bench/vdrive, a userspace virtio-blk driver) "
                   "against tern-blk (vhost-user), tern's in-process virtio-blk engine (tern-inproc) and "
                   "qemu-storage-daemon (vhost-user-blk export, io_uring, an iothread), and fio with io_uring on the "
                   "same file, the limit: 4k random read and write at QD1 and QD32, 128k sequential read QD8, "
                   "O_DIRECT and buffered, 1 and 2 queues, on a file of the machine's disk. Figures per "
                   "configuration: IOPS, MB/s, p50/p99/p99.9 latency, the device's and the driver's CPU per I/O. "
                   "Ratios: tern-blk / each.")
    runs_in = NATIVE
    subject = SUBJECT
    peers = [INPROC, QSD_PEER, FIO_PEER]
    known_peers = [INPROC, QSD_PEER, FIO_PEER]
    figures = figures_def()
    options = (OPTIONS,)
    build_binaries = ("tern-blk", "vdrive")
    tool_versions = {"qemu_storage_daemon": [QSD, "--version"], "fio": [FIO, "--version"]}
    colors = {SUBJECT: 0xD9622B, INPROC: 0xF2A679, QSD_PEER: 0xC49A2C, FIO_PEER: 0x8C8C8C}

    def setup(self, ctx):
        a = ctx.args
        where = os.path.realpath(a.blk_native_dir or ctx.dir)
        bn = {"image": os.path.join(where, "blk-native.img"), "socket": os.path.join(ctx.dir, "vu.sock"),
              "size": a.blk_native_size_mib << 20, "runtime_s": a.blk_native_runtime, "ramp_s": a.blk_native_ramp,
              "jobs": a.blk_native_jobs.split(","), "modes": a.blk_native_modes.split(","),
              "queues": [int(q) for q in a.blk_native_queues.split(",")], "poll_us": a.blk_native_poll_us,
              "hugepages": a.blk_native_hugepages, "complete": a.blk_native_complete,
              "vdrive": ctx.binaries["vdrive"], "tern_blk": ctx.binaries["tern-blk"],
              "qsd": shutil.which(QSD) or "/usr/bin/" + QSD, "fio": shutil.which(FIO) or "/usr/bin/" + FIO}
        if len(bn["socket"]) >= 108:
            raise SystemExit("tern-bench: blk-native: socket path %s too long for a UNIX socket (--out)" % bn["socket"])
        systems = []
        for n in ctx.systems:
            s = {"name": n, "kind": "host", "argv": [bn["fio"] if n == FIO_PEER else bn["vdrive"]]}
            if n in (SUBJECT, QSD_PEER):
                s["backend"] = {"name": n, "socket": bn["socket"],
                                "argv": backend_argv(n, bn, "direct", 1, bn["socket"])}
            systems.append(s)
        n = len(configs(bn["jobs"], bn["modes"], bn["queues"]))
        setup = {
            "file": bn["image"], "file_bytes": bn["size"],
            "configurations": [k for k, *_ in configs(bn["jobs"], bn["modes"], bn["queues"])],
            "commands": {k: {s: shlex.join(system_argv(s, bn, j, m, q, backend_pid="PID"))
                             for s in ctx.systems} for k, j, m, q in configs(bn["jobs"], bn["modes"], bn["queues"])},
            "backends": {k: {s: shlex.join(backend_argv(s, bn, m, q, bn["socket"])) for s in (SUBJECT, QSD_PEER)}
                         for k, j, m, q in configs(bn["jobs"], bn["modes"], bn["queues"])},
            "tern_polling_us": bn["poll_us"],
            "vdrive_complete": bn["complete"],
            "vdrive_hugepages": bn["hugepages"],
            # The plot's subtitle: no machine's paths in it ("file" has the path).
            "summary": "%d configurations x %g s (after %g s ramp) per system run; one %d MiB file; backends "
                       "started per configuration; tern-blk and the in-process engine %s%s%s"
                       % (n, bn["runtime_s"], bn["ramp_s"], a.blk_native_size_mib,
                          "--poll-us %d, qsd poll-max-ns to match" % bn["poll_us"] if bn["poll_us"]
                          else "as shipped (no polling)",
                          "; vdrive polls the used ring" if bn["complete"] == "poll" else "",
                          "; guest RAM on 2 MiB hugetlbfs pages" if bn["hugepages"] else ""),
        }
        return Plan(systems, {"bn": bn}, setup, run_timeout=int(n * (bn["ramp_s"] + bn["runtime_s"] + 30) + 60),
                    figures=figures_def(configs(bn["jobs"], bn["modes"], bn["queues"])))

    def finish(self, setup, raw):
        info = (raw.get("driver") or {}).get("blk_native") or {}
        setup.update({k: v for k, v in info.items() if k in ("fs_type", "fill_s", "device", "shmem_thp")})

    def systems_help(self):
        return ("blk-native systems: tern-blk (vdrive over vhost-user), tern-inproc (vdrive with tern's virtio-blk "
                "engine in its process), qsd (vdrive over vhost-user to %s), fio (io_uring on the file); ratios "
                "tern-blk / each" % QSD)

    # -- driver side --

    def prepare(self, spec, info):
        bn = spec["bn"]
        os.makedirs(os.path.dirname(bn["image"]), exist_ok=True)
        fs = fs_type(os.path.dirname(bn["image"]))
        rec = info["blk_native"] = {"fs_type": fs, "file": bn["image"]}
        # Whether the vhost-user systems' shared guest RAM (a memfd) can get huge pages: 128k reads differ by
        # 1.4-1.7x between 4 KiB and 2 MiB pages (bench/README.md). Recorded, never changed.
        rec["shmem_thp"] = read_text(SHMEM_THP) or "unreadable"
        if fs in ("tmpfs", "ramfs") and "direct" in bn["modes"]:
            raise Unavailable("%s is on %s, which is no disk and has no O_DIRECT: give --blk-native-dir"
                              % (bn["image"], fs))
        # Real data on the disk (an unwritten extent reads as zeros without touching it): fio writes it.
        t = time.monotonic()
        argv = [bn["fio"], "--name=fill", "--filename=" + bn["image"], "--rw=write", "--bs=1m", "--direct=1",
                "--ioengine=io_uring", "--iodepth=8", "--size=%d" % bn["size"], "--end_fsync=1",
                "--output-format=terse"]
        p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if p.returncode or os.path.getsize(bn["image"]) != bn["size"]:
            raise Unavailable("filling %s failed: %s" % (bn["image"], p.stderr.strip()[-300:]))
        rec["fill_s"] = round(time.monotonic() - t, 2)
        rec["fill_command"] = shlex.join(argv)

    def run(self, spec, system, rdir):
        bn = spec["bn"]
        name = system["name"]
        figures, errors, warnings, raw = {}, [], [], {}
        for key, job, mode, q in configs(bn["jobs"], bn["modes"], bn["queues"]):
            settle(bn["image"], drop=mode == "direct")
            if mode == "buffered":
                warm(bn["image"])
            got, errs, r = self.run_config(bn, name, key, job, mode, q, rdir)
            raw[key] = r
            warnings += ["%s: %s" % (key, w) for w in r.pop("warnings", [])]
            errors += ["%s: %s" % (key, e) for e in errs]
            errors += ["%s: no %s" % (key, m) for m, v in got.items() if v is None]
            figures.update({"%s_%s" % (key, m): v for m, v in got.items() if v is not None})
        return {"ok": not errors, "errors": errors, "warnings": warnings, "figures": figures if not errors else {},
                "raw": raw}

    def run_config(self, bn, name, key, job, mode, q, rdir):
        """One configuration of system NAME: (figures, errors, raw record)."""
        base = "%s.%s" % (rdir, key)
        timeout = bn["ramp_s"] + bn["runtime_s"] + 30
        proc, back = None, {}
        if name in (SUBJECT, QSD_PEER):
            b = {"name": name, "socket": bn["socket"], "argv": backend_argv(name, bn, mode, q, bn["socket"])}
            # The configuration before may still hold the file's lock for a moment: the kernel lets an io_uring's
            # files go after its process is gone. A backend refused it exits at once; it gets 5 s of retries.
            deadline = time.monotonic() + 5
            while True:
                proc, err = backend_start(b, base)
                if not err or "before listening" not in err or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            if err:
                return {}, [err], {"backend_command": b["argv"]}
        argv = system_argv(name, bn, job, mode, q, proc.pid if proc else None)
        rec = {"command": argv}
        cpu_share = None
        try:
            with open(base + ".stderr", "w") as err:
                p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True)
                if name == FIO_PEER:
                    cpu_share = self.sample_fio(p.pid, bn, rec)
                out = p.communicate(timeout=timeout)[0]
            status = p.returncode
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            out, status = "", None
        finally:
            if proc:
                back = backend_stop(proc)
                rec["backend"] = back
        with open(base + ".json", "w") as f:
            f.write(out or "")
        doc = parse_json(out)
        if status is None:
            return {}, ["killed after %d s" % timeout], rec
        if doc is None:
            tail = (read_text(base + ".stderr") or "").strip().splitlines()[-1:]
            return {}, ["exit %s, no JSON%s" % (status, ": " + tail[0] if tail else "")], rec
        rec["exit_status"] = status
        if name == FIO_PEER:
            got, errs = fio_figures(doc, job, cpu_share)
            rec["fio_own_cpu_pct"] = [(j.get("usr_cpu"), j.get("sys_cpu")) for j in doc.get("jobs", [])]
        else:
            got, errs = vdrive_figures(doc, job)
            rec["vdrive"] = {k: doc.get(k) for k in ("kicks_per_io", "calls_per_io", "backend_cpu_s",
                                                     "driver_cpu_s", "window_s", "ios", "engine")}
        if status and not errs:
            errs = ["exit status %d" % status]
        if back.get("killed"):
            rec.setdefault("warnings", []).append("backend needed SIGKILL")
        return got, errs, rec

    @staticmethod
    def sample_fio(pid, bn, rec):
        """fio's process's CPU seconds per second inside its measured window: /proc/PID/stat (all threads) from
        0.3 s after the ramp to 0.1 s before the end, fio's start-up taken to be shorter than 0.3 s."""
        def ticks():
            with open("/proc/%d/stat" % pid) as f:
                w = f.read().rsplit(")", 1)[1].split()
            return int(w[11]) + int(w[12])

        t0 = time.monotonic()
        a_at, b_at = t0 + bn["ramp_s"] + 0.3, t0 + bn["ramp_s"] + bn["runtime_s"] - 0.1
        try:
            time.sleep(max(0, a_at - time.monotonic()))
            a, ta = ticks(), time.monotonic()
            time.sleep(max(0, b_at - time.monotonic()))
            b, tb = ticks(), time.monotonic()
        except (OSError, IndexError, ValueError) as e:
            rec["cpu_sample_error"] = str(e)
            return None
        rec["cpu_window_s"] = round(tb - ta, 3)
        return (b - a) / os.sysconf("SC_CLK_TCK") / (tb - ta) if tb > ta else None

    def teardown(self, spec):
        for p in (spec["bn"]["image"], spec["bn"]["socket"]):
            try:
                os.unlink(p)
            except OSError:
                pass
