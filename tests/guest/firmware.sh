# Guest side of the firmware-boot tests (tests/host/l1-suite, section
# firmware): a BIOS loaded this kernel from a disk or a CD, and its boot
# loader passed the command line. tern.boot says from what (ide, virtio,
# cd; kernel: no BIOS, tern itself booted the virtio image's kernel, the
# firmware bench's floor), tern.tag which image (tests/host/mkdisk writes
# TERN-DISK-<tag> in sector 1).
# The checks follow the hardware the VMM gives (tern or QEMU, the same
# image): a second IDE disk gets a write/read round trip, a NIC pings the
# test host, a CD has /tern/data with the md5 in tern.sum.
. /lib.sh

echo "TERN-BOOTED boot=$(arg boot) tag=$(arg tag)"
# SMBIOS and the MP table come from the firmware only (a direct kernel
# boot has neither: tern.boot=kernel, the firmware bench's floor, boots
# this kernel with virtio-blk's image attached and no firmware).
if [ "$(arg boot)" != kernel ]; then
	check "SMBIOS from the firmware: $(cat /sys/class/dmi/id/bios_vendor 2>/dev/null)" \
		[ -s /sys/class/dmi/id/bios_vendor ]
fi
check "ACPI tables" [ -e /sys/firmware/acpi/tables/DSDT ]
echo "TERN-ACPI-OEM $(dd if=/sys/firmware/acpi/tables/DSDT bs=1 skip=10 count=4 2>/dev/null)"
# The CPUs the firmware woke and the kernel brought up, by APIC id.
echo "TERN-CPUS $(awk '/^apicid/ { s = s (s == "" ? "" : ",") $3 } END { print s }' /proc/cpuinfo)"
# The boot disk: the one holding this image's tag (disk names follow the
# order the drivers' probes finish, not the bus order).
boot=''
for d in /dev/sd? /dev/vd?; do
	[ -b "$d" ] || continue
	dd if=$d bs=512 skip=1 count=1 2>/dev/null | grep -q "^TERN-DISK-$(arg tag)\$" && boot=$d
done
if [ "$(arg boot)" != cd ]; then
	check "boot disk holds TERN-DISK-$(arg tag): ${boot:-none}" [ -n "$boot" ]
	case $(arg boot) in
	ide) check "boot disk is on IDE" [ "${boot#/dev/sd}" != "$boot" ] ;;
	virtio | kernel) check "boot disk is virtio-blk" [ "${boot#/dev/vd}" != "$boot" ] ;;
	esac
fi
if [ -e /sys/bus/pci/devices/0000:00:01.1 ]; then
	check "ata_piix drives 00:01.1" [ -e /sys/bus/pci/drivers/ata_piix/0000:00:01.1 ]
fi
# A scratch disk: the IDE disk that holds no TERN-DISK tag.
for s in /dev/sda /dev/sdb /dev/sdc /dev/sdd; do
	[ -b $s ] || continue
	dd if=$s bs=512 skip=1 count=1 2>/dev/null | grep -q '^TERN-DISK-' && continue
	dd if=/dev/urandom of=/tmp/w bs=64k count=32 2>/dev/null
	dd if=/tmp/w of=$s bs=64k oflag=direct 2>/dev/null
	check "ata_piix round trip on $s" \
		[ "$(dd if=$s bs=64k count=32 iflag=direct 2>/dev/null | md5sum)" = "$(md5sum </tmp/w)" ]
	break
done
if [ "$(arg boot)" = cd ]; then
	mkdir -p /cd
	check "mount the CD (sr0)" mount -t iso9660 -o ro /dev/sr0 /cd
	check "file on the CD has md5 $(arg sum)" \
		[ "$(md5sum </cd/tern/data | cut -d' ' -f1)" = "$(arg sum)" ]
	umount /cd
fi
nic=$(ls /sys/class/net | grep -v '^lo$' | head -n 1)
if [ -n "$nic" ]; then
	host=169.254.78.1
	# Two guests may share the test host's bridge: the address follows
	# the MAC's last byte.
	me=$((0x$(cut -d: -f6 </sys/class/net/$nic/address)))
	ip link set lo up
	ip addr add 169.254.78.$me/24 dev "$nic"
	ip link set "$nic" up
	for i in 1 2 3 4 5 6 7 8 9 10; do
		[ "$(cat /sys/class/net/$nic/carrier 2>/dev/null)" = 1 ] && break
		sleep 0.5
	done
	for i in 1 2 3 4 5 6 7 8 9 10; do ping -c 1 -W 1 $host >/dev/null 2>&1 && break; done
	check "$(basename "$(readlink /sys/class/net/$nic/device/driver)") ping the test host" \
		ping -c 3 -W 2 $host
fi
exit "$status"
