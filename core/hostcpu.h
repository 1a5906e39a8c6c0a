/* The host's CPUs as tern's options name them ("0,2-3"), the pairs that
 * place an indexed thread (a disk's queue, a vCPU) on some of them
 * ("[0@[0,2-3],1@[1]]"), and a thread's move onto its CPUs. */
#ifndef TERN_CORE_HOSTCPU_H
#define TERN_CORE_HOSTCPU_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>

/* Thread INDEX (a queue, a vCPU) may run on host CPU CPU: one pair per
 * CPU. */
#define HOSTCPU_INDEX_LIMIT 65536	/* indexes are 0..65535 */
struct cpu_affinity {
	uint16_t index, cpu;
};

/* The CPUs a list such as "0,2-3" names (N and N-M only; CPUs this
 * machine has, libnuma's check), ascending, each once, into CPU: at most
 * MAX of them, their number in *N. Returns 0, -EINVAL for text that is not
 * such a list or names a CPU this machine lacks, or -ENOSYS when built
 * without libnuma. */
int hostcpu_list(const char *text, uint16_t *cpu, unsigned int max,
		 unsigned int *n);

/* Parses "[I@[CPUS],...]" ("[]": none) into pairs A: each I below
 * HOSTCPU_INDEX_LIMIT (the caller holds it to its own count, and names
 * one past it), each CPUS a hostcpu_list; a pair given twice is kept
 * once. At most MAX pairs, their number in *N. Returns 0, or -EINVAL for
 * anything else and for more than MAX pairs (refused, not cut). */
int hostcpu_affinity_parse(const char *v, struct cpu_affinity *a,
			   unsigned int max, unsigned int *n);

/* The CPUs the N pairs A give INDEX, into SET; returns their number (0:
 * no pair names INDEX). */
int hostcpu_affinity_set(const struct cpu_affinity *a, unsigned int n,
			 unsigned int index, cpu_set_t *set);

/* SET as a list such as "0,2-3" into BUF; a list longer than LEN ends
 * after its last whole item with ",..." (where LEN has room for it).
 * Returns BUF. */
const char *hostcpu_text(const cpu_set_t *set, char *buf, size_t len);

/* Moves the calling thread onto SET. A thread that cannot (CPUs outside
 * tern's cpuset) says so under WHO's name and runs where it was: returns
 * 0 or the -errno it logged. LANDED, unless NULL, gets the CPUs it may
 * now run on: SET's within tern's cpuset. */
int hostcpu_move(const char *who, const cpu_set_t *set, cpu_set_t *landed);

#endif
