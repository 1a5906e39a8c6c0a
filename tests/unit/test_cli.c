/* Every bad value: CLI_USAGE and one line naming the option. */
#include "config.h"
#include "vmm/cli.h"
#include "vmm/machine.h"
#include "platform/bios.h"

#include "check.h"

#include <stdarg.h>

static char errbuf[4096];

static enum cli_result parse(struct cli *cli, ...)
{
	char *argv[32] = { "tern" };
	int argc = 1;
	va_list ap;
	FILE *err = fmemopen(errbuf, sizeof(errbuf), "w");
	FILE *out = fopen("/dev/null", "w");
	enum cli_result r;

	va_start(ap, cli);
	while ((argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	r = cli_parse(cli, argc, argv, out, err);
	fclose(err);
	fclose(out);
	return r;
}

/* A rejection is one line that names the option. */
#define CHECK_BAD(opt, ...)                                                    \
	do {                                                                   \
		struct cli c_ = { 0 };                                         \
		CHECK_EQ(parse(&c_, __VA_ARGS__, NULL), CLI_USAGE);            \
		cli_free(&c_);                                                 \
		CHECK(strstr(errbuf, opt) != NULL);                            \
		CHECK(strchr(errbuf, '\n') == errbuf + strlen(errbuf) - 1);    \
	} while (0)

int main(void)
{
	struct cli cli = { 0 };
	uint64_t sz;

	CHECK_EQ(cli_parse_size("512M", &sz), 0);
	CHECK_EQ(sz, 512ULL << 20);
	CHECK_EQ(cli_parse_size("4G", &sz), 0);
	CHECK_EQ(sz, 4ULL << 30);
	CHECK_EQ(cli_parse_size("4096", &sz), 0);
	CHECK_EQ(sz, 4096);
	CHECK_EQ(cli_parse_size("12X", &sz), -EINVAL);
	CHECK_EQ(cli_parse_size("-1G", &sz), -EINVAL);
	CHECK_EQ(cli_parse_size("", &sz), -EINVAL);
	CHECK_EQ(cli_parse_size("99999999999999999999", &sz), -EINVAL);
	CHECK_EQ(cli_parse_size("17179869184T", &sz), -EINVAL);

	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--cpus", "2",
		       "--memory", "1G,hugepages=on", "--serial", "file=/tmp/x",
		       "--on-reboot", "restart", "--cmdline", "quiet", NULL),
		 CLI_RUN);
	CHECK_EQ(cli.vm.cpus, 2);
	CHECK_EQ(cli.vm.mem.size, 1ULL << 30);
	CHECK(cli.vm.mem.hugepages);
	CHECK_EQ(cli.vm.mem.numa_node, -1);
	CHECK_EQ(cli.serial, CONSOLE_FILE);
	CHECK_STR(cli.serial_path, "/tmp/x");
	CHECK_EQ(cli.vm.on_reboot, ON_REBOOT_RESTART);
	CHECK_STR(cli.vm.cmdline, "quiet");

	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--memory",
		       "size=256M,numa-node=0,shared=on", "--cpus", "boot=3",
		       NULL),
		 CLI_RUN);
	CHECK(cli.vm.mem.shared);
	CHECK_EQ(cli.vm.mem.size, 256ULL << 20);
	CHECK_EQ(cli.vm.mem.numa_node, 0);
	CHECK_EQ(cli.vm.cpus, 3);
	CHECK_EQ(parse(&cli, "--help", NULL), CLI_EXIT_OK);
	CHECK_EQ(parse(&cli, "--version", NULL), CLI_EXIT_OK);

	CHECK_BAD("--kernel", "--cpus", "1");		/* missing */
	CHECK_BAD("--kernel", "--kernel", "/nonexistent");
	CHECK_BAD("--kernel", "--kernel", "");
	CHECK_BAD("--initramfs", "--kernel", "/dev/null", "--initramfs",
		  "/nonexistent");
	CHECK_BAD("--cpus", "--kernel", "/dev/null", "--cpus", "0");
	CHECK_BAD("--cpus", "--kernel", "/dev/null", "--cpus", "255");
	CHECK_BAD("--cpus", "--kernel", "/dev/null", "--cpus", "two");
	CHECK_BAD("--cpus", "--kernel", "/dev/null", "--cpus", "2x");
	/* --cpus affinity=: each vCPU's host CPUs; a later --cpus replaces
	 * an earlier one whole. CPU 0 is on every machine. */
