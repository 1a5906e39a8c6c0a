/* The VMM: VMs one after another, the control API's operations, the
 * event monitor (see vmm.h). */
#include "vmm/vmm.h"

#include "config.h"
#include "core/events.h"
#include "core/httpd.h"
#include "core/log.h"
#include "core/mailbox.h"
#include "core/sandbox.h"
#include "core/stats.h"
#include "vmm/api.h"
#include "vmm/machine.h"
#include "vmm/vm.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

/* What a VM built from the API may need: any device kind, a new VM after
 * the last (the filters are installed once, before the first). */
#define API_NEEDS (SANDBOX_NEED_TAP | SANDBOX_NEED_VHOST_NET |                 \
		   SANDBOX_NEED_VHOST_USER | SANDBOX_NEED_DISK |               \
		   SANDBOX_NEED_PC | SANDBOX_NEED_RESTART |                    \
		   SANDBOX_NEED_NUMA | SANDBOX_NEED_API |                      \
		   SANDBOX_NEED_VCPU_PIN)

struct vmm {
	const struct cli *cli;
	struct loop *loop;
	struct console *con;
	struct vm *vm;			/* built, running or paused */
	const struct vm_config *cfg;	/* what vm.boot builds; NULL: none */
	struct vm_config cli_vm;	/* the command line's, with events */
	struct api_config *created;	/* vm.create's (cfg points in) */
	struct api_config *dropped;	/* deleted while its VM ran */
	enum api_state state;
	bool quit;			/* vmm.shutdown, or a signal */
	bool run_next;			/* a VM is built: run it */
	bool api_stopped_vm;		/* vm.shutdown/delete: wait after */
	bool api_reboot;		/* vm.reboot: build it again */
	bool locked;			/* the sandbox is in place */
	unsigned int needs;		/* what it allows */
	struct mailbox mb;
	struct loop_watch mb_watch;
	struct events *events;
	struct api *api;
};

static void emit(struct vmm *s, const char *event)
{
	events_emit(s->events, "vm", event, NULL);
}

