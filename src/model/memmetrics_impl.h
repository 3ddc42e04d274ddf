/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * memmetrics_impl.h - the metrics model's internals, shared by the
 * aggregator (memmetrics.c) and the snapshot that turns it into points
 * (memmetrics_snapshot.c). Nothing outside src/model/memmetrics*.c
 * includes it: encoders read struct mm_snapshot.
 */
#ifndef MEMTEL_MODEL_MEMMETRICS_IMPL_H
#define MEMTEL_MODEL_MEMMETRICS_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/memmetrics.h"
#include "util/table.h"
#include "util/u64map.h"

#define NBUCKETS	(MM_HIST_NBOUNDS + 1)
#define MAX_FLAGGED	65536	/* distinct suspect ids remembered */
#define PROMOTE_FACTOR	2.0
#define NCATS		5
#define UNKNOWN		"unknown"

struct hist_acc {
	double buckets[NBUCKETS];
	double count, sum, min, max;
};

struct op_acc {
	char *name;
	double count;
	struct hist_acc hist;
};

struct acc {
	double bytes;
	double eff_sum, eff_w;	/* sum w*eff(s), sum w */
	struct op_acc *ops;	/* at most MM_MAX_OPS + 1 ("other") */
	size_t n_ops;
};

struct comp {
	char *name;
	struct acc acc;
	double rank;		/* lifetime allocated bytes, for ranking */
	double start_s;
	bool promoted;
	bool in_other;		/* "other" reported some of its bytes */
};

struct tracker {
	uint32_t stack_id;
	char *component;
	double t[MM_SERIES_LEN], y[MM_SERIES_LEN];	/* ring */
	unsigned int first, n;
	/* the window being filled */
	bool seen;
	double p_bytes, p_objects, p_age;
	struct hist_acc p_hist;
	/* the last closed window */
	double last_bytes;
	bool suspect;
	bool flagged;
};

struct leak_key {
	double hw_objects;	/* high-water mark of live blocks */
	bool used;		/* ever had a suspect */
	bool live;		/* has suspects now */
	struct hist_acc hist;
};

struct memmetrics {
	char *session_id;
	char *exe;
	double leak_age_s;
	double start_s;

	struct comp *comps;
	size_t n_comps, cap_comps;
	struct table comp_index;		/* name -> comps[] index */
	size_t n_promoted;
	struct acc other_base;			/* folded for good */
	struct acc other_last;			/* last reported "other" */
	double dist[NCATS];
	uint64_t components_folded;

	struct tracker *trk;
	size_t n_trk, cap_trk;
	struct u64map trk_index;		/* stack id -> trk[] index */
	uint64_t stacks_dropped;

	struct u64map flagged;			/* stack ids ever flagged */
	double leak_count;
	char *leak_labels[MM_MAX_COMPONENTS];
	size_t n_leak_labels;
	struct leak_key leak[MM_MAX_COMPONENTS + 1][MM_SEV__COUNT];
	struct mm_suspect *suspects;		/* components owned */
	size_t n_suspects;
	struct mm_session_suspect *hist;	/* components owned */
	size_t n_hist, cap_hist;
	struct u64map hist_index;		/* stack id -> hist[] index */
	double growth_sum;

	bool have_window, have_proc;
	double t_s;
	double prev_t_s;	/* the window before: memory.leak.size_bytes
				 * restarts there (it can shrink) */
	struct proc_mem proc;
	double heap_live;

	/* overhead budget (memmetrics__set_partial) */
	struct u64map unverified;	/* stack id -> 1, this window */
	bool partial;
	double on_fraction, unverified_bytes;
};

/* Size category names, indexed like memmetrics.dist[]. */
extern const char *const mm_cat_names[NCATS];

/* Accumulated histogram -> exported buckets (rounded, monotone). */
void hist_acc__export(struct mm_hist *out, const struct hist_acc *h);
/* Release a's operations and zero it. */
void acc__clear(struct acc *a);
/* dst += src, all or nothing. 0 or -ENOMEM. */
int acc__merge(struct acc *dst, const struct acc *src);
/* Raise a to at least floor, figure by figure (against floating-point
 * reassociation making a reported counter go down). */
void acc__clamp(struct acc *a, const struct acc *floor);

#endif /* MEMTEL_MODEL_MEMMETRICS_IMPL_H */
