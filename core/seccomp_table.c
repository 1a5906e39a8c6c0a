/* The seccomp rule table: every system call and ioctl request number any
 * tern thread may make, per role (core/sandbox.h names the roles), with
 * the configuration that needs it. Anything else traps. This is the only
 * list: the filters are compiled from it, `tern --seccomp-list` prints it
 * and README's "Sandbox" section is a copy that tests/unit/test_sandbox.c
 * compares with it.
 *
 * Rules name what the role's own code calls and what glibc does for it
 * (thread start and exit, malloc's arenas, stdio). A rule with a "when"
 * applies only if the configuration uses that (vmm/vm.c decides). */
#include "core/seccomp_table.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/io_uring.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <linux/vhost.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>

#define ARG(n, m, v) { .arg = (n), .mask = (m), .value = (v) }
/* The kernel reads an int argument's low 32 bits: compare those. */
#define ARG_EQ(n, v) ARG(n, 0xffffffffULL, v)
#define NO_EXEC .nargs = 1, .args = { ARG(2, PROT_EXEC, 0) }, \
		.args_text = "no PROT_EXEC"
#define THREAD_FLAGS (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | \
		      CLONE_THREAD)

#define T_TAP SANDBOX_NEED_TAP
#define T_VHOST SANDBOX_NEED_VHOST_NET
#define T_VU SANDBOX_NEED_VHOST_USER
#define T_DISK SANDBOX_NEED_DISK
#define T_PC SANDBOX_NEED_PC
#define T_RESTART SANDBOX_NEED_RESTART
#define T_STATS SANDBOX_NEED_STATS
#define T_NUMA SANDBOX_NEED_NUMA
#define T_TTY SANDBOX_NEED_TTY
#define T_CSOCK SANDBOX_NEED_CONSOLE_SOCKET
#define T_SAN SANDBOX_NEED_SANITIZER
#define T_FW SANDBOX_NEED_FIRMWARE
#define T_API SANDBOX_NEED_API
#define T_PIN SANDBOX_NEED_VCPU_PIN

