/* tern: parse, open the console, then the VMM (vmm/vmm.c) runs VMs until
 * it ends: the one --kernel names, and those the control API creates. */
#include "core/log.h"
#include "core/loop.h"
#include "core/memory.h"
#include "platform/console.h"
#include "vmm/cli.h"
#include "vmm/vmm.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct console con;
	struct loop loop;
	struct cli cli = { 0 };
	int status;

	switch (cli_parse(&cli, argc, argv, stdout, stderr)) {
	case CLI_EXIT_OK:
		status = EXIT_OK;
		goto out;
	case CLI_USAGE:
		status = EXIT_USAGE;
		goto out;
	case CLI_RUN:
		break;
	}
	log_set_level(cli.log_level);
	status = EXIT_ERROR;
	if (thread_stacks_small())
		log_warn("vm", "thread stacks stay at the default size");
	if (loop_init(&loop)) {
		log_err("vm", "epoll: %s", strerror(errno));
		goto out;
	}
	if (console_open(&con, cli.serial, cli.serial_path, &loop)) {
		loop_destroy(&loop);
		goto out;
	}
	status = vmm_run(&cli, &loop, &con);
	console_close(&con);
	loop_destroy(&loop);
out:
	cli_free(&cli);
	return status;
}
