/* The io_uring engine on temporary files: scattered reads and writes,
 * more requests than the rings hold (overflow list), short transfers made
 * real by the per-SQE limit knob, more segments than IOV_MAX, flush,
 * discard, write-zeroes and its tmpfs fallback, errors (EOF, EFBIG, ENOSPC,
 * read-only, bad op), the eventfd watch and stop fd, and a ring created on
 * one thread and run on another.
 *
 * As root the test makes a private mount namespace for a tiny tmpfs
 * (ENOSPC, the ZERO_RANGE fallback) and a ramfs (no fallocate at all);
 * otherwise those parts are skipped with a note. */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "block/uring.h"
#include "tests/unit/check.h"

#define MAXREQ 256
#define NOT_DONE 1	/* a res no completion can carry */

struct tctx {
	struct uring_engine *e;
	int ncomplete;
	int res[MAXREQ];
	int order[MAXREQ];	/* opaque of the n-th completion */
	bool cap_ok;		/* never more out than the CQ has room for */
};

static void t_done(void *ctx, struct blk_req *req, int res)
{
	struct tctx *t = ctx;
	intptr_t i = (intptr_t)req->opaque;

	if (i >= 0 && i < MAXREQ)
		t->res[i] = res;
	if (t->ncomplete < MAXREQ)
		t->order[t->ncomplete] = (int)i;
	/* The one just completed counts too: it was out until now. Two CQ
	 * entries stay free for the eventfd reads. */
	if (t->e->inflight + 1 > t->e->ring.cq.ring_entries - 2)
		t->cap_ok = false;
	t->ncomplete++;
}

struct fixture {
	char path[128];
	struct blk_image img;
	struct uring_engine e;
	struct tctx t;
	bool open;
};

static const char *tmpdir(void)
{
	const char *d = getenv("TMPDIR");

	return d && *d ? d : "/tmp";
}

static void t_reset(struct fixture *f)
{
	f->t.ncomplete = 0;
	f->t.cap_ok = true;
	for (int i = 0; i < MAXREQ; i++)
		f->t.res[i] = NOT_DONE;
}

/* A SIZE-byte sparse file in DIR, opened and given an engine. */
static int fx_open(struct fixture *f, const char *dir, uint64_t size,
		   unsigned int depth, bool readonly)
{
	int fd, ret;

	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "%s/tern-uring-XXXXXX", dir);
	fd = mkstemp(f->path);
	if (fd < 0)
		return -errno;
	ret = ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
	close(fd);
	if (ret)
		goto err_unlink;
	ret = blk_image_open(&f->img, f->path, readonly, false);
	if (ret)
		goto err_unlink;
	ret = uring_engine_init(&f->e, "test q0", &f->img, depth, t_done,
				&f->t);
	if (ret)
		goto err_img;
	f->t.e = &f->e;
	t_reset(f);
	f->open = true;
	return 0;

err_img:
	blk_image_close(&f->img);
err_unlink:
	unlink(f->path);
	return ret;
}

static void fx_close(struct fixture *f)
{
	if (!f->open)
		return;
	uring_engine_destroy(&f->e);
	blk_image_close(&f->img);
	unlink(f->path);
	f->open = false;
}

/* Flushes, then runs the engine until N completions arrived. */
static int run_until(struct fixture *f, int n)
{
	int ret = uring_engine_flush(&f->e);

	while (!ret && f->t.ncomplete < n)
		ret = uring_engine_run_once(&f->e);
	return ret < 0 ? ret : 0;
}

static int do_one(struct fixture *f, struct blk_req *req)
{
	t_reset(f);
	req->opaque = (void *)(intptr_t)0;
	uring_engine_queue(&f->e, req);
	CHECK_EQ(run_until(f, 1), 0);
	return f->t.res[0];
}

static int rw(struct fixture *f, enum blk_op op, uint64_t off,
	      const struct iovec *iov, unsigned int niov)
{
	struct blk_req req = { .op = op, .offset = off, .iov = iov,
			       .niov = niov };

	return do_one(f, &req);
}

static int ranged(struct fixture *f, enum blk_op op, uint64_t off,
		  uint64_t len)
{
	struct blk_req req = { .op = op, .offset = off, .len = len };

	return do_one(f, &req);
}

static void pattern(uint8_t *buf, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 131 + (i >> 9) + seed * 7 + 1);
}

static bool all_zero(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			return false;
	return true;
}

/* A scatter list whose segments sit apart in one allocation, with guard
 * bytes between them, so data landing in the wrong segment or outside one
 * shows. */
#define GUARD 16
#define GUARD_BYTE 0xEE
#define SG_MAX 2048

struct sg {
	uint8_t *mem;
	size_t memlen, total;
	struct iovec iov[SG_MAX];
	unsigned int n;
};

static void sg_build(struct sg *s, const size_t *sizes, unsigned int n)
{
	size_t at = GUARD;

	s->n = n;
	s->total = 0;
	for (unsigned int i = 0; i < n; i++)
		s->total += sizes[i];
	s->memlen = s->total + GUARD * (n + 1);
	s->mem = malloc(s->memlen);
	memset(s->mem, GUARD_BYTE, s->memlen);
	for (unsigned int i = 0; i < n; i++) {
		s->iov[i].iov_base = s->mem + at;
		s->iov[i].iov_len = sizes[i];
		at += sizes[i] + GUARD;
	}
}

static void sg_load(struct sg *s, const uint8_t *flat)
{
	for (unsigned int i = 0; i < s->n; i++) {
		memcpy(s->iov[i].iov_base, flat, s->iov[i].iov_len);
		flat += s->iov[i].iov_len;
	}
}

static void sg_store(const struct sg *s, uint8_t *flat)
{
	for (unsigned int i = 0; i < s->n; i++) {
		memcpy(flat, s->iov[i].iov_base, s->iov[i].iov_len);
		flat += s->iov[i].iov_len;
	}
}

static bool sg_guards_ok(const struct sg *s)
{
	const uint8_t *p = s->mem;

	for (unsigned int i = 0; i <= s->n; i++) {
		for (size_t j = 0; j < GUARD; j++)
			if (p[j] != GUARD_BYTE)
				return false;
		if (i < s->n)
			p = (const uint8_t *)s->iov[i].iov_base +
			    s->iov[i].iov_len;
	}
	return true;
}

