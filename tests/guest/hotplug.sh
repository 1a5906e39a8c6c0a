# Guest side of the PCI hotplug tests (tests/host/l1-suite, section
# hotplug): the host adds and removes disks and NICs through tern's API
# and asks, one console line at a time, what the guest sees. Linux's
# acpiphp does the work: the GED's event runs the DSDT's PCNT, whose
# Notify(Sxx, 1) makes it scan the slot and Notify(Sxx, 3) makes it let go
# of the device and eject it (_EJ0). Commands and their answers:
#   disks N      waits (20 s) until N virtio disks are there:
#                "TERN-HP-DISKS <n> <names>"
#   sum DEV      "TERN-HP-SUM DEV <md5 of its first MiB>"
#   nets N       waits until N NICs are there: "TERN-HP-NETS <n> <names>"
#   ping         the newest NIC up with the guest's address, three pings
#                to the host: "TERN-HP-PING ok|fail"
#   quit         ends the guest (it powers off)
# Beside them acpid (busybox's) listens for the ACPI power button (the
# input device Linux's button driver makes: a GED event on virt, the
# fixed button on pc) and runs its power-button action, which says
# "TERN-HP-POWER-BUTTON" and powers off.
. /lib.sh
ip link set lo up
mkdir -p /etc/acpi/PWRF
printf '#!/bin/sh\necho TERN-HP-POWER-BUTTON >/dev/console\npoweroff -f\n' >/etc/acpi/PWRF/00000080
chmod +x /etc/acpi/PWRF/00000080
acpid -c /etc/acpi -l /dev/null -p /acpid.pid
for e in /sys/class/input/event*; do
	[ "$(cat "$e/device/name" 2>/dev/null)" = "Power Button" ] && echo "TERN-HP-BUTTON ${e##*/}"
done
disks() { ls /sys/block | grep '^vd' | tr '\n' ' '; }
nets() { ls /sys/class/net | grep -v '^lo$' | tr '\n' ' '; }
count() { set -- $1; echo $#; }
# wait_count WHAT N: up to 20 s for N of WHAT (disks or nets).
wait_count() {
	i=0
	while [ "$(count "$($1)")" -ne "$2" ] && [ $i -lt 200 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}
echo TERN-HP-READY
while read -r cmd arg; do
	case $cmd in
	disks)
		wait_count disks "$arg"
		echo "TERN-HP-DISKS $(count "$(disks)") $(disks)"
		;;
	sum)
		echo "TERN-HP-SUM $arg $(head -c 1048576 "/dev/$arg" | md5sum | cut -d' ' -f1)"
		;;
	nets)
		wait_count nets "$arg"
		echo "TERN-HP-NETS $(count "$(nets)") $(nets)"
		;;
	ping)
		dev=$(nets | awk "{ print \$NF }")
		ip addr flush dev "$dev" 2>/dev/null
		ip addr add 169.254.77.2/24 dev "$dev"
		ip link set "$dev" up
		for i in 1 2 3 4 5 6 7 8 9 10; do ping -c 1 -W 1 $host >/dev/null 2>&1 && break; done
		if ping -c 3 -W 2 $host >/dev/null 2>&1; then
			echo "TERN-HP-PING ok $dev"
		else
			echo "TERN-HP-PING fail $dev"
		fi
		ip link set "$dev" down
		;;
	quit)
		break
		;;
	*)
		echo "TERN-HP-WHAT $cmd"
		;;
	esac
done
exit 0
