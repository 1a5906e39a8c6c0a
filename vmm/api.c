/* The control API's request side (see api.h). */
#include "vmm/api.h"

#include "core/errbuf.h"
#include "core/httpd.h"
#include "core/log.h"
#include "core/sandbox.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define S(st) (1u << API_STATE_##st)
#define S_VM (S(CREATED) | S(RUNNING) | S(PAUSED) | S(SHUTDOWN))
#define S_ANY (S(NONE) | S_VM)
#define S_LIVE (S(RUNNING) | S(PAUSED))

/* Cloud Hypervisor's endpoints (its openapi document), those tern has. */
static const struct api_route routes[] = {
	{ "vmm.ping", "GET", API_PING, false, S_ANY },
	{ "vmm.shutdown", "PUT", API_VMM_SHUTDOWN, false, S_ANY },
	{ "vm.create", "PUT", API_CREATE, true, S(NONE) },
	{ "vm.delete", "PUT", API_DELETE, false, S_ANY },
	{ "vm.boot", "PUT", API_BOOT, false, S(CREATED) | S(SHUTDOWN) },
	{ "vm.info", "GET", API_INFO, false, S_VM },
	{ "vm.counters", "GET", API_COUNTERS, false, S_LIVE },
	{ "vm.pause", "PUT", API_PAUSE, false, S(RUNNING) },
	{ "vm.resume", "PUT", API_RESUME, false, S(PAUSED) },
	{ "vm.shutdown", "PUT", API_SHUTDOWN, false, S_LIVE },
	{ "vm.reboot", "PUT", API_REBOOT, false, S(RUNNING) },
	{ "vm.power-button", "PUT", API_POWER_BUTTON, false, S(RUNNING) },
	{ "vm.add-disk", "PUT", API_ADD_DISK, true, S(RUNNING) },
	{ "vm.add-net", "PUT", API_ADD_NET, true, S(RUNNING) },
	{ "vm.remove-device", "PUT", API_REMOVE_DEVICE, true, S(RUNNING) },
};

static const char *const state_names[API_NSTATES] = {
	"NotCreated", "Created", "Running", "Paused", "Shutdown",
};

const char *api_state_name(enum api_state s)
{
	return s < API_NSTATES ? state_names[s] : "?";
}

static json_t *error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static json_t *error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return httpd_error("%s", msg);
}

const struct api_route *api_route_find(const char *method, const char *path,
				       int *status)
{
	size_t plen = strlen(API_PREFIX);

	*status = 404;
	if (strncmp(path, API_PREFIX, plen))
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
		if (strcmp(routes[i].name, path + plen))
			continue;
		if (strcmp(routes[i].method, method)) {
			*status = 405;
			return NULL;
		}
		return &routes[i];
	}
	return NULL;
}

int api_check_state(struct api_request *req, enum api_state state)
{
	const struct api_route *r = req->route;

	if (r->states & (1u << state))
		return 0;
	if (state == API_STATE_NONE) {
		req->status = 404;
		req->reply = error("%s: no VM (vm.create first)", r->name);
	} else {
		char want[96] = "";

		for (unsigned int s = 0; s < API_NSTATES; s++)
			if (r->states & (1u << s))
				snprintf(want + strlen(want),
					 sizeof(want) - strlen(want), "%s%s",
					 want[0] ? " or " : "",
					 s == API_STATE_NONE ?
						"not created (vm.delete first)" :
							       state_names[s]);
		req->status = 409;
		req->reply = error("%s: the VM is %s; it must be %s", r->name,
				   state_names[state], want);
	}
	return req->status;
}

/* How one JSON member becomes an option word. */
enum field_type {
	F_STR,		/* a string, as is */
	F_BOOL,		/* true/false -> on/off */
	F_UINT,		/* a non-negative integer */
	F_PAIRS,	/* Cloud Hypervisor counts a NIC's queues, tern its
			 * pairs: an even count, halved */
	F_VHOST_USER,	/* true: vhost_socket names the backend */
	F_AFFINITY,	/* [{queue_index, host_cpus: [...]}] ->
			 * [Q@[C,C],...] */
};

