// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * cxxalloc.cc - a C++ program with known operator new/new[]/delete/delete[]
 * counts and sizes, for the heap tests on allocators that define their own
 * operators (jemalloc, tcmalloc, mimalloc). Each site is a separate
 * extern "C" function (plain names in the profile) called from run_exact;
 * the run prints per-site totals as JSON, the format heapsites uses, and
 * --expect prints them without allocating; --wait-signal waits for SIGUSR1
 * first (for attaching by pid). --sampled churns ~1.6 GB through new[] and
 * new instead, for the default byte sampling.
 *
 * Built by the tests with g++ -O2 -Itools/workloads (the Makefile builds C
 * workloads only), optionally linked with -ljemalloc or -ltcmalloc_minimal.
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "sitestats.h"

#define SITE extern "C" __attribute__((noipa))
#define BARRIER() asm volatile("" ::: "memory")

/* Every result goes through here, so no new/delete pair can be elided. */
static void *volatile sink;

struct Obj {			/* 48 bytes: plain new, sized delete */
	char bytes[48];
};

struct alignas(64) Wide {	/* 192 bytes, over-aligned: aligned new */
	char bytes[192];
};

enum site {
	S_NEW, S_NEW_ARRAY, S_NOTHROW, S_ALIGNED, S_CHURN,
	S_ARRAY_CHURN, S_BIG_CHURN,	/* --sampled */
	S__COUNT
};

static struct site_stats stats[S__COUNT] = {
	{ "new_site", 0, 0, 0, 0 },
	{ "new_array_site", 0, 0, 0, 0 },
	{ "nothrow_site", 0, 0, 0, 0 },
	{ "aligned_new_site", 0, 0, 0, 0 },
	{ "churn_site", 0, 0, 0, 0 },
	{ "array_churn_site", 0, 0, 0, 0 },
	{ "big_churn_site", 0, 0, 0, 0 },
};

struct Big {			/* 2 KiB: plain new, sized delete */
	char bytes[2048];
};

static void account(enum site s, uint64_t n, uint64_t size, bool kept)
{
	site_account(&stats[s], n, size, kept);
}

/* n objects kept (never deleted): operator new(size_t) */
SITE void new_site(int n, Obj **keep)
{
	for (int i = 0; i < n; i++) {
		keep[i] = new Obj;
		sink = keep[i];
		BARRIER();
	}
}

/* n arrays of size bytes, kept: operator new[](size_t) */
SITE void new_array_site(int n, size_t size, char **keep)
{
	for (int i = 0; i < n; i++) {
		keep[i] = new char[size];
		sink = keep[i];
		BARRIER();
	}
}

/* n nothrow arrays, kept: operator new[](size_t, nothrow_t) */
SITE void nothrow_site(int n, size_t size, char **keep)
{
	for (int i = 0; i < n; i++) {
		keep[i] = new (std::nothrow) char[size];
		if (!keep[i])
			abort();
		sink = keep[i];
		BARRIER();
	}
}

/* n over-aligned objects, kept: operator new(size_t, align_val_t) */
SITE void aligned_new_site(int n, Wide **keep)
{
	for (int i = 0; i < n; i++) {
		keep[i] = new Wide;
		sink = keep[i];
		BARRIER();
	}
}

/* n objects and n arrays, each deleted at once (sized delete, delete[],
 * aligned delete): nothing stays in use */
SITE void churn_site(int n, size_t size)
{
	for (int i = 0; i < n; i++) {
		Obj *o = new Obj;
		char *a = new char[size];
		Wide *w = new Wide;

		sink = o;
		sink = a;
		sink = w;
		BARRIER();
		delete w;
		delete[] a;
		delete o;
	}
}

/* n arrays of size bytes, each deleted at once: operator new[] */
SITE void array_churn_site(int n, size_t size)
{
	for (int i = 0; i < n; i++) {
		char *a = new char[size];

		sink = a;
		BARRIER();
		delete[] a;
	}
}

/* n 2 KiB objects, each deleted at once: operator new */
SITE void big_churn_site(int n)
{
	for (int i = 0; i < n; i++) {
		Big *b = new Big;

		sink = b;
		BARRIER();
		delete b;
	}
}

/* ~1.6 GB through operator new[] and new for the default byte sampling:
 * about 1500 samples per site (one sigma ~2.6%). */
SITE void run_sampled(bool dry)
{
	account(S_ARRAY_CHURN, 200000, 4096, false);
	account(S_BIG_CHURN, 400000, sizeof(Big), false);
	if (dry)
		return;
	array_churn_site(200000, 4096);
	big_churn_site(400000);
	BARRIER();
}

template <typename T> static T **keep_array(int n, bool dry)
{
	/* std::malloc, not new: the bookkeeping is no site's allocation */
	return dry ? nullptr : static_cast<T **>(calloc((size_t)n, sizeof(T *)));
}

SITE void run_exact(int k, bool dry)
{
	Obj **objs = keep_array<Obj>(300 * k, dry);
	char **arrays = keep_array<char>(50 * k, dry);
	char **nothrow = keep_array<char>(40 * k, dry);
	Wide **wide = keep_array<Wide>(30 * k, dry);

	account(S_NEW, 300 * k, sizeof(Obj), true);
	account(S_NEW_ARRAY, 50 * k, 1000, true);
	account(S_NOTHROW, 40 * k, 2000, true);
	account(S_ALIGNED, 30 * k, sizeof(Wide), true);
	account(S_CHURN, 3 * 200 * k, 0, false);
	stats[S_CHURN].alloc_space +=
		200 * k * (sizeof(Obj) + 3000 + sizeof(Wide));
	if (dry)
		return;
	if (!objs || !arrays || !nothrow || !wide)
		abort();
	new_site(300 * k, objs);
	new_array_site(50 * k, 1000, arrays);
	nothrow_site(40 * k, 2000, nothrow);
	aligned_new_site(30 * k, wide);
	churn_site(200 * k, 3000);
	BARRIER();	/* no tail call: run_exact stays the caller */
}

int main(int argc, char **argv)
{
	bool dry = false, sampled = false, wait = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--expect")) {
			dry = true;
		} else if (!strcmp(argv[i], "--sampled")) {
			sampled = true;
		} else if (!strcmp(argv[i], "--wait-signal")) {
			wait = true;
		} else {
			fprintf(stderr, "usage: cxxalloc [--sampled] "
				"[--expect | --wait-signal]\n");
			return 2;
		}
	}
	if (wait && !dry && site_wait_signal())
		return 1;
	if (sampled)
		run_sampled(dry);
	else
		run_exact(2, dry);
	site_print_json(sampled ? "sampled" : "exact", stats, S__COUNT);
	return 0;
}
