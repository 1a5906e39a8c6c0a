/* Logging: every line names who speaks ("virtio-blk0 q1: ..."). No global
 * state beyond the level, which main() sets once before any thread starts.
 * A line is one line: control bytes in it (a newline in a path, an escape
 * sequence in a device id) are written as \xNN. */
#ifndef TERN_CORE_LOG_H
#define TERN_CORE_LOG_H

#include <stdarg.h>

enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_msg(enum log_level level, const char *who, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Guest mistakes and the like, which a guest can make as fast as it
 * writes a register: a warning while *count < max, the last of them
 * ending "(further WHAT not logged)", then silence: max lines at most. *count belongs to the caller
 * (per device, queue or channel) and is guarded by the caller's lock. */
void log_limited(unsigned int *count, unsigned int max, const char *who,
		 const char *what, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#define log_err(who, ...) log_msg(LOG_ERR, who, __VA_ARGS__)
#define log_warn(who, ...) log_msg(LOG_WARN, who, __VA_ARGS__)
#define log_info(who, ...) log_msg(LOG_INFO, who, __VA_ARGS__)
#define log_debug(who, ...)                                                    \
	do {                                                                   \
		if (log_get_level() >= LOG_DEBUG)                              \
			log_msg(LOG_DEBUG, who, __VA_ARGS__);                  \
	} while (0)

#endif
