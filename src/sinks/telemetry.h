/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * telemetry.h - the metrics sink: once per export window it turns the heap
 * aggregator's live set and the process's /proc figures into the memory
 * metrics (memmetrics), and ships them over OTLP (an exporter thread) or,
 * with no collector configured, appends them to DIR/metrics.jsonl (bounded:
 * past a size cap windows are dropped and counted). Every window also
 * rewrites DIR/leaks.txt, naming every leak suspect of the session with its
 * stack. Both files go through util/fileio.h, so a link planted at either
 * name is never followed; every failure to write one is logged naming the
 * file.
 */
#ifndef MEMTEL_TELEMETRY_H
#define MEMTEL_TELEMETRY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "model/heapstate.h"
#include "model/memmetrics.h"
#include "sinks/otlp/otel_config.h"
#include "sinks/otlp/otlp_export.h"
#include "model/stacks.h"
#include "symbolize/symcache.h"

struct telemetry;

/* Default cap of metrics.jsonl: about 30 hours of windows at one a
 * minute for a process with a thousand allocation sites. */
#define TELEMETRY_JSONL_MAX (64ULL << 20)

struct telemetry_opts {
	const struct otel_config *otel;	/* export over OTLP when enabled */
	struct otlp_exporter *exp;	/* the session's exporter, or NULL */
	const char *outdir;
	pid_t pid;
	const char *exe_path;		/* as the target sees it */
	double leak_age_s;
	struct heapstate *heap;
	struct stacks *stacks;
	struct symcache *syms;
	struct memmetrics *mm;		/* fed by the collector */
	const char *session_id;
	uint64_t jsonl_max;		/* metrics.jsonl cap in bytes; 0: the
					 * default, TELEMETRY_JSONL_MAX */
};

/* What one process's window is computed from. */
struct telemetry_model {
	struct heapstate *heap;		/* NULL: no heap (gauges only) */
	struct stacks *stacks;		/* heap's stacks */
	struct symcache *syms;		/* names their leaf functions */
	struct memmetrics *mm;
	pid_t pid;			/* whose /proc figures */
	/* the budget paused the heap probes (model/budget.h): probes were
	 * on for on_fraction of the time */
	bool partial;
	double on_fraction;
};

/* The model half of a window, for a caller that ships the snapshot itself
 * (the node agent, once per heap target): heap's live set by stack into
 * mm, the window closed at t_unix with pid's /proc figures, and *out its
 * snapshot (the caller frees it with mm_snapshot__free). 0 or -errno. */
int telemetry__model_window(const struct telemetry_model *m, double t_unix,
			    struct mm_snapshot *out);
/* NULL with errno set on failure (logged, naming metrics.jsonl if that
 * could not be created). */
struct telemetry *telemetry__new(const struct telemetry_opts *o);
/* Close a window now (t: Unix seconds): compute, encode, ship, rewrite
 * leaks.txt. Never blocks on the network. A line that would pass the cap
 * is dropped and counted (one warning); a write error is logged once
 * naming the file, metrics.jsonl keeps only whole lines, later windows are
 * counted as dropped and telemetry__finish() returns the error. 0 or
 * -errno (a window that could not be computed, or leaks.txt not written). */
int telemetry__window(struct telemetry *t, double t_unix);
/* Final window and leaks.txt, written whole or not at all (the caller
 * flushes the exporter). 0 or the first -errno of the session's writes
 * to metrics.jsonl and leaks.txt, each failure logged naming its file. */
int telemetry__finish(struct telemetry *t, double t_unix);
/* The overhead budget paused the heap probes: they were on on_fraction
 * of the time under a budget of budget_pct percent. From now on the
 * metrics carry the on-ratio and the unverified bytes, and leaks.txt
 * says it is partial. */
void telemetry__set_partial(struct telemetry *t, double on_fraction,
			    double budget_pct);
/* Print the leak suspects, and the export figures or metrics.jsonl's
 * windows (with those dropped and why) to out. */
void telemetry__print(struct telemetry *t, FILE *out);
void telemetry__free(struct telemetry *t);
/* Report the heap probes' estimated cost per process (memtel.probe.*
 * metrics) from o at every window; o stays the caller's. */
struct overhead;
void telemetry__set_overhead(struct telemetry *t, const struct overhead *o);

#endif /* MEMTEL_TELEMETRY_H */
