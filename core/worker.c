#include "core/worker.h"

#include "core/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	pthread_setname_np(pthread_self(), w->name);
	sandbox_enter(w->role);
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->fn && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->fn)
			break;		/* stop, and nothing posted */
		void (*fn)(void *) = w->fn;
		void *fa = w->arg;

		pthread_mutex_unlock(&w->lock);
		fn(fa);
		pthread_mutex_lock(&w->lock);
		w->fn = NULL;
		w->done++;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int worker_start(struct worker *w, const char *name, enum sandbox_role role)
{
	int ret;

	memset(w, 0, sizeof(*w));
	snprintf(w->name, sizeof(w->name), "%s", name);
	w->role = role;
	ret = -pthread_mutex_init(&w->lock, NULL);
	if (ret)
		return ret;
	ret = -pthread_cond_init(&w->cond, NULL);
	if (ret)
		goto err_lock;
	ret = -pthread_create(&w->thread, NULL, worker_main, w);
	if (ret)
		goto err_cond;
	w->running = true;
	return 0;
err_cond:
	pthread_cond_destroy(&w->cond);
err_lock:
	pthread_mutex_destroy(&w->lock);
	log_err(name, "starting the thread: %s", strerror(-ret));
	return ret;
}

void worker_call(struct worker *w, void (*fn)(void *), void *arg)
{
	uint64_t mine;

	if (!w || !w->running || pthread_equal(pthread_self(), w->thread)) {
		fn(arg);
		return;
	}
	pthread_mutex_lock(&w->lock);
	/* One call at a time: wait for the slot, post, wait for it. */
	while (w->fn)
		pthread_cond_wait(&w->cond, &w->lock);
	w->fn = fn;
	w->arg = arg;
	mine = ++w->posted;
	pthread_cond_broadcast(&w->cond);
	while (w->done < mine)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

void worker_stop(struct worker *w)
{
	if (!w->running)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	w->running = false;
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
}
