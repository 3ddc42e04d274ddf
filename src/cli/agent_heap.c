// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * agent_heap.c - the node agent's heap targets. The BPF exec tracepoint
 * reports only tracked processes, so new ones are found by listing /proc
 * every AGENT_HEAP_POLL_NS: a pid not seen before is matched at once and
 * again at every poll while it is young (a fork execs the program named a
 * few ms later; a shell moves itself into a cgroup before it execs), and
 * every process once per AGENT_HEAP_RESCAN_NS (a long-lived one that
 * exec'd). A target's exec (the tracepoint, since it is tracked) makes it
 * young again, so an image no selector names is released; its forks are
 * targets as well (the kernel tracks them before they run), within the
 * bound. The probes themselves are attach/proctree's (allocator found,
 * re-resolved after an exec, detached at exit). Each target has its own
 * heapstate and memmetrics, fed through the collector's heap routing;
 * their stacks live in a table of their own, since the agent renews its
 * CPU model every window, and that table is renewed whenever no target
 * is left, so the memory follows the targets alive. Under --max-overhead
 * each target's probes are paused and resumed by attach/budget_switch
 * (the session's unit) against its own heap model; what was partial is
 * said in its metrics, heap profiles and telemetry. A target released or
 * exec'd is forgotten by the budget at once.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attach/budget_switch.h"
#include "attach/probes.h"
#include "attach/proctree.h"
#include "cli/agent_heap.h"
#include "model/heapstate.h"
#include "model/overhead.h"
#include "model/stacks.h"
#include "process/procstat.h"
#include "process/scan.h"
#include "process/targets.h"
#include "sinks/file/heap_report.h"
#include "sinks/otlp/profile_export.h"
#include "sinks/telemetry.h"
#include "symbolize/symcache.h"
#include "util/clock.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/random.h"
#include "util/u64map.h"

#define SEEN_SETTLED	1	/* in `seen`: no longer young */
#define N_SELF		4	/* per-target telemetry points */

struct heap_target {
	pid_t pid;
	uint64_t start_ticks;	/* /proc/PID/stat field 22: pid reuse */
	int sel;		/* the selector it matched */
	double since;		/* attached at, Unix seconds */
	char exe[PATH_MAX];
	struct heapstate *heap;
	struct memmetrics *mm;
	struct profile_export *pexp;	/* OTLP heap profiles */
	struct mm_snapshot snap;
	bool have_snap;
	struct mm_point self_pts[N_SELF];
	struct mm_snapshot self;
	bool have_self;
};

struct agent_heap {
	struct agent_heap_opts o;
	unsigned int needs;		/* SEL_NEED_* */
	struct proctree *tree;
	struct stacks *stacks;		/* the targets' heap stacks */
	struct symcache *syms;
	struct budget_switch *budget;	/* NULL: --max-overhead 0 */
	struct u64map by_pid;		/* pid -> struct heap_target * */
	/* pid -> CLOCK_MONOTONIC ns it appeared or exec'd, or SEEN_SETTLED */
	struct u64map seen;
	struct u64map refused;		/* pids left out by the bound */
	struct selector_facts facts;	/* scratch */
	uint64_t next_poll, next_rescan;
	uint64_t n_refused, n_attached, n_released;
	bool full_told;
	char session_id[37];
};

static struct heap_target *find(const struct agent_heap *h, pid_t pid)
{
	uint64_t *v = u64map__get(&h->by_pid, (uint64_t)pid);

	return v ? (struct heap_target *)(uintptr_t)*v : NULL;
}

/* The collector's heap routing: a target's records to its own model. */
static bool heap_of(void *ctx, uint32_t pid, struct heapstate **hs,
		    struct memmetrics **mm)
{
	struct heap_target *t = find(ctx, (pid_t)pid);

	if (!t)
		return false;
	*hs = t->heap;
	*mm = t->mm;
	return true;
}

/* A fresh table for the heap stacks (no target holds an id into the old
 * one). 0 or -ENOMEM (the old one stays). */
static int renew_stacks(struct agent_heap *h)
{
	struct stacks *st = stacks__new();
	struct symcache *sc = st ? symcache__new(h->o.targets, h->o.ksyms,
						 h->o.symdb) : NULL;

	if (!sc) {
		stacks__free(st);
		return -ENOMEM;
	}
	collector__set_heap_stacks(h->o.coll, st, sc);
	symcache__free(h->syms);
	stacks__free(h->stacks);
	h->stacks = st;
	h->syms = sc;
	return 0;
}

static uint64_t start_ticks(pid_t pid)
{
	char path[64], *text = NULL;
	uint64_t ticks = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!fileio__read_text(path, 0, 4096, &text, NULL))
		proc_scan__parse_stat(text, &ticks, NULL, 0);
	free(text);
	return ticks;
}

