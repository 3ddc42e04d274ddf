// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * budget.c - the heap-probe overhead budget: one small state machine per
 * process (full-on, or cycling between on-segments and pauses), driven by
 * the slowdown measured in its on-segments. The duty-cycle formulas are in
 * budget.h. Cycles run pause-then-segment: the samples of a segment stand
 * for it and for the pause before it, so their scale is known when they
 * arrive (a pause's real length is taken when it ends, not the planned
 * one).
 */
#include <errno.h>
#include <stdlib.h>

#include "model/budget.h"
#include "util/u64map.h"

struct proc_budget {
	bool on, cycling;
	double f, scale, slowdown;
	double seg_probe_ns, seg_cpu_ns;	/* this on-segment's */
	double own_rate;	/* own CPU ns per ns in the last segment */
	double off_cpu_ns;	/* CPU used in the current pause */
	double switch_ns;
	double credit;		/* probe ns still allowed (budget.h) */
	bool measured;		/* observed at least once */
	uint64_t seg_start, seg_len;	/* current on-segment */
	uint64_t off_start, off_len;	/* current pause */
	uint64_t started, on_ns;	/* on_ns: closed on-time */
	unsigned int pauses;
};

struct budget {
	struct budget_opts o;
	struct u64map procs;	/* pid -> struct proc_budget * */
	struct budget_totals gone;	/* of forgotten processes */
};

struct budget *budget__new(const struct budget_opts *o)
{
	struct budget *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->o = *o;
	if (!b->o.grace_ns)
		b->o.grace_ns = BUDGET_GRACE_NS;
	if (!b->o.on_min_ns || b->o.on_min_ns > b->o.on_ns)
		b->o.on_min_ns = b->o.on_ns;
	return b;
}

void budget__free(struct budget *b)
{
	uint64_t pid, v;
	size_t it = 0;

	if (!b)
		return;
	while (u64map__next(&b->procs, &it, &pid, &v))
		free((void *)(uintptr_t)v);
	u64map__free(&b->procs);
	free(b);
}

static struct proc_budget *proc_of(const struct budget *b, uint32_t pid)
{
	uint64_t *v = u64map__get(&b->procs, pid);

	return v ? (struct proc_budget *)(uintptr_t)*v : NULL;
}

static bool unlimited(const struct budget *b)
{
	return !(b->o.max_slowdown > 0);
}

int budget__start(struct budget *b, uint32_t pid, uint64_t now_ns)
{
	struct proc_budget *p = proc_of(b, pid);

	if (p) {
		budget__forget(b, pid, now_ns);
		p = NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p || u64map__set(&b->procs, pid, (uintptr_t)p)) {
		free(p);
		return -ENOMEM;
	}
	p->on = true;
	p->f = p->scale = 1;
	p->started = p->seg_start = now_ns;
	p->seg_len = b->o.first_on_ns;
	p->credit = (double)b->o.grace_ns;
	return 0;
}

void budget__restart(struct budget *b, uint32_t pid, uint64_t now_ns)
{
	struct proc_budget *p = proc_of(b, pid);

	if (!p || !p->on)
		return;
	if (now_ns > p->seg_start)
		p->on_ns += now_ns - p->seg_start;
	p->seg_start = now_ns;
	p->seg_probe_ns = p->seg_cpu_ns = 0;
	p->measured = false;
	if (!p->cycling)
		p->seg_len = b->o.first_on_ns;
	if (p->credit < (double)b->o.grace_ns)
		p->credit = (double)b->o.grace_ns;
}

/* A first segment in its first first_short_ns. */
static bool young(const struct budget *b, const struct proc_budget *p,
		  uint64_t now_ns)
{
	return p->on && !p->cycling && !p->pauses &&
	       now_ns < p->seg_start + b->o.first_short_ns;
}

/* On-time up to now. */
static uint64_t on_time(const struct proc_budget *p, uint64_t now_ns)
{
	return p->on_ns + (p->on && now_ns > p->seg_start ?
			   now_ns - p->seg_start : 0);
}