#if HAVE_NUMA
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--cpus",
		       "affinity=[1@[0],0@[0-0],1@[0]],boot=2", NULL), CLI_RUN);
	CHECK_EQ(cli.vm.cpus, 2);
	CHECK_EQ(cli.vm.ncpu_affinity, 2);
	CHECK_EQ(cli.vm.cpu_affinity[0].index, 1);
	CHECK_EQ(cli.vm.cpu_affinity[1].index, 0);
	CHECK_EQ(cli.vm.cpu_affinity[1].cpu, 0);
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--cpus",
		       "2,affinity=[0@[0]]", "--cpus", "3", NULL), CLI_RUN);
	CHECK_EQ(cli.vm.cpus, 3);
	CHECK_EQ(cli.vm.ncpu_affinity, 0);
#endif
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--cpus",
		       "2,affinity=[]", NULL), CLI_RUN);
	CHECK_EQ(cli.vm.ncpu_affinity, 0);
	CHECK_BAD("--cpus: '': give the vCPU count", "--kernel", "/dev/null",
		  "--cpus", "");
#if HAVE_NUMA
	CHECK_BAD("affinity: no vCPU 1: the VM's are 0 to 0 (boot=1)",
		  "--kernel", "/dev/null", "--cpus", "affinity=[1@[0]]");
	CHECK_BAD("affinity: no vCPU 2: the VM's are 0 to 1 (boot=2)",
		  "--kernel", "/dev/null", "--cpus", "affinity=[2@[0]],boot=2");
	CHECK_BAD("affinity: no vCPU 254: the VM's are 0 to 1 (boot=2)",
		  "--kernel", "/dev/null", "--cpus", "2,affinity=[254@[0]]");
#endif
	{
		static const char *const bad[] = {
			"2,affinity=[0@[99999]]", "2,affinity=[0@[]]",
			"2,affinity=[0@0]", "2,affinity=0@[0]",
			"2,affinity=[0@[0]", "2,affinity=[0@[0]]x",
			"2,affinity=[0@[0],]", "2,affinity=[-1@[0]]",
			"2,affinity=[65536@[0]]", "2,affinity=[0@[0x0]]",
			"2,affinity=[0@[all]]", "2,affinity=[0@[1-0]]",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			CHECK_BAD("affinity", "--kernel", "/dev/null", "--cpus",
				  bad[i]);
	}
	/* --cpus topology=: the count follows from it, or must match;
	 * whole bits per level bound the APIC ids; a later --cpus drops
	 * it. */
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--cpus",
		       "topology=2:3:1:2", NULL), CLI_RUN);
	CHECK_EQ(cli.vm.cpus, 12);
	CHECK_EQ(cli.vm.topology.threads, 2);
	CHECK_EQ(cli.vm.topology.cores, 3);
	CHECK_EQ(cli.vm.topology.dies, 1);
	CHECK_EQ(cli.vm.topology.packages, 2);
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--cpus",
		       "topology=1:2:2:1,boot=4", NULL), CLI_RUN);
	CHECK_EQ(cli.vm.cpus, 4);
	CHECK_EQ(cli.vm.topology.dies, 2);
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--cpus",
		       "topology=1:2:2:1", "--cpus", "2", NULL), CLI_RUN);
	CHECK_EQ(cli.vm.cpus, 2);
	CHECK_EQ(cli.vm.topology.threads, 0);
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--cpus",
		       "topology=1:254:1:1", NULL), CLI_RUN);
	CHECK_BAD("topology=1:2:1:1: makes 2 vCPUs, boot=3", "--kernel",
		  "/dev/null", "--cpus", "3,topology=1:2:1:1");
	CHECK_BAD("topology=1:3:1:64: the last vCPU's APIC id would be 254",
		  "--kernel", "/dev/null", "--cpus", "topology=1:3:1:64");
	CHECK_BAD("topology=1:255:1:1: more than 254 vCPUs", "--kernel",
		  "/dev/null", "--cpus", "topology=1:255:1:1");
	CHECK_BAD("topology=255:255:255:255: more than 254 vCPUs", "--kernel",
		  "/dev/null", "--cpus", "topology=255:255:255:255");
