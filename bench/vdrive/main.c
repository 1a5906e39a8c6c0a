/* vdrive: drive a virtio-blk device from userspace and measure it.
 *
 *	vdrive (--vhost-user SOCK [--backend-pid PID] |
 *		--image FILE [--direct] [--no-fixed-buffers] [--poll-us N]
 *		[--sqpoll MS])
 *	       [--rw randread|randwrite|read|write] [--bs N] [--qd N]
 *	       [--queues N] [--queue-size N] [--size N] [--ramp S]
 *	       [--runtime S] [--ios N] [--complete call|poll]
 *	       [--no-event-idx] [--verify] [--seed N] [--mem N] [--shared-mem]
 *	       [--hugepages]
 *
 * Prints one JSON object with the figures on stdout and one summary line
 * on stderr. Exit 0: the run completed without an error of the device
 * (status, length, data, ring rules, stalls); 1: it did not, or could not
 * run; 2: a bad command line. */
#include "bench/vdrive/backends.h"
#include "bench/vdrive/vdrive.h"

#include "core/log.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
	"usage: vdrive (--vhost-user SOCK [--backend-pid PID] |\n"
	"               --image FILE [--direct] [--no-fixed-buffers] [--poll-us N]\n"
	"               [--sqpoll MS])\n"
	"              [--rw randread|randwrite|read|write] [--bs N] [--qd N] [--queues N]\n"
	"              [--queue-size N] [--size N] [--ramp S] [--runtime S] [--ios N]\n"
	"              [--complete call|poll] [--no-event-idx] [--verify] [--seed N]\n"
	"              [--mem N] [--shared-mem] [--hugepages] [--verbose]\n"
	"  --vhost-user SOCK  a vhost-user-blk backend's socket (tern-blk, qemu-storage-daemon)\n"
	"  --backend-pid PID  its process, whose CPU time is reported\n"
	"  --image FILE       tern's in-process virtio-blk engine on FILE instead\n"
	"  --direct           open it O_DIRECT\n"
	"  --no-fixed-buffers the engine does not register guest RAM with io_uring\n"
	"  --poll-us N        the engine's threads poll N us after work (tern-blk's)\n"
	"  --sqpoll MS        the engine's rings use SQPOLL (tern-blk's)\n"
	"  --rw MODE          workload (default randread)\n"
	"  --bs N             bytes per request, k/m suffixes (default 4k)\n"
	"  --qd N             requests in flight per queue (default 32)\n"
	"  --queues N         queues, one driver thread each (default 1)\n"
	"  --queue-size N     ring entries (default 256)\n"
	"  --size N           bytes of the disk to use (default all)\n"
	"  --ramp S           seconds before measuring (default 1)\n"
	"  --runtime S        seconds measured (default 5)\n"
	"  --ios N            instead: N requests per queue, all measured\n"
	"  --complete MODE    call: sleep on the call eventfd; poll: spin on the used ring\n"
	"  --no-event-idx     do not negotiate VIRTIO_F_EVENT_IDX\n"
	"  --verify           fill, check every byte read, read everything back\n"
	"  --seed N           pattern and offsets seed (default from the clock)\n"
	"  --mem N            guest RAM (default what the queues need)\n"
	"  --shared-mem       guest RAM in a memfd also for the in-process engine\n"
	"  --hugepages        guest RAM on 2 MiB hugetlbfs pages, shared (reserve them first:\n"
	"                     /proc/sys/vm/nr_hugepages)\n";

static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr, "vdrive: %s%s%s\n", what, arg ? ": " : "",
		arg ? arg : "");
	return 2;
}

static int parse_size(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long n;

	errno = 0;
	n = strtoull(s, &end, 0);
	if (errno || end == s || s[0] == '-')
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': n <<= 10; end++; break;
	case 'm': case 'M': n <<= 20; end++; break;
	case 'g': case 'G': n <<= 30; end++; break;
	default: break;
	}
	if (*end)
		return -EINVAL;
	*v = n;
	return 0;
}

static int parse_double(const char *s, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return errno || end == s || *end || *v < 0 ? -EINVAL : 0;
}

/* The error text as a JSON string body: quotes, backslashes and control
 * characters escaped. */
static void json_escape(char *out, size_t n, const char *in)
{
	size_t o = 0;

	for (; *in && o + 7 < n; in++) {
		unsigned char ch = (unsigned char)*in;

		if (ch == '"' || ch == '\\')
			o += (size_t)snprintf(out + o, n - o, "\\%c", ch);
		else if (ch < 0x20)
			o += (size_t)snprintf(out + o, n - o, "\\u%04x", ch);
		else
			out[o++] = (char)ch;
	}
	out[o] = 0;
}

