/* A VM double behind the control API (vmm/api.h), for the unit tests and
 * the fuzz target: the same state machine as tern's backend (vmm/vmm.c)
 * decides what is valid (api_check_state), and each operation moves the
 * state as the real one does, with no VM under it. It counts what ran.
 * Not thread-safe by itself: the test runs it on one thread (directly,
 * or as a mailbox's owner). */
#ifndef TERN_TESTS_API_DOUBLE_H
#define TERN_TESTS_API_DOUBLE_H

#include "core/httpd.h"
#include "vmm/api.h"
#include "vmm/devices.h"

#include <stdlib.h>
#include <string.h>

struct api_double {
	enum api_state state;
	unsigned int ran[API_NOPS];	/* operations that passed the state
					 * check, per kind */
	unsigned int refused;		/* those it did not */
	char kernel[256];		/* vm.create's payload.kernel */
	unsigned int ndisks, nnets;
};

static void api_double_execute(struct api_double *d, struct api_request *req)
{
	if (api_check_state(req, d->state)) {
		d->refused++;
		return;
	}
	d->ran[req->route->op]++;
	req->status = 204;
	req->reply = NULL;
	switch (req->route->op) {
	case API_PING:
		req->status = 200;
		req->reply = json_pack("{s:s}", "version", "double");
		break;
	case API_CREATE:
		snprintf(d->kernel, sizeof(d->kernel), "%s",
			 req->config->cli.vm.kernel);
		d->ndisks = d->nnets = 0;
		for (unsigned int i = 0; i < req->config->cli.vm.ndevs; i++) {
			const struct dev_config *c = &req->config->cli.vm.devs[i];

			if (!strcmp(c->kind->option, "disk"))
				d->ndisks++;
			else
				d->nnets++;
		}
		d->state = API_STATE_CREATED;
		break;
	case API_DELETE:
		d->state = API_STATE_NONE;
		break;
	case API_BOOT:
	case API_RESUME:
		d->state = API_STATE_RUNNING;
		break;
	case API_PAUSE:
		d->state = API_STATE_PAUSED;
		break;
	case API_SHUTDOWN:
		d->state = API_STATE_SHUTDOWN;
		break;
	case API_INFO:
	case API_COUNTERS:
		req->status = 200;
		req->reply = json_pack("{s:s}", "state",
				       api_state_name(d->state));
		break;
	case API_ADD_DISK:
	case API_ADD_NET:
		/* The API thread hands over the device's words. */
		req->status = req->dev ? 200 : 500;
		req->reply = json_pack("{s:s}", "id",
				       req->dev && req->dev->id[0] ?
					       req->dev->id : "?");
		break;
	default:
		break;
	}
}

#endif
