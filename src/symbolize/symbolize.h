/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * symbolize.h - one address of one ELF module -> source frames (function,
 * file, line; inlined calls as separate frames) with libdw.
 */
#ifndef MEMTEL_SYMBOLIZE_H
#define MEMTEL_SYMBOLIZE_H

#include <stdbool.h>
#include <stdint.h>
#include <elfutils/libdwfl.h>

#define SYM_MAX_FRAMES 16

struct sym_frame {
	char *function;		/* NULL if unknown */
	char *file;		/* NULL if unknown */
	int line;		/* 0 if unknown */
};

struct sym_result {
	/* module; NULL if the pc lies in no known module */
	const char *module;	/* path as the target sees it */
	uint64_t mod_start, mod_end;
	const char *build_id;	/* hex, "" if none; never NULL when module */
	const char *htlhash;	/* OpenTelemetry file hash, or "" / NULL */
	/* innermost (inlined) frame first */
	struct sym_frame frames[SYM_MAX_FRAMES];
	int n_frames;
};

/* A module's ELF symbols sorted by address, built once per module:
 * dwfl_module_addrinfo() scans the whole symbol table at every call
 * (milliseconds for a binary with 100k symbols). Names point into the
 * module's string tables: free the index before the module. */
struct sym_index;

/* NULL with errno set (ENOMEM, or ENOENT when mod has no symbols). */
struct sym_index *sym_index__new(Dwfl_Module *mod);
void sym_index__free(struct sym_index *ix);
/* The symbol holding addr as dwfl_module_addrinfo() picks it (the nearest
 * one at or below addr whose size covers it, a global before a weak or
 * local alias; else the nearest sizeless label not behind a sized
 * symbol's end), or NULL. */
const char *sym_index__lookup(const struct sym_index *ix, uint64_t addr);

/* Frames of addr (in mod's address space; pass pc - 1 for a return
 * address) into out->frames / n_frames; ELF names from ix, or from
 * dwfl_module_addrinfo() when ix is NULL. ix also keeps an index of each
 * compile unit's scopes, built at the unit's first lookup (without ix,
 * libdw walks the unit at every lookup). 0 or -ENOMEM. */
int symbolize__module_addr(Dwfl_Module *mod, struct sym_index *ix,
			   uint64_t addr, struct sym_result *out);
/* Free the frames' strings and zero r. */
void sym_result__clear(struct sym_result *r);
/* Demangled, version-stripped copy of a symbol name (malloc'ed). */
char *symbolize__demangle(const char *name);

#endif /* MEMTEL_SYMBOLIZE_H */
