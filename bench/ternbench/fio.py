"""The fio workload of the blk, vhost-user and legacy scenarios: fio jobs in the guest on a raw image file (its
disk under test, fio itself from a read-only tools disk) or, for the "host" peer, the same jobs run by fio on the
image file directly. Its figures (IOPS, MiB/s, exits and CPU per I/O), the guest's words, the image and tools
disk, the driver's preparation and one run of either kind."""

import json
import os
import shutil
import subprocess
import time

from .backend import with_backend
from .kvm import mount_debugfs
from .parsers import FIO_MARKERS, MARK_FIO, MARK_READY, fio_json_figures
from .scenario import Options, Unavailable
from .stats import is_figure
from .util import TOP, fs_type, log, now_iso, read_through
from .vm import failed_rec, guest_cmdline, run_errors, stderr_tail, vm_finish, vm_session
from .windows import WindowKind, Windows, window_figures

HOST = "host"  # the blk peer that is no VM: fio in the (test) host itself, on the same image file

# fio jobs, in the order the guest runs them. Options common to every job come from
# blk_fio_common(); numjobs = queues.
BLK_JOBS = {
    "randread": {"label": "4k random read QD32", "opts": ["rw=randread", "bs=4k", "iodepth=32"]},
    "randwrite": {"label": "4k random write QD32", "opts": ["rw=randwrite", "bs=4k", "iodepth=32"]},
    "seqread": {"label": "128k sequential read QD8", "opts": ["rw=read", "bs=128k", "iodepth=8"]},
}
BLK_DEFAULTS = {"queues": 1, "runtime_s": 3, "ramp_s": 1, "image_mib": 256}


def _check_options(args):
    if not (1 <= args.blk_queues <= 16 and args.blk_runtime >= 1 and args.blk_ramp >= 0
            and args.blk_image_mib >= 16 * args.blk_queues):
        return "--blk-queues 1..16, --blk-runtime >= 1, --blk-ramp >= 0, --blk-image-mib >= 16 x queues"
    return None


# The `run` options of every scenario with fio jobs.
OPTIONS = Options(
    (("--blk-queues",), dict(type=int, default=BLK_DEFAULTS["queues"],
                             help="blk: virtio-blk queues, guest vCPUs and fio numjobs (default %(default)s)")),
    (("--blk-runtime",), dict(type=int, default=BLK_DEFAULTS["runtime_s"],
                              help="blk: seconds each fio job measures (default %(default)s)")),
    (("--blk-ramp",), dict(type=int, default=BLK_DEFAULTS["ramp_s"],
                           help="blk: seconds of fio ramp_time before that, not counted (default %(default)s)")),
    (("--blk-image-mib",), dict(type=int, default=BLK_DEFAULTS["image_mib"],
                                help="blk: size of the raw image in the driver's /tmp (default %(default)s)")),
    check=_check_options)