static void on_signal(struct loop_watch *w, uint32_t events)
{
	struct vmm *s = w->opaque;
	struct signalfd_siginfo si;

	if (read(w->fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGUSR2) {
		if (s->vm)
			vm_write_stats(s->vm);
		return;
	}
	log_info("vm", "signal %u: stopping%s", si.ssi_signo,
		 s->vm ? " the guest" : "");
	s->quit = true;
	if (s->vm)
		vm_request(s->vm, VM_REQ_STOP);
	else
		loop_stop(s->loop);
}

static void kick_handler(int sig)
{
	(void)sig;	/* only interrupts KVM_RUN */
}

/* SIGTERM/SIGINT/SIGHUP/SIGUSR2 come through a signalfd to the main loop;
 * the vCPU kick signal has an empty handler and is unblocked in vCPU
 * threads only. Threads inherit this mask. */
static int signals_setup(void)
{
	struct sigaction sa = { .sa_handler = kick_handler };
	sigset_t watched, block;

	sigemptyset(&watched);
	sigaddset(&watched, SIGTERM);
	sigaddset(&watched, SIGINT);
	sigaddset(&watched, SIGHUP);
	sigaddset(&watched, SIGUSR2);	/* write --stats now */
	block = watched;
	sigaddset(&block, VCPU_KICK_SIGNAL);
	sigaddset(&block, SIGPIPE);
	if (sigaction(VCPU_KICK_SIGNAL, &sa, NULL) < 0 ||
	    pthread_sigmask(SIG_BLOCK, &block, NULL))
		return -errno;
	return signalfd(-1, &watched, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Jail, user, seccomp: what the configuration needs decides the rules;
 * with the API, whatever a VM it creates may need. */
static int lockdown(struct vmm *s)
{
	const struct cli *cli = s->cli;
	struct sandbox_config sc = cli->sandbox;
	const struct console *con = s->con;

	sc.needs = vm_sandbox_needs(&cli->vm);
	if (cli->api.given)
		sc.needs |= API_NEEDS;
	if (con->raw) {
		sc.needs |= SANDBOX_NEED_TTY;
		sandbox_set_tty(con->in_fd, &con->saved);
	}
	if (cli->serial == CONSOLE_SOCKET)
		sc.needs |= SANDBOX_NEED_CONSOLE_SOCKET;
	s->needs = sc.needs;
	s->locked = true;
	return sandbox_lockdown(&sc, "tern");
}

/* A removal vm_hotplug_remove started has ended: the guest ejected the
 * device (0), or the deadline passed and it stays (logged there). */
static void on_removed(void *opaque, const char *id, int result)
{
	struct vmm *s = opaque;

	if (!result)
		events_emit(s->events, "vm", "device-removed", "id", id, NULL);
}

/* Builds the VM s->cfg describes (not started). */
static int build(struct vmm *s)
{
	int ret;

	emit(s, "booting");
	ret = vm_create(&s->vm, s->cfg, console_output(s->con), s->loop);
	if (ret)
		return ret;
	vm_hotplug_on_removed(s->vm, on_removed, s);
	s->run_next = true;
	return 0;
}

/* A MAC as Cloud Hypervisor writes it. */
static void mac_string(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
}

/* Affinity pairs as Cloud Hypervisor lists them: [{KEY: i, host_cpus}]
 * for i below COUNT (DiskConfig's queue_affinity, KEY "queue_index";
 * CpusConfig's affinity, KEY "vcpu"), each once, its CPUs ascending. */
static json_t *affinity_json(const struct cpu_affinity *a, unsigned int n,
			     unsigned int count, const char *key)
{
	json_t *all = json_array();

	for (unsigned int i = 0; all && i < count; i++) {
		json_t *cpus = json_array();
		cpu_set_t set;

		hostcpu_affinity_set(a, n, i, &set);
		for (int c = 0; cpus && c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &set))
				json_array_append_new(cpus, json_integer(c));
		if (json_array_size(cpus))
			json_array_append_new(all, json_pack("{s:i,s:o}", key,
				(int)i, "host_cpus", cpus));
		else
			json_decref(cpus);
	}
	return all;
}

/* One --disk or --net as a DiskConfig or NetConfig. */
static json_t *device_config_json(const struct dev_config *d)
{
	const char *id = d->id[0] ? d->id : NULL;
	char mac[18];
	json_t *o;

	if (!strcmp(d->kind->option, "disk")) {
		if (d->disk.socket[0])
			return json_pack("{s:b,s:s,s:s?}", "vhost_user", 1,
					 "vhost_socket", d->disk.socket, "id",
					 id);
		o = json_pack("{s:s,s:b,s:b,s:i,s:i,s:s?}", "path",
			      d->disk.path, "readonly", d->disk.d.readonly,
			      "direct", d->disk.d.direct, "num_queues",
			      d->disk.d.queues, "queue_size",
			      d->disk.d.queue_size, "id", id);
		if (o && d->disk.d.naffinity)
			json_object_set_new(o, "queue_affinity",
					    affinity_json(d->disk.d.affinity,
							  d->disk.d.naffinity,
							  d->disk.d.queues,
							  "queue_index"));
		return o;
	}
	mac_string(d->net.dev.mac, mac);
	return d->net.socket[0] ?
		json_pack("{s:s,s:b,s:s,s:s?}", "mac", mac, "vhost_user", 1,
			  "vhost_socket", d->net.socket, "id", id) :
		json_pack("{s:s,s:s,s:i,s:s?}", "mac", mac, "tap", d->net.tap,
			  "num_queues", 2 * d->net.dev.pairs, "id", id);
}

/* vm.info's "config" for a VM from the command line: its VmConfig. */
static json_t *config_json(const struct vm_config *c)
{
	json_t *disks = json_array(), *net = json_array(), *o;

	for (unsigned int i = 0; i < c->ndevs; i++)
		json_array_append_new(strcmp(c->devs[i].kind->option, "disk") ?
				      net : disks,
				      device_config_json(&c->devs[i]));
	o = json_pack("{s:{s:s?,s:s?,s:s},s:{s:i,s:i},s:{s:I,s:b,s:b},"
			 "s:o,s:o}",
			 "payload", "kernel", c->kernel, "initramfs",
			 c->initramfs, "cmdline", c->cmdline,
			 "cpus", "boot_vcpus", c->cpus, "max_vcpus", c->cpus,
			 "memory", "size", (json_int_t)c->mem.size, "shared",
			 c->mem.shared, "hugepages", c->mem.hugepages,
			 "disks", disks, "net", net);
	if (o && c->topology.threads)
		json_object_set_new(json_object_get(o, "cpus"), "topology",
				    json_pack("{s:i,s:i,s:i,s:i}",
					      "threads_per_core",
					      c->topology.threads,
					      "cores_per_die", c->topology.cores,
					      "dies_per_package",
					      c->topology.dies, "packages",
					      c->topology.packages));
	if (o && c->max_phys_bits)
		json_object_set_new(json_object_get(o, "cpus"), "max_phys_bits",
				    json_integer(c->max_phys_bits));
	if (o && c->ncpu_affinity)
		json_object_set_new(json_object_get(o, "cpus"), "affinity",
				    affinity_json(c->cpu_affinity,
						  c->ncpu_affinity, c->cpus,
						  "vcpu"));
	return o;
}

/* The PCI function of device ID ("0000:00:03.0"), or NULL: a PCI
 * device's function is named by its id. */
static json_t *device_bdf(const struct vm *vm, const char *id)
{
	for (unsigned int devfn = 0; devfn < 256; devfn++) {
		const struct pci_dev *p = vm->pci.devs[devfn];

		if (p && p->name && !strcmp(p->name, id))
			return json_sprintf("0000:00:%02x.%x", devfn >> 3,
					    devfn & 7);
	}
	return json_null();
}

static json_t *device_tree(const struct vmm *s)
{
	const struct vm *vm = s->vm;
	json_t *tree = json_object();

	for (const struct device *d = vm ? vm->devices.head : NULL; d;
	     d = d->next)
		json_object_set_new(tree, d->id, json_pack(
			"{s:s,s:[],s:[],s:o}", "id", d->id, "resources",
			"children", "pci_bdf", device_bdf(vm, d->id)));
	return tree;
}

static json_t *info(const struct vmm *s)
{
	json_t *cfg = s->created ? json_incref(s->created->json) :
				   config_json(s->cfg);

	return json_pack("{s:o,s:s,s:I,s:o}", "config", cfg, "state",
			 api_state_name(s->state), "memory_actual_size",
			 (json_int_t)s->cfg->mem.size, "device_tree",
			 device_tree(s));
}

static void put_counter(void *ctx, const char *name, uint64_t value)
{
	json_object_set_new(ctx, name, json_integer((json_int_t)value));
}

/* vm.counters: per device and queue what tern serves itself (its kinds'
 * counters: virtio-blk on io_uring, virtio-net's userspace datapath), per
 * vCPU KVM's exit statistics, the event monitor's. Cloud Hypervisor's
 * shape: {"id": {"counter": integer}}. */
static json_t *counters(const struct vmm *s)
{
	static const char *const names[STATS_N] = STATS_NAMES;
	json_t *out = json_object();
	struct vm *vm = s->vm;

	for (struct device *d = vm ? vm->devices.head : NULL; d; d = d->next) {
		json_t *c;

		if (!d->kind || !d->kind->counters)
			continue;
		c = json_object();
		d->kind->counters(d, put_counter, c);
		if (json_object_size(c))
			json_object_set_new(out, d->id, c);
		else
			json_decref(c);
	}
	for (unsigned int i = 0; vm && i < vm->ncpus; i++) {
		struct vcpu_stats st;
		char key[16];
		json_t *c;

		if (vm->vcpus[i].stats_fd < 0 ||
		    stats_read(vm->vcpus[i].stats_fd, &st))
			continue;
		c = json_object();
		for (unsigned int k = 0; k < STATS_N; k++)
			if (st.found & (1u << k))
				json_object_set_new(c, names[k],
						    json_integer((json_int_t)
								 st.v[k]));
		snprintf(key, sizeof(key), "vcpu%u", i);
		json_object_set_new(out, key, c);
	}
	if (s->events)
		json_object_set_new(out, "event-monitor", json_pack(
			"{s:I,s:I}", "emitted",
			(json_int_t)events_emitted(s->events), "dropped",
			(json_int_t)events_dropped(s->events)));
	return out;
}

static unsigned long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ull +
	       (unsigned long long)ts.tv_nsec / 1000;
}

static void reply(struct api_request *req, int status, json_t *body)
{
	req->status = status;
	req->reply = body;
}

static void fail(struct api_request *req, int status, int err,
		 const char *what)
{
	reply(req, status, httpd_error("%s: %s%s", req->route->name, what,
				       err ? strerror(-err) : ""));
}

/* The HTTP status for a device operation's -errno: the caller's mistake
 * (400), a device the VM does not have (404), one on its way out (409),
 * else 500. */
static int device_status(int err)
{
	switch (err) {
	case -EINVAL:
	case -EEXIST:
	case -ENOSPC:
	case -ENOTSUP:
		return 400;
	case -ENOENT:
		return 404;
	case -EALREADY:
		return 409;
	default:
		return 500;
	}
}

/* vm.add-disk, vm.add-net: the device through vm_hotplug_add, announced
 * to the guest; 200 with its id and PCI function (Cloud Hypervisor's
 * PciDeviceInfo). */
static void add_device(struct vmm *s, struct api_request *req)
{
	const char *why = vm_hotplug_refusal(s->vm, req->dev);
	char id[DEV_ID_LEN];
	int ret;

	if (why) {
		reply(req, 400, httpd_error("%s: %s", req->route->name, why));
		return;
	}
	ret = vm_hotplug_add(s->vm, req->dev, id);
	if (ret) {
		/* Not found here is the device's file or socket: the
		 * request's mistake, not an unknown id. */
		fail(req, ret == -ENOENT ? 400 : device_status(ret), ret,
		     "(tern's log says why) ");
		return;
	}
	events_emit(s->events, "vm", "device-added", "id", id, NULL);
	reply(req, 200, json_pack("{s:s,s:o}", "id", id, "bdf",
				  device_bdf(s->vm, id)));
}

/* vm.remove-device: the guest is asked to eject; device-removed follows
 * when it has. 204 once asked. */
static void remove_device(struct vmm *s, struct api_request *req)
{
	const char *id = json_string_value(json_object_get(req->body, "id"));
	int ret = vm_hotplug_remove(s->vm, id);

	if (ret == -ENOENT)
		reply(req, 404, httpd_error("vm.remove-device: no device '%s'",
					    id));
	else if (ret)
		fail(req, device_status(ret), ret, "");
	else
		reply(req, 204, NULL);
}

/* Ends the running VM for the API: vm_run returns, and the VMM waits. */
static void stop_vm(struct vmm *s)
{
	s->api_stopped_vm = true;
	vm_request(s->vm, VM_REQ_STOP);
}

struct call {
	struct vmm *s;
	struct api_request *req;
};

/* On the main thread: one API operation. */
static void execute(void *arg)
{
	struct call *c = arg;
	struct vmm *s = c->s;
	struct api_request *req = c->req;
	unsigned long long t0;
	int ret;

	if (api_check_state(req, s->state))
		return;
	switch (req->route->op) {
	case API_PING:
		reply(req, 200, json_pack("{s:s,s:s,s:i,s:[]}", "build_version",
					  TERN_VERSION, "version", TERN_VERSION,
					  "pid", (int)getpid(), "features"));
		return;
	case API_VMM_SHUTDOWN:
		s->quit = true;
		if (s->vm)
			stop_vm(s);
		else
			loop_stop(s->loop);
		reply(req, 204, NULL);
		return;
	case API_CREATE:
		s->created = req->config;
		req->config = NULL;
		s->created->cli.vm.events = s->events;
		s->cfg = &s->created->cli.vm;
		s->state = API_STATE_CREATED;
		reply(req, 204, NULL);
		return;
	case API_DELETE:
		if (s->vm) {
			stop_vm(s);
			/* Its VM still reads it until torn down. */
			s->dropped = s->created;
		} else if (s->created) {
			api_config_free(s->created);
			free(s->created);
		}
		s->created = NULL;
		s->cfg = NULL;
		s->state = API_STATE_NONE;
		reply(req, 204, NULL);
		return;
	case API_BOOT:
		if (s->vm) {
			fail(req, 409, 0, "the last VM is still going down");
			return;
		}
		ret = build(s);
		if (ret) {
			fail(req, 500, ret, "the VM could not be built (tern's "
			     "log says why): ");
			return;
		}
		s->state = API_STATE_RUNNING;
		loop_stop(s->loop);
		reply(req, 204, NULL);
		return;
	case API_INFO:
		reply(req, 200, info(s));
		return;
	case API_COUNTERS:
		reply(req, 200, counters(s));
		return;
	case API_PAUSE:
		t0 = now_us();
		ret = vm_pause(s->vm);
		if (ret) {
			fail(req, 500, ret, "");
			return;
		}
		log_info("vm", "paused (%llu us)", now_us() - t0);
		s->state = API_STATE_PAUSED;
		emit(s, "paused");
		reply(req, 204, NULL);
		return;
	case API_RESUME:
		t0 = now_us();
		ret = vm_resume(s->vm);
		log_info("vm", "resumed (%llu us)", now_us() - t0);
		s->state = API_STATE_RUNNING;
		emit(s, "resumed");
		if (ret)
			fail(req, 500, ret, "resumed, but a device did not: ");
		else
			reply(req, 204, NULL);
		return;
	case API_SHUTDOWN:
		stop_vm(s);
		s->state = API_STATE_SHUTDOWN;
		reply(req, 204, NULL);
		return;
	case API_REBOOT:
		s->api_reboot = true;
		vm_request(s->vm, VM_REQ_RESET);
		reply(req, 204, NULL);
		return;
	case API_POWER_BUTTON:
		ret = vm_power_button(s->vm);
		if (ret) {
			fail(req, 500, ret, "");
			return;
		}
		emit(s, "power-button");
		reply(req, 204, NULL);
		return;
	case API_ADD_DISK:
	case API_ADD_NET:
		add_device(s, req);
		return;
	case API_REMOVE_DEVICE:
		remove_device(s, req);
		return;
	default:
		fail(req, 500, 0, "not an operation");
		return;
	}
}

/* On the API thread: the operation runs on the main thread. */
static void submit(void *opaque, struct api_request *req)
{
	struct vmm *s = opaque;
	struct call c = { s, req };

	if (mailbox_call(&s->mb, execute, &c))
		reply(req, 503, httpd_error("%s: the VMM is shutting down",
					    req->route->name));
}

static void on_mail(struct loop_watch *w, uint32_t events)
{
	mailbox_serve(w->opaque);
}

/* What ended the VM decides what comes next: EXIT_* to end, or -1 to go
 * on (another VM, or waiting for the API). */
static int after_vm(struct vmm *s, enum vm_request req)
{
	if (req == VM_REQ_RESET &&
	    (s->cli->vm.on_reboot == ON_REBOOT_RESTART || s->api_reboot) &&
	    !s->quit) {
		log_info("vm", "guest reset: restarting");
		emit(s, "reboot");
		s->api_reboot = false;
		if (build(s))
			return EXIT_ERROR;
		s->state = API_STATE_RUNNING;
		return -1;
	}
	emit(s, "shutdown");
	if (s->api_stopped_vm && !s->quit) {
		s->api_stopped_vm = false;
		return -1;
	}
	switch (req) {
	case VM_REQ_POWEROFF:
		log_info("vm", "guest powered off");
		return EXIT_OK;
	case VM_REQ_STOP:
		return EXIT_OK;
	case VM_REQ_RESET:
		log_info("vm", "guest reset: exiting (--on-reboot exit)");
		return EXIT_REBOOT;
	default:
		return EXIT_ERROR;
	}
}

static int serve(struct vmm *s)
{
	int status = -1;

	while (status < 0) {
		enum vm_request req;

		if (!s->vm) {
			/* Empty: the API's vm.create and vm.boot. */
			s->loop->stop = false;
			while (!s->vm && !s->quit)
				if (loop_run(s->loop)) {
					log_err("vm", "main loop: %s",
						strerror(errno));
					return EXIT_ERROR;
				} else {
					s->loop->stop = false;
				}
			if (s->quit)
				return EXIT_OK;
		}
		if (!s->locked && lockdown(s)) {
			vm_destroy(s->vm);
			s->vm = NULL;
			return EXIT_ERROR;
		}
		s->run_next = false;
		s->state = API_STATE_RUNNING;
		console_attach(s->con, &s->vm->serial, s->vm->kvm.ctl);
		emit(s, "booted");
		req = vm_run(s->vm, s->loop);
		console_detach(s->con);
		vm_destroy(s->vm);
		s->vm = NULL;
		if (s->dropped) {
			api_config_free(s->dropped);
			free(s->dropped);
			s->dropped = NULL;
		}
		if (s->state != API_STATE_NONE)
			s->state = API_STATE_SHUTDOWN;
		status = after_vm(s, req);
	}
	return status;
}

int vmm_run(const struct cli *cli, struct loop *loop, struct console *con)
{
	struct vmm s = { .cli = cli, .loop = loop, .con = con };
	struct api_backend backend = { submit, &s };
	struct loop_watch sig_watch;
	int sfd, status = EXIT_ERROR;

	/* jansson seeds its hash tables from /dev/urandom when it makes its
	 * first object; that open must happen here, before any seccomp
	 * filter, not on the API thread parsing a client's first body. */
	json_object_seed(0);
	if (mailbox_init(&s.mb)) {
		log_err("vm", "mailbox: %s", strerror(errno));
		return EXIT_ERROR;
	}
	sfd = signals_setup();
	if (sfd < 0 || loop_add(loop, &sig_watch, sfd, EPOLLIN, on_signal, &s)) {
		log_err("vm", "signal setup failed");
		goto out_mb;
	}
	if (loop_add(loop, &s.mb_watch, mailbox_fd(&s.mb), EPOLLIN, on_mail,
		     &s.mb))
		goto out_sig;
	if (cli->events.given &&
	    events_open(&s.events, cli->events.path, cli->events.fd))
		goto out_watch;
	s.cli_vm = cli->vm;
	s.cli_vm.events = s.events;
	/* A VM on the command line (a kernel, or firmware boot on pc)
	 * boots at once; without one, the API's vm.create brings it. */
	if (cli->vm.kernel || cli->vm.firmware) {
		s.cfg = &s.cli_vm;
		s.state = API_STATE_CREATED;
		if (build(&s))
			goto out_events;
	}
	if (cli->api.given) {
		/* The API's VMs are built after its thread exists: lock
		 * down first, while this is the only thread. */
		if (lockdown(&s) || api_start(&s.api, &cli->api, &backend,
					      s.events))
			goto out_vm;
		events_emit(s.events, "vmm", "starting", NULL);
	}
	status = serve(&s);
out_vm:
	mailbox_close(&s.mb);
	api_stop(s.api);
	if (s.vm)
		vm_destroy(s.vm);
	if (s.created) {
		api_config_free(s.created);
		free(s.created);
	}
out_events:
	events_emit(s.events, "vmm", "shutdown", NULL);
	events_close(s.events);
out_watch:
	loop_del(loop, &s.mb_watch);
out_sig:
	loop_del(loop, &sig_watch);
	if (sfd >= 0)
		close(sfd);
out_mb:
	mailbox_destroy(&s.mb);
	return status;
}
