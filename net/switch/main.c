/* tern-switch: a DPDK vhost-user L2 learning switch.
 *
 *	tern-switch [EAL options] -- [--ctl SOCKET] [--vhost SPEC]...
 *		[--eth SPEC]... [--mtu N] [--burst N] [--mac-entries N]
 *		[--aging S] [--mbufs N] [--idle-sleep US] [--ring-size N]
 *		[--verbose]
 *
 * The EAL's options come first (-l/--lcores: the first lcore is the
 * control thread, every other one a polling worker), then tern-switch's
 * own after `--`. Ports (spec.h) come from the command line and from the
 * control API (ctl.h) on SOCKET. The control thread serves the API, keeps
 * the clock and ages the MAC table; SIGTERM/SIGINT stop the workers,
 * remove every port (sockets included) and exit 0. Exit 1: set-up failed;
 * exit 2: a bad command line, one line on stderr naming the option. */
#include "core/daemon.h"
#include "core/httpd.h"
#include "core/log.h"
#include "net/switch/ctl.h"
#include "net/switch/sw.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define NAME "tern-switch"

enum {
	EXIT_OK = 0,
	EXIT_ERROR = 1,
	EXIT_USAGE = 2,
};

struct daemon {
	struct sw_options opt;
	const char *ctl_path;
	bool verbose;
	unsigned int nspecs;
	struct sw_port_spec *specs;
	int sig_fd, timer_fd;
	struct httpd *httpd;
	struct sw sw;
};

static const char usage_text[] =
	"usage: " NAME " [EAL options] -- [--ctl SOCKET] [--vhost SPEC]... "
	"[--eth SPEC]...\n"
	"         [--mtu N] [--burst N] [--mac-entries N] [--aging S] "
	"[--mbufs N]\n"
	"         [--idle-sleep US] [--ring-size N] [--verbose]\n"
	"EAL: -l/--lcores: the first lcore runs the control thread, each "
	"other one polls.\n"
	"  --ctl SOCKET      control API (HTTP/JSON) on this UNIX socket, "
	"mode 0600\n"
	"  --vhost NAME,path=SOCKET[,client][,queues=N][,vlan=V][,numa=N]"
	"[,lcores=A:B]\n"
	"                    a vhost-user port (server unless client)\n"
	"  --eth NAME[,queues=N][,vlan=V][,numa=N][,lcores=A:B],"
	"devargs=DEVARGS\n"
	"                    an ethdev port (devargs: the rest, e.g. "
	"net_tap0,iface=tsw0)\n"
	"  --mtu N           largest payload, 68..9600 (default 1500)\n"
	"  --burst N         frames per RX burst, 1..64 (default 32)\n"
	"  --mac-entries N   MAC table size, 8..16777216 (default 16384)\n"
	"  --aging S         seconds before an idle MAC goes, 1..3600 "
	"(default 300)\n"
	"  --mbufs N         mbufs per NUMA node's pool (default 32768)\n"
	"  --idle-sleep US   an idle worker naps US microseconds, 0..10000 "
	"(default 0:\n"
	"                    busy-poll)\n"
	"  --ring-size N     ethdev RX/TX descriptors (default 1024)\n"
	"  --verbose         debug logging\n";

#define usage_error(...) (daemon_usage_error(NAME, __VA_ARGS__), EXIT_USAGE)

static int number(const char *opt, const char *arg, unsigned long min,
		  unsigned long max, uint32_t *out)
{
	unsigned long long n;

	if (daemon_number(NAME, opt, arg, min, max, &n))
		return EXIT_USAGE;
	*out = (uint32_t)n;
	return 0;
}

