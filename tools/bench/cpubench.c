// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cpubench.c - the CPU-bound workload of `make bench`: a fixed amount of
 * single-threaded work, timed from inside.
 *
 * Usage: cpubench [UNITS]
 *
 * Built -O2 -fomit-frame-pointer, like distribution code. The work is UNITS
 * units (default 6000, about 3 s on the project's VMs), each going through a
 * few call levels (run_work -> unit_of_work -> fill_block / digest_block ->
 * mix64) on a 4 KiB block on the stack, so every sample has a real stack to
 * unwind. Nothing allocates and nothing makes a system call while timed.
 *
 * Prints "ready PID" on stdout, then waits for SIGUSR1: the benchmark
 * attaches a profiler in between. It then does the work and prints
 *   wall_ns N     CLOCK_MONOTONIC around the work only
 *   cpu_ns N      utime + stime over the same span (getrusage)
 *   utime_ns N, stime_ns N, checksum X
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BLOCK_WORDS 512		/* 4 KiB */
#define PASSES 64

#define NOINLINE __attribute__((noinline, noclone))

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t tv_ns(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000000000ULL + (uint64_t)tv->tv_usec * 1000ULL;
}

/* A 64-bit finalizer (murmur3's): a few multiplies, no memory. */
static NOINLINE uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static NOINLINE void fill_block(uint64_t *blk, uint64_t seed)
{
	int i;

	for (i = 0; i < BLOCK_WORDS; i++)
		blk[i] = mix64(seed + (uint64_t)i);
}

static NOINLINE uint64_t digest_block(const uint64_t *blk, uint64_t h)
{
	int i;

	for (i = 0; i < BLOCK_WORDS; i++)
		h = mix64(h ^ blk[(i * 7) & (BLOCK_WORDS - 1)]) + (uint64_t)i;
	return h;
}

static NOINLINE uint64_t unit_of_work(uint64_t seed)
{
	uint64_t blk[BLOCK_WORDS], h = seed;
	int p;

	for (p = 0; p < PASSES; p++) {
		fill_block(blk, h);
		h = digest_block(blk, h);
	}
	/* the block must exist in memory, as a real program's would */
	asm volatile("" : : "r"(blk) : "memory");
	return h;
}

static NOINLINE uint64_t run_work(unsigned long units)
{
	uint64_t h = 1;
	unsigned long u;

	for (u = 0; u < units; u++)
		h ^= unit_of_work(h + u);
	return h;
}

int main(int argc, char **argv)
{
	unsigned long units = 18000;
	struct rusage r0, r1;
	uint64_t t0, t1, ut, st, sum;
	sigset_t set;
	char *end;
	int sig;

	if (argc > 2) {
		fprintf(stderr, "usage: %s [UNITS]\n", argv[0]);
		return 2;
	}
	if (argc == 2) {
		errno = 0;
		units = strtoul(argv[1], &end, 10);
		if (errno || end == argv[1] || *end || units == 0) {
			fprintf(stderr, "cpubench: bad unit count '%s'\n", argv[1]);
			return 2;
		}
	}

	/* Block SIGUSR1 before saying "ready", so an early one stays pending. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL)) {
		perror("cpubench: sigprocmask");
		return 1;
	}
	run_work(1);	/* fault the code and stack pages in */
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	if (sigwait(&set, &sig)) {
		fprintf(stderr, "cpubench: sigwait failed\n");
		return 1;
	}

	if (getrusage(RUSAGE_SELF, &r0)) {
		perror("cpubench: getrusage");
		return 1;
	}
	t0 = now_ns();
	sum = run_work(units);
	t1 = now_ns();
	if (getrusage(RUSAGE_SELF, &r1)) {
		perror("cpubench: getrusage");
		return 1;
	}
	ut = tv_ns(&r1.ru_utime) - tv_ns(&r0.ru_utime);
	st = tv_ns(&r1.ru_stime) - tv_ns(&r0.ru_stime);
	printf("wall_ns %" PRIu64 "\ncpu_ns %" PRIu64 "\nutime_ns %" PRIu64
	       "\nstime_ns %" PRIu64 "\nchecksum %016" PRIx64 "\n",
	       t1 - t0, ut + st, ut, st, sum);
	return 0;
}
