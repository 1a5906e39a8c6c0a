# Guest script of tern-bench's blk scenario, run by tests/guest/init (which has already printed TERN-GUEST-INIT).
# Disks: /dev/vda, the raw image under test; /dev/vdb, the tools image (tests/host/mktools) with fio in it.
# From the kernel command line: tern.jobs=J1,J2,... (names), tern.fio=O1:O2:... (fio options common to every job,
# without the leading --), tern.fio.J=O1:O2:... (one job's own options). All of them come from the driver.
#
# Console protocol, per window W (first "null": nothing runs, it measures the protocol's own exits; then each
# job):   TERN-FIO-START W   then waits for a line (the driver samples KVM's counters first)
#         block-layer I/O counts of vda and vdb, fio (not for null), the counts again
#         TERN-FIO-END W     then waits for a line (the driver samples again)
#         TERN-FIO W status=S vda_ios=N vdb_ios=N iops=X bw_kib=N ios=N runtime_ms=N fio_err=N
# Only that one short line per job crosses the serial console (each character costs the VMM an exit); fio's
# JSON stays in the guest. The numbers come from fio's --output-format=json: iops, bw (KiB/s), total_ios
# (after ramp_time) and runtime (ms), summed over its read and write sections (a job does one of them).
# vda_ios/vdb_ios count completed requests (reads, writes, discards, flushes in /sys/block/DEV/stat) over the
# whole window, ramp time included, so that they match the window of the KVM counters.
arg() { sed -n "s/.*tern\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
. /tools.sh

ios() { # ios DEV: completed requests so far
	awk '{ print $1 + $5 + ($12 == "" ? 0 : $12) + ($16 == "" ? 0 : $16) }' "/sys/block/$1/stat"
}

fio_summary() { # fio_summary JSON: the figures of the (single, group-reported) job
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

opts() { # opts A:B:C -> --A --B --C
	echo "$1" | tr ':' '\n' | sed -n 's/^./--&/p' | tr '\n' ' '
}

window() { # window NAME
	w=$1
	echo "TERN-FIO-START $w"
	if ! read -t 120 -r _; then echo "TERN-BENCH-NOGO $w"; return 1; fi
	a=$(ios vda) b=$(ios vdb) st=0
	if [ "$w" != null ]; then
		# shellcheck disable=SC2046 # word splitting of the options is the point
		tools_run fio --name="$w" $(opts "$(arg fio)") $(opts "$(arg "fio\.$w")") \
			--output-format=json --output="/tmp/$w.json" >"$TOOLS/tmp/$w.out" 2>&1 || st=$?
	fi
	a2=$(ios vda) b2=$(ios vdb)
	echo "TERN-FIO-END $w"
	if ! read -t 120 -r _; then echo "TERN-BENCH-NOGO $w"; return 1; fi
	if [ "$w" = null ]; then
		echo "TERN-FIO $w status=0 vda_ios=$((a2 - a)) vdb_ios=$((b2 - b))"
		return 0
	fi
	echo "TERN-FIO $w status=$st vda_ios=$((a2 - a)) vdb_ios=$((b2 - b)) $(fio_summary "$TOOLS/tmp/$w.json")"
	if [ $st -ne 0 ]; then
		tail -n 3 "$TOOLS/tmp/$w.out"
	fi
	return $st
}

tools_mount /dev/vdb || exit 1
# Every tool start after this is served from the page cache: no vdb I/O inside the windows.
tools_warm
q=$(ls /sys/block/vda/mq | wc -l)
echo "TERN-BLK-READY queues=$q cpus=$(grep -c ^processor /proc/cpuinfo) sectors=$(cat /sys/block/vda/size)"
status=0
for w in null $(arg jobs | tr , ' '); do
	window "$w" || status=1
done
exit $status
