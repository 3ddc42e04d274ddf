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

struct ksyms *ksyms__load(const char *path)
{
	unsigned long long addr;
	char type, name[512];
	struct ksyms *ks;
	FILE *f;
	int err = 0;

	f = fopen(path ? path : "/proc/kallsyms", "re");
	if (!f)
		return NULL;
	ks = calloc(1, sizeof(*ks));
	if (!ks) {
		fclose(f);
		return NULL;
	}
	while (fscanf(f, "%llx %c %511s%*[^\n]", &addr, &type, name) == 3) {
		if (type != 't' && type != 'T' && type != 'w' && type != 'W')
			continue;
		if (!addr)
			continue;	/* addresses hidden (kptr_restrict) */
		err = add(ks, addr, name);
		if (err)
			break;
	}
	fclose(f);
	if (err || !ks->n) {
		ksyms__free(ks);
		errno = err ? -err : EPERM;
		return NULL;
	}
	qsort(ks->syms, ks->n, sizeof(*ks->syms), cmp_ksym);
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
