# Guest script of tern-bench's blk and vhost-user scenarios, run by tests/guest/init (which has already printed
# TERN-GUEST-INIT). Two disks: the raw image under test and the read-only tools image (tests/host/mktools) with
# fio in it, told apart by their sizes (tern.sectors, tern.tools_sectors): a vhost-user disk may come after the
# tools disk. The protocol, the set-up and the fio runs are in /windows.sh (bench/guests/windows.sh).
. /windows.sh
disk_setup || exit 1
fio_windows
