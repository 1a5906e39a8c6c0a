# Sourced by the test guests' scripts (mkguest puts it at /lib.sh).
# arg NAME: the value of tern.NAME=VALUE on the kernel command line.
arg() { sed -n "s/.*tern\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
# check NAME CONDITION...: one TERN-CHECK line; a failure sets status=1.
status=0
check() {
	name=$1
	shift
	if "$@"; then echo "TERN-CHECK ok $name"; else echo "TERN-CHECK FAIL $name"; status=1; fi
}

# The network guests' shared steps. The test host is 169.254.77.1 on the
# link (IPv4 link-local: the traffic never leaves it), the guest .2.
host=169.254.77.1
# net_up: brings up lo and the first NIC with the guest's address; sets dev.
net_up() {
	dev=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
	ip link set lo up
	ip addr add 169.254.77.2/24 dev "$dev"
	ip link set "$dev" up
}
# combined_queues: the queue pairs the driver uses now (ethtool -l).
combined_queues() {
	/usr/bin/ethtool -l "$dev" 2>/dev/null | awk '/^Current/ { c = 1 } c && /^Combined/ { print $2; exit }'
}
# ping_host NAME TRIES: waits up to TRIES one-second pings for the link
# (and ARP), then checks three pings as NAME.
ping_host() {
	for i in $(seq 1 "$2"); do ping -c 1 -W 1 $host >/dev/null 2>&1 && break; done
	check "$1" ping -c 3 -W 2 $host
}
# rebind_nic: unbinds and rebinds virtio_net from the NIC (the device
# resets and must come back), then brings it up again; sets dev.
rebind_nic() {
	drv=/sys/bus/virtio/drivers/virtio_net
	vdev=$(basename "$(readlink /sys/class/net/$dev/device)")
	echo "$vdev" >$drv/unbind
	echo "$vdev" >$drv/bind
	sleep 1
	dev=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
	ip addr add 169.254.77.2/24 dev "$dev"
	ip link set "$dev" up
}
