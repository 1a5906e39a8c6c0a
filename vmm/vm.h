/* The VM object: the one place tern keeps mutable state. Everything a VM
 * owns (KVM fds, guest RAM, buses, devices, vCPU threads) hangs off it and
 * goes away with vm_destroy(); a reboot with --on-reboot restart is a
 * destroy and a fresh create. */
#ifndef TERN_VMM_VM_H
#define TERN_VMM_VM_H

#include "core/device.h"
#include "core/hostcpu.h"
#include "core/kvm.h"
#include "core/lifecycle.h"
#include "core/loop.h"
#include "core/memory.h"
#include "core/pci.h"
#include "core/topology.h"
#include "core/vcpu.h"
#include "core/worker.h"
#include "platform/acpi_sleep.h"
#include "platform/bios.h"
#include "platform/fw_cfg.h"
#include "platform/ged.h"
#include "platform/host_bridge.h"
#include "platform/i8042.h"
#include "platform/pci_hotplug.h"
#include "platform/piix.h"
#include "platform/rtc.h"
#include "platform/serial.h"
#include "vmm/devices.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#define VM_MAX_CPUS 254		/* APIC ids 0..253, IOAPIC takes one */
_Static_assert(VM_MAX_CPUS == TOPOLOGY_APIC_ID_MAX + 1,
	       "a flat VM's vCPUs fill the APIC ids core/topology.h allows");
#define VM_MAX_AFFINITY 512	/* (vCPU, host CPU) pairs */
/* Devices of all kinds (VM_MAX_DISKS, VM_MAX_NETS, VM_MAX_IDE: vmm/devices.h,
 * each kind's own limit). */
#define VM_MAX_DEVICES (2 * VM_MAX_DISKS + VM_MAX_IDE + VM_MAX_NETS)

/* --cpus max-phys-bits: x86's MAXPHYADDR runs to 52, and from 36 (PAE);
 * but the 64-bit PCI window (core/memory.h) starts at 5 GiB at the least
 * and ends past 64 GiB, so a tern guest takes 37 bits at the least. */
#define VM_PHYS_BITS_MIN 37
#define VM_PHYS_BITS_MAX 52

/* virt: tern's own machine, hardware-reduced ACPI and virtio only.
 * pc: i440FX + PIIX3 (platform/piix.c) for guests that need a 1996 PC and
 * its slow-path devices (IDE disks, e1000). */
enum vm_machine { MACHINE_VIRT, MACHINE_PC };

enum on_reboot { ON_REBOOT_EXIT, ON_REBOOT_RESTART };

struct vm_config {
	const char *kernel;
	const char *firmware;		/* pc: a BIOS image boots the disks */
	const char *initramfs;
	const char *cmdline;
	unsigned int cpus;
	/* How the vCPUs group into cores, dies and packages (its count is
	 * `cpus`); threads 0: one package of `cpus` single-thread cores. */
	struct cpu_topology topology;
	/* The physical address width the guest is told, at most the host's
	 * (VM_PHYS_BITS_MIN..VM_PHYS_BITS_MAX); 0: the host's. */
	unsigned int max_phys_bits;
	/* Where the vCPUs run: vCPU v on the host CPUs of the pairs that
	 * name v; a vCPU that none names runs anywhere. */
	struct cpu_affinity cpu_affinity[VM_MAX_AFFINITY];
	unsigned int ncpu_affinity;
	struct mem_config mem;
	enum on_reboot on_reboot;
	const char *stats_path;		/* KVM statistics as JSON, or NULL */
	enum vm_machine machine;
	/* --disk and --net, in command-line order (vm_device_add's words,
	 * parsed by devices_parse): ndevs of them, at most VM_MAX_DEVICES. */
	unsigned int ndevs;
	struct dev_config *devs;
	struct events *events;		/* set by the VMM, not an option:
					 * where devices report, or NULL */
};

/* ACPI hardware-reduced sleep registers and where the tables go. */
#define VM_PORT_SLEEP_CTL 0x600
#define VM_PORT_SLEEP_STS 0x601
#define VM_IOAPIC_ADDR 0xfec00000ULL
/* virt: the GED's event register and interrupt, the PCI hotplug
 * controller's registers (platform/ged.h, platform/pci_hotplug.h). */
