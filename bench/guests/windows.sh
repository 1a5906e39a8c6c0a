# shellcheck shell=sh
# Sourced by tern-bench's guest scripts (blk.sh, net.sh, legacy.sh; mkguest --files
# bench/guests/windows.sh:/windows.sh): the console protocol of a measuring window, the disk and NIC set-up, and the fio and iperf3 runs and summaries.
# Only one short line per window crosses the serial console (each character costs the VMM an exit); fio's JSON and
# iperf3's text stay in the guest.
#
# Console protocol, per window W of a kind K (FIO or NET; first "null": nothing runs, it measures the protocol's
# own exits; then each job):
#         TERN-K-START W   then waits for a line (the driver samples KVM's counters, for NET after it started the
#                          job's iperf3 server)
#         the kind's counters, the job (not for null), the counters again
#         TERN-K-END W     then waits for a line (the driver samples again)
#         TERN-K W status=S COUNTER=DELTA... [the job's figures]
# FIO counters: DEV_ios, completed requests (reads, writes, discards, flushes in /sys/block/DEV/stat) of the disk
# under test and of the tools disk over the whole window, ramp time included, so that they match the window of
# the KVM counters. NET counters: rx_pkts/tx_pkts and rx_bytes/tx_bytes, /sys/class/net/DEV/statistics deltas
# (what the NIC moved: one GSO/GRO buffer is one packet, so packets of different NICs differ in size; bytes do
# not). From the kernel command line (tern.NAME=VALUE, all from the driver): see each part below.
arg() { sed -n "s/.*tern\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }

# busybox sh has read -t.
# shellcheck disable=SC3045
go_wait() { # go_wait W: the driver's line, or TERN-BENCH-NOGO after 120 s
	read -t 120 -r _ && return 0
	echo "TERN-BENCH-NOGO $1"
	return 1
}

deltas() { # deltas "k=v ..." "k=v ...": "k=v2-v1 ..." in the first one's order
	printf '%s\n%s\n' "$1" "$2" | awk '
	NR == 1 { for (i = 1; i <= NF; i++) { split($i, a, "="); k[i] = a[1]; v[a[1]] = a[2] } n = NF; next }
	{ for (i = 1; i <= NF; i++) { split($i, a, "="); w[a[1]] = a[2] } }
	END { for (i = 1; i <= n; i++) printf "%s%s=%.0f", (i > 1 ? " " : ""), k[i], w[k[i]] - v[k[i]]; printf "\n" }'
}

window() { # window KIND W COUNTERS RUN RESULT: one window; COUNTERS prints "k=v ...", RUN W runs the job, RESULT W
	# prints its figures ("k=v ...")
	echo "TERN-$1-START $2"
	go_wait "$2" || return 1
	c1=$($3) st=0
	if [ "$2" != null ]; then
		$4 "$2" || st=$?
	fi
	c2=$($3)
	echo "TERN-$1-END $2"
	go_wait "$2" || return 1
	if [ "$2" = null ]; then
		echo "TERN-$1 $2 status=0 $(deltas "$c1" "$c2")"
		return 0
	fi
	echo "TERN-$1 $2 status=$st $(deltas "$c1" "$c2") $($5 "$2")"
	return $st
}

# --- disks and fio: tern.sectors=N and tern.tools_sectors=N (the sizes of the disk under test and of the tools
# disk: which is which is found by size, whatever the bus and the order: vdX for virtio, sdX for IDE),
# tern.jobs=J1,J2,... (names), tern.fio=O1:O2:... (fio options common to every job, without the leading -- and
# without filename=), tern.fio.J=O1:O2:... (one job's own options). The tools disk's helpers are
# tests/guest/tools-init-snippet (mkguest --files ...:/tools.sh).

find_disk() { # find_disk SECTORS: the one disk (vd*, sd*) of that size, or nothing
	n=0 found=''
	for d in /sys/block/vd* /sys/block/sd*; do
		if [ -e "$d/size" ] && [ "$(cat "$d/size")" = "$1" ]; then
			n=$((n + 1)) found=${d##*/}
		fi
	done
	[ $n -eq 1 ] && echo "$found"
}

disk_setup() { # finds the disks (SCSI disks appear asynchronously: up to 10 s), mounts and warms the tools disk,
	# prints TERN-BLK-READY disk=DEV tools=DEV queues=N cpus=N sectors=N
	. /tools.sh
	i=0
	while :; do
		DISK=$(find_disk "$(arg sectors)") TOOLSDEV=$(find_disk "$(arg tools_sectors)")
		[ -n "$DISK" ] && [ -n "$TOOLSDEV" ] && break
		i=$((i + 1))
		if [ $i -gt 50 ]; then
			echo "TERN-BLK-READY disk=${DISK:-none} tools=${TOOLSDEV:-none} devices=$(ls /sys/block | tr '\n' ,)"
			return 1
		fi
		sleep 0.2
	done
	tools_mount "/dev/$TOOLSDEV" || return 1
	# Every tool start after this is served from the page cache: no tools-disk I/O inside the windows.
	tools_warm
	echo "TERN-BLK-READY disk=$DISK tools=$TOOLSDEV queues=$(ls "/sys/block/$DISK/mq" | wc -l)" \
		"cpus=$(grep -c ^processor /proc/cpuinfo) sectors=$(cat "/sys/block/$DISK/size")"
}

ios() { # ios DEV: completed requests so far
	awk '{ print $1 + $5 + ($12 == "" ? 0 : $12) + ($16 == "" ? 0 : $16) }' "/sys/block/$1/stat"
}

disk_counters() {
	echo "${DISK}_ios=$(ios "$DISK") ${TOOLSDEV}_ios=$(ios "$TOOLSDEV")"
}

opts() { # opts A:B:C -> --A --B --C
	echo "$1" | tr ':' '\n' | sed -n 's/^./--&/p' | tr '\n' ' '
}

fio_run() { # fio_run W: fio from the tools disk (chrooted: its /tmp is $TOOLS/tmp)
	# shellcheck disable=SC2046 # word splitting of the options is the point
	tools_run fio --name="$1" --filename="/dev/$DISK" $(opts "$(arg fio)") $(opts "$(arg "fio\.$1")") \
		--output-format=json --output="/tmp/$1.json" >"$TOOLS/tmp/$1.out" 2>&1 && return 0
	rc=$?
	tail -n 3 "$TOOLS/tmp/$1.out"
	return $rc
}

fio_summary() { # fio_summary JSON: the figures of the (single, group-reported) job: iops, bw (KiB/s), total_ios
	# (after ramp_time) and runtime (ms), summed over its read and write sections (a job does one of them)
	awk '
	/^ *"(read|write|trim|sync)" : \{/ { s = $1; gsub(/"/, "", s); next }
	function val() { v = $3; sub(/,$/, "", v); return v }
	/^ *"error" :/ && !("error" in seen) { seen["error"] = 1; err = val() }
	s == "read" || s == "write" {
		if ($1 == "\"iops\"") iops += val()
		else if ($1 == "\"bw\"") bw += val()
		else if ($1 == "\"total_ios\"") n += val()
		else if ($1 == "\"runtime\"" && val() > rt) rt = val()
	}
	END { printf "iops=%.3f bw_kib=%d ios=%d runtime_ms=%d fio_err=%s\n", iops, bw, n, rt, err == "" ? "none" : err }
	' "$1"
}

fio_result() { fio_summary "$TOOLS/tmp/$1.json"; }

windows() { # windows KIND JOBS COUNTERS RUN RESULT: the null window, then one for every job of tern.JOBS
	ws=0
	for w in null $(arg "$2" | tr , ' '); do
		window "$1" "$w" "$3" "$4" "$5" || ws=1
	done
	return $ws
}

fio_windows() { windows FIO jobs disk_counters fio_run fio_result; }

# --- the NIC and iperf3: tern.host=ADDR (the test host's end of the tap), tern.addr=ADDR/LEN (ours),
# tern.netjobs=J1,J2,... (names), tern.iperf=O1:O2:... (iperf3 client words common to every job),
# tern.iperf.J=O1:O2:... (one job's own words), tern.limit=S (seconds before a hung iperf3 is killed). iperf3 and
# ethtool are in the initramfs (/usr/bin, mkguest --tools).

nic_setup() { # IPv4 on the first NIC, pings the test host until it answers (the ARP entry is then warm), prints
	# TERN-NET-READY dev=D ping=0|1 pairs=N mtu=N tso=on|off mac=M driver=NAME features=bBITS (BITS: the
	# negotiated virtio features, sysfs' '0'/'1' string, bit 0 first, empty for other NICs; the 'b' keeps it a
	# string for the parser)
	NIC=''
	for d in /sys/class/net/*; do
		[ "${d##*/}" = lo ] || { NIC=${d##*/}; break; }
	done
	if [ -z "$NIC" ]; then
		echo "TERN-NET-READY dev=none"
		return 1
	fi
	# No IPv6: no router solicitations, DAD or MLD reports in the windows.
	for c in all default "$NIC"; do
		f=/proc/sys/net/ipv6/conf/$c/disable_ipv6
		[ -w "$f" ] && echo 1 >"$f"
	done
	ip link set lo up
	ip addr add "$(arg addr)" dev "$NIC"
	ip link set "$NIC" up
	ok=0 n=0
	while [ $n -lt 20 ]; do
		if ping -c 1 -W 1 "$(arg host)" >/dev/null 2>&1; then ok=1; break; fi
		n=$((n + 1))
	done
	pairs=0
	for q in /sys/class/net/"$NIC"/queues/rx-*; do [ -e "$q" ] && pairs=$((pairs + 1)); done
	tso=$(/usr/bin/ethtool -k "$NIC" 2>/dev/null | awk -F': ' '$1 == "tcp-segmentation-offload" { print $2 }')
	drv=$(readlink "/sys/class/net/$NIC/device/driver")
	echo "TERN-NET-READY dev=$NIC ping=$ok pairs=$pairs mtu=$(cat /sys/class/net/"$NIC"/mtu) tso=${tso:-?}" \
		"mac=$(cat /sys/class/net/"$NIC"/address) driver=${drv##*/}" \
		"features=b$(cat /sys/class/net/"$NIC"/device/features 2>/dev/null)"
	[ $ok = 1 ]
}

nic_counters() {
	for c in rx_packets tx_packets rx_bytes tx_bytes; do
		printf '%s=%s ' "$c" "$(cat "/sys/class/net/$NIC/statistics/$c")"
	done | sed 's/_packets=/_pkts=/g; s/ $//'
	echo
}

words() { # words A:B:C -> A B C
	echo "$1" | tr ':' ' '
}

iperf_run() { # iperf_run W
	# shellcheck disable=SC2046 # word splitting of the options is the point
	timeout "$(arg limit)" /usr/bin/iperf3 $(words "$(arg iperf)") $(words "$(arg "iperf\.$1")") \
		>"/tmp/$1.txt" 2>&1 && return 0
	rc=$?
	tail -n 3 "/tmp/$1.txt"
	return $rc
}

iperf_summary() { # iperf_summary FILE: the figures of iperf3's (-f k) summary lines: rcv_kbps/snd_kbps its
	# "receiver"/"sender" lines, lost/dgrams the receiver's UDP Lost/Total Datagrams, sent_dgrams the sender's
	awk '
	function field(re,   i) { for (i = 1; i <= NF; i++) if ($i ~ re) return i; return 0 }
	$NF == "sender" || $NF == "receiver" {
		side = $NF
		i = field("^Kbits/sec$"); if (i) kbps[side] = $(i - 1)
		i = field("^[0-9.]+-[0-9.]+$"); if (i && side == "receiver") { split($i, t, "-"); secs = t[2] }
		i = field("^[0-9]+/[0-9]+$"); if (i) { split($i, d, "/"); lost[side] = d[1]; total[side] = d[2]; udp = 1 }
	}
	END {
		printf "rcv_kbps=%s snd_kbps=%s secs=%s", ("receiver" in kbps) ? kbps["receiver"] : "none",
			("sender" in kbps) ? kbps["sender"] : "none", secs == "" ? "none" : secs
		if (udp) printf " lost=%s dgrams=%s sent_dgrams=%s", lost["receiver"], total["receiver"], total["sender"]
		printf "\n"
	}' "$1"
}

iperf_result() { iperf_summary "/tmp/$1.txt"; }

net_windows() { windows NET netjobs nic_counters iperf_run iperf_result; }
