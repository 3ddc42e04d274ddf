/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * stacks.h - interned call stacks (process image + program counters, leaf
 * first), the currency between unwinding and the aggregators/sinks. A
 * process image is its pid and the number targets__image gave it: the
 * same pcs in a pid before and after an exec (or in a reused pid) are two
 * stacks, named by two images' symbols.
 */
#ifndef MEMTEL_STACKS_H
#define MEMTEL_STACKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct stacks;

struct stack_view {
	uint32_t pid;
	uint32_t image;		/* targets__image of pid then; 0: none */
	uint32_t n;
	bool leaf_exact;	/* pcs[0] is an exact pc (a CPU sample), not a
				 * return address (every other frame is) */
	const uint64_t *pcs;
};

/* Whether frame k is a return address, to be looked up at pc - 1. Exact
 * pcs are a CPU sample's leaf and, under kernel frames, the interrupted
 * user pc (where a page fault or a uprobe trap happened, or just after a
 * syscall instruction, still inside the calling function). */
static inline bool stack_view__is_return(const struct stack_view *v,
					 uint32_t k)
{
	const uint64_t kernel = 0xffff800000000000ULL;

	if (!v->leaf_exact)
		return true;
	if (k == 0)
		return false;
	return !(v->pcs[k - 1] >= kernel && v->pcs[k] < kernel);
}

/* One key for a process image, for caches by (pid, image). */
static inline uint64_t stacks__image_key(uint32_t pid, uint32_t image)
{
	return (uint64_t)image << 32 | pid;
}

struct stacks *stacks__new(void);
void stacks__free(struct stacks *s);
/* Id (>= 1) of this stack, adding it if new; 0 with errno on failure. */
uint32_t stacks__intern(struct stacks *s, uint32_t pid, uint32_t image,
			const uint64_t *pcs, uint32_t n, bool leaf_exact);
/* The stack with this id; false if there is none. */
bool stacks__get(const struct stacks *s, uint32_t id, struct stack_view *out);
size_t stacks__count(const struct stacks *s);

#endif /* MEMTEL_STACKS_H */