static void print_json(const struct vd_config *cfg, const char *backend,
		       const struct vd_result *r, int ret)
{
	char err[sizeof(r->error) * 6];

	printf("{\"tool\": \"vdrive\", \"backend\": \"%s\", \"rw\": \"%s\", "
	       "\"bs\": %u, \"qd\": %u, \"queues\": %u, \"queue_size\": %u, "
	       "\"complete\": \"%s\", \"event_idx\": %s, \"verify\": %s, "
	       "\"hugepages\": %s, ",
	       backend, vd_rw_name(cfg->rw), cfg->bs, cfg->qd, cfg->queues,
	       cfg->queue_size,
	       cfg->complete == VD_COMPLETE_POLL ? "poll" : "call",
	       r->features & (1ULL << VIRTIO_F_EVENT_IDX) ? "true" : "false",
	       cfg->verify ? "true" : "false",
	       cfg->hugepages ? "true" : "false");
	json_escape(err, sizeof(err), r->error);
	printf("\"ok\": %s, \"error\": \"%s\", \"features\": %" PRIu64 ", "
	       "\"disk_bytes\": %" PRIu64 ", \"seed\": %" PRIu64 ", ",
	       !ret && vd_result_ok(r) ? "true" : "false", err,
	       r->features, r->disk_bytes, r->seed);
	printf("\"window_s\": %.6f, \"ios\": %" PRIu64 ", \"bytes\": %" PRIu64
	       ", \"iops\": %.1f, \"mbps\": %.2f, ",
	       r->window_s, r->ios, r->bytes, r->iops, r->mbps);
	printf("\"lat_us\": {\"mean\": %.2f, \"p50\": %.2f, \"p99\": %.2f, "
	       "\"p99.9\": %.2f, \"max\": %.2f}, ",
	       r->lat.mean_us, r->lat.p50_us, r->lat.p99_us, r->lat.p999_us,
	       r->lat.max_us);
	if (r->backend_cpu_s >= 0)
		printf("\"backend_cpu_s\": %.4f, \"backend_us_per_io\": %.3f, ",
		       r->backend_cpu_s, r->backend_us_per_io);
	else
		printf("\"backend_cpu_s\": null, \"backend_us_per_io\": null, ");
	printf("\"driver_cpu_s\": %.4f, \"driver_us_per_io\": %.3f, "
	       "\"kicks_per_io\": %.4f, \"calls_per_io\": %.4f, ",
	       r->driver_cpu_s, r->driver_us_per_io, r->kicks_per_io,
	       r->calls_per_io);
	if (r->engine.valid)
		printf("\"engine\": {\"submitted\": %" PRIu64 ", \"fixed\": %"
		       PRIu64 ", \"enters\": %" PRIu64 ", \"kicks\": %" PRIu64
		       "}, ", r->engine.submitted, r->engine.fixed,
		       r->engine.enters, r->engine.kicks);
	printf("\"total_ios\": %" PRIu64 ", \"total_reads\": %" PRIu64
	       ", \"total_writes\": %" PRIu64 ", \"fill_ios\": %" PRIu64
	       ", \"readback_ios\": %" PRIu64 ", \"verified_bytes\": %" PRIu64
	       ", \"verify_errors\": %" PRIu64 ", \"status_errors\": %" PRIu64
	       ", \"len_errors\": %" PRIu64 ", \"device_errors\": %" PRIu64
	       ", \"stalls\": %" PRIu64 "}\n",
	       r->total_ios, r->total_reads, r->total_writes, r->fill_ios,
	       r->readback_ios, r->verified_bytes, r->verify_errors,
	       r->status_errors, r->len_errors, r->device_errors, r->stalls);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vhost-user", required_argument, NULL, 'u' },
		{ "backend-pid", required_argument, NULL, 'p' },
		{ "image", required_argument, NULL, 'i' },
		{ "direct", no_argument, NULL, 'd' },
		{ "no-fixed-buffers", no_argument, NULL, 'F' },
		{ "poll-us", required_argument, NULL, 'P' },
		{ "sqpoll", required_argument, NULL, 'X' },
		{ "rw", required_argument, NULL, 'w' },
		{ "bs", required_argument, NULL, 'b' },
		{ "qd", required_argument, NULL, 'q' },
		{ "queues", required_argument, NULL, 'Q' },
		{ "queue-size", required_argument, NULL, 'z' },
		{ "size", required_argument, NULL, 's' },
		{ "ramp", required_argument, NULL, 'r' },
		{ "runtime", required_argument, NULL, 't' },
		{ "ios", required_argument, NULL, 'n' },
		{ "complete", required_argument, NULL, 'c' },
		{ "no-event-idx", no_argument, NULL, 'E' },
		{ "verify", no_argument, NULL, 'V' },
		{ "seed", required_argument, NULL, 'S' },
		{ "mem", required_argument, NULL, 'm' },
		{ "shared-mem", no_argument, NULL, 'M' },
		{ "hugepages", no_argument, NULL, 'H' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct blk_config bcfg = { .queues = 1, .numa_node = -1,
				   .queue_size = 1024 };
	const char *sock = NULL, *backend;
	struct vd_vhost_user *vu = NULL;
	struct vd_inproc *ip = NULL;
	const struct vd_backend_ops *ops;
	struct vd_config cfg;
	struct vd_result r;
	uint64_t v;
	pid_t pid = 0;
	void *ctx;
	int c, ret;

	vd_config_defaults(&cfg);
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			sock = optarg;
			break;
		case 'p':
			if (parse_size(optarg, &v) || !v || v > INT32_MAX)
				return usage_error("--backend-pid", optarg);
			pid = (pid_t)v;
			break;
		case 'i':
			bcfg.path = optarg;
			break;
		case 'd':
			bcfg.direct = true;
			break;
		case 'F':
			bcfg.no_fixed_buffers = true;
			break;
		case 'P':
			if (parse_size(optarg, &v) || v > 1000000)
				return usage_error("--poll-us", optarg);
			bcfg.poll_us = (unsigned int)v;
			break;
		case 'X':
			if (parse_size(optarg, &v) || v > 1000000)
				return usage_error("--sqpoll", optarg);
			bcfg.sqpoll = true;
			bcfg.sqpoll_idle_ms = (unsigned int)v;
			break;
		case 'w':
			if (vd_rw_parse(optarg, &cfg.rw))
				return usage_error("--rw", optarg);
			break;
		case 'b':
			if (parse_size(optarg, &v) || v > UINT32_MAX)
				return usage_error("--bs", optarg);
			cfg.bs = (uint32_t)v;
			break;
		case 'q':
			if (parse_size(optarg, &v) || v > 4096)
				return usage_error("--qd", optarg);
			cfg.qd = (unsigned int)v;
			break;
		case 'Q':
			if (parse_size(optarg, &v) || v > VD_MAX_QUEUES)
				return usage_error("--queues", optarg);
			cfg.queues = (unsigned int)v;
			break;
		case 'z':
			if (parse_size(optarg, &v) || v > 32768)
				return usage_error("--queue-size", optarg);
			cfg.queue_size = (uint16_t)v;
			break;
		case 's':
			if (parse_size(optarg, &cfg.size))
				return usage_error("--size", optarg);
			break;
		case 'r':
			if (parse_double(optarg, &cfg.ramp_s))
				return usage_error("--ramp", optarg);
			break;
		case 't':
			if (parse_double(optarg, &cfg.runtime_s))
				return usage_error("--runtime", optarg);
			break;
		case 'n':
			if (parse_size(optarg, &cfg.ios))
				return usage_error("--ios", optarg);
			break;
		case 'c':
			if (!strcmp(optarg, "call"))
				cfg.complete = VD_COMPLETE_CALL;
			else if (!strcmp(optarg, "poll"))
				cfg.complete = VD_COMPLETE_POLL;
			else
				return usage_error("--complete", optarg);
			break;
		case 'E':
			cfg.event_idx = false;
			break;
		case 'V':
			cfg.verify = true;
			break;
		case 'S':
			if (parse_size(optarg, &cfg.seed))
				return usage_error("--seed", optarg);
			break;
		case 'm':
			if (parse_size(optarg, &cfg.mem_bytes))
				return usage_error("--mem", optarg);
			break;
		case 'M':
			cfg.shared_mem = true;
			break;
		case 'H':
			cfg.hugepages = true;
			break;
		case 'v':
			log_set_level(LOG_DEBUG);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case ':':
			return usage_error("needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument", argv[optind]);
	if (!sock == !bcfg.path)
		return usage_error("give one of --vhost-user and --image", NULL);
	signal(SIGPIPE, SIG_IGN);

	if (sock) {
		vu = calloc(1, sizeof(*vu));
		if (!vu)
			return 1;
		ret = vd_vhost_user_open(vu, sock, pid);
		if (ret) {
			fprintf(stderr, "vdrive: %s: %s\n", sock,
				strerror(-ret));
			free(vu);
			return 1;
		}
		cfg.shared_mem = true;
		ops = &vd_vhost_user_ops;
		ctx = vu;
		backend = "vhost-user";
	} else {
		ip = calloc(1, sizeof(*ip));
		if (!ip)
			return 1;
		bcfg.queues = cfg.queues;
		if (cfg.queue_size > bcfg.queue_size)
			bcfg.queue_size = cfg.queue_size;
		ret = vd_inproc_open(ip, &bcfg);
		if (ret) {
			fprintf(stderr, "vdrive: %s: %s\n", bcfg.path,
				strerror(-ret));
			free(ip);
			return 1;
		}
		ops = &vd_inproc_ops;
		ctx = ip;
		backend = "in-process";
	}

	ret = vd_run(&cfg, ops, ctx, &r);
	print_json(&cfg, backend, &r, ret);
	fprintf(stderr, "vdrive %s %s bs=%u qd=%u queues=%u: %.0f IOPS, "
		"%.1f MB/s, p50 %.1f us, p99 %.1f us, backend %.2f us/IO, "
		"driver %.2f us/IO%s%s\n",
		backend, vd_rw_name(cfg.rw), cfg.bs, cfg.qd, cfg.queues, r.iops,
		r.mbps, r.lat.p50_us, r.lat.p99_us, r.backend_us_per_io,
		r.driver_us_per_io, r.error[0] ? "; error: " : "", r.error);
	if (vu) {
		vd_vhost_user_close(vu);
		free(vu);
	}
	if (ip) {
		vd_inproc_close(ip);
		free(ip);
	}
	return !ret && vd_result_ok(&r) ? 0 : 1;
}
