# Guest side of the vhost-user-blk checks (tests/host/vu-check): Linux's
# virtio_blk driver against tern-blk, with QEMU as the vhost-user
# front-end. What to do comes as tern.NAME=VALUE on the kernel command
# line; results are TERN-CHECK lines, and TERN-SUM lines for the host to
# compare with the image file afterwards.
. /lib.sh
sum() { dd if="$1" bs=1M count="$2" iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1; }
mib=$(arg mib)

case $(arg mode) in
rw)
	q=$(ls /sys/block/vda/mq | wc -l)
	check "mq: $q queues, want $(arg queues)" [ "$q" -eq "$(arg queues)" ]
	[ -z "$(arg serial)" ] || check "serial: $(cat /sys/block/vda/serial 2>/dev/null)" \
		[ "$(cat /sys/block/vda/serial 2>/dev/null)" = "$(arg serial)" ]
	check "size: $(cat /sys/block/vda/size) sectors" [ "$(cat /sys/block/vda/size)" -eq "$(arg sectors)" ]
	dd if=/dev/urandom of=/tmp/pattern bs=1M count="$mib" 2>/dev/null
	want=$(md5sum </tmp/pattern | cut -d' ' -f1)
	# Through the page cache, then fsync: the device sees writes and a
	# FLUSH.
	dd if=/tmp/pattern of=/dev/vda bs=256k conv=fsync 2>/dev/null
	check "write pattern" [ $? -eq 0 ]
	echo 3 >/proc/sys/vm/drop_caches
	check "read back after drop_caches" [ "$(dd if=/dev/vda bs=1M count="$mib" 2>/dev/null | md5sum | cut -d' ' -f1)" = "$want" ]
	check "read back direct" [ "$(sum /dev/vda "$mib")" = "$want" ]
	echo "TERN-SUM $want"
	# Past the end: the driver refuses, the device is never asked.
	check "read past the end fails" [ "$(dd if=/dev/vda bs=512 skip="$(arg sectors)" count=1 iflag=direct 2>/dev/null | wc -c)" -eq 0 ]
	;;
stress-fio)
	# fio from the tools disk (tern.tools) writes random 4k blocks with
	# crc32c headers on tern.dev and reads every one back, round after
	# round for tern.seconds, while the host kills and restarts the
	# back-end: a lost or torn write fails the verify.
	. /tools.sh
	tools_mount "/dev/$(arg tools)" || exit 1
	dev=/dev/$(arg dev)
	echo TERN-IO-START
	now() { cut -d. -f1 /proc/uptime; }
	end=$(($(now) + $(arg seconds)))
	i=0
	ok=1
	while [ $i -eq 0 ] || [ "$(now)" -lt $end ]; do
		tools_run fio --name=wv --filename="$dev" --rw=randwrite --bs=4k --size="${mib}M" \
			--ioengine=libaio --iodepth=8 --direct=1 --verify=crc32c --do_verify=1 \
			--verify_fatal=1 --randseed=$i --output-format=terse >/tmp/fio.out 2>&1 || { ok=0; tail -c 400 /tmp/fio.out; }
		i=$((i + 1))
	done
	echo TERN-IO-END
	check "fio write-verify across back-end restarts: $i rounds" [ $ok -eq 1 ]
	;;
stress)
	# Writes and reads for tern.seconds while the host kills and
	# restarts the back-end: every block must come back as written.
	dd if=/dev/urandom of=/tmp/pattern bs=1M count="$mib" 2>/dev/null
	want=$(md5sum </tmp/pattern | cut -d' ' -f1)
	echo TERN-IO-START
	now() { cut -d. -f1 /proc/uptime; }
	end=$(($(now) + $(arg seconds)))
	i=0
	ok=1
	while [ $i -eq 0 ] || [ "$(now)" -lt $end ]; do
		dd if=/tmp/pattern of=/dev/vda bs=64k oflag=direct 2>/dev/null || ok=0
		[ "$(sum /dev/vda "$mib")" = "$want" ] || ok=0
		i=$((i + 1))
	done
	echo TERN-IO-END
	check "pattern intact across back-end restarts: $i rounds" [ $ok -eq 1 ]
	echo "TERN-SUM $want"
	;;
*)
	echo "unknown tern.mode"
	status=1
	;;
esac
sync
exit $status
