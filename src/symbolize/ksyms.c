// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * ksyms.c - /proc/kallsyms as a sorted array searched by address. Only text
 * symbols (t/T/w/W) are kept. kallsyms gives no sizes, so each symbol ends
 * at the next one and at the end of its section: core text at _etext, init
 * text at _einittext, a module's text where the next module's starts, and
 * the last symbol of all within KSYMS_TAIL_MAX. Without those bounds every
 * address past the core (modules, BPF programs, trampolines) was named after
 * the last core symbol, _einittext. Module symbols drop their "[module]"
 * suffix; BPF programs ("bpf_prog_<tag>_<name> [bpf]") are named
 * "bpf_prog:<name>", the name their loader gave them.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize/ksyms.h"
#include "util/fileio.h"

/* How far the very last symbol may reach: kallsyms has no size for it. */
#define KSYMS_TAIL_MAX	(64 * 1024ULL)
#define BPF_TAG_LEN	16	/* hex digits of a program tag */

struct ksym {
	uint64_t addr, end;
	size_t name_off;
	size_t mod_off;		/* module name, or 0 ("" = core kernel) */
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

/* Append s to the names buffer; its offset, or -ENOMEM. */
static long long names__add(struct ksyms *ks, const char *s)
{
	size_t len = strlen(s) + 1, off;

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
	off = ks->names_len;
	memcpy(ks->names + off, s, len);
	ks->names_len += len;
	return (long long)off;
}

/* "bpf_prog_<16 hex>_<name>" -> "bpf_prog:<name>" into buf; other names
 * unchanged. */
static const char *bpf_name(const char *name, char *buf, size_t len)
{
	const char *p = name + strlen("bpf_prog_");
	size_t i;

	if (strncmp(name, "bpf_prog_", strlen("bpf_prog_")))
		return name;
	for (i = 0; i < BPF_TAG_LEN; i++) {
		if (!strchr("0123456789abcdef", p[i]) || !p[i])
			return name;
	}
	if (p[BPF_TAG_LEN] != '_' || !p[BPF_TAG_LEN + 1])
		return name;
	snprintf(buf, len, "bpf_prog:%s", p + BPF_TAG_LEN + 1);
	return buf;
}

static int add(struct ksyms *ks, uint64_t addr, const char *name,
	       const char *mod)
{
	char buf[600];
	long long noff, moff = 0;

	if (ks->n == ks->cap) {
		size_t cap = ks->cap ? ks->cap * 2 : 65536;
		struct ksym *s = realloc(ks->syms, cap * sizeof(*s));

		if (!s)
			return -ENOMEM;
		ks->syms = s;
		ks->cap = cap;
	}
	if (ks->names_len == 0 && names__add(ks, "") < 0)
		return -ENOMEM;	/* offset 0: the core kernel's "" */
	if (!strcmp(mod, "bpf"))
		name = bpf_name(name, buf, sizeof(buf));
	noff = names__add(ks, name);
	if (noff >= 0 && mod[0])
		moff = names__add(ks, mod);
	if (noff < 0 || moff < 0)
		return -ENOMEM;
	ks->syms[ks->n] = (struct ksym){
		.addr = addr, .name_off = (size_t)noff, .mod_off = (size_t)moff,
	};
	ks->n++;
	return 0;
}

static const char *mod_of(const struct ksyms *ks, const struct ksym *s)
{
	return ks->names + s->mod_off;
}

static bool is_name(const struct ksyms *ks, const struct ksym *s,
		    const char *name)
{
	return !s->mod_off && !strcmp(ks->names + s->name_off, name);
}

/* Give every symbol its end (see the file comment). */
static void bound(struct ksyms *ks)
{
	uint64_t etext = 0, sinit = 0, einit = 0;
	size_t i;

	for (i = 0; i < ks->n; i++) {
		struct ksym *s = &ks->syms[i];

		if (is_name(ks, s, "_etext"))
			etext = s->addr;
		else if (is_name(ks, s, "_sinittext"))
			sinit = s->addr;
		else if (is_name(ks, s, "_einittext"))
			einit = s->addr;
	}
	for (i = 0; i < ks->n; i++) {
		struct ksym *s = &ks->syms[i];
		uint64_t end = i + 1 < ks->n ? ks->syms[i + 1].addr :
					       s->addr + KSYMS_TAIL_MAX;

		/* a module's last symbol must not run on to whatever
		 * follows it (the next module, a BPF program) far away */
		if (i + 1 < ks->n && strcmp(mod_of(ks, s),
					    mod_of(ks, &ks->syms[i + 1])) &&
		    end - s->addr > KSYMS_TAIL_MAX && s->mod_off)
			end = s->addr + KSYMS_TAIL_MAX;
		if (!s->mod_off) {
			if (is_name(ks, s, "_etext") ||
			    is_name(ks, s, "_einittext"))
				end = s->addr;	/* markers, not code */
			else if (etext && s->addr < etext && end > etext)
				end = etext;
			else if (einit && s->addr >= sinit &&
				 s->addr < einit && end > einit)
				end = einit;
			else if (einit && s->addr >= einit &&
				 end - s->addr > KSYMS_TAIL_MAX)
				end = s->addr + KSYMS_TAIL_MAX;
		}
		s->end = end;
	}
}

/* One "ADDR TYPE NAME [module]" line [p, end): a text symbol or nothing.
 * The text is the kernel's, but bounded parsing costs nothing and keeps a
 * malformed line (a fuzzer's, a future format) from reading past it. */
static int parse_line(struct ksyms *ks, const char *p, const char *end)
{
	char name[512], mod[128], *num_end;
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
	/* an optional "\t[module]" */
	mod[0] = '\0';
	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	if (q < end && *q == '[') {
		const char *m = ++q;

		while (q < end && *q != ']')
			q++;
		n = (size_t)(q - m);
		if (q < end && n && n < sizeof(mod)) {
			memcpy(mod, m, n);
			mod[n] = '\0';
		}
	}
	return add(ks, addr, name, mod);
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
	bound(ks);
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

int ksyms__reload(struct ksyms *ks, const char *path)
{
	struct ksyms *fresh;

	if (!ks)
		return -EINVAL;
	fresh = ksyms__load(path);
	if (!fresh)
		return -errno;
	free(ks->syms);
	free(ks->names);
	*ks = *fresh;
	free(fresh);
	return 0;
}

void ksyms__free(struct ksyms *ks)
{
	if (!ks)
		return;
	free(ks->syms);
	free(ks->names);
	free(ks);
}

/* The symbol containing addr, or NULL. */
static const struct ksym *find(const struct ksyms *ks, uint64_t addr)
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
	return addr < ks->syms[lo].end ? &ks->syms[lo] : NULL;
}

const char *ksyms__lookup(const struct ksyms *ks, uint64_t addr,
			  uint64_t *off)
{
	const struct ksym *s = find(ks, addr);

	if (!s)
		return NULL;
	if (off)
		*off = addr - s->addr;
	return ks->names + s->name_off;
}

const char *ksyms__module(const struct ksyms *ks, uint64_t addr)
{
	const struct ksym *s = find(ks, addr);

	return s ? mod_of(ks, s) : NULL;
}
