/* What every fuzz target shares: FZ_ASSERT, an invariant that must hold
 * whatever the input; a broken one aborts so libFuzzer (or the replay in
 * the test suite) reports the input that broke it. */
#ifndef TERN_FUZZ_FUZZ_H
#define TERN_FUZZ_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

/* Said on stdout too: the suite's runs close the target's stderr (the
 * devices' logs) and keep its stdout. */
#define FZ_ASSERT(cond)                                                        \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: invariant broken: %s\n",       \
				__FILE__, __LINE__, #cond);                    \
			printf("%s:%d: invariant broken: %s\n", __FILE__,      \
			       __LINE__, #cond);                               \
			fflush(stdout);                                        \
			abort();                                               \
		}                                                              \
	} while (0)

#endif
