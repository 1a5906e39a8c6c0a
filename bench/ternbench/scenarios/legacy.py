"""The legacy scenario: the slow path against the fast path in the same guest (bench/guests/legacy.sh). One boot
runs fio jobs (fio.py) and then iperf3 jobs (iperf.py): tern --machine pc with its disk on PIIX IDE and an e1000
NIC (tern-legacy) against QEMU -M pc with the same devices (qemu-pc: ide-hd on its PIIX IDE, an e1000 on a tap
without vhost-net) and against tern with virtio-blk and virtio-net + vhost-net. The ratios are tern-legacy over
each peer."""

from .. import fio, iperf
from ..fio import FioWindows, blk_figures_def, blk_guest_words, blk_ready_errors, blk_setup, tern_tools_disk
from ..iperf import (NetWindows, net_figures_def, net_guest_words, net_ready_errors, net_setup, net_warnings,
                     tap_session, tern_net)
from ..scenario import Guest, Plan, Scenario
from ..fio import qemu_tools_disk
from ..vm import failed_rec, guest_cmdline, qemu_argv, run_errors, tern_argv, vm_finish
from ..windows import window_figures

# The subject: the slow path ("IDE does 0.1x the IOPS of virtio-blk"). The tools disk is virtio in both systems.
LEGACY = "tern-legacy"
LEGACY_BLK_JOBS = ["randread", "seqread"]
LEGACY_NET_JOBS = ["tcp_tx", "tcp_rx"]
# Per system: tern's machine, the disk's interface and the guest device it must be (the prefix of its name), the
# NIC model and the guest driver that must drive it, vhost-net or not.
LEGACY_QEMU = "qemu-pc"
LEGACY_SYSTEMS = {
    "tern": {"machine": None, "disk_if": "virtio", "disk_dev": "vd", "nic": "virtio", "nic_driver": "virtio_net",
             "vhost": True},
    LEGACY: {"machine": "pc", "disk_if": "ide", "disk_dev": "sd", "nic": "e1000", "nic_driver": "e1000",
             "vhost": False},
    LEGACY_QEMU: {"machine": "pc", "disk_if": "ide", "disk_dev": "sd", "nic": "e1000", "nic_driver": "e1000",
                  "vhost": False, "vmm": "qemu"},
}
# QEMU's peer: the disk on the PIIX IDE's primary master (its image opened as tern opens it, buffered, io_uring),
# an e1000 on the same tap, the tools disk virtio as everywhere.
LEGACY_QEMU_DEVICES = ["-drive", "file=%(image)s,if=none,id=d0,format=raw,aio=io_uring,cache.direct=off",
                       "-device", "ide-hd,drive=d0,bus=ide.0,unit=0",
                       "-netdev", "tap,id=n0,ifname=%(tap)s,script=no,downscript=no,vhost=off",
                       "-device", "e1000,netdev=n0,mac=%(mac)s"]


def legacy_system(system, kernel, initrd, memory_mib, tern, blk, net):
    """{name, kind, vhost, disk_dev, nic_driver, argv} of SYSTEM in the legacy scenario: tern with the disk under
    test, the tools disk (virtio) and one NIC on the tap, per LEGACY_SYSTEMS."""
    d = LEGACY_SYSTEMS[system]
    cmdline = guest_cmdline(blk_guest_words(blk) + net_guest_words(net))
    if d.get("vmm") == "qemu":
        argv = qemu_argv(d["machine"], kernel, initrd, 1, memory_mib, cmdline) + \
            [a % {"image": blk["image"], "tap": net["tap"], "mac": net["mac"]} for a in LEGACY_QEMU_DEVICES] + \
            qemu_tools_disk(blk)
        return {"name": system, "kind": "vm", "vhost": d["vhost"], "disk_dev": d["disk_dev"],
                "nic_driver": d["nic_driver"], "argv": argv}
    argv = tern_argv(tern, kernel, initrd, 1, memory_mib, cmdline)
    if d["machine"]:
        argv += ["--machine", d["machine"]]
    disk = "path=%s,direct=off" % blk["image"] if d["disk_if"] == "virtio" else \
        "path=%s,if=%s,direct=off" % (blk["image"], d["disk_if"])
    argv += ["--disk", disk] + tern_tools_disk(blk)
    argv += tern_net(net, d["vhost"], None if d["nic"] == "virtio" else d["nic"])
    return {"name": system, "kind": "vm", "vhost": d["vhost"], "disk_dev": d["disk_dev"], "nic_driver": d["nic_driver"],
            "argv": argv}


