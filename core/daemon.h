/* What tern's standalone daemons (tern-blk, tern-switch) share on the way
 * in: a bad command line answered in one line, and the termination signals
 * taken as an fd that the daemon's poll loop watches. */
#ifndef TERN_CORE_DAEMON_H
#define TERN_CORE_DAEMON_H

/* "NAME: " and the formatted rest as one line on stderr, written at once. */
void daemon_usage_error(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* What getopt_long (optstring ":") refused, as daemon_usage_error's one
 * line: C ':' is an option missing its value, anything else an unknown
 * option; ARGV and optind are getopt's. */
void daemon_bad_option(const char *name, int c, char **argv);

/* ARG of option OPT (say "--queues") as a decimal in min..max into *out:
 * 0, or -EINVAL after the one line "NAME: OPT ARG: a number MIN..MAX". */
int daemon_number(const char *name, const char *opt, const char *arg,
		  unsigned long long min, unsigned long long max,
		  unsigned long long *out);

/* Ignores SIGPIPE, blocks SIGTERM and SIGINT in the calling thread (so
 * threads started after it inherit the mask and only the fd sees them) and
 * returns a non-blocking, close-on-exec signalfd for the two, or -errno. */
int daemon_signals_open(void);

#endif
