// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * mallocbench.c - the workload of `make bench`: time N malloc/free pairs.
 *
 * Usage: mallocbench PAIRS [SIZE|mixed]
 *
 * Warms the allocator up (so lazy binding and tcache setup happen before any
 * profiler attaches), prints "ready PID" on stdout, then waits for SIGUSR1:
 * the benchmark attaches a profiler in between. It then runs PAIRS
 * malloc(SIZE)/free pairs (SIZE 64 by default; "mixed" cycles through 256
 * sizes from 16 to 1024 bytes) and prints "ns_per_pair X", measured with
 * CLOCK_MONOTONIC around the loop only, and "cpu_ns_per_pair X", the
 * thread's CPU time (user + system: the probes' traps and BPF programs
 * run in it) over the same loop, which time spent waiting for a CPU on a
 * shared machine does not inflate.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N_SIZES 256

static int parse_u64(const char *s, unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno || end == s || *end || *out == 0)
		return -EINVAL;
	return 0;
}

static double clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* noinline: one copy of the loop, with malloc and free called through the
 * PLT as any program's would be. The empty asm takes the pointer and clobbers
 * memory, so the compiler can neither drop the pair nor hoist it. */
static __attribute__((noinline)) void run_pairs(unsigned long long n,
						const size_t *sizes,
						unsigned int mask)
{
	unsigned long long i;

	for (i = 0; i < n; i++) {
		void *p = malloc(sizes[i & mask]);

		asm volatile("" : : "r"(p) : "memory");
		free(p);
	}
}

int main(int argc, char **argv)
{
	static size_t sizes[N_SIZES];
	unsigned long long pairs, size = 64;
	unsigned int mask = 0, seed = 1, i;
	double t0, t1, c0, c1;
	sigset_t set;
	int sig;

	if (argc < 2 || argc > 3 || parse_u64(argv[1], &pairs)) {
		fprintf(stderr, "usage: %s PAIRS [SIZE|mixed]\n", argv[0]);
		return 2;
	}
	if (argc == 3 && !strcmp(argv[2], "mixed")) {
		for (i = 0; i < N_SIZES; i++) {
			seed = seed * 1103515245u + 12345u;
			sizes[i] = 16 + (seed >> 8) % (1024 - 16 + 1);
		}
		mask = N_SIZES - 1;
	} else if (argc == 3 && parse_u64(argv[2], &size)) {
		fprintf(stderr, "mallocbench: bad size '%s'\n", argv[2]);
		return 2;
	}
	if (!mask)
		sizes[0] = size;

	/* Block SIGUSR1 before saying "ready", so an early one stays pending. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL)) {
		perror("mallocbench: sigprocmask");
		return 1;
	}
	run_pairs(100000, sizes, mask);
	now_ns();
	printf("ready %d\n", (int)getpid());
	fflush(stdout);

	if (sigwait(&set, &sig)) {
		fprintf(stderr, "mallocbench: sigwait failed\n");
		return 1;
	}
	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	t0 = now_ns();
	run_pairs(pairs, sizes, mask);
	t1 = now_ns();
	c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	printf("ns_per_pair %.3f\n", (t1 - t0) / (double)pairs);
	printf("cpu_ns_per_pair %.3f\n", (c1 - c0) / (double)pairs);
	return 0;
}
