/* What every fuzz target shares: FZ_ASSERT, an invariant that must hold
 * whatever the input, and FZ_NEVER, a condition that must never hold. A
 * broken one aborts so libFuzzer (or the replay in the test suite) reports
 * the input that broke it, after saying which check it was and where. */
#ifndef TERN_FUZZ_FUZZ_H
#define TERN_FUZZ_FUZZ_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Said on stdout too: the suite's runs close the target's stderr (the
 * devices' logs) and keep its stdout. */
static inline __attribute__((noreturn, unused)) void
fz_broken(const char *file, int line, const char *kind, const char *what)
{
	fprintf(stderr, "%s:%d: %s: %s\n", file, line, kind, what);
	printf("%s:%d: %s: %s\n", file, line, kind, what);
	fflush(stdout);
	abort();
}

#define FZ_ASSERT(cond)                                                        \
	do {                                                                   \
		if (!(cond))                                                   \
			fz_broken(__FILE__, __LINE__, "invariant broken",      \
				  #cond);                                      \
	} while (0)

#define FZ_NEVER(cond)                                                         \
	do {                                                                   \
		if (cond)                                                      \
			fz_broken(__FILE__, __LINE__, "must never hold",       \
				  #cond);                                      \
	} while (0)

/* The open descriptors among 0..63, as a bit set: a target compares the
 * set before and after an input to see that every descriptor the input
 * brought in was closed again. */
static inline __attribute__((unused)) uint64_t fz_open_fds(void)
{
	uint64_t open = 0;

	for (int fd = 0; fd < 64; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			open |= 1ULL << fd;
	return open;
}

#endif