static void sg_free(struct sg *s)
{
	free(s->mem);
	s->mem = NULL;
}

static const size_t wsizes[] = { 1, 511, 4096, 3000, 12000, 17, 8192, 600,
				 0, 4000 };
static const size_t rsizes[] = { 4096, 4096, 100, 7, 9000, 0, 11075, 4010,
				 33 };

/* Writes through one segmentation, reads through another, checks the file
 * with pread too. LIMIT > 0 splits every SQE to that many bytes. */
static void check_scatter(struct fixture *f, size_t limit, uint64_t off)
{
	struct sg w, r;
	uint8_t *src, *got;
	size_t total;

	sg_build(&w, wsizes, sizeof(wsizes) / sizeof(wsizes[0]));
	sg_build(&r, rsizes, sizeof(rsizes) / sizeof(rsizes[0]));
	total = w.total;
	CHECK_EQ(r.total, total);
	src = malloc(total);
	got = malloc(total);
	pattern(src, total, (unsigned int)limit);
	sg_load(&w, src);

	uring_engine_test_limit(&f->e, limit);
	CHECK_EQ(rw(f, BLK_WRITE, off, w.iov, w.n), 0);
	CHECK_EQ(pread(f->img.fd, got, total, (off_t)off), (ssize_t)total);
	CHECK_MEM(got, src, total);

	memset(got, 0, total);
	CHECK_EQ(rw(f, BLK_READ, off, r.iov, r.n), 0);
	sg_store(&r, got);
	CHECK_MEM(got, src, total);
	CHECK(sg_guards_ok(&r));
	CHECK(sg_guards_ok(&w));
	uring_engine_test_limit(&f->e, 0);

	free(src);
	free(got);
	sg_free(&w);
	sg_free(&r);
}

static void test_scatter(void)
{
	struct fixture f;

	CHECK_EQ(fx_open(&f, tmpdir(), 1 << 20, 8, false), 0);
	if (!f.open)
		return;
	check_scatter(&f, 0, 4096 + 7);
	CHECK_EQ(f.e.stats.resubmitted, 0);
	fx_close(&f);
}

/* Guest RAM as fixed buffers: a one-segment request inside a 2 MiB chunk
 * goes as READ_FIXED/WRITE_FIXED (the chunk registered on first use),
 * everything else vectored as before, with the same bytes either way. A
 * chunk the kernel refuses (here: a hole in it) is served vectored and
 * never asked again. */
static void test_fixed(void)
{
	const size_t mib = 1 << 20, len = 64 << 10;
	struct fixture f;
	struct iovec region, seg[2], v;
	uint8_t *ram, *src, *got, *other;
	uint64_t fixed;
	int ret;

	CHECK_EQ(fx_open(&f, tmpdir(), 8 * mib, 8, false), 0);
	if (!f.open)
		return;
	ram = mmap(NULL, 7 * mib, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ram != MAP_FAILED);
	if (ram == MAP_FAILED)
		goto out;
	/* A hole at the end of the third chunk. */
	munmap(ram + 6 * mib - 4096, 4096);
	src = malloc(len);
	got = malloc(len);
	other = malloc(len);
	pattern(src, len, 3);

	region = (struct iovec){ ram, 7 * mib };
	CHECK_EQ(uring_engine_use_memory(&f.e, &region, 0), -EINVAL);
	ret = uring_engine_use_memory(&f.e, &region, 1);
	if (ret == -EINVAL || ret == -ENOSYS) {
		fprintf(stderr, "test_uring: no sparse buffer table here, "
			"fixed buffers skipped\n");
		goto free;
	}
	CHECK_EQ(ret, 0);
	CHECK_EQ(uring_engine_use_memory(&f.e, &region, 1), -EINVAL);
	CHECK_EQ(f.e.nslots, 4);		/* 7 MiB in 2 MiB chunks */

	/* Written from chunk 0, read into chunk 1: both fixed. */
	memcpy(ram + 4096, src, len);
	v = (struct iovec){ ram + 4096, len };
	CHECK_EQ(rw(&f, BLK_WRITE, 3 * 512, &v, 1), 0);
	CHECK_EQ(f.e.stats.fixed, 1);
	CHECK_EQ(f.e.stats.fixed_chunks, 1);
	CHECK_EQ(pread(f.img.fd, got, len, 3 * 512), (ssize_t)len);
	CHECK_MEM(got, src, len);
	v = (struct iovec){ ram + 2 * mib + 100, len };
	CHECK_EQ(rw(&f, BLK_READ, 3 * 512, &v, 1), 0);
	CHECK_MEM(ram + 2 * mib + 100, src, len);
	CHECK_EQ(f.e.stats.fixed, 2);
	CHECK_EQ(f.e.stats.fixed_chunks, 2);

	/* Across a chunk boundary, two segments, memory outside: vectored. */
	fixed = f.e.stats.fixed;
	v = (struct iovec){ ram + 2 * mib - len / 2, len };
	memset(v.iov_base, 0, len);
	CHECK_EQ(rw(&f, BLK_READ, 3 * 512, &v, 1), 0);
	CHECK_MEM(v.iov_base, src, len);
	seg[0] = (struct iovec){ ram + 8192, len / 2 };
	seg[1] = (struct iovec){ ram + 4 * mib, len / 2 };
	CHECK_EQ(rw(&f, BLK_READ, 3 * 512, seg, 2), 0);
	CHECK_MEM(seg[0].iov_base, src, len / 2);
	CHECK_MEM(seg[1].iov_base, src + len / 2, len / 2);
	v = (struct iovec){ other, len };
	CHECK_EQ(rw(&f, BLK_READ, 3 * 512, &v, 1), 0);
	CHECK_MEM(other, src, len);
	CHECK_EQ(f.e.stats.fixed, fixed);
	CHECK_EQ(f.e.stats.fixed_chunks, 2);

	/* Short transfers resume inside the fixed buffer. */
	uring_engine_test_limit(&f.e, 1000);
	v = (struct iovec){ ram + 4096, len };
	memset(ram + 4096, 0, len);
	CHECK_EQ(rw(&f, BLK_READ, 3 * 512, &v, 1), 0);
	CHECK_MEM(ram + 4096, src, len);
	CHECK_EQ(f.e.stats.fixed, fixed + (len + 999) / 1000);
	uring_engine_test_limit(&f.e, 0);

	/* The chunk with the hole: refused once, served vectored. */
	fixed = f.e.stats.fixed;
	v = (struct iovec){ ram + 4 * mib + 4096, len };
	CHECK_EQ(rw(&f, BLK_READ, 3 * 512, &v, 1), 0);
	CHECK_MEM(ram + 4 * mib + 4096, src, len);
	CHECK_EQ(rw(&f, BLK_WRITE, 100 * 512, &v, 1), 0);
	CHECK_EQ(f.e.stats.fixed, fixed);
	CHECK_EQ(f.e.stats.fixed_chunks, 2);
	CHECK_EQ(f.e.chunk[2], CHUNK_REFUSED);
	/* The last, short chunk (6-7 MiB) is fine. */
	v = (struct iovec){ ram + 7 * mib - len, len };
	CHECK_EQ(rw(&f, BLK_READ, 100 * 512, &v, 1), 0);
	CHECK_MEM(ram + 7 * mib - len, src, len);
	CHECK_EQ(f.e.stats.fixed, fixed + 1);
	CHECK_EQ(f.e.stats.fixed_chunks, 3);
free:
	free(src);
	free(got);
	free(other);
	munmap(ram, 7 * mib);
out:
	fx_close(&f);
}

