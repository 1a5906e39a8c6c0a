/* The event monitor (--event-monitor path=PATH|fd=N): one JSON object per
 * line for what happens to the VMM, the VM and its devices, in Cloud
 * Hypervisor's shape:
 *
 *   {"timestamp":{"secs":1,"nanos":52000},"source":"vm","event":"paused",
 *    "properties":null}
 *
 * timestamp: time since the monitor opened (CLOCK_MONOTONIC); source:
 * "vmm", "vm", "virtio-device", "vhost-user"...; properties: null or an
 * object of strings.
 *
 * An emitter never waits for the reader: lines go into a bounded buffer
 * (EVENTS_BUF bytes) that is written out non-blocking on every emit and
 * on events_flush(); a line that does not fit is dropped and counted, and
 * once the buffer has room again an "events-dropped" line says how many.
 * Any thread may emit; NULL for the monitor is a no-op, so callers need
 * no check. */
#ifndef TERN_CORE_EVENTS_H
#define TERN_CORE_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#define EVENTS_BUF (64 * 1024)

struct events;

/* Opens PATH (created, appended to) or, with PATH NULL, takes FD (made
 * non-blocking; closed by events_close). 0 or -errno. */
int events_open(struct events **out, const char *path, int fd);
void events_close(struct events *e);

/* One line. PROPS: NULL, or name/value string pairs ending with NULL:
 * events_emit(e, "vm", "device-added", "id", "disk1", NULL). */
void events_emit(struct events *e, const char *source, const char *event,
		 ...) __attribute__((sentinel));
/* Writes out what the buffer holds, without blocking. */
void events_flush(struct events *e);

/* Lines dropped so far, lines written or buffered so far. */
uint64_t events_dropped(const struct events *e);
uint64_t events_emitted(const struct events *e);

/* The line for one event, NUL-terminated with its '\n', into BUF of LEN:
 * its length, or 0 if it does not fit. Exposed for tests. */
size_t events_format(char *buf, size_t len, uint64_t ns, const char *source,
		     const char *event, const char *const *props,
		     unsigned int nprops);

#endif
