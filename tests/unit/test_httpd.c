/* The HTTP/JSON server of the control APIs (core/httpd.c), over a real
 * UNIX socket: a handler sees the method, the path and the parsed body
 * and its status and reply come back; a body that is not JSON, not an
 * object, has a key twice or is larger than HTTPD_MAX_BODY is refused
 * before the handler runs; the socket is mode 0600, a live one is not
 * taken over, a stale one is, a file that is not a socket is left alone,
 * and closing the server removes it. */
#include "core/httpd.h"
#include "tests/unit/check.h"
#include "tests/unit/unix_client.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static atomic_bool stop;
static atomic_int handled;

/* Echoes what it got; /status/N answers N with an error object. */
static int handler(void *opaque, const char *method, const char *path,
		   json_t *body, json_t **reply)
{
	int code;

	(void)opaque;
	atomic_fetch_add(&handled, 1);
	if (sscanf(path, "/status/%d", &code) == 1) {
		*reply = httpd_error("asked for %d", code);
		return code;
	}
	*reply = json_pack("{s:s, s:s, s:O?}", "method", method, "path",
			   path, "body", body);
	return 200;
}

static void *serve(void *arg)
{
	struct httpd *h = arg;
	struct pollfd p = { .fd = httpd_fd(h), .events = POLLIN };

	while (!atomic_load(&stop)) {
		poll(&p, 1, 20);
		httpd_run(h);
	}
	return NULL;
}

/* One request (BODY of LEN bytes, or none): the status, or -1; the reply
 * body parsed into *out (NULL if empty or not JSON). */
static int request(const char *path, const char *method, const char *url,
		   const char *body, size_t len, json_t **out)
{
	char head[256], *resp = NULL, *text;
	size_t have = 0, cap = 0;
	int fd, status = -1;

	*out = NULL;
	fd = connect_to(path);
	if (fd < 0)
		return -1;
	if (body)
		snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: x\r\n"
			 "Connection: close\r\nContent-Type: application/json"
			 "\r\nContent-Length: %zu\r\n\r\n", method, url, len);
	else
		snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: x\r\n"
			 "Connection: close\r\n\r\n", method, url);
	if (!write_all(fd, head, strlen(head)) ||
	    (body && !write_all(fd, body, len)))
		goto out;
	for (;;) {
		if (cap - have < 4096) {
			char *r = realloc(resp, cap + 65536);

			if (!r)
				goto out;
			resp = r;
			cap += 65536;
		}
		ssize_t n = read(fd, resp + have, cap - have - 1);

		if (n <= 0)
			break;
		have += (size_t)n;
	}
	if (!resp)
		goto out;
	resp[have] = '\0';
	if (sscanf(resp, "HTTP/1.1 %d", &status) != 1)
		status = -1;
	text = strstr(resp, "\r\n\r\n");
	if (text && text[4])
		*out = json_loads(text + 4, 0, NULL);