struct field_map {
	const char *json;
	const char *word;	/* the option's key; NULL for F_VHOST_USER */
	enum field_type type;
};

/* DiskConfig -> --disk. */
static const struct field_map disk_fields[] = {
	{ "path", "path", F_STR },
	{ "readonly", "readonly", F_BOOL },
	{ "direct", "direct", F_BOOL },
	{ "num_queues", "queues", F_UINT },
	{ "queue_size", "queue-size", F_UINT },
	{ "serial", "serial", F_STR },
	{ "queue_affinity", "queue-affinity", F_AFFINITY },
	{ "vhost_user", NULL, F_VHOST_USER },
	{ "vhost_socket", "vhost-user", F_STR },
	{ "id", "id", F_STR },
};

/* NetConfig -> --net. */
static const struct field_map net_fields[] = {
	{ "tap", "tap", F_STR },
	{ "mac", "mac", F_STR },
	{ "mtu", "mtu", F_UINT },
	{ "num_queues", "queues", F_PAIRS },
	{ "queue_size", "queue-size", F_UINT },
	{ "vhost_user", NULL, F_VHOST_USER },
	{ "vhost_socket", "vhost-user", F_STR },
	{ "id", "id", F_STR },
};

/* MemoryConfig -> --memory. */
static const struct field_map memory_fields[] = {
	{ "size", "size", F_UINT },
	{ "shared", "shared", F_BOOL },
	{ "hugepages", "hugepages", F_BOOL },
};

/* PayloadConfig -> --kernel, --initramfs, --cmdline (one option each:
 * the word is the option). */
static const struct field_map payload_fields[] = {
	{ "kernel", "kernel", F_STR },
	{ "initramfs", "initramfs", F_STR },
	{ "cmdline", "cmdline", F_STR },
};

struct mapped {
	char words[2048];		/* "path=x,readonly=on" */
	bool vhost_user;		/* vhost_user: true */
	bool socket;			/* vhost_socket given */
};

/* A refusal: the message into ERR, -EINVAL. */
#define fail(err, errlen, ...) errbuf_fail(-EINVAL, err, errlen, __VA_ARGS__)

static const char *type_name(enum field_type t)
{
	switch (t) {
	case F_BOOL:
	case F_VHOST_USER:
		return "true or false";
	case F_UINT:
	case F_PAIRS:
		return "a non-negative integer";
	case F_AFFINITY:
		return "a list of {\"queue_index\": N, \"host_cpus\": [N, ...]}";
	default:
		return "a string";
	}
}

