# Sourced by the test guests' scripts (mkguest puts it at /lib.sh).
# arg NAME: the value of tern.NAME=VALUE on the kernel command line.
arg() { sed -n "s/.*tern\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
# check NAME CONDITION...: one TERN-CHECK line; a failure sets status=1.
status=0
check() {
	name=$1
	shift
	if "$@"; then echo "TERN-CHECK ok $name"; else echo "TERN-CHECK FAIL $name"; status=1; fi
}
