#include "vmm/cli.h"

#include "config.h"
#include "core/hostcpu.h"
#include "core/opts.h"
#include "core/topology.h"
#include "platform/bios.h"
#include "virtio/queue.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_MEMORY (512ULL << 20)
#define MIN_MEMORY (64ULL << 20)
#define MAX_MEMORY (1ULL << 40)
#define DEFAULT_CMDLINE "console=ttyS0"
#define MEM_MAX_NUMA_NODE 1023
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

static const char usage_text[] =
	"usage: tern --kernel PATH [options]\n"
	"       tern --machine pc [--firmware PATH] --disk ... [options]\n"
	"       tern --api-socket path=PATH [options]\n"
	"  --kernel PATH          Linux bzImage, or its uncompressed ELF vmlinux\n"
	"  --firmware PATH        a BIOS image (--machine pc) that boots the\n"
	"                         disks; the default on pc without --kernel:\n"
	"                         " BIOS_DEFAULT_PATH "\n"
	"  --initramfs PATH       initial ramdisk\n"
	"  --cmdline STR          kernel command line (default: \"" DEFAULT_CMDLINE "\")\n"
	"  --cpus N[,topology=T:C:D:P][,max-phys-bits=B]\n"
	"         [,affinity=[V@[CPUS],...]]\n"
	"                         vCPUs, 1.." STRINGIFY(VM_MAX_CPUS) " (default 1); topology: T threads\n"
	"                         per core, C cores per die, D dies per package,\n"
	"                         P packages (default 1:N:1:1; N may then be left\n"
	"                         out); max-phys-bits: the guest's physical\n"
	"                         address width, " STRINGIFY(VM_PHYS_BITS_MIN) ".." STRINGIFY(VM_PHYS_BITS_MAX) ", at most the host's\n"
	"                         (default the host's); affinity: vCPU V runs on\n"
	"                         host CPUS (0,2-3), the others anywhere\n"
	"  --memory SIZE[,shared=on|off][,hugepages=on|off][,numa-node=N]\n"
	"                         guest RAM, e.g. 512M, 4G (default 512M);\n"
	"                         shared=on: a memfd other processes can map;\n"
	"                         hugepages=on: hugetlbfs 2M pages (shared)\n"
	"  --serial stdio|file=PATH|pty|socket=PATH|off\n"
	"                         serial console (default stdio; Ctrl-A x quits)\n"
	"  --machine virt|pc      virt (default): virtio only, hw-reduced ACPI;\n"
	"                         pc: i440FX + PIIX3, for IDE and e1000\n"
	"  --disk path=FILE[,queues=N][,queue-size=N][,direct=on|off]\n"
	"         [,readonly=on|off][,packed=on|off][,serial=STR][,if=virtio|ide]\n"
	"         [,media=disk|cdrom][,bootindex=N][,poll-us=N]\n"
	"         [,queue-affinity=[Q@[CPUS],...]]\n"
	"                         virtio-blk on a raw image (repeatable, up to "
	STRINGIFY(VM_MAX_DISKS) ");\n"
	"                         if=ide: a PIIX IDE disk (--machine pc, up to "
	STRINGIFY(VM_MAX_IDE) ");\n"
	"                         media=cdrom: an ATAPI CD-ROM on an ISO (if=ide);\n"
	"                         bootindex: the firmware tries lower first;\n"
	"                         poll-us: after work, each queue's thread polls\n"
	"                         its ring N us before it sleeps (default 0: off);\n"
	"                         queue-affinity: queue Q's thread runs on CPUS\n"
	"                         (e.g. [0@[0,2-3],1@[1]]; others: near\n"
	"                         --memory numa-node=, else anywhere)\n"
	"  --disk vhost-user=SOCKET[,queues=N]\n"
	"                         virtio-blk served by a vhost-user backend;\n"
	"                         queues default: the backend's, up to --cpus\n"
	"  --net [tap=NAME][,mac=MAC][,queues=N][,vhost=on|off|auto][,mtu=N]\n"
	"        [,queue-size=N][,packed=on|off][,model=virtio|e1000]\n"
	"                         virtio-net over a tap (created if absent); the\n"
	"                         kernel's vhost-net moves packets when it can;\n"
	"                         model=e1000: an Intel 82540EM (--machine pc)\n"
	"  --net vhost-user=SOCKET[,mac=MAC][,queues=N][,mtu=N]\n"
	"                         virtio-net whose rings a vhost-user backend\n"
	"                         serves (DPDK, ...); guest RAM becomes shared\n"
	"         --disk and --net also take id=NAME (letters, digits, - and _):\n"
	"                         the device's name in the API and in state\n"
	"                         records; default diskN, netN\n"
	"  --on-reboot exit|restart  what a guest reboot does (default exit)\n"
	"  --stats FILE           KVM's per-vCPU exit counters as JSON, written\n"
	"                         at exit and on SIGUSR2\n"
	"  --log-level error|warn|info|debug\n"
	"  --seccomp on|off|log   system-call filters, one per thread role\n"
	"                         (default on; log: name a forbidden call, then\n"
	"                         let it run); --seccomp-list prints the rules\n"
	"  --seccomp-probe ROLE   ROLE's threads (vcpu, main, devctl, blk-io,\n"
	"                         net-io, net-ctrl, api) call a forbidden syscall once\n"
	"                         filtered: a check that the filters stop them\n"
	"  --user USER|UID:GID    once everything is open, run as this user\n"
	"                         with no capabilities\n"
	"  --jail DIR             once everything is open, a mount namespace of\n"
	"                         tern's own whose root is DIR (needs root)\n"
	"                         (--user and --jail exclude --on-reboot restart\n"
	"                         and --api-socket)\n"
	"  --api-socket path=PATH|fd=N  serve the HTTP API there (mode 0600); with\n"
	"                         no --kernel, start empty and wait for vm.create\n"
	"  --event-monitor path=PATH|fd=N  events, one JSON object per line\n"
	"  --help, --version\n"
	"exit status: 0 guest powered off or stopped by SIGTERM/SIGINT/Ctrl-A x,\n"
	"  1 error (bad image, KVM failure, triple fault), 2 bad usage,\n"
	"  3 guest rebooted with --on-reboot exit, 159 a forbidden system call\n"
	"  (--seccomp on)\n";

