/* Where the guest's serial console goes: the terminal (raw while tern
 * runs, restored on exit; Ctrl-A x quits), a file, a pty, or a UNIX socket.
 * Lives across guest reboots; each VM's UART attaches to it. */
#ifndef TERN_PLATFORM_CONSOLE_H
#define TERN_PLATFORM_CONSOLE_H

#include "core/lifecycle.h"
#include "core/loop.h"
#include "platform/serial.h"

#include <pthread.h>
#include <stdbool.h>
#include <termios.h>

enum console_mode {
	CONSOLE_STDIO,
	CONSOLE_FILE,
	CONSOLE_PTY,
	CONSOLE_SOCKET,
	CONSOLE_OFF,
};

struct console {
	enum console_mode mode;
	struct loop *loop;
	int in_fd, out_fd;		/* out_fd -1: output dropped */
	int listen_fd;			/* socket mode */
	int pty_peer;			/* pty mode: our copy of the slave */
	bool raw;			/* in_fd is a tty we made raw */
	struct termios saved;
	bool escape;			/* Ctrl-A seen */
	pthread_mutex_t lock;		/* input watch vs rx_ready */
	pthread_mutex_t out_lock;	/* socket mode: a vCPU's write vs the
					 * main thread changing out_fd */
	bool in_watched;
	struct loop_watch in_watch, listen_watch;
	struct serial *uart;		/* attached UART, or NULL */
	struct vm_control ctl;		/* Ctrl-A x asks to stop */
};

int console_open(struct console *c, enum console_mode mode, const char *path,
		 struct loop *loop);
void console_close(struct console *c);
/* The output callback a UART writes through. */
struct serial_output console_output(struct console *c);
void console_attach(struct console *c, struct serial *uart,
		    struct vm_control ctl);
void console_detach(struct console *c);

#endif
