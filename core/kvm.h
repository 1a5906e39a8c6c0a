/* The KVM substrate of one VM: /dev/kvm and the VM fd, what the host CPU
 * offers (CPUID), guest memory slots, the in-kernel irqchip and PIT, GSI
 * routing, the PIO and MMIO buses exits are dispatched on, and the sink
 * that vCPUs and devices send requests (power off, reset, error) to.
 * vCPUs (core/vcpu.h) and devices depend on this, never on the VM that
 * owns it (the composition root above core/). */
#ifndef TERN_CORE_KVM_H
#define TERN_CORE_KVM_H

#include "core/bus.h"
#include "core/irq.h"
#include "core/lifecycle.h"
#include "core/memory.h"
#include "core/topology.h"

#include <linux/kvm.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define KVM_UNKNOWN_LOG_MAX 32

struct kvm {
	int kvm_fd;			/* /dev/kvm */
	int vm_fd;
	struct kvm_cpuid2 *cpuid;	/* what KVM supports, patched per vCPU */
	struct cpu_topology topo;	/* the vCPUs the guest is told of */
	unsigned int phys_bits;		/* address bits it is told; 0: host's */
	bool ioeventfd_any_len;		/* KVM_CAP_IOEVENTFD_ANY_LENGTH */
	/* Posted MMIO writes (KVM_CAP_COALESCED_MMIO): the ring's page in
	 * each vCPU's mapping (0: none), its entries, who drains it. */
	unsigned int posted_page;
	unsigned int posted_max;
	pthread_mutex_t posted_lock;
	struct bus pio;
	struct bus mmio;
	struct irq_router irq;		/* set up by kvm_irq_init */
	struct vm_control ctl;		/* requests from vCPUs and devices */
	atomic_bool stopping;		/* vCPU threads leave their loop */

	pthread_mutex_t unknown_lock;	/* unknown accesses, logged once */
	unsigned int nunknown;
	uint64_t unknown[KVM_UNKNOWN_LOG_MAX];
};

/* Fds at -1, empty buses: kvm_destroy is safe from here on. */
void kvm_init(struct kvm *k, struct cpu_topology topo,
	      struct vm_control ctl);
/* Opens /dev/kvm, checks the API version and creates the VM with its
 * irqchip and PIT; reads the supported CPUID. 0 or -errno (logged). */
int kvm_open(struct kvm *k);
/* One memory slot per region of MEM. 0 or -errno (logged). */
int kvm_map_memory(struct kvm *k, const struct guest_mem *mem);
/* The GSI routing table (after kvm_open). */
int kvm_irq_init(struct kvm *k);
void kvm_destroy(struct kvm *k);

/* Delivers the writes KVM posted in RING (a vCPU's view of the VM's one
 * ring) to the buses, oldest first, and frees their entries: at most one
 * ring's worth per call. Any vCPU thread, after every return from
 * KVM_RUN; serialised by posted_lock, taken only when the ring holds
 * something. */
void kvm_posted_drain(struct kvm *k, struct kvm_coalesced_mmio_ring *ring);

/* irq_line.set for a struct kvm opaque: KVM_IRQ_LINE. */
int kvm_set_irq(void *opaque, uint32_t gsi, int level);
static inline struct irq_line kvm_irq_line(struct kvm *k, uint32_t gsi)
{
	return (struct irq_line){ kvm_set_irq, k, gsi };
}

/* From vCPU threads: an access nobody claims. Logged once per address. */
void kvm_unknown_access(struct kvm *k, const char *bus, uint64_t addr,
			uint32_t len, bool write);

#endif
