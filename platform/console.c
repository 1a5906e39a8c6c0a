#include "platform/console.h"

#include "core/log.h"
#include "core/sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CTRL_A 0x01

static void console_watch_input(struct console *c, bool on)
{
	pthread_mutex_lock(&c->lock);
	if (on && !c->in_watched && c->in_fd >= 0)
		c->in_watched = !loop_add(c->loop, &c->in_watch, c->in_fd,
					  EPOLLIN, c->in_watch.cb, c);
	else if (!on && c->in_watched) {
		loop_del(c->loop, &c->in_watch);
		c->in_watched = false;
	}
	pthread_mutex_unlock(&c->lock);
}

/* The UART drained its buffer: start reading input again. vCPU thread. */
static void console_rx_ready(void *opaque)
{
	console_watch_input(opaque, true);
}

static void console_hangup(struct console *c)
{
	console_watch_input(c, false);
	if (c->mode == CONSOLE_SOCKET) {
		/* Not while a vCPU writes to it: the number could be reused
		 * at once, and the guest's bytes go to whatever took it. */
		pthread_mutex_lock(&c->out_lock);
		close(c->in_fd);
		c->in_fd = c->out_fd = -1;
		pthread_mutex_unlock(&c->out_lock);
	}
}

static void console_input(struct loop_watch *w, uint32_t events)
{
	struct console *c = w->opaque;
	uint8_t buf[256], *p = buf;
	size_t room, taken;
	ssize_t n;

	room = c->uart ? serial_rx_room(c->uart) : sizeof(buf);
	if (room == 0) {
		/* Full: stop polling until the guest reads. */
		console_watch_input(c, false);
		return;
	}
	n = read(c->in_fd, buf, room < sizeof(buf) ? room : sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		console_hangup(c);
		return;
	}
	if (c->mode == CONSOLE_STDIO) {
		/* Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A. */
		size_t out = 0;

		for (ssize_t i = 0; i < n; i++) {
			if (c->escape) {
				c->escape = false;
				if (buf[i] == 'x') {
					vm_control_request(&c->ctl, VM_REQ_STOP);
					return;
				}
				if (buf[i] != CTRL_A)
					continue;
			} else if (buf[i] == CTRL_A) {
				c->escape = true;
				continue;
			}
			buf[out++] = buf[i];
		}
		n = (ssize_t)out;
	}
	if (!c->uart)
		return;
	taken = serial_receive(c->uart, p, (size_t)n);
	if (taken < (size_t)n)
		log_warn("serial0", "input buffer full, %zu bytes dropped",
			 (size_t)n - taken);
}

static void console_accept(struct loop_watch *w, uint32_t events)
{
	struct console *c = w->opaque;
	int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	if (c->in_fd >= 0) {
		/* One client at a time; the newcomer is told no by EOF. */
		close(fd);
		return;
	}
	pthread_mutex_lock(&c->out_lock);
	c->in_fd = c->out_fd = fd;
	pthread_mutex_unlock(&c->out_lock);
	console_watch_input(c, true);
}

/* vCPU thread. A console socket's descriptor changes when a client
 * comes or goes, so it is used under out_lock (the socket is non-blocking:
 * the lock is held for one short write). The other modes' descriptor is
 * fixed, and stdout may block: no lock there, so a stdout nobody reads
 * stalls only the vCPU that writes. */