/* Every SQE clipped: segments split mid-way, at boundaries, one byte at a
 * time. Each is a real short transfer the engine must resume. */
static void test_short(void)
{
	static const size_t limits[] = { 1000, 4096, 511, 1 };
	struct fixture f;

	CHECK_EQ(fx_open(&f, tmpdir(), 1 << 20, 8, false), 0);
	if (!f.open)
		return;
	for (unsigned int i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		uint64_t before = f.e.stats.resubmitted;

		check_scatter(&f, limits[i], 65536 + i);
		CHECK(f.e.stats.resubmitted > before);
	}
	/* With limit 1 every byte (32417 each way) is its own SQE. */
	CHECK(f.e.stats.submitted > 2 * 32000);
	fx_close(&f);
}

/* 2000 segments: readv takes IOV_MAX (1024) at most, so the engine sends
 * the array in pieces instead of failing with -EINVAL. */
static void test_many_segments(void)
{
	static size_t sizes[2000];
	struct fixture f;
	struct sg s;
	uint8_t *src, *got;

	for (unsigned int i = 0; i < 2000; i++)
		sizes[i] = 8 + (i % 3);
	CHECK_EQ(fx_open(&f, tmpdir(), 1 << 20, 8, false), 0);
	if (!f.open)
		return;
	sg_build(&s, sizes, 2000);
	src = malloc(s.total);
	got = malloc(s.total);
	pattern(src, s.total, 3);
	sg_load(&s, src);
	CHECK_EQ(rw(&f, BLK_WRITE, 512, s.iov, s.n), 0);
	memset(s.mem, GUARD_BYTE, s.memlen);
	CHECK_EQ(rw(&f, BLK_READ, 512, s.iov, s.n), 0);
	sg_store(&s, got);
	CHECK_MEM(got, src, s.total);
	CHECK(sg_guards_ok(&s));
	free(src);
	free(got);
	sg_free(&s);
	fx_close(&f);
}

/* Depth 4: the SQ holds 4, the CQ 16, so at most 14 requests are out and
 * 100 queued at once mostly wait on the overflow list. */
static void test_overflow(void)
{
	enum { N = 100, BS = 4096 };
	static uint8_t bufs[N][BS], want[BS];
	struct blk_req reqs[N];
	struct iovec iov[N];
	struct fixture f;
	bool data_ok = true;

	CHECK_EQ(fx_open(&f, tmpdir(), N * BS, 4, false), 0);
	if (!f.open)
		return;
	for (int i = 0; i < N; i++) {
		pattern(bufs[i], BS, (unsigned int)i);
		iov[i] = (struct iovec){ bufs[i], BS };
		reqs[i] = (struct blk_req){ .op = BLK_WRITE,
					    .offset = (uint64_t)i * BS,
					    .iov = &iov[i], .niov = 1,
					    .opaque = (void *)(intptr_t)i };
		uring_engine_queue(&f.e, &reqs[i]);
	}
	CHECK_EQ(uring_engine_pending(&f.e), N);
	CHECK(f.e.ovf_head != NULL);
	CHECK_EQ(run_until(&f, N), 0);
	CHECK_EQ(f.t.ncomplete, N);
	CHECK(f.t.cap_ok);
	CHECK(f.e.stats.overflowed >= N - f.e.cap);
	CHECK_EQ(uring_engine_pending(&f.e), 0);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(f.t.res[i], 0);
		pattern(want, BS, (unsigned int)i);
		if (pread(f.img.fd, bufs[i], BS, (off_t)i * BS) != BS ||
		    memcmp(bufs[i], want, BS))
			data_ok = false;
	}
	CHECK(data_ok);

	/* And back through reads, again all queued before one flush. */
	t_reset(&f);
	memset(bufs, 0, sizeof(bufs));
	for (int i = 0; i < N; i++) {
		reqs[i].op = BLK_READ;
		uring_engine_queue(&f.e, &reqs[i]);
	}
	CHECK_EQ(run_until(&f, N), 0);
	CHECK(f.t.cap_ok);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(f.t.res[i], 0);
		pattern(want, BS, (unsigned int)i);
		if (memcmp(bufs[i], want, BS))
			data_ok = false;
	}
	CHECK(data_ok);
	fx_close(&f);
}

/* The overflow list is FIFO. Depth 1 (SQ 1, CQ 4, two out at most): 40
 * reads of cached data, which the kernel completes while they are being
 * submitted, so completions come back in submission order. */
static void test_fifo(void)
{
	enum { N = 40 };
	static uint8_t buf[N][512];
	struct blk_req reqs[N];
	struct iovec iov[N];
	struct fixture f;
	bool in_order = true;

	CHECK_EQ(fx_open(&f, tmpdir(), 65536, 1, false), 0);
	if (!f.open)
		return;
	for (int i = 0; i < N; i++) {
		iov[i] = (struct iovec){ buf[i], sizeof(buf[i]) };
		reqs[i] = (struct blk_req){ .op = BLK_READ,
					    .offset = (uint64_t)i * 512,
					    .iov = &iov[i], .niov = 1,
					    .opaque = (void *)(intptr_t)i };
		uring_engine_queue(&f.e, &reqs[i]);
	}
	CHECK_EQ(run_until(&f, N), 0);
	CHECK(f.t.cap_ok);
	for (int i = 0; i < N; i++) {
		CHECK_EQ(f.t.res[i], 0);
		if (f.t.order[i] != i)
			in_order = false;
	}
	CHECK(in_order);
	fx_close(&f);
}

