/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * calibrate.h - what one heap probe hit costs a target on this kernel,
 * measured at start: a forked child runs a malloc/free loop unprobed and
 * then with the heap probes a target of the same allocator gets (same
 * loaded BPF object, same plan), and the difference in its CPU time is
 * divided by the hits the BPF side counted for it. The child is never
 * reported: its records are dropped, it is untracked, detached and reaped
 * before this returns.
 */
#ifndef MEMTEL_ATTACH_CALIBRATE_H
#define MEMTEL_ATTACH_CALIBRATE_H

#include "attach/probes.h"

/* Used when the measurement fails: docs/PLATFORM.md's figures for emulated
 * probe sites on glibc (~0.6 us per entry or free, ~0.9 us per uprobe +
 * uretprobe pair, counted as two hits). */
#define CALIBRATE_DEFAULT_NS	600.0
/* A measurement outside this range is clamped to it: below, a trap is not
 * possible; above, only single-stepping under heavy virtualisation. */
#define CALIBRATE_MIN_NS	50.0
#define CALIBRATE_MAX_NS	50000.0

/* Measure the cost of one heap probe hit with p's programs: the median of
 * `rounds` rounds (0: the default, 5), clamped to [MIN, MAX]. Takes well
 * under 300 ms. 0 and *ns_per_hit measured, or -errno and *ns_per_hit =
 * CALIBRATE_DEFAULT_NS. */
int calibrate__hit_cost(struct probes *p, unsigned int rounds,
			double *ns_per_hit);

#endif /* MEMTEL_ATTACH_CALIBRATE_H */
