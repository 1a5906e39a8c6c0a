#include "core/log.h"

#include <stdio.h>
#include <time.h>

/* Set once by main() before threads exist; read-only afterwards. */
static enum log_level log_level = LOG_INFO;

void log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level log_get_level(void)
{
	return log_level;
}

void log_limited(unsigned int *count, unsigned int max, const char *who,
		 const char *what, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	if (*count >= max)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (++*count == max)
		log_msg(LOG_WARN, who, "%s (further %s not logged)", msg, what);
	else
		log_msg(LOG_WARN, who, "%s", msg);
}

void log_msg(enum log_level level, const char *who, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[512];
	va_list ap;
	int n;

	if (level > log_level)
		return;
	n = snprintf(line, sizeof(line), "tern: %s: %s: ", names[level], who);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	/* One write per line so threads do not interleave inside a line. */
	fprintf(stderr, "%s\n", line);
}
