/* tern-blk: a vhost-user-blk back-end daemon serving one raw image.
 *
 *	tern-blk --socket PATH --image FILE [--queues N] [--readonly]
 *		 [--direct] [--serial STR] [--no-fixed-buffers] [--poll-us N]
 *		 [--sqpoll MS] [--cpus LIST] [--seccomp on|off|log]
 *		 [--user USER] [--verbose]
 *
 * Listens on a UNIX socket, serves one front-end at a time (the next one
 * waits in the listen backlog) and goes back to listening when it leaves,
 * so a front-end can reconnect. The device is vhost/user_blk.c; this file
 * owns only the command line, the sockets, the signals and the loop.
 * Once the image and the socket are open, --user drops to that user (no
 * capabilities), then the main thread enters its seccomp role
 * ("tern-blk") and each queue thread its own ("blk-io"); see
 * core/sandbox.h. Under --user the socket file outlives the process when
 * the user may not remove it (the next start replaces a stale one).
 * SIGTERM/SIGINT stop the queues (requests in flight finish first) and
 * exit 0. Exit 1: the image or the socket cannot be set up; exit 2: a bad
 * command line, one line on stderr naming the option. */
#include "block/uring.h"
#include "core/daemon.h"
#include "core/hostcpu.h"
#include "core/log.h"
#include "core/memory.h"
#include "core/sandbox.h"
#include "vhost/user_blk.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define NAME "tern-blk"

enum {
	EXIT_OK = 0,
	EXIT_ERROR = 1,
	EXIT_USAGE = 2,
};

struct daemon {
	const char *socket_path;
	struct blk_config cfg;
	uint16_t cpus[BLK_MAX_AFFINITY];	/* --cpus */
	unsigned int ncpus;
	bool verbose;
	enum sandbox_seccomp seccomp;
	bool drop;			/* --user given */
	uid_t uid;
	gid_t gid;
	int listen_fd, sig_fd;
	bool bound;			/* we created socket_path */
	struct vu_blk vb;
};

static const char usage_text[] =
	"usage: " NAME " --socket PATH --image FILE [--queues N] [--readonly]\n"
	"                [--direct] [--serial STR] [--no-fixed-buffers]\n"
	"                [--poll-us N] [--sqpoll MS] [--cpus LIST]\n"
	"                [--seccomp on|off|log] [--user USER] [--verbose]\n"
	"  --socket PATH   UNIX socket to listen on for a vhost-user front-end\n"
	"  --image FILE    raw image (file or block device), locked exclusively\n"
	"  --queues N      request queues, 1..64 (default 1)\n"
	"  --readonly      refuse writes (VIRTIO_BLK_F_RO, shared lock)\n"
	"  --direct        open the image O_DIRECT\n"
	"  --serial STR    GET_ID answer, at most 20 bytes\n"
	"  --no-fixed-buffers  do not register the front-end's memory with io_uring\n"
	"                  (registered memory is pinned while a queue runs)\n"
	"  --poll-us N     after work, each queue's thread polls its ring for N us\n"
	"                  before it sleeps (0, the default: off; costs CPU)\n"
	"  --sqpoll MS     io_uring SQPOLL: a kernel thread per queue submits,\n"
	"                  spinning MS ms after the last request (costs a CPU)\n"
	"  --cpus LIST     queue i's thread runs on the i-th CPU of LIST (e.g.\n"
	"                  0,2-3; ascending, round robin when fewer than queues)\n"
	"  --seccomp MODE  system-call filters: on (default), off, or log\n"
	"                  (name a forbidden call, then let it run)\n"
	"  --user USER     run as USER (a name, or UID:GID) once the image\n"
	"                  and the socket are open; no capabilities kept\n"
	"  --verbose       log every vhost-user message\n";

#define usage_error(...) (daemon_usage_error(NAME, __VA_ARGS__), EXIT_USAGE)

/* 0 when the command line is good, else the exit status (usage printed
 * for --help, one error line otherwise). */
