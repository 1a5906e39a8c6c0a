/* Command line, in Cloud Hypervisor's shape. Every bad value is one line
 * on stderr naming the option and the problem; nothing is started. */
#ifndef TERN_VMM_CLI_H
#define TERN_VMM_CLI_H

#include "core/log.h"
#include "core/sandbox.h"
#include "platform/console.h"
#include "vmm/vm.h"

#include <stdio.h>

struct cli {
	struct vm_config vm;
	enum console_mode serial;
	const char *serial_path;
	enum log_level log_level;
	struct sandbox_config sandbox;	/* needs: filled in by main */
};

enum cli_result {
	CLI_RUN = 0,		/* start the VM */
	CLI_EXIT_OK = 1,	/* --help, --version or --seccomp-list printed */
	CLI_USAGE = 2,		/* bad input, reported on `err` */
};

enum cli_result cli_parse(struct cli *cli, int argc, char **argv,
			  FILE *out, FILE *err);

/* Frees what cli_parse allocated. CLI must start zeroed; a parse frees
 * what the previous one on the same struct allocated. */
void cli_free(struct cli *cli);
/* "512M" -> bytes; 0 or -EINVAL. Suffixes K, M, G, T are powers of 1024. */
int cli_parse_size(const char *s, uint64_t *bytes);

#endif
