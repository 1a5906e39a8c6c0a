/* The sandbox (core/sandbox.c): every role's filter compiles and loads, an
 * allowed call works under it, a forbidden one stops the process with the
 * message (or, in log mode, is named and made), ioctl numbers and mmap's
 * PROT_EXEC are checked, a creator's filter lets its children run, --user
 * and --jail take effect, and README's copy of the table is the table.
 * Filters are installed in forked children only. argv[1]: README.md. */
#include "core/loop.h"
#include "config.h"
#include "core/sandbox.h"
#include "core/seccomp_table.h"
#include "platform/console.h"

#include "check.h"
#include "proc_threads.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* Child exit codes for what went wrong inside it. */
#define BAD_INIT 10
#define BAD_CALL 11

/* A pipe each child makes before its filter (no role may make one). */
static int job_pipe[2];

struct run {
	int status;
	char err[8192];
};

struct job {
	enum sandbox_seccomp mode;
	unsigned int needs;
	int probe;
	enum sandbox_role role;
	void (*body)(const struct job *j);	/* runs filtered */
};

/* Runs in the next children before the filters; NULL: nothing. */
static void (*job_pre)(void);

/* A pseudo-terminal the parent keeps: a child makes it raw, the parent
 * looks at what it was left as. */
static int pty_m = -1, pty_s = -1;
static struct termios pty_cooked;
static struct console pty_con;
static struct loop pty_loop;

static void *nothing(void *arg)
{
	return arg;
}

/* Runs J in a child with stderr captured; the child ends with _exit (no
 * atexit work under a filter). */
static void run_job(const struct job *j, struct run *r)
{
	int p[2];
	size_t n = 0;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	if (pipe(p))
		return;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], STDERR_FILENO);
		pthread_t t;

		/* As in tern, a thread was made before any filter (glibc's
		 * first pthread_create installs its signal handlers). */
		if (job_pre)
			job_pre();
		if (pipe(job_pipe) || pthread_create(&t, NULL, nothing, NULL) ||
		    pthread_join(t, NULL) ||
		    sandbox_seccomp_init(j->mode, j->needs, "tern", j->probe))
			_exit(BAD_INIT);
		sandbox_enter(j->role);
		j->body(j);
		_exit(0);
	}
	close(p[1]);
	for (ssize_t got = 1; got > 0 && n < sizeof(r->err) - 1; n += got)
		got = read(p[0], r->err + n, sizeof(r->err) - 1 - n);
	r->err[n] = 0;
	close(p[0]);
	waitpid(pid, &r->status, 0);
}

static bool exited(const struct run *r, int code)
{
	return WIFEXITED(r->status) && WEXITSTATUS(r->status) == code;
}

/* --- bodies ----------------------------------------------------------- */

/* What every role may do: read and write, time, memory. */
static void allowed_calls(const struct job *j)
{
	uint64_t v = 1;
	struct timespec ts;
	void *m;

	(void)j;
	if (write(job_pipe[1], &v, sizeof(v)) != sizeof(v) ||
	    read(job_pipe[0], &v, sizeof(v)) != sizeof(v) || getpid() <= 0 ||
	    clock_gettime(CLOCK_MONOTONIC, &ts))
		_exit(BAD_CALL);
	m = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || munmap(m, 8192))
		_exit(BAD_CALL);
	free(malloc(1 << 20));	/* a big one: mmap and munmap */
}

static void forbidden_personality(const struct job *j)
{
	long a, b;

	(void)j;
	a = syscall(SYS_personality, 0xffffffffUL);
	b = syscall(SYS_personality, 0xffffffffUL);
	/* Reached in log mode only: the real answer, twice. */
	if (a < 0 || a != b)
		_exit(BAD_CALL);
}

static void ioctl_kvm_run(const struct job *j)
{
	(void)j;
	/* Allowed number, wrong fd: the kernel answers ENOTTY. */
	if (ioctl(job_pipe[0], KVM_RUN, 0) != -1 || errno != ENOTTY)
		_exit(BAD_CALL);
}

