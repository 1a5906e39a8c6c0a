/* The event monitor (see events.h). */
#include "core/events.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EVENTS_MAX_PROPS 8
#define EVENTS_LINE_MAX 2048

struct events {
	int fd;
	pthread_mutex_t lock;
	uint64_t start_ns;
	char buf[EVENTS_BUF];
	size_t len;			/* bytes waiting in buf */
	_Atomic uint64_t dropped, emitted;
	uint64_t reported;		/* drops already told in a line */
	bool broken;			/* the reader is gone: stop writing */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int events_open(struct events **out, const char *path, int fd)
{
	struct events *e = calloc(1, sizeof(*e));
	int flags, ret;

	*out = NULL;
	if (!e)
		return -ENOMEM;
	if (path) {
		fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (fd < 0) {
			ret = -errno;
			log_err("events", "--event-monitor %s: %s", path,
				strerror(-ret));
			goto err_free;
		}
	}
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		ret = -errno;
		log_err("events", "--event-monitor fd %d: %s", fd,
			strerror(-ret));
		goto err_close;
	}
	e->fd = fd;
	e->start_ns = now_ns();
	pthread_mutex_init(&e->lock, NULL);
	*out = e;
	return 0;
err_close:
	if (path)
		close(fd);
err_free:
	free(e);
	return ret;
}

/* Under the lock: as much of the buffer as the reader takes now. */
static void flush_locked(struct events *e)
{
	size_t off = 0;

	while (off < e->len && !e->broken) {
		ssize_t n = write(e->fd, e->buf + off, e->len - off);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			log_warn("events", "writing events: %s; no more will "
				 "be written", strerror(errno));
			e->broken = true;
		}
		break;
	}
	memmove(e->buf, e->buf + off, e->len - off);
	e->len -= off;
}

void events_flush(struct events *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->lock);
	flush_locked(e);
	pthread_mutex_unlock(&e->lock);
}

size_t events_format(char *buf, size_t len, uint64_t ns, const char *source,
		     const char *event, const char *const *props,
		     unsigned int nprops)
{
	json_t *o, *p = json_null();
	size_t n;

	if (nprops) {
		p = json_object();
		for (unsigned int i = 0; p && i + 1 < 2 * nprops; i += 2)
			json_object_set_new(p, props[i],
					    json_string(props[i + 1] ?
							props[i + 1] : ""));
	}
	o = json_pack("{s:{s:I,s:I},s:s,s:s,s:o}", "timestamp",
		      "secs", (json_int_t)(ns / 1000000000ull),
		      "nanos", (json_int_t)(ns % 1000000000ull),
		      "source", source, "event", event, "properties", p);
	if (!o)
		return 0;
	n = json_dumpb(o, buf, len, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!n || n + 2 > len)
		return 0;
	buf[n++] = '\n';
	buf[n] = '\0';
	return n;
}

/* Under the lock: appends a line, or counts it dropped. */
static void append_locked(struct events *e, const char *line, size_t n)
{
	if (e->len + n > sizeof(e->buf)) {
		atomic_fetch_add(&e->dropped, 1);
		return;
	}
	memcpy(e->buf + e->len, line, n);
	e->len += n;
	atomic_fetch_add(&e->emitted, 1);
}

void events_emit(struct events *e, const char *source, const char *event,
		 ...)
{
	const char *props[2 * EVENTS_MAX_PROPS];
	unsigned int nprops = 0;
	char line[EVENTS_LINE_MAX];
	uint64_t ns, dropped;
	const char *k;
	va_list ap;
	size_t n;

	if (!e)
		return;
	va_start(ap, event);
	while ((k = va_arg(ap, const char *)) && nprops < EVENTS_MAX_PROPS) {
		props[2 * nprops] = k;
		props[2 * nprops + 1] = va_arg(ap, const char *);
		nprops++;
	}
	va_end(ap);
	ns = now_ns() - e->start_ns;
	n = events_format(line, sizeof(line), ns, source, event, props,
			  nprops);
	pthread_mutex_lock(&e->lock);
	flush_locked(e);
	dropped = atomic_load(&e->dropped);
	if (dropped != e->reported) {
		char count[24], note[256];
		const char *dp[2] = { "count", count };
		size_t m;

		snprintf(count, sizeof(count), "%llu",
			 (unsigned long long)(dropped - e->reported));
		m = events_format(note, sizeof(note), ns, "vmm",
				  "events-dropped", dp, 1);
		if (m && e->len + m <= sizeof(e->buf)) {
			memcpy(e->buf + e->len, note, m);
			e->len += m;
			e->reported = dropped;
		}
	}
	if (n)
		append_locked(e, line, n);
	else
		atomic_fetch_add(&e->dropped, 1);
	flush_locked(e);
	pthread_mutex_unlock(&e->lock);
}

uint64_t events_dropped(const struct events *e)
{
	return e ? atomic_load(&e->dropped) : 0;
}

uint64_t events_emitted(const struct events *e)
{
	return e ? atomic_load(&e->emitted) : 0;
}

void events_close(struct events *e)
{
	if (!e)
		return;
	events_flush(e);
	close(e->fd);
	pthread_mutex_destroy(&e->lock);
	free(e);
}
