/* How a device asks the VM to stop: power off (ACPI S5), reset (0xCF9,
 * i8042 pulse, ACPI reset register). Called from vCPU threads; the VM's
 * main loop acts on it. */
#ifndef TERN_CORE_LIFECYCLE_H
#define TERN_CORE_LIFECYCLE_H

enum vm_request {
	VM_REQ_NONE = 0,
	VM_REQ_POWEROFF,	/* guest powered off: exit 0 */
	VM_REQ_RESET,		/* guest asked for a reset: restart or exit */
	VM_REQ_STOP,		/* host asked to stop (signal, console escape) */
	VM_REQ_ERROR,		/* triple fault, KVM internal error */
};

struct vm_control {
	void (*request)(void *opaque, enum vm_request req);
	void *opaque;
};

static inline void vm_control_request(const struct vm_control *c,
				      enum vm_request req)
{
	if (c && c->request)
		c->request(c->opaque, req);
}

#endif
