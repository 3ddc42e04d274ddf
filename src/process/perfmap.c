// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * perfmap.c - /tmp/perf-PID.map text to a sorted symbol array. Parsing is
 * by hand over a bounded copy of each line, never past len: the text is
 * whatever the target wrote, NUL bytes included.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "process/perfmap.h"

static int cmp_sym(const void *a, const void *b)
{
	const struct perfmap_sym *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* A hex number (optional 0x) at *p; false if there is none or it
 * overflows 64 bits. */
static bool hex_u64(const char **p, const char *end, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	int digits = 0;

	if (end - s > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	for (; s < end; s++, digits++) {
		int d;

		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			break;
		if (v >> 60)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	if (!digits)
		return false;
	*p = s;
	*out = v;
	return true;
}

static const char *skip_blanks(const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	return s;
}

/* One line [s, end) without its '\n'. 0 (added or skipped) or -ENOMEM. */
static int parse_line(struct perfmap *pm, const char *s, const char *end)
{
	uint64_t start, size;
	size_t nlen;
	char *name;

	s = skip_blanks(s, end);
	if (!hex_u64(&s, end, &start) || s == end || (*s != ' ' && *s != '\t'))
		return 0;
	s = skip_blanks(s, end);
	if (!hex_u64(&s, end, &size) || s == end || (*s != ' ' && *s != '\t'))
		return 0;
	s = skip_blanks(s, end);
	while (end > s && (end[-1] == '\r' || end[-1] == ' '))
		end--;
	/* an empty range, or one at the very top that would clamp to empty */
	if (!size || start == UINT64_MAX || s == end)
		return 0;
	nlen = (size_t)(end - s);
	if (nlen > PERFMAP_NAME_MAX)
		nlen = PERFMAP_NAME_MAX;
	/* a NUL inside the name ends it */
	nlen = strnlen(s, nlen);
	if (!nlen)
		return 0;
	if (pm->n == pm->cap) {
		size_t cap = pm->cap ? pm->cap * 2 : 256;
		struct perfmap_sym *v = realloc(pm->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		pm->v = v;
		pm->cap = cap;
	}
	name = strndup(s, nlen);
	if (!name)
		return -ENOMEM;
	pm->v[pm->n].start = start;
	pm->v[pm->n].end = start + size < start ? UINT64_MAX : start + size;
	pm->v[pm->n].name = name;
	pm->n++;
	return 0;
}

int perfmap__parse(struct perfmap *pm, const char *text, size_t len,
		   size_t *used)
{
	const char *p = text, *end = text + len;
	size_t before = pm->n;
	int err = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (!nl)
			break;
		err = parse_line(pm, p, nl);
		if (err)
			break;
		p = nl + 1;
	}
	if (used)
		*used = (size_t)(p - text);
	if (pm->n > before)
		qsort(pm->v, pm->n, sizeof(*pm->v), cmp_sym);
	return err;
}

const struct perfmap_sym *perfmap__find(const struct perfmap *pm,
					uint64_t addr)
{
	size_t lo = 0, hi = pm->n;

	/* the last symbol starting at or below addr: JITs reuse addresses,
	 * and ranges may overlap, so ends are not sorted with starts */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pm->v[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo && addr < pm->v[lo - 1].end)
		return &pm->v[lo - 1];
	return NULL;
}

void perfmap__clear(struct perfmap *pm)
{
	size_t i;

	if (!pm)
		return;
	for (i = 0; i < pm->n; i++)
		free(pm->v[i].name);
	free(pm->v);
	memset(pm, 0, sizeof(*pm));
}
