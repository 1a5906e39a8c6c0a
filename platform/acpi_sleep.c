#include "platform/acpi_sleep.h"

#include "core/log.h"
#include "core/state.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#define SLP_EN 0x20
#define SLP_TYP(v) (((v) >> 2) & 7)
#define SLP_TYP_S5 5
#define WAK_STS 0x80
#define ACPI_SLEEP_STATE_VERSION 1

enum { TAG_STS = 1 };

static struct acpi_sleep *to_sleep(struct device *d)
{
	return (struct acpi_sleep *)((char *)d - offsetof(struct acpi_sleep,
							  dev));
}

static void sleep_read(void *opaque, uint64_t off, uint8_t *data,
		       uint32_t len)
{
	struct acpi_sleep *s = opaque;

	memset(data, 0, len);
	if (off == 1)
		data[0] = __atomic_load_n(&s->sts, __ATOMIC_RELAXED);
}

static void sleep_write(void *opaque, uint64_t off, const uint8_t *data,
			uint32_t len)
{
	struct acpi_sleep *s = opaque;

	if (off == 0 && (data[0] & SLP_EN)) {
		if (SLP_TYP(data[0]) == SLP_TYP_S5)
			vm_control_request(&s->ctl, VM_REQ_POWEROFF);
		else if (!__atomic_exchange_n(&s->warned, true,
					      __ATOMIC_RELAXED))
			log_warn(s->dev.id, "sleep type %u is not supported "
				 "(logged once)", SLP_TYP(data[0]));
	} else if (off == 1) {
		/* Write 1 to clear. */
		__atomic_and_fetch(&s->sts, (uint8_t)~data[0],
				   __ATOMIC_RELAXED);
	}
}

static const struct bus_ops sleep_bus_ops = {
	.read = sleep_read,
	.write = sleep_write,
};

void acpi_sleep_init(struct acpi_sleep *s, const char *id, uint16_t base)
{
	memset(s, 0, sizeof(*s));
	device_init(&s->dev, &acpi_sleep_ops, id);
	s->base = base;
}

static int sleep_realize(struct device *d, const struct machine_host *h)
{
	struct acpi_sleep *s = to_sleep(d);
	int ret;

	s->ctl = h->ctl;
	ret = bus_register(h->pio, s->base, 2, &sleep_bus_ops, s, d->id);
	if (!ret)
		s->pio = h->pio;
	return ret;
}

static void sleep_unrealize(struct device *d)
{
	struct acpi_sleep *s = to_sleep(d);

	if (s->pio)
		bus_unregister(s->pio, s->base);
	s->pio = NULL;
}

static void sleep_reset(struct device *d)
{
	__atomic_store_n(&to_sleep(d)->sts, 0, __ATOMIC_RELAXED);
}

static int sleep_save(struct device *d, struct state_writer *w)
{
	state_put_u8(w, TAG_STS, __atomic_load_n(&to_sleep(d)->sts,
						 __ATOMIC_RELAXED));
	return 0;
}

static int sleep_load(struct device *d, struct state_reader *r)
{
	uint8_t sts;
	int ret = state_get_u8(r, TAG_STS, &sts);

	if (ret)
		return ret == -ENOENT ? state_bad(d->id, "sts", 0, "missing")
				      : ret;
	if (sts & (uint8_t)~WAK_STS)
		return state_bad(d->id, "sts", sts,
				 "bits other than WAK_STS are reserved");
	__atomic_store_n(&to_sleep(d)->sts, sts, __ATOMIC_RELAXED);
	return 0;
}

const struct device_ops acpi_sleep_ops = {
	.kind = "acpi-sleep",
	.state_version = ACPI_SLEEP_STATE_VERSION,
	.realize = sleep_realize,
	.unrealize = sleep_unrealize,
	.reset = sleep_reset,
	.save = sleep_save,
	.load = sleep_load,
};
