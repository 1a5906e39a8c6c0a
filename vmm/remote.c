/* tern-remote: the control API's client, for people and scripts.
 *
 *   tern-remote --api-socket PATH COMMAND [ARG]
 *
 * One request per run over the UNIX socket (libcurl, CURLOPT_UNIX_SOCKET_
 * PATH), Cloud Hypervisor's endpoints and bodies (jansson). A reply with
 * a body is printed as JSON on stdout; an error reply's message goes to
 * stderr. Exit status: 0 the request succeeded, 1 it failed (the status
 * and message are printed) or the socket did not answer, 2 bad usage. */
#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum arg { ARG_NONE, ARG_JSON_FILE, ARG_DEVICE, ARG_ID };

static const struct command {
	const char *name;	/* the command word */
	const char *endpoint;	/* under /api/v1/ */
	const char *method;
	enum arg arg;
	const char *help;
} commands[] = {
	{ "ping", "vmm.ping", "GET", ARG_NONE, "is the VMM there (its version)" },
	{ "shutdown-vmm", "vmm.shutdown", "PUT", ARG_NONE, "end the VMM" },
	{ "create", "vm.create", "PUT", ARG_JSON_FILE,
	  "FILE|-: a VmConfig (JSON) from FILE or stdin" },
	{ "boot", "vm.boot", "PUT", ARG_NONE, "boot the created VM" },
	{ "delete", "vm.delete", "PUT", ARG_NONE, "drop the VM (stops it)" },
	{ "info", "vm.info", "GET", ARG_NONE, "config, state, devices" },
	{ "counters", "vm.counters", "GET", ARG_NONE,
	  "per device and queue, per vCPU" },
	{ "pause", "vm.pause", "PUT", ARG_NONE, "" },
	{ "resume", "vm.resume", "PUT", ARG_NONE, "" },
	{ "shutdown", "vm.shutdown", "PUT", ARG_NONE,
	  "stop the VM (the VMM stays)" },
	{ "reboot", "vm.reboot", "PUT", ARG_NONE, "" },
	{ "power-button", "vm.power-button", "PUT", ARG_NONE, "" },
	{ "add-disk", "vm.add-disk", "PUT", ARG_DEVICE,
	  "'{JSON}' or key=value,...: a DiskConfig" },
	{ "add-net", "vm.add-net", "PUT", ARG_DEVICE,
	  "'{JSON}' or key=value,...: a NetConfig" },
	{ "remove-device", "vm.remove-device", "PUT", ARG_ID, "ID" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: tern-remote --api-socket PATH COMMAND [ARG]\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "key=value: Cloud Hypervisor's field names, e.g. "
		"path=/img,readonly=true,num_queues=2\n"
		"exit status: 0 done, 1 refused or no answer, 2 bad usage\n");
}

/* key=value,key=value -> an object: true/false are booleans, digits
 * integers, anything else a string. NULL (after a message) on nonsense. */
static json_t *words_to_json(const char *arg)
{
	json_t *o = json_object();
	char *copy = strdup(arg), *save = NULL;

	if (!o || !copy)
		goto fail;
	for (char *w = strtok_r(copy, ",", &save); w;
	     w = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(w, '='), *end;
		long long n;
		json_t *v;

		if (!eq || eq == w) {
			fprintf(stderr, "tern-remote: '%s': give key=value\n",
				w);
			goto fail;
		}
		*eq++ = '\0';
		n = strtoll(eq, &end, 10);
		if (!strcmp(eq, "true") || !strcmp(eq, "false"))
			v = json_boolean(!strcmp(eq, "true"));
		else if (*eq && !*end && *eq != '+')
			v = json_integer(n);
		else
			v = json_string(eq);
		if (!v || json_object_set_new(o, w, v))
			goto fail;
	}
	free(copy);
	return o;
fail:
	free(copy);
	json_decref(o);
	return NULL;
}

