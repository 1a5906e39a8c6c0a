/* fw_cfg: see platform/fw_cfg.h. */
#include "platform/fw_cfg.h"

#include "core/bytes.h"
#include "core/log.h"
#include "core/state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FW_CFG_VERSION_TRADITIONAL 0x01
#define FW_CFG_VERSION_DMA 0x02
#define DIR_ENTRY_LEN 64		/* size, select, reserved, name[56] */
#define DMA_DESC_LEN 16
#define FW_CFG_LOG_MAX 4		/* guest errors logged, then counted */

static int find_key(const struct fw_cfg *f, uint16_t key)
{
	for (unsigned int i = 0; i < f->nitems; i++)
		if (f->items[i].key == key)
			return (int)i;
	return -1;
}

static int add(struct fw_cfg *f, uint16_t key, const char *name,
	       const void *data, uint32_t len)
{
	struct fw_cfg_item *it;
	uint8_t *copy = NULL;

	if (find_key(f, key) >= 0)
		return -EEXIST;
	if (f->nitems == FW_CFG_MAX_ITEMS)
		return -ENOSPC;
	if (len) {
		copy = malloc(len);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, data, len);
	}
	it = &f->items[f->nitems++];
	memset(it, 0, sizeof(*it));
	it->key = key;
	snprintf(it->name, sizeof(it->name), "%s", name);
	it->data = copy;
	it->len = len;
	return 0;
}

/* The directory: a be32 count, then per file be32 size, be16 select,
 * be16 reserved and the NUL-padded name, in the order files came. */
static int dir_rebuild(struct fw_cfg *f)
{
	uint32_t len = 4 + f->nfiles * DIR_ENTRY_LEN;
	uint8_t *d = calloc(1, len), *e;
	int i;

	if (!d)
		return -ENOMEM;
	put_be32(d, f->nfiles);
	e = d + 4;
	for (unsigned int k = 0; k < f->nfiles; k++, e += DIR_ENTRY_LEN) {
		i = find_key(f, (uint16_t)(FW_CFG_FILE_FIRST + k));
		put_be32(e, f->items[i].len);
		put_be16(e + 4, f->items[i].key);
		memcpy(e + 8, f->items[i].name, FW_CFG_NAME_LEN);
	}
	i = find_key(f, FW_CFG_FILE_DIR);
	free(f->items[i].data);
	f->items[i].data = d;
	f->items[i].len = len;
	return 0;
}

int fw_cfg_init(struct fw_cfg *f, const char *name,
		const struct guest_mem *mem)
{
	uint8_t id[4];
	int ret;

	memset(f, 0, sizeof(*f));
	device_init(&f->dev, &fw_cfg_device_ops, name);
	f->name = f->dev.id;
	f->mem = mem;
	f->sel = -1;
	pthread_mutex_init(&f->lock, NULL);
	put_le32(id, FW_CFG_VERSION_TRADITIONAL | FW_CFG_VERSION_DMA);
	ret = add(f, FW_CFG_SIGNATURE, "", "QEMU", 4);
	ret = ret ?: add(f, FW_CFG_ID, "", id, sizeof(id));
	ret = ret ?: add(f, FW_CFG_FILE_DIR, "", NULL, 0);
	ret = ret ?: dir_rebuild(f);
	if (ret)
		fw_cfg_destroy(f);
	return ret;
}

void fw_cfg_destroy(struct fw_cfg *f)
{
	for (unsigned int i = 0; i < f->nitems; i++)
		free(f->items[i].data);
	f->nitems = f->nfiles = 0;
	pthread_mutex_destroy(&f->lock);
}

int fw_cfg_add_item(struct fw_cfg *f, uint16_t key, const void *data,
		    uint32_t len)
{
	if (key == FW_CFG_FILE_DIR ||
	    (key >= FW_CFG_FILE_FIRST &&
	     key < FW_CFG_FILE_FIRST + FW_CFG_MAX_FILES))
		return -EINVAL;
	return add(f, key, "", data, len);
}

int fw_cfg_add_file(struct fw_cfg *f, const char *name, const void *data,
		    uint32_t len)
{
	size_t n = strlen(name);
	int ret;

	if (!n || n >= FW_CFG_NAME_LEN)
		return -EINVAL;
	if (fw_cfg_find_file(f, name))
		return -EEXIST;
	if (f->nfiles == FW_CFG_MAX_FILES)
		return -ENOSPC;
	ret = add(f, (uint16_t)(FW_CFG_FILE_FIRST + f->nfiles), name, data,
		  len);
	if (ret)
		return ret;
	f->nfiles++;
	ret = dir_rebuild(f);
	if (ret) {
		/* Take the file back out: the directory must list all. */
		f->nfiles--;
		free(f->items[--f->nitems].data);
	}
	return ret;
}

