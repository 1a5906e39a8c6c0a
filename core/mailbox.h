/* Calls handed to one thread's loop: another thread queues a function and
 * waits until the owner has run it. How the control API changes the VM:
 * the API thread posts the operation and waits; the main loop runs it
 * between its other events, so the VM has one writer and no vCPU or I/O
 * thread ever waits on an API client.
 *
 * The owner watches mailbox_fd() (an eventfd, readable while calls are
 * queued) and calls mailbox_serve(), which runs at most MAILBOX_BATCH
 * calls and leaves the fd readable when more wait (bounded work per
 * wake-up). mailbox_close() fails every queued and later call with
 * -ESHUTDOWN, so a caller never waits on an owner that has gone. */
#ifndef TERN_CORE_MAILBOX_H
#define TERN_CORE_MAILBOX_H

#include <pthread.h>
#include <stdbool.h>

#define MAILBOX_BATCH 8

struct mailbox_call;

struct mailbox {
	pthread_mutex_t lock;
	pthread_cond_t done;		/* a call finished or was failed */
	struct mailbox_call *head, *tail;
	unsigned int queued;		/* calls in the list */
	int fd;				/* eventfd */
	bool closed;
};

int mailbox_init(struct mailbox *m);
/* Closes the fd; the mailbox must be closed and no caller inside. */
void mailbox_destroy(struct mailbox *m);

/* From a thread other than the owner: runs FN(ARG) on the owner's thread
 * and returns once it has (0), or -ESHUTDOWN if the mailbox is or gets
 * closed before it ran. */
int mailbox_call(struct mailbox *m, void (*fn)(void *arg), void *arg);

/* On the owner's thread: runs up to MAILBOX_BATCH queued calls, in order. */
void mailbox_serve(struct mailbox *m);
int mailbox_fd(const struct mailbox *m);
/* Calls waiting now (tests). */
unsigned int mailbox_queued(struct mailbox *m);

/* Fails what is queued and every later call (-ESHUTDOWN). */
void mailbox_close(struct mailbox *m);

#endif
