/* The serial console's socket mode (platform/console.c): a vCPU writing the
 * guest's output while the main thread hangs up on the client. The vCPU
 * is held between taking the socket's descriptor and its write() (this
 * file's write() stands in for libc's and parks it there), the main
 * thread hangs up and the number is reused by a new socket: the guest's
 * bytes must not arrive on the new one. */
#include "platform/console.h"

#include "check.h"

#include <fcntl.h>
#include <poll.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int park_fd = -1;		/* the next write to it parks */
static sem_t parked, go, hung_up;

ssize_t write(int fd, const void *buf, size_t n)
{
	if (fd >= 0 && fd == __atomic_load_n(&park_fd, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&park_fd, -1, __ATOMIC_RELEASE);
		sem_post(&parked);
		sem_wait(&go);
	}
	return syscall(SYS_write, fd, buf, n);
}

static struct console con;

static void *vcpu(void *arg)
{
	struct serial_output out = console_output(&con);

	(void)arg;
	out.write(out.opaque, (const uint8_t *)"GUEST", 5);
	return NULL;
}

static void *hangup(void *arg)
{
	(void)arg;
	/* The client is gone: the input watch reads end of file. */
	con.in_watch.cb(&con.in_watch, EPOLLIN);
	sem_post(&hung_up);
	return NULL;
}

static bool sem_wait_ms(sem_t *s, int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	return sem_timedwait(s, &ts) == 0;
}

static void test_hangup_during_write(const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct loop loop;
	pthread_t v, h;
	int client, fd, sv[2] = { -1, -1 };
	char got[16];
	bool done;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/console", dir);
	CHECK_EQ(loop_init(&loop), 0);
	CHECK_EQ(console_open(&con, CONSOLE_SOCKET, sa.sun_path, &loop), 0);
	client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK_EQ(connect(client, (struct sockaddr *)&sa, sizeof(sa)), 0);
	con.listen_watch.cb(&con.listen_watch, EPOLLIN);	/* accept */
	fd = con.out_fd;
	CHECK(fd >= 0);
	if (fd < 0)
		return;

	sem_init(&parked, 0, 0);
	sem_init(&go, 0, 0);
	sem_init(&hung_up, 0, 0);
	__atomic_store_n(&park_fd, fd, __ATOMIC_RELEASE);
	CHECK_EQ(pthread_create(&v, NULL, vcpu, NULL), 0);
	CHECK(sem_wait_ms(&parked, 5000));

	/* The vCPU holds the descriptor; the client leaves. */
	close(client);
	CHECK_EQ(pthread_create(&h, NULL, hangup, NULL), 0);
	done = sem_wait_ms(&hung_up, 300);
	if (done) {
		/* The hang-up did not wait for the write: the number is
		 * free, and a new socket takes it. */
		CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
		if (sv[1] == fd) {		/* either end will do */
			sv[1] = sv[0];
			sv[0] = fd;
		}
		if (sv[0] != fd && dup2(sv[0], fd) == fd) {
			close(sv[0]);
			sv[0] = fd;
		}
	}
	sem_post(&go);
	pthread_join(v, NULL);
	if (!done) {
		/* It waited: now it goes on, and the number is reused
		 * only after the write. */
		CHECK(sem_wait_ms(&hung_up, 5000));
		CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
			 0);
	}
	pthread_join(h, NULL);
	CHECK_EQ(con.out_fd, -1);
	/* Nothing of the guest's on the new socket. */
	CHECK_EQ(recv(sv[1], got, sizeof(got), MSG_DONTWAIT), -1);
	close(sv[0]);
	close(sv[1]);
	console_close(&con);
	loop_destroy(&loop);
	unlink(sa.sun_path);
}

int main(void)
{
	char dir[] = "/tmp/tern-console-XXXXXX";

	/* tern blocks SIGPIPE; a write to the departed client must not
	 * end the test either. */
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_hangup_during_write(dir);
	rmdir(dir);
	return check_done("test_console");
}
