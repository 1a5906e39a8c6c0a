/* Helpers of tern's standalone daemons: see daemon.h. */
#include "core/daemon.h"
#include "core/opts.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/signalfd.h>

void daemon_usage_error(const char *name, const char *fmt, ...)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "%s: ", name);
	va_list ap;

	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}

void daemon_bad_option(const char *name, int c, char **argv)
{
	daemon_usage_error(name, "%s: %s", argv[optind - 1],
			   c == ':' ? "needs a value" : "unknown option");
}

int daemon_number(const char *name, const char *opt, const char *arg,
		  unsigned long long min, unsigned long long max,
		  unsigned long long *out)
{
	if (!opts_uint(arg, min, max, out))
		return 0;
	daemon_usage_error(name, "%s %s: a number %llu..%llu", opt, arg, min,
			   max);
	return -EINVAL;
}

int daemon_signals_open(void)
{
	sigset_t set;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -errno;
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}
