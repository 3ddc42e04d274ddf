// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sampling.c - the userspace half of byte-based Poisson allocation sampling:
 * the table of exponential gaps the BPF side draws from (it has no floating
 * point), and the factor that scales a sampled allocation back to the number
 * of allocations it stands for.
 */
#include <errno.h>
#include <math.h>

#include "model/sampling.h"

int sampling__fill_table(uint64_t mean, uint64_t *table, size_t n)
{
	double sum = 0.0, k;
	size_t i;

	if (!table || n == 0 || (n & (n - 1)))
		return -EINVAL;

	if (mean <= 1) {
		for (i = 0; i < n; i++)
			table[i] = 0;
		return 0;
	}

	/* Quantiles of Exp(1) at (i + 0.5) / n: decreasing in i. Their mean
	 * falls a little short of 1 (the tail beyond the last quantile is
	 * missing), so scale them to make the table's mean exactly `mean`;
	 * the sampling rate then matches the 1/mean that sampling__scale()
	 * assumes. */
	for (i = 0; i < n; i++)
		sum += -log((i + 0.5) / (double)n);
	k = (double)mean * (double)n / sum;

	/* table[0] is the largest gap; refuse means it cannot hold. */
	if (!(round(-log(0.5 / (double)n) * k) < 0x1p64))
		return -EINVAL;

	for (i = 0; i < n; i++)
		table[i] = (uint64_t)round(-log((i + 0.5) / (double)n) * k);
	return 0;
}

double sampling__scale(uint64_t size, uint64_t mean)
{
	double x;

	if (mean <= 1 || size == 0)
		return 1.0;
	/* 1 - exp(-x) loses all precision for small x; -expm1(-x) does not. */
	x = (double)size / (double)mean;
	return 1.0 / -expm1(-x);
}
