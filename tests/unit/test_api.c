/* The control API (vmm/api.c) without KVM: the route table; Cloud
 * Hypervisor's VmConfig mapped onto tern's options (values land where
 * --disk/--net would put them, and every bad field is named); and every
 * bad-input case over a real UNIX socket in a temp dir, against a VM
 * double whose operations run on a "main loop" thread through the same
 * mailbox tern uses: malformed HTTP and JSON (400), unknown endpoints
 * (404), wrong methods (405), bodies over the limit (413), the wrong
 * state (404 before vm.create, 409 after), clients that go away mid-
 * request, and many clients at once. */
#include "config.h"
#include "core/httpd.h"
#include "core/loop.h"
#include "core/mailbox.h"
#include "tests/unit/api_double.h"
#include "tests/unit/check.h"
#include "tests/unit/unix_client.h"
#include "vmm/api.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/tern-api-XXXXXX";
static char kernel[96], image[96], sock[96];

static void test_routes(void)
{
	static const struct {
		const char *method, *path;
		int status;		/* 0: found */
		enum api_op op;
	} cases[] = {
		{ "GET", "/api/v1/vmm.ping", 0, API_PING },
		{ "PUT", "/api/v1/vmm.shutdown", 0, API_VMM_SHUTDOWN },
		{ "PUT", "/api/v1/vm.create", 0, API_CREATE },
		{ "PUT", "/api/v1/vm.boot", 0, API_BOOT },
		{ "PUT", "/api/v1/vm.delete", 0, API_DELETE },
		{ "GET", "/api/v1/vm.info", 0, API_INFO },
		{ "GET", "/api/v1/vm.counters", 0, API_COUNTERS },
		{ "PUT", "/api/v1/vm.pause", 0, API_PAUSE },
		{ "PUT", "/api/v1/vm.resume", 0, API_RESUME },
		{ "PUT", "/api/v1/vm.shutdown", 0, API_SHUTDOWN },
		{ "PUT", "/api/v1/vm.reboot", 0, API_REBOOT },
		{ "PUT", "/api/v1/vm.power-button", 0, API_POWER_BUTTON },
		{ "PUT", "/api/v1/vm.add-disk", 0, API_ADD_DISK },
		{ "PUT", "/api/v1/vm.add-net", 0, API_ADD_NET },
		{ "PUT", "/api/v1/vm.remove-device", 0, API_REMOVE_DEVICE },
		{ "PUT", "/api/v1/vm.info", 405, 0 },
		{ "GET", "/api/v1/vm.pause", 405, 0 },
		{ "POST", "/api/v1/vm.create", 405, 0 },
		{ "DELETE", "/api/v1/vmm.ping", 405, 0 },
		{ "GET", "/api/v1/vm.nothing", 404, 0 },
		{ "GET", "/api/v2/vmm.ping", 404, 0 },
		{ "GET", "/vmm.ping", 404, 0 },
		{ "GET", "/api/v1/", 404, 0 },
		{ "GET", "/api/v1/vmm.ping/", 404, 0 },
		{ "GET", "", 404, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int status = -1;
		const struct api_route *r =
			api_route_find(cases[i].method, cases[i].path, &status);

		if (cases[i].status) {
			CHECK(r == NULL);
			CHECK_EQ(status, cases[i].status);
		} else {
			CHECK(r != NULL);
			if (r)
				CHECK_EQ(r->op, cases[i].op);
		}
	}
}

/* Maps TEXT; 0 or the error in ERR. */
static int map(const char *text, struct api_config *c, char *err,
	       size_t errlen)
{
	json_t *j = json_loads(text, 0, NULL);
	int ret;

	CHECK(j != NULL);
	err[0] = '\0';
	ret = api_config_from_json(c, j, err, errlen);
	json_decref(j);
	return ret;
}

/* CPU 0 is on every machine; a build without libnuma takes no CPU
 * list. */
#if HAVE_NUMA
#define CPUS_AFFINITY                                                          \
	",\"affinity\":[{\"vcpu\":1,\"host_cpus\":[0]},"                       \
	"{\"vcpu\":0,\"host_cpus\":[0]}]"
#define DISK_AFFINITY                                                          \
	",\"queue_affinity\":[{\"queue_index\":1,\"host_cpus\":[0]},"          \
	"{\"queue_index\":0,\"host_cpus\":[0]}]"
#else
#define CPUS_AFFINITY ""
#define DISK_AFFINITY ""
#endif

static void test_config_good(void)
{
	struct api_config c;
	const struct dev_config *d;
	char text[2048], err[512];

	snprintf(text, sizeof(text),
		 "{\"payload\":{\"kernel\":\"%s\",\"cmdline\":\"console=ttyS0 "
		 "quiet\"},\"cpus\":{\"boot_vcpus\":2,\"max_vcpus\":2,"
		 "\"topology\":{\"packages\":1,\"threads_per_core\":2,"
		 "\"cores_per_die\":1,\"dies_per_package\":1}"
		 CPUS_AFFINITY "},"
		 "\"memory\":{\"size\":268435456,\"shared\":true},"
		 "\"disks\":[{\"path\":\"%s\",\"readonly\":true,"
		 "\"num_queues\":2,\"queue_size\":128,\"id\":\"root\""
		 DISK_AFFINITY "},"
		 "{\"path\":\"%s\"},{\"vhost_user\":true,\"vhost_socket\":"
		 "\"/run/vu.sock\",\"num_queues\":1}],"
		 "\"net\":[{\"tap\":\"tap7\",\"mac\":\"02:00:00:00:00:07\","
		 "\"num_queues\":4,\"queue_size\":512,\"mtu\":9000},"
		 "{\"vhost_user\":true,\"vhost_socket\":\"/run/sw.sock\","
		 "\"id\":\"uplink\"}],"
		 "\"serial\":{\"mode\":\"Tty\"},\"console\":{\"mode\":\"Off\"}}",
		 kernel, image, image);
	CHECK_EQ(map(text, &c, err, sizeof(err)), 0);
	if (err[0])
		fprintf(stderr, "unexpected: %s\n", err);
	CHECK(c.cli.vm.kernel && !strcmp(c.cli.vm.kernel, kernel));
	CHECK(!strcmp(c.cli.vm.cmdline, "console=ttyS0 quiet"));
	CHECK_EQ(c.cli.vm.cpus, 2);
	CHECK_EQ(c.cli.vm.topology.threads, 2);
	CHECK_EQ(c.cli.vm.topology.cores, 1);
	CHECK_EQ(c.cli.vm.topology.dies, 1);
	CHECK_EQ(c.cli.vm.topology.packages, 1);
#if HAVE_NUMA
	CHECK_EQ(c.cli.vm.ncpu_affinity, 2);
	CHECK_EQ(c.cli.vm.cpu_affinity[0].index, 1);
	CHECK_EQ(c.cli.vm.cpu_affinity[1].index, 0);
	CHECK_EQ(c.cli.vm.cpu_affinity[1].cpu, 0);
#endif
	CHECK_EQ(c.cli.vm.mem.size, 256ull << 20);
	CHECK(c.cli.vm.mem.shared);
	/* In the VmConfig's order, disks then nets; ids as given, or
	 * empty (the VM assigns them). */
	CHECK_EQ(c.cli.vm.ndevs, 5);
	d = c.cli.vm.devs;
	CHECK(d[0].kind == &dev_kind_virtio_blk);
	CHECK(d[0].disk.d.readonly);
	CHECK_EQ(d[0].disk.d.queues, 2);
	CHECK_EQ(d[0].disk.d.queue_size, 128);
	CHECK(!strcmp(d[0].id, "root"));
#if HAVE_NUMA
	CHECK_EQ(d[0].disk.d.naffinity, 2);
	CHECK_EQ(d[0].disk.d.affinity[0].index, 1);
	CHECK_EQ(d[0].disk.d.affinity[1].index, 0);
	CHECK_EQ(d[0].disk.d.affinity[1].cpu, 0);
#endif
	CHECK_EQ(d[1].disk.d.naffinity, 0);
	CHECK(d[1].kind == &dev_kind_virtio_blk);
	CHECK(!d[1].disk.d.readonly);
	CHECK(!d[1].id[0]);
	CHECK(d[2].kind == &dev_kind_vhost_user_blk);
	CHECK(!strcmp(d[2].disk.socket, "/run/vu.sock"));
	CHECK_EQ(d[2].disk.d.queues, 1);
	CHECK(!d[2].id[0]);
	CHECK(d[3].kind == &dev_kind_virtio_net);
	CHECK(!strcmp(d[3].net.tap, "tap7"));
	CHECK_EQ(d[3].net.dev.pairs, 2);	/* 4 queues */
	CHECK_EQ(d[3].net.dev.queue_size, 512);
	CHECK_EQ(d[3].net.dev.mtu, 9000);
	CHECK_EQ(d[3].net.dev.mac[5], 7);
	CHECK(!d[3].id[0]);
	CHECK(d[4].kind == &dev_kind_virtio_net);
	CHECK(!strcmp(d[4].net.socket, "/run/sw.sock"));
	CHECK(!strcmp(d[4].id, "uplink"));
	CHECK(c.json != NULL);
	api_config_free(&c);
}

/* A topology without boot_vcpus gives the count. */
static void test_config_topology(void)
{
	struct api_config c;
	char err[512];

	CHECK_EQ(map("{\"payload\":{\"kernel\":\"/dev/null\"},\"cpus\":"
		     "{\"topology\":{\"threads_per_core\":2,\"cores_per_die\":2,"
		     "\"dies_per_package\":1,\"packages\":2}}}",
		     &c, err, sizeof(err)), 0);
	if (err[0])
		fprintf(stderr, "unexpected: %s\n", err);
	CHECK_EQ(c.cli.vm.cpus, 8);
	CHECK_EQ(c.cli.vm.topology.packages, 2);
	api_config_free(&c);
	/* max_phys_bits beside a topology, and alone. */
	CHECK_EQ(map("{\"payload\":{\"kernel\":\"/dev/null\"},\"cpus\":"
		     "{\"max_phys_bits\":40,\"topology\":{\"threads_per_core\":1,"
		     "\"cores_per_die\":2,\"dies_per_package\":1,\"packages\":1}}}",
		     &c, err, sizeof(err)), 0);
	CHECK_EQ(c.cli.vm.cpus, 2);
	CHECK_EQ(c.cli.vm.max_phys_bits, 40);
	api_config_free(&c);
	CHECK_EQ(map("{\"payload\":{\"kernel\":\"/dev/null\"},\"cpus\":"
		     "{\"boot_vcpus\":3,\"max_phys_bits\":46}}",
		     &c, err, sizeof(err)), 0);
	CHECK_EQ(c.cli.vm.cpus, 3);
	CHECK_EQ(c.cli.vm.max_phys_bits, 46);
	api_config_free(&c);
	/* The command line's whole-config refusal, as one line. */
	CHECK(map("{\"payload\":{\"kernel\":\"/dev/null\"},\"cpus\":"
		  "{\"max_phys_bits\":37},\"memory\":{\"size\":68719476736}}",
		  &c, err, sizeof(err)) < 0);
	CHECK(strstr(err, "which takes 38 bits") != NULL);
	CHECK(err[0] && err[strlen(err) - 1] != '\n');
}

static void test_config_bad(void)
{
	/* %s: the kernel; what the error must contain. */
	static const struct {
		const char *body, *want;
	} cases[] = {
		{ "{}", "payload: missing" },
		{ "[]", "body" },
		{ "{\"payload\":{}}", "payload.kernel: missing" },
		{ "{\"payload\":{\"kernel\":\"/nonexistent/k\"}}",
		  "payload.kernel: --kernel: /nonexistent/k" },
		{ "{\"payload\":{\"kernel\":1}}", "payload.kernel: give a string" },
		{ "{\"payload\":{\"kernel\":\"K\",\"firmware\":\"f\"}}",
		  "payload.firmware: unknown field" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"rng\":{}}",
		  "rng: unknown field" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"cpus\":{\"boot_vcpus\":0}}",
		  "cpus.boot_vcpus: give a positive integer" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"cpus\":{\"boot_vcpus\":999}}",
		  "cpus: --cpus: boot=999: give 1 to 254" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"cpus\":{\"affinity\":1}}",
		  "cpus.affinity: give a list of {\"vcpu\": N" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"cpus\":{\"affinity\":"
		  "[{\"queue_index\":0,\"host_cpus\":[0]}]}}",
		  "cpus.affinity[0]: give {\"vcpu\": N" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"cpus\":{\"affinity\":"
		  "[{\"vcpu\":0,\"host_cpus\":[\"0\"]}]}}",
		  "cpus.affinity[0].host_cpus[0]: give a non-negative" },
#if HAVE_NUMA
		{ "{\"payload\":{\"kernel\":\"K\"},\"cpus\":{\"boot_vcpus\":2,"
		  "\"affinity\":[{\"vcpu\":2,\"host_cpus\":[0]}]}}",
		  "cpus: --cpus: affinity: no vCPU 2: the VM's are 0 to 1" },
#endif
		/* Runs of CPUs go as ranges. */
		{ "{\"payload\":{\"kernel\":\"K\"},\"cpus\":{\"affinity\":"
		  "[{\"vcpu\":0,\"host_cpus\":[99990,99991,99992,7,5,6]}]}}",
		  "cpus: --cpus: affinity=[0@[99990-99992,7,5-6]]" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"cpus\":{\"boot_vcpus\":1,"
		  "\"max_vcpus\":4}}", "cpus.max_vcpus: 4" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"cpus\":{\"topology\":{}}}",
		  "cpus.topology.threads_per_core: missing" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"cpus\":{\"topology\":[]}}",
		  "cpus.topology: give an object" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"cpus\":{\"topology\":"
		  "{\"threads_per_core\":1,\"cores_per_die\":1,"
		  "\"dies_per_package\":1}}}",
		  "cpus.topology.packages: missing" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"cpus\":{\"topology\":"
		  "{\"threads_per_core\":1,\"cores_per_die\":256,"
		  "\"dies_per_package\":1,\"packages\":1}}}",
		  "cpus.topology.cores_per_die: give an integer from 1 to 255" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"cpus\":{\"topology\":"
		  "{\"threads_per_core\":1,\"sockets\":1}}}",
		  "cpus.topology.sockets: unknown field" },
		/* The count and the APIC ids: the command line's checks;
		 * with no count given, the topology's is taken. */
		{ "{\"payload\":{\"kernel\":\"K\"},\"cpus\":{\"topology\":"
		  "{\"threads_per_core\":1,\"cores_per_die\":3,"
		  "\"dies_per_package\":1,\"packages\":64}}}",
		  "cpus: --cpus: topology=1:3:1:64: the last vCPU's APIC id" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"cpus\":{\"max_vcpus\":3,"
		  "\"topology\":{\"threads_per_core\":1,\"cores_per_die\":2,"
		  "\"dies_per_package\":1,\"packages\":1}}}",
		  "cpus: --cpus: topology=1:2:1:1: makes 2 vCPUs, boot=3" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"cpus\":{\"boot_vcpus\":4,"
		  "\"topology\":{\"threads_per_core\":1,\"cores_per_die\":2,"
		  "\"dies_per_package\":1,\"packages\":1}}}",
		  "cpus: --cpus: topology=1:2:1:1: makes 2 vCPUs, boot=4" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"cpus\":{\"boot_vcpus\":192,"
		  "\"topology\":{\"threads_per_core\":1,\"cores_per_die\":3,"
		  "\"dies_per_package\":1,\"packages\":64}}}",
		  "cpus: --cpus: topology=1:3:1:64: the last vCPU's APIC id "
		  "would be 254" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"cpus\":"
		  "{\"max_phys_bits\":53}}",
		  "cpus: --cpus: max-phys-bits=53: give 37 to 52" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"cpus\":"
		  "{\"max_phys_bits\":\"40\"}}",
		  "cpus.max_phys_bits: give a positive integer" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"cpus\":"
		  "{\"max_phys_bits\":37},\"memory\":{\"size\":68719476736}}",
		  "--cpus: max-phys-bits=37: the guest's addresses reach "
		  "0x207fffffff" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"memory\":{\"size\":12345}}",
		  "memory: --memory: size=12345" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"memory\":{\"size\":-1}}",
		  "memory.size: give a non-negative integer" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"memory\":{\"mergeable\":true}}",
		  "memory.mergeable: unknown field" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"disks\":{}}",
		  "disks: give an array" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"disks\":[1]}",
		  "disks[0]: give an object" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"disks\":[{\"path\":\"I\"},"
		  "{\"path\":\"I\",\"iommu\":true}]}",
		  "disks[1].iommu: unknown field" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"disks\":[{\"path\":\"I\","
		  "\"queue_size\":100}]}", "disks[0]: --disk: queue-size=100" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"disks\":[{\"path\":\"I\","
		  "\"readonly\":\"yes\"}]}",
		  "disks[0].readonly: give true or false" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"disks\":[{\"path\":\"I,x=1\"}]}",
		  "disks[0].path: no NUL or ','" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"disks\":[{\"path\":\"I\","
		  "\"id\":\"a b\"}]}", "disks[0]: --disk: id=a b: give" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"disks\":[{\"path\":\"I\","
		  "\"id\":\"x\"},{\"path\":\"I\",\"id\":\"x\"}]}",
		  "disks[1]: --disk: id=x is taken" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"disks\":[{\"vhost_socket\":"
		  "\"/s\"}]}", "disks[0].vhost_socket: only with" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"disks\":[{\"vhost_user\":"
		  "true}]}", "disks[0].vhost_user: needs vhost_socket" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"disks\":[{}]}",
		  "disks[0]: --disk" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"disks\":[{\"path\":\"I\","
		  "\"queue_affinity\":{}}]}", "disks[0].queue_affinity: give a "
		  "list" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"disks\":[{\"path\":\"I\","
		  "\"queue_affinity\":[{\"queue_index\":0}]}]}",
		  "disks[0].queue_affinity[0]: give" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"disks\":[{\"path\":\"I\","
		  "\"queue_affinity\":[{\"queue_index\":0,\"host_cpus\":[]}]}]}",
		  "disks[0].queue_affinity[0]: give" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"disks\":[{\"path\":\"I\","
		  "\"queue_affinity\":[{\"queue_index\":0,\"host_cpus\":[0],"
		  "\"x\":1}]}]}", "disks[0].queue_affinity[0]: give" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"disks\":[{\"path\":\"I\","
		  "\"queue_affinity\":[{\"queue_index\":0,\"host_cpus\":[-1]}]}]}",
		  "disks[0].queue_affinity[0].host_cpus[0]: give a non-negative" },
#if HAVE_NUMA
		{ "{\"payload\":{\"kernel\":\"K\"},\"disks\":[{\"path\":\"I\","
		  "\"queue_affinity\":[{\"queue_index\":1,\"host_cpus\":[0]}]}]}",
		  "disks[0]: --disk: queue-affinity: no queue 1" },
#endif
		{ "{\"payload\":{\"kernel\":\"K\"},\"disks\":[{\"path\":\"I\","
		  "\"queue_affinity\":[{\"queue_index\":0,\"host_cpus\":"
		  "[99999]}]}]}", "disks[0]: --disk: queue-affinity=[0@[99999]]" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"net\":[{\"num_queues\":3}]}",
		  "net[0].num_queues: 3" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"net\":[{\"mac\":\"01:00:00:"
		  "00:00:01\"}]}", "net[0]: --net: mac=01:00:00:00:00:01" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"net\":[{\"ip\":\"1.2.3.4\"}]}",
		  "net[0].ip: unknown field" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"serial\":{\"mode\":\"Pty\"}}",
		  "serial.mode: only \"Tty\"" },
		{ "{\"payload\":{\"kernel\":\"K\"},\"console\":{\"mode\":\"Tty\"}}",
		  "console.mode: only \"Off\"" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char body[1024], err[512] = "";
		struct api_config c;
		const char *p;
		size_t n = 0;

		/* K and I stand for a real kernel and image. */
		for (p = cases[i].body; *p && n < sizeof(body) - 200; p++) {
			if (*p == 'K' && p[1] == '"')
				n += (size_t)sprintf(body + n, "%s", kernel);
			else if (*p == 'I' && (p[1] == '"' || p[1] == ','))
				n += (size_t)sprintf(body + n, "%s", image);
			else
				body[n++] = *p;
		}
		body[n] = '\0';
		CHECK_EQ(map(body, &c, err, sizeof(err)), -EINVAL);
		if (!strstr(err, cases[i].want)) {
			fprintf(stderr, "case %zu: '%s' lacks '%s'\n", i, err,
				cases[i].want);
			check_failures++;
		}
	}
}

/* The double as tern's backend is: operations go through a mailbox to
 * the thread that owns the "VM". */
struct vmm_double {
	struct api_double d;
	struct mailbox mb;
	struct loop loop;
	struct loop_watch w;
	pthread_t owner;
	atomic_bool stop;
	atomic_uint ran_elsewhere;
};

struct dcall {
	struct vmm_double *v;
	struct api_request *req;
};

static void dexec(void *arg)
{
	struct dcall *c = arg;

	if (!pthread_equal(pthread_self(), c->v->owner))
		atomic_fetch_add(&c->v->ran_elsewhere, 1);
	api_double_execute(&c->v->d, c->req);
}

static void dsubmit(void *opaque, struct api_request *req)
{
	struct dcall c = { opaque, req };

	if (mailbox_call(&c.v->mb, dexec, &c)) {
		req->status = 503;
		req->reply = httpd_error("shutting down");
	}
}

static void on_mail(struct loop_watch *w, uint32_t ev)
{
	mailbox_serve(w->opaque);
}

static void *owner_main(void *arg)
{
	struct vmm_double *v = arg;
	struct epoll_event e;

	while (!atomic_load(&v->stop))
		if (epoll_wait(v->loop.epfd, &e, 1, 20) == 1)
			((struct loop_watch *)e.data.ptr)->cb(e.data.ptr,
							       e.events);
	return NULL;
}

/* Sends RAW as is and reads to the end: the status (or -1), the reply's
 * JSON body in *out (NULL if none). */
static int raw(const char *data, size_t len, json_t **out)
{
	char resp[65536], *text;
	size_t have = 0;
	int fd = connect_to(sock), status = -1;

	*out = NULL;
	if (fd < 0)
		return -1;
	if (!write_all(fd, data, len)) {
		close(fd);
		return -1;
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		ssize_t n = read(fd, resp + have, sizeof(resp) - have - 1);

		if (n <= 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	resp[have] = '\0';
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
		return -1;
	text = strstr(resp, "\r\n\r\n");
	if (text && text[4])
		*out = json_loads(text + 4, 0, NULL);
	return status;
}

static int req(const char *method, const char *name, const char *body,
	       json_t **out)
{
	char buf[70000];
	int n;

	if (body)
		n = snprintf(buf, sizeof(buf), "%s /api/v1/%s HTTP/1.1\r\n"
			     "Host: localhost\r\nConnection: close\r\n"
			     "Content-Type: application/json\r\n"
			     "Content-Length: %zu\r\n\r\n%s", method, name,
			     strlen(body), body);
	else
		n = snprintf(buf, sizeof(buf), "%s /api/v1/%s HTTP/1.1\r\n"
			     "Host: localhost\r\nConnection: close\r\n\r\n",
			     method, name);
	return raw(buf, (size_t)n, out);
}

/* STATUS, and an error object whose text has WANT. */
static void expect(const char *method, const char *name, const char *body,
		   int status, const char *want, int line)
{
	json_t *r;
	int got = req(method, name, body, &r);
	const char *e = json_string_value(json_object_get(r, "error"));

	if (got != status)
		CHECK_FAIL_AT(__FILE__, line, "%s %s: %d, not %d (%s)", method,
			      name, got, status, e ? e : "");
	if (want && (!e || !strstr(e, want)))
		CHECK_FAIL_AT(__FILE__, line, "%s %s: error '%s' lacks '%s'",
			      method, name, e ? e : "(none)", want);
	json_decref(r);
}
#define EXPECT(m, n, b, s, w) expect(m, n, b, s, w, __LINE__)

static void *pinger(void *arg)
{
	unsigned int *bad = arg;

	for (int i = 0; i < 20; i++) {
		json_t *r;

		if (req("GET", "vmm.ping", NULL, &r) != 200 ||
		    !json_object_get(r, "version"))
			(*bad)++;
		json_decref(r);
	}
	return NULL;
}

static void test_http(void)
{
	struct vmm_double v = { 0 };
	struct api_backend b = { dsubmit, &v };
	struct cli_endpoint ep = { .given = true, .path = sock, .fd = -1 };
	struct api *a;
	char create[512], *big;
	struct stat st;
	pthread_t ot;

	CHECK_EQ(mailbox_init(&v.mb), 0);
	CHECK_EQ(loop_init(&v.loop), 0);
	CHECK_EQ(loop_add(&v.loop, &v.w, mailbox_fd(&v.mb), EPOLLIN, on_mail,
			  &v.mb), 0);
	pthread_create(&ot, NULL, owner_main, &v);
	v.owner = ot;
	CHECK_EQ(api_start(&a, &ep, &b, NULL), 0);
	CHECK_EQ(stat(sock, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);

	EXPECT("GET", "vmm.ping", NULL, 200, NULL);
	/* Not created yet. */
	EXPECT("GET", "vm.info", NULL, 404, "vm.create first");
	EXPECT("PUT", "vm.pause", NULL, 404, "vm.create first");
	EXPECT("PUT", "vm.boot", NULL, 404, "vm.create first");
	EXPECT("PUT", "vm.add-disk", "{\"path\":\"/x\"}", 400, "disk");
	/* Endpoints and methods. */
	EXPECT("GET", "vm.nothing", NULL, 404, "no such endpoint");
	EXPECT("GET", "vm.pause", NULL, 405, "not with GET");
	EXPECT("POST", "vm.create", "{}", 405, "not with POST");
	/* Bodies. */
	EXPECT("PUT", "vm.create", NULL, 400, "needs a JSON object");
	EXPECT("PUT", "vm.create", "{\"payload\":", 400, "body:");
	EXPECT("PUT", "vm.create", "[1,2]", 400, "a JSON object");
	EXPECT("PUT", "vm.create", "{\"a\":1,\"a\":2}", 400, "body:");
	EXPECT("PUT", "vm.create", "{\"payload\":{\"kernel\":\"k\"},"
	       "\"disks\":[{\"path\":\"/x\",\"bogus\":1}]}", 400, "kernel");
	snprintf(create, sizeof(create), "{\"payload\":{\"kernel\":\"%s\"},"
		 "\"disks\":[{\"path\":\"%s\",\"bogus\":1}]}", kernel, image);
	EXPECT("PUT", "vm.create", create, 400, "disks[0].bogus: unknown field");
	EXPECT("PUT", "vm.pause", "{\"now\":true}", 400, "takes none");
	big = malloc(HTTPD_MAX_BODY + 2);
	memset(big, ' ', HTTPD_MAX_BODY + 1);
	big[HTTPD_MAX_BODY + 1] = '\0';
	EXPECT("PUT", "vm.create", big, 413, "larger than");
	free(big);
	/* Not HTTP at all: libmicrohttpd answers 400 or closes. */
	{
		json_t *r;
		int s = raw("GARBAGE\r\n\r\n", 11, &r);

		CHECK(s == 400 || s == -1);
		json_decref(r);
		s = raw("GET /api/v1/vmm.ping HTTP/1.1\r\nContent-Length: "
			"zz\r\n\r\n", 52, &r);
		CHECK(s == 400 || s == -1);
		json_decref(r);
	}
	CHECK_EQ(v.d.ran[API_CREATE], 0);	/* none of that got through */

	/* The life of a VM, and the wrong state at each step. */
	snprintf(create, sizeof(create), "{\"payload\":{\"kernel\":\"%s\"},"
		 "\"disks\":[{\"path\":\"%s\"}],\"net\":[{\"tap\":\"t0\"}]}",
		 kernel, image);
	EXPECT("PUT", "vm.create", create, 204, NULL);
	CHECK(!strcmp(v.d.kernel, kernel));
	CHECK_EQ(v.d.ndisks, 1);
	CHECK_EQ(v.d.nnets, 1);
	EXPECT("PUT", "vm.create", create, 409, "must be not created (vm.delete first)");
	EXPECT("PUT", "vm.pause", NULL, 409, "the VM is Created");
	EXPECT("PUT", "vm.boot", NULL, 204, NULL);
	EXPECT("PUT", "vm.boot", NULL, 409, "the VM is Running");
	EXPECT("PUT", "vm.resume", NULL, 409, "it must be Paused");
	EXPECT("PUT", "vm.pause", NULL, 204, NULL);
	EXPECT("PUT", "vm.pause", NULL, 409, "the VM is Paused");
	EXPECT("PUT", "vm.add-disk", "{\"path\":\"/x\"}", 400, "disk: --disk");
	EXPECT("PUT", "vm.remove-device", "{}", 400, "id:");
	EXPECT("PUT", "vm.remove-device", "{\"id\":\"x\",\"y\":1}", 400,
	       "y: unknown field");
	EXPECT("PUT", "vm.resume", NULL, 204, NULL);
	EXPECT("PUT", "vm.power-button", NULL, 204, NULL);
	{
		char body[160];
		json_t *r;

		snprintf(body, sizeof(body), "{\"path\":\"%s\",\"id\":\"hp\"}",
			 image);
		CHECK_EQ(req("PUT", "vm.add-disk", body, &r), 200);
		CHECK(!strcmp(json_string_value(json_object_get(r, "id")) ?:
			      "", "hp"));
		json_decref(r);
	}
	EXPECT("PUT", "vm.remove-device", "{\"id\":\"hp\"}", 204, NULL);
	{
		json_t *r;

		CHECK_EQ(req("GET", "vm.info", NULL, &r), 200);
		CHECK(!strcmp(json_string_value(json_object_get(r, "state")) ?:
			      "", "Running"));
		json_decref(r);
	}

	/* A client that goes away mid-request, then one that says too
	 * little and waits: neither stops the next. */
	{
		int fd = connect_to(sock);
		const char *part = "PUT /api/v1/vm.pause HTTP/1.1\r\nHost: x\r\n"
				   "Content-Length: 100\r\n\r\n{\"a\":";

		CHECK(fd >= 0);
		write_all(fd, part, strlen(part));
		close(fd);
		fd = connect_to(sock);
		write_all(fd, part, 20);
		EXPECT("GET", "vmm.ping", NULL, 200, NULL);
		close(fd);
	}
	/* Many clients at once; more connections than the server takes,
	 * held open, do not wedge it once they go. */
	{
		pthread_t t[8];
		unsigned int bad[8] = { 0 };
		int idle[HTTPD_MAX_CONNS + 4];

		for (int i = 0; i < 8; i++)
			pthread_create(&t[i], NULL, pinger, &bad[i]);
		for (int i = 0; i < 8; i++) {
			pthread_join(t[i], NULL);
			CHECK_EQ(bad[i], 0);
		}
		for (int i = 0; i < HTTPD_MAX_CONNS + 4; i++)
			idle[i] = connect_to(sock);
		for (int i = 0; i < HTTPD_MAX_CONNS + 4; i++)
			if (idle[i] >= 0)
				close(idle[i]);
		EXPECT("GET", "vmm.ping", NULL, 200, NULL);
	}
	EXPECT("PUT", "vm.shutdown", NULL, 204, NULL);
	EXPECT("PUT", "vm.shutdown", NULL, 409, "the VM is Shutdown");
	EXPECT("PUT", "vm.delete", NULL, 204, NULL);
	EXPECT("GET", "vm.info", NULL, 404, NULL);
	CHECK_EQ(atomic_load(&v.ran_elsewhere), 0);
	CHECK(v.d.refused > 0);

	/* The VMM going down: calls fail with 503, nobody hangs. */
	mailbox_close(&v.mb);
	EXPECT("GET", "vmm.ping", NULL, 503, "shutting down");
	api_stop(a);
	CHECK(stat(sock, &st) < 0);	/* the socket file is gone */
	atomic_store(&v.stop, true);
	pthread_join(ot, NULL);
	loop_del(&v.loop, &v.w);
	loop_destroy(&v.loop);
	mailbox_destroy(&v.mb);
}

int main(void)
{
	int fd;

	CHECK(mkdtemp(tmpdir) != NULL);
	snprintf(kernel, sizeof(kernel), "%s/kernel", tmpdir);
	snprintf(image, sizeof(image), "%s/disk.img", tmpdir);
	snprintf(sock, sizeof(sock), "%s/api.sock", tmpdir);
	fd = open(kernel, O_CREAT | O_WRONLY, 0600);
	close(fd);
	fd = open(image, O_CREAT | O_WRONLY, 0600);
	CHECK_EQ(ftruncate(fd, 1 << 20), 0);
	close(fd);

	test_routes();
	test_config_good();
	test_config_topology();
	test_config_bad();
	test_http();

	unlink(kernel);
	unlink(image);
	rmdir(tmpdir);
	return check_done("test_api");
}