void cli_free(struct cli *cli)
{
	free(cli->vm.devs);
	cli->vm.devs = NULL;
	cli->vm.ndevs = 0;
	for (unsigned int i = 0; i < cli->nowned; i++)
		free(cli->owned[i]);
	free(cli->owned);
	cli->owned = NULL;
	cli->nowned = 0;
}

/* A copy of S that lives as long as CLI: for strings the API hands over. */
static char *keep(struct cli *cli, const char *s)
{
	char **grown, *copy = strdup(s);

	if (!copy)
		return NULL;
	grown = realloc(cli->owned, (cli->nowned + 1) * sizeof(*grown));
	if (!grown) {
		free(copy);
		return NULL;
	}
	cli->owned = grown;
	cli->owned[cli->nowned++] = copy;
	return copy;
}

int cli_parse_size(const char *s, uint64_t *bytes)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'K': case 'k': shift = 10; end++; break;
	case 'M': case 'm': shift = 20; end++; break;
	case 'G': case 'g': shift = 30; end++; break;
	case 'T': case 't': shift = 40; end++; break;
	default: break;
	}
	if (*end || (shift && v > (ULLONG_MAX >> shift)))
		return -EINVAL;
	*bytes = (uint64_t)v << shift;
	return 0;
}

static int bad(FILE *err, const char *opt, const char *fmt, const char *val)
{
	return opts_error(err, opt, fmt, val);
}

/* affinity=[V@[CPUS],...]: vCPU V runs on CPUS, a list of this machine's
 * CPUs; parse_cpus holds V below the VM's vCPUs. */