/* Our options: ARGV[0] is a placeholder. 0, or the exit status. */
static int parse(struct daemon *dm, int argc, char **argv, bool *help)
{
	static const struct option opts[] = {
		{ "ctl", required_argument, NULL, 'c' },
		{ "vhost", required_argument, NULL, 'V' },
		{ "eth", required_argument, NULL, 'E' },
		{ "mtu", required_argument, NULL, 'm' },
		{ "burst", required_argument, NULL, 'b' },
		{ "mac-entries", required_argument, NULL, 'M' },
		{ "aging", required_argument, NULL, 'a' },
		{ "mbufs", required_argument, NULL, 'n' },
		{ "idle-sleep", required_argument, NULL, 'i' },
		{ "ring-size", required_argument, NULL, 'r' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint32_t n;
	int c, ret;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		char err[256];

		switch (c) {
		case 'c':
			if (!*optarg || strlen(optarg) >= SW_PATH_LEN)
				return usage_error("--ctl %s: empty or longer "
						   "than a UNIX socket path "
						   "may be", optarg);
			dm->ctl_path = optarg;
			break;
		case 'V':
		case 'E': {
			struct sw_port_spec *s;

			if (dm->nspecs == SW_MAX_PORTS)
				return usage_error("%s: too many ports", optarg);
			s = &dm->specs[dm->nspecs];
			if (spec_parse_arg(c == 'V' ? SW_PORT_VHOST :
						      SW_PORT_ETH,
					   optarg, s, err, sizeof(err))) {
				return usage_error("--%s %s",
						   c == 'V' ? "vhost" : "eth",
						   err);
			}
			dm->nspecs++;
			break;
		}
		case 'm':
			if ((ret = number("--mtu", optarg, 68, 9600,
					  &dm->opt.mtu)))
				return ret;
			break;
		case 'b':
			if ((ret = number("--burst", optarg, 1, SW_MAX_BURST,
					  &n)))
				return ret;
			dm->opt.burst = (uint16_t)n;
			break;
		case 'M':
			if ((ret = number("--mac-entries", optarg,
					  MT_MIN_ENTRIES, MT_MAX_ENTRIES,
					  &dm->opt.mac_entries)))
				return ret;
			break;
		case 'a':
			if ((ret = number("--aging", optarg, 1, MT_MAX_AGING,
					  &dm->opt.aging)))
				return ret;
			break;
		case 'n':
			if ((ret = number("--mbufs", optarg, 1024, 1U << 24,
					  &dm->opt.mbufs)))
				return ret;
			break;
		case 'i':
			if ((ret = number("--idle-sleep", optarg, 0, 10000,
					  &dm->opt.idle_sleep_us)))
				return ret;
			break;
		case 'r':
			if ((ret = number("--ring-size", optarg, 64, 4096, &n)))
				return ret;
			dm->opt.ring_size = (uint16_t)n;
			break;
		case 'v':
			dm->verbose = true;
			break;
		case 'h':
			*help = true;
			return 0;
		default:	/* ':' or '?' */
			daemon_bad_option(NAME, c, argv);
			return EXIT_USAGE;
		}
	}
	if (optind < argc)
		return usage_error("%s: unexpected argument", argv[optind]);
	return 0;
}

static int timer_open(struct daemon *dm)
{
	struct itimerspec its = {
		.it_interval = { .tv_sec = 1 },
		.it_value = { .tv_sec = 1 },
	};

	dm->timer_fd = timerfd_create(CLOCK_MONOTONIC,
				      TFD_CLOEXEC | TFD_NONBLOCK);
	if (dm->timer_fd < 0)
		return -errno;
	return timerfd_settime(dm->timer_fd, 0, &its, NULL) ? -errno : 0;
}

/* The control thread's loop, until a signal: 0, or -errno. */
static int run(struct daemon *dm)
{
	for (;;) {
		struct pollfd p[3] = {
			{ .fd = dm->sig_fd, .events = POLLIN },
			{ .fd = dm->timer_fd, .events = POLLIN },
			{ .fd = dm->httpd ? httpd_fd(dm->httpd) : -1,
			  .events = POLLIN },
		};
		struct signalfd_siginfo si;
		uint64_t ticks;

		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_err(NAME, "poll: %s", strerror(errno));
			return -errno;
		}
		if (p[0].revents &&
		    read(dm->sig_fd, &si, sizeof(si)) == sizeof(si)) {
			log_info(NAME, "signal %u: stopping", si.ssi_signo);
			return 0;
		}
		if (p[1].revents &&
		    read(dm->timer_fd, &ticks, sizeof(ticks)) == sizeof(ticks)) {
			sw_tick(&dm->sw);
			if (dm->httpd)
				httpd_run(dm->httpd);	/* idle timeouts */
		}
		if (p[2].revents)
			httpd_run(dm->httpd);
	}
}