/* A read running off the end of the image: the part before EOF lands, the
 * request fails with -EIO. A zero-segment read is simply done. */
static void test_eof(void)
{
	static uint8_t src[8192], got[8192];
	struct iovec iov = { got, sizeof(got) };
	struct fixture f;

	CHECK_EQ(fx_open(&f, tmpdir(), 65536, 8, false), 0);
	if (!f.open)
		return;
	pattern(src, sizeof(src), 9);
	CHECK_EQ(pwrite(f.img.fd, src, 4096, 61440), 4096);
	CHECK_EQ(rw(&f, BLK_READ, 61440, &iov, 1), -EIO);
	CHECK_MEM(got, src, 4096);
	CHECK_EQ(rw(&f, BLK_READ, 65536, &iov, 1), -EIO);
	CHECK_EQ(rw(&f, BLK_READ, 0, NULL, 0), 0);
	fx_close(&f);
}

static void test_flush(void)
{
	static uint8_t buf[4096];
	struct iovec iov = { buf, sizeof(buf) };
	struct blk_req w = { .op = BLK_WRITE, .offset = 0, .iov = &iov,
			     .niov = 1, .opaque = (void *)(intptr_t)0 };
	struct blk_req fl = { .op = BLK_FLUSH, .opaque = (void *)(intptr_t)1 };
	struct fixture f;

	CHECK_EQ(fx_open(&f, tmpdir(), 65536, 8, false), 0);
	if (!f.open)
		return;
	pattern(buf, sizeof(buf), 1);
	uring_engine_queue(&f.e, &w);
	CHECK_EQ(run_until(&f, 1), 0);
	uring_engine_queue(&f.e, &fl);
	CHECK_EQ(run_until(&f, 2), 0);
	CHECK_EQ(f.t.res[0], 0);
	CHECK_EQ(f.t.res[1], 0);
	fx_close(&f);
}

static void check_range(struct fixture *f, uint64_t size, uint64_t zoff,
			uint64_t zlen, unsigned int seed)
{
	uint8_t *want = malloc(size), *got = malloc(size);
	struct iovec iov = { got, size };

	pattern(want, size, seed);
	memset(want + zoff, 0, zlen);
	CHECK_EQ(rw(f, BLK_READ, 0, &iov, 1), 0);
	CHECK_MEM(got, want, size);
	CHECK(all_zero(got + zoff, zlen));
	free(want);
	free(got);
}

static void fill(struct fixture *f, uint64_t size, unsigned int seed)
{
	uint8_t *buf = malloc(size);

	pattern(buf, size, seed);
	CHECK_EQ(pwrite(f->img.fd, buf, size, 0), (ssize_t)size);
	free(buf);
}

static uint64_t file_size(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : (uint64_t)st.st_size;
}

static uint64_t file_blocks(int fd)
{
	struct stat st;

	return fstat(fd, &st) ? 0 : (uint64_t)st.st_blocks;
}

static void test_discard(void)
{
	enum { SIZE = 256 << 10 };
	struct fixture f;
	uint64_t blocks;
	int res;

	CHECK_EQ(fx_open(&f, tmpdir(), SIZE, 8, false), 0);
	if (!f.open)
		return;
	fill(&f, SIZE, 4);
	CHECK_EQ(fsync(f.img.fd), 0);
	blocks = file_blocks(f.img.fd);
	res = ranged(&f, BLK_DISCARD, 65536, 65536);
	if (res == -EOPNOTSUPP) {
		fprintf(stderr, "test_discard: %s has no hole punching, "
			"skipped\n", tmpdir());
		goto out;
	}
	CHECK_EQ(res, 0);
	check_range(&f, SIZE, 65536, 65536, 4);
	CHECK_EQ(file_size(f.img.fd), SIZE);
	CHECK(file_blocks(f.img.fd) < blocks);
	/* Past the end: KEEP_SIZE, the image does not grow. */
	CHECK_EQ(ranged(&f, BLK_DISCARD, SIZE - 4096, 65536), 0);
	CHECK_EQ(file_size(f.img.fd), SIZE);
out:
	fx_close(&f);
}

static void test_write_zeroes(void)
{
	enum { SIZE = 256 << 10 };
	struct fixture f;

	CHECK_EQ(fx_open(&f, tmpdir(), SIZE, 8, false), 0);
	if (!f.open)
		return;
	fill(&f, SIZE, 5);
	/* Unaligned on purpose: partial blocks are zeroed too. */
	CHECK_EQ(ranged(&f, BLK_WRITE_ZEROES, 4096 + 100, 5000), 0);
	check_range(&f, SIZE, 4096 + 100, 5000, 5);
	CHECK_EQ(ranged(&f, BLK_WRITE_ZEROES, SIZE - 4096, 65536), 0);
	CHECK_EQ(file_size(f.img.fd), SIZE);
	fx_close(&f);
}

/* RLIMIT_FSIZE: a write straddling the limit moves what fits (a real
 * short write), and the resubmitted rest fails with -EFBIG. */
