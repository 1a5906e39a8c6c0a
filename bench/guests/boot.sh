# Guest script of tern-bench's boot scenario, run by tests/guest/init (which has already printed
# TERN-GUEST-INIT). It announces that it is idle, so the driver can sample the VMM's memory while nothing
# moves, and waits for one line on the console (the driver's "go") before it exits and init powers off.
# No "go" within 60 s: says so, and the driver records the run as failed.
echo TERN-BENCH-IDLE
if read -t 60 -r _; then
	exit 0
fi
echo TERN-BENCH-NOGO
exit 1
