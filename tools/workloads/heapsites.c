// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * heapsites - a heap workload with exactly known per-site totals, for the
 * memtel-bpf integration tests. Every allocation comes from a noinline
 * "site" function whose name a profile must show as the leaf frame; the
 * program computes the totals it is about to produce from the same plan it
 * runs, and prints them as JSON (--expect prints them without allocating).
 *
 * Accounting follows the profiler's contract: realloc(p, n) is a free of p
 * plus an allocation of n, realloc(NULL, n) is an allocation; sizes are the
 * requested ones (nmemb * size for calloc/reallocarray). "inuse" is what is
 * never freed, i.e. still live when the process exits or the session ends.
 *
 * Exact mode (default; every count times --repeat K):
 *   leak_site          100 x malloc(1000), kept            100 / 100000
 *   churn_site         500 x malloc(3000) + free           alloc 500 / 1500000, inuse 0
 *   calloc_site         64 x calloc(16, 250), kept          64 / 256000
 *   realloc_site       realloc(NULL, 4096), then 8 x realloc doubling up
 *                      to 1 MiB, final block kept           alloc 9 / 2093056,
 *                                                           inuse 1 / 1048576
 *   memalign_site       40 x posix_memalign(64, 2048), kept  40 / 81920
 *   aligned_alloc_site  24 x aligned_alloc(256, 1536), kept  24 / 36864
 *   valloc_site         12 x valloc(8192), kept              12 / 98304
 *   reallocarray_site   20 x reallocarray(NULL, 10, 350), kept  20 / 70000
 *   lib_alloc_site      30 x malloc(5000), kept (libworkload.so)  30 / 150000
 *
 * --gib N mode: 4*N rounds, each a fixed mix of mostly large blocks freed
 * right away plus leaked 2 MiB blocks, >= N GiB allocated in total; sizes
 * straddle the default 512 KiB sampling mean so the sampled estimates of
 * every site land within a few percent (sigma <= 3.6% per site at N = 1,
 * <= 2.6% at N = 2).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libworkload.h"

/* Sites must stay real, separately named functions: no inlining, no
 * constprop/isra clones (they rename the symbol), no identical-code folding. */
#if defined(__clang__)
#define SITE __attribute__((noinline))
#else
#define SITE __attribute__((noipa))
#endif

/* Compiler barrier after each allocator call: the call can then be neither a
 * tail call nor moved out of the site. */
#define BARRIER() asm volatile("" ::: "memory")

/* Every result is stored here, so no malloc/free pair can be elided. */
static void *volatile sink;

enum site {
	S_LEAK,
	S_CHURN,
	S_CALLOC,
	S_REALLOC,
	S_MEMALIGN,
	S_ALIGNED_ALLOC,
	S_VALLOC,
	S_REALLOCARRAY,
	S_LIB,
	S__COUNT,
};

struct site_stats {
	const char *name;
	uint64_t alloc_objects, alloc_space, inuse_objects, inuse_space;
};

static struct site_stats stats[S__COUNT] = {
	[S_LEAK] = { .name = "leak_site" },
	[S_CHURN] = { .name = "churn_site" },
	[S_CALLOC] = { .name = "calloc_site" },
	[S_REALLOC] = { .name = "realloc_site" },
	[S_MEMALIGN] = { .name = "memalign_site" },
	[S_ALIGNED_ALLOC] = { .name = "aligned_alloc_site" },
	[S_VALLOC] = { .name = "valloc_site" },
	[S_REALLOCARRAY] = { .name = "reallocarray_site" },
	[S_LIB] = { .name = "lib_alloc_site" },
};

