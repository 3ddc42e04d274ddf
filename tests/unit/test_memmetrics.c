// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_memmetrics.c - unit tests for the memory metrics model: /proc status
 * and smaps parsing, size categories and severities at their edges, the
 * least-squares slope, the efficiency formula, leak suspects (growing, young,
 * oscillating), counters that never decrease while components are promoted
 * and demoted, top-50 folding into "other", and bounded memory.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "model/memmetrics.h"

#define T0 1700000000.0		/* session start, Unix seconds */
#define SID "0b7e8f52-3c1d-4f6a-9e2b-5d4c3b2a1f00"

static void assert_near(double got, double want, double tol)
{
	if (fabs(got - want) > tol)
		fail_msg("got %.12g, want %.12g (tol %g)", got, want, tol);
}

/* The point of metric name whose labels include k1=v1 (and k2=v2). */
static const struct mm_point *mmt_find(const struct mm_snapshot *s,
				       const char *name, const char *k1,
				       const char *v1, const char *k2,
				       const char *v2)
{
	size_t i, j;

	for (i = 0; i < s->n_points; i++) {
		const struct mm_point *p = &s->points[i];
		int hits = 0, want = (k1 ? 1 : 0) + (k2 ? 1 : 0);

		if (strcmp(p->name, name))
			continue;
		for (j = 0; j < p->n_labels; j++) {
			if (k1 && !strcmp(p->labels[j].key, k1) &&
			    !strcmp(p->labels[j].value, v1))
				hits++;
			if (k2 && !strcmp(p->labels[j].key, k2) &&
			    !strcmp(p->labels[j].value, v2))
				hits++;
		}
		if (hits == want)
			return p;
	}
	return NULL;
}

static size_t mmt_count(const struct mm_snapshot *s, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < s->n_points; i++)
		n += !strcmp(s->points[i].name, name);
	return n;
}

/* --- pure helpers ------------------------------------------------------- */

static void test_size_category(void **state)
{
	(void)state;
	assert_string_equal(memmetrics__size_category(0), "tiny");
	assert_string_equal(memmetrics__size_category(1023), "tiny");
	assert_string_equal(memmetrics__size_category(1024), "small");
	assert_string_equal(memmetrics__size_category(65535), "small");
	assert_string_equal(memmetrics__size_category(65536), "medium");
	assert_string_equal(memmetrics__size_category(1048575), "medium");
	assert_string_equal(memmetrics__size_category(1048576), "large");
	assert_string_equal(memmetrics__size_category(16777215), "large");
	assert_string_equal(memmetrics__size_category(16777216), "huge");
	assert_string_equal(memmetrics__size_category(UINT64_MAX), "huge");
}

static void test_severity(void **state)
{
	(void)state;
	assert_int_equal(memmetrics__severity(0, 0), MM_SEV_LOW);
	/* sizes: MB = 10^6 bytes, strictly greater */
	assert_int_equal(memmetrics__severity(100e6, 0), MM_SEV_HIGH);
	assert_int_equal(memmetrics__severity(100e6 + 1, 0), MM_SEV_CRITICAL);
	assert_int_equal(memmetrics__severity(50e6, 0), MM_SEV_MEDIUM);
	assert_int_equal(memmetrics__severity(50e6 + 1, 0), MM_SEV_HIGH);
	assert_int_equal(memmetrics__severity(10e6, 0), MM_SEV_LOW);
	assert_int_equal(memmetrics__severity(10e6 + 1, 0), MM_SEV_MEDIUM);
	/* growth in MB/h */
	assert_int_equal(memmetrics__severity(0, 50), MM_SEV_HIGH);
	assert_int_equal(memmetrics__severity(0, 50.000001), MM_SEV_CRITICAL);
	assert_int_equal(memmetrics__severity(0, 20), MM_SEV_MEDIUM);
	assert_int_equal(memmetrics__severity(0, 20.000001), MM_SEV_HIGH);
	assert_int_equal(memmetrics__severity(0, 5), MM_SEV_LOW);
	assert_int_equal(memmetrics__severity(0, 5.000001), MM_SEV_MEDIUM);
	/* either criterion suffices */
	assert_int_equal(memmetrics__severity(11e6, 60), MM_SEV_CRITICAL);
	assert_int_equal(memmetrics__severity(200e6, 1), MM_SEV_CRITICAL);

	assert_string_equal(memmetrics__severity_name(MM_SEV_LOW), "low");
	assert_string_equal(memmetrics__severity_name(MM_SEV_MEDIUM), "medium");
	assert_string_equal(memmetrics__severity_name(MM_SEV_HIGH), "high");
	assert_string_equal(memmetrics__severity_name(MM_SEV_CRITICAL),
			    "critical");
}

