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

/* Copies SRC to DST (CAP bytes, at least 1), a control byte written as
 * \xNN: names and values from outside (a path, an API client's device
 * id) then cannot end a log line early, forge the next one or drive the
 * reader's terminal. Stops short rather than splitting an escape. */
static void log_escape(char *dst, size_t cap, const char *src)
{
	static const char hex[] = "0123456789abcdef";
	size_t at = 0;

	for (; *src; src++) {
		unsigned char c = (unsigned char)*src;

		if (c >= 0x20 && c != 0x7f) {
			if (at + 1 >= cap)
				break;
			dst[at++] = (char)c;
			continue;
		}
		if (at + 4 >= cap)
			break;
		dst[at++] = '\\';
		dst[at++] = 'x';
		dst[at++] = hex[c >> 4];
		dst[at++] = hex[c & 15];
	}
	dst[at] = '\0';
}

void log_msg(enum log_level level, const char *who, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	char line[512], shown[4 * sizeof(line)];
	va_list ap;
	int n;

	if (level > log_level)
		return;
	n = snprintf(line, sizeof(line), "tern: %s: %s: ", names[level], who);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	log_escape(shown, sizeof(shown), line);
	/* One write per line so threads do not interleave inside a line. */
	fprintf(stderr, "%s\n", shown);
}