static void ioctl_tcgets(const struct job *j)
{
	struct termios t;

	(void)j;
	ioctl(0, TCGETS, &t);
}

static void mmap_exec(const struct job *j)
{
	(void)j;
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
	     -1, 0);
}

/* A file opened off the main thread (as the C library's malloc may):
 * refused with EACCES, the process goes on (exit 0; 3 if it opened, 4 if
 * it failed otherwise). */
static void open_file(const struct job *j)
{
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	(void)j;
	if (fd >= 0)
		_exit(3);
	_exit(errno == EACCES ? 0 : 4);
}

static void socket_inet(const struct job *j)
{
	(void)j;
	syscall(SYS_socket, 2 /* AF_INET */, 1, 0);
}

/* A creator's child: starts under the creator's filter, enters ROLE and
 * makes that role's own calls. */
struct child {
	enum sandbox_role role;
	int ok;
};

static void *child_main(void *arg)
{
	struct child *c = arg;
	const int *p = job_pipe;
	char b = 'x';
	struct iovec iov = { &b, 1 };

	pthread_setname_np(pthread_self(), "child");
	sandbox_enter(c->role);
	switch (c->role) {
	case SANDBOX_NET_IO:
		/* readv/writev: net-io's, not devctl's own. */
		c->ok = writev(p[1], &iov, 1) == 1 && readv(p[0], &iov, 1) == 1;
		break;
	case SANDBOX_BLK_IO:
		/* io_uring_enter on a pipe: EOPNOTSUPP, not a kill. */
		c->ok = syscall(SYS_io_uring_enter, p[0], 0, 0, 0, NULL, 0) < 0 &&
			errno == EOPNOTSUPP;
		break;
	default:
		c->ok = write(p[1], &b, 1) == 1 && read(p[0], &b, 1) == 1;
		break;
	}
	return NULL;
}

static void start_children(const struct job *j)
{
	uint32_t kids = sb_children(j->role, j->needs);

	for (int r = 0; r < SANDBOX_NROLES; r++) {
		struct child c = { .role = r };
		pthread_t t;

		if (!(kids & SB_ROLE(r)))
			continue;
		if (pthread_create(&t, NULL, child_main, &c) ||
		    pthread_join(t, NULL) || !c.ok)
			_exit(BAD_CALL);
	}
}

/* clone3 fails (ENOSYS) rather than trapping: glibc falls back to clone. */
static void clone3_enosys(const struct job *j)
{
	(void)j;
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
		_exit(BAD_CALL);
}

/* A thread its role does not create: blk-io cannot start threads. */
static void blk_io_creates(const struct job *j)
{
	struct child c = { .role = SANDBOX_BLK_IO };
	pthread_t t;

	(void)j;
	if (!pthread_create(&t, NULL, child_main, &c))
		pthread_join(t, NULL);
}

/* --- tests ------------------------------------------------------------- */

static void test_roles_load(void)
{
	for (unsigned int needs = 0; needs <= SANDBOX_NEED_ALL;
	     needs = needs ? needs << 1 : 1) {
		for (int r = 0; r < SANDBOX_NROLES; r++) {
			struct job j = { SANDBOX_SECCOMP_ON, needs, -1, r,
					 allowed_calls };
			struct run res;

			run_job(&j, &res);
			CHECK(exited(&res, 0));
			if (!exited(&res, 0))
				fprintf(stderr, "role %s needs 0x%x: status "
					"0x%x\n%s", sandbox_role_name(r), needs,
					res.status, res.err);
		}
	}
	/* Every rule at once, both modes: the counts go to the log. */
	for (int m = SANDBOX_SECCOMP_ON; m <= SANDBOX_SECCOMP_LOG; m++) {
		CHECK_EQ(sandbox_seccomp_init(m, SANDBOX_NEED_ALL, "tern", -1),
			 0);
		for (int r = 0; r < SANDBOX_NROLES; r++) {
			unsigned int n = sandbox_filter_len(r);

			CHECK(n > 4 && n <= 4096);
			if (m == SANDBOX_SECCOMP_ON)
				fprintf(stderr, "test_sandbox: %-8s %u BPF "
					"instructions (every rule)\n",
					sandbox_role_name(r), n);
		}
	}
	CHECK_EQ(sandbox_seccomp_init(SANDBOX_SECCOMP_OFF, 0, "tern", -1), 0);
	CHECK_EQ(sandbox_filter_len(SANDBOX_VCPU), 0);
}