static void test_slope(void **state)
{
	double t[8], y[8];
	/* symmetric noise around y = 2t + 5: the fit is exact */
	static const double noise[8] = { 1, -1, -1, 1, 1, -1, -1, 1 };
	size_t i;

	(void)state;
	for (i = 0; i < 8; i++) {
		t[i] = T0 + 10.0 * i;
		y[i] = 3.0 * (t[i] - T0) + 7.0;
	}
	assert_near(memmetrics__slope(t, y, 8), 3.0, 1e-9);

	for (i = 0; i < 8; i++)
		y[i] = 2.0 * (t[i] - T0) + 5.0 + 4.0 * noise[i];
	assert_near(memmetrics__slope(t, y, 8), 2.0, 1e-9);
	/* noisier, asymmetric: close to 2 but not exact */
	y[7] += 30.0;
	assert_true(memmetrics__slope(t, y, 8) > 2.0);
	assert_true(memmetrics__slope(t, y, 8) < 2.5);

	for (i = 0; i < 8; i++)
		y[i] = 123456.0;
	assert_near(memmetrics__slope(t, y, 8), 0.0, 0.0);

	assert_near(memmetrics__slope(t, y, 1), 0.0, 0.0);
	assert_near(memmetrics__slope(t, y, 0), 0.0, 0.0);
	assert_near(memmetrics__slope(NULL, y, 8), 0.0, 0.0);
	/* all at the same instant: no slope */
	for (i = 0; i < 8; i++) {
		t[i] = T0;
		y[i] = i;
	}
	assert_near(memmetrics__slope(t, y, 8), 0.0, 0.0);
}

static void test_efficiency(void **state)
{
	const uint64_t sizes4k[1] = { 4096 }, sizes1[1] = { 1 };
	const uint64_t huge[1] = { 64ULL << 20 }, mix[2] = { 4096, 1 };
	const double one[2] = { 1.0, 1.0 }, w31[2] = { 3.0, 1.0 };
	double e;

	(void)state;
	/* size score */
	assert_near(memmetrics__size_score(0), 0.25, 0);
	assert_near(memmetrics__size_score(1), 0.25, 1e-12);
	assert_near(memmetrics__size_score(2048), 1.0 - 0.75 / 12, 1e-12);
	assert_near(memmetrics__size_score(4095), 1.0, 1e-3);
	assert_true(memmetrics__size_score(4095) < 1.0);
	assert_near(memmetrics__size_score(4096), 1.0, 0);
	assert_near(memmetrics__size_score(65536), 1.0, 0);
	assert_true(memmetrics__size_score(65537) < 1.0);
	assert_near(memmetrics__size_score(1 << 20), 0.625, 1e-12);
	assert_near(memmetrics__size_score(16 << 20), 0.25, 1e-12);
	assert_near(memmetrics__size_score(1ULL << 40), 0.25, 0);
	assert_near(memmetrics__size_score(UINT64_MAX), 0.25, 0);

	/* glibc chunk rounding */
	assert_near(memmetrics__alignment_waste(0), 1.0, 0);	/* 32 B chunk */
	assert_near(memmetrics__alignment_waste(1), 31.0 / 32, 1e-12);
	assert_near(memmetrics__alignment_waste(24), 8.0 / 32, 1e-12);
	assert_near(memmetrics__alignment_waste(25), 23.0 / 48, 1e-12);
	assert_near(memmetrics__alignment_waste(4096), 16.0 / 4112, 1e-12);
	/* just below the mmap threshold: nb = 131056 */
	assert_near(memmetrics__alignment_waste(131048), 8.0 / 131056, 1e-12);
	/* mmap'ed: round_up(round_up(s + 8, 16) + 8, 4096) */
	assert_near(memmetrics__alignment_waste(131072), 4096.0 / 135168,
		    1e-12);
	assert_near(memmetrics__alignment_waste(UINT64_MAX), 0.0, 0);

	/* the weighted mean */
	e = memmetrics__efficiency(sizes4k, one, 1);
	assert_true(e > 0.99 && e <= 1.0);
	e = memmetrics__efficiency(sizes1, one, 1);
	assert_true(e < 0.01);
	e = memmetrics__efficiency(huge, one, 1);
	assert_true(e > 0.2 && e <= 0.25);
	e = memmetrics__efficiency(mix, one, 2);
	assert_near(e, (memmetrics__efficiency(sizes4k, NULL, 1) +
			memmetrics__efficiency(sizes1, NULL, 1)) / 2, 1e-12);
	e = memmetrics__efficiency(mix, w31, 2);
	assert_near(e, (3 * memmetrics__efficiency(sizes4k, NULL, 1) +
			memmetrics__efficiency(sizes1, NULL, 1)) / 4, 1e-12);
	/* nothing allocated: nothing wasted */
	assert_near(memmetrics__efficiency(NULL, NULL, 0), 1.0, 0);
	assert_near(memmetrics__efficiency(mix, one, 0), 1.0, 0);
}

/* --- aggregator --------------------------------------------------------- */

static struct memmetrics *mmt_new(double leak_age)
{
	struct memmetrics *m;

	m = memmetrics__new(SID, "heapsites", leak_age, T0);
	assert_non_null(m);
	return m;
}

