/* The sandbox: see core/sandbox.h. The rules are core/seccomp_table.c. */
#include "core/sandbox.h"

#include "config.h"
#include "core/log.h"
#include "core/seccomp_table.h"

#include <errno.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#if HAVE_SECCOMP
#include <seccomp.h>
#endif

/* System call numbers the SIGSYS handler can name (x86-64 has ~460). */
#define SB_MAX_NR 512

static const char *const role_names[SANDBOX_NROLES] = {
	[SANDBOX_MAIN] = "main",
	[SANDBOX_VCPU] = "vcpu",
	[SANDBOX_DEVCTL] = "devctl",
	[SANDBOX_BLK_IO] = "blk-io",
	[SANDBOX_NET_IO] = "net-io",
	[SANDBOX_NET_CTRL] = "net-ctrl",
	[SANDBOX_API] = "api",
	[SANDBOX_BLKD] = "tern-blk",
};

/* Written by sandbox_seccomp_init (the terminal: sandbox_set_tty) before
 * any other thread exists, then read-only; `logged` only changes by
 * atomic bit sets (the handler). */
static struct {
	enum sandbox_seccomp mode;
	bool ready;			/* filters compiled */
	int probe;
	char prog[16];
	struct sock_filter *bpf[SANDBOX_NROLES];
	unsigned short len[SANDBOX_NROLES];
	char *names[SB_MAX_NR];		/* libseccomp's, for the handler */
	_Atomic uint64_t logged[SANDBOX_NROLES + 1][SB_MAX_NR / 64];
	int tty_fd;			/* sandbox_set_tty; -1 none */
	struct termios tty;
	bool tty_allowed;		/* filters compiled with NEED_TTY */
} sb = { .mode = SANDBOX_SECCOMP_OFF, .probe = -1, .tty_fd = -1 };

/* TCSETS takes the kernel's struct termios, which is glibc's up to and
 * including the first 19 control characters: glibc's own tcsetattr
 * copies those fields one to one (and then reads them back, which is why
 * it is not used here). */
_Static_assert(offsetof(struct termios, c_line) == 16 &&
	       offsetof(struct termios, c_cc) == 17 && NCCS >= 19,
	       "glibc's struct termios starts with the kernel's");

int sandbox_tty_restore(int fd, const struct termios *saved)
{
	return ioctl(fd, TCSETS, saved) ? -errno : 0;
}

void sandbox_set_tty(int fd, const struct termios *saved)
{
	sb.tty_fd = fd >= 0 && saved ? fd : -1;
	if (sb.tty_fd >= 0)
		sb.tty = *saved;
}

/* This thread's role, once it installed its filter; -1 before (a new
 * thread runs under its creator's filter until then). */
static __thread int sb_role = -1;

const char *sandbox_role_name(enum sandbox_role role)
{
	return (unsigned int)role < SANDBOX_NROLES ? role_names[role] : NULL;
}

int sandbox_role_parse(const char *name)
{
	for (int r = 0; r < SANDBOX_NROLES; r++)
		if (!strcmp(name, role_names[r]))
			return r;
	return -EINVAL;
}

bool sandbox_seccomp_available(void)
{
	return HAVE_SECCOMP;
}

unsigned int sandbox_filter_len(enum sandbox_role role)
{
	return sb.ready && (unsigned int)role < SANDBOX_NROLES ? sb.len[role]
							       : 0;
}

/* --- the table for people ------------------------------------------------ */

static void md_roles(FILE *out, uint32_t roles)
{
	for (int r = 0; r < SANDBOX_NROLES; r++)
		fputs(roles & SB_ROLE(r) ? " x |" : "   |", out);
}

static void md_head(FILE *out, const char *first, const char *second)
{
	fprintf(out, "| %s | %s | when |", first, second);
	for (int r = 0; r < SANDBOX_NROLES; r++)
		fprintf(out, " %s |", role_names[r]);
	fputs(" why |\n|---|---|---|", out);
	for (int r = 0; r < SANDBOX_NROLES; r++)
		fputs("---|", out);
	fputs("---|\n", out);
}