static void test_forbidden(void)
{
	struct job j = { SANDBOX_SECCOMP_ON, 0, -1, SANDBOX_VCPU,
			 forbidden_personality };
	struct run r;

	run_job(&j, &r);
	CHECK(exited(&r, SANDBOX_EXIT_SECCOMP));
	CHECK(strstr(r.err, "tern: error: seccomp: thread vcpu called "
			    "forbidden syscall personality (nr 135); "
			    "stopping\n") != NULL);

	/* Log: named once, made twice, the process goes on. */
	j.mode = SANDBOX_SECCOMP_LOG;
	run_job(&j, &r);
	CHECK(exited(&r, 0));
	CHECK(strstr(r.err, "tern: warn: seccomp: thread vcpu called "
			    "forbidden syscall personality (nr 135); allowed "
			    "(--seccomp log)\n") != NULL);
	{
		const char *first = strstr(r.err, "syscall personality");

		CHECK(first && !strstr(first + 1, "syscall personality"));
	}

	/* The probe: entering the role is enough. */
	j = (struct job){ SANDBOX_SECCOMP_ON, 0, SANDBOX_BLK_IO,
			  SANDBOX_BLK_IO, allowed_calls };
	run_job(&j, &r);
	CHECK(exited(&r, SANDBOX_EXIT_SECCOMP));
	CHECK(strstr(r.err, "thread blk-io called forbidden syscall "
			    "personality") != NULL);

	/* A role that makes no sockets: socket traps in net-io. */
	j = (struct job){ SANDBOX_SECCOMP_ON, SANDBOX_NEED_ALL, -1,
			  SANDBOX_NET_IO, socket_inet };
	run_job(&j, &r);
	CHECK(exited(&r, SANDBOX_EXIT_SECCOMP));
	CHECK(strstr(r.err, "forbidden syscall socket") != NULL);
	/* Main may make AF_UNIX sockets (vhost-user), not AF_INET ones. */
	j.role = SANDBOX_MAIN;
	run_job(&j, &r);
	CHECK(exited(&r, SANDBOX_EXIT_SECCOMP));
	/* openat off the main thread fails with EACCES, in every such role,
	 * and stops nothing (a sanitizer build allows it everywhere, for
	 * its reports: then it opens). */
	for (int role = 0; role < SANDBOX_NROLES; role++) {
		if (role == SANDBOX_MAIN)
			continue;
		j = (struct job){ SANDBOX_SECCOMP_ON, 0, -1, role, open_file };
		run_job(&j, &r);
		CHECK(exited(&r, TERN_SANITIZER ? 3 : 0));
	}
}

static void test_arguments(void)
{
	struct job j = { SANDBOX_SECCOMP_ON, 0, -1, SANDBOX_VCPU,
			 ioctl_kvm_run };
	struct run r;

	run_job(&j, &r);
	CHECK(exited(&r, 0));
	if (!exited(&r, 0))
		fprintf(stderr, "KVM_RUN: status 0x%x\n%s", r.status, r.err);
	/* TCGETS is no vCPU's business; the line names the request. */
	j.body = ioctl_tcgets;
	run_job(&j, &r);
	CHECK(exited(&r, SANDBOX_EXIT_SECCOMP));
	CHECK(strstr(r.err, "forbidden syscall ioctl (nr 16, request "
			    "0x5401)") != NULL);
	/* Not even main's: TCSETS is, with a terminal to restore. */
	j.role = SANDBOX_MAIN;
	j.needs = SANDBOX_NEED_ALL;
	run_job(&j, &r);
	CHECK(exited(&r, SANDBOX_EXIT_SECCOMP));
	/* No new executable memory in any role. */
	for (int role = 0; role < SANDBOX_NROLES; role++) {
		j = (struct job){ SANDBOX_SECCOMP_ON, SANDBOX_NEED_ALL, -1, role,
				  mmap_exec };
		run_job(&j, &r);
		CHECK(exited(&r, SANDBOX_EXIT_SECCOMP));
		CHECK(strstr(r.err, "forbidden syscall mmap") != NULL);
	}
}

