// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * budget_switch.c - the switching side of --max-overhead, per process:
 * probe hits and CPU time into an overhead estimate, model/budget's
 * decision, and the pause (drain, detach the link, mark the live blocks
 * unverified) or the resume (restart the stacks' leak series, attach the
 * plan again, scale the allocations). One unit for the session
 * (cli/session_budget.c) and the agent's heap targets (cli/agent_heap.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach/allocator.h"
#include "attach/budget_switch.h"
#include "attach/calibrate.h"
#include "attach/probes.h"
#include "attach/proctree.h"
#include "model/heapstate.h"
#include "model/memmetrics.h"
#include "model/overhead.h"
#include "process/procstat.h"
#include "util/clock.h"
#include "util/fmt.h"
#include "util/log.h"
#include "util/u64map.h"

#define NS_PER_S		1000000000ULL
/* The first on-segment: the cost is measured, the busy sites named; half
 * a second when far over budget (a heavy allocator makes 10^5 calls in
 * it). */
#define BUDGET_FIRST_ON_NS	(2 * NS_PER_S)
#define BUDGET_FIRST_SHORT_NS	(NS_PER_S / 2)
#define BUDGET_ON_MIN_NS	(10 * NS_PER_S)
#define BUDGET_OFF_MIN_NS	(1 * NS_PER_S)
#define BUDGET_OFF_MAX_NS	(600 * NS_PER_S)
/* How long a pause may take to read the records made before it. */
#define PAUSE_DRAIN_NS		(250 * 1000 * 1000ULL)

/* What a process's heap probes were attached with, to attach them again. */
/* One process's switching state. */
struct bs_proc {
	struct allocator_plan *plan;	/* NULL until its first pause */
	uint64_t gen;		/* the round it was last ticked in */
	uint64_t paused_at;	/* the pause running now began (0: on) */
	/* its links are with the closer (probes__detach_pid_later): once
	 * closed, its records are taken and its live blocks in hs marked
	 * (finish_pause) */
	bool pausing;
	struct heapstate *hs;	/* its model at its last tick */
	/* its totals in the model at its last observation (the model is
	 * also updated by others between two ticks) */
	double seen_probe, seen_cpu;
	uint64_t execs;		/* proctree__execs() when last ticked */
};

struct budget_switch {
	struct probes *probes;
	const struct proctree *tree;	/* whose heap modes, or NULL */
	double pct;
	struct budget *budget;
	struct overhead *ovh;	/* the estimates, updated at every tick */
	bool own_ovh;		/* ours, not the caller's */
	struct u64map procs;	/* pid -> struct bs_proc * */
	uint64_t gen, next_ns, next_full_ns;
	bool full;		/* this round ticks every process */
	bool based;		/* a first round done */
};

struct budget_switch *budget_switch__new(const struct budget_switch_opts *o)
{
	double leak = o->leak_age_s, interval = o->interval_s, on_s;
	struct budget_opts bo = {
		.max_slowdown = o->pct / 100,
		.first_on_ns = BUDGET_FIRST_ON_NS,
		.first_short_ns = BUDGET_FIRST_SHORT_NS,
		.on_min_ns = BUDGET_ON_MIN_NS,
		.off_min_ns = BUDGET_OFF_MIN_NS,
		.off_max_ns = BUDGET_OFF_MAX_NS,
	};
	struct budget_switch *bs;

	if (!(o->pct > 0) || !o->probes) {
		errno = EINVAL;
		return NULL;
	}
	bs = calloc(1, sizeof(*bs));
	if (!bs)
		return NULL;
	/* a leak needs 3 windows and its oldest block leak-age old, inside
	 * one on-segment, plus a window for the alignment */
	if (leak <= 0)
		leak = MM_DEFAULT_LEAK_AGE_S;
	on_s = (leak > 3 * interval ? leak : 3 * interval) + interval;
	bo.on_ns = on_s * 1e9 > (double)BUDGET_ON_MIN_NS ?
		   (uint64_t)(on_s * 1e9) : BUDGET_ON_MIN_NS;
	if (bo.on_ns > BUDGET_OFF_MAX_NS)
		bo.on_ns = BUDGET_OFF_MAX_NS;
	bs->probes = o->probes;
	bs->tree = o->tree;
	bs->pct = o->pct;
	bs->budget = budget__new(&bo);
	bs->ovh = o->ovh;
	if (!bs->ovh && bs->budget) {
		bs->ovh = overhead__new(o->ns_per_hit > 0 ? o->ns_per_hit :
					CALIBRATE_DEFAULT_NS);
		bs->own_ovh = true;
	}
	if (!bs->ovh) {
		budget_switch__free(bs);
		errno = ENOMEM;
		return NULL;
	}
	/* the first round at once: a process that allocates hard spends
	 * its grace in tens of ms */
	bs->next_ns = bs->next_full_ns = clock__mono_ns();
	mt_debug("overhead budget %g%%: on-segments of %.0f s, pauses of at most %.0f s",
		 o->pct, (double)bo.on_ns / 1e9,
		 (double)BUDGET_OFF_MAX_NS / 1e9);
	return bs;
}

