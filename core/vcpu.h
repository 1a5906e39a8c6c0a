/* One thread per vCPU running KVM_RUN; PIO/MMIO exits go to the buses of
 * the struct kvm it belongs to (core/kvm.h), requests to its sink. A vCPU
 * knows nothing of the VM above. Pause: vcpu_pause makes the thread leave
 * KVM_RUN and wait until vcpu_resume; no exit is being handled meanwhile,
 * so no device register access is in flight. */
#ifndef TERN_CORE_VCPU_H
#define TERN_CORE_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct kvm;

struct vcpu {
	struct kvm *kvm;
	unsigned int id;
	int fd;
	int stats_fd;			/* KVM_GET_STATS_FD, -1 if none */
	struct kvm_run *run;
	size_t run_size;
	struct kvm_coalesced_mmio_ring *posted;	/* in run's mapping, or NULL */
	pthread_t thread;
	bool started;
	bool pinned;			/* set before vcpu_start: the thread */
	cpu_set_t cpus;			/* moves onto cpus first */
	pthread_mutex_t lock;		/* pause handshake */
	pthread_cond_t cond;
	atomic_bool pause_req;
	bool paused;
	char name[16];
};

int vcpu_create(struct vcpu *v, struct kvm *kvm, unsigned int id);
/* The boot CPU's registers at the kernel's 64-bit entry. */
int vcpu_set_boot_state(struct vcpu *v, uint64_t entry_rip);
int vcpu_start(struct vcpu *v);
/* Makes KVM_RUN return so the thread sees kvm->stopping. */
void vcpu_kick(struct vcpu *v);
void vcpu_join(struct vcpu *v);
/* Returns once the thread is out of KVM_RUN and waiting (at once if the
 * thread is not running). */
void vcpu_pause(struct vcpu *v);
void vcpu_resume(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);
/* Logs registers and segment state: after a triple fault or KVM error. */
void vcpu_dump(struct vcpu *v);

/* The signal used to kick vCPU threads out of KVM_RUN. */
#define VCPU_KICK_SIGNAL SIGUSR1

#endif
