// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * muslchain.c - built by tests/integration/unwind_musl.sh with musl-gcc
 * -static -O2 -g -fomit-frame-pointer: main -> top_alloc -> mid_alloc ->
 * leaf_alloc -> malloc. musl's libc has no CFI, so only the caller's frame
 * at the allocator entry leads the unwinder to this file's CFI. The empty
 * asm statements after each call keep them from becoming tail calls.
 */
#include <stdlib.h>

__attribute__((noinline)) void *leaf_alloc(size_t n)
{
	void *p = malloc(n);

	__asm__ volatile("" ::: "memory");
	return p;
}

__attribute__((noinline)) void *mid_alloc(size_t n)
{
	void *p = leaf_alloc(n + 1);

	__asm__ volatile("" ::: "memory");
	return p;
}

__attribute__((noinline)) void *top_alloc(size_t n)
{
	void *p = mid_alloc(n + 1);

	__asm__ volatile("" ::: "memory");
	return p;
}

int main(int argc, char **argv)
{
	int count = argc > 1 ? atoi(argv[1]) : 1000;

	for (int i = 0; i < count; i++) {
		void *p = top_alloc(100 + (size_t)(i % 64));

		if (i % 2)
			free(p);
	}
	return 0;
}