static void test_efbig(void)
{
	enum { LIMIT = 1 << 20 };
	static uint8_t buf[8192], got[4096];
	struct iovec iov = { buf, sizeof(buf) };
	struct rlimit old, lim;
	struct fixture f;

	CHECK_EQ(fx_open(&f, tmpdir(), 2 * LIMIT, 8, false), 0);
	if (!f.open)
		return;
	pattern(buf, sizeof(buf), 6);
	CHECK_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = LIMIT;
	signal(SIGXFSZ, SIG_IGN);
	CHECK_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
	CHECK_EQ(rw(&f, BLK_WRITE, LIMIT - 4096, &iov, 1), -EFBIG);
	CHECK_EQ(rw(&f, BLK_WRITE, LIMIT, &iov, 1), -EFBIG);
	CHECK_EQ(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	CHECK_EQ(pread(f.img.fd, got, 4096, LIMIT - 4096), 4096);
	CHECK_MEM(got, buf, 4096);
	fx_close(&f);
}

/* Writes to a read-only image fail (the device should refuse them first). */
static void test_readonly(void)
{
	static uint8_t buf[4096];
	struct iovec iov = { buf, sizeof(buf) };
	struct fixture f;

	CHECK_EQ(fx_open(&f, tmpdir(), 65536, 8, true), 0);
	if (!f.open)
		return;
	CHECK_EQ(rw(&f, BLK_WRITE, 0, &iov, 1), -EBADF);
	CHECK_EQ(rw(&f, BLK_READ, 0, &iov, 1), 0);
	fx_close(&f);
}

static void test_bad_op_and_idle(void)
{
	struct fixture f;
	struct blk_req req = { .op = (enum blk_op)99 };

	CHECK_EQ(fx_open(&f, tmpdir(), 65536, 8, false), 0);
	if (!f.open)
		return;
	CHECK_EQ(uring_engine_run_once(&f.e), -EDEADLK);
	CHECK_EQ(do_one(&f, &req), -EINVAL);
	CHECK_EQ(uring_engine_run_once(&f.e), -EDEADLK);
	fx_close(&f);
}

static void test_init_args(void)
{
	struct fixture f;
	struct uring_engine e;

	CHECK_EQ(fx_open(&f, tmpdir(), 65536, 8, false), 0);
	if (!f.open)
		return;
	CHECK_EQ(uring_engine_init(&e, "bad", &f.img, 0, t_done, NULL),
		 -EINVAL);
	uring_engine_destroy(&e);	/* harmless after a failed init */
	/* A 32768-entry virtqueue gets a 4096-entry SQ. */
	CHECK_EQ(uring_engine_init(&e, "big", &f.img, 32768, t_done, NULL), 0);
	CHECK_EQ(e.ring.sq.ring_entries, 4096);
	uring_engine_destroy(&e);
	CHECK_EQ(uring_engine_init(&e, "bad", &f.img, 8, NULL, NULL), -EINVAL);
	CHECK_EQ(uring_engine_init(&e, "ok", &f.img, 1, t_done, NULL), 0);
	CHECK(e.cap >= 1);
	uring_engine_destroy(&e);
	uring_engine_destroy(&e);
	fx_close(&f);
}

/* Closing an image hands its lock on at once, though the ring that
 * registered its descriptor lets go of the file only later: the same image
 * opens again straight away (a restarted tern-blk, a disk added back). An
 * engine torn down with a request out marks the image, whose lock then
 * stays until the kernel lets go. */
static void test_reopen(void)
{
	struct fixture f;
	struct blk_image again;
	static uint8_t buf[4096];	/* the kernel may fill it after return */
	struct blk_req req = { .op = BLK_READ };
	struct iovec iov = { buf, sizeof(buf) };

	req.iov = &iov;
	req.niov = 1;
	CHECK_EQ(fx_open(&f, tmpdir(), 65536, 8, false), 0);
	if (!f.open)
		return;
	CHECK_EQ(f.e.sqe_flags, IOSQE_FIXED_FILE);
	CHECK_EQ(do_one(&f, &req), 0);
	uring_engine_destroy(&f.e);
	CHECK(!f.img.io_left);
	blk_image_close(&f.img);
	CHECK_EQ(blk_image_open(&again, f.path, false, false), 0);
	blk_image_close(&again);
	unlink(f.path);
	f.open = false;

	CHECK_EQ(fx_open(&f, tmpdir(), 65536, 8, false), 0);
	if (!f.open)
		return;
	t_reset(&f);
	uring_engine_queue(&f.e, &req);
	CHECK_EQ(uring_engine_flush(&f.e), 0);
	uring_engine_destroy(&f.e);
	CHECK(f.img.io_left);
	blk_image_close(&f.img);
	CHECK(!f.img.io_left);
	unlink(f.path);
	f.open = false;
}

/* The ring takes only the engine's operations (io_uring work bypasses
 * seccomp): an OPENAT on it fails with EACCES, as does a register call
 * once the ring is enabled. */
static void test_restricted(void)
{
	struct fixture f;
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe = NULL;

	CHECK_EQ(fx_open(&f, tmpdir(), 65536, 8, false), 0);
	if (!f.open)
		return;
	CHECK(f.e.setup_flags & IORING_SETUP_R_DISABLED);
	CHECK_EQ(uring_engine_flush(&f.e), 0);	/* enables the ring */
	sqe = io_uring_get_sqe(&f.e.ring);
	CHECK(sqe != NULL);
	if (sqe) {
		io_uring_prep_openat(sqe, AT_FDCWD, f.path, O_RDONLY, 0);
		io_uring_sqe_set_data64(sqe, 0x7e57);
		CHECK_EQ(io_uring_submit(&f.e.ring), 1);
		CHECK_EQ(io_uring_wait_cqe(&f.e.ring, &cqe), 0);
		if (cqe) {
			CHECK_EQ(io_uring_cqe_get_data64(cqe), 0x7e57);
			CHECK_EQ(cqe->res, -EACCES);
			io_uring_cqe_seen(&f.e.ring, cqe);
		}
	}
	CHECK_EQ(io_uring_register_files_update(&f.e.ring, 0, &f.img.fd, 1),
		 -EACCES);
	fx_close(&f);
}

/* A kernel before 5.10 refuses IORING_SETUP_R_DISABLED with EINVAL. This
 * definition stands in for liburing's (the executable's symbol wins) and,
 * while old_kernel is set, answers as such a kernel would. */
static bool old_kernel;

int io_uring_queue_init_params(unsigned int entries, struct io_uring *ring,
			       struct io_uring_params *p)
{
	static int (*real)(unsigned int, struct io_uring *,
			   struct io_uring_params *);

	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT,
					"io_uring_queue_init_params");
	if (old_kernel && (p->flags & (IORING_SETUP_R_DISABLED |
				       IORING_SETUP_SINGLE_ISSUER |
				       IORING_SETUP_COOP_TASKRUN)))
		return -EINVAL;
	return real ? real(entries, ring, p) : -ENOSYS;
}

/* No unrestricted ring: where the kernel cannot start a ring disabled
 * (and so cannot restrict it), the engine refuses to make one. */
