/* Fuzz target: what tern-switch takes from outside before DPDK sees it:
 * frames from guests and uplinks (sw_classify, net/switch/frame.h), port
 * specs from the command line and from the control API's JSON
 * (net/switch/spec.c), and the MAC table under any sequence of learning,
 * aging and flushes (net/switch/mactable.c) against a model of it.
 *
 * Input: byte 0 picks the mode (% 4).
 *  0 frame: byte 1 = VLAN of the port (0 or 1..255), bytes 2-3 = MTU
 *    (68 + le16 % 9533), byte 4 = how much of the frame is in the first
 *    segment (% 2 ? all : byte 4's value), the rest the frame.
 *  1 command-line spec: byte 1 picks --vhost or --eth, the rest the
 *    option's value (cut at the first NUL).
 *  2 JSON spec: the rest is the body of POST /ports.
 *  3 MAC table: up to 256 operations of 4 bytes on a 32-entry table:
 *    op % 5 = learn / lookup / age / flush a port / flush all, then a key
 *    byte (8 keys x 2 VLANs), a port byte (% 8) and a clock byte.
 * Checked: no crash or out-of-bounds read (ASan watches a malloc'd copy),
 * a frame passes only with a whole header, a unicast source and a length
 * the MTU allows, and its keys say what its header does; a spec that
 * parses has every field in range and survives a JSON round trip; the
 * table answers as the model does, wherever learning succeeded.
 *
 * Build with libFuzzer (see tests/fuzz/README), or -DFUZZ_STANDALONE to
 * replay files. */
#include "net/switch/frame.h"
#include "net/switch/mactable.h"
#include "net/switch/spec.h"
#include "tests/fuzz/fuzz.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct {
	unsigned long frames_ok, frames_dropped, specs_ok, specs_refused,
		json_ok, json_refused, mt_ops;
} fz_stats;

static void fz_frame(const uint8_t *data, size_t size)
{
	uint16_t vlan, mtu;
	uint32_t len, seg;
	struct sw_frame f;
	uint8_t *copy;
	int r;

	if (size < 5)
		return;
	vlan = data[1];
	mtu = (uint16_t)(68 + (data[2] | data[3] << 8) % 9533);
	len = (uint32_t)(size - 5);
	seg = data[4] % 2 || data[4] > len ? len : data[4];
	copy = malloc(seg ? seg : 1);
	if (!copy)
		return;
	memcpy(copy, data + 5, seg);
	r = sw_classify(copy, seg, len, mtu, vlan, &f);
	if (r == SW_FRAME_OK) {
		fz_stats.frames_ok++;
		FZ_NEVER(seg < SW_ETH_HLEN || len < SW_ETH_HLEN ||
			 len > (uint32_t)mtu + SW_ETH_HLEN + 2 * SW_VLAN_HLEN);
		FZ_NEVER((copy[6] & 1) || f.dst != mt_key(copy, vlan) ||
			 f.src != mt_key(copy + 6, vlan) ||
			 f.group != (copy[0] & 1));
		FZ_NEVER(vlan &&
			 sw_is_tag((uint16_t)(copy[12] << 8 | copy[13])));
	} else {
		fz_stats.frames_dropped++;
		FZ_NEVER(r < 0 || r > SW_DROP_VLAN);
	}
	free(copy);
}

static void check_spec(const struct sw_port_spec *s)
{
	size_t n = strnlen(s->name, sizeof(s->name));

	FZ_NEVER(!n || n == sizeof(s->name) || s->queues < 1 ||
		 s->queues > SW_MAX_QUEUES || s->vlan > 4094 ||
		 s->nlcores > SW_MAX_QUEUES || s->numa < -1);
	FZ_NEVER(s->type == SW_PORT_VHOST &&
		 (!s->path[0] || strnlen(s->path, sizeof(s->path)) ==
					 sizeof(s->path)));
	FZ_NEVER(s->type == SW_PORT_ETH &&
		 (!s->devargs[0] || s->client ||
		  strnlen(s->devargs, sizeof(s->devargs)) ==
			  sizeof(s->devargs)));
}

/* A spec that parsed goes to JSON and back unchanged. */
static void round_trip(const struct sw_port_spec *s)
{
	struct sw_port_spec back;
	char err[256];
	json_t *j = spec_to_json(s);

	if (!j)
		return;
	FZ_NEVER(spec_from_json(j, &back, err, sizeof(err)) ||
		 memcmp(&back, s, sizeof(back)));
	json_decref(j);
}

