/* The devices vdrive drives: a vhost-user-blk backend in another process,
 * spoken to with tern's own front-end (vhost/user_front.c), and tern's
 * in-process virtio-blk engine (virtio/blk.c on block/uring.c) with plain
 * eventfds where a VM has its ioeventfd and irqfd. */
#ifndef TERN_BENCH_VDRIVE_BACKENDS_H
#define TERN_BENCH_VDRIVE_BACKENDS_H

#include "bench/vdrive/vdrive.h"
#include "vhost/user_front.h"
#include "virtio/blk.h"

struct vd_vhost_user {
	struct vu_front front;
	pid_t pid;			/* the backend process, 0: unknown */
	bool started;
};

/* Connects to SOCK. PID (0 if not known) is whose CPU time counts. */
int vd_vhost_user_open(struct vd_vhost_user *v, const char *sock, pid_t pid);
void vd_vhost_user_close(struct vd_vhost_user *v);
extern const struct vd_backend_ops vd_vhost_user_ops;

struct vd_inproc {
	struct virtio_blk blk;
	bool started;
};

/* Opens CFG's image with tern's virtio-blk model; the queues start with
 * the run. */
int vd_inproc_open(struct vd_inproc *b, const struct blk_config *cfg);
void vd_inproc_close(struct vd_inproc *b);
extern const struct vd_backend_ops vd_inproc_ops;

#endif
