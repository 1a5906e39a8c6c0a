/* Fuzz target: tern's command line (vmm/cli.c with the option parser,
 * core/opts.c, and the device words, vmm/devices.c): the input is the
 * argument list, NUL-separated, after argv[0].
 *
 * Checked: cli_parse runs, exits (help, version) or refuses; a refusal is
 * one line on stderr that starts "tern: " and names what was wrong (more
 * lines only when a value quoted in it has a newline); what
 * it accepts is a VM tern can start (1 or more vCPUs, some memory, a
 * kernel, a firmware or an API socket, the device count within its
 * bound, each vCPU affinity pair naming one of its vCPUs, a topology
 * that makes exactly its vCPUs with APIC ids tern can give, a physical
 * address width that reaches its RAM and PCI window); nothing
 * leaks (LeakSanitizer, under libFuzzer). */
#include "vmm/cli.h"
#include "tests/fuzz/fuzz.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FZ_MAX_ARGS 64

static FILE *fz_null;
static unsigned long fz_run, fz_exit, fz_usage;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1), *argv[FZ_MAX_ARGS + 2];
	char *msg = NULL;
	size_t msglen = 0;
	struct cli cli;
	FILE *err;
	int argc = 0;
	enum cli_result r;

	FZ_ASSERT(copy);
	if (!fz_null)
		fz_null = fopen("/dev/null", "w");
	FZ_ASSERT(fz_null);
	memcpy(copy, data, size);
	copy[size] = 0;
	argv[argc++] = "tern";
	for (size_t at = 0; at <= size && argc <= FZ_MAX_ARGS;
	     at += strlen(copy + at) + 1)
		argv[argc++] = copy + at;
	argv[argc] = NULL;
	err = open_memstream(&msg, &msglen);
	FZ_ASSERT(err);
	memset(&cli, 0, sizeof(cli));
	r = cli_parse(&cli, argc, argv, fz_null, err);
	fclose(err);
	switch (r) {
	case CLI_RUN:
		fz_run++;
		FZ_ASSERT(cli.vm.cpus >= 1 && cli.vm.mem.size > 0);
		FZ_ASSERT(cli.vm.kernel || cli.vm.firmware || cli.api.given);
		FZ_ASSERT(cli.vm.ndevs <= VM_MAX_DEVICES);
		FZ_ASSERT(cli.vm.ncpu_affinity <= VM_MAX_AFFINITY);
		for (unsigned int i = 0; i < cli.vm.ncpu_affinity; i++)
			FZ_ASSERT(cli.vm.cpu_affinity[i].index < cli.vm.cpus);
		if (cli.vm.topology.threads) {
			unsigned int last;

			FZ_ASSERT(topology_count(&cli.vm.topology) ==
				  cli.vm.cpus);
			FZ_ASSERT(topology_valid(&cli.vm.topology, &last));
		}
		if (cli.vm.max_phys_bits) {
			FZ_ASSERT(cli.vm.max_phys_bits >= VM_PHYS_BITS_MIN &&
				  cli.vm.max_phys_bits <= VM_PHYS_BITS_MAX);
			FZ_ASSERT(mem_phys_bits(mem_phys_top(
					  cli.vm.mem.size)) <=
				  cli.vm.max_phys_bits);
		}
		break;
	case CLI_EXIT_OK:
		fz_exit++;
		break;
	case CLI_USAGE:
		fz_usage++;
		/* One line naming the problem (values are quoted as given:
		 * one with a newline in it makes more lines). */
		FZ_ASSERT(msglen > 7 && !strncmp(msg, "tern: ", 6));
		FZ_ASSERT(msg[msglen - 1] == '\n');
		FZ_ASSERT(memchr(data, '\n', size) ||
			  !memchr(msg, '\n', msglen - 1));
		break;
	default:
		FZ_ASSERT(!"cli_parse: an answer outside enum cli_result");
	}
	cli_free(&cli);
	free(msg);
	free(copy);
	return 0;
}

#ifdef FUZZ_STANDALONE
static void fz_report(unsigned int runs)
{
	fprintf(stderr,
		"fuzz_cli: %u inputs ran clean (%lu accepted, %lu exits, "
		"%lu refused)\n",
		runs, fz_run, fz_exit, fz_usage);
}
#include "replay.h"
#endif
