/* Pieces of a fake vhost-user front-end shared by the tests that drive a
 * back-end over a socketpair (test_vhost_user, test_tern_blk): sending a
 * request and counting open fds, so a test sees every fd a connection
 * brought in go away again. */
#ifndef TERN_TESTS_VU_FE_H
#define TERN_TESTS_VU_FE_H

#include "vhost/user_proto.h"

#include <dirent.h>
#include <string.h>

/* Open fds of this process. */
static inline int fd_count(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!dir)
		return -1;
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

/* One request from the front-end's end SOCK: 0 or -errno. */
static inline int vu_fe_send(int sock, uint32_t req, uint32_t flags,
			     const void *p, uint32_t size, const int *fds,
			     size_t nfds)
{
	struct vu_msg m;

	memset(&m, 0, sizeof(m));
	m.hdr.request = req;
	m.hdr.flags = VU_FLAG_VERSION | flags;
	m.hdr.size = size;
	if (size)
		memcpy(&m.p, p, size);
	return vu_msg_send(sock, &m, fds, nfds);
}

#endif