static __attribute__((noreturn)) void die(const char *what)
{
	fprintf(stderr, "heapsites: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void check(void *p, const char *what)
{
	if (!p)
		die(what);
}

static void account(enum site s, uint64_t n, uint64_t size, bool kept)
{
	stats[s].alloc_objects += n;
	stats[s].alloc_space += n * size;
	if (kept) {
		stats[s].inuse_objects += n;
		stats[s].inuse_space += n * size;
	}
}

/* --- sites ------------------------------------------------------------------
 * keep != NULL: blocks are stored in keep[0..n) (leaked); NULL: freed at once.
 */

SITE static void leak_site(int n, size_t size, void **keep)
{
	for (int i = 0; i < n; i++) {
		void *p = malloc(size);

		BARRIER();
		check(p, "malloc");
		sink = p;
		keep[i] = p;
	}
	BARRIER();
}

SITE static void churn_site(int n, size_t size)
{
	for (int i = 0; i < n; i++) {
		void *p = malloc(size);

		BARRIER();
		check(p, "malloc");
		sink = p;
		free(p);
	}
	BARRIER();
}

SITE static void calloc_site(int n, size_t nmemb, size_t size, void **keep)
{
	for (int i = 0; i < n; i++) {
		void *p = calloc(nmemb, size);

		BARRIER();
		check(p, "calloc");
		sink = p;
		if (keep)
			keep[i] = p;
		else
			free(p);
	}
	BARRIER();
}

/* Each chain: realloc(NULL, first), then `grows` reallocs doubling it. */
SITE static void realloc_site(int chains, size_t first, int grows, void **keep)
{
	for (int i = 0; i < chains; i++) {
		void *p = realloc(NULL, first);

		BARRIER();
		check(p, "realloc");
		for (int g = 1; g <= grows; g++) {
			void *q = realloc(p, first << g);

			BARRIER();
			check(q, "realloc");
			p = q;
			sink = p;
		}
		if (keep)
			keep[i] = p;
		else
			free(p);
	}
	BARRIER();
}

SITE static void memalign_site(int n, size_t align, size_t size, void **keep)
{
	for (int i = 0; i < n; i++) {
		void *p = NULL;
		int err = posix_memalign(&p, align, size);

		BARRIER();
		if (err) {
			errno = err;
			die("posix_memalign");
		}
		sink = p;
		if (keep)
			keep[i] = p;
		else
			free(p);
	}
	BARRIER();
}

SITE static void aligned_alloc_site(int n, size_t align, size_t size, void **keep)
{
	for (int i = 0; i < n; i++) {
		void *p = aligned_alloc(align, size);

		BARRIER();
		check(p, "aligned_alloc");
		sink = p;
		keep[i] = p;
	}
	BARRIER();
}

SITE static void valloc_site(int n, size_t size, void **keep)
{
	for (int i = 0; i < n; i++) {
		void *p = valloc(size);

		BARRIER();
		check(p, "valloc");
		sink = p;
		keep[i] = p;
	}
	BARRIER();
}

SITE static void reallocarray_site(int n, size_t nmemb, size_t size, void **keep)
{
	for (int i = 0; i < n; i++) {
		void *p = reallocarray(NULL, nmemb, size);

		BARRIER();
		check(p, "reallocarray");
		sink = p;
		keep[i] = p;
	}
	BARRIER();
}

/* --- plans -------------------------------------------------------------------
 * Each step accounts what it allocates, then (unless dry) runs it.
 */

/* Leaked blocks are recorded here; never freed on purpose. */
static void **new_keep(int n, bool dry)
{
	void **keep;

	if (dry)
		return NULL;
	keep = calloc((size_t)n, sizeof(*keep));
	check(keep, "calloc");
	return keep;
}

SITE static void run_exact(int k, bool dry)
{
	void **keep;

	account(S_LEAK, 100 * k, 1000, true);
	keep = new_keep(100 * k, dry);
	if (!dry)
		leak_site(100 * k, 1000, keep);

	account(S_CHURN, 500 * k, 3000, false);
	if (!dry)
		churn_site(500 * k, 3000);

	account(S_CALLOC, 64 * k, 16 * 250, true);
	keep = new_keep(64 * k, dry);
	if (!dry)
		calloc_site(64 * k, 16, 250, keep);

	/* 4096 << 0..8: 9 allocations totalling 4096 * 511, 1 MiB kept */
	for (int g = 0; g <= 8; g++)
		account(S_REALLOC, k, (uint64_t)4096 << g, g == 8);
	keep = new_keep(k, dry);
	if (!dry)
		realloc_site(k, 4096, 8, keep);

	account(S_MEMALIGN, 40 * k, 2048, true);
	keep = new_keep(40 * k, dry);
	if (!dry)
		memalign_site(40 * k, 64, 2048, keep);

	account(S_ALIGNED_ALLOC, 24 * k, 1536, true);
	keep = new_keep(24 * k, dry);
	if (!dry)
		aligned_alloc_site(24 * k, 256, 1536, keep);

	account(S_VALLOC, 12 * k, 8192, true);
	keep = new_keep(12 * k, dry);
	if (!dry)
		valloc_site(12 * k, 8192, keep);

	account(S_REALLOCARRAY, 20 * k, 10 * 350, true);
	keep = new_keep(20 * k, dry);
	if (!dry)
		reallocarray_site(20 * k, 10, 350, keep);

	account(S_LIB, 30 * k, 5000, true);
	keep = new_keep(30 * k, dry);
	if (!dry)
		lib_alloc_site(30 * k, 5000, keep);
	BARRIER();
}

#define KiB ((uint64_t)1024)
#define MiB (1024 * KiB)

/* One round = 257.8 MiB; 4 rounds per GiB. */
SITE static void run_gib(int gib, bool dry)
{
	for (int r = 0; r < 4 * gib; r++) {
		void **keep;

		account(S_LEAK, 6, 2 * MiB, true);
		keep = new_keep(6, dry);
		if (!dry)
			leak_site(6, 2 * MiB, keep);

		account(S_CHURN, 35000, 3000, false);
		if (!dry)
			churn_site(35000, 3000);

		account(S_CALLOC, 40, 16 * 64 * KiB, false);
		if (!dry)
			calloc_site(40, 16, 64 * KiB, NULL);

		/* 64 KiB << 0..6 = 64 KiB .. 4 MiB, all freed */
		for (int g = 0; g <= 6; g++)
			account(S_REALLOC, 5, (64 * KiB) << g, false);
		if (!dry)
			realloc_site(5, 64 * KiB, 6, NULL);

		account(S_MEMALIGN, 56, 768 * KiB, false);
		if (!dry)
			memalign_site(56, 64, 768 * KiB, NULL);

		account(S_LIB, 16, 1536 * KiB, false);
		if (!dry)
			lib_alloc_site(16, 1536 * KiB, NULL);
	}
	BARRIER();
}

static void print_json(const char *mode)
{
	printf("{\"mode\": \"%s\", \"pid\": %d, \"sites\": {", mode, (int)getpid());
	for (int s = 0, first = 1; s < S__COUNT; s++) {
		const struct site_stats *st = &stats[s];

		if (!st->alloc_objects)
			continue;
		printf("%s\"%s\": {\"alloc_objects\": %" PRIu64
		       ", \"alloc_space\": %" PRIu64
		       ", \"inuse_objects\": %" PRIu64
		       ", \"inuse_space\": %" PRIu64 "}",
		       first ? "" : ", ", st->name, st->alloc_objects,
		       st->alloc_space, st->inuse_objects, st->inuse_space);
		first = 0;
	}
	printf("}}\n");
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f,
"Usage: heapsites [--repeat K | --gib N] [--expect] [--wait-signal] [--hold]\n"
"Allocate from known sites with exactly known totals, then print them as JSON.\n"
"  --repeat K      multiply every exact-mode count by K (default 1)\n"
"  --gib N         allocate >= N GiB in a fixed mix instead (sampling tests)\n"
"  --expect        print the totals the run would produce, allocate nothing\n"
"  --wait-signal   print \"ready PID\", wait for SIGUSR1 before allocating\n"
"  --hold          after allocating print \"done\", wait for SIGTERM/SIGINT\n"
"Examples:\n"
"  heapsites --expect\n"
"  heapsites --wait-signal --hold & memtel-bpf --pid $! ...; kill -USR1 $!\n");
}

static int parse_count(const char *arg, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < 1 || v > 1000)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "repeat", required_argument, NULL, 'r' },
		{ "gib", required_argument, NULL, 'g' },
		{ "expect", no_argument, NULL, 'e' },
		{ "wait-signal", no_argument, NULL, 'w' },
		{ "hold", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int repeat = 1, gib = 0, opt, sig;
	bool expect = false, wait_signal = false, hold = false;
	sigset_t set;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			if (parse_count(optarg, &repeat))
				goto bad;
			break;
		case 'g':
			if (parse_count(optarg, &gib))
				goto bad;
			break;
		case 'e':
			expect = true;
			break;
		case 'w':
			wait_signal = true;
			break;
		case 'H':
			hold = true;
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
		goto bad_usage;

	if (expect) {
		if (gib)
			run_gib(gib, true);
		else
			run_exact(repeat, true);
		print_json(gib ? "gib" : "exact");
		return 0;
	}

	/* Block before announcing anything, so no signal can be missed. */
	sigemptyset(&set);
	if (wait_signal)
		sigaddset(&set, SIGUSR1);
	if (hold) {
		sigaddset(&set, SIGTERM);
		sigaddset(&set, SIGINT);
	}
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		die("sigprocmask");

	if (wait_signal) {
		printf("ready %d\n", (int)getpid());
		fflush(stdout);
		/* With --hold, SIGTERM/SIGINT are blocked too: honour them. */
		if (sigwait(&set, &sig))
			die("sigwait");
		if (sig != SIGUSR1)
			return 0;
	}

	if (gib)
		run_gib(gib, false);
	else
		run_exact(repeat, false);
	print_json(gib ? "gib" : "exact");

	if (hold) {
		sigset_t term;

		printf("done\n");
		fflush(stdout);
		sigemptyset(&term);
		sigaddset(&term, SIGTERM);
		sigaddset(&term, SIGINT);
		if (sigwait(&term, &sig))
			die("sigwait");
	}
	return 0;

bad:
	fprintf(stderr, "heapsites: invalid number '%s' (1..1000)\n", optarg);
	return 2;
bad_usage:
	usage(stderr);
	return 2;
}
