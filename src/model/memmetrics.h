/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * memmetrics.h - the plain-C model of the 13 memory metrics (process gauges,
 * allocation counters and histograms, leak suspects) that the session feeds
 * with sampled allocations and, once per export window, with the live set per
 * stack; encoders read a memmetrics__snapshot() and never see the internals.
 *
 * Units and conventions:
 *  - MB is 10^6 bytes everywhere (severity thresholds and MB/h growth);
 *    size categories use the binary boundaries (KB = 1024):
 *    tiny [0, 1 KiB), small [1 KiB, 64 KiB), medium [64 KiB, 1 MiB),
 *    large [1 MiB, 16 MiB), huge [16 MiB, inf) - each boundary belongs to
 *    the larger category.
 *  - Values fed from sampling are scaled estimates (doubles); counters are
 *    cumulative since the session start (OTLP cumulative temporality).
 *    Histogram bucket counts are rounded to integers per bucket (llround,
 *    monotone) and count = the sum of the rounded buckets.
 *  - Histogram buckets follow OTLP explicit bounds: bucket i counts values in
 *    (bounds[i-1], bounds[i]]; the last bucket is (bounds[11], +inf).
 *  - component for allocation and leak metrics is the name of the function
 *    that called the allocator (passed in by the caller). The model reports
 *    at most MM_MAX_COMPONENTS of them by allocated bytes and folds the rest
 *    into "other" (see memmetrics.c for how membership changes keep every
 *    counter monotone). For the process gauges component is the executable's
 *    base name.
 *
 * Efficiency score (memory.allocation.efficiency_score, 0..1):
 *   size_score(s) = 1                                 4 KiB <= s <= 64 KiB
 *                 = 1 - 0.75 * (12 - log2 s) / 12     1 <= s < 4 KiB (0.25 at 1 B)
 *                 = max(0.25, 1 - 0.75 * (log2 s - 16) / 8)   s > 64 KiB
 *                                                     (0.25 at >= 16 MiB)
 *                 = 0.25                              s = 0
 *   waste(s)      = (chunk - s) / chunk, glibc's chunk for a request of s:
 *                   nb = max(32, round_up(s + 8, 16)); if nb >= 128 KiB (the
 *                   default mmap threshold) chunk = round_up(nb + 8, 4096)
 *                   (sysmalloc's mmap path), else chunk = nb. Header and
 *                   padding both count as waste.
 *   eff(s)        = size_score(s) * (1 - waste(s))
 *   score         = sum(w_i * eff(s_i)) / sum(w_i) (count-weighted mean);
 *                   1.0 when nothing was allocated (and the snapshot omits a
 *                   component's point when it has no allocations).
 *
 * Leak suspects: a stack is a suspect at the end of a window when it has at
 * least 3 windows of data, the least-squares slope of its live bytes over
 * time is > 0, its live bytes grew in at least 2/3 of the window-to-window
 * steps, the last value exceeds the first, and its oldest live block is at
 * least leak_age_s old. Severity (MB = 10^6 B, strict ">"): critical if live
 * > 100 MB or growth > 50 MB/h; high > 50 MB or > 20 MB/h; medium > 10 MB
 * or > 5 MB/h; low otherwise. Leak metrics: memory.leak.count counts distinct
 * stack ids ever flagged; memory.leak.growth_rate_mb_h is the sum over the
 * current suspects; memory.leak.size_bytes is the current suspects' live
 * blocks per (component, severity) (it can shrink: not cumulative);
 * memory.leak.allocation_count is the high-water mark of those live blocks,
 * so it never drops even when a leak is freed. The session suspects keep
 * every stack ever flagged with its peak severity and growth, and whether
 * it still has live blocks: a leak the program frees at exit is no current
 * suspect at the end, yet it was one during the run.
 */
#ifndef MEMTEL_MEMMETRICS_H
#define MEMTEL_MEMMETRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "process/procstat.h"

#define MM_MB			1e6	/* bytes in the MB of thresholds and MB/h */
#define MM_DEFAULT_LEAK_AGE_S	30.0
#define MM_MAX_COMPONENTS	50	/* reported components, plus "other" */
#define MM_MAX_TRACKED_COMPONENTS 1024	/* names remembered; later ones -> "other" */
#define MM_MAX_OPS		16	/* operations per component; later -> "other" */
#define MM_SERIES_LEN		60	/* windows of live bytes kept per stack */
#define MM_MAX_STACKS		4096	/* stacks kept across windows */
#define MM_MAX_SESSION_SUSPECTS	1024	/* suspects remembered for the session */
#define MM_MAX_LABELS		3
#define MM_HIST_NBOUNDS		12
#define MM_OTHER		"other"

/* Allocation-size histogram bounds in bytes (OTLP explicit_bounds). */
extern const double memmetrics_hist_bounds[MM_HIST_NBOUNDS];

enum mm_severity {
	MM_SEV_LOW,
	MM_SEV_MEDIUM,
	MM_SEV_HIGH,
	MM_SEV_CRITICAL,
	MM_SEV__COUNT,
};

enum mm_kind {
	MM_KIND_GAUGE,
	MM_KIND_COUNTER,	/* monotonic cumulative sum */
	MM_KIND_HISTOGRAM,	/* cumulative, except memory.leak.size_bytes */
};

struct mm_label {
	const char *key;
	const char *value;
};

struct mm_hist {
	uint64_t bucket_counts[MM_HIST_NBOUNDS + 1];
	uint64_t count;		/* sum of bucket_counts */
	double sum, min, max;	/* min/max 0 when count is 0 */
};

struct mm_point {
	const char *name;	/* "memory.rss_bytes", ... (static) */
	const char *unit;	/* UCUM: "By", "MBy/h", "{allocation}", "1" */
	const char *description;
	enum mm_kind kind;
	size_t n_labels;
	struct mm_label labels[MM_MAX_LABELS];
	double value;		/* gauge and counter */
	struct mm_hist hist;	/* histogram */
	double start_s;		/* series start (session start, or promotion) */
	double time_s;		/* the last end_window time */
};

struct mm_suspect {
	uint32_t stack_id;
	const char *component;	/* the real leaf function, never folded */
	double live_bytes, live_objects;
	double oldest_age_s;
	double growth_mb_h;
	enum mm_severity severity;
	size_t n_windows;	/* points in the fitted series */
};

/* A stack that was a leak suspect at some window of the session: what a
 * person asks at the end even when the program freed it at exit. */
struct mm_session_suspect {
	uint32_t stack_id;
	const char *component;	/* as of the last window it was a suspect */
	/* live bytes, blocks and oldest age at the last window it was a
	 * suspect */
	double last_bytes, last_objects, last_age_s;
	enum mm_severity peak_severity;
	double peak_growth_mb_h;
	double peak_live_bytes;
	double first_s, last_s;	/* first and last window it was a suspect */
	bool live;		/* has live blocks at the last window */
	double live_bytes;	/* then */
	double freed_s;		/* the window it was first seen empty, 0
				 * while live */
	unsigned int freed_windows;	/* windows closed since, that one
					 * included; 0 while live */
	/* not live as far as the probes saw, but it has blocks allocated
	 * before they paused (overhead budget): freed or not, unknown */
	bool unverified;
	double unverified_bytes;
};

/* Points of the same metric are contiguous, metrics in the order. */
struct mm_snapshot {
	struct mm_point *points;
	size_t n_points;
	struct mm_suspect *suspects;	/* largest live bytes first */
	size_t n_suspects;
	/* every stack flagged during the session (at most
	 * MM_MAX_SESSION_SUSPECTS), worst peak severity first */
	struct mm_session_suspect *session_suspects;
	size_t n_session_suspects;
	const double *hist_bounds;	/* memmetrics_hist_bounds */
	size_t n_hist_bounds;
	double start_s, time_s;
	const char *session_id;
	/* private: strings the points and suspects point into */
	char **strs;
	size_t n_strs, cap_strs;
};

struct mm_stats {
	size_t stacks;			/* stacks tracked now */
	size_t components;		/* component names tracked */
	uint64_t stacks_dropped;	/* trackers dropped by the cap */
	uint64_t components_folded;	/* allocations of untracked names */
};

/* --- pure helpers ------------------------------------------------------- */

/* "tiny", "small", "medium", "large" or "huge" (static). */
const char *memmetrics__size_category(uint64_t size);
/* The pieces of the efficiency formula above, and the weighted mean over n
 * (size, count) pairs (counts NULL: 1 each; negative counts ignored); 1.0
 * when n == 0 or the counts sum to 0. */
double memmetrics__size_score(uint64_t size);
double memmetrics__alignment_waste(uint64_t size);
double memmetrics__efficiency(const uint64_t *sizes, const double *counts,
			      size_t n);
/* Least-squares slope of y over t (y per unit of t); 0 when n < 2 or all t
 * are equal. */
double memmetrics__slope(const double *t, const double *y, size_t n);
enum mm_severity memmetrics__severity(double live_bytes,
				      double growth_mb_per_h);
/* "low", "medium", "high", "critical" (static). */
const char *memmetrics__severity_name(enum mm_severity sev);

/* --- the aggregator ----------------------------------------------------- */

struct memmetrics;

/* start_s: the session start on the clock end_window's t_s uses (Unix
 * seconds for OTLP). leak_age_s <= 0 means MM_DEFAULT_LEAK_AGE_S. NULL and
 * errno on failure. */
struct memmetrics *memmetrics__new(const char *session_id,
				   const char *exe_component,
				   double leak_age_s, double start_s);
void memmetrics__free(struct memmetrics *m);
/* One sampled allocation standing for weight allocations of size bytes.
 * NULL or "" component/operation count as "unknown". 0 or -EINVAL (weight
 * negative or not finite) or -ENOMEM. */
int memmetrics__on_alloc(struct memmetrics *m, const char *component,
			 const char *operation, uint64_t size, double weight);
/* The live set of one stack for the window being closed: call it for every
 * stack with live blocks (a stack not reported has none and its series is
 * dropped), then end_window. oldest_age_s: age of its oldest live block.
 * block_sizes/block_weights describe its live blocks for the leak histogram
 * (block_weights NULL: 1 each). Calls for the same stack in one window add
 * up. 0, -EINVAL or -ENOMEM. */
int memmetrics__window_stack(struct memmetrics *m, uint32_t stack_id,
			     const char *component, double live_bytes,
			     double live_objects, double oldest_age_s,
			     const uint64_t *block_sizes,
			     const double *block_weights, size_t n_blocks);
/* Stack stack_id has bytes of unverified live blocks (allocated before
 * its process's probes paused) in the window being closed. They are no
 * part of its series; a session suspect with only those is "unverified",
 * not freed. 0, -EINVAL or -ENOMEM. */
int memmetrics__window_unverified(struct memmetrics *m, uint32_t stack_id,
				  double bytes);
/* The probes of stack_id's process went on again: its series starts
 * over (a drop then a rise is no growth). */
void memmetrics__restart_stack(struct memmetrics *m, uint32_t stack_id);
/* The overhead budget paused the heap probes: they were on on_fraction
 * of the time, unverified_bytes of the live heap are unverified. From
 * the first call on, snapshots have the gauges memtel.heap.probes.on_ratio
 * and memtel.heap.unverified_bytes. */
void memmetrics__set_partial(struct memmetrics *m, double on_fraction,
			     double unverified_bytes);
/* Close the window at t_s: extend each stack's series, decide the suspects,
 * store the gauges. proc NULL (process unreadable) omits the rss, virtual
 * and allocator gauges. 0, -EINVAL (t_s not after the last window) or
 * -ENOMEM. */
int memmetrics__end_window(struct memmetrics *m, double t_s,
			   const struct proc_mem *proc, double heap_live_bytes);
/* Every metric as of the last end_window; out is owned by the caller and
 * released with mm_snapshot__free(). 0 or -ENOMEM. */
int memmetrics__snapshot(struct memmetrics *m, struct mm_snapshot *out);
void mm_snapshot__free(struct mm_snapshot *s);
/* Append a copy of pt (name, unit and description static; label values
 * copied) to s: points other models contribute to the window, such as the
 * heap probes' estimated overhead. 0, -EINVAL or -ENOMEM. */
int mm_snapshot__append(struct mm_snapshot *s, const struct mm_point *pt);
void memmetrics__stats(const struct memmetrics *m, struct mm_stats *out);

#endif /* MEMTEL_MEMMETRICS_H */