def legacy_vm_figures(blk_windows, net_windows, blk_jobs, net_jobs, blk_ready, net_ready, exit_status, guest_status,
                      sysd, vhost_threads=None):
    """(figures, errors, exits) of one legacy run: the fio windows, then the iperf3 windows of the same boot. SYSD's
    disk_dev, nic_driver and vhost say which disk, NIC driver and vhost-net use the guest must show. exits:
    {"blk": {...}, "net": {...}}."""
    errors = run_errors(exit_status, guest_status) + blk_ready_errors(blk_ready, 1, sysd.get("disk_dev")) + \
        net_ready_errors(net_ready, sysd.get("vhost"), vhost_threads, sysd.get("nic_driver"))
    figures, errs, bex = window_figures(fio.WINDOWS, blk_windows, blk_jobs)
    nfig, nerrs, nex = window_figures(iperf.WINDOWS, net_windows, net_jobs, per_mib=True)
    figures.update(nfig)
    return figures, errors + errs + nerrs, {"blk": bex, "net": nex}


def legacy_vm_run(spec, sysd, rdir):
    """One boot of a VM running the legacy scenario: the fio windows, then the iperf3 windows (on a fresh tap).
    Returns the run record; raw.windows/raw.ready are the fio side's, raw.net_windows/raw.net_ready the NIC's."""
    net = spec["net"]
    disk, nic = FioWindows(), NetWindows(net, rdir)
    rec, raw, clock, errors = tap_session(spec, sysd, rdir, [disk, nic])
    if raw is None:
        return failed_rec(rec, errors)
    raw.update(ready=disk.ready, windows=disk.windows, net_ready=nic.ready, net_windows=nic.windows,
               vhost_workers=nic.workers)
    figures, ferrors, raw["exits"] = legacy_vm_figures(disk.windows, nic.windows, spec["blk"]["jobs"], net["jobs"],
                                                       disk.ready, nic.ready, raw["exit_status"],
                                                       clock.guest_exit_status(), sysd, nic.workers)
    rec["warnings"] = net_warnings(nic.ready, net["mac"])
    return vm_finish(rec, raw, figures, ferrors + errors, spec["run_timeout"])


def legacy_setup(args, sname):
    """The legacy scenario's parameters (the spec's "blk" and "net": one queue, the legacy jobs) and its setup
    record."""
    blk, bs = blk_setup(args, sname, LEGACY_BLK_JOBS, queues=1)
    net, ns = net_setup(args, LEGACY_NET_JOBS)
    bs["host_side_io"] = {"tern": "virtio-blk --disk direct=off (buffered), one io_uring per queue",
                          LEGACY: "PIIX IDE --disk if=ide,direct=off (buffered), the drive's io_uring thread",
                          LEGACY_QEMU: "ide-hd on -M pc's PIIX IDE, aio=io_uring, cache.direct=off (buffered)"}
    setup = {"blk": bs, "net": ns, "systems": LEGACY_SYSTEMS,
             "order": "one boot per run: tools disk mounted and warmed, fio windows (null, %s), then the NIC set up "
                      "and the iperf3 windows (null, %s)" % (", ".join(LEGACY_BLK_JOBS), ", ".join(LEGACY_NET_JOBS)),
             "summary": "one boot: fio %s (%d s after %d s ramp each, guest O_DIRECT, host side buffered), then "
                        "iperf3 %s (-t %d); 1 vCPU; tern-legacy: --machine pc, IDE disk (sdX), e1000; qemu-pc: -M "
                        "pc, ide-hd (sdX), e1000 (-netdev tap vhost=off); tern: virtio-blk, virtio-net + vhost-net; "
                        "tools disk virtio in all"
                        % ("+".join(LEGACY_BLK_JOBS), args.blk_runtime, args.blk_ramp, "+".join(LEGACY_NET_JOBS),
                           args.net_time)}
    return blk, net, setup


