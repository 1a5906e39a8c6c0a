/* The device-control worker (core/worker.c): a call runs on the worker's
 * thread and the caller returns after it; calls from several threads run
 * one at a time; a call from the worker itself, or after worker_stop,
 * runs in place. */
#include "core/worker.h"

#include "check.h"

#include <pthread.h>
#include <stdatomic.h>

#define CALLERS 4
#define CALLS 2000

struct state {
	struct worker w;
	atomic_int inside;		/* calls running now */
	int overlaps;			/* a call found another running */
	int done;			/* calls finished (worker only) */
	int on_worker;			/* calls that ran on the worker */
	int nested_inline;		/* nested call ran in place */
};

static void count(void *arg)
{
	struct state *s = arg;

	if (atomic_fetch_add(&s->inside, 1))
		s->overlaps++;
	if (pthread_equal(pthread_self(), s->w.thread))
		s->on_worker++;
	s->done++;
	atomic_fetch_sub(&s->inside, 1);
}

static void note_inline(void *arg)
{
	struct state *s = arg;

	s->nested_inline = pthread_equal(pthread_self(), s->w.thread);
}

static void nested(void *arg)
{
	struct state *s = arg;

	/* From the worker itself: must not wait for itself. */
	worker_call(&s->w, note_inline, s);
}

static void *caller(void *arg)
{
	struct state *s = arg;

	for (int i = 0; i < CALLS; i++)
		worker_call(&s->w, count, s);
	return NULL;
}

int main(void)
{
	static struct state s;
	pthread_t t[CALLERS];
	int before;

	CHECK_EQ(worker_start(&s.w, "test-worker", SANDBOX_DEVCTL), 0);
	for (int i = 0; i < CALLERS; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, caller, &s), 0);
	for (int i = 0; i < CALLERS; i++)
		pthread_join(t[i], NULL);
	/* Each caller returned after its calls ran: all of them are done. */
	CHECK_EQ(s.done, CALLERS * CALLS);
	CHECK_EQ(s.on_worker, CALLERS * CALLS);
	CHECK_EQ(s.overlaps, 0);
	worker_call(&s.w, nested, &s);
	CHECK(s.nested_inline);
	worker_stop(&s.w);
	worker_stop(&s.w);		/* harmless twice */
	before = s.on_worker;
	worker_call(&s.w, count, &s);	/* stopped: in place */
	CHECK_EQ(s.on_worker, before);
	CHECK_EQ(s.done, CALLERS * CALLS + 1);
	worker_call(NULL, count, &s);	/* no worker: in place */
	CHECK_EQ(s.done, CALLERS * CALLS + 2);
	return check_done("test_worker");
}