static void test_no_unrestricted(void)
{
	struct fixture f;
	struct uring_engine e;

	CHECK_EQ(fx_open(&f, tmpdir(), 65536, 8, false), 0);
	if (!f.open)
		return;
	old_kernel = true;
	CHECK_EQ(uring_engine_init(&e, "old", &f.img, 8, t_done, NULL),
		 -EINVAL);
	if (e.ring.ring_fd >= 0) {
		fprintf(stderr, "an unrestricted ring, setup flags 0x%x\n",
			e.setup_flags);
		uring_engine_destroy(&e);
	}
	old_kernel = false;
	CHECK_EQ(uring_engine_init(&e, "new", &f.img, 8, t_done, NULL), 0);
	CHECK(e.setup_flags & IORING_SETUP_R_DISABLED);
	uring_engine_destroy(&e);
	fx_close(&f);
}

/* ---- eventfd watch ---- */

struct kick_ctx {
	int kicks;
	struct fixture *f;	/* when set, each kick queues a read */
	struct blk_req req;
	struct iovec iov;
	uint8_t buf[512];
};

static void on_kick(void *ctx)
{
	struct kick_ctx *k = ctx;

	k->kicks++;
	if (k->f) {
		k->req = (struct blk_req){ .op = BLK_READ, .offset = 0,
					   .iov = &k->iov, .niov = 1,
					   .opaque = (void *)(intptr_t)0 };
		k->iov = (struct iovec){ k->buf, sizeof(k->buf) };
		uring_engine_queue(&k->f->e, &k->req);
	}
}

static void kick(int fd, uint64_t n)
{
	CHECK_EQ(write(fd, &n, sizeof(n)), (ssize_t)sizeof(n));
}

struct later {
	int fd;
	uint64_t value;
	unsigned int delay_ms;
};

static void *write_later(void *arg)
{
	struct later *l = arg;

	usleep(l->delay_ms * 1000);
	if (write(l->fd, &l->value, sizeof(l->value)) != sizeof(l->value))
		abort();
	return NULL;
}

static void check_watch(int efd_flags)
{
	struct kick_ctx k = { 0 };
	struct fixture f;
	pthread_t th;
	struct later l;
	int kfd, sfd;

	CHECK_EQ(fx_open(&f, tmpdir(), 65536, 4, false), 0);
	if (!f.open)
		return;
	kfd = eventfd(0, EFD_CLOEXEC | efd_flags);
	sfd = eventfd(0, EFD_CLOEXEC | efd_flags);
	CHECK_EQ(uring_engine_watch_fd(&f.e, kfd, on_kick, &k), 0);
	CHECK_EQ(uring_engine_watch_fd(&f.e, kfd, on_kick, &k), -EBUSY);
	CHECK_EQ(uring_engine_set_stop_fd(&f.e, sfd), 0);

	kick(kfd, 1);
	CHECK_EQ(uring_engine_run_once(&f.e), 0);
	CHECK_EQ(k.kicks, 1);
	/* Re-armed: a second round fires again; two writes, one read. */
	kick(kfd, 1);
	kick(kfd, 1);
	CHECK_EQ(uring_engine_run_once(&f.e), 0);
	CHECK_EQ(k.kicks, 2);
	CHECK_EQ(f.e.kick.count, 2);

	/* Blocking wait woken by another thread's write. */
	l = (struct later){ kfd, 1, 100 };
	CHECK_EQ(pthread_create(&th, NULL, write_later, &l), 0);
	CHECK_EQ(uring_engine_run_once(&f.e), 0);
	CHECK_EQ(k.kicks, 3);
	pthread_join(th, NULL);

	/* Stop from another thread. */
	l = (struct later){ sfd, 1, 50 };
	CHECK_EQ(pthread_create(&th, NULL, write_later, &l), 0);
	CHECK_EQ(uring_engine_run_once(&f.e), 1);
	CHECK_EQ(k.kicks, 3);
	pthread_join(th, NULL);

	/* Still usable after a stop; a kick that queues I/O gets it done by
	 * the following run_once calls with no flush. */
	k.f = &f;
	t_reset(&f);
	kick(kfd, 1);
	for (int i = 0; i < 10 && f.t.ncomplete < 1; i++)
		CHECK_EQ(uring_engine_run_once(&f.e), 0);
	CHECK_EQ(k.kicks, 4);
	CHECK_EQ(f.t.ncomplete, 1);
	CHECK_EQ(f.t.res[0], 0);
	CHECK_EQ(f.e.stats.kicks, 4);

	fx_close(&f);
	close(kfd);
	close(sfd);
}

static void test_watch(void)
{
	check_watch(0);
	check_watch(EFD_NONBLOCK);
}

/* uring_engine_poll never waits, yet sees everything run_once would: a
 * write, an eventfd read that completes later (task work the kernel runs
 * when the thread enters it, which the TASKRUN flag asks for; a timer tick
 * would run it too, only later), and the stop fd. The loops make no
 * system call of their own. */
static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_poll(void)
{
	struct kick_ctx k = { 0 };
	static uint8_t buf[4096];
	struct iovec iov = { buf, sizeof(buf) };
	struct blk_req req = { .op = BLK_WRITE, .offset = 8192, .iov = &iov,
			       .niov = 1 };
	struct fixture f;
	struct later l;
	pthread_t th;
	unsigned int ev, total = 0;
	uint64_t t0;
	int kfd, sfd, ret = 0;

	CHECK_EQ(fx_open(&f, tmpdir(), 65536, 4, false), 0);
	if (!f.open)
		return;
	kfd = eventfd(0, EFD_CLOEXEC);
	sfd = eventfd(0, EFD_CLOEXEC);
	CHECK_EQ(uring_engine_watch_fd(&f.e, kfd, on_kick, &k), 0);
	CHECK_EQ(uring_engine_set_stop_fd(&f.e, sfd), 0);

	pattern(buf, sizeof(buf), 9);
	t_reset(&f);
	uring_engine_queue(&f.e, &req);
	for (t0 = mono_ms(); f.t.ncomplete < 1 && mono_ms() - t0 < 2000;) {
		CHECK_EQ(uring_engine_poll(&f.e, &ev), 0);
		total += ev;
	}
	CHECK_EQ(f.t.ncomplete, 1);
	CHECK_EQ(f.t.res[0], 0);
	CHECK(total >= 1);

	l = (struct later){ kfd, 1, 50 };
	CHECK_EQ(pthread_create(&th, NULL, write_later, &l), 0);
	for (t0 = mono_ms(); !k.kicks && mono_ms() - t0 < 2000;)
		CHECK_EQ(uring_engine_poll(&f.e, &ev), 0);
	pthread_join(th, NULL);
	CHECK_EQ(k.kicks, 1);

	kick(sfd, 1);
	for (t0 = mono_ms(); !(ret = uring_engine_poll(&f.e, &ev)) &&
	     mono_ms() - t0 < 2000;)
		;
	CHECK_EQ(ret, 1);
	fx_close(&f);
	close(kfd);
	close(sfd);
}

