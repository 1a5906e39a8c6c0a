# Guest script of tern-bench's net scenario, run by tests/guest/init (which has already printed TERN-GUEST-INIT).
# One virtio-net NIC on a tap in the test host (L1); the driver runs an iperf3 server there for each job, bound to
# the tap's address. IPv4 link-local only (169.254.0.0/16): the test host has no NIC, nothing leaves it.
# iperf3 and ethtool are in the initramfs (/usr/bin, mkguest --tools). From the kernel command line:
# tern.host=ADDR (the test host's end of the tap), tern.addr=ADDR/LEN (ours), tern.jobs=J1,J2,... (names),
# tern.iperf=O1:O2:... (iperf3 client words common to every job), tern.iperf.J=O1:O2:... (one job's own words),
# tern.limit=S (seconds before a hung iperf3 is killed). All of them come from the driver.
#
# First, once the test host answers a ping (the ARP entry is then warm):
#         TERN-NET-READY dev=D ping=0|1 pairs=N mtu=N tso=on|off mac=M features=bBITS   (BITS: the negotiated
#         virtio features, sysfs' '0'/'1' string, bit 0 first; the 'b' keeps it a string for the parser)
# Console protocol, per window W (first "null": nothing runs, it measures the protocol's own exits; then each
# job):   TERN-NET-START W   then waits for a line (the driver starts the job's iperf3 server, samples KVM's counters)
#         eth0's packet counters, iperf3 -c (not for null), the counters again
#         TERN-NET-END W     then waits for a line (the driver samples again)
#         TERN-NET W status=S rx_pkts=N tx_pkts=N rcv_kbps=X snd_kbps=X secs=X [lost=N dgrams=N sent_dgrams=N]
# Only that one short line per job crosses the serial console (each character costs the VMM an exit); iperf3's
# text output stays in the guest. rx_pkts/tx_pkts are /sys/class/net/DEV/statistics deltas over the window (what
# virtio-net moved: one GSO/GRO buffer is one packet). rcv_kbps/snd_kbps are iperf3's "receiver"/"sender" summary
# lines (-f k), lost/dgrams the receiver's UDP Lost/Total Datagrams, sent_dgrams the sender's.
arg() { sed -n "s/.*tern\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }

host=$(arg host)
dev=''
for d in /sys/class/net/*; do
	[ "${d##*/}" = lo ] || { dev=${d##*/}; break; }
done
if [ -z "$dev" ]; then
	echo "TERN-NET-READY dev=none"
	exit 1
fi
st=/sys/class/net/$dev/statistics
# No IPv6: no router solicitations, DAD or MLD reports in the windows.
for c in all default "$dev"; do
	f=/proc/sys/net/ipv6/conf/$c/disable_ipv6
	[ -w "$f" ] && echo 1 >"$f"
done
ip link set lo up
ip addr add "$(arg addr)" dev "$dev"
ip link set "$dev" up
ok=0 n=0
while [ $n -lt 20 ]; do
	if ping -c 1 -W 1 "$host" >/dev/null 2>&1; then ok=1; break; fi
	n=$((n + 1))
done
pairs=0
for q in /sys/class/net/"$dev"/queues/rx-*; do [ -e "$q" ] && pairs=$((pairs + 1)); done
tso=$(/usr/bin/ethtool -k "$dev" 2>/dev/null | awk -F': ' '$1 == "tcp-segmentation-offload" { print $2 }')
echo "TERN-NET-READY dev=$dev ping=$ok pairs=$pairs mtu=$(cat /sys/class/net/"$dev"/mtu) tso=${tso:-?}" \
	"mac=$(cat /sys/class/net/"$dev"/address)" \
	"features=b$(cat /sys/class/net/"$dev"/device/features 2>/dev/null)"
[ $ok = 1 ] || exit 1

words() { # words A:B:C -> A B C
	echo "$1" | tr ':' ' '
}

iperf_summary() { # iperf_summary FILE: the figures of iperf3's (-f k) summary lines
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

# busybox sh has read -t.
# shellcheck disable=SC3045
window() { # window NAME
	w=$1
	echo "TERN-NET-START $w"
	if ! read -t 120 -r _; then echo "TERN-BENCH-NOGO $w"; return 1; fi
	r=$(cat "$st/rx_packets") t=$(cat "$st/tx_packets") s=0
	if [ "$w" != null ]; then
		# shellcheck disable=SC2046 # word splitting of the options is the point
		timeout "$(arg limit)" /usr/bin/iperf3 $(words "$(arg iperf)") $(words "$(arg "iperf\.$w")") \
			>"/tmp/$w.txt" 2>&1 || s=$?
	fi
	r2=$(cat "$st/rx_packets") t2=$(cat "$st/tx_packets")
	echo "TERN-NET-END $w"
	if ! read -t 120 -r _; then echo "TERN-BENCH-NOGO $w"; return 1; fi
	if [ "$w" = null ]; then
		echo "TERN-NET $w status=0 rx_pkts=$((r2 - r)) tx_pkts=$((t2 - t))"
		return 0
	fi
	echo "TERN-NET $w status=$s rx_pkts=$((r2 - r)) tx_pkts=$((t2 - t)) $(iperf_summary "/tmp/$w.txt")"
	if [ $s -ne 0 ]; then
		tail -n 3 "/tmp/$w.txt"
	fi
	return $s
}

status=0
for w in null $(arg jobs | tr , ' '); do
	window "$w" || status=1
done
exit $status
