/* Fuzz target: virtio-blk requests (virtio/blk.c), two ways.
 *
 * Byte 0 bit 7 clear: virtio_blk_decode on chains of any shape. Byte 0 =
 * readable segment count (1 + b % 8), byte 1 = writable segment count
 * (b % 9; bit 7: a read-only disk), then one length byte per segment
 * (scaled to 0..1020 bytes), then the bytes the segments are cut from (the
 * header, data, discard segments). Byte 0 bit 6 makes each segment twenty
 * (a chain of up to 320 segments: more than a request's 128 take the
 * too-many-segments answer). Checked: no crash, no access outside the
 * segments, and every request handed to the engine stays inside the image
 * and describes exactly its data.
 *
 * Byte 0 bit 7 set: the queue loop. A split ring of 1 << (byte 1 % 9)
 * entries in guest memory, then chains laid out by the input: per chain a
 * segment count byte (1 + b % 8; bit 7: the last segment repeated to 140
 * descriptors), a byte whose bit k makes segment k device-writable, one
 * length byte per segment (scaled by 8), then the bytes of the readable
 * segments (the header, data) while the input lasts. The I/O thread of
 * virtio_blk_queue_start takes them (decode, io_uring on a 1 MiB memfd
 * image, completion) and is stopped. Byte 0 bit 6: the thread polls the
 * ring after work (as --poll-us makes it), and the second half of the
 * chains is made available 100 us after the start, while it may poll.
 * Every used entry is checked: a head
 * that was made available, once, with a length within its chain's
 * writable bytes, and the status byte written.
 *
 * Build with libFuzzer (see tests/fuzz/README), or -DFUZZ_STANDALONE to
 * replay files. */
#include "virtio/blk.h"
#include "virtio/queue.h"

#include "core/memory.h"
#include "tests/fuzz/fuzz.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#define FZ_IMAGE_SIZE (1ULL << 20)
#define FZ_MAX_SEGS 8
#define FZ_REPEAT 20		/* byte 0 bit 6: each segment this many */
#define FZ_RAM (1ULL << 20)
#define FZ_QSIZE 256
#define FZ_DESC 0x0		/* the ring's parts in guest memory */
#define FZ_AVAIL 0x1000
#define FZ_USED 0x2000
#define FZ_BUFS 0x4000		/* buffers from here on */
#define FZ_LONG 140		/* a chain longer than a request may be */

static struct {
	unsigned long submitted, answered, refused, too_many, queued, used;
} fz_stats;


/* --- the queue loop ----------------------------------------------------- */

static struct {
	struct guest_mem mem;
	struct virtio_blk b;
	int kick, call, err;
	bool ready;
} fq;

/* Once per process: guest RAM, a 1 MiB image in a memfd, the device. */
static void fz_queue_setup(void)
{
	struct mem_config mc = { .size = FZ_RAM, .numa_node = -1 };
	struct blk_config bc = { .queues = 1, .queue_size = FZ_QSIZE,
				 .numa_node = -1 };
	char path[64];
	int fd;

	fd = memfd_create("fuzz-blk-image", MFD_CLOEXEC);
	FZ_NEVER(fd < 0 || ftruncate(fd, FZ_IMAGE_SIZE));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	bc.path = path;
	strcpy(bc.serial, "fuzz-serial");
	FZ_NEVER(guest_mem_create(&fq.mem, &mc) ||
		 virtio_blk_create(&fq.b, "virtio-blk-fuzz", &bc, &fq.mem));
	close(fd);
	fq.kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fq.call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fq.err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	FZ_NEVER(fq.kick < 0 || fq.call < 0 || fq.err < 0);
	fq.ready = true;
}

struct fz_chain {
	uint16_t head;
	uint32_t in_len;
	uint64_t status_gpa;	/* the last writable byte; 0 none */
	bool used;
};