const struct sb_rule sb_rules[] = {
	/* Every thread. */
	{ "read", SB_ALL, 0, .why = "eventfds, signalfd, sockets, taps" },
	{ "write", SB_ALL, 0, .why = "eventfds, log lines, console, taps" },
	{ "close", SB_ALL, 0, .why = "fds of stopped queues, sockets" },
	{ "futex", SB_ALL, 0, .why = "locks, condition variables, joins" },
	{ "mmap", SB_ALL, 0, NO_EXEC, .why = "malloc, rings, thread stacks" },
	{ "mprotect", SB_ALL, 0, NO_EXEC, .why = "malloc arenas, stack guards" },
	{ "munmap", SB_ALL, 0, .why = "malloc, rings, thread stacks" },
	{ "madvise", SB_ALL, 0, .why = "malloc, a thread's stack at exit" },
	{ "mremap", SB_ALL, 0, .why = "realloc" },
	{ "brk", SB_ALL, 0, .why = "malloc" },
	{ "rt_sigprocmask", SB_ALL, 0, .why = "signal masks, thread start" },
	{ "rt_sigreturn", SB_ALL, 0, .why = "return from a signal handler" },
	{ "restart_syscall", SB_ALL, 0, .why = "a call a signal interrupted" },
	{ "clock_gettime", SB_ALL, 0, .why = "time (when the vDSO cannot)" },
	{ "gettimeofday", SB_ALL, 0, .why = "time (when the vDSO cannot)" },
	{ "clock_nanosleep", SB_ALL, 0, .why = "short waits" },
	{ "nanosleep", SB_ALL, 0, .why = "short waits" },
	{ "sched_yield", SB_ALL, 0, .why = "spinning locks" },
	{ "getpid", SB_ALL, 0, .why = "glibc (pthread_kill, raise)" },
	{ "gettid", SB_ALL, 0, .why = "glibc" },
	{ "exit", SB_ALL, 0, .why = "a thread ends" },
	{ "exit_group", SB_ALL, 0, .why = "the process ends" },

	/* Threads that create threads: the child runs under its creator's
	 * filter until it installs its own. */
	{ "clone", SB_CREATORS, 0, .nargs = 1,
	  .args = { ARG(0, THREAD_FLAGS, THREAD_FLAGS) },
	  .args_text = "threads only (CLONE_THREAD, CLONE_VM, ...)",
	  .why = "pthread_create" },
	{ "clone3", SB_CREATORS, 0, .err = 38 /* ENOSYS */,
	  .why = "fails with ENOSYS: glibc falls back to clone, whose flags "
		 "a filter can see" },
	/* Worker threads open nothing on purpose, but the C library may on
	 * its own: glibc's malloc reads /proc/sys/vm/overcommit_memory the
	 * first time a thread's arena shrinks, which a client's large body
	 * freed on the API thread brings about. A refusal it handles; a
	 * stop would let a client end tern. */
	{ "openat", SB_ALL & ~SB_MAIN, 0, .err = 13 /* EACCES */,
	  .why = "fails with EACCES: only the C library's own opens reach it" },
	{ "set_robust_list", SB_CREATORS, 0, .why = "a new thread's start" },
	{ "rseq", SB_CREATORS, 0, .why = "a new thread's start" },
	{ "prctl", SB_CREATORS, 0, .nargs = 1,
	  .args = { ARG_EQ(0, PR_SET_NAME) }, .args_text = "PR_SET_NAME",
	  .why = "a new thread names itself" },
	/* glibc's first pthread_create installs its cancellation and setxid
	 * handlers (SIGRTMIN and SIGRTMIN + 1, as the kernel numbers them). */
	{ "rt_sigaction", SB_BLKD, 0, .nargs = 1,
	  .args = { ARG_EQ(0, 32) }, .args_text = "signal 32",
	  .why = "glibc's first pthread_create" },
	{ "rt_sigaction", SB_BLKD, 0, .nargs = 1,
	  .args = { ARG_EQ(0, 33) }, .args_text = "signal 33",
	  .why = "glibc's first pthread_create" },
	{ "seccomp", SB_CREATORS, 0, .nargs = 1,
	  .args = { ARG_EQ(0, SECCOMP_SET_MODE_FILTER) },
	  .args_text = "SECCOMP_SET_MODE_FILTER",
	  .why = "a new thread installs its own filter" },

	/* Main thread. */
	{ "epoll_wait", SB_MAIN, 0, .why = "the main loop" },
	{ "epoll_pwait", SB_MAIN, 0, .why = "the main loop" },
	{ "epoll_ctl", SB_MAIN | SB_VCPU, 0,
	  .why = "watches: console, vhost-user sockets, device errors" },
	{ "tgkill", SB_MAIN, 0, .why = "kicking vCPUs out of KVM_RUN" },
	/* SIGUSR1: virtio/blk.h's BLK_STOP_SIGNAL. */
	{ "tgkill", SB_BLKD, 0, .nargs = 1,
	  .args = { ARG_EQ(2, SIGUSR1) }, .args_text = "SIGUSR1",
	  .why = "a queue's stop ends a write to a front-end's full eventfd" },
	{ "pread64", SB_MAIN, 0, .why = "KVM statistics (SIGUSR2, exit)" },
	{ "accept4", SB_MAIN, T_CSOCK, .why = "a console client" },
	{ "openat", SB_MAIN, T_STATS, .why = "--stats FILE" },
	{ "newfstatat", SB_MAIN, T_STATS, .why = "--stats FILE (stdio)" },
	{ "fstat", SB_MAIN, T_STATS, .why = "--stats FILE (stdio)" },
	{ "rename", SB_MAIN, T_STATS, .why = "--stats FILE, atomically" },

	/* The control API: its thread serves HTTP on a UNIX socket
	 * (libmicrohttpd over epoll) and hands operations to the main
	 * loop, which pauses and resumes the VM (the guest's clock stops
	 * with it) and removes the socket at exit. */
	{ "epoll_wait", SB_API, 0, .why = "libmicrohttpd's connections" },
	{ "epoll_pwait", SB_API, 0, .why = "libmicrohttpd's connections" },
	{ "epoll_ctl", SB_API, 0, .why = "libmicrohttpd's connections" },
	{ "poll", SB_API, 0, .why = "the server's epoll fd and the stop fd" },
	{ "accept4", SB_API, 0, .why = "a client" },
	{ "recvfrom", SB_API, 0, .why = "requests" },
	{ "sendto", SB_API, 0, .why = "replies" },
	{ "sendmsg", SB_API, 0, .why = "replies (header and body)" },
	{ "writev", SB_API, 0, .why = "replies (header and body)" },
	{ "shutdown", SB_API, 0, .why = "a connection's end, the server's" },
	{ "setsockopt", SB_API, 0, .why = "libmicrohttpd's socket options" },
	{ "getsockopt", SB_API, 0, .why = "libmicrohttpd's socket options" },
	{ "fcntl", SB_API, 0, .nargs = 1, .args = { ARG_EQ(1, F_GETFL) },
	  .args_text = "F_GETFL", .why = "a client socket made non-blocking" },
	{ "fcntl", SB_API, 0, .nargs = 1, .args = { ARG_EQ(1, F_SETFL) },
	  .args_text = "F_SETFL", .why = "a client socket made non-blocking" },
	{ "fcntl", SB_API, 0, .nargs = 1, .args = { ARG_EQ(1, F_GETFD) },
	  .args_text = "F_GETFD", .why = "a client socket, close-on-exec" },
	{ "fcntl", SB_API, 0, .nargs = 1, .args = { ARG_EQ(1, F_SETFD) },
	  .args_text = "F_SETFD", .why = "a client socket, close-on-exec" },
	{ "access", SB_API, 0, .why = "vm.create: the kernel and images are "
				     "there and readable" },
	{ "unlink", SB_API, 0, .why = "its socket file, at exit" },

	/* vhost-user front-end: requests from devctl (start, stop) and the
	 * control queue (pairs), reconnects from the main loop. */
	{ "socket", SB_MAIN, T_VU, .nargs = 1, .args = { ARG_EQ(0, AF_UNIX) },
	  .args_text = "AF_UNIX", .why = "reconnecting to a backend" },
	{ "connect", SB_MAIN, T_VU, .why = "reconnecting to a backend" },
	{ "sendmsg", SB_MAIN | SB_DEVCTL | SB_NET_CTRL, T_VU,
	  .why = "vhost-user requests (with fds)" },
	{ "recvmsg", SB_MAIN | SB_DEVCTL | SB_NET_CTRL, T_VU,
	  .why = "vhost-user replies (with fds)" },
	{ "poll", SB_MAIN | SB_DEVCTL | SB_NET_CTRL, T_VU,
	  .why = "waiting for a vhost-user reply" },
	{ "epoll_ctl", SB_DEVCTL | SB_NET_CTRL, T_VU,
	  .why = "dropping a backend's socket watch" },
	{ "timerfd_settime", SB_MAIN | SB_DEVCTL | SB_NET_CTRL, T_VU,
	  .why = "the reconnect timer" },

	/* Device control: queues start and stop here. */
	{ "io_uring_setup", SB_DEVCTL | SB_BLKD, T_DISK,
	  .why = "a block queue's ring" },
	{ "fcntl", SB_MAIN | SB_BLKD, T_DISK, .nargs = 1,
	  .args = { ARG_EQ(1, F_OFD_SETLK) }, .args_text = "F_OFD_SETLK",
	  .why = "an image's lock, released as the image closes" },
	{ "io_uring_register", SB_DEVCTL | SB_BLKD, T_DISK, .nargs = 1,
	  .args = { ARG_EQ(1, IORING_REGISTER_FILES) },
	  .args_text = "IORING_REGISTER_FILES", .why = "the image fd" },
	{ "io_uring_register", SB_DEVCTL | SB_BLKD, T_DISK, .nargs = 1,
	  .args = { ARG_EQ(1, IORING_REGISTER_RESTRICTIONS) },
	  .args_text = "IORING_REGISTER_RESTRICTIONS",
	  .why = "limit the ring to the block operations" },
	{ "io_uring_register", SB_DEVCTL | SB_BLKD, T_DISK, .nargs = 1,
	  .args = { ARG_EQ(1, IORING_REGISTER_BUFFERS2) },
	  .args_text = "IORING_REGISTER_BUFFERS2",
	  .why = "an empty fixed-buffer table over guest RAM" },

	{ "fcntl", SB_DEVCTL, T_TAP, .nargs = 1, .args = { ARG_EQ(1, F_GETFL) },
	  .args_text = "F_GETFL", .why = "a tap queue made non-blocking" },
	{ "fcntl", SB_DEVCTL, T_TAP, .nargs = 1, .args = { ARG_EQ(1, F_SETFL) },
	  .args_text = "F_SETFL", .why = "a tap queue made non-blocking" },

	/* I/O threads. */
	{ "io_uring_enter", SB_BLK_IO, 0, .why = "submit and wait" },
	{ "io_uring_register", SB_BLK_IO, 0, .nargs = 1,
	  .args = { ARG_EQ(1, IORING_REGISTER_ENABLE_RINGS) },
	  .args_text = "IORING_REGISTER_ENABLE_RINGS",
	  .why = "the first submitter enables its ring" },
	{ "io_uring_register", SB_BLK_IO, T_DISK, .nargs = 1,
	  .args = { ARG_EQ(1, IORING_REGISTER_BUFFERS_UPDATE) },
	  .args_text = "IORING_REGISTER_BUFFERS_UPDATE",
	  .why = "guest RAM registered as fixed buffers on first use" },
	{ "sched_setaffinity", SB_BLK_IO, T_NUMA, .nargs = 1,
	  .args = { ARG_EQ(0, 0) }, .args_text = "itself only",
	  .why = "an I/O thread moves to its NUMA node or CPU" },
	{ "sched_setaffinity", SB_VCPU, T_PIN, .nargs = 1,
	  .args = { ARG_EQ(0, 0) }, .args_text = "itself only",
	  .why = "a vCPU moves to its CPUs (--cpus affinity=)" },
	{ "sched_getaffinity", SB_VCPU, T_PIN, .nargs = 1,
	  .args = { ARG_EQ(0, 0) }, .args_text = "itself only",
	  .why = "a vCPU reads back the CPUs it landed on, for its log" },
	{ "poll", SB_NET_IO | SB_NET_CTRL, 0, .why = "tap, kicks, stop" },
	{ "ppoll", SB_NET_IO, T_PC,
	  .why = "e1000: sleep until an interrupt delay timer is due" },
	{ "readv", SB_NET_IO, 0, .why = "tap" },
	{ "writev", SB_NET_IO, 0, .why = "tap" },
	{ "writev", SB_VCPU, T_PC, .why = "e1000 transmit (a tap)" },

	/* tern-blk's main thread: one front-end's messages, its memory. */
	{ "poll", SB_BLKD, 0, .why = "the socket and the signalfd" },
	{ "accept4", SB_BLKD, 0, .why = "the next front-end" },
	{ "sendmsg", SB_BLKD, 0, .why = "vhost-user replies" },
	{ "recvmsg", SB_BLKD, 0, .why = "vhost-user requests (with fds)" },
	{ "fstat", SB_BLKD, 0, .why = "a memory region's fd size" },
	{ "newfstatat", SB_BLKD, 0, .why = "a memory region's fd size" },
	{ "memfd_create", SB_BLKD, 0, .why = "the inflight area" },
	{ "ftruncate", SB_BLKD, 0, .why = "the inflight area" },
	{ "fcntl", SB_BLKD, 0, .nargs = 1, .args = { ARG_EQ(1, F_GET_SEALS) },
	  .args_text = "F_GET_SEALS",
	  .why = "a memory region or inflight fd is sealed against shrinking" },
	{ "fcntl", SB_BLKD, 0, .nargs = 1, .args = { ARG_EQ(1, F_ADD_SEALS) },
	  .args_text = "F_ADD_SEALS", .why = "the inflight area, sealed" },
	{ "unlink", SB_BLKD, 0, .why = "its socket, at exit" },
	{ "dup3", SB_BLKD, 0,
	  .why = "a new call fd in place of a running queue's" },

	/* --on-reboot restart: a fresh VM is built from the main loop. */
	{ "openat", SB_MAIN, T_RESTART, .why = "kernel, images, devices" },
	{ "newfstatat", SB_MAIN, T_RESTART, .why = "kernel, images" },
	{ "fstat", SB_MAIN, T_RESTART, .why = "kernel, images" },
	{ "fcntl", SB_MAIN, T_RESTART, .why = "image locks, flags" },
	{ "memfd_create", SB_MAIN, T_RESTART, .why = "guest RAM" },
	{ "ftruncate", SB_MAIN, T_RESTART, .why = "guest RAM" },
	{ "mbind", SB_MAIN, T_RESTART, .why = "guest RAM on a NUMA node" },
	{ "eventfd2", SB_MAIN, T_RESTART, .why = "kicks, calls, requests" },
	{ "timerfd_create", SB_MAIN, T_RESTART, .why = "vhost-user reconnect" },
	{ "socket", SB_MAIN, T_RESTART, .nargs = 1,
	  .args = { ARG_EQ(0, AF_UNIX) }, .args_text = "AF_UNIX",
	  .why = "vhost-user backends" },
	{ "connect", SB_MAIN, T_RESTART, .why = "vhost-user backends" },
	{ "sendmsg", SB_MAIN, T_RESTART, .why = "vhost-user backends" },
	{ "recvmsg", SB_MAIN, T_RESTART, .why = "vhost-user backends" },
	{ "poll", SB_MAIN, T_RESTART, .why = "vhost-user backends" },
	{ "timerfd_settime", SB_MAIN, T_RESTART, .why = "vhost-user backends" },
	{ "io_uring_setup", SB_MAIN, T_RESTART, .why = "IDE drives" },
	{ "io_uring_register", SB_MAIN, T_RESTART, .nargs = 1,
	  .args = { ARG_EQ(1, IORING_REGISTER_FILES) },
	  .args_text = "IORING_REGISTER_FILES", .why = "IDE drives" },
	{ "io_uring_register", SB_MAIN, T_RESTART, .nargs = 1,
	  .args = { ARG_EQ(1, IORING_REGISTER_RESTRICTIONS) },
	  .args_text = "IORING_REGISTER_RESTRICTIONS", .why = "IDE drives" },

	/* Sanitizer builds only: what the runtime needs to start and end
	 * threads and to write a report. */
	{ "sigaltstack", SB_ALL, T_SAN, .why = "ASan: each thread's signal "
					      "stack" },
	{ "open", SB_ALL, T_SAN, .why = "ASan/UBSan/LSan: /proc files for a "
				      "report" },
	{ "openat", SB_ALL, T_SAN, .why = "ASan/UBSan: /proc/self/maps for a "
					 "report" },
	{ "readlink", SB_ALL, T_SAN, .why = "ASan/UBSan: the binary's path "
					  "for a report" },
	{ "getrusage", SB_ALL, T_SAN, .why = "ASan: allocator statistics" },
	{ "sched_getaffinity", SB_ALL, T_SAN, .why = "ASan: a new thread's "
						      "attributes" },
	/* LeakSanitizer's check at exit, on the thread that exits: a tracer
	 * task (a clone that shares memory, not a thread) ptrace-stops every
	 * thread and reads the task list and the memory map. */
	{ "clone", SB_MAIN | SB_BLKD, T_SAN, .nargs = 1,
	  .args = { ARG(0, CLONE_VM | CLONE_THREAD, CLONE_VM) },
	  .args_text = "CLONE_VM, not CLONE_THREAD",
	  .why = "LSan: its tracer task" },
	{ "prctl", SB_MAIN | SB_BLKD, T_SAN, .why = "LSan: dumpable, ptracer, "
						  "parent death signal" },
	{ "ptrace", SB_MAIN | SB_BLKD, T_SAN, .why = "LSan: stop the threads" },
	{ "wait4", SB_MAIN | SB_BLKD, T_SAN, .why = "LSan: the tracer, the "
						 "stopped threads" },
	{ "getppid", SB_MAIN | SB_BLKD, T_SAN, .why = "LSan: the tracer" },
	{ "rt_sigaction", SB_MAIN | SB_BLKD, T_SAN, .why = "LSan: the tracer's "
							"handlers" },
	{ "getdents", SB_MAIN | SB_BLKD, T_SAN, .why = "LSan: /proc/self/task" },
	{ "getdents64", SB_MAIN | SB_BLKD, T_SAN, .why = "LSan: /proc/self/task" },
	{ "kill", SB_MAIN | SB_BLKD, T_SAN, .why = "LSan: the tracer" },
	{ "tgkill", SB_MAIN | SB_BLKD, T_SAN, .why = "LSan: the tracer" },
	{ "lseek", SB_MAIN | SB_BLKD, T_SAN, .why = "LSan: /proc files" },
};
const size_t sb_nrules = sizeof(sb_rules) / sizeof(sb_rules[0]);

