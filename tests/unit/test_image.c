/* Raw images: geometry of files (buffered and O_DIRECT) and, as root, of a
 * loop block device; refusals (missing file, directory, FIFO, character
 * device, size not a multiple of 512, no write permission); OFD locks
 * between opens in this process and from a child process. */
#include <fcntl.h>
#include <linux/loop.h>
#include <stdbool.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "block/image.h"
#include "tests/unit/check.h"

static const char *tmpdir(void)
{
	const char *d = getenv("TMPDIR");

	return d && *d ? d : "/tmp";
}

/* A SIZE-byte file in the temporary directory; its path in PATH. */
static int make_file(char *path, size_t len, uint64_t size)
{
	int fd, ret = 0;

	snprintf(path, len, "%s/tern-image-XXXXXX", tmpdir());
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static void test_file(void)
{
	struct blk_image img;
	char path[128];

	CHECK_EQ(make_file(path, sizeof(path), 1 << 20), 0);
	CHECK_EQ(blk_image_open(&img, path, false, false), 0);
	CHECK(img.fd >= 0);
	CHECK_EQ(img.size, 1 << 20);
	CHECK_EQ(img.logical_block, 512);
	CHECK_EQ(img.mem_align, 1);
	CHECK(!img.readonly);
	CHECK(!img.direct);
	CHECK(!img.blockdev);
	CHECK(img.locked);
	CHECK_STR(img.path, path);
	/* The descriptor is blocking (O_NONBLOCK only guarded the open) and
	 * close-on-exec. */
	CHECK_EQ(fcntl(img.fd, F_GETFL) & O_NONBLOCK, 0);
	CHECK_EQ(fcntl(img.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	CHECK_EQ(fcntl(img.fd, F_GETFL) & O_ACCMODE, O_RDWR);
	blk_image_close(&img);
	CHECK_EQ(img.fd, -1);
	blk_image_close(&img);

	CHECK_EQ(blk_image_open(&img, path, true, false), 0);
	CHECK(img.readonly);
	CHECK_EQ(fcntl(img.fd, F_GETFL) & O_ACCMODE, O_RDONLY);
	blk_image_close(&img);
	unlink(path);
}

static void test_empty(void)
{
	struct blk_image img;
	char path[128];

	CHECK_EQ(make_file(path, sizeof(path), 0), 0);
	CHECK_EQ(blk_image_open(&img, path, false, false), 0);
	CHECK_EQ(img.size, 0);
	blk_image_close(&img);
	unlink(path);
}

static void test_refusals(void)
{
	struct blk_image img;
	char path[128];

	snprintf(path, sizeof(path), "%s/tern-image-missing-%d", tmpdir(),
		 (int)getpid());
	CHECK_EQ(blk_image_open(&img, path, false, false), -ENOENT);
	CHECK_EQ(img.fd, -1);
	CHECK(img.path == NULL);
	blk_image_close(&img);		/* harmless after a failure */
	CHECK_EQ(blk_image_open(&img, path, true, false), -ENOENT);

	CHECK_EQ(blk_image_open(&img, tmpdir(), false, false), -EISDIR);
	CHECK_EQ(blk_image_open(&img, tmpdir(), true, false), -EISDIR);
	CHECK_EQ(blk_image_open(&img, "/dev/null", false, false), -EINVAL);

	/* A FIFO is refused, and without hanging in open(). */
	snprintf(path, sizeof(path), "%s/tern-image-fifo-%d", tmpdir(),
		 (int)getpid());
	CHECK_EQ(mkfifo(path, 0600), 0);
	CHECK_EQ(blk_image_open(&img, path, true, false), -EINVAL);
	unlink(path);

	CHECK_EQ(make_file(path, sizeof(path), 1000), 0);
	CHECK_EQ(blk_image_open(&img, path, false, false), -EINVAL);
	CHECK_EQ(img.fd, -1);
	CHECK_EQ(blk_image_open(&img, path, true, false), -EINVAL);
	unlink(path);

	CHECK_EQ(make_file(path, sizeof(path), (1 << 20) + 511), 0);
	CHECK_EQ(blk_image_open(&img, path, false, false), -EINVAL);
	unlink(path);
}

/* Root overrides file permissions, so only an ordinary user sees this. */
static void test_permission(void)
{
	struct blk_image img;
	char path[128];

	if (geteuid() == 0) {
		fprintf(stderr, "test_image: root, permission part skipped\n");
		return;
	}
	CHECK_EQ(make_file(path, sizeof(path), 65536), 0);
	CHECK_EQ(chmod(path, 0444), 0);
	CHECK_EQ(blk_image_open(&img, path, false, false), -EACCES);
	CHECK_EQ(blk_image_open(&img, path, true, false), 0);
	blk_image_close(&img);
	CHECK_EQ(chmod(path, 0), 0);
	CHECK_EQ(blk_image_open(&img, path, true, false), -EACCES);
	unlink(path);
}

/* Opens PATH in a child process; returns its result. */
static int open_in_child(const char *path, bool readonly)
{
	struct blk_image img;
	int status = 0;
	pid_t pid = fork();

	if (pid == 0) {
		int ret = blk_image_open(&img, path, readonly, false);

		blk_image_close(&img);
		_exit(ret == 0 ? 0 : ret == -EBUSY ? 1 : 2);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -ECHILD;
	return WEXITSTATUS(status) == 0 ? 0 :
	       WEXITSTATUS(status) == 1 ? -EBUSY : -EIO;
}

static void test_locks(void)
{
	struct blk_image a, b, c;
	char path[128];

	CHECK_EQ(make_file(path, sizeof(path), 65536), 0);

	/* A writer excludes every other open, even in this process. */
	CHECK_EQ(blk_image_open(&a, path, false, false), 0);
	CHECK_EQ(blk_image_open(&b, path, false, false), -EBUSY);
	CHECK_EQ(b.fd, -1);
	CHECK_EQ(blk_image_open(&b, path, true, false), -EBUSY);
	CHECK_EQ(open_in_child(path, false), -EBUSY);
	CHECK_EQ(open_in_child(path, true), -EBUSY);
	/* Closing releases it. */
	blk_image_close(&a);
	CHECK_EQ(blk_image_open(&b, path, false, false), 0);
	blk_image_close(&b);

	/* Readers share, and keep writers out. */
	CHECK_EQ(blk_image_open(&a, path, true, false), 0);
	CHECK_EQ(blk_image_open(&b, path, true, false), 0);
	CHECK_EQ(open_in_child(path, true), 0);
	CHECK_EQ(blk_image_open(&c, path, false, false), -EBUSY);
	CHECK_EQ(open_in_child(path, false), -EBUSY);
	blk_image_close(&a);
	CHECK_EQ(blk_image_open(&c, path, false, false), -EBUSY);
	blk_image_close(&b);
	CHECK_EQ(blk_image_open(&c, path, false, false), 0);
	blk_image_close(&c);

	/* A failed open must not leave a lock behind. */
	CHECK_EQ(open_in_child(path, false), 0);
	unlink(path);
}

/* O_DIRECT: the block is what statx reports (at least 512), and a size
 * that is not a multiple of it is refused. File systems without O_DIRECT
 * (tmpfs before 6.6) are reported and skipped. */
static void test_direct(void)
{
	struct blk_image img;
	char path[128];
	uint32_t lb;
	int ret;

	CHECK_EQ(make_file(path, sizeof(path), 1 << 20), 0);
	ret = blk_image_open(&img, path, false, true);
	if (ret == -EINVAL) {
		fprintf(stderr, "test_image: %s has no O_DIRECT, direct part "
			"skipped\n", tmpdir());
		unlink(path);
		return;
	}
	CHECK_EQ(ret, 0);
	CHECK(img.direct);
	CHECK_NE(fcntl(img.fd, F_GETFL) & O_DIRECT, 0);
	lb = img.logical_block;
	CHECK(lb >= 512 && (lb & (lb - 1)) == 0);
	CHECK(img.mem_align >= 1 && img.mem_align <= 4096);
	fprintf(stderr, "test_image: direct I/O on %s: block %u, memory "
		"alignment %u\n", tmpdir(), lb, img.mem_align);
	blk_image_close(&img);
	unlink(path);

	CHECK_EQ(make_file(path, sizeof(path), 3 * 4096 + 512), 0);
	CHECK_EQ(blk_image_open(&img, path, false, true),
		 lb > 512 ? -EINVAL : 0);
	blk_image_close(&img);
	unlink(path);
}

/* A loop device over a file: BLKGETSIZE64 and BLKSSZGET, at 512 and at a
 * 4096-byte logical block. Root only. */
static void test_blockdev(void)
{
	char path[128], dev[32];
	struct blk_image img, other;
	int ctl, n, loop = -1, back = -1;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	n = ctl < 0 ? -1 : ioctl(ctl, LOOP_CTL_GET_FREE);
	if (ctl >= 0)
		close(ctl);
	if (n < 0) {
		fprintf(stderr, "test_image: no loop devices, block device "
			"part skipped\n");
		return;
	}
	CHECK_EQ(make_file(path, sizeof(path), 2 << 20), 0);
	snprintf(dev, sizeof(dev), "/dev/loop%d", n);
	back = open(path, O_RDWR | O_CLOEXEC);
	loop = open(dev, O_RDWR | O_CLOEXEC);
	if (back < 0 || loop < 0 || ioctl(loop, LOOP_SET_FD, back) < 0) {
		fprintf(stderr, "test_image: cannot set up %s (%s), block "
			"device part skipped\n", dev, strerror(errno));
		goto out;
	}

	CHECK_EQ(blk_image_open(&img, dev, false, false), 0);
	CHECK(img.blockdev);
	CHECK_EQ(img.size, 2 << 20);
	CHECK_EQ(img.logical_block, 512);
	CHECK_EQ(blk_image_open(&other, dev, false, false), -EBUSY);
	blk_image_close(&img);

	if (ioctl(loop, LOOP_SET_BLOCK_SIZE, 4096) == 0) {
		CHECK_EQ(blk_image_open(&img, dev, true, false), 0);
		CHECK_EQ(img.logical_block, 4096);
		CHECK_EQ(img.size, 2 << 20);
		blk_image_close(&img);
		CHECK_EQ(blk_image_open(&img, dev, false, true), 0);
		CHECK_EQ(img.logical_block, 4096);
		CHECK_EQ(img.mem_align, 4096);
		blk_image_close(&img);
	}
	ioctl(loop, LOOP_CLR_FD, 0);
out:
	if (loop >= 0)
		close(loop);
	if (back >= 0)
		close(back);
	unlink(path);
}

int main(void)
{
	alarm(60);	/* a hang (say, opening a FIFO) is a failure */
	test_file();
	test_empty();
	test_refusals();
	test_permission();
	test_locks();
	test_direct();
	if (geteuid() == 0)
		test_blockdev();
	return check_done("test_image");
}