/* Feed stack id with n_blocks live blocks of blk bytes each. */
static void mmt_stack(struct memmetrics *m, uint32_t id, const char *comp,
		      size_t n_blocks, uint64_t blk, double age)
{
	uint64_t *sizes = calloc(n_blocks ? n_blocks : 1, sizeof(*sizes));
	size_t i;

	assert_non_null(sizes);
	for (i = 0; i < n_blocks; i++)
		sizes[i] = blk;
	assert_int_equal(memmetrics__window_stack(m, id, comp,
						  (double)(n_blocks * blk),
						  (double)n_blocks, age, sizes,
						  NULL, n_blocks), 0);
	free(sizes);
}

static void test_leak_growing(void **state)
{
	struct proc_mem proc = { 50 << 20, 300 << 20, 20 << 20 };
	struct memmetrics *m = mmt_new(0);	/* default leak age, 30 s */
	struct mm_snapshot s = {};
	const struct mm_point *p;
	int k;

	(void)state;
	assert_int_equal(memmetrics__on_alloc(m, "leak_site", "malloc", 1000,
					      1.0), 0);
	for (k = 1; k <= 4; k++) {
		/* +100 kB per 60 s window: 6 MB/h, medium */
		mmt_stack(m, 7, "leak_site", 100 * k, 1000, 60.0 * k);
		/* a steady stack is no suspect */
		mmt_stack(m, 8, "cache_fill", 50, 4096, 60.0 * k);
		assert_int_equal(memmetrics__end_window(m, T0 + 60.0 * k, &proc,
							1e6), 0);
		assert_int_equal(memmetrics__snapshot(m, &s), 0);
		p = mmt_find(&s, "memory.leak.count", "status", "detected",
			     NULL, NULL);
		assert_non_null(p);
		if (k < 3) {
			/* two windows are not enough data */
			assert_int_equal(s.n_suspects, 0);
			assert_near(p->value, 0, 0);
		} else {
			assert_int_equal(s.n_suspects, 1);
			assert_near(p->value, 1, 0);
		}
		if (k < 4)
			mm_snapshot__free(&s);
	}

	assert_int_equal(s.suspects[0].stack_id, 7);
	assert_string_equal(s.suspects[0].component, "leak_site");
	assert_near(s.suspects[0].live_bytes, 400000, 0);
	assert_near(s.suspects[0].live_objects, 400, 0);
	assert_near(s.suspects[0].growth_mb_h, 6.0, 1e-9);
	assert_int_equal(s.suspects[0].severity, MM_SEV_MEDIUM);
	assert_int_equal(s.suspects[0].n_windows, 4);
	assert_near(s.time_s, T0 + 240, 0);

	p = mmt_find(&s, "memory.leak.growth_rate_mb_h", "metric",
		     "growth_rate", NULL, NULL);
	assert_non_null(p);
	assert_int_equal(p->kind, MM_KIND_GAUGE);
	assert_near(p->value, 6.0, 1e-9);

	p = mmt_find(&s, "memory.leak.size_bytes", "component", "leak_site",
		     "severity", "medium");
	assert_non_null(p);
	assert_int_equal(p->kind, MM_KIND_HISTOGRAM);
	assert_true(p->hist.count == 400);
	assert_true(p->hist.bucket_counts[3] == 400);	/* (256, 1024] */
	assert_near(p->hist.sum, 400000, 0);
	assert_near(p->hist.min, 1000, 0);
	assert_near(p->hist.max, 1000, 0);
	assert_int_equal(mmt_count(&s, "memory.leak.size_bytes"), 1);

	p = mmt_find(&s, "memory.leak.allocation_count", "component",
		     "leak_site", "severity", "medium");
	assert_non_null(p);
	assert_int_equal(p->kind, MM_KIND_COUNTER);
	assert_near(p->value, 400, 0);
	mm_snapshot__free(&s);

	/* the leak is freed: no suspect, the counters stay */
	assert_int_equal(memmetrics__end_window(m, T0 + 300, &proc, 0), 0);
	assert_int_equal(memmetrics__snapshot(m, &s), 0);
	assert_int_equal(s.n_suspects, 0);
	assert_near(mmt_find(&s, "memory.leak.count", NULL, NULL, NULL,
			     NULL)->value, 1, 0);
	assert_near(mmt_find(&s, "memory.leak.growth_rate_mb_h", NULL, NULL,
			     NULL, NULL)->value, 0, 0);
	assert_int_equal(mmt_count(&s, "memory.leak.size_bytes"), 0);
	assert_near(mmt_find(&s, "memory.leak.allocation_count", "component",
			     "leak_site", NULL, NULL)->value, 400, 0);
	mm_snapshot__free(&s);

	/* a stack flagged again is not counted twice */
	for (k = 6; k <= 9; k++) {
		mmt_stack(m, 7, "leak_site", 100 * k, 1000, 60.0 * k);
		assert_int_equal(memmetrics__end_window(m, T0 + 60.0 * k, &proc,
							1e6), 0);
	}
	assert_int_equal(memmetrics__snapshot(m, &s), 0);
	assert_int_equal(s.n_suspects, 1);
	assert_near(mmt_find(&s, "memory.leak.count", NULL, NULL, NULL,
			     NULL)->value, 1, 0);
	mm_snapshot__free(&s);
	memmetrics__free(m);
}