void sandbox_table_markdown(FILE *out)
{
	md_head(out, "system call", "arguments");
	for (size_t i = 0; i < sb_nrules; i++) {
		const struct sb_rule *r = &sb_rules[i];

		if (r->err)
			fprintf(out, "| %s | fails with %s | %s |", r->name,
				strerrorname_np(r->err) ?: "an error",
				sb_need_name(r->when));
		else
			fprintf(out, "| %s | %s | %s |", r->name,
				r->args_text ? r->args_text : "",
				sb_need_name(r->when));
		md_roles(out, r->roles);
		fprintf(out, " %s |\n", r->why);
	}
	fputc('\n', out);
	md_head(out, "ioctl", "number");
	for (size_t i = 0; i < sb_nioctls; i++) {
		const struct sb_ioctl *c = &sb_ioctls[i];

		fprintf(out, "| %s | 0x%08x | %s |", c->name, c->req,
			sb_need_name(c->when));
		md_roles(out, c->roles);
		fprintf(out, " %s |\n", c->why);
	}
}

/* --- users ---------------------------------------------------------------- */

static int parse_id(const char *s, unsigned long *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno || *end || *out >= 0xffffffffUL ? -EINVAL : 0;
}

int sandbox_user_parse(const char *spec, uid_t *uid, gid_t *gid)
{
	const char *colon = strchr(spec, ':');
	unsigned long u, g;

	if (!*spec)
		return -EINVAL;
	if (colon) {
		char ustr[32];

		if ((size_t)(colon - spec) >= sizeof(ustr))
			return -EINVAL;
		memcpy(ustr, spec, (size_t)(colon - spec));
		ustr[colon - spec] = 0;
		if (parse_id(ustr, &u) || parse_id(colon + 1, &g))
			return -EINVAL;
	} else {
		struct passwd pw, *found = NULL;
		char buf[4096];

		if (getpwnam_r(spec, &pw, buf, sizeof(buf), &found) || !found)
			return -ENOENT;
		u = found->pw_uid;
		g = found->pw_gid;
	}
	if (u == 0 || g == 0)
		return -EPERM;
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return 0;
}

/* No capability left in any set, the bounding set empty. */
static int caps_empty(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hdr, data))
		return -errno;
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (data[i].effective || data[i].permitted ||
		    data[i].inheritable)
			return -EPERM;
	for (int c = 0; c < 64; c++) {
		int r = prctl(PR_CAPBSET_READ, c, 0, 0, 0);

		if (r < 0)
			break;		/* past the last capability */
		if (r)
			return -EPERM;
	}
	return 0;
}

static int drop_user(uid_t uid, gid_t gid)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	int ret;

	/* Capabilities go with the uid change (no KEEPCAPS), and none may
	 * come back: empty bounding and ambient sets, no new privileges. */
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) {
		ret = -errno;
		log_err("sandbox", "prctl: %s", strerror(-ret));
		return ret;
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) &&
	    errno != EINVAL) {
		ret = -errno;
		log_err("sandbox", "clearing ambient capabilities: %s",
			strerror(-ret));
		return ret;
	}
	for (int c = 0; c < 64; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) && errno == EINVAL)
			break;
	if (setgroups(0, NULL) || setresgid(gid, gid, gid) ||
	    setresuid(uid, uid, uid)) {
		ret = -errno;
		log_err("sandbox", "--user %u:%u: %s", uid, gid, strerror(-ret));
		return ret;
	}
	/* Check rather than trust. */
	if (getresuid(&ru, &eu, &su) || getresgid(&rg, &eg, &sg) ||
	    ru != uid || eu != uid || su != uid || rg != gid || eg != gid ||
	    sg != gid || getgroups(0, NULL) != 0 || setresuid(0, 0, 0) == 0) {
		log_err("sandbox", "--user %u:%u: the ids did not stick", uid,
			gid);
		return -EPERM;
	}
	ret = caps_empty();
	if (ret) {
		log_err("sandbox", "--user %u:%u: capabilities remain: %s",
			uid, gid, strerror(-ret));
		return ret;
	}
	log_info("sandbox", "running as %u:%u, no capabilities", uid, gid);
	return 0;
}

/* A mount namespace of our own whose root is DIR (bind-mounted onto
 * itself so that it is a mount point), the old root unmounted. */
static int jail_enter(const char *dir)
{
	const char *what;

	what = "unshare(CLONE_NEWNS)";
	if (unshare(CLONE_NEWNS))
		goto fail;
	/* Nothing we mount or unmount from here on reaches the host. */
	what = "making / private";
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		goto fail;
	what = "bind-mounting the jail";
	if (mount(dir, dir, NULL, MS_BIND | MS_REC, NULL))
		goto fail;
	what = "chdir to the jail";
	if (chdir(dir))
		goto fail;
	/* pivot_root(".", "."): the old root lands on top of the new one
	 * and is then detached from it. */
	what = "pivot_root";
	if (syscall(SYS_pivot_root, ".", "."))
		goto fail;
	what = "unmounting the old root";
	if (umount2(".", MNT_DETACH))
		goto fail;
	what = "chdir /";
	if (chdir("/"))
		goto fail;
	log_info("sandbox", "jailed in %s", dir);
	return 0;
fail:
	log_err("sandbox", "--jail %s: %s: %s", dir, what, strerror(errno));
	return -errno;
}