/* Submitting early (block/uring.h): within a turn the second request
 * queued takes the SQ to the kernel at once; reads of cached pages
 * complete inside that submission, so the rest of the turn waits for the
 * turn's own submission; the next turn probes again. */
struct eager_ctx {
	struct fixture *f;
	struct blk_req req[4];
	struct iovec iov[4];
	uint8_t buf[4][512];
	unsigned int sq[4];		/* SQ entries after each queue */
	uint64_t eager[4];		/* early submissions after each */
};

static void on_kick_eager(void *ctx)
{
	struct eager_ctx *k = ctx;
	struct uring_engine *e = &k->f->e;

	for (int i = 0; i < 4; i++) {
		k->iov[i] = (struct iovec){ k->buf[i], sizeof(k->buf[i]) };
		k->req[i] = (struct blk_req){ .op = BLK_READ,
					      .offset = (uint64_t)i * 512,
					      .iov = &k->iov[i], .niov = 1,
					      .opaque = (void *)(intptr_t)i };
		uring_engine_queue(e, &k->req[i]);
		k->sq[i] = io_uring_sq_ready(&e->ring);
		k->eager[i] = e->stats.eager;
	}
}

static void test_eager(void)
{
	static uint8_t data[4096];
	struct iovec iov = { data, sizeof(data) };
	struct blk_req w = { .op = BLK_WRITE, .offset = 0, .iov = &iov,
			     .niov = 1 };
	struct eager_ctx k = { 0 };
	struct fixture f;
	bool data_ok = true;
	int kfd;

	CHECK_EQ(fx_open(&f, tmpdir(), 65536, 8, false), 0);
	if (!f.open)
		return;
	k.f = &f;
	kfd = eventfd(0, EFD_CLOEXEC);
	CHECK_EQ(uring_engine_watch_fd(&f.e, kfd, on_kick_eager, &k), 0);
	/* The pages the reads want, in the page cache. */
	pattern(data, sizeof(data), 5);
	CHECK_EQ(do_one(&f, &w), 0);

	for (int round = 1; round <= 2; round++) {
		t_reset(&f);
		kick(kfd, 1);
		for (int i = 0; i < 10 && f.t.ncomplete < 4; i++)
			CHECK_EQ(uring_engine_run_once(&f.e), 0);
		CHECK_EQ(f.t.ncomplete, 4);
		/* One request waits; the second sends both; the pair came
		 * back inside the submission, so the next two wait. */
		CHECK_EQ(k.sq[0], 1);
		CHECK_EQ(k.sq[1], 0);
		CHECK_EQ(k.sq[2], 1);
		CHECK_EQ(k.sq[3], 2);
		CHECK_EQ(k.eager[0], (uint64_t)round - 1);
		CHECK_EQ(k.eager[1], (uint64_t)round);
		CHECK_EQ(k.eager[3], (uint64_t)round);
		for (int i = 0; i < 4; i++) {
			CHECK_EQ(f.t.res[i], 0);
			if (memcmp(k.buf[i], data + i * 512, 512))
				data_ok = false;
		}
	}
	CHECK(data_ok);
	fx_close(&f);
	close(kfd);
}

/* An SQPOLL engine (where the kernel grants one) moves the same bytes. */
static void test_sqpoll(void)
{
	const struct uring_engine_opts o = { .sqpoll = true,
					     .sqpoll_idle_ms = 10 };
	static uint8_t want[8192], got[8192];
	struct iovec iov = { got, sizeof(got) };
	struct fixture f;
	int ret;

	CHECK_EQ(fx_open(&f, tmpdir(), 65536, 8, false), 0);
	if (!f.open)
		return;
	uring_engine_destroy(&f.e);
	ret = uring_engine_init_opts(&f.e, "sqpoll q0", &f.img, 8, t_done,
				     &f.t, &o);
	CHECK_EQ(ret, 0);
	if (ret) {
		f.open = false;
		return;
	}
	if (!(f.e.setup_flags & IORING_SETUP_SQPOLL))
		fprintf(stderr, "test_uring: no SQPOLL here, the engine runs "
			"without\n");
	pattern(want, sizeof(want), 5);
	memcpy(got, want, sizeof(got));
	CHECK_EQ(rw(&f, BLK_WRITE, 512, &iov, 1), 0);
	memset(got, 0, sizeof(got));
	CHECK_EQ(rw(&f, BLK_READ, 512, &iov, 1), 0);
	CHECK_MEM(got, want, sizeof(got));
	fx_close(&f);
}

/* Created here, run on another thread: with SINGLE_ISSUER the ring must
 * belong to the thread that submits. */
static void *run_elsewhere(void *arg)
{
	struct fixture *f = arg;
	static uint8_t buf[4096];
	struct iovec iov = { buf, sizeof(buf) };

	pattern(buf, sizeof(buf), 8);
	CHECK_EQ(rw(f, BLK_WRITE, 4096, &iov, 1), 0);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(rw(f, BLK_READ, 4096, &iov, 1), 0);
	return NULL;
}

static void test_other_thread(void)
{
	static uint8_t want[4096], got[4096];
	struct fixture f;
	pthread_t th;

	CHECK_EQ(fx_open(&f, tmpdir(), 65536, 8, false), 0);
	if (!f.open)
		return;
	fprintf(stderr, "test_uring: setup flags 0x%x, %s file\n",
		f.e.setup_flags, f.e.sqe_flags ? "fixed" : "plain");
	CHECK_EQ(pthread_create(&th, NULL, run_elsewhere, &f), 0);
	pthread_join(th, NULL);
	pattern(want, sizeof(want), 8);
	CHECK_EQ(pread(f.img.fd, got, 4096, 4096), 4096);
	CHECK_MEM(got, want, 4096);
	fx_close(&f);
}

