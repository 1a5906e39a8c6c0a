"""The blk scenario: virtio-blk under fio in the guest (bench/guests/blk.sh; the fio workload is fio.py's) on a
raw image in the driver's /tmp. tern against QEMU's virtio-blk-pci on an iothread with io_uring, and against the
same fio jobs run on the image file in the (test) host itself, the limit."""

from .. import fio
from ..fio import HOST, blk_figures_def, blk_guest_cmdline, blk_host_system, blk_setup, qemu_tools_disk, tern_tools_disk
from ..scenario import Guest, Plan, Scenario
from ..vm import QEMU, QEMU_PCI_MACHINES, qemu_argv, tern_argv


def blk_system(system, kernel, initrd, memory_mib, tern, blk):
    """{name, kind, argv[, jobs_argv]} of SYSTEM in the blk scenario. blk: image, image_bytes, tools, tools_bytes,
    queues, runtime_s, ramp_s, jobs. The image file sits on tmpfs in the test host: tmpfs has no O_DIRECT on 6.1, so
    tern opens it with direct=off and QEMU with cache.direct=off (the guest's own I/O is O_DIRECT all the same)."""
    q, cpus = blk["queues"], blk["queues"]
    cmdline = blk_guest_cmdline(blk)
    if system == "tern":
        argv = tern_argv(tern, kernel, initrd, cpus, memory_mib, cmdline) + \
            ["--disk", "path=%s,queues=%d,direct=off" % (blk["image"], q)] + tern_tools_disk(blk)
        return {"name": system, "kind": "vm", "argv": argv}
    if system in QEMU_PCI_MACHINES:
        argv = qemu_argv(QEMU_PCI_MACHINES[system], kernel, initrd, cpus, memory_mib, cmdline) + \
            ["-object", "iothread,id=io0",
             "-drive", "file=%s,if=none,id=d0,format=raw,aio=io_uring,cache.direct=off" % blk["image"],
             "-device", "virtio-blk-pci,drive=d0,iothread=io0,num-queues=%d" % q] + qemu_tools_disk(blk)
        return {"name": system, "kind": "vm", "argv": argv}
    if system == HOST:
        return blk_host_system(blk)
    raise KeyError(system)


class Blk(Scenario):
    name = "blk"
    order = 2
    description = ("virtio-blk: fio in the guest (io_uring, O_DIRECT on /dev/vda, numjobs = queues) on a raw image "
                   "file in the host's /tmp, 4k randread QD32, 4k randwrite QD32, 128k read QD8; fio comes from a "
                   "read-only tools disk (/dev/vdb, tests/host/mktools). Peer 'host': the same jobs run by fio "
                   "directly on the image file (io_uring, buffered), the limit.")
    guest = Guest("bench/guests/blk.sh", modules="virtio_pci virtio_blk ext4",
                  files=["tests/guest/tools-init-snippet:/tools.sh", "bench/guests/windows.sh:/windows.sh"],
                  cpus="= --blk-queues", memory_mib=512)
    peers = ["qemu-pc", HOST]
    known_peers = list(QEMU_PCI_MACHINES) + [HOST]
    figures = blk_figures_def()
    options = (fio.OPTIONS,)

    def setup(self, ctx):
        blk, setup = blk_setup(ctx.args, ctx.name)
        k, i, mib = ctx.guest["kernel"], ctx.guest["initramfs"], self.guest.memory_mib
        fio.record_tools(ctx.guest, blk)
        return Plan([blk_system(n, k, i, mib, ctx.tern, blk) for n in ctx.systems], {"blk": blk}, setup,
                    fio.run_timeout(blk))

    def finish(self, setup, raw):
        fio.finish_setup(setup, raw)

    def prepare(self, spec, info):
        info["blk"] = fio.prepare(spec)

    def run(self, spec, system, rdir):
        return fio.run(spec, system, rdir)

    def teardown(self, spec):
        fio.blk_teardown(spec)

    def systems_help(self):
        return ("blk peers: " + ", ".join("%s (%s -M %s, virtio-blk-pci on an iothread, aio=io_uring)" % (p, QEMU, m)
                                          for p, m in QEMU_PCI_MACHINES.items()) +
                ", host (fio on the image file in the test host, io_uring)")
