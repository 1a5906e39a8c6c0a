/* Fuzz target: the control API's request path from raw bytes. Each input
 * is written as a client would into one end of a socketpair whose other
 * end is a real libmicrohttpd connection (httpd_add_connection), so the
 * bytes go through HTTP parsing, the body limit, JSON parsing, the route
 * table, the body checks and Cloud Hypervisor's VmConfig mapping onto
 * tern's option parser (vmm/api.c) to a VM double (tests/unit/
 * api_double.h) that keeps the state machine.
 *
 * Input: byte 0 picks the double's state (% API_NSTATES), so state checks
 * and the operations behind them are reached; the rest is what the
 * client sends (requests may be pipelined), then it half-closes.
 * Checked: no crash or sanitizer report; every response starts with an
 * HTTP/1.x status line; a JSON reply from tern to a failed request is an
 * object with an "error" string; the double's state moves only through
 * operations that passed the state check; the connection ends (nothing
 * leaks from one input to the next).
 *
 * Build with libFuzzer (see tests/fuzz/README), or -DFUZZ_STANDALONE to
 * replay files. */
#include "core/httpd.h"
#include "core/log.h"
#include "tests/fuzz/fuzz.h"
#include "tests/unit/api_double.h"
#include "vmm/api.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct api_double dbl;
static struct httpd *srv;
static struct {
	unsigned long replies, ops, refused;
} fz_stats;

static void fz_submit(void *opaque, struct api_request *req)
{
	api_double_execute(opaque, req);
}

static const struct api_backend backend = { fz_submit, &dbl };

/* One server for the whole run, on an abstract socket nobody connects
 * to: connections come in through httpd_add_connection. */
static struct httpd *server(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (srv)
		return srv;
	log_set_level(LOG_ERR);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FZ_ASSERT(fd >= 0);
	/* Autobind: an abstract name the kernel picks. */
	FZ_ASSERT(bind(fd, (struct sockaddr *)&sa, sizeof(sa_family_t)) == 0);
	FZ_ASSERT(listen(fd, 4) == 0);
	FZ_ASSERT(httpd_open_fd(&srv, "fuzz-api", fd, api_handle,
				(void *)&backend) == 0);
	return srv;
}

static void check_response(const char *r, size_t n)
{
	const char *body;
	int status;
	json_t *j;

	if (!n)
		return;		/* closed without a word: allowed */
	FZ_ASSERT(n >= 12 && !memcmp(r, "HTTP/1.", 7));
	FZ_ASSERT(sscanf(r + 9, "%3d", &status) == 1);
	FZ_ASSERT(status >= 100 && status < 600);
	body = strstr(r, "\r\n\r\n");
	if (!body || status < 400)
		return;
	/* libMicroHTTPD answers some malformed requests itself (not JSON):
	 * only tern's replies, by their header, are checked. */
	{
		const char *ct = strstr(r, "application/json");

		if (!ct || ct > body)
			return;
	}
	/* Only the first response is checked: pipelined ones follow. */
	j = json_loadb(body + 4, strcspn(body + 4, "\n"), 0, NULL);
	FZ_ASSERT(j && json_is_string(json_object_get(j, "error")));
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char resp[1 << 16];
	struct httpd *h = server();
	enum api_state before;
	size_t off = 1, got = 0;
	int sv[2];

	if (!size)
		return 0;
	memset(&dbl, 0, sizeof(dbl));
	dbl.state = (enum api_state)(data[0] % API_NSTATES);
	before = dbl.state;
	FZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	FZ_ASSERT(fcntl(sv[1], F_SETFL, O_NONBLOCK) == 0);
	FZ_ASSERT(httpd_add_connection(h, sv[0]) == 0);
	/* Until the server closes, or it has had all the input and stays
	 * quiet (waiting for a body that will not come, say). */
	for (int turn = 0, idle = 0; turn < 400 && idle < 20; turn++) {
		ssize_t n;

		if (off < size) {
			n = write(sv[1], data + off, size - off);
			if (n > 0)
				off += (size_t)n;
			if (off == size)
				shutdown(sv[1], SHUT_WR);
		} else if (off == size && size == 1) {
			shutdown(sv[1], SHUT_WR);
			off++;
		}
		httpd_run(h);
		n = read(sv[1], resp + got, sizeof(resp) - 1 - got);
		idle = off >= size && n <= 0 ? idle + 1 : 0;
		if (n > 0) {
			got += (size_t)n;
			if (got == sizeof(resp) - 1)
				got = 0;	/* keep reading; checked
						 * only the first */
			continue;
		}
		if (n == 0 && off >= size)
			break;		/* the server closed */
		if (off >= size && !httpd_connections(h))
			break;
		struct pollfd p[2] = { { .fd = sv[1], .events = POLLIN },
				       { .fd = httpd_fd(h), .events = POLLIN } };

		poll(p, 2, 1);
	}
	resp[got] = '\0';
	check_response(resp, got);
	fz_stats.replies += got > 0;
	fz_stats.refused += dbl.refused;
	close(sv[1]);
	/* Whatever is left goes now: the next input starts clean. */
	for (int i = 0; i < 50 && httpd_connections(h); i++) {
		struct pollfd p = { .fd = httpd_fd(h), .events = POLLIN };

		poll(&p, 1, 1);
		httpd_run(h);
	}
	FZ_ASSERT(httpd_connections(h) == 0);
	/* No operation ran: the state did not move. */
	{
		unsigned int ran = 0;

		for (int i = 0; i < API_NOPS; i++)
			ran += dbl.ran[i];
		fz_stats.ops += ran;
		if (!ran)
			FZ_ASSERT(dbl.state == before);
	}
	return 0;
}

#ifdef FUZZ_STANDALONE
static void fz_report(unsigned int runs)
{
	fprintf(stderr, "fuzz_api: %u inputs ran clean: %lu answered, %lu "
		"operations run, %lu refused for the state\n", runs,
		fz_stats.replies, fz_stats.ops, fz_stats.refused);
}
#include "replay.h"
#endif