/* Leaks over the session: a stack flagged during the run and freed before
 * the end is no current suspect, but the session list keeps it with its
 * peak severity and growth, marked freed; one still growing is live. */
static void test_leak_session(void **state)
{
	struct proc_mem proc = { 50 << 20, 300 << 20, 20 << 20 };
	struct memmetrics *m = mmt_new(1.0);
	const struct mm_session_suspect *h;
	struct mm_snapshot s = {};
	int k;

	(void)state;
	for (k = 1; k <= 5; k++) {
		/* stack 7: +1 MB per 60 s, 60 MB/h: critical once its fit holds */
		mmt_stack(m, 7, "leak_site", 1000 * k, 1000, 60.0 * k);
		/* stack 9: +100 kB per 60 s: medium, and kept to the end */
		mmt_stack(m, 9, "slow_leak", 100 * k, 1000, 60.0 * k);
		assert_int_equal(memmetrics__end_window(m, T0 + 60.0 * k, &proc,
							1e6), 0);
	}
	assert_int_equal(memmetrics__snapshot(m, &s), 0);
	assert_int_equal(s.n_suspects, 2);
	assert_int_equal(s.n_session_suspects, 2);
	h = &s.session_suspects[0];
	assert_int_equal(h->stack_id, 7);
	assert_true(h->live);
	mm_snapshot__free(&s);

	/* stack 7 freed "at exit", stack 9 stays */
	mmt_stack(m, 9, "slow_leak", 600, 1000, 360.0);
	assert_int_equal(memmetrics__end_window(m, T0 + 360, &proc, 1e6), 0);
	assert_int_equal(memmetrics__snapshot(m, &s), 0);
	assert_int_equal(s.n_suspects, 1);
	assert_int_equal(s.suspects[0].stack_id, 9);
	assert_int_equal(s.n_session_suspects, 2);
	h = &s.session_suspects[0];	/* worst peak first */
	assert_int_equal(h->stack_id, 7);
	assert_string_equal(h->component, "leak_site");
	assert_int_equal(h->peak_severity, MM_SEV_CRITICAL);
	assert_near(h->peak_growth_mb_h, 60.0, 1e-9);
	assert_near(h->peak_live_bytes, 5e6, 0);
	assert_near(h->last_bytes, 5e6, 0);
	assert_near(h->last_objects, 5000, 0);
	assert_near(h->last_age_s, 300, 0);
	assert_near(h->first_s, T0 + 180, 0);
	assert_near(h->last_s, T0 + 300, 0);
	assert_false(h->live);
	assert_near(h->live_bytes, 0, 0);
	assert_near(h->freed_s, T0 + 360, 0);
	assert_int_equal(h->freed_windows, 1);
	h = &s.session_suspects[1];
	assert_int_equal(h->stack_id, 9);
	assert_int_equal(h->peak_severity, MM_SEV_MEDIUM);
	assert_true(h->live);
	assert_near(h->live_bytes, 600000, 0);
	assert_near(h->freed_s, 0, 0);
	mm_snapshot__free(&s);

	/* a later window keeps the time it was first seen freed */
	mmt_stack(m, 9, "slow_leak", 700, 1000, 420.0);
	assert_int_equal(memmetrics__end_window(m, T0 + 420, &proc, 1e6), 0);
	assert_int_equal(memmetrics__snapshot(m, &s), 0);
	assert_near(s.session_suspects[0].freed_s, T0 + 360, 0);
	assert_int_equal(s.session_suspects[0].freed_windows, 2);
	assert_int_equal(s.session_suspects[1].freed_windows, 0);
	mm_snapshot__free(&s);
	memmetrics__free(m);
}

static void test_leak_young(void **state)
{
	struct memmetrics *m = mmt_new(30.0);
	struct mm_snapshot s = {};
	int k;

	(void)state;
	/* growing fast, but every block is freed within 10 s (a queue) */
	for (k = 1; k <= 6; k++) {
		mmt_stack(m, 1, "enqueue", 1000 * k, 1000, 10.0);
		assert_int_equal(memmetrics__end_window(m, T0 + 60.0 * k, NULL,
							0), 0);
	}
	assert_int_equal(memmetrics__snapshot(m, &s), 0);
	assert_int_equal(s.n_suspects, 0);
	mm_snapshot__free(&s);

	/* at exactly leak_age it counts */
	mmt_stack(m, 1, "enqueue", 7000, 1000, 30.0);
	assert_int_equal(memmetrics__end_window(m, T0 + 420, NULL, 0), 0);
	assert_int_equal(memmetrics__snapshot(m, &s), 0);
	assert_int_equal(s.n_suspects, 1);
	/* 1 MB per minute */
	assert_near(s.suspects[0].growth_mb_h, 60.0, 1e-9);
	assert_int_equal(s.suspects[0].severity, MM_SEV_CRITICAL);
	mm_snapshot__free(&s);
	memmetrics__free(m);
}