void budget__forget(struct budget *b, uint32_t pid, uint64_t now_ns)
{
	struct proc_budget *p = proc_of(b, pid);

	if (!p)
		return;
	b->gone.on_ns += on_time(p, now_ns);
	b->gone.total_ns += now_ns > p->started ? now_ns - p->started : 0;
	b->gone.pauses += p->pauses;
	u64map__del(&b->procs, pid, NULL);
	free(p);
}

/* The credit: B x own CPU earned, probe time spent, at most what a
 * longest cycle needs (as for one busy CPU, or the last segment's own
 * CPU rate when higher). Own CPU per call is not clamped: the sum over
 * calls is the true one whatever the granularity of each. */
static void earn(const struct budget *b, struct proc_budget *p,
		 double probe_ns, double cpu_ns)
{
	double cap, rate = p->own_rate > 1 ? p->own_rate : 1;

	if (unlimited(b))
		return;
	p->credit += b->o.max_slowdown * (cpu_ns - probe_ns) - probe_ns;
	cap = (double)b->o.grace_ns + b->o.max_slowdown * rate *
		(double)(b->o.on_ns + b->o.off_max_ns);
	if (p->credit > cap)
		p->credit = cap;
}

void budget__observe(struct budget *b, uint32_t pid, double probe_ns,
		     double cpu_ns)
{
	struct proc_budget *p = proc_of(b, pid);

	if (!p || !(probe_ns >= 0) || !(cpu_ns >= 0))
		return;
	if (cpu_ns > 0)
		p->measured = true;
	earn(b, p, probe_ns, cpu_ns);
	if (!p->on) {
		p->off_cpu_ns += cpu_ns;
		return;
	}
	p->seg_probe_ns += probe_ns;
	p->seg_cpu_ns += cpu_ns;
}

void budget__switch_cost(struct budget *b, uint32_t pid, double ns)
{
	struct proc_budget *p = proc_of(b, pid);

	if (p && ns >= 0)
		p->switch_ns = ns;
}

double budget__plan(const struct budget_opts *o, double f, uint64_t *on_ns,
		    uint64_t *off_ns)
{
	double on = (double)o->on_ns, off;

	off = on * (1 - f) / f;
	if (off > (double)o->off_max_ns) {
		/* shorter segments first; past their floor, longer pauses */
		on = (double)o->off_max_ns * f / (1 - f);
		if (on < (double)o->on_min_ns)
			on = (double)o->on_min_ns;
		off = on * (1 - f) / f;
	}
	if (off < (double)o->off_min_ns)
		off = (double)o->off_min_ns;
	*on_ns = (uint64_t)on;
	*off_ns = (uint64_t)off;
	return on / (on + off);
}

/* The segment that just ended: its slowdown, and the next f (1: stay
 * on). */
static double next_fraction(const struct budget *b, struct proc_budget *p)
{
	double budget = b->o.max_slowdown, own = p->seg_cpu_ns - p->seg_probe_ns;
	double s, f;

	/* probes estimated at or past the CPU time measured (its tick
	 * granularity, a cost calibrated high): the probes' share capped */
	if (p->seg_cpu_ns > 0 && own < (1 - BUDGET_MAX_SHARE) * p->seg_cpu_ns)
		own = (1 - BUDGET_MAX_SHARE) * p->seg_cpu_ns;
	/* a segment without CPU time says nothing new: keep the last
	 * estimate */
	if (p->seg_cpu_ns > 0)
		p->slowdown = p->seg_probe_ns / own;
	s = p->slowdown;
	p->seg_probe_ns = p->seg_cpu_ns = 0;
	if (!p->cycling) {
		if (s <= budget)
			return 1;
		p->cycling = true;
		p->f = 1;
	} else if (s <= BUDGET_FULL_RATIO * budget) {
		p->cycling = false;
		return 1;
	}
	/* a switch per cycle, spread over the on-segment */
	f = budget / (s + p->switch_ns / (double)b->o.on_ns);
	if (f > 1)
		f = 1;
	if (f > p->f && f < p->f * BUDGET_RISE_RATIO)
		f = p->f;
	return f;
}