static int fz_queue(const uint8_t *data, size_t size)
{
	static struct virtq vq;
	static struct fz_chain ch[FZ_QSIZE];
	uint8_t *ram;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	const uint8_t *p = data + 2, *end = data + size;
	const uint8_t *src;
	uint64_t buf = FZ_BUFS, n;
	uint16_t num = (uint16_t)(1u << (data[1] % 9)), nd = 0, nch = 0;
	bool poll = data[0] & 0x40;
	struct blk_ring r;
	uint64_t before[CTR_N], after[CTR_N];
	unsigned int nused = 0, nerr = 0;

	if (size < 2)
		return 0;
	if (!fq.ready)
		fz_queue_setup();
	ram = fq.mem.base;
	memset(ram, 0, FZ_BUFS);
	desc = (struct virtq_desc *)(ram + FZ_DESC);
	avail = (struct virtq_avail *)(ram + FZ_AVAIL);
	used = (struct virtq_used *)(ram + FZ_USED);
	/* Chains while descriptors and input last. */
	while (p + 1 < end && nch < num) {
		unsigned int nseg = 1 + p[0] % 8, total;
		bool longc = p[0] & 0x80;
		uint8_t wmask = p[1];
		uint16_t head = nd;

		p += 2;
		total = longc ? FZ_LONG : nseg;
		if (nd + total > num || (size_t)(end - p) < nseg)
			break;
		ch[nch] = (struct fz_chain){ .head = head };
		src = p + nseg;
		for (unsigned int i = 0; i < total; i++) {
			unsigned int k = i < nseg ? i : nseg - 1;
			uint32_t len = (uint32_t)p[k] * 8;
			bool w = wmask & (1u << k);
			struct virtq_desc *d = &desc[nd];

			if (buf + len > FZ_RAM)
				len = 0;
			d->addr = htole64(buf);
			d->len = htole32(len);
			d->flags = htole16((w ? VIRTQ_DESC_F_WRITE : 0) |
					   (i + 1 < total ? VIRTQ_DESC_F_NEXT : 0));
			d->next = htole16(nd + 1);
			if (w) {
				ch[nch].in_len += len;
				if (len)
					ch[nch].status_gpa = buf + len - 1;
				memset(ram + buf, 0xee, len);
			} else {
				/* Readable bytes from the input while it
				 * lasts, zeros after. */
				size_t take = (size_t)(end - src);

				if (take > len)
					take = len;
				memcpy(ram + buf, src, take);
				memset(ram + buf + take, 0, len - take);
				src += take;
			}
			buf += len;
			nd++;
		}
		p = src;
		avail->ring[nch] = htole16(head);
		nch++;
		fz_stats.queued++;
	}
	avail->idx = htole16(poll ? nch / 2 : nch);
	FZ_NEVER(virtq_init(&vq, "virtio-blk-fuzz q0", &fq.mem, num, FZ_DESC,
			    FZ_AVAIL, FZ_USED, 1ULL << VIRTIO_F_VERSION_1, 0));
	while (read(fq.kick, &n, sizeof(n)) > 0 || read(fq.err, &n, sizeof(n)) > 0)
		;
	r = (struct blk_ring){ .vq = &vq, .kick_fd = fq.kick,
			       .call_fd = fq.call, .err_fd = fq.err };
	virtio_blk_queue_counters(&fq.b, 0, before);
	fq.b.cfg.poll_us = poll ? 50 : 0;
	FZ_NEVER(virtio_blk_queue_start(&fq.b, 0, &r));
	if (poll) {
		usleep(100);
		__atomic_store_n(&avail->idx, htole16(nch), __ATOMIC_RELEASE);
		FZ_NEVER(write(fq.kick, &(uint64_t){ 1 }, 8) != 8);
		usleep(100);
	}
	/* The thread takes what is available when it starts (a budget of
	 * it, the rest after a kick it gives itself); the stop waits for
	 * whatever reached the engine. */
	virtio_blk_queue_stop(&fq.b, 0);
	for (uint16_t i = 0; i < le16toh(used->idx) && i < num; i++) {
		uint32_t id = le32toh(used->ring[i].id);
		uint32_t len = le32toh(used->ring[i].len);
		unsigned int c;

		for (c = 0; c < nch && ch[c].head != id; c++)
			;
		FZ_NEVER(c == nch || ch[c].used || len > ch[c].in_len ||
			 !ch[c].status_gpa || ram[ch[c].status_gpa] > 2);
		ch[c].used = true;
		fz_stats.used++;
		nused++;
		nerr += ram[ch[c].status_gpa] != 0;
	}
	/* vm.counters: every request pushed is counted once, and those
	 * answered with an error status among them. */
	virtio_blk_queue_counters(&fq.b, 0, after);
	FZ_NEVER(after[CTR_REQUESTS] - before[CTR_REQUESTS] != nused ||
		 after[CTR_ERRORS] - before[CTR_ERRORS] != nerr);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtq_chain c;
	static struct blk_io io;
	static struct virtio_blk b;
	unsigned int nout, nin, nseg, rep;
	uint8_t *buf, *p, *end;
	uint64_t total = 0;
	int ret;

	if (size < 2)
		return 0;
	if (data[0] & 0x80)
		return fz_queue(data, size);
	rep = data[0] & 0x40 ? FZ_REPEAT : 1;
	nout = 1 + data[0] % FZ_MAX_SEGS;
	nin = data[1] % (FZ_MAX_SEGS + 1);
	nseg = nout + nin;
	if (size < 2 + nseg)
		return 0;
	nout *= rep;
	nin *= rep;
	/* Segments are cut, in order, from a private copy of the rest: an
	 * overrun past a segment lands in a malloc'd block ASan watches. */
	buf = malloc(size);
	memcpy(buf, data, size);
	p = buf + 2 + nseg;
	end = buf + size;
	memset(&c, 0, sizeof(c));
	nseg = nout + nin;
	for (unsigned int i = 0; i < nseg; i++) {
		size_t len = (size_t)data[2 + i / rep] * 4;

		if (len > (size_t)(end - p))
			len = (size_t)(end - p);
		c.iov[i].iov_base = p;
		c.iov[i].iov_len = len;
		p += len;
		if (i < nout)
			c.out_len += (uint32_t)len;
		else
			c.in_len += (uint32_t)len;
	}
	c.nr_out = nout;
	c.nr_in = nin;

	memset(&b, 0, sizeof(b));
	b.img.size = FZ_IMAGE_SIZE;
	b.cfg.readonly = data[1] & 0x80;
	strcpy(b.cfg.serial, "fuzz-serial");

	ret = virtio_blk_decode(&b, &c, &io);
	if (ret < 0) {
		fz_stats.refused++;
	} else if (ret == 1) {
		fz_stats.answered++;
		fz_stats.too_many += nseg > BLK_IOV_MAX;
		FZ_NEVER(!io.status || io.used_len > c.in_len);
	} else {
		fz_stats.submitted++;
		for (unsigned int i = 0; i < io.req.niov; i++)
			total += io.req.iov[i].iov_len;
		switch (io.req.op) {
		case BLK_READ:
		case BLK_WRITE:
			FZ_NEVER(io.req.offset + total > FZ_IMAGE_SIZE ||
				 total % 512 || io.used_len > c.in_len);
			break;
		case BLK_DISCARD:
		case BLK_WRITE_ZEROES:
			FZ_NEVER(io.req.offset + io.req.len > FZ_IMAGE_SIZE ||
				 b.cfg.readonly);
			break;
		case BLK_FLUSH:
			break;
		}
	}
	free(buf);
	return 0;
}

#ifdef FUZZ_STANDALONE
static void fz_report(unsigned int runs)
{
	fprintf(stderr, "fuzz_blk: %u inputs ran clean (decoded: %lu to the "
		"engine, %lu answered at once, %lu of them too many segments, "
		"%lu refused; queue loop: %lu chains made available, %lu "
		"used)\n", runs, fz_stats.submitted, fz_stats.answered,
		fz_stats.too_many, fz_stats.refused, fz_stats.queued,
		fz_stats.used);
}
#include "replay.h"
#endif