/* The request body for CMD's ARG, as text (malloc'd), or NULL. */
static char *body_for(const struct command *c, const char *arg, bool *bad)
{
	json_error_t jerr;
	json_t *j = NULL;
	char *text;

	*bad = false;
	switch (c->arg) {
	case ARG_NONE:
		return NULL;
	case ARG_JSON_FILE:
		j = !strcmp(arg, "-") ? json_loadf(stdin, 0, &jerr) :
					json_load_file(arg, 0, &jerr);
		if (!j)
			fprintf(stderr, "tern-remote: %s: %s (line %d)\n", arg,
				jerr.text, jerr.line);
		break;
	case ARG_DEVICE:
		j = arg[0] == '{' ? json_loads(arg, 0, &jerr) :
				    words_to_json(arg);
		if (!j && arg[0] == '{')
			fprintf(stderr, "tern-remote: %s\n", jerr.text);
		break;
	case ARG_ID:
		j = json_pack("{s:s}", "id", arg);
		break;
	}
	if (!j) {
		*bad = true;
		return NULL;
	}
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return text;
}

struct buf {
	char *p;
	size_t len;
};

static size_t collect(char *data, size_t size, size_t n, void *opaque)
{
	struct buf *b = opaque;
	char *p = realloc(b->p, b->len + size * n + 1);

	if (!p)
		return 0;
	memcpy(p + b->len, data, size * n);
	b->p = p;
	b->len += size * n;
	b->p[b->len] = '\0';
	return size * n;
}

/* Prints a reply: JSON pretty on stdout, or the error on stderr. */
static int show(long status, const struct buf *b)
{
	json_t *j = b->len ? json_loads(b->p, 0, NULL) : NULL;
	int ret = status >= 200 && status < 300 ? 0 : 1;

	if (ret) {
		const char *e = json_string_value(json_object_get(j, "error"));

		fprintf(stderr, "tern-remote: %ld: %s\n", status,
			e ? e : b->len ? b->p : "(no message)");
	} else if (j) {
		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	} else if (b->len) {
		fputs(b->p, stdout);
	}
	json_decref(j);
	return ret;
}

int main(int argc, char **argv)
{
	const struct command *c = NULL;
	const char *sock = NULL, *arg = NULL;
	struct curl_slist *hdr = NULL;
	struct buf reply = { 0 };
	char url[128], *body;
	int i = 1, ret = 1;
	long status = 0;
	bool bad;
	CURLcode cr;
	CURL *curl;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (i + 1 < argc && !strcmp(argv[i], "--api-socket")) {
		sock = argv[i + 1];
		i += 2;
	} else if (i < argc && !strncmp(argv[i], "--api-socket=", 13)) {
		sock = argv[i] + 13;
		i++;
	}
	if (!sock || i >= argc) {
		usage(stderr);
		return 2;
	}
	for (size_t k = 0; k < ARRAY_SIZE(commands) && !c; k++)
		if (!strcmp(commands[k].name, argv[i]))
			c = &commands[k];
	if (!c) {
		fprintf(stderr, "tern-remote: %s: not a command (see --help)\n",
			argv[i]);
		return 2;
	}
	if ((c->arg != ARG_NONE) != (i + 1 < argc) || i + 2 < argc) {
		fprintf(stderr, "tern-remote: %s %s\n", c->name,
			c->arg != ARG_NONE ? "takes one argument" :
					     "takes no argument");
		return 2;
	}
	arg = c->arg != ARG_NONE ? argv[i + 1] : NULL;
	body = body_for(c, arg, &bad);
	if (bad)
		return 2;
	if (curl_global_init(CURL_GLOBAL_NOTHING) || !(curl = curl_easy_init())) {
		fprintf(stderr, "tern-remote: libcurl would not start\n");
		free(body);
		return 1;
	}
	snprintf(url, sizeof(url), "http://localhost/api/v1/%s", c->endpoint);
	curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, c->method);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);
	if (body) {
		hdr = curl_slist_append(hdr, "Content-Type: application/json");
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	}
	cr = curl_easy_perform(curl);
	if (cr != CURLE_OK) {
		fprintf(stderr, "tern-remote: %s: %s\n", sock,
			curl_easy_strerror(cr));
	} else {
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
		ret = show(status, &reply);
	}
	curl_slist_free_all(hdr);
	curl_easy_cleanup(curl);
	curl_global_cleanup();
	free(reply.p);
	free(body);
	return ret;
}
