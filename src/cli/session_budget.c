// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * session_budget.c - the session's side of --max-overhead: every 20 ms
 * for new processes and those whose decision is due, four times a second
 * for all, each tracked process's probe hits and CPU (and system) time go
 * into an overhead estimate, model/budget decides (its credit and duty
 * cycle), and here the heap probes are switched:
 * a pause detaches the process's uprobe link (it stays tracked, its BPF
 * `live` entries stay) and marks its live blocks unverified; a resume
 * restarts the leak series of its stacks, attaches the same plan again
 * and scales its allocations by the pause they stand for. What was
 * partial is said in the summary, leaks.txt, the metrics and heap.pb.gz.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach/allocator.h"
#include "attach/calibrate.h"
#include "attach/probes.h"
#include "attach/proctree.h"
#include "cli/session.h"
#include "model/budget.h"
#include "model/heapstate.h"
#include "model/memmetrics.h"
#include "model/overhead.h"
#include "process/procstat.h"
#include "sinks/telemetry.h"
#include "util/clock.h"
#include "util/fmt.h"
#include "util/log.h"

/* Every process is looked at four times a second; every 20 ms the new
 * ones and those whose decision is due (budget__due: a credit that runs
 * out, a segment or pause that ends). A compiler spends its credit in
 * tens of ms: a 250 ms tick alone would let it spend ten times that. */
#define BUDGET_TICK_NS		250000000ULL
#define BUDGET_FAST_TICK_NS	20000000ULL
#define NS_PER_S		1000000000ULL
/* The first on-segment: the cost is measured, the busy sites named; half
 * a second when far over budget (a heavy allocator makes 10^5 calls in
 * it). */
#define BUDGET_FIRST_ON_NS	(2 * NS_PER_S)
#define BUDGET_FIRST_SHORT_NS	(NS_PER_S / 2)
#define BUDGET_ON_MIN_NS	(10 * NS_PER_S)
#define BUDGET_OFF_MIN_NS	(1 * NS_PER_S)
#define BUDGET_OFF_MAX_NS	(600 * NS_PER_S)

static uint64_t budget_now(const struct session *s);

/* What a process's heap probes were attached with, to attach them again. */
struct heap_plan {
	struct allocator a;
	struct probe_point pts[MT_OP__COUNT];
	size_t n;
};

int session__budget_start(struct session *s)
{
	const struct options *o = s->o;
	double interval = s->otel.interval_ms / 1000.0, leak = o->leak_age;
	double on_s, ns_per_hit = CALIBRATE_DEFAULT_NS;
	struct budget_opts bo = {
		.first_on_ns = BUDGET_FIRST_ON_NS,
		.first_short_ns = BUDGET_FIRST_SHORT_NS,
		.on_min_ns = BUDGET_ON_MIN_NS,
		.off_min_ns = BUDGET_OFF_MIN_NS,
		.off_max_ns = BUDGET_OFF_MAX_NS,
	};

	s->budget_pct = options__max_overhead(o);
	/* probes that fire only on sampled allocations (otel_memory USDT)
	 * cost next to nothing: no budget to keep */
	if (!s->heap || s->heap_usdt || !(s->budget_pct > 0))
		return 0;
	bo.max_slowdown = s->budget_pct / 100;
	/* a leak needs 3 windows and its oldest block leak-age old, inside
	 * one on-segment, plus a window for the alignment */
	if (leak <= 0)
		leak = MM_DEFAULT_LEAK_AGE_S;
	on_s = (leak > 3 * interval ? leak : 3 * interval) + interval;
	bo.on_ns = on_s * 1e9 > (double)BUDGET_ON_MIN_NS ?
		   (uint64_t)(on_s * 1e9) : BUDGET_ON_MIN_NS;
	if (bo.on_ns > BUDGET_OFF_MAX_NS)
		bo.on_ns = BUDGET_OFF_MAX_NS;
	if (s->ovh)
		ns_per_hit = overhead__ns_per_hit(s->ovh);
	s->budget = budget__new(&bo);
	s->budget_ovh = s->budget ? overhead__new(ns_per_hit) : NULL;
	if (!s->budget_ovh) {
		mt_err("out of memory");
		return -ENOMEM;
	}
	s->next_budget = s->next_budget_full = clock__mono_ns();
	/* its Go runtime probes would go with a pause (they are its links
	 * too) and fire on sampled allocations only anyway */
	s->budget_go_pid = s->go_heap ? s->pid : 0;
	mt_debug("overhead budget %g%%: on-segments of %.0f s, pauses of at most %.0f s",
		 s->budget_pct, (double)bo.on_ns / 1e9,
		 (double)BUDGET_OFF_MAX_NS / 1e9);
	return 0;
}

