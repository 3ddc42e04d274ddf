/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * ksyms.h - kernel symbols from /proc/kallsyms (kernel frames of CPU
 * samples). kptr_restrict must allow reading addresses (as root it does).
 */
#ifndef MEMTEL_KSYMS_H
#define MEMTEL_KSYMS_H

#include <stddef.h>
#include <stdint.h>

struct ksyms;

/* Load /proc/kallsyms (or path, for tests). NULL with errno on failure. */
struct ksyms *ksyms__load(const char *path);
/* Kernel symbols from kallsyms text[0..len) (need not be NUL-terminated).
 * NULL with errno set (EPERM: no text symbol with an address). */
struct ksyms *ksyms__parse(const char *text, size_t len);
void ksyms__free(struct ksyms *ks);
/* Name of the function containing addr, or NULL; *off gets the offset. */
const char *ksyms__lookup(const struct ksyms *ks, uint64_t addr,
			  uint64_t *off);
/* Kernel addresses are in the upper half on x86-64. */
static inline int ksyms__is_kernel(uint64_t addr)
{
	return addr >= 0xffff800000000000ULL;
}

#endif /* MEMTEL_KSYMS_H */
