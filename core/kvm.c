#include "core/kvm.h"

#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define KVM_API_VERSION_EXPECTED 12
#define KVM_TSS_ADDR 0xfffbd000
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000

void kvm_init(struct kvm *k, struct cpu_topology topo,
	      struct vm_control ctl)
{
	memset(k, 0, sizeof(*k));
	k->kvm_fd = k->vm_fd = -1;
	k->topo = topo;
	k->ctl = ctl;
	atomic_init(&k->stopping, false);
	pthread_mutex_init(&k->unknown_lock, NULL);
	pthread_mutex_init(&k->posted_lock, NULL);
	bus_init(&k->pio, "pio");
	bus_init(&k->mmio, "mmio");
}

static int vm_ioctl(struct kvm *k, const char *what, unsigned long req,
		    unsigned long arg)
{
	int ret;

	if (ioctl(k->vm_fd, req, arg) >= 0)
		return 0;
	ret = -errno;
	log_err("kvm", "%s: %s", what, strerror(-ret));
	return ret;
}

static int get_cpuid(struct kvm *k)
{
	unsigned int nent = 256;
	int ret;

	for (;;) {
		k->cpuid = calloc(1, sizeof(*k->cpuid) +
					     nent * sizeof(k->cpuid->entries[0]));
		if (!k->cpuid)
			return -ENOMEM;
		k->cpuid->nent = nent;
		if (ioctl(k->kvm_fd, KVM_GET_SUPPORTED_CPUID, k->cpuid) == 0)
			return 0;
		ret = -errno;
		free(k->cpuid);
		k->cpuid = NULL;
		if (ret != -E2BIG || nent >= 4096) {
			log_err("kvm", "KVM_GET_SUPPORTED_CPUID: %s",
				strerror(-ret));
			return ret;
		}
		nent *= 2;
	}
}

static int zone_ioctl(struct kvm *k, unsigned long req, uint64_t base,
		      uint64_t len)
{
	struct kvm_coalesced_mmio_zone z = { .addr = base,
					     .size = (uint32_t)len };

	return ioctl(k->vm_fd, req, &z) < 0 ? -errno : 0;
}

static int post_zone(void *opaque, uint64_t base, uint64_t len)
{
	int ret = zone_ioctl(opaque, KVM_REGISTER_COALESCED_MMIO, base, len);

	if (ret)
		log_warn("kvm", "posting writes to 0x%llx+0x%llx: %s",
			 (unsigned long long)base, (unsigned long long)len,
			 strerror(-ret));
	return ret;
}

/* KVM drops every zone that lies inside the range. */
static void unpost_range(void *opaque, uint64_t base, uint64_t len)
{
	int ret = zone_ioctl(opaque, KVM_UNREGISTER_COALESCED_MMIO, base, len);

	if (ret)
		log_warn("kvm", "withdrawing posted writes at 0x%llx: %s",
			 (unsigned long long)base, strerror(-ret));
}

/* The ring is one page of the vCPU mapping: a header, then entries. */
static void posted_init(struct kvm *k)
{
	long page = sysconf(_SC_PAGESIZE);
	int off = ioctl(k->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO);

	if (off <= 0 || page <= 0)
		return;
	k->posted_page = (unsigned int)off;
	k->posted_max = (unsigned int)(((size_t)page -
					sizeof(struct kvm_coalesced_mmio_ring)) /
				       sizeof(struct kvm_coalesced_mmio));
	k->mmio.poster = (struct bus_poster){ post_zone, unpost_range, k };
}

void kvm_posted_drain(struct kvm *k, struct kvm_coalesced_mmio_ring *ring)
{
	/* Most exits find the ring empty: no lock for them. An entry KVM
	 * adds after this look is delivered at the next exit, or by a vCPU
	 * already draining. */
	if (__atomic_load_n(&ring->first, __ATOMIC_RELAXED) ==
	    __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&k->posted_lock);
	/* At most one ring's worth: a guest writing on another vCPU cannot
	 * keep this one here. */
	for (unsigned int n = 0; n < k->posted_max; n++) {
		uint32_t first = ring->first;
		/* KVM fills an entry before it moves `last` past it. */
		uint32_t last = __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE);
		struct kvm_coalesced_mmio e;

		if (first == last)
			break;
		if (first >= k->posted_max || last >= k->posted_max) {
			log_err("kvm", "posted-write ring at %u/%u of %u: "
				"not draining it", first, last, k->posted_max);
			break;
		}
		e = ring->coalesced_mmio[first];
		if (e.len > sizeof(e.data))
			e.len = sizeof(e.data);
		if (!bus_write(e.pio ? &k->pio : &k->mmio, e.phys_addr, e.data,
			       e.len))
			kvm_unknown_access(k, e.pio ? "pio" : "mmio",
					   e.phys_addr, e.len, true);
		__atomic_store_n(&ring->first, (first + 1) % k->posted_max,
				 __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&k->posted_lock);
}