static int cpus_affinity(void *target, const char *v)
{
	struct vm_config *vm = target;

	return hostcpu_affinity_parse(v, vm->cpu_affinity, VM_MAX_AFFINITY,
				      &vm->ncpu_affinity);
}

/* topology=T:C:D:P, each level 1..255; parse_cpus checks the whole. */
static int cpus_topology(void *target, const char *v)
{
	struct vm_config *vm = target;
	unsigned int *level[] = { &vm->topology.threads, &vm->topology.cores,
				  &vm->topology.dies, &vm->topology.packages };
	char word[16];

	for (unsigned int i = 0; i < ARRAY_SIZE(level); i++) {
		size_t len = strcspn(v, ":");
		bool last = i + 1 == ARRAY_SIZE(level);
		unsigned long long n;

		/* A number, then ':' before every level but the last. */
		if (!len || len >= sizeof(word) || (v[len] == '\0') != last)
			return -EINVAL;
		memcpy(word, v, len);
		word[len] = '\0';
		if (opts_uint(word, 1, 255, &n))
			return -EINVAL;
		*level[i] = (unsigned int)n;
		v += len + !last;
	}
	return 0;
}

static const struct opt_spec cpus_specs[] = {
	OPT_U("boot", struct vm_config, cpus, 1, VM_MAX_CPUS),
	OPT_F("topology", cpus_topology,
	      "give THREADS:CORES:DIES:PACKAGES, each 1 to 255, e.g. 2:4:1:1"),
	OPT_U("max-phys-bits", struct vm_config, max_phys_bits,
	      VM_PHYS_BITS_MIN, VM_PHYS_BITS_MAX),
	OPT_FL("affinity", cpus_affinity,
	       "give [VCPU@[CPUS],...], CPUS of this machine like 0,2-3 (at "
	       "most " STRINGIFY(VM_MAX_AFFINITY) " (vCPU, CPU) pairs in "
	       "all)"),
};

static const struct opts_table cpus_table = {
	"cpus", cpus_specs, ARRAY_SIZE(cpus_specs), "boot",
};

/* The topology's vCPUs are the VM's (boot= may be left out), and their
 * APIC ids fit in 8 bits with the I/O APIC's above them. */
static int check_topology(struct vm_config *vm, bool boot_given, FILE *err)
{
	const struct cpu_topology *t = &vm->topology;
	unsigned int n = topology_count(t), last;
	char name[64];

	snprintf(name, sizeof(name), "topology=%u:%u:%u:%u", t->threads,
		 t->cores, t->dies, t->packages);
	if (!n || n > VM_MAX_CPUS)
		return opts_error(err, "cpus", "%s: more than %u vCPUs", name,
				  VM_MAX_CPUS);
	if (boot_given && n != vm->cpus)
		return opts_error(err, "cpus", "%s: makes %u vCPUs, boot=%u",
				  name, n, vm->cpus);
	if (!topology_valid(t, &last))
		return opts_error(err, "cpus", "%s: the last vCPU's APIC id "
				  "would be %u, and they end at %u: each level "
				  "takes whole bits of the id, so give fewer "
				  "packages or counts nearer a power of two",
				  name, last, TOPOLOGY_APIC_ID_MAX);
	vm->cpus = n;
	return 0;
}

/* A later --cpus replaces an earlier one whole. */
static int parse_cpus(struct cli *cli, const char *arg, FILE *err)
{
	struct vm_config *vm = &cli->vm;
	uint64_t seen;
	int ret;

	vm->cpus = 1;
	vm->topology = (struct cpu_topology){ 0 };
	vm->max_phys_bits = 0;
	vm->ncpu_affinity = 0;
	if (!*arg)
		return opts_error(err, "cpus", "'': give the vCPU count, N or "
				  "boot=N[,topology=T:C:D:P][,max-phys-bits=B]"
				  "[,affinity=[V@[CPUS],...]]");
	ret = opts_parse(&cpus_table, arg, vm, &seen, err);
	if (ret)
		return ret;
	if (vm->topology.threads) {
		ret = check_topology(vm, seen & 1, err);
		if (ret)
			return ret;
	}
	for (unsigned int i = 0; i < vm->ncpu_affinity; i++)
		if (vm->cpu_affinity[i].index >= vm->cpus)
			return opts_error(err, "cpus", "affinity: no vCPU %u: "
					  "the VM's are 0 to %u (boot=%u)",
					  vm->cpu_affinity[i].index,
					  vm->cpus - 1, vm->cpus);
	return 0;
}

