/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * budget.h - the heap-probe overhead budget (--max-overhead): per process,
 * from the slowdown measured while its heap probes were on, when to switch
 * them off and on again so that the estimated slowdown stays under the
 * budget. Pure logic on the caller's clock; the session does the
 * switching.
 *
 * The duty cycle: a first on-segment of first_on_ns (the cost is
 * calibrated and the allocation sites named), then, if the full slowdown S
 * (probe time over the target's own CPU time) is over the budget B, the
 * on-fraction f = min(1, B / (S + c / T_on)), c being the cost of one
 * detach + attach: off for T_off = T_on (1 - f) / f, then on for T_on, and
 * so on, S and f measured again in every on-segment. T_off is at most
 * off_max_ns (T_on is shortened, down to on_min_ns, before that bound
 * gives); a pause shorter than off_min_ns is not worth its switch and
 * is lengthened to it. The samples of an on-segment stand for it and the
 * pause just before it, by the work done: scale = 1 + (CPU time the
 * process used in the pause) / (its own CPU time per second in the last
 * segment x T_on), since the probes slow it while on (by wall time,
 * (pause + T_on) / T_on, when no CPU time was measured). Hysteresis:
 * a process goes from full-on to cycling when S > B, back to full-on only
 * when S <= 0.8 B; f rises only by more than 10 % at a time, falls at
 * once. A process under its budget is never switched off. One far over
 * it (S > BUDGET_FAST_RATIO x B once first_short_ns of its first segment
 * have passed) ends that first segment early: the estimate is already
 * clear, and a short batch job (a compile) would otherwise spend most of
 * its life in it.
 *
 * The credit holds the budget for a process of any length: it starts at
 * grace_ns (a first sample), earns B x the own CPU time observed, loses
 * the probe time, and is capped at what the longest cycle needs
 * (B x (on_ns + off_max_ns) of one busy CPU). An on-segment ends as soon
 * as the credit is spent while over budget, whatever its planned length
 * (the first one included: a compiler that spends its grace in 30 ms is
 * paused then, if the caller ticks by budget__due); the next one is only
 * as long as the credit pays for at the last segment's drain rate
 * ((S - B) x own CPU rate), the pause going on until that is at least
 * BUDGET_SEG_MIN_NS, and its scale is taken for that length. Pauses
 * start at off_min_ns and double up to the planned T_off, so a short
 * process is sampled through its life and a long one reaches the long
 * segments leak detection needs.
 */
#ifndef MEMTEL_BUDGET_H
#define MEMTEL_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

/* Back to full-on when S <= BUDGET_FULL_RATIO * B. */
#define BUDGET_FULL_RATIO	0.8
/* Probe time is taken as at most this share of the CPU time measured. */
#define BUDGET_MAX_SHARE	0.99
/* f rises only when the new one exceeds the old by this factor. */
#define BUDGET_RISE_RATIO	1.1
/* The first on-segment ends early for S > BUDGET_FAST_RATIO * B, once
 * the probes took BUDGET_FAST_MIN_NS (thousands of hits: not a start-up's
 * few hundred). */
#define BUDGET_FAST_RATIO	10.0
#define BUDGET_FAST_MIN_NS	5e6
/* The credit a process starts with (budget_opts.grace_ns 0): probe time
 * for a first sample of its allocation sites. Every process of a tree
 * gets it: at 20 ms, `as` (20 ms of its own CPU) ran fully probed, twice
 * as long, in a 2.4 s compile. */
#define BUDGET_GRACE_NS		5000000ULL
/* A segment whose probes took less than this pauses nothing, whatever
 * its ratio (an idle process's few startup calls over a ms of CPU). */
#define BUDGET_IDLE_PROBE_NS	1e6
/* No on-segment shorter than this: the pause goes on instead (cc1plus
 * makes 2.6M probe hits a second while on: 20 ms of them is 50k). */
#define BUDGET_SEG_MIN_NS	20000000ULL

struct budget_opts {
	double max_slowdown;	/* B, e.g. 0.05; <= 0: unlimited */
	uint64_t first_on_ns;	/* the first on-segment */
	uint64_t first_short_ns; /* ...far over budget; 0: never shorter */
	uint64_t on_ns;		/* T_on: long enough to find leaks in it */
	uint64_t on_min_ns;	/* T_on's floor when off_max_ns binds */
	uint64_t off_min_ns;
	uint64_t off_max_ns;
	uint64_t grace_ns;	/* the credit at start; 0: BUDGET_GRACE_NS */
};

enum budget_action {
	BUDGET_KEEP,		/* nothing to do */
	BUDGET_PAUSE,		/* detach the heap probes now */
	BUDGET_RESUME,		/* attach them again now */
};

struct budget_state {
	bool on;		/* probes on now */
	bool cycling;		/* over budget: duty-cycled */
	double f;		/* planned on-fraction of the current cycle */
	double scale;		/* weight factor of samples taken now */
	double slowdown;	/* full-on slowdown, last measured */
	uint64_t on_ns, total_ns;	/* time with probes on / known */
	uint64_t next_ns;	/* next decision due */
	unsigned int pauses;
};

/* Over every process ever started (forgotten ones included). */
struct budget_totals {
	uint64_t on_ns, total_ns;
	unsigned int pauses;	/* 0: no process was ever paused */
	unsigned int paused_now;	/* processes paused at the moment */
	/* time of the pauses running now: no on-segment stands for them
	 * yet (summed over processes) */
	uint64_t unscaled_ns;
};

/* NULL and errno on failure. */
struct budget *budget__new(const struct budget_opts *o);
void budget__free(struct budget *b);
/* pid's probes went on at now_ns (a reused pid starts afresh). 0 or
 * -ENOMEM. */
int budget__start(struct budget *b, uint32_t pid, uint64_t now_ns);
/* pid runs a new image (an exec) with its probes on: what it does now is
 * measured afresh, from a new grace if its credit is below that, and its
 * decisions are due at every tick of the young window (see budget__due).
 * Nothing while it is paused: the pause runs its course. */
void budget__restart(struct budget *b, uint32_t pid, uint64_t now_ns);
/* pid is gone: its times go into the totals. */
void budget__forget(struct budget *b, uint32_t pid, uint64_t now_ns);
/* Since the last call, pid used cpu_ns of CPU, probe_ns of it in the
 * heap probes (0 while paused). */
void budget__observe(struct budget *b, uint32_t pid, double probe_ns,
		     double cpu_ns);
/* One switch (detach + attach) of pid costs about ns. */
void budget__switch_cost(struct budget *b, uint32_t pid, double ns);
/* What to do about pid at now_ns; the state moves on as if the caller
 * did it (a failed switch: budget__start again, or budget__forget). */
enum budget_action budget__tick(struct budget *b, uint32_t pid,
				uint64_t now_ns);
/* pid's state at now_ns; false if unknown. */
bool budget__get(const struct budget *b, uint32_t pid, uint64_t now_ns,
		 struct budget_state *out);
/* Weight factor of a sample of pid taken now (1 when unknown). */
double budget__scale(const struct budget *b, uint32_t pid);
void budget__totals(const struct budget *b, uint64_t now_ns,
		    struct budget_totals *out);
/* When pid's next decision is due (budget__tick then): the end of its
 * segment or pause, or when its credit runs out at the rate it spends
 * it; now_ns while nothing is measured, and in the first first_short_ns
 * of a first segment (a process, or a new image, that has only started
 * may start allocating hard at any moment: a forked child measured idle
 * before its exec was first looked at again at the next full round, when
 * an assembler run was over); UINT64_MAX if unknown or unlimited. A caller ticking every few ms only where this is past keeps
 * a short process within its credit. */
uint64_t budget__due(const struct budget *b, uint32_t pid, uint64_t now_ns);
/* pid's credit: probe ns it may still spend (< 0: overspent). */
double budget__credit(const struct budget *b, uint32_t pid);
/* The pause and on-segment lengths for on-fraction f (0 < f < 1) under
 * o, and the on-fraction they give. */
double budget__plan(const struct budget_opts *o, double f, uint64_t *on_ns,
		    uint64_t *off_ns);

#endif /* MEMTEL_BUDGET_H */