#if HAVE_NUMA
	CHECK_BAD("affinity: no vCPU 4: the VM's are 0 to 3 (boot=4)",
		  "--kernel", "/dev/null", "--cpus",
		  "affinity=[4@[0]],topology=2:2:1:1");
#endif
	{
		static const char *const bad[] = {
			"topology=", "topology=2", "topology=2:2:1",
			"topology=2:2:1:1:1", "topology=0:2:1:1",
			"topology=2:2:1:256", "topology=a:2:1:1",
			"topology=2::1:1", "topology=2:2:1:1:",
			"topology=:2:1:1", "topology=2:2:1:-1",
			"topology=2:2:1:0x1",
			"topology=99999999999999999999:1:1:1",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			CHECK_BAD("topology=", "--kernel", "/dev/null",
				  "--cpus", bad[i]);
	}
	/* --cpus max-phys-bits=: 37 to 52, and RAM with the 64 GiB 64-bit
	 * PCI window above it must lie below; a later --cpus drops it. */
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--cpus",
		       "2,max-phys-bits=39", NULL), CLI_RUN);
	CHECK_EQ(cli.vm.max_phys_bits, 39);
	CHECK_EQ(cli.vm.cpus, 2);
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--cpus",
		       "topology=1:2:1:2,max-phys-bits=37", NULL), CLI_RUN);
	CHECK_EQ(cli.vm.max_phys_bits, 37);
	CHECK_EQ(cli.vm.cpus, 4);
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--cpus",
		       "max-phys-bits=40", "--cpus", "2", NULL), CLI_RUN);
	CHECK_EQ(cli.vm.max_phys_bits, 0);
	CHECK_BAD("max-phys-bits=36: give 37 to 52", "--kernel", "/dev/null",
		  "--cpus", "max-phys-bits=36");
	CHECK_BAD("max-phys-bits=37: the guest's addresses reach 0x207fffffff "
		  "(65536 MiB of RAM, then 64 GiB of 64-bit PCI window), which "
		  "takes 38 bits", "--kernel", "/dev/null", "--memory", "64G",
		  "--cpus", "1,max-phys-bits=37");
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--cpus",
		       "max-phys-bits=37", NULL), CLI_RUN);
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--memory", "64G",
		       "--cpus", "1,max-phys-bits=38", NULL), CLI_RUN);
	/* vm_create's half, where the host's width is known. */
	{
		unsigned int told = 99;

		CHECK_EQ(machine_phys_bits(512ULL << 20, 48, 0, &told), 0);
		CHECK_EQ(told, 0);
		CHECK_EQ(machine_phys_bits(512ULL << 20, 48, 39, &told), 0);
		CHECK_EQ(told, 39);
		CHECK_EQ(machine_phys_bits(512ULL << 20, 40, 46, &told), 0);
		CHECK_EQ(told, 0);		/* never above the host's */
		CHECK_EQ(machine_phys_bits(512ULL << 20, 36, 0, &told),
			 -ERANGE);		/* 69 GiB take 37 bits */
		CHECK_EQ(machine_phys_bits(960ULL << 30, 40, 0, &told),
			 -ERANGE);		/* 1026 GiB take 41 */
		CHECK_EQ(machine_phys_bits(960ULL << 30, 41, 0, &told), 0);
		CHECK_EQ(machine_phys_bits(64ULL << 30, 48, 37, &told),
			 -ERANGE);
	}
	{
		static const char *const bad[] = {
			"max-phys-bits=35", "max-phys-bits=53",
			"max-phys-bits=", "max-phys-bits=x",
			"max-phys-bits=-1", "max-phys-bits=0",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			CHECK_BAD("max-phys-bits", "--kernel", "/dev/null",
				  "--cpus", bad[i]);
	}
	CHECK_BAD("--memory", "--kernel", "/dev/null", "--memory", "12X");
	CHECK_BAD("--memory", "--kernel", "/dev/null", "--memory", "1M");
	CHECK_BAD("--memory", "--kernel", "/dev/null", "--memory", "2T");
	CHECK_BAD("--memory", "--kernel", "/dev/null", "--memory", "65537K");
	CHECK_BAD("--memory", "--kernel", "/dev/null", "--memory",
		  "513M,hugepages=on");
	CHECK_BAD("--memory", "--kernel", "/dev/null", "--memory",
		  "1G,numa-node=x");
	CHECK_BAD("--memory", "--kernel", "/dev/null", "--memory",
		  "1G,colour=blue");
	CHECK_BAD("--serial", "--kernel", "/dev/null", "--serial", "tty");
	CHECK_BAD("--serial", "--kernel", "/dev/null", "--serial", "file=");
	CHECK_BAD("--on-reboot", "--kernel", "/dev/null", "--on-reboot",
		  "panic");
	CHECK_BAD("--log-level", "--kernel", "/dev/null", "--log-level",
		  "loud");
	CHECK_BAD("--bogus", "--kernel", "/dev/null", "--bogus");

	/* --machine pc and its slow-path devices. */
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--disk",
		       "path=/dev/null,if=ide,readonly=on", "--machine", "pc",
		       "--net", "tap=t0,model=e1000", "--disk", "path=/dev/null",
		       NULL),
		 CLI_RUN);
	CHECK_EQ(cli.vm.machine, MACHINE_PC);
	/* In command-line order, each with the kind its words selected. */
	CHECK_EQ(cli.vm.ndevs, 3);
	CHECK(cli.vm.devs[0].kind == &dev_kind_ide);
	CHECK(cli.vm.devs[2].kind == &dev_kind_virtio_blk);
	CHECK(cli.vm.devs[0].disk.d.readonly);
	CHECK_STR(cli.vm.devs[0].disk.path, "/dev/null");
	CHECK(cli.vm.devs[1].kind == &dev_kind_e1000);
	CHECK_EQ(cli.vm.devs[1].net.model, NET_MODEL_E1000);
	/* id=: given, and taken once in the whole VM. */
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--disk",
		       "path=/dev/null,id=data-1", NULL),
		 CLI_RUN);
	CHECK_STR(cli.vm.devs[0].id, "data-1");
	CHECK_BAD("--net", "--kernel", "/dev/null", "--disk",
		  "path=/dev/null,id=a", "--net", "tap=t0,id=a");
	CHECK_BAD("--net", "--kernel", "/dev/null", "--net", "id=a/b");
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", NULL), CLI_RUN);
	CHECK_EQ(cli.vm.machine, MACHINE_VIRT);
	CHECK(cli.vm.firmware == NULL);
	CHECK_BAD("--machine", "--kernel", "/dev/null", "--machine", "q35");

	/* Firmware: pc without --kernel boots SeaBIOS; --firmware names
	 * another image; never with a kernel, an initramfs or virt. */
	CHECK_EQ(parse(&cli, "--machine", "pc", "--disk",
		       "path=/dev/null,if=ide", NULL), CLI_RUN);
	CHECK_STR(cli.vm.firmware, BIOS_DEFAULT_PATH);
	CHECK(cli.vm.kernel == NULL);
	CHECK_EQ(parse(&cli, "--machine", "pc", "--firmware", "/dev/null",
		       NULL), CLI_RUN);
	CHECK_STR(cli.vm.firmware, "/dev/null");
	CHECK_EQ(parse(&cli, "--machine", "pc", "--kernel", "/dev/null", NULL),
		 CLI_RUN);
	CHECK(cli.vm.firmware == NULL);
	CHECK_BAD("--firmware", "--machine", "pc", "--firmware",
		  "/nonexistent/bios.bin");
	CHECK_BAD("--firmware", "--firmware", "/dev/null");	/* needs pc */
	CHECK_BAD("--firmware", "--machine", "pc", "--firmware", "/dev/null",
		  "--kernel", "/dev/null");
	CHECK_BAD("--initramfs", "--machine", "pc", "--initramfs",
		  "/dev/null");
	CHECK_BAD("--kernel", "--disk", "path=/dev/null");	/* virt */
	/* bootindex=: per disk, for the firmware, never twice. */
	CHECK_EQ(parse(&cli, "--machine", "pc", "--disk",
		       "path=/dev/null,if=ide,bootindex=2", "--disk",
		       "path=/dev/null,bootindex=0", "--disk", "path=/dev/null",
		       NULL), CLI_RUN);
	CHECK_EQ(cli.vm.devs[0].disk.boot_prio, 3);
	CHECK_EQ(cli.vm.devs[1].disk.boot_prio, 1);
	CHECK_EQ(cli.vm.devs[2].disk.boot_prio, 0);
	CHECK_BAD("bootindex", "--machine", "pc", "--disk",
		  "path=/dev/null,if=ide,bootindex=1", "--disk",
		  "path=/dev/null,bootindex=1");
	CHECK_BAD("bootindex", "--kernel", "/dev/null", "--disk",
		  "path=/dev/null,bootindex=1");
	CHECK_BAD("bootindex", "--machine", "pc", "--disk",
		  "path=/dev/null,bootindex=x");
	CHECK_BAD("bootindex", "--machine", "pc", "--disk",
		  "path=/dev/null,bootindex=10000");
	CHECK_BAD("bootindex", "--machine", "pc", "--disk",
		  "vhost-user=/tmp/s,bootindex=1");
	/* media=cdrom: an IDE drive, read-only. */
	CHECK_EQ(parse(&cli, "--machine", "pc", "--disk",
		       "path=/dev/null,if=ide,media=cdrom", NULL), CLI_RUN);
	CHECK_EQ(cli.vm.devs[0].disk.media, DISK_MEDIA_CDROM);
	CHECK(cli.vm.devs[0].disk.d.readonly);
	CHECK_BAD("cdrom", "--machine", "pc", "--disk",
		  "path=/dev/null,media=cdrom");
	CHECK_BAD("read-only", "--machine", "pc", "--disk",
		  "path=/dev/null,if=ide,media=cdrom,readonly=off");
	CHECK_BAD("media", "--machine", "pc", "--disk",
		  "path=/dev/null,if=ide,media=tape");
	CHECK_BAD("--disk", "--kernel", "/dev/null", "--disk",
		  "path=/dev/null,if=ide");		/* needs pc */
	CHECK_BAD("--disk", "--kernel", "/dev/null", "--machine", "pc",
		  "--disk", "path=/dev/null,if=scsi");
	CHECK_BAD("--disk", "--kernel", "/dev/null", "--machine", "pc",
		  "--disk", "path=/dev/null,if=ide,queues=2");
	/* poll-us=: the I/O threads of tern's own virtio disks. */
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--disk",
		       "path=/dev/null,poll-us=50", NULL), CLI_RUN);
	CHECK_EQ(cli.vm.devs[0].disk.d.poll_us, 50);
	CHECK_BAD("poll-us", "--kernel", "/dev/null", "--disk",
		  "path=/dev/null,poll-us=1000001");
	CHECK_BAD("poll-us", "--kernel", "/dev/null", "--machine", "pc",
		  "--disk", "path=/dev/null,if=ide,poll-us=5");
	CHECK_BAD("poll-us", "--kernel", "/dev/null", "--disk",
		  "vhost-user=/tmp/none.sock,poll-us=5");
	/* queue-affinity=: each queue's CPUs, its commas inside brackets;
	 * the queues may come after it; a pair given twice is kept once.
	 * CPU 0 is on every machine. */