#define VM_PORT_GED 0x610
#define VM_GSI_GED 20			/* past the INTx GSIs 16-19 */
#define VM_PORT_PCI_HOTPLUG 0x620
/* How long the guest has to eject a device vm_hotplug_remove asked out. */
#define VM_HOTPLUG_TIMEOUT_MS 10000

/* Told when a removal vm_hotplug_remove started ends: RESULT 0 when the
 * guest ejected device ID and it is gone, -ETIMEDOUT when the guest did
 * not within the timeout (the device stays, as if never asked). On the
 * main thread. */
typedef void vm_removed_fn(void *opaque, const char *id, int result);

/* PCI hotplug's state in the VM (vmm/hotplug.c). */
struct vm_hotplug {
	struct ged ged;
	struct pci_hotplug ctl;
	bool ready;			/* virt: vm_hotplug_setup ran */
	struct {
		char id[DEV_ID_LEN];	/* being removed; "" none */
		uint64_t deadline_ms;	/* CLOCK_MONOTONIC */
	} removing[PCI_HOTPLUG_SLOTS];
	unsigned int timeout_ms;
	int timer_fd;			/* timerfd: the first deadline */
	struct loop *loop;
	struct loop_watch timer_watch;
	vm_removed_fn *removed;
	void *removed_opaque;
};

struct vm {
	const struct vm_config *cfg;
	struct kvm kvm;			/* fds, CPUID, buses, IRQ routing */
	struct guest_mem mem;
	struct pci_bus pci;
	struct machine_host host;	/* what devices realize against */
	struct device_list devices;	/* every device, realized, in order */
	unsigned int nnets;		/* --net devices added so far: the
					 * default MAC's last byte */
	bool started;			/* vm_run started the threads */
	bool paused;			/* vm_pause holds it */
	/* The platform's devices (vmm/machine.c), on the list too. */
	struct serial serial;
	struct rtc rtc;
	struct i8042 i8042;
	struct acpi_sleep sleep;	/* virt */
	struct host_bridge host_bridge;	/* virt */
	struct vm_hotplug hotplug;	/* virt */
	struct piix_device piix;	/* pc */
	struct bios bios;		/* pc with --firmware (vmm/firmware.c) */
	struct fw_cfg fw_cfg;		/* firmware: on the list once set up */
	struct mem_config mem_cfg;	/* cfg->mem, shared when vhost-user */
	struct worker devctl;		/* starts/stops devices for vCPUs */
	unsigned int ncpus;
	struct vcpu *vcpus;

	struct kvm_clock_data clock;	/* kvmclock when paused */
	bool clock_held;

	int request_fd;			/* eventfd: a request is pending */
	_Atomic int request;		/* enum vm_request, first one wins */
};

/* Starts the VM's threads (device control, IDE drives, e1000 receive,
 * vCPUs), enters the main thread's sandbox role (core/sandbox.h) and
 * serves `loop` until a request; returns it. */
enum vm_request vm_run(struct vm *vm, struct loop *loop);
/* Tears the VM down and frees it. */
void vm_destroy(struct vm *vm);
void vm_request(struct vm *vm, enum vm_request req);
/* The request sink devices and KVM report to (vm_request). */
struct vm_control vm_control(struct vm *vm);
/* Pause: vCPUs out of KVM_RUN, then every device quiesced, first to
 * last, then the guest's kvmclock held (KVM_GET_CLOCK); resume sets it
 * back (KVM_SET_CLOCK), so the guest's clock does not jump by the paused
 * time, and resumes in reverse. 0 or -errno (on a failure nothing stays
 * paused). */
int vm_pause(struct vm *vm);
/* Presses the guest's ACPI power button: on virt the GED's power-button
 * event (the DSDT's PWRB, PNP0C0C, hears Notify 0x80), on pc the fixed
 * button's PWRBTN_STS and the SCI (platform/piix.h). What follows is the
 * guest's: an ACPI guest normally shuts down, and tern sees the poweroff.
 * 0, or -ENOTSUP when the machine has no button (no GED). Any thread. */