static void test_leak_oscillating(void **state)
{
	static const size_t osc[6] = { 200, 100, 200, 100, 200, 100 };
	/* 2 of 3 steps up, last > first: just enough */
	static const size_t edge[4] = { 100, 200, 300, 250 };
	/* grows overall but mostly shrinks: 1 of 3 steps up */
	static const size_t jump[4] = { 100, 90, 80, 500 };
	struct memmetrics *m = mmt_new(30.0);
	struct mm_snapshot s = {};
	size_t i;
	int k;

	(void)state;
	for (k = 0; k < 6; k++) {
		mmt_stack(m, 1, "osc", osc[k], 1000, 600);
		if (k < 4) {
			mmt_stack(m, 2, "edge", edge[k], 1000, 600);
			mmt_stack(m, 3, "jump", jump[k], 1000, 600);
		}
		assert_int_equal(memmetrics__end_window(m, T0 + 60.0 * (k + 1),
							NULL, 0), 0);
		assert_int_equal(memmetrics__snapshot(m, &s), 0);
		for (i = 0; i < s.n_suspects; i++)
			assert_int_equal(s.suspects[i].stack_id, 2);
		if (k == 3) {
			assert_int_equal(s.n_suspects, 1);
			assert_true(s.suspects[0].growth_mb_h > 0);
		}
		mm_snapshot__free(&s);
	}
	memmetrics__free(m);
}

static void test_alloc_metrics(void **state)
{
	struct memmetrics *m = mmt_new(0);
	struct mm_snapshot s = {};
	const struct mm_point *p;
	double eff;

	(void)state;
	assert_int_equal(memmetrics__on_alloc(m, "f", "malloc", 16, 1.0), 0);
	assert_int_equal(memmetrics__on_alloc(m, "f", "malloc", 17, 2.5), 0);
	assert_int_equal(memmetrics__on_alloc(m, "f", "calloc", 1023, 1.0), 0);
	assert_int_equal(memmetrics__on_alloc(m, "f", "calloc", 67108865, 1.0),
			 0);
	assert_int_equal(memmetrics__on_alloc(m, "g", "posix_memalign", 65536,
					      4.0), 0);
	assert_int_equal(memmetrics__on_alloc(m, NULL, NULL, 1 << 20, 1.0), 0);
	assert_int_equal(memmetrics__on_alloc(m, "g", "malloc", 1, 0.0), 0);
	assert_int_equal(memmetrics__end_window(m, T0 + 10, NULL, 123.0), 0);
	assert_int_equal(memmetrics__snapshot(m, &s), 0);

	p = mmt_find(&s, "memory.allocation.count", "component", "f",
		     "operation", "malloc");
	assert_non_null(p);
	assert_near(p->value, 3.5, 0);
	assert_near(p->start_s, T0, 0);
	assert_near(p->time_s, T0 + 10, 0);
	p = mmt_find(&s, "memory.allocation.size_bytes", "component", "f",
		     "operation", "malloc");
	assert_non_null(p);
	/* buckets are upper-inclusive; 2.5 rounds to 3 */
	assert_true(p->hist.bucket_counts[0] == 1);
	assert_true(p->hist.bucket_counts[1] == 3);
	assert_true(p->hist.count == 4);
	assert_near(p->hist.sum, 16 + 17 * 2.5, 1e-9);
	assert_near(p->hist.min, 16, 0);
	assert_near(p->hist.max, 17, 0);
	p = mmt_find(&s, "memory.allocation.size_bytes", "component", "f",
		     "operation", "calloc");
	assert_true(p->hist.bucket_counts[3] == 1);
	assert_true(p->hist.bucket_counts[MM_HIST_NBOUNDS] == 1);
	p = mmt_find(&s, "memory.allocation.total_bytes", "component", "f",
		     NULL, NULL);
	assert_near(p->value, 16 + 17 * 2.5 + 1023 + 67108865, 1e-6);
	p = mmt_find(&s, "memory.allocation.count", "component", "unknown",
		     "operation", "unknown");
	assert_non_null(p);
	assert_null(mmt_find(&s, "memory.allocation.count", "component", "g",
			     "operation", "malloc"));

	p = mmt_find(&s, "memory.allocation.efficiency_score", "component", "g",
		     NULL, NULL);
	assert_near(p->value, 1.0 - memmetrics__alignment_waste(65536), 1e-12);
	eff = mmt_find(&s, "memory.allocation.efficiency_score", "component",
		       "f", NULL, NULL)->value;
	assert_true(eff > 0 && eff < 0.5);
	/* no "other": nothing was folded */
	assert_null(mmt_find(&s, "memory.allocation.total_bytes", "component",
			     "other", NULL, NULL));

	assert_near(mmt_find(&s, "memory.allocation.distribution",
			     "size_category", "tiny", NULL, NULL)->value,
		    1 + 2.5 + 1, 0);
	assert_near(mmt_find(&s, "memory.allocation.distribution",
			     "size_category", "small", NULL, NULL)->value, 0, 0);
	assert_near(mmt_find(&s, "memory.allocation.distribution",
			     "size_category", "medium", NULL, NULL)->value, 4, 0);
	assert_near(mmt_find(&s, "memory.allocation.distribution",
			     "size_category", "large", NULL, NULL)->value, 1, 0);
	assert_near(mmt_find(&s, "memory.allocation.distribution",
			     "size_category", "huge", NULL, NULL)->value, 1, 0);

	/* no process figures: only the heap gauge */
	assert_null(mmt_find(&s, "memory.rss_bytes", NULL, NULL, NULL, NULL));
	assert_null(mmt_find(&s, "memory.allocator.total_bytes", NULL, NULL,
			     NULL, NULL));
	p = mmt_find(&s, "memory.heap_bytes", "component", "heapsites",
		     "session_id", SID);
	assert_non_null(p);
	assert_near(p->value, 123.0, 0);
	mm_snapshot__free(&s);
	memmetrics__free(m);
}

