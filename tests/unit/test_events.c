/* The event monitor (core/events.c): each line is one JSON object in
 * Cloud Hypervisor's shape (timestamp {secs, nanos}, source, event,
 * properties null or strings); an emitter facing a reader that reads
 * nothing returns anyway, the lines that did not fit are counted, and
 * once the reader catches up an "events-dropped" line says how many went
 * missing and later lines follow it. */
#include "core/events.h"
#include "tests/unit/check.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

static void test_format(void)
{
	const char *props[] = { "id", "disk0", "bdf", "0000:00:03.0" };
	char line[512];
	json_t *o, *p;
	size_t n;

	n = events_format(line, sizeof(line), 3 * 1000000000ull + 42, "vm",
			  "paused", NULL, 0);
	CHECK(n > 0 && line[n - 1] == '\n' && strlen(line) == n);
	o = json_loads(line, 0, NULL);
	CHECK(o != NULL);
	CHECK_EQ(json_integer_value(json_object_get(
			 json_object_get(o, "timestamp"), "secs")), 3);
	CHECK_EQ(json_integer_value(json_object_get(
			 json_object_get(o, "timestamp"), "nanos")), 42);
	CHECK(!strcmp(json_string_value(json_object_get(o, "source")), "vm"));
	CHECK(!strcmp(json_string_value(json_object_get(o, "event")),
		      "paused"));
	CHECK(json_is_null(json_object_get(o, "properties")));
	json_decref(o);

	n = events_format(line, sizeof(line), 0, "vm", "device-added", props,
			  2);
	o = json_loads(line, 0, NULL);
	p = json_object_get(o, "properties");
	CHECK(json_is_object(p) && json_object_size(p) == 2);
	CHECK(!strcmp(json_string_value(json_object_get(p, "bdf")),
		      "0000:00:03.0"));
	json_decref(o);
	/* Too small a buffer: nothing, not half a line. */
	CHECK_EQ(events_format(line, 20, 0, "vm", "paused", NULL, 0), 0);
}

/* Every line of TEXT parses; returns how many, the last event's name in
 * LAST, and the sum of events-dropped counts. */
static unsigned int lines(char *text, char *last, size_t lastlen,
			  unsigned long *dropped_told)
{
	unsigned int n = 0;

	*dropped_told = 0;
	for (char *l = strtok(text, "\n"); l; l = strtok(NULL, "\n")) {
		json_t *o = json_loads(l, 0, NULL);
		const char *ev;

		CHECK(o != NULL);
		if (!o)
			continue;
		ev = json_string_value(json_object_get(o, "event"));
		snprintf(last, lastlen, "%s", ev ? ev : "");
		if (ev && !strcmp(ev, "events-dropped"))
			*dropped_told += strtoul(json_string_value(
				json_object_get(json_object_get(o,
					"properties"), "count")), NULL, 10);
		json_decref(o);
		n++;
	}
	return n;
}

static void test_file(void)
{
	char dir[] = "/tmp/tern-events-XXXXXX", path[64], buf[4096], last[64];
	unsigned long told;
	struct events *e;
	ssize_t n;
	int fd;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/ev", dir);
	CHECK_EQ(events_open(&e, path, -1), 0);
	events_emit(e, "vmm", "starting", NULL);
	events_emit(e, "vm", "device-added", "id", "disk1", NULL);
	events_close(e);
	fd = open(path, O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	CHECK(n > 0);
	buf[n > 0 ? n : 0] = '\0';
	CHECK_EQ(lines(buf, last, sizeof(last), &told), 2);
	CHECK(!strcmp(last, "device-added"));
	unlink(path);
	rmdir(dir);
	/* A path that cannot be opened is an error, not a crash. */
	CHECK(events_open(&e, "/nonexistent/dir/ev", -1) < 0);
}

static void test_slow_reader(void)
{
	enum { TOTAL = 20000 };
	struct events *e;
	char *all, last[64];
	size_t len = 0, cap = 8 << 20;
	unsigned long told;
	uint64_t emitted, dropped;
	int p[2];

	CHECK_EQ(pipe(p), 0);
	CHECK_EQ(events_open(&e, NULL, p[1]), 0);
	/* Nobody reads: each emit must return anyway. */
	for (unsigned int i = 0; i < TOTAL; i++)
		events_emit(e, "vm", "counter", "i", "some value", NULL);
	emitted = events_emitted(e);
	dropped = events_dropped(e);
	CHECK(dropped > 0);
	CHECK_EQ(emitted + dropped, TOTAL);
	/* The reader catches up; one more event tells of the drops. */
	all = malloc(cap);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	for (;;) {
		ssize_t n = read(p[0], all + len, cap - len - 1);

		if (n <= 0) {
			events_flush(e);
			n = read(p[0], all + len, cap - len - 1);
			if (n <= 0)
				break;
		}
		len += (size_t)n;
	}
	events_emit(e, "vm", "resumed", NULL);
	{
		ssize_t n = read(p[0], all + len, cap - len - 1);

		CHECK(n > 0);
		len += n > 0 ? (size_t)n : 0;
	}
	all[len] = '\0';
	CHECK_EQ(lines(all, last, sizeof(last), &told), emitted + 2);
	CHECK_EQ(told, dropped);
	CHECK(!strcmp(last, "resumed"));
	free(all);
	events_close(e);	/* closes p[1] */
	close(p[0]);
	/* NULL is a no-op everywhere. */
	events_emit(NULL, "vm", "x", NULL);
	events_flush(NULL);
	CHECK_EQ(events_dropped(NULL), 0);
}

int main(void)
{
	test_format();
	test_file();
	test_slow_reader();
	return check_done("test_events");
}
