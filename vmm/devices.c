/* The registry of device kinds and the words of --disk and --net: see
 * vmm/devices.h. */
#include "vmm/devices.h"

#include "core/hostcpu.h"
#include "core/opts.h"
#include "virtio/queue.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)
#define NET_MIN_MTU 68			/* IPv4's minimum */
#define IFNAMSIZ_MAX 15			/* IFNAMSIZ less its NUL */

/* Every kind there is. A device's words go to the first kind of their
 * option that selects them: the more particular kinds first. */
const struct device_kind *const device_kinds[] = {
	&dev_kind_vhost_user_blk,
	&dev_kind_ide,
	&dev_kind_virtio_blk,
	&dev_kind_e1000,
	&dev_kind_virtio_net,
};
const unsigned int device_nkinds = ARRAY_SIZE(device_kinds);

/* --- words both options take -------------------------------------------- */

/* id=: what the API and the state records call the device. */
static int word_id(char *id, const char *v)
{
	size_t n = strlen(v);

	if (!n || n >= DEV_ID_LEN)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
		      (v[i] >= '0' && v[i] <= '9') || v[i] == '-' || v[i] == '_'))
			return -EINVAL;
	memcpy(id, v, n + 1);
	return 0;
}

#define ID_HELP                                                                \
	"give 1 to " STRINGIFY(DEV_ID_LEN) " less one letters, digits, '-' or '_'"

static int word_socket(char *dst, const char *v)
{
	size_t n = strlen(v);

	if (!n || n > DEV_SOCKET_MAX)
		return -EINVAL;
	memcpy(dst, v, n + 1);
	return 0;
}

#define SOCKET_HELP                                                            \
	"give a UNIX socket path (1 to " STRINGIFY(DEV_SOCKET_MAX) " bytes)"

/* --- --disk ------------------------------------------------------------- */

static const char *const disk_ifaces[] = { "virtio", "ide", NULL };
static const char *const disk_medias[] = { "disk", "cdrom", NULL };

static int disk_path(void *target, const char *v)
{
	struct dev_config *c = target;
	size_t n = strlen(v);

	if (n >= DEV_PATH_LEN)
		return -EINVAL;
	memcpy(c->disk.path, v, n + 1);
	c->disk.d.path = c->disk.path;
	return 0;
}

static int disk_socket(void *target, const char *v)
{
	return word_socket(((struct dev_config *)target)->disk.socket, v);
}

static int disk_serial(void *target, const char *v)
{
	struct dev_config *c = target;

	if (strlen(v) > BLK_SERIAL_LEN)
		return -EINVAL;
	strcpy(c->disk.d.serial, v);
	return 0;
}

/* bootindex=N: the firmware tries the disks with one, lowest first. */
static int disk_bootindex(void *target, const char *v)
{
	struct dev_config *c = target;
	char *end;
	unsigned long n;

	if (*v < '0' || *v > '9')
		return -EINVAL;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || n > DEV_BOOTINDEX_MAX)
		return -EINVAL;
	c->disk.boot_prio = (unsigned int)n + 1;
	return 0;
}

/* queue-affinity=[Q@[CPUS],...]: queue Q's I/O thread runs on CPUS, a
 * list of this machine's CPUs (0,2-3); a queue named twice runs on both
 * lists. Queues it does not name go near the disk's NUMA node, or run
 * anywhere. vblk_check holds Q below the disk's queues, which may come
 * later in the words. */
static int disk_affinity(void *target, const char *v)
{
	struct blk_config *d = &((struct dev_config *)target)->disk.d;

	return hostcpu_affinity_parse(v, d->affinity, BLK_MAX_AFFINITY,
				      &d->naffinity);
}

#define AFFINITY_HELP                                                          \
	"give [QUEUE@[CPUS],...], CPUS of this machine like 0,2-3 (at most "   \
	STRINGIFY(BLK_MAX_AFFINITY) " (queue, CPU) pairs in all)"

static int dev_id(void *target, const char *v)
{
	return word_id(((struct dev_config *)target)->id, v);
}

static const struct opt_spec disk_specs[] = {
	OPT_F("path", disk_path, "give a file"),
	OPT_U("queues", struct dev_config, disk.d.queues, 1, VIRTIO_MAX_QUEUES),
	OPT_P2("queue-size", struct dev_config, disk.d.queue_size, 2,
	       VIRTQ_MAX_SIZE),
	OPT_B("direct", struct dev_config, disk.d.direct),
	OPT_B("readonly", struct dev_config, disk.d.readonly),
	OPT_B("packed", struct dev_config, disk.d.packed),
	OPT_U("poll-us", struct dev_config, disk.d.poll_us, 0, BLK_POLL_US_MAX),
	OPT_FL("queue-affinity", disk_affinity, AFFINITY_HELP),
	OPT_F("serial", disk_serial,
	      "at most " STRINGIFY(BLK_SERIAL_LEN) " characters"),
	OPT_C("if", struct dev_config, disk.iface, disk_ifaces),
	OPT_C("media", struct dev_config, disk.media, disk_medias),
	OPT_F("bootindex", disk_bootindex,
	      "give 0 to " STRINGIFY(DEV_BOOTINDEX_MAX)),
	OPT_F("vhost-user", disk_socket, SOCKET_HELP),
	OPT_F("id", dev_id, ID_HELP),
};

