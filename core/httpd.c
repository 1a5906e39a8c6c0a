/* A JSON API over HTTP/1.1 on a UNIX socket (see httpd.h). */
#include "core/httpd.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct httpd {
	char name[32];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd;
	struct MHD_Daemon *mhd;
	httpd_handler handler;
	void *opaque;
};

/* One request's body as it arrives. */
struct httpd_req {
	char *body;
	size_t len;
	bool too_big;
};

json_t *httpd_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:s}", "error", msg);
}

static void mhd_log(void *opaque, const char *fmt, va_list ap)
{
	struct httpd *h = opaque;
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_warn(h->name, "http: %s", msg);
}

static enum MHD_Result reply(struct MHD_Connection *conn, int status,
			     json_t *body)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	char *text = NULL;
	size_t len = 0;

	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		if (!text)
			return MHD_NO;
		len = strlen(text);
		/* One reply per line for people reading with curl. */
		char *t = realloc(text, len + 2);

		if (!t) {
			free(text);
			return MHD_NO;
		}
		text = t;
		text[len++] = '\n';
		text[len] = '\0';
	}
	resp = MHD_create_response_from_buffer(len, text ? text : (char *)"",
					       text ? MHD_RESPMEM_MUST_FREE :
						      MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	if (text)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					"application/json");
	ret = MHD_queue_response(conn, (unsigned int)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *opaque, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **ctx)
{
	struct httpd *h = opaque;
	struct httpd_req *r = *ctx;
	json_t *body = NULL, *out = NULL;
	json_error_t jerr;
	int status;

	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r)
			return MHD_NO;
		*ctx = r;
		return MHD_YES;
	}
	if (*upload_size) {
		size_t n = *upload_size;

		*upload_size = 0;
		if (r->too_big || r->len + n > HTTPD_MAX_BODY) {
			r->too_big = true;
			return MHD_YES;
		}
		char *b = realloc(r->body, r->len + n + 1);

		if (!b)
			return MHD_NO;
		r->body = b;
		memcpy(r->body + r->len, upload, n);
		r->len += n;
		r->body[r->len] = '\0';
		return MHD_YES;
	}
	if (r->too_big)
		return reply(conn, MHD_HTTP_CONTENT_TOO_LARGE,
			     httpd_error("body larger than %d bytes",
					 HTTPD_MAX_BODY));
	if (r->len) {
		body = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES,
				  &jerr);
		if (!body)
			return reply(conn, MHD_HTTP_BAD_REQUEST,
				     httpd_error("body: %s (line %d, column "
						 "%d)", jerr.text, jerr.line,
						 jerr.column));
		if (!json_is_object(body)) {
			json_decref(body);
			return reply(conn, MHD_HTTP_BAD_REQUEST,
				     httpd_error("body: a JSON object, please"));
		}
	}
	status = h->handler(h->opaque, method, url, body, &out);
	json_decref(body);
	return reply(conn, status, out);
}

static void on_completed(void *opaque, struct MHD_Connection *conn,
			 void **ctx, enum MHD_RequestTerminationCode why)
{
	struct httpd_req *r = *ctx;

	if (r) {
		free(r->body);
		free(r);
		*ctx = NULL;
	}
}

/* Is someone accepting on SA? */
static bool socket_alive(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return true;	/* cannot tell: leave it */
	alive = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ||
		errno != ECONNREFUSED;
	close(fd);
	return alive;
}

