#include "block/image.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

#define SECTOR 512u

static void log_open_error(const char *path, int err, bool readonly,
			   bool direct)
{
	const char *hint = "";

	if (!readonly && (err == -EACCES || err == -EPERM || err == -EROFS))
		hint = " (a read-only disk would not need write access)";
	else if (direct && err == -EINVAL)
		hint = " (the file system may not support O_DIRECT)";
	log_err(path, "cannot open %s%s: %s%s",
		readonly ? "read-only" : "read-write",
		direct ? " with O_DIRECT" : "", strerror(-err), hint);
}

/* Whole-file OFD lock. A conflict is -EBUSY; a file system without locks
 * (some network or 9p mounts answer ENOLCK or EOPNOTSUPP) only warrants a
 * warning, since refusing would make such disks unusable. */
static int image_lock(struct blk_image *img)
{
	struct flock fl = {
		.l_type = img->readonly ? F_RDLCK : F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = 0,
		.l_len = 0,
	};
	int ret = 0;

	if (fcntl(img->fd, F_OFD_SETLK, &fl) == 0) {
		img->locked = true;
		goto out;
	}
	ret = -errno;
	if (ret == -EAGAIN || ret == -EACCES) {
		log_err(img->path,
			"in use: another process (or another disk of this VM) "
			"holds a %s lock on it",
			img->readonly ? "write" : "conflicting");
		ret = -EBUSY;
		goto out;
	}
	log_warn(img->path, "cannot lock (%s); opening it unlocked, so "
		 "nothing stops a second VM from writing it", strerror(-ret));
	ret = 0;
out:
	return ret;
}

/* Direct I/O alignment of a regular file. statx reports it since Linux 6.1
 * (STATX_DIOALIGN); older kernels or file systems that do not report it get
 * 512, which is what block devices under most file systems want anyway. */
static int file_dio_align(struct blk_image *img)
{
#ifdef STATX_DIOALIGN
	struct statx stx;

	if (statx(img->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		if (!stx.stx_dio_offset_align) {
			log_err(img->path, "the file system does not support "
				"direct I/O on this file");
			return -EINVAL;
		}
		img->logical_block = stx.stx_dio_offset_align < SECTOR ?
				     SECTOR : stx.stx_dio_offset_align;
		img->mem_align = stx.stx_dio_mem_align ?
				 stx.stx_dio_mem_align : SECTOR;
		return 0;
	}
#endif
	img->logical_block = SECTOR;
	img->mem_align = SECTOR;
	return 0;
}

static int image_geometry(struct blk_image *img, const struct stat *st)
{
	int lbs = 0, ret = 0;

	if (S_ISREG(st->st_mode)) {
		img->size = (uint64_t)st->st_size;
		img->logical_block = SECTOR;
		img->mem_align = 1;
		if (img->direct)
			ret = file_dio_align(img);
		goto out;
	}

	img->blockdev = true;
	if (ioctl(img->fd, BLKGETSIZE64, &img->size) < 0 ||
	    ioctl(img->fd, BLKSSZGET, &lbs) < 0) {
		ret = -errno;
		log_err(img->path, "cannot read the block device's geometry: "
			"%s", strerror(-ret));
		goto out;
	}
	img->logical_block = lbs >= (int)SECTOR ? (uint32_t)lbs : SECTOR;
	img->mem_align = img->direct ? img->logical_block : 1;
out:
	return ret;
}

int blk_image_open(struct blk_image *img, const char *path, bool readonly,
		   bool direct)
{
	struct stat st;
	int flags, fl, ret;

	memset(img, 0, sizeof(*img));
	img->fd = -1;
	img->readonly = readonly;
	img->direct = direct;
	img->path = strdup(path);
	if (!img->path) {
		ret = -ENOMEM;
		goto err;
	}

	/* O_NONBLOCK so a FIFO given by mistake cannot hang the open; it is
	 * cleared below because io_uring would pass -EAGAIN back for reads a
	 * non-blocking regular file cannot serve from the page cache. */
	flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK |
		(direct ? O_DIRECT : 0);
	img->fd = open(path, flags);
	if (img->fd < 0) {
		ret = -errno;
		log_open_error(path, ret, readonly, direct);
		goto err_path;
	}
	if (fstat(img->fd, &st) < 0) {
		ret = -errno;
		log_err(path, "cannot stat: %s", strerror(-ret));
		goto err_fd;
	}
	if (S_ISDIR(st.st_mode)) {
		ret = -EISDIR;
		log_err(path, "is a directory, not a disk image");
		goto err_fd;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		ret = -EINVAL;
		log_err(path, "is neither a regular file nor a block device");
		goto err_fd;
	}
	fl = fcntl(img->fd, F_GETFL);
	if (fl < 0 || fcntl(img->fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		ret = -errno;
		log_err(path, "cannot clear O_NONBLOCK: %s", strerror(-ret));
		goto err_fd;
	}

	ret = image_lock(img);
	if (ret)
		goto err_fd;
	ret = image_geometry(img, &st);
	if (ret)
		goto err_fd;
	/* logical_block is a power of two of at least 512, so this also
	 * refuses sizes that are not whole sectors. */
	if (img->size % img->logical_block) {
		ret = -EINVAL;
		log_err(path, "size %llu bytes is not a multiple of %u bytes "
			"(%s); resize it (truncate -s) first",
			(unsigned long long)img->size, img->logical_block,
			img->logical_block == SECTOR ? "whole sectors" :
			direct ? "the direct I/O block" : "the device block");
		goto err_fd;
	}
	return 0;

	/* Closing drops the OFD lock with the descriptor. */
err_fd:
	close(img->fd);
	img->fd = -1;
err_path:
	free(img->path);
	img->path = NULL;
err:
	return ret;
}

void blk_image_close(struct blk_image *img)
{
	struct flock fl = {
		.l_type = F_UNLCK,
		.l_whence = SEEK_SET,
		.l_start = 0,
		.l_len = 0,
	};

	if (img->fd >= 0 && img->locked && !img->io_left &&
	    fcntl(img->fd, F_OFD_SETLK, &fl) < 0)
		log_warn(img->path, "cannot release the lock (%s): it goes "
			 "when the kernel lets go of the file", strerror(errno));
	if (img->fd >= 0)
		close(img->fd);
	img->fd = -1;
	img->locked = false;
	img->io_left = false;
	free(img->path);
	img->path = NULL;
}