static void target__free(struct heap_target *t)
{
	if (!t)
		return;
	if (t->have_snap)
		mm_snapshot__free(&t->snap);
	profile_export__free(t->pexp);
	memmetrics__free(t->mm);
	heapstate__free(t->heap);
	free(t);
}

static void release(struct agent_heap *h, struct heap_target *t,
		    const char *why)
{
	pid_t pid = t->pid;

	/* its records still in the ring find no model: dropped */
	u64map__del(&h->by_pid, (uint64_t)pid, NULL);
	budget_switch__forget(h->budget, pid, clock__mono_ns());
	proctree__remove(h->tree, pid);
	target__free(t);
	h->n_released++;
	h->full_told = false;
	mt_info("heap target pid %d released: %s", (int)pid, why);
	if (h->by_pid.len)
		return;
	/* what churn must never leave behind */
	mt_debug("no heap target left: %zu processes in the budget",
		 budget_switch__count(h->budget));
	if (renew_stacks(h))
		mt_debug("cannot renew the heap stacks table: out of memory");
}

/* Make pid a heap target (sel: the selector it matched, -1 for a fork of
 * a target). 0, -E2BIG (the bound: counted, said once) or -errno. */
static int target_add(struct agent_heap *h, pid_t pid, int sel)
{
	struct profile_export_opts pe = {
		.exp = h->o.exp, .otel = h->o.otel, .targets = h->o.targets,
		.pid = pid, .sample_bytes = h->o.sample_bytes,
	};
	const char *base;
	struct heap_target *t;
	char link[64], what[96];
	ssize_t n;
	int err;

	if (find(h, pid))
		return 0;
	if (h->by_pid.len >= h->o.max_targets) {
		if (!u64map__get(&h->refused, (uint64_t)pid)) {
			h->n_refused++;
			u64map__set(&h->refused, (uint64_t)pid, 1);
		}
		if (!h->full_told)
			mt_info("heap targets: the bound of %u (--max-heap-targets) is reached: pid %d and later matches get no heap probes until a target exits",
				h->o.max_targets, (int)pid);
		h->full_told = true;
		return -E2BIG;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->pid = pid;
	t->sel = sel;
	t->since = clock__real_ns() / 1e9;
	t->start_ticks = start_ticks(pid);
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	n = readlink(link, t->exe, sizeof(t->exe) - 1);
	t->exe[n > 0 ? n : 0] = '\0';
	base = strrchr(t->exe, '/') ? strrchr(t->exe, '/') + 1 : "unknown";
	t->heap = heapstate__new(h->o.sample_bytes);
	t->mm = memmetrics__new(h->session_id, base, h->o.leak_age_s, t->since);
	pe.stacks = h->stacks;
	pe.syms = h->syms;
	pe.heap = t->heap;
	pe.start_unix_ns = clock__real_ns();
	if (t->heap && t->mm && h->o.profiles)
		t->pexp = profile_export__new(&pe);
	if (!t->heap || !t->mm || (h->o.profiles && !t->pexp) ||
	    u64map__set(&h->by_pid, (uint64_t)pid, (uintptr_t)t)) {
		target__free(t);
		return -ENOMEM;
	}
	/* what the CPU sampler read of pid may be its image before an exec
	 * (a shell's fork seen before it exec'd the program named): its
	 * maps are read afresh by proctree__add */
	targets__forget(h->o.targets, pid);
	/* routed before the probes exist: the first record has a model */
	err = proctree__add(h->tree, pid, NULL);
	if (err) {
		u64map__del(&h->by_pid, (uint64_t)pid, NULL);
		target__free(t);
		return err;
	}
	u64map__del(&h->refused, (uint64_t)pid, NULL);
	h->n_attached++;
	if (sel >= 0)
		selector__format(&h->o.sel->sel[sel], what, sizeof(what));
	else
		snprintf(what, sizeof(what), "a fork of a heap target");
	mt_info("heap target pid %d (%s): %s", (int)pid,
		t->exe[0] ? t->exe : "?", what);
	return 0;
}

/* The kernel's fork and exec notices of tracked processes. */
static void on_proc(void *ctx, const struct mt_proc_event *e)
{
	struct agent_heap *h = ctx;
	pid_t pid = (pid_t)e->hdr.pid;

	if (e->hdr.type == MT_EV_PROC_FORK) {
		/* the kernel tracks a target's child already: it is one too
		 * (same program, same cgroup) unless the bound says no */
		if (!find(h, (pid_t)e->ppid) || target_add(h, pid, -1))
			probes__untrack(h->o.probes, pid);
		return;
	}
	if (!find(h, pid))
		return;
	/* forget the old image, re-resolve the allocator (its probes on
	 * again: the budget starts afresh); and match the new program at
	 * the next polls */
	proctree__on_proc(h->tree, e);
	budget_switch__forget(h->budget, pid, clock__mono_ns());
	u64map__set(&h->seen, (uint64_t)pid, clock__mono_ns());
}

/* Match pid now: a match becomes a target, a target that no longer
 * matches is released. */
static void consider(struct agent_heap *h, pid_t pid)
{
	struct heap_target *t = find(h, pid);
	int sel;

	if (selector__read_facts(pid, h->needs, &h->facts))
		return;		/* gone: the liveness check releases it */
	sel = selector_set__match(h->o.sel, &h->facts);
	/* a fork of a target inherits what matched (program, cgroup): one
	 * that no selector names any more has exec'd something else */
	if (t && sel < 0)
		release(h, t, "it exec'd a program no --heap-target names");
	else if (t)
		t->sel = sel;
	else if (sel >= 0)
		target_add(h, pid, sel);
}

/* Release the targets that exited (or whose pid is another process's
 * now). */
static void reap(struct agent_heap *h)
{
	uint64_t pid, v;
	size_t it = 0;

	while (u64map__next(&h->by_pid, &it, &pid, &v)) {
		struct heap_target *t = (struct heap_target *)(uintptr_t)v;

		if (!procstat__pid_state((pid_t)pid) &&
		    start_ticks((pid_t)pid) == t->start_ticks)
			continue;
		/* deletion leaves a tombstone: the iteration goes on */
		release(h, t, "it exited");
	}
}

/* The budget's round when due: every target's probes switched by its
 * figures, against its own model. */
static void budget_tick(struct agent_heap *h, uint64_t now)
{
	uint64_t pid, v;
	size_t it = 0, n = 0, i;
	pid_t *pids;

	if (!budget_switch__due(h->budget, now))
		return;
	/* a pause drains the ring, whose fork notices add targets: the
	 * pids first, each looked up again */
	pids = calloc(h->by_pid.len ? h->by_pid.len : 1, sizeof(*pids));
	if (!pids)
		return;
	while (n < h->by_pid.len && u64map__next(&h->by_pid, &it, &pid, &v))
		pids[n++] = (pid_t)pid;
	for (i = 0; i < n; i++) {
		struct heap_target *t = find(h, pids[i]);

		if (t)
			budget_switch__tick(h->budget, t->pid, t->heap, t->mm,
					    now);
	}
	free(pids);
	/* a pid no longer a target (none, as release forgets it) */
	budget_switch__sweep(h->budget, now);
}

void agent_heap__poll(struct agent_heap *h)
{
	uint64_t now = clock__mono_ns(), *v, val;
	struct u64map next = {};
	pid_t *pids = NULL, self = getpid();
	size_t n = 0, i;
	bool rescan;

	budget_tick(h, now);
	if (now < h->next_poll)
		return;
	h->next_poll = now + AGENT_HEAP_POLL_NS;
	rescan = now >= h->next_rescan;
	if (rescan)
		h->next_rescan = now + AGENT_HEAP_RESCAN_NS;
	/* exec'd targets re-resolved, exited ones detached */
	proctree__poll(h->tree);
	reap(h);
	if (proc_scan__pids(&pids, &n, SCAN_MAX_PIDS))
		return;
	for (i = 0; i < n; i++) {
		bool check = rescan;

		if (pids[i] == self)
			continue;
		v = u64map__get(&h->seen, (uint64_t)pids[i]);
		val = v ? *v : now;
		if (val != SEEN_SETTLED) {
			if (now - val < AGENT_HEAP_YOUNG_NS)
				check = true;
			else
				val = SEEN_SETTLED;
		}
		if (check)
			consider(h, pids[i]);
		if (u64map__set(&next, (uint64_t)pids[i], val))
			break;
	}
	/* what left /proc is forgotten with the old map */
	u64map__free(&h->seen);
	h->seen = next;
	if (rescan) {
		struct u64map keep = {};
		uint64_t pid, one;
		size_t it = 0;

		while (u64map__next(&h->refused, &it, &pid, &one))
			if (u64map__get(&h->seen, pid))
				u64map__set(&keep, pid, 1);
		u64map__free(&h->refused);
		h->refused = keep;
	}
	free(pids);
}

struct agent_heap *agent_heap__new(const struct agent_heap_opts *o)
{
	struct proctree_opts to = {
		.probes = o->probes, .sample_bytes = o->sample_bytes,
		.targets = o->targets, .heap = true,
	};
	struct agent_heap *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->o = *o;
	h->needs = selector_set__needs(o->sel);
	if (random__uuid4(h->session_id))
		snprintf(h->session_id, sizeof(h->session_id), "agent-%d",
			 (int)getpid());
	h->tree = proctree__new(&to);
	if (!h->tree || renew_stacks(h)) {
		agent_heap__free(h);
		errno = ENOMEM;
		return NULL;
	}
	if (o->max_overhead > 0) {
		struct budget_switch_opts bo = {
			.probes = o->probes, .tree = h->tree,
			.pct = o->max_overhead,
			.leak_age_s = o->leak_age_s,
			.interval_s = o->interval_s,
			.ns_per_hit = o->ovh ? overhead__ns_per_hit(o->ovh) : 0,
			.ovh = o->ovh,
		};

		h->budget = budget_switch__new(&bo);
		if (!h->budget) {
			int err = errno;

			agent_heap__free(h);
			errno = err;
			return NULL;
		}
		mt_info("heap targets: overhead budget %g%% each (--max-overhead): probes paused past it",
			o->max_overhead);
	} else {
		mt_info("heap targets: no overhead budget (--max-overhead 0): probes always on");
	}
	o->coll->heap_of = heap_of;
	o->coll->heap_ctx = h;
	o->coll->on_proc = on_proc;
	o->coll->proc_ctx = h;
	/* the processes matching now */
	agent_heap__poll(h);
	return h;
}

void agent_heap__free(struct agent_heap *h)
{
	uint64_t pid, v;
	size_t it = 0;

	if (!h)
		return;
	if (h->o.coll->heap_ctx == h) {
		h->o.coll->heap_of = NULL;
		h->o.coll->on_proc = NULL;
		collector__set_heap_stacks(h->o.coll, NULL, NULL);
	}
	while (u64map__next(&h->by_pid, &it, &pid, &v))
		target__free((struct heap_target *)(uintptr_t)v);
	budget_switch__free(h->budget);
	u64map__free(&h->by_pid);
	u64map__free(&h->seen);
	u64map__free(&h->refused);
	proctree__free(h->tree);
	symcache__free(h->syms);
	stacks__free(h->stacks);
	free(h);
}

void agent__point(struct mm_point *p, const char *name, const char *unit,
		  enum mm_kind kind, double v, double start, double t,
		  const char *lk, const char *lv)
{
	memset(p, 0, sizeof(*p));
	p->name = name;
	p->unit = unit;
	p->description = name;
	p->kind = kind;
	p->value = v;
	p->start_s = start;
	p->time_s = t;
	if (lk) {
		p->n_labels = 1;
		p->labels[0].key = lk;
		p->labels[0].value = lv;
	}
}

/* The target's own telemetry points for this window: its probe hits
 * since it was attached, the slowdown they are estimated to cost it over
 * the last window (0.05: 5 %), and the budget's pauses of its probes so
 * far and whether they are paused now. */
static void target_self(struct agent_heap *h, struct heap_target *t,
			const struct budget_switch_proc *bp, double t_unix)
{
	struct overhead_est last = { 0 }, total = { 0 };

	if (h->o.ovh)
		overhead__get(h->o.ovh, (uint32_t)t->pid, &last, &total);
	agent__point(&t->self_pts[0], "memtel.agent.heap_target.probe_hits",
		     "{hit}", MM_KIND_COUNTER, (double)total.hits, t->since,
		     t_unix, NULL, NULL);
	agent__point(&t->self_pts[1], "memtel.agent.heap_target.overhead", "1",
		     MM_KIND_GAUGE, last.slowdown, t->since, t_unix, NULL, NULL);
	agent__point(&t->self_pts[2], "memtel.agent.heap_target.probe_pauses",
		     "{pause}", MM_KIND_COUNTER, (double)bp->pauses, t->since,
		     t_unix, NULL, NULL);
	agent__point(&t->self_pts[3], "memtel.agent.heap_target.probes_paused",
		     "{paused}", MM_KIND_GAUGE, bp->paused ? 1 : 0, t->since, t_unix,
		     NULL, NULL);
	t->self.points = t->self_pts;
	t->self.n_points = N_SELF;
	t->self.start_s = t->since;
	t->self.time_s = t_unix;
	t->have_self = true;
}

/* dir/heap-<unix>-<pid>.pb.gz: the target's heap since it was attached.
 * 0 or -errno (logged). */
static int write_pprof(struct agent_heap *h, struct heap_target *t,
		       const struct budget_switch_proc *bp, double t_unix,
		       const char *dir)
{
	struct heap_report hr = {
		.heap = t->heap, .stacks = h->stacks, .syms = h->syms,
		.sample_bytes = h->o.sample_bytes,
		.time_nanos = (int64_t)(t->since * 1e9),
		.duration_nanos = (int64_t)((t_unix - t->since) * 1e9),
	};
	char path[PATH_MAX + 64], notes[512];
	struct heap_totals tot = { 0 };
	int err;

	/* partial: said in its comments, as in the session's heap.pb.gz */
	if (bp->partial) {
		heapstate__totals(t->heap, &tot);
		budget_switch__notes(bp->on_fraction, h->o.max_overhead,
				     bp->unscaled_ns, tot.unverified_bytes,
				     notes, sizeof(notes));
		hr.notes = notes;
	}

	/* milliseconds, as the CPU files: a final window in the same second
	 * as the last must not replace its file */
	snprintf(path, sizeof(path), "%s/heap-%llu-%d.pb.gz", dir,
		 (unsigned long long)(t_unix * 1000.0), (int)t->pid);
	err = heap_report__write_pprof(&hr, path);
	if (err)
		mt_err("cannot write %s: %s", path, strerror(-err));
	return err;
}

int agent_heap__window(struct agent_heap *h, double t_unix, const char *dir,
		       uint64_t *files)
{
	uint64_t pid, v;
	size_t it = 0;
	int err = 0, e;

	while (u64map__next(&h->by_pid, &it, &pid, &v)) {
		struct heap_target *t = (struct heap_target *)(uintptr_t)v;
		struct telemetry_model m = {
			.heap = t->heap, .stacks = h->stacks, .syms = h->syms,
			.mm = t->mm, .pid = t->pid,
		};
		struct budget_switch_proc bp;

		/* paused at some time: its metrics carry the on-ratio and
		 * the unverified bytes from now on */
		budget_switch__proc(h->budget, t->pid, clock__mono_ns(), &bp);
		m.partial = bp.partial;
		m.on_fraction = bp.on_fraction;

		if (t->have_snap)
			mm_snapshot__free(&t->snap);
		e = telemetry__model_window(&m, t_unix, &t->snap);
		t->have_snap = !e;
		if (e)
			mm_snapshot__free(&t->snap);
		target_self(h, t, &bp, t_unix);
		if (!e && t->pexp)
			e = profile_export__window(t->pexp,
						   (uint64_t)(t_unix * 1e9));
		else if (!e && dir && dir[0]) {
			e = write_pprof(h, t, &bp, t_unix, dir);
			if (!e)
				(*files)++;
		}
		if (e)
			mt_debug("heap target pid %d: window: %s", (int)pid,
				 strerror(-e));
		err = err ?: e;
	}
	return err;
}

const struct mm_snapshot *agent_heap__snapshot(const struct agent_heap *h,
					       pid_t pid)
{
	const struct heap_target *t = h ? find(h, pid) : NULL;

	return t && t->have_snap ? &t->snap : NULL;
}

const struct mm_snapshot *agent_heap__self(const struct agent_heap *h,
					   pid_t pid)
{
	const struct heap_target *t = h ? find(h, pid) : NULL;

	return t && t->have_self ? &t->self : NULL;
}

size_t agent_heap__count(const struct agent_heap *h)
{
	return h ? h->by_pid.len : 0;
}

uint64_t agent_heap__refused(const struct agent_heap *h)
{
	return h ? h->n_refused : 0;
}

uint64_t agent_heap__attached(const struct agent_heap *h)
{
	return h ? h->n_attached : 0;
}

uint64_t agent_heap__released(const struct agent_heap *h)
{
	return h ? h->n_released : 0;
}