/* VAL += the formatted text, or -ENOSPC. */
static int append(char *val, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int append(char *val, size_t len, const char *fmt, ...)
{
	size_t used = strlen(val);
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(val + used, len - used, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len - used ? -ENOSPC : 0;
}

/* Cloud Hypervisor's queue_affinity (KEY "queue_index") and CpusConfig's
 * affinity (KEY "vcpu") as the word's [I@[C,C],...]: the shape is checked
 * here, the numbers by the option's parser. */
static int affinity_value(json_t *v, const char *where, const char *field,
			  const char *key, char *val, size_t len, char *err,
			  size_t errlen)
{
	size_t i, j;
	json_t *e, *c;
	int ret;

	if (!json_is_array(v))
		return fail(err, errlen, "%s.%s: give a list of {\"%s\": N, "
			    "\"host_cpus\": [N, ...]}", where, field, key);
	val[0] = '\0';
	ret = append(val, len, "[");
	json_array_foreach(v, i, e) {
		json_t *q = json_object_get(e, key);
		json_t *cpus = json_object_get(e, "host_cpus");

		if (!json_is_object(e) || json_object_size(e) != 2 ||
		    !json_is_integer(q) || json_integer_value(q) < 0 ||
		    !json_is_array(cpus) || !json_array_size(cpus))
			return fail(err, errlen, "%s.%s[%zu]: give {\"%s\": "
				    "N, \"host_cpus\": [N, ...]} and nothing "
				    "else", where, field, i, key);
		ret = ret ?: append(val, len, "%s%lld@[", i ? "," : "",
				    (long long)json_integer_value(q));
		/* A run of CPUs, each one more than the last, goes as N-M:
		 * a vCPU per CPU of a large host stays within the word. */
		json_array_foreach(cpus, j, c) {
			json_int_t first, last;
			json_t *next;

			if (!json_is_integer(c) || json_integer_value(c) < 0)
				return fail(err, errlen, "%s.%s[%zu]."
					    "host_cpus[%zu]: give a "
					    "non-negative integer", where,
					    field, i, j);
			ret = ret ?: append(val, len, "%s%lld",
					    val[strlen(val) - 1] == '[' ? "" : ",",
					    (long long)json_integer_value(c));
			first = last = json_integer_value(c);
			while ((next = json_array_get(cpus, j + 1)) &&
			       json_is_integer(next) && last < LLONG_MAX &&
			       json_integer_value(next) == last + 1) {
				last++;
				j++;
			}
			if (last != first)
				ret = ret ?: append(val, len, "-%lld",
						    (long long)last);
		}
		ret = ret ?: append(val, len, "]");
	}
	ret = ret ?: append(val, len, "]");
	if (ret)
		return fail(err, errlen, "%s.%s: too long", where, field);
	return 0;
}

/* One member's value as an option value, into VAL. */
static int member_value(const struct field_map *f, json_t *v, const char *where,
			char *val, size_t len, char *err, size_t errlen)
{
	json_int_t n;

	switch (f->type) {
	case F_STR: {
		const char *s = json_string_value(v);

		if (!json_is_string(v))
			break;
		if (strlen(s) != json_string_length(v) || strchr(s, ','))
			return fail(err, errlen, "%s.%s: no NUL or ',' in it, "
				    "please", where, f->json);
		if ((size_t)snprintf(val, len, "%s", s) >= len)
			return fail(err, errlen, "%s.%s: too long", where,
				    f->json);
		return 0;
	}
	case F_BOOL:
	case F_VHOST_USER:
		if (!json_is_boolean(v))
			break;
		snprintf(val, len, "%s", json_is_true(v) ? "on" : "off");
		return 0;
	case F_AFFINITY:
		return affinity_value(v, where, f->json, "queue_index", val,
				      len, err, errlen);
	case F_UINT:
	case F_PAIRS:
		if (!json_is_integer(v) || (n = json_integer_value(v)) < 0)
			break;
		if (f->type == F_PAIRS) {
			if (n % 2 || !n)
				return fail(err, errlen, "%s.%s: %lld: an even "
					    "count (receive and transmit "
					    "queues in pairs)", where, f->json,
					    (long long)n);
			n /= 2;
		}
		snprintf(val, len, "%lld", (long long)n);
		return 0;
	}
	return fail(err, errlen, "%s.%s: give %s", where, f->json,
		    type_name(f->type));
}

/* OBJ's members through FIELDS into M; any other member is an error
 * naming it. */
static int map_object(json_t *obj, const struct field_map *fields, size_t n,
		      const char *where, struct mapped *m, char *err,
		      size_t errlen)
{
	const char *key;
	json_t *v;

	memset(m, 0, sizeof(*m));
	if (!json_is_object(obj))
		return fail(err, errlen, "%s: give an object", where);
	json_object_foreach(obj, key, v) {
		const struct field_map *f = NULL;
		char val[1024];
		int ret;

		for (size_t i = 0; i < n && !f; i++)
			if (!strcmp(fields[i].json, key))
				f = &fields[i];
		if (!f) {
			char known[256] = "";

			for (size_t i = 0; i < n; i++)
				snprintf(known + strlen(known),
					 sizeof(known) - strlen(known), "%s%s",
					 i ? ", " : "", fields[i].json);
			return fail(err, errlen, "%s.%s: unknown field (tern "
				    "takes %s)", where, key, known);
		}
		if (json_is_null(v))
			continue;
		ret = member_value(f, v, where, val, sizeof(val), err, errlen);
		if (ret)
			return ret;
		if (f->type == F_VHOST_USER) {
			m->vhost_user = json_is_true(v);
			continue;
		}
		if (f->word && !strcmp(f->word, "vhost-user"))
			m->socket = true;
		if (append(m->words, sizeof(m->words), "%s%s=%s",
			   m->words[0] ? "," : "", f->word, val))
			return fail(err, errlen, "%s: too long in all", where);
	}
	if (m->socket && !m->vhost_user)
		return fail(err, errlen, "%s.vhost_socket: only with "
			    "\"vhost_user\": true", where);
	if (m->vhost_user && !m->socket)
		return fail(err, errlen, "%s.vhost_user: needs vhost_socket",
			    where);
	return 0;
}

/* cli_option with its message (one line, "tern: --disk: ...") kept in ERR
 * behind WHERE. */
static int option(struct cli *cli, const char *name, const char *value,
		  const char *where, char *err, size_t errlen)
{
	char *msg = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&msg, &len);
	int ret;

	if (!f)
		return -ENOMEM;
	ret = cli_option(cli, name, value, f);
	fclose(f);
	if (ret) {
		const char *m = msg ? msg : "";

		if (!strncmp(m, "tern: ", 6))
			m += 6;
		fail(err, errlen, "%s: %.*s", where, (int)strcspn(m, "\n"), m);
	}
	free(msg);
	return ret;
}

/* One DiskConfig or NetConfig into C: its words, id= among them when
 * given (the VM assigns one otherwise: disk0, net1). */
static int map_device(struct api_config *c, bool disk, json_t *obj,
		      const char *where, char *err, size_t errlen)
{
	struct mapped m;
	int ret;

	ret = disk ? map_object(obj, disk_fields, ARRAY_SIZE(disk_fields),
				where, &m, err, errlen) :
		     map_object(obj, net_fields, ARRAY_SIZE(net_fields),
				where, &m, err, errlen);
	if (ret)
		return ret;
	return option(&c->cli, disk ? "disk" : "net", m.words, where, err,
		      errlen);
}

static int map_payload(struct api_config *c, json_t *p, char *err,
		       size_t errlen)
{
	const char *key;
	json_t *v;

	if (!json_is_object(p))
		return fail(err, errlen, "payload: give an object");
	json_object_foreach(p, key, v) {
		const struct field_map *f = NULL;
		char val[512], where[32];
		int ret;

		for (size_t i = 0; i < ARRAY_SIZE(payload_fields) && !f; i++)
			if (!strcmp(payload_fields[i].json, key))
				f = &payload_fields[i];
		if (!f)
			return fail(err, errlen, "payload.%s: unknown field "
				    "(tern takes kernel, initramfs, cmdline)",
				    key);
		if (json_is_null(v))
			continue;
		ret = member_value(f, v, "payload", val, sizeof(val), err,
				   errlen);
		snprintf(where, sizeof(where), "payload.%s", key);
		ret = ret ?: option(&c->cli, f->word, val, where, err, errlen);
		if (ret)
			return ret;
	}
	if (!c->cli.vm.kernel)
		return fail(err, errlen, "payload.kernel: missing");
	return 0;
}

/* CpuTopology: all four levels, as "topology=T:C:D:P" onto VAL's words. */
static int map_topology(json_t *o, char *val, size_t len, char *err,
			size_t errlen)
{
	static const char *const names[] = { "threads_per_core",
		"cores_per_die", "dies_per_package", "packages" };
	json_int_t level[4];
	const char *key;
	json_t *v;

	if (!json_is_object(o))
		return fail(err, errlen, "cpus.topology: give an object with "
			    "threads_per_core, cores_per_die, "
			    "dies_per_package and packages");
	json_object_foreach(o, key, v) {
		unsigned int i = 0;

		while (i < 4 && strcmp(key, names[i]))
			i++;
		if (i == 4)
			return fail(err, errlen, "cpus.topology.%s: unknown "
				    "field (tern takes threads_per_core, "
				    "cores_per_die, dies_per_package, "
				    "packages)", key);
	}
	for (unsigned int i = 0; i < 4; i++) {
		v = json_object_get(o, names[i]);
		if (!v)
			return fail(err, errlen, "cpus.topology.%s: missing",
				    names[i]);
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 255)
			return fail(err, errlen, "cpus.topology.%s: give an "
				    "integer from 1 to 255", names[i]);
		level[i] = json_integer_value(v);
	}
	if (append(val, len, "%stopology=%lld:%lld:%lld:%lld",
		   val[0] ? "," : "", (long long)level[0], (long long)level[1],
		   (long long)level[2], (long long)level[3]))
		return fail(err, errlen, "cpus.topology: too long");
	return 0;
}