class Legacy(Scenario):
    name = "legacy"
    order = 4
    description = ("the slow path against the fast path, same guest, one boot: fio (%s, from a read-only virtio "
                   "tools disk) on a raw image in the host's /tmp, then iperf3 (%s) against a server in the test host "
                   "over a tap; KVM exits per I/O and per packet. tern-legacy: --machine pc, the disk on PIIX IDE "
                   "(ata_piix, /dev/sdX), an e1000 NIC; qemu-pc: QEMU -M pc with the same devices (ide-hd, e1000); "
                   "tern: virtio-blk and virtio-net with vhost-net. Ratios: tern-legacy / each peer." % (", ".join(LEGACY_BLK_JOBS), ", ".join(LEGACY_NET_JOBS)))
    guest = Guest("bench/guests/legacy.sh", modules="virtio_pci virtio_blk virtio_net ext4 ata_piix sd_mod e1000",
                  tools="iperf3 ethtool",
                  files=["tests/guest/tools-init-snippet:/tools.sh", "bench/guests/windows.sh:/windows.sh"],
                  cpus=1, memory_mib=512)
    subject = LEGACY
    peers = [LEGACY_QEMU, "tern"]
    known_peers = [LEGACY_QEMU, "tern"]
    figures = dict(blk_figures_def(LEGACY_BLK_JOBS, disks="/sys/block/DEV/stat of the disk under test, sdX or vdX, "
                                                         "and of the tools disk"),
                   **net_figures_def(LEGACY_NET_JOBS, len(LEGACY_BLK_JOBS), per_mib=True))
    options = (fio.OPTIONS, iperf.OPTIONS)
    colors = {LEGACY: 0x8C564B}

    def setup(self, ctx):
        blk, net, setup = legacy_setup(ctx.args, ctx.name)
        k, i, mib = ctx.guest["kernel"], ctx.guest["initramfs"], self.guest.memory_mib
        fio.record_tools(ctx.guest, blk)
        return Plan([legacy_system(n, k, i, mib, ctx.tern, blk, net) for n in ctx.systems],
                    {"blk": blk, "net": net}, setup,
                    fio.run_timeout(blk, slack=75, per_job=20) + iperf.run_timeout(net, slack=0, per_job=20))

    def finish(self, setup, raw):
        fio.finish_setup(setup["blk"], raw)
        iperf.finish_setup(setup["net"], setup, raw)

    def prepare(self, spec, info):
        info["blk"] = fio.prepare(spec)
        info["net"] = iperf.prepare(spec)

    def run(self, spec, system, rdir):
        return legacy_vm_run(spec, system, rdir)

    def teardown(self, spec):
        fio.blk_teardown(spec)
        iperf.net_teardown(spec)

    def systems_help(self):
        return "legacy systems: " + ", ".join(
            "%s (%s%s, disk if=%s, NIC %s%s)" % (n, d.get("vmm", "tern"),
                                                 (" -M " if d.get("vmm") else " --machine ") + d["machine"]
                                                 if d["machine"] else "",
                                                 d["disk_if"], d["nic"], " + vhost-net" if d["vhost"] else "")
            for n, d in LEGACY_SYSTEMS.items()) + "; ratios %s / each peer" % LEGACY