/* --- the SIGSYS handler ------------------------------------------------------ */

#if HAVE_SECCOMP
#if defined(__x86_64__)
/* long sb_reissue(nr, a0..a5): one `syscall` instruction whose return
 * address (sb_reissue_ret) log-mode filters let through. */
__asm__(".text\n"
	".globl sb_reissue\n"
	".type sb_reissue, @function\n"
	"sb_reissue:\n"
	"\tmov %rdi, %rax\n"
	"\tmov %rsi, %rdi\n"
	"\tmov %rdx, %rsi\n"
	"\tmov %rcx, %rdx\n"
	"\tmov %r8, %r10\n"
	"\tmov %r9, %r8\n"
	"\tmov 8(%rsp), %r9\n"
	"\tsyscall\n"
	".globl sb_reissue_ret\n"
	"sb_reissue_ret:\n"
	"\tret\n"
	".size sb_reissue, . - sb_reissue\n");
long sb_reissue(long nr, long a0, long a1, long a2, long a3, long a4,
		long a5);
extern const char sb_reissue_ret[];
#define SB_AUDIT_ARCH AUDIT_ARCH_X86_64
#else
#error "the seccomp log mode's reissue stub is written for x86-64"
#endif

struct line {
	char buf[256];
	size_t n;
};

static void put(struct line *l, const char *s)
{
	while (*s && l->n < sizeof(l->buf) - 1)
		l->buf[l->n++] = *s++;
}

static void put_num(struct line *l, unsigned long v, unsigned int base)
{
	char d[24];
	int i = 0;

	do
		d[i++] = "0123456789abcdef"[v % base];
	while ((v /= base) && i < (int)sizeof(d));
	while (i-- > 0 && l->n < sizeof(l->buf) - 1)
		l->buf[l->n++] = d[i];
}

/* Async-signal-safe: writes, atomics, the precomputed name table. */
static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	greg_t *g = uc->uc_mcontext.gregs;
	int role = sb_role, nr = si->si_syscall;
	bool native = si->si_arch == SB_AUDIT_ARCH;
	bool stop = sb.mode != SANDBOX_SECCOMP_LOG;
	struct line l = { .n = 0 };

	(void)sig;
	if (!stop && native && nr >= 0 && nr < SB_MAX_NR) {
		uint64_t bit = 1ULL << (nr % 64);
		_Atomic uint64_t *w = &sb.logged[role + 1][nr / 64];

		if (atomic_fetch_or(w, bit) & bit)
			goto reissue;	/* named once already */
	}
	put(&l, sb.prog);
	put(&l, stop ? ": error: seccomp: thread " : ": warn: seccomp: thread ");
	put(&l, role >= 0 ? role_names[role]
			  : "(new, under its creator's filter)");
	put(&l, " called forbidden syscall ");
	if (!native) {
		put(&l, "of another architecture");
	} else if (nr >= 0 && nr < SB_MAX_NR && sb.names[nr]) {
		put(&l, sb.names[nr]);
	} else {
		put(&l, "?");
	}
	put(&l, " (nr ");
	put_num(&l, (unsigned long)(unsigned int)nr, 10);
	if (native && nr == SYS_ioctl) {
		put(&l, ", request 0x");
		put_num(&l, (unsigned long)(uint32_t)g[REG_RSI], 16);
	}
	put(&l, stop ? "); stopping\n" : "); allowed (--seccomp log)\n");
	if (write(STDERR_FILENO, l.buf, l.n) < 0)
		l.n = 0;	/* nowhere left to say it */
	/* Not _exit: sanitizers instrument calls to noreturn functions and
	 * complain about the handler's stack. The terminal first: a shell
	 * left raw is the operator's problem otherwise. */
	if (stop) {
		if (sb.tty_fd >= 0 && sb.tty_allowed)
			syscall(SYS_ioctl, sb.tty_fd, TCSETS, &sb.tty);
		syscall(SYS_exit_group, SANDBOX_EXIT_SECCOMP);
	}
reissue:
	/* A new task cannot start inside a signal handler's frame. */
	if (!native || nr == SYS_clone || nr == SYS_clone3 ||
	    nr == SYS_fork || nr == SYS_vfork)
		g[REG_RAX] = -ENOSYS;
	else
		g[REG_RAX] = sb_reissue(nr, g[REG_RDI], g[REG_RSI], g[REG_RDX],
					g[REG_R10], g[REG_R8], g[REG_R9]);
}