static int mem_size(void *target, const char *v)
{
	struct mem_config *m = target;

	return cli_parse_size(v, &m->size) || m->size < MIN_MEMORY ||
	       m->size > MAX_MEMORY || (m->size & 0xfff) ? -EINVAL : 0;
}

static const struct opt_spec memory_specs[] = {
	OPT_F("size", mem_size, "give a size from 64M to 1T, a multiple of "
	      "4K (e.g. 512M or 4G)"),
	OPT_B("shared", struct mem_config, shared),
	OPT_B("hugepages", struct mem_config, hugepages),
	OPT_U("numa-node", struct mem_config, numa_node, 0, MEM_MAX_NUMA_NODE),
};

static const struct opts_table memory_table = {
	"memory", memory_specs, ARRAY_SIZE(memory_specs), "size",
};

static int parse_memory(struct cli *cli, const char *arg, FILE *err)
{
	struct mem_config *m = &cli->vm.mem;
	uint64_t seen;
	int ret;

	ret = opts_parse(&memory_table, arg, m, &seen, err);
	if (!ret && m->hugepages && (m->size & ((2ULL << 20) - 1)))
		ret = opts_error(err, "memory", "hugepages=on needs a size that "
				 "is a multiple of 2M");
	return ret;
}

/* --disk and --net: the words are the device kinds' (vmm/devices.c); the
 * command line keeps them for vm_create, in order. */
static int parse_device(struct cli *cli, const char *option, const char *arg,
			FILE *err)
{
	struct dev_config *c;
	unsigned int n = 0;
	int ret;

	if (cli->vm.ndevs == VM_MAX_DEVICES)
		return opts_error(err, option, "more than %u devices",
				  VM_MAX_DEVICES);
	/* One at a time: a config holds a path buffer. */
	c = realloc(cli->vm.devs, (cli->vm.ndevs + 1) * sizeof(*c));
	if (!c)
		return -ENOMEM;
	cli->vm.devs = c;
	c = &cli->vm.devs[cli->vm.ndevs];
	ret = devices_parse(option, arg, c, err);
	if (ret)
		return ret;
	for (unsigned int i = 0; i < cli->vm.ndevs; i++) {
		n += cli->vm.devs[i].kind == c->kind;
		if (c->id[0] && !strcmp(cli->vm.devs[i].id, c->id))
			return opts_error(err, option, "id=%s is taken", c->id);
	}
	if (n == c->kind->max)
		return opts_error(err, option, "more than %u %s devices",
				  c->kind->max, c->kind->name);
	cli->vm.ndevs++;
	return 0;
}

static int parse_seccomp(struct cli *cli, const char *arg, FILE *err)
{
	if (!strcmp(arg, "off")) {
		cli->sandbox.seccomp = SANDBOX_SECCOMP_OFF;
		return 0;
	}
	if (strcmp(arg, "on") && strcmp(arg, "log"))
		return bad(err, "seccomp", "'%s' is not on, off or log", arg);
	if (!sandbox_seccomp_available())
		return bad(err, "seccomp", "%s: this tern was built without "
			   "libseccomp; only off", arg);
	cli->sandbox.seccomp = strcmp(arg, "on") ? SANDBOX_SECCOMP_LOG
						 : SANDBOX_SECCOMP_ON;
	return 0;
}

