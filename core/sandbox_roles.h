/* The sandbox's vocabulary, shared by the filters' rule table
 * (core/seccomp_table.c, plain data) and the code that compiles and
 * installs them (core/sandbox.c): the thread roles and the configuration
 * needs a rule may depend on. Apart so the table needs nothing of the
 * sandbox's code and the two do not include each other. */
#ifndef TERN_CORE_SANDBOX_ROLES_H
#define TERN_CORE_SANDBOX_ROLES_H

enum sandbox_role {
	SANDBOX_MAIN,		/* tern's main thread: event loop, console,
				 * vhost-user reconnect, VM teardown */
	SANDBOX_VCPU,		/* KVM_RUN and the emulated devices */
	SANDBOX_DEVCTL,		/* starts/stops devices for the vCPUs */
	SANDBOX_BLK_IO,		/* virtio-blk queues, IDE drives, tern-blk
				 * queues: io_uring */
	SANDBOX_NET_IO,		/* userspace datapath pairs, e1000 receive */
	SANDBOX_NET_CTRL,	/* virtio-net control queue */
	SANDBOX_API,		/* the control API's HTTP server */
	SANDBOX_BLKD,		/* tern-blk's main thread */
	SANDBOX_NROLES
};

/* What the configuration uses: rules that carry one of these apply only
 * when it is set (the table's "when" column names them). */
#define SANDBOX_NEED_TAP (1u << 0)		/* tap */
#define SANDBOX_NEED_VHOST_NET (1u << 1)	/* vhost-net */
#define SANDBOX_NEED_VHOST_USER (1u << 2)	/* vhost-user */
#define SANDBOX_NEED_DISK (1u << 3)		/* disk: io_uring queues */
#define SANDBOX_NEED_PC (1u << 4)		/* pc: IDE, e1000 */
#define SANDBOX_NEED_RESTART (1u << 5)		/* restart */
#define SANDBOX_NEED_STATS (1u << 6)		/* stats */
#define SANDBOX_NEED_NUMA (1u << 7)		/* numa */
#define SANDBOX_NEED_TTY (1u << 8)		/* tty: restored at exit */
#define SANDBOX_NEED_CONSOLE_SOCKET (1u << 9)	/* console-socket */
#define SANDBOX_NEED_SANITIZER (1u << 10)	/* sanitizer builds */
#define SANDBOX_NEED_FIRMWARE (1u << 11)	/* firmware: shadow RAM */
#define SANDBOX_NEED_API (1u << 12)		/* api: --api-socket */
#define SANDBOX_NEED_VCPU_PIN (1u << 13)	/* vcpu-affinity */
#define SANDBOX_NEED_ALL ((1u << 14) - 1)

#endif