#define IOC(n) #n, (uint32_t)(n)
/* Vhost and TUN set-up and teardown share these. */
#define VHOST_RUN_ROLES (SB_MAIN | SB_DEVCTL)

const struct sb_ioctl sb_ioctls[] = {
	/* vCPUs and what their exits reach. */
	{ IOC(KVM_RUN), SB_VCPU, 0, "run the vCPU" },
	{ IOC(KVM_GET_REGS), SB_VCPU, 0, "register dump on a fatal exit" },
	{ IOC(KVM_GET_SREGS), SB_VCPU, 0, "register dump on a fatal exit" },
	{ IOC(KVM_IRQ_LINE), SB_MAIN | SB_VCPU, 0,
	  "serial (guest output, console input), RTC, PIIX, INTx" },
	{ IOC(KVM_IRQ_LINE), SB_BLK_IO | SB_NET_IO, T_PC,
	  "IDE and e1000 interrupts from their threads" },
	{ IOC(KVM_SIGNAL_MSI), SB_MAIN | SB_VCPU, 0,
	  "a pending MSI-X vector unmasked, a device's config interrupt" },
	{ IOC(KVM_SET_GSI_ROUTING), SB_MAIN | SB_VCPU, 0,
	  "MSI-X table writes, PIIX routing, teardown" },
	{ IOC(KVM_IRQFD), SB_MAIN | SB_VCPU, 0,
	  "queue interrupts follow MSI-X masks; teardown" },
	{ IOC(KVM_IOEVENTFD), SB_MAIN | SB_VCPU, 0,
	  "queue notify addresses follow BAR moves; teardown" },

	/* vhost-net: rings start (devctl), pairs switch (control queue),
	 * everything unbinds at teardown (main). */
	{ IOC(VHOST_SET_FEATURES), VHOST_RUN_ROLES, T_VHOST, "start" },
	{ IOC(VHOST_SET_MEM_TABLE), VHOST_RUN_ROLES, T_VHOST, "start" },
	{ IOC(VHOST_SET_LOG_BASE), VHOST_RUN_ROLES, T_VHOST, "start" },
	{ IOC(VHOST_SET_LOG_FD), VHOST_RUN_ROLES, T_VHOST, "start" },
	{ IOC(VHOST_SET_VRING_NUM), VHOST_RUN_ROLES, T_VHOST, "start" },
	{ IOC(VHOST_SET_VRING_ADDR), VHOST_RUN_ROLES, T_VHOST, "start" },
	{ IOC(VHOST_SET_VRING_BASE), VHOST_RUN_ROLES, T_VHOST, "start" },
	{ IOC(VHOST_GET_VRING_BASE), VHOST_RUN_ROLES, T_VHOST, "stop" },
	{ IOC(VHOST_SET_VRING_KICK), VHOST_RUN_ROLES, T_VHOST, "start, stop" },
	{ IOC(VHOST_SET_VRING_CALL), VHOST_RUN_ROLES, T_VHOST, "start, stop" },
	{ IOC(VHOST_SET_VRING_ERR), VHOST_RUN_ROLES, T_VHOST, "start, stop" },
	{ IOC(VHOST_NET_SET_BACKEND), VHOST_RUN_ROLES | SB_NET_CTRL, T_VHOST,
	  "attach/detach a pair's tap queue" },

	/* Taps. */
	{ IOC(TUNSETQUEUE), SB_MAIN | SB_DEVCTL | SB_NET_CTRL, T_TAP,
	  "enable/disable a queue (MQ pairs)" },
	{ IOC(TUNSETOFFLOAD), SB_DEVCTL, T_TAP, "the driver's offloads" },
	{ IOC(TUNSETVNETHDRSZ), SB_DEVCTL, T_TAP, "the driver's header" },

	/* Pause and resume: the guest's clock stands still while paused. */
	{ IOC(KVM_GET_CLOCK), SB_MAIN, T_API, "pause: the guest's clock" },
	{ IOC(KVM_SET_CLOCK), SB_MAIN, T_API, "resume: the guest's clock" },

	/* The terminal tern made raw goes back as it was: at exit, or in
	 * the SIGSYS handler of whichever thread made a forbidden call. */
	{ IOC(TCSETS), SB_ALL, T_TTY,
	  "restore the terminal at exit or after a forbidden call" },

	/* The e1000's posted register writes follow its BAR. */
	{ IOC(KVM_REGISTER_COALESCED_MMIO), SB_VCPU, T_PC,
	  "e1000: posted register writes where the guest puts its BAR" },
	{ IOC(KVM_UNREGISTER_COALESCED_MMIO), SB_MAIN | SB_VCPU, T_PC,
	  "e1000: BAR moves, teardown" },

	/* Firmware boot: the BIOS's PAM writes remap shadow RAM. */
	{ IOC(KVM_SET_USER_MEMORY_REGION), SB_VCPU, T_FW,
	  "shadow RAM (i440FX PAM writes)" },

	/* --on-reboot restart: building a VM. */
	{ IOC(KVM_GET_API_VERSION), SB_MAIN, T_RESTART, "a new VM" },
	{ IOC(KVM_CREATE_VM), SB_MAIN, T_RESTART, "a new VM" },
	{ IOC(KVM_CHECK_EXTENSION), SB_MAIN, T_RESTART, "a new VM" },
	{ IOC(KVM_SET_TSS_ADDR), SB_MAIN, T_RESTART, "a new VM" },
	{ IOC(KVM_SET_IDENTITY_MAP_ADDR), SB_MAIN, T_RESTART, "a new VM" },
	{ IOC(KVM_CREATE_IRQCHIP), SB_MAIN, T_RESTART, "a new VM" },
	{ IOC(KVM_CREATE_PIT2), SB_MAIN, T_RESTART, "a new VM" },
	{ IOC(KVM_GET_SUPPORTED_CPUID), SB_MAIN, T_RESTART, "a new VM" },
	{ IOC(KVM_SET_USER_MEMORY_REGION), SB_MAIN, T_RESTART, "a new VM" },
	{ IOC(KVM_CREATE_VCPU), SB_MAIN, T_RESTART, "a new VM" },
	{ IOC(KVM_GET_VCPU_MMAP_SIZE), SB_MAIN, T_RESTART, "a new VM" },
	{ IOC(KVM_SET_CPUID2), SB_MAIN, T_RESTART, "a new VM" },
	{ IOC(KVM_SET_MSRS), SB_MAIN, T_RESTART, "a new VM" },
	{ IOC(KVM_SET_FPU), SB_MAIN, T_RESTART, "a new VM" },
	{ IOC(KVM_GET_SREGS), SB_MAIN, T_RESTART, "a new VM" },
	{ IOC(KVM_SET_SREGS), SB_MAIN, T_RESTART, "a new VM" },
	{ IOC(KVM_SET_REGS), SB_MAIN, T_RESTART, "a new VM" },
	{ IOC(KVM_GET_STATS_FD), SB_MAIN, T_RESTART, "a new VM" },
	{ IOC(TUNSETIFF), SB_MAIN, T_RESTART, "taps" },
	{ IOC(VHOST_SET_OWNER), SB_MAIN, T_RESTART, "vhost-net" },
	{ IOC(VHOST_GET_FEATURES), SB_MAIN, T_RESTART, "vhost-net" },
	{ IOC(BLKGETSIZE64), SB_MAIN, T_RESTART, "images on block devices" },
	{ IOC(BLKSSZGET), SB_MAIN, T_RESTART, "images on block devices" },
};
const size_t sb_nioctls = sizeof(sb_ioctls) / sizeof(sb_ioctls[0]);

