/* Calls handed to one thread's loop (see mailbox.h). */
#include "core/mailbox.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct mailbox_call {
	void (*fn)(void *arg);
	void *arg;
	int result;			/* 1 queued, 0 ran, -ESHUTDOWN */
	struct mailbox_call *next;
};

int mailbox_init(struct mailbox *m)
{
	int ret;

	m->head = m->tail = NULL;
	m->queued = 0;
	m->closed = false;
	m->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->fd < 0)
		return -errno;
	ret = pthread_mutex_init(&m->lock, NULL);
	if (ret)
		goto err_fd;
	ret = pthread_cond_init(&m->done, NULL);
	if (ret)
		goto err_lock;
	return 0;
err_lock:
	pthread_mutex_destroy(&m->lock);
err_fd:
	close(m->fd);
	m->fd = -1;
	return -ret;
}

void mailbox_destroy(struct mailbox *m)
{
	if (m->fd < 0)
		return;
	pthread_cond_destroy(&m->done);
	pthread_mutex_destroy(&m->lock);
	close(m->fd);
	m->fd = -1;
}

int mailbox_fd(const struct mailbox *m)
{
	return m->fd;
}

static void wake(struct mailbox *m)
{
	uint64_t one = 1;

	/* EAGAIN: the counter is full, the owner is awake anyway. */
	(void)!write(m->fd, &one, sizeof(one));
}

int mailbox_call(struct mailbox *m, void (*fn)(void *arg), void *arg)
{
	struct mailbox_call c = { .fn = fn, .arg = arg, .result = 1 };

	pthread_mutex_lock(&m->lock);
	if (m->closed) {
		pthread_mutex_unlock(&m->lock);
		return -ESHUTDOWN;
	}
	if (m->tail)
		m->tail->next = &c;
	else
		m->head = &c;
	m->tail = &c;
	m->queued++;
	wake(m);
	while (c.result == 1)
		pthread_cond_wait(&m->done, &m->lock);
	pthread_mutex_unlock(&m->lock);
	return c.result;
}

void mailbox_serve(struct mailbox *m)
{
	uint64_t v;

	(void)!read(m->fd, &v, sizeof(v));
	for (unsigned int n = 0; n < MAILBOX_BATCH; n++) {
		struct mailbox_call *c;

		pthread_mutex_lock(&m->lock);
		c = m->head;
		if (c) {
			m->queued--;
			m->head = c->next;
			if (!m->head)
				m->tail = NULL;
		}
		pthread_mutex_unlock(&m->lock);
		if (!c)
			return;
		/* The caller waits on c (its stack) until result leaves 1;
		 * the lock below orders fn's writes before its wake-up. */
		c->fn(c->arg);
		pthread_mutex_lock(&m->lock);
		c->result = 0;
		pthread_cond_broadcast(&m->done);
		pthread_mutex_unlock(&m->lock);
	}
	/* More than a batch: come back after the loop's other events. */
	pthread_mutex_lock(&m->lock);
	if (m->head)
		wake(m);
	pthread_mutex_unlock(&m->lock);
}

unsigned int mailbox_queued(struct mailbox *m)
{
	unsigned int n;

	pthread_mutex_lock(&m->lock);
	n = m->queued;
	pthread_mutex_unlock(&m->lock);
	return n;
}

void mailbox_close(struct mailbox *m)
{
	pthread_mutex_lock(&m->lock);
	m->closed = true;
	while (m->head) {
		struct mailbox_call *c = m->head;

		m->head = c->next;
		c->result = -ESHUTDOWN;
	}
	m->tail = NULL;
	m->queued = 0;
	pthread_cond_broadcast(&m->done);
	pthread_mutex_unlock(&m->lock);
}
