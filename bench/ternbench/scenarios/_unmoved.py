"""Transitional: the scenarios not yet in modules of their own, described by SCENARIOS and the chains over their
kinds below as tern-bench had them, behind the Scenario interface (Unmoved). Each moves out into its module; then
this file goes."""

import os
import shlex
import shutil

from .. import fio, iperf
from ..fio import (HOST, blk_figures_def, blk_guest_cmdline, blk_host_run, blk_host_system, blk_setup, blk_vm_run,
                   qemu_tools_disk, tern_tools_disk)
from ..scenario import Guest, Plan, Scenario
from ..vm import qemu_argv, tern_argv

# The vhost-user scenario: virtio-blk served by a vhost-user backend process that the driver starts before the
# VMM and stops after it. Per system: the frontend (tern or QEMU) and the backend (tern-blk or
# qemu-storage-daemon). "host" is the blk scenario's. Ratios: tern-ternblk over each.
VU_SUBJECT = "tern-ternblk"
VU_SYSTEMS = {
    VU_SUBJECT: {"frontend": "tern", "backend": "tern-blk"},
    "tern-qsd": {"frontend": "tern", "backend": "qsd"},
    "qemu-ternblk": {"frontend": "qemu", "backend": "tern-blk"},
}
QSD = "qemu-storage-daemon"
VU_CPU_WHAT = ("the VMM process and the backend process (tern-blk or qemu-storage-daemon), all threads, plus the "
               "VMM's vhost-PID kernel workers")



SCENARIOS = {
    "vhost-user": {
        "kind": "vhost-user",
        "description": "virtio-blk through a vhost-user backend (started before the VMM, stopped after it): fio in "
                       "the guest as in blk (4k randread QD32, 4k randwrite QD32, 128k read QD8; tools disk "
                       "virtio) on a raw image in the host's /tmp. tern-ternblk: tern + tern-blk; tern-qsd: tern + "
                       "qemu-storage-daemon (vhost-user-blk export, io_uring); qemu-ternblk: QEMU "
                       "vhost-user-blk-pci + tern-blk; host: fio on the image file. Ratios: tern-ternblk / each.",
        "guest_script": "bench/guests/blk.sh",
        "guest_modules": "virtio_pci virtio_blk ext4",
        "guest_files": ["tests/guest/tools-init-snippet:/tools.sh", "bench/guests/windows.sh:/windows.sh"],
        "cpus": None,  # = queues
        "memory_mib": 512,
        "subject": VU_SUBJECT,
        "peers": ["tern-qsd", "qemu-ternblk", HOST],
        "known_peers": [n for n in VU_SYSTEMS if n != VU_SUBJECT] + [HOST],
        "figures": blk_figures_def(cpu_what=VU_CPU_WHAT, backend=True),
    },
}


def vu_backend(name, blk, vu):
    """{name, argv, socket} of a vhost-user-blk backend on blk["image"], listening on vu["socket"] with
    blk["queues"] queues, buffered like every other system (tmpfs has no O_DIRECT)."""
    sock, img, q = vu["socket"], blk["image"], blk["queues"]
    if name == "tern-blk":
        argv = [vu["tern_blk"], "--socket", sock, "--image", img, "--queues", str(q)]
    elif name == "qsd":
        argv = [vu["qsd"], "--blockdev", "driver=file,node-name=f,filename=%s,cache.direct=off,aio=io_uring" % img,
                "--export", "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=%s,writable=on,"
                "num-queues=%d" % (sock, q)]
    else:
        raise KeyError(name)
    return {"name": name, "argv": argv, "socket": sock}


def vu_system(system, kernel, initrd, memory_mib, tern, blk, vu):
    """{name, kind, argv, backend} of SYSTEM in the vhost-user scenario (the 'host' peer as in blk). vu: socket,
    tern_blk, qsd (the backends' paths). QEMU needs its guest RAM shared with the backend (a memfd backend with
    share=on as the NUMA node's memory); tern makes it a shared memfd by itself when a disk is vhost-user."""
    if system == HOST:
        return blk_host_system(blk)
    if system not in VU_SYSTEMS:
        raise KeyError(system)
    q, cpus, sock = blk["queues"], blk["queues"], vu["socket"]
    cmdline = blk_guest_cmdline(blk)
    if VU_SYSTEMS[system]["frontend"] == "tern":
        argv = tern_argv(tern, kernel, initrd, cpus, memory_mib, cmdline) + \
            ["--disk", "vhost-user=%s,queues=%d" % (sock, q)] + tern_tools_disk(blk)
    else:
        argv = qemu_argv("pc", kernel, initrd, cpus, memory_mib, cmdline) + \
            ["-object", "memory-backend-memfd,id=mem,size=%dM,share=on" % memory_mib, "-numa", "node,memdev=mem",
             "-chardev", "socket,id=c0,path=%s" % sock, "-device", "vhost-user-blk-pci,chardev=c0,num-queues=%d" % q] \
            + qemu_tools_disk(blk)
    return {"name": system, "kind": "vm", "argv": argv, "backend": vu_backend(VU_SYSTEMS[system]["backend"], blk, vu)}