static struct heap_plan *plan_of(struct session *s, pid_t pid)
{
	uint64_t *v = u64map__get(&s->budget_plans, (uint64_t)pid);

	return v ? (struct heap_plan *)(uintptr_t)*v : NULL;
}

/* pid's plan, found now (while its probes are on: the same allocator
 * they are on) when not known yet. NULL: none (no C allocator). */
static struct heap_plan *plan_get(struct session *s, pid_t pid)
{
	struct heap_plan *hp = plan_of(s, pid);

	if (hp)
		return hp;
	/* probes that fire on sampled allocations only (otel_memory, the
	 * allocator's sampled path) are not the plan below: never paused */
	if (s->tree && proctree__heap_mode(s->tree, pid) != PROCTREE_HEAP_CALLS)
		return NULL;
	hp = calloc(1, sizeof(*hp));
	if (!hp)
		return NULL;
	if (allocator__find(pid, &hp->a) ||
	    allocator__plan(&hp->a, hp->pts, &hp->n) || !hp->n ||
	    u64map__set(&s->budget_plans, (uint64_t)pid, (uintptr_t)hp)) {
		free(hp);
		return NULL;
	}
	return hp;
}

static void forget(struct session *s, pid_t pid, uint64_t now)
{
	uint64_t v;

	budget__forget(s->budget, (uint32_t)pid, now);
	overhead__forget(s->budget_ovh, (uint32_t)pid);
	if (u64map__del(&s->budget_plans, (uint64_t)pid, &v))
		free((void *)(uintptr_t)v);
	u64map__del(&s->budget_seen, (uint64_t)pid, NULL);
}

/* Probes off: the events so far are taken first, then every block of
 * pid live now may be freed unseen. false: pid is left on. */
