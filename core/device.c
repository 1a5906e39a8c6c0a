#include "core/device.h"

#include "core/log.h"
#include "core/state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void device_init(struct device *d, const struct device_ops *ops,
		 const char *id)
{
	memset(d, 0, sizeof(*d));
	d->ops = ops;
	snprintf(d->id, sizeof(d->id), "%s", id);
	d->state = DEVICE_CREATED;
}

int device_realize(struct device *d, const struct machine_host *h)
{
	int ret;

	if (d->state != DEVICE_CREATED)
		return -EBUSY;
	ret = d->ops->realize ? d->ops->realize(d, h) : 0;
	if (ret) {
		log_err(d->id, "realize: %s", strerror(-ret));
		return ret;
	}
	d->state = DEVICE_REALIZED;
	return 0;
}

int device_start(struct device *d)
{
	int ret;

	if (d->state == DEVICE_CREATED)
		return -EBUSY;
	ret = d->ops->start ? d->ops->start(d) : 0;
	if (ret)
		log_err(d->id, "start: %s", strerror(-ret));
	return ret;
}

void device_destroy(struct device *d)
{
	if (d->state == DEVICE_PAUSED)
		device_resume(d);
	if (d->state != DEVICE_CREATED && d->ops->unrealize)
		d->ops->unrealize(d);
	d->state = DEVICE_CREATED;
	if (d->ops->destroy)
		d->ops->destroy(d);
}

int device_reset(struct device *d)
{
	if (d->state != DEVICE_REALIZED)
		return -EBUSY;
	if (d->ops->reset)
		d->ops->reset(d);
	return 0;
}

/* From state FROM through OP (NULL: nothing to do) to state TO. */
static int step(struct device *d, enum device_state from, enum device_state to,
		int (*op)(struct device *d), const char *what)
{
	int ret;

	if (d->state != from)
		return -EBUSY;
	ret = op ? op(d) : 0;
	if (ret) {
		log_err(d->id, "%s: %s", what, strerror(-ret));
		return ret;
	}
	d->state = to;
	return 0;
}

int device_pause(struct device *d)
{
	return step(d, DEVICE_REALIZED, DEVICE_PAUSED, d->ops->pause, "pause");
}

int device_resume(struct device *d)
{
	return step(d, DEVICE_PAUSED, DEVICE_REALIZED, d->ops->resume,
		    "resume");
}

int device_save(struct device *d, struct state_writer *w)
{
	int ret;

	if (d->state != DEVICE_PAUSED)
		return -EBUSY;
	if (!d->ops->save)
		return -ENOTSUP;
	state_begin(w, d->ops->kind, d->id, d->ops->state_version);
	ret = d->ops->save(d, w);
	return ret ?: state_end(w);
}

int device_load(struct device *d, const void *buf, size_t len,
		size_t *used)
{
	struct state_reader *r;
	int ret;

	if (d->state != DEVICE_PAUSED)
		return -EBUSY;
	if (!d->ops->load)
		return -ENOTSUP;
	/* Large (a field table): not on a vCPU's or the loop's stack. */
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	ret = state_reader_open(r, buf, len, d->ops->kind, d->id);
	if (!ret && r->version != d->ops->state_version) {
		log_warn(d->id, "state record: version %u, this tern reads %u",
			 r->version, d->ops->state_version);
		ret = -EINVAL;
	}
	ret = ret ?: d->ops->load(d, r);
	ret = ret ?: state_reader_close(r, d->id);
	if (!ret && used)
		*used = r->record_len;
	free(r);
	return ret;
}

void device_list_add(struct device_list *l, struct device *d)
{
	d->next = NULL;
	d->prev = l->tail;
	if (l->tail)
		l->tail->next = d;
	else
		l->head = d;
	l->tail = d;
	l->n++;
}

void device_list_remove(struct device_list *l, struct device *d)
{
	if (d->prev)
		d->prev->next = d->next;
	else
		l->head = d->next;
	if (d->next)
		d->next->prev = d->prev;
	else
		l->tail = d->prev;
	d->prev = d->next = NULL;
	l->n--;
}

struct device *device_list_find(const struct device_list *l, const char *id)
{
	for (struct device *d = l->head; d; d = d->next)
		if (!strcmp(d->id, id))
			return d;
	return NULL;
}

int device_list_pause(struct device_list *l)
{
	for (struct device *d = l->head; d; d = d->next) {
		int ret = device_pause(d);

		if (ret) {
			/* Back out: those before d run again. */
			for (d = d->prev; d; d = d->prev)
				device_resume(d);
			return ret;
		}
	}
	return 0;
}

int device_list_resume(struct device_list *l)
{
	int ret = 0;

	for (struct device *d = l->tail; d; d = d->prev) {
		int r = d->state == DEVICE_PAUSED ? device_resume(d) : 0;

		ret = ret ?: r;
	}
	return ret;
}

void device_list_reset(struct device_list *l)
{
	for (struct device *d = l->head; d; d = d->next)
		device_reset(d);
}

int device_list_start(struct device_list *l)
{
	for (struct device *d = l->head; d; d = d->next) {
		int ret = device_start(d);

		if (ret)
			return ret;
	}
	return 0;
}

void device_list_destroy(struct device_list *l)
{
	while (l->tail) {
		struct device *d = l->tail;

		device_list_remove(l, d);
		device_destroy(d);
	}
}
