// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * session_budget.c - the session's side of --max-overhead: at every round
 * (every 20 ms) every tracked process is handed to attach/budget_switch with the
 * session's heap model (which pauses and resumes its probes, marks what
 * was live at a pause unverified and scales what follows), and the
 * processes no longer tracked are forgotten. What was partial is said in
 * the summary, leaks.txt, the metrics and heap.pb.gz.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attach/budget_switch.h"
#include "attach/calibrate.h"
#include "attach/probes.h"
#include "cli/session.h"
#include "model/heapstate.h"
#include "model/overhead.h"
#include "sinks/telemetry.h"
#include "util/clock.h"
#include "util/fmt.h"
#include "util/log.h"

static uint64_t budget_now(const struct session *s);

/* Past its first on-segment (BUDGET_SWITCH's 2 s), a process waiting for
 * its tables gets them whatever its state. */
#define BUDGET_TABLES_WAIT_NS	2500000000ULL

int session__budget_start(struct session *s)
{
	const struct options *o = s->o;
	struct budget_switch_opts bo = {
		.probes = s->probes, .tree = s->tree,
		.leak_age_s = o->leak_age,
		.interval_s = s->otel.interval_ms / 1000.0,
		.ns_per_hit = CALIBRATE_DEFAULT_NS,
	};

	s->budget_pct = options__max_overhead(o);
	/* probes that fire only on sampled allocations (otel_memory USDT)
	 * cost next to nothing: no budget to keep */
	if (!s->heap || s->heap_usdt || !(s->budget_pct > 0))
		return 0;
	bo.pct = s->budget_pct;
	if (s->ovh) {
		bo.ns_per_hit = overhead__ns_per_hit(s->ovh);
		bo.ovh = s->ovh;	/* one model: the summary's figures */
	}
	s->budget = budget_switch__new(&bo);
	if (!s->budget) {
		int err = -errno;

		mt_err("cannot start the overhead budget: %s", strerror(-err));
		return err;
	}
	/* a process's first BPF unwind tables are built while it is paused
	 * (session__budget_tick), not at full probes */
	s->coll.defer_tables = s->bu != NULL;
	/* its Go runtime probes would go with a pause (they are its links
	 * too) and fire on sampled allocations only anyway */
	s->budget_go_pid = s->go_heap ? s->pid : 0;
	return 0;
}

/* A process's first tables may be built now: its probes are paused, it
 * is not under the budget's pauses, or it has waited past its first
 * on-segment (then it is under budget and stays on). */
static bool tables_ready(void *ctx, uint32_t pid, uint64_t waiting_ns)
{
	const struct session *s = ctx;
	struct budget_switch_proc bp;
	bool known = budget_switch__proc(s->budget, (pid_t)pid,
					 clock__mono_ns(), &bp);

	if (known ? !bp.paused && waiting_ns <= BUDGET_TABLES_WAIT_NS :
		    waiting_ns <= BUDGET_TABLES_WAIT_NS / 4)
		return false;
	mt_debug("pid %u: its BPF unwind tables now, %.0f ms after its first sampled call (%s)",
		 pid, (double)waiting_ns / 1e6,
		 known && bp.paused ? "its heap probes are paused" :
		 "past its first on-segment");
	return true;
}

void session__budget_tick(struct session *s)
{
	uint64_t now = clock__mono_ns();
	struct budget_totals t;
	pid_t p = 0;

	if (!s->probes || !budget_switch__due(s->budget, now))
		return;
	while (!probes__next_target(s->probes, p, &p))
		if (p != s->budget_go_pid)
			budget_switch__tick(s->budget, p, s->heapst, s->mm,
					    now);
	/* processes no longer tracked: exited */
	budget_switch__sweep(s->budget, now);
	if (s->coll.defer_tables)
		collector__sync_deferred(&s->coll, tables_ready, s);
	budget_switch__totals(s->budget, now, &t);
	if (t.pauses && s->tel)
		telemetry__set_partial(s->tel, session__budget_on_fraction(s),
				       s->budget_pct);
}

void session__budget_finish(struct session *s)
{
	if (!s->budget)
		return;
	budget_switch__settle(s->budget);
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
	budget_switch__totals(s->budget, budget_now(s), &t);
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
	budget_switch__totals(s->budget, budget_now(s), &t);
	if (paused)
		*paused = t.paused_now;
	return t.pauses > 0;
}

size_t session__budget_notes(const struct session *s, char *buf, size_t len)
{
	struct heap_totals tot = {};
	struct budget_totals t;

	if (!len)
		return 0;
	buf[0] = '\0';
	if (!session__budget_partial(s, NULL))
		return 0;
	if (s->heapst)
		heapstate__totals(s->heapst, &tot);
	budget_switch__totals(s->budget, budget_now(s), &t);
	return budget_switch__notes(session__budget_on_fraction(s),
				    s->budget_pct, t.unscaled_ns,
				    tot.unverified_bytes, buf, len);
}

void session__budget_print(const struct session *s, FILE *out)
{
	struct heap_totals tot = {};
	struct budget_totals t;
	char inuse[32], unv[32], scaled[192];
	double f;

	if (!session__budget_partial(s, NULL))
		return;
	f = session__budget_on_fraction(s);
	if (s->heapst)
		heapstate__totals(s->heapst, &tot);
	fmt__bytes(tot.inuse_bytes, inuse, sizeof(inuse));
	fmt__bytes(tot.unverified_bytes, unv, sizeof(unv));
	budget_switch__totals(s->budget, budget_now(s), &t);
	budget_switch__scaling_text(t.unscaled_ns, scaled, sizeof(scaled));
	fprintf(out, "partial: heap probes on %.0f%% of the time (--max-overhead %g%%); %s\n",
		100 * f, s->budget_pct, scaled);
	fprintf(out, "in use: %s, of which %s unverified: allocated before the probes paused, may since have been freed\n",
		inuse, unv);
}

void session__budget_free(struct session *s)
{
	budget_switch__free(s->budget);
	s->budget = NULL;
}