static void proc__free(struct bs_proc *p)
{
	if (p)
		free(p->plan);
	free(p);
}

void budget_switch__free(struct budget_switch *bs)
{
	uint64_t pid, v;
	size_t it = 0;

	if (!bs)
		return;
	while (u64map__next(&bs->procs, &it, &pid, &v))
		proc__free((struct bs_proc *)(uintptr_t)v);
	u64map__free(&bs->procs);
	if (bs->own_ovh)
		overhead__free(bs->ovh);
	budget__free(bs->budget);
	free(bs);
}

static struct bs_proc *proc_of(const struct budget_switch *bs, pid_t pid)
{
	uint64_t *v = u64map__get(&bs->procs, (uint64_t)pid);

	return v ? (struct bs_proc *)(uintptr_t)*v : NULL;
}

/* pid's plan, found now (while its probes are on: the same allocator
 * they are on) when not known yet. NULL: none (no C allocator). */
static struct allocator_plan *plan_get(const struct proctree *tree,
				   struct bs_proc *p, pid_t pid)
{
	struct allocator_plan *hp = p->plan;

	if (hp)
		return hp;
	/* probes that fire on sampled allocations only (otel_memory, the
	 * allocator's sampled path) are not the plan below: never paused */
	if (tree && proctree__heap_mode(tree, pid) != PROCTREE_HEAP_CALLS)
		return NULL;
	hp = calloc(1, sizeof(*hp));
	if (!hp)
		return NULL;
	if (allocator__plan_pid(pid, hp)) {
		free(hp);
		return NULL;
	}
	p->plan = hp;
	return hp;
}

void budget_switch__forget(struct budget_switch *bs, pid_t pid,
			   uint64_t now_ns)
{
	struct bs_proc *p;
	uint64_t v;

	if (!bs)
		return;
	budget__forget(bs->budget, (uint32_t)pid, now_ns);
	if (bs->own_ovh)	/* else its owner forgets it when it exits */
		overhead__forget(bs->ovh, (uint32_t)pid);
	if (!u64map__del(&bs->procs, (uint64_t)pid, &v))
		return;
	p = (struct bs_proc *)(uintptr_t)v;
	/* gone, or no longer ours, before its pause was finished: its
	 * records are in (an exit stop drained them, or they no longer
	 * matter), its frees from now on unseen */
	if (p->pausing && p->hs)
		heapstate__pause_pid(p->hs, (uint32_t)pid);
	proc__free(p);
}

/* pid's links are closed: every record it made before is in the ring
 * ahead of anything later, so all of them are taken before its live
 * blocks are marked (a block recorded after the marking would count as
 * seen through the pause, and its unseen free make a false leak);
 * bounded, for a ring others keep full. */
static void finish_pause(struct budget_switch *bs, struct bs_proc *p,
			 pid_t pid, struct heapstate *hs)
{
	size_t n;

	probes__drain_until(bs->probes, clock__mono_ns() + PAUSE_DRAIN_NS);
	/* the drain ran the caller's callbacks, which may have forgotten
	 * pid (an exec): p is looked up again */
	if (proc_of(bs, pid) != p)
		return;
	p->pausing = false;
	n = heapstate__pause_pid(hs, (uint32_t)pid);
	mt_debug("pid %d: heap probes off, %zu live blocks unverified",
		 (int)pid, n);
}

/* The events so far taken, pid's links handed to the closer, its pause
 * finished (finish_pause) once they are closed. false: the drain's
 * callbacks forgot pid (an exec), p is gone. */
