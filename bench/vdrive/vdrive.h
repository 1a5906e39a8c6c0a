/* vdrive: a userspace stand-in for a guest's virtio-blk driver, to measure
 * a virtio-blk device's data path natively (no KVM, no guest).
 *
 * It lays out split virtqueues in "guest RAM" (struct guest_mem: a shared
 * memfd when another process serves the device), hands them to a backend
 * (struct vd_backend_ops: tern-blk or qemu-storage-daemon over vhost-user,
 * tern's in-process virtio-blk engine, or a test's own), and then each
 * queue's thread keeps QD requests in flight: it posts virtio-blk reads or
 * writes, kicks through the queue's kick eventfd when the device asks for
 * it, and takes completions from the used ring, sleeping on the call
 * eventfd or spinning on the ring. Per completion it checks the status
 * byte and the used length, and with verify on every byte of a read.
 *
 * Verification: every 512-byte sector written carries a pattern derived
 * from (sector, generation, seed) (vd_pattern). With verify on, a run is
 * three phases on [0, size): fill (sequential writes of generation 1),
 * the workload (writes carry generation 2; reads check each sector holds
 * the generation last written to it), and a read-back of the whole range
 * checking every byte. A random seed per run means a device that drops
 * writes cannot pass on an image an earlier run filled.
 *
 * Not part of tern: built only into bench/vdrive and its tests. */
#ifndef TERN_BENCH_VDRIVE_VDRIVE_H
#define TERN_BENCH_VDRIVE_VDRIVE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/memory.h"
#include "virtio/device.h"

#define VD_MAX_QUEUES 16
#define VD_SECTOR 512u

#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_S_OK 0

/* An io_uring engine's counters over a run (all queues). */
struct vd_engine_stats {
	bool valid;
	uint64_t submitted, fixed, enters, kicks;
};

/* A device to drive. Called from the main thread only. */
struct vd_backend_ops {
	const char *name;
	/* Device features it offers (virtio bits). */
	int (*features)(void *ctx, uint64_t *features);
	/* The disk's size in bytes (config space capacity * 512). */
	int (*capacity)(void *ctx, uint64_t *bytes);
	/* Serve queues [0, nq) of Q over MEM with the driver's FEATURES.
	 * Each q[i] has its ring areas, a kick eventfd the driver writes and
	 * a call eventfd the device writes. 0 or -errno. */
	int (*start)(void *ctx, const struct guest_mem *mem, uint64_t features,
		     const struct virtio_queue_io *q, unsigned int nq);
	/* Stop serving; every chain the device took is back in the used
	 * rings when this returns. */
	void (*stop)(void *ctx);
	/* CPU time (ns, all threads) the device spent so far: a process's
	 * whole, or for an in-process device the process less the driver's
	 * threads (vd_cpu_process_ns - driver_ns). NULL: not known. */
	int (*cpu_ns)(void *ctx, uint64_t driver_ns, uint64_t *ns);
	/* Optional, after stop: what the device's engine counted over the
	 * whole run (tern's in-process engine). */
	void (*engine_stats)(void *ctx, struct vd_engine_stats *s);
};

enum vd_rw { VD_RANDREAD, VD_RANDWRITE, VD_READ, VD_WRITE };
enum vd_complete { VD_COMPLETE_CALL, VD_COMPLETE_POLL };

struct vd_config {
	enum vd_rw rw;
	uint32_t bs;			/* bytes per request, multiple of 512 */
	unsigned int qd;		/* requests in flight per queue */
	unsigned int queues;
	uint16_t queue_size;		/* ring entries, power of 2 */
	uint64_t size;			/* bytes of the disk to use, 0: all */
	double ramp_s, runtime_s;	/* warm-up, then measured window */
	uint64_t ios;			/* stop after this many I/Os per queue
					 * instead of runtime_s, 0: by time */
	enum vd_complete complete;
	bool event_idx;			/* negotiate EVENT_IDX if offered */
	bool verify;
	uint64_t seed;			/* 0: from the clock */
	uint64_t mem_bytes;		/* guest RAM, 0: what the run needs */
	bool shared_mem;		/* memfd (vhost-user needs it) */
	bool hugepages;			/* hugetlbfs memfd (implies shared) */
	bool quiet;
	double stall_s;			/* no completion for this long with
					 * requests out: give up, 0: 5 s */
};

struct vd_lat {
	double mean_us, p50_us, p99_us, p999_us, max_us;
};

struct vd_result {
	/* The measured window. */
	double window_s;
	uint64_t ios, bytes;
	double iops, mbps;		/* MB/s: 10^6 bytes */
	struct vd_lat lat;
	double backend_cpu_s, driver_cpu_s;	/* < 0: not known */
	double backend_us_per_io, driver_us_per_io;
	double kicks_per_io;		/* notifications the driver sent */
	double calls_per_io;		/* wake-ups on the call eventfd */
	/* Whole run, all phases. */
	uint64_t total_ios, total_reads, total_writes;
	uint64_t fill_ios, readback_ios;
	uint64_t verified_bytes, verify_errors;
	uint64_t status_errors;		/* status byte not OK */
	uint64_t len_errors;		/* used len not what a read returns */
	uint64_t device_errors;		/* ring rules the device broke */
	uint64_t stalls;		/* stall_s without a completion: gave up */
	struct vd_engine_stats engine;	/* whole run, if the device tells */
	uint64_t features;		/* negotiated */
	uint64_t disk_bytes;		/* capacity */
	uint64_t seed;
	char error[160];		/* first failure, "" if none */
};

/* Runs CFG against the device behind OPS/CTX: start, (fill,) ramp,
 * measured window, (read-back,) stop. 0 when the run completed (R has
 * the figures; it may still have counted errors: vd_result_ok), or -errno
 * when it could not (R->error says why). */
int vd_run(const struct vd_config *cfg, const struct vd_backend_ops *ops,
	   void *ctx, struct vd_result *r);

/* No status, length, verify or device error and no stall. */
bool vd_result_ok(const struct vd_result *r);

/* Fills BUF (LEN bytes, a multiple of 512) with the pattern of the
 * sectors from SECTOR on for generation GEN. */
void vd_pattern(uint8_t *buf, size_t len, uint64_t sector, uint8_t gen,
		uint64_t seed);
/* Index of the first sector of BUF that differs from the pattern, or -1. */
long vd_pattern_check(const uint8_t *buf, size_t len, uint64_t sector,
		      uint8_t gen, uint64_t seed);

/* CPU time of process PID, all threads live and dead (/proc/PID/stat
 * utime + stime), in ns; 0 on error. PID 0: this process. */
uint64_t vd_cpu_process_ns(pid_t pid);

/* Helpers for the JSON and the default values. */
void vd_config_defaults(struct vd_config *cfg);
const char *vd_rw_name(enum vd_rw rw);
int vd_rw_parse(const char *s, enum vd_rw *rw);

#endif