uint32_t sb_children(enum sandbox_role role, unsigned int needs)
{
	switch (role) {
	case SANDBOX_MAIN:
		/* The first VM's threads start before main enters its role;
		 * a restart starts the next VM's under main's filter. */
		return needs & SANDBOX_NEED_RESTART ?
			       SB_VCPU | SB_DEVCTL | SB_BLK_IO | SB_NET_IO |
				       SB_NET_CTRL :
			       0;
	case SANDBOX_DEVCTL:
		/* Queue threads start when the driver starts the device. */
		return SB_BLK_IO | SB_NET_IO | SB_NET_CTRL;
	case SANDBOX_BLKD:
		return SB_BLK_IO;
	default:
		return 0;
	}
}

const char *sb_need_name(uint32_t need)
{
	switch (need) {
	case 0: return "";
	case T_TAP: return "tap";
	case T_VHOST: return "vhost-net";
	case T_VU: return "vhost-user";
	case T_DISK: return "disk";
	case T_PC: return "pc";
	case T_RESTART: return "restart";
	case T_STATS: return "stats";
	case T_NUMA: return "numa";
	case T_TTY: return "tty";
	case T_CSOCK: return "console-socket";
	case T_SAN: return "sanitizer";
	case T_FW: return "firmware";
	case T_API: return "api";
	case T_PIN: return "vcpu-affinity";
	default: return "?";
	}
}
