/* The VM object: the one place tern keeps mutable state. Everything a VM
 * owns (KVM fds, guest RAM, buses, devices, vCPU threads) hangs off it and
 * goes away with vm_destroy(); a reboot with --on-reboot restart is a
 * destroy and a fresh create. */
#ifndef TERN_VMM_VM_H
#define TERN_VMM_VM_H

#include "block/ide.h"
#include "core/device.h"
#include "core/kvm.h"
#include "core/lifecycle.h"
#include "core/loop.h"
#include "core/memory.h"
#include "core/pci.h"
#include "core/vcpu.h"
#include "core/worker.h"
#include "net/e1000.h"
#include "net/tap.h"
#include "net/uspace.h"
#include "platform/acpi_sleep.h"
#include "platform/host_bridge.h"
#include "platform/i8042.h"
#include "platform/piix.h"
#include "platform/rtc.h"
#include "platform/serial.h"
#include "vhost/kernel.h"
#include "vhost/user_blk_dev.h"
#include "vhost/user_net.h"
#include "virtio/blk.h"
#include "virtio/net.h"
#include "virtio/pci.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define VM_MAX_CPUS 254		/* APIC ids 0..253, IOAPIC takes one */
#define VM_MAX_DISKS 8
#define VM_MAX_NETS 4

enum vhost_mode { VHOST_AUTO, VHOST_ON, VHOST_OFF };

/* virt: tern's own machine, hardware-reduced ACPI and virtio only.
 * pc: i440FX + PIIX3 (platform/piix.c) for guests that need a 1996 PC and
 * its slow-path devices (IDE disks, e1000). */
enum vm_machine { MACHINE_VIRT, MACHINE_PC };

enum net_model { NET_MODEL_VIRTIO, NET_MODEL_E1000 };

struct vm_net_config {
	struct net_config dev;
	char tap[IFNAMSIZ];		/* empty: the kernel picks a name */
	enum vhost_mode vhost;
	enum net_model model;
	const char *vhost_user;		/* socket: a vhost-user backend, no tap */
	bool pairs_set;			/* queues= given */
};

/* --disk vhost-user=SOCKET: a virtio-blk whose queues another process
 * serves (vhost/user_blk_dev.c). queues 0: what the backend offers,
 * capped by the vCPU count. */
struct vm_vu_disk_config {
	const char *socket;
	unsigned int queues;
};

#define VM_MAX_IDE 4			/* primary/secondary, master/slave */

struct vm_ide_config {
	const char *path;
	bool readonly, direct;
};

enum on_reboot { ON_REBOOT_EXIT, ON_REBOOT_RESTART };

struct vm_config {
	const char *kernel;
	const char *initramfs;
	const char *cmdline;
	unsigned int cpus;
	struct mem_config mem;
	enum on_reboot on_reboot;
	const char *stats_path;		/* KVM statistics as JSON, or NULL */
	unsigned int ndisks;
	struct blk_config disks[VM_MAX_DISKS];
	unsigned int nnets;
	struct vm_net_config nets[VM_MAX_NETS];
	unsigned int nvudisks;
	struct vm_vu_disk_config vudisks[VM_MAX_DISKS];
	enum vm_machine machine;
	struct events *events;		/* set by the VMM, not an option:
					 * where devices report, or NULL */
	unsigned int nide;		/* in order: pri master, pri slave, ... */
	struct vm_ide_config ide[VM_MAX_IDE];
};

/* ACPI hardware-reduced sleep registers and where the tables go. */
#define VM_PORT_SLEEP_CTL 0x600
#define VM_PORT_SLEEP_STS 0x601
#define VM_IOAPIC_ADDR 0xfec00000ULL

struct vm {
	const struct vm_config *cfg;
	struct kvm kvm;			/* fds, CPUID, buses, IRQ routing */
	struct guest_mem mem;
	struct pci_bus pci;
	struct host_bridge host_bridge;	/* virt */
	struct piix piix;		/* pc */
	struct ide ide;			/* pc: PIIX IDE channels */
	bool ide_on;
	struct blk_image ide_img[VM_MAX_IDE];
	struct machine_host host;	/* what devices realize against */
	struct device_list devices;	/* realized, in order */
	struct serial serial;
	struct rtc rtc;
	struct i8042 i8042;
	struct acpi_sleep sleep;	/* virt */
	struct virtio_blk blk[VM_MAX_DISKS];
	struct virtio_pci blk_pci[VM_MAX_DISKS];
	unsigned int ndisks;		/* created so far */
	struct vm_vu_disk {
		struct vu_blk_dev dev;
		struct virtio_pci pci;
	} vudisks[VM_MAX_DISKS];
	unsigned int nvudisks;		/* created so far */
	struct mem_config mem_cfg;	/* cfg->mem, shared when vhost-user */
	struct vm_net {
		enum vm_net_kind {
			VM_NET_E1000,		/* model=e1000 on a tap */
			VM_NET_VHOST,		/* virtio-net, tap, vhost-net */
			VM_NET_USPACE,		/* virtio-net, tap, userspace */
			VM_NET_VHOST_USER,	/* virtio-net, a backend process */
		} kind;
		struct tap tap;		/* all but VM_NET_VHOST_USER */
		union {
			struct e1000 e1000;
			struct {
				union {
					struct vhost_net vh;
					struct net_uspace us;
					struct vu_net vun;
				};
				struct virtio_net dev;
				struct virtio_pci pci;
			};
		};
	} nets[VM_MAX_NETS];
	unsigned int nnets;		/* created so far */
	struct worker devctl;		/* starts/stops devices for vCPUs */
	unsigned int ncpus;
	struct vcpu *vcpus;

	struct kvm_clock_data clock;	/* kvmclock when paused */
	bool clock_held;

	int request_fd;			/* eventfd: a request is pending */
	_Atomic int request;		/* enum vm_request, first one wins */
};

/* Builds the VM on the heap (*vmp) and loads the kernel; vCPUs are
 * created but not started, and no thread exists yet (the caller may lock
 * the process down between vm_create and vm_run). Serial output goes to
 * `out`. Returns 0 or -errno (logged; nothing left allocated). */
int vm_create(struct vm **vmp, const struct vm_config *cfg,
	      struct serial_output out, struct loop *loop);
/* Starts the VM's threads (device control, IDE drives, e1000 receive,
 * vCPUs), enters the main thread's sandbox role (core/sandbox.h) and
 * serves `loop` until a request; returns it. */
enum vm_request vm_run(struct vm *vm, struct loop *loop);
/* Tears the VM down and frees it. */
void vm_destroy(struct vm *vm);
void vm_request(struct vm *vm, enum vm_request req);
/* Pause: vCPUs out of KVM_RUN, then every device quiesced, first to
 * last, then the guest's kvmclock held (KVM_GET_CLOCK); resume sets it
 * back (KVM_SET_CLOCK), so the guest's clock does not jump by the paused
 * time, and resumes in reverse. 0 or -errno (on a failure nothing stays
 * paused). */
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);
/* Writes every vCPU's KVM statistics to cfg->stats_path (if set),
 * atomically: at exit, and on SIGUSR2 for a live sample. */
int vm_write_stats(struct vm *vm);

/* SANDBOX_NEED_* bits for what CFG configures (core/sandbox.h). */
unsigned int vm_sandbox_needs(const struct vm_config *cfg);

#endif
