// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libworkload.c - the shared-library half of the test workloads (see
 * libworkload.h). Built -O2 -fomit-frame-pointer like distribution code, so
 * a profiler must unwind it with CFI.
 */
#include <stdlib.h>

#include "libworkload.h"

/* Results go through a volatile sink so the compiler can neither drop a
 * malloc/free pair nor prove the block unused. */
static void *volatile lib_sink;

__attribute__((noinline, visibility("default")))
void lib_alloc_site(int n, size_t size, void **keep)
{
	for (int i = 0; i < n; i++) {
		void *p = malloc(size);

		/* The barrier keeps the call out of tail position and in
		 * this function's body. */
		asm volatile("" ::: "memory");
		lib_sink = p;
		if (keep)
			keep[i] = p;
		else
			free(p);
	}
	asm volatile("" ::: "memory");
}