static int parse(struct daemon *dm, int argc, char **argv, bool *help)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "image", required_argument, NULL, 'i' },
		{ "queues", required_argument, NULL, 'q' },
		{ "readonly", no_argument, NULL, 'r' },
		{ "direct", no_argument, NULL, 'd' },
		{ "serial", required_argument, NULL, 'S' },
		{ "no-fixed-buffers", no_argument, NULL, 'F' },
		{ "poll-us", required_argument, NULL, 'P' },
		{ "sqpoll", required_argument, NULL, 'Q' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "seccomp", required_argument, NULL, 'C' },
		{ "user", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		unsigned long long n;
		int ret;

		switch (c) {
		case 's':
			if (!*optarg || strlen(optarg) >=
			    sizeof(((struct sockaddr_un *)0)->sun_path))
				return usage_error("--socket %s: empty or "
						   "longer than a UNIX socket "
						   "path may be", optarg);
			dm->socket_path = optarg;
			break;
		case 'i':
			if (!*optarg)
				return usage_error("--image: empty path");
			dm->cfg.path = optarg;
			break;
		case 'q':
			if (daemon_number(NAME, "--queues", optarg, 1,
					  VU_MAX_QUEUES, &n))
				return EXIT_USAGE;
			dm->cfg.queues = (unsigned int)n;
			break;
		case 'r':
			dm->cfg.readonly = true;
			break;
		case 'd':
			dm->cfg.direct = true;
			break;
		case 'S':
			if (strlen(optarg) > BLK_SERIAL_LEN)
				return usage_error("--serial %s: at most 20 "
						   "bytes", optarg);
			snprintf(dm->cfg.serial, sizeof(dm->cfg.serial), "%s",
				 optarg);
			break;
		case 'F':
			dm->cfg.no_fixed_buffers = true;
			break;
		case 'P':
		case 'Q':
			if (daemon_number(NAME, c == 'P' ? "--poll-us" :
					  "--sqpoll", optarg, 0, 1000000, &n))
				return EXIT_USAGE;
			if (c == 'P') {
				dm->cfg.poll_us = (unsigned int)n;
			} else {
				dm->cfg.sqpoll = true;
				dm->cfg.sqpoll_idle_ms = (unsigned int)n;
			}
			break;
		case 'c':
			ret = hostcpu_list(optarg, dm->cpus, BLK_MAX_AFFINITY,
					   &dm->ncpus);
			if (ret == -ENOSYS)
				return usage_error("--cpus %s: built without "
						   "libnuma", optarg);
			if (ret)
				return usage_error("--cpus %s: not a list of "
						   "this machine's CPUs (e.g. "
						   "0,2-3)", optarg);
			break;
		case 'v':
			dm->verbose = true;
			break;
		case 'C':
			if (!strcmp(optarg, "on"))
				dm->seccomp = SANDBOX_SECCOMP_ON;
			else if (!strcmp(optarg, "log"))
				dm->seccomp = SANDBOX_SECCOMP_LOG;
			else if (!strcmp(optarg, "off"))
				dm->seccomp = SANDBOX_SECCOMP_OFF;
			else
				return usage_error("--seccomp %s: on, off or log",
						   optarg);
			if (dm->seccomp != SANDBOX_SECCOMP_OFF &&
			    !sandbox_seccomp_available())
				return usage_error("--seccomp %s: built without "
						   "libseccomp; only off", optarg);
			break;
		case 'u':
			if (sandbox_user_parse(optarg, &dm->uid, &dm->gid))
				return usage_error("--user %s: no such user, "
						   "or root, or not UID:GID",
						   optarg);
			dm->drop = true;
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
	if (!dm->socket_path)
		return usage_error("--socket: missing");
	if (!dm->cfg.path)
		return usage_error("--image: missing");
	/* Queue i on the i-th CPU of --cpus, round robin. */
	_Static_assert(VU_MAX_QUEUES <= BLK_MAX_AFFINITY, "a pair per queue");
	for (unsigned int i = 0; dm->ncpus && i < dm->cfg.queues; i++)
		dm->cfg.affinity[dm->cfg.naffinity++] = (struct cpu_affinity){
			(uint16_t)i, dm->cpus[i % dm->ncpus] };
	return 0;
}

/* Is someone accepting on PATH? connect() answers without disturbing a
 * live listener beyond one accept it sees close at once. */
static bool socket_alive(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return true;	/* cannot tell: do not remove it */
	alive = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ||
		errno != ECONNREFUSED;
	close(fd);
	return alive;
}

/* Binds and listens on dm->socket_path, removing a stale socket file
 * (one nobody listens on) first. 0 or -errno, logged. */
static int listen_on(struct daemon *dm)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, ret;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", dm->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (errno != EADDRINUSE) {
			ret = -errno;
			goto fail_log;
		}
		if (lstat(sa.sun_path, &st) || !S_ISSOCK(st.st_mode)) {
			log_err(NAME, "%s exists and is not a socket",
				dm->socket_path);
			ret = -EEXIST;
			goto fail;
		}
		if (socket_alive(&sa)) {
			log_err(NAME, "%s: another process listens there",
				dm->socket_path);
			ret = -EADDRINUSE;
			goto fail;
		}
		log_info(NAME, "removing stale socket %s", dm->socket_path);
		if (unlink(sa.sun_path) && errno != ENOENT) {
			ret = -errno;
			goto fail_log;
		}
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			ret = -errno;
			goto fail_log;
		}
	}
	dm->bound = true;
	if (listen(fd, 4)) {
		ret = -errno;
		goto fail_log;
	}
	dm->listen_fd = fd;
	return 0;

