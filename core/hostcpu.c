#include "core/hostcpu.h"

#include "config.h"
#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if HAVE_NUMA
#include <numa.h>

/* libnuma reports through numa_warn, a weak symbol its manual lets a
 * program replace: its own line on stderr would come beside the caller's
 * error, which names the option. Kept at debug level. */
void numa_warn(int num, char *fmt, ...)
{
	char text[256];
	size_t len;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	len = strlen(text);
	while (len && text[len - 1] == '\n')
		text[--len] = '\0';
	log_debug("libnuma", "%s", text);
}

/* Only N and N-M (N <= M < CPU_SETSIZE), comma-separated: libnuma's own
 * parser also takes "all", '!', '+', hexadecimal, and numbers past 32
 * bits wrapped round to small ones. */
static bool cpu_list_plain(const char *t)
{
	for (;;) {
		unsigned long lo, hi;
		char *end;

		if (*t < '0' || *t > '9')
			return false;
		lo = hi = strtoul(t, &end, 10);	/* ULONG_MAX past range */
		t = end;
		if (*t == '-') {
			if (t[1] < '0' || t[1] > '9')
				return false;
			hi = strtoul(t + 1, &end, 10);
			t = end;
		}
		if (lo > hi || hi >= CPU_SETSIZE)
			return false;
		if (!*t)
			return true;
		if (*t++ != ',')
			return false;
	}
}

int hostcpu_list(const char *text, uint16_t *cpu, unsigned int max,
		 unsigned int *n)
{
	struct bitmask *set;

	*n = 0;
	if (!cpu_list_plain(text))
		return -EINVAL;
	set = numa_parse_cpustring_all(text);
	if (!set)
		return -EINVAL;
	/* cpu_set_t holds CPU_SETSIZE CPUs: a larger one could not be set. */
	for (unsigned int c = 0; c < set->size && c < CPU_SETSIZE && *n < max;
	     c++)
		if (numa_bitmask_isbitset(set, c))
			cpu[(*n)++] = (uint16_t)c;
	numa_bitmask_free(set);
	return *n ? 0 : -EINVAL;
}
#else
int hostcpu_list(const char *text, uint16_t *cpu, unsigned int max,
		 unsigned int *n)
{
	*n = 0;
	return -ENOSYS;
}
#endif

int hostcpu_affinity_parse(const char *v, struct cpu_affinity *a,
			   unsigned int max, unsigned int *n)
{
	const char *p = v;

	*n = 0;
	if (*p++ != '[')
		return -EINVAL;
	if (!strcmp(p, "]"))
		return 0;
	for (;;) {
		uint16_t cpu[CPU_SETSIZE];
		char list[1024], *end;
		const char *close;
		unsigned long idx;
		unsigned int ncpu;

		if (*p < '0' || *p > '9')
			return -EINVAL;
		errno = 0;
		idx = strtoul(p, &end, 10);
		if (errno || idx >= HOSTCPU_INDEX_LIMIT || strncmp(end, "@[", 2))
			return -EINVAL;
		p = end + 2;
		close = strchr(p, ']');
		if (!close || close == p || (size_t)(close - p) >= sizeof(list))
			return -EINVAL;
		memcpy(list, p, (size_t)(close - p));
		list[close - p] = '\0';
		if (hostcpu_list(list, cpu, CPU_SETSIZE, &ncpu))
			return -EINVAL;
		for (unsigned int i = 0; i < ncpu; i++) {
			struct cpu_affinity pair = { (uint16_t)idx, cpu[i] };
			unsigned int k = 0;

			while (k < *n && (a[k].index != pair.index ||
					  a[k].cpu != pair.cpu))
				k++;
			if (k < *n)
				continue;
			if (*n == max)
				return -EINVAL;	/* refused, not cut */
			a[(*n)++] = pair;
		}
		p = close + 1;
		if (*p == ']' && !p[1])
			return 0;
		if (*p++ != ',')
			return -EINVAL;
	}
}

int hostcpu_affinity_set(const struct cpu_affinity *a, unsigned int n,
			 unsigned int index, cpu_set_t *set)
{
	CPU_ZERO(set);
	for (unsigned int i = 0; i < n; i++)
		if (a[i].index == index && a[i].cpu < CPU_SETSIZE)
			CPU_SET(a[i].cpu, set);
	return CPU_COUNT(set);
}

const char *hostcpu_text(const cpu_set_t *set, char *buf, size_t len)
{
	size_t used = 0;

	if (!len)
		return buf;
	buf[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE; c++) {
		char item[32];
		int last = c, more = 0;
		size_t need;

		if (!CPU_ISSET(c, set))
			continue;
		while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, set))
			last++;
		for (int k = last + 1; k < CPU_SETSIZE && !more; k++)
			more = CPU_ISSET(k, set);
		if (last == c)
			snprintf(item, sizeof(item), "%s%d", used ? "," : "", c);
		else
			snprintf(item, sizeof(item), "%s%d-%d", used ? "," : "",
				 c, last);
		/* Room for ",..." after it unless it is the last. */
		need = strlen(item) + (more ? 4 : 0);
		if (used + need >= len) {
			const char *mark = used ? ",..." : "...";

			if (len - used > strlen(mark))
				memcpy(buf + used, mark, strlen(mark) + 1);
			break;
		}
		memcpy(buf + used, item, strlen(item) + 1);
		used += strlen(item);
		c = last;
	}
	return buf;
}

int hostcpu_move(const char *who, const cpu_set_t *set, cpu_set_t *landed)
{
	int ret;

	if (!sched_setaffinity(0, sizeof(*set), set)) {
		if (landed && sched_getaffinity(0, sizeof(*landed), landed))
			*landed = *set;
		return 0;
	}
	ret = -errno;
	log_warn(who, "cannot move to its %d CPU(s) (outside tern's "
		 "cpuset?): %s; it runs unpinned", CPU_COUNT(set),
		 strerror(-ret));
	return ret;
}
