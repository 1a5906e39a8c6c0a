/* A JSON API over HTTP/1.1 on a UNIX socket: libmicrohttpd serves the
 * connections, jansson parses request bodies and prints replies. Nothing
 * here knows what the API does: a handler gets the method, the path and
 * the parsed body and returns a status and a JSON reply.
 *
 * The socket is created here, mode 0600 from the start (fchmod before
 * bind), so only its owner can talk to it; a stale socket file nobody
 * listens on is replaced, a live one is an error. The server runs in the
 * caller's thread: poll httpd_fd() for input and call httpd_run() when it
 * is ready (and at least every second: idle connections time out there).
 * The handler therefore runs in that thread too, one request at a time.
 *
 * Limits (a client is not trusted): bodies up to HTTPD_MAX_BODY bytes
 * (413 beyond), HTTPD_MAX_CONNS connections at once, 10 s of silence
 * closes a connection. A body that is not JSON is answered 400 with the
 * parser's message before the handler sees it; a body must be an object. */
#ifndef TERN_CORE_HTTPD_H
#define TERN_CORE_HTTPD_H

#include <jansson.h>

#define HTTPD_MAX_BODY (64 * 1024)
#define HTTPD_MAX_CONNS 16

struct httpd;

/* Returns the HTTP status and sets *reply (NULL: empty body). The
 * reference to *reply passes to the server. BODY is NULL when the
 * request had none. */
typedef int (*httpd_handler)(void *opaque, const char *method,
			     const char *path, json_t *body, json_t **reply);

/* Listens on PATH. *out is the server; 0 or -errno (logged as NAME). */
int httpd_open(struct httpd **out, const char *name, const char *path,
	       httpd_handler handler, void *opaque);
/* Serves on a listening socket the caller made (fd=N): made
 * non-blocking and close-on-exec, closed by httpd_close; no file to
 * remove. */
int httpd_open_fd(struct httpd **out, const char *name, int fd,
		  httpd_handler handler, void *opaque);
/* Takes FD, one end of a connected stream socket, as a client connection
 * (tests and fuzzing: raw bytes into the real request path). 0 or -EIO
 * (FD is closed either way). */
int httpd_add_connection(struct httpd *h, int fd);
/* Connections open now. */
unsigned int httpd_connections(const struct httpd *h);
/* Stops, closes connections, removes the socket file. NULL is fine. */
void httpd_close(struct httpd *h);

/* An fd that polls readable when httpd_run() has work. */
int httpd_fd(const struct httpd *h);
/* Serves whatever is ready without blocking, and what that leaves ready
 * (up to a bound: call again when httpd_fd() is readable, or within a
 * second). */
void httpd_run(struct httpd *h);

/* {"error": "<printf>"}, for handlers' replies. */
json_t *httpd_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