/* --- compiling the filters ----------------------------------------------- */

/* Log mode: a call made from sb_reissue passes (the handler makes the
 * forbidden call there after naming it). Prepended to the program; the
 * program's own jumps are relative and stay right. */
static int prepend_reissue(struct sock_filter **bpf, unsigned short *len)
{
	uint64_t ip = (uint64_t)(uintptr_t)sb_reissue_ret;
	const struct sock_filter head[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, instruction_pointer)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)ip, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, instruction_pointer) + 4),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(ip >> 32), 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	size_t nh = sizeof(head) / sizeof(head[0]);
	struct sock_filter *p;

	if (*len + nh > BPF_MAXINSNS)
		return -E2BIG;
	p = malloc((*len + nh) * sizeof(*p));
	if (!p)
		return -ENOMEM;
	memcpy(p, head, sizeof(head));
	memcpy(p + nh, *bpf, *len * sizeof(*p));
	free(*bpf);
	*bpf = p;
	*len = (unsigned short)(*len + nh);
	return 0;
}

/* Whether a rule other than an error one allows NAME to BIT's roles under
 * NEEDS: then the call is allowed there, and a rule that makes it fail
 * elsewhere stands aside. */
static bool allowed_by_rule(const char *name, uint32_t bit,
			    unsigned int needs)
{
	for (size_t i = 0; i < sb_nrules; i++) {
		const struct sb_rule *r = &sb_rules[i];

		if (!r->err && (r->roles & bit) &&
		    (!r->when || (r->when & needs)) && !strcmp(r->name, name))
			return true;
	}
	return false;
}

static int add_rules(scmp_filter_ctx ctx, enum sandbox_role role,
		     unsigned int needs)
{
	uint32_t bit = SB_ROLE(role) | sb_children(role, needs);
	int ret;

	for (size_t i = 0; i < sb_nrules; i++) {
		const struct sb_rule *r = &sb_rules[i];
		struct scmp_arg_cmp cmp[2];
		int nr;

		if (!(r->roles & bit) || (r->when && !(r->when & needs)))
			continue;
		if (r->err && allowed_by_rule(r->name, bit, needs))
			continue;
		nr = seccomp_syscall_resolve_name(r->name);
		if (nr == __NR_SCMP_ERROR) {
			log_err("seccomp", "unknown system call '%s' in the "
				"table", r->name);
			return -EINVAL;
		}
		for (unsigned int a = 0; a < r->nargs; a++)
			cmp[a] = (struct scmp_arg_cmp){
				.arg = r->args[a].arg, .op = SCMP_CMP_MASKED_EQ,
				.datum_a = r->args[a].mask,
				.datum_b = r->args[a].value };
		ret = seccomp_rule_add_array(ctx, r->err ? SCMP_ACT_ERRNO(
							   (uint32_t)r->err)
							 : SCMP_ACT_ALLOW,
					     nr, r->nargs, cmp);
		if (ret) {
			log_err("seccomp", "%s: rule for %s: %s",
				role_names[role], r->name, strerror(-ret));
			return ret;
		}
	}
	for (size_t i = 0; i < sb_nioctls; i++) {
		const struct sb_ioctl *c = &sb_ioctls[i];

		if (!(c->roles & bit) || (c->when && !(c->when & needs)))
			continue;
		ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffU,
					       c->req));
		if (ret) {
			log_err("seccomp", "%s: rule for ioctl %s: %s",
				role_names[role], c->name, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

/* libseccomp 2.5 exports BPF to a file descriptor only: a memfd. */
static int export_bpf(scmp_filter_ctx ctx, struct sock_filter **bpf,
		      unsigned short *len)
{
	int fd = memfd_create("tern-seccomp", MFD_CLOEXEC);
	off_t size;
	int ret;

	if (fd < 0)
		return -errno;
	ret = seccomp_export_bpf(ctx, fd);
	if (ret)
		goto out;
	size = lseek(fd, 0, SEEK_END);
	if (size <= 0 || size % sizeof(struct sock_filter) ||
	    size / sizeof(struct sock_filter) > BPF_MAXINSNS) {
		ret = -EINVAL;
		goto out;
	}
	*bpf = malloc((size_t)size);
	if (!*bpf) {
		ret = -ENOMEM;
		goto out;
	}
	if (pread(fd, *bpf, (size_t)size, 0) != size) {
		ret = -EIO;
		free(*bpf);
		*bpf = NULL;
		goto out;
	}
	*len = (unsigned short)(size / sizeof(struct sock_filter));
out:
	close(fd);
	return ret;
}

static int compile_role(enum sandbox_role role, unsigned int needs,
			enum sandbox_seccomp mode)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	int ret;

	if (!ctx)
		return -ENOMEM;
	/* No new privileges is set once for the process, not per filter;
	 * a call of another architecture (int 0x80) traps too. */
	ret = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	ret = ret ?: seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
				      SCMP_ACT_TRAP);
	ret = ret ?: add_rules(ctx, role, needs);
	ret = ret ?: export_bpf(ctx, &sb.bpf[role], &sb.len[role]);
	if (!ret && mode == SANDBOX_SECCOMP_LOG)
		ret = prepend_reissue(&sb.bpf[role], &sb.len[role]);
	seccomp_release(ctx);
	if (ret)
		log_err("seccomp", "compiling the %s filter: %s",
			role_names[role], strerror(-ret));
	return ret;
}
#endif