/* --- the terminal ------------------------------------------------------ */

/* The pty raw, as --serial stdio leaves a terminal, and handed to the
 * sandbox the way main does. */
static void pty_raw(void)
{
	struct termios raw = pty_cooked;

	cfmakeraw(&raw);
	if (tcsetattr(pty_s, TCSANOW, &raw))
		_exit(BAD_INIT);
	sandbox_set_tty(pty_s, &pty_cooked);
}

/* The real console on the pty as stdin/stdout: it makes it raw. */
static void pty_console(void)
{
	if (dup2(pty_s, STDIN_FILENO) < 0 || loop_init(&pty_loop) ||
	    console_open(&pty_con, CONSOLE_STDIO, NULL, &pty_loop) ||
	    !pty_con.raw)
		_exit(BAD_INIT);
}

static void console_close_body(const struct job *j)
{
	(void)j;
	console_close(&pty_con);
}

static bool pty_is_cooked(void)
{
	struct termios now;

	return !tcgetattr(pty_s, &now) && (now.c_lflag & ICANON) &&
	       (now.c_lflag & ECHO) && (now.c_oflag & OPOST);
}

static bool pty_reset(void)
{
	return !tcsetattr(pty_s, TCSANOW, &pty_cooked) && pty_is_cooked();
}

static void test_tty(void)
{
	struct job j = { SANDBOX_SECCOMP_ON, SANDBOX_NEED_TTY, -1,
			 SANDBOX_VCPU, forbidden_personality };
	struct run r;

	if (openpty(&pty_m, &pty_s, NULL, NULL, NULL) ||
	    tcgetattr(pty_s, &pty_cooked)) {
		fprintf(stderr, "test_sandbox: no pty: terminal tests "
			"skipped\n");
		return;
	}
	CHECK(pty_is_cooked());
	job_pre = pty_raw;
	/* A vCPU's forbidden call: the process stops, the terminal is
	 * given back first. */
	run_job(&j, &r);
	CHECK(exited(&r, SANDBOX_EXIT_SECCOMP));
	CHECK(pty_is_cooked());
	/* From a thread of another role, too. */
	CHECK(pty_reset());
	j.role = SANDBOX_NET_IO;
	run_job(&j, &r);
	CHECK(exited(&r, SANDBOX_EXIT_SECCOMP));
	CHECK(pty_is_cooked());
	/* Main's normal exit under its filter: console_close restores the
	 * terminal and the process lives to exit 0. */
	CHECK(pty_reset());
	job_pre = pty_console;
	j = (struct job){ SANDBOX_SECCOMP_ON, SANDBOX_NEED_TTY, -1,
			  SANDBOX_MAIN, console_close_body };
	run_job(&j, &r);
	CHECK(exited(&r, 0));
	if (!exited(&r, 0))
		fprintf(stderr, "console_close: status 0x%x\n%s", r.status,
			r.err);
	CHECK(pty_is_cooked());
	/* Filters built without a terminal to restore refuse TCSETS, so
	 * the handler leaves it alone (a trap inside it would kill the
	 * process without the line and the status). */
	CHECK(pty_reset());
	job_pre = pty_raw;
	j = (struct job){ SANDBOX_SECCOMP_ON, 0, -1, SANDBOX_VCPU,
			  forbidden_personality };
	run_job(&j, &r);
	CHECK(exited(&r, SANDBOX_EXIT_SECCOMP));
	CHECK(!pty_is_cooked());
	job_pre = NULL;
	close(pty_m);
	close(pty_s);
}

