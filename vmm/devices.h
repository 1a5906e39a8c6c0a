/* The device kinds a VM can hold, and how a device is made from its option
 * words: the one path for a device given on the command line at boot and
 * one added at run time (vm_device_add).
 *
 * An option (--disk, --net) has one word table (core/opts.h) whose words
 * every kind of that option shares; after the words are read, each kind's
 * `selects` says whether they are its (vhost-user= picks vhost-user-blk,
 * if=ide picks the IDE disk, model=e1000 the e1000), the first that says
 * yes is the device's kind, and its `check` refuses the words it has no use
 * for. `create` then composes the kind's model, transport and backend
 * into one struct device (core/device.h) that the VM realizes and puts on
 * its list. Adding a kind is one file (vmm/dev_KIND.c with its
 * device_kind), one line in vmm/devices.c's array, and its words in the
 * option's table if it needs new ones. */
#ifndef TERN_VMM_DEVICES_H
#define TERN_VMM_DEVICES_H

#include "block/ide.h"
#include "core/device.h"
#include "net/tap.h"
#include "virtio/blk.h"
#include "virtio/net.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define DEV_ID_LEN 32			/* struct device's id */
#define VM_MAX_DISKS 8			/* of each virtio disk kind */
#define VM_MAX_NETS 4
#define VM_MAX_IDE 4			/* primary/secondary, master/slave */
#define DEV_PATH_LEN PATH_MAX		/* an image file or a socket */
#define DEV_SOCKET_MAX 107		/* sun_path less its NUL */

enum vhost_mode { VHOST_AUTO, VHOST_ON, VHOST_OFF };
enum net_model { NET_MODEL_VIRTIO, NET_MODEL_E1000 };
enum disk_iface { DISK_IF_VIRTIO, DISK_IF_IDE };
enum disk_media { DISK_MEDIA_DISK, DISK_MEDIA_CDROM };
#define DEV_BOOTINDEX_MAX 9999

/* What one --disk may say: a virtio-blk, an IDE disk or a vhost-user
 * disk, told apart after the words are read. */
struct disk_words {
	struct blk_config d;		/* d.path points at path */
	char path[DEV_PATH_LEN];
	char socket[DEV_SOCKET_MAX + 1];	/* vhost-user=, or empty */
	int iface;			/* if=: enum disk_iface */
	int media;			/* media=: enum disk_media (cdrom:
					 * ATAPI, IDE only, read-only) */
	unsigned int boot_prio;		/* bootindex= + 1; 0: none given */
};

/* What one --net may say. */
struct net_words {
	struct net_config dev;
	char tap[IFNAMSIZ];		/* empty: the kernel picks a name */
	int vhost;			/* enum vhost_mode */
	int model;			/* enum net_model */
	char socket[DEV_SOCKET_MAX + 1];	/* vhost-user=, or empty */
	bool pairs_set;			/* queues= given */
};

struct device_kind;

/* One device as its words said it: what the command line keeps for boot
 * and what vm_device_add makes of its arguments. */
struct dev_config {
	const struct device_kind *kind;
	char id[DEV_ID_LEN];		/* id=, or empty: the VM assigns */
	uint64_t seen;			/* the words given (opts_parse) */
	union {
		struct disk_words disk;
		struct net_words net;
	};
};

struct piix;
struct guest_mem;

/* What a kind's create may use: the machine devices realize on, and the
 * VM's facts a device's configuration depends on. Nothing here points
 * back at the VM. */
struct dev_env {
	const struct machine_host *host;
	bool pc;			/* --machine pc */
	struct piix *piix;		/* pc: INTx routing (NULL on virt) */
	unsigned int ncpus;
	int numa_node;			/* guest RAM's node, -1 none */
};

/* One counter of a device for vm.counters: "queue0.requests", 12. */
typedef void dev_counter_fn(void *ctx, const char *name, uint64_t value);

struct device_kind {
	const char *name;		/* "virtio-blk": the API's word */
	const char *option;		/* "disk": --disk, and the id prefix */
	unsigned int max;		/* of this kind in one VM */
	bool hotplug;			/* may be added to a running VM */
	bool (*selects)(const struct dev_config *c);
	/* Words this kind cannot take: -EINVAL after one line on ERR
	 * naming the option and the word. NULL: it takes them all. */
	int (*check)(const struct dev_config *c, const char *arg, FILE *err);
	/* SANDBOX_NEED_* bits a device of this kind needs. */
	unsigned int (*sandbox_needs)(const struct dev_config *c, int numa_node);
	/* Guest RAM must be a shared memfd (a vhost-user backend maps it).
	 * NULL: no. */
	bool (*shared_memory)(const struct dev_config *c);
	/* Builds the device (state CREATED) named ID into *d, on the heap;
	 * device_destroy frees it and all it composed. 0 or -errno, logged
	 * with the id. */
	int (*create)(const struct dev_config *c, const char *id,
		      const struct dev_env *env, struct device **d);
	/* D's counters (core/counters.h), per queue and summed, through
	 * PUT; from the main thread, while the device runs. NULL: none that
	 * tern can count (a kernel or another process moves the data). */
	void (*counters)(struct device *d, dev_counter_fn *put, void *ctx);
};

/* The registry: every kind, in the order vmm/devices.c lists them. */
extern const struct device_kind *const device_kinds[];
extern const unsigned int device_nkinds;

/* The kinds, one file each (vmm/dev_*.c). */
extern const struct device_kind dev_kind_virtio_blk, dev_kind_vhost_user_blk,
	dev_kind_ide, dev_kind_virtio_net, dev_kind_e1000;

/* Parses ARG, the words of --OPTION ("disk", "net"), into C: the words,
 * the kind they select, and the id (id=, else empty). 0, or -EINVAL after
 * one line on ERR ("tern: --disk: ..."), or -ENOMEM. */
int devices_parse(const char *option, const char *arg, struct dev_config *c,
		  FILE *err);

/* *SRC into DST, with the pointers into itself (a disk's d.path) made
 * to point into DST. */
void dev_config_copy(struct dev_config *dst, const struct dev_config *src);

/* The first of KEYS (NULL-ended) given in C's words, or NULL: for a
 * kind's check. */
const char *devices_first_seen(const struct dev_config *c,
			       const char *const *keys);

/* --disk without vhost-user=: path= given and readable (the local disk
 * kinds' check). */
int dev_disk_check_path(const struct dev_config *c, const char *arg,
			FILE *err);

/* A readable file at PATH, or one line on ERR for --OPTION: 0 or
 * -EINVAL. */
int devices_check_file(const char *option, const char *path, FILE *err);

#endif