def blk_figures_def(jobs=None, row0=0, disks="/sys/block/vd[ab]/stat", cpu_what=None, backend=False):
    """The figures of fio jobs JOBS (default all of BLK_JOBS): per job IOPS (and MiB/s for the sequential one) for
    every system, and for the VMs the KVM exits per I/O. "row" groups the plot's panels, one row per job, from
    ROW0. DISKS names the disks in the texts; CPU_WHAT says whose CPU time counts; BACKEND: a vhost-user backend's
    own CPU per I/O too."""
    figs = {}
    for row, job in enumerate(jobs or BLK_JOBS, row0):
        jd = BLK_JOBS[job]
        figs[job + "_iops"] = {"unit": "IOPS", "better": "higher", "row": row,
                               "label": "%s" % jd["label"],
                               "what": "fio's iops for %s (read and write summed), ramp time excluded" % jd["label"]}
        if job == "seqread":
            figs[job + "_mibs"] = {"unit": "MiB/s", "better": "higher", "row": row,
                                   "label": "%s" % jd["label"],
                                   "what": "fio's bandwidth for %s, ramp time excluded" % jd["label"]}
        figs[job + "_user_exits_per_io"] = {
            "unit": "exits/IO", "better": "lower", "vm_only": True, "zero_ok": True, "row": row,
            "label": "%s: PIO+MMIO exits per I/O" % job,
            "what": "KVM's io_exits + mmio_exits (debugfs, all vCPUs) over the job's window (START..END marker, "
                    "ramp and fio start included), less those of the run's null window (the marker protocol "
                    "alone), per block request the guest completed in the window (%s); "
                    "~ exits to userspace (io_exits also counts PIO KVM handles itself)" % disks}
        figs[job + "_exits_per_io"] = {
            "unit": "exits/IO", "better": "lower", "vm_only": True, "row": row,
            "label": "%s: all exits per I/O" % job,
            "what": "KVM's exits counter over the same window, less the null window's, per block request"}
        figs[job + "_cpu_us_per_io"] = {
            "unit": "us/IO", "better": "lower", "vm_only": True, "zero_ok": True, "optional": True, "row": row,
            "label": "%s: VMM CPU per I/O" % job,
            "what": "CPU time (utime + stime) of %s over the same window less the null window's, per block "
                    "request" % (cpu_what or "the VMM process, all threads, plus its vhost-PID kernel workers")}
        if backend:
            figs[job + "_backend_cpu_us_per_io"] = {
                "unit": "us/IO", "better": "lower", "vm_only": True, "zero_ok": True, "optional": True, "row": row,
                "label": "%s: backend CPU per I/O" % job,
                "what": "CPU time (utime + stime) of the vhost-user backend process alone, all threads, over the "
                        "same window less the null window's, per block request"}
    return figs


def blk_fio_common(target, direct, queues, image_bytes, runtime_s, ramp_s):
    """fio options (without --) every blk job shares. With numjobs > 1 each job gets its own slice. TARGET None:
    no filename= (the guest adds the disk it found)."""
    per_job = image_bytes // queues // (1 << 20) * (1 << 20)
    o = ["filename=%s" % target] if target else []
    o += ["ioengine=io_uring", "direct=%d" % direct, "numjobs=%d" % queues,
          "group_reporting=1", "time_based=1", "runtime=%d" % runtime_s, "ramp_time=%d" % ramp_s,
          "size=%d" % per_job, "norandommap=1"]
    if queues > 1:
        o.append("offset_increment=%d" % per_job)
    return o


