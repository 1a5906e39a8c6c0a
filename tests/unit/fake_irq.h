/* A KVM that routes nothing: irq_ops (core/irq.h) for tests and fuzz
 * targets that realize virtio-pci devices without KVM. GSIs are handed
 * out from 24 up; routes, signals, irqfds and ioeventfds succeed and do
 * nothing (a test watches the call eventfds and the rings instead). */
#ifndef TERN_TESTS_FAKE_IRQ_H
#define TERN_TESTS_FAKE_IRQ_H

#include "core/irq.h"

static uint32_t fake_irq_next_gsi;

static inline int fake_irq_alloc(void *kvm, uint32_t *gsi)
{
	*gsi = 24 + fake_irq_next_gsi++ % 1000;
	return 0;
}

static inline void fake_irq_free(void *kvm, uint32_t gsi)
{
}

static inline int fake_irq_route(void *kvm, uint32_t gsi, bool valid,
				 uint64_t addr, uint32_t data)
{
	return 0;
}

static inline int fake_irq_signal(void *kvm, uint64_t addr, uint32_t data)
{
	return 0;
}

static inline int fake_irq_irqfd(void *kvm, int fd, uint32_t gsi, bool assign)
{
	return 0;
}

static inline int fake_irq_ioeventfd(void *kvm, int fd, uint64_t addr,
				     uint32_t len, bool assign)
{
	return 0;
}

static const struct irq_ops fake_irq_ops = {
	fake_irq_alloc, fake_irq_free, fake_irq_route,
	fake_irq_signal, fake_irq_irqfd, fake_irq_ioeventfd,
};

#endif
