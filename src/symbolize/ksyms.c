// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ksyms.c - /proc/kallsyms as a sorted array searched by address. Only text
 * symbols (t/T/w/W) are kept; module symbols keep their "[module]" suffix
 * out of the name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize/ksyms.h"
#include "util/fileio.h"

struct ksym {
	uint64_t addr;
	size_t name_off;
};

struct ksyms {
	struct ksym *syms;
	size_t n, cap;
	char *names;
	size_t names_len, names_cap;
};

static int cmp_ksym(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int add(struct ksyms *ks, uint64_t addr, const char *name)
{
	size_t len = strlen(name) + 1;

	if (ks->n == ks->cap) {
		size_t cap = ks->cap ? ks->cap * 2 : 65536;
		struct ksym *s = realloc(ks->syms, cap * sizeof(*s));

		if (!s)
			return -ENOMEM;
		ks->syms = s;
		ks->cap = cap;
	}
	if (ks->names_len + len > ks->names_cap) {
		size_t cap = ks->names_cap ? ks->names_cap * 2 : 1 << 20;
		char *n;

		while (cap < ks->names_len + len)
			cap *= 2;
		n = realloc(ks->names, cap);
		if (!n)
			return -ENOMEM;
		ks->names = n;
		ks->names_cap = cap;
	}
	memcpy(ks->names + ks->names_len, name, len);
	ks->syms[ks->n].addr = addr;
	ks->syms[ks->n].name_off = ks->names_len;
	ks->names_len += len;
	ks->n++;
	return 0;
}

/* One "ADDR TYPE NAME [module]" line [p, end): a text symbol or nothing. */
static int parse_line(struct ksyms *ks, const char *p, const char *end)
{
	char name[512], *num_end;
	unsigned long long addr;
	const char *q;
	char type, buf[32];
	size_t n;

	/* the address: hex digits, copied so strtoull stops inside the line */
	for (n = 0; p + n < end && n < sizeof(buf) - 1 && p[n] != ' '; n++)
		buf[n] = p[n];
	buf[n] = '\0';
	addr = strtoull(buf, &num_end, 16);
	if (!n || *num_end || p + n + 3 > end || p[n] != ' ' ||
	    p[n + 2] != ' ')
		return 0;
	type = p[n + 1];
	if (type != 't' && type != 'T' && type != 'w' && type != 'W')
		return 0;
	if (!addr)
		return 0;	/* addresses hidden (kptr_restrict) */
	p += n + 3;
	for (q = p; q < end && *q != ' ' && *q != '\t' && *q != '\0'; q++)
		;
	n = (size_t)(q - p);
	if (!n)
		return 0;
	if (n >= sizeof(name))
		n = sizeof(name) - 1;
	memcpy(name, p, n);
	name[n] = '\0';
	return add(ks, addr, name);
}

struct ksyms *ksyms__parse(const char *text, size_t len)
{
	const char *p = text, *end = text + len;
	struct ksyms *ks;
	int err = 0;

	ks = calloc(1, sizeof(*ks));
	if (!ks)
		return NULL;
	while (p < end && !err) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;

		err = parse_line(ks, p, le);
		p = nl ? nl + 1 : end;
	}
	if (err || !ks->n) {
		ksyms__free(ks);
		errno = err ? -err : EPERM;
		return NULL;
	}
	qsort(ks->syms, ks->n, sizeof(*ks->syms), cmp_ksym);
	return ks;
}

struct ksyms *ksyms__load(const char *path)
{
	struct ksyms *ks;
	char *text;
	size_t len;
	int err;

	/* /proc/kallsyms is ~10 MiB with modules; 256 MiB is a runaway */
	err = fileio__read_text(path ? path : "/proc/kallsyms", 0, 256u << 20,
				&text, &len);
	if (err) {
		errno = -err;
		return NULL;
	}
	ks = ksyms__parse(text, len);
	err = errno;
	free(text);
	errno = err;
	return ks;
}

void ksyms__free(struct ksyms *ks)
{
	if (!ks)
		return;
	free(ks->syms);
	free(ks->names);
	free(ks);
}

const char *ksyms__lookup(const struct ksyms *ks, uint64_t addr,
			  uint64_t *off)
{
	size_t lo = 0, hi;

	if (!ks || !ks->n || addr < ks->syms[0].addr)
		return NULL;
	hi = ks->n;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (ks->syms[mid].addr <= addr)
			lo = mid;
		else
			hi = mid;
	}
	if (off)
		*off = addr - ks->syms[lo].addr;
	return ks->names + ks->syms[lo].name_off;
}