int sandbox_seccomp_init(enum sandbox_seccomp mode, unsigned int needs,
			 const char *prog, int probe)
{
#if HAVE_SECCOMP
	struct sigaction sa = { .sa_sigaction = on_sigsys,
				.sa_flags = SA_SIGINFO };
	int ret;

	for (int r = 0; r < SANDBOX_NROLES; r++) {
		free(sb.bpf[r]);
		sb.bpf[r] = NULL;
		sb.len[r] = 0;
	}
	sb.ready = false;
	sb.mode = mode;
	sb.probe = probe;
	/* A TCSETS the filters refuse would trap inside the handler. */
	sb.tty_allowed = needs & SANDBOX_NEED_TTY;
	snprintf(sb.prog, sizeof(sb.prog), "%s", prog);
	memset(sb.logged, 0, sizeof(sb.logged));
	if (mode == SANDBOX_SECCOMP_OFF)
		return 0;
#if TERN_SANITIZER
	needs |= SANDBOX_NEED_SANITIZER;
#endif
	for (int nr = 0; nr < SB_MAX_NR; nr++)
		if (!sb.names[nr])
			sb.names[nr] = seccomp_syscall_resolve_num_arch(
				SCMP_ARCH_X86_64, nr);
	for (int r = 0; r < SANDBOX_NROLES; r++) {
		ret = compile_role(r, needs, mode);
		if (ret)
			return ret;
		log_debug("seccomp", "%s: %u BPF instructions", role_names[r],
			  sb.len[r]);
	}
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	sb.ready = true;
	return 0;
#else
	(void)needs;
	(void)prog;
	(void)probe;
	sb.mode = SANDBOX_SECCOMP_OFF;
	return mode == SANDBOX_SECCOMP_OFF ? 0 : -ENOSYS;
#endif
}

void sandbox_enter(enum sandbox_role role)
{
	struct sock_fprog prog;

	if (!sb.ready || (unsigned int)role >= SANDBOX_NROLES ||
	    sb_role == (int)role)
		return;
	prog = (struct sock_fprog){ .len = sb.len[role], .filter = sb.bpf[role] };
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog)) {
		log_err("seccomp", "%s thread: installing its filter: %s; "
			"stopping", role_names[role], strerror(errno));
		_exit(1);
	}
	sb_role = role;
	if (sb.probe == (int)role)
		syscall(SYS_personality, 0xffffffffUL);
}

int sandbox_lockdown(const struct sandbox_config *cfg, const char *prog)
{
	int ret;

	/* What glibc loads on first use, loaded while files can be opened:
	 * the time zone (any gmtime_r reads /etc/localtime once, and the
	 * RTC's runs on a vCPU). */
	tzset();
	if (cfg->jail) {
		ret = jail_enter(cfg->jail);
		if (ret)
			return ret;
	}
	if (cfg->drop) {
		ret = drop_user(cfg->uid, cfg->gid);
		if (ret)
			return ret;
	}
	ret = sandbox_seccomp_init(cfg->seccomp, cfg->needs, prog, cfg->probe);
	if (ret) {
		log_err("seccomp", "%s", ret == -ENOSYS ?
			"this build has no libseccomp (use --seccomp off)" :
			strerror(-ret));
		return ret;
	}
	if (cfg->seccomp != SANDBOX_SECCOMP_OFF)
		log_info("seccomp", "filters ready (--seccomp %s)",
			 cfg->seccomp == SANDBOX_SECCOMP_LOG ? "log" : "on");
	return 0;
}
