/* tern-switch's port specs (net/switch/spec.c): the --vhost/--eth
 * command-line form and the control API's JSON form, what each accepts,
 * and that every refusal names what was wrong. */
#include "net/switch/spec.h"
#include "tests/unit/check.h"

#include <stdbool.h>

static bool err_has(const char *err, const char *what)
{
	return strstr(err, what) != NULL;
}

static void test_arg_vhost(void)
{
	struct sw_port_spec s;
	char err[256];

	CHECK_EQ(spec_parse_arg(SW_PORT_VHOST, "vm1,path=/run/vm1.sock", &s,
				err, sizeof(err)), 0);
	CHECK_STR(s.name, "vm1");
	CHECK_STR(s.path, "/run/vm1.sock");
	CHECK_EQ(s.type, SW_PORT_VHOST);
	CHECK_EQ(s.queues, 1);
	CHECK_EQ(s.vlan, 0);
	CHECK_EQ(s.numa, -1);
	CHECK_EQ(s.client, false);
	CHECK_EQ(s.nlcores, 0);

	CHECK_EQ(spec_parse_arg(SW_PORT_VHOST, "vm-2.a,path=/x,client,queues=4,"
				"vlan=4094,numa=1,lcores=3:5", &s, err,
				sizeof(err)), 0);
	CHECK_EQ(s.client, true);
	CHECK_EQ(s.queues, 4);
	CHECK_EQ(s.vlan, 4094);
	CHECK_EQ(s.numa, 1);
	CHECK_EQ(s.nlcores, 2);
	CHECK_EQ(s.lcores[0], 3);
	CHECK_EQ(s.lcores[1], 5);

	static const struct {
		const char *arg, *what;
	} bad[] = {
		{ "vm1", "needs path" },
		{ ",path=/x", "name" },
		{ "vm 1,path=/x", "name" },
		{ "a234567890123456789012345678901234,path=/x", "name" },
		{ "vm1,path=/x,queues=0", "queues" },
		{ "vm1,path=/x,queues=9", "queues" },
		{ "vm1,path=/x,queues=1x", "queues" },
		{ "vm1,path=/x,vlan=4095", "vlan" },
		{ "vm1,path=/x,vlan=-1", "vlan" },
		{ "vm1,path=/x,lcores=1:", "lcores" },
		{ "vm1,path=/x,lcores=1:2:3:4:5:6:7:8:9", "lcores" },
		{ "vm1,path=/x,client=1", "client" },
		{ "vm1,path=/x,,queues=2", "empty" },
		{ "vm1,path=/x,", "empty" },
		{ "vm1,path=", "path" },
		{ "vm1,path=/x,colour=red", "colour: unknown" },
		{ "vm1,path=/x,devargs=net_tap0", "devargs: unknown" },
		{ "vm1,path=/x,queues", "needs a value" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK_EQ(spec_parse_arg(SW_PORT_VHOST, bad[i].arg, &s, err,
					sizeof(err)), -EINVAL);
		if (!err_has(err, bad[i].what))
			CHECK_FAIL_AT(__FILE__, __LINE__, "%s: error \"%s\" "
				      "does not name %s", bad[i].arg, err,
				      bad[i].what);
	}
}

static void test_arg_eth(void)
{
	struct sw_port_spec s;
	char err[256];

	/* devargs= takes the rest, commas included. */
	CHECK_EQ(spec_parse_arg(SW_PORT_ETH, "up0,queues=2,devargs=net_tap0,"
				"iface=tsw0,persist", &s, err, sizeof(err)), 0);
	CHECK_STR(s.name, "up0");
	CHECK_EQ(s.queues, 2);
	CHECK_STR(s.devargs, "net_tap0,iface=tsw0,persist");
	CHECK_EQ(spec_parse_arg(SW_PORT_ETH, "up0,devargs=0000:01:00.0", &s,
				err, sizeof(err)), 0);
	CHECK_STR(s.devargs, "0000:01:00.0");
	CHECK_EQ(spec_parse_arg(SW_PORT_ETH, "up0", &s, err, sizeof(err)),
		 -EINVAL);
	CHECK(err_has(err, "devargs"));
	CHECK_EQ(spec_parse_arg(SW_PORT_ETH, "up0,devargs=", &s, err,
				sizeof(err)), -EINVAL);
	CHECK_EQ(spec_parse_arg(SW_PORT_ETH, "up0,client,devargs=x", &s, err,
				sizeof(err)), -EINVAL);
	CHECK(err_has(err, "client"));
	CHECK_EQ(spec_parse_arg(SW_PORT_ETH, "up0,path=/x,devargs=x", &s, err,
				sizeof(err)), -EINVAL);
	CHECK(err_has(err, "path"));
}

static int from_json(const char *text, struct sw_port_spec *s, char *err,
		     size_t errlen)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_ALLOW_NUL, &je);
	int ret;

	if (!j) {
		CHECK_FAIL_AT(__FILE__, __LINE__, "bad test JSON: %s", text);
		return -1;
	}
	ret = spec_from_json(j, s, err, errlen);
	json_decref(j);
	return ret;
}

