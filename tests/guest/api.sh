# Guest side of the control API tests (tests/host/l1-suite, section api):
# the host pauses and resumes this guest through tern's API while it
# writes a pattern to its two disks and streams one to the host over TCP, and
# prints a tick line with its clocks every 0.2 s. The host checks that the
# ticks stop while paused, that the guest's clocks did not jump by the
# paused time, and that both patterns arrived whole.
. /lib.sh
echo "TERN-PACKAGES $(cat /sys/devices/system/cpu/cpu[0-9]*/topology/physical_package_id | tr '\n' , | sed 's/,$//')"
echo "TERN-PHYSBITS $(awk '/^address sizes/ { print $4; exit }' /proc/cpuinfo)"
net_up
dd if=/dev/urandom of=/tmp/blk bs=64k count=128 2>/dev/null
dd if=/dev/urandom of=/tmp/net bs=64k count=64 2>/dev/null
echo "TERN-BLK-SUM $(md5sum </tmp/blk | cut -d' ' -f1)"
echo "TERN-NET-SUM $(md5sum </tmp/net | cut -d' ' -f1)"
ping_host "ping the test host" 10
# The host says when: the I/O and the ticks start together, and the
# ticks go on until the host says stop (on the console: fd 3, since a
# background job's stdin is /dev/null).
echo TERN-IO-READY
read -r go
exec 3<&0
(
	read -r stop <&3
	touch /tmp/stop
) &
# The disks: one 64k direct write at a time to each, paced, so writes are
# in flight when the host pauses. Both get the same pattern: vda is tern's
# own virtio-blk, vdb a vhost-user-blk disk that tern-blk serves.
(
	i=0
	while [ $i -lt 128 ]; do
		for d in vda vdb; do
			dd if=/tmp/blk of=/dev/$d bs=64k skip=$i seek=$i count=1 oflag=direct conv=notrunc 2>/dev/null ||
				echo "TERN-BLK-ERROR $d at $i"
		done
		i=$((i + 1))
		sleep 0.05
	done
	echo TERN-BLK-DONE
) &
# The network: one TCP stream to the host, paced the same way; the host
# closes once it has all of it.
(
	(
		i=0
		while [ $i -lt 64 ]; do
			dd if=/tmp/net bs=64k skip=$i count=1 2>/dev/null
			i=$((i + 1))
			sleep 0.1
		done
	) | nc $host 7777
	echo "TERN-NET-DONE $?"
) &
# Ticks: a counter, the guest's monotonic (uptime) and realtime clocks.
n=0
while [ ! -e /tmp/stop ]; do
	n=$((n + 1))
	echo "TERN-TICK $n $(cut -d' ' -f1 /proc/uptime) $(date +%s)"
	sleep 0.2
done
wait
echo TERN-IO-DONE
# The host reads the counters and then stops the VM through the API.
read -r go
