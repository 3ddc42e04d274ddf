// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * overhead.c - the estimated slowdown the heap probes cause each target,
 * from its cumulative probe hits and CPU time (see overhead.h for the
 * formula). Each process keeps the last sample it was given, the deltas of
 * the latest update and the sums of all deltas; a pid maps to its entry
 * through a u64map.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/overhead.h"
#include "util/u64map.h"

struct ovh_proc {
	uint32_t pid;
	bool used;
	uint64_t hits, cpu_ns, now_ns, sys_ns;	/* the last sample */
	uint64_t d_hits, d_cpu, d_span;		/* its deltas */
	uint64_t t_hits, t_cpu, t_span;		/* sums since the first */
	struct overhead_situ situ;		/* system time, on and off */
	uint64_t updates;			/* after the first */
};

struct overhead {
	double ns_per_hit;
	struct u64map by_pid;	/* pid -> index into procs */
	struct ovh_proc *procs;
	size_t n, cap;
	/* processes forgotten (exited), summed for overhead__all */
	uint64_t gone_hits, gone_cpu, gone_span;
	double gone_probe;
	size_t n_gone;
	uint32_t last_gone;	/* pid of the last one */
};

struct overhead *overhead__new(double ns_per_hit)
{
	struct overhead *o;

	if (!isfinite(ns_per_hit) || ns_per_hit < 0) {
		errno = EINVAL;
		return NULL;
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->ns_per_hit = ns_per_hit;
	return o;
}

void overhead__free(struct overhead *o)
{
	if (!o)
		return;
	u64map__free(&o->by_pid);
	free(o->procs);
	free(o);
}

double overhead__ns_per_hit(const struct overhead *o)
{
	return o->ns_per_hit;
}

void overhead__estimate(double ns_per_hit, uint64_t hits, uint64_t cpu_ns,
			uint64_t span_ns, struct overhead_est *out)
{
	double probe = (double)hits * ns_per_hit, cpu = (double)cpu_ns;
	double share = probe;

	memset(out, 0, sizeof(*out));
	out->hits = hits;
	out->ns_per_hit = ns_per_hit;
	out->probe_ns = probe;
	out->cpu_ns = cpu;
	out->span_ns = (double)span_ns;
	if (cpu <= 0)
		return;		/* no CPU seen: nothing to compare with */
	if (share > cpu * OVERHEAD_MAX_SHARE)
		share = cpu * OVERHEAD_MAX_SHARE;
	out->slowdown = share / (cpu - share);
}

/* A free slot (a forgotten pid's) or a new one; NULL if out of memory. */
static struct ovh_proc *proc_slot(struct overhead *o, size_t *idx)
{
	struct ovh_proc *np;
	size_t i;

