// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * tcsampled.cc - known heap totals for tcmalloc's own sampler
 * (TCMALLOC_SAMPLE_PARAMETER), for tests/integration/heap_tcmalloc_sampled.sh.
 * Three sites, each an extern "C" function (plain names in the profile):
 * churn_site news and deletes 4 KiB arrays (1.6 GB through the thread
 * caches: ~3000 samples at 512 KiB), kept_site keeps 32 blocks of 2 MiB
 * (each sampled with probability 1 - exp(-4): the in-use estimate has one
 * sigma ~2.4%), big_churn_site news and deletes 2 MiB blocks (the page
 * heap's path). Prints the totals as JSON (sitestats.h); --expect prints
 * them without allocating; --wait-signal waits for SIGUSR1 first.
 * --pairs N instead times N new(64)/delete pairs and prints
 * "ns_per_pair X" (for the cost of the probes per unsampled call).
 *
 * Built by the test with g++ -O2 -Itools/workloads ... -ltcmalloc (the
 * Makefile builds C workloads only).
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "sitestats.h"

#define SITE extern "C" __attribute__((noipa))
#define BARRIER() asm volatile("" ::: "memory")

static void *volatile sink;

enum site { S_CHURN, S_KEPT, S_BIG_CHURN, S__COUNT };

static struct site_stats stats[S__COUNT] = {
	{ "churn_site", 0, 0, 0, 0 },
	{ "kept_site", 0, 0, 0, 0 },
	{ "big_churn_site", 0, 0, 0, 0 },
};

#define CHURN_N 400000
#define CHURN_SIZE 4096
#define KEPT_N 32
#define BIG_SIZE (2u << 20)
#define BIG_N 200

/* n new[size]/delete[] pairs, written into each site that churns (a
 * macro, not an inline function: the profile's leaf must be the site,
 * not an inlined frame) */
#define CHURN(n, size)						\
	do {							\
		for (long i_ = 0; i_ < (long)(n); i_++) {	\
			char *a_ = new char[size];		\
								\
			sink = a_;				\
			BARRIER();				\
			delete[] a_;				\
		}						\
	} while (0)

SITE void churn_site(int n, size_t size)
{
	CHURN(n, size);
}

SITE void kept_site(int n, size_t size, char **keep)
{
	for (int i = 0; i < n; i++) {
		keep[i] = new char[size];
		sink = keep[i];
		BARRIER();
	}
}

SITE void big_churn_site(int n, size_t size)
{
	CHURN(n, size);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

SITE void pairs_site(long n)
{
	CHURN(n, 64);
}

int main(int argc, char **argv)
{
	bool dry = false, wait = false;
	long pairs = 0;
	char **keep;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--expect")) {
			dry = true;
		} else if (!strcmp(argv[i], "--wait-signal")) {
			wait = true;
		} else if (!strcmp(argv[i], "--pairs") && i + 1 < argc) {
			pairs = strtol(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "usage: tcsampled [--expect | --wait-signal] [--pairs N]\n");
			return 2;
		}
	}
	if (wait && !dry && site_wait_signal())
		return 1;
	if (pairs > 0) {
		double t0 = now_ns();

		pairs_site(pairs);
		printf("ns_per_pair %.1f\n", (now_ns() - t0) / (double)pairs);
		return 0;
	}
	site_account(&stats[S_CHURN], CHURN_N, CHURN_SIZE, false);
	site_account(&stats[S_KEPT], KEPT_N, BIG_SIZE, true);
	site_account(&stats[S_BIG_CHURN], BIG_N, BIG_SIZE, false);
	if (!dry) {
		/* std::calloc, not new: the bookkeeping is no site's */
		keep = static_cast<char **>(calloc(KEPT_N, sizeof(char *)));
		if (!keep)
			abort();
		churn_site(CHURN_N, CHURN_SIZE);
		kept_site(KEPT_N, BIG_SIZE, keep);
		big_churn_site(BIG_N, BIG_SIZE);
		BARRIER();
	}
	site_print_json(dry ? "expect" : "sampled", stats, S__COUNT);
	return 0;
}
