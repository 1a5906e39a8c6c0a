# The default guest (scripts/demo; tests/host/native-probe): what it sees and
# what its virtio devices do. init has already printed TERN-GUEST-INIT.
echo "kernel $(uname -r), $(nproc) cpu(s), $(grep MemTotal /proc/meminfo | tr -s ' '), $(date)"
if [ -e /sys/block/vda ]; then
	echo "virtio-blk: vda, $(($(cat /sys/block/vda/size) / 2048)) MiB, $(ls /sys/block/vda/mq | wc -l) queue(s)"
	# busybox dd prints no rate: time it from /proc/uptime (1/100 s).
	rate() { # rate WHAT DD-ARGS...
		what=$1
		shift
		t0=$(cut -d' ' -f1 /proc/uptime)
		dd bs=1M count=32 "$@" 2>/dev/null
		t1=$(cut -d' ' -f1 /proc/uptime)
		echo "virtio-blk: $what 32 MiB direct in $t0..$t1 s: $(awk -v a="$t0" -v b="$t1" 'BEGIN { d = b - a; if (d <= 0) d = 0.01; printf "%.0f MiB/s", 32 / d }')"
	}
	rate write if=/dev/zero of=/dev/vda oflag=direct
	rate read if=/dev/vda of=/dev/null iflag=direct
fi
dev=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
if [ -n "$dev" ]; then
	ip addr add 169.254.77.2/24 dev "$dev"
	ip link set "$dev" up
	for i in 1 2 3 4 5; do ping -c 1 -W 1 169.254.77.1 >/dev/null 2>&1 && break; done
	echo "virtio-net: $dev $(cat /sys/class/net/$dev/address), ping the host: $(ping -c 3 -W 2 169.254.77.1 | tail -n 1)"
fi
exit 0
