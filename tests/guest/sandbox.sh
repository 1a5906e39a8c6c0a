# Guest side of the sandbox tests (tests/host/l1-suite): disk I/O and a
# ping through a tern whose threads are filtered, maybe as another user or
# in a jail. The host looks at tern's /proc between TERN-SANDBOX-READY and
# the "go" it types (by then every device has started).
. /lib.sh
net_up
echo TERN-SANDBOX-READY
read -r go
dd if=/dev/urandom of=/tmp/pattern bs=1M count=4 2>/dev/null
dd if=/tmp/pattern of=/dev/vda bs=1M oflag=direct conv=fsync 2>/dev/null
check "disk write" [ $? -eq 0 ]
check "disk read back" [ "$(dd if=/dev/vda bs=1M count=4 iflag=direct 2>/dev/null | md5sum)" = "$(md5sum </tmp/pattern)" ]
for i in 1 2 3 4 5 6 7 8 9 10; do ping -c 1 -W 1 $host >/dev/null 2>&1 && break; done
check "ping the test host" ping -c 3 -W 2 $host
exit $status
