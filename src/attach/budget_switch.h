/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * budget_switch.h - the --max-overhead budget applied to processes' heap
 * probes, for the session and the node agent's heap targets alike. At
 * every round (budget_switch__due: every 20 ms) the caller names each
 * process with its heap model; for the new ones and those due (all, four
 * times a second) its probe hits (x the cost per hit) and CPU and system
 * time go into an overhead estimate, model/budget decides (its credit and
 * duty cycle), and here the probes are switched: a
 * pause hands the process's uprobe link to the closer thread
 * (probes__detach_pid_later: it stays tracked, its BPF `live` entries
 * stay) and, once the link is closed, takes its last records and marks
 * its live blocks unverified in its heapstate; a resume restarts the memmetrics series of those blocks'
 * stacks, attaches the same plan again (found while the probes were on)
 * and scales its allocations by the pause they stand for.
 */
#ifndef MEMTEL_BUDGET_SWITCH_H
#define MEMTEL_BUDGET_SWITCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "model/budget.h"

struct overhead;

struct probes;
struct proctree;
struct heapstate;
struct memmetrics;
struct budget_switch;

/* Every process is looked at four times a second; every 20 ms the new
 * ones and those whose decision is due (budget__due: a credit that runs
 * out, a segment or pause that ends). A compiler spends its credit in
 * tens of ms: a 250 ms tick alone would let it spend ten times that. */
#define BUDGET_SWITCH_TICK_NS		250000000ULL
#define BUDGET_SWITCH_FAST_TICK_NS	20000000ULL

struct budget_switch_opts {
	struct probes *probes;	/* whose links are switched */
	/* whose heap modes (proctree__heap_mode): only processes probed on
	 * every malloc/free are paused (may be NULL: all are) */
	const struct proctree *tree;
	double pct;		/* the budget in percent, > 0 */
	/* on-segments long enough for a leak: 3 windows and leak_age_s
	 * (<= 0: the memmetrics default), plus a window */
	double leak_age_s;
	double interval_s;	/* export interval */
	double ns_per_hit;	/* calibrated cost; <= 0: the default */
	/* the caller's estimates, updated at every tick too (then
	 * ns_per_hit is its calibrated cost), or NULL: its own */
	struct overhead *ovh;
};

/* One process's budget figures. */
struct budget_switch_proc {
	bool partial;		/* its probes were paused at some time */
	bool paused;		/* ...and are now */
	double on_fraction;	/* share of its time with probes on (1) */
	unsigned int pauses;
	/* the pause running now: no on-segment stands for it yet */
	uint64_t unscaled_ns;
};

/* NULL with errno set. */
struct budget_switch *budget_switch__new(const struct budget_switch_opts *o);
/* Frees the state of every process (their links stay as they are). */
void budget_switch__free(struct budget_switch *bs);
/* A round of decisions is due at now_ns (and starts): tick every process
 * then sweep. */
bool budget_switch__due(struct budget_switch *bs, uint64_t now_ns);
/* pid's figures and decision in this round; hs is its heap model, mm
 * its memory metrics (may be NULL). */
void budget_switch__tick(struct budget_switch *bs, pid_t pid,
			 struct heapstate *hs, struct memmetrics *mm,
			 uint64_t now_ns);
/* Every pause handed to the closer finished now (their links closed,
 * their live blocks marked): before the heap is reported. */
void budget_switch__settle(struct budget_switch *bs);
/* End of a round: the processes not ticked in it are forgotten. */
void budget_switch__sweep(struct budget_switch *bs, uint64_t now_ns);
/* pid exited or is no longer profiled (an exec: it starts afresh): its
 * state goes, its times stay in the totals. */
void budget_switch__forget(struct budget_switch *bs, pid_t pid,
			   uint64_t now_ns);
/* pid's figures at now_ns; false (and *out all-on) when unknown. */
bool budget_switch__proc(const struct budget_switch *bs, pid_t pid,
			 uint64_t now_ns, struct budget_switch_proc *out);
/* Over every process ever ticked. */
void budget_switch__totals(const struct budget_switch *bs, uint64_t now_ns,
			   struct budget_totals *out);
/* Processes with state now (0 once every one was forgotten). */
size_t budget_switch__count(const struct budget_switch *bs);
/* A heap profile's comment lines saying it is partial ('\n'-separated):
 * probes on on_fraction of the time under budget pct, unscaled_ns of
 * paused time not in the scaled figures, unverified_bytes of the in-use
 * heap unverified. Their length. */
size_t budget_switch__notes(double on_fraction, double pct,
			    uint64_t unscaled_ns, double unverified_bytes,
			    char *buf, size_t len);
/* How the allocation figures were scaled, one phrase. */
void budget_switch__scaling_text(uint64_t unscaled_ns, char *buf,
				 size_t len);

#endif /* MEMTEL_BUDGET_SWITCH_H */