/* In its first segment, past first_short_ns, and far over budget. */
static bool far_over(const struct budget *b, const struct proc_budget *p,
		     uint64_t now_ns)
{
	double own = p->seg_cpu_ns - p->seg_probe_ns;

	if (!b->o.first_short_ns || p->pauses || p->cycling || p->on_ns ||
	    now_ns < p->seg_start + b->o.first_short_ns || !(own > 0) ||
	    p->seg_probe_ns < BUDGET_FAST_MIN_NS)
		return false;
	return p->seg_probe_ns > BUDGET_FAST_RATIO * b->o.max_slowdown * own;
}

/* Probe ns per wall ns the credit loses while on: S x own CPU rate
 * spent, B x it earned. 0: not known yet. */
static double drain_rate(const struct budget *b, const struct proc_budget *p)
{
	double d = (p->slowdown - b->o.max_slowdown) * p->own_rate;

	return d > 0 ? d : 0;
}

/* How long an on-segment starting now may run on the credit; `plan` when
 * the credit is not what bounds it. */
static uint64_t credit_len(const struct budget *b, const struct proc_budget *p,
			   uint64_t plan)
{
	double d = drain_rate(b, p), len;

	if (!(d > 0))
		return plan;
	len = p->credit > 0 ? p->credit / d : 0;
	return len < (double)plan ? (uint64_t)len : plan;
}

/* The credit is spent: the probes go off now, whatever the segment. */
static bool exhausted(const struct budget *b, const struct proc_budget *p)
{
	return p->measured && p->credit <= 0 && p->slowdown > b->o.max_slowdown;
}

enum budget_action budget__tick(struct budget *b, uint32_t pid,
				uint64_t now_ns)
{
	struct proc_budget *p = proc_of(b, pid);
	uint64_t on_len, off_len, grow;
	double f, spent;

	if (!p || unlimited(b))
		return BUDGET_KEEP;
	if (!p->on) {
		if (now_ns < p->off_start + p->off_len)
			return BUDGET_KEEP;
		/* the next segment as long as the credit pays for; a pause
		 * goes on until that is a useful one */
		on_len = credit_len(b, p, p->seg_len);
		if (on_len < BUDGET_SEG_MIN_NS && on_len < p->seg_len)
			return BUDGET_KEEP;
		p->seg_len = on_len;
		p->on = true;
		p->seg_start = now_ns;
		/* this segment stands for the pause as it really was: the
		 * work done in it, by the CPU time the process used (the
		 * probes slowed it while on), else by wall time */
		if (p->own_rate > 0 && p->off_cpu_ns > 0)
			p->scale = 1 + p->off_cpu_ns /
				       (p->own_rate * (double)p->seg_len);
		else
			p->scale = (double)(now_ns - p->off_start + p->seg_len) /
				   (double)p->seg_len;
		return BUDGET_RESUME;
	}
	if (now_ns < p->seg_start + p->seg_len && !far_over(b, p, now_ns) &&
	    !(p->credit <= 0 && p->seg_probe_ns > b->o.max_slowdown *
				 (p->seg_cpu_ns - p->seg_probe_ns)))
		return BUDGET_KEEP;
	p->on_ns += now_ns - p->seg_start;
	if (now_ns > p->seg_start)
		p->own_rate = (p->seg_cpu_ns - p->seg_probe_ns) /
			      (double)(now_ns - p->seg_start);
	spent = p->seg_probe_ns;
	f = next_fraction(b, p);
	/* a segment whose probes cost next to nothing (an idle process: a
	 * sleep's startup is a "23% slowdown" of its 1 ms of CPU) is no
	 * reason to pause, whatever the ratio says */
	if ((f >= 1 || spent < BUDGET_IDLE_PROBE_NS) && !exhausted(b, p)) {
		p->f = p->scale = 1;
		p->seg_start = now_ns;
		p->seg_len = b->o.on_ns;
		return BUDGET_KEEP;
	}
	if (f >= 1) {
		/* over the credit though the last segment looked under the
		 * budget (the hysteresis band): cycle at B / S */
		p->cycling = true;
		f = b->o.max_slowdown / p->slowdown;
	}
	p->f = budget__plan(&b->o, f, &on_len, &off_len);
	p->f = f < p->f ? f : p->f;
	/* pauses start short and double up to the plan: a short process
	 * (a compile) is sampled through its life, a long one reaches the
	 * long segments leak detection needs */
	grow = b->o.off_min_ns << (p->pauses < 20 ? p->pauses : 20);
	if (grow < off_len) {
		off_len = grow;
		on_len = (uint64_t)((double)off_len * p->f / (1 - p->f));
	}
	p->on = false;
	p->off_start = now_ns;
	p->off_cpu_ns = 0;
	p->off_len = off_len;
	p->seg_len = on_len > BUDGET_SEG_MIN_NS ? on_len : BUDGET_SEG_MIN_NS;
	p->pauses++;
	return BUDGET_PAUSE;
}

