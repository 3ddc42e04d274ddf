/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ksyms.h - kernel symbols from /proc/kallsyms (kernel frames of CPU
 * samples): core, module and BPF program text, each symbol bounded by the
 * next one and by its section's end. kptr_restrict must allow reading
 * addresses (as root it does).
 */
#ifndef MEMTEL_KSYMS_H
#define MEMTEL_KSYMS_H

#include <stddef.h>
#include <stdint.h>

struct ksyms;

/* Kernel symbols from kallsyms text[0..len) (need not be NUL-terminated).
 * NULL with errno set (EPERM: no text symbol with an address). */
struct ksyms *ksyms__parse(const char *text, size_t len);
/* Load /proc/kallsyms (or path, for tests), a bounded read. NULL with
 * errno on failure. */
struct ksyms *ksyms__load(const char *path);
void ksyms__free(struct ksyms *ks);
/* Load path again into ks (a pointer others hold stays valid): BPF
 * programs loaded since are then named. 0 or -errno (ks unchanged). */
int ksyms__reload(struct ksyms *ks, const char *path);
/* Name of the function containing addr, or NULL (also past the end of a
 * section, a module or a BPF program); *off gets the offset. */
const char *ksyms__lookup(const struct ksyms *ks, uint64_t addr,
			  uint64_t *off);
/* The module of the symbol containing addr ("" for the core kernel,
 * "bpf" for BPF programs), or NULL when no symbol contains it. */
const char *ksyms__module(const struct ksyms *ks, uint64_t addr);
/* Kernel addresses are in the upper half on x86-64. */
static inline int ksyms__is_kernel(uint64_t addr)
{
	return addr >= 0xffff800000000000ULL;
}

#endif /* MEMTEL_KSYMS_H */
