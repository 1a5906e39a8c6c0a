# Guest side of the virtio-net tests (tests/host/l1-suite): Linux's own
# virtio_net driver against tern's device and its backend (vhost-net or the
# userspace datapath). The test host is on the tap ($host, lib.sh).
. /lib.sh
net_up
# The driver's view: queue pairs and negotiated offloads.
want=$(arg pairs)
got=$(combined_queues)
check "queues: ethtool -l shows $got combined, want $want" [ "${got:-0}" -eq "$want" ]
if [ "$want" -gt 1 ]; then
	/usr/bin/ethtool -L "$dev" combined "$want"
fi
echo "TERN-OFFLOADS $(/usr/bin/ethtool -k "$dev" | awk -F': ' '/^(tx-checksumming|rx-checksumming|tcp-segmentation-offload):/ { printf "%s=%s ", $1, $2 }')"
# Offloads as ethtool shows them against the negotiated feature bits
# (sysfs: one character per bit): CSUM 0, GUEST_CSUM 1, HOST_TSO4 11.
feat=$(cat /sys/class/net/$dev/device/features)
bit() { [ "$(echo "$feat" | cut -c$(($1 + 1)))" = 1 ] && echo on || echo off; }
k() { /usr/bin/ethtool -k "$dev" | awk -F': ' -v f="$1" '$1 == f { split($2, v, " "); print v[1] }'; }
check "offloads: tx-checksumming $(k tx-checksumming), CSUM $(bit 0)" [ "$(k tx-checksumming)" = "$(bit 0)" ]
check "offloads: rx-checksumming $(k rx-checksumming), GUEST_CSUM $(bit 1)" [ "$(k rx-checksumming)" = "$(bit 1)" ]
check "offloads: tcp-segmentation-offload $(k tcp-segmentation-offload), HOST_TSO4 $(bit 11)" [ "$(k tcp-segmentation-offload)" = "$(bit 11)" ]
# Reachability, both directions of TCP, and the packets each queue saw.
ping_host "ping the test host" 10
# The exit-count window (tests/host/l1-suite samples KVM's counters at the
# two markers) holds the two iperf3 runs and nothing else: every console
# character is an exit, so the checks print after it.
packets() { echo $(($(cat /sys/class/net/$dev/statistics/rx_packets) + $(cat /sys/class/net/$dev/statistics/tx_packets))); }
p0=$(packets)
echo TERN-NET-START
read -r go
/usr/bin/iperf3 -c $host -t 3 -P "$want" >/tmp/tx.txt 2>&1
/usr/bin/iperf3 -c $host -t 3 -P "$want" -R >/tmp/rx.txt 2>&1
p1=$(packets)
echo TERN-NET-END
read -r go
check "iperf3 guest to host" grep -q receiver /tmp/tx.txt
check "iperf3 host to guest" grep -q receiver /tmp/rx.txt
echo "TERN-IPERF tx $(awk '/receiver/ { print $(NF-2), $(NF-1); exit }' /tmp/tx.txt) rx $(awk '/receiver/ { print $(NF-2), $(NF-1); exit }' /tmp/rx.txt)"
echo "TERN-PACKETS $((p1 - p0))"
# Traffic on every pair: each receive queue's MSI-X vector fired.
q=0
while [ $q -lt "$want" ]; do
	n=$(awk -v q="input.$q" '$NF ~ q"$" { s = 0; for (i = 2; i <= NF - 3; i++) s += $i; print s }' /proc/interrupts)
	check "pair $q: ${n:-0} receive interrupts" [ "${n:-0}" -gt 0 ]
	q=$((q + 1))
done
# Unbind and rebind the driver: the device resets and must come back.
rebind_nic
ping_host "ping after unbind and rebind" 10
exit $status
