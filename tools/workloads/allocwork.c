// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * allocwork.c - a malloc-heavy program that also computes: PAIRS rounds of
 * malloc + free of a small block with SPIN steps of integer hashing in
 * between, so that the heap probes slow it down by a measurable fraction,
 * not by orders of magnitude. Prints the CPU time it used (all threads,
 * user + system: what /proc/PID/stat counts, the probes' traps included)
 * as JSON, so a test can compare a bare run with a profiled one.
 *
 *   allocwork [PAIRS [SPIN [--exec PROG ARGS...]]]	(defaults 150000, 2000)
 *
 * --exec: then execvp PROG (a test of what a profiler does at an exec).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void *volatile sink;

__attribute__((noinline)) static uint64_t spin(uint64_t x, long n)
{
	long i;

	for (i = 0; i < n; i++)
		x = (x ^ (x >> 29)) * 0xbf58476d1ce4e5b9ULL + (uint64_t)i;
	return x;
}

__attribute__((noinline)) void work_alloc(size_t n)
{
	void *p = malloc(n);

	sink = p;
	asm volatile("" ::: "memory");
	free(p);
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long pairs = argc > 1 ? atol(argv[1]) : 150000;
	long steps = argc > 2 ? atol(argv[2]) : 2000;
	uint64_t x = 1, t0;
	long i;

	if (pairs <= 0 || steps < 0 ||
	    (argc > 3 && (strcmp(argv[3], "--exec") || argc < 5))) {
		fprintf(stderr, "usage: %s [PAIRS [SPIN [--exec PROG ARGS...]]]\n",
			argv[0]);
		return 2;
	}
	t0 = cpu_ns();
	for (i = 0; i < pairs; i++) {
		work_alloc(32 + (size_t)(i & 15) * 8);
		x = spin(x, steps);
	}
	printf("{\"pid\": %d, \"pairs\": %ld, \"cpu_ns\": %llu, \"x\": %llu}\n",
	       (int)getpid(), pairs, (unsigned long long)(cpu_ns() - t0),
	       (unsigned long long)(x & 0xff));
	if (argc > 4) {
		fflush(stdout);
		execvp(argv[4], argv + 4);
		perror(argv[4]);
		return 1;
	}
	return 0;
}
