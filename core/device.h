/* The device lifecycle every device implements, from virtio-blk to the
 * 16550: one const ops table per kind, and a struct device embedded in
 * each instance. The stages, and who calls them:
 *
 *   create     the kind's constructor builds the instance from its config
 *              (state CREATED); it touches no bus and starts no thread.
 *   realize    registers on buses, PCI, IRQ lines and ACPI; may start the
 *              device's own threads (REALIZED). Uses only what the
 *              machine_host offers: a device never sees the VM.
 *   reset      guest or system reset: power-on register state, stays
 *              realized. Not while paused.
 *   pause      quiesce: no new work is taken, work in flight finishes or
 *              is recorded, the device's state stops changing (PAUSED).
 *              The VM pauses its vCPUs first, so no register access
 *              arrives meanwhile.
 *   resume     continues from the paused state (REALIZED).
 *   save/load  the device's state as a record of the state stream
 *              (core/state.h), only while paused. load treats the record
 *              as hostile: every value is checked against the device's
 *              rules before any is applied; on error nothing changes.
 *   start      starts the device's own threads once the process is locked
 *              down (a VM realizes its devices before its sandbox is in
 *              place, and starts them after); at run time right after
 *              realize. NULL: the device has no thread of its own, or
 *              realize started it.
 *   unrealize  undoes realize; nothing touches guest RAM afterwards.
 *   destroy    frees what create made.
 *
 * device_* below check the state machine and call the ops; an op a kind
 * leaves NULL is a no-op for reset/pause/resume/unrealize and -ENOTSUP
 * for save/load. */
#ifndef TERN_CORE_DEVICE_H
#define TERN_CORE_DEVICE_H

#include "core/lifecycle.h"

#include <stddef.h>
#include <stdint.h>

struct bus;
struct events;
struct guest_mem;
struct irq_ops;
struct kvm;
struct loop;
struct pci_bus;
struct state_reader;
struct state_writer;
struct worker;

/* What realize may use. kvm is NULL in unit tests: devices take their
 * IRQ lines and irq ops from here, never from KVM directly. */
struct machine_host {
	struct kvm *kvm;
	struct bus *pio, *mmio;
	struct pci_bus *pci;
	struct guest_mem *mem;
	struct loop *loop;
	struct worker *devctl;		/* starts/stops devices for vCPUs */
	const struct irq_ops *irq;	/* MSI routes, irqfds, ioeventfds */
	void *irq_ctx;
	/* Sets an interrupt line (GSI) to a level: KVM_IRQ_LINE, or a
	 * test's recorder. */
	int (*set_irq)(void *opaque, uint32_t gsi, int level);
	void *set_irq_opaque;
	struct vm_control ctl;		/* requests: power off, reset */
	struct events *events;		/* the event monitor, or NULL */
};

enum device_state {
	DEVICE_CREATED,
	DEVICE_REALIZED,
	DEVICE_PAUSED,
};

struct device;

struct device_ops {
	const char *kind;		/* "serial": the state record's kind */
	uint32_t state_version;		/* of its save format */
	int (*realize)(struct device *d, const struct machine_host *h);
	int (*start)(struct device *d);
	void (*unrealize)(struct device *d);
	void (*reset)(struct device *d);
	int (*pause)(struct device *d);
	int (*resume)(struct device *d);
	int (*save)(struct device *d, struct state_writer *w);
	int (*load)(struct device *d, struct state_reader *r);
	void (*destroy)(struct device *d);
};

struct device_kind;

struct device {
	const struct device_ops *ops;
	const struct device_kind *kind;	/* the composition root's (vmm/),
					 * opaque here; NULL for platform
					 * devices */
	char id[32];			/* "serial0": log lines, state records */
	enum device_state state;
	struct device *prev, *next;	/* the VM's list, in realize order */
};

/* Sets up d (CREATED) for a constructor. */
void device_init(struct device *d, const struct device_ops *ops,
		 const char *id);

int device_realize(struct device *d, const struct machine_host *h);
/* The device's threads (ops->start), on a realized device. */
int device_start(struct device *d);
/* Unrealizes if needed (resuming first), then destroys. */
void device_destroy(struct device *d);
/* -EBUSY unless realized and running. */
int device_reset(struct device *d);
int device_pause(struct device *d);
int device_resume(struct device *d);
/* One record (header + the device's fields) appended to w. -EBUSY unless
 * paused. */
int device_save(struct device *d, struct state_writer *w);
/* Loads the record at buf[0..len) (its length in *used on success).
 * -EBUSY unless paused, -EINVAL on a bad record (logged). */
int device_load(struct device *d, const void *buf, size_t len,
		size_t *used);

/* The VM's devices, in the order they were realized. Pause goes in that
 * order and resume in reverse; destroy in reverse. */
struct device_list {
	struct device *head, *tail;
	unsigned int n;
};

void device_list_add(struct device_list *l, struct device *d);
void device_list_remove(struct device_list *l, struct device *d);
struct device *device_list_find(const struct device_list *l, const char *id);
/* Every device, first to last; on a failure those already paused are
 * resumed and the error returned. */
int device_list_pause(struct device_list *l);
int device_list_resume(struct device_list *l);
void device_list_reset(struct device_list *l);
/* device_start on every device, first to last; the first error stops. */
int device_list_start(struct device_list *l);
/* Destroys every device, last to first, and empties the list. */
void device_list_destroy(struct device_list *l);

#endif
