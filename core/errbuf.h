/* An error message into a buffer the caller gives: for parsers whose
 * caller decides where the message goes (the boot loader's image checks,
 * tern-switch's port specs). Header-only, so code that links nothing of
 * libtern (tern-switch's DPDK-free part) can use it. */
#ifndef TERN_CORE_ERRBUF_H
#define TERN_CORE_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Formats the message into ERR (ERRLEN bytes, cut to fit) and returns
 * RET, the caller's -errno. */
static inline int errbuf_fail(int ret, char *err, size_t errlen,
			      const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static inline int errbuf_fail(int ret, char *err, size_t errlen,
			      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

#endif
