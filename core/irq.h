/* Interrupts. Slow-path devices drive a level (struct irq_line). Fast-path
 * queues never come through here at run time: at setup a queue's call
 * eventfd is bound to a GSI with KVM_IRQFD, and that GSI is routed to an
 * MSI message the guest wrote in an MSI-X table (KVM_SET_GSI_ROUTING). The
 * queue's kick is an ioeventfd on its notify address (KVM_IOEVENTFD). */
#ifndef TERN_CORE_IRQ_H
#define TERN_CORE_IRQ_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct irq_line {
	/* Sets GSI `gsi` to `level` (0 or 1); returns 0 or -errno. */
	int (*set)(void *opaque, uint32_t gsi, int level);
	void *opaque;
	uint32_t gsi;
};

static inline int irq_line_set(const struct irq_line *line, int level)
{
	return line->set ? line->set(line->opaque, line->gsi, level) : 0;
}

#define IRQ_IOAPIC_PINS 24
#define IRQ_MAX_ROUTES 1024

/* The VM's GSI routing table: KVM's default irqchip routes for GSIs 0..23,
 * then one MSI route per GSI handed out by irq_msi_alloc. KVM takes the
 * table whole, so every change rewrites it. */
struct irq_router {
	pthread_mutex_t lock;
	int vm_fd;
	unsigned int nchip;		/* irqchip entries at the front */
	uint32_t next_gsi;
	struct {
		bool used, valid;	/* allocated; has a message */
		uint64_t addr;
		uint32_t data;
	} msi[IRQ_MAX_ROUTES];		/* by GSI - IRQ_IOAPIC_PINS */
	struct kvm_irq_routing *table;	/* scratch for the ioctl */
};

int irq_router_init(struct irq_router *r, int vm_fd);
void irq_router_destroy(struct irq_router *r);
/* A GSI for an MSI route; -ENOSPC when none are left. */
int irq_msi_alloc(struct irq_router *r, uint32_t *gsi);
void irq_msi_free(struct irq_router *r, uint32_t gsi);
/* Points `gsi` at an MSI message (valid) or at nothing (!valid). */
int irq_msi_route(struct irq_router *r, uint32_t gsi, bool valid,
		  uint64_t addr, uint32_t data);
/* Injects an MSI directly (KVM_SIGNAL_MSI): pending bits, config changes. */
int irq_msi_signal(int vm_fd, uint64_t addr, uint32_t data);

int irq_irqfd(int vm_fd, int fd, uint32_t gsi, bool assign);
/* An ioeventfd on MMIO [addr, addr+len); len 0 matches any width. */
int irq_ioeventfd(int vm_fd, int fd, uint64_t addr, uint32_t len,
		  bool assign);

/* What the fast-path wiring (virtio/pci.c) needs of KVM, as a table so a
 * test can stand in for KVM. irq_kvm_ops takes a struct irq_router. */
struct irq_ops {
	int (*msi_alloc)(void *kvm, uint32_t *gsi);
	void (*msi_free)(void *kvm, uint32_t gsi);
	int (*msi_route)(void *kvm, uint32_t gsi, bool valid, uint64_t addr,
			 uint32_t data);
	int (*msi_signal)(void *kvm, uint64_t addr, uint32_t data);
	int (*irqfd)(void *kvm, int fd, uint32_t gsi, bool assign);
	int (*ioeventfd)(void *kvm, int fd, uint64_t addr, uint32_t len,
			 bool assign);
};

extern const struct irq_ops irq_kvm_ops;

#endif
