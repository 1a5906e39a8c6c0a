# Guest script of tern-bench's net scenario, run by tests/guest/init (which has already printed TERN-GUEST-INIT).
# One NIC on a tap in the test host (L1); the driver runs an iperf3 server there for each job, bound to the tap's
# address. IPv4 link-local only (169.254.0.0/16): the test host has no NIC, nothing leaves it. The protocol, the
# set-up and the iperf3 runs are in /windows.sh (bench/guests/windows.sh).
. /windows.sh
nic_setup || exit 1
net_windows
