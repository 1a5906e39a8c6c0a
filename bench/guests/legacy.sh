# Guest script of tern-bench's legacy scenario, run by tests/guest/init (which has already printed
# TERN-GUEST-INIT). The same guest for the fast path (virtio-blk, virtio-net) and the slow path (--machine pc: a
# PIIX IDE disk, sda through ata_piix, and an e1000 NIC): first the disk windows (fio from the tools disk, a
# virtio disk in both), then the NIC windows (iperf3 against a server in the test host). The protocol, the
# set-up and the runs are in /windows.sh (bench/guests/windows.sh).
. /windows.sh
disk_setup || exit 1
s=0
fio_windows || s=1
nic_setup || exit 1
net_windows || s=1
exit $s
