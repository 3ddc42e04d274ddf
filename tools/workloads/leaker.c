// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * leaker.c - a service that leaks steadily: every tick leak_steady() keeps
 * a block it never frees, while churn_ok() allocates and frees as much.
 * For leak detection and metrics tests.
 *
 *   leaker [--seconds S] [--tick-ms MS] [--leak-bytes N] [--wait-signal]
 *          [--free-at-exit] [--ring N]
 *
 * --free-at-exit frees every leaked block before main returns, as a
 * program that cleans up at exit does: the leak is only visible while it
 * runs.
 *
 * --ring N leaks nothing: each tick frees the oldest of the last N blocks
 * instead (ring_keep), so blocks are live at every moment but none stays:
 * the steady heap of a server, for the overhead budget's tests.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *volatile sink;
static void **kept;
static size_t n_kept, cap_kept;

__attribute__((noinline)) void *leak_steady(size_t n)
{
	void *p = malloc(n);

	memset(p, 1, n);	/* touch it: RSS grows too */
	asm volatile("" ::: "memory");
	return p;
}

__attribute__((noinline)) void churn_ok(size_t n)
{
	void *p = malloc(n);

	memset(p, 2, n);
	sink = p;
	asm volatile("" ::: "memory");
	free(p);
}

/* A ring of n live blocks: the oldest goes, a new one comes. */
__attribute__((noinline)) void ring_keep(void **ring, size_t n, size_t i,
					 size_t size)
{
	free(ring[i % n]);
	ring[i % n] = malloc(size);
	memset(ring[i % n], 3, size);
	asm volatile("" ::: "memory");
}

int main(int argc, char **argv)
{
	double seconds = 10;
	long tick_ms = 50, leak = 64 * 1024;
	struct timespec t0, now;
	int i, wait_sig = 0, free_at_exit = 0;
	size_t k, ring_n = 0, ticks = 0;
	void **ring = NULL;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--tick-ms") && i + 1 < argc)
			tick_ms = atol(argv[++i]);
		else if (!strcmp(argv[i], "--leak-bytes") && i + 1 < argc)
			leak = atol(argv[++i]);
		else if (!strcmp(argv[i], "--wait-signal"))
			wait_sig = 1;
		else if (!strcmp(argv[i], "--free-at-exit"))
			free_at_exit = 1;
		else if (!strcmp(argv[i], "--ring") && i + 1 < argc)
			ring_n = (size_t)atol(argv[++i]);
		else {
			fprintf(stderr, "usage: leaker [--seconds S] [--tick-ms MS] [--leak-bytes N] [--wait-signal] [--free-at-exit] [--ring N]\n");
			return 2;
		}
	}
	if (wait_sig) {
		sigset_t set;
		int sig;

		sigemptyset(&set);
		sigaddset(&set, SIGUSR1);
		sigprocmask(SIG_BLOCK, &set, NULL);
		printf("ready %d\n", getpid());
		fflush(stdout);
		sigwait(&set, &sig);
	}
	if (ring_n && !(ring = calloc(ring_n, sizeof(*ring))))
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct timespec tick = { tick_ms / 1000,
					 (tick_ms % 1000) * 1000000L };

		if (ring_n) {
			ring_keep(ring, ring_n, ticks++, (size_t)leak);
		} else {
			if (n_kept == cap_kept) {
				cap_kept = cap_kept ? cap_kept * 2 : 1024;
				kept = realloc(kept, cap_kept * sizeof(*kept));
			}
			kept[n_kept++] = leak_steady((size_t)leak);
		}
		churn_ok((size_t)leak);
		if (tick_ms)
			nanosleep(&tick, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 >=
		    seconds)
			break;
	}
	if (ring_n)
		printf("kept a ring of %zu blocks, %zu ticks\n", ring_n, ticks);
	printf("leaked %zu blocks of %ld bytes\n", n_kept, leak);
	if (free_at_exit) {
		for (k = 0; k < n_kept; k++)
			free(kept[k]);
		free(kept);
		printf("freed them\n");
	}
	return 0;
}
