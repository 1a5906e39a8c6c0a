/* A tern-switch port as asked for, from the command line or from the
 * control API's JSON; parsed and range-checked here (no DPDK: the
 * fuzzers reach both parsers). What only the running switch can judge
 * (that an lcore exists, that a name is free, that DPDK takes the
 * devargs) is checked when the port is added.
 *
 * Command line (after the EAL's options and `--`):
 *   --vhost NAME,path=SOCKET[,client][,queues=N][,vlan=V][,numa=N]
 *           [,lcores=A:B:...]
 *   --eth NAME[,queues=N][,vlan=V][,numa=N][,lcores=A:B:...],devargs=DEVARGS
 * devargs= comes last and takes the rest of the argument, commas and all
 * (e.g. devargs=net_tap0,iface=tsw0). JSON (POST /ports):
 *   {"name": "vm1", "type": "vhost", "path": "/run/vm1.sock",
 *    "client": false, "queues": 2, "vlan": 10, "numa": 0, "lcores": [1, 2]}
 *   {"name": "up0", "type": "eth", "devargs": "net_tap0,iface=tsw0"}
 * Fields: name 1..31 of [A-Za-z0-9_.-]; queues 1..SW_MAX_QUEUES (vhost:
 * the most queue pairs a guest may use; eth: RX and TX queues); vlan 0
 * (untagged port) or an access VLAN 1..4094; numa the node whose lcores
 * poll the port (default: the device's); lcores the lcores that poll its
 * RX queues, queue q on lcores[q % n] (default: see assign.h). */
#ifndef TERN_NET_SWITCH_SPEC_H
#define TERN_NET_SWITCH_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define SW_MAX_QUEUES 8
#define SW_NAME_LEN 32
#define SW_PATH_LEN 108
#define SW_DEVARGS_LEN 256

enum sw_port_type {
	SW_PORT_VHOST,
	SW_PORT_ETH,
	SW_PORT_TEST,		/* unit tests' ports */
};

struct sw_port_spec {
	char name[SW_NAME_LEN];
	enum sw_port_type type;
	char path[SW_PATH_LEN];		/* vhost */
	bool client;			/* vhost: connect rather than listen */
	char devargs[SW_DEVARGS_LEN];	/* eth */
	uint16_t queues;
	uint16_t vlan;
	int numa;			/* -1: the device's */
	uint16_t nlcores;		/* 0: the assignment rule */
	uint16_t lcores[SW_MAX_QUEUES];
};

/* TYPE is SW_PORT_VHOST (--vhost) or SW_PORT_ETH (--eth), ARG the
 * option's value. 0, or -EINVAL with ERR naming what was wrong. */
int spec_parse_arg(enum sw_port_type type, const char *arg,
		   struct sw_port_spec *s, char *err, size_t errlen);
/* The body of POST /ports. 0, or -EINVAL with ERR. */
int spec_from_json(const json_t *j, struct sw_port_spec *s, char *err,
		   size_t errlen);
/* The spec as JSON (new reference, NULL on ENOMEM). */
json_t *spec_to_json(const struct sw_port_spec *s);

const char *spec_type_name(enum sw_port_type type);

#endif
