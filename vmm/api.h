/* The control API: Cloud Hypervisor's endpoints (/api/v1/vmm.ping,
 * /api/v1/vm.create, vm.pause, ...) over HTTP/1.1 on a UNIX socket
 * (core/httpd.c), on a thread of its own.
 *
 * This module is the request side: the route table (path, method, whether
 * a body is needed, the VM states the operation is valid in), the checks
 * of bodies, and the mapping of Cloud Hypervisor's JSON (VmConfig,
 * DiskConfig, NetConfig) onto tern's option words through one table per
 * kind, so vm.create and --disk/--net go through the same parser
 * (vmm/cli.c) and say the same things about bad values. The operation
 * itself runs in the backend: tern's (vmm/vmm.c) hands it to the VM's
 * main loop through a mailbox (core/mailbox.h) and waits; tests and the
 * fuzz target give a double.
 *
 * Status codes: 200 with a body (vmm.ping, vm.info, vm.counters), 204 for
 * actions; 400 malformed request or body, the message naming the field;
 * 404 unknown endpoint, or no VM yet (vm.create first), or no device with
 * that id; 405 a method the endpoint does not take; 409 the VM is in the
 * wrong state for the operation (pause when paused; Cloud Hypervisor's
 * document says 405 there, tern keeps 405 for methods so the two stay
 * apart); 413 a body over HTTPD_MAX_BODY; 500 the operation failed (the
 * message says why); 501 an operation this tern does not have yet; 503
 * the VMM is shutting down. Every error body is {"error": "..."}. */
#ifndef TERN_VMM_API_H
#define TERN_VMM_API_H

#include "core/events.h"
#include "vmm/cli.h"

#include <jansson.h>
#include <pthread.h>

enum api_state {
	API_STATE_NONE,		/* no VM: vm.create first */
	API_STATE_CREATED,
	API_STATE_RUNNING,
	API_STATE_PAUSED,
	API_STATE_SHUTDOWN,
	API_NSTATES
};

enum api_op {
	API_PING,
	API_VMM_SHUTDOWN,
	API_CREATE,
	API_DELETE,
	API_BOOT,
	API_INFO,
	API_COUNTERS,
	API_PAUSE,
	API_RESUME,
	API_SHUTDOWN,
	API_REBOOT,
	API_POWER_BUTTON,
	API_ADD_DISK,
	API_ADD_NET,
	API_REMOVE_DEVICE,
	API_NOPS
};

#define API_PREFIX "/api/v1/"

struct api_route {
	const char *name;		/* "vm.pause": the path after the prefix */
	const char *method;		/* "GET" or "PUT" */
	enum api_op op;
	bool body;			/* a JSON object is required */
	unsigned int states;		/* 1 << enum api_state it is valid in */
};

/* vm.create's VmConfig, mapped: the options as the command line would
 * have given them (a given id is one of the words). */
struct api_config {
	struct cli cli;
	json_t *json;			/* the VmConfig as given */
};

/* One request, from the API thread to the backend. */
struct api_request {
	const struct api_route *route;
	json_t *body;			/* borrowed; NULL when none */
	struct api_config *config;	/* API_CREATE: the backend takes it */
	struct dev_config *dev;		/* API_ADD_*: the device's words */
	int status;			/* the backend sets these */
	json_t *reply;
};

struct api_backend {
	/* Runs REQ to completion (on the VM's thread, or directly in a
	 * double) and sets its status and reply. */
	void (*submit)(void *opaque, struct api_request *req);
	void *opaque;
};

/* The route for METHOD and PATH: NULL with *status 404 (no such endpoint)
 * or 405 (not with that method). */
const struct api_route *api_route_find(const char *method, const char *path,
				       int *status);
const char *api_state_name(enum api_state s);
/* For the backend, first thing: 0 if the route is valid in STATE, else
 * the status (404 no VM, 409 wrong state) with the error in REQ. */
int api_check_state(struct api_request *req, enum api_state state);

/* The whole request path short of HTTP: route, body checks, config
 * mapping, the backend's run. An httpd_handler. */
int api_handle(void *opaque /* struct api_backend */, const char *method,
	       const char *path, json_t *body, json_t **reply);

/* A VmConfig onto CFG (freed with api_config_free). 0, or -EINVAL with
 * the message, naming the field ("disks[1].queue_size: ..."), in ERR. */
int api_config_from_json(struct api_config *cfg, json_t *json, char *err,
			 size_t errlen);
void api_config_free(struct api_config *cfg);
/* A DiskConfig or NetConfig (vm.add-disk, vm.add-net) checked the same
 * way: 0 or -EINVAL with the message in ERR. */
int api_check_device(enum api_op op, json_t *json, char *err, size_t errlen);
/* As api_check_device, and the device's words into OUT (for
 * vm_hotplug_add). */
int api_device_config(enum api_op op, json_t *json, struct dev_config *out,
		      char *err, size_t errlen);

/* The API thread: serves SOCKET (path or fd) until api_stop; flushes
 * EVENTS (may be NULL) every second. */
struct api;
int api_start(struct api **out, const struct cli_endpoint *socket,
	      const struct api_backend *backend, struct events *events);
/* Answers what is in flight (for at most half a second), then the thread
 * closes the server (its connections, the socket and its file) and ends.
 * NULL is fine. */
void api_stop(struct api *a);

#endif