static ssize_t console_write(void *opaque, const uint8_t *buf, size_t len)
{
	struct console *c = opaque;
	bool locked = c->mode == CONSOLE_SOCKET;
	size_t done = 0;

	if (locked)
		pthread_mutex_lock(&c->out_lock);
	while (done < len && c->out_fd >= 0) {
		ssize_t n = write(c->out_fd, buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;	/* full pty, gone client: output is dropped */
		done += (size_t)n;
	}
	if (locked)
		pthread_mutex_unlock(&c->out_lock);
	return (ssize_t)len;
}

struct serial_output console_output(struct console *c)
{
	return (struct serial_output){ console_write, c };
}

static int open_socket(struct console *c, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int ret;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
					       SOCK_NONBLOCK, 0);
	if (c->listen_fd < 0)
		return -errno;
	unlink(path);
	if (bind(c->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(c->listen_fd, 1) < 0)
		return -errno;
	ret = loop_add(c->loop, &c->listen_watch, c->listen_fd, EPOLLIN,
		       console_accept, c);
	return ret;
}

int console_open(struct console *c, enum console_mode mode, const char *path,
		 struct loop *loop)
{
	int ret = 0;

	memset(c, 0, sizeof(*c));
	c->mode = mode;
	c->loop = loop;
	c->in_fd = c->out_fd = c->listen_fd = c->pty_peer = -1;
	c->in_watch.cb = console_input;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->out_lock, NULL);

	switch (mode) {
	case CONSOLE_STDIO:
		c->in_fd = STDIN_FILENO;
		c->out_fd = STDOUT_FILENO;
		if (isatty(c->in_fd) && tcgetattr(c->in_fd, &c->saved) == 0) {
			struct termios raw = c->saved;

			cfmakeraw(&raw);
			/* Keep output post-processing: the guest's \n
			 * already comes as \r\n, raw output is right. */
			if (tcsetattr(c->in_fd, TCSANOW, &raw) == 0)
				c->raw = true;
		}
		break;
	case CONSOLE_FILE:
		c->out_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
				 0644);
		if (c->out_fd < 0)
			ret = -errno;
		break;
	case CONSOLE_PTY: {
		int peer;
		char name[64];

		if (openpty(&c->in_fd, &peer, name, NULL, NULL) < 0) {
			ret = -errno;
			break;
		}
		/* Kept open so the master never reads EIO/HUP while no
		 * one is attached. */
		c->pty_peer = peer;
		fcntl(peer, F_SETFD, FD_CLOEXEC);
		fcntl(c->in_fd, F_SETFL, O_NONBLOCK);
		fcntl(c->in_fd, F_SETFD, FD_CLOEXEC);
		c->out_fd = c->in_fd;
		log_info("serial0", "console on %s", name);
		break;
	}
	case CONSOLE_SOCKET:
		ret = open_socket(c, path);
		if (!ret)
			log_info("serial0", "console on socket %s", path);
		break;
	case CONSOLE_OFF:
		break;
	}
	if (ret) {
		log_err("serial0", "opening console %s: %s", path ? path : "",
			strerror(-ret));
		console_close(c);
		return ret;
	}
	console_watch_input(c, true);
	return 0;
}

void console_attach(struct console *c, struct serial *uart,
		    struct vm_control ctl)
{
	c->uart = uart;
	c->ctl = ctl;
	serial_set_rx_ready(uart, console_rx_ready, c);
	console_watch_input(c, true);
}

void console_detach(struct console *c)
{
	c->uart = NULL;
	c->ctl = (struct vm_control){ 0 };
}

void console_close(struct console *c)
{
	console_watch_input(c, false);
	loop_del(c->loop, &c->listen_watch);
	/* Not tcsetattr: glibc's reads the settings back (TCGETS), which
	 * main's filter refuses; one TCSETS is what it allows. */
	if (c->raw && sandbox_tty_restore(c->in_fd, &c->saved))
		log_warn("serial0", "restoring the terminal: %s",
			 strerror(errno));
	c->raw = false;
	if (c->mode != CONSOLE_STDIO) {
		if (c->in_fd >= 0)
			close(c->in_fd);
		if (c->out_fd >= 0 && c->out_fd != c->in_fd)
			close(c->out_fd);
	}
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	if (c->pty_peer >= 0)
		close(c->pty_peer);
	c->in_fd = c->out_fd = c->listen_fd = c->pty_peer = -1;
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->out_lock);
}
