// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cpusplit.c - CPU workload with a known split: every thread spends three
 * time slices in leaf_three() for each one in leaf_one(), so a correct CPU
 * profile gives them 75% and 25% of the samples. Built -O2 without frame
 * pointers, like distribution code.
 *
 *   cpusplit [--seconds S] [--threads N] [--idle] [--wait-signal]
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SLICE_NS 1000000ULL	/* 1 ms: far below the 10 ms sample gap */

static volatile unsigned long long sink;
static double seconds = 5;

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Spin for ns nanoseconds of work; the clock is read every few thousand
 * iterations so almost all time is in the loop itself. */
__attribute__((noinline)) static unsigned long long spin(unsigned long long ns,
							  unsigned long long x)
{
	unsigned long long end = now_ns() + ns;
	int i;

	do {
		for (i = 0; i < 4000; i++)
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	} while (now_ns() < end);
	return x;
}

__attribute__((noinline)) unsigned long long leaf_three(unsigned long long x)
{
	unsigned long long end = now_ns() + 3 * SLICE_NS;
	int i;

	do {
		for (i = 0; i < 4000; i++)
			x = x * 2862933555777941757ULL + 3037000493ULL;
	} while (now_ns() < end);
	asm volatile("" ::: "memory");
	return x;
}

__attribute__((noinline)) unsigned long long leaf_one(unsigned long long x)
{
	unsigned long long end = now_ns() + SLICE_NS;
	int i;

	do {
		for (i = 0; i < 4000; i++)
			x = x * 3202034522624059733ULL + 4354685564936845319ULL;
	} while (now_ns() < end);
	asm volatile("" ::: "memory");
	return x;
}

__attribute__((noinline)) static void *worker(void *arg)
{
	unsigned long long end = now_ns() + (unsigned long long)(seconds * 1e9);
	unsigned long long x = (unsigned long long)(long)arg;

	(void)spin;
	while (now_ns() < end) {
		x = leaf_three(x);
		x = leaf_one(x);
	}
	sink = x;
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = 1, idle = 0, wait_sig = 0, i;
	pthread_t tid[64];

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--idle"))
			idle = 1;
		else if (!strcmp(argv[i], "--wait-signal"))
			wait_sig = 1;
		else {
			fprintf(stderr, "usage: cpusplit [--seconds S] [--threads N] [--idle] [--wait-signal]\n");
			return 2;
		}
	}
	if (threads < 1 || threads > 64)
		threads = 1;
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
	if (idle) {
		struct timespec ts = { (time_t)seconds,
				       (long)((seconds - (time_t)seconds) * 1e9) };

		nanosleep(&ts, NULL);
		printf("done\n");
		return 0;
	}
	for (i = 1; i < threads; i++)
		pthread_create(&tid[i], NULL, worker, (void *)(long)i);
	worker((void *)0L);
	for (i = 1; i < threads; i++)
		pthread_join(tid[i], NULL);
	printf("done %llu\n", sink & 1);
	return 0;
}