out:
	free(resp);
	close(fd);
	return status;
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void test_requests(const char *sock)
{
	struct httpd *h = NULL;
	pthread_t t;
	struct stat st;
	json_t *r;
	char *big;
	int before;

	CHECK_EQ(httpd_open(&h, "test", sock, handler, NULL), 0);
	if (!h)
		return;
	CHECK_EQ(stat(sock, &st), 0);
	CHECK(S_ISSOCK(st.st_mode));
	CHECK_EQ(st.st_mode & 0777, 0600);
	atomic_store(&stop, false);
	CHECK_EQ(pthread_create(&t, NULL, serve, h), 0);

	/* No body: the handler gets NULL. */
	CHECK_EQ(request(sock, "GET", "/ports", NULL, 0, &r), 200);
	CHECK_STR(str(r, "method"), "GET");
	CHECK_STR(str(r, "path"), "/ports");
	CHECK(r && json_is_null(json_object_get(r, "body")));
	json_decref(r);

	/* An object arrives parsed. */
	CHECK_EQ(request(sock, "POST", "/ports", "{\"name\": \"vm1\"}", 15,
			 &r), 200);
	CHECK_STR(str(r, "method"), "POST");
	CHECK_STR(str(json_object_get(r, "body"), "name"), "vm1");
	json_decref(r);

	/* The handler's status and error object come back as they are. */
	CHECK_EQ(request(sock, "DELETE", "/status/409", NULL, 0, &r), 409);
	CHECK_STR(str(r, "error"), "asked for 409");
	json_decref(r);

	/* Refused before the handler: not JSON, not an object, a key twice,
	 * too large. Each answer names what was wrong. */
	before = atomic_load(&handled);
	CHECK_EQ(request(sock, "POST", "/ports", "{\"name\":", 8, &r), 400);
	CHECK(str(r, "error") && !strncmp(str(r, "error"), "body: ", 6));
	json_decref(r);
	CHECK_EQ(request(sock, "POST", "/ports", "[1, 2]", 6, &r), 400);
	CHECK_STR(str(r, "error"), "body: a JSON object, please");
	json_decref(r);
	CHECK_EQ(request(sock, "POST", "/ports", "{\"a\": 1, \"a\": 2}", 16,
			 &r), 400);
	CHECK(str(r, "error") && strstr(str(r, "error"), "duplicate"));
	json_decref(r);
	big = malloc(HTTPD_MAX_BODY + 2);
	if (big) {
		/* A valid object one byte over the limit. */
		memset(big, ' ', HTTPD_MAX_BODY + 1);
		big[0] = '{';
		big[HTTPD_MAX_BODY] = '}';
		CHECK_EQ(request(sock, "POST", "/ports", big,
				 HTTPD_MAX_BODY + 1, &r), 413);
		CHECK(str(r, "error") && strstr(str(r, "error"), "larger"));
		json_decref(r);
		/* At the limit it is fine. */
		big[HTTPD_MAX_BODY - 1] = '}';
		big[HTTPD_MAX_BODY] = ' ';
		CHECK_EQ(request(sock, "POST", "/ports", big, HTTPD_MAX_BODY,
				 &r), 200);
		CHECK(r && json_is_object(json_object_get(r, "body")));
		json_decref(r);
		free(big);
	}
	CHECK_EQ(atomic_load(&handled), before + 1);

	/* A second server on a socket someone listens on is refused. */
	struct httpd *h2 = NULL;

	CHECK_EQ(httpd_open(&h2, "test2", sock, handler, NULL), -EADDRINUSE);
	CHECK(!h2);
	httpd_close(h2);	/* NULL is fine */
	CHECK_EQ(stat(sock, &st), 0);	/* and the first one's file stays */

	atomic_store(&stop, true);
	pthread_join(t, NULL);
	httpd_close(h);
	CHECK_EQ(stat(sock, &st), -1);	/* closing removes the file */
	CHECK_EQ(errno, ENOENT);
}

static void test_paths(const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct httpd *h = NULL;
	char path[200], longp[200];
	struct stat st;
	json_t *r;
	pthread_t t;
	int fd;

	/* A stale socket (its listener gone) is replaced. */
	snprintf(path, sizeof(path), "%s/stale.sock", dir);
	memcpy(sa.sun_path, path, strlen(path) + 1);	/* dir is short */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(httpd_open(&h, "test", path, handler, NULL), 0);
	if (h) {
		atomic_store(&stop, false);
		CHECK_EQ(pthread_create(&t, NULL, serve, h), 0);
		CHECK_EQ(request(path, "GET", "/", NULL, 0, &r), 200);
		json_decref(r);
		atomic_store(&stop, true);
		pthread_join(t, NULL);
		httpd_close(h);
		h = NULL;
	}

	/* A file that is not a socket is not touched. */
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK_EQ(httpd_open(&h, "test", path, handler, NULL), -EEXIST);
	CHECK_EQ(stat(path, &st), 0);
	CHECK(S_ISREG(st.st_mode));
	unlink(path);

	/* A path sun_path cannot hold, and an empty one. */
	memset(longp, 'a', sizeof(sa.sun_path));
	longp[0] = '/';
	longp[sizeof(sa.sun_path)] = '\0';
	CHECK_EQ(httpd_open(&h, "test", longp, handler, NULL), -ENAMETOOLONG);
	CHECK_EQ(httpd_open(&h, "test", "", handler, NULL), -ENAMETOOLONG);
	/* A directory that does not exist. */
	snprintf(path, sizeof(path), "%s/no/such.sock", dir);
	CHECK_EQ(httpd_open(&h, "test", path, handler, NULL), -ENOENT);
	CHECK(!h);
}

int main(void)
{
	char dir[] = "/tmp/test_httpd.XXXXXX", sock[128];

	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(sock, sizeof(sock), "%s/api.sock", dir);
	test_requests(sock);
	test_paths(dir);
	unlink(sock);
	rmdir(dir);
	return check_done("test_httpd");
}
