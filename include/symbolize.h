/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * symbolize.h - program counter -> module (path, range, build ID) and
 * source frames (function, file, line) with libdwfl. A return address is
 * looked up at pc - 1 so the call instruction's line is reported.
 */
#ifndef MEMTEL_SYMBOLIZE_H
#define MEMTEL_SYMBOLIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "target.h"

#define SYM_MAX_FRAMES 16

struct sym_frame {
	char *function;		/* NULL if unknown */
	char *file;		/* NULL if unknown */
	int line;		/* 0 if unknown */
};

struct sym_result {
	/* module; module == NULL if pc lies in no known module */
	const char *module;	/* path as the target sees it */
	uint64_t mod_start, mod_end;
	char build_id[129];	/* hex, "" if none */
	/* innermost (inlined) frame first */
	struct sym_frame frames[SYM_MAX_FRAMES];
	int n_frames;
};

/* Symbolize pc in t. Fills out (n_frames may be 0). 0 or -errno. */
int symbolize__pc(struct target *t, uint64_t pc, bool is_return,
		  struct sym_result *out);
void sym_result__clear(struct sym_result *r);
/* Demangled, version-stripped copy of a symbol name (malloc'ed). */
char *symbolize__demangle(const char *name);

#endif /* MEMTEL_SYMBOLIZE_H */