static int parse_user(struct cli *cli, const char *arg, FILE *err)
{
	switch (sandbox_user_parse(arg, &cli->sandbox.uid, &cli->sandbox.gid)) {
	case 0:
		cli->sandbox.drop = true;
		return 0;
	case -ENOENT:
		return bad(err, "user", "'%s': no such user", arg);
	case -EPERM:
		return bad(err, "user", "'%s' is uid or gid 0: give an "
			   "unprivileged user", arg);
	default:
		return bad(err, "user", "'%s' is not a user name or UID:GID",
			   arg);
	}
}

static int parse_jail(struct cli *cli, const char *arg, FILE *err)
{
	struct stat st;

	if (!*arg)
		return bad(err, "jail", "%s", "empty path");
	if (stat(arg, &st) < 0) {
		const char *why = strerror(errno);

		fprintf(err, "tern: --jail: %s: %s\n", arg, why);
		return -EINVAL;
	}
	if (!S_ISDIR(st.st_mode))
		return bad(err, "jail", "%s: not a directory", arg);
	cli->sandbox.jail = arg;
	return 0;
}

static int parse_serial(struct cli *cli, const char *arg, FILE *err)
{
	if (!strcmp(arg, "stdio"))
		cli->serial = CONSOLE_STDIO;
	else if (!strcmp(arg, "pty"))
		cli->serial = CONSOLE_PTY;
	else if (!strcmp(arg, "off"))
		cli->serial = CONSOLE_OFF;
	else if (!strncmp(arg, "file=", 5) && arg[5])
		cli->serial = CONSOLE_FILE, cli->serial_path = arg + 5;
	else if (!strncmp(arg, "socket=", 7) && arg[7])
		cli->serial = CONSOLE_SOCKET, cli->serial_path = arg + 7;
	else
		return bad(err, "serial", "'%s' is not stdio, file=PATH, pty, "
			   "socket=PATH or off", arg);
	return 0;
}


/* RAM and the 64-bit PCI window above it lie below max-phys-bits. */
static int check_phys_bits(const struct vm_config *vm, FILE *err)
{
	char what[160];

	if (!vm->max_phys_bits ||
	    vm->max_phys_bits >= mem_phys_bits(mem_phys_top(vm->mem.size)))
		return 0;
	mem_phys_describe(vm->mem.size, what, sizeof(what));
	fprintf(err, "tern: --cpus: max-phys-bits=%u: %s\n", vm->max_phys_bits,
		what);
	return -EINVAL;
}

/* bootindex= is the firmware's: none without one, no two alike. */
static int check_bootindex(const struct vm_config *vm, FILE *err)
{
	for (unsigned int i = 0; i < vm->ndevs; i++) {
		unsigned int p = vm->devs[i].disk.boot_prio;

		if (strcmp(vm->devs[i].kind->option, "disk") || !p)
			continue;
		if (!vm->firmware)
			return opts_error(err, "disk", "bootindex= is for a "
					  "firmware boot (not with --kernel)");
		for (unsigned int j = i + 1; j < vm->ndevs; j++)
			if (!strcmp(vm->devs[j].kind->option, "disk") &&
			    vm->devs[j].disk.boot_prio == p)
				return opts_error(err, "disk", "bootindex=%u is "
						  "given twice", p - 1);
	}
	return 0;
}

/* --api-socket, --event-monitor: path=PATH or fd=N. */
struct endpoint_words {
	struct cli_endpoint e;
	struct cli *cli;
};

static int endpoint_path(void *target, const char *v)
{
	struct endpoint_words *w = target;

	if (!*v || strlen(v) > DEV_SOCKET_MAX)
		return -EINVAL;
	w->e.path = keep(w->cli, v);
	return w->e.path ? 0 : -ENOMEM;
}

static const struct opt_spec endpoint_specs[] = {
	OPT_F("path", endpoint_path, "give a path (1 to "
	      STRINGIFY(DEV_SOCKET_MAX) " bytes)"),
	OPT_U("fd", struct endpoint_words, e.fd, 0, INT_MAX),
};