static void test_threads(void)
{
	struct run r;

	/* Each creator's children run their own role's calls. */
	for (int role = 0; role < SANDBOX_NROLES; role++) {
		struct job j = { SANDBOX_SECCOMP_ON, SANDBOX_NEED_ALL, -1, role,
				 start_children };

		if (!sb_children(role, SANDBOX_NEED_ALL))
			continue;
		run_job(&j, &r);
		CHECK(exited(&r, 0));
		if (!exited(&r, 0))
			fprintf(stderr, "children of %s: status 0x%x\n%s",
				sandbox_role_name(role), r.status, r.err);
	}
	{
		struct job j = { SANDBOX_SECCOMP_ON, 0, -1, SANDBOX_DEVCTL,
				 clone3_enosys };

		run_job(&j, &r);
		CHECK(exited(&r, 0));
	}
	{
		struct job j = { SANDBOX_SECCOMP_ON, 0, -1, SANDBOX_BLK_IO,
				 blk_io_creates };

		/* glibc blocks every signal around clone: a forbidden clone3
		 * then cannot run the handler and the kernel kills with
		 * SIGSYS itself, without the line. Stopped either way. */
		run_job(&j, &r);
		CHECK(exited(&r, SANDBOX_EXIT_SECCOMP) ||
		      (WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGSYS));
	}
}

static void test_user_parse(void)
{
	uid_t u = 1;
	gid_t g = 1;

	CHECK_EQ(sandbox_user_parse("1000:1001", &u, &g), 0);
	CHECK_EQ(u, 1000);
	CHECK_EQ(g, 1001);
	CHECK_EQ(sandbox_user_parse("0:1", &u, &g), -EPERM);
	CHECK_EQ(sandbox_user_parse("1:0", &u, &g), -EPERM);
	CHECK_EQ(sandbox_user_parse("root", &u, &g), -EPERM);
	CHECK_EQ(sandbox_user_parse("no-such-user-tern", &u, &g), -ENOENT);
	CHECK_EQ(sandbox_user_parse("", &u, &g), -EINVAL);
	CHECK_EQ(sandbox_user_parse("12:", &u, &g), -EINVAL);
	CHECK_EQ(sandbox_user_parse(":12", &u, &g), -EINVAL);
	CHECK_EQ(sandbox_user_parse("x1:2", &u, &g), -EINVAL);
	CHECK_EQ(sandbox_user_parse("1:2:3", &u, &g), -EINVAL);
	CHECK_EQ(sandbox_user_parse("4294967295:1", &u, &g), -EINVAL);
	if (sandbox_user_parse("nobody", &u, &g) == 0)
		CHECK(u != 0 && g != 0);
	CHECK_STR(sandbox_role_name(SANDBOX_NET_CTRL), "net-ctrl");
	CHECK_EQ(sandbox_role_parse("devctl"), SANDBOX_DEVCTL);
	CHECK_EQ(sandbox_role_parse("tern-blk"), SANDBOX_BLKD);
	CHECK_EQ(sandbox_role_parse("vcpu0"), -EINVAL);
	CHECK(sandbox_role_name(SANDBOX_NROLES) == NULL);
}