static int map_cpus(struct api_config *c, json_t *o, char *err,
		    size_t errlen)
{
	json_int_t boot = -1, max = -1, phys = -1;
	json_t *v, *affinity = NULL, *topology = NULL;
	char val[8192], pairs[8192];
	const char *key;
	int ret;

	if (!json_is_object(o))
		return fail(err, errlen, "cpus: give an object");
	json_object_foreach(o, key, v) {
		json_int_t *dst = !strcmp(key, "boot_vcpus") ? &boot :
				  !strcmp(key, "max_vcpus")  ? &max :
				  !strcmp(key, "max_phys_bits") ? &phys : NULL;

		if (!strcmp(key, "affinity")) {
			affinity = v;
			continue;
		}
		if (!strcmp(key, "topology")) {
			topology = v;
			continue;
		}
		if (!dst)
			return fail(err, errlen, "cpus.%s: unknown field (tern "
				    "takes boot_vcpus, max_vcpus, topology, "
				    "max_phys_bits, affinity)", key);
		if (!json_is_integer(v) || json_integer_value(v) < 1)
			return fail(err, errlen, "cpus.%s: give a positive "
				    "integer", key);
		*dst = json_integer_value(v);
	}
	if (topology && json_is_null(topology))
		topology = NULL;
	if (boot < 0)
		boot = max;
	if (max >= 0 && max != boot)
		return fail(err, errlen, "cpus.max_vcpus: %lld: tern does not "
			    "add vCPUs at run time; give boot_vcpus (%lld)",
			    (long long)max, (long long)boot);
	/* With a topology and no count, the count is the topology's. */
	snprintf(val, sizeof(val), "boot=%lld",
		 boot < 0 ? 1 : (long long)boot);
	if (topology) {
		if (boot < 0)
			val[0] = '\0';
		ret = map_topology(topology, val, sizeof(val), err, errlen);
		if (ret)
			return ret;
	}
	if (phys >= 0 && append(val, sizeof(val), "%smax-phys-bits=%lld",
				*val ? "," : "", (long long)phys))
		return fail(err, errlen, "cpus.max_phys_bits: too long");
	if (affinity && !json_is_null(affinity)) {
		ret = affinity_value(affinity, "cpus", "affinity", "vcpu",
				     pairs, sizeof(pairs), err, errlen);
		if (ret)
			return ret;
		if (append(val, sizeof(val), ",affinity=%s", pairs))
			return fail(err, errlen, "cpus.affinity: too long");
	}
	return option(&c->cli, "cpus", val, "cpus", err, errlen);
}

