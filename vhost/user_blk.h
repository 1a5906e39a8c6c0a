/* vhost-user-blk: tern's virtio-blk model (virtio/blk.c: request
 * decoding, one io_uring I/O thread per queue) served to a vhost-user
 * front-end through the backend library (vhost/user_backend.c). This is
 * the glue only: the owner (vhost/blk_daemon.c, or a test) accepts the
 * connection, watches its socket and calls vu_blk_dispatch; queues start
 * and stop from inside it. Touches the image through virtio/blk.c and the
 * front-end's memory through the library's mappings, nothing else. */
#ifndef TERN_VHOST_USER_BLK_H
#define TERN_VHOST_USER_BLK_H

#include "vhost/user_backend.h"
#include "virtio/blk.h"

#include <stdbool.h>

struct vu_blk {
	char name[32];			/* "tern-blk", every log line's */
	struct virtio_blk blk;		/* the image and the I/O threads */
	struct vu_backend_ops ops;	/* filled by vu_blk_create, then
					 * read-only */
	struct vu_dev vu;		/* the connection, while connected */
	bool connected;
};

/* Opens cfg->path (exclusive lock, see block/image.h) and prepares
 * cfg->queues queues (1..VU_MAX_QUEUES). cfg->queue_size is ignored: a
 * front-end may ask for any ring up to VIRTQ_MAX_SIZE. Installs the
 * process's BLK_STOP_SIGNAL handler (virtio/blk.h): call it before
 * seccomp. 0 or -errno, with a log line. */
int vu_blk_create(struct vu_blk *vb, const char *name,
		  const struct blk_config *cfg);

/* Serves a new front-end on SOCK (a connected SOCK_STREAM UNIX socket;
 * owned from now on, also on error). -EBUSY while another is connected. */
int vu_blk_connect(struct vu_blk *vb, int sock);

/* The socket of the connection, -1 when none. */
int vu_blk_socket(const struct vu_blk *vb);

/* Handles every message pending on the socket. 0: all handled and the
 * connection lives; -ECONNRESET the front-end went away, another -errno
 * it broke the protocol or the socket failed. On any error the
 * connection is already closed (queues stopped, in-flight requests
 * finished) and vu_blk_connect may take the next one. */
int vu_blk_dispatch(struct vu_blk *vb);

/* Stops every queue (in-flight requests finish first) and closes the
 * connection. Harmless when none. */
void vu_blk_disconnect(struct vu_blk *vb);

/* Disconnects and closes the image. */
void vu_blk_destroy(struct vu_blk *vb);

#endif