static bool hand_over(struct budget_switch *bs, struct bs_proc *p, pid_t pid,
		      struct heapstate *hs)
{
	probes__drain(bs->probes);
	if (proc_of(bs, pid) != p)
		return false;
	probes__detach_pid_later(bs->probes, pid);
	p->pausing = true;
	p->hs = hs;
	return true;
}

/* Probes off: the events so far are taken first, the links go to the
 * closer (closing one waits for RCU, tens of ms: the session loop, and a
 * launched tree's ptrace stops, do not wait for it), and once they are
 * closed finish_pause marks pid's live blocks. false: pid is left on. */
static bool pause_pid(struct budget_switch *bs, struct bs_proc *p, pid_t pid,
		      struct heapstate *hs, uint64_t now_ns)
{
	struct budget_state st;

	if (!plan_get(bs->tree, p, pid)) {
		/* nothing we could attach again: stay on, measured anew */
		budget__start(bs->budget, (uint32_t)pid, now_ns);
		return false;
	}
	if (!hand_over(bs, p, pid, hs))
		return false;
	p->paused_at = now_ns;
	if (budget__get(bs->budget, (uint32_t)pid, now_ns, &st))
		mt_debug("pid %d: heap probes paused (budget %g%%; slowdown %.1f%% while on, on-fraction %.3f, for %.2f s)",
			 (int)pid, bs->pct, 100 * st.slowdown, st.f,
			 (double)(st.next_ns - now_ns) / 1e9);
	return true;
}

struct restart_ctx {
	struct memmetrics *mm;
	uint32_t pid;
};

static int restart_stack(const struct heap_block *b, void *ctx)
{
	struct restart_ctx *r = ctx;

	if (b->pid == r->pid && b->unverified)
		memmetrics__restart_stack(r->mm, b->stack_id);
	return 0;
}

/* Probes on again with the same plan. */
static void resume_pid(struct budget_switch *bs, struct bs_proc *p,
		       pid_t pid, struct heapstate *hs,
		       struct memmetrics *mm, uint64_t now_ns)
{
	struct restart_ctx r = { .mm = mm, .pid = (uint32_t)pid };
	struct allocator_plan *hp;
	struct budget_state st;
	uint64_t t0;
	int err;

	/* its old links closed and its pause finished first (never two
	 * links: its calls would count twice) */
	if (p->pausing) {
		probes__settle(bs->probes, pid);
		finish_pause(bs, p, pid, hs);
		if (proc_of(bs, pid) != p)
			return;
	}
	/* a drop then a rise of its live bytes is no growth */
	if (mm)
		heapstate__foreach_live(hs, restart_stack, &r);
	t0 = clock__mono_ns();
	/* never two links: an exec meanwhile may have attached some */
	probes__detach_pid(bs->probes, pid);
	/* an exec in the pause took the old plan: the new image's now (none
	 * when its probes are not on every call: the tree attached those) */
	hp = plan_get(bs->tree, p, pid);
	err = hp ? probes__attach_pid(bs->probes, pid, &hp->a, hp->pts, hp->n) :
		   -ENOENT;
	if (err < 0) {
		if (err != -ESRCH && err != -ENOENT)
			mt_err("pid %d: cannot attach heap probes again: %s",
			       (int)pid, strerror(-err));
		budget_switch__forget(bs, pid, now_ns);
		return;
	}
	p->paused_at = 0;
	budget__switch_cost(bs->budget, (uint32_t)pid,
			    probes__close_ns(bs->probes) +
			    (double)(clock__mono_ns() - t0));
	mt_debug("pid %d: heap probes on again on %s (allocations x%.2f, for %.2f s)",
		 (int)pid, hp->a.path, budget__scale(bs->budget, (uint32_t)pid),
		 budget__get(bs->budget, (uint32_t)pid, now_ns, &st) ?
		 (double)(st.next_ns - now_ns) / 1e9 : 0.0);
}

/* pid exec'd since its last tick: the plan of its old image goes (it is
 * found again, from the new image's maps, at its next pause or resume:
 * an image on another allocator, say jemalloc preloaded, must not be
 * resumed on the old one's libc). While on, its probes are on the new
 * image's allocator already (attach/proctree.c attached them at the exec)
 * and the new program is measured afresh (a forked child seen idle
 * before it exec'd an assembler was not looked at again until the next
 * full round). A paused one stays paused until its pause ends: probes the
 * tree attached at the exec (on another file than the pause's) go again,
 * and what they recorded meanwhile is unverified like the rest. false:
 * pid was forgotten meanwhile (p is gone). */
