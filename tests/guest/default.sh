# The default test guest (run by tests/guest/init, which has already printed TERN-GUEST-INIT): where am I?
echo "kernel $(uname -r), $(nproc) cpu(s), $(grep MemTotal /proc/meminfo), $(date)"
exit 0
