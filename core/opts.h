/* The one KEY=VALUE parser: "key=value,key=value" option strings (--disk,
 * --net, --memory, and later the API's device specs) checked against a
 * table. Each entry names its key, its type and the range or choices it
 * takes; the error messages are made from the same entries, so a limit is
 * written once (the constant the table names) and the message can't drift
 * from the check. A list word's value (OPT_FL) that opens with '[' runs
 * to its matching ']' and may hold commas (queue-affinity=[0@[0,1],1@[2]]);
 * in any other word '[' is a letter. Every rejection is one line on `err`:
 * "tern: --OPTION: KEY=VALUE: what it takes". */
#ifndef TERN_CORE_OPTS_H
#define TERN_CORE_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum opt_type {
	OPT_UINT,	/* min..max into an unsigned field of `size` bytes */
	OPT_POW2,	/* a power of two in min..max */
	OPT_BOOL,	/* on | off into a bool */
	OPT_CHOICE,	/* one of choices[] (NULL-ended): its index, an int */
	OPT_FUNC,	/* parse(target, value) decides; help says what fits */
};

struct opt_spec {
	const char *key;
	enum opt_type type;
	size_t offset;			/* of the field in the target */
	size_t size;			/* OPT_UINT, OPT_POW2: 1, 2, 4 or 8 */
	unsigned long long min, max;
	const char *const *choices;	/* OPT_CHOICE */
	/* OPT_FUNC: 0, -EINVAL (reported with `help`) or another -errno
	 * (returned as is, e.g. -ENOMEM). */
	int (*parse)(void *target, const char *value);
	const char *help;		/* OPT_FUNC: "give ..." */
	bool list;			/* OPT_FUNC: a value that opens with
					 * '[' runs to its matching ']' and
					 * may hold commas */
};

/* Table entries: field F of struct T, its size taken from the field. */
#define OPT_U(k, T, F, lo, hi)                                                 \
	{ .key = (k), .type = OPT_UINT, .offset = offsetof(T, F),              \
	  .size = sizeof(((T *)0)->F), .min = (lo), .max = (hi) }
#define OPT_P2(k, T, F, lo, hi)                                                \
	{ .key = (k), .type = OPT_POW2, .offset = offsetof(T, F),              \
	  .size = sizeof(((T *)0)->F), .min = (lo), .max = (hi) }
#define OPT_B(k, T, F)                                                         \
	{ .key = (k), .type = OPT_BOOL, .offset = offsetof(T, F) }
#define OPT_C(k, T, F, names)                                                  \
	{ .key = (k), .type = OPT_CHOICE, .offset = offsetof(T, F),            \
	  .choices = (names) }
#define OPT_F(k, fn, why)                                                      \
	{ .key = (k), .type = OPT_FUNC, .parse = (fn), .help = (why) }
#define OPT_FL(k, fn, why)                                                     \
	{ .key = (k), .type = OPT_FUNC, .parse = (fn), .help = (why),          \
	  .list = true }

struct opts_table {
	const char *option;		/* "disk": messages say --disk */
	const struct opt_spec *specs;
	unsigned int nspecs;		/* at most 64 */
	/* A first word without '=' is this key's value (--memory 512M), or
	 * NULL: every word is KEY=VALUE. */
	const char *bare_key;
};

/* Parses ARG into TARGET by TABLE. Returns 0 with *seen holding bit i for
 * each specs[i] given (a later word overrides an earlier one), or -EINVAL
 * after one line on ERR, or -ENOMEM. */
int opts_parse(const struct opts_table *table, const char *arg, void *target,
	       uint64_t *seen, FILE *err);

/* One line "tern: --OPTION: " + the formatted rest, on ERR; -EINVAL. */
int opts_error(FILE *err, const char *option, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Decimal unsigned in min..max; 0 or -EINVAL. */
int opts_uint(const char *s, unsigned long long min, unsigned long long max,
	      unsigned long long *out);

/* The index of the spec for KEY in TABLE, or -1: for *seen tests. */
int opts_index(const struct opts_table *table, const char *key);

#endif