/* serial: the process's console (--serial) is the VM's; console: tern
 * has no virtio-console. Say so rather than ignore what is asked. */
static int map_console(json_t *o, const char *where, const char *ok,
		       char *err, size_t errlen)
{
	const char *key, *mode;
	json_t *v;

	if (!json_is_object(o))
		return fail(err, errlen, "%s: give an object", where);
	json_object_foreach(o, key, v) {
		if (strcmp(key, "mode"))
			return fail(err, errlen, "%s.%s: unknown field (tern "
				    "takes mode)", where, key);
		mode = json_string_value(v);
		if (!mode || strcmp(mode, ok))
			return fail(err, errlen, "%s.mode: only \"%s\" (%s)",
				    where, ok,
				    !strcmp(where, "serial") ?
					    "the serial port is tern's "
					    "--serial console" :
					    "tern has no virtio-console");
	}
	return 0;
}

int api_config_from_json(struct api_config *c, json_t *json, char *err,
			 size_t errlen)
{
	const char *key;
	json_t *v;
	int ret = 0;

	memset(c, 0, sizeof(*c));
	cli_defaults(&c->cli);
	if (!json_is_object(json))
		return fail(err, errlen, "body: give a VmConfig object");
	json_object_foreach(json, key, v) {
		if (!strcmp(key, "payload")) {
			ret = map_payload(c, v, err, errlen);
		} else if (!strcmp(key, "cpus")) {
			ret = map_cpus(c, v, err, errlen);
		} else if (!strcmp(key, "memory")) {
			struct mapped m;

			ret = map_object(v, memory_fields,
					 ARRAY_SIZE(memory_fields), "memory",
					 &m, err, errlen);
			if (!ret && m.words[0])
				ret = option(&c->cli, "memory", m.words,
					     "memory", err, errlen);
		} else if (!strcmp(key, "disks") || !strcmp(key, "net")) {
			bool disk = key[0] == 'd';
			size_t i;
			json_t *d;

			if (!json_is_array(v)) {
				ret = fail(err, errlen, "%s: give an array",
					   key);
				break;
			}
			json_array_foreach(v, i, d) {
				char where[32];

				snprintf(where, sizeof(where), "%s[%zu]", key,
					 i);
				ret = map_device(c, disk, d, where, err,
						 errlen);
				if (ret)
					break;
			}
		} else if (!strcmp(key, "serial")) {
			ret = map_console(v, "serial", "Tty", err, errlen);
		} else if (!strcmp(key, "console")) {
			ret = map_console(v, "console", "Off", err, errlen);
		} else {
			ret = fail(err, errlen, "%s: unknown field (tern takes "
				   "payload, cpus, memory, disks, net, serial, "
				   "console)", key);
		}
		if (ret)
			break;
	}
	if (!ret && !json_object_get(json, "payload"))
		ret = fail(err, errlen, "payload: missing (the kernel to boot)");
	if (!ret) {
		char *msg = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&msg, &len);

		if (!f)
			return -ENOMEM;
		ret = cli_check(&c->cli, f);
		fclose(f);
		if (ret) {
			const char *m = msg && !strncmp(msg, "tern: ", 6) ?
					msg + 6 : msg ? msg : "";

			fail(err, errlen, "%.*s", (int)strcspn(m, "\n"), m);
		}
		free(msg);
	}
	if (ret) {
		api_config_free(c);
		return ret;
	}
	c->json = json_incref(json);
	return 0;
}

