"""The net scenario: virtio-net over a tap in the test host, iperf3 in the guest (bench/guests/net.sh; the iperf3
workload is iperf.py's) against a server in the test host. tern with vhost-net and with its own userspace datapath
(tern-novhost), each against QEMU's virtio-net-pci with vhost=on and vhost=off."""

from .. import iperf
from ..iperf import net_figures_def, net_guest_cmdline, net_setup, tern_net
from ..scenario import Guest, Plan, Scenario
from ..stats import NOVHOST
from ..vm import QEMU, QEMU_PCI_MACHINES, qemu_argv, tern_argv


def net_system(system, kernel, initrd, memory_mib, tern, net):
    """{name, kind, vhost, argv} of SYSTEM in the net scenario: one virtio-net NIC on the tap net["tap"] (which the
    driver creates before every run), vhost-net on unless the name ends in NOVHOST. net: tap, mac, host_addr,
    guest_addr, prefix, port, time_s, udp_rate, jobs."""
    vhost = not system.endswith(NOVHOST)
    base = system[:-len(NOVHOST)] if not vhost else system
    cmdline = net_guest_cmdline(net)
    if base == "tern":
        argv = tern_argv(tern, kernel, initrd, 1, memory_mib, cmdline) + tern_net(net, vhost)
    elif base in QEMU_PCI_MACHINES:
        argv = qemu_argv(QEMU_PCI_MACHINES[base], kernel, initrd, 1, memory_mib, cmdline) + \
            ["-netdev", "tap,id=n0,ifname=%s,script=no,downscript=no,vhost=%s" % (net["tap"], "on" if vhost else "off"),
             "-device", "virtio-net-pci,netdev=n0,mac=%s" % net["mac"]]
    else:
        raise KeyError(system)
    return {"name": system, "kind": "vm", "vhost": vhost, "argv": argv}


class Net(Scenario):
    name = "net"
    order = 3
    description = ("virtio-net over a tap in the test host: iperf3 in the guest against a server in the test host "
                   "(IPv4 link-local), TCP guest to host, TCP host to guest (-R), UDP 64-byte datagrams guest to "
                   "host; KVM exits per packet. tern with vhost-net (tern) and with its userspace datapath "
                   "(tern-novhost), each against QEMU virtio-net-pci with vhost=on and vhost=off.")
    guest = Guest("bench/guests/net.sh", modules="virtio_pci virtio_net", tools="iperf3 ethtool",
                  files=["bench/guests/windows.sh:/windows.sh"], cpus=1, memory_mib=256)
    # Besides "tern" (vhost=on): tern with its userspace datapath and the QEMU peers, each with vhost-net on and off.
    # A name ending in NOVHOST is compared with "tern" + NOVHOST, every other one with "tern" (stats.ratio_base).
    peers = ["qemu-pc", "tern" + NOVHOST, "qemu-pc" + NOVHOST]
    known_peers = [p + v for p in QEMU_PCI_MACHINES for v in ("", NOVHOST)] + ["tern" + NOVHOST]
    figures = net_figures_def()
    options = (iperf.OPTIONS,)

    def setup(self, ctx):
        net, setup = net_setup(ctx.args)
        k, i, mib = ctx.guest["kernel"], ctx.guest["initramfs"], self.guest.memory_mib
        return Plan([net_system(n, k, i, mib, ctx.tern, net) for n in ctx.systems], {"net": net}, setup,
                    iperf.run_timeout(net))

    def finish(self, setup, raw):
        iperf.finish_setup(setup, setup, raw)

    def prepare(self, spec, info):
        info["net"] = iperf.prepare(spec)

    def run(self, spec, system, rdir):
        return iperf.net_vm_run(spec, system, rdir)

    def teardown(self, spec):
        iperf.net_teardown(spec)

    def systems_help(self):
        return ("net systems: tern (--net vhost=on), tern%s (vhost=off: tern's userspace datapath); " % NOVHOST +
                ", ".join("%s (%s -M %s, virtio-net-pci, -netdev tap vhost=on), %s%s (vhost=off)"
                          % (p, QEMU, m, p, NOVHOST) for p, m in QEMU_PCI_MACHINES.items()) +
                "; a peer named *%s is compared with tern%s, every other with tern" % (NOVHOST, NOVHOST))
