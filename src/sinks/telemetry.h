/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * telemetry.h - the metrics sink: once per export window it turns the heap
 * aggregator's live set and the process's /proc figures into the memory
 * metrics (memmetrics), and ships them over OTLP (an exporter thread) or,
 * with no collector configured, appends them to DIR/metrics.jsonl. Every
 * window also rewrites DIR/leaks.txt, naming every leak suspect of the
 * session with its stack.
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
};

/* NULL with errno set on failure. */
struct telemetry *telemetry__new(const struct telemetry_opts *o);
/* Close a window now (t: Unix seconds): compute, encode, ship, rewrite
 * leaks.txt. 0 or -errno; never blocks on the network. */
int telemetry__window(struct telemetry *t, double t_unix);
/* Final window (the caller flushes the exporter). 0 or -errno. */
int telemetry__finish(struct telemetry *t, double t_unix);
/* Print the leak suspects (and export figures) to out. */
void telemetry__print(struct telemetry *t, FILE *out);
void telemetry__free(struct telemetry *t);

#endif /* MEMTEL_TELEMETRY_H */
