#include "core/vcpu.h"

#include "core/boot.h"
#include "core/cpuid.h"
#include "core/hostcpu.h"
#include "core/log.h"
#include "core/sandbox.h"
#include "core/stats.h"
#include "core/kvm.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define MSR_MTRR_DEF_TYPE 0x2ff
#define VCPU_TRACE_SKIP_PORT 0x3f8	/* COM1 data: every console byte */

int vcpu_create(struct vcpu *v, struct kvm *kvm, unsigned int id)
{
	/* struct kvm_msrs ends in a flexible array: room for one entry. */
	union {
		struct kvm_msrs hdr;
		uint8_t room[sizeof(struct kvm_msrs) +
			     sizeof(struct kvm_msr_entry)];
	} msrs = { .hdr.nmsrs = 1 };
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	size_t cpuid_size, page;
	struct kvm_cpuid2 *cpuid = NULL;
	int ret, mmap_size;

	memset(v, 0, sizeof(*v));
	v->kvm = kvm;
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->cond, NULL);
	v->id = id;
	v->stats_fd = -1;
	snprintf(v->name, sizeof(v->name), "vcpu%u", id);
	/* KVM's vCPU id is the APIC id the vCPU starts with. */
	v->fd = ioctl(kvm->vm_fd, KVM_CREATE_VCPU,
		      (unsigned long)topology_apic_id(&kvm->topo, id));
	if (v->fd < 0) {
		ret = -errno;
		log_err(v->name, "KVM_CREATE_VCPU: %s", strerror(-ret));
		return ret;
	}
	mmap_size = ioctl(kvm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (mmap_size < (int)sizeof(struct kvm_run)) {
		ret = mmap_size < 0 ? -errno : -EINVAL;
		goto err_fd;
	}
	v->run_size = (size_t)mmap_size;
	v->run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	if (v->run == MAP_FAILED) {
		ret = -errno;
		v->run = NULL;
		goto err_fd;
	}
	page = (size_t)sysconf(_SC_PAGESIZE);
	if (kvm->posted_page &&
	    (kvm->posted_page + 1) * page <= v->run_size)
		v->posted = (struct kvm_coalesced_mmio_ring *)
			((uint8_t *)v->run + kvm->posted_page * page);

	cpuid_size = sizeof(*cpuid) +
		     kvm->cpuid->nent * sizeof(cpuid->entries[0]);
	cpuid = malloc(cpuid_size +
		       CPUID_PATCH_EXTRA * sizeof(cpuid->entries[0]));
	if (!cpuid) {
		ret = -ENOMEM;
		goto err_map;
	}
	memcpy(cpuid, kvm->cpuid, cpuid_size);
	cpuid_patch(cpuid, &kvm->topo, id,
		    ioctl(kvm->kvm_fd, KVM_CHECK_EXTENSION,
			  KVM_CAP_TSC_DEADLINE_TIMER) > 0, kvm->phys_bits);
	if (ioctl(v->fd, KVM_SET_CPUID2, cpuid) < 0) {
		ret = -errno;
		log_err(v->name, "KVM_SET_CPUID2: %s", strerror(-ret));
		goto err_cpuid;
	}
	/* MTRRs on, write-back by default, as firmware leaves them. */
	msrs.hdr.entries[0] = (struct kvm_msr_entry){
		.index = MSR_MTRR_DEF_TYPE, .data = (1 << 11) | 6 };
	if (ioctl(v->fd, KVM_SET_MSRS, &msrs) != 1)
		log_warn(v->name, "could not set MTRR default type");
	if (ioctl(v->fd, KVM_SET_FPU, &fpu) < 0) {
		ret = -errno;
		log_err(v->name, "KVM_SET_FPU: %s", strerror(-ret));
		goto err_cpuid;
	}
	free(cpuid);
	v->stats_fd = stats_open(v->fd);	/* optional: old kernels */
	return 0;

err_cpuid:
	free(cpuid);
err_map:
	munmap(v->run, v->run_size);
	v->run = NULL;
err_fd:
	if (ret == -EINVAL)
		log_err(v->name, "KVM_GET_VCPU_MMAP_SIZE gave %d", mmap_size);
	close(v->fd);
	v->fd = -1;
	return ret;
}