#if HAVE_NUMA
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--disk",
		       "path=/dev/null,queue-affinity=[0@[0],2@[0-0],0@[0]],"
		       "queues=3,readonly=on", NULL), CLI_RUN);
	CHECK_EQ(cli.vm.devs[0].disk.d.naffinity, 2);
	CHECK_EQ(cli.vm.devs[0].disk.d.affinity[0].index, 0);
	CHECK_EQ(cli.vm.devs[0].disk.d.affinity[1].index, 2);
	CHECK_EQ(cli.vm.devs[0].disk.d.affinity[1].cpu, 0);
	CHECK(cli.vm.devs[0].disk.d.readonly);
#endif
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--disk",
		       "path=/dev/null,queue-affinity=[]", NULL), CLI_RUN);
	CHECK_EQ(cli.vm.devs[0].disk.d.naffinity, 0);
	/* A '[' in another word is a letter: it takes no later word in. */
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--disk",
		       "path=/dev/null,serial=[,readonly=on", NULL), CLI_RUN);
	CHECK(cli.vm.devs[0].disk.d.readonly);
	CHECK_STR(cli.vm.devs[0].disk.d.serial, "[");
	{
		static const char *const bad[] = {
			"path=/dev/null,queue-affinity=[1@[0]]",
			"path=/dev/null,queue-affinity=[64@[0]],queues=64",
			"path=/dev/null,queue-affinity=[0@[99999]]",
			"path=/dev/null,queue-affinity=[0@[]]",
			"path=/dev/null,queue-affinity=[0@0]",
			"path=/dev/null,queue-affinity=0@[0]",
			"path=/dev/null,queue-affinity=[0@[0]",
			"path=/dev/null,queue-affinity=[0@[0]]x",
			"path=/dev/null,queue-affinity=[0@[0],]",
			"path=/dev/null,queue-affinity=[-1@[0]]",
			"path=/dev/null,queue-affinity=[0@[x]]",
			/* What libnuma's own parser would take. */
			"path=/dev/null,queue-affinity=[0@[4294967296]]",
			"path=/dev/null,queue-affinity=[0@[0x0]]",
			"path=/dev/null,queue-affinity=[0@[1-0]]",
			"path=/dev/null,queue-affinity=[0@[all]]",
			"path=/dev/null,queue-affinity=[0@[!1]]",
			"path=/dev/null,queue-affinity=[0@[ 0]]",
			"vhost-user=/tmp/none.sock,queue-affinity=[0@[0]]",
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			CHECK_BAD("queue-affinity", "--kernel", "/dev/null",
				  "--disk", bad[i]);
	}
	CHECK_BAD("queue-affinity", "--kernel", "/dev/null", "--machine", "pc",
		  "--disk", "path=/dev/null,if=ide,queue-affinity=[0@[0]]");
#if HAVE_NUMA
	CHECK_BAD("no queue 1: the disk's are 0 to 0", "--kernel", "/dev/null", "--disk",
		  "path=/dev/null,queue-affinity=[1@[0]]");
#endif
	CHECK_BAD("--disk", "--kernel", "/dev/null", "--machine", "pc",
		  "--disk", "path=/dev/null,if=ide", "--disk",
		  "path=/dev/null,if=ide", "--disk", "path=/dev/null,if=ide",
		  "--disk", "path=/dev/null,if=ide", "--disk",
		  "path=/dev/null,if=ide");		/* a fifth */
	CHECK_BAD("--net", "--kernel", "/dev/null", "--net", "model=e1000");
	CHECK_BAD("--net", "--kernel", "/dev/null", "--machine", "pc", "--net",
		  "model=rtl8139");
	CHECK_BAD("--net", "--kernel", "/dev/null", "--machine", "pc", "--net",
		  "model=e1000,queues=2");
	CHECK_BAD("--net", "--kernel", "/dev/null", "--machine", "pc", "--net",
		  "model=e1000,vhost=on");
	CHECK_BAD("--cpus", "--kernel", "/dev/null", "--cpus");
	CHECK_BAD("stray", "--kernel", "/dev/null", "stray");

	/* The sandbox: seccomp on unless told, user and jail only asked. */
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", NULL), CLI_RUN);
	CHECK_EQ(cli.sandbox.seccomp, SANDBOX_SECCOMP_ON);
	CHECK_EQ(cli.sandbox.probe, -1);
	CHECK(!cli.sandbox.drop);
	CHECK(cli.sandbox.jail == NULL);
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--seccomp", "off", NULL),
		 CLI_RUN);
	CHECK_EQ(cli.sandbox.seccomp, SANDBOX_SECCOMP_OFF);
	if (sandbox_seccomp_available()) {
		CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--seccomp", "log",
			       "--seccomp-probe", "net-ctrl", NULL),
			 CLI_RUN);
		CHECK_EQ(cli.sandbox.seccomp, SANDBOX_SECCOMP_LOG);
		CHECK_EQ(cli.sandbox.probe, SANDBOX_NET_CTRL);
	} else {
		CHECK_BAD("--seccomp", "--kernel", "/dev/null", "--seccomp",
			  "on");
	}
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--user", "1000:1001",
		       "--jail", "/tmp", NULL),
		 CLI_RUN);
	CHECK(cli.sandbox.drop);
	CHECK_EQ(cli.sandbox.uid, 1000);
	CHECK_EQ(cli.sandbox.gid, 1001);
	CHECK_STR(cli.sandbox.jail, "/tmp");
	CHECK_BAD("--seccomp", "--kernel", "/dev/null", "--seccomp", "strict");
	CHECK_BAD("--seccomp", "--kernel", "/dev/null", "--seccomp", "");
	CHECK_BAD("--seccomp-probe", "--kernel", "/dev/null",
		  "--seccomp-probe", "vcpu0");
	CHECK_BAD("--seccomp-probe", "--kernel", "/dev/null",
		  "--seccomp-probe", "tern-blk");
	CHECK_BAD("--seccomp-probe", "--kernel", "/dev/null", "--seccomp",
		  "off", "--seccomp-probe", "vcpu");
	CHECK_BAD("--user", "--kernel", "/dev/null", "--user", "root");
	CHECK_BAD("--user", "--kernel", "/dev/null", "--user", "0:0");
	CHECK_BAD("--user", "--kernel", "/dev/null", "--user",
		  "no-such-user-tern");
	CHECK_BAD("--user", "--kernel", "/dev/null", "--user", "12:");
	CHECK_BAD("--user", "--kernel", "/dev/null", "--user", "");
	CHECK_BAD("--user", "--kernel", "/dev/null", "--user", "1000:1000",
		  "--on-reboot", "restart");
	CHECK_BAD("--jail", "--kernel", "/dev/null", "--jail", "/nonexistent");
	CHECK_BAD("--jail", "--kernel", "/dev/null", "--jail", "/dev/null");
	CHECK_BAD("--jail", "--kernel", "/dev/null", "--jail", "");
	CHECK_BAD("--jail", "--kernel", "/dev/null", "--on-reboot", "restart",
		  "--jail", "/tmp");
	/* The control API: path= or fd=, one of them; no --kernel needed
	 * then; not with --user or --jail (its VMs open files later). */
	CHECK_EQ(parse(&cli, "--api-socket", "path=/tmp/t.sock",
		       "--event-monitor", "fd=3", NULL), CLI_RUN);
	CHECK(cli.api.given && !strcmp(cli.api.path, "/tmp/t.sock"));
	CHECK_EQ(cli.api.fd, -1);
	CHECK(cli.events.given && cli.events.path == NULL);
	CHECK_EQ(cli.events.fd, 3);
	CHECK(cli.vm.kernel == NULL);
	CHECK_EQ(parse(&cli, "--kernel", "/dev/null", "--api-socket", "fd=7",
		       NULL), CLI_RUN);
	CHECK_EQ(cli.api.fd, 7);
	CHECK(!cli.events.given);
	CHECK_BAD("--kernel", "--event-monitor", "path=/tmp/e");
	CHECK_BAD("--api-socket", "--api-socket", "fd=x");
	CHECK_BAD("--api-socket", "--api-socket", "fd=-1");
	CHECK_BAD("--api-socket", "--api-socket", "/tmp/t.sock");
	CHECK_BAD("--api-socket", "--api-socket", "path=/tmp/a,fd=3");
	CHECK_BAD("--api-socket", "--api-socket", "path=");
	CHECK_BAD("--event-monitor", "--api-socket", "path=/a",
		  "--event-monitor", "file=/x");
	CHECK_BAD("--user", "--api-socket", "path=/tmp/t.sock", "--user",
		  "1000:1000");
	CHECK_BAD("--jail", "--api-socket", "path=/tmp/t.sock", "--jail",
		  "/tmp");
	{
		char *list = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&list, &len);
		FILE *err = fopen("/dev/null", "w");
		char *argv[] = { "tern", "--seccomp-list", NULL };

		/* No --kernel needed; the table is printed. */
		CHECK_EQ(cli_parse(&cli, 2, argv, out, err), CLI_EXIT_OK);
		fclose(out);
		fclose(err);
		CHECK(list && strstr(list, "| KVM_RUN | 0x0000ae80 |"));
		free(list);
	}
	cli_free(&cli);
	return check_done("test_cli");
}