fail_log:
	log_err(NAME, "%s: %s", dm->socket_path, strerror(-ret));
fail:
	close(fd);
	return ret;
}

static void accept_one(struct daemon *dm)
{
	int fd = accept4(dm->listen_fd, NULL, NULL,
			 SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn(NAME, "accept: %s", strerror(errno));
		return;
	}
	if (vu_blk_connect(&dm->vb, fd))
		log_err(NAME, "cannot serve the new connection");
}

/* Serves until a signal asks to stop: 0, or -errno if the loop failed. */
static int run(struct daemon *dm)
{
	for (;;) {
		int conn = vu_blk_socket(&dm->vb);
		struct pollfd p[2] = {
			{ .fd = dm->sig_fd, .events = POLLIN },
			{ .fd = conn >= 0 ? conn : dm->listen_fd,
			  .events = POLLIN },
		};
		struct signalfd_siginfo si;

		if (poll(p, 2, -1) < 0) {
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
		if (!p[1].revents)
			continue;
		if (conn >= 0)
			vu_blk_dispatch(&dm->vb);
		else
			accept_one(dm);
	}
}

int main(int argc, char **argv)
{
	struct daemon *dm = calloc(1, sizeof(*dm));
	struct sandbox_config sc;
	bool help = false;
	int status, ret;

	if (!dm) {
		fprintf(stderr, NAME ": out of memory\n");
		return EXIT_ERROR;
	}
	dm->listen_fd = dm->sig_fd = -1;
	dm->cfg = (struct blk_config){ .queues = 1, .numa_node = -1 };
	status = parse(dm, argc, argv, &help);
	if (status || help) {
		if (help)
			fputs(usage_text, stdout);
		free(dm);
		return status;
	}
	log_set_level(dm->verbose ? LOG_DEBUG : LOG_INFO);
	if (thread_stacks_small())
		log_warn(NAME, "thread stacks stay at the default size");
	status = EXIT_ERROR;
	/* Blocked before any I/O thread exists, so they inherit the mask
	 * and only the signalfd sees the signals. */
	ret = dm->sig_fd = daemon_signals_open();
	if (ret < 0) {
		log_err(NAME, "signals: %s", strerror(-ret));
		goto out;
	}
	if (vu_blk_create(&dm->vb, NAME, &dm->cfg))
		goto out;
	ret = listen_on(dm);
	if (ret)
		goto destroy;
	/* One thread so far (queue threads start with a front-end), as
	 * the user change needs. */
	sc = (struct sandbox_config){ .seccomp = dm->seccomp,
				      .needs = SANDBOX_NEED_DISK |
					       (dm->cfg.naffinity ?
						SANDBOX_NEED_NUMA : 0),
				      .probe = -1,
				      .drop = dm->drop, .uid = dm->uid,
				      .gid = dm->gid };
	if (sandbox_lockdown(&sc, NAME))
		goto destroy;
	sandbox_enter(SANDBOX_BLKD);
	log_info(NAME, "serving %s (%u queue%s%s) on %s", dm->cfg.path,
		 dm->cfg.queues, dm->cfg.queues == 1 ? "" : "s",
		 dm->cfg.readonly ? ", read-only" : "", dm->socket_path);
	if (!run(dm))
		status = EXIT_OK;

destroy:
	/* Queues stop before the image closes: requests in flight finish. */
	vu_blk_destroy(&dm->vb);
	if (dm->listen_fd >= 0)
		close(dm->listen_fd);
	if (dm->bound && unlink(dm->socket_path) && errno != ENOENT)
		log_info(NAME, "%s stays: %s", dm->socket_path,
			 strerror(errno));
out:
	if (dm->sig_fd >= 0)
		close(dm->sig_fd);
	free(dm);
	return status;
}