int vm_power_button(struct vm *vm);
int vm_resume(struct vm *vm);
/* Adds a device: the same path at boot (vm_create, for each --disk and
 * --net) and at run time (the control API, hotplug). OPTION is "disk" or
 * "net" and WORDS what would follow it on the command line
 * ("path=/img,queues=2,id=data"). The device's kind is the first of
 * vmm/devices.c's registry that takes the words; it is created, realized
 * on the machine, put on the device list and, on a running VM, its
 * threads started. Its id (id=, else the option and the first free index:
 * "disk0", "net1") is copied to ID. 0, or -EINVAL (bad words, logged),
 * -EEXIST (the id is taken), -ENOSPC (the kind's limit), -ENOTSUP (a kind
 * not added at run time, e.g. an IDE disk), or the kind's -errno; the
 * reason is logged, and a bad word is one line on stderr (a caller that
 * wants the line, the HTTP API, calls devices_parse with its own FILE and
 * then vm_device_add_config). Call from the main thread. On a running VM
 * the device's own threads (IDE, e1000) start under the calling thread's
 * sandbox role, and the guest sees the device when it rescans (ACPI
 * hotplug notification is the hotplug layer's). */
int vm_device_add(struct vm *vm, const char *option, const char *words,
		  char id[DEV_ID_LEN]);
/* As vm_device_add, from words devices_parse already read. */
int vm_device_add_config(struct vm *vm, const struct dev_config *c,
			 char id[DEV_ID_LEN]);
/* Takes device ID off the list, unrealizes and destroys it: 0 or -ENOENT.
 * The guest must have let go of it (the hotplug layer's eject); call from
 * the main thread with the VM paused or before it runs. */
int vm_device_remove(struct vm *vm, const char *id);
/* Realizes D (created) on VM and puts it on the list; on failure D is
 * destroyed. For vmm/ (the platform's devices, the kinds' ones). */
int vm_add_device(struct vm *vm, struct device *d);

/* PCI hotplug (virt; vmm/hotplug.c), through ACPI as Linux's acpiphp
 * expects: the GED and the hotplug controller on the device list, the
 * DSDT's slots (core/acpi.h). vm_create calls vm_hotplug_setup on virt;
 * vm_destroy calls vm_hotplug_teardown. */
int vm_hotplug_setup(struct vm *vm);
void vm_hotplug_teardown(struct vm *vm);
/* Adds a device as vm_device_add_config does and announces it to the
 * guest: its PCI slot's UP bit and the GED's hotplug event, upon which the
 * guest's ACPI sends the slot a device check and Linux scans it. The id
 * goes to ID. 0, vm_device_add_config's errors, or -ENOTSUP (pc, a kind
 * not hotplugged, a vhost-user device on a VM whose RAM is not shared, or
 * a kind without a PCI function, which is then removed again). Main thread; does not wait for the guest. */
int vm_hotplug_add(struct vm *vm, const struct dev_config *c,
		   char id[DEV_ID_LEN]);
/* Why vm_hotplug_add would refuse C with -ENOTSUP (no hotplug on this
 * machine, a kind that is not hotplugged, a vhost-user backend on RAM
 * that is not shared), or NULL. */
const char *vm_hotplug_refusal(const struct vm *vm,
			       const struct dev_config *c);
/* Asks the guest to let go of device ID (an eject request for its slot)
 * and returns: the device is unrealized and destroyed later, on the main
 * loop, when the guest's _EJ0 writes the eject register, and the
 * callback (vm_hotplug_on_removed) hears 0; if the guest has not ejected
 * within VM_HOTPLUG_TIMEOUT_MS the device stays, the error is logged with
 * its id and the callback hears -ETIMEDOUT. Before the VM runs the
 * device goes at once (the callback hears 0). 0, -ENOENT (no such
 * device), -ENOTSUP (pc, or a device not hotplugged: a platform device,
 * an IDE disk), -EALREADY (its removal is under way). Main thread. */
int vm_hotplug_remove(struct vm *vm, const char *id);
/* Who hears that a removal ended (e.g. the API's device-removed event). */
void vm_hotplug_on_removed(struct vm *vm, vm_removed_fn *fn, void *opaque);
/* The PCI slot device ID sits in: 0-31, or -ENOENT. */
int vm_device_slot(struct vm *vm, const char *id);

/* Writes every vCPU's KVM statistics to cfg->stats_path (if set),
 * atomically: at exit, and on SIGUSR2 for a live sample. */
int vm_write_stats(struct vm *vm);

/* SANDBOX_NEED_* bits for what CFG configures (core/sandbox.h). */
unsigned int vm_sandbox_needs(const struct vm_config *cfg);

#endif
