/* The main thread's epoll loop. A watch is owned by its caller; the loop
 * keeps no table, so watches may be added or removed from any thread. */
#ifndef TERN_CORE_LOOP_H
#define TERN_CORE_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop_watch;
typedef void (*loop_cb)(struct loop_watch *w, uint32_t events);

struct loop_watch {
	int fd;
	loop_cb cb;
	void *opaque;
	bool added;
};

struct loop {
	int epfd;
	bool stop;
};

int loop_init(struct loop *l);
void loop_destroy(struct loop *l);
int loop_add(struct loop *l, struct loop_watch *w, int fd, uint32_t events,
	     loop_cb cb, void *opaque);
void loop_del(struct loop *l, struct loop_watch *w);
/* Runs until loop_stop() is called from a callback. Returns 0 or -errno. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

#endif