def vu_setup(args, sname, tern_blk):
    """The vhost-user scenario's parameters (the spec's "blk" and "vu") and its setup record."""
    blk, setup = blk_setup(args, sname)
    vu = {"socket": os.path.join(os.path.dirname(blk["image"]), "vu.sock"), "tern_blk": tern_blk,
          "qsd": shutil.which(QSD) or "/usr/bin/" + QSD}
    setup["backends"] = {n: shlex.join(vu_backend(n, blk, vu)["argv"]) for n in ("tern-blk", "qsd")}
    setup["host_side_io"] = {"tern-blk": "buffered (no --direct), io_uring", "qsd": "cache.direct=off, aio=io_uring",
                             "host": "fio ioengine=io_uring direct=0 on the image file"}
    setup["backend_lifetime"] = ("started before each VM run (the run waits until its socket listens in "
                                 "/proc/net/unix), SIGTERM after the VMM exited; its CPU time is sampled with the "
                                 "VMM's at every marker (cpu_us_per_io counts both; raw.exits.JOB.backend_cpu_s "
                                 "its share), its log in runs/RUN.backend.log")
    setup["summary"] = ("queues=%d (guest cpus, fio numjobs), fio %d s after %d s ramp per job, %d MiB image in the "
                        "driver's /tmp; backends started per run, buffered (tern-blk without --direct, qsd "
                        "cache.direct=off); guest fio O_DIRECT" % (blk["queues"], blk["runtime_s"], blk["ramp_s"],
                                                                    args.blk_image_mib))
    return blk, vu, setup


class Unmoved(Scenario):
    """A scenario of SCENARIOS behind the Scenario interface (the subclass names it)."""

    def __init__(self):
        d = SCENARIOS[self.name]
        self.kind, self.description, self.subject = d["kind"], d["description"], d.get("subject", "tern")
        self.peers, self.known_peers, self.figures = d["peers"], d["known_peers"], d["figures"]
        self.guest = Guest(d["guest_script"], d["guest_modules"], d.get("guest_tools", ""), d.get("guest_files", []),
                           d["cpus"] or "= --blk-queues", d["memory_mib"])
        self.options = {"vhost-user": (fio.OPTIONS,)}[self.kind]
        self.build_binaries = ("tern-blk",) if self.kind == "vhost-user" else ()
        self.tool_versions = {"qemu_storage_daemon": [QSD, "--version"]} if self.kind == "vhost-user" else {}
        self.order = {"vhost-user": 5}[self.kind]

    def setup(self, ctx):
        args, sname, tern, names = ctx.args, ctx.name, ctx.tern, ctx.systems
        k, i, mib = ctx.guest["kernel"], ctx.guest["initramfs"], self.guest.memory_mib
        blk = net = vu = None
        if self.kind == "vhost-user":
            blk, vu, setup = vu_setup(args, sname, ctx.binaries["tern-blk"])
            systems = [vu_system(n, k, i, mib, tern, blk, vu) for n in names]
            run_timeout = 45 + len(blk["jobs"]) * (blk["runtime_s"] + blk["ramp_s"] + 15)
        if blk:
            ctx.guest["tools_image"] = blk["tools"]
            ctx.guest["tools_command"] = blk["tools_command"]
        params = {k: v for k, v in (("blk", blk), ("net", net), ("vu", vu)) if v}
        return Plan(systems, params, setup, run_timeout)

    def finish(self, setup, raw):
        if raw["driver"].get("blk"):
            fio.finish_setup(setup.get("blk", setup), raw)  # legacy: {"blk": ..., "net": ...}
        iperf.finish_setup(setup.get("net", setup), setup, raw)

    def prepare(self, spec, info):
        if spec.get("blk"):
            info["blk"] = fio.prepare(spec)
        if spec.get("net"):
            info["net"] = iperf.prepare(spec)

    def run(self, spec, system, rdir):
        if system.get("kind") == "host":
            return blk_host_run(spec, system, rdir)
        return blk_vm_run(spec, system, rdir)

    def teardown(self, spec):
        if spec.get("vu"):
            try:
                os.unlink(spec["vu"]["socket"])
            except OSError:
                pass
        if spec.get("blk"):
            fio.blk_teardown(spec)
        if spec.get("net"):
            iperf.net_teardown(spec)

    def systems_help(self):
        return ("vhost-user systems: " + ", ".join(
            "%s (%s frontend, %s backend)" % (n, d["frontend"], QSD if d["backend"] == "qsd" else d["backend"])
            for n, d in VU_SYSTEMS.items()) + ", host (fio on the image file); ratios %s / each" % VU_SUBJECT)