/* The NUMA pin helper: node 0 exists wherever libnuma works; a node far
 * past the last does not. Without libnuma both are -ENOSYS. */
static void test_pin(void)
{
	int ret = blk_thread_pin_node(0);

	if (ret == -ENOSYS) {
		CHECK_EQ(blk_thread_pin_node(100000), -ENOSYS);
		return;
	}
	CHECK_EQ(ret, 0);
	CHECK_EQ(blk_thread_pin_node(100000), -EINVAL);
	CHECK_EQ(blk_thread_pin_node(-1), -EINVAL);
}

/* ---- file systems made for the test (root only) ---- */

struct mnt {
	char dir[128];
	bool mounted;
};

static bool mnt_make(struct mnt *m, const char *type, const char *opts)
{
	snprintf(m->dir, sizeof(m->dir), "%s/tern-mnt-XXXXXX", tmpdir());
	m->mounted = false;
	if (!mkdtemp(m->dir))
		return false;
	if (mount(type, m->dir, type, 0, opts) < 0) {
		rmdir(m->dir);
		return false;
	}
	m->mounted = true;
	return true;
}

static void mnt_drop(struct mnt *m)
{
	if (!m->mounted)
		return;
	umount2(m->dir, MNT_DETACH);
	rmdir(m->dir);
	m->mounted = false;
}

/* A 64 KiB tmpfs: a 128 KiB write fills it, then -ENOSPC. */
static void test_enospc(void)
{
	static uint8_t buf[128 << 10];
	struct iovec iov = { buf, sizeof(buf) };
	struct fixture f;
	struct mnt m;

	if (!mnt_make(&m, "tmpfs", "size=64k")) {
		fprintf(stderr, "test_enospc: cannot mount tmpfs, skipped\n");
		return;
	}
	CHECK_EQ(fx_open(&f, m.dir, 1 << 20, 8, false), 0);
	if (f.open) {
		pattern(buf, sizeof(buf), 2);
		CHECK_EQ(rw(&f, BLK_WRITE, 0, &iov, 1), -ENOSPC);
		CHECK(f.e.stats.resubmitted >= 1);	/* short, then ENOSPC */
		fx_close(&f);
	}
	mnt_drop(&m);
}

/* tmpfs has no ZERO_RANGE: the engine falls back to punching holes. ramfs
 * has no fallocate at all: write-zeroes and discard are unsupported. */
static void test_zero_fallbacks(void)
{
	enum { SIZE = 64 << 10 };
	struct fixture f;
	struct mnt m;

	if (!mnt_make(&m, "tmpfs", "size=4m")) {
		fprintf(stderr, "test_zero_fallbacks: cannot mount, skipped\n");
		return;
	}
	CHECK_EQ(fx_open(&f, m.dir, SIZE, 8, false), 0);
	if (f.open) {
		fill(&f, SIZE, 7);
		CHECK_EQ(ranged(&f, BLK_WRITE_ZEROES, 8192, 8192), 0);
		check_range(&f, SIZE, 8192, 8192, 7);
		CHECK_EQ(f.e.zero_mode, FALLOC_FL_PUNCH_HOLE |
					FALLOC_FL_KEEP_SIZE);
		/* Later requests go straight to the hole punch. */
		fill(&f, SIZE, 7);
		CHECK_EQ(ranged(&f, BLK_WRITE_ZEROES, 32768, 4096), 0);
		check_range(&f, SIZE, 32768, 4096, 7);
		CHECK_EQ(file_size(f.img.fd), SIZE);
		fx_close(&f);
	}
	mnt_drop(&m);

	if (!mnt_make(&m, "ramfs", NULL)) {
		fprintf(stderr, "test_zero_fallbacks: no ramfs, skipped\n");
		return;
	}
	CHECK_EQ(fx_open(&f, m.dir, SIZE, 8, false), 0);
	if (f.open) {
		fill(&f, SIZE, 7);
		CHECK_EQ(ranged(&f, BLK_WRITE_ZEROES, 0, 4096), -EOPNOTSUPP);
		CHECK_EQ(f.e.zero_mode, 0);
		/* Known now: answered without trying fallocate again. */
		CHECK_EQ(ranged(&f, BLK_WRITE_ZEROES, 0, 4096), -EOPNOTSUPP);
		CHECK_EQ(ranged(&f, BLK_DISCARD, 0, 4096), -EOPNOTSUPP);
		check_range(&f, SIZE, 0, 0, 7);		/* untouched */
		fx_close(&f);
	}
	mnt_drop(&m);
}

/* A private mount namespace so test mounts never reach the host's. Done
 * first, while the process has one thread. */
static bool private_mounts(void)
{
	if (geteuid() != 0)
		return false;
	if (unshare(CLONE_NEWNS) < 0)
		return false;
	return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
}

int main(void)
{
	struct io_uring probe;
	bool mounts = private_mounts();
	int ret;

	alarm(30);	/* a hang is a failure (the whole test takes ~2 s) */
	ret = io_uring_queue_init(4, &probe, 0);
	if (ret == -ENOSYS || ret == -EPERM) {
		fprintf(stderr, "test_uring: io_uring unavailable (%s), "
			"skipped\n", strerror(-ret));
		return CHECK_EXIT_SKIP;
	}
	CHECK_EQ(ret, 0);
	if (!ret)
		io_uring_queue_exit(&probe);

	test_init_args();
	test_scatter();
	test_fixed();
	test_short();
	test_many_segments();
	test_overflow();
	test_fifo();
	test_eof();
	test_flush();
	test_discard();
	test_write_zeroes();
	test_efbig();
	test_readonly();
	test_bad_op_and_idle();
	test_reopen();
	test_restricted();
	test_no_unrestricted();
	test_watch();
	test_poll();
	test_eager();
	test_sqpoll();
	test_other_thread();
	test_pin();
	if (mounts) {
		test_enospc();
		test_zero_fallbacks();
	} else {
		fprintf(stderr, "test_uring: not root (or no mount namespace): "
			"ENOSPC and fallocate fallback parts skipped\n");
	}
	return check_done("test_uring");
}