int vcpu_set_boot_state(struct vcpu *v, uint64_t entry_rip)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	if (ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	boot_cpu_state(entry_rip, &regs, &sregs);
	if (ioctl(v->fd, KVM_SET_SREGS, &sregs) < 0 ||
	    ioctl(v->fd, KVM_SET_REGS, &regs) < 0) {
		int ret = -errno;

		log_err(v->name, "setting boot registers: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

static void vcpu_pio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool write = run->io.direction == KVM_EXIT_IO_OUT;

	for (uint32_t i = 0; i < run->io.count; i++, data += run->io.size) {
		bool claimed;

		/* --log-level debug traces port writes (how the reboot path
		 * was found), all but the console's data port. */
		if (write && run->io.port != VCPU_TRACE_SKIP_PORT)
			log_debug(v->name, "out 0x%x <- 0x%llx/%u", run->io.port,
				  (unsigned long long)bus_get(data, run->io.size),
				  run->io.size);
		claimed = write ? bus_write(&v->kvm->pio, run->io.port, data,
					    run->io.size)
				: bus_read(&v->kvm->pio, run->io.port, data,
					   run->io.size);
		if (!claimed)
			kvm_unknown_access(v->kvm, "pio", run->io.port,
					  run->io.size, write);
	}
}

static void vcpu_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len > 8 ? 8 : run->mmio.len;
	bool claimed;

	if (run->mmio.is_write)
		claimed = bus_write(&v->kvm->mmio, run->mmio.phys_addr,
				    run->mmio.data, len);
	else
		claimed = bus_read(&v->kvm->mmio, run->mmio.phys_addr,
				   run->mmio.data, len);
	if (!claimed)
		kvm_unknown_access(v->kvm, "mmio", run->mmio.phys_addr, len,
				  run->mmio.is_write);
}

/* Handles one exit; returns the request it makes of the VM, if any. */
static enum vm_request vcpu_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_pio(v);
		return VM_REQ_NONE;
	case KVM_EXIT_MMIO:
		vcpu_mmio(v);
		return VM_REQ_NONE;
	case KVM_EXIT_INTR:
		return VM_REQ_NONE;
	case KVM_EXIT_SHUTDOWN:
		/* On AMD, KVM resets the vCPU on this intercept: the dump
		 * then shows reset state, not the faulting one. */
		log_err(v->name, "triple fault (KVM_EXIT_SHUTDOWN)");
		vcpu_dump(v);
		return VM_REQ_ERROR;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			return VM_REQ_POWEROFF;
		case KVM_SYSTEM_EVENT_RESET:
			return VM_REQ_RESET;
		default:
			log_err(v->name, "system event %u",
				run->system_event.type);
			return VM_REQ_ERROR;
		}
	case KVM_EXIT_INTERNAL_ERROR:
		log_err(v->name, "KVM internal error, suberror %u",
			run->internal.suberror);
		vcpu_dump(v);
		return VM_REQ_ERROR;
	case KVM_EXIT_FAIL_ENTRY:
		log_err(v->name, "VM entry failed, reason 0x%llx",
			(unsigned long long)run->fail_entry
				.hardware_entry_failure_reason);
		vcpu_dump(v);
		return VM_REQ_ERROR;
	default:
		log_err(v->name, "unexpected exit reason %u",
			run->exit_reason);
		vcpu_dump(v);
		return VM_REQ_ERROR;
	}
}

/* On the vCPU thread, out of KVM_RUN: says it is paused and waits until
 * resumed or stopped. */
