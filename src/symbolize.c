// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * symbolize.c - pc to module, function and source line with libdwfl.
 * Function names come from the ELF symbol tables (.symtab from the
 * debuginfo file when found, .dynsym otherwise); lines from DWARF. The
 * address, module and build ID are always kept so a backend can symbolize
 * later what we could not.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbolize.h"

static char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
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

int symbolize__pc(struct target *t, uint64_t pc, bool is_return,
		  struct sym_result *out)
{
	Dwfl *dwfl = target__dwfl(t);
	uint64_t addr = is_return && pc ? pc - 1 : pc;
	const unsigned char *bits;
	struct sym_frame *f;
	GElf_Addr bid_vaddr, off;
	Dwarf_Addr start, end;
	Dwfl_Module *mod;
	Dwfl_Line *line;
	const char *name;
	GElf_Sym sym;
	int n, i;

	memset(out, 0, sizeof(*out));
	mod = dwfl_addrmodule(dwfl, addr);
	if (!mod)
		return 0;
	out->module = dwfl_module_info(mod, NULL, &start, &end, NULL, NULL,
				       NULL, NULL);
	out->mod_start = start;
	out->mod_end = end;
	n = dwfl_module_build_id(mod, &bits, &bid_vaddr);
	for (i = 0; i < n && 2 * i + 2 < (int)sizeof(out->build_id); i++)
		snprintf(out->build_id + 2 * i, 3, "%02x", bits[i]);

	f = &out->frames[0];
	name = dwfl_module_addrinfo(mod, addr, &off, &sym, NULL, NULL, NULL);
	f->function = xstrdup(name);
	if (f->function) {
		/* "__libc_start_main@@GLIBC_2.34": the version is noise */
		char *at = strchr(f->function, '@');

		if (at && at != f->function)
			*at = '\0';
	}
	line = dwfl_module_getsrc(mod, addr);
	if (line) {
		const char *file;
		int lineno = 0;

		file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
		f->file = xstrdup(file);
		f->line = lineno;
	}
	if (name && !f->function) {
		sym_result__clear(out);
		return -ENOMEM;
	}
	out->n_frames = 1;
	return 0;
}
