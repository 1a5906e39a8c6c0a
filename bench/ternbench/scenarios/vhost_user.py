"""The vhost-user scenario: virtio-blk served by a vhost-user backend process that the driver starts before each
VM run and stops after it (backend.py), the blk scenario's fio jobs in the guest (bench/guests/blk.sh, fio.py).
tern + tern-blk against tern + qemu-storage-daemon (the backend changes), QEMU + tern-blk (the frontend changes)
and fio on the image file in the host. Ratios: tern-ternblk over each."""

import os
import shlex
import shutil

from .. import fio
from ..fio import HOST, blk_figures_def, blk_guest_cmdline, blk_host_system, blk_setup, qemu_tools_disk, tern_tools_disk
from ..scenario import Guest, Plan, Scenario
from ..vm import qemu_argv, tern_argv

# Per system: the frontend (tern or QEMU) and the backend (tern-blk or qemu-storage-daemon). The "host" peer is
# fio's, as in blk.
VU_SUBJECT = "tern-ternblk"
VU_SYSTEMS = {
    VU_SUBJECT: {"frontend": "tern", "backend": "tern-blk"},
    "tern-qsd": {"frontend": "tern", "backend": "qsd"},
    "qemu-ternblk": {"frontend": "qemu", "backend": "tern-blk"},
}
QSD = "qemu-storage-daemon"
VU_CPU_WHAT = ("the VMM process and the backend process (tern-blk or qemu-storage-daemon), all threads, plus the "
               "VMM's vhost-PID kernel workers")


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


class VhostUser(Scenario):
    name = "vhost-user"
    order = 5
    description = ("virtio-blk through a vhost-user backend (started before the VMM, stopped after it): fio in the "
                   "guest as in blk (4k randread QD32, 4k randwrite QD32, 128k read QD8; tools disk virtio) on a raw "
                   "image in the host's /tmp. tern-ternblk: tern + tern-blk; tern-qsd: tern + qemu-storage-daemon "
                   "(vhost-user-blk export, io_uring); qemu-ternblk: QEMU vhost-user-blk-pci + tern-blk; host: fio "
                   "on the image file. Ratios: tern-ternblk / each.")
    guest = Guest("bench/guests/blk.sh", modules="virtio_pci virtio_blk ext4",
                  files=["tests/guest/tools-init-snippet:/tools.sh", "bench/guests/windows.sh:/windows.sh"],
                  cpus="= --blk-queues", memory_mib=512)
    subject = VU_SUBJECT
    peers = ["tern-qsd", "qemu-ternblk", HOST]
    known_peers = [n for n in VU_SYSTEMS if n != VU_SUBJECT] + [HOST]
    figures = blk_figures_def(cpu_what=VU_CPU_WHAT, backend=True)
    options = (fio.OPTIONS,)
    build_binaries = ("tern-blk",)
    tool_versions = {"qemu_storage_daemon": [QSD, "--version"]}
    colors = {VU_SUBJECT: 0xD9622B, "tern-qsd": 0xC49A2C, "qemu-ternblk": 0x4C72B0}
    # Four bars would not fit a panel with these names on one line.
    plot_labels = {VU_SUBJECT: "tern +\ntern-blk", "tern-qsd": "tern +\nqsd", "qemu-ternblk": "qemu +\ntern-blk"}

    def setup(self, ctx):
        blk, vu, setup = vu_setup(ctx.args, ctx.name, ctx.binaries["tern-blk"])
        k, i, mib = ctx.guest["kernel"], ctx.guest["initramfs"], self.guest.memory_mib
        fio.record_tools(ctx.guest, blk)
        return Plan([vu_system(n, k, i, mib, ctx.tern, blk, vu) for n in ctx.systems], {"blk": blk, "vu": vu}, setup,
                    fio.run_timeout(blk))

    def finish(self, setup, raw):
        fio.finish_setup(setup, raw)

    def prepare(self, spec, info):
        info["blk"] = fio.prepare(spec)

    def run(self, spec, system, rdir):
        return fio.run(spec, system, rdir)  # fio.blk_vm_run starts and stops the system's backend around the VM

    def teardown(self, spec):
        try:
            os.unlink(spec["vu"]["socket"])
        except OSError:
            pass
        fio.blk_teardown(spec)

    def systems_help(self):
        return "vhost-user systems: " + ", ".join(
            "%s (%s frontend, %s backend)" % (n, d["frontend"], QSD if d["backend"] == "qsd" else d["backend"])
            for n, d in VU_SYSTEMS.items()) + ", host (fio on the image file); ratios %s / each" % VU_SUBJECT
