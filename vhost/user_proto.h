/* vhost-user wire protocol (qemu docs/interop/vhost-user.rst): the message
 * layout, one const table that states per request what a well-formed
 * message looks like, and framed receive/send over a SOCK_STREAM UNIX
 * socket with SCM_RIGHTS. Shared by the backend library (user_backend.c)
 * and, later, tern's frontend. Everything received is treated as hostile:
 * vu_msg_recv only frames, vu_msg_check validates shape against the table,
 * the handlers validate meaning. */
#ifndef TERN_VHOST_USER_PROTO_H
#define TERN_VHOST_USER_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Header flags: bits 0-1 protocol version, bit 2 reply, bit 3 need reply. */
#define VU_FLAG_VERSION 0x1u
#define VU_FLAG_VERSION_MASK 0x3u
#define VU_FLAG_REPLY 0x4u
#define VU_FLAG_NEED_REPLY 0x8u

#define VU_HDR_SIZE 12u
#define VU_MAX_FDS 8u			/* fds one message may carry */
#define VU_MAX_REGIONS 8u		/* VHOST_MEMORY_BASELINE_NREGIONS */
#define VU_CONFIG_MAX 256u		/* device config space bytes */
#define VU_CONFIG_HDR_SIZE 12u		/* offset, size, flags */
#define VU_RECV_TIMEOUT_MS 1000		/* rest of a started message */

/* Virtio feature bit 30: the backend speaks protocol features. Bit 26
 * (VHOST_F_LOG_ALL): dirty logging, not offered by tern's backend yet. */
#define VU_F_PROTOCOL_FEATURES 30
#define VU_F_LOG_ALL 26

/* Protocol feature bit numbers. */
#define VU_PF_MQ 0
#define VU_PF_LOG_SHMFD 1
#define VU_PF_RARP 2
#define VU_PF_REPLY_ACK 3
#define VU_PF_NET_MTU 4
#define VU_PF_BACKEND_REQ 5
#define VU_PF_CROSS_ENDIAN 6
#define VU_PF_CRYPTO_SESSION 7
#define VU_PF_PAGEFAULT 8
#define VU_PF_CONFIG 9
#define VU_PF_BACKEND_SEND_FD 10
#define VU_PF_HOST_NOTIFIER 11
#define VU_PF_INFLIGHT_SHMFD 12
#define VU_PF_RESET_DEVICE 13
#define VU_PF_INBAND_NOTIFICATIONS 14
#define VU_PF_CONFIGURE_MEM_SLOTS 15
#define VU_PF_STATUS 16

/* Front-end requests (the numbers are the wire values). */
enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_GET_INFLIGHT_FD = 31,
	VU_SET_INFLIGHT_FD = 32,
	VU_RESET_DEVICE = 34,
	VU_REQUEST_MAX			/* table size */
};

/* SET_VRING_KICK/CALL/ERR u64 payload: ring index and "no fd follows". */
#define VU_VRING_IDX_MASK 0xffu
#define VU_VRING_NOFD 0x100u

/* SET_VRING_ADDR flags: bit 0 asks for used-ring logging. */
#define VU_VRING_F_LOG 0x1u

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;			/* payload bytes after the header */
};

struct vu_vring_state {
	uint32_t index;
	uint32_t num;
};

/* Ring addresses are the front-end's own virtual addresses. */
struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;			/* guest-physical */
};

struct vu_mem_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;			/* front-end virtual address */
	uint64_t mmap_offset;		/* offset in the region's fd */
};

struct vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vu_mem_region regions[VU_MAX_REGIONS];
};
#define VU_MEM_TABLE_HDR 8u

struct vu_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
};

struct vu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t data[VU_CONFIG_MAX];
};

struct vu_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
};
#define VU_INFLIGHT_WIRE_SIZE 20u	/* without the tail padding */

union vu_payload {
	uint64_t u64;
	struct vu_vring_state state;
	struct vu_vring_addr addr;
	struct vu_mem_table mem;
	struct vu_log log;
	struct vu_config config;
	struct vu_inflight inflight;
	uint8_t raw[sizeof(struct vu_mem_table)];
};

/* On the wire the payload follows the 12-byte header directly; here it
 * sits at its natural alignment and recv/send gather the two. */
struct vu_msg {
	struct vu_hdr hdr;
	union vu_payload p;
};

/* Fd count a request carries. */
enum vu_fds {
	VU_FDS_NONE,
	VU_FDS_ONE,
	VU_FDS_VRING,			/* one unless the payload says VU_VRING_NOFD */
	VU_FDS_REGIONS,			/* one per memory region, 0..8 */
};

struct vu_req_info {
	const char *name;		/* NULL: not a request we know */
	uint16_t min_size, max_size;	/* payload bytes */
	enum vu_fds fds;
	bool has_reply;			/* answered even without NEED_REPLY */
	int8_t pfeature;		/* protocol feature that gates it, -1 none */
};

/* Table entry for a request, NULL if unknown. */
const struct vu_req_info *vu_req_info(uint32_t request);

/* Name for logs ("SET_MEM_TABLE"), "unknown" if none. */
const char *vu_req_name(uint32_t request);

/* Reads one message: exactly the header, then `size` payload bytes, with
 * whatever fds came with them (MSG_CMSG_CLOEXEC) into fds[VU_MAX_FDS] and
 * their count into *nfds. Bytes already begun are awaited for at most
 * VU_RECV_TIMEOUT_MS, so a peer that stalls mid-message cannot hang the
 * caller's loop. Returns 0, or:
 *   -ECONNRESET  the peer closed before a message began
 *   -EPROTO      the peer closed mid-message
 *   -ETIMEDOUT   the peer stalled mid-message
 *   -EMSGSIZE    size exceeds the payload union (the stream is lost)
 *   -E2BIG       more than VU_MAX_FDS fds came: all were closed, *nfds is
 *                0, but the message itself is complete and in *m
 *   other -errno from recvmsg/poll.
 * On every error but -E2BIG the connection is unusable. No fd is ever
 * left open on an error return. */
int vu_msg_recv(int sock, struct vu_msg *m, int *fds, size_t *nfds);

/* Writes the header and m->hdr.size payload bytes, with nfds (<=
 * VU_MAX_FDS) fds attached to the first byte. MSG_NOSIGNAL; a full socket
 * is waited for at most VU_RECV_TIMEOUT_MS. 0 or -errno. */
int vu_msg_send(int sock, const struct vu_msg *m, const int *fds,
		size_t nfds);

/* Validates a received front-end request against the table: version 1,
 * no REPLY flag, known request, payload size in range, fd count as the
 * table (and for SET_VRING_KICK/CALL/ERR the NOFD bit, for SET_MEM_TABLE
 * nregions) says. 0, -ENOSYS for an unknown request, else -EINVAL. Does
 * not look at negotiated features: the caller does. */
int vu_msg_check(const struct vu_msg *m, size_t nfds);

/* Closes fds[0..n) and sets *n to 0. */
void vu_close_fds(int *fds, size_t *n);

#endif
