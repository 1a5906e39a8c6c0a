/* The main-loop handoff (core/mailbox.c): calls posted from other threads
 * run on the owner's thread, each caller's in order, and the caller
 * returns only after its call ran (it sees what the call wrote); the
 * owner runs at most MAILBOX_BATCH per serve and is woken again for the
 * rest; closing fails what is queued and what comes later with
 * -ESHUTDOWN, and no caller is left waiting. */
#include "core/loop.h"
#include "core/mailbox.h"
#include "tests/unit/check.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <unistd.h>

#define CALLERS 4
#define CALLS 200

struct owner {
	struct mailbox mb;
	struct loop loop;
	struct loop_watch w;
	pthread_t self;
	atomic_bool stop;
	unsigned int ran_elsewhere;
	unsigned int last[CALLERS];	/* last sequence seen per caller */
	unsigned int out_of_order;
};

struct job {
	struct owner *o;
	unsigned int caller, seq;
	int result;			/* written by the call */
};

static void job_fn(void *arg)
{
	struct job *j = arg;
	struct owner *o = j->o;

	if (!pthread_equal(pthread_self(), o->self))
		o->ran_elsewhere++;
	if (j->seq != o->last[j->caller] + 1)
		o->out_of_order++;
	o->last[j->caller] = j->seq;
	j->result = (int)(j->caller * 1000 + j->seq);
}

static void on_mail(struct loop_watch *w, uint32_t ev)
{
	mailbox_serve(w->opaque);
}

static void *owner_main(void *arg)
{
	struct owner *o = arg;
	struct epoll_event e;

	while (!atomic_load(&o->stop)) {
		/* One loop turn at a time so stop is seen. */
		int n = epoll_wait(o->loop.epfd, &e, 1, 20);

		if (n == 1) {
			struct loop_watch *w = e.data.ptr;

			w->cb(w, e.events);
		}
	}
	return NULL;
}

struct caller {
	struct owner *o;
	unsigned int id;
	unsigned int wrong;
};

static void *caller_main(void *arg)
{
	struct caller *c = arg;

	for (unsigned int s = 1; s <= CALLS; s++) {
		struct job j = { c->o, c->id, s, -1 };

		if (mailbox_call(&c->o->mb, job_fn, &j) ||
		    j.result != (int)(c->id * 1000 + s))
			c->wrong++;
	}
	return NULL;
}

static void test_many_callers(void)
{
	struct owner o = { 0 };
	struct caller c[CALLERS];
	pthread_t t[CALLERS], ot;

	CHECK_EQ(mailbox_init(&o.mb), 0);
	CHECK_EQ(loop_init(&o.loop), 0);
	CHECK_EQ(loop_add(&o.loop, &o.w, mailbox_fd(&o.mb), EPOLLIN, on_mail,
			  &o.mb), 0);
	pthread_create(&ot, NULL, owner_main, &o);
	o.self = ot;
	for (unsigned int i = 0; i < CALLERS; i++) {
		c[i] = (struct caller){ &o, i, 0 };
		pthread_create(&t[i], NULL, caller_main, &c[i]);
	}
	for (unsigned int i = 0; i < CALLERS; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ(c[i].wrong, 0);
		CHECK_EQ(o.last[i], CALLS);
	}
	CHECK_EQ(o.ran_elsewhere, 0);
	CHECK_EQ(o.out_of_order, 0);
	atomic_store(&o.stop, true);
	pthread_join(ot, NULL);
	mailbox_close(&o.mb);
	loop_del(&o.loop, &o.w);
	loop_destroy(&o.loop);
	mailbox_destroy(&o.mb);
}

/* Callers queued while nobody serves: a serve runs MAILBOX_BATCH, leaves
 * the fd readable for the rest; close fails the rest. */
struct waiter {
	struct mailbox *mb;
	struct job j;
	int ret;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;

	w->ret = mailbox_call(w->mb, job_fn, &w->j);
	return NULL;
}

static void test_batch_and_close(void)
{
	enum { N = MAILBOX_BATCH + 3 };
	struct owner o = { 0 };
	struct waiter w[N];
	pthread_t t[N];
	struct pollfd p;
	unsigned int ran = 0, failed = 0;

	CHECK_EQ(mailbox_init(&o.mb), 0);
	o.self = pthread_self();
	/* Order is not checked here (the threads queue in any order). */
	for (unsigned int i = 0; i < N; i++)
		w[i] = (struct waiter){ &o.mb, { &o, 0, 0, -1 }, 1 };
	for (unsigned int i = 0; i < N; i++)
		pthread_create(&t[i], NULL, waiter_main, &w[i]);
	/* Until all are queued (nobody serves yet). */
	while (mailbox_queued(&o.mb) < N)
		usleep(1000);
	p = (struct pollfd){ .fd = mailbox_fd(&o.mb), .events = POLLIN };
	CHECK_EQ(poll(&p, 1, 0), 1);
	mailbox_serve(&o.mb);
	p.revents = 0;
	CHECK_EQ(poll(&p, 1, 0), 1);	/* more wait: woken again */
	mailbox_close(&o.mb);
	for (unsigned int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		if (w[i].ret == 0) {
			ran++;
			CHECK_EQ(w[i].j.result, 0);
		} else {
			failed++;
			CHECK_EQ(w[i].ret, -ESHUTDOWN);
			CHECK_EQ(w[i].j.result, -1);	/* never ran */
		}
	}
	CHECK_EQ(ran, MAILBOX_BATCH);
	CHECK_EQ(failed, N - MAILBOX_BATCH);
	/* Later calls fail at once. */
	{
		struct job j = { &o, 0, 0, -1 };

		CHECK_EQ(mailbox_call(&o.mb, job_fn, &j), -ESHUTDOWN);
		CHECK_EQ(j.result, -1);
	}
	mailbox_destroy(&o.mb);
}

int main(void)
{
	test_many_callers();
	test_batch_and_close();
	return check_done("test_mailbox");
}