void api_config_free(struct api_config *c)
{
	cli_free(&c->cli);
	json_decref(c->json);
	c->json = NULL;
}

int api_device_config(enum api_op op, json_t *json, struct dev_config *out,
		      char *err, size_t errlen)
{
	struct api_config *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	cli_defaults(&c->cli);
	ret = map_device(c, op == API_ADD_DISK, json,
			 op == API_ADD_DISK ? "disk" : "net", err, errlen);
	if (!ret && out)
		dev_config_copy(out, &c->cli.vm.devs[0]);
	api_config_free(c);
	free(c);
	return ret;
}

int api_check_device(enum api_op op, json_t *json, char *err, size_t errlen)
{
	return api_device_config(op, json, NULL, err, errlen);
}

int api_handle(void *opaque, const char *method, const char *path,
	       json_t *body, json_t **reply)
{
	const struct api_backend *b = opaque;
	struct api_request req = { .status = 500 };
	char err[512];
	int status;

	req.route = api_route_find(method, path, &status);
	if (!req.route) {
		*reply = status == 404 ?
			error("%s: no such endpoint (the API is under %s)",
			      path, API_PREFIX) :
			error("%s: not with %s", path, method);
		return status;
	}
	if (req.route->body && !body) {
		*reply = error("body: %s needs a JSON object", req.route->name);
		return 400;
	}
	if (!req.route->body && body && json_object_size(body)) {
		*reply = error("body: %s takes none", req.route->name);
		return 400;
	}
	req.body = body;
	switch (req.route->op) {
	case API_CREATE:
		req.config = calloc(1, sizeof(*req.config));
		if (!req.config) {
			*reply = error("out of memory");
			return 500;
		}
		if (api_config_from_json(req.config, body, err, sizeof(err))) {
			free(req.config);
			*reply = error("%s", err);
			return 400;
		}
		break;
	case API_ADD_DISK:
	case API_ADD_NET:
		/* Parsed here, on the API thread: the words' checks (the
		 * image there and readable) are system calls the main
		 * thread's filter need not hold. */
		req.dev = calloc(1, sizeof(*req.dev));
		if (!req.dev) {
			*reply = error("out of memory");
			return 500;
		}
		if (api_device_config(req.route->op, body, req.dev, err,
				      sizeof(err))) {
			free(req.dev);
			*reply = error("%s", err);
			return 400;
		}
		break;
	case API_REMOVE_DEVICE: {
		const char *key;
		json_t *v;

		json_object_foreach(body, key, v) {
			if (strcmp(key, "id")) {
				*reply = error("%s: unknown field (tern takes "
					       "id)", key);
				return 400;
			}
		}
		if (!json_is_string(json_object_get(body, "id"))) {
			*reply = error("id: give the device's id, a string");
			return 400;
		}
		break;
	}
	default:
		break;
	}
	b->submit(b->opaque, &req);
	free(req.dev);
	if (req.config) {
		api_config_free(req.config);
		free(req.config);
	}
	*reply = req.reply;
	return req.status;
}