	for (i = 0; i < o->n; i++) {
		if (!o->procs[i].used) {
			*idx = i;
			return &o->procs[i];
		}
	}
	if (o->n == o->cap) {
		size_t cap = o->cap ? o->cap * 2 : 16;

		np = realloc(o->procs, cap * sizeof(*np));
		if (!np)
			return NULL;
		o->procs = np;
		o->cap = cap;
	}
	*idx = o->n;
	return &o->procs[o->n++];
}

/* A cumulative counter's step: 0 if it went backwards (a new baseline). */
static uint64_t step(uint64_t now, uint64_t before)
{
	return now >= before ? now - before : 0;
}

int overhead__update_sys(struct overhead *o, uint32_t pid, uint64_t hits,
			 uint64_t cpu_ns, uint64_t sys_ns, uint64_t now_ns)
{
	uint64_t *v = u64map__get(&o->by_pid, pid);
	bool has_sys = sys_ns != OVERHEAD_NO_SYS;
	struct ovh_proc *p;
	size_t idx;

	if (!v) {
		p = proc_slot(o, &idx);
		if (!p)
			return -ENOMEM;
		*p = (struct ovh_proc){ .pid = pid, .used = true, .hits = hits,
					.cpu_ns = cpu_ns, .now_ns = now_ns,
					.sys_ns = has_sys ? sys_ns : 0,
					.situ.has_sys = has_sys };
		/* a process that ran before it was probed (--pid, an agent's
		 * target): its life so far tells its own system time, if the
		 * hits already counted are a small part of it (a baseline of
		 * 0 CPU is a process probed from its fork) */
		if (has_sys && sys_ns <= cpu_ns &&
		    (double)hits * o->ns_per_hit < 0.1 * (double)cpu_ns) {
			p->situ.base_cpu_ns = cpu_ns;
			p->situ.base_sys_ns = sys_ns;
		}
		if (u64map__set(&o->by_pid, pid, idx)) {
			p->used = false;	/* a free slot again */
			return -ENOMEM;
		}
		return 0;
	}
	p = &o->procs[*v];
	p->d_hits = step(hits, p->hits);
	p->d_cpu = step(cpu_ns, p->cpu_ns);
	p->d_span = step(now_ns, p->now_ns);
	p->t_hits += p->d_hits;
	p->t_cpu += p->d_cpu;
	p->t_span += p->d_span;
	p->situ.has_sys = p->situ.has_sys && has_sys;
	if (p->situ.has_sys) {
		uint64_t d_sys = step(sys_ns, p->sys_ns);

		/* a step with hits had the probes on (for part of it at
		 * least); one without, off (paused or no allocations) */
		if (p->d_hits) {
			p->situ.hits += p->d_hits;
			p->situ.on_cpu_ns += p->d_cpu;
			p->situ.on_sys_ns += d_sys;
		} else {
			p->situ.off_cpu_ns += p->d_cpu;
			p->situ.off_sys_ns += d_sys;
		}
		p->sys_ns = sys_ns;
	}
	p->hits = hits;
	p->cpu_ns = cpu_ns;
	p->now_ns = now_ns;
	p->updates++;
	return 0;
}

int overhead__update(struct overhead *o, uint32_t pid, uint64_t hits,
		     uint64_t cpu_ns, uint64_t now_ns)
{
	return overhead__update_sys(o, pid, hits, cpu_ns, OVERHEAD_NO_SYS,
				    now_ns);
}

double overhead__cost(double ns_per_hit, const struct overhead_situ *s)
{
	double r = 0, on_cpu, psys, per;

	if (!s->has_sys || s->on_sys_ns < OVERHEAD_SITU_MIN_SYS_NS ||
	    !s->hits)
		return ns_per_hit;
	on_cpu = (double)s->on_cpu_ns;
	/* the program's own system time per CPU ns, from its steps without
	 * probes, else its life before them; 0 (all of it the probes')
	 * while neither has enough */
	if (s->off_cpu_ns >= OVERHEAD_SITU_MIN_OFF_NS)
		r = (double)s->off_sys_ns / (double)s->off_cpu_ns;
	else if (s->base_cpu_ns >= OVERHEAD_SITU_MIN_OFF_NS)
		r = (double)s->base_sys_ns / (double)s->base_cpu_ns;
	if (r > OVERHEAD_SITU_MAX_OWN)
		return ns_per_hit;	/* its syscalls, mostly */
	/* sys_on = r x (on_cpu - probe) + psys, probe = USER x psys */
	psys = ((double)s->on_sys_ns - r * on_cpu) /
	       (1 - r * OVERHEAD_SITU_USER);
	if (!(psys > 0))
		return ns_per_hit;
	per = psys / (double)s->hits;
	/* more than the probes can explain: its own syscalls */
	if (per > ns_per_hit * OVERHEAD_SITU_MAX)
		return ns_per_hit;
	per *= OVERHEAD_SITU_USER;
	/* below: a calibration stretched by load at start (the trap is
	 * system time: it cannot have cost more than there was) */
	return per > ns_per_hit * OVERHEAD_SITU_MIN ?
	       per : ns_per_hit * OVERHEAD_SITU_MIN;
}

/* The cost per hit of p: its system time per hit where that says more
 * (overhead.h). */
static double proc_cost(const struct overhead *o, const struct ovh_proc *p)
{
	return overhead__cost(o->ns_per_hit, &p->situ);
}

bool overhead__get(const struct overhead *o, uint32_t pid,
		   struct overhead_est *last, struct overhead_est *total)
{
	const uint64_t *v = u64map__get(&o->by_pid, pid);
	const struct ovh_proc *p;

	if (!v)
		return false;
	p = &o->procs[*v];
	if (last)
		overhead__estimate(proc_cost(o, p), p->d_hits, p->d_cpu,
				   p->d_span, last);
	if (total)
		overhead__estimate(proc_cost(o, p), p->t_hits, p->t_cpu,
				   p->t_span, total);
	return true;
}

void overhead__forget(struct overhead *o, uint32_t pid)
{
	uint64_t idx;

	struct ovh_proc *p;

	if (!u64map__del(&o->by_pid, pid, &idx))
		return;
	p = &o->procs[idx];
	p->used = false;
	if (!p->updates)
		return;		/* a baseline only: nothing measured */
	o->gone_hits += p->t_hits;
	o->gone_probe += (double)p->t_hits * proc_cost(o, p);
	o->gone_cpu += p->t_cpu;
	if (p->t_span > o->gone_span)
		o->gone_span = p->t_span;
	o->n_gone++;
	o->last_gone = pid;
}

uint32_t overhead__last_gone(const struct overhead *o)
{
	return o->last_gone;
}

size_t overhead__all(const struct overhead *o, struct overhead_est *all)
{
	uint64_t hits = o->gone_hits, cpu = o->gone_cpu, span = o->gone_span;
	double probe = o->gone_probe;
	size_t i, n = o->n_gone;

	for (i = 0; i < o->n; i++) {
		const struct ovh_proc *p = &o->procs[i];

		if (!p->used || !p->updates)
			continue;
		hits += p->t_hits;
		probe += (double)p->t_hits * proc_cost(o, p);
		cpu += p->t_cpu;
		if (p->t_span > span)
			span = p->t_span;
		n++;
	}
	/* each process at its own cost: their mean, by hits */
	overhead__estimate(hits ? probe / (double)hits : o->ns_per_hit, hits,
			   cpu, span, all);
	return n;
}

bool overhead__next(const struct overhead *o, size_t *it, uint32_t *pid)
{
	while (*it < o->n) {
		const struct ovh_proc *p = &o->procs[(*it)++];

		if (p->used) {
			*pid = p->pid;
			return true;
		}
	}
	return false;
}