def blk_guest_words(blk):
    """The tern.* words of the fio part of bench/guests/windows.sh: the sizes that tell the disk under test from the
    tools disk, the jobs, fio's options."""
    words = ["tern.sectors=%d" % (blk["image_bytes"] // 512), "tern.tools_sectors=%d" % (blk["tools_bytes"] // 512),
             "tern.jobs=" + ",".join(blk["jobs"]),
             "tern.fio=" + ":".join(blk_fio_common(None, 1, blk["queues"], blk["image_bytes"], blk["runtime_s"],
                                                  blk["ramp_s"]))]
    return words + ["tern.fio.%s=%s" % (j, ":".join(BLK_JOBS[j]["opts"])) for j in blk["jobs"]]


def blk_guest_cmdline(blk):
    """The kernel command line of bench/guests/blk.sh."""
    return guest_cmdline(blk_guest_words(blk))


def qemu_tools_disk(blk):
    """QEMU's arguments for the read-only tools disk (virtio-blk-pci)."""
    return ["-drive", "file=%s,if=none,id=d1,format=raw,readonly=on" % blk["tools"],
            "-device", "virtio-blk-pci,drive=d1"]


def tern_tools_disk(blk):
    return ["--disk", "path=%s,readonly=on,direct=off" % blk["tools"]]


def blk_host_system(blk):
    """The 'host' peer: fio directly on the image file, each job a command line of its own."""
    fio = shutil.which("fio") or "/usr/bin/fio"
    common = blk_fio_common(blk["image"], 0, blk["queues"], blk["image_bytes"], blk["runtime_s"], blk["ramp_s"])
    jobs = {j: [fio, "--name=" + j] + ["--" + o for o in common + BLK_JOBS[j]["opts"]] + ["--output-format=json"]
            for j in blk["jobs"]}
    return {"name": HOST, "kind": "host", "argv": [fio] + ["--" + o for o in common], "jobs_argv": jobs}


def blk_setup(args, sname, jobs=None, queues=None):
    """The blk scenario's parameters (the spec's "blk") and the record of how disks are set up (results'
    "setup"). The image lives in the driver's /tmp: tmpfs inside the test host. JOBS: the fio jobs (default all),
    QUEUES: default --blk-queues."""
    p = subprocess.run([os.path.join(TOP, "tests/host/mktools")], stdout=subprocess.PIPE, text=True)
    if p.returncode or not p.stdout.strip():
        raise SystemExit("tern-bench: tests/host/mktools failed (exit %d)" % p.returncode)
    q = queues or args.blk_queues
    jobs = jobs or list(BLK_JOBS)
    tools = p.stdout.strip()
    # The pid keeps two native runs apart; in the test host every L1 has a /tmp of its own anyway.
    blk = {"image": "/tmp/tern-bench-%s-%d/disk.img" % (sname, os.getpid()), "image_bytes": args.blk_image_mib << 20,
           "tools": tools, "tools_bytes": os.path.getsize(tools),
           "tools_command": [os.path.join(TOP, "tests/host/mktools")],
           "queues": q, "runtime_s": args.blk_runtime, "ramp_s": args.blk_ramp, "jobs": jobs}
    if blk["tools_bytes"] // 512 == blk["image_bytes"] // 512:
        raise SystemExit("tern-bench: the tools image is %d MiB like the disk under test: the guest tells them apart "
                         "by size (--blk-image-mib)" % args.blk_image_mib)
    setup = {
        "queues": q, "guest_cpus": q, "numjobs": q, "runtime_s": blk["runtime_s"], "ramp_s": blk["ramp_s"],
        "image": blk["image"], "image_mib": args.blk_image_mib, "tools_image": blk["tools"],
        "jobs": {j: BLK_JOBS[j]["opts"] for j in jobs},
        "disks": "the guest finds the disk under test and the tools disk by their sizes (tern.sectors, "
                 "tern.tools_sectors) and adds --filename=/dev/DISK; its TERN-BLK-READY line names both",
        "guest_fio_common": blk_fio_common(None, 1, q, blk["image_bytes"], blk["runtime_s"], blk["ramp_s"]),
        "host_side_direct": False,
        "host_side_io": {"tern": "--disk direct=off (buffered), one io_uring per queue",
                         "qemu": "aio=io_uring, cache.direct=off (buffered), one iothread",
                         "host": "fio ioengine=io_uring direct=0 on the image file"},
        "why_buffered": "the image is on tmpfs (the test host's /tmp) and Linux 6.1's tmpfs refuses O_DIRECT; "
                        "the guest's fio still uses O_DIRECT on /dev/vda (that bypasses the guest's page cache)",
        "exits": "KVM per-VM debugfs counters of the VMM's pid sampled when the guest prints TERN-FIO-START and "
                 "TERN-FIO-END around one fio run (ramp time and fio's start included), divided by the block "
                 "requests the guest completed on vda and vdb in that window (/sys/block/*/stat), after "
                 "subtracting the counts of the run's 'null' window (the same markers, no fio: the protocol's "
                 "own ~55 PIO exits); gross figures are in each run's raw.exits",
        "summary": "queues=%d (guest cpus and fio numjobs too), fio runtime %d s after %d s ramp per job, %d MiB "
                   "image in the driver's /tmp, opened buffered by tern (direct=off), QEMU (cache.direct=off) "
                   "and host fio (direct=0); guest fio O_DIRECT" % (q, blk["runtime_s"], blk["ramp_s"],
                                                                     args.blk_image_mib),
    }
    return blk, setup


def blk_prepare(spec):
    """Once per driver: the image file (written full of zeros, so that every block is allocated in tmpfs),
    debugfs for KVM's counters, and the tools image, tern and QEMU read once so that L1's page cache holds
    them before the first run. Returns what it found, for the results."""
    blk = spec["blk"]
    img = blk["image"]
    os.makedirs(os.path.dirname(img), exist_ok=True)
    t = time.monotonic()
    chunk = bytes(1 << 20)
    with open(img, "wb") as f:
        for _ in range(blk["image_bytes"] >> 20):
            f.write(chunk)
    res = {"image": img, "image_bytes": os.path.getsize(img), "image_fs": fs_type(os.path.dirname(img)),
           "image_write_s": time.monotonic() - t}
    res["kvm_debugfs"] = mount_debugfs()
    t = time.monotonic()
    read_through(path for s in spec["systems"]
                 for path in [s["argv"][0]] + ([blk["tools"]] if s.get("kind") == "vm" else []) +
                 ([s["backend"]["argv"][0]] if s.get("backend") else []))
    res["prewarm_s"] = time.monotonic() - t
    log("blk: %d MiB image on %s (%s) written in %.1f s; tools image and binaries read in %.1f s; debugfs %s"
        % (res["image_bytes"] >> 20, os.path.dirname(img), res["image_fs"], res["image_write_s"], res["prewarm_s"],
           "ok" if res["kvm_debugfs"] else "MISSING"))
    return res


def run_timeout(blk, slack=45, per_job=15):
    """Seconds before one run of BLK's jobs is killed: SLACK for the boot, the tools disk and the null window, then
    each job's runtime and ramp with PER_JOB to spare."""
    return slack + len(blk["jobs"]) * (blk["runtime_s"] + blk["ramp_s"] + per_job)


def record_tools(guest, blk):
    """The tools disk in the results' record of the guest GUEST."""
    guest["tools_image"] = blk["tools"]
    guest["tools_command"] = blk["tools_command"]


def prepare(spec):
    """blk_prepare, or Unavailable saying why it failed."""
    try:
        return blk_prepare(spec)
    except (OSError, subprocess.SubprocessError) as e:
        raise Unavailable("blk setup failed: %s" % e) from e


def blk_teardown(spec):
    """After the driver's last run: the image and its directory go."""
    img = spec["blk"]["image"]
    for rm, path in ((os.unlink, img), (os.rmdir, os.path.dirname(img))):
        try:
            rm(path)
        except OSError:
            pass


def finish_setup(setup, raw):
    """What the driver's blk_prepare found, into the results' record of the disk setup."""
    found = raw["driver"].get("blk")
    if found:
        setup["driver"] = found
        setup["image_fs"] = found.get("image_fs")


class FioWindows(Windows):
    """The TERN-BLK-READY line and the TERN-FIO-* windows of one VM run."""
    markers = FIO_MARKERS


def blk_job_figures(job, g, errors):
    """Figures of one job from its 'TERN-FIO job ...' values G (guest) or fio's JSON (host); adds errors."""
    figs = {}
    if g.get("status", 0) != 0:
        errors.append("%s: fio exited %s" % (job, g.get("status")))
    if g.get("fio_err", 0) not in (0, "0"):
        errors.append("%s: fio reports error %s" % (job, g.get("fio_err")))
    if not is_figure(g.get("iops")):
        errors.append("%s: iops %r" % (job, g.get("iops")))
    else:
        figs[job + "_iops"] = float(g["iops"])
    if job == "seqread":
        if is_figure(g.get("bw_kib")):
            figs[job + "_mibs"] = g["bw_kib"] / 1024.0
        else:
            errors.append("%s: bw_kib %r" % (job, g.get("bw_kib")))
    return figs


def blk_count(g):
    """Block requests the guest completed in a window: the sum of its DEV_ios values (the disk under test and the
    tools disk, whatever their names: vda/vdb, sda/vda, ...); None if there is none or one is not a number."""
    v = [x for k, x in g.items() if k.endswith("_ios")]
    return sum(v) if v and all(isinstance(x, int) and not isinstance(x, bool) for x in v) else None


WINDOWS = WindowKind(MARK_FIO, lambda job, g, wd, errors: blk_job_figures(job, g, errors), blk_count, "io", "block I/O")


def blk_ready_errors(ready, queues, disk_dev=None):
    """What is wrong with the guest's TERN-BLK-READY values READY (None: no line): the queues of the disk under test,
    and with DISK_DEV the prefix its name must have (sd: the IDE disk, vd: a virtio one)."""
    if ready is None:
        return ["no %s line (tools disk not mounted?)" % MARK_READY]
    errors = []
    if ready.get("queues") != queues:
        errors.append("guest sees %r queues on %s, want %d" % (ready.get("queues"), ready.get("disk", "vda"), queues))
    if disk_dev and not str(ready.get("disk", "")).startswith(disk_dev):
        errors.append("disk under test is %r in the guest, want %s*" % (ready.get("disk"), disk_dev))
    return errors


def blk_vm_figures(windows, jobs, ready, queues, exit_status, guest_status, disk_dev=None):
    """(figures, errors, exits) of one VM run. windows: {name: {"before", "after", "guest"}}, each optional;
    ready: the TERN-BLK-READY values or None. exits: {name: exit_arith result} including the null window."""
    errors = run_errors(exit_status, guest_status) + blk_ready_errors(ready, queues, disk_dev)
    figures, errs, exits = window_figures(WINDOWS, windows, jobs)
    return figures, errors + errs, exits


def blk_vm_run(spec, sysd, rdir):
    """One boot of a VM running the blk jobs (with its vhost-user backend, if it has one): answers each
    TERN-FIO-START/END marker after sampling KVM's counters for the VMM's pid, collects the TERN-FIO lines.
    Returns the run record."""
    def run(cpu_pids):
        fam = FioWindows(cpu_pids)
        rec, raw, clock, errors = vm_session(spec, sysd, rdir, [fam])
        if raw is None:
            return failed_rec(rec, errors)
        raw.update(ready=fam.ready, windows=fam.windows)
        figures, ferrors, raw["exits"] = blk_vm_figures(fam.windows, spec["blk"]["jobs"], fam.ready,
                                                        spec["blk"]["queues"], raw["exit_status"],
                                                        clock.guest_exit_status(), sysd.get("disk_dev"))
        return vm_finish(rec, raw, figures, ferrors + errors, spec["run_timeout"])
    return with_backend(sysd, rdir, run)


def blk_host_run(spec, sysd, rdir):
    """The blk jobs run by fio directly on the image file (the 'host' peer). Returns the run record."""
    rec = {"started": now_iso(), "stderr_log": rdir + ".stderr"}
    figures, errors, raw = {}, [], {"jobs": {}}
    with open(rdir + ".stderr", "wb") as err:
        for job in spec["blk"]["jobs"]:
            out = "%s.%s.json" % (rdir, job)
            argv = sysd["jobs_argv"][job] + ["--output=" + out]
            t = time.monotonic()
            try:
                p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=err,
                                   timeout=spec["blk"]["runtime_s"] + spec["blk"]["ramp_s"] + 60)
                st = p.returncode
            except subprocess.TimeoutExpired:
                st = None
            except OSError as e:
                errors.append("%s: cannot start fio: %s" % (job, e))
                continue
            jr = {"status": st, "wall_s": time.monotonic() - t, "json": out}
            raw["jobs"][job] = jr
            if st is None:
                errors.append("%s: fio killed at the timeout" % job)
                continue
            try:
                with open(out) as f:
                    doc = json.load(f)
                iops, bw, ios, rt, ferr = fio_json_figures(doc)
            except (OSError, ValueError, KeyError) as e:
                errors.append("%s: fio's JSON: %s" % (job, e))
                continue
            g = {"status": st, "iops": iops, "bw_kib": bw, "ios": ios, "runtime_ms": rt, "fio_err": ferr}
            jr["guest_equivalent"] = g
            figures.update(blk_job_figures(job, g, errors))
    if errors:
        stderr_tail(rdir + ".stderr", raw, errors)
    rec.update(ok=not errors, errors=errors, figures=figures, raw=raw)
    return rec


def run(spec, system, rdir):
    """One run of the fio jobs: blk_host_run for the "host" peer, blk_vm_run for a VM."""
    if system.get("kind") == "host":
        return blk_host_run(spec, system, rdir)
    return blk_vm_run(spec, system, rdir)
