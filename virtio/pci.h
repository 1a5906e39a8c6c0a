/* virtio-pci, modern (virtio 1.x §4.1): one 64-bit memory BAR holds the
 * common, ISR, device-config and notify regions and the MSI-X table and
 * PBA. Each queue's notify address is a KVM ioeventfd; each queue's call
 * eventfd is a KVM irqfd on the GSI routed to its MSI-X vector. */
#ifndef TERN_VIRTIO_PCI_H
#define TERN_VIRTIO_PCI_H

#include "core/bus.h"
#include "core/device.h"
#include "core/irq.h"
#include "core/loop.h"
#include "core/memory.h"
#include "core/pci.h"
#include "core/worker.h"
#include "virtio/device.h"

#include <pthread.h>

#define VPCI_BAR_SIZE 0x8000
#define VPCI_MAX_VECTORS (VIRTIO_MAX_QUEUES + 1)

/* What the transport needs of the VM. */
struct virtio_pci_host {
	const struct irq_ops *irq;	/* irq_kvm_ops, or a test's fake */
	void *kvm;			/* its argument: the irq_router */
	bool ioeventfd_any_len;		/* KVM_CAP_IOEVENTFD_ANY_LENGTH */
	struct bus *mmio;
	struct pci_bus *pci;
	struct loop *loop;		/* serves the device's error eventfd */
	struct worker *ctl;		/* runs the device's start and stop
					 * (NULL: the caller, as in tests) */
	const struct guest_mem *mem;	/* a load checks rings against it;
					 * NULL: they are checked at resume */
	struct events *events;		/* the event monitor, or NULL */
};

struct vpci_queue {
	struct virtio_queue_io io;
	uint16_t vector;
	bool irqfd_on;
};

struct vpci_msix {
	uint32_t addr_lo, addr_hi, data, ctrl;
};

/* A virtio model as the transport's lifecycle (core/device.h) sees it:
 * the kind that composes model, transport and backend fills one in. */
struct virtio_pci_model {
	const struct virtio_dev_ops *ops;
	void *dev;			/* ops' argument */
	unsigned int nqueues;
	uint16_t queue_size;		/* largest the driver may set */
	/* After realize: the model (and its backend) learn how to report
	 * a broken guest (virtio_pci_bus). NULL: nothing to tell. */
	void (*set_bus)(void *owner, struct virtio_bus bus);
	/* destroy: frees the model, its backend and what holds the
	 * transport. NULL: nothing. */
	void (*release)(void *owner);
	void *owner;
};

struct virtio_pci {
	struct device device;		/* virtio_pci_device_init */
	struct virtio_pci_model model;
	uint16_t base[VIRTIO_MAX_QUEUES]; /* paused: where queues go on */
	char name[32];
	struct pci_dev pci;
	struct virtio_pci_host host;
	const struct virtio_dev_ops *ops;
	void *dev;
	pthread_mutex_t lock;
	uint64_t bar;			/* where BAR 0 is registered, 0 = off */

	/* common configuration */
	uint64_t device_features, driver_features;
	uint32_t dfselect, gfselect;
	uint16_t config_vector, queue_sel;
	uint8_t status, config_gen, isr;
	bool started;
	atomic_bool broken;		/* the device asked for a reset */
	int err_fd;
	struct loop_watch err_watch;
	unsigned int errors_logged;	/* driver errors, rate-limited */
	unsigned int nqueues;
	uint16_t max_queue_size;
	struct vpci_queue q[VIRTIO_MAX_QUEUES];

	/* MSI-X */
	unsigned int nvec;
	int msix_cap;			/* config-space offset */
	struct vpci_msix msix[VPCI_MAX_VECTORS];
	uint32_t gsi[VPCI_MAX_VECTORS];
	uint64_t pending[(VPCI_MAX_VECTORS + 63) / 64];
};

/* Builds the PCI function and plugs it into host->pci. */
int virtio_pci_create(struct virtio_pci *t, const struct virtio_pci_host *host,
		      const char *name, const struct virtio_dev_ops *ops,
		      void *dev, unsigned int nqueues, uint16_t queue_size);
void virtio_pci_destroy(struct virtio_pci *t);
/* The transport as a device of the lifecycle (core/device.h), for any
 * model: realize is virtio_pci_create on the machine's buses, unrealize
 * virtio_pci_destroy, reset a device reset, pause and resume the model's
 * hooks on a started device, save and load the common configuration, the
 * queue registers and positions, the MSI-X table and pending bits, the
 * PCI config space, then the model's fields. ID names the device (log
 * lines, state records). */
void virtio_pci_device_init(struct virtio_pci *t, const char *id,
			    const struct virtio_pci_model *m);

/* For the device model: how it reports a broken guest. */
struct virtio_bus virtio_pci_bus(struct virtio_pci *t);

#endif
