# Guest script of tern-bench's pause scenario, run by tests/guest/init: a tick on the console every 20 ms
# until the driver ends the VM, so the driver sees when the guest runs again after a resume.
echo TERN-BENCH-TICKING
n=0
while :; do
	n=$((n + 1))
	echo "TERN-TICK $n"
	sleep 0.02
done