struct api {
	struct httpd *h;
	struct api_backend backend;
	struct events *events;
	pthread_t thread;
	int stop_fd;
};

static void *api_main(void *arg)
{
	struct api *a = arg;
	struct pollfd p[2] = {
		{ .fd = httpd_fd(a->h), .events = POLLIN },
		{ .fd = a->stop_fd, .events = POLLIN },
	};

	pthread_setname_np(pthread_self(), "tern-api");
	sandbox_enter(SANDBOX_API);
	for (;;) {
		/* At least every second: idle connections time out in
		 * httpd_run, and events a slow reader left wait for it. */
		int n = poll(p, 2, 1000);

		if (n < 0 && errno != EINTR) {
			log_err("api", "poll: %s", strerror(errno));
			break;
		}
		if (n > 0 && p[1].revents)
			break;
		httpd_run(a->h);
		events_flush(a->events);
	}
	/* What was answered last goes out before the socket closes; the
	 * server is this thread's to close, under this thread's filter. */
	for (int i = 0; i < 25 && httpd_connections(a->h); i++) {
		poll(p, 1, 20);
		httpd_run(a->h);
	}
	httpd_close(a->h);
	a->h = NULL;
	return NULL;
}

int api_start(struct api **out, const struct cli_endpoint *socket,
	      const struct api_backend *backend, struct events *events)
{
	struct api *a = calloc(1, sizeof(*a));
	int ret;

	*out = NULL;
	if (!a)
		return -ENOMEM;
	a->backend = *backend;
	a->events = events;
	a->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->stop_fd < 0) {
		ret = -errno;
		goto err_free;
	}
	ret = socket->path ?
		httpd_open(&a->h, "api", socket->path, api_handle, &a->backend) :
		httpd_open_fd(&a->h, "api", socket->fd, api_handle,
			      &a->backend);
	if (ret)
		goto err_fd;
	ret = -pthread_create(&a->thread, NULL, api_main, a);
	if (ret) {
		log_err("api", "starting its thread: %s", strerror(-ret));
		goto err_httpd;
	}
	*out = a;
	return 0;
err_httpd:
	httpd_close(a->h);
err_fd:
	close(a->stop_fd);
err_free:
	free(a);
	return ret;
}

void api_stop(struct api *a)
{
	uint64_t one = 1;

	if (!a)
		return;
	(void)!write(a->stop_fd, &one, sizeof(one));
	pthread_join(a->thread, NULL);
	close(a->stop_fd);
	free(a);
}
