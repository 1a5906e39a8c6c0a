/* Port specs from the command line and from JSON (see spec.h). */
#include "net/switch/spec.h"

#include "core/errbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A message for the caller's buffer, and -EINVAL. */
#define fail(err, errlen, ...) errbuf_fail(-EINVAL, err, errlen, __VA_ARGS__)

const char *spec_type_name(enum sw_port_type type)
{
	switch (type) {
	case SW_PORT_VHOST:
		return "vhost";
	case SW_PORT_ETH:
		return "eth";
	case SW_PORT_TEST:
		return "test";
	}
	return "?";
}

static void spec_defaults(struct sw_port_spec *s, enum sw_port_type type)
{
	memset(s, 0, sizeof(*s));
	s->type = type;
	s->queues = 1;
	s->numa = -1;
}

static int check_name(const char *name, size_t len, char *err, size_t errlen)
{
	if (!len || len >= SW_NAME_LEN)
		return fail(err, errlen, "name: 1 to %d characters",
			    SW_NAME_LEN - 1);
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '-' ||
		      c == '.'))
			return fail(err, errlen, "name: only letters, digits "
				    "and _ . - (got '%.*s')", (int)len, name);
	}
	return 0;
}

/* An unsigned decimal in [MIN, MAX] spanning all of [S, S+LEN). */
static int parse_num(const char *s, size_t len, unsigned long min,
		     unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (!len || len > 10)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int check_spec(struct sw_port_spec *s, char *err, size_t errlen)
{
	if (s->type == SW_PORT_VHOST && !s->path[0])
		return fail(err, errlen, "%s: a vhost port needs path=SOCKET",
			    s->name);
	if (s->type == SW_PORT_ETH && !s->devargs[0])
		return fail(err, errlen, "%s: an eth port needs "
			    "devargs=DEVARGS", s->name);
	if (s->type == SW_PORT_ETH && s->client)
		return fail(err, errlen, "%s: client is for vhost ports",
			    s->name);
	return 0;
}

static int set_str(char *dst, size_t size, const char *v, size_t len,
		   const char *what, char *err, size_t errlen)
{
	if (!len || len >= size)
		return fail(err, errlen, "%s: 1 to %zu characters", what,
			    size - 1);
	if (memchr(v, '\0', len))
		return fail(err, errlen, "%s: no NUL bytes", what);
	/* The API shows it back as a JSON string: UTF-8 only. */
	json_t *u = json_stringn(v, len);

	if (!u)
		return fail(err, errlen, "%s: not UTF-8", what);
	json_decref(u);
	memset(dst, 0, size);	/* given twice: nothing of the first stays */
	memcpy(dst, v, len);
	dst[len] = '\0';
	return 0;
}

/* One key[=value] of a command-line spec. */
static int parse_kv(struct sw_port_spec *s, const char *key, size_t klen,
		    const char *val, size_t vlen, bool has_val, char *err,
		    size_t errlen)
{
	unsigned long n;

#define KEY(k) (klen == sizeof(k) - 1 && !memcmp(key, k, klen))
	if (KEY("client")) {
		if (has_val || s->type != SW_PORT_VHOST)
			return fail(err, errlen, "client: a flag of vhost "
				    "ports, with no value");
		s->client = true;
		return 0;
	}
	if (!has_val)
		return fail(err, errlen, "%.*s: needs a value (key=value)",
			    (int)klen, key);
	if (KEY("path")) {
		if (s->type != SW_PORT_VHOST)
			return fail(err, errlen, "path: for vhost ports");
		return set_str(s->path, sizeof(s->path), val, vlen, "path",
			       err, errlen);
	}
	if (KEY("queues")) {
		if (parse_num(val, vlen, 1, SW_MAX_QUEUES, &n))
			return fail(err, errlen, "queues=%.*s: 1 to %d",
				    (int)vlen, val, SW_MAX_QUEUES);
		s->queues = (uint16_t)n;
		return 0;
	}
	if (KEY("vlan")) {
		if (parse_num(val, vlen, 0, 4094, &n))
			return fail(err, errlen, "vlan=%.*s: 0 (untagged) or "
				    "1 to 4094", (int)vlen, val);
		s->vlan = (uint16_t)n;
		return 0;
	}
	if (KEY("numa")) {
		if (parse_num(val, vlen, 0, 1023, &n))
			return fail(err, errlen, "numa=%.*s: a node number",
				    (int)vlen, val);
		s->numa = (int)n;
		return 0;
	}
	if (KEY("lcores")) {
		size_t i = 0;

		s->nlcores = 0;
		memset(s->lcores, 0, sizeof(s->lcores));
		while (i <= vlen) {
			size_t j = i;

			while (j < vlen && val[j] != ':')
				j++;
			if (s->nlcores == SW_MAX_QUEUES)
				return fail(err, errlen, "lcores: at most %d",
					    SW_MAX_QUEUES);
			if (parse_num(val + i, j - i, 0, 65534, &n))
				return fail(err, errlen, "lcores=%.*s: lcore "
					    "ids separated by ':'", (int)vlen,
					    val);
			s->lcores[s->nlcores++] = (uint16_t)n;
			i = j + 1;
		}
		return 0;
	}
#undef KEY
	return fail(err, errlen, "%.*s: unknown key", (int)klen, key);
}

int spec_parse_arg(enum sw_port_type type, const char *arg,
		   struct sw_port_spec *s, char *err, size_t errlen)
{
	const char *p = arg, *end = arg + strlen(arg);
	const char *comma = strchr(arg, ',');
	size_t nlen = comma ? (size_t)(comma - arg) : strlen(arg);
	int ret;

	spec_defaults(s, type);
	ret = check_name(arg, nlen, err, errlen);
	if (ret)
		return ret;
	memcpy(s->name, arg, nlen);
	s->name[nlen] = '\0';
	p = arg + nlen;
	while (p < end) {
		const char *key = ++p, *eq, *stop;

		if (type == SW_PORT_ETH && !strncmp(key, "devargs=", 8)) {
			ret = set_str(s->devargs, sizeof(s->devargs), key + 8,
				      (size_t)(end - key - 8), "devargs", err,
				      errlen);
			if (ret)
				return ret;
			break;
		}
		stop = strchr(key, ',');
		if (!stop)
			stop = end;
		eq = memchr(key, '=', (size_t)(stop - key));
		if (stop == key)
			return fail(err, errlen, "%s: an empty option", arg);
		ret = parse_kv(s, key, (size_t)((eq ? eq : stop) - key),
			       eq ? eq + 1 : NULL,
			       eq ? (size_t)(stop - eq - 1) : 0, eq != NULL,
			       err, errlen);
		if (ret)
			return ret;
		p = stop;
	}
	return check_spec(s, err, errlen);
}

int spec_from_json(const json_t *j, struct sw_port_spec *s, char *err,
		   size_t errlen)
{
	const char *key, *type;
	json_t *v;
	int ret;

	if (!json_is_object(j))
		return fail(err, errlen, "a port is a JSON object");
	v = json_object_get(j, "type");
	if (!json_is_string(v))
		return fail(err, errlen, "type: \"vhost\" or \"eth\"");
	type = json_string_value(v);
	if (!strcmp(type, "vhost"))
		spec_defaults(s, SW_PORT_VHOST);
	else if (!strcmp(type, "eth"))
		spec_defaults(s, SW_PORT_ETH);
	else
		return fail(err, errlen, "type: \"vhost\" or \"eth\"");
	v = json_object_get(j, "name");
	if (!json_is_string(v))
		return fail(err, errlen, "name: a string");
	ret = check_name(json_string_value(v), json_string_length(v), err,
			 errlen);
	if (ret)
		return ret;
	memcpy(s->name, json_string_value(v), json_string_length(v) + 1);

	json_object_foreach((json_t *)j, key, v) {
		if (!strcmp(key, "type") || !strcmp(key, "name"))
			continue;
		if (!strcmp(key, "client")) {
			if (!json_is_boolean(v) || s->type != SW_PORT_VHOST)
				return fail(err, errlen, "client: true or "
					    "false, for vhost ports");
			s->client = json_is_true(v);
		} else if (!strcmp(key, "path") || !strcmp(key, "devargs")) {
			bool is_path = key[0] == 'p';

			if (!json_is_string(v) ||
			    (is_path != (s->type == SW_PORT_VHOST)))
				return fail(err, errlen, "%s: a string, for "
					    "%s ports", key,
					    is_path ? "vhost" : "eth");
			ret = set_str(is_path ? s->path : s->devargs,
				      is_path ? sizeof(s->path) :
						sizeof(s->devargs),
				      json_string_value(v),
				      json_string_length(v), key, err, errlen);
			if (ret)
				return ret;
		} else if (!strcmp(key, "queues") || !strcmp(key, "vlan") ||
			   !strcmp(key, "numa")) {
			json_int_t n = json_is_integer(v) ?
					       json_integer_value(v) : -1;

			if (key[0] == 'q') {
				if (n < 1 || n > SW_MAX_QUEUES)
					return fail(err, errlen, "queues: 1 to "
						    "%d", SW_MAX_QUEUES);
				s->queues = (uint16_t)n;
			} else if (key[0] == 'v') {
				if (n < 0 || n > 4094)
					return fail(err, errlen, "vlan: 0 "
						    "(untagged) or 1 to 4094");
				s->vlan = (uint16_t)n;
			} else {
				if (n < 0 || n > 1023)
					return fail(err, errlen, "numa: a node "
						    "number");
				s->numa = (int)n;
			}
		} else if (!strcmp(key, "lcores")) {
			size_t i;
			json_t *e;

			if (!json_is_array(v) || !json_array_size(v) ||
			    json_array_size(v) > SW_MAX_QUEUES)
				return fail(err, errlen, "lcores: an array of 1 "
					    "to %d lcore ids", SW_MAX_QUEUES);
			json_array_foreach(v, i, e) {
				json_int_t n = json_is_integer(e) ?
						       json_integer_value(e) : -1;

				if (n < 0 || n > 65534)
					return fail(err, errlen, "lcores: lcore "
						    "ids");
				s->lcores[i] = (uint16_t)n;
			}
			s->nlcores = (uint16_t)json_array_size(v);
		} else {
			return fail(err, errlen, "%s: unknown field", key);
		}
	}
	return check_spec(s, err, errlen);
}

json_t *spec_to_json(const struct sw_port_spec *s)
{
	json_t *j = json_pack("{s:s, s:s, s:i, s:i}", "name", s->name, "type",
			      spec_type_name(s->type), "queues", s->queues,
			      "vlan", s->vlan);
	json_t *l;

	if (!j)
		return NULL;
	if (s->type == SW_PORT_VHOST) {
		json_object_set_new(j, "path", json_string(s->path));
		json_object_set_new(j, "client", json_boolean(s->client));
	} else if (s->type == SW_PORT_ETH) {
		json_object_set_new(j, "devargs", json_string(s->devargs));
	}
	if (s->numa >= 0)
		json_object_set_new(j, "numa", json_integer(s->numa));
	if (s->nlcores) {
		l = json_array();
		for (int i = 0; i < s->nlcores && l; i++)
			json_array_append_new(l, json_integer(s->lcores[i]));
		if (l)
			json_object_set_new(j, "lcores", l);
	}
	return j;
}