int kvm_open(struct kvm *k)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t id_map = KVM_IDENTITY_MAP_ADDR;
	int ret;

	k->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (k->kvm_fd < 0) {
		ret = -errno;
		log_err("kvm", "/dev/kvm: %s", strerror(-ret));
		return ret;
	}
	ret = ioctl(k->kvm_fd, KVM_GET_API_VERSION, 0);
	if (ret != KVM_API_VERSION_EXPECTED) {
		log_err("kvm", "API version %d, need %d", ret,
			KVM_API_VERSION_EXPECTED);
		return -ENOTSUP;
	}
	k->vm_fd = ioctl(k->kvm_fd, KVM_CREATE_VM, 0);
	if (k->vm_fd < 0) {
		ret = -errno;
		log_err("kvm", "KVM_CREATE_VM: %s", strerror(-ret));
		return ret;
	}
	k->ioeventfd_any_len = ioctl(k->kvm_fd, KVM_CHECK_EXTENSION,
				     KVM_CAP_IOEVENTFD_ANY_LENGTH) > 0;
	posted_init(k);
	ret = vm_ioctl(k, "KVM_SET_TSS_ADDR", KVM_SET_TSS_ADDR, KVM_TSS_ADDR);
	if (ret)
		return ret;
	if (ioctl(k->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &id_map) < 0)
		log_debug("kvm", "KVM_SET_IDENTITY_MAP_ADDR: %s",
			  strerror(errno));
	ret = vm_ioctl(k, "KVM_CREATE_IRQCHIP", KVM_CREATE_IRQCHIP, 0);
	ret = ret ?: vm_ioctl(k, "KVM_CREATE_PIT2", KVM_CREATE_PIT2,
			      (unsigned long)&pit);
	return ret ?: get_cpuid(k);
}

int kvm_map_memory(struct kvm *k, const struct guest_mem *mem)
{
	for (unsigned int i = 0; i < mem->nregions; i++) {
		const struct mem_region *r = &mem->regions[i];
		struct kvm_userspace_memory_region slot = {
			.slot = i,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uint64_t)(uintptr_t)r->hva,
		};
		char what[32];
		int ret;

		snprintf(what, sizeof(what), "memory slot %u", i);
		ret = vm_ioctl(k, what, KVM_SET_USER_MEMORY_REGION,
			       (unsigned long)&slot);
		if (ret)
			return ret;
	}
	return 0;
}

int kvm_irq_init(struct kvm *k)
{
	return irq_router_init(&k->irq, k->vm_fd);
}

void kvm_destroy(struct kvm *k)
{
	if (k->irq.table)
		irq_router_destroy(&k->irq);
	free(k->cpuid);
	k->cpuid = NULL;
	if (k->vm_fd >= 0)
		close(k->vm_fd);
	if (k->kvm_fd >= 0)
		close(k->kvm_fd);
	k->vm_fd = k->kvm_fd = -1;
	bus_destroy(&k->pio);
	bus_destroy(&k->mmio);
	pthread_mutex_destroy(&k->unknown_lock);
	pthread_mutex_destroy(&k->posted_lock);
}

int kvm_set_irq(void *opaque, uint32_t gsi, int level)
{
	struct kvm *k = opaque;
	struct kvm_irq_level irq = { .irq = gsi, .level = (uint32_t)level };

	return ioctl(k->vm_fd, KVM_IRQ_LINE, &irq) < 0 ? -errno : 0;
}

void kvm_unknown_access(struct kvm *k, const char *bus, uint64_t addr,
			uint32_t len, bool write)
{
	bool seen = false;

	pthread_mutex_lock(&k->unknown_lock);
	for (unsigned int i = 0; i < k->nunknown && !seen; i++)
		seen = k->unknown[i] == addr;
	if (!seen && k->nunknown < KVM_UNKNOWN_LOG_MAX)
		k->unknown[k->nunknown++] = addr;
	else
		seen = true;
	pthread_mutex_unlock(&k->unknown_lock);
	if (!seen)
		log_warn("vm", "unhandled %s %s of %u bytes at 0x%llx "
			 "(logged once)", bus, write ? "write" : "read", len,
			 (unsigned long long)addr);
}
