/* tern-switch's control API (see ctl.h). Runs on the control thread. */
#include "net/switch/ctl.h"
#include "core/httpd.h"
#include "core/log.h"
#include "config.h"

#include <errno.h>
#include <microhttpd.h>
#include <rte_ethdev.h>
#include <stdio.h>
#include <string.h>

static uint64_t rd(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static void add_counters(struct sw_counters *sum, const struct sw_counters *c)
{
	sum->pkts += rd(&c->pkts);
	sum->bytes += rd(&c->bytes);
	for (int d = 0; d < SW_DROP_MAX; d++)
		sum->drops[d] += rd(&c->drops[d]);
}

static json_t *drops_json(const struct sw_counters *rx,
			  const struct sw_counters *tx)
{
	json_t *d = json_object();

	for (int i = 0; d && i < SW_DROP_MAX; i++)
		json_object_set_new(d, sw_drop_names[i],
				    json_integer((json_int_t)(rx->drops[i] +
							      tx->drops[i])));
	return d;
}

static json_t *counters_json(const struct sw_counters *rx,
			     const struct sw_counters *tx)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:o}",
			 "rx_packets", (json_int_t)rx->pkts,
			 "rx_bytes", (json_int_t)rx->bytes,
			 "tx_packets", (json_int_t)tx->pkts,
			 "tx_bytes", (json_int_t)tx->bytes,
			 "drops", drops_json(rx, tx));
}

/* Under sw->lock: P's counters, totals and (QUEUES) per queue. */
static json_t *port_counters(struct sw *sw, const struct sw_port *p,
			     bool queues)
{
	struct sw_counters rx = { 0 }, tx = { 0 };
	json_t *j, *qs = queues ? json_array() : NULL;

	for (int q = 0; q < SW_MAX_QUEUES; q++) {
		struct sw_counters qrx = { 0 }, qtx = { 0 };

		add_counters(&qrx, &p->rxc[q]);
		for (unsigned int w = 0; w < sw->nworkers; w++)
			add_counters(&qtx, &p->txc[w][q]);
		add_counters(&rx, &qrx);
		add_counters(&tx, &qtx);
		if (qs && (q < p->spec.queues || qrx.pkts || qtx.pkts)) {
			json_t *e = counters_json(&qrx, &qtx);

			if (e) {
				json_object_set_new(e, "queue", json_integer(q));
				json_object_set_new(e, "lcore",
					p->rxq_worker[q] == SW_NO_LCORE ?
					json_null() :
					json_integer(sw->lcores[p->rxq_worker[q]]->id));
				json_array_append_new(qs, e);
			}
		}
	}
	j = counters_json(&rx, &tx);
	if (j && qs)
		json_object_set_new(j, "queues", qs);
	else
		json_decref(qs);
	return j;
}

/* Under sw->lock: what an ethdev says of itself (its own drops). */
static json_t *eth_device_json(const struct sw_port *p)
{
	struct rte_eth_stats st;
	struct rte_eth_link link;

	if (!p->started || rte_eth_stats_get(p->eth_id, &st))
		return json_null();
	if (rte_eth_link_get_nowait(p->eth_id, &link))
		memset(&link, 0, sizeof(link));
	return json_pack("{s:s, s:i, s:b, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "name", p->eth_name, "port_id", p->eth_id,
			 "link_up", link.link_status == RTE_ETH_LINK_UP,
			 "ipackets", (json_int_t)st.ipackets,
			 "opackets", (json_int_t)st.opackets,
			 "imissed", (json_int_t)st.imissed,
			 "ierrors", (json_int_t)st.ierrors,
			 "oerrors", (json_int_t)st.oerrors,
			 "rx_nombuf", (json_int_t)st.rx_nombuf);
}

static json_t *port_json(struct sw *sw, const struct sw_port *p, bool queues)
{
	json_t *j = spec_to_json(&p->spec);

	if (!j)
		return NULL;
	json_object_set_new(j, "index", json_integer(p->idx));
	json_object_set_new(j, "up", json_boolean(sw_port_up(p)));
	json_object_set_new(j, "node", p->node >= 0 ? json_integer(p->node) :
						      json_null());
	if (p->spec.type == SW_PORT_VHOST) {
		json_object_set_new(j, "connects", json_integer(p->connects));
		json_object_set_new(j, "disconnects",
				    json_integer(p->disconnects));
	} else if (p->spec.type == SW_PORT_ETH) {
		json_object_set_new(j, "device", eth_device_json(p));
	}
	json_object_set_new(j, "counters", port_counters(sw, p, queues));
	return j;
}

