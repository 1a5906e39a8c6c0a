/* The sandbox: what tern (and tern-blk) give up once everything is open.
 *
 * seccomp: every thread belongs to one role and installs that role's
 * filter itself, first thing, before it touches guest or peer input. The
 * filters allow only the system calls and ioctl request numbers the role
 * needs for the configuration at hand (core/seccomp_table.c is the one
 * list; README "Sandbox" shows it, checked by tests/unit/test_sandbox.c).
 * A filter installed on a thread is inherited by the threads it creates,
 * which then add their own: a creator's filter holds what its children
 * need before they narrow it (main and devctl create threads).
 *
 * A forbidden call traps (SIGSYS); the handler writes one line naming the
 * thread's role and the call, then
 *  - --seccomp on: gives a terminal made raw its settings back (see
 *    sandbox_set_tty) and the process exits with status 159 (128 +
 *    SIGSYS);
 *  - --seccomp log: the call is made anyway (from one instruction in
 *    sandbox.c that only log-mode filters let through) and its result
 *    returned; each role and call is named once. Calls that create a
 *    task (clone, fork) cannot be made from the handler and fail with
 *    ENOSYS instead.
 *
 * --user drops to an unprivileged user with no capabilities; --jail moves
 * the process into a new mount namespace rooted at DIR (pivot_root). Both
 * happen in sandbox_lockdown, after the VM's files, devices and sockets
 * are open and before any thread but the caller exists.
 *
 * State: the compiled filters, the mode and the syscall names live in one
 * process-wide object written once by sandbox_lockdown (or
 * sandbox_seccomp_init) before any other thread exists and read-only
 * afterwards; a thread's role is thread-local. The SIGSYS handler, which
 * gets no argument, is why this is not in the VM object. */
#ifndef TERN_CORE_SANDBOX_H
#define TERN_CORE_SANDBOX_H

#include "core/sandbox_roles.h"

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include <termios.h>

enum sandbox_seccomp {
	SANDBOX_SECCOMP_ON,	/* the default */
	SANDBOX_SECCOMP_LOG,
	SANDBOX_SECCOMP_OFF,
};


/* Exit status after a forbidden call with --seccomp on. */
#define SANDBOX_EXIT_SECCOMP 159

struct sandbox_config {
	enum sandbox_seccomp seccomp;
	unsigned int needs;		/* SANDBOX_NEED_* */
	int probe;			/* a role, or -1: see sandbox_enter */
	const char *jail;		/* NULL: no --jail */
	bool drop;			/* --user given: */
	uid_t uid;
	gid_t gid;
};

/* "vcpu", "blk-io", ...; NULL past the end. */
const char *sandbox_role_name(enum sandbox_role role);
/* The role named NAME, or -EINVAL. */
int sandbox_role_parse(const char *name);

/* --user SPEC: a user name (its uid and primary group), or UID:GID in
 * numbers. Looked up now (before any jail hides /etc/passwd). 0, -ENOENT
 * (no such user), -EINVAL (malformed), -EPERM (uid or gid 0). */
int sandbox_user_parse(const char *spec, uid_t *uid, gid_t *gid);

/* Jail, user, filters compiled, in that order; the caller must be the
 * process's only thread (unshare and setresuid act on every thread or
 * none). Threads then enter their roles with sandbox_enter, the caller
 * too once it has started the threads it starts unfiltered (tern's main
 * thread after the first VM's, see sb_children in core/seccomp_table.c).
 * PROG names the program in messages ("tern"). 0 or -errno, logged; on
 * failure the process must not go on. */
int sandbox_lockdown(const struct sandbox_config *cfg, const char *prog);

/* The seccomp part alone (tests; tern-blk): compiles every role's filter
 * for NEEDS and installs the SIGSYS handler. Nothing is filtered until a
 * thread calls sandbox_enter. PROBE: a role or -1. 0, or -ENOSYS when
 * built without libseccomp, or another -errno. */
int sandbox_seccomp_init(enum sandbox_seccomp mode, unsigned int needs,
			 const char *prog, int probe);

/* The calling thread installs ROLE's filter (no-op with seccomp off, not
 * initialised, or when the thread is in ROLE already). Fails closed: a thread that cannot be filtered when
 * filters were asked for ends the process (status 1) after a log line.
 * When ROLE is the probe role, the thread then calls personality(-1), a
 * harmless query no role allows: a check that the filter stops it. */
void sandbox_enter(enum sandbox_role role);

/* The terminal tern made raw (--serial stdio), and the settings it had:
 * the SIGSYS handler of --seccomp on writes them back before the process
 * exits, so a killed tern does not leave the shell raw. One TCSETS ioctl
 * (async-signal-safe; not glibc's tcsetattr, which reads the settings
 * back with TCGETS, a request no role may make); every role's filter
 * allows TCSETS when SANDBOX_NEED_TTY is set. Call before any thread
 * exists; FD < 0 forgets the terminal. */
void sandbox_set_tty(int fd, const struct termios *saved);

/* Writes SAVED back to the terminal FD the way the SIGSYS handler does
 * (one TCSETS ioctl): what a filtered thread can do. 0 or -errno. */
int sandbox_tty_restore(int fd, const struct termios *saved);

/* BPF instructions in ROLE's compiled filter (0 when not compiled). */
unsigned int sandbox_filter_len(enum sandbox_role role);

/* Writes the rule table as README's markdown (core/seccomp_table.c). */
void sandbox_table_markdown(FILE *out);

/* Whether this tern was built with libseccomp. */
bool sandbox_seccomp_available(void);

#endif