static bool pause_pid(struct session *s, pid_t pid, uint64_t now)
{
	struct budget_state st;
	uint64_t t0;

	if (!plan_get(s, pid)) {
		/* nothing we could attach again: stay on, measured anew */
		budget__start(s->budget, (uint32_t)pid, now);
		return false;
	}
	probes__drain(s->probes);
	t0 = clock__mono_ns();
	probes__detach_pid(s->probes, pid);
	s->budget_detach_ns = (double)(clock__mono_ns() - t0);
	probes__drain(s->probes);
	heapstate__pause_pid(s->heapst, (uint32_t)pid);
	if (budget__get(s->budget, (uint32_t)pid, now, &st))
		mt_debug("pid %d: heap probes paused (budget %g%%; slowdown %.1f%% while on, on-fraction %.3f, for %.2f s)",
			 pid, s->budget_pct, 100 * st.slowdown, st.f,
			 (double)(st.next_ns - now) / 1e9);
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
static void resume_pid(struct session *s, pid_t pid, uint64_t now)
{
	struct restart_ctx r = { .mm = s->mm, .pid = (uint32_t)pid };
	struct heap_plan *hp = plan_of(s, pid);
	struct budget_state st;
	uint64_t t0;
	int err;

	/* a drop then a rise of its live bytes is no growth */
	if (s->mm)
		heapstate__foreach_live(s->heapst, restart_stack, &r);
	t0 = clock__mono_ns();
	/* never two links: an exec meanwhile may have attached some */
	probes__detach_pid(s->probes, pid);
	err = hp ? probes__attach_pid(s->probes, pid, &hp->a, hp->pts, hp->n)
		 : -ENOENT;
	if (err < 0) {
		if (err != -ESRCH)
			mt_err("pid %d: cannot attach heap probes again: %s",
			       pid, strerror(-err));
		forget(s, pid, now);
		return;
	}
	budget__switch_cost(s->budget, (uint32_t)pid, s->budget_detach_ns +
			    (double)(clock__mono_ns() - t0));
	mt_debug("pid %d: heap probes on again (allocations x%.2f, for %.2f s)",
		 pid, budget__scale(s->budget, (uint32_t)pid),
		 budget__get(s->budget, (uint32_t)pid, now, &st) ?
		 (double)(st.next_ns - now) / 1e9 : 0.0);
}

/* One process's figures and decision. */
static void tick_pid(struct session *s, pid_t pid, uint64_t now, bool full)
{
	struct overhead_est last;
	uint64_t hits, cpu, sys;

	if (pid == s->budget_go_pid)
		return;
	if (!u64map__get(&s->budget_seen, (uint64_t)pid)) {
		if (budget__start(s->budget, (uint32_t)pid, now))
			return;
		/* tracked since after attach (from its fork: the kernel adds
		 * children before they run): its hits and CPU count from
		 * zero, those before this first look included */
		if (s->budget_based &&
		    overhead__update_sys(s->budget_ovh, (uint32_t)pid, 0, 0, 0,
					 now))
			return;
	} else if (!full && now < budget__due(s->budget, (uint32_t)pid, now)) {
		return;
	}
	if (probes__hits(s->probes, pid, &hits) ||
	    procstat__cpu_sys_ns(pid, &cpu, &sys))
		return;
	if (overhead__update_sys(s->budget_ovh, (uint32_t)pid, hits, cpu, sys,
				 now))
		return;
	/* while paused, its CPU time tells how much it did unseen */
	if (overhead__get(s->budget_ovh, (uint32_t)pid, &last, NULL))
		budget__observe(s->budget, (uint32_t)pid, last.probe_ns,
				last.cpu_ns);
	switch (budget__tick(s->budget, (uint32_t)pid, now)) {
	case BUDGET_PAUSE:
		pause_pid(s, pid, now);
		break;
	case BUDGET_RESUME:
		resume_pid(s, pid, now);
		break;
	case BUDGET_KEEP:
		break;
	}
	heapstate__set_scale(s->heapst, (uint32_t)pid,
			     budget__scale(s->budget, (uint32_t)pid));
}

void session__budget_tick(struct session *s)
{
	uint64_t now = clock__mono_ns(), pid, gen;
	struct budget_totals t;
	pid_t p = 0;
	size_t it = 0;

	bool full;

	if (!s->budget || !s->probes || now < s->next_budget)
		return;
	full = now >= s->next_budget_full;
	s->next_budget = now + BUDGET_FAST_TICK_NS;
	if (full)
		s->next_budget_full = now + BUDGET_TICK_NS;
	s->budget_gen++;
	while (!probes__next_target(s->probes, p, &p)) {
		tick_pid(s, p, now, full);
		if (budget__get(s->budget, (uint32_t)p, now,
				&(struct budget_state){}))
			u64map__set(&s->budget_seen, (uint64_t)p,
				    s->budget_gen);
	}
	/* processes no longer tracked: exited */
	while (u64map__next(&s->budget_seen, &it, &pid, &gen))
		if (gen != s->budget_gen)
			forget(s, (pid_t)pid, now);
	s->budget_based = true;
	budget__totals(s->budget, now, &t);
	if (t.pauses && s->tel)
		telemetry__set_partial(s->tel, session__budget_on_fraction(s),
				       s->budget_pct);
}

void session__budget_finish(struct session *s)
{
	if (!s->budget)
		return;
	s->budget_end = clock__mono_ns();
	if (session__budget_partial(s, NULL) && s->tel)
		telemetry__set_partial(s->tel, session__budget_on_fraction(s),
				       s->budget_pct);
}

/* The session's clock for the budget: frozen when the probes went. */
static uint64_t budget_now(const struct session *s)
{
	return s->budget_end ? s->budget_end : clock__mono_ns();
}

double session__budget_on_fraction(const struct session *s)
{
	struct budget_totals t;

	if (!s->budget)
		return 1;
	budget__totals(s->budget, budget_now(s), &t);
	if (!t.pauses || !t.total_ns)
		return 1;
	return (double)t.on_ns / (double)t.total_ns;
}

bool session__budget_partial(const struct session *s, unsigned int *paused)
{
	struct budget_totals t;

	if (paused)
		*paused = 0;
	if (!s->budget)
		return false;
	budget__totals(s->budget, budget_now(s), &t);
	if (paused)
		*paused = t.paused_now;
	return t.pauses > 0;
}

/* How the allocation figures were scaled, for the notes and the
 * summary. */
static void scaling_text(const struct session *s, char *buf, size_t len)
{
	struct budget_totals t;

	budget__totals(s->budget, budget_now(s), &t);
	if (t.unscaled_ns)
		snprintf(buf, len, "allocation figures scaled up for the pauses between on-segments; the last %.1f s (paused at the end) are not in them",
			 (double)t.unscaled_ns / 1e9);
	else
		snprintf(buf, len, "allocation figures scaled up for the pauses");
}

size_t session__budget_notes(const struct session *s, char *buf, size_t len)
{
	double f = session__budget_on_fraction(s);
	struct heap_totals tot = {};
	char unv[32], scaled[192];
	int n;

	if (!len)
		return 0;
	buf[0] = '\0';
	if (!session__budget_partial(s, NULL))
		return 0;
	if (s->heapst)
		heapstate__totals(s->heapst, &tot);
	fmt__bytes(tot.unverified_bytes, unv, sizeof(unv));
	scaling_text(s, scaled, sizeof(scaled));
	n = snprintf(buf, len,
		     "memtel: heap probes on %.0f%% of the time (budget %g%%); %s\n"
		     "memtel: %s of the in-use heap unverified (samples labelled memtel.unverified=true): allocated before the probes paused, may since have been freed",
		     100 * f, s->budget_pct, scaled, unv);
	return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

void session__budget_print(const struct session *s, FILE *out)
{
	struct heap_totals tot = {};
	char inuse[32], unv[32], scaled[192];
	double f;

	if (!session__budget_partial(s, NULL))
		return;
	f = session__budget_on_fraction(s);
	if (s->heapst)
		heapstate__totals(s->heapst, &tot);
	fmt__bytes(tot.inuse_bytes, inuse, sizeof(inuse));
	fmt__bytes(tot.unverified_bytes, unv, sizeof(unv));
	scaling_text(s, scaled, sizeof(scaled));
	fprintf(out, "partial: heap probes on %.0f%% of the time (--max-overhead %g%%); %s\n",
		100 * f, s->budget_pct, scaled);
	fprintf(out, "in use: %s, of which %s unverified: allocated before the probes paused, may since have been freed\n",
		inuse, unv);
}

void session__budget_free(struct session *s)
{
	uint64_t pid, v;
	size_t it = 0;

	while (u64map__next(&s->budget_plans, &it, &pid, &v))
		free((void *)(uintptr_t)v);
	u64map__free(&s->budget_plans);
	u64map__free(&s->budget_seen);
	overhead__free(s->budget_ovh);
	budget__free(s->budget);
	s->budget = NULL;
	s->budget_ovh = NULL;
}