static bool new_image(struct budget_switch *bs, struct bs_proc *p, pid_t pid,
		      struct heapstate *hs, uint64_t now_ns)
{
	struct budget_state st;

	p->execs = proctree__execs(bs->tree, pid);
	free(p->plan);
	p->plan = NULL;
	if (p->paused_at || p->pausing) {
		if (!probes__linked(bs->probes, pid))
			return true;
		if (!hand_over(bs, p, pid, hs))
			return false;
		mt_debug("pid %d: exec'd while its heap probes were paused: the new image's go too",
			 (int)pid);
		return true;
	}
	if (budget__get(bs->budget, (uint32_t)pid, now_ns, &st) && st.on)
		budget__restart(bs->budget, (uint32_t)pid, now_ns);
	return true;
}

bool budget_switch__due(struct budget_switch *bs, uint64_t now_ns)
{
	if (!bs || now_ns < bs->next_ns)
		return false;
	bs->next_ns = now_ns + BUDGET_SWITCH_FAST_TICK_NS;
	bs->full = now_ns >= bs->next_full_ns;
	if (bs->full)
		bs->next_full_ns = now_ns + BUDGET_SWITCH_TICK_NS;
	bs->gen++;
	return true;
}

void budget_switch__tick(struct budget_switch *bs, pid_t pid,
			 struct heapstate *hs, struct memmetrics *mm,
			 uint64_t now_ns)
{
	struct bs_proc *p = proc_of(bs, pid);
	struct overhead_est tot;
	uint64_t hits, cpu, sys;

	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p ||
		    u64map__set(&bs->procs, (uint64_t)pid, (uintptr_t)p)) {
			free(p);
			return;
		}
		if (budget__start(bs->budget, (uint32_t)pid, now_ns)) {
			budget_switch__forget(bs, pid, now_ns);
			return;
		}
		/* known to a shared model already: from what it has; else
		 * if first seen after the first round, tracked since its
		 * fork (the kernel adds children before they run), so its
		 * hits and CPU count from zero, those before this included */
		if (overhead__get(bs->ovh, (uint32_t)pid, NULL, &tot)) {
			p->seen_probe = tot.probe_ns;
			p->seen_cpu = tot.cpu_ns;
		} else if (bs->based &&
			   overhead__update_sys(bs->ovh, (uint32_t)pid, 0, 0,
						0, now_ns)) {
			budget_switch__forget(bs, pid, now_ns);
			return;
		}
		p->execs = proctree__execs(bs->tree, pid);
	} else if (p->pausing && !probes__closing(bs->probes, pid)) {
		/* its links closed since: the pause is finished at once,
		 * whenever its next decision is due */
		finish_pause(bs, p, pid, hs);
		if (proc_of(bs, pid) != p)
			return;
	}
	if (bs->tree && proctree__execs(bs->tree, pid) != p->execs &&
	    !new_image(bs, p, pid, hs, now_ns))
		return;
	p->hs = hs;
	if (!bs->full && p->gen &&
	    now_ns < budget__due(bs->budget, (uint32_t)pid, now_ns)) {
		p->gen = bs->gen;
		return;
	}
	p->gen = bs->gen;
	/* waiting for a child, its probes detached (attach/proctree.c): it
	 * runs nothing to measure, and its links are not ours to switch */
	if (bs->tree &&
	    proctree__heap_mode(bs->tree, pid) == PROCTREE_HEAP_PARKED)
		return;
	if (probes__hits(bs->probes, pid, &hits) ||
	    procstat__cpu_sys_ns(pid, &cpu, &sys))
		return;
	if (overhead__update_sys(bs->ovh, (uint32_t)pid, hits, cpu, sys,
				 now_ns))
		return;
	/* while paused, its CPU time tells how much it did unseen. The
	 * probe time since its last observation is of its total at its
	 * cost now: when the cost per hit rose (its system time says more
	 * than the calibration did), the hits before are charged the
	 * difference too, so the credit holds at the true cost */
	if (overhead__get(bs->ovh, (uint32_t)pid, NULL, &tot)) {
		double dp = tot.probe_ns - p->seen_probe;
		double dc = tot.cpu_ns - p->seen_cpu;

		/* a new baseline (counters went backwards) starts over */
		if (tot.cpu_ns < p->seen_cpu) {
			dp = tot.probe_ns;
			dc = tot.cpu_ns;
		}
		p->seen_probe = tot.probe_ns;
		p->seen_cpu = tot.cpu_ns;
		budget__observe(bs->budget, (uint32_t)pid, dp > 0 ? dp : 0,
				dc);
	}
	switch (budget__tick(bs->budget, (uint32_t)pid, now_ns)) {
	case BUDGET_PAUSE:
		pause_pid(bs, p, pid, hs, now_ns);
		break;
	case BUDGET_RESUME:
		resume_pid(bs, p, pid, hs, mm, now_ns);
		break;
	case BUDGET_KEEP:
		break;
	}
	heapstate__set_scale(hs, (uint32_t)pid,
			     budget__scale(bs->budget, (uint32_t)pid));
}

