// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * symbolize.c - an address of an ELF module to function and source line.
 *
 * Inlined calls come out as separate frames, innermost first (the order
 * pprof wants for a Location's lines): the DWARF scopes containing the
 * address are walked from the innermost DW_TAG_inlined_subroutine out to
 * the DW_TAG_subprogram; each inlined scope's DW_AT_call_file/call_line is
 * the line in its caller. Function names come from DWARF (linkage name,
 * else name) or, for the outermost frame and for code without DWARF, from
 * the ELF symbol tables (debuginfo's .symtab when libdwfl finds it by build
 * ID or .gnu_debuglink, else .dynsym). C++ names are demangled with the
 * C++ runtime's __cxa_demangle. The address, module and build ID are
 * always kept so a backend can symbolize later what we could not.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <gelf.h>

#include "symbolize/symbolize.h"

/* From the C++ runtime (libstdc++), the demangler every toolchain ships. */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len,
			    int *status);

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Demangled copy of name (a plain copy if it is not a C++ name), without a
 * symbol version suffix ("__libc_start_main@@GLIBC_2.34"). */
char *symbolize__demangle(const char *name)
{
	char *out, *at;
	int status = -1;

	if (!name)
		return NULL;
	if (!strncmp(name, "_Z", 2)) {
		char *plain = strdup(name);

		if (!plain)
			return NULL;
		at = strchr(plain, '@');
		if (at)
			*at = '\0';
		out = __cxa_demangle(plain, NULL, NULL, &status);
		free(plain);
		if (out && status == 0)
			return out;
		free(out);
	}
	out = strdup(name);
	if (out) {
		at = strchr(out, '@');
		if (at && at != out)
			*at = '\0';
	}
	return out;
}

void sym_result__clear(struct sym_result *r)
{
	int i;

	if (!r)
		return;
	for (i = 0; i < r->n_frames; i++) {
		free(r->frames[i].function);
		free(r->frames[i].file);
	}
	memset(r, 0, sizeof(*r));
}

static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *name;

	/* follows DW_AT_abstract_origin / DW_AT_specification */
	if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
	    dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr)) {
		name = dwarf_formstring(&attr);
		if (name)
			return name;
	}
	if (dwarf_attr_integrate(die, DW_AT_name, &attr))
		return dwarf_formstring(&attr);
	return NULL;
}

/* Inline chain at addr: fills frames[0..] innermost first with names and
 * the call-site lines of the callers. Returns the number of frames, 0 when
 * the address is not inside an inlined call. */
/* The compile unit whose ranges hold addr. dwfl_module_addrdie trusts
 * .debug_aranges, and a cgo binary has them only for its C units: for an
 * address in Go code it names the nearest C unit, whose lines are wrong.
 * Such an answer is checked and the units searched instead. */
static Dwarf_Die *cu_of(Dwfl_Module *mod, uint64_t addr, Dwarf_Addr *bias)
{
	Dwarf_Die *cu = dwfl_module_addrdie(mod, addr, bias);

	if (cu && dwarf_haspc(cu, addr - *bias) > 0)
		return cu;
	for (cu = NULL; (cu = dwfl_module_nextcu(mod, cu, bias)) != NULL;)
		if (dwarf_haspc(cu, addr - *bias) > 0)
			return cu;
	return NULL;
}

static int inline_chain(Dwfl_Module *mod, uint64_t addr, struct sym_result *out,
			const char *leaf_file, int leaf_line)
{
	Dwarf_Die *cudie, *scopes = NULL;
	Dwarf_Files *files = NULL;
	Dwarf_Addr bias;
	int n, i, nf = 0;
	const char *file = leaf_file;
	int line = leaf_line;

	cudie = cu_of(mod, addr, &bias);
	if (!cudie)
		return 0;
	n = dwarf_getscopes(cudie, addr - bias, &scopes);
	if (n <= 0)
		return 0;
	/* dwarf_getscopes() continues past an inlined scope with the parents
	 * of the inlined function's own definition; the chain of functions it
	 * was inlined into comes from dwarf_getscopes_die() on the innermost
	 * scope (what eu-addr2line -i does). */
	{
		Dwarf_Die *real = NULL;
		int m = dwarf_getscopes_die(&scopes[0], &real);

		if (m > 0) {
			free(scopes);
			scopes = real;
			n = m;
		} else {
			free(real);
		}
	}
	for (i = 0; i < n && nf < SYM_MAX_FRAMES; i++) {
		int tag = dwarf_tag(&scopes[i]);
		Dwarf_Attribute attr;
		Dwarf_Word val;

		if (tag != DW_TAG_inlined_subroutine &&
		    tag != DW_TAG_subprogram)
			continue;
		if (tag == DW_TAG_subprogram && nf == 0)
			break;		/* not inlined: the caller names it */
		out->frames[nf].function = symbolize__demangle(die_name(&scopes[i]));
		out->frames[nf].file = xstrdup(file);
		out->frames[nf].line = line;
		nf++;
		if (tag == DW_TAG_subprogram)
			break;
		/* the caller's line is this inlined call's call site */
		file = NULL;
		line = 0;
		if (dwarf_attr(&scopes[i], DW_AT_call_file, &attr) &&
		    dwarf_formudata(&attr, &val) == 0) {
			size_t nfiles;

			if (files || dwarf_getsrcfiles(cudie, &files, &nfiles) == 0)
				file = dwarf_filesrc(files, val, NULL, NULL);
		}
		if (dwarf_attr(&scopes[i], DW_AT_call_line, &attr) &&
		    dwarf_formudata(&attr, &val) == 0)
			line = (int)val;
	}
	free(scopes);
	out->n_frames = nf;
	return nf;
}

