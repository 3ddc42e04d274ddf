// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_sampler.c - unit tests of libmemtel-sampler.so's core
 * (tools/sampler/sampler_core.h): the pointer set under concurrent inserts
 * and removes from several threads, its overflow count, its filter (a free
 * of an unsampled pointer reads no bucket), the mean of the
 * exponential gaps, and the countdown + weights giving unbiased byte totals.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "../../tools/sampler/sampler_core.h"

#define N_THREADS 4
#define PER_THREAD 20000
/* 131072 slots for up to 40000 pointers live at once (4 threads x 10000):
 * about 2.4 per bucket of 8 */
#define N_BUCKETS 16384

#define N_FILTER 4096

static _Atomic uintptr_t slots[N_BUCKETS * MTS_BUCKET_SLOTS];
static _Atomic uint16_t filter[N_FILTER];
static struct mts_set set;

struct worker {
	int id;
	uint64_t inserted, removed, false_hits;
};

/* Pointer-like values, 16-aligned, distinct per thread. */
static uintptr_t ptr_of(int thread, int i)
{
	return 0x7f0000000000ULL + (((uintptr_t)i * N_THREADS + thread) << 4);
}

static void *churn(void *arg)
{
	struct worker *w = arg;
	int round, i;

	for (round = 0; round < 5; round++) {
		/* insert half of the thread's pointers, remove them all:
		 * the never-inserted half must not be found */
		for (i = 0; i < PER_THREAD; i += 2)
			if (mts_set_insert(&set, ptr_of(w->id, i)))
				w->inserted++;
		for (i = 0; i < PER_THREAD; i++) {
			bool hit = mts_set_remove(&set, ptr_of(w->id, i));

			if (hit && (i & 1))
				w->false_hits++;
			w->removed += hit;
		}
	}
	return NULL;
}

static void test_set_concurrent(void **state)
{
	struct worker w[N_THREADS] = { 0 };
	pthread_t t[N_THREADS];
	uint64_t ins = 0, rem = 0;
	int i;

	(void)state;
	mts_set_init(&set, slots, N_BUCKETS, filter, N_FILTER);
	for (i = 0; i < N_THREADS; i++) {
		w[i].id = i;
		assert_int_equal(pthread_create(&t[i], NULL, churn, &w[i]), 0);
	}
	for (i = 0; i < N_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].false_hits, 0);
		ins += w[i].inserted;
		rem += w[i].removed;
	}
	/* every accepted insert was found again exactly once */
	assert_int_equal(ins, rem);
	assert_int_equal(ins + atomic_load(&set.overflow),
			 (uint64_t)N_THREADS * 5 * PER_THREAD / 2);
	/* a bucket of 8 at 2.4 on average rarely fills */
	assert_true(atomic_load(&set.overflow) < ins / 100);
	assert_int_equal(atomic_load(&set.live), 0);
	for (i = 0; i < N_BUCKETS * MTS_BUCKET_SLOTS; i++)
		assert_int_equal(atomic_load(&slots[i]), 0);
	/* the filter counted every pointer in and out */
	for (i = 0; i < N_FILTER; i++)
		assert_int_equal(atomic_load(&filter[i]), 0);
}

static void test_set_overflow(void **state)
{
	_Atomic uintptr_t one[MTS_BUCKET_SLOTS] = { 0 };
	_Atomic uint16_t f1[1] = { 0 };
	struct mts_set s;
	int i;

	(void)state;
	/* one bucket: every pointer in it */
	mts_set_init(&s, one, 1, f1, 1);
	for (i = 0; i < MTS_BUCKET_SLOTS; i++)
		assert_true(mts_set_insert(&s, ptr_of(0, i)));
	assert_false(mts_set_insert(&s, ptr_of(0, 100)));
	assert_int_equal(atomic_load(&s.overflow), 1);
	assert_false(mts_set_remove(&s, ptr_of(0, 100)));
	assert_true(mts_set_remove(&s, ptr_of(0, 3)));
	assert_false(mts_set_remove(&s, ptr_of(0, 3)));
	/* a freed slot is reusable */
	assert_true(mts_set_insert(&s, ptr_of(0, 100)));
	assert_int_equal(atomic_load(&s.live), MTS_BUCKET_SLOTS);
	/* a refused insert leaves no count behind */
	assert_int_equal(atomic_load(&f1[0]), MTS_BUCKET_SLOTS);
}

