/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * cfitable.h - a file's .eh_frame CFI as the compact rows the BPF unwinder
 * runs (struct mt_unw_row, bpf/unwind.bpf.h): per pc range, the CFA as
 * rsp or rbp plus an offset and where the caller's rbp was saved. What the
 * rows cannot express (DWARF expressions, PLT stubs, signal frames, pcs
 * without CFI) becomes an INVALID row, on which the BPF walk gives up.
 */
#ifndef MEMTEL_CFITABLE_H
#define MEMTEL_CFITABLE_H

#include <stddef.h>
#include <stdint.h>
#include <gelf.h>

#include "memtel.h"

struct cfitable {
	struct mt_unw_row *rows;	/* sorted by pc, distinct pcs */
	size_t n;
	size_t invalid;			/* rows BPF cannot run */
};

/* Build the rows of elf (its PT_GNU_EH_FRAME table and .eh_frame), at most
 * max rows. 0, -ENOENT if the file has no usable .eh_frame_hdr, -E2BIG
 * past max rows or 4 GiB of addresses, -ENOMEM. */
int cfitable__build(Elf *elf, size_t max, struct cfitable *out);
void cfitable__free(struct cfitable *t);
/* How many FDEs elf's .eh_frame_hdr lists (what building its rows costs,
 * roughly). 0 or -ENOENT. */
int cfitable__fdes(Elf *elf, size_t *n);
/* The same from .debug_frame, for a file without .eh_frame (a Go binary;
 * the file's other .debug_* sections are not read). -ENOENT if it has
 * .eh_frame or no .debug_frame, -ENOTSUP for a compression other than
 * zlib, as cfitable__build otherwise. */
int cfitable__build_debug_frame(Elf *elf, size_t max, struct cfitable *out);
/* How many FDEs such a file's .debug_frame holds. 0 or -errno. */
int cfitable__debug_frame_fdes(Elf *elf, size_t *n);
/* The row covering ELF address pc, or NULL (what the BPF search does). */
const struct mt_unw_row *cfitable__find(const struct cfitable *t,
					uint64_t pc);

#endif /* MEMTEL_CFITABLE_H */