struct sym_ent {
	uint64_t addr;
	uint64_t size;		/* 0: a label, good up to end */
	uint64_t end;		/* of the symbol, or a label's section */
	const char *name;
	int rank;		/* 2 global, 1 weak, 0 local */
	int ndx;		/* in the symbol table */
};

struct sym_index {
	struct sym_ent *v;
	size_t n;
};

/* How far back a lookup walks past symbols that end before addr (nested
 * or overlapping symbols are rare; this bounds the worst case). */
#define SYM_INDEX_WALK 64

static int binding_rank(const GElf_Sym *sym)
{
	switch (GELF_ST_BIND(sym->st_info)) {
	case STB_GLOBAL:
		return 2;
	case STB_WEAK:
		return 1;
	default:
		return 0;
	}
}

/* By address, then rank, then table order reversed: the alias libdwfl
 * prefers (the best binding, the first in the table) sorts last, where a
 * lookup walking down meets it first. */
static int sym_ent_cmp(const void *x, const void *y)
{
	const struct sym_ent *a = x, *b = y;

	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	return (a->ndx < b->ndx) - (a->ndx > b->ndx);
}

struct sym_index *sym_index__new(Dwfl_Module *mod)
{
	struct sym_index *ix;
	int n, i;

	n = dwfl_module_getsymtab(mod);
	if (n <= 1) {
		errno = ENOENT;
		return NULL;
	}
	ix = calloc(1, sizeof(*ix));
	if (!ix)
		return NULL;
	ix->v = calloc((size_t)n, sizeof(*ix->v));
	if (!ix->v) {
		free(ix);
		return NULL;
	}
	for (i = 1; i < n; i++) {
		GElf_Word shndx;
		GElf_Addr addr, end;
		GElf_Sym sym;
		GElf_Shdr sh;
		Dwarf_Addr bias;
		const char *name;
		Elf_Scn *scn;
		Elf *elf;
		int type;

		name = dwfl_module_getsym_info(mod, i, &sym, &addr, &shndx,
					       &elf, &bias);
		if (!name || !*name || shndx == SHN_UNDEF || !addr)
			continue;
		type = GELF_ST_TYPE(sym.st_info);
		/* what libdwfl considers (a garbage pc in data gets the
		 * object's name, as it always did) */
		if (type == STT_SECTION || type == STT_FILE || type == STT_TLS)
			continue;
		end = addr + sym.st_size;
		if (!sym.st_size) {
			/* a label names nothing past its own section */
			scn = elf ? elf_getscn(elf, shndx) : NULL;
			if (!scn || !gelf_getshdr(scn, &sh))
				continue;
			end = sh.sh_addr + bias + sh.sh_size;
			if (end <= addr)
				continue;
		}
		ix->v[ix->n++] = (struct sym_ent){
			.addr = addr, .size = sym.st_size, .end = end, .name = name,
			.rank = binding_rank(&sym), .ndx = i,
		};
	}
	qsort(ix->v, ix->n, sizeof(*ix->v), sym_ent_cmp);
	return ix;
}

void sym_index__free(struct sym_index *ix)
{
	if (!ix)
		return;
	free(ix->v);
	free(ix);
}

const char *sym_index__lookup(const struct sym_index *ix, uint64_t addr)
{
	const struct sym_ent *sizeless = NULL;
	uint64_t floor = 0;
	size_t lo = 0, hi, i, walked;

	if (!ix || !ix->n)
		return NULL;
	/* first entry above addr */
	hi = ix->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ix->v[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo, walked = 0; i > 0 && walked < SYM_INDEX_WALK;
	     i--, walked++) {
		const struct sym_ent *e = &ix->v[i - 1];

		if (e->size) {
			if (addr < e->end)
				return e->name;
			/* ends before addr: no label below it names addr */
			if (e->end > floor)
				floor = e->end;
		} else if (!sizeless && addr < e->end) {
			sizeless = e;
		}
		if (sizeless && e->addr < sizeless->addr && e->addr < floor)
			break;
	}
	/* a sized symbol at or above the label ends before addr: the label
	 * is not what addr is in */
	return sizeless && sizeless->addr >= floor ? sizeless->name : NULL;
}

int symbolize__module_addr(Dwfl_Module *mod, const struct sym_index *ix,
			   uint64_t addr, struct sym_result *out)
{
	const char *file = NULL, *name;
	GElf_Addr off;
	GElf_Sym sym;
	int lineno = 0;

	Dwarf_Addr bias;
	Dwarf_Die *cu = cu_of(mod, addr, &bias);
	Dwarf_Line *dl = cu ? dwarf_getsrc_die(cu, addr - bias) : NULL;

	if (dl) {
		file = dwarf_linesrc(dl, NULL, NULL);
		dwarf_lineno(dl, &lineno);
	}
	name = ix ? sym_index__lookup(ix, addr) :
		    dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);

	if (inline_chain(mod, addr, out, file, lineno) > 0) {
		/* the outermost frame is the real function: use its ELF
		 * symbol name when DWARF had none */
		struct sym_frame *f = &out->frames[out->n_frames - 1];

		if (!f->function)
			f->function = symbolize__demangle(name);
		return 0;
	}
	out->frames[0].function = symbolize__demangle(name);
	out->frames[0].file = xstrdup(file);
	out->frames[0].line = lineno;
	if ((name && !out->frames[0].function) ||
	    (file && !out->frames[0].file)) {
		free(out->frames[0].function);
		free(out->frames[0].file);
		memset(&out->frames[0], 0, sizeof(out->frames[0]));
		return -ENOMEM;
	}
	out->n_frames = name || file ? 1 : 0;
	return 0;
}
