#include "core/opts.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int opts_error(FILE *err, const char *option, const char *fmt, ...)
{
	va_list ap;

	fprintf(err, "tern: --%s: ", option);
	va_start(ap, fmt);
	vfprintf(err, fmt, ap);
	va_end(ap);
	fputc('\n', err);
	return -EINVAL;
}

int opts_uint(const char *s, unsigned long long min, unsigned long long max,
	      unsigned long long *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end || *out < min || *out > max ? -EINVAL : 0;
}

int opts_index(const struct opts_table *t, const char *key)
{
	for (unsigned int i = 0; i < t->nspecs; i++)
		if (!strcmp(t->specs[i].key, key))
			return (int)i;
	return -1;
}

static void store_uint(void *field, size_t size, unsigned long long v)
{
	switch (size) {
	case 1: *(uint8_t *)field = (uint8_t)v; break;
	case 2: *(uint16_t *)field = (uint16_t)v; break;
	case 4: *(uint32_t *)field = (uint32_t)v; break;
	default: *(uint64_t *)field = v; break;
	}
}

/* "a, b or c" from a NULL-ended list. */
static void print_choices(FILE *err, const char *const *c)
{
	for (unsigned int i = 0; c[i]; i++)
		fprintf(err, "%s%s", i == 0 ? "" : c[i + 1] ? ", " : " or ",
			c[i]);
}

static int reject(FILE *err, const struct opts_table *t,
		  const struct opt_spec *s, const char *value)
{
	fprintf(err, "tern: --%s: %s=%s: ", t->option, s->key, value);
	switch (s->type) {
	case OPT_UINT:
		fprintf(err, "give %llu to %llu", s->min, s->max);
		break;
	case OPT_POW2:
		fprintf(err, "give a power of two from %llu to %llu", s->min,
			s->max);
		break;
	case OPT_BOOL:
		fputs("on or off", err);
		break;
	case OPT_CHOICE:
		print_choices(err, s->choices);
		break;
	case OPT_FUNC:
		fputs(s->help, err);
		break;
	}
	fputc('\n', err);
	return -EINVAL;
}

static int unknown(FILE *err, const struct opts_table *t, const char *key)
{
	fprintf(err, "tern: --%s: unknown parameter '%s' (", t->option, key);
	for (unsigned int i = 0; i < t->nspecs; i++)
		fprintf(err, "%s%s=", i ? ", " : "", t->specs[i].key);
	fputs(")\n", err);
	return -EINVAL;
}

static int set(const struct opts_table *t, const struct opt_spec *s,
	       const char *value, void *target, FILE *err)
{
	void *field = (uint8_t *)target + s->offset;
	unsigned long long v;
	int ret;

	switch (s->type) {
	case OPT_UINT:
	case OPT_POW2:
		if (opts_uint(value, s->min, s->max, &v) ||
		    (s->type == OPT_POW2 && (v & (v - 1))))
			return reject(err, t, s, value);
		store_uint(field, s->size, v);
		return 0;
	case OPT_BOOL:
		if (strcmp(value, "on") && strcmp(value, "off"))
			return reject(err, t, s, value);
		*(bool *)field = !strcmp(value, "on");
		return 0;
	case OPT_CHOICE:
		for (int i = 0; s->choices[i]; i++)
			if (!strcmp(value, s->choices[i])) {
				*(int *)field = i;
				return 0;
			}
		return reject(err, t, s, value);
	case OPT_FUNC:
		ret = s->parse(target, value);
		return ret == -EINVAL ? reject(err, t, s, value) : ret;
	}
	return -EINVAL;
}

/* The index of the spec whose key is the LEN bytes at KEY, or -1. */
static int key_index(const struct opts_table *t, const char *key, size_t len)
{
	for (unsigned int i = 0; i < t->nspecs; i++)
		if (strlen(t->specs[i].key) == len &&
		    !strncmp(t->specs[i].key, key, len))
			return (int)i;
	return -1;
}

/* The next word of *S, cut at the next ','; a list word's value that
 * opens with '[' (KEY=[...]) runs to its matching ']' and may hold commas
 * and brackets of its own. *S moves past the word. NULL when no word is
 * left; empty words are skipped, as strtok's. *UNCLOSED: a list value
 * whose '[' nothing closes (it took the rest of the string). */
static char *next_word(const struct opts_table *t, char **s, bool *unclosed)
{
	char *w = *s, *p;
	size_t klen;
	int depth = 0, i;

	*unclosed = false;
	while (*w == ',')
		w++;
	if (!*w)
		return NULL;
	klen = strcspn(w, "=,");
	p = w + klen;
	if (*p == '=' && p[1] == '[' && (i = key_index(t, w, klen)) >= 0 &&
	    t->specs[i].list) {
		for (p++; *p && (*p != ',' || depth > 0); p++) {
			if (*p == '[')
				depth++;
			else if (*p == ']' && depth > 0)
				depth--;
		}
		*unclosed = depth > 0;
	} else {
		p = w + strcspn(w, ",");
	}
	if (*p)
		*p++ = '\0';
	*s = p;
	return w;
}

int opts_parse(const struct opts_table *t, const char *arg, void *target,
	       uint64_t *seen, FILE *err)
{
	char *copy = strdup(arg), *tok, *rest = copy;
	bool first = true, unclosed;
	int ret = 0;

	*seen = 0;
	if (!copy)
		return -ENOMEM;
	for (tok = next_word(t, &rest, &unclosed); tok && !ret;
	     tok = next_word(t, &rest, &unclosed), first = false) {
		char *value = strchr(tok, '=');
		const char *key = tok;
		int i;

		if (unclosed) {
			ret = opts_error(err, t->option, "%s: no ']' closes "
					 "its '['", tok);
			break;
		}
		if (value) {
			*value++ = 0;
		} else if (first && t->bare_key) {
			key = t->bare_key;
			value = tok;
		} else {
			ret = opts_error(err, t->option, "'%s' is not KEY=VALUE",
					 tok);
			break;
		}
		i = opts_index(t, key);
		if (i < 0) {
			ret = unknown(err, t, key);
			break;
		}
		ret = set(t, &t->specs[i], value, target, err);
		*seen |= 1ULL << i;
	}
	free(copy);
	return ret;
}
