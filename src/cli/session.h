/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * session.h - one profiling session: check the request, start or find the
 * target, attach, drain events until --duration, a signal or the target's
 * exit, then write the local files, flush OTLP under a deadline and print
 * the summary (summary.c).
 */
#ifndef MEMTEL_CLI_SESSION_H
#define MEMTEL_CLI_SESSION_H

#include <limits.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "attach/allocsample.h"
#include "attach/golang.h"
#include "memtel.h"
#include "cli/options.h"
#include "collect/collector.h"
#include "sinks/otlp/otel_config.h"
#include "util/u64map.h"

/* The final OTLP flush waits at most this long: with the probes detached,
 * the files written and the target stopped (up to 2 s) the whole stop stays
 * within ~5 s of SIGTERM, inside a container runtime's 10 s grace. */
#define SESSION_FLUSH_DEADLINE_MS 2500

/* Files of a session, for the summary: only those actually written. */
enum session_file {
	SF_HEAP_PPROF, SF_HEAP_SVG, SF_LEAKS, SF_METRICS,
	SF_CPU_PPROF, SF_CPU_FOLDED, SF_CPU_SVG,
	SF__COUNT,
};

struct budget_switch;

struct session {
	const struct options *o;
	pid_t pid;		/* 0 with --all and no target */
	bool heap, cpu;
	bool launched;		/* we started the target (-- COMMAND) */
	bool child_alive;
	char outdir[PATH_MAX];
	struct probes *probes;
	struct proctree *tree;	/* the processes profiled */
	struct targets *targets;
	struct stacks *stacks;
	struct heapstate *heapst;
	struct cpustate *cpust;
	struct ksyms *ksyms;
	struct symcache *syms;
	struct symdb *symdb;
	struct otel_config otel;
	struct memmetrics *mm;
	struct telemetry *tel;
	struct otlp_exporter *exp;
	struct profile_export *pexp;
	char session_id[37];
	struct collector coll;
	struct bpfunwind *bu;	/* unwinding in BPF, NULL if off */
	bool coll_ready;
	const char *cpu_event;
	int n_cpus;
	uint32_t ring_bytes;	/* 0: the BPF object's default (32 MiB) */
	int64_t start_wall;
	uint64_t start_mono;
	const char *end_reason;
	bool written[SF__COUNT];
	/* the live status line (stderr is a terminal) */
	bool status;
	uint64_t next_status;
	struct u64map pids;	/* processes seen in events */
	uint32_t last_pid;
	/* "never silent": allocation calls at the last window's end, and
	 * whether the current streak of empty windows was reported */
	uint64_t window_calls;
	bool silence_told;
	bool go_found;		/* the target is a Go program */
	bool go_heap;		/* the Go runtime's sampled heap is probed */
	struct golang go;
	/* the allocator samples on its own and only its sampled path is
	 * probed (attach/allocsample.c) */
	bool alloc_sampled;
	struct allocsample asamp;
	bool heap_usdt;		/* otel_memory USDT probes, not uprobes */
	/* --max-overhead (session_budget.c) */
	double budget_pct;
	struct budget_switch *budget;	/* NULL: unlimited */
	uint64_t budget_end;		/* the probes went (0: not yet) */
	pid_t budget_go_pid;		/* Go heap probed: never paused */
	/* heap probe cost (session_overhead.c): hits x calibrated cost
	 * against each target's CPU time */
	struct overhead *ovh;
	bool ovh_measured;	/* calibrated, not the default cost */
	bool ovh_based;		/* the targets at attach have a baseline */
};

/* Probe counters at the end of a session, for the summary. */
struct session_counts {
	uint64_t cnt[MT_CNT__COUNT];
	uint64_t calls, sampled, dropped;
};

/* Run the session o describes; the process exit status (0, EXIT_RUNTIME,
 * EXIT_USAGE). */
int session__run(const struct options *o);

/* summary.c: the file name of f ("heap.pb.gz"). */
const char *session__file_name(enum session_file f);
/* summary.c: the terminal summary, listing only the files written. */
void session__print_summary(const struct session *s, int64_t duration_ns,
			    const struct session_counts *c);

/* session_budget.c: the overhead budget, when --max-overhead (or its
 * default) applies: after attaching. 0 or -ENOMEM (reported). */
int session__budget_start(struct session *s);
/* Once a second: estimate, decide, switch the heap probes. */
void session__budget_tick(struct session *s);
/* Before the probes are destroyed: the budget's figures stop here. */
void session__budget_finish(struct session *s);
/* Did the budget ever pause a process's probes? *paused (may be NULL):
 * how many are paused now. */
bool session__budget_partial(const struct session *s, unsigned int *paused);
/* Share of the time the probes were on (1 when never paused). */
double session__budget_on_fraction(const struct session *s);
/* The heap profile's comment lines on what is partial ('\n'-separated);
 * their length (0: nothing partial). */
size_t session__budget_notes(const struct session *s, char *buf, size_t len);
/* The summary's lines on it (nothing when never paused). */
void session__budget_print(const struct session *s, FILE *out);
void session__budget_free(struct session *s);
/* session_overhead.c: calibrate the heap probes' cost per hit once the
 * BPF object is loaded (s->heap only; a failed measurement falls back to
 * the default cost, one warning). 0 or -ENOMEM. */
int session__calibrate(struct session *s);
/* Feed every tracked process's hits and CPU time to s->ovh; forget those
 * no longer tracked. At each export window and before detaching. */
void session__overhead_update(struct session *s);
/* "~3.1% estimated slowdown (1.2M hits x 410 ns over 15.8 s CPU)"; as
 * snprintf. */
struct overhead_est;
int session__overhead_format(const struct session *s,
			     const struct overhead_est *e, char *buf,
			     size_t len);
/* The pprof comment lines ('\n'-separated) on what the heap probes cost,
 * per process and in all; their length (0: none). */
size_t session__overhead_notes(const struct session *s, char *buf,
			       size_t len);

#endif /* MEMTEL_CLI_SESSION_H */
