# Guest side of the virtio-blk tests (tests/host/l1-suite): Linux's own
# virtio_blk driver against tern's device. What to do comes on the kernel
# command line as tern.NAME=VALUE; results are TERN-CHECK lines.
. /lib.sh
sum() { dd if="$1" bs=1M count="$2" iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1; }

case $(arg mode) in
write)
	# Queues as the driver sees them, then a pattern for the host to
	# check in the image file after poweroff.
	q=$(ls /sys/block/vda/mq | wc -l)
	check "mq: $q queues, want $(arg queues)" [ "$q" -eq "$(arg queues)" ]
	check "serial: $(cat /sys/block/vda/serial 2>/dev/null)" [ "$(cat /sys/block/vda/serial 2>/dev/null)" = "$(arg serial)" ]
	dd if=/dev/urandom of=/tmp/pattern bs=1M count=8 2>/dev/null
	dd if=/tmp/pattern of=/dev/vda bs=1M oflag=direct conv=fsync 2>/dev/null
	check "write pattern" [ $? -eq 0 ]
	# The host compares the image file's first MiB with this.
	echo "TERN-SUM $(head -c 1048576 /tmp/pattern | md5sum | cut -d' ' -f1)"
	check "read back" [ "$(sum /dev/vda 8)" = "$(md5sum </tmp/pattern | cut -d' ' -f1)" ]
	# Discard: the range reads back as zeros (the image is a file).
	blkdiscard -o 1048576 -l 1048576 /dev/vda
	check "discard" [ $? -eq 0 ]
	check "discarded reads zero" [ "$(dd if=/dev/vda bs=1M skip=1 count=1 iflag=direct 2>/dev/null | tr -d '\000' | wc -c)" -eq 0 ]
	# Exits to userspace during direct I/O: the host samples KVM's
	# counters at these markers.
	n=$(arg ios)
	echo TERN-IO-START
	read -r go
	dd if=/dev/vda of=/dev/null bs=4k count="$n" iflag=direct 2>/dev/null
	echo TERN-IO-END
	read -r go
	;;
rw)
	# A pattern through whatever ring the device offered (packed or
	# split), then write-zeroes (util-linux fallocate -z issues
	# REQ_OP_WRITE_ZEROES on a block device; busybox sh would run its own
	# fallocate applet, which has no -z, so the path is spelled out).
	dd if=/dev/urandom of=/tmp/pattern bs=1M count=4 2>/dev/null
	dd if=/tmp/pattern of=/dev/vda bs=64k oflag=direct 2>/dev/null
	check "rw: read back" [ "$(sum /dev/vda 4)" = "$(md5sum </tmp/pattern | cut -d' ' -f1)" ]
	/usr/bin/fallocate -z -o 1048576 -l 1048576 /dev/vda
	check "write-zeroes" [ $? -eq 0 ]
	check "zeroed reads zero" [ "$(dd if=/dev/vda bs=1M skip=1 count=1 iflag=direct 2>/dev/null | tr -d '\000' | wc -c)" -eq 0 ]
	check "rest intact" [ "$(dd if=/dev/vda bs=1M skip=2 count=2 iflag=direct 2>/dev/null | md5sum)" = "$(dd if=/tmp/pattern bs=1M skip=2 count=2 2>/dev/null | md5sum)" ]
	;;
fio)
	# fio from the tools disk (vdb): random mixed I/O whose every block
	# is checked against what was written (crc32c), on vda.
	. /tools.sh
	tools_mount /dev/vdb || exit 1
	tools_run fio --name=verify --filename=/dev/vda --rw=randrw --bs=4k --size=32M \
		--ioengine=libaio --iodepth=16 --direct=1 --verify=crc32c --verify_fatal=1 \
		--output-format=terse >/tmp/fio.out 2>&1
	check "fio randrw verify" [ $? -eq 0 ]
	tail -c 300 /tmp/fio.out
	;;
fio-poll)
	# A polled queue: virtio_blk with poll_queues=1 on a 2-queue disk
	# gives its second queue no interrupt vector and spins on that
	# queue's used ring for I/O that asks for polling (io_uring's IOPOLL,
	# fio --hipri). busybox insmod takes no parameters from the kernel
	# command line, so the driver is loaded again with it.
	ko=$(grep '/virtio_blk\.ko' /etc/modules)
	rmmod virtio_blk && insmod "$ko" poll_queues=1
	check "virtio_blk poll_queues=1 loaded" [ $? -eq 0 ]
	n=0
	while [ ! -b /dev/vdb ] && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
	check "polled queue: io_poll $(cat /sys/block/vda/queue/io_poll)" \
		[ "$(cat /sys/block/vda/queue/io_poll)" = 1 ]
	. /tools.sh
	tools_mount /dev/vdb || exit 1
	# vda's interrupts (its virtioN-req lines) and completed I/Os.
	dev=$(basename "$(readlink -f /sys/block/vda/device)")
	irqs() { awk -v d="$dev-req" 'index($0, d) { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i } END { print n + 0 }' /proc/interrupts; }
	ios() { awk '{ print $1 + $5 }' /sys/block/vda/stat; }
	i0=$(irqs) o0=$(ios)
	tools_run fio --name=polled --filename=/dev/vda --rw=randrw --bs=4k --size=32M \
		--ioengine=io_uring --hipri --iodepth=8 --direct=1 --verify=crc32c --verify_fatal=1 \
		--output-format=terse >/tmp/fio.out 2>&1
	check "fio polled randrw verify" [ $? -eq 0 ]
	tail -c 300 /tmp/fio.out
	# fio's 8192 random reads and writes, then the verify's reads of what
	# it wrote, completed by polling: next to no interrupts.
	i=$(($(irqs) - i0)) o=$(($(ios) - o0))
	check "polled: $o I/Os, $i interrupts of $dev" [ "$o" -ge 8192 -a $((i * 10)) -lt "$o" ]
	;;
verify)
	check "pattern survives reboot" [ "$(sum /dev/vda 8 | head -c 32)" = "$(arg sum)" ]
	;;
readonly)
	dd if=/dev/zero of=/dev/vda bs=4k count=1 oflag=direct 2>/dev/null
	check "write to read-only disk fails" [ $? -ne 0 ]
	check "read-only disk reads" [ -n "$(sum /dev/vda 1)" ]
	;;
enospc)
	dd if=/dev/urandom of=/dev/vda bs=1M count=16 oflag=direct 2>/dev/null
	check "write beyond host space fails" [ $? -ne 0 ]
	check "disk still reads" [ -n "$(sum /dev/vda 1)" ]
	;;
*)
	echo "unknown tern.mode"
	status=1
	;;
esac
exit $status