/* --user and --jail: root only (the test host and CI run as root). */
static void test_user_jail(void)
{
	char dir[] = "/tmp/tern-jail-XXXXXX", marker[64];
	struct run r = { 0 };
	int p[2];
	pid_t pid;

	if (geteuid() != 0) {
		fprintf(stderr, "test_sandbox: not root, --user and --jail "
			"untested\n");
		return;
	}
	if (!mkdtemp(dir) || chmod(dir, 0755) || pipe(p))
		return;
	snprintf(marker, sizeof(marker), "%s/jail-marker", dir);
	close(open(marker, O_CREAT | O_WRONLY, 0644));
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct sandbox_config sc = {
			.seccomp = SANDBOX_SECCOMP_OFF, .probe = -1,
			.jail = dir, .drop = true, .uid = 65534, .gid = 65534,
		};
		int code = 0;

		close(p[0]);
		dup2(p[1], STDERR_FILENO);
		if (sandbox_lockdown(&sc, "tern"))
			_exit(BAD_INIT);
		/* Inside: the marker at the root, nothing of the host. */
		if (access("/jail-marker", F_OK))
			code |= 1;
		if (!access("/etc", F_OK) || !access("/proc", F_OK))
			code |= 16;
		if (getuid() != 65534 || geteuid() != 65534 ||
		    getgid() != 65534 || getegid() != 65534 ||
		    getgroups(0, NULL) != 0)
			code |= 2;
		if (!prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0))
			code |= 4;
		/* Root's powers are gone: no way back, no chown, no chroot. */
		if (!setuid(0) || !chroot("/"))
			code |= 8;
		_exit(code ? 40 + code : 0);
	}
	close(p[1]);
	{
		size_t n = 0;

		for (ssize_t got = 1; got > 0 && n < sizeof(r.err) - 1;
		     n += got)
			got = read(p[0], r.err + n, sizeof(r.err) - 1 - n);
		r.err[n] = 0;
	}
	close(p[0]);
	waitpid(pid, &r.status, 0);
	CHECK(exited(&r, 0));
	if (!exited(&r, 0))
		fprintf(stderr, "user+jail: status 0x%x\n%s", r.status, r.err);
	unlink(marker);
	rmdir(dir);

	/* The user alone, with filters: the capability sets, as the kernel
	 * shows them. */
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		struct sandbox_config sc = {
			.seccomp = SANDBOX_SECCOMP_OFF, .probe = -1,
			.drop = true, .uid = 65534, .gid = 65534,
		};

		if (sandbox_lockdown(&sc, "tern"))
			_exit(BAD_INIT);
		_exit(proc_status_is(getpid(), "CapEff:", "0000000000000000") &&
		      proc_status_is(getpid(), "CapPrm:", "0000000000000000") &&
		      proc_status_is(getpid(), "CapInh:", "0000000000000000") &&
		      proc_status_is(getpid(), "CapBnd:", "0000000000000000") &&
		      proc_status_is(getpid(), "CapAmb:", "0000000000000000") &&
		      proc_status_is(getpid(), "NoNewPrivs:", "1") ? 0 : 50);
	}
	waitpid(pid, &r.status, 0);
	CHECK(exited(&r, 0));
}

/* README's table is the one `tern --seccomp-list` prints. */
static void test_readme(const char *path)
{
	static const char begin[] = "<!-- seccomp-table: generated by tern "
				    "--seccomp-list -->\n";
	static const char end[] = "<!-- /seccomp-table -->";
	char *readme = NULL, *want = NULL, *from, *to;
	size_t rlen = 0, wlen = 0;
	FILE *f = fopen(path, "r"), *m = open_memstream(&want, &wlen);

	CHECK(f != NULL);
	if (!f || !m)
		return;
	{
		FILE *all = open_memstream(&readme, &rlen);
		char buf[4096];
		size_t n;

		while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
			fwrite(buf, 1, n, all);
		fclose(all);
	}
	fclose(f);
	sandbox_table_markdown(m);
	fclose(m);
	from = strstr(readme, begin);
	to = from ? strstr(from, end) : NULL;
	CHECK(from && to);
	if (from && to) {
		from += strlen(begin);
		CHECK((size_t)(to - from) == wlen && !memcmp(from, want, wlen));
		if ((size_t)(to - from) != wlen || memcmp(from, want, wlen))
			fprintf(stderr, "README.md's seccomp table differs "
				"from the rules: paste `tern --seccomp-list` "
				"between its markers\n");
	}
	free(readme);
	free(want);
}

int main(int argc, char **argv)
{
	if (!sandbox_seccomp_available()) {
		fprintf(stderr, "test_sandbox: built without libseccomp\n");
		CHECK_EQ(sandbox_seccomp_init(SANDBOX_SECCOMP_ON, 0, "tern", -1),
			 -ENOSYS);
		test_user_parse();
		return check_failures ? 1 : CHECK_EXIT_SKIP;
	}
	test_roles_load();
	test_forbidden();
	test_arguments();
	test_tty();
	test_threads();
	test_user_parse();
	test_user_jail();
	if (argc > 1)
		test_readme(argv[1]);
	else
		CHECK(!"README.md path missing");
	return check_done("test_sandbox");
}
