/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * agent_heap.h - the node agent's heap targets: the processes its
 * --heap-target selectors (process/selector.h) name, found in /proc at
 * start and when they appear or exec later, given heap probes through
 * attach/proctree (at most --max-heap-targets at once), each with its own
 * heap model and memory metrics, and released when they exit or exec
 * into a program no selector names. Every window it gives each target's
 * 13 memory metrics and its heap profile (OTLP, or a pprof file). Under
 * --max-overhead each target's probes are paused and resumed by its
 * budget (attach/budget_switch.h), and what was partial is said.
 */
#ifndef MEMTEL_CLI_AGENT_HEAP_H
#define MEMTEL_CLI_AGENT_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "collect/collector.h"
#include "model/memmetrics.h"
#include "process/selector.h"
#include "sinks/otlp/otel_config.h"
#include "sinks/otlp/otlp_export.h"

/* New processes are looked for this often; one started after the agent
 * gets its probes within about this plus an attach (tens of ms). */
#define AGENT_HEAP_POLL_NS	(250ULL * 1000 * 1000)
/* A process is re-matched this long after it first appears or execs
 * (a fork that execs the program named, a shell that moves itself into
 * a cgroup first); older ones once per AGENT_HEAP_RESCAN_NS. */
#define AGENT_HEAP_YOUNG_NS	(3ULL * 1000 * 1000 * 1000)
#define AGENT_HEAP_RESCAN_NS	(10ULL * 1000 * 1000 * 1000)

struct probes;
struct targets;
struct symdb;
struct ksyms;
struct agent_heap;
struct overhead;

struct agent_heap_opts {
	const struct selector_set *sel;
	unsigned int max_targets;
	uint64_t sample_bytes;
	double leak_age_s;
	struct probes *probes;		/* loaded with fork/exec notices */
	struct targets *targets;
	struct symdb *symdb;
	struct ksyms *ksyms;
	struct collector *coll;		/* heap records are routed from here */
	const struct otel_config *otel;
	struct otlp_exporter *exp;	/* NULL: no OTLP */
	bool profiles;			/* heap profiles over OTLP */
	/* the probes' cost per target (the caller updates it before each
	 * window, the budget at each of its ticks), or NULL */
	struct overhead *ovh;
	double start_unix;
	/* --max-overhead in percent (options__max_overhead), 0: unlimited;
	 * and the export interval, which the on-segments are sized by */
	double max_overhead;
	double interval_s;
};

/* Hooks itself into o->coll (heap routing, fork/exec notices) and finds
 * the processes matching now. NULL with errno set. */
struct agent_heap *agent_heap__new(const struct agent_heap_opts *o);
void agent_heap__free(struct agent_heap *h);
/* Look for new, exec'd and exited processes when due (every
 * AGENT_HEAP_POLL_NS), and switch the targets' probes by their budget
 * when due (BUDGET_SWITCH_TICK_NS); call it from the loop. */
void agent_heap__poll(struct agent_heap *h);
/* Close a window at t_unix for every target: its memory metrics
 * snapshot, and its heap profile over OTLP or, with dir, as
 * dir/heap-<unix>-<pid>.pb.gz (*files counts those written). 0 or the
 * first -errno (the other targets' windows are still closed). */
int agent_heap__window(struct agent_heap *h, double t_unix, const char *dir,
		       uint64_t *files);
/* pid's snapshot of the last window, NULL if pid is no heap target or
 * had no window yet. */
const struct mm_snapshot *agent_heap__snapshot(const struct agent_heap *h,
					       pid_t pid);
/* pid's own telemetry points (probe hits, estimated overhead) of the last
 * window, under its resource; NULL as above. */
const struct mm_snapshot *agent_heap__self(const struct agent_heap *h,
					   pid_t pid);
/* Heap targets now. */
size_t agent_heap__count(const struct agent_heap *h);
/* Matching processes left without probes because the bound was reached. */
uint64_t agent_heap__refused(const struct agent_heap *h);
/* Targets attached and released since the start. */
uint64_t agent_heap__attached(const struct agent_heap *h);
uint64_t agent_heap__released(const struct agent_heap *h);

/* One self-telemetry point (one label when lk is set), for the agent and
 * its heap targets. */
void agent__point(struct mm_point *p, const char *name, const char *unit,
		  enum mm_kind kind, double v, double start, double t,
		  const char *lk, const char *lv);

#endif /* MEMTEL_CLI_AGENT_HEAP_H */
