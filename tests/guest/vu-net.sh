# Guest side of tests/host/vu-net-check: Linux's virtio_net driver on tern's
# device whose rings DPDK testpmd serves over vhost-user; testpmd forwards
# them to a tap in the test host, which is 169.254.77.1 there. Runs on its
# own (no console input). Arguments (kernel command line): tern.pairs=N
# queue pairs expected, tern.mac=MAC the address tern was given.
# With N > 1 each pair carries its own TCP stream: iperf3 client q runs on
# vCPU q (XPS sends its segments on transmit queue q), talks to the
# server on port 5201+q, and the test host's tap (multi-queue, automq) sends
# the flow's replies back through testpmd on the same queue index, so
# receive queue q sees it too.
. /lib.sh
pairs=$(arg pairs)
dev=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
check "nic: virtio_net bound to ${dev:-nothing}" [ -n "$dev" ]
[ -n "$dev" ] || exit 1
mac=$(cat /sys/class/net/$dev/address)
check "mac: $mac, want $(arg mac)" [ "$mac" = "$(arg mac)" ]
net_up
got=$(combined_queues)
check "queues: ethtool -l shows ${got:-no} combined, want $pairs" [ "${got:-0}" -eq "$pairs" ]
[ "$pairs" -gt 1 ] && /usr/bin/ethtool -L "$dev" combined "$pairs"
echo "TERN-FEATURES $(cat /sys/class/net/$dev/device/features)"
# DPDK offers checksum offload (CSUM), but testpmd's io forwarding hands
# the frames to the tap as they are: a TCP segment would reach the test
# host with its checksum unfinished and be dropped. The guest finishes its
# own checksums (as it must behind any such switch).
/usr/bin/ethtool -K "$dev" tx off >/dev/null 2>&1
# The first packets wait for testpmd's link (and ARP): retry a while.
ping_host "ping the test host" 20
# iperf3 both ways, one stream per queue pair.
q=0
while [ $q -lt "$pairs" ]; do
	taskset $((1 << q)) /usr/bin/iperf3 -c $host -p $((5201 + q)) -t 3 >/tmp/tx$q.txt 2>&1 &
	q=$((q + 1))
done
wait
q=0
while [ $q -lt "$pairs" ]; do
	taskset $((1 << q)) /usr/bin/iperf3 -c $host -p $((5201 + q)) -t 3 -R >/tmp/rx$q.txt 2>&1 &
	q=$((q + 1))
done
wait
q=0
while [ $q -lt "$pairs" ]; do
	check "iperf3 guest to host $q" grep -q receiver /tmp/tx$q.txt
	check "iperf3 host to guest $q" grep -q receiver /tmp/rx$q.txt
	echo "TERN-IPERF $q tx $(awk '/receiver/ { print $(NF-2), $(NF-1); exit }' /tmp/tx$q.txt) rx $(awk '/receiver/ { print $(NF-2), $(NF-1); exit }' /tmp/rx$q.txt)"
	q=$((q + 1))
done
grep -h -e error -e refused /tmp/tx*.txt /tmp/rx*.txt
# Every queue pair moved packets both ways (the driver's per-queue counters).
/usr/bin/ethtool -S "$dev" | grep -E '(rx|tx)_queue_[0-9]+_packets'
q=0
while [ $q -lt "$pairs" ]; do
	for d in rx tx; do
		n=$(/usr/bin/ethtool -S "$dev" | awk -v k="${d}_queue_${q}_packets:" '$1 == k { print $2 }')
		check "pair $q $d: ${n:-0} packets" [ "${n:-0}" -gt 0 ]
	done
	q=$((q + 1))
done
# Unbind and rebind the driver: the device resets (the backend's rings are
# stopped with GET_VRING_BASE) and starts again on fresh rings.
rebind_nic
[ "$pairs" -gt 1 ] && /usr/bin/ethtool -L "$dev" combined "$pairs"
ping_host "ping after unbind and rebind" 20
exit $status
