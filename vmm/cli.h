/* Command line, in Cloud Hypervisor's shape. Every bad value is one line
 * on stderr naming the option and the problem; nothing is started. */
#ifndef TERN_VMM_CLI_H
#define TERN_VMM_CLI_H

#include "core/log.h"
#include "core/sandbox.h"
#include "platform/console.h"
#include "vmm/vm.h"

#include <stdio.h>

/* --api-socket, --event-monitor: a path, or an fd tern inherits. */
struct cli_endpoint {
	bool given;
	const char *path;		/* NULL: fd */
	int fd;				/* -1: path */
};

struct cli {
	struct vm_config vm;
	enum console_mode serial;
	const char *serial_path;
	enum log_level log_level;
	struct sandbox_config sandbox;	/* needs: filled in by main */
	struct cli_endpoint api;	/* --api-socket */
	struct cli_endpoint events;	/* --event-monitor */
	char **owned;			/* strings the API handed over */
	unsigned int nowned;
};

enum cli_result {
	CLI_RUN = 0,		/* start the VM */
	CLI_EXIT_OK = 1,	/* --help, --version or --seccomp-list printed */
	CLI_USAGE = 2,		/* bad input, reported on `err` */
};

enum cli_result cli_parse(struct cli *cli, int argc, char **argv,
			  FILE *out, FILE *err);

/* The defaults cli_parse starts from (frees what CLI held). */
void cli_defaults(struct cli *cli);
/* One option by its long name, as the command line would give it
 * ("disk", "path=x.img,readonly=on"): what the API's vm.create maps its
 * JSON onto. Only the VM's own options (kernel, initramfs, cmdline, cpus,
 * memory, disk, net). VALUE is copied. 0, or -EINVAL after one line on
 * ERR naming the option and the value. */
int cli_option(struct cli *cli, const char *name, const char *value,
	       FILE *err);
/* The checks across options cli_parse makes last (a kernel or firmware,
 * IDE and e1000 only on pc, ...); on pc with neither a kernel nor an
 * API, the default firmware. 0 or -EINVAL after one line on ERR. */
int cli_check(struct cli *cli, FILE *err);

/* Frees what cli_parse allocated. CLI must start zeroed; a parse frees
 * what the previous one on the same struct allocated. */
void cli_free(struct cli *cli);
/* "512M" -> bytes; 0 or -EINVAL. Suffixes K, M, G, T are powers of 1024. */
int cli_parse_size(const char *s, uint64_t *bytes);

#endif