static int get_ports(struct sw *sw, json_t **reply, bool queues)
{
	json_t *a = json_array();

	for (int i = 0; a && i < SW_MAX_PORTS; i++)
		if (sw->ports[i])
			json_array_append_new(a, port_json(sw, sw->ports[i],
							   queues));
	*reply = json_pack("{s:o}", "ports", a);
	return MHD_HTTP_OK;
}

static int post_port(struct sw *sw, json_t *body, json_t **reply)
{
	struct sw_port_spec spec;
	struct sw_port *p;
	char err[256];
	int ret;

	if (!body) {
		*reply = httpd_error("POST /ports needs a JSON body");
		return MHD_HTTP_BAD_REQUEST;
	}
	if (spec_from_json(body, &spec, err, sizeof(err))) {
		*reply = httpd_error("%s", err);
		return MHD_HTTP_BAD_REQUEST;
	}
	ret = sw_port_add(sw, &spec, err, sizeof(err));
	if (ret) {
		*reply = httpd_error("%s", err);
		return ret == -EEXIST ? MHD_HTTP_CONFLICT :
		       ret == -EINVAL ? MHD_HTTP_BAD_REQUEST :
					MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
	pthread_mutex_lock(&sw->lock);
	p = sw_port_find(sw, spec.name);
	*reply = p ? port_json(sw, p, false) : NULL;
	pthread_mutex_unlock(&sw->lock);
	return MHD_HTTP_CREATED;
}

struct mac_dump {
	struct sw *sw;
	json_t *a;
};

static int mac_entry(void *opaque, uint64_t key, uint16_t port, uint16_t age)
{
	struct mac_dump *d = opaque;
	uint8_t m[6];
	char mac[18];
	struct sw_port *p = port < SW_MAX_PORTS ? d->sw->ports[port] : NULL;

	mt_key_mac(key, m);
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1],
		 m[2], m[3], m[4], m[5]);
	json_array_append_new(d->a, json_pack("{s:s, s:i, s:s, s:i}", "mac",
					      mac, "vlan", mt_key_vlan(key),
					      "port", p ? p->spec.name : "?",
					      "age", age));
	return 0;
}

static int get_mac(struct sw *sw, json_t **reply)
{
	struct mac_dump d = { .sw = sw, .a = json_array() };
	struct mt_stats st;
	uint32_t count;

	if (!d.a)
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	mt_walk(&sw->mt, __atomic_load_n(&sw->now, __ATOMIC_RELAXED),
		mac_entry, &d);
	mt_get_stats(&sw->mt, &st, &count);
	*reply = json_pack("{s:o, s:i, s:i, s:i, s:{s:I, s:I, s:I, s:I, s:I, "
			   "s:I}}",
			   "entries", d.a, "count", count,
			   "capacity", sw->mt.nbuckets * MT_WAYS,
			   "aging", sw->mt.aging, "stats",
			   "learned", (json_int_t)st.learned,
			   "moved", (json_int_t)st.moved,
			   "aged", (json_int_t)st.aged,
			   "flushed", (json_int_t)st.flushed,
			   "full", (json_int_t)st.full,
			   "busy", (json_int_t)st.busy);
	return MHD_HTTP_OK;
}