static void test_all_metrics_in_order(void **state)
{
	static const char *const names[] = {
		"memory.rss_bytes", "memory.heap_bytes", "memory.virtual_bytes",
		"memory.leak.count", "memory.leak.growth_rate_mb_h",
		"memory.leak.size_bytes", "memory.leak.allocation_count",
		"memory.allocation.count", "memory.allocation.total_bytes",
		"memory.allocation.size_bytes",
		"memory.allocation.efficiency_score",
		"memory.allocator.total_bytes",
		"memory.allocation.distribution",
	};
	struct proc_mem proc = { 1000, 5000, 700 };
	struct memmetrics *m = mmt_new(1);
	struct mm_snapshot s = {};
	const struct mm_point *p;
	size_t i, cur = 0;
	int k;

	(void)state;
	for (k = 1; k <= 3; k++) {
		assert_int_equal(memmetrics__on_alloc(m, "leak_site", "malloc",
						      64, 10), 0);
		mmt_stack(m, 5, "leak_site", 10 * k, 64, 100);
		assert_int_equal(memmetrics__end_window(m, T0 + k, &proc, 640),
				 0);
	}
	assert_int_equal(memmetrics__snapshot(m, &s), 0);
	for (i = 0; i < s.n_points; i++) {
		while (cur < 13 && strcmp(s.points[i].name, names[cur]))
			cur++;
		assert_true(cur < 13);	/* grouped, in the order */
	}
	for (i = 0; i < 13; i++)
		assert_true(mmt_count(&s, names[i]) > 0);

	p = mmt_find(&s, "memory.rss_bytes", "component", "heapsites",
		     "session_id", SID);
	assert_non_null(p);
	assert_int_equal(p->n_labels, 2);
	assert_near(p->value, 1000, 0);
	p = mmt_find(&s, "memory.virtual_bytes", "component", "heapsites",
		     "session_id", SID);
	assert_near(p->value, 5000, 0);
	p = mmt_find(&s, "memory.allocator.total_bytes", "component",
		     "heapsites", NULL, NULL);
	assert_int_equal(p->n_labels, 1);
	assert_near(p->value, 700, 0);
	assert_string_equal(s.session_id, SID);
	assert_true(s.n_hist_bounds == MM_HIST_NBOUNDS);
	assert_near(s.hist_bounds[0], 16, 0);
	assert_near(s.hist_bounds[MM_HIST_NBOUNDS - 1], 67108864, 0);
	mm_snapshot__free(&s);
	memmetrics__free(m);
}

/* --- monotone counters -------------------------------------------------- */

struct mmt_series {
	char key[160];
	bool is_hist;
	double value;
	struct mm_hist hist;
	size_t last_seen;
};

static void mmt_series_key(const struct mm_point *p, char *buf, size_t len)
{
	size_t j;
	int n;

	n = snprintf(buf, len, "%s", p->name);
	for (j = 0; j < p->n_labels; j++)
		n += snprintf(buf + n, len - n, "|%s=%s", p->labels[j].key,
			      p->labels[j].value);
}