const struct fw_cfg_item *fw_cfg_find_file(const struct fw_cfg *f,
					   const char *name)
{
	for (unsigned int i = 0; i < f->nitems; i++)
		if (f->items[i].name[0] && !strcmp(f->items[i].name, name))
			return &f->items[i];
	return NULL;
}

/* With the lock held. An unknown key selects nothing: reads give 0. */
static void select_key(struct fw_cfg *f, uint16_t key)
{
	f->sel = find_key(f, key);
	f->off = 0;
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* With the lock held: the descriptor is copied once, so a guest changing
 * it meanwhile changes nothing; every range is checked against RAM. */
static int dma_run(struct fw_cfg *f, uint64_t desc_gpa)
{
	uint8_t *desc = guest_mem_ptr(f->mem, desc_gpa, DMA_DESC_LEN);
	uint8_t d[DMA_DESC_LEN];
	uint32_t control, length, avail, n;
	const struct fw_cfg_item *it;
	uint64_t addr;
	uint8_t *buf;
	int ret = 0;

	if (!desc) {
		/* Nowhere to report to: the guest waits on a descriptor we
		 * cannot see. Counted, the first few logged, nothing
		 * touched. */
		if (f->dma_errors++ < FW_CFG_LOG_MAX)
			log_warn(f->name, "DMA descriptor at 0x%llx is outside "
				 "RAM", (unsigned long long)desc_gpa);
		return -EFAULT;
	}
	memcpy(d, desc, sizeof(d));
	control = get_be32(d);
	length = get_be32(d + 4);
	addr = get_be64(d + 8);

	if (control & FW_CFG_DMA_SELECT)
		select_key(f, (uint16_t)(control >> 16));
	it = f->sel >= 0 ? &f->items[f->sel] : NULL;
	avail = it && f->off < it->len ? it->len - f->off : 0;
	if (control & FW_CFG_DMA_READ) {
		buf = length ? guest_mem_ptr(f->mem, addr, length) : NULL;
		if (length && !buf) {
			ret = -EFAULT;
			goto out;
		}
		n = length < avail ? length : avail;
		if (n)
			memcpy(buf, it->data + f->off, n);
		if (length > n)		/* past the end: zeros */
			memset(buf + n, 0, length - n);
		f->off += n;
	} else if (control & FW_CFG_DMA_WRITE) {
		ret = -EINVAL;		/* nothing is writable */
	} else if (control & FW_CFG_DMA_SKIP) {
		f->off += length < avail ? length : avail;
	}
out:
	if (ret && f->dma_errors++ < FW_CFG_LOG_MAX)
		log_warn(f->name, "DMA %s of %u bytes at 0x%llx refused (%s)",
			 control & FW_CFG_DMA_WRITE ? "write" : "read", length,
			 (unsigned long long)addr,
			 ret == -EINVAL ? "nothing is writable" :
					  "not inside RAM");
	/* The data is in place before the guest can see control change:
	 * this fence pairs with the guest's read of control in its wait
	 * loop, before it reads the buffer. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	put_be32(d, ret ? FW_CFG_DMA_ERROR : 0);
	memcpy(desc, d, 4);
	return ret;
}

int fw_cfg_dma(struct fw_cfg *f, uint64_t desc)
{
	int ret;

	pthread_mutex_lock(&f->lock);
	ret = dma_run(f, desc);
	pthread_mutex_unlock(&f->lock);
	return ret;
}

static void fw_cfg_read(void *opaque, uint64_t off, uint8_t *data,
			uint32_t len)
{
	struct fw_cfg *f = opaque;
	uint8_t sig[8];

	memset(data, 0, len);
	pthread_mutex_lock(&f->lock);
	if (off == 1 && len == 1) {
		const struct fw_cfg_item *it =
			f->sel >= 0 ? &f->items[f->sel] : NULL;

		if (it && f->off < it->len)
			data[0] = it->data[f->off++];
	} else if (off >= 4 && off + len <= 12) {
		put_be32(sig, (uint32_t)(FW_CFG_DMA_SIGNATURE >> 32));
		put_be32(sig + 4, (uint32_t)FW_CFG_DMA_SIGNATURE);
		memcpy(data, sig + (off - 4), len);
	}
	pthread_mutex_unlock(&f->lock);
}

static void fw_cfg_write(void *opaque, uint64_t off, const uint8_t *data,
			 uint32_t len)
{
	struct fw_cfg *f = opaque;

	pthread_mutex_lock(&f->lock);
	if (off == 0 && len == 2) {
		select_key(f, (uint16_t)bus_get(data, len));
	} else if (off == 4 && len == 4) {
		/* The port's bytes are the address's, most significant
		 * first. */
		f->dma_addr = (f->dma_addr & 0xffffffffULL) |
			      (uint64_t)get_be32(data) << 32;
	} else if (off == 8 && len == 4) {
		f->dma_addr = (f->dma_addr & ~0xffffffffULL) | get_be32(data);
		dma_run(f, f->dma_addr);
		f->dma_addr = 0;
	}
	pthread_mutex_unlock(&f->lock);
}