static void test_json(void)
{
	struct sw_port_spec s, back;
	char err[256];
	json_t *j;

	CHECK_EQ(from_json("{\"name\":\"vm1\",\"type\":\"vhost\",\"path\":\"/s\","
			   "\"client\":true,\"queues\":2,\"vlan\":10,"
			   "\"numa\":0,\"lcores\":[1,2]}", &s, err,
			   sizeof(err)), 0);
	CHECK_STR(s.name, "vm1");
	CHECK_EQ(s.client, true);
	CHECK_EQ(s.queues, 2);
	CHECK_EQ(s.vlan, 10);
	CHECK_EQ(s.numa, 0);
	CHECK_EQ(s.nlcores, 2);
	/* Round trip through spec_to_json. */
	j = spec_to_json(&s);
	CHECK(j != NULL);
	CHECK_EQ(spec_from_json(j, &back, err, sizeof(err)), 0);
	CHECK_MEM(&back, &s, sizeof(s));
	json_decref(j);

	CHECK_EQ(from_json("{\"name\":\"up0\",\"type\":\"eth\",\"devargs\":"
			   "\"net_tap0,iface=t\"}", &s, err, sizeof(err)), 0);
	CHECK_STR(s.devargs, "net_tap0,iface=t");

	static const struct {
		const char *json, *what;
	} bad[] = {
		{ "[]", "object" },
		{ "{\"name\":\"a\"}", "type" },
		{ "{\"name\":\"a\",\"type\":\"ovs\"}", "type" },
		{ "{\"type\":\"vhost\",\"path\":\"/s\"}", "name" },
		{ "{\"name\":1,\"type\":\"vhost\",\"path\":\"/s\"}", "name" },
		{ "{\"name\":\"a/b\",\"type\":\"vhost\",\"path\":\"/s\"}", "name" },
		{ "{\"name\":\"a\",\"type\":\"vhost\"}", "path" },
		{ "{\"name\":\"a\",\"type\":\"vhost\",\"path\":\"\"}", "path" },
		{ "{\"name\":\"a\",\"type\":\"vhost\",\"path\":\"/s\\u0000x\"}",
		  "NUL" },
		{ "{\"name\":\"a\",\"type\":\"vhost\",\"path\":\"/s\","
		  "\"queues\":9}", "queues" },
		{ "{\"name\":\"a\",\"type\":\"vhost\",\"path\":\"/s\","
		  "\"queues\":\"2\"}", "queues" },
		{ "{\"name\":\"a\",\"type\":\"vhost\",\"path\":\"/s\","
		  "\"vlan\":5000}", "vlan" },
		{ "{\"name\":\"a\",\"type\":\"vhost\",\"path\":\"/s\","
		  "\"lcores\":[]}", "lcores" },
		{ "{\"name\":\"a\",\"type\":\"vhost\",\"path\":\"/s\","
		  "\"lcores\":[-1]}", "lcores" },
		{ "{\"name\":\"a\",\"type\":\"vhost\",\"path\":\"/s\","
		  "\"client\":1}", "client" },
		{ "{\"name\":\"a\",\"type\":\"vhost\",\"path\":\"/s\","
		  "\"devargs\":\"x\"}", "devargs" },
		{ "{\"name\":\"a\",\"type\":\"eth\",\"devargs\":\"x\","
		  "\"client\":false}", "client" },
		{ "{\"name\":\"a\",\"type\":\"vhost\",\"path\":\"/s\","
		  "\"speed\":10}", "speed: unknown" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK_EQ(from_json(bad[i].json, &s, err, sizeof(err)), -EINVAL);
		if (!err_has(err, bad[i].what))
			CHECK_FAIL_AT(__FILE__, __LINE__, "%s: error \"%s\" "
				      "does not name %s", bad[i].json, err,
				      bad[i].what);
	}
}

int main(void)
{
	test_arg_vhost();
	test_arg_eth();
	test_json();
	return check_done("test_switch_spec");
}
