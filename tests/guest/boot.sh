# Guest side of tests/host/l1-suite, run by the test guest's init (busybox
# sh). What to check comes on the kernel command line as tern.NAME=VALUE.
. /lib.sh

case $(arg mode) in
boot)
	n=$(grep -c '^processor' /proc/cpuinfo)
	check "cpus: $n online, want $(arg cpus)" [ "$n" -eq "$(arg cpus)" ]
	# MemTotal is RAM less what the kernel keeps for itself (about 50 MiB
	# for this kernel whatever the size) and the holes below 1 MiB.
	kb=$(awk '/^MemTotal/ { print $2 }' /proc/meminfo)
	want=$(($(arg mem_mb) * 1024))
	check "memory: MemTotal ${kb} kB of ${want} kB" [ "$kb" -le "$want" -a "$kb" -ge $((want - 65536)) ]
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
topology)
	# Each CPU's APIC id and package as the host computed them
	# (tern.apicids, tern.packages: comma lists in CPU order), read
	# from what the guest's kernel made of the CPUID and the MADT.
	# "apicid" is the LAPIC's (KVM's vCPU id), "initial apicid" what
	# CPUID leaf 1 says.
	ids= initial= pkgs=
	for c in $(seq 0 $(($(arg cpus) - 1))); do
		id=$(awk -v c="$c" '$1 == "processor" { p = $3 }
			p == c && /^apicid/ { print $3 }' /proc/cpuinfo)
		first=$(awk -v c="$c" '$1 == "processor" { p = $3 }
			p == c && /^initial apicid/ { print $4 }' /proc/cpuinfo)
		pkg=$(cat /sys/devices/system/cpu/cpu$c/topology/physical_package_id)
		ids=$ids${ids:+,}$id initial=$initial${initial:+,}$first
		pkgs=$pkgs${pkgs:+,}$pkg
	done
	check "apicids: $ids, want $(arg apicids)" [ "$ids" = "$(arg apicids)" ]
	check "initial apicids (CPUID): $initial" [ "$initial" = "$(arg apicids)" ]
	check "packages: $pkgs, want $(arg packages)" [ "$pkgs" = "$(arg packages)" ]
	# Leaf 0xB as the last CPU reads it (the cpuid module: a 16-byte
	# read at offset subleaf << 32 | leaf gives EAX EBX ECX EDX), its
	# subleaves joined by '/': what Intel guests, and AMD guests with
	# TOPOEXT, take their topology from.
	last=$(($(arg cpus) - 1)) leafb=
	for s in 0 1 2; do
		r=$(dd if=/dev/cpu/$last/cpuid bs=16 count=1 iflag=skip_bytes \
			skip=$(((s << 32) | 0xb)) 2>/dev/null | od -An -tu4 | tr -s ' ' | sed 's/^ //; s/ $//; s/ /:/g')
		leafb=$leafb${leafb:+/}$r
	done
	check "leaf 0xB: $leafb, want $(arg leafb)" [ "$leafb" = "$(arg leafb)" ]
	# The physical address width the kernel took from leaf 0x80000008.
	pb=$(awk '/^address sizes/ { print $4; exit }' /proc/cpuinfo)
	check "physical address bits: $pb, want $(arg physbits)" [ "$pb" = "$(arg physbits)" ]
	;;
reboot)
	reboot -f
	;;
mem)
	kb=$(awk '/^MemTotal/ { print $2 }' /proc/meminfo)
	want=$(($(arg mem_mb) * 1024))
	check "memory: MemTotal ${kb} kB of ${want} kB" [ "$kb" -le "$want" -a "$kb" -ge $((want - 65536)) ]
	;;
*)
	echo "unknown tern.mode"
	status=1
	;;
esac
exit $status