static void test_counters_monotone(void **state)
{
	static const char *const ops[3] = { "malloc", "calloc", "realloc" };
	struct mmt_series *ser = calloc(4096, sizeof(*ser));
	struct memmetrics *m = mmt_new(30);
	double fed = 0;
	size_t n_ser = 0, vanished = 0, late_start = 0, i, j;
	int w, c;

	(void)state;
	assert_non_null(ser);
	for (w = 1; w <= 20; w++) {
		struct mm_snapshot s = {};
		double total = 0;

		for (c = 0; c < 80; c++) {
			char name[16];
			uint64_t size = 8 + (uint64_t)((c * 37 + w * 11) % 3000);
			double wt = 1 + ((c * 7 + w * 13) % 5) * 0.37;

			/* 60..79 appear small in windows 5-9 (reported in
			 * "other"), then outgrow everyone from window 10 */
			if (c >= 60 && w < 5)
				continue;
			if (c >= 60 && w >= 10)
				size = 1 << 20;
			snprintf(name, sizeof(name), "fn%02d", c);
			assert_int_equal(memmetrics__on_alloc(m, name,
							      ops[(c + w) % 3],
							      size, wt), 0);
			fed += (double)size * wt;
		}
		for (c = 0; c < 10; c++)
			mmt_stack(m, 100 + c, c < 5 ? "leaky" : "steady",
				  c < 5 ? 10 * (size_t)w * (c + 1) : 10, 512,
				  60.0 * w);
		assert_int_equal(memmetrics__end_window(m, T0 + 60.0 * w, NULL,
							0), 0);
		assert_int_equal(memmetrics__snapshot(m, &s), 0);

		for (i = 0; i < s.n_points; i++) {
			const struct mm_point *p = &s.points[i];
			char key[160];

			if (p->kind == MM_KIND_GAUGE ||
			    !strcmp(p->name, "memory.leak.size_bytes"))
				continue;
			if (!strcmp(p->name, "memory.allocation.total_bytes"))
				total += p->value;
			if (p->start_s > T0)
				late_start++;
			mmt_series_key(p, key, sizeof(key));
			for (j = 0; j < n_ser; j++) {
				if (!strcmp(ser[j].key, key))
					break;
			}
			if (j == n_ser) {
				assert_true(n_ser < 4096);
				snprintf(ser[j].key, sizeof(ser[j].key), "%s",
					 key);
				ser[j].is_hist = p->kind == MM_KIND_HISTOGRAM;
				n_ser++;
			} else if (ser[j].is_hist) {
				size_t b;

				for (b = 0; b <= MM_HIST_NBOUNDS; b++)
					assert_true(p->hist.bucket_counts[b] >=
						    ser[j].hist.bucket_counts[b]);
				assert_true(p->hist.count >= ser[j].hist.count);
				assert_true(p->hist.sum >= ser[j].hist.sum);
			} else if (p->value < ser[j].value) {
				fail_msg("%s went from %.17g to %.17g", key,
					 ser[j].value, p->value);
			}
			ser[j].value = p->value;
			ser[j].hist = p->hist;
			ser[j].last_seen = w;
		}
		for (j = 0; j < n_ser; j++) {
			if (ser[j].last_seen == (size_t)w - 1 &&
			    strstr(ser[j].key, "total_bytes"))
				vanished++;
		}
		/* every byte is reported exactly once */
		assert_near(total, fed, fed * 1e-12);
		assert_true(mmt_count(&s, "memory.allocation.total_bytes") <=
			    MM_MAX_COMPONENTS + 1);
		mm_snapshot__free(&s);
	}
	/* promotions and demotions did happen */
	assert_true(vanished > 0);
	assert_true(late_start > 0);
	free(ser);
	memmetrics__free(m);
}

static void test_top50_folding(void **state)
{
	struct memmetrics *m = mmt_new(0);
	struct mm_snapshot s = {};
	const struct mm_point *p;
	char name[16];
	int c;

	(void)state;
	for (c = 0; c < 60; c++) {
		snprintf(name, sizeof(name), "fn%02d", c);
		assert_int_equal(memmetrics__on_alloc(m, name, "malloc",
						      1000 * (c + 1), 1), 0);
	}
	assert_int_equal(memmetrics__end_window(m, T0 + 1, NULL, 0), 0);
	assert_int_equal(memmetrics__snapshot(m, &s), 0);
	assert_int_equal(mmt_count(&s, "memory.allocation.total_bytes"), 51);
	for (c = 0; c < 60; c++) {
		snprintf(name, sizeof(name), "fn%02d", c);
		p = mmt_find(&s, "memory.allocation.total_bytes", "component",
			     name, NULL, NULL);
		if (c < 10) {
			assert_null(p);
		} else {
			assert_non_null(p);
			assert_near(p->value, 1000 * (c + 1), 0);
		}
	}
	p = mmt_find(&s, "memory.allocation.total_bytes", "component", "other",
		     NULL, NULL);
	assert_non_null(p);
	assert_near(p->value, 55000, 0);	/* 1000 * (1 + ... + 10) */
	p = mmt_find(&s, "memory.allocation.count", "component", "other",
		     "operation", "malloc");
	assert_near(p->value, 10, 0);
	mm_snapshot__free(&s);

	/* a newcomer allocating more than twice the smallest (fn10, 11000)
	 * replaces it; having never been reported it keeps its bytes */
	assert_int_equal(memmetrics__on_alloc(m, "big", "malloc", 30000, 1), 0);
	/* one already reported inside "other" starts a fresh series */
	assert_int_equal(memmetrics__on_alloc(m, "fn00", "calloc", 100000, 1),
			 0);
	assert_int_equal(memmetrics__end_window(m, T0 + 2, NULL, 0), 0);
	assert_int_equal(memmetrics__snapshot(m, &s), 0);
	assert_int_equal(mmt_count(&s, "memory.allocation.total_bytes"), 51);
	p = mmt_find(&s, "memory.allocation.total_bytes", "component", "big",
		     NULL, NULL);
	assert_non_null(p);
	assert_near(p->value, 30000, 0);
	assert_near(p->start_s, T0, 0);
	p = mmt_find(&s, "memory.allocation.total_bytes", "component", "fn00",
		     NULL, NULL);
	assert_non_null(p);
	assert_near(p->value, 0, 0);
	assert_near(p->start_s, T0 + 2, 0);
	assert_null(mmt_find(&s, "memory.allocation.total_bytes", "component",
			     "fn10", NULL, NULL));
	assert_null(mmt_find(&s, "memory.allocation.total_bytes", "component",
			     "fn11", NULL, NULL));
	/* other: fn00's 101000 + fn01..fn09 + the demoted fn10 and fn11 */
	p = mmt_find(&s, "memory.allocation.total_bytes", "component", "other",
		     NULL, NULL);
	assert_near(p->value, 101000 + 54000 + 11000 + 12000, 0);
	mm_snapshot__free(&s);
	memmetrics__free(m);
}

