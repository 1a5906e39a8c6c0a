# Guest script of tern-bench's hotplug scenario, run by tests/guest/init: says on the console each time the set of
# virtio disks (/sys/block/vd*) changes, so that the driver sees when a hotplugged disk has come and gone. It polls
# every 5 ms with builtins only (a glob, read): a fork per poll would cost the one vCPU more than the poll. The
# line carries the count and the guest's uptime; the driver times the line's arrival on its own clock.
echo TERN-BENCH-HOTPLUG
prev=-1
while :; do
	set -- /sys/block/vd*
	n=$#
	[ -e "$1" ] || n=0
	if [ "$n" -ne "$prev" ]; then
		read -r up _ </proc/uptime
		echo "TERN-BENCH-DISKS $n $up"
		prev=$n
	fi
	sleep 0.005
done