/* What every free in a sampled program pays: a free of a pointer that was
 * never sampled must not read the bucket array (in redis that read was a
 * cache miss per free, most of the sampler's cost), only the small filter.
 * The buckets are mapped PROT_NONE: a read of them kills the test. One
 * sampled pointer makes its own group readable only. */
static void test_set_free_reads_filter_only(void **state)
{
	const size_t n_buckets = 16384, n_filter = 4096;
	size_t bytes = n_buckets * MTS_BUCKET_SLOTS * sizeof(uintptr_t);
	static _Atomic uint16_t f[4096];
	_Atomic uintptr_t *b;
	struct mts_set s;
	uint64_t hits = 0;
	int i;

	(void)state;
	b = mmap(NULL, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(b != MAP_FAILED);
	mts_set_init(&s, b, n_buckets, f, n_filter);
	for (i = 0; i < 100000; i++)
		hits += mts_set_remove(&s, ptr_of(0, i));
	assert_int_equal(hits, 0);
	/* with the buckets readable, a sampled pointer is still found */
	assert_int_equal(mprotect(b, bytes, PROT_READ | PROT_WRITE), 0);
	assert_true(mts_set_insert(&s, ptr_of(1, 7)));
	assert_true(mts_set_remove(&s, ptr_of(1, 7)));
	assert_false(mts_set_remove(&s, ptr_of(1, 7)));
	assert_int_equal(munmap(b, bytes), 0);
}

static void test_gap_mean(void **state)
{
	const uint64_t means[] = { 4096, 512 * 1024, 8ULL << 20 };
	const int n = 1000000;
	uint64_t rng = 12345;
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(means) / sizeof(means[0]); k++) {
		double sum = 0, sum2 = 0, m, sd;
		int i;

		for (i = 0; i < n; i++) {
			double g = (double)mts_next_gap(&rng, means[k]);

			assert_true(g >= 1);
			sum += g;
			sum2 += g * g;
		}
		m = sum / n;
		sd = sqrt(sum2 / n - m * m);
		/* the mean of 1e6 exponential gaps has sigma mean/1000:
		 * 0.5% is 5 sigma; an exponential's sd equals its mean */
		assert_true(fabs(m / (double)means[k] - 1) < 0.005);
		assert_true(fabs(sd / (double)means[k] - 1) < 0.02);
	}
	assert_int_equal(mts_next_gap(&rng, 1), 1);
}

static void test_weight(void **state)
{
	const uint64_t mean = 512 * 1024;

	(void)state;
	/* small blocks stand for about mean + size / 2 bytes */
	assert_true(llabs((long long)mts_weight(64, mean) -
			  (long long)(mean + 32)) <= 1);
	/* blocks far above the mean are always sampled: their own size */
	assert_int_equal(mts_weight(64ULL << 20, mean), 64ULL << 20);
	assert_int_equal(mts_weight(1000, 1), 1000);
	assert_int_equal(mts_weight(0, mean), 0);
}

/* The library's decision: countdown -= size; sampled when it reaches 0,
 * then a fresh gap. Over 1.5 GiB per size class the weighted total of each
 * class is within 10% of the truth: about 3072 samples for the small
 * classes, a sigma of 1.8%, so 10% is 5.5 sigma. */
static void test_unbiased(void **state)
{
	const uint64_t sizes[] = { 48, 4000, 200 * 1024, 3 << 20 };
	const uint64_t mean = 512 * 1024, per_class = 3ULL << 29;
	double est[4] = { 0 };
	uint64_t rng = 99, done[4] = { 0 };
	int64_t countdown = mts_next_gap(&rng, mean);
	int c;

	(void)state;
	for (;;) {
		bool more = false;

		for (c = 0; c < 4; c++) {
			if (done[c] >= per_class)
				continue;
			more = true;
			done[c] += sizes[c];
			countdown -= (int64_t)sizes[c];
			if (countdown <= 0) {
				countdown = mts_next_gap(&rng, mean);
				est[c] += (double)mts_weight(sizes[c], mean);
			}
		}
		if (!more)
			break;
	}
	for (c = 0; c < 4; c++)
		assert_true(fabs(est[c] / (double)done[c] - 1) < 0.10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_concurrent),
		cmocka_unit_test(test_set_overflow),
		cmocka_unit_test(test_set_free_reads_filter_only),
		cmocka_unit_test(test_gap_mean),
		cmocka_unit_test(test_weight),
		cmocka_unit_test(test_unbiased),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