static int get_lcores(struct sw *sw, json_t **reply)
{
	json_t *a = json_array();

	for (unsigned int w = 0; a && w < sw->nworkers; w++) {
		const struct sw_lcore *lc = sw->lcores[w];
		uint64_t busy = rd(&lc->busy_cycles), idle = rd(&lc->idle_cycles);
		uint64_t pkts = rd(&lc->rx_pkts);
		json_t *qs = json_array();

		for (int i = 0; qs && i < SW_MAX_PORTS; i++) {
			const struct sw_port *p = sw->ports[i];

			for (int q = 0; p && q < SW_MAX_QUEUES; q++)
				if (p->rxq_worker[q] == w)
					json_array_append_new(qs, json_pack(
						"{s:s, s:i}", "port",
						p->spec.name, "queue", q));
		}
		json_array_append_new(a, json_pack(
			"{s:i, s:i, s:o, s:I, s:I, s:f, s:I, s:f, s:I}",
			"lcore", lc->id, "node", lc->node, "rx_queues", qs,
			"busy_cycles", (json_int_t)busy,
			"idle_cycles", (json_int_t)idle,
			"load", busy + idle ? (double)busy / (double)(busy + idle) :
					      0.0,
			"rx_packets", (json_int_t)pkts,
			"cycles_per_packet", pkts ? (double)busy / (double)pkts :
						    0.0,
			"loops", (json_int_t)rd(&lc->loops)));
	}
	*reply = json_pack("{s:o, s:I}", "lcores", a, "tsc_hz",
			   (json_int_t)sw->hz);
	return MHD_HTTP_OK;
}

static int get_root(struct sw *sw, json_t **reply)
{
	*reply = json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i}",
			   "name", "tern-switch", "version", TERN_VERSION,
			   "workers", sw->nworkers, "mtu", sw->opt.mtu,
			   "burst", sw->opt.burst, "mac_entries",
			   sw->mt.nbuckets * MT_WAYS, "aging", sw->opt.aging,
			   "idle_sleep_us", sw->opt.idle_sleep_us,
			   "uptime", __atomic_load_n(&sw->now,
						     __ATOMIC_RELAXED));
	return MHD_HTTP_OK;
}

static int wrong_method(const char *method, const char *path, json_t **reply)
{
	*reply = httpd_error("%s %s: no such method here", method, path);
	return MHD_HTTP_METHOD_NOT_ALLOWED;
}

int ctl_handle(void *opaque, const char *method, const char *path,
	       json_t *body, json_t **reply)
{
	struct sw *sw = opaque;
	bool get = !strcmp(method, "GET"), del = !strcmp(method, "DELETE");
	int status;

	if (!strcmp(path, "/ports") && !strcmp(method, "POST"))
		return post_port(sw, body, reply);
	if (!strncmp(path, "/ports/", 7) && del) {
		if (sw_port_remove(sw, path + 7)) {
			*reply = httpd_error("no port called %s", path + 7);
			return MHD_HTTP_NOT_FOUND;
		}
		*reply = json_pack("{s:s}", "removed", path + 7);
		return MHD_HTTP_OK;
	}
	if (!strcmp(path, "/mac") && del) {
		*reply = json_pack("{s:i}", "flushed", mt_flush(&sw->mt));
		return MHD_HTTP_OK;
	}
	if (!get) {
		if (!strcmp(path, "/") || !strcmp(path, "/ports") ||
		    !strncmp(path, "/ports/", 7) || !strcmp(path, "/stats") ||
		    !strcmp(path, "/mac") || !strcmp(path, "/lcores"))
			return wrong_method(method, path, reply);
		*reply = httpd_error("%s: no such path", path);
		return MHD_HTTP_NOT_FOUND;
	}
	pthread_mutex_lock(&sw->lock);
	if (!strcmp(path, "/")) {
		status = get_root(sw, reply);
	} else if (!strcmp(path, "/ports")) {
		status = get_ports(sw, reply, false);
	} else if (!strcmp(path, "/stats")) {
		status = get_ports(sw, reply, true);
	} else if (!strncmp(path, "/ports/", 7)) {
		struct sw_port *p = sw_port_find(sw, path + 7);

		if (p) {
			*reply = port_json(sw, p, true);
			status = MHD_HTTP_OK;
		} else {
			*reply = httpd_error("no port called %s", path + 7);
			status = MHD_HTTP_NOT_FOUND;
		}
	} else if (!strcmp(path, "/mac")) {
		status = get_mac(sw, reply);
	} else if (!strcmp(path, "/lcores")) {
		status = get_lcores(sw, reply);
	} else {
		*reply = httpd_error("%s: no such path", path);
		status = MHD_HTTP_NOT_FOUND;
	}
	pthread_mutex_unlock(&sw->lock);
	if (!*reply && status < 300)
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	return status;
}
