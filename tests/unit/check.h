/* Unit-test assertions: one program per test, exit 0 pass, 1 fail, 77 skip.
 * A failed check prints file:line, the expression and both values, and the
 * test goes on so one run shows every failure. */
#ifndef TERN_TESTS_CHECK_H
#define TERN_TESTS_CHECK_H

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK_EXIT_SKIP 77

static int check_failures;

#define CHECK_FAIL_AT(file, line, ...)                                         \
	do {                                                                   \
		fprintf(stderr, "%s:%d: FAIL: ", file, line);                  \
		fprintf(stderr, __VA_ARGS__);                                  \
		fputc('\n', stderr);                                           \
		check_failures++;                                              \
	} while (0)

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			CHECK_FAIL_AT(__FILE__, __LINE__, "%s", #cond);       \
	} while (0)

/* Integers of any width/sign compare as intmax_t / uintmax_t. */
#define CHECK_EQ(a, b)                                                         \
	do {                                                                   \
		intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);               \
		if (a_ != b_)                                                  \
			CHECK_FAIL_AT(__FILE__, __LINE__,                      \
				      "%s == %s: %jd (0x%jx) != %jd (0x%jx)",  \
				      #a, #b, a_, (uintmax_t)a_, b_,           \
				      (uintmax_t)b_);                          \
	} while (0)

#define CHECK_NE(a, b)                                                         \
	do {                                                                   \
		intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);               \
		if (a_ == b_)                                                  \
			CHECK_FAIL_AT(__FILE__, __LINE__,                      \
				      "%s != %s: both %jd", #a, #b, a_);       \
	} while (0)

#define CHECK_STR(a, b)                                                        \
	do {                                                                   \
		const char *a_ = (a), *b_ = (b);                               \
		if (!a_ || !b_ || strcmp(a_, b_))                              \
			CHECK_FAIL_AT(__FILE__, __LINE__,                      \
				      "%s == %s: \"%s\" != \"%s\"", #a, #b,    \
				      a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
	} while (0)

#define CHECK_MEM(a, b, n)                                                     \
	do {                                                                   \
		if (memcmp((a), (b), (n)))                                     \
			CHECK_FAIL_AT(__FILE__, __LINE__,                      \
				      "%s and %s differ in %zu bytes", #a, #b, \
				      (size_t)(n));                            \
	} while (0)

/* Ends main(): prints a summary line for the log and returns the status. */
static inline int check_done(const char *name)
{
	if (check_failures) {
		fprintf(stderr, "%s: %d check(s) failed\n", name,
			check_failures);
		return 1;
	}
	fprintf(stderr, "%s: ok\n", name);
	return 0;
}

#endif
