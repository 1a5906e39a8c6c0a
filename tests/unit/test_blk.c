/* virtio-blk's request decoding (virtio_blk_decode), the part of the
 * in-process engine that turns one popped chain into one request: how many
 * data segments a request may have (BLK_IOV_MAX; more is answered IOERR,
 * never copied past io->iov), ranges against the image, the header and
 * the status byte wherever the driver split them, and the chain that has
 * no status byte at all (the device then needs a reset). No ring, no
 * thread: chains are built by hand over a static buffer. */
#include "virtio/blk.h"
#include "virtio/queue.h"

#include "check.h"

#include <endian.h>

#define T_IN 0
#define T_OUT 1
#define T_GET_ID 8
#define S_IOERR 1

static uint8_t ram[1 << 20];
static struct virtq_chain chain;
static struct blk_io io;
static struct virtio_blk blk;

static void chain_reset(void)
{
	memset(&chain, 0, sizeof(chain));
	memset(&io, 0, sizeof(io));
}

/* Appends [off, off+len) of ram as a readable or writable segment. */
static void seg(size_t off, size_t len, bool writable)
{
	unsigned int n = chain.nr_out + chain.nr_in;

	chain.iov[n] = (struct iovec){ ram + off, len };
	if (writable) {
		chain.nr_in++;
		chain.in_len += (uint32_t)len;
	} else {
		chain.nr_out++;
		chain.out_len += (uint32_t)len;
	}
}

static void header(size_t off, uint32_t type, uint64_t sector)
{
	uint32_t t = htole32(type);
	uint64_t s = htole64(sector);

	memset(ram + off, 0, 16);
	memcpy(ram + off, &t, 4);
	memcpy(ram + off + 8, &s, 8);
	seg(off, 16, false);
}

/* A read of NSEG 512-byte segments at sector 0, then the status byte. */
static int read_req(unsigned int nseg)
{
	chain_reset();
	header(0, T_IN, 0);
	for (unsigned int i = 0; i < nseg; i++)
		seg(4096 + 512 * (size_t)i, 512, true);
	seg(100, 1, true);
	return virtio_blk_decode(&blk, &chain, &io);
}

static void test_segments(void)
{
	/* As many data segments as io->iov holds: a request. */
	CHECK_EQ(read_req(BLK_IOV_MAX), 0);
	CHECK_EQ(io.req.op, BLK_READ);
	CHECK_EQ(io.req.niov, BLK_IOV_MAX);
	CHECK_EQ(io.used_len, BLK_IOV_MAX * 512 + 1);
	CHECK(io.status == ram + 100);
	CHECK(io.req.iov[BLK_IOV_MAX - 1].iov_base ==
	      ram + 4096 + 512 * (BLK_IOV_MAX - 1));
	/* One more: answered at once with IOERR, nothing past io->iov. */
	CHECK_EQ(read_req(BLK_IOV_MAX + 1), 1);
	CHECK_EQ(io.answer, S_IOERR);
	CHECK_EQ(io.used_len, 1);
	CHECK(io.status == ram + 100);
	/* The most a chain can have (VIRTQ_MAX_SEGS): still just IOERR. */
	CHECK_EQ(read_req(VIRTQ_MAX_SEGS - 2), 1);
	CHECK_EQ(io.answer, S_IOERR);

	/* A write the same way: 16-byte header, then the data. */
	chain_reset();
	header(0, T_OUT, 0);
	for (unsigned int i = 0; i < BLK_IOV_MAX + 1; i++)
		seg(4096 + 512 * (size_t)i, 512, false);
	seg(100, 1, true);
	CHECK_EQ(virtio_blk_decode(&blk, &chain, &io), 1);
	CHECK_EQ(io.answer, S_IOERR);

	/* Zero-length segments take no slot: 300 of them between 128 real
	 * ones still make a request of 128. */
	chain_reset();
	header(0, T_IN, 0);
	for (unsigned int i = 0; i < BLK_IOV_MAX; i++) {
		seg(4096 + 512 * (size_t)i, 512, true);
		if (i < 150) {
			seg(0, 0, true);
			seg(0, 0, true);
		}
	}
	seg(100, 1, true);
	CHECK_EQ(virtio_blk_decode(&blk, &chain, &io), 0);
	CHECK_EQ(io.req.niov, BLK_IOV_MAX);
}

static void test_header_and_status(void)
{
	/* The header in sixteen 1-byte pieces, the status byte the last
	 * byte of a longer writable segment. */
	chain_reset();
	memset(ram, 0, 16);
	ram[0] = T_IN;
	ram[8] = 3;			/* sector 3 */
	for (unsigned int i = 0; i < 16; i++)
		seg(i, 1, false);
	seg(4096, 513, true);
	CHECK_EQ(virtio_blk_decode(&blk, &chain, &io), 0);
	CHECK_EQ(io.req.offset, 3 * 512);
	CHECK_EQ(io.req.niov, 1);
	CHECK_EQ(io.req.iov[0].iov_len, 512);
	CHECK(io.status == ram + 4096 + 512);

	/* No writable byte: no status to answer in. */
	chain_reset();
	header(0, T_IN, 0);
	CHECK_EQ(virtio_blk_decode(&blk, &chain, &io), -EINVAL);
	/* Only zero-length writable segments: the same. */
	seg(0, 0, true);
	CHECK_EQ(virtio_blk_decode(&blk, &chain, &io), -EINVAL);
	/* A header shorter than 16 bytes. */
	chain_reset();
	seg(0, 15, false);
	seg(100, 1, true);
	CHECK_EQ(virtio_blk_decode(&blk, &chain, &io), -EINVAL);

	/* GET_ID writes at most 20 bytes, however large the buffer. */
	chain_reset();
	header(0, T_GET_ID, 0);
	memset(ram + 4096, 0xee, 64);
	seg(4096, 64, true);
	CHECK_EQ(virtio_blk_decode(&blk, &chain, &io), 1);
	CHECK_EQ(io.used_len, 21);
	CHECK(!memcmp(ram + 4096, "tern-serial", 11));
	CHECK_EQ(ram[4096 + 20], 0xee);
}

static void test_ranges(void)
{
	uint64_t sectors = blk.img.size / 512;

	/* The last sector: fine. One past: IOERR, no request. */
	chain_reset();
	header(0, T_IN, sectors - 1);
	seg(4096, 512, true);
	seg(100, 1, true);
	CHECK_EQ(virtio_blk_decode(&blk, &chain, &io), 0);
	chain_reset();
	header(0, T_IN, sectors);
	seg(4096, 512, true);
	seg(100, 1, true);
	CHECK_EQ(virtio_blk_decode(&blk, &chain, &io), 1);
	CHECK_EQ(io.answer, S_IOERR);
	/* A sector number that overflows when made bytes. */
	chain_reset();
	header(0, T_OUT, UINT64_MAX / 256);
	seg(4096, 512, false);
	seg(100, 1, true);
	CHECK_EQ(virtio_blk_decode(&blk, &chain, &io), 1);
	CHECK_EQ(io.answer, S_IOERR);
	/* Not a whole sector. */
	chain_reset();
	header(0, T_OUT, 0);
	seg(4096, 511, false);
	seg(100, 1, true);
	CHECK_EQ(virtio_blk_decode(&blk, &chain, &io), 1);
	CHECK_EQ(io.answer, S_IOERR);
}

int main(void)
{
	blk.img.size = 1 << 20;
	snprintf(blk.cfg.serial, sizeof(blk.cfg.serial), "tern-serial");
	test_segments();
	test_header_and_status();
	test_ranges();
	return check_done("test_blk");
}
