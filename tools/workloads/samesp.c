// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * samesp - allocations that reach malloc with the same pc and the same
 * stack pointer through different callers: main calls via_a or via_b
 * (same code, same frame size), each calls leaf, which calls malloc. The
 * stacks differ only in the return address of leaf's caller, so an
 * unwinder that caches walks by (pc, sp) must check the words it read.
 *
 * Usage: samesp [ROUNDS]   (default 2000: 3 via_a and 1 via_b per round,
 * interleaved; prints the two counts)
 */
#include <stdio.h>
#include <stdlib.h>

static volatile unsigned long n_a, n_b;

__attribute__((noinline)) void *leaf(size_t n)
{
	void *p = malloc(n);

	if (!p)
		abort();
	return p;
}

__attribute__((noinline)) void *via_a(size_t n)
{
	void *p = leaf(n);

	n_a++;
	return p;
}

__attribute__((noinline)) void *via_b(size_t n)
{
	void *p = leaf(n);

	n_b++;
	return p;
}

int main(int argc, char **argv)
{
	unsigned long rounds = argc > 1 ? strtoul(argv[1], NULL, 10) : 2000;
	unsigned long i;

	for (i = 0; i < rounds; i++) {
		free(via_a(48));
		free(via_b(48));
		free(via_a(48));
		free(via_a(48));
	}
	printf("via_a %lu via_b %lu\n", n_a, n_b);
	return 0;
}