static int parse_endpoint(struct cli *cli, struct cli_endpoint *e,
			  const char *option, const char *arg, FILE *err)
{
	struct opts_table t = { option, endpoint_specs,
				ARRAY_SIZE(endpoint_specs), NULL };
	struct endpoint_words w = { .e = { .fd = -1 }, .cli = cli };
	uint64_t seen;
	int ret;

	ret = opts_parse(&t, arg, &w, &seen, err);
	if (ret)
		return ret;
	if (seen != 1 && seen != 2)
		return opts_error(err, option, "'%s': give path=PATH or fd=N, "
				  "one of them", arg);
	w.e.given = true;
	*e = w.e;
	return 0;
}

enum { O_KERNEL = 256, O_INITRAMFS, O_CMDLINE, O_CPUS, O_MEMORY,
       O_SERIAL, O_ON_REBOOT, O_LOG_LEVEL, O_HELP, O_VERSION, O_DISK,
       O_STATS, O_NET, O_MACHINE, O_SECCOMP, O_SECCOMP_LIST,
       O_SECCOMP_PROBE, O_USER, O_JAIL, O_FIRMWARE, O_API_SOCKET,
       O_EVENT_MONITOR };
static const struct option opts[] = {
	{ "kernel", required_argument, NULL, O_KERNEL },
	{ "firmware", required_argument, NULL, O_FIRMWARE },
	{ "initramfs", required_argument, NULL, O_INITRAMFS },
	{ "cmdline", required_argument, NULL, O_CMDLINE },
	{ "cpus", required_argument, NULL, O_CPUS },
	{ "memory", required_argument, NULL, O_MEMORY },
	{ "serial", required_argument, NULL, O_SERIAL },
	{ "on-reboot", required_argument, NULL, O_ON_REBOOT },
	{ "log-level", required_argument, NULL, O_LOG_LEVEL },
	{ "disk", required_argument, NULL, O_DISK },
	{ "stats", required_argument, NULL, O_STATS },
	{ "net", required_argument, NULL, O_NET },
	{ "machine", required_argument, NULL, O_MACHINE },
	{ "seccomp", required_argument, NULL, O_SECCOMP },
	{ "seccomp-list", no_argument, NULL, O_SECCOMP_LIST },
	{ "seccomp-probe", required_argument, NULL, O_SECCOMP_PROBE },
	{ "user", required_argument, NULL, O_USER },
	{ "jail", required_argument, NULL, O_JAIL },
	{ "api-socket", required_argument, NULL, O_API_SOCKET },
	{ "event-monitor", required_argument, NULL, O_EVENT_MONITOR },
	{ "help", no_argument, NULL, O_HELP },
	{ "version", no_argument, NULL, O_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* One option the command line or the API (cli_option) gives; 0 or
 * -EINVAL after one line on ERR, 1 when OPT is not one of these. */
static int apply(struct cli *cli, int opt, const char *arg, FILE *err)
{
	int ret = 0;

	switch (opt) {
	case O_KERNEL:
		cli->vm.kernel = arg;
		ret = devices_check_file("kernel", arg, err);
		break;
	case O_FIRMWARE:
		cli->vm.firmware = arg;
		ret = devices_check_file("firmware", arg, err);
		break;
	case O_INITRAMFS:
		cli->vm.initramfs = arg;
		ret = devices_check_file("initramfs", arg, err);
		break;
	case O_CMDLINE:
		cli->vm.cmdline = arg;
		break;
	case O_CPUS:
		ret = parse_cpus(cli, arg, err);
		break;
	case O_MEMORY:
		ret = parse_memory(cli, arg, err);
		break;
	case O_SERIAL:
		ret = parse_serial(cli, arg, err);
		break;
	case O_DISK:
		ret = parse_device(cli, "disk", arg, err);
		break;
	case O_NET:
		ret = parse_device(cli, "net", arg, err);
		break;
	case O_MACHINE:
		if (!strcmp(arg, "virt"))
			cli->vm.machine = MACHINE_VIRT;
		else if (!strcmp(arg, "pc"))
			cli->vm.machine = MACHINE_PC;
		else
			ret = bad(err, "machine", "'%s' is not virt or pc",
				  arg);
		break;
	case O_STATS:
		if (!*arg)
			ret = bad(err, "stats", "%s", "empty path");
		cli->vm.stats_path = arg;
		break;
	case O_ON_REBOOT:
		if (!strcmp(arg, "exit"))
			cli->vm.on_reboot = ON_REBOOT_EXIT;
		else if (!strcmp(arg, "restart"))
			cli->vm.on_reboot = ON_REBOOT_RESTART;
		else
			ret = bad(err, "on-reboot", "'%s' is not exit "
				  "or restart", arg);
		break;
	case O_LOG_LEVEL:
		if (!strcmp(arg, "error"))
			cli->log_level = LOG_ERR;
		else if (!strcmp(arg, "warn"))
			cli->log_level = LOG_WARN;
		else if (!strcmp(arg, "info"))
			cli->log_level = LOG_INFO;
		else if (!strcmp(arg, "debug"))
			cli->log_level = LOG_DEBUG;
		else
			ret = bad(err, "log-level", "'%s' is not error, "
				  "warn, info or debug", arg);
		break;
	case O_SECCOMP:
		ret = parse_seccomp(cli, arg, err);
		break;
	case O_SECCOMP_PROBE:
		cli->sandbox.probe = sandbox_role_parse(arg);
		if (cli->sandbox.probe < 0 ||
		    cli->sandbox.probe == SANDBOX_BLKD)
			ret = bad(err, "seccomp-probe", "'%s' is not "
				  "vcpu, main, devctl, blk-io, net-io, "
				  "net-ctrl or api", arg);
		break;
	case O_USER:
		ret = parse_user(cli, arg, err);
		break;
	case O_JAIL:
		ret = parse_jail(cli, arg, err);
		break;
	case O_API_SOCKET:
		ret = parse_endpoint(cli, &cli->api, "api-socket", arg, err);
		break;
	case O_EVENT_MONITOR:
		ret = parse_endpoint(cli, &cli->events, "event-monitor", arg,
				     err);
		break;
	default:
		return 1;
	}
	return ret;
}

void cli_defaults(struct cli *cli)
{
	cli_free(cli);
	memset(cli, 0, sizeof(*cli));
	cli->vm.cpus = 1;
	cli->vm.mem.size = DEFAULT_MEMORY;
	cli->vm.mem.numa_node = -1;
	cli->vm.cmdline = DEFAULT_CMDLINE;
	cli->vm.on_reboot = ON_REBOOT_EXIT;
	cli->serial = CONSOLE_STDIO;
	cli->log_level = LOG_INFO;
	cli->sandbox.seccomp = SANDBOX_SECCOMP_ON;
	cli->sandbox.probe = -1;
	cli->api.fd = -1;
	cli->events.fd = -1;
}

int cli_option(struct cli *cli, const char *name, const char *value,
	       FILE *err)
{
	static const char *const allowed[] = { "kernel", "initramfs",
					       "cmdline", "cpus", "memory",
					       "disk", "net", NULL };
	const char *copy;

	for (const char *const *a = allowed; *a; a++) {
		if (strcmp(*a, name))
			continue;
		for (const struct option *o = opts; o->name; o++) {
			if (strcmp(o->name, name))
				continue;
			copy = keep(cli, value);
			if (!copy)
				return -ENOMEM;
			return apply(cli, o->val, copy, err);
		}
	}
	fprintf(err, "tern: --%s: not an option the API sets\n", name);
	return -EINVAL;
}

int cli_check(struct cli *cli, FILE *err)
{
	for (unsigned int i = 0; i < cli->vm.ndevs; i++)
		if (cli->vm.devs[i].kind == &dev_kind_e1000 &&
		    cli->vm.machine != MACHINE_PC) {
			fprintf(err, "tern: --net: model=e1000 needs --machine "
				"pc\n");
			return -EINVAL;
		}
	/* A restart builds a new VM: it opens /dev/kvm, images and taps
	 * again, which neither a dropped user nor a jail can be assumed to
	 * reach. So does a VM the API creates. */
	if ((cli->vm.on_reboot == ON_REBOOT_RESTART || cli->api.given) &&
	    (cli->sandbox.drop || cli->sandbox.jail)) {
		fprintf(err, "tern: --%s: not with --%s (a new VM opens "
			"its devices and files again)\n",
			cli->sandbox.drop ? "user" : "jail",
			cli->api.given ? "api-socket" : "on-reboot restart");
		return -EINVAL;
	}
	if (cli->sandbox.probe >= 0 &&
	    cli->sandbox.seccomp == SANDBOX_SECCOMP_OFF) {
		fprintf(err, "tern: --seccomp-probe: needs --seccomp on or "
			"log\n");
		return -EINVAL;
	}
	for (unsigned int i = 0; i < cli->vm.ndevs; i++)
		if (cli->vm.devs[i].kind == &dev_kind_ide &&
		    cli->vm.machine != MACHINE_PC) {
			fprintf(err, "tern: --disk: if=ide needs --machine "
				"pc\n");
			return -EINVAL;
		}
	if (cli->vm.firmware && cli->vm.kernel) {
		fprintf(err, "tern: --firmware: not with --kernel (the firmware "
			"boots from the disks)\n");
		return -EINVAL;
	}
	if (cli->vm.firmware && cli->vm.machine != MACHINE_PC) {
		fprintf(err, "tern: --firmware: needs --machine pc\n");
		return -EINVAL;
	}
	if (!cli->vm.kernel && !cli->vm.firmware && !cli->api.given &&
	    cli->vm.machine == MACHINE_PC)
		cli->vm.firmware = BIOS_DEFAULT_PATH;
	if (!cli->vm.kernel && !cli->vm.firmware && !cli->api.given) {
		fprintf(err, "tern: --kernel: missing; tern needs a kernel to "
			"boot (see --help), or --api-socket to wait for "
			"vm.create\n");
		return -EINVAL;
	}
	if (check_bootindex(&cli->vm, err))
		return -EINVAL;
	if (check_phys_bits(&cli->vm, err))
		return -EINVAL;
	if (cli->vm.firmware && cli->vm.initramfs) {
		fprintf(err, "tern: --initramfs: only with --kernel\n");
		return -EINVAL;
	}
	return 0;
}

enum cli_result cli_parse(struct cli *cli, int argc, char **argv,
			  FILE *out, FILE *err)
{
	int opt, ret = 0;

	cli_defaults(cli);
	optind = 1;
	opterr = 0;
	while (!ret && (opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		ret = apply(cli, opt, optarg, err);
		if (ret <= 0)
			continue;
		ret = 0;
		switch (opt) {
		case O_SECCOMP_LIST:
			sandbox_table_markdown(out);
			return CLI_EXIT_OK;
		case O_HELP:
			fputs(usage_text, out);
			return CLI_EXIT_OK;
		case O_VERSION:
			fprintf(out, "tern %s\n", TERN_VERSION);
			return CLI_EXIT_OK;
		case ':':
			fprintf(err, "tern: %s: needs a value\n",
				argv[optind - 1]);
			return CLI_USAGE;
		default:
			fprintf(err, "tern: %s: unknown option (see --help)\n",
				argv[optind - 1]);
			return CLI_USAGE;
		}
	}
	if (ret)
		return CLI_USAGE;
	if (optind < argc) {
		fprintf(err, "tern: '%s': unexpected argument (see --help)\n",
			argv[optind]);
		return CLI_USAGE;
	}
	return cli_check(cli, err) ? CLI_USAGE : CLI_RUN;
}
