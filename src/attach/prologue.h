/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * prologue.h - choose where in a function to place a uprobe so the kernel
 * emulates the probed instruction instead of single-stepping it out of line
 * (single-step costs ~28x here; see docs/PLATFORM.md).
 *
 * x86-64 kernels emulate: push %reg (no 0x66 prefix), jmp rel8/rel32,
 * jcc rel8/rel32, call rel32 and nop (0x90 with prefixes). The decoder walks
 * the function from its entry (capstone) and returns the first such
 * instruction that
 *  - every relevant path from the entry reaches (only straight-line code
 *    before it; the one branch it may step over is a NULL test of the first
 *    argument when the caller says NULL is a no-op, as for free),
 *  - is reached with the argument registers the probe reads unchanged,
 *  - when a return probe shares the site, is reached with %rsp unchanged
 *    (the return address still at [rsp], which uretprobes hijack).
 * If none qualifies within the decoded window the entry (offset 0) is used:
 * always correct, only slower.
 */
#ifndef MEMTEL_PROLOGUE_H
#define MEMTEL_PROLOGUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Argument registers, SysV order. */
enum prologue_arg {
	PROLOGUE_ARG_RDI = 1 << 0,
	PROLOGUE_ARG_RSI = 1 << 1,
	PROLOGUE_ARG_RDX = 1 << 2,
	PROLOGUE_ARG_RCX = 1 << 3,
};

struct prologue_req {
	unsigned int args;	/* mask of enum prologue_arg the probe reads */
	bool need_ret;		/* a uretprobe is attached at the same site */
	bool null_is_noop;	/* arg1 == NULL makes the call a no-op (free) */
};

struct prologue_plan {
	uint64_t offset;	/* bytes from the function entry */
	bool emulated;		/* the instruction at offset is emulated */
	char insn[64];		/* "push r12", for logs and tests */
	char why[128];		/* why this offset (or why the fallback) */
};

/* Plan from the function's first bytes (len >= 1; 64 is plenty) at
 * function address `addr` (only used for printing branch targets).
 * 0, or -errno (-EINVAL for no code, -ENOTSUP if capstone is unusable);
 * a successful return always fills *out, falling back to offset 0. */
int prologue__plan(const uint8_t *code, size_t len, uint64_t addr,
		   const struct prologue_req *req, struct prologue_plan *out);

/* True if the kernel emulates the first instruction in code (see above). */
bool prologue__is_emulated(const uint8_t *code, size_t len);

#endif /* MEMTEL_PROLOGUE_H */
