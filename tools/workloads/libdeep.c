// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libdeep.c - libdeep.so, frames 3 and 4 of the deepchain workload's call
 * chain (see deepchain.c). Built -O2 -fomit-frame-pointer like distribution
 * code, so a profiler must unwind it with CFI.
 *
 * The `LINE:name` comments mark call sites whose line numbers the tests
 * read from this file (tools/workloads/deepcheck.py): keep each call and
 * its marker on one line.
 */
#include "libdeep.h"

/* Real, separately named frames: no inlining, no clones (they rename the
 * symbol), no identical-code folding. */
#if defined(__clang__)
#define DEEP_FRAME __attribute__((noinline, visibility("default")))
#else
#define DEEP_FRAME __attribute__((noipa, visibility("default")))
#endif

/* After each call: code follows it, so it cannot become a tail call. */
#define BARRIER() asm volatile("" ::: "memory")

DEEP_FRAME unsigned long lib_b4(deep_cb cb, unsigned long x)
{
	unsigned long r = cb(x + 4); /* LINE:lib_b4_call */

	BARRIER();
	return r + 1;
}

DEEP_FRAME unsigned long lib_b3(deep_cb cb, unsigned long x)
{
	unsigned long r = lib_b4(cb, x + 3); /* LINE:lib_b3_call */

	BARRIER();
	return r + 1;
}
