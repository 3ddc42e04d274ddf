// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * deepchain - a workload whose allocations and CPU time sit at the end of a
 * call chain that crosses the executable/shared-library boundary twice:
 *
 *   main -> a1 -> a2 -> lib_b3 -> lib_b4 -> a5 -> a6
 *   (exe)   (exe) (exe)  (libdeep.so)        (exe: a callback lib_b4 got
 *                                             as a function pointer)
 *
 * a6 calls malloc (--heap) or spins (--cpu). Everything is built -O2
 * -fomit-frame-pointer, so a profile shows every frame, in order, only if
 * the unwinder follows CFI through both objects. The `LINE:name` comments
 * mark the lines a profile must report for each frame (the call site, or
 * for a6 the malloc call and the spin loop); tools/workloads/deepcheck.py
 * reads them from this file, so keep each call and its marker on one line.
 *
 * The chain's functions are global so that `-rdynamic` exports them and a
 * stripped copy is still named from .dynsym.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libdeep.h"

#if defined(__clang__)
#define DEEP_FRAME __attribute__((noinline))
#else
#define DEEP_FRAME __attribute__((noipa))
#endif

/* After each call: code follows it, so it cannot become a tail call. */
#define BARRIER() asm volatile("" ::: "memory")

/* Size of every block a6 allocates; odd, so its samples are easy to spot. */
#define DEEP_BLOCK_SIZE 4321

enum mode { MODE_HEAP, MODE_CPU };

static enum mode mode = MODE_HEAP;
static unsigned long count = 100;	/* --heap: blocks to allocate */
static double seconds = 3;		/* --cpu: time to spin */

/* Blocks are kept (leaked) through here: no malloc can be elided. */
void *volatile deep_sink;
static volatile unsigned long spin_sink;

static __attribute__((noinline)) unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

DEEP_FRAME unsigned long a6(unsigned long x)
{
	unsigned long long end;
	unsigned long i;
	int j;

	if (mode == MODE_HEAP) {
		for (i = 0; i < count; i++) {
			void *p = malloc(DEEP_BLOCK_SIZE); /* LINE:a6_malloc */

			BARRIER();
			if (!p) {
				perror("deepchain: malloc");
				exit(1);
			}
			deep_sink = p;
		}
		return x + 6;
	}
	/* The clock is read every few thousand iterations, so nearly every
	 * CPU sample lands in the loop, in a6 itself. */
	/* the compiler interleaves this line's code into the loop below
	 * (its blocks carry line 82 and 85 alike): the spin's lines start
	 * here */
	end = now_ns() + (unsigned long long)(seconds * 1e9); /* LINE:a6_spin_setup */
	do {
		for (j = 0; j < 4000; j++) /* LINE:a6_spin_begin */
			x = x * 6364136223846793005UL + 1442695040888963407UL;
	} while (now_ns() < end); /* LINE:a6_spin_end */
	spin_sink = x;
	return x;
}

DEEP_FRAME unsigned long a5(unsigned long x)
{
	unsigned long r = a6(x + 5); /* LINE:a5_call */

	BARRIER();
	return r + 1;
}

DEEP_FRAME unsigned long a2(unsigned long x)
{
	unsigned long r = lib_b3(a5, x + 2); /* LINE:a2_call */

	BARRIER();
	return r + 1;
}

DEEP_FRAME unsigned long a1(unsigned long x)
{
	unsigned long r = a2(x + 1); /* LINE:a1_call */

	BARRIER();
	return r + 1;
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: deepchain [--heap | --cpu] [--count N] [--seconds S] [--wait-signal] [--hold]\n"
"Run main -> a1 -> a2 -> lib_b3 -> lib_b4 (libdeep.so) -> a5 -> a6 once.\n"
"  --heap          a6 mallocs --count blocks of 4321 bytes, kept (default)\n"
"  --cpu           a6 spins for --seconds\n"
"  --count N       blocks to allocate (default 100)\n"
"  --seconds S     time to spin (default 3)\n"
"  --wait-signal   print \"ready PID\", wait for SIGUSR1 before the chain\n"
"  --hold          after the chain print \"done\", wait for SIGTERM/SIGINT\n"
"Examples:\n"
"  memtel-bpf --sample-bytes 1 -- deepchain --heap\n"
"  deepchain --cpu --wait-signal --hold & memtel-bpf --pid $! ...; kill -USR1 $!\n");
}

static int parse_ulong(const char *arg, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || v < 1 || v > 10000000)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_seconds(const char *arg, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v > 0 && v <= 3600))
		return -EINVAL;
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "heap", no_argument, NULL, 'H' },
		{ "cpu", no_argument, NULL, 'c' },
		{ "count", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' },
		{ "wait-signal", no_argument, NULL, 'w' },
		{ "hold", no_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int opt, sig, wait_signal = 0, hold = 0;
	unsigned long r;
	sigset_t set;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'H':
			mode = MODE_HEAP;
			break;
		case 'c':
			mode = MODE_CPU;
			break;
		case 'n':
			if (parse_ulong(optarg, &count))
				goto bad;
			break;
		case 's':
			if (parse_seconds(optarg, &seconds))
				goto bad;
			break;
		case 'w':
			wait_signal = 1;
			break;
		case 'o':
			hold = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc)
		goto bad;

	/* Block before announcing anything, so no signal can be missed. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (wait_signal || hold)
		sigprocmask(SIG_BLOCK, &set, NULL);
	if (wait_signal) {
		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		do {
			if (sigwait(&set, &sig))
				return 1;
			if (sig != SIGUSR1)
				return 0;
		} while (sig != SIGUSR1);
	}

	r = a1(0); /* LINE:main_call */
	BARRIER();

	printf("done %lu\n", r & 1);
	fflush(stdout);
	if (hold) {
		sigdelset(&set, SIGUSR1);
		sigwait(&set, &sig);
	}
	return 0;

bad:
	fprintf(stderr, "deepchain: bad argument\n");
	usage(stderr);
	return 2;
}