/* A listening socket on PATH, mode 0600. fd or -errno, logged. */
static int listen_unix(const char *name, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, ret;

	if (!*path || strlen(path) >= sizeof(sa.sun_path)) {
		log_err(name, "control socket %s: empty or too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* The socket inode's mode becomes the file's at bind(). */
	if (fchmod(fd, 0600)) {
		ret = -errno;
		goto fail_log;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (errno != EADDRINUSE) {
			ret = -errno;
			goto fail_log;
		}
		if (lstat(path, &st) || !S_ISSOCK(st.st_mode)) {
			log_err(name, "control socket %s exists and is not a "
				"socket", path);
			ret = -EEXIST;
			goto fail;
		}
		if (socket_alive(&sa)) {
			log_err(name, "control socket %s: another process "
				"listens there", path);
			ret = -EADDRINUSE;
			goto fail;
		}
		if (unlink(path) && errno != ENOENT) {
			ret = -errno;
			goto fail_log;
		}
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
			ret = -errno;
			goto fail_log;
		}
	}
	if (listen(fd, HTTPD_MAX_CONNS)) {
		ret = -errno;
		unlink(path);
		goto fail_log;
	}
	return fd;

fail_log:
	log_err(name, "control socket %s: %s", path, strerror(-ret));
fail:
	close(fd);
	return ret;
}

/* Starts libmicrohttpd on H's listening socket; H's fd is closed on
 * failure (and the socket file removed if H made it). */
static int httpd_start(struct httpd *h)
{
	h->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
				  MHD_USE_SUPPRESS_DATE_NO_CLOCK, 0,
				  NULL, NULL, on_request, h,
				  MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
				  MHD_OPTION_LISTEN_SOCKET, h->listen_fd,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
				  MHD_OPTION_CONNECTION_LIMIT,
				  (unsigned int)HTTPD_MAX_CONNS,
				  MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				  MHD_OPTION_END);
	if (!h->mhd) {
		log_err(h->name, "control socket %s: libmicrohttpd would not "
			"start", h->path[0] ? h->path : "(fd)");
		close(h->listen_fd);
		if (h->path[0])
			unlink(h->path);
		return -EIO;
	}
	return 0;
}

int httpd_open(struct httpd **out, const char *name, const char *path,
	       httpd_handler handler, void *opaque)
{
	struct httpd *h = calloc(1, sizeof(*h));
	int ret;

	if (!h)
		return -ENOMEM;
	snprintf(h->name, sizeof(h->name), "%s", name);
	snprintf(h->path, sizeof(h->path), "%s", path);
	h->handler = handler;
	h->opaque = opaque;
	h->listen_fd = listen_unix(h->name, path);
	if (h->listen_fd < 0) {
		ret = h->listen_fd;
		goto fail_free;
	}
	ret = httpd_start(h);
	if (ret)
		goto fail_free;
	*out = h;
	return 0;

fail_free:
	free(h);
	return ret;
}

int httpd_open_fd(struct httpd **out, const char *name, int fd,
		  httpd_handler handler, void *opaque)
{
	struct httpd *h = calloc(1, sizeof(*h));
	int flags, ret;

	if (!h)
		return -ENOMEM;
	snprintf(h->name, sizeof(h->name), "%s", name);
	h->handler = handler;
	h->opaque = opaque;
	h->listen_fd = fd;
	/* A socket fd < 0 is not ours to close. */
	if (fd < 0 || (flags = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		ret = fd < 0 ? -EBADF : -errno;
		log_err(h->name, "control socket fd %d: %s", fd,
			strerror(-ret));
		free(h);
		return ret;
	}
	ret = httpd_start(h);
	if (ret) {
		free(h);
		return ret;
	}
	*out = h;
	return 0;
}

int httpd_add_connection(struct httpd *h, int fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	return MHD_add_connection(h->mhd, fd, (const struct sockaddr *)&sa,
				  sizeof(sa)) == MHD_YES ? 0 : -EIO;
}

unsigned int httpd_connections(const struct httpd *h)
{
	const union MHD_DaemonInfo *i =
		MHD_get_daemon_info(h->mhd,
				    MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return i ? i->num_connections : 0;
}

void httpd_close(struct httpd *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->mhd);	/* closes the listening socket too */
	if (h->path[0])
		unlink(h->path);
	free(h);
}

int httpd_fd(const struct httpd *h)
{
	const union MHD_DaemonInfo *i =
		MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);

	return i ? i->epoll_fd : -1;
}

void httpd_run(struct httpd *h)
{
	MHD_UNSIGNED_LONG_LONG ms;

	/* With an external epoll, libmicrohttpd sees each socket's readiness
	 * once (edge-triggered): work it left (the rest of a body already
	 * received, a reply to send) shows only as a timeout of 0, not on
	 * httpd_fd(). Run until none is left, or a bounded number of times
	 * so one client streaming a body cannot keep the thread. */
	for (unsigned int i = 0; i < 64; i++) {
		MHD_run(h->mhd);
		if (MHD_get_timeout(h->mhd, &ms) != MHD_YES || ms)
			break;
	}
}
