/* What every fuzz target shares: FZ_ASSERT, an invariant that must hold
 * whatever the input; a broken one aborts so libFuzzer (or the replay in
 * the test suite) reports the input that broke it. */
#ifndef TERN_FUZZ_FUZZ_H
#define TERN_FUZZ_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define FZ_ASSERT(cond)                                                        \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: invariant broken: %s\n",       \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

#endif
