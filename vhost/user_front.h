/* vhost-user front-end: tern hands a device's virtqueues to a backend in
 * another process over a UNIX socket (qemu docs/interop/vhost-user.rst).
 * The backend maps guest RAM from the memfd tern sends, waits on the
 * queue's KVM ioeventfd and signals its KVM irqfd: once a queue runs, no
 * I/O passes through tern at all.
 *
 * A front-end belongs to one device model (vhost/user_blk_dev.c, or the
 * virtio-net device through vhost/user_net.c). It owns the connection and
 * survives the backend: when the socket hangs up, the guest's kicks pile
 * up in the ioeventfds and its I/O waits; a timer on the main loop tries
 * the socket every second, and when a backend listens again tern
 * negotiates afresh and restarts the rings where the guest left them.
 * With INFLIGHT_SHMFD the backend finds the requests it had taken but not
 * completed in the shared inflight area (kept here across connections)
 * and runs them again, so nothing acknowledged or pending is lost.
 *
 * Threads: start/stop come from vCPU threads (the transport's status
 * writes), hang-up and reconnect from the main loop. One mutex orders
 * them; requests wait for their replies (a backend that takes longer than
 * VU_FRONT_REPLY_MS to start one counts as gone). */
#ifndef TERN_VHOST_USER_FRONT_H
#define TERN_VHOST_USER_FRONT_H

#include "core/loop.h"
#include "core/memory.h"
#include "vhost/user_proto.h"
#include "virtio/device.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Protocol features the front-end asks for (masked by the backend's). */
#define VU_FRONT_PROTOCOL_FEATURES                                             \
	((1ULL << VU_PF_MQ) | (1ULL << VU_PF_REPLY_ACK) |                      \
	 (1ULL << VU_PF_CONFIG) | (1ULL << VU_PF_INFLIGHT_SHMFD))

#define VU_FRONT_RETRY_MS 1000
#define VU_FRONT_REPLY_MS 5000		/* a backend slower than this is gone */

struct vu_front {
	char name[32];			/* the device's, for log lines */
	char path[108];			/* socket */
	struct loop *loop;		/* NULL: no reconnect (tests) */
	struct events *events;		/* backend lost/back, or NULL */
	pthread_mutex_t lock;		/* everything below */
	int sock;			/* -1: not connected */
	uint64_t backend_features;	/* GET_FEATURES */
	uint64_t protocol_features;	/* negotiated */
	unsigned int queue_num;		/* GET_QUEUE_NUM, or 1 */
	uint32_t reconnects;		/* successful ones, for tests/logs */

	/* What the device asked for at start, replayed after a reconnect. */
	bool started;
	const struct guest_mem *mem;
	uint64_t features;		/* the driver's */
	unsigned int nq;
	struct virtio_queue_io q[VIRTIO_MAX_QUEUES];
	bool enabled[VIRTIO_MAX_QUEUES];	/* SET_VRING_ENABLE as last sent */

	/* The inflight area, once the backend handed one out. */
	int inflight_fd;
	struct vu_inflight inflight;

	struct loop_watch sock_watch, timer_watch;
	int timer_fd;
};

/* Connects to PATH and negotiates (features, protocol features, queue
 * count, owner). LOOP (may be NULL) is where hang-ups and reconnects are
 * served. 0 or -errno, with a log line naming the socket. */
int vu_front_init(struct vu_front *f, const char *name, const char *path,
		  struct loop *loop);
void vu_front_destroy(struct vu_front *f);

/* GET_CONFIG (needs the CONFIG protocol feature): -ENOTSUP without it. */
int vu_front_get_config(struct vu_front *f, uint32_t off, uint8_t *buf,
			uint32_t len);

/* The driver set DRIVER_OK: hand queues [0, nq) to the backend with the
 * negotiated FEATURES over MEM (which must be shared: a memfd). A queue
 * with enabled false is left alone. While disconnected the state is kept
 * and applied on reconnect: 0. Else 0 or -errno. */
int vu_front_start(struct vu_front *f, const struct guest_mem *mem,
		   uint64_t features, const struct virtio_queue_io *q,
		   unsigned int nq);
/* Device reset: every queue stopped (GET_VRING_BASE). */
void vu_front_stop(struct vu_front *f);
/* The device lifecycle's pause: every started queue stopped with
 * GET_VRING_BASE (the backend finishes with the ring before it answers),
 * the inflight area kept; base[i] is where queue i continues: the used
 * index in guest RAM (split rings only: -ENOTSUP for packed, whose
 * position is not one read of guest RAM). */
int vu_front_pause(struct vu_front *f, uint16_t *base);
/* As vu_front_start, each ring continuing from the used index in guest
 * RAM (SET_VRING_BASE), its kick and call fds and SET_VRING_ENABLE sent
 * again: after a pause, or after a load into a fresh front. */
int vu_front_resume(struct vu_front *f, const struct guest_mem *mem,
		    uint64_t features, const struct virtio_queue_io *q,
		    unsigned int nq);
/* SET_VRING_ENABLE for queue q (net's MQ pairs). */
int vu_front_enable(struct vu_front *f, unsigned int q, bool on);

bool vu_front_connected(struct vu_front *f);

/* The main loop's half, public for tests that drive it without a loop:
 * the socket hung up (close, start retrying), a retry is due. */
void vu_front_hangup(struct vu_front *f);
int vu_front_reconnect(struct vu_front *f);

#endif
