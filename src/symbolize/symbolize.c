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
#include "util/u64map.h"

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

/*
 * The chain of scopes at a pc, innermost first, as far as the function
 * holding it. dwarf_getscopes() finds the innermost scope by walking the
 * compile unit's DIEs from the start (in a Go package's unit, thousands of
 * functions without DW_AT_sibling: every DIE is parsed), then walks the
 * inlined function's origin unit, and dwarf_getscopes_die() walks the unit
 * once more to the innermost scope's parents. A lookup only uses that
 * innermost scope's parents up to the first DW_TAG_subprogram, so each
 * unit gets an index the first time a pc falls in it, built in one walk
 * over its children: their pc ranges, sorted. A lookup finds the child by
 * binary search and descends only inside it, the way dwarf_getscopes()
 * does (libdw_visit_scopes.c): at each level the first child, in DIE
 * order, whose ranges hold the pc (any tag: the others are pruned),
 * entered if its tag may own scopes. A unit with an imported unit, or a
 * DIE whose ranges libdw cannot read, keeps libdw's walks (which then
 * decide what that means).
 */
struct cu_ent {
	uint64_t lo, hi;	/* [lo, hi) of one of the child's ranges */
	uint32_t order;		/* of the child among the unit's children */
	Dwarf_Die die;
};

struct cu_index {
	uint64_t cu_off;
	struct cu_ent *v;	/* by lo, then order */
	uint64_t *max_hi;	/* max hi of v[0..i] */
	size_t n, cap;
	bool walks;		/* not indexable: libdw's walks */
};

static void cu_index__free(struct cu_index *ci)
{
	if (!ci)
		return;
	free(ci->v);
	free(ci->max_hi);
	free(ci);
}

static int cu_ent_cmp(const void *x, const void *y)
{
	const struct cu_ent *a = x, *b = y;

	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	return (a->order > b->order) - (a->order < b->order);
}

/* 0, 1 to leave the unit to libdw, -ENOMEM. */
static int cu_index_add(struct cu_index *ci, Dwarf_Die *die, uint32_t order)
{
	Dwarf_Addr base, lo, hi;
	ptrdiff_t off = 0;

	while ((off = dwarf_ranges(die, off, &base, &lo, &hi)) > 0) {
		if (hi <= lo)
			continue;
		if (ci->n == ci->cap) {
			size_t cap = ci->cap ? ci->cap * 2 : 64;
			struct cu_ent *nv = realloc(ci->v, cap * sizeof(*nv));

			if (!nv)
				return -ENOMEM;
			ci->v = nv;
			ci->cap = cap;
		}
		ci->v[ci->n++] = (struct cu_ent){
			.lo = lo, .hi = hi, .order = order, .die = *die,
		};
	}
	/* a range libdw cannot read: its walks decide what that means */
	return off < 0 ? 1 : 0;
}

static struct cu_index *cu_index__new(Dwarf_Die *cudie)
{
	struct cu_index *ci = calloc(1, sizeof(*ci));
	uint32_t order = 0;
	Dwarf_Die child;
	size_t i;
	int rc;

	if (!ci)
		return NULL;
	ci->cu_off = dwarf_dieoffset(cudie);
	if (dwarf_child(cudie, &child) == 0) {
		do {
			if (dwarf_tag(&child) == DW_TAG_imported_unit) {
				ci->walks = true;
				break;
			}
			rc = cu_index_add(ci, &child, order++);
			if (rc < 0)
				goto fail;
			if (rc > 0) {
				ci->walks = true;
				break;
			}
		} while (dwarf_siblingof(&child, &child) == 0);
	}
	if (ci->walks) {
		free(ci->v);
		ci->v = NULL;
		ci->n = ci->cap = 0;
		return ci;
	}
	if (ci->n > 1)	/* v is NULL in a unit with no code children */
		qsort(ci->v, ci->n, sizeof(*ci->v), cu_ent_cmp);
	ci->max_hi = malloc((ci->n ? ci->n : 1) * sizeof(*ci->max_hi));
	if (!ci->max_hi)
		goto fail;
	for (i = 0; i < ci->n; i++)
		ci->max_hi[i] = i && ci->max_hi[i - 1] > ci->v[i].hi ?
				ci->max_hi[i - 1] : ci->v[i].hi;
	return ci;
fail:
	cu_index__free(ci);
	return NULL;
}

