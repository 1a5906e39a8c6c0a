# Guest side of tests/host/switch-check: two of these VMs sit on
# tern-switch's vhost-user ports and the test host (169.254.78.1) behind its
# net_tap uplink. Arguments (kernel command line): tern.role=server|client,
# tern.ip=OWN, tern.peer=OTHER VM, tern.host=TEST HOST, tern.mac=MAC tern
# was given.
#   server: runs an iperf3 server, prints TERN-SERVER-READY and serves
#           until it reads "quit" on the console.
#   client: pings the peer and the test host, runs iperf3 to the peer both
#           ways, prints TERN-ROUND1-DONE, waits for "again" (the test host
#           restarts the server VM meanwhile), then pings the restarted
#           peer and runs iperf3 to it once more.
. /lib.sh
role=$(arg role)
own=$(arg ip)
peer=$(arg peer)
host=$(arg host)
dev=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
check "nic: virtio_net bound to ${dev:-nothing}" [ -n "$dev" ]
[ -n "$dev" ] || exit 1
mac=$(cat /sys/class/net/$dev/address)
check "mac: $mac, want $(arg mac)" [ "$mac" = "$(arg mac)" ]
# No IPv6 chatter (router solicitations, MLD) on the switch.
echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6 2>/dev/null
echo "TERN-FEATURES $(cat /sys/class/net/$dev/device/features)"
ip link set lo up
ip addr add "$own/24" dev "$dev"
ip link set "$dev" up

# wait_for ADDR: the first answer may wait for the switch to learn (and
# for a restarted peer to boot).
wait_for() {
	for i in $(seq 1 60); do ping -c 1 -W 1 "$1" >/dev/null 2>&1 && return 0; done
	return 1
}

if [ "$role" = server ]; then
	/usr/bin/iperf3 -s -D
	echo TERN-SERVER-READY
	while read -t 600 -r line; do
		[ "$line" = quit ] && break
	done
	exit $status
fi

wait_for "$peer"
check "ping the peer" ping -c 3 -W 2 "$peer"
wait_for "$host"
check "ping the test host" ping -c 3 -W 2 "$host"
/usr/bin/iperf3 -c "$peer" -t 3 >/tmp/tx.txt 2>&1
/usr/bin/iperf3 -c "$peer" -t 3 -R >/tmp/rx.txt 2>&1
check "iperf3 to the peer" grep -q receiver /tmp/tx.txt
check "iperf3 from the peer" grep -q receiver /tmp/rx.txt
echo "TERN-IPERF tx $(awk '/receiver/ { print $(NF-2), $(NF-1); exit }' /tmp/tx.txt) rx $(awk '/receiver/ { print $(NF-2), $(NF-1); exit }' /tmp/rx.txt)"
grep -h -e error -e refused /tmp/tx.txt /tmp/rx.txt
echo TERN-ROUND1-DONE
read -t 600 -r line
wait_for "$peer"
check "ping the restarted peer" ping -c 3 -W 2 "$peer"
/usr/bin/iperf3 -c "$peer" -t 2 >/tmp/tx2.txt 2>&1
check "iperf3 to the restarted peer" grep -q receiver /tmp/tx2.txt
grep -h -e error -e refused /tmp/tx2.txt
exit $status