static void vcpu_wait_resume(struct vcpu *v)
{
	pthread_mutex_lock(&v->lock);
	v->paused = true;
	pthread_cond_broadcast(&v->cond);
	while (v->pause_req && !atomic_load(&v->kvm->stopping))
		pthread_cond_wait(&v->cond, &v->lock);
	v->paused = false;
	/* The kick that paused us left immediate_exit set. */
	v->run->immediate_exit = 0;
	pthread_mutex_unlock(&v->lock);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	cpu_set_t landed;
	char text[64];
	sigset_t set;

	pthread_setname_np(pthread_self(), v->name);
	sandbox_enter(SANDBOX_VCPU);
	if (v->pinned && !hostcpu_move(v->name, &v->cpus, &landed))
		log_info(v->name, "runs on host CPUs %s",
			 hostcpu_text(&landed, text, sizeof(text)));

	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	while (!atomic_load(&v->kvm->stopping)) {
		enum vm_request req;

		int ret;

		if (atomic_load(&v->pause_req))
			vcpu_wait_resume(v);
		ret = ioctl(v->fd, KVM_RUN, 0) < 0 ? errno : 0;
		/* Every way out of KVM_RUN first delivers the posted writes:
		 * what the exit reads, and a pause, come after them. */
		if (v->posted)
			kvm_posted_drain(v->kvm, v->posted);
		if (ret) {
			if (ret == EINTR || ret == EAGAIN)
				continue;
			log_err(v->name, "KVM_RUN: %s", strerror(ret));
			vm_control_request(&v->kvm->ctl, VM_REQ_ERROR);
			break;
		}
		req = vcpu_exit(v);
		if (req != VM_REQ_NONE) {
			vm_control_request(&v->kvm->ctl, req);
			break;
		}
	}
	/* A pauser waiting for this thread must not wait for ever. */
	pthread_mutex_lock(&v->lock);
	v->paused = true;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	int ret = pthread_create(&v->thread, NULL, vcpu_thread, v);

	if (ret) {
		log_err(v->name, "starting thread: %s", strerror(ret));
		return -ret;
	}
	v->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	if (!v->started)
		return;
	/* immediate_exit covers a kick that lands before KVM_RUN. */
	v->run->immediate_exit = 1;
	pthread_kill(v->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *v)
{
	if (v->started)
		pthread_join(v->thread, NULL);
	v->started = false;
}

void vcpu_pause(struct vcpu *v)
{
	if (!v->started)
		return;
	pthread_mutex_lock(&v->lock);
	v->pause_req = true;
	pthread_mutex_unlock(&v->lock);
	vcpu_kick(v);
	pthread_mutex_lock(&v->lock);
	while (!v->paused)
		pthread_cond_wait(&v->cond, &v->lock);
	pthread_mutex_unlock(&v->lock);
}

void vcpu_resume(struct vcpu *v)
{
	pthread_mutex_lock(&v->lock);
	v->pause_req = false;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

void vcpu_destroy(struct vcpu *v)
{
	if (v->stats_fd >= 0)
		close(v->stats_fd);
	v->stats_fd = -1;
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->fd >= 0)
		close(v->fd);
	v->run = NULL;
	v->posted = NULL;
	v->fd = -1;
}

static void dump_seg(const char *vname, const char *name,
		     const struct kvm_segment *s)
{
	log_err(vname, "%-3s sel %04x base %016llx limit %08x type %x "
		"p%u dpl%u db%u s%u l%u g%u", name, s->selector,
		(unsigned long long)s->base, s->limit, s->type, s->present,
		s->dpl, s->db, s->s, s->l, s->g);
}

void vcpu_dump(struct vcpu *v)
{
	struct kvm_sregs s;
	struct kvm_regs r;

	if (ioctl(v->fd, KVM_GET_REGS, &r) < 0 ||
	    ioctl(v->fd, KVM_GET_SREGS, &s) < 0) {
		log_err(v->name, "cannot read registers: %s", strerror(errno));
		return;
	}
	log_err(v->name, "rip %016llx rsp %016llx rflags %08llx",
		r.rip, r.rsp, r.rflags);
	log_err(v->name, "rax %016llx rbx %016llx rcx %016llx rdx %016llx",
		r.rax, r.rbx, r.rcx, r.rdx);
	log_err(v->name, "rsi %016llx rdi %016llx rbp %016llx r8  %016llx",
		r.rsi, r.rdi, r.rbp, r.r8);
	log_err(v->name, "r9  %016llx r10 %016llx r11 %016llx r12 %016llx",
		r.r9, r.r10, r.r11, r.r12);
	log_err(v->name, "r13 %016llx r14 %016llx r15 %016llx",
		r.r13, r.r14, r.r15);
	log_err(v->name, "cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx "
		"efer %llx", s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
	dump_seg(v->name, "cs", &s.cs);
	dump_seg(v->name, "ss", &s.ss);
	dump_seg(v->name, "ds", &s.ds);
	dump_seg(v->name, "tr", &s.tr);
	log_err(v->name, "gdt %016llx/%x idt %016llx/%x",
		(unsigned long long)s.gdt.base, s.gdt.limit,
		(unsigned long long)s.idt.base, s.idt.limit);
}
