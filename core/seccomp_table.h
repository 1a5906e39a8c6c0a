/* The seccomp rule table's shape (the rules are in core/seccomp_table.c,
 * the code that compiles them in core/sandbox.c). Plain data: no
 * libseccomp types, so the table and README's copy of it exist in builds
 * without libseccomp too. */
#ifndef TERN_CORE_SECCOMP_TABLE_H
#define TERN_CORE_SECCOMP_TABLE_H

#include "core/sandbox_roles.h"

#include <stddef.h>
#include <stdint.h>

#define SB_ROLE(r) (1u << (r))
#define SB_MAIN SB_ROLE(SANDBOX_MAIN)
#define SB_VCPU SB_ROLE(SANDBOX_VCPU)
#define SB_DEVCTL SB_ROLE(SANDBOX_DEVCTL)
#define SB_BLK_IO SB_ROLE(SANDBOX_BLK_IO)
#define SB_NET_IO SB_ROLE(SANDBOX_NET_IO)
#define SB_NET_CTRL SB_ROLE(SANDBOX_NET_CTRL)
#define SB_API SB_ROLE(SANDBOX_API)
#define SB_BLKD SB_ROLE(SANDBOX_BLKD)
#define SB_ALL ((1u << SANDBOX_NROLES) - 1)
/* Roles whose threads create threads: the children start under this
 * filter (set_robust_list, rseq, naming, their own seccomp). */
#define SB_CREATORS (SB_MAIN | SB_DEVCTL | SB_BLKD)

/* One argument test: (arg & mask) == value. */
struct sb_arg {
	uint8_t arg;		/* 0..5 */
	uint64_t mask, value;
};

struct sb_rule {
	const char *name;	/* as libseccomp names it */
	uint32_t roles;		/* SB_* */
	uint32_t when;		/* a SANDBOX_NEED_* bit, 0: always */
	int err;		/* 0: allow; else fail with this errno */
	uint8_t nargs;		/* all must hold */
	struct sb_arg args[2];
	const char *args_text;	/* the argument test, for people */
	const char *why;
};

struct sb_ioctl {
	const char *name;
	uint32_t req;		/* the kernel compares the low 32 bits */
	uint32_t roles;
	uint32_t when;
	const char *why;
};

extern const struct sb_rule sb_rules[];
extern const size_t sb_nrules;
extern const struct sb_ioctl sb_ioctls[];
extern const size_t sb_nioctls;

/* The roles whose threads ROLE's threads create (with NEEDS): a filter is
 * inherited, so ROLE's holds their rules too. */
uint32_t sb_children(enum sandbox_role role, unsigned int needs);

/* The "when" column: the name of one SANDBOX_NEED_* bit. */
const char *sb_need_name(uint32_t need);

#endif
