/* A worker thread that runs calls for other threads, one at a time, while
 * each caller waits for its call to finish: the VM's device-control
 * thread ("devctl"). A vCPU that writes DRIVER_OK or a reset does not
 * start or stop the device itself; the worker does, so the vCPU's seccomp
 * filter needs none of what that takes (threads, io_uring rings, vhost
 * and vhost-user set-up). Lock-wise a call behaves as if the caller made
 * it: the caller is blocked holding whatever it holds, and the worker
 * takes no lock of its own around the call. */
#ifndef TERN_CORE_WORKER_H
#define TERN_CORE_WORKER_H

#include "core/sandbox.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct worker {
	char name[16];			/* the thread's name */
	enum sandbox_role role;		/* its seccomp filter */
	pthread_t thread;
	bool running;
	pthread_mutex_t lock;		/* everything below */
	pthread_cond_t cond;
	void (*fn)(void *);		/* the call posted, NULL: none */
	void *arg;
	uint64_t posted, done;		/* calls posted, calls finished */
	bool stop;
};

/* Creates the thread (named NAME, filtered as ROLE). 0 or -errno. */
int worker_start(struct worker *w, const char *name, enum sandbox_role role);
/* Runs FN(ARG) on the worker and returns when it has. With W NULL or not
 * running, or called on the worker itself, FN runs right here. */
void worker_call(struct worker *w, void (*fn)(void *), void *arg);
/* Ends the thread after the call in progress. Harmless when not running. */
void worker_stop(struct worker *w);

#endif