uint64_t budget__due(const struct budget *b, uint32_t pid, uint64_t now_ns)
{
	const struct proc_budget *p = b ? proc_of(b, pid) : NULL;
	uint64_t end;
	double d;

	if (!p || unlimited(b))
		return UINT64_MAX;
	if (!p->on)
		return p->off_start + p->off_len;
	/* nothing measured yet: as soon as there is */
	if (!p->measured || young(b, p, now_ns))
		return now_ns;
	end = p->seg_start + p->seg_len;
	/* the running segment's drain when it has one, else the last's */
	d = drain_rate(b, p);
	if (p->seg_cpu_ns > 0 && now_ns > p->seg_start)
		d = (p->seg_probe_ns - b->o.max_slowdown *
		     (p->seg_cpu_ns - p->seg_probe_ns)) /
		    (double)(now_ns - p->seg_start);
	if (d > 0) {
		double left = p->credit > 0 ? p->credit / d : 0;

		if ((double)now_ns + left < (double)end)
			end = now_ns + (uint64_t)left;
	}
	return end;
}

double budget__credit(const struct budget *b, uint32_t pid)
{
	const struct proc_budget *p = b ? proc_of(b, pid) : NULL;

	return p ? p->credit : 0;
}

bool budget__get(const struct budget *b, uint32_t pid, uint64_t now_ns,
		 struct budget_state *out)
{
	const struct proc_budget *p = proc_of(b, pid);

	if (!p)
		return false;
	out->on = p->on;
	out->cycling = p->cycling;
	out->f = p->f;
	out->scale = p->scale;
	out->slowdown = p->slowdown;
	out->on_ns = on_time(p, now_ns);
	out->total_ns = now_ns > p->started ? now_ns - p->started : 0;
	out->next_ns = p->on ? p->seg_start + p->seg_len
			     : p->off_start + p->off_len;
	out->pauses = p->pauses;
	return true;
}

double budget__scale(const struct budget *b, uint32_t pid)
{
	const struct proc_budget *p = b ? proc_of(b, pid) : NULL;

	return p ? p->scale : 1;
}

void budget__totals(const struct budget *b, uint64_t now_ns,
		    struct budget_totals *out)
{
	struct budget_state st;
	uint64_t pid, v;
	size_t it = 0;

	*out = b->gone;
	out->paused_now = 0;
	out->unscaled_ns = 0;
	while (u64map__next(&b->procs, &it, &pid, &v)) {
		budget__get(b, (uint32_t)pid, now_ns, &st);
		out->on_ns += st.on_ns;
		out->total_ns += st.total_ns;
		out->pauses += st.pauses;
		out->paused_now += !st.on;
		if (!st.on) {
			const struct proc_budget *p = proc_of(b, (uint32_t)pid);

			out->unscaled_ns += now_ns > p->off_start ?
					    now_ns - p->off_start : 0;
		}
	}
}
