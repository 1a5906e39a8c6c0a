/* A raw disk image: a regular file or a block device, opened once per VM.
 *
 * The image takes an open-file-description lock (F_OFD_SETLK) over the
 * whole file so two tern processes cannot write the same disk: a writer
 * holds F_WRLCK, a read-only user F_RDLCK, so readers share with readers
 * and everything else is refused with -EBUSY. OFD locks belong to the open
 * file, so two opens inside one process conflict too, and the lock goes
 * away with the last close of the descriptor.
 *
 * Nothing here does I/O on the data: block/uring.c does, through img->fd. */
#ifndef TERN_BLOCK_IMAGE_H
#define TERN_BLOCK_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

struct blk_image {
	int fd;			/* -1 when closed */
	uint64_t size;		/* bytes, a multiple of 512 (and of
				 * logical_block when direct) */
	bool readonly;		/* opened O_RDONLY, F_RDLCK */
	bool direct;		/* opened O_DIRECT */
	bool blockdev;		/* a block device rather than a file */
	bool locked;		/* false only where the file system has no
				 * locks (warned at open) */
	uint32_t logical_block;	/* smallest I/O unit: BLKSSZGET for block
				 * devices; for files 512, or the statx
				 * direct-I/O offset alignment when direct */
	uint32_t mem_align;	/* buffer alignment direct I/O needs; 1 when
				 * not direct */
	bool io_left;		/* an io_uring ring was torn down with
				 * requests on this file still out (set by
				 * block/uring.c) */
	char *path;		/* owned copy, for log lines */
};

/* Opens PATH read-write (or read-only), O_CLOEXEC, O_DIRECT when DIRECT,
 * locks it, and fills IMG. Returns 0 or -errno after logging why, naming
 * the file: -ENOENT, -EACCES, -EROFS, -EISDIR, -EINVAL (not a file or block
 * device, or a size that is not a multiple of 512 bytes, or of the direct
 * I/O block), -EBUSY (another process, or another open in this one, holds
 * the lock). On failure IMG is left closed (fd -1), so blk_image_close()
 * is harmless on it. */
int blk_image_open(struct blk_image *img, const char *path, bool readonly,
		   bool direct);

/* Releases the lock, then closes the descriptor. The lock is dropped
 * explicitly because an io_uring ring that registered the descriptor lets
 * go of the file only some time after its teardown (about 24 ms on Linux
 * 6.18), and the lock would go with it: a tern-blk restarted at once, or the
 * same disk added back, would find its own image "in use". When io_left
 * says the kernel may still work on requests, the lock stays until it lets
 * go of the file. Safe on a closed image. */
void blk_image_close(struct blk_image *img);

#endif
