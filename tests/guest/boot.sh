# Guest side of tests/host/guest-tests, run by the test guest's init (busybox
# sh). What to check comes on the kernel command line as tern.NAME=VALUE.
arg() { sed -n "s/.*tern\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
status=0
check() { # check NAME CONDITION...
	name=$1
	shift
	if "$@"; then echo "TERN-CHECK ok $name"; else echo "TERN-CHECK FAIL $name"; status=1; fi
}

case $(arg mode) in
boot)
	n=$(grep -c '^processor' /proc/cpuinfo)
	check "cpus: $n online, want $(arg cpus)" [ "$n" -eq "$(arg cpus)" ]
	# MemTotal is RAM less what the kernel keeps for itself and the
	# legacy holes below 1 MiB: within 85%..100% of --memory.
	kb=$(awk '/^MemTotal/ { print $2 }' /proc/meminfo)
	want=$(($(arg mem_mb) * 1024))
	check "memory: MemTotal ${kb} kB of ${want} kB" [ "$kb" -le "$want" -a "$kb" -ge $((want * 85 / 100)) ]
	# The CMOS clock against the host's clock when tern started: the
	# nested boot takes seconds, not minutes.
	rtc=$(cat /sys/class/rtc/rtc0/since_epoch 2>/dev/null || echo 0)
	host=$(arg hosttime)
	check "rtc: $rtc vs host $host" [ "$rtc" -ge $((host - 5)) -a "$rtc" -le $((host + 300)) ]
	# Serial input: the host types a line when it sees the prompt.
	echo TERN-READY
	if read -t 120 -r line; then
		echo "TERN-GOT $line"
	else
		check "serial input" false
	fi
	;;
reboot)
	reboot -f
	;;
*)
	echo "unknown tern.mode"
	status=1
	;;
esac
exit $status
