#include "core/irq.h"

#include "core/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define PIC_PINS 16

int irq_router_init(struct irq_router *r, int vm_fd)
{
	memset(r, 0, sizeof(*r));
	r->vm_fd = vm_fd;
	r->next_gsi = IRQ_IOAPIC_PINS;
	r->table = calloc(1, sizeof(*r->table) +
				     (PIC_PINS + IRQ_IOAPIC_PINS + IRQ_MAX_ROUTES) *
					     sizeof(r->table->entries[0]));
	if (!r->table)
		return -ENOMEM;
	return -pthread_mutex_init(&r->lock, NULL);
}

void irq_router_destroy(struct irq_router *r)
{
	free(r->table);
	r->table = NULL;
	pthread_mutex_destroy(&r->lock);
}

/* Rebuilds the whole table: what KVM_CREATE_IRQCHIP set up by default
 * (GSI 0..15 to both PICs and the IOAPIC, 16..23 to the IOAPIC) and our
 * MSI routes. Caller holds the lock. */
static int irq_commit(struct irq_router *r)
{
	struct kvm_irq_routing_entry *e = r->table->entries;
	unsigned int n = 0;

	for (uint32_t gsi = 0; gsi < IRQ_IOAPIC_PINS; gsi++) {
		e[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { KVM_IRQCHIP_IOAPIC, gsi } };
		if (gsi < PIC_PINS)
			e[n++] = (struct kvm_irq_routing_entry){
				.gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = { gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
						       : KVM_IRQCHIP_PIC_SLAVE,
					       gsi % 8 } };
	}
	for (uint32_t i = 0; i < IRQ_MAX_ROUTES; i++) {
		if (!r->msi[i].used || !r->msi[i].valid)
			continue;
		e[n++] = (struct kvm_irq_routing_entry){
			.gsi = IRQ_IOAPIC_PINS + i, .type = KVM_IRQ_ROUTING_MSI,
			.u.msi = { .address_lo = (uint32_t)r->msi[i].addr,
				   .address_hi = (uint32_t)(r->msi[i].addr >> 32),
				   .data = r->msi[i].data } };
	}
	r->table->nr = n;
	r->table->flags = 0;
	if (ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, r->table) < 0) {
		int ret = -errno;

		log_err("irq", "KVM_SET_GSI_ROUTING (%u routes): %s", n,
			strerror(-ret));
		return ret;
	}
	return 0;
}

int irq_msi_alloc(struct irq_router *r, uint32_t *gsi)
{
	int ret = -ENOSPC;

	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < IRQ_MAX_ROUTES; i++) {
		if (!r->msi[i].used) {
			r->msi[i].used = true;
			r->msi[i].valid = false;
			*gsi = IRQ_IOAPIC_PINS + i;
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

void irq_msi_free(struct irq_router *r, uint32_t gsi)
{
	uint32_t i = gsi - IRQ_IOAPIC_PINS;

	if (gsi < IRQ_IOAPIC_PINS || i >= IRQ_MAX_ROUTES)
		return;
	pthread_mutex_lock(&r->lock);
	if (r->msi[i].valid) {
		r->msi[i].valid = false;
		irq_commit(r);
	}
	r->msi[i].used = false;
	pthread_mutex_unlock(&r->lock);
}

int irq_msi_route(struct irq_router *r, uint32_t gsi, bool valid,
		  uint64_t addr, uint32_t data)
{
	uint32_t i = gsi - IRQ_IOAPIC_PINS;
	int ret = 0;

	if (gsi < IRQ_IOAPIC_PINS || i >= IRQ_MAX_ROUTES)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	if (r->msi[i].valid != valid || r->msi[i].addr != addr ||
	    r->msi[i].data != data) {
		r->msi[i].valid = valid;
		r->msi[i].addr = addr;
		r->msi[i].data = data;
		ret = irq_commit(r);
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int irq_msi_signal(int vm_fd, uint64_t addr, uint32_t data)
{
	struct kvm_msi msi = { .address_lo = (uint32_t)addr,
			       .address_hi = (uint32_t)(addr >> 32),
			       .data = data };

	return ioctl(vm_fd, KVM_SIGNAL_MSI, &msi) < 0 ? -errno : 0;
}

int irq_irqfd(int vm_fd, int fd, uint32_t gsi, bool assign)
{
	struct kvm_irqfd irqfd = { .fd = (uint32_t)fd, .gsi = gsi,
				   .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN };

	return ioctl(vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

int irq_ioeventfd(int vm_fd, int fd, uint64_t addr, uint32_t len,
		  bool assign)
{
	struct kvm_ioeventfd ioev = {
		.addr = addr, .len = len, .fd = fd,
		.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	return ioctl(vm_fd, KVM_IOEVENTFD, &ioev) < 0 ? -errno : 0;
}

static int kvm_msi_alloc(void *kvm, uint32_t *gsi)
{
	return irq_msi_alloc(kvm, gsi);
}

static void kvm_msi_free(void *kvm, uint32_t gsi)
{
	irq_msi_free(kvm, gsi);
}

static int kvm_msi_route(void *kvm, uint32_t gsi, bool valid, uint64_t addr,
			 uint32_t data)
{
	return irq_msi_route(kvm, gsi, valid, addr, data);
}

static int kvm_msi_signal(void *kvm, uint64_t addr, uint32_t data)
{
	return irq_msi_signal(((struct irq_router *)kvm)->vm_fd, addr, data);
}

static int kvm_irqfd(void *kvm, int fd, uint32_t gsi, bool assign)
{
	return irq_irqfd(((struct irq_router *)kvm)->vm_fd, fd, gsi, assign);
}

static int kvm_ioeventfd(void *kvm, int fd, uint64_t addr, uint32_t len,
			 bool assign)
{
	return irq_ioeventfd(((struct irq_router *)kvm)->vm_fd, fd, addr, len,
			     assign);
}

const struct irq_ops irq_kvm_ops = {
	.msi_alloc = kvm_msi_alloc,
	.msi_free = kvm_msi_free,
	.msi_route = kvm_msi_route,
	.msi_signal = kvm_msi_signal,
	.irqfd = kvm_irqfd,
	.ioeventfd = kvm_ioeventfd,
};
