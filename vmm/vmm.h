/* The VMM: what runs VMs one after another in this process, and what the
 * control API talks to. With --kernel it builds and runs that VM at once
 * (as tern always did); with --api-socket it also serves the API, and
 * with --api-socket alone it starts empty and waits for vm.create and
 * vm.boot. Operations from the API thread arrive through a mailbox
 * (core/mailbox.h) and run on the main thread, between the main loop's
 * other events: the VM has one writer, and no vCPU or I/O thread waits
 * on a client.
 *
 * How it ends (the exit status): the guest powers off (0), resets with
 * --on-reboot exit (3), a signal or vmm.shutdown (0), an error (1). A
 * vm.shutdown or vm.delete ends the VM, not the VMM; vm.reboot restarts
 * the VM from its configuration whatever --on-reboot says. */
#ifndef TERN_VMM_VMM_H
#define TERN_VMM_VMM_H

#include "core/loop.h"
#include "platform/console.h"
#include "vmm/cli.h"

enum {
	EXIT_OK = 0,
	EXIT_ERROR = 1,
	EXIT_USAGE = 2,
	EXIT_REBOOT = 3,
};

/* Runs until the end; returns the exit status. */
int vmm_run(const struct cli *cli, struct loop *loop, struct console *con);

#endif