int main(int argc, char **argv)
{
	struct daemon *dm = calloc(1, sizeof(*dm));
	int status = EXIT_ERROR, own, eal_argc, ret;
	char **own_argv = NULL;
	bool help = false;

	if (!dm) {
		fprintf(stderr, NAME ": out of memory\n");
		return EXIT_ERROR;
	}
	dm->sig_fd = dm->timer_fd = -1;
	sw_default_options(&dm->opt);
	dm->specs = calloc(SW_MAX_PORTS, sizeof(*dm->specs));
	/* Ours are after the first "--"; parse them before the EAL starts
	 * anything, so a bad command line costs nothing. */
	for (own = 1; own < argc && strcmp(argv[own], "--"); own++)
		;
	eal_argc = own;
	own_argv = calloc((size_t)(argc - own + 2), sizeof(char *));
	if (!dm->specs || !own_argv) {
		fprintf(stderr, NAME ": out of memory\n");
		goto out;
	}
	own_argv[0] = argv[0];
	for (int i = own + 1; i < argc; i++)
		own_argv[i - own] = argv[i];
	if (eal_argc == 2 && (!strcmp(argv[1], "--help") ||
			      !strcmp(argv[1], "-h")))
		help = true;
	else
		status = parse(dm, own < argc ? argc - own : 1, own_argv, &help);
	if (help) {
		fputs(usage_text, stdout);
		status = EXIT_OK;
		goto out;
	}
	if (status)
		goto out;
	status = EXIT_ERROR;
	log_set_level(dm->verbose ? LOG_DEBUG : LOG_INFO);
	/* Blocked before the EAL starts its threads, so they inherit the
	 * mask and only the signalfd sees the signals. */
	ret = dm->sig_fd = daemon_signals_open();
	if (ret >= 0)
		ret = timer_open(dm);
	if (ret) {
		log_err(NAME, "signals/timer: %s", strerror(-ret));
		goto out;
	}
	ret = rte_eal_init(eal_argc, argv);
	if (ret < 0) {
		log_err(NAME, "EAL: %s", rte_strerror(rte_errno));
		goto out;
	}
	if (sw_init(&dm->sw, &dm->opt))
		goto eal;
	if (dm->ctl_path &&
	    httpd_open(&dm->httpd, NAME, dm->ctl_path, ctl_handle, &dm->sw))
		goto sw;
	if (sw_start(&dm->sw))
		goto sw;
	for (unsigned int i = 0; i < dm->nspecs; i++) {
		char err[256];

		if (sw_port_add(&dm->sw, &dm->specs[i], err, sizeof(err))) {
			log_err(dm->specs[i].name, "%s", err);
			goto sw;
		}
	}
	log_info(NAME, "ready: %u port(s)%s%s", dm->nspecs,
		 dm->ctl_path ? ", control API on " : "",
		 dm->ctl_path ? dm->ctl_path : "");
	if (!run(dm))
		status = EXIT_OK;
sw:
	httpd_close(dm->httpd);
	sw_fini(&dm->sw);
eal:
	rte_eal_cleanup();
out:
	if (dm->sig_fd >= 0)
		close(dm->sig_fd);
	if (dm->timer_fd >= 0)
		close(dm->timer_fd);
	free(own_argv);
	free(dm->specs);
	free(dm);
	return status;
}
