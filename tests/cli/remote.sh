#!/bin/sh
# usage: remote.sh TERN TERN-REMOTE
# tern-remote against a tern that starts empty (--api-socket, no --kernel:
# no KVM needed until vm.boot): ping, the errors of an empty VMM, a
# VmConfig from a file and from stdin, info, bad configs named by field,
# delete, vmm.shutdown; tern exits 0 and removes its socket. The same
# requests with curl where curl is there, to show they are the same API.
tern=$1 remote=$2
dir=$(mktemp -d)
sock=$dir/api.sock
fail=0
"$tern" --api-socket "path=$sock" --serial off --event-monitor "path=$dir/events" \
	>"$dir/tern.out" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT
i=0
while [ ! -S "$sock" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done

# expect NAME STATUS PATTERN -- REMOTE-ARGS...: exit status and output.
expect() {
	name=$1 want=$2 pattern=$3
	shift 4
	"$remote" --api-socket "$sock" "$@" >"$dir/out" 2>&1 <"${stdin:-/dev/null}"
	got=$?
	if [ "$got" -ne "$want" ] || { [ -n "$pattern" ] && ! grep -q -- "$pattern" "$dir/out"; }; then
		echo "FAIL $name: exit $got (want $want), output:"
		sed 's/^/  /' "$dir/out"
		fail=1
	else
		echo "ok   $name: $(head -n 1 "$dir/out")"
	fi
}

touch "$dir/kernel" "$dir/disk.img"
cat >"$dir/vm.json" <<JSON
{"payload": {"kernel": "$dir/kernel", "cmdline": "console=ttyS0"},
 "cpus": {"boot_vcpus": 2}, "memory": {"size": 268435456},
 "disks": [{"path": "$dir/disk.img", "readonly": true, "id": "root"}]}
JSON
expect ping 0 '"version"' -- ping
expect info-empty 1 '404: vm.info: no VM' -- info
expect pause-empty 1 '404: vm.pause: no VM' -- pause
expect bad-command 2 'not a command' -- frobnicate
expect no-arg 2 'takes one argument' -- create
expect bad-file 2 "$dir/none" -- create "$dir/none"
echo '{"payload": {"kernel": "'"$dir"'/kernel"}, "disks": [{"path": "'"$dir"'/disk.img", "iops": 5}]}' >"$dir/bad.json"
expect bad-field 1 'disks\[0\].iops: unknown field' -- create "$dir/bad.json"
expect create 0 '' -- create "$dir/vm.json"
expect create-twice 1 '409: vm.create: the VM is Created' -- create "$dir/vm.json"
expect info 0 '"state": "Created"' -- info
expect info-config 0 '"id": "root"' -- info
expect pause-created 1 '409: vm.pause: the VM is Created; it must be Running' -- pause
expect add-disk-words 1 '409: vm.add-disk' -- add-disk "path=$dir/disk.img,readonly=true"
expect add-disk-bad 1 '400: disk.bogus: unknown field' -- add-disk "path=$dir/disk.img,bogus=1"
expect remove-created 1 '409: vm.remove-device' -- remove-device root
expect delete 0 '' -- delete
stdin=$dir/vm.json expect create-stdin 0 '' -- create -
expect info-again 0 '"boot_vcpus": 2' -- info
if command -v curl >/dev/null; then
	curl -s --unix-socket "$sock" http://localhost/api/v1/vm.info >"$dir/curl.out"
	if grep -q '"state":"Created"' "$dir/curl.out"; then
		echo "ok   curl vm.info: the same API"
	else
		echo "FAIL curl vm.info: $(cat "$dir/curl.out")"
		fail=1
	fi
fi
expect shutdown-vmm 0 '' -- shutdown-vmm
i=0
while kill -0 $pid 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
wait $pid
st=$?
if [ $st -ne 0 ] || [ -e "$sock" ]; then
	echo "FAIL tern exit $st (want 0), socket $(ls "$sock" 2>&1)"
	sed 's/^/  /' "$dir/tern.out"
	fail=1
else
	echo "ok   tern exited 0, socket removed"
fi
expect gone 1 "$sock" -- ping
# The API thread runs under its own seccomp filter: probed, it is stopped.
"$tern" --api-socket "path=$dir/probe.sock" --serial off --seccomp-probe api >"$dir/probe.out" 2>&1 </dev/null
st=$?
if [ $st -eq 159 ] && grep -q "thread api called forbidden syscall personality" "$dir/probe.out"; then
	echo "ok   --seccomp-probe api: exit 159"
else
	echo "FAIL --seccomp-probe api: exit $st"
	sed 's/^/  /' "$dir/probe.out"
	fail=1
fi
for e in '"vmm","event":"starting"' '"vmm","event":"shutdown"'; do
	grep -q "$e" "$dir/events" || { echo "FAIL events: no $e"; fail=1; }
done
exit $fail
