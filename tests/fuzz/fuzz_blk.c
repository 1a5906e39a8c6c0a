/* Fuzz target: virtio-blk request decoding (virtio_blk_decode) on chains
 * of any shape. Input: byte 0 = readable segment count (1..8), byte 1 =
 * writable segment count (0..8), then one length byte per segment (scaled
 * to 0..1020 bytes), then the bytes the segments are cut from (the header,
 * data, discard segments). Checked: no crash, no access outside the
 * segments, and every request handed to the engine stays inside the image
 * and describes exactly its data.
 *
 * Build with libFuzzer (see tests/fuzz/README), or -DFUZZ_STANDALONE to
 * replay files. */
#include "virtio/blk.h"
#include "virtio/queue.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FZ_IMAGE_SIZE (1ULL << 20)
#define FZ_MAX_SEGS 8

static struct {
	unsigned long submitted, answered, refused;
} fz_stats;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct virtq_chain c;
	static struct blk_io io;
	static struct virtio_blk b;
	unsigned int nout, nin, nseg;
	uint8_t *buf, *p, *end;
	uint64_t total = 0;
	int ret;

	if (size < 2)
		return 0;
	nout = 1 + data[0] % FZ_MAX_SEGS;
	nin = data[1] % (FZ_MAX_SEGS + 1);
	nseg = nout + nin;
	if (size < 2 + nseg)
		return 0;
	/* Segments are cut, in order, from a private copy of the rest: an
	 * overrun past a segment lands in a malloc'd block ASan watches. */
	buf = malloc(size);
	memcpy(buf, data, size);
	p = buf + 2 + nseg;
	end = buf + size;
	memset(&c, 0, sizeof(c));
	for (unsigned int i = 0; i < nseg; i++) {
		size_t len = (size_t)data[2 + i] * 4;

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
		if (!io.status || io.used_len > c.in_len)
			abort();
	} else {
		fz_stats.submitted++;
		for (unsigned int i = 0; i < io.req.niov; i++)
			total += io.req.iov[i].iov_len;
		switch (io.req.op) {
		case BLK_READ:
		case BLK_WRITE:
			if (io.req.offset + total > FZ_IMAGE_SIZE ||
			    total % 512 || io.used_len > c.in_len)
				abort();
			break;
		case BLK_DISCARD:
		case BLK_WRITE_ZEROES:
			if (io.req.offset + io.req.len > FZ_IMAGE_SIZE ||
			    b.cfg.readonly)
				abort();
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
	fprintf(stderr, "fuzz_blk: %u inputs ran clean (%lu to the engine, "
		"%lu answered at once, %lu refused)\n", runs,
		fz_stats.submitted, fz_stats.answered, fz_stats.refused);
}
#include "replay.h"
#endif
