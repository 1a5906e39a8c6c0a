/* tern: parse, open the console, then create/run/destroy the VM until it
 * ends (a reboot with --on-reboot restart goes round again). Between the
 * first VM's creation and its run, with everything open and no thread
 * but this one, the process locks itself down (core/sandbox.h). */
#include "core/log.h"
#include "core/loop.h"
#include "core/memory.h"
#include "core/sandbox.h"
#include "platform/console.h"
#include "vmm/cli.h"
#include "vmm/machine.h"
#include "vmm/vm.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

enum {
	EXIT_OK = 0,
	EXIT_ERROR = 1,
	EXIT_USAGE = 2,
	EXIT_REBOOT = 3,
};

struct session {
	struct vm *vm;			/* the running VM, if any */
	struct loop *loop;
};

static void on_signal(struct loop_watch *w, uint32_t events)
{
	struct session *s = w->opaque;
	struct signalfd_siginfo si;

	if (read(w->fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGUSR2) {
		if (s->vm)
			vm_write_stats(s->vm);
		return;
	}
	log_info("vm", "signal %u: stopping the guest", si.ssi_signo);
	if (s->vm)
		vm_request(s->vm, VM_REQ_STOP);
}

static void kick_handler(int sig)
{
	(void)sig;	/* only interrupts KVM_RUN */
}

/* SIGTERM/SIGINT/SIGHUP/SIGUSR2 come through a signalfd to the main loop; the
 * vCPU kick signal has an empty handler and is unblocked in vCPU threads
 * only. Threads inherit this mask. */
static int signals_setup(sigset_t *watched)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	sigset_t block;

	sigemptyset(watched);
	sigaddset(watched, SIGTERM);
	sigaddset(watched, SIGINT);
	sigaddset(watched, SIGHUP);
	sigaddset(watched, SIGUSR2);	/* write --stats now */
	block = *watched;
	sigaddset(&block, VCPU_KICK_SIGNAL);
	sigaddset(&block, SIGPIPE);
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0 ||
	    pthread_sigmask(SIG_BLOCK, &block, NULL))
		return -errno;
	return signalfd(-1, watched, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Jail, user, seccomp: what the configuration needs decides the rules. */
static int lockdown(const struct cli *cli, const struct console *con)
{
	struct sandbox_config sc = cli->sandbox;

	sc.needs = vm_sandbox_needs(&cli->vm);
	if (con->raw) {
		sc.needs |= SANDBOX_NEED_TTY;
		sandbox_set_tty(con->in_fd, &con->saved);
	}
	if (cli->serial == CONSOLE_SOCKET)
		sc.needs |= SANDBOX_NEED_CONSOLE_SOCKET;
	return sandbox_lockdown(&sc, "tern");
}

static int run(const struct cli *cli, struct loop *loop, struct console *con)
{
	bool first = true;
	struct session s = { .loop = loop };
	struct loop_watch sig_watch;
	sigset_t watched;
	int sfd, status;

	sfd = signals_setup(&watched);
	if (sfd < 0 || loop_add(loop, &sig_watch, sfd, EPOLLIN, on_signal, &s)) {
		log_err("vm", "signal setup failed");
		return EXIT_ERROR;
	}
	for (;;) {
		enum vm_request req;
		struct vm *vm;

		if (vm_create(&vm, &cli->vm, console_output(con), loop)) {
			status = EXIT_ERROR;
			break;
		}
		if (first && lockdown(cli, con)) {
			vm_destroy(vm);
			status = EXIT_ERROR;
			break;
		}
		first = false;
		s.vm = vm;
		console_attach(con, &vm->serial, vm->kvm.ctl);
		req = vm_run(vm, loop);
		console_detach(con);
		s.vm = NULL;
		vm_destroy(vm);

		if (req == VM_REQ_RESET && cli->vm.on_reboot == ON_REBOOT_RESTART) {
			log_info("vm", "guest reset: restarting");
			continue;
		}
		switch (req) {
		case VM_REQ_POWEROFF:
			log_info("vm", "guest powered off");
			status = EXIT_OK;
			break;
		case VM_REQ_STOP:
			status = EXIT_OK;
			break;
		case VM_REQ_RESET:
			log_info("vm", "guest reset: exiting (--on-reboot exit)");
			status = EXIT_REBOOT;
			break;
		default:
			status = EXIT_ERROR;
			break;
		}
		break;
	}
	loop_del(loop, &sig_watch);
	close(sfd);
	return status;
}

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
	status = run(&cli, &loop, &con);
	console_close(&con);
	loop_destroy(&loop);
out:
	cli_free(&cli);
	return status;
}