static void fz_arg(const uint8_t *data, size_t size)
{
	struct sw_port_spec s;
	char err[256], *arg;

	if (size < 2)
		return;
	arg = malloc(size - 1);
	if (!arg)
		return;
	memcpy(arg, data + 2, size - 2);
	arg[size - 2] = '\0';
	err[0] = '\0';
	if (!spec_parse_arg(data[1] % 2 ? SW_PORT_ETH : SW_PORT_VHOST, arg,
			    &s, err, sizeof(err))) {
		fz_stats.specs_ok++;
		check_spec(&s);
		round_trip(&s);
	} else {
		fz_stats.specs_refused++;
		FZ_NEVER(!err[0]);	/* a refusal names what was wrong */
	}
	free(arg);
}

static void fz_json(const uint8_t *data, size_t size)
{
	struct sw_port_spec s;
	json_error_t je;
	char err[256];
	json_t *j;

	/* As core/httpd.c reads bodies. */
	j = json_loadb((const char *)data + 1, size - 1,
		       JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return;
	err[0] = '\0';
	if (!spec_from_json(j, &s, err, sizeof(err))) {
		fz_stats.json_ok++;
		check_spec(&s);
		round_trip(&s);
	} else {
		fz_stats.json_refused++;
		FZ_NEVER(!err[0]);
	}
	json_decref(j);
}

#define FZ_KEYS 16

static void fz_table(const uint8_t *data, size_t size)
{
	struct mactable t;
	int model[FZ_KEYS];	/* port, or -1 where the table may not know */
	uint16_t seen[FZ_KEYS], now = 0;
	uint64_t keys[FZ_KEYS];

	FZ_NEVER(mt_init(&t, 32, 8, 0x5eed, NULL));
	for (int k = 0; k < FZ_KEYS; k++) {
		uint8_t mac[6] = { 2, 0, 0, 0, 0, (uint8_t)(k % 8) };

		keys[k] = mt_key(mac, (uint16_t)(k / 8));
		model[k] = -1;
		seen[k] = 0;
	}
	for (size_t i = 1; i + 4 <= size && i < 1 + 256 * 4; i += 4) {
		int k = data[i + 1] % FZ_KEYS, port = data[i + 2] % 8, got;

		now = (uint16_t)(now + data[i + 3] % 4);
		fz_stats.mt_ops++;
		switch (data[i] % 5) {
		case 0:
			switch (mt_learn(&t, keys[k], (uint16_t)port, now)) {
			case MT_KNOWN:
			case MT_MOVED:
			case MT_LEARNED:
				model[k] = port;
				seen[k] = now;
				break;
			case MT_FULL:
				/* A known key is updated. */
				FZ_NEVER(model[k] >= 0);
				break;
			case MT_BUSY:
				fz_broken(__FILE__, __LINE__, "must never hold",
					  "MT_BUSY with no other writer");
			}
			break;
		case 1:
			got = mt_lookup(&t, keys[k], now, data[i + 2] & 1);
			FZ_NEVER(got != model[k]);
			if (got >= 0 && (data[i + 2] & 1))
				seen[k] = now;
			break;
		case 2:
			mt_age(&t, now);
			for (int j = 0; j < FZ_KEYS; j++)
				if (model[j] >= 0 &&
				    (uint16_t)(now - seen[j]) > t.aging)
					model[j] = -1;
			break;
		case 3:
			mt_flush_port(&t, (uint16_t)port);
			for (int j = 0; j < FZ_KEYS; j++)
				if (model[j] == port)
					model[j] = -1;
			break;
		default:
			mt_flush(&t);
			for (int j = 0; j < FZ_KEYS; j++)
				model[j] = -1;
			break;
		}
	}
	for (int k = 0; k < FZ_KEYS; k++)
		FZ_NEVER(mt_lookup(&t, keys[k], now, false) != model[k]);
	mt_destroy(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0:
		fz_frame(data, size);
		break;
	case 1:
		fz_arg(data, size);
		break;
	case 2:
		fz_json(data, size);
		break;
	default:
		fz_table(data, size);
		break;
	}
	return 0;
}

#ifdef FUZZ_STANDALONE
static void fz_report(unsigned int runs)
{
	fprintf(stderr, "fuzz_switch: %u inputs ran clean (frames %lu passed, "
		"%lu dropped; specs %lu parsed, %lu refused; JSON specs %lu "
		"parsed, %lu refused; %lu table operations)\n", runs,
		fz_stats.frames_ok, fz_stats.frames_dropped, fz_stats.specs_ok,
		fz_stats.specs_refused, fz_stats.json_ok, fz_stats.json_refused,
		fz_stats.mt_ops);
}
#include "replay.h"
#endif