/* The first child of the unit (in DIE order) holding pc, or NULL. */
static const struct cu_ent *cu_index__find(const struct cu_index *ci,
					   uint64_t pc)
{
	const struct cu_ent *best = NULL;
	size_t lo = 0, hi = ci->n, i;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ci->v[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* v[0..lo) start at or below pc; go down while one may reach it */
	for (i = lo; i > 0 && ci->max_hi[i - 1] > pc; i--) {
		const struct cu_ent *e = &ci->v[i - 1];

		if (pc < e->hi && (!best || e->order < best->order))
			best = e;
	}
	return best;
}

/* libdw_visit_scopes.c's may_have_scopes(): the tags it descends into. */
static bool may_have_scopes(int tag)
{
	switch (tag) {
	case DW_TAG_compile_unit:
	case DW_TAG_module:
	case DW_TAG_lexical_block:
	case DW_TAG_with_stmt:
	case DW_TAG_catch_block:
	case DW_TAG_try_block:
	case DW_TAG_entry_point:
	case DW_TAG_inlined_subroutine:
	case DW_TAG_subprogram:
	case DW_TAG_namespace:
	case DW_TAG_class_type:
	case DW_TAG_structure_type:
		return true;
	}
	return false;
}

#define SCOPE_MAX_DEPTH 256

/* Scopes from the innermost holding pc out to top (a child of the unit
 * holding pc), innermost first, malloc'ed in *out: the count, 0 to leave
 * it to libdw (an imported unit, an unreadable range), -ENOMEM. */
static int scopes_in(const Dwarf_Die *top, uint64_t pc, Dwarf_Die **out)
{
	Dwarf_Die *path = malloc(SCOPE_MAX_DEPTH * sizeof(*path)), child;
	int n = 1, i, has;

	if (!path)
		return -ENOMEM;
	path[0] = *top;
	while (may_have_scopes(dwarf_tag(&path[n - 1])) &&
	       dwarf_haschildren(&path[n - 1]) > 0 &&
	       dwarf_child(&path[n - 1], &child) == 0) {
		bool found = false;

		if (n == SCOPE_MAX_DEPTH)
			goto libdw;
		do {
			if (dwarf_tag(&child) == DW_TAG_imported_unit)
				goto libdw;
			has = dwarf_haspc(&child, pc);
			if (has < 0)
				goto libdw;
			if (has > 0) {
				path[n++] = child;
				found = true;
				break;
			}
		} while (dwarf_siblingof(&child, &child) == 0);
		if (!found)
			break;
	}
	for (i = 0; i < n / 2; i++) {
		child = path[i];
		path[i] = path[n - 1 - i];
		path[n - 1 - i] = child;
	}
	*out = path;
	return n;
libdw:
	free(path);
	return 0;
}

static struct cu_index *cu_index_of(struct sym_index *ix, Dwarf_Die *cudie);

/* The scopes at pc of cudie, innermost first (malloc'ed): by the unit's
 * index, or with libdw's walks (dwarf_getscopes() continues past an
 * inlined scope with the parents of the inlined function's own
 * definition; the chain of functions it was inlined into comes from
 * dwarf_getscopes_die() on the innermost scope, what eu-addr2line -i
 * does). The count, 0 if none. */
static int scopes_at(struct sym_index *ix, Dwarf_Die *cudie, uint64_t pc,
		     Dwarf_Die **scopes)
{
	struct cu_index *ci = ix ? cu_index_of(ix, cudie) : NULL;
	Dwarf_Die *real = NULL;
	int n, m;

	*scopes = NULL;
	if (ci && !ci->walks) {
		const struct cu_ent *e = cu_index__find(ci, pc);

		if (!e)
			return 0;
		n = scopes_in(&e->die, pc, scopes);
		if (n != 0)
			return n > 0 ? n : 0;
	}
	n = dwarf_getscopes(cudie, pc, scopes);
	if (n <= 0) {
		free(*scopes);
		*scopes = NULL;
		return 0;
	}
	m = dwarf_getscopes_die(&(*scopes)[0], &real);
	if (m > 0) {
		free(*scopes);
		*scopes = real;
		return m;
	}
	free(real);
	return n;
}

static int inline_chain(Dwfl_Module *mod, struct sym_index *ix, uint64_t addr,
			struct sym_result *out, const char *leaf_file,
			int leaf_line)
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
	n = scopes_at(ix, cudie, addr - bias, &scopes);
	if (n <= 0)
		return 0;
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
	struct u64map cus;	/* unit's DIE offset -> struct cu_index * */
};

/* The index of cudie's unit, built on first use; NULL without memory. */
static struct cu_index *cu_index_of(struct sym_index *ix, Dwarf_Die *cudie)
{
	uint64_t off = dwarf_dieoffset(cudie), *hit;
	struct cu_index *ci;

	hit = u64map__get(&ix->cus, off);
	if (hit)
		return (struct cu_index *)(uintptr_t)*hit;
	ci = cu_index__new(cudie);
	if (!ci)
		return NULL;
	if (u64map__set(&ix->cus, off, (uintptr_t)ci)) {
		cu_index__free(ci);
		return NULL;
	}
	return ci;
}

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
	uint64_t k, v;
	size_t it = 0;

	if (!ix)
		return;
	while (u64map__next(&ix->cus, &it, &k, &v))
		cu_index__free((struct cu_index *)(uintptr_t)v);
	u64map__free(&ix->cus);
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

int symbolize__module_addr(Dwfl_Module *mod, struct sym_index *ix,
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

	if (inline_chain(mod, ix, addr, out, file, lineno) > 0) {
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