static const struct opts_table disk_table = {
	"disk", disk_specs, ARRAY_SIZE(disk_specs), NULL,
};

static void disk_defaults(struct dev_config *c)
{
	c->disk.d = (struct blk_config){ .queues = 1, .numa_node = -1,
					 .queue_size = BLK_DEFAULT_QUEUE_SIZE };
}

/* --- --net -------------------------------------------------------------- */

static const char *const net_vhost_modes[] = { "auto", "on", "off", NULL };
static const char *const net_models[] = { "virtio", "e1000", NULL };

static int net_socket(void *target, const char *v)
{
	return word_socket(((struct dev_config *)target)->net.socket, v);
}

static int net_tap(void *target, const char *v)
{
	struct dev_config *c = target;

	if (!*v || strlen(v) >= IFNAMSIZ || strchr(v, '/'))
		return -EINVAL;
	strcpy(c->net.tap, v);
	return 0;
}

static int net_mac(void *target, const char *v)
{
	struct dev_config *c = target;
	uint8_t *mac = c->net.dev.mac;
	unsigned int b[6];
	char end;

	if (sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &end) != 6 || strlen(v) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	/* A multicast address cannot be a NIC's. */
	return mac[0] & 1 ? -EINVAL : 0;
}

static const struct opt_spec net_specs[] = {
	OPT_F("tap", net_tap, "not an interface name (1 to "
	      STRINGIFY(IFNAMSIZ_MAX) " characters, no '/')"),
	OPT_F("mac", net_mac, "give a unicast address like 02:00:00:00:00:01"),
	OPT_U("queues", struct dev_config, net.dev.pairs, 1, NET_MAX_PAIRS),
	OPT_P2("queue-size", struct dev_config, net.dev.queue_size, 2,
	       VIRTQ_MAX_SIZE),
	OPT_U("mtu", struct dev_config, net.dev.mtu, NET_MIN_MTU, UINT16_MAX),
	OPT_B("packed", struct dev_config, net.dev.packed),
	OPT_C("vhost", struct dev_config, net.vhost, net_vhost_modes),
	OPT_C("model", struct dev_config, net.model, net_models),
	OPT_F("vhost-user", net_socket, SOCKET_HELP),
	OPT_F("id", dev_id, ID_HELP),
};

static const struct opts_table net_table = {
	"net", net_specs, ARRAY_SIZE(net_specs), NULL,
};

static void net_defaults(struct dev_config *c)
{
	/* Locally administered: 02:74:65:72:6e ("tern"); the VM puts the
	 * device's index in the last byte unless mac= was given. */
	c->net.dev = (struct net_config){
		.pairs = 1, .queue_size = NET_DEFAULT_QUEUE_SIZE,
		.mac = { 0x02, 0x74, 0x65, 0x72, 0x6e, 0 } };
	c->net.vhost = VHOST_AUTO;
}

/* --- parsing ------------------------------------------------------------ */

static const struct {
	const char *option;
	const struct opts_table *table;
	void (*defaults)(struct dev_config *c);
} options[] = {
	{ "disk", &disk_table, disk_defaults },
	{ "net", &net_table, net_defaults },
};

int devices_parse(const char *option, const char *arg, struct dev_config *c,
		  FILE *err)
{
	int ret;

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
		if (strcmp(options[i].option, option))
			continue;
		options[i].defaults(c);
		ret = opts_parse(options[i].table, arg, c, &c->seen, err);
		if (ret)
			return ret;
		/* A CD-ROM is read-only: readonly=off contradicts it. */
		if (!strcmp(option, "disk") &&
		    c->disk.media == DISK_MEDIA_CDROM) {
			if ((c->seen & (1ULL << opts_index(&disk_table,
							   "readonly"))) &&
			    !c->disk.d.readonly)
				return opts_error(err, option, "media=cdrom is "
						  "read-only");
			c->disk.d.readonly = true;
		}
		if (!strcmp(option, "net"))
			c->net.pairs_set =
				c->seen & (1ULL << opts_index(&net_table,
							      "queues"));
		for (unsigned int k = 0; k < device_nkinds; k++) {
			const struct device_kind *kind = device_kinds[k];

			if (strcmp(kind->option, option) || !kind->selects(c))
				continue;
			c->kind = kind;
			return kind->check ? kind->check(c, arg, err) : 0;
		}
		return opts_error(err, option, "'%s': no device takes these "
				  "words", arg);
	}
	return opts_error(err, option, "no such device option");
}

void dev_config_copy(struct dev_config *dst, const struct dev_config *src)
{
	*dst = *src;
	if (src->kind && !strcmp(src->kind->option, "disk") &&
	    src->disk.d.path == src->disk.path)
		dst->disk.d.path = dst->disk.path;
}

/* The first of KEYS (NULL-ended) given in C's words, or NULL. */
const char *devices_first_seen(const struct dev_config *c,
			       const char *const *keys)
{
	const struct opts_table *t = !strcmp(c->kind->option, "disk") ?
					     &disk_table : &net_table;

	for (; *keys; keys++)
		if (c->seen & (1ULL << opts_index(t, *keys)))
			return *keys;
	return NULL;
}

int devices_check_file(const char *option, const char *path, FILE *err)
{
	if (!*path)
		return opts_error(err, option, "empty path");
	if (access(path, R_OK) < 0)
		return opts_error(err, option, "%s: %s", path, strerror(errno));
	return 0;
}