static void test_bounded(void **state)
{
	struct memmetrics *m = mmt_new(30);
	struct mm_snapshot s = {};
	struct mm_stats st;
	char name[16];
	uint32_t id;
	size_t i;
	int w;

	(void)state;
	for (w = 1; w <= 4; w++) {
		for (id = 0; id < 10000; id++) {
			double bytes = id < 5 ? 1e6 * w * (id + 1) :
						100 + id % 50;

			assert_int_equal(memmetrics__window_stack(m, id, "f",
						bytes, 1, 3600, NULL, NULL,
						0), 0);
			memmetrics__stats(m, &st);
			assert_true(st.stacks <= 2 * MM_MAX_STACKS);
		}
		assert_int_equal(memmetrics__end_window(m, T0 + 60.0 * w, NULL,
							0), 0);
		memmetrics__stats(m, &st);
		assert_true(st.stacks <= MM_MAX_STACKS);
	}
	assert_true(st.stacks_dropped > 0);
	assert_int_equal(memmetrics__snapshot(m, &s), 0);
	/* the five big growing stacks survived every trim */
	assert_int_equal(s.n_suspects, 5);
	for (i = 0; i < 5; i++)
		assert_int_equal(s.suspects[i].stack_id, 4 - i);
	mm_snapshot__free(&s);

	for (i = 0; i < 10000; i++) {
		snprintf(name, sizeof(name), "c%zu", i);
		assert_int_equal(memmetrics__on_alloc(m, name, "malloc",
						      64 + i, 1), 0);
	}
	memmetrics__stats(m, &st);
	assert_int_equal(st.components, MM_MAX_TRACKED_COMPONENTS);
	assert_true(st.components_folded == 10000 - MM_MAX_TRACKED_COMPONENTS);
	assert_int_equal(memmetrics__end_window(m, T0 + 300, NULL, 0), 0);
	assert_int_equal(memmetrics__snapshot(m, &s), 0);
	assert_int_equal(mmt_count(&s, "memory.allocation.total_bytes"),
			 MM_MAX_COMPONENTS + 1);
	mm_snapshot__free(&s);
	memmetrics__free(m);
}

static void test_invalid(void **state)
{
	struct memmetrics *m = mmt_new(0);
	struct mm_snapshot s = {};

	(void)state;
	errno = 0;
	assert_null(memmetrics__new(NULL, "x", 0, T0));
	assert_int_equal(errno, EINVAL);
	assert_int_equal(memmetrics__on_alloc(NULL, "f", "malloc", 1, 1),
			 -EINVAL);
	assert_int_equal(memmetrics__on_alloc(m, "f", "malloc", 1, -1),
			 -EINVAL);
	assert_int_equal(memmetrics__on_alloc(m, "f", "malloc", 1, NAN),
			 -EINVAL);
	assert_int_equal(memmetrics__window_stack(m, 1, "f", -1, 0, 0, NULL,
						  NULL, 0), -EINVAL);
	assert_int_equal(memmetrics__window_stack(m, 1, "f", 1, 1, 0, NULL,
						  NULL, 1), -EINVAL);
	assert_int_equal(memmetrics__end_window(m, T0 + 5, NULL, 0), 0);
	assert_int_equal(memmetrics__end_window(m, T0 + 5, NULL, 0), -EINVAL);
	assert_int_equal(memmetrics__end_window(m, T0 + 4, NULL, 0), -EINVAL);
	assert_int_equal(memmetrics__snapshot(NULL, &s), -EINVAL);
	/* NULL-safe destructors */
	mm_snapshot__free(NULL);
	mm_snapshot__free(&s);
	memmetrics__free(NULL);
	memmetrics__free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_category),
		cmocka_unit_test(test_severity),
		cmocka_unit_test(test_slope),
		cmocka_unit_test(test_efficiency),
		cmocka_unit_test(test_leak_growing),
		cmocka_unit_test(test_leak_session),
		cmocka_unit_test(test_leak_young),
		cmocka_unit_test(test_leak_oscillating),
		cmocka_unit_test(test_alloc_metrics),
		cmocka_unit_test(test_all_metrics_in_order),
		cmocka_unit_test(test_counters_monotone),
		cmocka_unit_test(test_top50_folding),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
