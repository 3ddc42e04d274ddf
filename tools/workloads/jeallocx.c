// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * jeallocx.c - known counts and sizes through jemalloc's non-standard API
 * (mallocx, rallocx, xallocx, sdallocx, dallocx), for the heap tests. The
 * functions are looked up at run time (run it with jemalloc preloaded or
 * linked), so the Makefile builds it like any other workload. Each site is
 * a noipa function called from run_exact; the run prints per-site totals as
 * JSON in heapsites' format, --expect prints them without allocating;
 * --wait-signal waits for SIGUSR1 first (for attaching by pid).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sitestats.h"

#define SITE __attribute__((noipa))
#define BARRIER() asm volatile("" ::: "memory")
/* jemalloc.h: MALLOCX_LG_ALIGN(la) is la itself */
#define LG_ALIGN_64 6

static void *(*j_mallocx)(size_t, int);
static void *(*j_rallocx)(void *, size_t, int);
static size_t (*j_xallocx)(void *, size_t, size_t, int);
static void (*j_sdallocx)(void *, size_t, int);
static void (*j_dallocx)(void *, int);

static void *volatile sink;

enum site { S_MALLOCX, S_RALLOCX, S_XALLOCX, S_SDALLOCX, S_DALLOCX, S__COUNT };

static struct site_stats stats[S__COUNT] = {
	[S_MALLOCX] = { .name = "mallocx_site" },
	[S_RALLOCX] = { .name = "rallocx_site" },
	[S_XALLOCX] = { .name = "xallocx_site" },
	[S_SDALLOCX] = { .name = "sdallocx_site" },
	[S_DALLOCX] = { .name = "dallocx_site" },
};

static void account(enum site s, uint64_t n, uint64_t size, bool kept)
{
	site_account(&stats[s], n, size, kept);
}

static void *check(void *p)
{
	if (!p) {
		fprintf(stderr, "jeallocx: out of memory\n");
		exit(1);
	}
	return p;
}

/* n 64-byte-aligned blocks of size bytes, kept */
SITE static void mallocx_site(int n, size_t size, void **keep)
{
	for (int i = 0; i < n; i++) {
		keep[i] = check(j_mallocx(size, LG_ALIGN_64));
		sink = keep[i];
		BARRIER();
	}
}

/* n blocks of from bytes moved to `to` bytes, kept: the first block is
 * freed by rallocx */
SITE static void rallocx_site(int n, size_t from, size_t to, void **keep)
{
	for (int i = 0; i < n; i++) {
		void *p = check(j_mallocx(from, 0));

		sink = p;
		keep[i] = check(j_rallocx(p, to, 0));
		sink = keep[i];
		BARRIER();
	}
}

/* n small blocks: growing one to 1 MiB in place fails (the block stays as
 * it is), shrinking it to half succeeds; kept */
SITE static void xallocx_site(int n, size_t size, void **keep)
{
	for (int i = 0; i < n; i++) {
		keep[i] = check(j_mallocx(size, 0));
		if (j_xallocx(keep[i], 1 << 20, 0, 0) >= (1 << 20)) {
			fprintf(stderr, "jeallocx: xallocx grew a small block\n");
			exit(1);
		}
		if (j_xallocx(keep[i], size / 2, 0, 0) < size / 2) {
			fprintf(stderr, "jeallocx: xallocx failed to shrink\n");
			exit(1);
		}
		sink = keep[i];
		BARRIER();
	}
}

/* n blocks freed at once with their size */
SITE static void sdallocx_site(int n, size_t size)
{
	for (int i = 0; i < n; i++) {
		void *p = check(j_mallocx(size, 0));

		sink = p;
		BARRIER();
		j_sdallocx(p, size, 0);
	}
}

/* n blocks freed at once without their size */
SITE static void dallocx_site(int n, size_t size)
{
	for (int i = 0; i < n; i++) {
		void *p = check(j_mallocx(size, 0));

		sink = p;
		BARRIER();
		j_dallocx(p, 0);
	}
}

SITE static void run_exact(int k, bool dry)
{
	void **keep = dry ? NULL : check(calloc(3 * 100 * k, sizeof(void *)));

	account(S_MALLOCX, 100 * k, 1000, true);
	account(S_RALLOCX, 100 * k, 512, false);
	account(S_RALLOCX, 100 * k, 4096, true);
	account(S_XALLOCX, 100 * k, 4096, false);
	account(S_XALLOCX, 100 * k, 2048, true);
	account(S_SDALLOCX, 300 * k, 3000, false);
	account(S_DALLOCX, 200 * k, 700, false);
	if (dry)
		return;
	mallocx_site(100 * k, 1000, keep);
	rallocx_site(100 * k, 512, 4096, keep + 100 * k);
	xallocx_site(100 * k, 4096, keep + 200 * k);
	sdallocx_site(300 * k, 3000);
	dallocx_site(200 * k, 700);
	BARRIER();	/* no tail call: run_exact stays the caller */
}

int main(int argc, char **argv)
{
	bool dry = argc == 2 && !strcmp(argv[1], "--expect");
	bool wait = argc == 2 && !strcmp(argv[1], "--wait-signal");

	if (argc > 2 || (argc == 2 && !dry && !wait)) {
		fprintf(stderr, "usage: jeallocx [--expect | --wait-signal]  "
			"(with jemalloc preloaded or linked)\n");
		return 2;
	}
	if (!dry) {
		*(void **)&j_mallocx = dlsym(RTLD_DEFAULT, "mallocx");
		*(void **)&j_rallocx = dlsym(RTLD_DEFAULT, "rallocx");
		*(void **)&j_xallocx = dlsym(RTLD_DEFAULT, "xallocx");
		*(void **)&j_sdallocx = dlsym(RTLD_DEFAULT, "sdallocx");
		*(void **)&j_dallocx = dlsym(RTLD_DEFAULT, "dallocx");
		if (!j_mallocx || !j_rallocx || !j_xallocx || !j_sdallocx ||
		    !j_dallocx) {
			fprintf(stderr, "jeallocx: jemalloc is not loaded "
				"(LD_PRELOAD=libjemalloc.so.2)\n");
			return 1;
		}
	}
	if (wait && site_wait_signal())
		return 1;
	run_exact(2, dry);
	site_print_json("exact", stats, S__COUNT);
	return 0;
}
