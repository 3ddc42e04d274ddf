// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * test_sampling.c - unit tests for the gap table and the scale factor, and a
 * Monte-Carlo run of the BPF side's countdown over more than 1 GiB of mixed
 * allocations showing the scaled estimates are unbiased per size class.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "model/sampling.h"

#define TABLE_N 1024

static void check_table(uint64_t mean, size_t n)
{
	uint64_t *t = calloc(n, sizeof(*t));
	double sum = 0.0, avg;
	size_t i;

	assert_non_null(t);
	assert_int_equal(sampling__fill_table(mean, t, n), 0);
	for (i = 0; i < n; i++) {
		sum += (double)t[i];
		if (i)
			assert_true(t[i - 1] >= t[i]);
	}
	if (n > 1)
		assert_true(t[0] > t[n - 1]);
	avg = sum / (double)n;
	if (fabs(avg - (double)mean) > 0.001 * (double)mean + 0.5)
		fail_msg("mean %llu n %zu: table mean %.3f",
			 (unsigned long long)mean, n, avg);
	free(t);
}

static void test_table_mean(void **state)
{
	(void)state;
	check_table(512 * 1024, TABLE_N);
	check_table(64 * 1024, TABLE_N);
	check_table(4096, 64);
	check_table(1000, 1);
	check_table(2, 16);
	check_table(1ULL << 40, 4096);
}

static void test_table_shape(void **state)
{
	uint64_t t[TABLE_N];

	(void)state;
	assert_int_equal(sampling__fill_table(512 * 1024, t, TABLE_N), 0);
	/* median gap is ln 2 * mean; the extreme quantiles are far apart */
	assert_true(llabs((long long)t[TABLE_N / 2] - 363409) < 2000);
	assert_true(t[0] > 7 * 512 * 1024ULL);
	assert_true(t[TABLE_N - 1] < 512);
}

static void test_table_degenerate(void **state)
{
	uint64_t t[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	size_t i;

	(void)state;
	assert_int_equal(sampling__fill_table(1, t, 8), 0);
	for (i = 0; i < 8; i++)
		assert_true(t[i] == 0);
	t[3] = 9;
	assert_int_equal(sampling__fill_table(0, t, 8), 0);
	assert_true(t[3] == 0);

	assert_int_equal(sampling__fill_table(4096, t, 0), -EINVAL);
	assert_int_equal(sampling__fill_table(4096, t, 6), -EINVAL);
	assert_int_equal(sampling__fill_table(4096, NULL, 8), -EINVAL);
	assert_int_equal(sampling__fill_table(UINT64_MAX, t, 8), -EINVAL);
}

static void test_scale(void **state)
{
	const uint64_t mean = 512 * 1024;
	double s;

	(void)state;
	assert_true(sampling__scale(0, mean) == 1.0);
	assert_true(sampling__scale(100, 1) == 1.0);
	assert_true(sampling__scale(100, 0) == 1.0);

	/* far above the mean every allocation is sampled */
	assert_true(fabs(sampling__scale(64 * mean, mean) - 1.0) < 1e-12);
	assert_true(sampling__scale(1ULL << 40, mean) == 1.0);

	s = sampling__scale(mean, mean);
	assert_true(fabs(s - 1.0 / (1.0 - exp(-1.0))) < 1e-12);

	/* far below it, one sample stands for mean/size allocations (+1/2) */
	s = sampling__scale(1, mean);
	assert_true(fabs(s - (double)mean) / (double)mean < 1e-5);
	s = sampling__scale(16, mean);
	assert_true(fabs(s - (double)mean / 16) / ((double)mean / 16) < 1e-4);

	/* monotone in size */
	assert_true(sampling__scale(100, mean) > sampling__scale(101, mean));
}

/* xorshift64*: small, fixed-seed, good enough for a simulation. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/*
 * Replay the BPF side: a countdown of bytes until the next sample, reloaded
 * from the table at a random index after each sample. Sizes in each class
 * are uniform in [base, 2 * base); classes get equal bytes on average.
 */
static void simulate(uint64_t mean, uint64_t total_bytes, uint64_t seed)
{
	static const uint64_t base[] = { 16, 256, 4096, 65536, 1 << 20 };
	enum { NCLASS = sizeof(base) / sizeof(base[0]) };
	double est[NCLASS] = {}, truth[NCLASS] = {};
	uint64_t weight[NCLASS], wsum = 0, done = 0, samples = 0;
	uint64_t *table, rng = seed;
	int64_t remaining;
	size_t c;

	table = calloc(TABLE_N, sizeof(*table));
	assert_non_null(table);
	assert_int_equal(sampling__fill_table(mean, table, TABLE_N), 0);
	for (c = 0; c < NCLASS; c++) {
		weight[c] = (1 << 20) / base[c];
		wsum += weight[c];
	}

	remaining = table[rng_next(&rng) & (TABLE_N - 1)];
	while (done < total_bytes) {
		uint64_t r = rng_next(&rng), w = r % wsum, size;

		for (c = 0; w >= weight[c]; c++)
			w -= weight[c];
		size = base[c] + (r >> 40) % base[c];
		truth[c] += size;
		done += size;

		remaining -= (int64_t)size;
		if (remaining <= 0) {
			est[c] += size * sampling__scale(size, mean);
			samples++;
			remaining = table[rng_next(&rng) & (TABLE_N - 1)];
		}
	}
	free(table);

	print_message("  mean %llu: %llu samples over %.2f GiB\n",
		      (unsigned long long)mean, (unsigned long long)samples,
		      done / (double)(1ULL << 30));
	for (c = 0; c < NCLASS; c++) {
		double err = (est[c] - truth[c]) / truth[c];

		print_message("  size %8llu..: truth %12.0f est %14.1f (%+.2f%%)\n",
			      (unsigned long long)base[c], truth[c], est[c],
			      100 * err);
		if (fabs(err) > 0.05)
			fail_msg("class %llu off by %.2f%%",
				 (unsigned long long)base[c], 100 * err);
	}
}

static void test_monte_carlo(void **state)
{
	(void)state;
	simulate(32 * 1024, 10ULL << 28, 0x9e3779b97f4a7c15ULL);	/* 2.5 GiB */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_mean),
		cmocka_unit_test(test_table_shape),
		cmocka_unit_test(test_table_degenerate),
		cmocka_unit_test(test_scale),
		cmocka_unit_test(test_monte_carlo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
