/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * sampling.h - byte-based Poisson sampling of allocations, as tcmalloc and
 * Go do: each allocated byte starts a sample with probability 1/mean, so the
 * gaps between samples are exponential with the given mean. The BPF side
 * draws gaps from a precomputed table (no floating point in BPF); userspace
 * scales what it sees back to unbiased estimates.
 */
#ifndef MEMTEL_SAMPLING_H
#define MEMTEL_SAMPLING_H

#include <stddef.h>
#include <stdint.h>

/* Fill table[n] (n a power of two) with exponential gaps of mean `mean`
 * bytes, quantiles at (i + 0.5) / n, adjusted so the table's mean is exactly
 * `mean` (rounding aside). mean <= 1 fills every entry with 0 (sample every
 * allocation). 0 or -EINVAL. */
int sampling__fill_table(uint64_t mean, uint64_t *table, size_t n);

/* Expected number of allocations a sampled allocation of `size` bytes
 * stands for: 1 / (1 - exp(-size / mean)); 1.0 when mean <= 1. */
double sampling__scale(uint64_t size, uint64_t mean);

#endif /* MEMTEL_SAMPLING_H */