const struct bus_ops fw_cfg_ops = {
	.read = fw_cfg_read,
	.write = fw_cfg_write,
};

/* --- lifecycle ------------------------------------------------------ */

#define FW_CFG_STATE_VERSION 1

enum { TAG_SELECTED = 1, TAG_KEY, TAG_OFF, TAG_DMA_ADDR };

static struct fw_cfg *to_fw_cfg(struct device *d)
{
	return (struct fw_cfg *)((char *)d - offsetof(struct fw_cfg, dev));
}

static int fw_cfg_realize(struct device *d, const struct machine_host *h)
{
	struct fw_cfg *f = to_fw_cfg(d);
	int ret = bus_register(h->pio, FW_CFG_PORT_SEL, FW_CFG_PORTS,
			       &fw_cfg_ops, f, d->id);

	if (!ret)
		f->pio = h->pio;
	return ret;
}

static void fw_cfg_unrealize(struct device *d)
{
	struct fw_cfg *f = to_fw_cfg(d);

	if (f->pio)
		bus_unregister(f->pio, FW_CFG_PORT_SEL);
	f->pio = NULL;
}

static void fw_cfg_reset(struct device *d)
{
	struct fw_cfg *f = to_fw_cfg(d);

	pthread_mutex_lock(&f->lock);
	f->sel = -1;
	f->off = 0;
	f->dma_addr = 0;
	pthread_mutex_unlock(&f->lock);
}

static int fw_cfg_save(struct device *d, struct state_writer *w)
{
	struct fw_cfg *f = to_fw_cfg(d);

	pthread_mutex_lock(&f->lock);
	state_put_u8(w, TAG_SELECTED, f->sel >= 0);
	state_put_u16(w, TAG_KEY, f->sel >= 0 ? f->items[f->sel].key : 0);
	state_put_u32(w, TAG_OFF, f->off);
	state_put_u64(w, TAG_DMA_ADDR, f->dma_addr);
	pthread_mutex_unlock(&f->lock);
	return 0;
}

/* The key must name an item this VM has, and the offset lie inside it
 * (at its end once read through); with nothing selected the offset is
 * 0. The DMA register holds at most its high half between the two
 * writes (the low half's write runs the transfer and clears it). */
static int fw_cfg_load(struct device *d, struct state_reader *r)
{
	struct fw_cfg *f = to_fw_cfg(d);
	uint8_t selected;
	uint16_t key;
	uint32_t off;
	uint64_t dma;
	int sel = -1, ret;

	ret = state_get_u8(r, TAG_SELECTED, &selected);
	ret = ret ?: state_get_u16(r, TAG_KEY, &key);
	ret = ret ?: state_get_u32(r, TAG_OFF, &off);
	ret = ret ?: state_get_u64(r, TAG_DMA_ADDR, &dma);
	if (ret)
		return ret == -ENOENT ? state_bad(d->id, "selected/key/off/"
						  "dma", 0, "missing") : ret;
	if (selected > 1)
		return state_bad(d->id, "selected", selected, "not a flag");
	if (selected) {
		sel = find_key(f, key);
		if (sel < 0)
			return state_bad(d->id, "key", key, "no such item");
		if (off > f->items[sel].len)
			return state_bad(d->id, "off", off, "past the item");
	} else if (off) {
		return state_bad(d->id, "off", off, "nothing selected");
	}
	if (dma & 0xffffffffULL)
		return state_bad(d->id, "dma", dma, "low half set");
	pthread_mutex_lock(&f->lock);
	f->sel = sel;
	f->off = off;
	f->dma_addr = dma;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static void fw_cfg_device_destroy(struct device *d)
{
	fw_cfg_destroy(to_fw_cfg(d));
}

const struct device_ops fw_cfg_device_ops = {
	.kind = "fw_cfg",
	.state_version = FW_CFG_STATE_VERSION,
	.realize = fw_cfg_realize,
	.unrealize = fw_cfg_unrealize,
	.reset = fw_cfg_reset,
	.save = fw_cfg_save,
	.load = fw_cfg_load,
	.destroy = fw_cfg_device_destroy,
};