void budget_switch__settle(struct budget_switch *bs)
{
	uint64_t pid, v;
	size_t it = 0;

	if (!bs)
		return;
	while (u64map__next(&bs->procs, &it, &pid, &v)) {
		struct bs_proc *p = (struct bs_proc *)(uintptr_t)v;

		if (!p->pausing || !p->hs)
			continue;
		probes__settle(bs->probes, (pid_t)pid);
		finish_pause(bs, p, (pid_t)pid, p->hs);
		/* the drain may have forgotten some: start over */
		it = 0;
	}
}

void budget_switch__sweep(struct budget_switch *bs, uint64_t now_ns)
{
	uint64_t pid, v;
	size_t it = 0;

	if (!bs)
		return;
	/* deletion leaves a tombstone: the iteration goes on */
	while (u64map__next(&bs->procs, &it, &pid, &v))
		if (((struct bs_proc *)(uintptr_t)v)->gen != bs->gen)
			budget_switch__forget(bs, (pid_t)pid, now_ns);
	bs->based = true;
}

bool budget_switch__proc(const struct budget_switch *bs, pid_t pid,
			 uint64_t now_ns, struct budget_switch_proc *out)
{
	const struct bs_proc *p;
	struct budget_state st;

	memset(out, 0, sizeof(*out));
	out->on_fraction = 1;
	if (!bs || !budget__get(bs->budget, (uint32_t)pid, now_ns, &st))
		return false;
	out->pauses = st.pauses;
	out->partial = st.pauses > 0;
	out->paused = !st.on;
	p = proc_of(bs, pid);
	if (p && p->paused_at && now_ns > p->paused_at)
		out->unscaled_ns = now_ns - p->paused_at;
	if (st.pauses && st.total_ns)
		out->on_fraction = (double)st.on_ns / (double)st.total_ns;
	return true;
}

void budget_switch__totals(const struct budget_switch *bs, uint64_t now_ns,
			   struct budget_totals *out)
{
	if (!bs) {
		memset(out, 0, sizeof(*out));
		return;
	}
	budget__totals(bs->budget, now_ns, out);
}

size_t budget_switch__count(const struct budget_switch *bs)
{
	return bs ? bs->procs.len : 0;
}

void budget_switch__scaling_text(uint64_t unscaled_ns, char *buf, size_t len)
{
	if (unscaled_ns)
		snprintf(buf, len, "allocation figures scaled up for the pauses between on-segments; the last %.1f s (paused at the end) are not in them",
			 (double)unscaled_ns / 1e9);
	else
		snprintf(buf, len, "allocation figures scaled up for the pauses");
}

size_t budget_switch__notes(double on_fraction, double pct,
			    uint64_t unscaled_ns, double unverified_bytes,
			    char *buf, size_t len)
{
	char unv[32], scaled[192];
	int n;

	if (!len)
		return 0;
	fmt__bytes(unverified_bytes, unv, sizeof(unv));
	budget_switch__scaling_text(unscaled_ns, scaled, sizeof(scaled));
	n = snprintf(buf, len,
		     "memtel: heap probes on %.0f%% of the time (budget %g%%); %s\n"
		     "memtel: %s of the in-use heap unverified (samples labelled memtel.unverified=true): allocated before the probes paused, may since have been freed",
		     100 * on_fraction, pct, scaled, unv);
	return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}
