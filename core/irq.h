/* Interrupt lines as devices see them: a level, set by the device. Edge
 * semantics (ISA) come from the IOAPIC pin's programming, not from here. */
#ifndef TERN_CORE_IRQ_H
#define TERN_CORE_IRQ_H

#include <stdint.h>

struct irq_line {
	/* Sets GSI `gsi` to `level` (0 or 1); returns 0 or -errno. */
	int (*set)(void *opaque, uint32_t gsi, int level);
	void *opaque;
	uint32_t gsi;
};

static inline int irq_line_set(const struct irq_line *line, int level)
{
	return line->set ? line->set(line->opaque, line->gsi, level) : 0;
}

#endif
