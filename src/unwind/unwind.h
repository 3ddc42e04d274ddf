/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * unwind.h - user call stacks from a sample's registers and stack copy,
 * with libdwfl's CFI unwinder (.eh_frame / .debug_frame), the way
 * `perf --call-graph dwarf` does it. Works through code without frame
 * pointers; stops where the copied window ends.
 */
#ifndef MEMTEL_UNWIND_H
#define MEMTEL_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "memtel.h"
#include "process/target.h"

/* Unwind thread tid of target t. regs are MT_NREGS values in DWARF order;
 * stack is a copy of [regs[RSP], regs[RSP] + stack_len). Writes pcs leaf
 * first, pcs[0] = regs[RIP]; the others are return addresses.
 * ret_at_sp: the probe sits where [rsp] still holds the return address (at
 * a function's entry), so frame 1 is taken from there if CFI cannot give it.
 * Returns the number of pcs (>= 1), or -errno. */
int unwind__user(struct target *t, pid_t tid, const uint64_t *regs,
		 const uint8_t *stack, size_t stack_len, int ret_at_sp,
		 uint64_t *pcs, size_t max);

/* Stack slots whose copied value is a uretprobe trampoline address, with
 * the original return address to read there instead. */
struct unwind_fixups {
	const uint64_t *slot, *orig;
	size_t n;
};

/* unwind__user with fixups applied to stack reads. */
int unwind__user_fixed(struct target *t, pid_t tid, const uint64_t *regs,
		       const uint8_t *stack, size_t stack_len, int ret_at_sp,
		       const struct unwind_fixups *fix, uint64_t *pcs,
		       size_t max);

/* The walks done on CFI rows (cfitable) and those left to libdwfl; the
 * files whose rows were built (or could not be) and the rows held. */
struct unwind_stats {
	uint64_t walks, fallbacks;
	uint64_t files, files_failed;
	size_t rows;
};

void unwind__stats(struct unwind_stats *out);
/* Walk on rows (the default, unless MEMTEL_UNWIND_TABLES=0) or libdwfl
 * only. */
void unwind__use_tables(bool on);
/* Free every file's rows (at exit; walks build them again). */
void unwind__tables_free(void);

#endif /* MEMTEL_UNWIND_H */
